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
    return main()


if __name__ == "__main__":
    sys.exit(run())
