"""Sandbox-only behaviour: lag, buyers limited to what is visible, overwrite on arrival."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.model import ChannelName, Sku, StockLevel

A = Sku("A")


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
