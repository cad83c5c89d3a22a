"""``doctor``: the machine's noise, each core's speed over time, and what it allows, in plain words."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.cli.common import UsageError, _list_of, make_console, print_note, seconds, wrap
from bench.host.noise import Noise, doctor

DOCTOR_DESCRIPTION = (
    "Probe the machine's noise: short fixed spins pinned to each core, all at once, for --seconds. "
    "Says each core's speeds and how long it stays at one, how much a 1 s run varies, and how many "
    "paired rounds, spread over how long, it takes to tell configurations 5%% apart here; then what "
    "would help."
)


def _core(text: str) -> int:
    if not text.isdecimal():
        raise argparse.ArgumentTypeError(f"{text!r} is not a core number")
    return int(text)


def _speeds(modes: list[dict[str, float]]) -> str:
    return " / ".join(f"{mode['speed']:.2f} ({mode['share']:.0%})" for mode in modes)


def show(noise: Noise, console: Any) -> None:
    """The probe's table and its plain words."""
    from rich.table import Table

    where = f"{noise.host}, {noise.cpu}, " if noise.host and noise.cpu else ""
    print_note(console, f"{where}{len(noise.cores)} usable core(s); probed {noise.created}")
    table = Table(title=f"Each core's speed over {noise.seconds:g} s (1.00: the fastest seen)", title_justify="left")
    table.add_column("core", justify="right")
    table.add_column("spins", justify="right")
    table.add_column("speeds (time at each)")
    table.add_column("1 s run", justify="right")
    table.add_column("spell", justify="right")
    for core in noise.cores:
        spell = f"{core.spell_s:.1f} s" if core.spell_s is not None else ("-" if len(core.modes) == 1 else "long")
        table.add_row(str(core.core), str(core.spins), _speeds(core.modes), f"±{core.run_spread:.0%}", spell)
    console.print(table)
    notes = [
        "spell: how long a core stays at one speed (the spell a moment falls in, on average; long: longer "
        "than the probe)"
    ]
    if noise.together is not None:
        notes.append(f"the cores' speeds correlate at {noise.together:+.2f} (1: they move together)")
    load = f"other processes used {noise.other_cores or 0:.2f} cores; steal {noise.steal or 0:.1%}"
    notes.append(load)
    for note in notes:
        print_note(console, note)
    console.print()
    for line in noise.lines():
        print_note(console, line)
    console.print()
    print_note(console, "What would help:")
    for line in noise.advice():
        _bullet(console, line)


def _bullet(console: Any, text: str) -> None:
    """``- text``, its further lines under the text in a terminal; one line in a pipe."""
    if not console.is_terminal:
        print_note(console, f"- {text}")
        return
    for number, line in enumerate(wrap(text, console.width - 2)):
        console.print(("- " if number == 0 else "  ") + line, markup=False, no_wrap=True, overflow="ignore")


def cmd_doctor(args: argparse.Namespace) -> int:
    out = Path(args.json) if args.json else None
    if out is not None and out.exists():
        raise UsageError(f"{out} exists: the probe never replaces a file; name another")
    try:
        found = doctor(args.seconds, list(args.cores) if args.cores else None)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if out is not None:
        try:
            with out.open("x", encoding="utf-8") as stream:
                json.dump(found.to_json(), stream)
                stream.write("\n")
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    show(found, make_console())
    return 0


def add_doctor_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "doctor",
        help="the machine's noise: each core's speed over time, and what it allows, in plain words",
        description=DOCTOR_DESCRIPTION,
        epilog="exit status: 0 probed; 2 bad input",
    )
    parser.add_argument("--seconds", type=seconds, default=20.0, metavar="S", help="how long to probe (default: 20)")
    parser.add_argument(
        "--cores", type=_list_of(_core, "core numbers"), metavar="LIST", help="the cores to probe (default: all usable)"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the probe (every spin) to FILE, a new file")
    parser.set_defaults(handler=cmd_doctor, command="doctor")
