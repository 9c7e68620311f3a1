"""The package's shape: its modules import each other without a cycle (function-level imports
included), so each recipe piece (batching, loss, loading, evaluation...) can be used on its own."""

from __future__ import annotations

import ast
import os

import neftune_trainer

PACKAGE_DIR = os.path.dirname(neftune_trainer.__file__)


def package_imports(package_dir: str = PACKAGE_DIR) -> dict:
    """{module: the package's modules it imports anywhere in its code}."""
    modules = {f[:-3] for f in os.listdir(package_dir) if f.endswith(".py")}
    graph = {}
    for m in modules:
        with open(os.path.join(package_dir, m + ".py"), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:  # from . import x
                    found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("neftune_trainer."):
                found.add(node.module.split(".")[1])
        graph[m] = found & modules - {m}
    return graph


def find_cycle(graph: dict):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(m, path):
        state[m] = "open"
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                return path[path.index(n):] + [n]
            if n not in state:
                cycle = visit(n, path + [n])
                if cycle:
                    return cycle
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            cycle = visit(m, [m])
            if cycle:
                return cycle
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_between_trainer_modules():
    graph = package_imports()
    assert {"train", "evaluation", "batching", "loss", "loading"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    # The recipe pieces stand below the loop: none of them needs train.py.
    assert not {m for m, deps in graph.items() if "train" in deps} - {"cli"}
