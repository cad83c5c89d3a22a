"""The house: the suite's modules import one another in floors, with no circle and nothing back up."""

import ast
import graphlib

from conftest import ROOT

#: From the bottom, each a folder (or the package's own entry points, on top): every module of the suite
#: stands on one floor, and imports only its own floor and those below it.
FLOORS = (
    ("bench.host",),
    ("bench.data",),
    ("bench.executors", "workloads"),
    ("bench.measuring",),
    ("bench.model",),
    ("bench.analysis",),
    ("bench.cli", "bench.report"),
    ("bench", "bench.__main__", "bench.run", "bench.pytest_plugin"),
)
#: The top floor's modules are named whole: the package ``bench`` is no prefix of the floors below.
ENTRY_POINTS = FLOORS[-1]


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
        if name in members or any(name.startswith(member + ".") for member in members if member not in ENTRY_POINTS):
            return level
    return None


def test_the_imports_draw_no_circle():
    graph = imports()
    assert {"bench.data.schema", "bench.measuring.plan", "bench.cli", "workloads.base"} <= set(
        graph
    )  # the walk found them
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"an import circle: {' -> '.join(exc.args[1])}") from None


def test_every_module_stands_on_a_floor():
    graph = imports()
    assert len(graph) > 50  # the walk found the package
    assert [name for name in graph if floor(name) is None] == []


def test_no_module_imports_a_floor_above_its_own():
    graph = imports()
    upward = [f"{name} -> {target}" for name, found in graph.items() for target in found if floor(target) > floor(name)]
    assert sum(map(len, graph.values())) > 100  # the imports were read
    assert upward == []
