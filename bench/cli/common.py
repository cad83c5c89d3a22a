"""What the subcommands share: the parser classes, the option values' types, usage errors, who prints
under MPI, and the console (notes wrap at word boundaries in a terminal; a pipe or log keeps each note on
one line, whole, so that a line holding a command to copy stays a line a script can take)."""

from __future__ import annotations

import argparse
import re
import signal
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, NoReturn

from rich.console import Console

from bench.measuring.runner import signum_of

USAGE_ERROR = 2


class UsageError(Exception):
    """Bad input: reported as one line, exit status 2, nothing written."""


def _speaks() -> bool:
    """Whether this process prints: always, except on ranks other than 0 of an MPI launch."""
    from bench.host.mpi_launch import launcher_rank

    return launcher_rank() == 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n" if _speaks() else None)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        """As argparse's, ending an MPI launch as any command does (``bench.host.mpi_launch.exit``)."""
        from bench.host import mpi_launch

        if message:
            self._print_message(message, sys.stderr)
        mpi_launch.exit(status)


class _Command(_Parser):
    """A subcommand's parser: arguments it does not know are its own usage error, named after it
    (``python -m bench run: error: ...``, as its other errors are)."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extra = super().parse_known_args(args, namespace)
        if extra:  # shown on one line, as typed where they are printable
            shown = " ".join(arg if arg.isprintable() else repr(arg) for arg in extra)
            self.error(f"unrecognized arguments: {shown if len(shown) <= 200 else shown[:197] + '...'}")
        return parsed, extra


def _list_of(convert: Any, what: str) -> Any:
    def parse(text: str) -> tuple[Any, ...]:
        parts = [part.strip() for part in text.split(",")]
        if not any(parts):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}")
        if not all(parts):
            raise argparse.ArgumentTypeError(f"{text!r} has an empty item: expected a comma-separated list of {what}")
        return tuple(convert(part) for part in parts)

    return parse


def positive_int(text: str) -> int:
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def seconds(text: str) -> float:
    """A number of seconds (its range is checked with the matrix, for Python callers alike)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None


def seconds_or_off(text: str) -> float | str:
    """A number of seconds, or ``off``."""
    return text if text == "off" else seconds(text)


#: The most values a range on the command line may stand for (``--workers 1-64``).
MAX_RANGE = 1024


def _int_range(text: str) -> tuple[int, ...]:
    low, sep, high = text.partition("-")
    if not sep or not low:  # "4", or "-1": a number, not a range
        return (positive_int(text),)
    first, last = positive_int(low), positive_int(high)
    if last < first:
        raise argparse.ArgumentTypeError(f"{text!r} is an empty range")
    if last - first >= MAX_RANGE:
        raise argparse.ArgumentTypeError(f"{text!r} stands for {last - first + 1} values, more than {MAX_RANGE}")
    return tuple(range(first, last + 1))


def worker_list(text: str) -> tuple[int, ...]:
    """``1,2,4`` or ``1-4``."""
    parts = _list_of(_int_range, "positive integers or ranges such as 1-4")(text)
    values = tuple(dict.fromkeys(value for part in parts for value in part))
    if len(values) > MAX_RANGE:
        raise argparse.ArgumentTypeError(f"{len(values)} worker counts, more than {MAX_RANGE}")
    return values


def threads_spec(text: str) -> str:
    """``auto``, ``default`` or a number of threads."""
    from bench.host import inner_threads

    try:
        return inner_threads.check(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def folder(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, not an empty name")
    return text


def repeats_spec(text: str) -> int | str:
    """A positive number of rounds, ``auto`` or ``race``."""
    return text if text in ("auto", "race") else positive_int(text)


def percentage(text: str) -> float:
    """``3%`` or ``0.03``: a fraction strictly between 0 and 1."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage between 0% and 100% (such as 3%)")
    return value


def chunk_spec(text: str) -> str:
    if text in ("auto", "native"):
        return text
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer, 'auto' or 'native'")
    return str(int(text))


def param_assignment(text: str) -> tuple[str, tuple[str, ...]]:
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=V1,V2")
    return key.strip(), _list_of(str, "values")(values)


def option_assignment(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value


def factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 1 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a factor above 1 (such as 1.10)")
    return value


def _report_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """Warnings as one line, without Python's source line (and only on the rank that prints)."""
    if _speaks():
        print(f"warning: {message}", file=sys.stderr)


def _how_stopped(exc: BaseException) -> str:
    signum = signum_of(exc)
    return "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"


def make_console(quiet: bool = False, **options: Any) -> Console:
    """The console of the command line; piped output is never wider than a log line needs."""
    console = Console(quiet=quiet, highlight=False, **options)
    if not console.is_terminal and "width" not in options:
        console.width = max(console.width, 120)  # logs and pipes: no wrapped table cells
    return console


#: An estimate with its interval in a line of text: ``1.80x [1.65, 1.89]``, ``77% [73, 82]``, ``3.4 ms [3.1, 3.9]``.
_INTERVAL = re.compile(r"(\S+)(?: (ms|s|\u00b5s))? \[([^\]\s]+), ([^\]\s]+)\]")
_JOINED = "\u00a0"


def keep_together(text: str) -> str:
    """``text`` with every estimate and its interval joined by no-break spaces (which ``wrap`` does not
    break at)."""
    joined = _JOINED
    return _INTERVAL.sub(lambda m: f"{m[1]}{joined + m[2] if m[2] else ''}{joined}[{m[3]},{joined}{m[4]}]", text)


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken at spaces only: never inside a number, nor
    between an estimate and its interval (where one is longer than a line, it is folded); the text's own
    indent starts every line."""
    body = text.lstrip(" ")
    indent = " " * (len(text) - len(body))
    lines = textwrap.wrap(
        keep_together(body),
        width=max(width, len(indent) + 8),
        initial_indent=indent,
        subsequent_indent=indent,
        break_on_hyphens=False,
    )
    return [line.replace(_JOINED, " ") for line in lines] or [text]


def print_note(console: Console, text: str) -> None:
    """A note under a table or at the end of a run: wrapped at spaces in a terminal (never inside a number,
    nor between an estimate and its interval), one whole line in a pipe or log."""
    if console.is_terminal:
        for line in wrap(text, console.width):
            console.print(line, markup=False, no_wrap=True, overflow="ignore")
    else:
        console.print(text, markup=False, soft_wrap=True)
