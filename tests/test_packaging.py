"""The installed package is the product: the wheel holds sheetsync and nothing of the test machinery."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

# setuptools before 71.1 (the venv has 65.5) ships no annotations; later ones do, so the ignore may go unused.
from setuptools import find_packages  # type: ignore[import-untyped, unused-ignore]

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_wheel_packages_only_the_product() -> None:
    found = PROJECT["tool"]["setuptools"]["packages"]["find"]
    packages = find_packages(where=str(ROOT), include=found["include"])
    assert "sheetsync" in packages
    assert "sheetsync.core" in packages
    assert [p for p in packages if not (p == "sheetsync" or p.startswith("sheetsync."))] == []


def test_the_fakes_and_campaigns_live_outside_the_product() -> None:
    assert not (ROOT / "sheetsync" / "testing").exists()
    assert not (ROOT / "sheetsync" / "faults").exists()
    assert (ROOT / "fakes" / "sheetsync_fakes" / "__init__.py").is_file()
    assert (ROOT / "benchmarks" / "campaigns" / "__init__.py").is_file()


def test_every_directly_imported_third_party_package_is_declared() -> None:
    declared = {
        dep.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower().replace("-", "_")
        for dep in PROJECT["project"]["dependencies"]
        + PROJECT["project"]["optional-dependencies"]["plot"]
        + PROJECT["project"]["optional-dependencies"]["fleet"]
    }
    # import name -> distribution name, where they differ
    distribution = {"google": "google_auth", "yaml": "pyyaml"}
    imported = set()
    for path in (ROOT / "sheetsync").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("sheetsync", "sheetsync_fakes"):
                    imported.add(distribution.get(top, top).lower())
    assert imported - declared == set()
