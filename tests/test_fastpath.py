"""The sale fast path: a delivered sale lowers every channel before the next cycle, and the cycle
that follows counts it once, takes in what was pushed, and never pushes back above it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.config import Settings, load
from sheetsync.errors import TransientError
from sheetsync.fastpath import FastPath
from sheetsync.model import (
    BUNDLES_SHEET,
    INVENTORY_SHEET,
    LEDGER_SHEET,
    ChannelName,
    Movement,
    OrderBatch,
    OrderLine,
    PushOutcome,
    Sku,
    StockLevel,
)
from sheetsync.stores.memory import MemoryStore
from sheetsync.worker import CycleReport, Inbox, run_cycle

CONFIG = """
[master]
kind = "workbook"
path = "unused: the master is in memory"

[channels.shopify]
kind = "sandbox"
interval = 60
tiers = [{ min = 0, hold = 0 }]

[channels.facebook]
kind = "sandbox"
interval = 60
tiers = [{ min = 6, hold = 1 }, { min = 0, hold = "all" }]

[channels.google]
kind = "sandbox"
interval = 60
tiers = [{ min = 0, hold = 0 }]
"""
SHOPIFY, FACEBOOK, GOOGLE = ChannelName("shopify"), ChannelName("facebook"), ChannelName("google")
A, B, KIT = Sku("A-1"), Sku("B-2"), Sku("KIT")
EVERY = (SHOPIFY, FACEBOOK, GOOGLE)


class Shop:
    """An in-memory master, three sandbox channels, and the fast path between cycles."""

    def __init__(
        self, tmp_path: Path, rows: Sequence[tuple[str, object]], bundles: Sequence[tuple[str, str, int]] = ()
    ) -> None:
        (tmp_path / "sheetsync.toml").write_text(CONFIG, encoding="utf-8")
        self.settings: Settings = load(tmp_path / "sheetsync.toml")
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
        sheets: dict[str, list[tuple[object, ...]]] = {INVENTORY_SHEET: [("SKU", "Quantity"), *rows]}
        if bundles:
            sheets[BUNDLES_SHEET] = [("Bundle", "Component", "Quantity"), *bundles]
        self.store = MemoryStore(self.settings.layout, sheets)
        self.channels = {c.name: SandboxChannel(c.name, lambda: self.now) for c in self.settings.channels}
        self.fast = FastPath(list(self.channels.values()), clock=lambda: self.now.timestamp())
        self.inbox = Inbox()
        self.inbox.on_sale = self.fast.sale

    def cycle(
        self, controls: Mapping[ChannelName, str] | None = None, due: set[ChannelName] | None = None
    ) -> CycleReport:
        """One cycle as ``run_forever`` runs it: what was delivered and pushed since, taken in."""
        pushes, delivered = self.fast.take(), self.inbox.take()
        report = run_cycle(
            self.store,
            list(self.channels.values()),
            self.settings,
            self.now,
            due,
            delivered=delivered,
            controls=controls,
            fast=self.fast,
            fast_pushes=pushes,
        )
        self.now += timedelta(seconds=60)
        return report

    def sell(self, channel: ChannelName, sku: Sku, quantity: int = 1) -> OrderLine:
        """A buyer buys on ``channel`` (which lowers itself), and its webhook is delivered."""
        assert self.channels[channel].sell(sku, quantity)
        line = self.channels[channel].orders_since(None).lines[-1]
        assert self.inbox.deliver(f"delivery {line.key}", [line])
        self.fast.settle()
        return line

    def shown(self, sku: Sku) -> list[int | None]:
        return [self.channels[name].read_levels([sku]).get(sku) for name in EVERY]

    def calls(self) -> list[int]:
        return [self.channels[name].push_calls for name in EVERY]

    def sales(self) -> list[tuple[object, ...]]:
        rows = self.store.sheets[LEDGER_SHEET]
        movement = rows[0].index("Movement")
        return [row for row in rows[1:] if row[movement] == "SALE"]


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    return Shop(tmp_path, [("A-1", 10), ("B-2", 4)])


def test_a_delivered_sale_lowers_every_other_channel_before_the_next_cycle(shop: Shop) -> None:
    shop.cycle()
    assert shop.shown(A) == [10, 9, 10]
    calls = shop.calls()
    shop.sell(SHOPIFY, A, 3)
    # Shopify lowered itself; Facebook holds 1 of the 7 left, Google none: no cycle has run.
    assert shop.shown(A) == [7, 6, 7]
    assert shop.calls() == [calls[0], calls[1] + 1, calls[2] + 1]
    assert shop.shown(B) == [4, 0, 4]  # untouched


def test_the_next_cycle_counts_the_sale_once_and_takes_the_fast_pushes_in(shop: Shop) -> None:
    shop.cycle()
    shop.sell(SHOPIFY, A, 3)
    calls = shop.calls()
    report = shop.cycle()
    assert len(shop.sales()) == 1  # delivered and polled: one Ledger row
    assert report.ingested == 1
    assert shop.calls() == calls  # nothing left to push
    assert report.discrepancies == ()  # what the fast path set is no drift and no lag
    assert {s.state for s in report.statuses} == {"OK"}
    assert shop.cycle().discrepancies == ()
    assert shop.shown(A) == [7, 6, 7]


def test_a_cycle_planned_before_a_sale_never_pushes_back_above_it(shop: Shop) -> None:
    shop.cycle()
    shop.store.sheets[INVENTORY_SHEET][1] = ("A-1", 20)  # the merchant restocks
    google = shop.channels[GOOGLE]
    poll = google.orders_since
    sold: list[OrderLine] = []

    def sale_during_the_cycle(cursor: str | None) -> OrderBatch:
        if not sold:  # Shopify's orders were read already: this cycle does not count the sale
            sold.append(shop.sell(SHOPIFY, A, 3))
        return poll(cursor)

    google.orders_since = sale_during_the_cycle  # type: ignore[method-assign]  # patched for the test
    report = shop.cycle()
    assert sold
    assert report.ingested == 0
    # 20 on the shelf less the 3 sold: Facebook 16, Google 17, not the 19 and 20 planned.
    assert shop.shown(A)[1:] == [16, 17]
    google.orders_since = poll  # type: ignore[method-assign]  # patched for the test
    after = shop.cycle()
    assert after.ingested == 1
    assert after.discrepancies == ()
    assert shop.shown(A)[1:] == [16, 17]


def test_a_bundle_sale_lowers_its_components_and_every_bundle_made_of_them(tmp_path: Path) -> None:
    shop = Shop(tmp_path, [("A-1", 10), ("B-2", 4), ("KIT", None)], [("KIT", "A-1", 2), ("KIT", "B-2", 1)])
    shop.cycle()
    assert shop.shown(KIT) == [4, 0, 4]
    shop.sell(SHOPIFY, KIT, 1)
    assert shop.shown(A) == [8, 7, 8]
    assert shop.shown(B) == [3, 0, 3]
    assert shop.shown(KIT) == [3, 0, 3]
    assert shop.cycle().discrepancies == ()
    assert len(shop.sales()) == 1


def test_the_fast_path_never_raises_a_channel_nor_pushes_a_paused_one(shop: Shop) -> None:
    shop.cycle(controls={FACEBOOK: "PAUSE"})
    calls = shop.calls()
    line = shop.sell(SHOPIFY, A, 3)
    assert shop.calls() == [calls[0], calls[1], calls[2] + 1]  # Facebook is paused
    refund = OrderLine(SHOPIFY, line.order_id, line.line_id, A, 3, Movement.RESTOCK, line.at, line.cursor)
    assert shop.inbox.deliver("refund", [refund])
    shop.fast.settle()
    assert shop.calls() == [calls[0], calls[1], calls[2] + 1]  # a raise waits for the cycle
    assert shop.shown(A)[2] == 7


def test_a_sale_before_the_first_cycle_waits_for_it(shop: Shop) -> None:
    shop.channels[SHOPIFY].push([StockLevel(A, 10)])  # the shop lists its stock already
    shop.sell(SHOPIFY, A, 2)
    assert shop.calls() == [1, 0, 0]  # nothing planned yet: the first cycle pushes it
    shop.cycle()
    assert shop.shown(A) == [8, 7, 8]


class Down(SandboxChannel):
    """A channel whose pushes fail on the way until it is back."""

    down = True

    def push(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        if self.down:
            raise TransientError("facebook: connection reset")
        return super().push(levels)


def test_a_fast_push_that_fails_is_left_to_the_cycle(tmp_path: Path) -> None:
    shop = Shop(tmp_path, [("A-1", 10)])
    facebook = Down(FACEBOOK, lambda: shop.now)
    facebook.down = False
    shop.channels[FACEBOOK] = facebook
    shop.fast = FastPath(list(shop.channels.values()), clock=lambda: shop.now.timestamp())
    shop.inbox.on_sale = shop.fast.sale
    shop.cycle()
    facebook.down = True
    shop.sell(SHOPIFY, A, 3)
    assert shop.shown(A) == [7, 9, 7]
    facebook.down = False
    assert shop.cycle().discrepancies == ()
    assert shop.shown(A) == [7, 6, 7]


def test_pushes_taken_by_a_failed_cycle_are_handed_to_the_next(shop: Shop) -> None:
    shop.cycle()
    shop.sell(SHOPIFY, A, 3)
    taken = shop.fast.take()
    assert {(p.channel, p.sku, p.quantity) for p in taken} == {(FACEBOOK, A, 6), (GOOGLE, A, 7)}
    shop.fast.put_back(taken)  # the cycle failed before it recorded them
    assert shop.fast.take() == taken


class Recording(SandboxChannel):
    """A sandbox channel that keeps every quantity pushed to it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[Sku, int]] = []

    def push(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        self.sent += [(level.sku, level.quantity) for level in levels]
        return super().push(levels)


def test_what_the_fast_path_pushed_during_a_cycle_is_not_pushed_again_after_it(tmp_path: Path) -> None:
    shop = Shop(tmp_path, [("A-1", 10), ("B-2", 10)])
    facebook = Recording(FACEBOOK, lambda: shop.now)
    shop.channels[FACEBOOK] = facebook
    shop.fast = FastPath(list(shop.channels.values()), clock=lambda: shop.now.timestamp())
    shop.inbox.on_sale = shop.fast.sale
    shop.cycle()
    google = shop.channels[GOOGLE]
    poll = google.orders_since

    def sale_during_the_cycle(cursor: str | None) -> OrderBatch:
        google.orders_since = poll  # type: ignore[method-assign]  # patched for the test
        shop.sell(SHOPIFY, A, 3)
        return poll(cursor)

    google.orders_since = sale_during_the_cycle  # type: ignore[method-assign]  # patched for the test
    shop.cycle(due={SHOPIFY, GOOGLE})  # Facebook is not due: the cycle pushes nothing there
    assert facebook.sent[-1] == (A, 6)
    sent = len(facebook.sent)
    shop.sell(SHOPIFY, B, 1)
    assert facebook.sent[sent:] == [(B, 8)]  # A-1 is not set again


def test_a_sale_under_a_channels_own_code_lowers_the_row_it_maps_to(tmp_path: Path) -> None:
    shop = Shop(tmp_path, [("A-1", 10)])
    shop.store.sheets[INVENTORY_SHEET][0] = ("SKU", "Quantity", "SKU Shopify")
    shop.store.sheets[INVENTORY_SHEET][1] = ("A-1", 10, "SHOP-A")
    shop.cycle()
    assert shop.channels[SHOPIFY].read_levels([Sku("SHOP-A")]) == {Sku("SHOP-A"): 10}
    shop.sell(SHOPIFY, Sku("SHOP-A"), 3)
    assert shop.shown(A)[1:] == [6, 7]
