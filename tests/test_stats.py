"""Statistics over raw samples: paired ratios, order-statistic intervals, efficiency, the auto stopping rule."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.data import stats
from bench.data.format import duration_interval, duration_text

durations = st.floats(min_value=1e-4, max_value=1e3, allow_nan=False, allow_infinity=False)


def test_a_95_percent_interval_of_a_median_needs_six_samples():
    assert stats.min_samples() == 6  # 1 - 2 / 2**6 = 96.9% >= 95% > 1 - 2 / 2**5
    assert stats.min_samples(0.75) == 3


def test_six_samples_give_min_and_max_at_96_9_percent():
    estimate = stats.median_ci([5.0, 1.0, 3.0, 2.0, 6.0, 4.0])
    assert (estimate.value, estimate.low, estimate.high) == (3.5, 1.0, 6.0)
    assert estimate.confidence == pytest.approx(1 - 2 / 64) and estimate.at_level and estimate.n == 6


def test_twenty_samples_give_the_6th_and_15th():
    # P(Binomial(20, 1/2) <= 5) = 0.0207 <= 0.025 < P(<= 6) = 0.0577
    estimate = stats.median_ci([float(x) for x in range(20, 0, -1)])
    assert (estimate.low, estimate.high) == (6.0, 15.0)
    assert estimate.confidence == pytest.approx(0.9586, abs=1e-4)


def test_too_few_samples_say_what_their_interval_really_covers():
    estimate = stats.median_ci([1.0, 3.0, 2.0])
    assert (estimate.low, estimate.value, estimate.high) == (1.0, 2.0, 3.0)
    assert estimate.confidence == pytest.approx(0.75) and not estimate.at_level
    single = stats.median_ci([2.5])
    assert (single.low, single.high, single.confidence) == (2.5, 2.5, 0.0)


def test_order_statistic_interval_covers_the_true_median_at_least_95_percent_of_the_time():
    rng = np.random.default_rng(20261122)
    true_median = 1.0  # of a lognormal with mu = 0
    for n in (6, 10, 20):
        hits = sum(
            (e := stats.median_ci(rng.lognormal(0.0, 0.3, size=n))).low <= true_median <= e.high for _ in range(4000)
        )
        assert hits / 4000 >= 0.94, (n, hits)


@given(st.lists(durations, min_size=1, max_size=40, unique=True))
def test_the_interval_is_symmetric_in_ranks_and_reaches_95_from_six_samples(samples):
    estimate = stats.median_ci(samples)
    assert estimate.low <= estimate.value <= estimate.high
    below = sum(x < estimate.low for x in samples)
    above = sum(x > estimate.high for x in samples)
    assert below == above  # [x_(k), x_(n-k+1)]
    assert estimate.at_level == (len(samples) >= 6)


def test_paired_ratios_divide_pair_by_pair():
    assert list(stats.paired_ratios([2.0, 3.0], [1.0, 2.0])) == [2.0, 1.5]
    with pytest.raises(ValueError, match="3 baseline samples cannot pair with 2"):
        stats.paired_ratios([1.0, 1.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="positive"):
        stats.paired_ratios([1.0], [0.0])
    with pytest.raises(ValueError, match="no samples"):
        stats.paired_ratios([], [])


def test_pairing_cancels_drift_that_a_ratio_of_medians_cannot():
    # The machine slows by 25% over the run; the pool is always exactly twice as fast.
    drift = np.linspace(1.0, 1.25, 8)
    baseline, pool = 1.0 * drift, 0.5 * drift
    paired = stats.paired_speedup(baseline, pool)
    assert (paired.value, paired.low, paired.high) == pytest.approx((2.0, 2.0, 2.0))


def test_efficiency_is_speedup_per_worker_with_the_same_interval():
    speedup = stats.paired_speedup([2.0] * 6, [1.0, 1.05, 0.95, 1.0, 1.1, 0.9])
    eff = stats.efficiency(speedup, 2)
    assert (eff.value, eff.low, eff.high) == pytest.approx((speedup.value / 2, speedup.low / 2, speedup.high / 2))
    assert eff.confidence == speedup.confidence
    with pytest.raises(ValueError, match="workers must be >= 1"):
        stats.efficiency(speedup, 0)


def test_stopping_rule_wants_a_real_95_interval_within_the_precision():
    tight = [1.0, 1.01, 0.99, 1.0, 1.005, 0.995]
    assert stats.precise_enough(stats.median_ci(tight), 0.03)
    assert not stats.precise_enough(stats.median_ci(tight), 0.005)  # +-1% is not +-0.5%
    assert not stats.precise_enough(stats.median_ci(tight[:5]), 0.03)  # 5 samples: no 95% interval yet
    assert not stats.precise_enough(stats.median_ci([1.0, 1.2, 0.8, 1.0, 1.1, 0.9]), 0.03)


def test_one_worker_faster_than_serial_is_suspicious():
    disturbed = stats.cell_stats([1.0] * 6, [1.2, 1.25, 1.22, 1.18, 1.21, 1.3], workers=1)
    assert disturbed.efficiency.low > 1.0 and disturbed.suspicious
    honest = stats.cell_stats([1.0] * 6, [0.98, 1.01, 1.0, 0.99, 1.02, 0.97], workers=1)
    assert not honest.suspicious
    superlinear = stats.cell_stats([1.0] * 6, [2.3] * 6, workers=2)
    assert superlinear.suspicious
    assert not stats.cell_stats([1.0], [1.0003], workers=1).suspicious  # one pair: no interval to judge
    assert stats.cell_stats([1.0, 1.0], [1.1, 1.2], workers=1).suspicious


def test_cells_without_a_baseline_are_judged_on_their_time():
    serial = stats.cell_stats([1.0, 1.1, 0.9], None, workers=1)
    assert serial.speedup is None and serial.efficiency is None and not serial.suspicious
    assert serial.estimate is serial.time and serial.time.value == 1.0


def test_tukey_fences_flag_outliers_and_summaries_carry_them():
    samples = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 2.5]
    assert stats.outliers(samples) == [2.5]
    assert stats.outliers([1.0, 1.1, 0.9, 1.05]) == []
    summary = stats.summarize(samples)
    assert summary.outliers == (2.5,) and summary.minimum == 0.98 and summary.iqr == pytest.approx(1.015 - 0.995)


def test_a_ratio_of_two_estimates_joins_their_ends_and_says_its_confidence():
    four = stats.median_ci([3.9, 4.0, 4.1, 4.0, 3.95, 4.05])
    two = stats.median_ci([1.9, 2.0, 2.1, 2.0, 1.95, 2.05])
    scaled = stats.ratio(four, two)
    assert scaled.value == pytest.approx(2.0)
    assert (scaled.low, scaled.high) == pytest.approx((3.9 / 2.1, 4.1 / 1.9))
    assert scaled.confidence == pytest.approx(four.confidence * two.confidence) and scaled.confidence < stats.LEVEL
    with pytest.raises(ValueError, match="positive"):
        stats.ratio(four, stats.Estimate(0.0, 0.0, 0.0, 1.0, 1))


def test_karp_flatt_recovers_the_serial_fraction_of_amdahls_law():
    serial_fraction = 0.1
    for workers in (2, 4, 16):
        amdahl = 1 / (serial_fraction + (1 - serial_fraction) / workers)
        estimate = stats.karp_flatt(stats.Estimate(amdahl, amdahl * 0.9, amdahl * 1.1, 0.95, 6), workers)
        assert estimate.value == pytest.approx(serial_fraction)
        assert estimate.low < serial_fraction < estimate.high  # a higher speedup means a smaller fraction
    perfect = stats.karp_flatt(stats.Estimate(4.0, 4.0, 4.0, 0.95, 6), 4)
    assert perfect.value == pytest.approx(0.0)
    with pytest.raises(ValueError, match="at least 2 workers"):
        stats.karp_flatt(perfect, 1)


def test_too_few_samples_can_never_be_told_apart():
    assert not stats.separable(1, 1) and not stats.separable(2, 2) and not stats.separable(1, 6)
    assert stats.separable(3, 3) and stats.separable(2, 6) and stats.separable(6, 6)  # 1/20, 1/28, 1/924
    assert stats.significantly_greater([3.0, 4.0, 5.0], [0.0, 1.0, 2.0]) == (True, pytest.approx(0.05))


def test_mann_whitney_says_which_samples_are_greater():
    fast = [2.0, 2.1, 1.95, 2.05, 2.02, 1.98]
    slow = [1.5, 1.55, 1.45, 1.52, 1.48, 1.51]
    greater, p = stats.significantly_greater(fast, slow)
    assert greater and p == pytest.approx(1 / 924)  # the smallest p-value 6 against 6 can give
    assert not stats.significantly_greater(slow, fast)[0]
    assert stats.significantly_greater([1.0] * 3, [1.0] * 3) == (False, 1.0)
    mixed = [1.5, 2.1, 1.45, 2.05, 1.48, 1.98]
    assert not stats.significantly_greater(fast, mixed)[0]


def test_the_two_sided_test_doubles_the_smallest_p_value():
    # asv's level, p < 0.002: 6 against 6 can never reach it two-sided (2/924), 7 against 7 can (2/3432)
    assert stats.separable(6, 6, 0.002) and not stats.separable(6, 6, 0.002, two_sided=True)
    assert stats.separable(7, 7, 0.002, two_sided=True) and not stats.separable(0, 7, 0.5, two_sided=True)
    low, high = [1.0 + i / 100 for i in range(7)], [2.0 + i / 100 for i in range(7)]
    assert stats.mann_whitney(high, low) == pytest.approx(2 / 3432)
    assert stats.mann_whitney(low, high) == pytest.approx(2 / 3432)  # either way round
    assert stats.mann_whitney(high, low, "greater") == pytest.approx(1 / 3432)
    assert stats.mann_whitney(low, high, "greater") == pytest.approx(1.0)
    overlapping = [1.055, *high[1:]]  # 1.06 of low lies above it: one pair of 49 out of order
    assert stats.mann_whitney(overlapping, low) == pytest.approx(4 / 3432)


def test_theil_sen_slope_ignores_a_disturbed_sample_that_would_tilt_least_squares():
    tasks = [10, 10, 10, 100, 100, 100, 1000, 1000, 1000]
    seconds = [0.001 + 20e-6 * n for n in tasks]
    seconds[2] = 0.5  # one disturbed round
    fit = stats.slope(tasks, seconds)
    assert fit.slope.value == pytest.approx(20e-6, rel=1e-6) and fit.points == 3
    assert fit.slope.low <= 20e-6 <= fit.slope.high
    assert np.polyfit(tasks, seconds, 1)[0] < 0  # least squares is pulled below zero
    with pytest.raises(ValueError, match="two different x"):
        stats.slope([5, 5], [1.0, 2.0])


def _efficiency(value, spread=0.05):
    return stats.Estimate(value, value - spread, value + spread, 0.969, 6)


def test_metg_interpolates_in_log_duration_where_efficiency_reaches_half_for_good():
    points = [(1e-5, _efficiency(0.1)), (1e-4, _efficiency(0.3)), (1e-3, _efficiency(0.7)), (1e-2, _efficiency(0.95))]
    found = stats.metg(points)
    assert found.bound is None and found.value_s == pytest.approx(10**-3.5)  # halfway from 0.3 to 0.7
    assert found.low_s < found.value_s < found.high_s < 1e-3
    assert "between 100 \u00b5s (30%) and 1 ms (70%)" in found.how
    open_ended = stats.metg([(1e-4, _efficiency(0.3, 0.1)), (1e-3, _efficiency(0.6, 0.15))])
    assert open_ended.bound is None and open_ended.high_s == float("inf")  # 0.45 at the longest: no upper end
    # a dip above the crossing moves METG past it: efficiency must stay at 50% for longer tasks
    dip = stats.metg([(1e-5, _efficiency(0.6)), (1e-4, _efficiency(0.4)), (1e-3, _efficiency(0.8))])
    assert 1e-4 < dip.value_s < 1e-3


def test_metg_says_when_it_is_only_a_bound():
    always = stats.metg([(1e-4, _efficiency(0.8)), (1e-3, _efficiency(0.9))])
    assert always.bound == "at most" and always.value_s == 1e-4 and "already reached 50%" in always.how
    never = stats.metg([(1e-4, _efficiency(0.1)), (1e-3, _efficiency(0.3))])
    assert never.bound == "above" and never.value_s == 1e-3 and "no task measured reached 50%" in never.how
    with pytest.raises(ValueError, match="no points"):
        stats.metg([])


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0034, "3.4 ms"), (12e-6, "12 µs"), (0.9996, "1 s"), (0.0009997, "1 ms"), (1234.5, "1234 s"), (2.5, "2.5 s")],
)
def test_durations_read_in_the_unit_of_their_rounded_value(seconds, text):
    assert duration_text(seconds) == text


def test_a_duration_interval_keeps_whole_numbers_past_a_thousand():
    estimate = stats.Estimate(0.0009, 0.0008, 0.0012, 0.95, 8)
    assert duration_interval(estimate) == "900 µs [800, 1200]"


def test_slower_p_tells_a_clearly_slower_configuration_from_three_rounds_and_nothing_from_equal_ones():
    assert stats.slower_p([1.0, 1.01, 0.99], [2.0, 2.02, 1.98]) < 1e-4  # twice as slow, 1% noise
    assert stats.slower_p([2.0, 2.02, 1.98], [1.0, 1.01, 0.99]) > 0.999  # the other way round
    assert stats.slower_p([1.5, 1.5], [1.5, 1.5]) == 1.0 and stats.slower_p([1.0, 1.0], [2.0, 2.0]) == 0.0
    assert stats.slower_p([1.0], [2.0, 2.1, 2.2]) == 1.0  # one round has no spread to test with


def test_slower_p_calls_equal_configurations_slower_at_most_at_its_level():
    rng = np.random.default_rng(7)
    draws = rng.lognormal(0.5, 0.05, size=(2000, 2, 3))  # same speedup, 5% noise, 3 rounds each
    rejected = np.mean([stats.slower_p(a, b) <= 0.05 for a, b in draws])
    assert 0.02 <= rejected <= 0.07
