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
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.analysis.findings import Analysis, analyse
from bench.data.journal import Journal, JournalError, Results
from bench.report.figures import Figure

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


def build(results: Results, search: Sequence[str | os.PathLike[str]] | None = None) -> Report:
    """Analyse ``results`` and render every figure and page, in memory. The cost model takes a calibration
    of the journals' environment from ``<folder>/calibration/`` of a folder in ``search`` (default: the
    journals' folders and ``results``)."""
    _needs()
    from bench.report.render import render

    if search is None:
        search = [*dict.fromkeys(str(path.parent) for path in results.paths), "results"]
    analysis = analyse(results, search)
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


#: The list of the files a report wrote into its folder, one relative path a line: only those are
#: ever removed when a new report replaces it.
MANIFEST = ".bench-report-files"


def _written_before(directory: Path) -> list[str]:
    try:
        lines = (directory / MANIFEST).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    # only names a report writes, inside the folder
    return [line for line in lines if line in ("index.html", "summary.md") or _FIGURE.fullmatch(line)]


_FIGURE = re.compile(r"figures/[A-Za-z0-9_.-]+\.svg")


def write(report: Report, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``report`` into ``out_dir`` (see :func:`check`); returns the path of its index.html.

    A previous report there is replaced: the files it wrote (its manifest says which) that the new one
    lacks are removed, and nothing else is.
    """
    directory = Path(out_dir)
    check(directory)
    index = directory / "index.html"
    files = {f"figures/{figure.name}.svg": figure.svg for figure in report.figures}
    files.update({"summary.md": report.markdown, "index.html": report.html})
    try:
        (directory / "figures").mkdir(parents=True, exist_ok=True)
        for stale in _written_before(directory):
            if stale not in files:
                (directory / stale).unlink(missing_ok=True)
        # the manifest first: a report cut short still names every file it may have written
        (directory / MANIFEST).write_text("".join(f"{name}\n" for name in files), encoding="utf-8")
        for name, text in files.items():  # index.html last: a page is there only once the rest is
            (directory / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report to {directory}: {exc.strerror or exc}") from None
    return index
