import sys

from curagate.cli import main

sys.exit(main())
