"""Locations, bundles, prices, reorder points and insights: real cycles through each grid store.

The workbook and the Google Sheets store (gspread against the Sheets fake) hold the master;
sandbox channels stand in for the platforms.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.config import Settings, load
from sheetsync.core.incidents import Alert
from sheetsync.model import INSIGHTS_SHEET, REORDER_SHEET, ChannelName, Sku
from sheetsync.stores import MasterStore
from sheetsync.worker import CycleReport, run_cycle

from .conftest import Backend, GoogleSheetsBackend, WorkbookBackend

START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["workbook", "google_sheets"])
def grid(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return WorkbookBackend(tmp_path) if request.param == "workbook" else GoogleSheetsBackend(tmp_path)


class Shop:
    """A master in ``grid``, sandbox channels named by the config, and a clock."""

    def __init__(self, grid: Backend, tmp_path: Path, config: str, rows: list[dict[str, object]]) -> None:
        path = tmp_path / "sheetsync.toml"
        path.write_text(config + '\n[master]\nkind = "workbook"\npath = "unused.xlsx"\n', encoding="utf-8")
        self.settings: Settings = load(path)
        self.grid = grid
        self.store: MasterStore = grid.make(rows, self.settings.layout)
        self.now = START
        self.channels = {c.name: SandboxChannel(c.name, lambda: self.now) for c in self.settings.channels}
        self.alerts: list[Alert] = []

    def cycle(self) -> CycleReport:
        self.now += timedelta(minutes=1)
        return run_cycle(
            self.store, list(self.channels.values()), self.settings, self.now, alert=self.alerts.extend
        )

    def shows(self, channel: str, sku: str) -> int | None:
        return self.channels[ChannelName(channel)].read_levels([Sku(sku)]).get(Sku(sku))

    def cell(self, row: int, header: str) -> str:
        return self.grid.inventory_value(row, header)


LOCATIONS = """
locations = ["Shop", "Warehouse"]

[channels.online]
kind = "sandbox"
locations = ["Warehouse", "Shop"]

[channels.pos]
kind = "sandbox"
locations = ["Shop"]
"""


def test_each_channel_sells_from_its_locations_and_a_shop_count_flows_to_them(
    grid: Backend, tmp_path: Path
) -> None:
    shop = Shop(grid, tmp_path, LOCATIONS, [{"SKU": "A", "Quantity Shop": 3, "Quantity Warehouse": 10}])
    shop.cycle()
    assert (shop.shows("online", "A"), shop.shows("pos", "A")) == (13, 3)
    assert shop.cell(2, "Available") == "13"

    # An in-store sale: the merchant lowers the Shop count; only channels drawing on Shop change.
    grid.merchant_edit(2, "Quantity Shop", 2)
    shop.cycle()
    assert (shop.shows("online", "A"), shop.shows("pos", "A")) == (12, 2)

    # An online sale takes stock from the Warehouse, the online store's first location.
    assert shop.channels[ChannelName("online")].sell(Sku("A"), 4)
    shop.cycle()
    sale = next(row for row in grid.ledger_rows() if row["Movement"] == "SALE")
    assert (sale["Location"], sale["Delta"]) == ("Warehouse", "-4")
    assert (shop.shows("online", "A"), shop.shows("pos", "A")) == (8, 2)


def test_a_sale_larger_than_the_first_location_holds_takes_the_next_one(
    grid: Backend, tmp_path: Path
) -> None:
    shop = Shop(grid, tmp_path, LOCATIONS, [{"SKU": "A", "Quantity Shop": 5, "Quantity Warehouse": 1}])
    shop.cycle()
    assert shop.channels[ChannelName("online")].sell(Sku("A"), 3)
    shop.cycle()
    sale = next(row for row in grid.ledger_rows() if row["Movement"] == "SALE")
    assert sale["Location"] == "Shop"
    assert (shop.shows("online", "A"), shop.shows("pos", "A")) == (3, 2)


TWO_CHANNELS = """
[channels.online]
kind = "sandbox"

[channels.market]
kind = "sandbox"
tiers = [{ min = 3, hold = 1 }, { min = 0, hold = "all" }]
"""


def test_a_bundle_sells_as_its_components_and_a_component_sale_lowers_the_bundle(
    grid: Backend, tmp_path: Path
) -> None:
    rows: list[dict[str, object]] = [
        {"SKU": "KIT", "Quantity": None},
        {"SKU": "CUP", "Quantity": 10},
        {"SKU": "LID", "Quantity": 3},
    ]
    shop = Shop(grid, tmp_path, TWO_CHANNELS, rows)
    grid.add_sheet("Bundles", [["Bundle", "Component", "Quantity"], ["KIT", "CUP", 2], ["KIT", "LID", 1]])
    shop.cycle()
    assert shop.shows("online", "KIT") == 3  # min(10 // 2, 3 // 1)
    assert shop.cell(2, "Available") == "3"

    assert shop.channels[ChannelName("online")].sell(Sku("KIT"), 1)
    shop.cycle()
    moves = {(row["SKU"], row["Movement"]): row["Delta"] for row in grid.ledger_rows()}
    assert moves[("KIT", "SALE")] == "-1"
    assert (moves[("CUP", "BUNDLE")], moves[("LID", "BUNDLE")]) == ("-2", "-1")
    assert (shop.shows("online", "CUP"), shop.shows("online", "LID"), shop.shows("online", "KIT")) == (
        8,
        2,
        2,
    )

    assert shop.channels[ChannelName("online")].sell(Sku("LID"), 1)  # a component sold alone
    shop.cycle()
    assert (shop.shows("online", "KIT"), shop.shows("market", "KIT")) == (1, 0)
    assert shop.cell(2, "Available") == "1"


def test_a_cycle_in_the_bundles_is_flagged_and_nothing_of_it_is_pushed(grid: Backend, tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [{"SKU": "A", "Quantity": None}, {"SKU": "B", "Quantity": None}]
    rows.append({"SKU": "C", "Quantity": 4})
    shop = Shop(grid, tmp_path, TWO_CHANNELS, rows)
    grid.add_sheet(
        "Bundles", [["Bundle", "Component", "Quantity"], ["A", "B", 1], ["B", "A", 1], ["B", "C", 1]]
    )
    shop.cycle()
    assert shop.cell(2, "Status") == "ERROR"
    assert "A → B → A is a cycle" in shop.cell(2, "Reason")
    assert shop.shows("online", "A") is None
    assert shop.shows("online", "B") is None
    assert shop.shows("online", "C") == 4  # the rest of the catalogue still syncs


PRICED = TWO_CHANNELS + '\n[prices]\ncurrency = "EUR"\n'


def test_prices_are_pushed_once_per_change_and_a_bad_price_never_stops_stock(
    grid: Backend, tmp_path: Path
) -> None:
    rows: list[dict[str, object]] = [
        {"SKU": "A", "Quantity": 5, "Price": "12.5", "Price Market": "13.00"},
        {"SKU": "B", "Quantity": 2, "Price": "12,50"},
    ]
    shop = Shop(grid, tmp_path, PRICED, rows)
    shop.cycle()
    assert shop.channels[ChannelName("online")].read_prices([Sku("A")]) == {"A": Decimal("12.50")}
    assert shop.channels[ChannelName("market")].read_prices([Sku("A")]) == {"A": Decimal("13.00")}
    assert shop.cell(2, "Prices sent") == "online=12.50 market=13.00"
    assert (shop.cell(3, "Status"), shop.shows("online", "B")) == ("ERROR", 2)
    assert 'Price "12,50" has a comma' in shop.cell(3, "Reason")
    assert shop.channels[ChannelName("online")].read_prices([Sku("B")]) == {}

    sent = shop.channels[ChannelName("online")].price_calls
    shop.cycle()
    assert shop.channels[ChannelName("online")].price_calls == sent  # unchanged: nothing sent again

    grid.merchant_edit(2, "Price", "11")
    shop.cycle()
    assert shop.channels[ChannelName("online")].read_prices([Sku("A")]) == {"A": Decimal("11.00")}
    assert shop.channels[ChannelName("market")].read_prices([Sku("A")]) == {"A": Decimal("13.00")}
    assert shop.channels[ChannelName("online")].price_calls == sent + 1


def test_falling_to_the_reorder_point_flags_the_row_lists_it_and_alerts_once(
    grid: Backend, tmp_path: Path
) -> None:
    rows: list[dict[str, object]] = [
        {"SKU": "A", "Quantity": 6, "Reorder point": 5, "Reorder qty": 20},
        {"SKU": "B", "Quantity": 50, "Reorder point": 5},
    ]
    shop = Shop(grid, tmp_path, TWO_CHANNELS, rows)
    shop.cycle()
    assert shop.cell(2, "Status") == "OK"
    assert grid.sheet_rows(REORDER_SHEET) == []

    assert shop.channels[ChannelName("online")].sell(Sku("A"), 1)
    shop.cycle()
    assert shop.cell(2, "Status") == "REORDER"
    assert shop.cell(2, "Reason").startswith("REORDER: 5 left, reorder point 5; buy 20")
    (listed,) = grid.sheet_rows(REORDER_SHEET)
    assert (listed["SKU"], listed["Available"], listed["Reorder qty"]) == ("A", "5", "20")
    assert [a.text for a in shop.alerts if not a.recovered] == [
        "A (row 2) is down to 5, at or below its reorder point 5; reorder 20"
    ]

    shop.cycle()
    assert len(shop.alerts) == 1  # the incident stays open: no second alert

    grid.merchant_edit(2, "Quantity", 30)  # restocked
    shop.cycle()
    assert shop.cell(2, "Status") == "OK"
    assert grid.sheet_rows(REORDER_SHEET) == []
    assert shop.alerts[-1].recovered


def test_insights_are_written_once_a_day(grid: Backend, tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [{"SKU": "A", "Quantity": 100}, {"SKU": "B", "Quantity": 100}]
    rows.append({"SKU": "C", "Quantity": 100})
    shop = Shop(grid, tmp_path, TWO_CHANNELS, rows)
    shop.cycle()
    for sku, units in (("A", 9), ("B", 1)):
        assert shop.channels[ChannelName("online")].sell(Sku(sku), units)
    assert shop.channels[ChannelName("market")].sell(Sku("A"), 1)
    shop.cycle()
    # The day's sheet was written by the first cycle, before these sales.
    assert {row["SKU"]: row["Sold 30d"] for row in grid.sheet_rows(INSIGHTS_SHEET)} == {
        "A": "0",
        "B": "0",
        "C": "0",
    }

    shop.now += timedelta(days=1)
    shop.cycle()
    insights = {row["SKU"]: row for row in grid.sheet_rows(INSIGHTS_SHEET)}
    assert (insights["A"]["Online 7d"], insights["A"]["Market 30d"], insights["A"]["Sold 30d"]) == (
        "9",
        "1",
        "10",
    )
    assert [insights[s]["ABC"] for s in "ABC"] == ["A", "B", "C"]
    assert (insights["A"]["Available"], insights["A"]["Days of cover"]) == ("90", "270")
