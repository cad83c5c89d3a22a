"""Journals: writing, loading, torn lines, unknown schemas, no overwriting."""

import json

import pytest

from bench import results
from bench.results import Journal, JournalError

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


def write_lines(path, *lines):
    path.write_text("".join(line + "\n" for line in lines))


def test_written_records_load_back(tmp_path):
    with Journal.create(tmp_path / "out", "r1") as journal:
        journal.write(RUN)
        journal.write(CELL)
    assert journal.path == tmp_path / "out" / "r1.jsonl"
    assert results.load(journal.path) == [RUN, CELL]


def test_each_record_is_on_disk_once_written(tmp_path):
    journal = Journal.create(tmp_path, "r1")
    journal.write(RUN)
    assert results.load(journal.path) == [RUN]  # before close: flushed per record
    journal.close()


def test_torn_last_line_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text(json.dumps(RUN) + "\n" + json.dumps(CELL) + "\n" + json.dumps(CELL)[:40])
    with pytest.warns(UserWarning, match=r"j.jsonl:3: skipped a torn"):
        assert results.load(path) == [RUN, CELL]


def test_unknown_schema_is_refused(tmp_path):
    path = tmp_path / "j.jsonl"
    write_lines(path, json.dumps(RUN), json.dumps({**CELL, "schema": 7}))
    with pytest.raises(JournalError, match="schema 7 is not supported"):
        results.load(path)


def test_not_a_journal(tmp_path):
    path = tmp_path / "j.jsonl"
    write_lines(path, json.dumps(CELL))
    with pytest.raises(JournalError, match="no run record first"):
        results.load(path)


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
    with Journal.reopen(path) as journal:
        journal.write(CELL)
    text = path.read_text()
    assert text.startswith(json.dumps(RUN) + "\n" + torn + "\n")  # nothing lost
    with pytest.warns(UserWarning):
        assert results.load(path) == [RUN, CELL]


def test_run_ids_are_unique_and_sortable():
    ids = {results.new_run_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i.split("-")[0]) == 16 for i in ids)


def test_dataframe_has_one_row_per_cell(tmp_path):
    path = tmp_path / "j.jsonl"
    write_lines(path, json.dumps({**RUN, "env": {"hostname": "node1"}}), json.dumps(CELL), json.dumps(CELL))
    frame = results.to_dataframe([path])
    assert len(frame) == 2
    assert list(frame["median_s"]) == [0.5, 0.5] and set(frame["hostname"]) == {"node1"}
