"""One merchant's cycle on any worker: under its Redis lock, with its own backoff and alerts.

What Redis holds per merchant (every key under the deployment's prefix, ``sheetsync:`` by default):

- ``lock:<name>``: redis-py's lock, with an expiry renewed while the cycle runs. A worker that
  cannot take it skips the cycle (another is running it): never two cycles for one merchant.
  A worker that dies leaves it to expire, ``lock_s`` later at most.
- ``fence:<name>``: a counter raised by each holder of the lock, its fencing token. A cycle
  whose token is no longer the newest when it ends lost its lock on the way (a worker frozen
  past the expiry) and says so. The master's own lease, held in the one name ``fleet:<name>``
  for all workers, still keeps a single-merchant worker off the same sheet.
- ``inbox:<name>`` and ``seen:<name>:<delivery>``: webhook order lines waiting for the next
  cycle, each delivery once; a failed cycle puts them back.
- ``fails:<name>``, ``retry:<name>``: failures in a row and when to try again. A failing merchant
  backs off alone (the worker's own schedule: 5 s doubling to 300 s) and, at the third failure
  in a row, alerts through its own config's alert settings; the first success says recovered.
- ``health:<name>``: a hash of its last cycle's outcome for the fleet's dashboard and /metrics
  (``status``, ``at``, ``detail``, ``failures``, ``retry_at``, ``fence``); the detail passes
  through the alerts' redaction, so it never holds one of the merchant's secret values.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from redis import Redis
from redis.exceptions import LockError
from redis.lock import Lock
from redis.typing import EncodableT, FieldT

from sheetsync.alerts import Alerter
from sheetsync.core.incidents import Alert
from sheetsync.errors import ConfigError
from sheetsync.fleet.quotas import RedisQuotas
from sheetsync.fleet.registry import Merchant, Registry
from sheetsync.model import ChannelName, Movement, OrderLine, Sku
from sheetsync.pacing import Quotas
from sheetsync.worker import (
    FIRST_BACKOFF_S,
    MAX_BACKOFF_S,
    OUTAGE_AFTER,
    CycleReport,
    cycle_once,
    lease_s,
    open_alerter,
)

log = logging.getLogger(__name__)

#: How long a delivery id is remembered: longer than Shopify retries one (48 hours).
SEEN_S = 3 * 24 * 3600

#: One merchant's cycle: its merchant, the webhook lines waiting for it, the shared allowances.
CycleRunner = Callable[[Merchant, Sequence[OrderLine], Quotas], CycleReport]


def merchant_cycle(merchant: Merchant, delivered: Sequence[OrderLine], quotas: Quotas) -> CycleReport:
    """The worker's one cycle (``cycle_once``) for ``merchant``, its lease kept in the fleet's name."""
    return cycle_once(
        merchant.settings,
        lambda: datetime.now(UTC),
        environ=merchant.environ,
        quotas=quotas,
        owner=f"fleet:{merchant.name}",
        keep_lease=True,
        delivered=delivered,
    )


def lock_expiry(merchant: Merchant, lock_s: float | None = None) -> float:
    """How long ``merchant``'s lock lasts unrenewed: ``lock_s`` if given, else its lease time."""
    return lock_s or lease_s(merchant.settings)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one request for a merchant's cycle."""

    merchant: str
    status: Literal["ran", "busy", "backing-off", "failed"]
    detail: str = ""
    fence: int | None = None  #: the fencing token the cycle ran under
    pending: bool = False  #: deliveries arrived meanwhile: run again now


@dataclass(frozen=True, slots=True)
class Health:
    """A merchant's last cycle as ``health:<name>`` keeps it, and the sales waiting for the next."""

    status: Literal["ran", "failed", ""]  #: "" before its first cycle
    at: datetime | None  #: when that cycle ended
    detail: str  #: its summary, or its error (redacted)
    failures: int  #: failed cycles in a row
    retry_at: datetime | None  #: backing off until then
    fence: int | None
    inbox: int  #: webhook order lines waiting


class Fleet:
    """Runs merchants' cycles from ``registry`` with the shared state in ``redis`` under ``prefix``."""

    def __init__(
        self,
        redis: Redis,
        registry: Registry,
        *,
        prefix: str = "sheetsync:",
        cycle: CycleRunner = merchant_cycle,
        lock_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis, self.registry, self.prefix = redis, registry, prefix
        self.quotas = RedisQuotas(redis, prefix)
        self._cycle, self._lock_s, self._clock = cycle, lock_s, clock

    def key(self, what: str, name: str) -> str:
        """The Redis key of ``what`` (lock, fence, inbox, …) for merchant ``name``."""
        return f"{self.prefix}{what}:{name}"

    def cycle(self, name: str) -> Outcome:
        """Run merchant ``name``'s cycle here, unless another worker is running it or it backs off.

        Never raises for the merchant's own failures (a broken sheet, a revoked token, a bad
        config): they are counted, backed off and alerted, and the worker goes on to the next task.
        """
        retry_at = float(self.redis.get(self.key("retry", name)) or 0)
        if self._clock() < retry_at:
            return Outcome(name, "backing-off", f"until {retry_at - self._clock():.0f} s from now")
        try:
            merchant = self.registry.load(name)
        except Exception as error:  # a broken config fails this merchant only
            return self._failed(name, None, error)
        hold_s = lock_expiry(merchant, self._lock_s)
        lock = self.redis.lock(self.key("lock", name), timeout=hold_s, blocking=False, thread_local=False)
        if not lock.acquire():
            return Outcome(name, "busy", "another worker is running this merchant's cycle")
        fence = int(self.redis.incr(self.key("fence", name)))
        renewal = _Renewal(lock, hold_s)
        stopped = False
        try:
            delivered = self._take(name)
            try:
                report = self._cycle(merchant, delivered, self.quotas)
            except Exception as error:  # this merchant's failure, never the worker's
                self._put_back(name, delivered)
                return self._failed(name, merchant, error, fence)
            self._recovered(merchant)
            summary = self._redacted(name, merchant, report.summary())
            self._keep_health(name, "ran", summary, 0, fence)
        except (SystemExit, KeyboardInterrupt):
            # Stopped from outside (the hard time limit's SIGTERM): a request it sent may still
            # land, so its lock is left to expire rather than given to the next cycle now.
            stopped = True
            raise
        finally:
            renewal.stop()
            if not stopped:
                self._release(lock, name, fence, renewal.lost)
        pending = bool(self.redis.llen(self.key("inbox", name)))
        return Outcome(name, "ran", summary, fence, pending)

    def deliver(self, name: str, delivery: str, lines: Sequence[OrderLine]) -> bool:
        """Queue webhook ``lines`` for merchant ``name``'s next cycle; False for a repeat delivery."""
        if not self.redis.set(f"{self.key('seen', name)}:{delivery}", 1, nx=True, ex=SEEN_S):
            return False
        if lines:
            self.redis.rpush(self.key("inbox", name), *(_dump(line) for line in lines))
        return True

    def _take(self, name: str) -> list[OrderLine]:
        pipe = self.redis.pipeline()  # MULTI/EXEC: what is read is what is removed
        pipe.lrange(self.key("inbox", name), 0, -1)
        pipe.delete(self.key("inbox", name))
        raw, _ = pipe.execute()
        return [_load(item) for item in raw]

    def _put_back(self, name: str, lines: Sequence[OrderLine]) -> None:
        if lines:
            self.redis.lpush(self.key("inbox", name), *(_dump(line) for line in reversed(lines)))

    def _failed(
        self, name: str, merchant: Merchant | None, error: Exception, fence: int | None = None
    ) -> Outcome:
        failures = int(self.redis.incr(self.key("fails", name)))
        backoff = min(FIRST_BACKOFF_S * 2 ** (failures - 1), MAX_BACKOFF_S)
        retry_at = self._clock() + backoff
        self.redis.set(self.key("retry", name), retry_at)
        said = self._redacted(name, merchant, f"{type(error).__name__}: {error}")
        self._keep_health(name, "failed", said, failures, fence, retry_at)
        log.error(
            "merchant %s: cycle failed (%d in a row), next try in %gs: %s", name, failures, backoff, said
        )
        if failures == OUTAGE_AFTER and merchant is not None:
            text = f"{name}: sync stopped: {failures} cycles failed in a row, retrying at least every "
            open_alerter(merchant.settings, merchant.environ).send(
                [Alert("outage", f"{text}{MAX_BACKOFF_S:g}s: {error}", datetime.now(UTC))]
            )
        return Outcome(name, "failed", said, fence)

    def health(self, names: Sequence[str]) -> dict[str, Health]:
        """Each of ``names``' last cycle and waiting sales, in one round-trip."""
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.key("health", name))
            pipe.llen(self.key("inbox", name))
        answers = pipe.execute()
        return {
            name: _health(fields, int(inbox))
            for name, fields, inbox in zip(names, answers[::2], answers[1::2], strict=True)
        }

    def _keep_health(
        self,
        name: str,
        status: str,
        detail: str,
        failures: int,
        fence: int | None,
        retry_at: float | None = None,
    ) -> None:
        fields: dict[FieldT, EncodableT] = {
            "status": status,
            "at": self._clock(),
            "detail": detail,
            "failures": failures,
        }
        if fence is not None:
            fields["fence"] = fence
        if retry_at is not None:
            fields["retry_at"] = retry_at
        pipe = self.redis.pipeline()  # MULTI/EXEC: a reader never sees half of two outcomes
        pipe.delete(self.key("health", name))
        pipe.hset(self.key("health", name), mapping=fields)
        pipe.execute()

    def _redacted(self, name: str, merchant: Merchant | None, text: str) -> str:
        """``text`` without any of merchant ``name``'s secret values, as its alerts redact them."""
        try:
            environ = merchant.environ if merchant is not None else self.registry.secrets(name)
        except ConfigError as error:  # its .env does not read; that message never quotes a value
            return f"{type(error).__name__}: {error}"
        return Alerter((), secrets=[value for value in environ.values() if value.strip()]).redact(text)

    def _recovered(self, merchant: Merchant) -> None:
        pipe = self.redis.pipeline()
        pipe.getdel(self.key("fails", merchant.name))
        pipe.delete(self.key("retry", merchant.name))
        failures = int(pipe.execute()[0] or 0)
        if failures >= OUTAGE_AFTER:
            open_alerter(merchant.settings, merchant.environ).send(
                [
                    Alert(
                        "outage",
                        f"{merchant.name}: sync stopped (cleared)",
                        datetime.now(UTC),
                        recovered=True,
                    )
                ]
            )

    def _release(self, lock: Lock, name: str, fence: int, lost: bool) -> None:
        newest = int(self.redis.get(self.key("fence", name)) or 0)
        if lost or newest != fence:
            log.error(
                "merchant %s: this cycle (fence %d) lost its lock on the way; fence %d is the newest",
                name,
                fence,
                newest,
            )
        with contextlib.suppress(LockError):  # expired, or the next holder's: nothing of ours to release
            lock.release()


class _Renewal:
    """Keeps a lock's expiry ahead while the cycle runs, so a long cycle never loses it."""

    def __init__(self, lock: Lock, hold_s: float) -> None:
        self.lost = False
        self._lock, self._stop = lock, threading.Event()
        self._thread = threading.Thread(target=self._run, args=(hold_s / 3,), daemon=True)
        self._thread.start()

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                self._lock.reacquire()
            except LockError:
                self.lost = True
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _health(fields: dict[bytes, bytes], inbox: int) -> Health:
    def text(key: str) -> str:
        return fields.get(key.encode(), b"").decode()

    def when(key: str) -> datetime | None:
        return datetime.fromtimestamp(float(text(key)), UTC) if text(key) else None

    status = text("status")
    return Health(
        "ran" if status == "ran" else "failed" if status == "failed" else "",
        when("at"),
        text("detail"),
        int(text("failures") or 0),
        when("retry_at"),
        int(text("fence")) if text("fence") else None,
        inbox,
    )


def _dump(line: OrderLine) -> str:
    return json.dumps(
        {
            "channel": line.channel,
            "order_id": line.order_id,
            "line_id": line.line_id,
            "sku": line.sku,
            "quantity": line.quantity,
            "movement": line.movement.value,
            "at": line.at.isoformat(),
            "cursor": line.cursor,
        }
    )


def _load(raw: bytes | str) -> OrderLine:
    data = json.loads(raw)
    return OrderLine(
        ChannelName(data["channel"]),
        data["order_id"],
        data["line_id"],
        Sku(data["sku"]),
        int(data["quantity"]),
        Movement(data["movement"]),
        datetime.fromisoformat(data["at"]),
        data["cursor"],
    )
