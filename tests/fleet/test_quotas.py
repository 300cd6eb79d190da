"""The shared allowance: four worker processes on one eMAG account stay within its 3 requests a second.

The ground truth is the eMAG fake, which answers 429 to a fourth request inside one second (as
eMAG does) and counts it. Through the fleet's Redis allowance the four processes together are
never refused; each through its own allowance, as four single workers would, they are.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis
from sheetsync_fakes.emag import PREFIX, FakeEmag
from sheetsync_fakes.wire import serve

HERE = Path(__file__).resolve().parent
PROCESSES = 4
PUSHES = 3
USER, PASSWORD = "seller@example.ro", "emag-fleet-password"


def push_from_four_processes(redis_url: str, prefix: str, mode: str) -> FakeEmag:
    fake = FakeEmag(username=USER, password=PASSWORD)
    fake.add_offer(1, stock=0)
    fake.add_offer(2, stock=0)
    shared = redis.Redis.from_url(redis_url)
    environ = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "SHEETSYNC_REDIS_URL": redis_url,
        "SHEETSYNC_FLEET_PREFIX": prefix,
        "EMAG_USER": USER,
        "EMAG_PASSWORD": PASSWORD,
    }
    with serve(fake) as root:
        url = root + PREFIX
        processes = [
            subprocess.Popen(
                [sys.executable, str(HERE / "quota_client.py"), url, mode, str(PUSHES)], env=environ
            )
            for _ in range(PROCESSES)
        ]
        try:
            for _ in range(PROCESSES):  # every process ready, then all at once
                assert shared.blpop([prefix + "ready"], timeout=60) is not None
            shared.rpush(prefix + "go", *range(PROCESSES))
            assert [p.wait(60) for p in processes] == [0] * PROCESSES
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
    return fake


def test_four_processes_share_one_accounts_allowance(redis_url: str, prefix: str) -> None:
    fake = push_from_four_processes(redis_url, prefix, "shared")
    assert fake.throttled == 0
    assert fake.count("offer/save") == PROCESSES * PUSHES


def test_without_the_shared_allowance_four_processes_overrun_it(redis_url: str, prefix: str) -> None:
    fake = push_from_four_processes(redis_url, prefix, "local")
    assert fake.throttled > 0  # what the shared allowance prevents: the test above can fail
    assert fake.count("offer/save") - fake.throttled == PROCESSES * PUSHES
