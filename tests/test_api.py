"""The Python API as a notebook uses it: bench.sweep, bench.resume, bench.load, Results."""

import io
import os
import re
import subprocess
import sys
import textwrap

import pytest
from rich.console import Console

import bench
from bench.cli.progress import ConsoleProgress
from bench.cli.summary import print_summary, summary_table
from bench.data.schema import CellRecord
from conftest import ROOT
from tests.docs import example
from tests.test_mpi import MPIEXEC

SMALL = bench.Matrix(
    executors=("serial", "thread-pool"), workers=(1,), chunksizes=(16, "auto"), sizes=(200,), repeats=2
)
#: What differs between two sweeps of the same matrix: timings, instances, times of day.
VARYING = {
    "run_id",
    "pop",
    "startup_s",
    "warmup_s",
    "times_s",
    "baseline_s",
    "teardown_s",
    "finished",
    "instance",
    "driver_peak_bytes",
    "trace_walls_s",
    "load",
}


def same_cells(a, b):
    return [{k: v for k, v in c.to_json().items() if k not in VARYING} for c in a] == [
        {k: v for k, v in c.to_json().items() if k not in VARYING} for c in b
    ]


def test_in_memory_and_journal_sweeps_give_the_same_records(tmp_path, fib_oracle):
    memory = bench.sweep(SMALL)
    assert memory.path is None and memory.paths == () and not list(tmp_path.iterdir())
    written = bench.sweep(SMALL, out=tmp_path / "out")
    assert written.path.parent == tmp_path / "out" and written.path.name == f"{written.runs[0].run_id}.jsonl"
    assert bench.load(written.path).cells == written.cells  # the journal holds exactly what was returned
    assert same_cells(memory.cells, written.cells)
    assert [(c.executor, c.chunksize_spec) for c in memory.cells] == [
        ("serial", "n/a"),
        ("thread-pool", "16"),
        ("thread-pool", "auto"),
    ]
    assert all(isinstance(c, CellRecord) and c.ok and c.answer == fib_oracle(200) for c in memory.cells)
    assert memory.runs[0].matrix == SMALL and memory.runs[0].env["executors"].keys() == {"serial", "thread-pool"}


def test_a_progress_callback_sees_every_run(tmp_path):
    calls = []
    results = bench.sweep(SMALL, progress=lambda done, total, label: calls.append((done, total, label)))
    assert [done for done, _, _ in calls] == list(range(1, len(calls) + 1))
    assert calls[-1][0] == calls[-1][1]  # ends full
    # serial: warm-up + 2 rounds; thread-pool: (warm-up + 2 rounds) x (2 cells + 1 paired baseline); 1 memory run
    # and 1 to 3 traced runs a cell, and 1 traced serial run of the case in each executor's group
    traced = sum(len(cell.trace_walls_s) for cell in results.cells)
    assert len(calls) == 3 + 9 + 3 + traced + 2 and len(results.cells) == 3 and 3 <= traced <= 9
    assert any(label.startswith("serial baseline fibprimes[200]") for _, _, label in calls)


def test_a_progress_object_gets_the_plan_and_each_record():
    class Recorder(bench.Progress):
        def __init__(self):
            self.planned, self.finished = [], []

        def sweep_started(self, cells, runs):
            self.planned = [cell.label() for cell in cells]

        def cell_finished(self, record):
            self.finished.append(record.label())

    recorder = Recorder()
    results = bench.sweep(SMALL, progress=recorder)
    assert recorder.planned == recorder.finished == [cell.label() for cell in results.cells]


def test_bad_input_raises_before_anything_is_written(tmp_path):
    with pytest.raises(bench.PlanError, match="unknown executor 'warp'"):
        bench.sweep(bench.Matrix(executors=("warp",)), out=tmp_path / "out")
    (tmp_path / "file").write_text("")
    with pytest.raises(bench.JournalError, match="file is not a folder"):
        bench.sweep(SMALL, out=tmp_path / "file" / "out")
    with pytest.raises(TypeError, match="progress must be"):
        bench.sweep(SMALL, progress=42)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_resume_appends_only_the_missing_cells(tmp_path):
    first = bench.sweep(SMALL, out=tmp_path)
    lines = first.path.read_text().splitlines()
    first.path.write_text("\n".join(lines[:2]) + "\n")  # killed after the serial cell
    resumed = bench.resume(first.path)
    assert same_cells(resumed.cells, first.cells) and len(resumed.resumes) == 1
    assert bench.load(first.path).cells == resumed.cells
    assert first.path.read_text().startswith("\n".join(lines[:2]) + "\n")


def test_the_sweep_api_under_mpiexec_measures_mpi_comm_on_rank_0(tmp_path, fib_oracle):
    script = tmp_path / "sweep.py"
    script.write_text(
        textwrap.dedent(
            """
            import os
            import bench
            matrix = bench.Matrix(executors=("mpi-comm",), workers=(1, 2), chunksizes=("auto",), sizes=(300,),
                                  repeats=1)
            results = bench.sweep(matrix)
            # one file per rank: lines the ranks print at once may interleave on the shared pipe
            with open(f"rank{os.environ['PMI_RANK']}.txt", "w") as out:
                print("cells", len(results.cells), [(c.workers, c.status, c.answer) for c in results.cells], file=out)
            """
        )
    )
    done = subprocess.run(
        [str(MPIEXEC), "-n", "3", sys.executable, "-m", "mpi4py", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    lines = [(tmp_path / f"rank{rank}.txt").read_text() for rank in range(3)]
    answer = fib_oracle(300)
    assert lines == [f"cells 2 [(1, 'ok', {answer}), (2, 'ok', {answer})]\n", "cells 0 []\n", "cells 0 []\n"]


@pytest.mark.slow
def test_the_python_example_of_docs_getting_started_runs_as_written(tmp_path):
    (tmp_path / "example.py").write_text(example("docs/getting-started.md", "python", "bench.Matrix(").text)
    done = subprocess.run(
        [sys.executable, "example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"},
    )
    assert done.returncode == 0, done.stderr
    [journal] = (tmp_path / "results").glob("*.jsonl")
    frame = bench.load(journal).to_dataframe()
    statuses = {
        (executor, workers): set(group)
        for (executor, workers), group in frame.groupby(["executor", "workers"])["status"]
    }
    assert statuses == {
        ("serial", 1): {"ok"},
        ("serial", 2): {"skipped"},
        ("process-pool", 1): {"ok"},
        ("process-pool", 2): {"ok"},
    }
    assert done.stdout.startswith(
        f"results/{journal.name} [('serial x1 fibprimes[1000] order=ascending producer=generator', 'ok', ["
    )
    assert (tmp_path / "speedup.png").stat().st_size > 10_000


# -- what a person sees at 80 columns -------------------------------------------


def terminal(width=80):
    return Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None, legacy_windows=False)


def test_the_progress_bar_keeps_its_counter_and_time_at_80_columns(monkeypatch):
    monkeypatch.delenv("CI", raising=False)  # CI services set it, which turns the bar off
    console = terminal()
    progress = ConsoleProgress(console)
    assert progress.live
    progress.sweep_started([], 345)
    progress.run_started("multiprocessing x16 fibprimes[5000] order=alternating chunk=auto->79", "run 12")
    progress._progress.advance(progress._task, 12)
    console.print(progress._progress.get_renderable())
    [line] = [line for line in console.file.getvalue().splitlines() if line.strip()]
    assert len(line) <= 80 and "12/345" in line and re.search(r"(\d+|-+):(\d\d|--) left", line), line
    # the case gives way; the chunk size (and a method) stay in sight
    assert line.startswith("multiprocessing x16 fibprimes[5000]") and "\u2026 chunk=auto->79  run 12" in line
    progress.run_started("process-pool x2 fibprimes[1000] order=alternating chunk=16 imap_unordered", "warm-up")
    console.file.seek(0)
    console.file.truncate()
    console.print(progress._progress.get_renderable())
    [line] = [line for line in console.file.getvalue().splitlines() if line.strip()]
    assert len(line) <= 80 and "\u2026 chunk=16 imap_unordered  warm-up" in line, line


def test_the_time_left_is_estimated_from_the_runs_done(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    console = terminal()
    progress = ConsoleProgress(console)
    progress.sweep_started([], 100)
    task = progress._progress.tasks[0]
    monkeypatch.setattr(type(task), "speed", property(lambda self: 2.0))  # 2 runs a second
    progress._progress.advance(progress._task, 40)
    console.print(progress._progress.get_renderable())
    assert "00:30 left" in console.file.getvalue()  # 60 runs to go


def widest_cells():
    for name in ("serial", "thread-pool", "multiprocessing", "process-pool", "mpi-comm", "mpi-pool", "dask-local"):
        yield CellRecord(
            run_id="r",
            executor=name,
            workers=1 if name == "serial" else 16,
            workload="fibprimes",
            size=5000,
            chunksize=1 if name == "serial" else 1250,
            chunksize_spec="n/a" if name == "serial" else "auto",
            status="ok",
            times_s=[1.5, 1.4, 1.6],
            baseline_s=None if name == "serial" else [20.5, 19.0, 22.0],
            oversubscribed=name != "serial",
        )


def test_the_summary_table_keeps_executor_names_whole_at_80_columns():
    console = terminal()
    cells = list(widest_cells())
    console.print(summary_table(cells))
    text = console.file.getvalue()
    assert max(map(len, text.splitlines())) <= 80
    for cell in cells:
        assert f"{cell.executor} x{cell.workers}" in text, cell.executor


def test_several_cases_and_methods_get_one_table_per_case_within_80_columns():
    from conftest import ROOT

    cells = bench.load(ROOT / "tests" / "data" / "schema1-workloads.jsonl").cells
    console = terminal()
    print_summary(console, cells)
    text = console.file.getvalue()
    tables = text.split("\n~ ")[0]  # the notes after the tables are single unwrapped lines
    assert max(map(len, tables.splitlines())) <= 80
    titles = [line.strip() for line in text.splitlines() if "[6]" in line]
    assert titles[0].startswith("fibprimes-first[6] producer=generator - median time")
    assert titles[1:] == ["payload[6] payload_bytes=64"]
    assert " imap-u " in text and "imap-u = imap_unordered" in text


def test_a_single_case_is_named_and_a_skipped_row_has_its_status_in_the_status_column():
    cells = list(widest_cells())[:2]
    skipped = CellRecord("r", "serial", 2, "fibprimes", 5000, 1, "n/a", "skipped", error="serial is the baseline")
    console = terminal()
    print_summary(console, [*cells, skipped])
    lines = console.file.getvalue().splitlines()
    assert lines[0].strip().startswith("fibprimes[5000] - median time")
    header = next(line for line in lines if line.startswith("executor"))
    [row] = [line for line in lines if line.startswith("serial x2")]
    assert row.rstrip().endswith("skipped") and row.index("skipped") == header.index("status")


def test_notes_wrap_at_word_boundaries_in_a_terminal():
    error = "mpi-comm needs an MPI launch; " * 4
    skipped = CellRecord("r", "mpi-comm", 2, "fibprimes", 100, 13, "auto", "skipped", error=error.strip())
    console = terminal()
    print_summary(console, [skipped])
    lines = console.file.getvalue().split("\n", 1)[1].split("skipped: mpi-comm x2")[1].splitlines()
    assert len(lines) > 1 and all(len(line) <= 80 for line in lines)
    # broken only where a space was: the lines joined by spaces are the note
    assert "skipped: mpi-comm x2" + " ".join(line.strip() for line in lines) == f"skipped: mpi-comm x2: {error.strip()}"


def test_one_round_shows_its_value_and_every_spread_in_the_units_of_the_wider():
    from bench.cli.summary import cell_line
    from bench.data.format import efficiency_text, speedup_text, time_text
    from bench.data.stats import Estimate

    once = Estimate(0.93, 0.93, 0.93, 0.0, 1)
    assert (speedup_text(once), efficiency_text(once), time_text(once)) == ("0.93x", "93%", "930 ms")
    short = Estimate(242e-6, 30e-6, 3.41e-3, 0.95, 8)  # a 242 us run that sometimes takes 3 ms
    assert time_text(short) == "0.242\u00b11.69 ms"
    steady = Estimate(0.512, 0.497, 0.528, 0.95, 8)  # one style for every spread: no percentage beside units
    assert time_text(steady) == "512\u00b115.5 ms"
    jittery = CellRecord(
        "r", "process-pool", 2, "noop", 64, 8, "8", "ok",
        times_s=[240e-6, 250e-6, 230e-6, 3.4e-3, 245e-6, 2.9e-3, 238e-6, 30e-6],
        baseline_s=[60e-6] * 8,
    )  # fmt: skip
    line = cell_line(jittery)
    assert "median 0.242\u00b11.68 ms (8 rounds)" in line and line.endswith("[s]"), line
    console = terminal()
    print_summary(console, [jittery])
    text = console.file.getvalue()
    assert "ok s" in text and "s the interval's half-width exceeds the median" in text and "00%" not in text


def test_piped_notes_keep_a_suggested_command_on_one_line():
    command = "mpiexec -n 3 python -m mpi4py bench/run.py --executors mpi-comm --size 100 --out somewhere/far/away"
    skipped = CellRecord("r", "mpi-comm", 2, "fibprimes", 100, 13, "auto", "skipped", error=f"needs: {command}")
    console = Console(file=io.StringIO(), width=40)  # a narrow pipe
    print_summary(console, [skipped])
    assert f"skipped: mpi-comm x2: needs: {command}\n" in console.file.getvalue()


def test_a_bound_just_off_1_keeps_its_side_when_shown():
    from bench.data.format import efficiency_text, speedup_text
    from bench.data.stats import Estimate

    above = Estimate(1.03, 1.0026, 1.09, 0.95, 6)  # marked "!": the whole interval lies above 100%
    assert speedup_text(above) == "1.03x [1.003, 1.09]" and efficiency_text(above) == "103% [100.3, 109]"
    below = Estimate(0.97, 0.9, 0.9996, 0.95, 6)
    assert speedup_text(below) == "0.97x [0.90, 0.9996]" and efficiency_text(below) == "97% [90, 99.96]"


def test_an_interrupt_swallowed_by_a_finalizer_still_stops_the_sweep():
    import signal

    from bench.measuring.runner import _Interrupts

    class Finalized:
        def __del__(self):  # Python ignores what a finalizer raises, KeyboardInterrupt included
            signal.raise_signal(signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    with _Interrupts(bench.Progress()).installed() as reporter:
        reporter.run_started("cell", "run 1")  # nothing pending
        Finalized()  # SIGINT arrives inside __del__ and its KeyboardInterrupt is swallowed there
        with pytest.raises(KeyboardInterrupt):
            reporter.run_finished()
    assert signal.getsignal(signal.SIGINT) is before


def test_ci_services_get_plain_cell_lines_not_a_bar(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert not ConsoleProgress(terminal()).live


def test_the_command_line_runs_through_the_api(tmp_path, monkeypatch, capsys):
    """``python bench/run.py`` converts its options into a Matrix and calls bench.sweep (and
    ``--resume`` bench.resume) with its progress bar: what a notebook calls is what the CLI runs."""
    from bench import cli
    from bench.cli import run
    from bench.measuring.plan import from_preset

    assert (run.sweep, run.resume) == (bench.sweep, bench.resume)  # the API's own functions

    calls = []
    recorded = bench.sweep(SMALL, out=tmp_path)  # what the stand-in hands back, measured for real

    def sweep(matrix, out=None, progress=None):
        calls.append(("sweep", matrix, out, progress))
        return recorded

    def resume(path, progress=None, oversubscribe=False):
        calls.append(("resume", path, oversubscribe, progress))
        return recorded

    monkeypatch.setattr(run, "sweep", sweep)
    monkeypatch.setattr(run, "resume", resume)
    options = ["--executors", "serial,thread-pool", "--workers", "1,2", "--size", "300", "--param", "order=descending"]
    assert cli.run_main([*options, "--repeats", "9", "--out", str(tmp_path), "--quiet"]) == 0
    assert cli.run_main(["--resume", str(recorded.path), "--oversubscribe", "--quiet"]) == 0
    (_, matrix, out, progress), (_, path, oversubscribe, progress_again) = calls
    assert matrix == from_preset(
        "quick",
        executors=("serial", "thread-pool"),
        workers=(1, 2),
        sizes=(300,),
        repeats=9,
        params={"order": ("descending",)},
    )
    assert out == str(tmp_path) and path == str(recorded.path) and oversubscribe is True
    assert isinstance(progress, bench.Progress) and isinstance(progress_again, bench.Progress)
    printed = capsys.readouterr().out.splitlines()
    assert printed.count(str(recorded.path)) == 2  # the CLI prints what the API returned
