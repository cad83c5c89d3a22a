"""The report's figures (matplotlib, SVG): every point from raw samples, with its interval as error bars."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.analysis.findings import CaseReport, EnvironmentReport, Point, ProbeFit
from bench.data import stats
from bench.data.format import duration_text
from bench.data.schema import AUTO, NATIVE
from bench.executors import rank as executor_rank

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

__all__ = ["Figure", "case_figures", "environment_figures"]

#: How to read every figure's error bars.
ERROR_BARS = (
    "Error bars: 95% intervals where a point rests on 6 rounds or more; with fewer they cover less "
    "(the tables give each one's coverage)."
)
MARKERS = "osD^v<>ph*"
STYLE: dict[Any, Any] = {
    "svg.fonttype": "none",  # text stays text: smaller files, selectable labels
    "svg.hashsalt": "bench-report",  # the same input gives the same file
    "text.parse_math": False,  # a "$" in a workload's name or parameter is text, not mathtext
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@dataclass(frozen=True)
class Figure:
    """One figure: its file name, title, a caption that says how to read it, and its SVG text."""

    name: str
    title: str
    caption: str
    svg: str


def _colour(executor: str) -> Any:
    from matplotlib import colormaps

    return colormaps["tab10"](executor_rank(executor) % 10)  # one colour per executor in every figure


def _marker(executor: str) -> str:
    return MARKERS[executor_rank(executor) % len(MARKERS)]


@contextmanager
def _figure(
    ncols: int = 1, width: float = 6.4, height: float = 3.6, nrows: int = 1, sharey: bool = False
) -> Iterator[tuple[MplFigure, list[Axes]]]:
    """A figure of ``nrows`` x ``ncols`` axes (in reading order) in the report's style, closed afterwards."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(STYLE):
        figure, axes = plt.subplots(
            nrows, ncols, figsize=(width, height), squeeze=False, sharey=sharey, layout="constrained"
        )
        try:
            yield figure, list(axes.flat)
        finally:
            plt.close(figure)


def _drawn(figure: MplFigure, suptitle: str, name: str, title: str, caption: str) -> Figure:
    """The figure, titled, as the report holds it."""
    figure.suptitle(suptitle, fontsize=10)
    return Figure(name, title, caption, _svg(figure))


def _svg(figure: MplFigure) -> str:
    """The figure as SVG text. Its constrained layout is placed once, then the figure has no layout engine
    (``None``: not even the place holder ``"none"`` leaves, for which savefig draws the whole figure once more
    before it draws it to the file): a third of a report's time."""
    engine = figure.get_layout_engine()
    if engine is not None:
        engine.execute(figure)
        figure.set_layout_engine(None)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # no XML prologue: the text can also sit inside a page


def _errorbar(axes: Axes, x: Sequence[float], estimates: Sequence[stats.Estimate], executor: str, **kw: Any) -> None:
    values = [e.value for e in estimates]
    below = [e.value - e.low for e in estimates]
    above = [(e.high - e.value) if math.isfinite(e.high) else 0.0 for e in estimates]
    axes.errorbar(
        x,
        values,
        yerr=[below, above],
        color=_colour(executor),
        marker=_marker(executor),
        markersize=4,
        capsize=3,
        linewidth=1.2,
        **{"label": executor, **kw},
    )


def _best_per_workers(case: CaseReport) -> dict[str, list[Point]]:
    """Each executor's best configuration at each worker count (the case's ranking)."""
    best: dict[tuple[str, int], Point] = {}
    for point in case.ranked:
        best.setdefault((point.executor, point.workers), point)
    lines: dict[str, list[Point]] = {}
    for (executor, _), point in sorted(best.items(), key=lambda item: (executor_rank(item[0][0]), item[0][1])):
        lines.setdefault(executor, []).append(point)
    return lines


def _legend(axes: Axes) -> None:
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=7, frameon=False)


def _scaling(case: CaseReport, prefix: str) -> Figure | None:
    lines = _best_per_workers(case)
    workers = sorted({p.workers for points in lines.values() for p in points})
    if len(workers) < 2:
        return None
    with _figure(2, width=7.6) as (figure, (speed, eff)):
        for executor, points in lines.items():
            x = [p.workers for p in points]
            _errorbar(speed, x, [p.speedup for p in points if p.speedup], executor)
            _errorbar(eff, x, [p.efficiency for p in points if p.efficiency], executor)
        speed.plot(workers, workers, color="grey", linestyle="--", linewidth=1, label="ideal")
        eff.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="ideal")
        for axes in (speed, eff):
            axes.set_xlabel("workers")
            axes.set_xscale("log", base=2)
            axes.set_xticks(workers, [str(w) for w in workers])
            axes.minorticks_off()
        speed.set_ylabel("speedup over serial (\u00d7)")
        eff.set_ylabel("efficiency (speedup / workers)")
        eff.yaxis.set_major_formatter(_percent())
        eff.set_ylim(bottom=0)
        speed.set_ylim(bottom=0)
        _legend(speed)
        return _drawn(
            figure,
            f"{case.label}: scaling",
            f"{prefix}{case.slug}-scaling",
            f"{case.label}: speedup and efficiency against workers",
            "Each executor at its best chunk size and method for each worker count; the speedup is paired "
            f"(serial time / parallel time, round by round); dashed: ideal scaling. {ERROR_BARS}",
        )


def _percent() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0)


def _plain_log(axis: Any) -> None:
    """Label a log axis in plain text (``0.01``, ``1``, ``2000``). Matplotlib's own labels are mathtext
    (``$\\mathdefault{10^{-2}}$``), which STYLE turns off so that a "$" in a name stays a "$"."""
    from matplotlib.ticker import LogFormatterSciNotation

    class PlainLog(LogFormatterSciNotation):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:g}" if super().__call__(x, pos) else ""  # the same ticks, labelled as numbers

    axis.set_major_formatter(PlainLog(labelOnlyBase=False))
    axis.set_minor_formatter(PlainLog(labelOnlyBase=False))


def _chunks(case: CaseReport, prefix: str) -> Figure | None:
    """Speedup against chunk size, one curve per executor at the best's method, with the measured best marked.
    (One figure drawn step by step on its axes, as matplotlib is written; split, its parts would only pass
    the axes along.)"""
    chunked: dict[str, list[Point]] = {}
    for point in case.ranked:
        # the library's own chunking (native) is no point of the chunk-size curve: the report's text compares it
        if (
            point.record.chunksize_spec not in ("n/a", NATIVE)
            and point.record.method == (case.best or point).record.method
        ):
            chunked.setdefault(point.executor, []).append(point)
    executors = sorted(
        (e for e, ps in chunked.items() if len({p.record.chunksize_spec for p in ps}) >= 2),
        key=executor_rank,
    )
    if not executors:
        return None
    columns = min(len(executors), 4)
    rows = math.ceil(len(executors) / columns)
    from matplotlib import colormaps

    size = {"width": 2.2 * columns + 0.8, "height": 2.3 * rows + 0.6}
    with _figure(columns, nrows=rows, sharey=True, **size) as (figure, grid):
        for index, axes in enumerate(grid):
            if index >= len(executors):
                axes.set_visible(False)
                continue
            executor = executors[index]
            by_workers: dict[int, list[Point]] = {}
            for point in chunked[executor]:
                by_workers.setdefault(point.workers, []).append(point)
            for shade, (workers, points) in enumerate(sorted(by_workers.items())):
                points.sort(key=lambda p: p.record.chunksize)
                colour = colormaps["viridis"](shade / max(len(by_workers) - 1, 1) * 0.85)
                estimates = [p.speedup for p in points if p.speedup]
                axes.errorbar(
                    [p.record.chunksize for p in points],
                    [e.value for e in estimates],
                    yerr=[[e.value - e.low for e in estimates], [e.high - e.value for e in estimates]],
                    color=colour,
                    marker="o",
                    markersize=3.5,
                    capsize=2.5,
                    linewidth=1.1,
                    label=f"{workers} worker{'s' if workers > 1 else ''}",
                )
                auto = [p for p in points if p.record.chunksize_spec == AUTO and p.speedup]
                axes.scatter(
                    [p.record.chunksize for p in auto],
                    [p.speedup.value for p in auto if p.speedup],
                    s=60,
                    facecolors="none",
                    edgecolors=colour,
                    linewidths=1.0,
                    zorder=3,
                )
            axes.set_xscale("log", base=2)
            sizes = sorted({p.record.chunksize for p in chunked[executor]})
            axes.set_xticks(sizes, [str(size) for size in sizes], fontsize=7)
            axes.minorticks_off()
            axes.set_title(executor, fontsize=9)
            axes.set_xlabel("chunk size (items per task)")
            if index % columns == 0:
                axes.set_ylabel("speedup over serial (\u00d7)")
            axes.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
            if index == 0:  # the worker counts' colours are the same in every panel
                _legend(axes)
        return _drawn(
            figure,
            f"{case.label}: the effect of chunk size",
            f"{prefix}{case.slug}-chunks",
            f"{case.label}: speedup against chunk size",
            "One panel per executor, one line per worker count; a ring marks the size that auto chose "
            f"(ceil(items / (4 x workers))); dotted: as fast as serial. {ERROR_BARS}",
        )


def _methods(case: CaseReport, prefix: str) -> Figure | None:
    if len(case.methods) < 2:
        return None
    most = max((p.workers for p in case.ranked), default=0)
    groups: dict[str, dict[str, Point]] = {}
    for point in case.ranked:
        if point.workers == most:
            groups.setdefault(point.executor, {}).setdefault(point.record.method, point)
    executors = sorted((e for e, m in groups.items() if len(m) >= 2), key=executor_rank)
    if not executors:
        return None
    methods = case.methods
    width = 0.8 / len(methods)
    with _figure(1, width=max(5.0, 1.1 * len(executors) + 2)) as (figure, (axes,)):
        for m_index, method in enumerate(methods):
            xs, estimates = [], []
            for e_index, executor in enumerate(executors):
                chosen = groups[executor].get(method)
                if chosen is not None and chosen.speedup is not None:
                    xs.append(e_index + (m_index - (len(methods) - 1) / 2) * width)
                    estimates.append(chosen.speedup)
            axes.bar(
                xs,
                [e.value for e in estimates],
                width=width * 0.95,
                yerr=[[e.value - e.low for e in estimates], [e.high - e.value for e in estimates]],
                capsize=3,
                label=method,
            )
        axes.set_xticks(range(len(executors)), executors)
        axes.set_ylabel("speedup over serial (\u00d7)")
        axes.set_xlabel(f"executor, {most} workers, each at its best chunk size")
        _legend(axes)
        return _drawn(
            figure,
            f"{case.label}: map methods side by side",
            f"{prefix}{case.slug}-methods",
            f"{case.label}: map methods",
            f"Speedup under each map method at the largest worker count. {ERROR_BARS}",
        )


#: The POP factors drawn, with their labels and line styles.
POP_LINES = (
    ("global", "global efficiency (GE)", "-", 2.2),
    ("load_balance", "load balance (LB)", "--", 1.2),
    ("communication", "communication efficiency (CommE)", ":", 1.4),
    ("computation", "computation scaling (CompS)", "-.", 1.2),
)
#: Chunks past which a timeline's bars are drawn as an image inside the SVG (a smaller file).
RASTER_CHUNKS = 400


def _value(pop: dict[str, float | None] | None, key: str) -> float:
    """A POP metric, NaN where it is unknown."""
    value = (pop or {}).get(key)
    return math.nan if value is None else float(value)


def _traced_best(case: CaseReport) -> dict[str, list[Point]]:
    """Each executor's best traced configuration at each worker count."""
    best: dict[tuple[str, int], Point] = {}
    for point in case.ranked:
        if point.pop and point.pop.get("parallel") is not None:
            best.setdefault((point.executor, point.workers), point)
    lines: dict[str, list[Point]] = {}
    for (executor, _), point in sorted(best.items(), key=lambda item: (executor_rank(item[0][0]), item[0][1])):
        lines.setdefault(executor, []).append(point)
    return lines


def _pop(case: CaseReport, prefix: str) -> Figure | None:
    lines = _traced_best(case)
    if not lines:
        return None
    workers = sorted({p.workers for points in lines.values() for p in points})
    columns = min(len(lines), 4)
    rows = math.ceil(len(lines) / columns)
    with _figure(columns, width=2.6 * columns + 0.6, height=2.5 * rows + 0.5, nrows=rows, sharey=True) as (
        figure,
        axes_list,
    ):
        for axes, (executor, points) in zip(axes_list, lines.items(), strict=False):
            x = [p.workers for p in points]
            for key, label, style, width in POP_LINES:
                y = [_value(p.pop, key) for p in points]
                axes.plot(
                    x,
                    y,
                    linestyle=style,
                    linewidth=width,
                    marker="o",
                    markersize=3,
                    label=label,
                    color=_colour(executor) if key == "global" else "dimgrey",
                )
            axes.set_title(executor, fontsize=9)
            axes.set_xscale("log", base=2)
            axes.set_xticks(workers, [str(w) for w in workers])
            axes.minorticks_off()
            axes.set_xlabel("workers")
            axes.axhline(0.8, color="green", linewidth=0.6, alpha=0.5)
            axes.axhline(0.6, color="orange", linewidth=0.6, alpha=0.5)
            axes.set_ylim(0, 1.1)
            axes.yaxis.set_major_formatter(_percent())
        for axes in axes_list[len(lines) :]:
            axes.set_visible(False)
        axes_list[0].set_ylabel("efficiency")
        handles, labels = axes_list[0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=7, frameon=False)
        return _drawn(
            figure,
            f"{case.label}: where the efficiency goes",
            f"{prefix}{case.slug}-pop",
            f"{case.label}: POP efficiency against workers",
            "From each cell's traced run (one extra, untimed run), each executor at its best configuration for "
            "each worker count: global efficiency = load balance x communication efficiency x computation "
            "scaling. Load balance: mean over max of the workers' computing time; communication efficiency: the "
            "busiest worker's computing time over the run's (dispatch, transfer and waiting make the rest); "
            "computation scaling: the items' serial computing time over the workers' (below 1: the GIL, shared "
            "cores or memory bandwidth). Lines at 80% and 60%: the POP assessments' good and fair.",
        )


def _lane_label(lane: dict[str, Any], index: int) -> str:
    who = f"rank {lane['rank']}" if lane.get("rank") is not None else f"pid {lane.get('pid')}"
    return f"{index}: {who}" if lane.get("thread") is None else f"{index}: {who}/{str(lane['thread'])[-4:]}"


def _timeline(case: CaseReport, prefix: str, which: str, point: Point) -> Figure:
    trace = point.trace
    assert trace is not None and point.pop is not None
    chunks = trace.chunks
    lanes = max(len(trace.lanes), 1)
    with _figure(1, width=7.6, height=1.2 + 0.32 * lanes) as (figure, (axes,)):
        bars: dict[int, list[tuple[float, float]]] = {}
        for lane, start, end in zip(chunks["worker"], chunks["start"], chunks["end"], strict=True):
            bars.setdefault(lane, []).append((start, max(end - start, 1e-9)))
        raster = len(chunks["start"]) > RASTER_CHUNKS
        colour = _colour(point.executor)
        for lane, spans in bars.items():
            even, odd = spans[::2], spans[1::2]  # neighbouring chunks in two shades: each chunk visible
            axes.broken_barh(even, (lane - 0.38, 0.76), facecolors=colour, rasterized=raster)
            axes.broken_barh(odd, (lane - 0.38, 0.76), facecolors=colour, alpha=0.6, rasterized=raster)
        axes.set_yticks(range(lanes), [_lane_label(lane, i) for i, lane in enumerate(trace.lanes)] or ["-"])
        axes.set_ylim(lanes - 0.5, -0.5)
        axes.set_xlim(0, trace.wall_s)
        axes.set_xlabel("seconds since the run began (the driver's clock)")
        axes.grid(axis="y", visible=False)
        pop = point.pop
        figures = ", ".join(
            f"{name} {_value(pop, key):.2f}"
            for key, name in (
                ("global", "GE"),
                ("load_balance", "LB"),
                ("communication", "CommE"),
                ("computation", "CompS"),
            )
            if pop.get(key) is not None
        )
        axes.set_title(f"{which}: {point.config()} ({figures})", fontsize=9)
        svg = _svg(figure)
    sampled = (
        f" A uniform sample of {len(chunks['start'])} of its {trace.chunks_total} chunks." if trace.sampled else ""
    )
    offsets = trace.clock.get("offsets") or {}
    measured = ", ".join(
        f"{node} {duration_text(o['offset_s'])} \u00b1 {duration_text(o['uncertainty_s'])}"
        for node, o in offsets.items()
    )
    clock = (
        f" Workers' times moved onto the driver's clock by offsets from round trips ({measured})." if offsets else ""
    )
    return Figure(
        f"{prefix}{case.slug}-timeline-{which}",
        f"{case.label}: timeline of the {which} configuration at {point.workers} workers",
        f"One lane per worker, one bar per chunk from its start to its end of computing (neighbouring chunks in "
        f"two shades); white is time a worker did not compute: dispatch, transfer, waiting for the driver or "
        f"for work. The traced run took {duration_text(trace.wall_s)}"
        + (f" against the cell's median of {duration_text(trace.median_s)}" if trace.median_s else "")
        + f".{sampled}{clock}",
        svg,
    )


def _timelines(case: CaseReport, prefix: str) -> list[Figure]:
    """The best and the worst traced configuration at the case's largest traced worker count."""
    traced = [p for p in case.ranked if p.trace is not None and p.pop]
    if not traced:
        return []
    most = max(p.workers for p in traced)
    at_most = [p for p in traced if p.workers == most]
    made = [_timeline(case, prefix, "best", at_most[0])]
    if len(at_most) > 1:
        made.append(_timeline(case, prefix, "worst", at_most[-1]))
    return made


def _model(case: CaseReport, prefix: str) -> Figure | None:
    """Predicted against measured, log-log, one colour per executor, with the band of +-10%. (One figure
    drawn step by step on its axes, as matplotlib is written; split, its parts would only pass the axes
    along.)"""
    from bench.model.forecast import CLOSE

    found = case.model
    if found is None or not found.checked:
        return None
    with _figure(width=5.2, height=4.4) as (figure, (axes,)):
        by_executor: dict[str, list[Any]] = {}
        for item in found.checked:
            by_executor.setdefault(item.cell.executor, []).append(item)
        values = [v for item in found.checked for v in (item.measured.value, item.predicted.value)]
        low, high = min(values) / 1.5, max(values) * 1.5
        line = [low, high]
        axes.fill_between(
            line,
            [v * (1 - CLOSE) for v in line],
            [v * (1 + CLOSE) for v in line],
            color="grey",
            alpha=0.15,
            label=f"\u00b1{CLOSE:.0%}",
        )
        axes.plot(line, line, color="grey", linewidth=1, linestyle="--")
        for executor in sorted(by_executor, key=executor_rank):
            items = by_executor[executor]
            x = [i.measured.value for i in items]
            y = [i.predicted.value for i in items]
            axes.errorbar(
                x,
                y,
                xerr=[
                    [i.measured.value - i.measured.low for i in items],
                    [_finite(i.measured.high) - i.measured.value for i in items],
                ],
                yerr=[
                    [i.predicted.value - i.predicted.low for i in items],
                    [i.predicted.high - i.predicted.value for i in items],
                ],
                color=_colour(executor),
                marker=_marker(executor),
                markersize=4,
                linestyle="none",
                elinewidth=0.8,
                capsize=2,
                label=executor,
            )
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlim(low, high)
        axes.set_ylim(low, high)
        _plain_log(axes.xaxis)
        _plain_log(axes.yaxis)
        axes.set_xlabel("measured median (s)")
        axes.set_ylabel("predicted (s)")
        _legend(axes)
        error = found.median_error
        return _drawn(
            figure,
            f"{case.label}: model against measurements (median error {error:.0%})",
            f"{prefix}{case.slug}-model",
            f"{case.label}: the cost model's prediction against the measured median of each cell",
            "Each parallel cell: its measured median (horizontal bars: its 95% interval) against the time the "
            "cost model predicts for it (vertical bars: the interval the fitted parameters allow); on the dashed "
            f"line they agree, in the grey band they are within {CLOSE:.0%}.",
        )


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _forecast(case: CaseReport, prefix: str) -> Figure | None:
    """Predicted speedup against workers 1 to 1024 per executor at its best predicted chunk size, the measured
    best points over it, and the workload's ceiling. (One figure drawn step by step on its axes, as
    matplotlib is written; split, its parts would only pass the axes along.)"""
    from bench.model.forecast import FORECAST_MOST

    found = case.model
    if found is None or not found.forecast:
        return None
    with _figure(width=8.0, height=4.2) as (figure, (axes,)):
        for executor in sorted(found.forecast, key=executor_rank):
            points = found.forecast[executor]
            x = [p.workers for p in points]
            axes.plot(
                x,
                [p.speedup.value for p in points],
                color=_colour(executor),
                linewidth=1.4,
                label=f"{executor} (predicted)",
            )
            axes.fill_between(
                x,
                [p.speedup.low for p in points],
                [p.speedup.high for p in points],
                color=_colour(executor),
                alpha=0.12,
            )
        for executor, best in _best_per_workers(case).items():
            measured = [p for p in best if p.speedup is not None]
            if measured and executor in found.forecast:
                _errorbar(
                    axes,
                    [p.workers for p in measured],
                    [p.speedup for p in measured if p.speedup],
                    executor,
                    linestyle="none",
                    label=None,
                )
        if found.ceiling:
            axes.axhline(
                found.ceiling,
                color="black",
                linestyle=":",
                linewidth=1,
                label=f"ceiling {found.ceiling:.0f}x (largest item)",
            )
        axes.plot([1, FORECAST_MOST], [1, FORECAST_MOST], color="grey", linestyle="--", linewidth=0.8, label="ideal")
        axes.set_xscale("log", base=2)
        axes.set_yscale("log", base=2)
        ticks = [2**k for k in range(0, 11, 2)]
        axes.set_xticks(ticks, [str(t) for t in ticks])
        axes.minorticks_off()
        values = [p.speedup for points in found.forecast.values() for p in points]
        top = max([found.ceiling or 1.0] + [v.high for v in values])
        bottom = min([1.0] + [v.low for v in values])
        low, high = 2 ** math.floor(math.log2(max(bottom, 1e-3))), 2 ** math.ceil(math.log2(max(top, 2.0)))
        axes.set_ylim(low, high * 1.2)
        marks = [2.0**k for k in range(int(math.log2(low)), int(math.log2(high)) + 1)]
        axes.set_yticks(marks, [f"{m:g}" for m in marks])
        axes.set_xlabel("workers (beyond this machine's cores: a machine with a core for each)")
        axes.set_ylabel("speedup over serial (\u00d7)")
        axes.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return _drawn(
            figure,
            f"{case.label}: forecast",
            f"{prefix}{case.slug}-forecast",
            f"{case.label}: predicted speedup from 1 to {FORECAST_MOST} workers",
            "Lines: the speedup the cost model predicts for each executor at its best predicted chunk size "
            "(shaded: the interval its fitted parameters allow); up to this machine's cores on this machine, "
            "beyond on one with a core for each worker and one for the driver, at this machine's speed per core. "
            "Points: the measured best at each worker count, with 95% intervals. Dotted: the workload's ceiling, "
            "its serial time over its largest item's, which no back-end passes.",
        )


def case_figures(case: CaseReport, prefix: str = "") -> list[Figure]:
    """The figures of one case, as far as its cells support them."""
    made = (
        _scaling(case, prefix),
        _chunks(case, prefix),
        _methods(case, prefix),
        _pop(case, prefix),
        _model(case, prefix),
        _forecast(case, prefix),
    )
    return [figure for figure in made if figure is not None] + _timelines(case, prefix)


def _startup(report: EnvironmentReport, prefix: str) -> Figure | None:
    startup = {e: v for e, v in report.startup.items() if e != "serial"}
    if not startup:
        return None
    from matplotlib.ticker import NullLocator

    with _figure(1, width=6.0) as (figure, (axes,)):
        workers = sorted({w for values in startup.values() for w, _ in values})
        for executor in sorted(startup, key=executor_rank):
            values = startup[executor]
            _errorbar(axes, [w for w, _ in values], [e for _, e in values], executor)
        axes.set_yscale("log")
        _plain_log(axes.yaxis)
        axes.set_xscale("log", base=2)
        axes.set_xticks(workers, [str(w) for w in workers])
        axes.xaxis.set_minor_locator(NullLocator())  # the y axis keeps its: start-ups within a decade need them
        axes.set_xlabel("workers")
        axes.set_ylabel("start-up (s, log scale)")
        axes.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
        figure.suptitle("Start-up cost: until every worker has answered once", fontsize=10)
        svg = _svg(figure)
    single = all(e.n == 1 for values in startup.values() for _, e in values)
    return Figure(
        f"{prefix}startup",
        "Start-up cost per executor",
        "Seconds from asking for the workers until each has run a task."
        + (
            " One start per point, so no interval."
            if single
            else " Error bars: the intervals of the starts' median (points from one start have none)."
        ),
        svg,
    )


def _bars(axes: Axes, fits: Sequence[ProbeFit], scale: float, label: str) -> None:
    ordered = sorted(fits, key=lambda fit: (executor_rank(fit.executor), fit.workers))
    names = [fit.label for fit in ordered]
    values = [fit.estimate.value * scale for fit in ordered]
    below = [(fit.estimate.value - fit.estimate.low) * scale for fit in ordered]
    above = [
        (fit.estimate.high - fit.estimate.value) * scale if math.isfinite(fit.estimate.high) else 0.0 for fit in ordered
    ]
    y = list(range(len(ordered)))
    axes.barh(y, values, xerr=[below, above], capsize=3, color=[_colour(fit.executor) for fit in ordered])
    axes.set_yticks(y, names)
    axes.invert_yaxis()
    axes.set_xscale("log")
    _plain_log(axes.xaxis)
    axes.set_xlabel(label)


def _probes(report: EnvironmentReport, prefix: str) -> Figure | None:
    overhead = [fit for fit in report.overhead if fit.executor != "serial"]
    panels = [
        (fits, scale, label, title, caption)
        for fits, scale, label, title, caption in (
            (
                overhead,
                1e6,
                "per-task cost (\u00b5s, log scale)",
                ("Per-task overhead (noop)", "Per-task overhead"),
                "Per-task cost: the slope of run time against tasks per run (noop), or time / tasks where one "
                "task count was measured.",
            ),
            (
                report.bandwidth,
                1e-6,
                "bandwidth (MB/s, log scale)",
                ("bandwidth (payload)", "bandwidth"),
                "Bandwidth: the inverse slope of per-task time against payload size, each byte counted once.",
            ),
        )
        if fits
    ]
    if not panels:
        return None
    # a figure names only what it shows
    suptitle = " and ".join(title[0] for *_, title, _ in panels)
    name = " and ".join(title[1] for *_, title, _ in panels)
    rows = max(len(fits) for fits, *_ in panels)
    with _figure(len(panels), width=4.2 * len(panels) + 1.0, height=0.28 * rows + 1.4) as (figure, axes):
        for ax, (fits, scale, label, _, _) in zip(axes, panels, strict=True):
            _bars(ax, fits, scale, label)
        figure.suptitle(suptitle[0].upper() + suptitle[1:], fontsize=10)
        svg = _svg(figure)
    captions = " ".join(caption for *_, caption in panels)
    return Figure(f"{prefix}probes", f"{name[0].upper()}{name[1:]} per executor", f"{captions} {ERROR_BARS}", svg)


def _granularity(report: EnvironmentReport, prefix: str) -> Figure | None:
    fits = [fit for fit in report.granularity if fit.curve]
    if not fits:
        return None
    with _figure(1, width=6.4) as (figure, (axes,)):
        for fit in sorted(fits, key=lambda f: (executor_rank(f.executor), f.workers)):
            x = [d for d, _ in fit.curve]
            _errorbar(axes, x, [e for _, e in fit.curve], fit.executor)
            metg = fit.metg
            if metg is not None and metg.bound is None:
                axes.errorbar(
                    [metg.value_s],
                    [metg.target],
                    xerr=[[metg.value_s - metg.low_s], [metg.high_s - metg.value_s]],
                    color=_colour(fit.executor),
                    marker="*",
                    markersize=11,
                    capsize=3,
                    linestyle="none",
                )
        axes.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        axes.set_xscale("log")
        _plain_log(axes.xaxis)
        axes.set_xlabel("task duration (s, serial time per task, log scale)")
        axes.set_ylabel("efficiency (speedup / workers)")
        axes.yaxis.set_major_formatter(_percent())
        axes.set_ylim(bottom=0)
        _legend(axes)
        return _drawn(
            figure,
            "Efficiency against task duration; \u2605 METG(50%)",
            f"{prefix}granularity",
            "Efficiency against task duration (METG)",
            "Spin tasks of growing duration, one per chunk; a star marks where each executor reaches 50% "
            "efficiency for good (METG, interpolated in log duration), with its interval from the efficiencies' "
            f"intervals; dashed: 50%. {ERROR_BARS}",
        )


def environment_figures(report: EnvironmentReport, prefix: str = "") -> list[Figure]:
    """Start-up, probes and granularity figures of one environment, as far as its cells support them."""
    made = (_startup(report, prefix), _probes(report, prefix), _granularity(report, prefix))
    return [figure for figure in made if figure is not None]
