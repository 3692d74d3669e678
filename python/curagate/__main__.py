import sys

try:
    from curagate.cli import main
except KeyboardInterrupt:  # Ctrl-C in the first milliseconds, before main() can catch it
    print("curagate: interrupted; no partial output was published", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
