"""``list``: the executors and workloads, what can run here and why not."""

from __future__ import annotations

import argparse
from typing import Any


def availability() -> dict[str, list[dict[str, Any]]]:
    """Every registered executor and workload, with the reason when it cannot run in this launch."""
    import bench.executors
    import workloads

    executors = []
    for name in bench.executors.names():
        try:
            backend = bench.executors.get(name)
            reason, description = backend.available() or backend.unsupported(1), backend.description
            options = {
                key: {"help": o.help, "default": o.default, "env": backend.env_name(key), "config": o.config}
                for key, o in backend.options.items()
            }
        except Exception as exc:  # a broken third-party plug-in is listed, not fatal
            reason, description, options = f"failed to load: {exc}", "", {}
        executors.append(
            {
                "name": name,
                "available": reason is None,
                "reason": reason,
                "description": description,
                "options": options,
            }
        )
    loads = []
    for name in workloads.names():
        workload = workloads.get(name)
        reason = workload.available()
        loads.append(
            {
                "name": name,
                "available": reason is None,
                "reason": reason,
                "description": workload.description,
                "default_size": workload.default_size,
                "methods": list(workload.methods),
                "params": {
                    key: {"help": param.help, "default": list(param.unswept), "choices": param.choices}
                    for key, param in workload.params.items()
                },
            }
        )
    return {"executors": executors, "workloads": loads}


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from bench.cli.common import make_console

    data = availability()
    console = make_console()

    def new_table(title: str, *columns: str) -> Table:
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        return table

    table = new_table("Executors", "name", "available", "what / why not")
    for entry in data["executors"]:
        table.add_row(entry["name"], "yes" if entry["available"] else "no", entry["reason"] or entry["description"])
    console.print(table)
    title = "Executor options (--executor-option KEY=VALUE, else the environment, else dask's config)"
    table = new_table(title, "executor", "option", "default", "what")
    for entry in data["executors"]:
        for key, option in entry["options"].items():
            default = "" if option["default"] in (None, []) else str(option["default"])
            source = f"{option['env']}" + (f"; {option['config']}" if option["config"] else "")
            table.add_row(entry["name"], key, default, f"{option['help']} [{source}]")
    if table.row_count:
        console.print(table)
    title = "Workloads (--workloads NAME, or module:Class, path/to/file.py:Class)"
    table = new_table(title, "name", "available", "default size", "what / why not")
    for entry in data["workloads"]:
        what = entry["reason"] or entry["description"]
        if entry["methods"] != ["map", "imap", "imap_unordered"]:
            what += f" [methods: {', '.join(entry['methods'])}]"
        table.add_row(entry["name"], "yes" if entry["available"] else "no", str(entry["default_size"]), what)
    console.print(table)
    table = new_table("Workload parameters (--param KEY=V1,V2)", "workload", "param", "default", "what")
    for entry in data["workloads"]:
        for key, param in entry["params"].items():
            choices = f" (one of {', '.join(map(str, param['choices']))})" if param["choices"] else ""
            table.add_row(entry["name"], key, ",".join(map(str, param["default"])), param["help"] + choices)
    console.print(table)
    return 0


def add_list_parser(commands: Any) -> None:
    listing = commands.add_parser("list", help="executors and workloads, with availability")
    listing.set_defaults(handler=cmd_list, command="list")
