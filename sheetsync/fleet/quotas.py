"""Request allowances in Redis, one per account, so that every worker draws from the same one.

An account's key is ``<prefix>quota:<account>``, named by the adapter (``emag:ro:<user hash>:other``,
``amazon:eu:<seller>:patchListingsItem``): two merchants on one seller account, or one merchant's
cycles on eight workers, spend one allowance. Timestamps are the machines' wall clocks (keep them
on NTP): a monotonic clock means nothing on another machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pyrate_limiter import Rate, RedisStateStore, StateBucket, TokenBucket
from redis import Redis

from sheetsync.pacing import Pacer, Quotas, token_rate


class RedisQuotas(Quotas):
    """Allowances shared through ``redis`` under ``prefix``; waits still go through each adapter's sleep."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis, self._prefix = redis, prefix

    def key(self, account: str) -> str:
        """Where ``account``'s allowance is kept."""
        return f"{self._prefix}quota:{account}"

    def window(
        self,
        account: str,
        limit: int,
        interval_s: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> Pacer:
        """At most ``limit`` requests of ``account`` in any ``interval_s`` seconds, across workers.

        Kept as evenly spaced requests (GCRA, one every ``interval_s / limit``) rather than a log:
        a worker's timestamp may reach Redis after a later one of another worker's, which a log
        would not count against it, while GCRA only grows stricter for a late arrival.
        """
        del clock  # shared: every worker on the wall clock
        rate = Rate(limit, round(interval_s * 1000), burst=1)
        return self._pacer(account, rate, sleep)

    def token_bucket(
        self,
        account: str,
        per_second: float,
        burst: int,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> Pacer:
        """``burst`` requests of ``account`` at once, refilled at ``per_second``, across workers."""
        del clock
        return self._pacer(account, token_rate(per_second, burst), sleep)

    def _pacer(self, account: str, rate: Rate, sleep: Callable[[float], None]) -> Pacer:
        bucket = StateBucket([rate], TokenBucket(), RedisStateStore(self._redis, self.key(account)))
        return Pacer(bucket, rate, time.time, sleep)
