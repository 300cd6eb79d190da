"""The import direction: core imports no edge; stores and channels never import core or worker."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sheetsync"

#: package prefix → sheetsync modules it must not import
FORBIDDEN = {
    "sheetsync.core": (
        "sheetsync.stores",
        "sheetsync.channels",
        "sheetsync.worker",
        "sheetsync.cli",
        "sheetsync.config",
        "sheetsync_fakes",
        "sheetsync.demo",
        "campaigns",
    ),
    "sheetsync.stores": (
        "sheetsync.core",
        "sheetsync.worker",
        "sheetsync.cli",
        "sheetsync_fakes",
        "campaigns",
    ),
    "sheetsync.channels": (
        "sheetsync.core",
        "sheetsync.worker",
        "sheetsync.cli",
        "sheetsync_fakes",
        "campaigns",
    ),
    "sheetsync_fakes": (
        "sheetsync.core",
        "sheetsync.stores",
        "sheetsync.channels",
        "sheetsync.worker",
        "campaigns",
    ),
    "sheetsync.model": ("sheetsync.",),
    "sheetsync.errors": ("sheetsync.",),
}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_dependencies_point_inward(path: Path) -> None:
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    for prefix, banned in FORBIDDEN.items():
        if module == prefix or module.startswith(prefix + "."):
            bad = sorted(name for name in imports(path) if name.startswith(banned))
            assert bad == [], f"{module} imports {bad}"


def test_the_walk_sees_the_core() -> None:
    assert any(p.parent.name == "core" for p in MODULES)
