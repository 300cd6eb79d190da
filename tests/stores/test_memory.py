"""What only the in-memory store does; the shared behaviour is in the contract suite."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.config import ChannelSettings, GuardSettings, Settings, WorkbookMaster
from sheetsync.core.buffers import NO_BUFFER
from sheetsync.errors import StoreLayoutError
from sheetsync.model import (
    AVAILABLE,
    INVENTORY_SHEET,
    LEDGER_SHEET,
    STATE_SHEET,
    CellWrite,
    ChannelName,
    LedgerEntry,
    Movement,
    Sku,
    StatusUpdate,
)
from sheetsync.stores.memory import MemoryStore
from sheetsync.worker import run_cycle

from .conftest import LAYOUT

SHOP = ChannelName("shop")
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_a_store_without_an_inventory_sheet_says_so() -> None:
    with pytest.raises(StoreLayoutError, match="memory has no sheet Inventory"):
        MemoryStore(LAYOUT, {}).read()


def test_the_worker_runs_cycles_on_it_and_writes_only_text() -> None:
    channel = ChannelSettings(SHOP, "sandbox", "Shop", 30, False, NO_BUFFER)
    settings = Settings(Path("memory"), WorkbookMaster(Path("unused")), GuardSettings(0.5, False), (channel,))
    store = MemoryStore(settings.layout, {INVENTORY_SHEET: [["SKU", "Quantity"], ["A-1", 5], ["B-2", 3]]})
    shop = SandboxChannel(SHOP, lambda: NOW)

    run_cycle(store, [shop], settings, NOW)
    assert shop.sell(Sku("A-1"), 2)
    report = run_cycle(store, [shop], settings, NOW)

    assert report.ingested == 1
    assert shop.read_levels([Sku("A-1"), Sku("B-2")]) == {Sku("A-1"): 3, Sku("B-2"): 3}
    assert [
        (r.cells["movement"], r.cells["order"]) for r in store.read().ledger if r.cells["channel"] == SHOP
    ] == [
        ("START", ""),  # the first sync's start line
        ("SALE", "order-1"),
    ]
    written = [
        value
        for rows in store.sheets.values()
        for row in rows[1:]
        for value in row
        if value is not None and value not in (5, 3)
    ]
    assert written
    assert all(isinstance(value, str) for value in written)
    assert LEDGER_SHEET in store.sheets


def test_the_ledger_is_parsed_again_where_a_row_was_replaced() -> None:
    header = ("Key", "SKU", "Delta", "Movement")
    store = MemoryStore(
        LAYOUT,
        {
            INVENTORY_SHEET: [("SKU", "Quantity"), ("A", 1)],
            LEDGER_SHEET: [header, ("k1", "A", "-1", "SALE"), ("k2", "A", "-1", "SALE")],
        },
    )
    assert [row.cells["delta"] for row in store.read().ledger] == ["-1", "-1"]

    store.sheets[LEDGER_SHEET][1] = ("k1", "A", "-3", "SALE")  # the merchant corrects a row
    store.sheets[LEDGER_SHEET].append(("k3", "A", "2", "RESTOCK"))

    assert [(row.row, row.cells["delta"]) for row in store.read().ledger] == [(2, "-3"), (3, "-1"), (4, "2")]


def test_an_edit_to_rows_the_store_appended_is_seen_after_more_appends() -> None:
    def sale(key: str) -> LedgerEntry:
        return LedgerEntry(key, Sku("A"), -1, Movement.SALE, NOW, SHOP, key, "1", "", "")

    store = MemoryStore(LAYOUT, {INVENTORY_SHEET: [("SKU", "Quantity"), ("A", 5)]})
    store.append_ledger([sale("k1"), sale("k2")])
    assert [row.cells["delta"] for row in store.read().ledger] == ["-1", "-1"]
    store.append_ledger([sale("k3")])
    rows = store.sheets[LEDGER_SHEET]
    delta = [str(title).casefold() for title in rows[0]].index("delta")
    rows[1] = tuple("-4" if column == delta else value for column, value in enumerate(rows[1]))
    store.append_ledger([sale("k4")])

    assert [(row.row, row.cells["key"], row.cells["delta"]) for row in store.read().ledger] == [
        (2, "k1", "-4"),
        (3, "k2", "-1"),
        (4, "k3", "-1"),
        (5, "k4", "-1"),
    ]
    store.append_ledger([sale("k1")])  # the edited row's Key is still held: not appended twice
    assert len(store.read().ledger) == 4


def test_a_value_written_again_leaves_its_row_as_it_was() -> None:
    store = MemoryStore(LAYOUT, {INVENTORY_SHEET: [("SKU", "Quantity"), ("A", 5), ("B", 3)]})
    store.read()
    store.write_status(StatusUpdate((), (), None, {"ledger_applied": "3", "fold": "k1"}))
    state = store.sheets[STATE_SHEET]
    rows = list(state)
    store.write_status(StatusUpdate((), (), None, {"ledger_applied": "3", "fold": "k2"}))
    assert state[1] is rows[1]  # ledger_applied: the same text
    assert "k2" in state[2]

    def available(row: int, text: str) -> None:
        store.write_status(StatusUpdate((CellWrite(row, Sku("A"), AVAILABLE, text),), (), None, {}))

    inventory = store.sheets[INVENTORY_SHEET]
    available(2, "5")
    written = inventory[1]
    available(2, "5")
    assert inventory[1] is written
    inventory.insert(1, ("C", 1))  # the merchant inserts a row above A's: the write finds A below it
    available(2, "4")
    assert inventory[1] == ("C", 1)
    assert "4" in inventory[2]
