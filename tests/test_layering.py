"""Imports point down the layers, and the graph of packages has no cycle.

Every import in src/waifugan (module level or inside a function, since a lazy import is still a
dependency) is an edge between two units: a subpackage (`train`, `networks`, ...) or a
top-level module (`errors`, `export`, ...). An edge may go to the same layer or a lower one,
never up, and the edges between units form no cycle. A new unit must be given a layer here:
that is the decision of where it sits.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "waifugan"

# Bottom first; see docs/architecture.md for the picture.
LAYERS: list[set[str]] = [
    {"errors", "devices", "assets", "pixels", "bundled"},  # shared by all, import nothing of ours
    {"networks", "data", "prepare"},  # the model, the dataset reader, dataset making
    {"train"},  # training runs: loop, checkpoints, the run directory
    {"export", "waifugan", "interop"},  # model files in and out; `waifugan.load` (the root)
    {"generate", "metrics", "cards"},  # uses of a trained generator
    {"serve"},  # the web app
    {"cli", "demo", "__main__"},  # entry points
]
LAYER_OF = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def unit_of(module: str) -> str:
    """`waifugan.train.loop` → "train"; `waifugan.errors` → "errors"; `waifugan` → itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    """Dotted module name of a source file."""
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(source: str, package: str) -> set[str]:
    """Every waifugan module that source code in `package` imports (relative ones resolved)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)  # `from waifugan import load` names the root
    return {name for name in found if name == "waifugan" or name.startswith("waifugan.")}


def imported_modules(path: Path) -> set[str]:
    """Every waifugan module a source file imports."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return imports_in(path.read_text(encoding="utf-8"), package)


def unit_edges() -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) → the files where that edge occurs."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(SRC.rglob("*.py")):
        source = unit_of(module_name(path))
        for target in {unit_of(m) for m in imported_modules(path)} - {source}:
            edges[(source, target)].append(str(path.relative_to(SRC)))
    return edges


def test_every_unit_has_a_layer():
    units = {unit_of(module_name(p)) for p in SRC.rglob("*.py")}
    missing = sorted(units - set(LAYER_OF))
    assert not missing, f"give {missing} a layer in LAYERS (tests/test_layering.py)"


def test_imports_only_point_down():
    upward = [
        f"{src} (layer {LAYER_OF[src]}) imports {dst} (layer {LAYER_OF[dst]}) in {files[0]}"
        for (src, dst), files in sorted(unit_edges().items())
        if src in LAYER_OF and dst in LAYER_OF and LAYER_OF[dst] > LAYER_OF[src]
    ]
    assert not upward, "imports that do not point down:\n" + "\n".join(upward)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle in a directed graph as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_graph_has_no_cycle():
    graph: dict[str, set[str]] = defaultdict(set)
    for src, dst in unit_edges():
        graph[src].add(dst)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle between packages: " + " → ".join(cycle or [])


def test_the_checker_sees_lazy_relative_and_root_imports():
    # The rule itself is tested: a lazy import inside a function is an edge, relative imports
    # resolve against the package, and a two-node loop is reported as a cycle.
    code = (
        "import torch\n"
        "from . import layers\n"
        "from ..generate import images\n"
        "def f():\n    from waifugan import load\n"
    )
    found = imports_in(code, "waifugan.networks")
    assert found == {"waifugan.networks", "waifugan.generate", "waifugan"}
    assert {unit_of(m) for m in found} == {"networks", "generate", "waifugan"}
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
