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
import os, signal, sys, time
from pathlib import Path
def die():
    os.kill(os.getpid(), signal.SIGKILL)
    # Still here: PID 1 of its own PID namespace, which ignores it: killed from outside.
    print("\\nkill me", flush=True)
    time.sleep(600)
out, mode = Path(sys.argv[1]), sys.argv[2]
{setup}
real_replace, real_rename = os.replace, os.rename
def replace(src, dst, **kw):
    if mode == "write" and ({writing}):
        die()
    return real_replace(src, dst, **kw)
def rename(src, dst, **kw):
    if mode == "swap" and Path(dst) == out:
        die()
    return real_rename(src, dst, **kw)
os.replace, os.rename = replace, rename
from curagate.cli import main
sys.exit(main([{command!r}, *sys.argv[3:], "--out", str(out)]))
"""


def run_killed(
    command: str,
    out: Path,
    mode: str,
    *args: str,
    writing: str,
    setup: str = "",
    prefix: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """``prefix``: what the interpreter is started through (``unshare -pf --mount-proc``:
    as PID 1 of a PID namespace of its own, as in a container)."""
    code = _KILLER.format(command=command, setup=setup, writing=writing)
    env = {**os.environ, "PYTHONPATH": str(REPO / "python")}
    argv = [sys.executable, "-c", code, str(out), mode, *args]
    if not prefix:
        return subprocess.run(
            argv, env=env, capture_output=True, text=True, check=False, timeout=300
        )
    # unshare --kill-child: SIGKILLed, it SIGKILLs the run.
    argv = [prefix[0], "--kill-child", *prefix[1:], *argv]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    said = [line for line in iter(proc.stdout.readline, "") if line != "kill me\n" or proc.kill()]
    _, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(argv, proc.returncode, "".join(said), err)
