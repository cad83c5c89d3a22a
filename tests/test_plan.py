"""Expanding the matrix: presets, auto chunk rule, skips, validation."""

import pytest

from bench.data import stats
from bench.data.chunks import auto_chunksize
from bench.host.provenance import available_cores
from bench.measuring import plan
from conftest import EXECUTOR_CONTRACT


def test_auto_rule_is_multiprocessings():
    assert auto_chunksize(5000, 4) == 313  # ceil(5000 / 16)
    assert auto_chunksize(2000, 2) == 250
    assert auto_chunksize(3, 8) == 1


def test_quick_preset_is_the_documented_matrix():
    matrix = plan.from_preset("quick")
    assert matrix.workers == tuple(sorted({1, 2, available_cores()}))
    assert matrix.chunksizes == ("1", "16", "auto") and matrix.workloads == ("fibprimes", "noop", "polyfit", "linalg")
    groups = plan.build(matrix)
    assert {g.executor for g in groups} == set(EXECUTOR_CONTRACT)
    sizes = {cell.workload: cell.size for group in groups for cell in group.cells}
    assert sizes == {"fibprimes": 1000, "noop": 500, "polyfit": 4, "linalg": 32}
    # inner threads: auto everywhere; default too for fibprimes and linalg, at the core count
    threads = {(cell.workload, cell.threads, cell.workers) for group in groups for cell in group.cells}
    assert {spec for _, spec, _ in threads} == {"auto", "default"}
    assert {(name, workers) for name, spec, workers in threads if spec == "default"} == {
        (name, available_cores()) for name in ("fibprimes", "linalg")
    }
    # a preset's comparison is made for its own workloads and worker counts
    for override in ({"workloads": ("fibprimes",)}, {"workers": (1, 2)}, {"threads": ("auto",)}):
        narrowed = plan.build(plan.from_preset("quick", **override))
        assert {cell.threads for group in narrowed for cell in group.cells} == {"auto"}, override


def test_quick_makes_any_workload_small_and_an_explicit_size_wins():
    matrix = plan.from_preset("quick", workloads=("spin", "payload"), executors=("serial",))
    assert {(c.workload, c.size) for g in plan.build(matrix) for c in g.cells} == {("spin", 200), ("payload", 50)}
    matrix = plan.from_preset("quick", workloads=("spin",), executors=("serial",), sizes=(7,))
    assert {c.size for g in plan.build(matrix) for c in g.cells} == {7}


def test_the_probe_presets():
    overhead = plan.from_preset("overhead")
    assert overhead.workloads == ("noop", "sleep", "spin", "payload") and overhead.chunksizes == ("1",)
    payloads = {c.param_dict["payload_bytes"] for g in plan.build(overhead) for c in g.cells if c.workload == "payload"}
    assert payloads == {1, 1024, 65536, 1048576}  # payload's own sweep, 1 B to 1 MiB
    granularity = plan.from_preset("granularity", executors=("process-pool",))
    durations = sorted(c.param_dict["task_us"] for g in plan.build(granularity) for c in g.cells)
    assert durations == [10, 100, 1000, 10000, 100000] and granularity.workloads == ("spin",)


def test_the_pipelines_preset_streams_and_skips_map_for_the_endless_one():
    matrix = plan.from_preset("pipelines", executors=("process-pool",))
    cells = [c for g in plan.build(matrix) for c in g.cells]
    assert {c.method for c in cells} == {"map", "imap", "imap_unordered"}
    assert {c.param_dict["producer"] for c in cells} == {"list", "generator", "iterator"}
    skipped = {(c.workload, c.method) for c in cells if c.skip_reason}
    assert skipped == {("fibprimes-first", "map")}
    reason = next(c.skip_reason for c in cells if c.skip_reason)
    assert reason == "fibprimes-first reads an endless stream: it runs under imap and imap_unordered, not map"
    assert {c.items for c in cells if c.workload == "fibprimes-first"} == {None}
    assert {c.chunksize for c in cells} == {16}


def test_methods_default_to_each_workloads_own():
    matrix = plan.Matrix(executors=("thread-pool",), workloads=("fibprimes", "fibprimes-first"), workers=(2,))
    methods = {(c.workload, c.method) for g in plan.build(matrix) for c in g.cells}
    assert methods == {("fibprimes", "map"), ("fibprimes-first", "imap"), ("fibprimes-first", "imap_unordered")}
    auto = plan.Matrix(executors=("thread-pool",), workloads=("fibprimes-first",), chunksizes=("auto",))
    assert {c.chunksize for g in plan.build(auto) for c in g.cells} == {1}  # a stream of unknown length


def test_unknown_method_and_user_workload_errors():
    with pytest.raises(plan.PlanError, match="unknown method 'starmap'; known: map, imap, imap_unordered"):
        plan.validate(plan.Matrix(methods=("starmap",)))
    with pytest.raises(plan.PlanError, match="json.dumps is a function, not a workloads.Workload subclass"):
        plan.validate(plan.Matrix(workloads=("json:dumps",)))


def test_a_matrix_recorded_before_inner_threads_were_set_runs_as_default():
    [group] = plan.build(plan.Matrix.from_json({"executors": ["serial"], "workers": [1], "sizes": [10]}))
    assert group.threads == "default" and group.cells[0].threads == "default"


def test_seed_preset_is_the_course_exercise():
    matrix = plan.from_preset("seed")
    assert matrix.sizes == (5000,) and matrix.workers == (1, 2, 3, 4)
    assert matrix.chunksizes == ("1", "10", "100", "auto")


def test_options_override_the_preset():
    matrix = plan.from_preset("seed", workers=(2,), repeats=1)
    assert matrix.workers == (2,) and matrix.repeats == 1 and matrix.sizes == (5000,)


def test_cells_record_resolved_auto_chunksize_and_oversubscription():
    matrix = plan.Matrix(
        executors=("process-pool",), workers=(2, 64), chunksizes=("auto", "7"), sizes=(1000,), oversubscribe=True
    )
    cells = [cell for group in plan.build(matrix) for cell in group.cells]
    auto = {cell.workers: cell.chunksize for cell in cells if cell.chunksize_spec == "auto"}
    assert auto == {2: 125, 64: 4}
    assert {cell.workers for cell in cells if cell.oversubscribed} == {64}
    assert [cell.chunksize for cell in cells if cell.chunksize_spec == "7"] == [7, 7]


def test_serial_is_one_cell_per_case_and_skips_more_workers():
    matrix = plan.Matrix(executors=("serial",), workers=(1, 2), chunksizes=("1", "16", "auto"), sizes=(100,))
    one, two = plan.build(matrix)
    assert [(c.chunksize_spec, c.skip_reason) for c in one.cells] == [("n/a", None)]
    assert two.skipped and "one-worker baseline" in two.cells[0].skip_reason


def test_params_sweep_and_default():
    matrix = plan.Matrix(
        executors=("serial",), workers=(1,), sizes=(10,), params={"order": ("descending", "ascending")}
    )
    cells = plan.build(matrix)[0].cells
    gen = {"producer": "generator"}
    assert [cell.param_dict for cell in cells] == [{"order": "descending", **gen}, {"order": "ascending", **gen}]
    default = plan.build(plan.Matrix(executors=("serial",), workers=(1,), sizes=(10,)))[0].cells[0]
    assert default.param_dict == {"order": "ascending", **gen}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"executors": ("nope",)}, "unknown executor 'nope'; known: serial"),
        ({"workloads": ("nope",)}, "unknown workload 'nope'; known: fibprimes"),
        ({"workers": (0,)}, "workers must be positive"),
        ({"chunksizes": ("0",)}, "chunk size '0'"),
        ({"chunksizes": ("big",)}, "chunk size 'big'"),
        ({"repeats": 0}, "repeats must be from 1 to 100000, 'auto' or 'race', not 0"),
        ({"repeats": "often"}, "repeats must be from 1 to 100000, 'auto' or 'race'"),
        ({"repeats": True}, "repeats must be from 1 to 100000, 'auto' or 'race', not True"),
        ({"repeats": "auto", "max_repeats": 5}, "max repeats must be from 6 to 100000 with repeats auto"),
        ({"repeats": "auto", "precision": 0.0}, r"precision must be a fraction between 0 and 1 \(0.03 for 3%\)"),
        ({"repeats": "auto", "precision": float("nan")}, "precision must be a fraction between 0 and 1"),
        ({"cell_timeout": float("inf")}, "the cell timeout must be a number of seconds above 0 and at most 1e"),
        ({"cell_timeout": float("nan")}, "the cell timeout must be a number of seconds above 0"),
        ({"cell_timeout": 1e12}, "the cell timeout must be a number of seconds above 0 and at most 1e"),
        ({"cell_timeout": 0}, "the cell timeout must be a number of seconds above 0"),
        ({"cell_timeout": "10"}, "the cell timeout must be a number of seconds"),
        ({"max_case_time": -1.0}, "the longest case time must be a number of seconds above 0"),
        ({"threads": ("many",)}, "threads 'many' is not 'auto', 'default' or a number of threads from 1 to 4096"),
        ({"threads": (0,)}, "threads '0' is not 'auto', 'default'"),
        ({"threads": ()}, "threads needs at least one value"),
        ({"workers": (True,)}, "workers must be positive integers, not True"),
        ({"warmup": "long"}, "warm-up 'long' is not one of short, full"),
        ({"params": {"colour": ("red",)}}, "unknown param 'colour' for fibprimes; known: order"),
        ({"params": {"order": ("sideways",)}}, "'sideways' is not one of ascending"),
    ],
)
def test_bad_matrices_are_refused(change, message):
    with pytest.raises(plan.PlanError, match=message):
        plan.build(plan.Matrix(**change))


def test_unknown_preset():
    with pytest.raises(plan.PlanError, match="unknown preset 'slow'; known: quick, seed"):
        plan.from_preset("slow")


def test_matrix_json_round_trip():
    matrix = plan.Matrix(executors=("serial",), sizes=(5, 6), params={"order": ("descending",)}, cell_timeout=2.5)
    assert plan.Matrix.from_json(matrix.to_json()) == matrix


def test_without_drops_done_cells():
    groups = plan.build(plan.Matrix(executors=("thread-pool",), workers=(1, 2), sizes=(10,)))
    done = {groups[0].cells[0].key}
    left = plan.without(groups, done)
    assert sum(len(g.cells) for g in left) == sum(len(g.cells) for g in groups) - 1


def test_labels_name_the_cell():
    matrix = plan.Matrix(executors=("serial", "process-pool"), workers=(2,), chunksizes=("auto", "8"), sizes=(1000,))
    labels = [cell.label() for group in plan.build(matrix) for cell in group.cells]
    assert labels == [
        "serial x2 fibprimes[1000] order=ascending producer=generator",
        "process-pool x2 fibprimes[1000] order=ascending producer=generator chunk=auto->125",
        "process-pool x2 fibprimes[1000] order=ascending producer=generator chunk=8",
    ]


def test_repeated_values_make_one_cell():
    matrix = plan.Matrix(
        executors=("serial", "serial", "thread-pool"),
        workers=(1, 1),
        chunksizes=("4", "auto", "4"),
        sizes=(10, 10),
        params={"order": ("ascending", "ascending")},
    )
    assert matrix.executors == ("serial", "thread-pool") and matrix.workers == (1,) and matrix.sizes == (10,)
    cells = [cell for group in plan.build(matrix) for cell in group.cells]
    assert [(c.executor, c.chunksize_spec) for c in cells] == [
        ("serial", "n/a"),
        ("thread-pool", "4"),
        ("thread-pool", "auto"),
    ]


def test_local_worker_counts_are_bounded_unless_asked_for():
    limit = plan.max_local_workers()
    assert limit == plan.MAX_WORKERS_PER_CORE * available_cores()
    with pytest.raises(plan.PlanError, match=f"thread-pool with 100000 workers exceeds the limit of {limit}"):
        plan.build(plan.Matrix(executors=("thread-pool",), workers=(1, 100000)))
    plan.build(plan.Matrix(executors=("thread-pool",), workers=(limit,)))  # at the limit: fine
    groups = plan.build(plan.Matrix(executors=("thread-pool",), workers=(limit + 1,), oversubscribe=True))
    assert groups[0].cells[0].oversubscribed
    # serial skips more than one worker, and mpi-comm is bounded by its launch, not by this machine
    plan.build(plan.Matrix(executors=("serial", "mpi-comm"), workers=(limit + 1,)))


def test_cells_of_one_case_share_a_case_key():
    matrix = plan.Matrix(executors=("thread-pool",), workers=(1,), chunksizes=("1", "8"), sizes=(10, 20))
    cells = plan.build(matrix)[0].cells
    assert len({cell.case for cell in cells}) == 2
    assert cells[0].case_label() == "fibprimes[10] order=ascending producer=generator"


def test_the_quick_preset_gives_95_percent_intervals_and_comparable_runs():
    rounds = plan.from_preset("quick").repeats
    assert rounds == plan.QUICK_ROUNDS == 8 and rounds >= plan.AUTO_MIN_ROUNDS == 6
    # compare's two-sided test at p < 0.002 can reject with 8 rounds against 8, never with 6 against 6
    assert stats.separable(rounds, rounds, 0.002, two_sided=True)
    assert not stats.separable(6, 6, 0.002, two_sided=True) and stats.separable(6, 6, 0.002)
