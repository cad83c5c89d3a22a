"""Benchmarks of Python parallel back-ends: how measurements are made, kept, shown.

    import bench
    matrix = bench.Matrix(executors=("serial", "process-pool"), workers=(1, 2),
                          chunksizes=(1, "auto"), sizes=(1500,))
    results = bench.sweep(matrix, out=None)   # in memory; out="results" also writes a journal
    results.cells, results.path, results.to_dataframe()
    results = bench.load("results/a.jsonl", "results/b.jsonl")
    comparison = bench.compare(bench.load("a.jsonl"), bench.load("b.jsonl"))   # asv's rule, cell by cell
    advice = bench.advise("mymodule:MyWorkload", max_workers=8, budget=60)   # model, then race

Under ``mpiexec -n N python -m mpi4py script.py`` call ``bench.sweep`` on every
rank: rank 0 measures (``mpi-comm`` included) while the others serve it.
"""

from bench.advise import Advice, advise
from bench.comparison import Comparison, compare
from bench.plan import Matrix, PlanError
from bench.records import CellRecord, ResumeRecord, RunRecord
from bench.results import JournalError, Results, load
from bench.runner import Interrupted, Progress, resume, sweep

__version__ = "0.1.0"

__all__ = [
    "Advice",
    "CellRecord",
    "Comparison",
    "Interrupted",
    "JournalError",
    "Matrix",
    "PlanError",
    "Progress",
    "Results",
    "ResumeRecord",
    "RunRecord",
    "__version__",
    "advise",
    "compare",
    "load",
    "resume",
    "sweep",
]
