"""DESIGN §1: imports point down only. Parses every module of the layered packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("modelops", "flows", "tasks", "gateway", "dispatch", "adapters", "analysis", "registry")

# What each layer may import besides itself and `modelops.settings` (a leaf anyone may use).
ALLOWED: dict[str, frozenset[str]] = {
    "modelops": frozenset(LAYERS),
    "flows": frozenset({"tasks", "dispatch", "adapters", "analysis", "registry"}),
    "tasks": frozenset({"dispatch", "adapters", "analysis", "registry"}),
    "gateway": frozenset({"dispatch", "adapters", "analysis", "registry"}),
    "dispatch": frozenset({"adapters", "registry"}),
    "registry": frozenset({"adapters", "analysis"}),
    "adapters": frozenset(),
    "analysis": frozenset(),
}
LEAVES = frozenset({"modelops.settings"})


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Absolute module names imported by one file, with their line numbers."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def violations(layer: str) -> list[str]:
    problems = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for line, module in imported_modules(path):
            top = module.split(".")[0]
            if top not in LAYERS or top == layer:
                continue
            if module in LEAVES or any(module.startswith(f"{leaf}.") for leaf in LEAVES):
                continue
            if top not in ALLOWED[layer]:
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return problems


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_point_down_only(layer: str) -> None:
    assert violations(layer) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    upward = tmp_path / "sample.py"
    upward.write_text("from flows.promote import promote\nimport registry.orm\n")
    assert imported_modules(upward) == [(1, "flows.promote"), (2, "registry.orm")]
    assert "flows" not in ALLOWED["registry"] and "registry" not in ALLOWED["adapters"]
