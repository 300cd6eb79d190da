"""The import rule as an allowlist: each layer names what it may import, and anything else fails.

Pure core, thin edges (docs/architecture.md):

- ``sheetsync.model`` and ``sheetsync.errors``: the standard library's pure modules only.
- ``sheetsync.core``: those, plus the model and the errors. No I/O, no clock, no environment: no
  ``os``, ``time``, ``logging``, no HTTP client, and no ``datetime.now()``.
- ``sheetsync.stores`` and ``sheetsync.channels``: the model, the errors, the retry policy, their
  own package, the standard library and their own clients; never the core, the worker or the CLI.
- The API fakes (``sheetsync_fakes``) import nothing of the product; the product imports neither
  the fakes nor the fault campaigns, except the demo's Google Sheets mode, lazily.

``from sheetsync import retry`` counts as ``sheetsync.retry``; relative imports are resolved.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Standard-library modules with no I/O, clock or environment in them.
PURE = frozenset(
    [
        "__future__",
        "abc",
        "bisect",
        "collections",
        "dataclasses",
        "datetime",
        "decimal",
        "enum",
        "fractions",
        "functools",
        "heapq",
        "itertools",
        "json",
        "math",
        "numbers",
        "operator",
        "re",
        "statistics",
        "string",
        "types",
        "typing",
        "unicodedata",
    ]
)
#: Third-party clients each edge is built on.
STORE_CLIENTS = frozenset(
    {"filelock", "gspread", "google", "openpyxl", "orjson", "pyairtable", "pyrate_limiter", "requests"}
)
CHANNEL_CLIENTS = frozenset({"httpx", "google", "orjson"})
EDGE_BASE = frozenset({"sheetsync.model", "sheetsync.errors", "sheetsync.retry", "sheetsync.pacing"})
FORBIDDEN_EVERYWHERE = ("sheetsync_fakes", "campaigns")


def _stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names


def allowed(module: str, imported: str) -> bool:
    """Whether ``module`` (a dotted name of ours) may import ``imported``."""
    top = imported.split(".")[0]
    ours = top == "sheetsync"

    def within(*packages: str) -> bool:
        return any(imported == p or imported.startswith(p + ".") for p in packages)

    if module in ("sheetsync.model", "sheetsync.errors"):
        return top in PURE
    if within_package(module, "sheetsync.core"):
        return top in PURE or within("sheetsync.model", "sheetsync.errors", "sheetsync.core")
    if within_package(module, "sheetsync.stores"):
        if ours:
            return within(*EDGE_BASE, "sheetsync.stores")
        return _stdlib(imported) or top in STORE_CLIENTS
    if within_package(module, "sheetsync.channels"):
        if ours:
            return within(*EDGE_BASE, "sheetsync.channels")
        return _stdlib(imported) or top in CHANNEL_CLIENTS
    if within_package(module, "sheetsync_fakes"):
        return not ours and top not in ("campaigns",)
    return top not in FORBIDDEN_EVERYWHERE


def within_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def imports(source: str, module: str, *, lazy_ok: bool = False) -> Iterable[tuple[int, str]]:
    """(line, dotted name) of every import in ``source``; ``lazy_ok`` skips those inside functions."""
    tree = ast.parse(source)
    nested = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
    }
    package = module.rsplit(".", 1)[0] if not module.endswith("__init__") else module
    for node in ast.walk(tree):
        if lazy_ok and id(node) in nested:
            continue
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            if base in ("sheetsync", "sheetsync.core", "sheetsync.stores", "sheetsync.channels"):
                # ``from sheetsync import retry`` imports the module sheetsync.retry
                yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)
            else:
                yield node.lineno, base


def clock_calls(source: str) -> list[int]:
    """Lines that read the clock or the environment (for the core)."""
    hits = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in ("now", "utcnow", "today", "environ", "getenv"):
            hits.append(node.lineno)
    return hits


def violations(source: str, module: str) -> list[str]:
    """What ``source``, as the module ``module``, imports against the rule."""
    lazy_ok = module == "sheetsync.demo"  # the demo's Google Sheets mode loads the fakes on demand
    found = [
        f"line {line}: {module} imports {name}"
        for line, name in imports(source, module, lazy_ok=lazy_ok)
        if not allowed(module, name)
    ]
    if within_package(module, "sheetsync.core") or module in ("sheetsync.model", "sheetsync.errors"):
        found += [f"line {line}: {module} reads the clock or the environment" for line in clock_calls(source)]
    return found


def _module(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


PRODUCT = sorted((ROOT / "sheetsync").rglob("*.py"))
FAKES = sorted((ROOT / "fakes" / "sheetsync_fakes").rglob("*.py"))


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_product_imports_only_what_its_layer_allows(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8"), _module(path, ROOT)) == []


@pytest.mark.parametrize("path", FAKES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_fakes_import_nothing_of_the_product(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8"), _module(path, ROOT / "fakes")) == []


@pytest.mark.parametrize(
    ("module", "planted"),
    [
        ("sheetsync.core.plan", "import httpx"),
        ("sheetsync.core.plan", "from httpx import Client"),
        ("sheetsync.core.plan", "import os"),
        ("sheetsync.core.plan", "from sheetsync import worker"),
        ("sheetsync.core.plan", "from sheetsync.stores import MasterStore"),
        ("sheetsync.core.plan", "from ..channels import Channel"),
        ("sheetsync.core.plan", "from datetime import datetime\nNOW = datetime.now()"),
        ("sheetsync.model", "from sheetsync.core import plan"),
        ("sheetsync.stores.workbook", "from sheetsync.core.cells import parse_rows"),
        ("sheetsync.stores.workbook", "import httpx"),
        ("sheetsync.channels.shopify", "from sheetsync import worker"),
        ("sheetsync.channels.shopify", "import gspread"),
        ("sheetsync.worker", "from sheetsync_fakes.wire import serve"),
        ("sheetsync.cli", "import campaigns.crash"),
        ("sheetsync_fakes.shopify", "from sheetsync.model import Sku"),
    ],
)
def test_a_planted_import_is_caught(module: str, planted: str) -> None:
    assert violations(planted, module) != []


def test_what_the_rule_allows_passes() -> None:
    assert (
        violations("from collections.abc import Mapping\nfrom sheetsync.model import Sku", "sheetsync.core.x")
        == []
    )
    assert violations("import httpx\nfrom sheetsync import retry", "sheetsync.channels.x") == []
    assert violations("def f():\n    from sheetsync_fakes.wire import serve", "sheetsync.demo") == []


def test_the_walk_sees_every_layer() -> None:
    names = {_module(p, ROOT) for p in PRODUCT}
    assert {"sheetsync.core.plan", "sheetsync.stores.workbook", "sheetsync.channels.shopify"} <= names
    assert FAKES
