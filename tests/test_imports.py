"""The package's import graph: no circles, and every arrow points down the layers of DESIGN.md.

Built from the source with ``ast`` alone (nothing is imported), so it reads every import:
module level and the lazy ones inside functions. Imports under ``if TYPE_CHECKING:`` are
annotations only and never run; they are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xvanish"

#: DESIGN.md's layers, lowest first: a module may import its own layer and the layers below.
#: A name covers the module and everything under it; the longest matching name wins.
LAYERS: list[tuple[str, ...]] = [
    ("xvanish.stats", "xvanish.adaptive", "xvanish.base"),  # the floor: statistics, stopping rule, protocol types
    ("xvanish.reduce",),  # torch reductions of per-draw gradients
    ("xvanish.core", "xvanish.devices", "xvanish.draws"),  # validation, seeds, draw streams, measure, atomic files
    ("xvanish.theory",),  # closed forms
    ("xvanish.domains", "xvanish.data", "xvanish.examples"),  # the domains and what they read
    ("xvanish.registry", "xvanish.fit", "xvanish.testing"),  # finding domains, fits, the plugin check
    ("xvanish.plan", "xvanish.resume", "xvanish.folder"),  # points, sweeps, resume, the folder lock
    ("xvanish.report",),  # tables, plots, multirun aggregation
    ("xvanish.schema", "xvanish.experiments", "xvanish.cli", "xvanish.__main__", "xvanish"),  # the front door
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (
        isinstance(test, ast.Name)
        and test.id == "TYPE_CHECKING"
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If) and _type_checking_only(node):
            found += _imports(ast.Module(body=node.orelse, type_ignores=[]))
        else:
            found += _imports(node)
    return found


def _known(name: str) -> str | None:
    """The package module ``name`` resolves to (itself, or the nearest package above it)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imported_by(name: str) -> set[str]:
    """The package's modules that module ``name`` imports (absolute or relative, at any depth)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    here = name if is_package(name) else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            bases = [alias.name for alias in node.names]
            names: list[str] = []
        else:
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            bases, names = [base], [alias.name for alias in node.names]
        for base in bases:
            # `from pkg import sub` imports the module pkg.sub when there is one, else a name of pkg.
            subs = [f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES]
            for target in subs or [base]:
                found = _known(target)
                if found is not None and found != name and target.split(".")[0] == "xvanish":
                    targets.add(found)
    return targets


GRAPH = {name: imported_by(name) for name in MODULES}


def layer_of(name: str) -> int:
    matches = [
        (len(prefix), i)
        for i, layer in enumerate(LAYERS)
        for prefix in layer
        if name == prefix or name.startswith(prefix + ".")
    ]
    assert matches, f"{name} is in no layer of tests/test_imports.py: add it where DESIGN.md places it"
    return max(matches)[1]


def domain_of(name: str) -> str | None:
    """``xvanish.domains.rnn.cells`` -> ``rnn``; None outside a domain (and for the domains package)."""
    parts = name.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "domains" else None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[a, b, ..., a]``, or None (depth-first search, colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


class TestTheChecker:
    """The checker itself finds what it is meant to find (so a clean result means something)."""

    def test_finds_a_circle(self):
        assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
        assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None

    def test_reads_relative_lazy_and_package_imports(self):
        # vqc/__init__.py: `from . import sampling` (a submodule by relative import)
        assert "xvanish.domains.vqc.sampling" in GRAPH["xvanish.domains.vqc"]
        # core.py imports reduce lazily, inside a function
        assert "xvanish.reduce" in GRAPH["xvanish.core"]
        # module/build.py's `from .config import ModuleConfig` sits under TYPE_CHECKING
        assert "xvanish.domains.module.config" not in GRAPH["xvanish.domains.module.build"]

    def test_layers_cover_every_module(self):
        for name in MODULES:
            layer_of(name)


def test_no_import_circles():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_arrows_point_down(name):
    """A module imports only its own layer and those below (DESIGN.md, Layers)."""
    upward = sorted(t for t in GRAPH[name] if layer_of(t) > layer_of(name))
    assert not upward, f"{name} (layer {layer_of(name)}) imports upward: " + ", ".join(
        f"{t} (layer {layer_of(t)})" for t in upward
    )


@pytest.mark.parametrize("name", sorted(n for n in MODULES if domain_of(n)))
def test_a_domain_never_imports_another(name):
    others = sorted(t for t in GRAPH[name] if domain_of(t) not in (None, domain_of(name)))
    assert not others, f"{name} imports another domain: {others}"
