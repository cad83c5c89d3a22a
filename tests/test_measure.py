"""The measurement loop, driven by a scripted executor on a fake clock.

Every run is logged, and durations come from a script, so the order of
rounds and baselines, the pairing, faults, restarts and the ``auto`` stopping
rule are checked exactly.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import math

import pytest

import workloads
from bench.executors import base
from bench.executors.base import Executor
from bench.executors.local import Serial
from bench.measuring import measure, runner
from bench.measuring.plan import Cell, Group
from workloads.base import Workload


def identity(item):
    return item


class Counting(Workload):
    """Sums range(size); ``verify`` raises for size 13."""

    name = "counting"
    default_size = 10
    task = staticmethod(identity)

    def items(self, size):
        return iter(range(size))

    def reduce(self, results):
        return sum(results)

    def verify(self, answer, size):
        if size == 13:
            raise RuntimeError("cannot check 13")
        return answer == size * (size - 1) // 2


@pytest.fixture(autouse=True)
def counting(monkeypatch):
    monkeypatch.setitem(workloads._instances, "counting", Counting())


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Script:
    """What the fake back-ends log and how long each of their runs takes."""

    def __init__(self, pool=None, serial=None, fail=(), start_fails=False):
        self.clock = Clock()
        self.log = []
        self.starts = 0
        self.pool = pool or (lambda chunksize, n, call: 0.01 * n)
        self.serial = serial or (lambda n, call: 0.02 * n)
        self.fail = dict(fail)  # pool call number -> exception
        self.start_fails = start_fails

    def backends(self):
        script = self

        class Pool(Executor):
            name = "scripted"

            def start(self):
                script.starts += 1
                script.clock.now += 0.5 * script.starts  # every start-up takes longer
                if script.start_fails:
                    raise OSError("no workers")

            def shutdown(self):
                script.log.append(("shutdown",))

            def abort(self):
                script.log.append(("abort",))

            def submit(self, fn, *args):
                future = concurrent.futures.Future()
                future.set_result(fn(*args))
                return future

            def wait_ready(self):
                pass

            def _map(self, fn, iterable, chunksize, timeout):
                items = list(iterable)
                call = sum(1 for entry in script.log if entry[0] == "pool") + 1
                script.log.append(("pool", chunksize, len(items)))
                script.clock.now += script.pool(chunksize, len(items), call)
                if call in script.fail:
                    raise script.fail[call]
                return [fn(item) for item in items]

        class Baseline(Serial):
            def _map(self, fn, iterable, chunksize, timeout):
                items = list(iterable)
                call = sum(1 for entry in script.log if entry[0] == "serial") + 1
                script.log.append(("serial", len(items)))
                script.clock.now += script.serial(len(items), call)
                return [fn(item) for item in items]

        return Pool, Baseline


class Reporter:
    """Counts runs and the changes of the forecast, like the progress bar."""

    def __init__(self, total):
        self.total, self.runs, self.labels = total, 0, []

    def run_started(self, label, phase):
        self.labels.append((label, phase))

    def run_finished(self):
        self.runs += 1

    def expect(self, runs):
        self.total += runs


def cell(size, chunksize, workers=1):
    return Cell("scripted", workers, "counting", size, chunksize, str(chunksize), items=size)


def measure_cells(script, cells, *, first_instance=1, workers=1, backends=None, race=None, **rounds):
    pool, baseline = backends or script.backends()
    protocol = measure.Rounds(**{"memory": False, **rounds})  # the memory run has its own test
    reporter = Reporter(runner.total_runs([Group("serial-free", workers, tuple(cells))], protocol))
    context = measure.Context(
        measure.Verifier(), reporter, itertools.count(first_instance), baseline=baseline, clock=script.clock, race=race
    )
    results = measure.measure_group(pool, Group("serial-free", workers, tuple(cells)), protocol, context)
    assert reporter.total == reporter.runs  # the progress bar ends full, whatever happened
    return results


@pytest.fixture(autouse=True)
def paired_total(monkeypatch):
    """``runner.total_runs`` looks the group's executor up by name: make it the paired fake."""
    real = runner.bench.executors.get
    monkeypatch.setattr(runner.bench.executors, "get", lambda name: Executor if name == "serial-free" else real(name))


def test_each_round_times_every_case_baseline_beside_its_cells_alternating_direction():
    script = Script()
    a1, a5, b5 = cell(10, 1), cell(10, 5), cell(20, 5)
    results = measure_cells(script, [a1, a5, b5], repeats=2)
    runs = [entry for entry in script.log if entry[0] != "shutdown"]
    warmup = [("serial", 1), ("pool", 1, 1), ("pool", 5, 5), ("serial", 5), ("pool", 5, 5)]
    forwards = [("serial", 10), ("pool", 1, 10), ("pool", 5, 10), ("serial", 20), ("pool", 5, 20)]
    assert runs == warmup + forwards + forwards[::-1]
    assert script.log[-1] == ("shutdown",) and script.starts == 1
    assert len(results) == 3
    for result in results:
        n = result.cell.size
        assert result.status == "ok" and result.verified and result.answer == n * (n - 1) // 2
        assert result.times_s == pytest.approx([0.01 * n] * 2)
        assert result.baseline_s == pytest.approx([0.02 * n] * 2)
        assert result.warmup == "short" and result.warmup_items == result.cell.chunksize
        assert result.instance == 1 and result.startup_s == pytest.approx(0.5)
        assert result.precision_reached is None


def test_baselines_pair_with_the_round_they_were_taken_in():
    # The machine slows down round by round; each pair shares the slowdown.
    script = Script(pool=lambda chunksize, n, call: 0.01 * n * call, serial=lambda n, call: 0.02 * n * call)
    [result] = measure_cells(script, [cell(10, 2)], repeats=4)
    ratios = [b / t for b, t in zip(result.baseline_s, result.times_s, strict=True)]
    assert ratios == pytest.approx([2.0] * 4)
    assert result.times_s == pytest.approx([0.1 * k for k in (2, 3, 4, 5)])  # call 1 was the warm-up


def test_full_warmup_runs_and_verifies_the_whole_case():
    script = Script()
    [result] = measure_cells(script, [cell(10, 2)], repeats=1, warmup="full")
    assert script.log[:2] == [("serial", 10), ("pool", 2, 10)]
    assert result.warmup == "full" and result.warmup_items == 10 and result.warmup_s == pytest.approx(0.1)


def test_a_fault_fails_its_cell_and_the_others_go_on_with_a_new_instance():
    script = Script(fail={5: ValueError("task 3 broke")})  # calls 1-3 are warm-ups, 4-6 round 1
    first, second, third = cell(10, 1), cell(10, 2), cell(10, 5)
    results = measure_cells(script, [first, second, third], repeats=3, first_instance=7)
    assert [r.status for r in results] == ["ok", "error", "ok"]
    assert results[1].error == "ValueError: task 3 broke" and results[1].times_s == []
    assert ("abort",) in script.log and script.starts == 2
    # The failed cell keeps the instance that failed; the others moved to the restarted one.
    assert results[1].instance == 7 and results[1].startup_s == pytest.approx(0.5)
    assert [results[0].instance, results[2].instance] == [8, 8]
    assert results[0].startup_s == pytest.approx(1.0)  # the second start-up, timed on its own
    for result in (results[0], results[2]):
        assert len(result.times_s) == len(result.baseline_s) == 3
    # The new instance warms up each cell before timing it: a short run after the abort.
    after = script.log[script.log.index(("abort",)) + 1 :]
    assert after[:2] == [("pool", 5, 5), ("pool", 5, 10)]
    assert ("pool", 1, 1) in after[: after.index(("pool", 1, 10))]


class LibraryTimeout(Exception):
    """A library's own timeout class, as concurrent.futures' and asyncio's are before Python 3.11."""


@pytest.mark.parametrize("error", [concurrent.futures.TimeoutError(), LibraryTimeout("waited 5 s")])
def test_a_timeout_from_any_library_is_a_timeout(monkeypatch, error):
    monkeypatch.setattr(base, "TIMEOUT_ERRORS", (*base.TIMEOUT_ERRORS, LibraryTimeout))
    script = Script(fail={2: error})
    [result] = measure_cells(script, [cell(10, 2)], repeats=2, cell_timeout=5.0)
    assert result.status == "timeout" and "exceeded the cell timeout of 5 s after 0 timed run(s)" in result.error


def test_a_verify_that_raises_fails_its_cells_only():
    script = Script()
    broken, fine = cell(13, 1), cell(10, 1)
    results = measure_cells(script, [broken, fine], repeats=2)
    assert results[0].status == "error" and results[0].error == "verify raised RuntimeError: cannot check 13"
    assert results[0].baseline_s is None and "RuntimeError: cannot check 13" in results[0].baseline_error
    assert results[1].status == "ok" and len(results[1].baseline_s) == 2
    assert script.starts == 1 and ("abort",) not in script.log  # a wrong answer needs no new instance


def test_a_failed_start_up_fails_every_cell_without_running_anything():
    script = Script(start_fails=True)
    results = measure_cells(script, [cell(10, 1), cell(20, 1)], repeats=3)
    assert [r.status for r in results] == ["error", "error"]
    assert all(r.error == "start-up failed: OSError: no workers" and r.instance == 1 for r in results)
    assert not any(entry[0] in ("pool", "serial") for entry in script.log)


def test_a_failing_baseline_leaves_its_cells_measured_but_unpaired():
    def serial(n, call):
        if call == 3:
            raise MemoryError("driver out of memory")
        return 0.02 * n

    script = Script(serial=serial)
    [result] = measure_cells(script, [cell(10, 2)], repeats=3)
    assert result.status == "ok" and len(result.times_s) == 3
    assert (
        result.baseline_s is None
        and result.baseline_error == "serial baseline failed: MemoryError: driver out of memory"
    )


def test_auto_stops_each_cell_once_its_interval_is_tight_enough():
    noisy = itertools.cycle([1.0, 1.6])

    def pool(chunksize, n, call):
        return 0.01 * n * (next(noisy) if chunksize == 2 else 1.0)

    script = Script(pool=pool)
    steady, jumpy = cell(10, 1), cell(10, 2)
    results = measure_cells(script, [steady, jumpy], repeats="auto", precision=0.03, max_repeats=9)
    assert len(results[0].times_s) == 6 and results[0].precision_reached is True
    assert len(results[1].times_s) == 9 and results[1].precision_reached is False
    # Rounds 7-9 (forwards, backwards, forwards) time only the jumpy cell and its baseline.
    late = [entry for entry in script.log if entry[0] != "shutdown"][-6:]
    assert late == [("serial", 10), ("pool", 2, 10), ("pool", 2, 10), ("serial", 10), ("serial", 10), ("pool", 2, 10)]


def test_the_baseline_executor_is_not_paired_with_itself(monkeypatch):
    script = Script()
    pool, baseline = script.backends()
    pool.paired = False
    monkeypatch.setattr(runner.bench.executors, "get", lambda name: pool)  # the progress total knows it too
    [result] = measure_cells(script, [cell(10, 1)], repeats=2, backends=(pool, baseline))
    assert result.baseline_s is None and not any(entry[0] == "serial" for entry in script.log)


def test_a_failing_baseline_keeps_the_pairs_of_cells_that_already_finished():
    noisy = itertools.cycle([1.0, 1.6])

    def serial(n, call):
        if call == 9:  # round 8: the steady cell stopped after round 6
            raise MemoryError("driver out of memory")
        return 0.02 * n

    script = Script(pool=lambda chunksize, n, call: 0.01 * n * (next(noisy) if chunksize == 2 else 1.0), serial=serial)
    steady, jumpy = measure_cells(script, [cell(10, 1), cell(10, 2)], repeats="auto", max_repeats=10)
    assert steady.precision_reached is True and len(steady.baseline_s) == len(steady.times_s) == 6
    assert steady.baseline_error is None
    assert jumpy.baseline_s is None and "MemoryError" in jumpy.baseline_error and len(jumpy.times_s) == 10


def test_an_interrupt_aborts_the_instance_instead_of_waiting_for_its_work():
    script = Script(fail={3: KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        measure_cells(script, [cell(10, 1)], repeats=3)
    assert script.log[-1] == ("abort",) and ("shutdown",) not in script.log


def test_a_restart_that_fails_mid_round_fails_the_running_cells():
    script = Script(fail={4: ValueError("worker lost")})  # calls 1-2 are warm-ups; 4 is the second cell's round 1
    pool, baseline = script.backends()
    starts = []

    def start(self):
        starts.append(1)
        if len(starts) > 1:
            raise OSError("cannot start again")

    pool.start = start
    results = measure_cells(script, [cell(10, 1), cell(10, 2)], repeats=3, backends=(pool, baseline))
    assert [r.status for r in results] == ["error", "error"]
    assert results[1].error == "ValueError: worker lost" and results[1].instance == 1
    assert results[0].error == "executor restart failed: OSError: cannot start again" and results[0].instance == 2
    assert results[0].times_s == []  # its round-1 sample was taken, but the round could not finish


def test_the_memory_run_comes_after_the_rounds_untimed_and_records_the_driver_peak():
    script = Script()
    a, b = cell(10, 1), cell(20, 5)
    results = measure_cells(script, [a, b], repeats=2, memory=True)
    runs = [entry for entry in script.log if entry[0] != "shutdown"]
    # warm-ups (4), two rounds (2 baselines + 2 cells each), then one memory run per cell
    assert runs[-2:] == [("pool", 1, 10), ("pool", 5, 20)] and len(runs) == 4 + 4 + 4 + 2
    assert len(results) == 2
    for result in results:
        assert len(result.times_s) == 2 and result.driver_peak_bytes is not None
        assert result.driver_peak_bytes >= 0


def test_driver_peak_bytes_sees_a_list_and_not_a_stream():
    peak_list, total = measure.driver_peak_bytes(lambda: sum(list(range(200_000))))
    peak_stream, same = measure.driver_peak_bytes(lambda: sum(iter(range(200_000))))
    assert total == same
    assert peak_list > 1_000_000 > 100_000 > peak_stream  # 200,000 list slots vs a few objects


def test_a_failed_memory_run_leaves_the_cell_as_it_was():
    script = Script(fail={7: ValueError("out of memory")})  # calls 1-2 warm-ups, 3-6 the rounds
    results = measure_cells(script, [cell(10, 1), cell(20, 5)], repeats=2, memory=True)
    assert [r.status for r in results] == ["ok", "ok"]
    assert [r.driver_peak_bytes for r in results] == [None, None]  # the instance was stopped after the failure
    assert all(len(r.times_s) == 2 and r.error is None for r in results)


# -- racing ---------------------------------------------------------------------------------


def jittered(base, spread):
    """A duration ``base`` that varies by up to +-``spread`` from call to call (deterministically)."""
    return lambda chunksize, n, call: base(chunksize, n) * (1 + spread * math.sin(3.7 * call))


def race_of(cells, **rules):
    from bench.measuring.race import Race

    return Race.of(((c.key, c.case, c.label()) for c in cells), **rules)


def test_a_race_drops_a_clearly_slower_cell_after_the_fewest_rounds():
    # chunk 1 takes twice as long as chunk 5; the serial baseline as long as chunk 1
    script = Script(
        pool=jittered(lambda chunksize, n: 0.01 * n * (2 if chunksize == 1 else 1), 0.005),
        serial=lambda n, call: 0.02 * n * (1 + 0.005 * math.cos(call)),
    )
    slow, fast = cell(10, 1), cell(10, 5)
    race = race_of([slow, fast])
    race.start()
    results = measure_cells(script, [slow, fast], repeats="race", precision=0.05, race=race)
    by_chunk = {r.cell.chunksize: r for r in results}
    assert by_chunk[1].stopped == "eliminated" and len(by_chunk[1].times_s) == race.min_rounds == 3
    assert by_chunk[1].precision_reached is None  # it was stopped before its precision was judged
    event = by_chunk[1].eliminated
    assert event.leader == fast.label() and event.p <= race.threshold(fast.case) and event.round == 3
    assert by_chunk[5].stopped == "precision" and len(by_chunk[5].times_s) == 6
    timed_slow = [e for e in script.log if e[:2] == ("pool", 1) and e[2] == 10]
    assert len(timed_slow) == 3  # no round after it was eliminated
    record = runner.cell_record("r", by_chunk[1], measure.Rounds(repeats="race"))
    assert record.eliminated_by == {"leader": fast.label(), "p": event.to_json()["p"], "round": 3}
    # each led once it had its rounds: the slow one first (it was told first), then the fast one
    assert [(e.what, e.label) for e in race.history] == [
        ("leads", slow.label()),
        ("leads", fast.label()),
        ("eliminated", slow.label()),
    ]


def test_two_equal_cells_both_race_on_until_the_budget_is_spent():
    # the same speed within 2% noise: no test can tell them apart, and a 0.1% precision is never reached
    script = Script(pool=jittered(lambda chunksize, n: 0.01 * n, 0.02), serial=lambda n, call: 0.02 * n)
    a, b = cell(10, 1), cell(10, 5)
    budget = 3.0
    race = race_of([a, b], budget_s=budget, clock=script.clock)
    round_s = 2 * 0.1 * 1.02 + 0.2  # both cells and their baseline, at most
    started = script.clock.now
    race.start()
    results = measure_cells(script, [a, b], repeats="race", precision=0.001, max_repeats=1000, race=race)
    assert {r.stopped for r in results} == {"budget"} and not any(r.eliminated for r in results)
    assert len(results[0].times_s) == len(results[1].times_s) >= 6
    assert not [e for e in race.history if e.what == "eliminated"]
    # no round starts once the budget is spent: the last one began before it
    spent = script.clock.now - started
    assert budget <= spent <= budget + round_s + 1.0  # 1.0: the start-up (0.5 s) and the warm-up


def test_a_race_never_eliminates_a_cell_that_is_faster_or_undecided():
    from bench.measuring.race import Race

    race = Race.of([("a", "case", "a"), ("b", "case", "b"), ("c", "case", "c")])
    assert race.comparisons("case") == 2 and race.threshold("case") == pytest.approx(0.025)
    assert race.observe("a", [2.0, 2.02, 1.98]) is None  # the first to 3 rounds leads
    assert race.observe("b", [1.0, 1.01]) is None  # too few rounds to be judged
    assert race.observe("b", [1.0, 1.01, 0.99]).what == "eliminated"
    assert race.observe("c", [2.1, 1.9, 2.5]) is None  # as fast as far as 3 rounds tell
    assert race.observe("c", [3.0, 3.02, 2.98], judge=False) is None
    assert race.leader("case") == "c" and race.history[-1].what == "leads" and race.history[-1].leader == "a"
    assert race.observe("unknown", [1.0, 1.0, 1.0]) is None
