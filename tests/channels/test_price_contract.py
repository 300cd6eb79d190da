"""The price contract: every channel that takes prices passes the same suite (see conftest.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sheetsync.channels import Channel, PriceChannel
from sheetsync.errors import SyncError
from sheetsync.model import PriceLevel, Sku

from .conftest import ChannelBackend

SKUS = ["A-1", "A-2", "B-1"]


def price(sku: str, amount: str) -> PriceLevel:
    return PriceLevel(Sku(sku), Decimal(amount), "USD")


def make(backend: ChannelBackend) -> tuple[Channel, PriceChannel]:
    """The backend's adapter, as a Channel (for its limits) and as a PriceChannel."""
    channel = backend.make(SKUS)
    assert isinstance(channel, PriceChannel), f"{type(channel).__name__} does not take prices"
    return channel, channel


def test_pushed_prices_are_what_the_channel_holds_afterwards(backend: ChannelBackend) -> None:
    _, channel = make(backend)
    outcomes = channel.push_prices([price("A-1", "12.50"), price("A-2", "3")])
    assert [(o.sku, o.ok) for o in outcomes] == [("A-1", True), ("A-2", True)]
    backend.settle()
    assert (backend.price("A-1"), backend.price("A-2")) == (Decimal("12.50"), Decimal("3.00"))


def test_an_unknown_sku_is_refused_alone_and_the_rest_apply(backend: ChannelBackend) -> None:
    _, channel = make(backend)
    outcomes = channel.push_prices([price("A-1", "9.99"), price("NOPE", "1.00"), price("B-1", "20.00")])
    assert [(o.sku, o.ok) for o in outcomes] == [("A-1", True), ("NOPE", False), ("B-1", True)]
    assert "NOPE" in outcomes[1].message
    backend.settle()
    assert (backend.price("A-1"), backend.price("B-1")) == (Decimal("9.99"), Decimal("20.00"))
    assert backend.price("NOPE") is None


def test_a_batch_above_the_limit_is_refused_whole(backend: ChannelBackend) -> None:
    channel, prices = make(backend)
    before = [backend.price(sku) for sku in SKUS]
    too_many = [price(SKUS[i % 3], f"{i + 1}.00") for i in range(channel.limits.max_batch + 1)]
    with pytest.raises(SyncError, match="limit"):
        prices.push_prices(too_many)
    backend.settle()
    assert [backend.price(sku) for sku in SKUS] == before  # nothing of it applied


def test_pushing_the_same_price_again_is_harmless(backend: ChannelBackend) -> None:
    _, channel = make(backend)
    batch = [price("A-1", "4.20"), price("B-1", "7.00")]
    first = channel.push_prices(batch)
    backend.settle()
    again = channel.push_prices(batch)
    backend.settle()
    assert [(o.sku, o.ok) for o in first] == [(o.sku, o.ok) for o in again] == [("A-1", True), ("B-1", True)]
    assert (backend.price("A-1"), backend.price("B-1")) == (Decimal("4.20"), Decimal("7.00"))
