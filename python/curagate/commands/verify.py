"""Re-check an exported bundle against its MANIFEST.json, and its signature; or a
curate or split output against its manifest.

Every file's sha256 must match, none may be missing or added, and nothing in the
bundle may be a symlink, device or FIFO. With --public-key, model.sig must verify
with that key: it covers every file, MANIFEST.json (and so the lineage) included.
With --digest, MANIFEST.json's own sha256 must be that value. Without either,
an edit of MANIFEST.json itself cannot be detected, and the output says so.
Prints the bundle's artifact digest (the sha256 of MANIFEST.json, the value the
gate attests and the registry stores). Exit 0 when intact, 1 when anything differs,
2 when the path is no bundle or output (nothing to verify) or a flag is wrong.

A curate or split output (a folder holding its `.curagate-output.json` marker) is
checked against manifest.json / split_manifest.json: every listed file's sha256, no
file added, and the marker's run id against the manifest. That catches edits made
after the run, not a forger who rewrites the manifest and marker too. A split (or a
curate output's splits/) whose run failed --fail-on-leak (split.fail_on_leak) is
written for inspection and recorded as failed in split_manifest.json: exit 1, saying so;
so is one whose run failed --strict (a row or input file quarantined, split's or curate's).

examples:
  curagate verify exports/support-bot
  curagate verify exports/support-bot --public-key keys/signing_key.pub
  curagate verify curated/
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from curagate.digest import MANIFEST_NAME
from curagate.errors import CheckFailed, InputError
from curagate.export.manifest import verify_bundle
from curagate.signing import BUNDLE_SIGNATURE_NAME


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "bundle",
        type=Path,
        help="directory written by `curagate export`, `curagate curate` or `curagate split`",
    )
    parser.add_argument(
        "--public-key", type=Path, help="PEM public key that must have signed model.sig"
    )
    parser.add_argument("--digest", help="the artifact digest (sha256 of MANIFEST.json) expected")


def run(args: argparse.Namespace) -> int:
    from curagate.io.outputs import MARKER_NAME, read_marker
    from curagate.io.verify import check_output_folder, enclosing_outputs, unmarked_output

    marker = args.bundle / MARKER_NAME
    if (args.bundle / MANIFEST_NAME).exists():
        # An exported bundle, whatever else the folder holds: a curate or split marker beside
        # MANIFEST.json (anyone can write one, its run id is a hash of files beside it) made
        # verify check the folder as a data output and skip every bundle check.
        if marker.exists() or marker.is_symlink():
            raise CheckFailed(
                f"{args.bundle}: holds both {MANIFEST_NAME} (an exported bundle) and {MARKER_NAME} "
                "(a curate or split output); no command writes both: the folder was changed "
                "after it was made"
            )
        return _verify_bundle(args)
    if marker.is_symlink() or (marker.exists() and read_marker(args.bundle) is None):
        raise CheckFailed(
            f"{marker}: not a curagate marker (a link, a special file, a hard link, too large or "
            "edited); the output was modified after the run: run it again"
        )
    unmarked = unmarked_output(args.bundle) if args.bundle.is_dir() else None
    if unmarked is not None:
        command, manifest = unmarked
        raise CheckFailed(
            f"{marker}: missing; {args.bundle} holds a {command} output's {manifest} but not "
            f"its marker: the output was changed after `curagate {command}` (or never "
            "completed): run it again"
        )
    output = check_output_folder(args.bundle) if args.bundle.is_dir() else None
    if output is None and not (args.bundle / MANIFEST_NAME).exists():
        around = enclosing_outputs(args.bundle) if args.bundle.is_dir() else []
        if around:
            raise InputError(
                f"{args.bundle}: is inside the output folder {around[0]}, which its manifest "
                f"covers; run `curagate verify {around[0]}`"
            )
    if output is not None:
        if args.public_key is not None or args.digest is not None:
            raise InputError(
                f"{args.bundle}: a {output.command} output has no signature or artifact "
                "digest; --public-key and --digest apply to exported bundles"
            )
        if not output.ok:
            raise CheckFailed(
                f"{args.bundle}: {output.command} output does not match its manifest: "
                f"{output.summary()}; it was modified after `curagate {output.command}`: "
                "run it again"
            )
        if output.failed_check is not None:
            # Intact, and failed: a CI step that only ran `verify` took it for a good split.
            if output.failed_kind == "strict":
                fix = (
                    "fix or remove the quarantined rows (or input files) and "
                    f"{_AGAIN[output.command]}"
                )
            else:
                # Not for copies of an item's own text: templates do not clear those.
                templates = {
                    "leak": f" or name the prompt templates ({_TEMPLATES[output.command]})",
                    # Its run named templates: what these rows share goes beyond them.
                    "beyond": " (what they share goes beyond the named templates: if it is "
                    "another prompt template's text, add that template to "
                    f"{_TEMPLATES[output.command]})",
                }.get(output.failed_kind or "", "")
                fix = (
                    f"keep those rows together ({_JOIN[output.command]}){templates}, and "
                    f"{_AGAIN[output.command]}; "
                    "`curagate leakage --reference val.parquet test.parquet --corpus "
                    "train.parquet` of the split lists what its engine finds"
                )
            raise CheckFailed(
                f"{args.bundle}: {output.checked} files match the {output.command} manifest, "
                f"but {output.failed_check}; {fix}"
            )
        print(
            f"{args.bundle}: ok, {output.checked} files match the {output.command} manifest; "
            f"run id {output.run_id}"
        )
        return 0
    return _verify_bundle(args)


# How each command is told to keep rows that share a passage in one split.
_JOIN = {"split": "--shared-passages join", "curate": "split.shared_passages: join"}
_TEMPLATES = {"split": "--templates FILE", "curate": "split.templates"}
_AGAIN = {
    "split": "split again (`curagate split`, or `curagate curate --split`)",
    "curate": "run `curagate curate` again",
}


def _verify_bundle(args: argparse.Namespace) -> int:
    pem = None
    if args.public_key is not None:
        try:
            from curagate.config import MAX_CONFIG_BYTES
            from curagate.io.outputs import read_regular

            pem = read_regular(Path(args.public_key), MAX_CONFIG_BYTES, follow_links=True)
        except OSError as e:
            raise InputError(
                f"{args.public_key}: cannot read the public key ({e.strerror})"
            ) from None
        from curagate.signing import load_public_key

        load_public_key(pem, source=str(args.public_key))  # before the bundle is hashed
    result = verify_bundle(args.bundle, public_key=pem, expected_digest=args.digest)
    print(
        f"{args.bundle}: ok, {result.checked} files match MANIFEST.json; artifact digest {result.digest}"
    )
    if result.signed_by:
        print(f"  signature: model.sig verifies with key {result.signed_by[:16]}")
        return 0
    if os.path.lexists(args.bundle / BUNDLE_SIGNATURE_NAME):
        # Found by attack: a garbage or another bundle's model.sig read as "ok" with no word
        # that the signature was never looked at.
        print(
            f"  signature: {BUNDLE_SIGNATURE_NAME} is there but was not checked; pass "
            "--public-key with the export key's public key to check it"
        )
    if args.digest is None:
        print(
            "  unsigned check: MANIFEST.json itself is pinned only by a signature (--public-key) "
            "or an expected digest (--digest)"
        )
    return 0
