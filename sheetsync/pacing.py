"""Request allowances per account, on pyrate-limiter: where the edges that pace themselves wait.

Shared by stores and channels, like :mod:`sheetsync.retry`. An adapter asks :class:`Quotas` for
one :class:`Pacer` per allowance it keeps to (eMAG's 3 requests a second, each SP-API operation's
usage plan) and names the account the allowance belongs to. The default keeps each allowance in
the adapter's own process, on the adapter's clock, as a single worker needs. ``sheetsync.fleet``
passes Quotas whose buckets live in Redis, keyed by the account, so that every worker process
syncing for that account draws from one allowance (see docs/distributed.md).

Two shapes of allowance: a *window* (at most ``limit`` requests in any ``interval``: a sliding
window log) and a *token bucket* (``burst`` at once, refilled at ``limit`` per ``interval``).

What a client spends is counted per calendar month (:class:`Usage`) against its plan's quota
(:class:`Allowance`), so the Status can say where the month is heading at this pace.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
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


@dataclass(frozen=True, slots=True)
class Allowance:
    """One of a platform's quotas as a rate: ``per_s`` units a second, whatever its period."""

    name: str  #: its key among the channel's quotas (``batch``, ``points``)
    unit: str  #: what is counted, plural (``batch calls``, ``cost points``)
    per_s: float
    #: the plan's allowance in the platform's own terms (``200 an hour per catalog``)
    terms: str

    def per_month(self, now: datetime) -> float:
        """The allowance over the calendar month (UTC) of ``now``."""
        now = now.astimezone(UTC)
        return self.per_s * calendar.monthrange(now.year, now.month)[1] * 86400


@dataclass(frozen=True, slots=True)
class Usage:
    """Units counted this calendar month against a quota (or a budget)."""

    month: str  #: YYYY-MM (UTC)
    spent: int
    #: when counting began this month (epoch seconds; None: at its start), so that a worker
    #: started mid-month projects from its own first count, not from the 1st
    since: float | None = None

    def projected(self, now: datetime, least_s: float = 3600.0) -> int:
        """The month's total at this pace, counted over ``least_s`` at least (not a blip)."""
        now = now.astimezone(UTC)
        days = calendar.monthrange(now.year, now.month)[1]
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
        counted = now.timestamp() - max(start, self.since or start)
        return round(self.spent * days * 86400 / max(counted, least_s))

    def add(self, units: int, now: datetime) -> Usage:
        """With ``units`` more spent at ``now``; a new month starts again from them."""
        month = month_of(now)
        if month != self.month:
            return Usage(month, units, now.timestamp())
        return Usage(month, self.spent + units, self.since)

    def text(self) -> str:
        """As kept in the State: ``2026-12:1234`` or, counted from a moment, ``2026-12:1234@1764979200``."""
        since = "" if self.since is None else f"@{self.since:.0f}"
        return f"{self.month}:{self.spent}{since}"

    @classmethod
    def parse(cls, text: str, month: str) -> Usage:
        """This month's usage from its State value; another month's (or garbage) starts at 0."""
        return cls.counted(text, month) or cls(month, 0)

    @classmethod
    def counted(cls, text: str, month: str) -> Usage | None:
        """This month's usage from its State value; None when it holds no count for this month."""
        kept, _, rest = text.partition(":")
        spent, _, since = rest.partition("@")
        if kept != month or not spent.isdigit():
            return None
        return cls(month, int(spent), float(since) if since.isdigit() else None)


class Spending:
    """What a client spent of each quota since it was last asked (``Metered.take_spent``)."""

    def __init__(self) -> None:
        self._spent: dict[str, int] = {}

    def count(self, name: str, units: int = 1) -> None:
        """``units`` more spent of the quota ``name``."""
        self._spent[name] = self._spent.get(name, 0) + units

    def take(self) -> dict[str, int]:
        """What was spent since the last take, by quota; the counts start again at 0."""
        spent, self._spent = self._spent, {}
        return spent


def month_of(now: datetime) -> str:
    """The calendar month (UTC) ``Usage`` counts in: ``2026-12``."""
    return now.astimezone(UTC).strftime("%Y-%m")


def share(usage: Usage, allowance: Allowance, now: datetime) -> float:
    """The share of the month's allowance that ``usage`` comes to at this pace.

    Counted over a day at least, so that a first sync's burst does not read as the month's pace.
    """
    if allowance.per_s <= 0:
        return 0.0
    return usage.projected(now, 86400.0) / allowance.per_month(now)


def pace(usage: Usage, allowance: Allowance, now: datetime) -> str:
    """``on pace for 12% of a month's 259,200,000 cost points (100 a second)``, in whole percents.

    Whole percents, so that the clause changes a few times a month, not every cycle.
    """
    part = share(usage, allowance, now)
    said = "under 1%" if 0 < part < 0.01 else f"{part:.0%}"
    month = f"{allowance.per_month(now):,.0f}"
    return f"on pace for {said} of a month's {month} {allowance.unit} ({allowance.terms})"
