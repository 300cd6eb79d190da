"""A sandbox channel for the demo and the tests: real channel behaviour, no network.

It behaves like a slow marketplace: a pushed quantity becomes what buyers see only after
``lag_s`` seconds (or, given ``lag``, however long it says for each push), pushes in the order
they were made, like a feed working through its backlog (each then overwrites whatever the
channel counted meanwhile, as real platforms do);
buyers can only buy what is visible; every sale becomes an order that ``orders_since``
returns; a cancellation puts units back. It also takes prices (``push_prices``), shown at once.

Given ``calls_per_hour`` or ``points``, it enforces a platform's call limits on pushes: so many
calls in any hour (Meta's batch-call limit per catalog), or a leaky bucket of cost points
(Shopify's: a size, a restore rate, and a cost per call and per SKU).  A call over the limit is
refused with ``TransientError`` and nothing of it is applied, as the platforms throttle.
Given ``pace``, it models a client that paces itself, as the eMAG adapter does (3 requests a
second): a call beyond that rate is never refused, it waits its turn, so what it pushes shows
that much later.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

from sheetsync.channels import refuse_oversized
from sheetsync.errors import TransientError
from sheetsync.model import (
    ChannelLimits,
    ChannelName,
    Movement,
    OrderBatch,
    OrderLine,
    PriceLevel,
    PushOutcome,
    Sku,
    StockLevel,
)
from sheetsync.pacing import Allowance, Spending

#: Batch size the sandbox accepts per push, like a typical bulk endpoint.
SANDBOX_MAX_BATCH = 100


@dataclass(frozen=True, slots=True)
class _Pending:
    quantity: int
    visible_at: float


class SandboxChannel:
    """An in-memory channel with lag and a buyer-facing view; time comes from ``clock``."""

    def __init__(
        self,
        name: ChannelName,
        clock: Callable[[], datetime],
        *,
        lag_s: float = 0.0,
        skus: Collection[str] = (),
        max_batch: int = SANDBOX_MAX_BATCH,
        lag: Callable[[], float] | None = None,
        currency: str | None = None,
        calls_per_hour: int | None = None,
        points: tuple[float, float] | None = None,
        push_cost: tuple[float, float] = (10.0, 1.0),
        pace: float | None = None,
    ) -> None:
        self.name = name
        self._lag = lag  #: when set, asked at each push for that push's lag (a simulated backlog)
        self.limits = ChannelLimits(max_batch=max_batch, typical_lag_s=lag_s, calls_per_hour=calls_per_hour)
        self._clock = clock
        self._listed = frozenset(skus)
        self._visible: dict[Sku, int] = {}
        self._pending: dict[Sku, list[_Pending]] = {}
        self._orders: list[OrderLine] = []
        self._currency = currency  #: when set, prices in another currency are refused
        self._prices: dict[Sku, PriceLevel] = {}
        self.push_calls = 0  #: push calls accepted
        self.price_calls = 0
        self.throttled_calls = 0  #: push calls refused for the call limits
        #: push calls an hour, like Meta's batch-call limit per catalog (None: no limit)
        self._calls_per_hour = calls_per_hour
        self._calls: deque[float] = deque()  #: when the calls of the last hour were accepted
        #: a cost bucket like Shopify's: (size, points restored a second); None: no bucket
        self._points = points
        self._push_cost = push_cost  #: (points a call, points a SKU in it)
        self._bucket = (points[0] if points else 0.0, -math.inf)  #: (points left, as of when)
        self._pace = pace  #: calls a second the client paces itself to (None: no pacing)
        self._free_at = -math.inf  #: when a paced client may send its next call
        self.paced_s = 0.0  #: seconds paced calls waited for their turn, in all
        self._spending = Spending()

    def push(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        """Accept absolute quantities; they become visible after the channel's lag."""
        refuse_oversized(self.name, self.limits, len(levels))
        self._admit(len(levels))
        self.push_calls += 1
        self._settle()  # what was due before this push is visible
        visible_at = self._sent_at() + (self.limits.typical_lag_s if self._lag is None else self._lag())
        outcomes = []
        for level in levels:
            if self._listed and level.sku not in self._listed:
                outcomes.append(PushOutcome(level.sku, False, f"no listing with SKU {level.sku}"))
            elif level.quantity < 0:
                outcomes.append(PushOutcome(level.sku, False, f"quantity {level.quantity} is negative"))
            else:
                self._pending.setdefault(level.sku, []).append(_Pending(level.quantity, visible_at))
                outcomes.append(PushOutcome(level.sku, True))
        self._settle()  # a channel without lag shows it at once
        return outcomes

    def allowances(self) -> Sequence[Allowance]:
        """The call limits it was given: calls an hour, a cost bucket's restore rate, a pace."""
        found = []
        if self._calls_per_hour is not None:
            per_hour = self._calls_per_hour
            found.append(Allowance("calls", "push calls", per_hour / 3600, f"{per_hour:,} an hour"))
        if self._points is not None:
            rate = self._points[1]
            found.append(Allowance("points", "cost points", rate, f"{rate:,.0f} a second"))
        if self._pace is not None:
            found.append(Allowance("paced", "calls", self._pace, f"{self._pace:g} a second"))
        return found

    def take_spent(self) -> Mapping[str, int]:
        """Push calls, cost points and paced calls spent since the last call."""
        return self._spending.take()

    def _admit(self, items: int) -> None:
        """Count a push call against the call limits, or refuse it as the platform would.

        Raises:
            TransientError: the hour's calls are used up, or the bucket lacks the call's points.
        """
        now = self._now()
        if self._calls_per_hour is not None:
            while self._calls and self._calls[0] <= now - 3600:
                self._calls.popleft()
            if len(self._calls) >= self._calls_per_hour:
                self.throttled_calls += 1
                wait = self._calls[0] + 3600 - now
                raise TransientError(
                    f"{self.name}: {self._calls_per_hour} push calls an hour used; next in {wait:.0f} s", wait
                )
        if self._points is not None:
            size, rate = self._points
            left, when = self._bucket
            left = min(size, left + (now - when) * rate) if when > -math.inf else size
            cost = self._push_cost[0] + self._push_cost[1] * items
            if cost > left:
                self.throttled_calls += 1
                self._bucket = (left, now)
                raise TransientError(f"{self.name}: throttled, {cost:.0f} points asked, {left:.0f} left")
            self._bucket = (left - cost, now)
            self._spending.count("points", math.ceil(cost))
        if self._calls_per_hour is not None:
            self._calls.append(now)
            self._spending.count("calls")

    def _sent_at(self) -> float:
        """When a push call made now reaches the platform: at once, or at its paced turn."""
        now = self._now()
        if self._pace is None:
            return now
        sent = max(now, self._free_at)
        self._free_at = sent + 1 / self._pace
        self._spending.count("paced")
        self.paced_s += sent - now
        return sent

    def push_prices(self, prices: Sequence[PriceLevel]) -> Sequence[PushOutcome]:
        """Accept prices for listed SKUs; a price shows at once (feeds lag on stock, not here)."""
        refuse_oversized(self.name, self.limits, len(prices), "prices")
        self.price_calls += 1
        outcomes = []
        for price in prices:
            if self._listed and price.sku not in self._listed:
                outcomes.append(PushOutcome(price.sku, False, f"no listing with SKU {price.sku}"))
            elif self._currency is not None and price.currency != self._currency:
                outcomes.append(
                    PushOutcome(
                        price.sku, False, f"price in {price.currency}; {self.name} sells in {self._currency}"
                    )
                )
            elif price.amount <= 0:
                outcomes.append(PushOutcome(price.sku, False, f"price {price.text} is not positive"))
            else:
                self._prices[price.sku] = price
                outcomes.append(PushOutcome(price.sku, True))
        return outcomes

    def read_prices(self, skus: Collection[Sku]) -> Mapping[Sku, Decimal]:
        """The prices buyers see now, for the SKUs that have one."""
        return {sku: self._prices[sku].amount for sku in skus if sku in self._prices}

    def read_levels(self, skus: Collection[Sku]) -> Mapping[Sku, int]:
        """What buyers see now."""
        self._settle()
        return {sku: self._visible[sku] for sku in skus if sku in self._visible}

    def orders_since(self, cursor: str | None) -> OrderBatch:
        """Order lines whose cursor is at or after ``cursor``."""
        return OrderBatch(tuple(line for line in self._orders if cursor is None or line.cursor >= cursor))

    def sell(self, sku: Sku, quantity: int = 1) -> bool:
        """A buyer tries to buy; succeeds only if the channel shows enough units."""
        self._settle()
        if self._visible.get(sku, 0) < quantity:
            return False
        self._visible[sku] -= quantity
        self._record(sku, quantity, Movement.SALE, f"order-{len(self._orders) + 1}")
        return True

    def slow_down(self, lag_s: float) -> None:
        """The platform's own lag changes (a peak-hour backlog); pushes from now on take ``lag_s``."""
        self.limits = replace(self.limits, typical_lag_s=lag_s)

    def edit(self, sku: Sku, quantity: int) -> None:
        """Someone types a number on the platform itself, behind the sheet's back."""
        self._settle()
        self._visible[sku] = quantity

    def cancel(self, order_id: str) -> None:
        """Cancel an order: its units go back on sale and a restock line is reported."""
        line = next(
            line for line in self._orders if line.order_id == order_id and line.movement is Movement.SALE
        )
        self._settle()
        self._visible[line.sku] = self._visible.get(line.sku, 0) + line.quantity
        self._record(
            line.sku,
            line.quantity,
            Movement.RESTOCK,
            order_id,
            line_id=f"{line.line_id}-cancel",
        )

    def _record(
        self,
        sku: Sku,
        quantity: int,
        movement: Movement,
        order_id: str,
        line_id: str = "1",
    ) -> None:
        sequence = len(self._orders) + 1
        line = OrderLine(
            self.name,
            order_id,
            line_id,
            sku,
            quantity,
            movement,
            self._clock(),
            f"{sequence:012d}",
        )
        self._orders.append(line)

    def _settle(self) -> None:
        now = self._now()
        for sku, queue in list(self._pending.items()):
            while queue and queue[0].visible_at <= now:
                self._visible[sku] = queue.pop(0).quantity
            if not queue:
                del self._pending[sku]

    def _now(self) -> float:
        return self._clock().astimezone(UTC).timestamp()
