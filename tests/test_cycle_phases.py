"""The phases of one worker cycle, each run alone against an in-memory master and sandbox channels."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.config import Settings, load
from sheetsync.core.state import parse_state
from sheetsync.errors import PermanentError, TransientError
from sheetsync.model import INVENTORY_SHEET, ChannelName, Movement, PushOutcome, Sku, StockLevel
from sheetsync.stores.memory import MemoryStore
from sheetsync.worker import (
    _batched,
    _Cycle,
    _ingest,
    _observe,
    _plan,
    _push_all,
    _read,
    _record,
    run_cycle,
)

CONFIG = """
[master]
kind = "workbook"
path = "unused.xlsx"

[channels.shop]
kind = "sandbox"

[channels.market]
kind = "sandbox"
"""

SHOP, MARKET = ChannelName("shop"), ChannelName("market")
A, B = Sku("A"), Sku("B")


class Unreadable(SandboxChannel):
    """A sandbox channel whose levels cannot be read (its API is down for reads)."""

    def read_levels(self, skus: Collection[Sku]) -> Mapping[Sku, int]:
        raise TransientError("read timed out")


class World:
    """A master in memory with two SKUs, two sandbox channels and a clock the test moves."""

    def __init__(self, tmp_path: Path) -> None:
        (tmp_path / "sheetsync.toml").write_text(CONFIG, encoding="utf-8")
        self.settings: Settings = load(tmp_path / "sheetsync.toml")
        self.store = MemoryStore(
            self.settings.layout, {INVENTORY_SHEET: [("SKU", "Quantity"), ("A", 5), ("B", 3)]}
        )
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
        self.channels: dict[ChannelName, SandboxChannel] = {
            SHOP: SandboxChannel(SHOP, lambda: self.now),
            MARKET: SandboxChannel(MARKET, lambda: self.now),
        }

    def cycle(self) -> _Cycle:
        """The next cycle, a minute on, with every channel due."""
        self.now += timedelta(minutes=1)
        return _Cycle(list(self.channels.values()), self.settings, self.now, set(self.channels), {})

    def restock(self, sku: Sku, quantity: int) -> None:
        """The merchant types a new count into the Quantity cell of ``sku``'s row."""
        rows = self.store.sheets[INVENTORY_SHEET]
        number = next(n for n, row in enumerate(rows) if row[0] == sku)
        rows[number] = (sku, quantity, *rows[number][2:])  # rows are replaced whole, never changed

    def ledger_rows(self) -> int:
        return len(self.store.read().ledger)


@pytest.fixture
def world(tmp_path: Path) -> World:
    world = World(tmp_path)
    run_cycle(world.store, list(world.channels.values()), world.settings, world.now)  # the first sync
    return world


def test_ingest_appends_each_order_line_once(world: World) -> None:
    assert world.channels[SHOP].sell(A, 2)
    before = world.ledger_rows()
    cycle = world.cycle()

    ingested = _ingest(world.store, cycle, _read(world.store, cycle), ())

    # The sale, after the COUNT entry that anchors it to the merchant's count.
    assert [(e.channel, e.sku, e.delta, e.movement) for e in ingested.fresh] == [
        (None, A, 5, Movement.COUNT),
        (SHOP, A, -2, Movement.SALE),
    ]
    assert world.ledger_rows() == before + 2
    assert ingested.errors == {SHOP: (), MARKET: ()}

    # The channel reports the same line again, and it is delivered by webhook too: both drop.
    lines = world.channels[SHOP].orders_since(None).lines
    again = _ingest(world.store, cycle, _read(world.store, cycle), lines)

    assert list(again.fresh) == []
    assert world.ledger_rows() == before + 2


def test_ingest_notes_a_channel_whose_orders_cannot_be_read_and_still_appends_the_others(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert world.channels[MARKET].sell(B, 1)

    def down(cursor: str | None) -> None:
        raise TransientError("orders API down")

    monkeypatch.setattr(world.channels[SHOP], "orders_since", down)
    cycle = world.cycle()

    ingested = _ingest(world.store, cycle, _read(world.store, cycle), ())

    assert ingested.errors == {SHOP: ("orders not read: orders API down",), MARKET: ()}
    assert [(e.channel, e.sku) for e in ingested.fresh if e.movement is Movement.SALE] == [(MARKET, B)]


def test_plan_with_nothing_changed_plans_no_push(world: World) -> None:
    cycle = world.cycle()
    read = _read(world.store, cycle)

    planned = _plan(cycle, read, _ingest(world.store, cycle, read, ()).fresh, accept_shrink=False)

    assert [planned.draft.pushes(name) for name in world.channels] == [[], []]


def test_plan_pushes_a_sale_to_the_other_channel_only(world: World) -> None:
    assert world.channels[SHOP].sell(A, 2)
    cycle = world.cycle()
    read = _read(world.store, cycle)

    planned = _plan(cycle, read, _ingest(world.store, cycle, read, ()).fresh, accept_shrink=False)

    # The shop lowered its own count when it sold; the market still shows 5.
    assert planned.draft.pushes(SHOP) == []
    assert [(level.sku, level.quantity) for level in planned.draft.pushes(MARKET)] == [(A, 3)]


def test_a_channel_that_cannot_be_read_keeps_its_raises_held_and_says_why(world: World) -> None:
    world.restock(A, 9)  # every channel is to be raised
    world.channels[MARKET] = Unreadable(MARKET, lambda: world.now)
    cycle = world.cycle()
    read = _read(world.store, cycle)
    ingested = _ingest(world.store, cycle, read, ())
    planned = _plan(cycle, read, ingested.fresh, accept_shrink=False)
    assert {level.sku for level in planned.draft.pushes(MARKET)} == {A}

    observed = _observe(cycle, planned, read.watches, ingested.errors, read.codes)
    _, results = _push_all(cycle, observed.final, observed.errors, read.codes)

    assert observed.final.pushes(MARKET) == []
    assert [(level.sku, level.quantity) for level in observed.final.pushes(SHOP)] == [(A, 9)]
    assert results[MARKET].errors == ("levels not read, raises held: read timed out",)
    assert results[SHOP].errors == ()


def test_record_writes_the_state_with_the_new_ledger_size_and_reports_the_cycle(world: World) -> None:
    assert world.channels[SHOP].sell(A, 2)
    cycle = world.cycle()
    read = _read(world.store, cycle)
    ingested = _ingest(world.store, cycle, read, ())
    planned = _plan(cycle, read, ingested.fresh, accept_shrink=False)
    observed = _observe(cycle, planned, read.watches, ingested.errors, read.codes)
    _, results = _push_all(cycle, observed.final, observed.errors, read.codes)
    assert parse_state(world.store.read().state).ledger_applied == read.ledger.size  # not yet recorded
    alerted: list[object] = []

    report = _record(world.store, cycle, read, ingested, planned, observed, results, alerted.extend)

    state = parse_state(world.store.read().state)
    assert state.ledger_applied == read.ledger.size + len(ingested.fresh) == world.ledger_rows()
    assert state.watches[MARKET].last_ok == cycle.epoch
    assert (report.ingested, dict(report.pushed), report.errors) == (1, {SHOP: 0, MARKET: 1}, {})
    assert alerted == []


def _levels(n: int) -> list[StockLevel]:
    return [StockLevel(Sku(f"S{i}"), 5) for i in range(n)]


def test_a_batch_refused_for_one_item_is_halved_until_that_item_is_found() -> None:
    calls: list[int] = []

    def send(batch: Sequence[StockLevel]) -> list[PushOutcome]:
        calls.append(len(batch))
        if any(level.sku == "S5" for level in batch):
            raise PermanentError("S5: quantity field is read-only for this product")
        return [PushOutcome(level.sku, True) for level in batch]

    errors: list[str] = []
    outcomes = _batched(send, _levels(8), 8, errors, "push of {} items failed")

    assert errors == []
    assert {sku for sku, o in outcomes.items() if o.ok} == {f"S{i}" for i in range(8)} - {"S5"}
    assert outcomes[Sku("S5")].message == "refused: S5: quantity field is read-only for this product"
    assert len(calls) <= 1 + 2 * 3  # the whole, then two halves a level


def test_a_batch_a_site_fails_on_with_http_500_is_halved_and_the_rest_still_sent() -> None:
    """A WordPress plugin failing on one product's save answers 500 to every batch holding it."""
    calls: list[int] = []

    def plugin(batch: Sequence[StockLevel]) -> list[PushOutcome]:
        calls.append(len(batch))
        if any(level.sku == "S6" for level in batch):
            raise TransientError("HTTP 500 to POST /products/batch", status=500)
        return [PushOutcome(level.sku, True) for level in batch]

    errors: list[str] = []
    outcomes = _batched(plugin, _levels(8), 8, errors, "push of {} items failed")

    assert errors == []
    assert {sku for sku, o in outcomes.items() if o.ok} == {f"S{i}" for i in range(8)} - {"S6"}
    assert outcomes[Sku("S6")].message == "refused: HTTP 500 to POST /products/batch"

    def down(batch: Sequence[StockLevel]) -> list[PushOutcome]:
        calls.append(len(batch))
        raise TransientError("HTTP 500 to POST /products/batch", status=500)

    calls.clear()
    assert _batched(down, _levels(8), 8, errors, "push of {} items failed") == {}
    assert calls == [8, 4, 4]  # every half alike: the site, not an item
    assert errors == ["push of 8 items failed: HTTP 500 to POST /products/batch"]


def test_a_batch_refused_as_a_call_is_not_split_further_and_a_transient_failure_not_at_all() -> None:
    calls: list[int] = []

    def revoked(batch: Sequence[StockLevel]) -> list[PushOutcome]:
        calls.append(len(batch))
        raise PermanentError("HTTP 401: the API key was revoked")

    errors: list[str] = []
    assert _batched(revoked, _levels(8), 8, errors, "push of {} items failed") == {}
    assert errors == ["push of 8 items failed: HTTP 401: the API key was revoked"]
    assert calls == [8, 4, 4]

    def busy(batch: Sequence[StockLevel]) -> list[PushOutcome]:
        calls.append(len(batch))
        raise TransientError("HTTP 503")

    calls.clear()
    errors.clear()
    assert _batched(busy, _levels(8), 4, errors, "push of {} items failed") == {}
    assert calls == [4, 4]
    assert errors == ["push of 4 items failed: HTTP 503", "push of 4 items failed: HTTP 503"]
