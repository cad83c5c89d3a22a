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
