"""``python -m bench`` and ``python bench/run.py``: parse, call the Python API, print.

Exit status: 0 every cell ok (or skipped), 1 some cell failed (results still
written), 2 bad usage (nothing written), 130 interrupted (143 on SIGTERM).
Under an MPI launcher every rank parses the same command line; only rank 0
prints, so an error is shown once.

One module per subcommand (``run``, ``list``, ``report``, ``compare``,
``export``, ``slurm``), the parsing and errors they share in ``common``, and
``main`` that dispatches them.
"""

from bench.cli.main import main, run_main

__all__ = ["main", "run_main"]
