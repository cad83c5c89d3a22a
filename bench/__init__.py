"""Benchmarks of Python parallel back-ends: how measurements are made, kept, shown.

    import bench
    matrix = bench.Matrix(executors=("serial", "process-pool"), workers=(1, 2),
                          chunksizes=(1, "auto"), sizes=(1500,))
    results = bench.sweep(matrix, out=None)   # in memory; out="results" also writes a journal
    results.cells, results.path, results.to_dataframe()
    results = bench.load("results/a.jsonl", "results/b.jsonl")
    comparison = bench.compare(bench.load("a.jsonl"), bench.load("b.jsonl"))   # asv's rule, cell by cell
    advice = bench.advise("mymodule:MyWorkload", max_workers=8, budget=60)   # model, then race
    noise = bench.doctor()                      # the machine's noise, as the doctor command

Under ``mpiexec -n N python -m mpi4py script.py`` call ``bench.sweep`` on every
rank: rank 0 measures (``mpi-comm`` included) while the others serve it.
"""

from bench.analysis.compare import Comparison, compare
from bench.data.journal import JournalError, Results, load
from bench.data.schema import CellRecord, ResumeRecord, RunRecord
from bench.host.noise import Noise, doctor
from bench.measuring.plan import Matrix, PlanError
from bench.measuring.runner import Interrupted, Progress, resume, sweep
from bench.model.advise import Advice, advise

__version__ = "0.1.0"

__all__ = [
    "Advice",
    "CellRecord",
    "Comparison",
    "Interrupted",
    "JournalError",
    "Matrix",
    "Noise",
    "PlanError",
    "Progress",
    "Results",
    "ResumeRecord",
    "RunRecord",
    "__version__",
    "advise",
    "compare",
    "doctor",
    "load",
    "resume",
    "sweep",
]
