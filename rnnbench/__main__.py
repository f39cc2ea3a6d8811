"""``python -m rnnbench``: the same command line as ``rnnbench``."""

import sys

from rnnbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
