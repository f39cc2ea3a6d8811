"""``python -m rnnbench``: the same command line as ``rnnbench``."""

from rnnbench.cli import run

if __name__ == "__main__":
    run()
