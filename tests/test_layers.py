"""Packages depend one way: auth → forms → submissions → cases → review → care → webhooks.

A lower package tells a higher one that something happened through domain events
(:mod:`fieldapp.events`), never by importing it. This test reads every import of the domain
modules (parsed with :mod:`ast`, function-level imports included) and fails on an upward one.

What it checks: the domain modules (models, services, parsing, mapping, events,
subscribers ...) of each layered package. What it leaves out: the web layer inside those packages
(``views.py``, ``pages.py``, ``*_views.py``, ``schemas.py``, ``page_helpers.py``), which
sits above every domain package, and imports under ``if TYPE_CHECKING:`` (annotations only).
Domain modules must not import the web layer (``fieldapp.web``, ``openrosa``, ``fill``, the app).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "fieldapp"

#: bottom first; ``audit`` is infrastructure every package writes to (its one mention of
#: ``auth`` is an annotation)
LAYERS = ["audit", "auth", "forms", "submissions", "cases", "review", "care", "webhooks"]
#: above every domain package
WEB = {"web", "openrosa", "fill", "app", "cli", "serve", "wiring", "demo", "migrate", "simulation"}
WEB_MODULES = {"views.py", "pages.py", "schemas.py", "page_helpers.py"}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "fieldapp":
                found.extend((node.lineno, f"fieldapp.{a.name}") for a in node.names)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def upward_imports() -> list[str]:
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if len(parts) < 2 or parts[0] not in LAYERS:
            continue
        if parts[-1] in WEB_MODULES or parts[-1].endswith("_views.py"):
            continue
        mine = LAYERS.index(parts[0])
        for lineno, module in _imports(ast.parse(path.read_text(), str(path))):
            names = module.split(".")
            if names[0] != "fieldapp" or len(names) < 2:
                continue
            target = names[1]
            if (target in LAYERS and LAYERS.index(target) > mine) or target in WEB:
                problems.append(f"{path.relative_to(ROOT.parent)}:{lineno} imports {module}")
    return problems


def test_domain_packages_depend_one_way() -> None:
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from fieldapp.cases.models import Case\n"
        "def f():\n    from fieldapp.cases.services import record_case_work\n"
    )
    assert [m for _n, m in _imports(tree)] == ["typing", "fieldapp.cases.services"]
