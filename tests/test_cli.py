"""The command line, run as a user runs it: a fresh process per call."""

import json
import os
import re
import subprocess
import sys

import pytest

import bench
from bench.data.journal import JournalWarning
from bench.host import slurm
from conftest import ROOT

RUN = {"schema": 1, "kind": "run", "run_id": "x", "started": "2026-01-01T00:00:00+00:00"}
SMALL = [
    "--executors",
    "serial,process-pool",
    "--workloads",
    "fibprimes",
    "--workers",
    "1,2",
    "--size",
    "300",
    "--repeats",
    "2",
    "--threads",
    "auto",
]


def journals(folder):
    return sorted(folder.glob("*.jsonl")) if folder.exists() else []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executors", "serial,warp-drive"], "unknown executor 'warp-drive'; known: serial, thread-pool"),
        (["--workloads", "sudoku"], "unknown workload 'sudoku'; known: fibprimes"),
        (["--workers", "0"], "'0' is not a positive integer"),
        (["--workers", "two"], "'two' is not a positive integer"),
        (["--workers", "4-2"], "'4-2' is an empty range"),
        (["--chunksizes", "1,-3"], "'-3' is not a positive integer"),
        (["--chunksizes", "auto,0"], "'0' is not a positive integer"),
        (["--size", "1.5"], "'1.5' is not a positive integer"),
        (["--repeats", "0"], "'0' is not a positive integer"),
        (["--cell-timeout", "-1"], "the cell timeout must be a number of seconds above 0 and at most 1e+06, not -1.0"),
        (["--cell-timeout", "inf"], "the cell timeout must be a number of seconds above 0 and at most 1e+06, not inf"),
        (["--cell-timeout", "1e12"], "the cell timeout must be a number of seconds above 0 and at most 1e+06"),
        (["--cell-timeout", "nan"], "the cell timeout must be a number of seconds above 0 and at most 1e+06, not nan"),
        (["--cell-timeout", "soon"], "'soon' is not a number of seconds"),
        (["--max-case-time", "-5"], "the longest case time must be a number of seconds above 0"),
        (["--workers", "-1"], "'-1' is not a positive integer"),
        (["--workers", "1,,2"], "'1,,2' has an empty item"),
        (["--workers", "1-1000000000"], "'1-1000000000' stands for 1000000000 values, more than 1024"),
        (["--chunksizes", "x"], "'x' is not a positive integer, 'auto' or 'native'"),
        (["--threads", "x"], "threads 'x' is not 'auto', 'default' or a number of threads from 1 to 4096"),
        (["--threads", "0"], "threads '0' is not 'auto', 'default'"),
        (["--out", ""], "--out: expected a folder, not an empty name"),
        (["--executors", "mpi-comm"], "nothing to measure: every cell would be skipped: mpi-comm needs an MPI launch"),
        (
            ["--workloads", "noop", "--size", "1000000000", "--executors", "serial"],
            "noop[1000000000]: its serial run would need about ",
        ),
        (
            ["--workloads", "fibprimes", "--size", "1000000000", "--executors", "serial"],
            "producer=generator: its serial run would take at least ",
        ),
        (["--param", "order"], "'order' is not KEY=V1,V2"),
        (["--param", "colour=red"], "unknown param 'colour' for fibprimes, noop, polyfit, linalg; known: n, op,"),
        (["--preset", "slow"], "invalid choice: 'slow'"),
        (["--repeats", "sometimes"], "'sometimes' is not a positive integer"),
        (["--precision", "0%"], "'0%' is not a percentage between 0% and 100%"),
        (["--precision", "3"], "'3' is not a percentage between 0% and 100%"),
        (["--repeats", "auto", "--max-repeats", "5"], "max repeats must be from 6 to 100000 with repeats auto"),
        (["--warmup", "long"], "invalid choice: 'long'"),
        (["--precision", "5%"], "--precision applies only with --repeats auto"),
        (["--executors", "thread-pool", "--workers", "100000"], "thread-pool with 100000 workers exceeds the limit"),
        (["--methods", "starmap"], "unknown method 'starmap'; known: map, imap, imap_unordered"),
        (["--workloads", "spin", "--param", "task_us=fast"], "param task_us: bad value 'fast'"),
        (
            ["--workloads", "sleep", "--param", "order=ascending"],
            "unknown param 'order' for sleep; known: straggler_us, task_us",
        ),
        (["--workloads", "nowhere.py:Thing"], "workload 'nowhere.py:Thing': no file nowhere.py"),
        (["--workloads", "json:dumps"], "json.dumps is a function, not a workloads.Workload subclass"),
        (["--workloads", "no_such_module_xyz:Thing"], "importing no_such_module_xyz failed: ModuleNotFoundError"),
        (["--workloads", "spin", "--param", "task_us=0"], "param task_us: bad value '0' (not a positive integer)"),
        (["--workloads", "polyfit", "--param", "points=2"], "param points: bad value '2' (a cubic needs at least 4"),
        (["--workloads", "fibprimes-first", "--size", "27"], "fibprimes-first takes sizes up to 26"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_with_nothing_written(run_bench, tmp_path, args, message):
    done = run_bench(*args, "--out", "out")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert done.stderr.startswith("python bench/run.py: error: ")  # the program the user ran
    assert done.stdout == ""
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.parametrize("module", [False, True])
def test_usage_and_errors_name_the_program_that_was_run(run_bench, module):
    prog = "python -m bench run" if module else "python bench/run.py"
    command = ["run"] if module else []
    assert run_bench(*command, "--help", module=module).stdout.startswith(f"usage: {prog} [-h]")
    for bad in (["--workers", "0"], ["--executors", "warp"], ["--turbo"], ["stray"]):
        done = run_bench(*command, *bad, module=module)
        assert done.returncode == 2 and done.stderr.startswith(f"{prog}: error: "), done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00garbage\nmore garbage\n", "garbage.jsonl: not a journal (no run record first)"),
        (b"\x89PNG\r\n\x1a\n\xff\xff", "cannot read garbage.jsonl: not a text file"),
        (b'{"schema": 1, "kind": "run"}\n', "garbage.jsonl:1: run record lacks 'run_id'"),
        (
            json.dumps({**RUN, "matrix": {"executors": ["serial"], "turbo": True}}).encode() + b"\n",
            "garbage.jsonl:1: run record: matrix has an unknown key 'turbo' (known: executors, workloads,",
        ),
    ],
)
def test_a_garbage_resume_file_is_one_line_and_exit_2(run_bench, tmp_path, content, message):
    (tmp_path / "garbage.jsonl").write_bytes(content)
    done = run_bench("--resume", "garbage.jsonl")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"python bench/run.py: error: {message}")  # no warning, no traceback
    assert done.stderr.count("\n") == 1
    assert (tmp_path / "garbage.jsonl").read_bytes() == content


@pytest.mark.parametrize("module", [False, True])
def test_help_lists_the_options(run_bench, module):
    done = run_bench(*(["run"] if module else []), "--help", module=module)
    assert done.returncode == 0, done.stderr
    for option in ("--repeats R|auto|race", "--precision P", "--max-repeats N", "--warmup", "--oversubscribe"):
        assert option in done.stdout
    assert "8 rounds (95% intervals, and enough for compare to find a change)" in " ".join(done.stdout.split())


def test_unwritable_output_folder_is_exit_2_before_any_cell(run_bench, tmp_path):
    (tmp_path / "occupied").write_text("not a folder")
    done = run_bench(*SMALL, "--out", "occupied/results")
    assert done.returncode == 2 and "cannot write results to occupied/results" in done.stderr
    assert done.stderr.count("\n") == 1 and done.stdout == ""


@pytest.mark.slow
def test_quiet_run_prints_only_the_journal_path(run_bench, tmp_path, fib_oracle):
    done = run_bench(*SMALL, "--out", "out", "--quiet")
    assert done.returncode == 0, done.stderr
    [path] = journals(tmp_path / "out")
    assert done.stdout == f"out/{path.name}\n"
    loaded = bench.load(path)
    [run], cells = loaded.runs, loaded.cells
    assert run.run_id == path.stem and json.loads(path.read_text().splitlines()[0])["schema"] == 1
    for key in ("python", "python_implementation", "platform", "cpu", "cores", "hostname", "packages", "git_commit"):
        assert key in run.env, key
    assert run.env["packages"]["numpy"]
    assert set(run.env["executors"]) == {"serial", "process-pool"}
    assert run.env["executors"]["process-pool"]["start_method"] == "forkserver"
    assert [(c.executor, c.workers, c.chunksize_spec) for c in cells] == [
        ("serial", 1, "n/a"),
        ("serial", 2, "n/a"),
        ("process-pool", 1, "1"),
        ("process-pool", 1, "16"),
        ("process-pool", 1, "auto"),
        ("process-pool", 2, "1"),
        ("process-pool", 2, "16"),
        ("process-pool", 2, "auto"),
    ]
    skipped = cells[1]
    assert skipped.status == "skipped" and "baseline" in skipped.error and skipped.times_s == []
    for cell in cells[:1] + cells[2:]:
        assert cell.status == "ok" and cell.verified is True and cell.error is None
        assert cell.answer == fib_oracle(300) and len(cell.times_s) == 2 and cell.rounds == 2
        assert cell.startup_s > 0 and cell.teardown_s >= 0 and cell.warmup_s > 0
        assert cell.warmup == "short" and cell.warmup_items == min(300, cell.workers * cell.chunksize)
        assert cell.run_id == run.run_id and cell.method == "map"
        assert cell.params == {"order": "ascending", "producer": "generator"}
        assert cell.precision is None and cell.precision_reached is None
    assert cells[0].baseline_s is None  # serial is the baseline
    for cell in cells[2:]:  # one paired serial sample per round, beside the cell's own
        assert cell.paired and all(b > 0 for b in cell.baseline_s) and cell.baseline_error is None
    assert [c.instance for c in cells] == [1, None, 2, 2, 2, 3, 3, 3]
    assert [c.chunksize for c in cells if c.chunksize_spec == "auto"] == [75, 38]  # ceil(300 / (4 x w))


@pytest.mark.slow
def test_plain_output_has_cell_lines_table_and_path(run_bench, tmp_path):
    done = run_bench(
        "--executors",
        "serial,thread-pool",
        "--workloads",
        "fibprimes",
        "--workers",
        "1",
        "--size",
        "200",
        "--repeats",
        "1",
        "--out",
        "out",
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ok       serial x1 fibprimes[200] order=ascending producer=generator: median ")
    pool_lines = [line for line in lines if line.startswith("ok       thread-pool x1")]
    assert len(pool_lines) == 3  # chunk sizes 1, 16, auto
    for line in pool_lines:  # one round: its value alone, marked as covering less than 95%
        assert re.search(r"\(1 round\), speedup \d+\.\d\dx \[~\]( \[\S\])*$", line), line  # other marks may follow
    assert lines[-1].startswith("out/") and lines[-1].endswith(".jsonl")
    assert "\x1b[" not in done.stdout  # no progress bar or colour when piped


@pytest.mark.slow
def test_oversubscription_is_said(run_bench):
    done = run_bench(
        "--oversubscribe",
        "--executors",
        "thread-pool",
        "--workers",
        "64",
        "--size",
        "50",
        "--workloads",
        "fibprimes",
        "--repeats",
        "1",
        "--chunksizes",
        "auto",
        "--out",
        "out",
    )
    assert done.returncode == 0, done.stderr
    assert "64 workers exceed the" in done.stdout


@pytest.mark.slow
def test_repeated_values_make_one_cell(run_bench, tmp_path):
    args = "--executors serial,serial --workloads fibprimes --workers 1,1 --size 50,50 --repeats 1 --out out --quiet"
    done = run_bench(*args.split())
    assert done.returncode == 0, done.stderr
    [path] = journals(tmp_path / "out")
    assert [(c.executor, c.workers) for c in bench.load(path).cells] == [("serial", 1)]


@pytest.mark.slow
def test_auto_repeats_record_their_rounds_and_precision(run_bench, tmp_path):
    args = "--executors thread-pool --workloads fibprimes --workers 1 --chunksizes auto --size 600 --repeats auto"
    args += " --max-repeats 12"
    done = run_bench(*args.split(), "--precision", "90%", "--out", "out")
    assert done.returncode == 0, done.stderr
    [path] = journals(tmp_path / "out")
    [cell] = bench.load(path).cells
    # +-90% is reached as soon as a 95% interval exists (6 rounds), or a few rounds later on a busy machine.
    assert 6 <= cell.rounds < 12 and cell.rounds == len(cell.times_s) == len(cell.baseline_s)
    assert cell.precision == 0.9 and cell.precision_reached is True
    assert "[" in done.stdout and "fewer than 6 rounds" not in done.stdout


def test_failed_cells_exit_1_and_are_journaled(run_bench, tmp_path):
    done = run_bench(
        "--executors",
        "serial,multiprocessing",
        "--workloads",
        "fibprimes",
        "--workers",
        "1",
        "--size",
        "1200",
        "--chunksizes",
        "1",
        "--cell-timeout",
        "0.05",
        "--out",
        "out",
        "--quiet",
    )
    assert done.returncode == 1
    assert "timeout: serial x1" in done.stderr and "timeout: multiprocessing x1" in done.stderr
    [path] = journals(tmp_path / "out")
    assert done.stdout == f"out/{path.name}\n"
    cells = bench.load(path).cells
    assert [c.status for c in cells] == ["timeout", "timeout"]
    assert all("exceeded the cell timeout of 0.05 s" in c.error for c in cells)


@pytest.mark.slow
def test_resume_runs_only_the_missing_cells(run_bench, tmp_path):
    done = run_bench(
        "--executors",
        "serial,thread-pool",
        "--workloads",
        "fibprimes",
        "--workers",
        "1",
        "--size",
        "100",
        "--repeats",
        "1",
        "--out",
        "out",
        "--quiet",
    )
    [path] = journals(tmp_path / "out")
    # run + serial + thread-pool x 3 chunk sizes; each cell's trace lines after it are left out
    lines = [line for line in path.read_text().splitlines() if json.loads(line)["kind"] != "trace"]
    assert len(lines) == 5
    killed = tmp_path / "killed.jsonl"
    killed.write_text("\n".join(lines[:3]) + "\n" + lines[3][:25])  # died while writing a cell
    done = run_bench("--resume", str(killed), "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{killed}\n"
    text = killed.read_text()
    assert text.startswith("\n".join(lines[:3]) + "\n" + lines[3][:25] + "\n")  # nothing lost
    # one line, no source (beside the warning of a machine that other tests kept busy)
    said = [line for line in done.stderr.splitlines() if not line.startswith("warning: the machine was busy")]
    assert said == [f"warning: {killed}:4: skipped a torn or invalid line"], done.stderr
    with pytest.warns(JournalWarning, match="torn"):
        loaded = bench.load(killed)
    kinds = [json.loads(line)["kind"] for line in killed.read_text().splitlines() if line.endswith("}")]
    kinds = [kind for kind in kinds if kind != "trace"]
    assert kinds == ["run", "cell", "cell", "resume", "cell", "cell"] and len(loaded.resumes) == 1
    keys = sorted((c.executor, c.chunksize_spec) for c in loaded.cells)
    assert keys == [("serial", "n/a"), ("thread-pool", "1"), ("thread-pool", "16"), ("thread-pool", "auto")]
    # The resumed group is a new instance, numbered after the journal's.
    assert [c.instance for c in loaded.cells] == [1, 2, 3, 3]
    complete = killed.read_text()
    again = run_bench("--resume", str(killed))
    assert again.returncode == 0 and killed.read_text() == complete  # nothing to do: nothing appended
    assert f"warning: nothing to resume: every cell of {killed} is complete" in again.stderr
    # Nothing was left to run, yet the summary covers the whole journal.
    table = again.stdout[again.stdout.index("executor") :]
    assert "serial" in table and table.count("thread-pool") == 3 and "baseline" in table


def test_resume_refuses_matrix_options(run_bench, tmp_path):
    (tmp_path / "j.jsonl").write_text(
        json.dumps({"schema": 1, "kind": "run", "run_id": "x", "started": "2026-01-01T00:00:00+00:00"}) + "\n"
    )
    done = run_bench("--resume", "j.jsonl", "--workers", "2")
    assert done.returncode == 2 and "drop --workers" in done.stderr


def test_resume_beyond_the_worker_limit_needs_oversubscribe(run_bench, tmp_path):
    matrix = {"executors": ["thread-pool"], "workers": [64], "chunksizes": ["auto"], "sizes": [20], "repeats": 1}
    (tmp_path / "j.jsonl").write_text(
        json.dumps(
            {"schema": 1, "kind": "run", "run_id": "x", "started": "2026-01-01T00:00:00+00:00", "matrix": matrix}
        )
        + "\n"
    )
    refused = run_bench("--resume", "j.jsonl", "--quiet")
    assert refused.returncode == 2 and "--oversubscribe allows it" in refused.stderr
    done = run_bench("--resume", "j.jsonl", "--oversubscribe", "--quiet")
    assert done.returncode == 0, done.stderr
    [cell] = bench.load(tmp_path / "j.jsonl").cells
    assert cell.workers == 64 and cell.status == "ok" and cell.warmup == "full"  # as the journal's run did


def test_resume_refuses_unknown_schema(run_bench, tmp_path):
    (tmp_path / "j.jsonl").write_text(json.dumps({"schema": 9, "kind": "run", "run_id": "x"}) + "\n")
    before = (tmp_path / "j.jsonl").read_text()
    done = run_bench("--resume", "j.jsonl")
    assert done.returncode == 2 and "schema 9 is not supported" in done.stderr
    assert (tmp_path / "j.jsonl").read_text() == before


def test_module_entry_point_lists_everything(run_bench):
    done = run_bench("list", module=True)
    assert done.returncode == 0, done.stderr
    for name in (
        "serial",
        "thread-pool",
        "multiprocessing",
        "process-pool",
        "dask-local",
        "joblib",
        "ray",
        "fibprimes",
    ):
        assert name in done.stdout
    mpi_comm = next(line for line in done.stdout.splitlines() if "mpi-comm" in line)
    assert " no " in mpi_comm and "mpiexec" in mpi_comm  # needs an mpiexec launch
    # dask-slurm needs a running Slurm: the test command starts one, the fast subset does not
    slurm_down = slurm.unreachable() is not None
    dask_slurm = next(line for line in done.stdout.splitlines() if "dask-slurm" in line)
    assert (" no " in dask_slurm and "no Slurm reachable" in dask_slurm) == slurm_down, dask_slurm
    others = [line for line in done.stdout.splitlines() if " no " in line and "mpi-comm" not in line]
    assert others == ([dask_slurm] if slurm_down else [])  # everything else is available in the test environment


def test_python_dash_m_bench_run_is_the_same_command(run_bench, tmp_path):
    done = run_bench(
        "run",
        "--executors",
        "serial",
        "--workloads",
        "fibprimes",
        "--size",
        "50",
        "--repeats",
        "1",
        "--out",
        "m",
        "--quiet",
        module=True,
    )
    assert done.returncode == 0, done.stderr
    [path] = journals(tmp_path / "m")
    assert done.stdout == f"m/{path.name}\n"


@pytest.mark.slow
def test_a_raising_task_fails_its_cell_and_the_sweep_goes_on(tmp_path, run_bench, raising_plugin, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", raising_plugin)
    args = "--executors process-pool,serial --workloads raising,noop --workers 1 --size 30 --chunksizes 4"
    done = run_bench(*args.split(), "--repeats", "2", "--out", "out", "--quiet")
    assert done.returncode == 1
    [path] = journals(tmp_path / "out")
    cells = {(c.executor, c.workload): c for c in bench.load(path).cells}
    for executor in ("process-pool", "serial"):
        assert cells[executor, "raising"].status == "error"
        assert cells[executor, "raising"].error == "ValueError: task 7 refuses to run"
        assert cells[executor, "noop"].status == "ok" and len(cells[executor, "noop"].times_s) == 2


def docs_workload_example(folder):
    """The user-workload example of docs/workloads.md, written where the user would keep it."""
    from tests.docs import example

    (folder / "my_work.py").write_text(example("docs/workloads.md", "file", "MonteCarloPi").text)


@pytest.mark.slow
def test_the_documented_user_workload_runs_on_every_kind_of_worker(run_bench, tmp_path):
    docs_workload_example(tmp_path)
    executors = "serial,multiprocessing,process-pool,mpi-pool,dask-local"
    done = run_bench(
        "--workloads",
        "my_work.py:MonteCarloPi",
        "--executors",
        executors,
        "--workers",
        "2",
        "--size",
        "8",
        "--chunksizes",
        "2",
        "--methods",
        "map,imap_unordered",
        "--repeats",
        "1",
        "--out",
        "out",
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    cells = bench.load(journals(tmp_path / "out")[0]).cells
    ran = {(c.executor, c.method) for c in cells if c.ok}
    assert ran == {(e, m) for e in executors.split(",")[1:] for m in ("map", "imap_unordered")}
    assert all(c.verified and c.workload == "my_work.py:MonteCarloPi" for c in cells if c.ok)


def test_a_user_workload_that_fails_to_import_is_one_line_and_exit_2(run_bench, tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('broken on purpose')\n")
    done = run_bench("--workloads", "broken.py:Anything", "--out", "out")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "importing broken failed: RuntimeError: broken on purpose" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_user_module_that_exits_on_import_is_one_line_and_exit_2(run_bench, tmp_path):
    (tmp_path / "quits.py").write_text("import sys\nsys.exit(3)\n")
    done = run_bench("--workloads", "quits.py:Anything", "--out", "out")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "importing quits failed: SystemExit: 3" in done.stderr
    assert not (tmp_path / "out").exists()


SQUARES = """
from workloads import from_function


def square(x):
    return x * x


Squares = from_function(square, items=range, verify=lambda answer, size: answer == [x * x for x in range(size)])
"""


@pytest.mark.slow
def test_a_user_workload_by_relative_path_resumes_from_another_folder(run_bench, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "squares.py").write_text(SQUARES)
    args = ["--workloads", "mine/squares.py:Squares", "--executors", "serial,process-pool", "--workers", "1"]
    args += ["--size", "20", "--chunksizes", "4", "--repeats", "1", "--out", "out", "--quiet"]
    done = run_bench(*args)
    assert done.returncode == 0, done.stderr
    journal = tmp_path / done.stdout.strip()
    [run] = bench.load(journal).runs
    recorded = run.workload_files["mine/squares.py:Squares"]
    assert recorded["path"] == str(tmp_path / "mine" / "squares.py") and len(recorded["sha256"]) == 64
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:2]) + "\n")  # killed after the serial cell
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "mine" / "squares.py").write_text(SQUARES + "\n# edited\n")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--resume", str(journal), "--quiet"],
        cwd=elsewhere, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if not line.startswith("warning: the machine was busy")]
    assert len(said) == 1 and "mine/squares.py changed since the run began" in said[0], done.stderr
    cells = bench.load(journal).cells
    assert [(c.executor, c.ok, c.verified) for c in cells] == [("serial", True, True), ("process-pool", True, True)]


def test_slurm_submit_without_a_slurm_is_one_line_and_exit_2_with_nothing_created(run_bench, tmp_path):
    # no Slurm commands on the path: as on a machine without Slurm
    bare = {"PATH": os.path.dirname(sys.executable)}
    done = run_bench("slurm", "submit", "--out", "jobs", "--", "--repeats", "1", module=True, env=bare)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "no Slurm reachable" in done.stderr and "start a local one (as root) with: scripts/local-slurm.sh start" in (
        done.stderr
    )
    assert not (tmp_path / "jobs").exists()


def test_a_user_task_that_cannot_reach_a_worker_is_one_line_and_exit_2(run_bench, tmp_path):
    (tmp_path / "lambda_work.py").write_text(
        "from workloads import from_function\n"
        "Squares = from_function(lambda x: x * x, items=range, verify=lambda answer, size: True)\n"
    )
    done = run_bench("--workloads", "lambda_work.py:Squares", "--out", "out")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "Squares.task cannot travel to a worker; define it at the top level of its module" in done.stderr


@pytest.mark.slow
def test_fibprimes_first_streams_under_imap_and_skips_map(run_bench, tmp_path, fib_oracle):
    done = run_bench(
        "--workloads",
        "fibprimes-first",
        "--executors",
        "serial,process-pool",
        "--workers",
        "1,2",
        "--size",
        "12",
        "--methods",
        "map,imap,imap_unordered",
        "--param",
        "producer=list,iterator",
        "--repeats",
        "1",
        "--chunksizes",
        "2",
        "--out",
        "out",
    )
    assert done.returncode == 0, done.stderr
    cells = bench.load(journals(tmp_path / "out")[0]).cells
    ok = [c for c in cells if c.ok]
    assert {(c.method, c.params["producer"]) for c in ok} == {
        (m, p) for m in ("imap", "imap_unordered") for p in ("list", "iterator")
    }
    assert all(c.answer == [3, 4, 5, 7, 11, 13, 17, 23, 29, 43, 47, 83] and c.verified for c in ok)
    assert {c.window for c in ok if c.executor == "process-pool"} == {2, 4}  # 2 chunks per worker
    assert all(c.driver_peak_bytes and c.items is None for c in ok)
    maps = [c for c in cells if c.method == "map" and (c.executor, c.workers) != ("serial", 2)]
    assert maps and all(c.status == "skipped" and "endless stream" in c.error for c in maps)
    assert "imap-u" in done.stdout  # the summary tells the methods apart


@pytest.mark.slow
def test_a_listed_input_costs_the_driver_more_memory_than_a_streamed_one(run_bench, tmp_path):
    done = run_bench(
        "--workloads",
        "fibprimes",
        "--executors",
        "thread-pool",
        "--workers",
        "2",
        "--size",
        "1500",
        "--methods",
        "imap",
        "--param",
        "producer=list,generator",
        "--repeats",
        "1",
        "--chunksizes",
        "16",
        "--out",
        "out",
    )
    assert done.returncode == 0, done.stderr
    peaks = {c.params["producer"]: c.driver_peak_bytes for c in bench.load(journals(tmp_path / "out")[0]).cells}
    # 1500 Fibonacci numbers of up to 1042 bits held at once, against a window of 4 chunks of 16
    assert peaks["list"] > 3 * peaks["generator"], peaks


def test_a_dry_run_lists_the_cells_with_their_skips_and_starts_nothing(run_bench, tmp_path):
    done = run_bench(
        "--executors", "serial,process-pool", "--workloads", "fibprimes", "--workers", "1,2",
        "--chunksizes", "1,auto", "--size", "300", "--out", "out", "--dry-run",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    *cells, last = done.stdout.splitlines()
    assert last == "dry run: 5 cell(s) to measure, 1 skipped, in 4 executor instance(s); nothing was started or written"
    assert cells[0] == "serial x1 fibprimes[300] order=ascending producer=generator"
    assert cells[1].startswith("serial x2 fibprimes[300]") and "(skipped: serial is the one-worker baseline" in cells[1]
    assert "process-pool x2 fibprimes[300] order=ascending producer=generator chunk=auto->38" in cells
    assert not (tmp_path / "out").exists()
    # bad input is still one line and exit 2, and a journal to resume is not planned anew
    bad = run_bench("--executors", "nonesuch", "--dry-run")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "nonesuch" in bad.stderr
    resumed = run_bench("--resume", "x.jsonl", "--dry-run")
    assert resumed.returncode == 2 and "--dry-run plans a new sweep" in resumed.stderr
