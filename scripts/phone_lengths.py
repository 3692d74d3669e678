"""Write python/curagate/audit/phone_lengths.py from libphonenumber's metadata.

    python scripts/phone_lengths.py PATH/TO/PhoneNumberMetadata.xml [COMMIT]

PhoneNumberMetadata.xml is in the resources/ folder of github.com/google/libphonenumber
(Apache License 2.0). For each country calling code, the lengths its national numbers may
have as a person's (fixed line, mobile, personal, VoIP or pager numbers: PERSONAL), over
every territory that shares the code; a territory that gives no lengths at all gets
libphonenumber's basic rule (3 to 15 digits in all, the code's included), and a code of no
person's numbers (international freephone, +800) is left out.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

# The types of numbers a person has: not toll-free, premium-rate, shared-cost or universal
# access numbers (a business's), voicemail access, nor those never dialled from abroad.
PERSONAL = frozenset({"fixedLine", "mobile", "personalNumber", "voip", "pager"})
OUT = Path(__file__).resolve().parents[1] / "python" / "curagate" / "audit" / "phone_lengths.py"


def lengths(spec: str) -> set[int]:
    """``national="6,[8-10]"`` as {6, 8, 9, 10} (-1: none)."""
    out: set[int] = set()
    for part in spec.split(","):
        if m := re.fullmatch(r"\[(\d+)-(\d+)\]", part):
            out.update(range(int(m.group(1)), int(m.group(2)) + 1))
        elif part != "-1":
            out.add(int(part))
    return out


def _spans(found: set[int]) -> str:
    """{6, 8, 9, 10} as "6, 8-10"."""
    out: list[str] = []
    for n in sorted(found):
        if out and n - 1 in found:
            out[-1] = out[-1].split("-")[0] + f"-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    commit = sys.argv[2] if len(sys.argv) == 3 else "unknown"
    root = ET.parse(sys.argv[1]).getroot()
    table: dict[int, set[int]] = {}
    bare: set[int] = set()  # codes with a territory that gives no lengths at all
    for territory in root.iter("territory"):
        code = int(territory.attrib["countryCode"])
        found = table.setdefault(code, set())
        if territory.find(".//possibleLengths") is None:
            bare.add(code)
        for kind in territory:
            if kind.tag in PERSONAL:
                for desc in kind.iter("possibleLengths"):
                    found |= lengths(desc.attrib.get("national", "-1"))
    for code in bare:
        table[code].update(range(max(1, 3 - len(str(code))), 15 - len(str(code)) + 1))
    # (codes of no person's numbers, international freephone +800 and the like, are none)
    table = {code: found for code, found in table.items() if found}
    rows = "\n".join(
        f"    {code}: 0x{sum(1 << n for n in f):X},  # {_spans(f)}"
        for code, f in sorted(table.items())
    )
    OUT.write_text(
        f'''"""The lengths of each country calling code's national numbers (generated, do not edit).

Written by scripts/phone_lengths.py from libphonenumber's resources/PhoneNumberMetadata.xml
(github.com/google/libphonenumber, Copyright (C) 2009 The Libphonenumber Authors, Apache
License 2.0), commit
{commit}:
for each code, the lengths a person's national number may have (fixed line, mobile,
personal, VoIP or pager: no toll-free or premium-rate line), over every territory sharing
the code.
"""

from __future__ import annotations

# code: bit n set where a national number may have n digits
NATIONAL_LENGTHS: dict[int, int] = {{
{rows}
}}
''',
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
