"""One harness per channel backend; the contract suite runs against every one of them.

A new channel proves itself by adding a backend here: ``make`` builds the real adapter over its
fake, and the other methods act on the platform side (a buyer, the clock).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import httpx
import pytest
from graphql import GraphQLSchema

from sheetsync.channels import Channel
from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.channels.shopify import ShopifyChannel
from sheetsync.model import ChannelName, Sku
from sheetsync.testing.shopify import FakeShopify, load_schema

SHOPIFY_REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "shopify"


class ChannelBackend(Protocol):
    sells: bool  # it is an OrderSource: buyers check out on it

    def make(self, skus: list[str]) -> Channel: ...
    def sell(self, sku: str, quantity: int) -> str: ...  # returns the platform's order id
    def cancel(self, order_id: str) -> None: ...
    def settle(self) -> None: ...  # let the platform finish processing what was pushed


class SandboxBackend:
    sells = True
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


@functools.cache
def shopify_schema(version: str = "2026-10") -> GraphQLSchema:
    """The real Admin schema, built once per session (a few tenths of a second each)."""
    return load_schema(SHOPIFY_REFERENCE / f"admin_{version}.json.gz")


class FakeClock:
    """The fake's clock, in epoch seconds; the adapter's injected sleep moves it, nothing else waits."""

    def __init__(self, start: datetime = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)) -> None:
        self.now = start.timestamp()
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class ShopifyBackend:
    """The real ShopifyChannel over FakeShopify in-process (httpx.MockTransport)."""

    sells = True

    shop = "contract.myshopify.com"
    token = "shpat_contract_token"

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.fake = FakeShopify({"2026-10": shopify_schema()}, now=self.clock)

    def make(self, skus: list[str]) -> Channel:
        self.fake.create_shop(self.shop, self.token, locations=["Warehouse"])
        for sku in skus:
            # Listed but never stocked at the location, like a fresh sandbox listing: no level yet.
            self.fake.add_product(self.shop, sku, stock={})
        return ShopifyChannel(
            ChannelName("shopify"),
            shop=self.shop,
            token=self.token,
            location="Warehouse",
            client=httpx.Client(transport=httpx.MockTransport(self.fake)),
            sleep=self.clock.sleep,
            clock=self.clock,
        )

    def sell(self, sku: str, quantity: int) -> str:
        # Order lines carry Shopify's legacy numeric id (the REST and webhook spelling of the gid).
        return self.fake.place_order(self.shop, [(sku, quantity)]).rsplit("/", 1)[-1]

    def cancel(self, order_id: str) -> None:
        self.fake.cancel_order(f"gid://shopify/Order/{order_id}")

    def settle(self) -> None:
        """Shopify applies a set at once: nothing to wait for."""


@pytest.fixture(params=["sandbox", "shopify"])
def backend(request: pytest.FixtureRequest) -> ChannelBackend:
    return {"sandbox": SandboxBackend, "shopify": ShopifyBackend}[request.param]()
