"""Property-based tests (hypothesis): whatever the command line or a journal holds, the answer is exit
status 0, 1 or 2, never a traceback, and a journal loads or is refused with a JournalError."""

import contextlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bench
from bench import cli
from bench.data.journal import JournalError, JournalWarning
from tests.journals import cell, write_journal

#: Options and values of the sweep, good and bad; sweeps stay tiny (serial or threads, size 1, 1 round).
TOKENS = [
    *("--executors", "--workloads", "--workers", "--chunksizes", "--size", "--methods", "--repeats"),
    *("--precision", "--max-repeats", "--warmup", "--param", "--executor-option", "--preset", "--cell-timeout"),
    *("--resume", "--quiet", "--oversubscribe", "--help-me", "-x"),
    *("serial", "thread-pool", "serial,thread-pool", "noop", "fibprimes", "fault-raise", "fault-hang", "nosuch"),
    *("0", "1", "-1", "2,1", "1-2", "2-1", "1-", "auto", "1,auto", "x", "", " ", "=", "a=b", "at=1", "order=no"),
    *("3%", "150%", "0.5", "1e9", "nan", "inf", "short", "full", "map", "imap", "imap_unordered", "quick", "seed"),
    *("missing.jsonl", "--", "☃", "\x00"),
]
SAFE = ["--executors", "serial", "--workers", "1", "--size", "1", "--repeats", "1", "--workloads", "noop"]
EXAMPLES_CLI = 300
EXAMPLES_JOURNAL = 300


def exit_status(call):
    """The exit status of a command run in this process, its output swallowed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return call()
        except SystemExit as exc:  # argparse
            return exc.code


@contextlib.contextmanager
def in_temporary_folder():
    previous = os.getcwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        try:
            yield Path(folder)
        finally:
            os.chdir(previous)


@pytest.mark.slow
@settings(max_examples=EXAMPLES_CLI, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=8))
def test_any_sweep_command_line_is_exit_0_1_or_2(tokens):
    with in_temporary_folder() as folder:
        status = exit_status(lambda: cli.run_main([*SAFE, "--out", "out", *tokens]))
        assert status in (0, 1, 2), tokens
        for journal in (folder / "out").glob("*.jsonl") if (folder / "out").is_dir() else ():
            bench.load(journal)  # whatever was written loads


#: The other commands, and what they take; "slurm submit" and "run" are left out (they would submit
#: jobs or start sweeps of any size; the sweep's own arguments are tested above).
COMMANDS = [["list"], ["report"], ["compare"], ["export"], ["slurm", "script"]]
COMMAND_TOKENS = [
    *("j.jsonl", "other.jsonl", "missing.jsonl", "-o", "--out", "out", "j.jsonl", "--to", "pytest-benchmark"),
    *("--format", "md", "text", "html", "--fail-above", "5%", "5", "--factor", "1.1", "0", "--relative"),
    *("--nodes", "2", "0", "--executors", "serial", "nosuch", "--workloads", "--partition", "--time", "1:00"),
    *("--workers", "1", "x", "--", "-x", "", "☃"),
]
EXAMPLES_COMMANDS = 150


@pytest.mark.slow
@settings(max_examples=EXAMPLES_COMMANDS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(COMMANDS), st.lists(st.sampled_from(COMMAND_TOKENS), max_size=7))
def test_any_command_line_of_the_other_commands_is_exit_0_1_or_2_and_changes_no_journal(command, tokens):
    with in_temporary_folder() as folder:
        for name, speedup in (("j.jsonl", 1.8), ("other.jsonl", 1.5)):
            write_journal(folder / name, [cell("serial", 1, 1.0), cell("process-pool", 2, speedup)])
        before = {path: path.read_bytes() for path in folder.glob("*.jsonl")}
        status = exit_status(lambda: cli.main([*command, *tokens]))
        assert status in (0, 1, 2), (command, tokens)
        assert {path: path.read_bytes() for path in before} == before  # read, never changed


def records():
    """Lines of a journal: valid records bent out of shape, other JSON, and text that is not JSON."""
    run = {"schema": 1, "kind": "run", "run_id": "r", "started": "2026-11-22T10:00:00+00:00", "argv": [], "env": {}}
    cell = {
        **{"schema": 1, "kind": "cell", "run_id": "r", "executor": "serial", "workers": 1, "workload": "noop"},
        **{"size": 8, "chunksize": 1, "chunksize_spec": "n/a", "status": "ok", "times_s": [0.1, 0.2]},
    }
    values = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.lists(st.floats(), max_size=3)
    )

    def bent(record):
        return st.builds(
            lambda changes, dropped: {**{k: v for k, v in record.items() if k not in dropped}, **changes},
            st.dictionaries(st.sampled_from([*record, "extra", "matrix"]), values, max_size=3),
            st.sets(st.sampled_from(list(record)), max_size=2),
        )

    line = st.one_of(
        bent(run).map(json.dumps),
        bent(cell).map(json.dumps),
        st.just(json.dumps(cell)),
        st.text(max_size=30),
        st.binary(max_size=20).map(lambda data: data.decode("latin-1")),
    )
    return st.lists(line, max_size=6)


@pytest.mark.slow
@settings(max_examples=EXAMPLES_JOURNAL, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(), st.booleans())
def test_any_journal_loads_or_is_refused_and_every_command_answers_0_1_or_2(lines, run_first):
    with in_temporary_folder() as folder:
        journal = folder / "j.jsonl"
        run = '{"schema": 1, "kind": "run", "run_id": "r", "started": "2026-11-22T10:00:00+00:00"}'
        journal.write_text("\n".join(([run] if run_first else []) + lines), encoding="utf-8", errors="replace")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", JournalWarning)
            try:
                bench.load(journal)
            except JournalError:
                pass
        for argv in (
            ["compare", "j.jsonl", "j.jsonl"],
            ["export", "j.jsonl", "--to", "pytest-benchmark", "-o", "e.json"],
            ["report", "j.jsonl", "-o", "report"],
        ):
            assert exit_status(lambda argv=argv: cli.main(argv)) in (0, 1, 2), argv
