"""Imports run one way: no cycle between hal9's packages, and the lower packages import nothing above them.

The graph is read from the source (every import statement, including those inside functions and under
``TYPE_CHECKING``): a dependency is a dependency even when it is deferred.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import hal9

ROOT = Path(hal9.__file__).parent

#: Packages the service implementations build on: they import no service, server or command line.
LOWER = {
    "hal9.config": {"hal9.errors", "hal9.layer"},
    "hal9.support": {"hal9.errors"},
    "hal9.errors": set(),
    "hal9.layer": set(),
}
SERVICES = {"hal9.llm", "hal9.memory", "hal9.tools", "hal9.learning", "hal9.auth", "hal9.network", "hal9.neurons"}
ABOVE_THE_RUNTIME = SERVICES | {"hal9.server", "hal9.cli", "hal9.testing", "hal9.pytest_plugin"}


def unit(module: str) -> str:
    """The package a module belongs to: ``hal9.runtime.neuron`` -> ``hal9.runtime``; top-level modules are their own."""
    return ".".join(module.split(".")[:2])


def imports(path: Path, module: str) -> Iterator[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            yield base
            if base == "hal9":  # from hal9 import errors: the submodule, if it is one
                yield from (f"hal9.{alias.name}" for alias in node.names if (ROOT / alias.name).exists())


def package_graph() -> dict[str, dict[str, set[str]]]:
    """unit -> imported unit -> the modules that import it."""
    graph: dict[str, dict[str, set[str]]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        source = "hal9" if module == "hal9" else unit(module)
        for name in imports(path, module):
            if name == "hal9" or name.startswith("hal9."):
                target = "hal9" if name == "hal9" else unit(name)
                if target != source:
                    graph.setdefault(source, {}).setdefault(target, set()).add(module)
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """The strongly connected components of more than one package (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_from_every_module() -> None:
    graph = package_graph()
    assert "hal9.runtime" in graph["hal9.server"]
    assert "hal9.errors" in graph["hal9.runtime"]


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph()
    described = [
        {f"{a} -> {b}": sorted(graph[a][b]) for a in component for b in component if b in graph.get(a, {})}
        for component in cycles(graph)
    ]
    assert described == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b": {"a.x"}}, "b": {"c": {"b.y"}}, "c": {"a": {"c.z"}}}) == [["a", "b", "c"]]


def test_config_and_the_service_helpers_depend_on_nothing_above_them() -> None:
    graph = package_graph()
    for package, allowed in LOWER.items():
        assert set(graph.get(package, {})) <= allowed, package


def test_the_runtime_imports_no_service_implementation_server_or_cli() -> None:
    graph = package_graph()
    assert {target: sorted(by) for target, by in graph["hal9.runtime"].items() if target in ABOVE_THE_RUNTIME} == {}
