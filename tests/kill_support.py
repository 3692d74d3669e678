"""kill -9 at a chosen point of a run: a curagate command in a fresh interpreter that
SIGKILLs itself while it writes its ``--out``.

``mode`` "write": at the first ``os.replace`` once ``writing`` holds (a Python expression
over ``out``, the output path, after the ``setup`` lines ran); "swap": at the rename of
the new output folder onto ``--out``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_KILLER = """
import os, signal, sys
from pathlib import Path
out, mode = Path(sys.argv[1]), sys.argv[2]
{setup}
real_replace, real_rename = os.replace, os.rename
def replace(src, dst, **kw):
    if mode == "write" and ({writing}):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst, **kw)
def rename(src, dst, **kw):
    if mode == "swap" and Path(dst) == out:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_rename(src, dst, **kw)
os.replace, os.rename = replace, rename
from curagate.cli import main
sys.exit(main([{command!r}, *sys.argv[3:], "--out", str(out)]))
"""


def run_killed(
    command: str, out: Path, mode: str, *args: str, writing: str, setup: str = ""
) -> subprocess.CompletedProcess[str]:
    code = _KILLER.format(command=command, setup=setup, writing=writing)
    env = {**os.environ, "PYTHONPATH": str(REPO / "python")}
    argv = [sys.executable, "-c", code, str(out), mode, *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=300)
