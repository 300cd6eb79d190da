"""Sandbox-only behaviour: lag, buyers limited to what is visible, overwrite on arrival, prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.errors import PermanentError, TransientError
from sheetsync.model import ChannelName, PriceLevel, Sku, StockLevel

A = Sku("A")
B = Sku("B")


def test_a_push_is_invisible_until_the_lag_has_passed_then_overwrites_the_count() -> None:
    now = [datetime(2026, 11, 27, tzinfo=UTC)]
    channel = SandboxChannel(ChannelName("slow"), lambda: now[0], lag_s=600)
    channel.push([StockLevel(A, 5)])
    now[0] += timedelta(seconds=600)
    channel.push([StockLevel(A, 2)])  # lowered; buyers still see 5 for ten minutes
    assert channel.sell(A)
    assert channel.read_levels([A]) == {A: 4}
    now[0] += timedelta(seconds=599)
    assert channel.read_levels([A]) == {A: 4}
    now[0] += timedelta(seconds=1)
    assert channel.read_levels([A]) == {A: 2}  # the platform forgets the sale it made meanwhile


def test_buyers_cannot_buy_what_is_not_shown() -> None:
    channel = SandboxChannel(ChannelName("fast"), lambda: datetime(2026, 11, 27, tzinfo=UTC))
    assert not channel.sell(A)
    channel.push([StockLevel(A, 1)])
    assert channel.sell(A)
    assert not channel.sell(A)
    assert channel.push_calls == 1


def test_a_lag_callable_sets_each_push_s_lag_and_pushes_still_land_in_order() -> None:
    now = [datetime(2026, 11, 27, tzinfo=UTC)]
    lags = iter([600.0, 60.0])
    channel = SandboxChannel(ChannelName("spiky"), lambda: now[0], lag=lambda: next(lags))
    channel.push([StockLevel(A, 5)])  # a 10-minute backlog
    now[0] += timedelta(seconds=60)
    channel.push([StockLevel(A, 3)])  # due in a minute, but behind the first push
    now[0] += timedelta(seconds=60)
    assert channel.read_levels([A]) == {}
    now[0] += timedelta(seconds=480)
    assert channel.read_levels([A]) == {A: 3}


def test_prices_are_held_per_sku_and_shown_at_once() -> None:
    channel = SandboxChannel(ChannelName("fast"), lambda: datetime(2026, 11, 27, tzinfo=UTC), lag_s=600)
    outcomes = channel.push_prices(
        [PriceLevel(A, Decimal("12.50"), "USD"), PriceLevel(B, Decimal("3"), "EUR")]
    )
    assert [o.ok for o in outcomes] == [True, True]
    assert channel.read_prices([A, B, Sku("C")]) == {A: Decimal("12.50"), B: Decimal("3")}
    channel.push_prices([PriceLevel(A, Decimal("11.00"), "USD")])
    assert channel.read_prices([A]) == {A: Decimal("11.00")}


def test_prices_are_refused_like_quantities() -> None:
    channel = SandboxChannel(
        ChannelName("listed"),
        lambda: datetime(2026, 11, 27, tzinfo=UTC),
        skus=["A", "B"],
        currency="USD",
        max_batch=3,
    )
    outcomes = channel.push_prices(
        [
            PriceLevel(A, Decimal("1.00"), "USD"),
            PriceLevel(Sku("NOPE"), Decimal("1.00"), "USD"),
            PriceLevel(B, Decimal("1.00"), "EUR"),
        ]
    )
    assert [(o.sku, o.ok, o.message) for o in outcomes] == [
        ("A", True, ""),
        ("NOPE", False, "no listing with SKU NOPE"),
        ("B", False, "price in EUR; listed sells in USD"),
    ]
    assert not channel.push_prices([PriceLevel(B, Decimal("0"), "USD")])[0].ok
    with pytest.raises(PermanentError, match="limit is 3"):
        channel.push_prices([PriceLevel(A, Decimal("2.00"), "USD")] * 4)
    assert channel.read_prices([A, B]) == {A: Decimal("1.00")}


def test_a_call_limit_an_hour_refuses_the_next_call_until_the_oldest_is_an_hour_old() -> None:
    now = [datetime(2026, 11, 27, tzinfo=UTC)]
    channel = SandboxChannel(ChannelName("meta"), lambda: now[0], calls_per_hour=2)
    channel.push([StockLevel(A, 5)])
    now[0] += timedelta(minutes=30)
    channel.push([StockLevel(A, 4)])
    with pytest.raises(TransientError, match="2 push calls an hour used"):
        channel.push([StockLevel(A, 3)])
    assert channel.read_levels([A]) == {A: 4}  # nothing of a refused call is applied
    now[0] += timedelta(minutes=30)
    channel.push([StockLevel(A, 3)])
    assert (channel.push_calls, channel.throttled_calls) == (3, 1)


def test_a_cost_bucket_refuses_a_call_it_cannot_pay_for_and_refills_at_its_rate() -> None:
    now = [datetime(2026, 11, 27, tzinfo=UTC)]
    channel = SandboxChannel(ChannelName("shop"), lambda: now[0], points=(100, 10), push_cost=(10, 1))
    channel.push([StockLevel(Sku(f"S{n}"), 1) for n in range(80)])  # 90 points of 100
    with pytest.raises(TransientError, match="throttled"):
        channel.push([StockLevel(A, 1)])  # 11 points, 10 left
    now[0] += timedelta(seconds=1)  # 10 more
    channel.push([StockLevel(A, 1)])
    assert (channel.push_calls, channel.throttled_calls) == (2, 1)


def test_a_paced_client_never_has_a_call_refused_its_later_calls_show_later() -> None:
    now = [datetime(2026, 11, 27, tzinfo=UTC)]
    channel = SandboxChannel(ChannelName("emag"), lambda: now[0], lag_s=0, pace=2)
    for quantity in (5, 4, 3):  # three calls at once, two a second
        channel.push([StockLevel(A, quantity)])
    assert channel.read_levels([A]) == {A: 5}  # the second call's turn is half a second away
    now[0] += timedelta(seconds=0.5)
    assert channel.read_levels([A]) == {A: 4}
    now[0] += timedelta(seconds=0.5)
    assert channel.read_levels([A]) == {A: 3}
    assert (channel.push_calls, channel.throttled_calls, channel.paced_s) == (3, 0, 1.5)
    now[0] += timedelta(seconds=10)  # an idle client sends at once again
    channel.push([StockLevel(A, 2)])
    assert channel.read_levels([A]) == {A: 2}
    assert channel.take_spent() == {"paced": 4}  # its pace is its allowance: every call counts
    assert [(a.name, a.per_s) for a in channel.allowances()] == [("paced", 2)]
