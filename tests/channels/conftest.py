"""One harness per channel backend; the contract suite runs against every one of them.

A new channel proves itself by adding a backend here: ``make`` builds the real adapter over its
fake, and the other methods act on the platform side (a buyer, the clock).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest

from sheetsync.channels import Channel
from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.model import ChannelName, Sku


class ChannelBackend(Protocol):
    def make(self, skus: list[str]) -> Channel: ...
    def sell(self, sku: str, quantity: int) -> str: ...  # returns the platform's order id
    def cancel(self, order_id: str) -> None: ...
    def settle(self) -> None: ...  # let the platform finish processing what was pushed


class SandboxBackend:
    lag = timedelta(seconds=90)

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
        self.channel: SandboxChannel | None = None

    def make(self, skus: list[str]) -> Channel:
        self.channel = SandboxChannel(
            ChannelName("sandbox"),
            lambda: self.now,
            lag_s=self.lag.total_seconds(),
            skus=skus,
            max_batch=5,
        )
        return self.channel

    def sell(self, sku: str, quantity: int) -> str:
        assert self.channel is not None
        assert self.channel.sell(Sku(sku), quantity)
        return self.channel.orders_since(None).lines[-1].order_id

    def cancel(self, order_id: str) -> None:
        assert self.channel is not None
        self.channel.cancel(order_id)

    def settle(self) -> None:
        self.now += self.lag


@pytest.fixture(params=["sandbox"])
def backend(request: pytest.FixtureRequest) -> ChannelBackend:
    return {"sandbox": SandboxBackend}[request.param]()
