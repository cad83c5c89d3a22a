"""The sweep script: ``python bench/run.py [options]``, same as ``python -m bench run``.

It also runs under MPI launchers, e.g. ``mpiexec -n 5 python -m mpi4py bench/run.py``.
"""

import os
import sys

if __name__ == "__main__":
    # Run as a script, Python puts bench/ first on sys.path; put the project there instead.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from bench.cli import run_main
    from bench.host import mpi_launch

    mpi_launch.exit(run_main(sys.argv[1:], supervise=True))
