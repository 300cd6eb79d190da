"""The shared allowances: four worker processes on one account stay within what that account may do.

Three accounts, each through its real adapter on its fake over loopback:

- eMAG (3 requests a second): the fake answers 429 to a fourth request inside one second (as
  eMAG does) and counts it. Through the fleet's Redis allowance the four processes together are
  never refused; each through its own allowance, as four single workers would, they are.
- an Airtable base (5 requests a second): the ground truth is when each request reached the fake,
  which also refuses a sixth inside a second. Together they keep to 5 in every second; each on
  its own, they send far more (a fake that lets them through shows by how much).
- a Google service account (60 reads a minute): a burst of 10, then 50 a minute, so that no
  minute holds more than 60. Four processes reading at once keep to that envelope in every
  window, by when the reads reached the fake; each on its own, they arrive together.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import redis
from sheetsync_fakes.airtable import OWNER, AccessToken, AirtableCall, FakeAirtable, FieldSpec
from sheetsync_fakes.emag import PREFIX, FakeEmag
from sheetsync_fakes.google_sheets import FakeSheets, SheetsCall, SheetSpec
from sheetsync_fakes.keys import service_account_key
from sheetsync_fakes.wire import serve

from sheetsync.stores.airtable import RATE_PER_SECOND
from sheetsync.stores.google_sheets import QUOTA_BURST, QUOTA_WINDOW_S, USER_REQUESTS_PER_MINUTE

HERE = Path(__file__).resolve().parent
PROCESSES = 4
PUSHES = 3
USER, PASSWORD = "seller@example.ro", "emag-fleet-password"
TOKEN = "patFleetQuota.0123456789abcdef"
ACCOUNT = "sync@fleet-project.iam.gserviceaccount.com"


def four_processes(
    kind: str, url: str, redis_url: str, prefix: str, mode: str, count: int, **env: str
) -> None:
    """Four ``quota_client.py`` processes, started together, each sending ``count`` requests."""
    # It waits up to 60 s on blpop: redis-py 8 reads with a 5 s socket timeout unless told not to.
    shared = redis.Redis.from_url(redis_url, socket_timeout=None)
    environ = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "SHEETSYNC_REDIS_URL": redis_url,
        "SHEETSYNC_FLEET_PREFIX": prefix,
        **env,
    }
    processes = [
        subprocess.Popen(
            [sys.executable, str(HERE / "quota_client.py"), kind, url, mode, str(count)], env=environ
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
                process.wait()


def busiest(arrivals: Sequence[float], window_s: float) -> int:
    """The most requests that arrived within any ``window_s`` seconds."""
    times = sorted(arrivals)
    return max(
        (sum(1 for t in times[i:] if t < start + window_s) for i, start in enumerate(times)), default=0
    )


def push_from_four_processes(redis_url: str, prefix: str, mode: str) -> FakeEmag:
    fake = FakeEmag(username=USER, password=PASSWORD)
    fake.add_offer(1, stock=0)
    fake.add_offer(2, stock=0)
    with serve(fake) as root:
        four_processes(
            "emag", root + PREFIX, redis_url, prefix, mode, PUSHES, EMAG_USER=USER, EMAG_PASSWORD=PASSWORD
        )
    return fake


def test_four_processes_share_one_accounts_allowance(redis_url: str, prefix: str) -> None:
    fake = push_from_four_processes(redis_url, prefix, "shared")
    assert fake.throttled == 0
    assert fake.count("offer/save") == PROCESSES * PUSHES


def test_without_the_shared_allowance_four_processes_overrun_it(redis_url: str, prefix: str) -> None:
    fake = push_from_four_processes(redis_url, prefix, "local")
    assert fake.throttled > 0  # what the shared allowance prevents: the test above can fail
    assert fake.count("offer/save") - fake.throttled == PROCESSES * PUSHES


LISTS = 6  #: per process: more than one base's second each, so four together must wait their turn


def list_from_four_processes(
    redis_url: str, prefix: str, mode: str, rate: int
) -> tuple[FakeAirtable, list[float]]:
    """Each process lists a table of one base; when each request reached a fake allowing ``rate`` a second."""
    fake = FakeAirtable(tokens={TOKEN: AccessToken(OWNER)}, rate_limit_per_second=rate)
    base = fake.create_base("Shop")
    fake.create_table(base, "Inventory", [FieldSpec("SKU", "singleLineText")])
    arrivals: list[float] = []

    def arrived(call: AirtableCall) -> None:
        arrivals.append(time.monotonic())

    fake.before_request = arrived  # only requests the fake let through
    with serve(fake) as root:
        four_processes(
            "airtable", root, redis_url, prefix, mode, LISTS, AIRTABLE_TOKEN=TOKEN, AIRTABLE_BASE=base
        )
    return fake, arrivals


def test_four_processes_on_one_airtable_base_keep_to_its_five_a_second(redis_url: str, prefix: str) -> None:
    fake, arrivals = list_from_four_processes(redis_url, prefix, "shared", RATE_PER_SECOND)
    assert len(arrivals) == len(fake.request_log) == PROCESSES * LISTS  # none refused
    assert busiest(arrivals, 1.0) <= RATE_PER_SECOND


def test_each_on_its_own_allowance_four_processes_overrun_an_airtable_base(
    redis_url: str, prefix: str
) -> None:
    # A fake that refuses nothing: the real base would close for 30 s at the sixth request.
    _, arrivals = list_from_four_processes(redis_url, prefix, "local", 1000)
    assert len(arrivals) == PROCESSES * LISTS
    assert busiest(arrivals, 1.0) > RATE_PER_SECOND


READS = 4  #: per process: more than the burst, all four together


def read_from_four_processes(redis_url: str, prefix: str, mode: str) -> tuple[FakeSheets, list[float]]:
    """Each process reads one spreadsheet as one service account; when each read reached the fake."""
    fake = FakeSheets()
    sheet = fake.create_spreadsheet("quota", sheets=(SheetSpec("Inventory"),), shared_with=[ACCOUNT])
    arrivals: list[float] = []

    def arrived(call: SheetsCall) -> None:
        arrivals.append(time.monotonic())

    fake.before_request = arrived
    with serve(fake) as root:
        key = json.dumps(service_account_key(ACCOUNT, f"{root}/token"))
        four_processes("sheets", root, redis_url, prefix, mode, READS, SHEETS_KEY=key, SHEETS_ID=sheet)
    return fake, arrivals


def most_reads(window_s: float) -> int:
    """The most reads of one account any ``window_s`` may hold: 60 in a minute, 10 in a second."""
    return int(QUOTA_BURST + (USER_REQUESTS_PER_MINUTE - QUOTA_BURST) * window_s / QUOTA_WINDOW_S)


def test_four_processes_on_one_service_account_keep_to_its_reads_a_minute(
    redis_url: str, prefix: str
) -> None:
    fake, arrivals = read_from_four_processes(redis_url, prefix, "shared")
    assert len(arrivals) == fake.count("spreadsheets.values.get") == PROCESSES * READS
    for window_s in (1.0, 5.0, QUOTA_WINDOW_S):
        assert busiest(arrivals, window_s) <= most_reads(window_s), window_s


def test_each_on_its_own_allowance_four_processes_read_at_once(redis_url: str, prefix: str) -> None:
    _, arrivals = read_from_four_processes(redis_url, prefix, "local")
    assert len(arrivals) == PROCESSES * READS
    assert busiest(arrivals, 1.0) > most_reads(1.0)
