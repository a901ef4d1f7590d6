"""The package layout: imports follow the flow of data, top to bottom, and never go round in a circle.

Layers, top to bottom; a module imports from its own layer and the layers below, never above:

1. ``dffml_k8s_analysis.cli``: the ``k8s-analysis`` commands, the demo among them;
2. ``dffml_k8s_analysis.serve``: the HTTP service, whose webhook runs the label dataflow (so it sits above
   the dataflows: in the library it would import upward, or wire the bot's steps a second time);
3. ``operations`` and ``dffml_k8s_analysis.flows``: the DFFML operations and the dataflows made of them;
4. the library, one subpackage per stage of the data (github, store, records, analysis, model, bot) and
   the GitHub emulator, which only the demo and emulate-github commands use (and the tests, the benchmarks);
5. small utilities: errors, jobindex, background, http_limits, secret_file, dffml_compat, atomic, timeutil, interrupt.

Only the dataflow layer and above (``flows.py``, ``serve``, ``cli``) import ``operations``.

The import graph is read from the source with ``ast``: every import statement of both packages, those
inside functions included, relative ones resolved, and module names written out whole in a string (the
CLI's table of commands, which it loads with importlib). A unit is a top-level module or subpackage of
``dffml_k8s_analysis``, or the ``operations`` package.
"""
import ast
import functools
from typing import Dict, List, Optional, Set

import pytest

from conftest import ROOT

PACKAGES = ("dffml_k8s_analysis", "operations")
CLI = "dffml_k8s_analysis.cli"
EMULATOR = "dffml_k8s_analysis.emulator"
EMULATOR_USERS = {"dffml_k8s_analysis.cli.demo", "dffml_k8s_analysis.cli.emulate_github"}
OPERATIONS = "operations"
# the dataflow layer and above: the library never wires DFFML operations (serve takes them through flows.py)
OPERATIONS_USERS = {"dffml_k8s_analysis.flows", "dffml_k8s_analysis.serve", CLI}
LAYERS = [  # top to bottom
    ("cli", {CLI}),
    ("service", {"dffml_k8s_analysis.serve"}),
    ("dataflows", {"operations", "dffml_k8s_analysis.flows"}),
    ("library", {f"dffml_k8s_analysis.{name}" for name in (
        "github", "store", "records", "analysis", "model", "bot", "emulator", "derive", "notes")}),
    ("utilities", {"dffml_k8s_analysis", "dffml_k8s_analysis.errors", "dffml_k8s_analysis.jobindex",
                   "dffml_k8s_analysis.http_limits", "dffml_k8s_analysis.secret_file",
                   "dffml_k8s_analysis.background", "dffml_k8s_analysis.dffml_compat", "dffml_k8s_analysis.atomic",
                   "dffml_k8s_analysis.timeutil", "dffml_k8s_analysis.interrupt"}),
]
RANK = {unit: len(LAYERS) - i for i, (_, units) in enumerate(LAYERS) for unit in units}
LAYER_OF = {unit: name for name, units in LAYERS for unit in units}

Graph = Dict[str, Set[str]]


@functools.lru_cache(maxsize=None)
def module_files() -> Dict[str, tuple]:
    """Module name -> (path, whether it is a package's __init__)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            found[".".join(parts)] = (path, is_package)
    return found


def imported(module: str, path, is_package: bool, known) -> Set[str]:
    """The modules of ``known`` that ``module`` imports anywhere in its source."""
    here = module if is_package else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:  # a submodule, or else an attribute of the module `base`
                names.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known:
            names.add(node.value)
    edges = set()
    for name in names:
        while name and name not in known:  # `import a.b.c` of a package a.b: the longest known prefix
            name = name.rpartition(".")[0]
        if name and name != module:
            edges.add(name)
    return edges


@functools.lru_cache(maxsize=None)
def module_graph() -> Graph:
    known = module_files()
    graph = {}
    for module, (path, is_package) in known.items():
        graph[module] = imported(module, path, is_package, known)
    return graph


def unit(module: str) -> str:
    """``dffml_k8s_analysis.records.parse`` -> ``dffml_k8s_analysis.records``; ``operations.x`` -> ``operations``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "dffml_k8s_analysis" else parts[0]


def unit_graph() -> Graph:
    graph: Graph = {}
    for module, targets in module_graph().items():
        graph.setdefault(unit(module), set()).update(unit(t) for t in targets if unit(t) != unit(module))
    return graph


def find_cycle(graph: Graph) -> Optional[List[str]]:
    """One cycle of the graph as a path that ends where it starts, or None."""
    visiting, done = set(), set()

    def visit(node, path):
        visiting.add(node)
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if target in visiting:
                return path[path.index(target):] + [target]
            if target not in done:
                cycle = visit(target, path)
                if cycle:
                    return cycle
        path.pop()
        visiting.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start, [])
            if cycle:
                return cycle
    return None


def edges():
    return [(source, target) for source, targets in sorted(module_graph().items()) for target in sorted(targets)]


def test_the_graph_sees_relative_imports_imports_in_functions_and_the_command_table():
    graph = module_graph()
    assert "dffml_k8s_analysis.records.parse" in graph["dffml_k8s_analysis.records.issues_source"]  # from .parse
    assert "dffml_k8s_analysis.model.plugin" in graph["dffml_k8s_analysis.cli.train"]  # inside main()
    assert "dffml_k8s_analysis.cli.train" in graph["dffml_k8s_analysis.cli.main"]  # COMMANDS, for importlib
    assert "dffml_k8s_analysis.records.parse" in graph["operations.parse"]


def test_a_cycle_is_reported_as_its_path():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_unit_has_its_layer():
    units = {unit(module) for module in module_graph()}
    assert units - set(RANK) == set(), "place new subpackages in LAYERS"
    assert set(RANK) - units == set(), "LAYERS names units that are gone"


def test_no_import_cycle_between_modules():
    cycle = find_cycle(module_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_import_cycle_between_subpackages():
    cycle = find_cycle(unit_graph())
    assert cycle is None, "import cycle between subpackages: " + " -> ".join(cycle)


def test_no_module_imports_from_a_higher_layer():
    upward = [f"{source} ({LAYER_OF[unit(source)]}) imports {target} ({LAYER_OF[unit(target)]})"
              for source, target in edges() if RANK[unit(target)] > RANK[unit(source)]]
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_nothing_outside_the_cli_imports_it():
    found = [f"{source} imports {target}" for source, target in edges() if unit(target) == CLI and unit(source) != CLI]
    assert not found, "the CLI imported from outside it:\n" + "\n".join(found)


def test_only_the_demo_and_emulate_github_commands_import_the_emulator():
    found = [f"{source} imports {target}" for source, target in edges()
             if unit(target) == EMULATOR and unit(source) != EMULATOR and source not in EMULATOR_USERS]
    assert not found, "the emulator imported by runtime code:\n" + "\n".join(found)


def test_only_the_dataflows_the_service_and_the_cli_import_operations():
    found = [f"{source} imports {target}" for source, target in edges()
             if unit(target) == OPERATIONS and unit(source) not in OPERATIONS_USERS | {OPERATIONS}]
    assert not found, "operations/ imported below the dataflow layer:\n" + "\n".join(found)


@pytest.mark.parametrize("user", sorted(EMULATOR_USERS))
def test_the_emulator_users_exist(user):
    assert user in module_graph()
