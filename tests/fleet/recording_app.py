"""The fleet's Celery app for the worker-process tests: the real cycle, with a record around it.

Each cycle appends ``enter``/``exit`` lines (merchant, pid, wall time) to the file
``FLEET_TEST_RECORD`` names, one ``os.write`` each on an O_APPEND file, so the lines of several
worker processes never mix: the test's ground truth, kept apart from the code under test. The
first cycle of the merchant ``FLEET_TEST_STUCK`` names blocks until its worker is killed. Those of
``FLEET_TEST_SLOW`` hang until Celery's soft time limit stops them; the first of
``FLEET_TEST_DEAF`` hangs through the soft limit too, until the hard one kills its process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from celery.exceptions import SoftTimeLimitExceeded
from redis import Redis

from sheetsync.fleet.registry import Merchant
from sheetsync.fleet.runner import merchant_cycle
from sheetsync.fleet.tasks import make_app
from sheetsync.model import OrderLine
from sheetsync.pacing import Quotas
from sheetsync.worker import CycleReport


def _note(what: str, merchant: str) -> None:
    fd = os.open(os.environ["FLEET_TEST_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{what} {merchant} {os.getpid()} {time.time():.6f}\n".encode())
    finally:
        os.close(fd)


def recorded(merchant: Merchant, delivered: Sequence[OrderLine], quotas: Quotas) -> CycleReport:
    _note("enter", merchant.name)
    try:
        if merchant.name == os.environ.get("FLEET_TEST_STUCK"):
            # stuck on blpop until killed: redis-py 8 reads with a 5 s socket timeout unless told not to
            shared = Redis.from_url(os.environ["SHEETSYNC_REDIS_URL"], socket_timeout=None)
            if shared.set(os.environ["SHEETSYNC_FLEET_PREFIX"] + "stuck-once", 1, nx=True):
                shared.blpop([os.environ["SHEETSYNC_FLEET_PREFIX"] + "never"], timeout=60)
        if merchant.name == os.environ.get("FLEET_TEST_SLOW"):
            time.sleep(60)  # a hung request: the soft time limit interrupts it
        if merchant.name == os.environ.get("FLEET_TEST_DEAF"):
            shared = Redis.from_url(os.environ["SHEETSYNC_REDIS_URL"])
            if shared.set(os.environ["SHEETSYNC_FLEET_PREFIX"] + "deaf-once", 1, nx=True):
                try:
                    time.sleep(60)
                except SoftTimeLimitExceeded:
                    time.sleep(60)  # code that swallows the soft limit: only the hard one ends it
        return merchant_cycle(merchant, delivered, quotas)
    finally:
        _note("exit", merchant.name)


app = make_app(cycle=recorded, lock_s=float(os.environ.get("FLEET_TEST_LOCK_S", "2")))
