"""Request allowances per account, on pyrate-limiter: where the edges that pace themselves wait.

Shared by stores and channels, like :mod:`sheetsync.retry`. An adapter asks :class:`Quotas` for
one :class:`Pacer` per allowance it keeps to (eMAG's 3 requests a second, each SP-API operation's
usage plan) and names the account the allowance belongs to. The default keeps each allowance in
the adapter's own process, on the adapter's clock, as a single worker needs. ``sheetsync.fleet``
passes Quotas whose buckets live in Redis, keyed by the account, so that every worker process
syncing for that account draws from one allowance (see docs/distributed.md).

Two shapes of allowance: a *window* (at most ``limit`` requests in any ``interval``: a sliding
window log) and a *token bucket* (``burst`` at once, refilled at ``limit`` per ``interval``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from pyrate_limiter import AbstractBucket, InMemoryBucket, Rate, RateItem, StateBucket, TokenBucket


class Pacer:
    """One allowance: ``take`` spends a request from it, or says how long until one is free."""

    def __init__(
        self,
        bucket: AbstractBucket,
        rate: Rate,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        name: str = "request",
    ) -> None:
        self.rate = rate
        self._bucket, self._clock, self._sleep, self._name = bucket, clock, sleep, name

    def take(self) -> float:
        """Spend one request now and return 0.0, or return the seconds until one is free (none spent)."""
        item = RateItem(self._name, round(self._clock() * 1000))
        self._bucket.leak(item.timestamp)  # a log bucket keeps only its window: bounded memory
        if self._bucket.put(item):
            return 0.0
        waiting = cast(int, self._bucket.waiting(item))  # a synchronous bucket answers at once
        # A millisecond to spare against the rounding of the clock to whole milliseconds.
        return max(waiting, 1) / 1000 + 0.001

    def wait(self) -> None:
        """Spend one request, sleeping until the allowance has one."""
        while waiting := self.take():
            self._sleep(waiting)

    def drain(self) -> None:
        """The platform said "too many" (429): the allowance is empty, whatever it believed."""
        self._bucket.flush()
        self._bucket.put(RateItem(self._name, round(self._clock() * 1000), weight=self.rate.burst))


class Quotas:
    """Allowances kept in this process: each adapter paces only its own requests (the default)."""

    def window(
        self,
        account: str,
        limit: int,
        interval_s: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> Pacer:
        """At most ``limit`` requests of ``account`` in any ``interval_s`` seconds."""
        del account  # one adapter, one account: nothing to share in a single process
        rate = Rate(limit, round(interval_s * 1000))
        return Pacer(InMemoryBucket([rate]), rate, clock, sleep)

    def token_bucket(
        self,
        account: str,
        per_second: float,
        burst: int,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> Pacer:
        """``burst`` requests of ``account`` at once, refilled at ``per_second``."""
        del account
        rate = token_rate(per_second, burst)
        return Pacer(StateBucket([rate], TokenBucket()), rate, clock, sleep)


def token_rate(per_second: float, burst: int) -> Rate:
    """pyrate-limiter's Rate for a token bucket refilled at ``per_second`` that holds ``burst``."""
    # GCRA spends interval / limit per request: one token per 1 / per_second seconds.
    return Rate(burst, round(burst * 1000 / per_second), burst=burst)
