"""The house: the suite's modules import one another in floors, with no circle and nothing back up."""

import ast
import graphlib

from conftest import ROOT

#: From the bottom: the record schema, the plan, measuring, the runner, then the faces.
FLOORS = (
    ("bench.matrix", "bench.records"),
    ("bench.plan",),
    ("bench.measure",),
    ("bench.runner",),
    ("bench.console", "bench.comparison", "bench.report", "bench.cli", "bench.pytest_plugin"),
)


def modules():
    found = {}
    for path in sorted([*ROOT.glob("bench/**/*.py"), *ROOT.glob("workloads/**/*.py")]):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports():
    """Module -> the suite's modules it imports anywhere in it (in functions and for type checking too)."""
    found = modules()

    def module_of(name):
        while name and name not in found:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for name, path in found.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in found else base for a in node.names}
        graph[name] = {module_of(target) for target in targets} - {name, ""}
    return graph


def floor(name):
    for level, members in enumerate(FLOORS):
        if any(name == member or name.startswith(member + ".") for member in members):
            return level
    return None


def test_the_imports_draw_no_circle():
    graph = imports()
    assert {"bench.records", "bench.plan", "bench.cli", "workloads.base"} <= set(graph)  # the walk found them
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"an import circle: {' -> '.join(exc.args[1])}") from None


def test_no_floor_imports_one_above_it():
    upward = [
        f"{name} -> {target}"
        for name, targets in imports().items()
        for target in targets
        if floor(name) is not None and floor(target) is not None and floor(target) > floor(name)
    ]
    assert upward == []
