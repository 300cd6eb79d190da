"""The fleet's tests run against the real Redis on 127.0.0.1:6379, each under its own key prefix.

Without a reachable Redis they are skipped, except under CI=true, where they fail (.ci/run
starts one). Every key a test made, its prefix's, is deleted after it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sheetsync.cli import main

redis = pytest.importorskip("redis")
if TYPE_CHECKING:
    from redis import Redis  # the module above, for annotations

REDIS_URL = "redis://127.0.0.1:6379/0"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"no Redis at {REDIS_URL} under CI ({error}); .ci/run starts one")
        pytest.skip(f"no Redis at {REDIS_URL}: {error}")
    return REDIS_URL


@pytest.fixture
def client(redis_url: str) -> Redis:
    connection: Redis = redis.Redis.from_url(redis_url)
    return connection


@pytest.fixture
def prefix(client: Redis) -> Iterator[str]:
    """A key prefix (and Celery queue) of this test's own; everything under it is deleted after."""
    mine = f"sheetsync-test-{uuid.uuid4().hex[:12]}:"
    yield mine
    for pattern in (f"{mine}*", f"_kombu.binding.{mine}*"):
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)


@pytest.fixture
def merchants(tmp_path: Path) -> Callable[..., Path]:
    """``merchants("acme", "bolt")``: a registry of workbook-and-sandbox merchants (`sheetsync init`)."""

    def make(*names: str) -> Path:
        folder = tmp_path / "merchants"
        folder.mkdir(exist_ok=True)
        for name in names:
            home = tmp_path / "shops" / name
            assert main(["init", "--dir", str(home)]) == 0
            text = (home / "sheetsync.toml").read_text(encoding="utf-8")
            workbook = (home / "inventory.xlsx").as_posix()
            assert 'path = "inventory.xlsx"' in text
            (folder / f"{name}.toml").write_text(
                text.replace('path = "inventory.xlsx"', f'path = "{workbook}"'), encoding="utf-8"
            )
        return folder

    return make
