"""``python -m bench``: see ``python -m bench --help``."""

from bench import mpi
from bench.cli import main

if __name__ == "__main__":
    mpi.exit(main())
