"""The rnnbench commands, one module each (asv's ``asv/commands`` is the model).

Each module defines ``NAME``, ``SUMMARY``, ``add_arguments(parser)`` and
``execute(args) -> exit code``; ``rnnbench.cli`` builds the parser from them and dispatches.
``session`` holds what the measuring commands share, ``options`` the shared arguments.
"""

#: the commands in the order ``rnnbench --help`` lists them
COMMANDS = ("run", "compare", "decay", "train", "backends")
