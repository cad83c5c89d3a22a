"""Reports: journals become ``DIR/index.html`` (self-contained: figures inline, nothing
loaded from the network), ``DIR/summary.md`` and each figure as ``DIR/figures/NAME.svg``.

    import bench, bench.report
    results = bench.load("results/a.jsonl", "results/b.jsonl")
    report = bench.report.build(results)       # analysis, figures, rendered text
    bench.report.write(report, "report")       # -> Path("report/index.html")

Needs the ``report`` extra (matplotlib, jinja2): ``pip install -e '.[report]'``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.report.analysis import Analysis, analyse
from bench.report.figures import Figure
from bench.results import Journal, JournalError, Results

__all__ = ["GENERATOR", "Report", "ReportError", "build", "check", "write"]

#: The ``generator`` meta tag of every index.html written here: only such a page is ever replaced.
GENERATOR = "parallel-bench report"


class ReportError(JournalError):
    """A report that cannot be written as asked."""


@dataclass(frozen=True)
class Report:
    """A rendered report, not yet written: its analysis, figures, HTML and Markdown."""

    analysis: Analysis
    figures: tuple[Figure, ...]
    html: str
    markdown: str


def _needs() -> None:
    missing = []
    for module in ("matplotlib", "jinja2"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ImportError(f"reports need {' and '.join(missing)}: pip install -e '.[report]'")


def build(results: Results) -> Report:
    """Analyse ``results`` and render every figure and page, in memory."""
    _needs()
    from bench.report.render import render

    analysis = analyse(results)
    figures, html, markdown = render(analysis, GENERATOR)
    return Report(analysis, tuple(figures), html, markdown)


def check(out_dir: str | os.PathLike[str]) -> None:
    """Raise ReportError unless a report could be written into ``out_dir``; writes nothing.

    The folder must be writable, and an index.html already there must be a
    report of this suite (no other page is ever replaced).
    """
    directory = Path(out_dir)
    try:
        Journal.check(directory, what="the report")
    except JournalError as exc:
        raise ReportError(str(exc)) from None
    index = directory / "index.html"
    if index.exists():
        try:
            mine = f'content="{GENERATOR}"' in index.read_text(encoding="utf-8", errors="replace")[:2000]
        except OSError as exc:
            raise ReportError(f"cannot read {index}: {exc.strerror or exc}") from None
        if not mine:
            raise ReportError(f"{index} exists and is not a report of this suite; choose another folder")
        return
    for name in ("summary.md", "figures"):
        if (directory / name).exists():
            raise ReportError(f"{directory / name} exists without a report of this suite; choose another folder")


def write(report: Report, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``report`` into ``out_dir`` (see :func:`check`); returns the path of its index.html.

    A previous report there is replaced: its figures that the new one lacks are removed.
    """
    directory = Path(out_dir)
    check(directory)
    index = directory / "index.html"
    figures = directory / "figures"
    names = {f"{figure.name}.svg" for figure in report.figures}
    try:
        figures.mkdir(parents=True, exist_ok=True)
        for stale in figures.glob("*.svg"):
            if stale.name not in names:
                stale.unlink()
        for figure in report.figures:
            (figures / f"{figure.name}.svg").write_text(figure.svg, encoding="utf-8")
        (directory / "summary.md").write_text(report.markdown, encoding="utf-8")
        index.write_text(report.html, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report to {directory}: {exc.strerror or exc}") from None
    return index
