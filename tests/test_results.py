"""Journals and records: writing, loading, golden files of every schema, malformed input."""

import datetime as dt
import json
from pathlib import Path

import pytest

import bench
from bench.data import journal as results
from bench.data.journal import Journal, JournalError, JournalWarning
from bench.data.schema import CELL_FIELDS, CellRecord, RecordError, ResumeRecord, RunRecord, parse
from bench.measuring.plan import Matrix

DATA = Path(__file__).parent / "data"
#: Journals as each schema's writers wrote them; every later version must keep loading them.
GOLDEN = sorted(DATA.glob("schema*.jsonl"))

RUN = {"schema": 1, "kind": "run", "run_id": "r1", "started": "2026-01-01T00:00:00+00:00", "argv": [], "env": {}}
CELL = {
    "schema": 1,
    "kind": "cell",
    "run_id": "r1",
    "executor": "serial",
    "workers": 1,
    "workload": "fibprimes",
    "size": 10,
    "chunksize": 1,
    "chunksize_spec": "n/a",
    "params": {},
    "method": "map",
    "startup_s": 0.0,
    "times_s": [0.5, 0.25, 0.75],
    "teardown_s": 0.0,
    "status": "ok",
    "error": None,
    "answer": [3, 4, 5, 7],
    "verified": True,
}


def load_golden(path):
    """A golden journal; the resumed one holds the torn line of the run that was killed."""
    if "resumed" not in path.name:
        return bench.load(path)
    with pytest.warns(JournalWarning, match="skipped a torn"):
        return bench.load(path)


def write_lines(path, *records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_records_round_trip_through_their_json_form(tmp_path):
    run, cell = parse(RUN), parse(CELL)
    assert isinstance(run, RunRecord) and isinstance(cell, CellRecord)
    with Journal.create(tmp_path / "out", "r1") as journal:
        journal.write(run)
        journal.write(cell)
    assert journal.path == tmp_path / "out" / "r1.jsonl"
    assert results.read(journal.path) == [run, cell]
    lines = [json.loads(line) for line in journal.path.read_text().splitlines()]
    assert lines[1] == parse(CELL).to_json() and {**lines[1], **CELL} == lines[1]
    assert list(lines[1])[:3] == ["schema", "kind", "run_id"]


def test_each_record_is_on_disk_once_written(tmp_path):
    journal = Journal.create(tmp_path, "r1")
    journal.write(parse(RUN))
    assert results.read(journal.path) == [parse(RUN)]  # before close: flushed per record
    journal.close()


@pytest.mark.parametrize("path", GOLDEN, ids=[path.name for path in GOLDEN])
def test_golden_journals_of_every_schema_load(path):
    loaded = load_golden(path)
    raw = [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{") and line.endswith("}")]
    assert [r["run_id"] for r in raw if r["kind"] == "run"] == [run.run_id for run in loaded.runs]
    assert loaded.path == path and loaded.cells
    for cell in loaded.cells:
        assert cell.status in ("ok", "error", "timeout", "skipped")
        if cell.ok:  # every ok cell yields statistics from its raw samples
            stats = cell.stats
            assert stats.time.low <= stats.time.value <= stats.time.high
            assert (stats.speedup is None) == (cell.baseline_s is None)
    frame = loaded.to_dataframe()
    assert len(frame) == len(loaded.cells) and frame["hostname"].notna().all()
    # What was read is what would be written again: nothing is lost or renamed.
    for record in raw:
        assert {**record, **parse(record).to_json()} == parse(record).to_json()


def test_golden_journals_cover_what_schema_1_has_written():
    cells = [cell for path in GOLDEN for cell in load_golden(path).cells]
    assert {cell.status for cell in cells} == {"ok", "timeout", "skipped"}
    assert any(cell.baseline_s is None and cell.executor != "serial" and cell.ok for cell in cells)  # before pairing
    assert any(cell.paired for cell in cells) and any(cell.executor == "mpi-comm" and cell.ok for cell in cells)
    resumed = load_golden(DATA / "schema1-resumed.jsonl")
    assert len(resumed.resumes) == 1 and resumed.runs[0].matrix.params == {"order": ("ascending", "descending")}
    old = bench.load(DATA / "schema1-unpaired.jsonl").runs[0].matrix
    assert old.warmup == "full"  # a matrix from before short warm-ups ran whole ones
    streams = bench.load(DATA / "schema1-workloads.jsonl")
    assert streams.runs[0].matrix.methods == ("map", "imap_unordered")
    ok = [cell for cell in streams.cells if cell.ok]
    assert {cell.window for cell in ok if cell.method != "map"} == {1, 2} and all(c.driver_peak_bytes for c in ok)
    assert {cell.items for cell in streams.cells if cell.workload == "fibprimes-first"} == {None}
    assert any(cell.status == "skipped" and cell.method == "map" for cell in streams.cells)


def test_a_resumed_journal_keeps_the_newest_record_of_each_cell(tmp_path):
    path = write_lines(tmp_path / "j.jsonl", RUN, {**CELL, "status": "error", "error": "boom"}, CELL)
    [cell] = bench.load(path).cells
    assert cell.ok


def test_several_journals_load_into_one_results(tmp_path):
    a = write_lines(tmp_path / "a.jsonl", {**RUN, "env": {"hostname": "a"}}, CELL)
    b = write_lines(tmp_path / "b.jsonl", {**RUN, "run_id": "r2", "env": {"hostname": "b"}}, {**CELL, "run_id": "r2"})
    loaded = bench.load(a, b)
    assert loaded.path is None and loaded.paths == (a, b)
    assert [run.run_id for run in loaded.runs] == ["r1", "r2"] and [c.run_id for c in loaded.cells] == ["r1", "r2"]
    assert loaded.run_of(loaded.cells[1]).env == {"hostname": "b"}
    frame = loaded.to_dataframe()
    assert list(frame["hostname"]) == ["a", "b"] and list(frame["median_s"]) == [0.5, 0.5]


def test_torn_lines_are_skipped_with_one_warning_each(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text(json.dumps(RUN) + "\n" + json.dumps(CELL) + "\n" + json.dumps(CELL)[:40])
    with pytest.warns(JournalWarning, match=r"j.jsonl:3: skipped a torn"):
        assert bench.load(path).cells == [parse(CELL)]


def test_a_file_that_is_not_a_journal_is_an_error_without_warnings(tmp_path, recwarn):
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\x00\x01 not json\nnor this\n")
    with pytest.raises(JournalError, match="garbage.jsonl: not a journal"):
        bench.load(garbage)
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(JournalError, match="binary.jsonl: not a text file"):
        bench.load(binary)
    assert not recwarn.list


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({**CELL, "schema": 7}, "j.jsonl:2: schema 7 is not supported (this version reads schema 1)"),
        ({"hello": "world"}, "j.jsonl:2: not a journal record (schema None)"),
        ([1, 2], "j.jsonl:2: not a journal record (not a JSON object)"),
        (
            {**CELL, "kind": "cake"},
            "unknown record kind 'cake' (known: run, cell, resume, trace, calibration, advice, noise)",
        ),
        ({k: v for k, v in CELL.items() if k != "executor"}, "cell record lacks 'executor'"),
        ({**CELL, "workers": "two"}, "cell record: 'workers' must be a positive integer, not 'two'"),
        ({**CELL, "times_s": [0.1, "slow"]}, "'times_s' must be a list of durations from 1e-09 to 1e+09 s"),
        ({**CELL, "times_s": [0.1, 0, 0.1]}, "'times_s' must be a list of durations"),  # no ratio can use it
        ({**CELL, "baseline_s": [0.1, 1e300, 0.1]}, "'baseline_s' must be a list of durations"),
        ({**CELL, "params": {"order": ["a", "b"]}}, "'params' must be an object of strings, numbers, booleans"),
        ({**CELL, "params": {"points": 10**400}, "method": "zip"}, "'method' must be one of"),  # no float overflow
        ({**CELL, "method": "zip"}, "'method' must be one of map, imap, imap_unordered, not 'zip'"),
        ({**CELL, "chunksize_spec": "lots"}, "'chunksize_spec' must be 'n/a', 'auto', 'native' or a positive integer"),
        ({**CELL, "error": ["x" * 500]}, "'error' must be a string or null, not ['xxx"),  # cut short
        ({**CELL, "status": "fine"}, "'status' must be one of ok, error, timeout, skipped, not 'fine'"),
        ({**CELL, "baseline_s": [1.0]}, "1 baseline samples for 3 timed samples"),
    ],
)
def test_malformed_or_foreign_records_are_one_line_errors(tmp_path, record, message):
    path = write_lines(tmp_path / "j.jsonl", RUN, record)
    with pytest.raises(JournalError) as error:
        bench.load(path)
    assert message in str(error.value) and "\n" not in str(error.value) and len(str(error.value)) < 200


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"hostname": 5}, "j.jsonl:1: run record: env 'hostname' must be a string or null, not 5"),
        ({"cpu": {"model": "x"}}, "env 'cpu' must be a string or null"),
        ({"cores_available": "two"}, "env 'cores_available' must be a non-negative integer or null"),
        ({"slurm": "n1"}, "env 'slurm' must be an object or null"),
    ],
)
def test_a_run_environment_of_the_wrong_shape_is_a_one_line_error(tmp_path, env, message):
    path = write_lines(tmp_path / "j.jsonl", {**RUN, "env": env}, CELL)
    with pytest.raises(JournalError) as error:
        bench.load(path)
    assert message in str(error.value)


def test_lines_python_cannot_parse_are_skipped_as_torn(tmp_path):
    path = tmp_path / "j.jsonl"
    deep = "[" * 100_000 + "]" * 100_000  # deeper than the parser recurses
    huge = '{"schema": 1, "kind": "cell", "size": ' + "9" * 5000 + "}"  # past Python's digit limit
    path.write_text("\n".join([json.dumps(RUN), deep, huge, json.dumps(CELL)]) + "\n")
    with pytest.warns(JournalWarning) as warned:
        assert bench.load(path).cells == [parse(CELL)]
    assert [str(w.message).rsplit(":", 2)[1] for w in warned] == ["2", "3"]


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ({"executors": ["serial"], "turbo": True}, "matrix has an unknown key 'turbo'"),
        ({"workers": "many"}, "matrix 'workers' must be a list of integers, not 'many'"),
        ({"repeats": "often"}, "matrix 'repeats' must be an integer, 'auto' or 'race', not 'often'"),
        ([1], "matrix must be an object"),
    ],
)
def test_a_foreign_matrix_is_a_one_line_error(tmp_path, matrix, message):
    path = write_lines(tmp_path / "j.jsonl", {**RUN, "matrix": matrix})
    with pytest.raises(JournalError, match=rf"j.jsonl:1: run record: {message}"):
        bench.load(path)


def test_fields_from_a_later_writer_are_kept(tmp_path):
    path = write_lines(tmp_path / "j.jsonl", RUN, {**CELL, "gpu_watts": 1234})
    [cell] = bench.load(path).cells
    assert cell.extra == {"gpu_watts": 1234} and cell.to_json()["gpu_watts"] == 1234


def test_not_a_journal_without_a_run_record_first(tmp_path):
    with pytest.raises(JournalError, match="no run record first"):
        bench.load(write_lines(tmp_path / "j.jsonl", CELL))


def test_existing_journal_is_never_overwritten(tmp_path):
    (tmp_path / "r1.jsonl").write_text("precious\n")
    with pytest.raises(JournalError, match="exists; journals are never overwritten"):
        Journal.create(tmp_path, "r1")
    assert (tmp_path / "r1.jsonl").read_text() == "precious\n"


def test_unwritable_folder_is_reported(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(JournalError, match="cannot write results to"):
        Journal.create(tmp_path / "file" / "sub", "r1")


def test_reopen_appends_after_a_torn_line(tmp_path):
    path = tmp_path / "j.jsonl"
    torn = json.dumps(CELL)[:30]
    path.write_text(json.dumps(RUN) + "\n" + torn)
    marker = ResumeRecord("r1", "2026-01-01T01:00:00+00:00")
    with Journal.reopen(path) as journal:
        journal.write(marker)
        journal.write(parse(CELL))
    text = path.read_text()
    assert text.startswith(json.dumps(RUN) + "\n" + torn + "\n")  # nothing lost
    with pytest.warns(JournalWarning):
        loaded = bench.load(path)
    assert loaded.resumes == [marker] and loaded.cells == [parse(CELL)]


def test_run_ids_sort_by_start_time_and_are_unique():
    times = [dt.datetime(2026, 12, 31, 23, 59, 59), dt.datetime(2027, 1, 1, 0, 0, 0), dt.datetime(2027, 1, 1, 0, 0, 1)]
    ids = [results.new_run_id(now) for now in reversed(times)]
    assert sorted(ids) == ids[::-1]
    same_second = {results.new_run_id(times[0]) for _ in range(100)}
    assert len(same_second) == 100


def test_dataframe_columns_and_statistics(tmp_path):
    baseline = [1.0, 0.5, 1.5]  # each round's pair has the ratio 2
    path = write_lines(tmp_path / "j.jsonl", RUN, {**CELL, "executor": "thread-pool", "baseline_s": baseline})
    frame = bench.load(path).to_dataframe()
    for column in ("run_id", *CELL_FIELDS, "median_s", "speedup", "speedup_low", "speedup_high", "efficiency"):
        assert column in frame.columns, column
    row = frame.iloc[0]
    assert row["median_s"] == 0.5 and row["speedup"] == row["speedup_low"] == row["speedup_high"] == 2.0
    assert row["confidence"] == 0.75 and row["suspicious"]  # 3 rounds; 1 worker twice as fast as serial


def test_an_empty_results_still_has_the_columns():
    frame = bench.Results([], []).to_dataframe()
    assert len(frame) == 0 and {"speedup", "efficiency_high", "executor"} <= set(frame.columns)


def test_matrix_keeps_python_values_as_the_journal_does():
    matrix = Matrix(executors="serial", workers=[1, 1, 2], chunksizes=(1, "auto"), params={"order": "descending"})
    assert matrix.executors == ("serial",) and matrix.workers == (1, 2) and matrix.chunksizes == ("1", "auto")
    assert matrix.params == {"order": ("descending",)}
    assert Matrix.from_json(json.loads(json.dumps(matrix.to_json()))) == matrix


def test_a_record_error_is_a_value_error():
    assert issubclass(RecordError, ValueError) and issubclass(JournalError, ValueError)
