"""Every number and label a person reads, in one place: durations, intervals, speedups, efficiencies,
p-values, byte counts, configuration and thread labels, and text from journals inside Markdown.

Every face (the command line, the report, compare's Markdown, the documentation's figures) writes through
these, so that one quantity reads the same wherever it is shown. Functions take plain values, or an
:class:`Interval` (``bench.data.stats.Estimate`` is one), so that this module imports nothing of the suite.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = [
    "METHOD_NOTE",
    "Interval",
    "bytes_text",
    "config_text",
    "coverage_text",
    "duration_interval",
    "duration_spread",
    "duration_text",
    "efficiency_interval",
    "efficiency_text",
    "escape",
    "factor_text",
    "fraction_interval",
    "method_label",
    "number",
    "one_line",
    "p_text",
    "percent_text",
    "prediction_text",
    "ratio_text",
    "rounds_text",
    "speedup_interval",
    "speedup_text",
    "threads_column",
    "threads_phrase",
    "time_text",
    "too_spread",
]


class Interval(Protocol):
    """An estimate with its interval (``bench.data.stats.Estimate``)."""

    @property
    def value(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def confidence(self) -> float: ...
    @property
    def n(self) -> int: ...
    @property
    def at_level(self) -> bool: ...
    @property
    def relative_half_width(self) -> float: ...


# -- numbers ------------------------------------------------------------------------------


def number(value: float) -> str:
    """Three significant digits, and whole numbers from 1000 on (``1234``, not ``1.23e+03``)."""
    return f"{value:.0f}" if abs(value) >= 999.5 else f"{value:.3g}"


def _unit(seconds: float) -> tuple[str, float]:
    shown = abs(float(f"{seconds:.3g}"))  # the unit of the rounded value: 0.9996 s reads 1 s, not 1e+03 ms
    for unit, scale in (("s", 1.0), ("ms", 1e-3)):
        if shown >= scale:
            return unit, scale
    return "\u00b5s", 1e-6


def duration_text(seconds: float) -> str:
    """A duration as a person reads it: ``12 \u00b5s``, ``3.4 ms``, ``1.2 s``, ``1234 s``."""
    unit, scale = _unit(seconds)
    return f"{number(seconds / scale)} {unit}"


def coverage_text(estimate: Interval) -> str:
    """`` (75%)`` after an interval that covers less than the suite's level, else nothing."""
    return "" if estimate.at_level else f" ({estimate.confidence:.0%})"


def duration_interval(estimate: Interval) -> str:
    """An estimate of a duration with its interval in the value's unit: ``302 \u00b5s [242, 345]``;
    an open end reads ``0`` or ``inf``, and an interval below the suite's level says what it covers."""
    unit, scale = _unit(estimate.value)
    high = "inf" if math.isinf(estimate.high) else number(estimate.high / scale)
    text = f"{number(estimate.value / scale)} {unit} [{number(estimate.low / scale)}, {high}]"
    return text + coverage_text(estimate)


def duration_spread(estimate: Interval) -> str:
    """A duration and the half-width of its interval in one unit, the half-width's: ``0.24\u00b11.69 ms``
    (for an interval wider than the value, which a percentage would put in the hundreds)."""
    half = (estimate.high - estimate.low) / 2
    unit, scale = _unit(max(half, abs(estimate.value)))
    return f"{number(estimate.value / scale)}\u00b1{number(half / scale)} {unit}"


def too_spread(estimate: Interval) -> bool:
    """The interval of a time is wider than the time: its runs are too short (or too disturbed) to time."""
    return estimate.n > 1 and estimate.relative_half_width > 1


def time_text(estimate: Interval) -> str:
    """The median time and the half-width of its interval in one unit, the larger's: ``512\u00b115.4 ms``,
    ``0.24\u00b11.69 ms``; of one round, the time alone (``512 ms``)."""
    return duration_spread(estimate) if estimate.n > 1 else duration_text(estimate.value)


def rounds_text(count: int) -> str:
    """``1 round``, ``8 rounds``."""
    return f"{count} round{'' if count == 1 else 's'}"


def _bound(value: float, decimals: int, scale: float = 1.0) -> str:
    """A bound rounded for display, with more decimals where rounding would put it on the other side of 1."""
    text = f"{value * scale:.{decimals}f}"
    while value != 1.0 and text == f"{scale:.{decimals}f}" and decimals < 4:
        decimals += 1
        text = f"{value * scale:.{decimals}f}"
    return text


def ratio_text(estimate: Interval | None, unit: str = "") -> str:
    """E.g. ``1.92 [1.88, 1.95]``; a bound just off 1 keeps the side it lies on (``[1.003, 1.09]``);
    of one round, its value alone (``0.93``)."""
    if estimate is None:
        return ""
    if estimate.n == 1:
        return f"{estimate.value:.2f}{unit}"
    return f"{estimate.value:.2f}{unit} [{_bound(estimate.low, 2)}, {_bound(estimate.high, 2)}]"


def speedup_text(estimate: Interval | None) -> str:
    """E.g. ``1.92x [1.88, 1.95]``."""
    return ratio_text(estimate, "x")


def efficiency_text(estimate: Interval | None) -> str:
    """E.g. ``96% [94, 98]``; a bound just off 100% keeps the side it lies on (``[100.3, 109]``)."""
    if estimate is None:
        return ""
    if estimate.n == 1:
        return f"{estimate.value:.0%}"
    return f"{estimate.value:.0%} [{_bound(estimate.low, 0, 100)}, {_bound(estimate.high, 0, 100)}]"


def speedup_interval(estimate: Interval) -> str:
    """``1.92x [1.88, 1.95]``, with its coverage where that is below the suite's level."""
    return speedup_text(estimate) + coverage_text(estimate)


def efficiency_interval(estimate: Interval) -> str:
    """``96% [94, 98]``, with its coverage where that is below the suite's level."""
    return efficiency_text(estimate) + coverage_text(estimate)


def fraction_interval(estimate: Interval | None) -> str:
    """A fraction with its interval to three decimals (a serial fraction): ``0.123 [0.101, 0.150]``."""
    if estimate is None:
        return ""
    return f"{estimate.value:.3f} [{estimate.low:.3f}, {estimate.high:.3f}]"


def prediction_text(predicted: Mapping[str, float] | None) -> str:
    """``1.84x [1.58, 1.90]`` of a recorded speedup or prediction (``value``, ``low``, ``high``); ``-`` for
    none."""
    if predicted is None:
        return "-"
    return f"{predicted['value']:.2f}x [{_bound(predicted['low'], 2)}, {_bound(predicted['high'], 2)}]"


def percent_text(fraction: float) -> str:
    """A fraction as a whole percentage (``0.034`` is ``3%``; under 1%, one decimal: ``0.5%``)."""
    return f"{fraction:.0%}" if abs(fraction) >= 0.01 or fraction == 0 else f"{fraction:.1%}"


def factor_text(factor: float) -> str:
    """``1.1x``, ``1.05x``."""
    return f"{factor:g}x"


def p_text(p: float | None) -> str:
    """``0.23``, ``0.04``, ``1e-3``: at most four characters, rounded down, so that the text compares with
    the level (0.002) as the value does."""
    if p is None:
        return "-"
    if p >= 0.01:
        return f"{math.floor(p * 100) / 100:.2f}"
    if p <= 0:
        return "0"
    exponent = math.floor(math.log10(p))
    return f"{math.floor(p / 10**exponent + 1e-9)}e{exponent}"


def bytes_text(count: float) -> str:
    """``512 B``, ``1.5 MiB``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    power = min(int(math.log(max(count, 1.0), 1024)), len(units) - 1)
    return f"{count / 1024**power:.3g} {units[power]}"


# -- labels ---------------------------------------------------------------------------------

#: The map methods' names where columns are narrow (a summary table fits 80 columns).
_METHOD_LABELS = {"imap_unordered": "imap-u"}
#: What the short names stand for, as a note under what shows them.
METHOD_NOTE = "imap-u = imap_unordered"


def method_label(method: str) -> str:
    """A map method as tables and configurations name it: ``map``, ``imap``, ``imap-u``."""
    return _METHOD_LABELS.get(method, method)


def threads_phrase(count: int | None, spec: str | None) -> str:
    """``1 thread``, ``2 threads (default)``: what each worker's native libraries had; ``threads as the
    libraries chose`` under ``default`` where unknown; empty where nothing says."""
    if count is None:
        return "threads as the libraries chose" if spec == "default" else ""
    text = f"{count} thread{'s' if count != 1 else ''}"
    return f"{text} (default)" if spec == "default" else text


def threads_column(count: int | None, spec: str | None) -> str:
    """A table's threads column: ``1``; ``2 d`` where the libraries chose (``default``); ``-`` where
    nothing says (no native pool loaded, or a record from before they were set)."""
    shown = "-" if count is None else str(count)
    return f"{shown} d" if spec == "default" else shown


def config_text(
    executor: str, workers: int, chunk: str = "", method: str = "map", threads: str = "", *, short: bool = False
) -> str:
    """A configuration: ``process-pool x2, chunk 16, imap_unordered, 1 thread`` (no chunk for back-ends that
    do not chunk, the method where not ``map``, the threads where known); ``short``: the method as narrow
    columns name it (``imap-u``, :data:`METHOD_NOTE`)."""
    parts = [f"{executor} x{workers}"]
    if chunk:
        parts.append(f"chunk {chunk}")
    if method != "map":
        parts.append(method_label(method) if short else method)
    if threads:
        parts.append(threads)
    return ", ".join(parts)


# -- text -------------------------------------------------------------------------------------


def one_line(exc: BaseException) -> str:
    """One line naming an exception, for a journal's ``error`` field: ``ValueError: bad value``."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


_HTML = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("\n", " "))
_MARKUP = re.compile(r"([\\`*_\[\]])")


def escape(value: Any, *, markup: bool = False) -> str:
    """Text from a journal inside Markdown: on one line, holding no HTML, unable to break a table cell;
    with ``markup``, no emphasis, code or link either (backslashes, ``*``, ``_``, backticks and brackets
    are escaped)."""
    text = "" if value is None else str(value)
    if markup:
        text = _MARKUP.sub(r"\\\1", text)
    for raw, escaped in _HTML:
        text = text.replace(raw, escaped)
    return text
