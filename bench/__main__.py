"""``python -m bench``: see ``python -m bench --help``."""

from bench.cli import main
from bench.host import mpi_launch

if __name__ == "__main__":
    mpi_launch.exit(main(supervise=True))
