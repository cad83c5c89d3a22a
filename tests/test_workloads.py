"""The fibprimes workload and the workload registry."""

import pytest

import workloads
from workloads.fibprimes import (
    _is_strong_lucas_prp,
    _small_primes_upto,
    fibonacci,
    fibonacci_pairs,
    is_prime_bpsw,
    is_probable_prime_mr,
)


def test_registry_lists_and_gets_fibprimes():
    assert "fibprimes" in workloads.names()
    w = workloads.get("fibprimes")
    assert w.name == "fibprimes" and w.default_size == 5000


def test_unknown_workload_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown workload 'nope'; known: fibprimes"):
        workloads.get("nope")


def test_serial_answer_matches_oeis(fib_oracle):
    w = workloads.get("fibprimes")
    answer = w.reduce([w.task(x) for x in w.items(1500)])
    assert answer == fib_oracle(1500)
    assert w.verify(answer, 1500)


@pytest.mark.parametrize("order", ["ascending", "descending", "alternating"])
def test_every_item_order_yields_every_item_once(order, fib_oracle):
    w = workloads.get("fibprimes")
    items = list(w.items(601, order=order))
    assert sorted(n for n, _ in items) == list(range(1, 602))
    assert w.reduce(map(w.task, items)) == fib_oracle(601)


def test_descending_puts_the_costly_items_first():
    w = workloads.get("fibprimes")
    assert [n for n, _ in w.items(5, order="descending")] == [5, 4, 3, 2, 1]
    assert [n for n, _ in w.items(5, order="alternating")] == [5, 1, 4, 2, 3]


@pytest.mark.parametrize(
    "wrong",
    [
        [3, 4, 5],
        [3, 4, 5, 7, 11, 13, 17, 23, 29, 43, 47, 83, 131, 137, 359, 431, 433, 449, 509, 569, 571, 600],
        [],
        None,
        "3,4,5",
        [3.0, 4.0],
    ],
)
def test_verify_rejects_wrong_answers(wrong):
    assert not workloads.get("fibprimes").verify(wrong, 1500)


def test_verify_small_sizes(fib_oracle):
    w = workloads.get("fibprimes")
    for size in range(1, 12):
        assert w.verify(fib_oracle(size), size), size


def test_fast_doubling_matches_the_recurrence():
    assert all(fibonacci(n) == f for n, f in fibonacci_pairs(400))


def test_primality_tests_agree_with_a_sieve():
    primes = set(_small_primes_upto(30000))
    for n in range(30000):
        assert is_probable_prime_mr(n) == (n in primes), n
        assert is_prime_bpsw(n) == (n in primes), n


def test_bpsw_parts_catch_each_others_pseudoprimes():
    # Strong Lucas pseudoprimes (OEIS A217255) fool the Lucas part, not base 2.
    for n in (5459, 5777, 10877, 16109, 18971):
        assert _is_strong_lucas_prp(n) and not is_prime_bpsw(n)
    # Strong base-2 pseudoprimes (OEIS A001262) fool base 2, not the Lucas part.
    for n in (2047, 3277, 4033, 4681, 8321):
        assert pow(2, n - 1, n) == 1 and not _is_strong_lucas_prp(n) and not is_prime_bpsw(n)


# -- the workload contract, over the whole registry -----------------------------------------------

import itertools  # noqa: E402
import pickle  # noqa: E402
import random  # noqa: E402

from bench.measuring.plan import QUICK_SIZES  # noqa: E402

CONTRACT_WORKLOADS = workloads.names()


def small(name):
    """A size that runs in well under a second serially."""
    return QUICK_SIZES[name][0]


def params_of(workload, size):
    """The default parameters; a fault workload's fault placed beyond its last task (tests/test_faults.py
    has the faults themselves)."""
    return {**workload.default_params(), **({"at": size} if workload.fault else {})}


def serial_answer(workload, size, **params):
    return workload.consume(map(workload.task, workload.items(size, **params)), size, **params)


def corrupt(answer):
    """The answer with one thing wrong, whatever its shape."""
    if isinstance(answer, bool) or answer is None:
        return "wrong"
    if isinstance(answer, int):
        return answer + 1
    if isinstance(answer, float):
        return answer * 1.5 + 1
    if isinstance(answer, list):
        return [corrupt(answer[0]), *answer[1:]] if answer else [1]
    if isinstance(answer, dict):
        key = sorted(answer)[0]
        return {**answer, key: corrupt(answer[key])}
    raise AssertionError(f"no corruption for {answer!r}")


def test_the_registry_has_every_workload_of_the_contract():
    expected = ["fibprimes", "fibprimes-first", "primes-range", "polyfit", "linalg", "noop", "sleep", "spin"]
    expected += ["payload"]
    expected += ["fault-raise", "fault-exit", "fault-segv", "fault-hang"]
    assert CONTRACT_WORKLOADS[: len(expected)] == expected
    assert set(QUICK_SIZES) == set(expected)


@pytest.mark.parametrize("name", CONTRACT_WORKLOADS)
def test_items_and_count_agree(name):
    w = workloads.get(name)
    size = small(name)
    count = w.count(size, **params_of(w, size))
    if count is None:  # an endless stream
        assert len(list(itertools.islice(w.items(size, **params_of(w, size)), 5000))) == 5000
    else:
        assert sum(1 for _ in w.items(size, **params_of(w, size))) == count


@pytest.mark.parametrize("name", CONTRACT_WORKLOADS)
def test_the_task_and_its_items_survive_pickling(name):
    w = workloads.get(name)
    assert pickle.loads(pickle.dumps(w.task)) is w.task
    item = next(iter(w.items(small(name), **params_of(w, small(name)))))
    assert pickle.loads(pickle.dumps(item)) == item


@pytest.mark.parametrize("name", CONTRACT_WORKLOADS)
def test_the_serial_answer_verifies_and_a_corrupted_one_does_not(name):
    w = workloads.get(name)
    size = small(name)
    answer = serial_answer(w, size, **params_of(w, size))
    assert w.verify(answer, size, **params_of(w, size))
    assert not w.verify(corrupt(answer), size, **params_of(w, size))


# fibprimes-first, the endless pipeline, has its own test of out-of-order results below.
@pytest.mark.parametrize("name", [name for name in CONTRACT_WORKLOADS if workloads.get(name).count(1) is not None])
def test_results_in_any_order_give_the_same_answer(name):
    """imap_unordered hands results over as they complete."""
    w = workloads.get(name)
    size = small(name)
    results = list(map(w.task, w.items(size, **params_of(w, size))))
    shuffled = results[:]
    random.Random(1).shuffle(shuffled)
    assert w.consume(shuffled, size) == w.consume(results, size)


@pytest.mark.parametrize("size", range(1, 22))
def test_fibprimes_first_matches_oeis(size):
    w = workloads.get("fibprimes-first")
    answer = serial_answer(w, size)
    assert answer == A001605[:size]
    assert w.verify(answer, size) and not w.verify(answer[:-1], size)


def test_fibprimes_first_stops_for_out_of_order_results_only_when_the_prefix_is_complete():
    w = workloads.get("fibprimes-first")
    # 83 (the 12th) arrives before 47 (the 11th): the first 11 are not known until 47 is in
    results = [w.task(item) for item in itertools.islice(w.items(11), 100)]
    late = [r for r in results if r[0] <= 47]
    early = [r for r in results if r[0] > 47]
    taken = []

    def stream():
        for result in early + late:
            taken.append(result)
            yield result

    assert w.consume(stream(), 11) == A001605[:11]
    assert len(taken) == len(results)  # it had to wait for the last of the prefix
    assert not w.verify([3, 4, 5, 7, 11, 13, 17, 23, 29, 43, 83], 11)


def test_fibprimes_first_never_runs_under_map():
    w = workloads.get("fibprimes-first")
    assert "map" not in w.methods and w.count(10) is None


@pytest.mark.parametrize("producer", ["list", "generator", "iterator"])
def test_every_producer_gives_the_same_fibonacci_numbers(producer):
    from workloads.fibprimes import fibonacci, produce

    assert list(produce(producer, 300)) == [(n, fibonacci(n)) for n in range(1, 301)]
    endless = list(itertools.islice(produce(producer, None), 1000))
    assert endless == [(n, fibonacci(n)) for n in range(1, 1001)]
    fib = workloads.get("fibprimes")
    assert fib.reduce(map(fib.task, fib.items(600, producer=producer, order="descending"))) == [
        n for n in A001605 if n <= 600
    ]


def test_producers_differ_in_kind():
    from workloads.fibprimes import FibonacciIterator, produce

    assert isinstance(produce("list", 10), list)
    assert type(produce("generator", 10)).__name__ == "generator"
    assert isinstance(produce("iterator", 10), FibonacciIterator)


def test_primes_range_agrees_with_a_sieve():
    w = workloads.get("primes-range")
    primes = [n for n in range(2000) if w.task(n) is not None]
    assert primes == _small_primes_upto(1999)
    assert serial_answer(w, 2000) == {"count": len(primes), "sum": sum(primes), "largest": 1999}


def test_polyfit_losses_lie_between_least_squares_and_the_convergence_bound():
    from workloads.polyfit import _problem

    w = workloads.get("polyfit")
    losses = serial_answer(w, 6, points=500)
    best = _problem(500)[3]
    assert len(losses) == 6 and all(loss >= best * (1 - 1e-9) for loss in losses)
    assert w.verify(losses, 6, points=500)
    assert not w.verify([best * 0.99, *losses[1:]], 6, points=500)  # better than least squares: impossible
    assert not w.verify([losses[0] + 1e6, *losses[1:]], 6, points=500)  # beyond the bound
    assert not w.verify(losses[:-1], 6, points=500)


def test_spin_is_calibrated_once_per_process_and_verified_against_that_calibration():
    from workloads.probes import _loops_per_s, calibrated_iterations

    calibrated_iterations(1000)
    misses = _loops_per_s.cache_info().misses
    assert calibrated_iterations(2000) == pytest.approx(2 * calibrated_iterations(1000), rel=0.01)
    assert _loops_per_s.cache_info().misses == misses == 1
    w = workloads.get("spin")
    answer = serial_answer(w, 5, task_us=100)
    n = calibrated_iterations(100)
    assert answer["loop_sums"] == [n * (n - 1) // 2] and w.verify(answer, 5, task_us=100)
    assert not w.verify(answer, 5, task_us=1000)  # tasks of another duration
    assert not w.verify(w.reduce(w.items(5, task_us=100)), 5, task_us=100)  # items handed back unrun


def test_probes_notice_a_duplicated_result_that_hides_a_missing_one():
    for name, params in (("sleep", {"task_us": 50}), ("spin", {"task_us": 50}), ("noop", {})):
        w = workloads.get(name)
        results = list(map(w.task, w.items(4, **params)))
        assert w.verify(w.reduce(results), 4, **params)
        twice = [results[0], results[0], results[3], results[3]] if name != "noop" else [0, 0, 3, 3]
        assert not w.verify(w.reduce(twice), 4, **params), name


def test_sleep_answers_say_how_long_the_tasks_really_slept():
    w = workloads.get("sleep")
    answer = serial_answer(w, 3, task_us=2000)
    assert answer["shortest_us"] >= 2000 and w.verify(answer, 3, task_us=2000)
    assert not w.verify(w.reduce((i, 5.0) for i in range(3)), 3, task_us=2000)  # returned without sleeping


def test_sleep_and_payload_check_every_task():
    sleep = workloads.get("sleep")
    answer = serial_answer(sleep, 10, task_us=50)
    assert sleep.verify(answer, 10, task_us=50) and not sleep.verify(answer, 9, task_us=50)
    payload = workloads.get("payload")
    answer = serial_answer(payload, 4, payload_bytes=4096)
    assert answer["bytes"] == 4 * 4096 and payload.verify(answer, 4, payload_bytes=4096)
    flipped = payload.reduce(
        [
            (0, b"x" * 4096),
            *(
                (i, payload.task(item)[1])
                for i, item in enumerate(itertools.islice(payload.items(4, payload_bytes=4096), 1, None), 1)
            ),
        ]
    )
    assert not payload.verify(flipped, 4, payload_bytes=4096)
    assert workloads.get("payload").params["payload_bytes"].unswept == (1, 1024, 65536, 1048576)


from conftest import A001605  # noqa: E402


@pytest.mark.parametrize("text", ["inf", "nan", "-inf"])
def test_a_parameter_a_journal_could_not_keep_is_a_bad_value(text):
    factor = workloads.Param(default=1.0, help="a scale", convert=float)
    assert factor.parse("factor", "2.5") == 2.5
    with pytest.raises(ValueError, match=rf"param factor: bad value '{text}' \(not a string, a finite number"):
        factor.parse("factor", text)
    pairs = workloads.Param(default=(1, 2), help="a pair", convert=lambda s: tuple(s.split(":")))
    with pytest.raises(ValueError, match="param pair: bad value 'a:b'"):
        pairs.parse("pair", "a:b")
