"""The Celery app: a merchant's cycle is a task, beat schedules each merchant, Redis carries it all.

Run it (docs/distributed.md)::

    celery -A sheetsync.fleet.app worker --concurrency 4   # as many, on as many machines, as needed
    celery -A sheetsync.fleet.app beat                     # exactly one

``SHEETSYNC_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) is the broker, the result backend
and the shared state; ``SHEETSYNC_MERCHANTS`` the registry folder (default ``merchants``);
``SHEETSYNC_FLEET_PREFIX`` the prefix of every key and of the queue (default ``sheetsync:``), so
that several deployments can share one Redis.

Each cycle runs under Celery time limits taken from its merchant's lock expiry (``time_limits``),
enforced by the default prefork pool (the solo and thread pools ignore them).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from celery import Celery
from celery.worker.request import Request
from kombu.entity import Queue
from redis import Redis

from sheetsync.errors import ConfigError
from sheetsync.fleet.registry import MERCHANTS_ENV, Registry
from sheetsync.fleet.runner import CycleRunner, Fleet, lock_expiry, merchant_cycle
from sheetsync.model import OrderLine

log = logging.getLogger(__name__)

REDIS_URL_ENV = "SHEETSYNC_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
PREFIX_ENV = "SHEETSYNC_FLEET_PREFIX"
DEFAULT_PREFIX = "sheetsync:"
#: The task names, stable across versions: queued tasks outlive a deploy.
CYCLE_TASK = "sheetsync.cycle"
#: The hard time limit over the soft one: a cycle stopped by the soft limit has this share of its
#: lock expiry again to fail cleanly (put its sales back, alert) before it is killed.
HARD_LIMIT_FACTOR = 1.2


def time_limits(hold_s: float) -> tuple[float, float]:
    """Celery's (hard, soft) time limits for a cycle whose lock expires ``hold_s`` unrenewed.

    At the soft limit ``SoftTimeLimitExceeded`` is raised inside the cycle, which fails like any
    other failure of its merchant: counted, backed off, its webhook lines put back. At the hard
    limit the pool kills the worker process and starts another; the killed cycle's lock, no
    longer renewed, expires ``hold_s`` later at most, and only then may another cycle start.
    """
    return hold_s * HARD_LIMIT_FACTOR, hold_s


def sales_queue(prefix: str) -> str:
    """The queue of the cycles sales ask for, taken before the scheduled ones."""
    return f"{prefix}sales"


def registry_from(environ: Mapping[str, str]) -> Registry:
    """The registry ``SHEETSYNC_MERCHANTS`` names (default: ./merchants)."""
    return Registry(Path(environ.get(MERCHANTS_ENV) or "merchants"), environ)


def schedule(registry: Registry) -> dict[str, dict[str, Any]]:
    """Celery beat's schedule: each merchant's cycle at its most frequent channel's interval.

    A request not taken within its own interval expires: a worker pool running behind catches up
    with one cycle per merchant, not with a backlog, so one slow merchant cannot crowd out the rest.
    A merchant whose config does not load is still scheduled (every minute): its cycles fail,
    back off and are logged like any failure.
    """
    entries: dict[str, dict[str, Any]] = {}
    for name in registry.names():
        try:
            every = registry.load(name).interval_s
        except ConfigError as error:
            log.warning("merchant %s: scheduled every minute, its config does not load: %s", name, error)
            every = 60.0
        entries[f"cycle {name}"] = {
            "task": CYCLE_TASK,
            "schedule": every,
            "args": (name,),
            "options": {"expires": every},
        }
    return entries


def fleet_from(
    environ: Mapping[str, str] = os.environ, cycle: CycleRunner = merchant_cycle, lock_s: float | None = None
) -> Fleet:
    """The fleet on the Redis, prefix and registry ``environ`` names."""
    url = environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL
    prefix = environ.get(PREFIX_ENV) or DEFAULT_PREFIX
    return Fleet(Redis.from_url(url), registry_from(environ), prefix=prefix, cycle=cycle, lock_s=lock_s)


def make_app(
    environ: Mapping[str, str] = os.environ,
    cycle: CycleRunner = merchant_cycle,
    lock_s: float | None = None,
) -> Celery:
    """The Celery app on the Redis ``environ`` names, running each merchant's cycle with ``cycle``."""
    url = environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL
    prefix = environ.get(PREFIX_ENV) or DEFAULT_PREFIX
    registry = registry_from(environ)
    app = Celery("sheetsync", broker=url, backend=url, set_as_current=False)
    app.conf.update(
        # Cycles a sale asked for go ahead of the scheduled ones: a worker takes from the sales
        # queue first ("priority" order), so a sale waits for a free worker, not for the backlog.
        task_queues=(Queue(sales_queue(prefix)), Queue(f"{prefix}cycles")),  # type: ignore[no-untyped-call]
        task_default_queue=f"{prefix}cycles",
        broker_transport_options={"queue_order_strategy": "priority"},
        # One task at a time per worker process, acknowledged on receipt: a cycle killed with its
        # worker is not run twice; beat asks again at the merchant's next interval.
        worker_prefetch_multiplier=1,
        task_acks_late=False,
        # A busy worker takes no task it cannot start: the next free one does (fair, and a
        # worker killed mid-cycle takes no queued task with it).
        worker_disable_prefetch=True,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    fleets: list[Fleet] = []  # one per process, made after a prefork worker forks

    class CycleRequest(Request):  # type: ignore[misc]
        """A cycle as the worker receives it: its time limits from its merchant's lock expiry."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            try:
                merchant = registry.load(self.args[0])
            except Exception:  # its cycle fails at once on the same error, and says so
                return
            self.time_limits = time_limits(lock_expiry(merchant, lock_s))

    def fleet() -> Fleet:
        if not fleets:
            fleets.append(fleet_from(environ, cycle, lock_s))
        return fleets[0]

    @app.task(name=CYCLE_TASK, Request=CycleRequest)  # type: ignore[untyped-decorator]
    def run(name: str) -> dict[str, Any]:
        """One cycle for merchant ``name`` (skipped when another worker runs it, or it backs off)."""
        outcome = fleet().cycle(name)
        log.info("merchant %s: %s %s", name, outcome.status, outcome.detail)
        if outcome.pending:  # a sale arrived while it ran: the next cycle, now, on the sales queue
            run.apply_async((name,), queue=sales_queue(prefix))
        return asdict(outcome)

    # Read once, when the app is made: beat picks up added merchants when it restarts.
    app.conf.beat_schedule = schedule(registry) if registry.folder.is_dir() else {}
    return app


def deliver(app: Celery, fleet: Fleet, merchant: str, delivery: str, lines: Sequence[OrderLine]) -> bool:
    """Queue a webhook's lines for ``merchant`` and ask for its cycle now, on the sales queue.

    The fleet has no ``sheetsync.fastpath`` yet: a sale reaches the other channels with that cycle.

    False (nothing queued) for a delivery already seen.
    """
    fresh = fleet.deliver(merchant, delivery, lines)
    if fresh:
        app.send_task(CYCLE_TASK, args=(merchant,), queue=sales_queue(fleet.prefix))
    return fresh
