"""The repository stands on its own: no code path reaches a folder beside it.

A fresh clone with nothing next to it must pass its own tests, so every file a test, benchmark or
demo reads lives inside the repository (the API reference material in
``fakes/sheetsync_fakes/reference``).  This reads every Python file and build script and fails on a
path that climbs out of the checkout: a ``parents[N]`` above the repository root, or a ``..`` path
part.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    p
    for folder in ("sheetsync", "fakes", "tests", "benchmarks")
    for p in (ROOT / folder).rglob("*.py")
    # This file itself plants escapes to show the check catches them.
    if ".venv" not in p.parts and p.name != "test_self_contained.py"
)
SCRIPTS = [ROOT / "Makefile", ROOT / ".ci" / "run", ROOT / "Procfile"]
CLIMB = re.compile(r"(^|[\s\"'=/])\.\.(/|\\|$)")


def escapes(source: str, relative: Path) -> list[str]:
    """Where ``source`` (the file at ``relative`` in the repository) names a path outside it."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text == ".." or CLIMB.search(text):
                found.append(f"line {node.lineno}: {text[:60]!r}")
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "parents"
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, int)
            and node.slice.value > len(relative.parts) - 1
        ):
            found.append(f"line {node.lineno}: parents[{node.slice.value}] is above the repository")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_python_file_reaches_outside_the_repository(path: Path) -> None:
    assert escapes(path.read_text(encoding="utf-8"), path.relative_to(ROOT)) == []


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_no_build_script_reaches_outside_the_repository(path: Path) -> None:
    assert "../" not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("planted", "where"),
    [
        ('REF = Path(__file__).resolve().parents[2] / "x"', Path("tests/t.py")),
        ('REF = Path(__file__).resolve().parent / ".." / "x"', Path("tests/t.py")),
        ('REF = "../vendor/schema.json"', Path("tests/t.py")),
    ],
)
def test_the_check_catches_a_planted_escape(planted: str, where: Path) -> None:
    assert escapes(planted, where)


def test_a_path_inside_the_repository_passes() -> None:
    assert escapes('REF = Path(__file__).resolve().parents[1] / "benchmarks"', Path("tests/t.py")) == []


def test_the_reference_files_are_the_ones_the_readme_lists() -> None:
    """Every reference file is named, with the checksum of the bytes here, in its README."""
    import hashlib

    from sheetsync_fakes import REFERENCE

    readme = (REFERENCE / "README.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^\| `([^`]+)` \|[^|]+\|[^|]+\| `([0-9a-f]{64})` \|", readme, re.MULTILINE))
    present = {
        str(p.relative_to(REFERENCE)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in REFERENCE.rglob("*")
        if p.is_file() and p.name != "README.md"
    }
    assert present == listed
