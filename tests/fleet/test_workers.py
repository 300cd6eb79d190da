"""Real Celery worker processes on the real Redis: no overlapping cycles through a kill and a restart.

The ground truth is the record the test app writes around each cycle (recording_app.py), not
what the fleet reports. One worker is killed (SIGKILL) in the middle of a cycle that blocks until
then; the others keep running every merchant's cycles meanwhile; a new worker is started. A
prefork worker stops hung cycles at their time limits, from the merchant's lock expiry.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from celery.exceptions import TimeLimitExceeded
from celery.result import AsyncResult

from sheetsync.fleet.tasks import CYCLE_TASK, fleet_from, make_app
from sheetsync.model import ChannelName, Movement, OrderLine, Sku

HERE = Path(__file__).resolve().parent
LOCK_S = 1.5
DEADLINE_S = 30.0


def read(record: Path) -> list[tuple[str, str, int, float]]:
    if not record.exists():
        return []
    lines = record.read_text(encoding="utf-8").splitlines()
    return [(w, m, int(pid), float(at)) for w, m, pid, at in (line.split() for line in lines)]


def until(what: str, check: Callable[[], bool]) -> None:
    """Wait for ``check`` (polled), failing after DEADLINE_S: never a bare sleep."""
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def workers(
    redis_url: str, prefix: str, merchants: Callable[..., Path], tmp_path: Path
) -> Iterator[tuple[dict[str, str], list[subprocess.Popen[bytes]], Path]]:
    environ = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "SHEETSYNC_REDIS_URL": redis_url,
        "SHEETSYNC_FLEET_PREFIX": prefix,
        "SHEETSYNC_MERCHANTS": str(merchants("acme", "bolt", "stuck", "slow", "deaf")),
        "FLEET_TEST_RECORD": str(tmp_path / "record.txt"),
        "FLEET_TEST_STUCK": "stuck",
        "FLEET_TEST_SLOW": "slow",
        "FLEET_TEST_DEAF": "deaf",
        "FLEET_TEST_LOCK_S": str(LOCK_S),
    }
    started: list[subprocess.Popen[bytes]] = []
    yield environ, started, tmp_path
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start(
    environ: dict[str, str], started: list[subprocess.Popen[bytes]], logs: Path, pool: str = "solo"
) -> subprocess.Popen[bytes]:
    number = len(started)
    with (logs / f"worker-{number}.log").open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "recording_app",
                "worker",
                "--pool",
                pool,
                "--concurrency",
                "1",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "WARNING",
                "-n",
                f"w{number}@%h",
            ],
            cwd=HERE,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    started.append(process)
    return process


def test_no_two_cycles_of_a_merchant_overlap_through_a_kill_and_a_restart(
    workers: tuple[dict[str, str], list[subprocess.Popen[bytes]], Path],
) -> None:
    environ, started, logs = workers
    record = Path(environ["FLEET_TEST_RECORD"])
    app = make_app(environ)
    for _ in range(3):
        start(environ, started, logs)
    results: list[AsyncResult] = []

    def ask(*names: str) -> list[dict[str, object]]:
        sent = [app.send_task(CYCLE_TASK, args=(name,)) for name in names]
        results.extend(sent)
        return [r.get(timeout=DEADLINE_S) for r in sent]

    app.send_task(CYCLE_TASK, args=("stuck",))
    until("a worker to start the stuck cycle", lambda: any(e[:2] == ("enter", "stuck") for e in read(record)))
    stuck_pid, stuck_at = next((pid, at) for w, m, pid, at in read(record) if (w, m) == ("enter", "stuck"))
    stuck = next(p for p in started if p.pid == stuck_pid)

    # The other two run every merchant meanwhile, past twice the lock's expiry: the stuck
    # worker's renewals keep its lock, so its merchant is skipped, the others run.
    statuses: dict[str, set[object]] = defaultdict(set)
    while time.time() < stuck_at + 2 * LOCK_S:
        for outcome in ask("acme", "bolt", "stuck"):
            statuses[str(outcome["merchant"])].add(outcome["status"])
    assert statuses["stuck"] == {"busy"}
    assert "ran" in statuses["acme"] & statuses["bolt"]

    stuck.send_signal(signal.SIGKILL)
    stuck.wait()
    killed_at = time.time()
    start(environ, started, logs)  # the restart
    until(
        "another worker to take the stuck merchant over", lambda: ask("stuck", "acme")[0]["status"] == "ran"
    )

    # Ground truth: per merchant, no two cycles' [enter, exit] overlap (the killed one ends at the kill).
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    open_: dict[tuple[str, int], float] = {}
    for what, merchant, pid, at in read(record):
        if what == "enter":
            open_[(merchant, pid)] = at
        else:
            spans[merchant].append((open_.pop((merchant, pid)), at))
    assert list(open_) == [("stuck", stuck_pid)]  # killed mid-cycle
    spans["stuck"].append((stuck_at, killed_at))
    for merchant, found in spans.items():
        found.sort()
        for (_, end), (begin, _) in itertools.pairwise(found):
            assert begin >= end, f"{merchant}: two cycles overlapped"
    assert any(begin >= killed_at for begin, _ in spans["stuck"])
    assert len(spans["acme"]) >= 2
    for result in results:
        result.forget()


def test_time_limits_stop_a_hung_cycle_as_its_merchants_failure_and_kill_a_deaf_one(
    workers: tuple[dict[str, str], list[subprocess.Popen[bytes]], Path], client: redis.Redis
) -> None:
    environ, started, logs = workers
    # The pool looks at its tasks' clocks once a second: the soft and hard limits must be further
    # apart than that for the soft one to be seen first (a fifth of 5 s; in production, a minute).
    environ["FLEET_TEST_LOCK_S"] = "5"
    record = Path(environ["FLEET_TEST_RECORD"])
    app, fleet = make_app(environ), fleet_from(environ)
    at = datetime.now(UTC)
    assert fleet.deliver(
        "slow", "d-1", [OrderLine(ChannelName("shopify"), "1", "1", Sku("A"), 1, Movement.SALE, at, "")]
    )
    worker = start(environ, started, logs, pool="prefork")  # the pool that enforces time limits

    def ask(name: str) -> dict[str, object]:
        result = app.send_task(CYCLE_TASK, args=(name,))
        try:
            return dict(result.get(timeout=DEADLINE_S))
        finally:
            result.forget()

    # The soft limit: raised inside the cycle, counted as the merchant's failure, its sale put back.
    stopped = ask("slow")
    assert stopped["status"] == "failed"
    assert str(stopped["detail"]).startswith("SoftTimeLimitExceeded")
    pid = read(record)[0][2]
    assert [entry[:3] for entry in read(record)] == [("enter", "slow", pid), ("exit", "slow", pid)]
    assert client.get(fleet.key("fails", "slow")) == b"1"
    assert client.llen(fleet.key("inbox", "slow")) == 1  # the sale waits for the next cycle
    assert not client.exists(fleet.key("lock", "slow"))  # given back
    assert ask("acme")["status"] == "ran"
    assert {e[2] for e in read(record)} == {pid}  # the same worker process went on

    # The hard limit: the process is killed mid-cycle; its lock is left to expire, never released.
    result = app.send_task(CYCLE_TASK, args=("deaf",))
    with pytest.raises(TimeLimitExceeded):
        result.get(timeout=DEADLINE_S)
    result.forget()
    killed_pid = next(pid for what, name, pid, _ in read(record) if (what, name) == ("enter", "deaf"))
    until("the killed process to be gone", lambda: not alive(killed_pid))
    gone_at = time.time()
    assert client.pttl(fleet.key("lock", "deaf")) > 0  # not given back: it expires by itself
    until(
        "the deaf merchant's lock to expire and its next cycle to run", lambda: ask("deaf")["status"] == "ran"
    )
    entered = [(pid, at) for what, name, pid, at in read(record) if (what, name) == ("enter", "deaf")]
    assert len(entered) == 2
    assert entered[1][0] != killed_pid  # a new process replaced the killed one
    assert entered[1][1] > gone_at  # the next cycle began after the killed one ended, never beside it
    assert worker.poll() is None  # the worker itself lives on


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed and not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
