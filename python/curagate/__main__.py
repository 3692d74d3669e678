"""``python -m curagate`` and the ``curagate`` console script (pyproject's
``curagate.__main__:run``): the entry is this small module, so that Ctrl-C while
``curagate.cli`` and its imports load is caught here too (the one line, exit 130),
not only once ``main()`` runs. pip writes the console script's wrapper; all it
imports before :func:`run` is ``curagate`` and this module."""

import sys


def run() -> int:
    try:
        from curagate.cli import main
    except KeyboardInterrupt:  # Ctrl-C in the first milliseconds, before main() can catch it
        print("curagate: interrupted; no partial output was published", file=sys.stderr)
        return 130
    code = main()
    if "triton" in sys.modules:
        _exit_without_teardown(code)
    return code


def _exit_without_teardown(code: int) -> None:
    """End the process once its work is done, without the interpreter's module teardown.

    torch imports triton, whose nanobind bindings print ~30 lines of "leaked instance"
    warnings on stderr at that teardown, after every command that loaded a model
    (curate --semantic, gate, export): noise under a clean summary, nothing leaked that
    the process still needed. The exit handlers still run, and both streams are flushed.
    """
    import atexit
    import contextlib
    import os

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to add
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(run())
