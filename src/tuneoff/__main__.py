"""``python -m tuneoff``: the same command line as ``tuneoff``."""

import sys

from tuneoff.cli import main

if __name__ == "__main__":
    sys.exit(main())
