"""Real order lifecycles through the real worker, the real adapters and the platform fakes.

First sync on a shop with history: the merchant types today's count; every order placed before
sheetsync started is already reflected in it, so none of them may be subtracted (the bug:
Available -70, every channel 0).  Then edits, refunds, cancellations, unknown SKUs, lines that
cannot be counted, a lost Ledger and webhook-mode cursors: every sale counted once, as the
platform counts it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sheetsync_fakes import REFERENCE
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.shopify import FakeShopify, load_schema
from sheetsync_fakes.woocommerce import FakeWooCommerce

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.channels.shopify import ShopifyChannel, webhook_lines
from sheetsync.channels.woocommerce import WooCommerceChannel
from sheetsync.config import Settings, load
from sheetsync.core.ledger import FOLD_AT, start_cursor
from sheetsync.model import (
    INVENTORY_SHEET,
    LEDGER_SHEET,
    ChannelName,
    LedgerEntry,
    Movement,
    Sku,
    ledger_cells,
)
from sheetsync.stores.memory import MemoryStore
from sheetsync.worker import CycleReport, run_cycle

CONFIG = """
[master]
kind = "workbook"
path = "unused.xlsx"

[channels.shopify]
kind = "sandbox"
title = "Shopify"

[channels.woo]
kind = "sandbox"
title = "WooCommerce"
"""

SHOPIFY, WOO = ChannelName("shopify"), ChannelName("woo")
MUG = Sku("MUG")
DOMAIN, TOKEN = "history.myshopify.com", "shpat_history"
KEY, SECRET = "ck_history", "cs_history"
#: The install: the merchant types today's count, 50, and starts the worker.
INSTALL = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


class Shop:
    """A Shopify shop and a WooCommerce store with 60 orders each before the install."""

    def __init__(self, tmp_path: Path, ledger: list[list[str]] | None = None) -> None:
        (tmp_path / "sheetsync.toml").write_text(CONFIG, encoding="utf-8")
        self.settings: Settings = load(tmp_path / "sheetsync.toml")
        sheets: dict[str, list[Sequence[object]]] = {INVENTORY_SHEET: [["SKU", "Quantity"], ["MUG", 50]]}
        if ledger is not None:
            sheets[LEDGER_SHEET] = [list(self.settings.layout.ledger_headers().values()), *ledger]
        self.store = MemoryStore(self.settings.layout, sheets)
        self.now = INSTALL - timedelta(days=30)  # the fakes' clock: moved as orders are placed
        self.clock = ManualClock(self.now.timestamp())
        self.shopify = FakeShopify(
            {"2026-10": load_schema(REFERENCE / "shopify" / "admin_2026-10.json.gz")}, now=self.clock
        )
        self.shopify.create_shop(DOMAIN, TOKEN, locations=["Warehouse"])
        self.shopify.add_product(DOMAIN, "MUG", stock={"Warehouse": 200})
        self.woo = FakeWooCommerce(
            REFERENCE / "woocommerce" / "rest_v3_reference.json",
            consumer_key=KEY,
            consumer_secret=SECRET,
            now=self.clock,
        )
        self.woo_orders: list[int] = []
        self.woo.add_product("MUG", stock=200)
        for n in range(60):  # a month of history on both platforms, the last a minute before install
            self.at(INSTALL - timedelta(minutes=1) - (59 - n) * timedelta(hours=12))
            self.shopify.place_order(DOMAIN, [("MUG", 1)])
            self.woo_orders.append(self.woo.place_order([("MUG", 1)], status="processing"))
        self.at(INSTALL)
        self.channels = self.adapters()

    def adapters(self) -> list[ShopifyChannel | WooCommerceChannel]:
        """The real adapters over the fakes, as a freshly started worker builds them."""
        return [
            ShopifyChannel(
                SHOPIFY,
                shop=DOMAIN,
                token=TOKEN,
                location="Warehouse",
                client=httpx.Client(transport=httpx.MockTransport(self.shopify)),
                sleep=self.clock.sleep,
                clock=self.clock,
            ),
            WooCommerceChannel(
                WOO,
                site="history.example.com",
                consumer_key=KEY,
                consumer_secret=SECRET,
                client=httpx.Client(transport=httpx.MockTransport(self.woo)),
                sleep=self.clock.sleep,
                clock=self.clock,
            ),
        ]

    def at(self, moment: datetime) -> None:
        self.now = moment
        self.clock.now = moment.timestamp()

    def later(self, by: timedelta) -> None:
        self.at(self.now + by)

    def cycle(self) -> CycleReport:
        return run_cycle(self.store, self.channels, self.settings, self.now)

    def ledger(self) -> list[dict[str, str]]:
        return [dict(row.cells) for row in self.store.read().ledger]

    def moves(self, movement: str) -> list[dict[str, str]]:
        return [row for row in self.ledger() if row["movement"] == movement]

    def available(self) -> str:
        rows = self.store.sheets[INVENTORY_SHEET]
        column = [str(h) for h in rows[0]].index("Available")
        return str(rows[1][column])

    def shown(self) -> dict[ChannelName, int | None]:
        return {c.name: c.read_levels([MUG]).get(MUG) for c in self.channels}


def test_the_first_sync_subtracts_no_order_placed_before_the_install(tmp_path: Path) -> None:
    shop = Shop(tmp_path)

    report = shop.cycle()

    assert shop.available() == "50"
    assert shop.shown() == {SHOPIFY: 50, WOO: 50}
    assert report.ingested == 0
    assert not report.errors
    assert not report.discrepancies  # nothing OVERSOLD
    starts = shop.moves("START")
    assert [(row["key"], row["channel"], row["delta"], row["cursor"]) for row in starts] == [
        ("start:shopify", "shopify", "0", "2026-11-27T09:00:00Z#00000000000000000000"),
        ("start:woo", "woo", "0", "2026-11-27T09:00:00Z#00000000000000000000"),
    ]
    assert all("not counted" in row["note"] and row["at"] == "2026-11-27T09:00:00Z" for row in starts)
    assert [row["movement"] for row in shop.ledger()] == ["START", "START"]


def test_an_order_after_the_install_counts_once_and_earlier_ones_never(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.cycle()
    shop.later(timedelta(minutes=1))
    shop.shopify.place_order(DOMAIN, [("MUG", 3)])
    # A pre-install WooCommerce order cancelled now turns up in the next read with its sale and
    # its restock: the count never held its unit, so neither the sale nor the restock counts.
    shop.woo.set_status(shop.woo_orders[-1], "cancelled")
    shop.later(timedelta(minutes=1))

    report = shop.cycle()

    assert report.ingested == 1
    assert shop.available() == "47"
    assert shop.shown()[WOO] == 47
    assert [(row["channel"], row["delta"]) for row in shop.moves("SALE")] == [("shopify", "-3")]
    assert shop.moves("RESTOCK") == []
    for _ in range(3):  # re-reads (Shopify's and WooCommerce's overlaps) add nothing
        shop.later(timedelta(minutes=2))
        assert shop.cycle().ingested == 0
    assert shop.available() == "47"
    assert len(shop.moves("SALE")) == 1


def test_a_restarted_worker_adds_no_second_start_line_and_reads_no_history(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.cycle()
    shop.later(timedelta(minutes=1))
    shop.woo.place_order([("MUG", 2)], status="processing")
    shop.later(timedelta(minutes=1))
    shop.cycle()

    shop.channels = shop.adapters()  # the worker restarts: the adapters remember nothing
    shop.later(timedelta(minutes=1))
    report = shop.cycle()

    assert report.ingested == 0
    assert [row["key"] for row in shop.moves("START")] == ["start:shopify", "start:woo"]
    assert [(row["channel"], row["delta"]) for row in shop.moves("SALE")] == [("woo", "-2")]
    assert shop.available() == "48"
    assert shop.shown() == {SHOPIFY: 48, WOO: 48}


def test_an_existing_install_keeps_reading_from_its_ledger_and_gets_no_start_line(tmp_path: Path) -> None:
    # Installed before start lines existed: the ledger holds its COUNT and a sale on each
    # platform whose cursor is 23 hours back; the orders after it still count.
    recorded = INSTALL - timedelta(hours=23)
    old = [
        LedgerEntry("count/MUG/old", MUG, 50, Movement.COUNT, recorded - timedelta(days=40)),
        LedgerEntry(
            "shopify/1/1", MUG, -1, Movement.SALE, recorded, SHOPIFY, "1", "1", start_cursor(recorded)
        ),
        LedgerEntry("woo/1/1", MUG, -1, Movement.SALE, recorded, WOO, "1", "1", start_cursor(recorded)),
    ]
    headers = list(Shop(tmp_path).settings.layout.ledger_headers())
    rows = [[ledger_cells(entry).get(name, "") for name in headers] for entry in old]
    shop = Shop(tmp_path, ledger=rows)

    report = shop.cycle()

    assert shop.moves("START") == []
    # Read from the ledger's cursors as before: the two orders since on each platform count.
    assert report.ingested == 4
    assert shop.available() == str(50 - 2 - 4)
    assert len(shop.moves("SALE")) == 2 + 4


def test_a_sandbox_channel_counts_from_its_start_line_time(tmp_path: Path) -> None:
    # The sandbox's cursors are sequence numbers, not times: its start line has no cursor and
    # its time alone keeps the orders before it out.
    (tmp_path / "sheetsync.toml").write_text(CONFIG, encoding="utf-8")
    settings = load(tmp_path / "sheetsync.toml")
    store = MemoryStore(settings.layout, {INVENTORY_SHEET: [["SKU", "Quantity"], ["MUG", 50]]})
    now = INSTALL - timedelta(hours=1)
    channel = SandboxChannel(SHOPIFY, lambda: now)
    woo = SandboxChannel(WOO, lambda: now)
    channel.edit(MUG, 100)
    assert channel.sell(MUG, 30)  # before the install
    now = INSTALL
    run_cycle(store, [channel, woo], settings, now)
    now += timedelta(minutes=1)
    assert channel.sell(MUG, 4)
    now += timedelta(minutes=1)

    report = run_cycle(store, [channel, woo], settings, now)

    assert report.ingested == 1
    assert woo.read_levels([MUG]) == {MUG: 46}
    starts = [row.cells for row in store.read().ledger if row.cells["movement"] == "START"]
    assert [(row["channel"], row["cursor"]) for row in starts] == [("shopify", ""), ("woo", "")]


def test_an_unreadable_start_row_stops_reading_that_channel_instead_of_reading_history(
    tmp_path: Path,
) -> None:
    headers = list(Shop(tmp_path).settings.layout.ledger_headers())
    broken = {"key": "start:shopify", "movement": "START", "at": "yesterday", "channel": "shopify"}
    shop = Shop(tmp_path, ledger=[[broken.get(name, "") for name in headers]])

    report = shop.cycle()

    assert "start line (Ledger key start:shopify) cannot be read" in report.errors[SHOPIFY][0]
    assert [row["key"] for row in shop.moves("START")] == ["start:shopify", "start:woo"]  # woo's is new
    assert shop.available() == "50"


def test_a_lost_ledger_stops_the_sync_with_an_error_and_one_alert(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.cycle()
    shop.later(timedelta(minutes=1))
    shop.shopify.place_order(DOMAIN, [("MUG", 3)])
    shop.later(timedelta(minutes=1))
    shop.cycle()
    assert shop.shown() == {SHOPIFY: 47, WOO: 47}
    shop.store.sheets["Ledger (old)"] = shop.store.sheets.pop(LEDGER_SHEET)  # the merchant renames it
    shop.later(timedelta(minutes=1))
    shop.shopify.place_order(DOMAIN, [("MUG", 1)])
    shop.later(timedelta(minutes=1))
    alerts: list[str] = []

    report = run_cycle(
        shop.store,
        shop.channels,
        shop.settings,
        shop.now,
        alert=lambda sent: alerts.extend(a.line() for a in sent),
    )
    again = run_cycle(
        shop.store,
        shop.channels,
        shop.settings,
        shop.now,
        alert=lambda sent: alerts.extend(a.line() for a in sent),
    )

    assert LEDGER_SHEET not in shop.store.sheets  # never recreated behind the merchant's back
    assert shop.shown() == {SHOPIFY: 46, WOO: 47}  # nothing pushed (Shopify sold one by itself)
    assert report.held
    assert again.held
    for status in report.statuses:
        assert status.state == "ERROR"
        assert "Ledger tab is missing" in status.message
        assert 'Rename the tab back to "Ledger"' in status.message
    assert len(alerts) == 1  # once, not every cycle
    assert "held" in alerts[0]
    shop.store.sheets[LEDGER_SHEET] = shop.store.sheets.pop("Ledger (old)")  # renamed back
    shop.later(timedelta(minutes=1))
    shop.cycle()
    assert shop.shown() == {SHOPIFY: 46, WOO: 46}  # the sale made meanwhile counted, once
    assert [(row["channel"], row["delta"]) for row in shop.moves("SALE")] == [
        ("shopify", "-3"),
        ("shopify", "-1"),
    ]


def test_sync_since_moves_the_start_line_back_and_counts_the_orders_after_it(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    # The merchant counted at 08:00 but installed at 09:00; the order at 08:59 must count.
    counted = INSTALL - timedelta(hours=1)

    report = run_cycle(shop.store, shop.channels, shop.settings, shop.now, since=counted)

    assert report.ingested == 2  # the last pre-install order on each platform, at 08:59
    assert shop.available() == "48"
    assert [(row["key"], row["at"]) for row in shop.moves("START")] == [
        ("start:shopify", "2026-11-27T08:00:00Z"),
        ("start:woo", "2026-11-27T08:00:00Z"),
    ]
    # moved back again, later: the orders already counted are not counted twice
    earlier = counted - timedelta(hours=12)
    shop.later(timedelta(minutes=1))
    run_cycle(shop.store, shop.channels, shop.settings, shop.now, since=earlier)
    assert shop.available() == "46"  # one more order on each platform, at 20:59 the day before
    assert [row["key"] for row in shop.moves("START")][-2:] == [
        "start:shopify@2026-11-26T20:00:00Z",
        "start:woo@2026-11-26T20:00:00Z",
    ]
    assert len(shop.moves("SALE")) == 4


def test_a_sale_of_a_sku_without_a_row_is_listed_and_alerted_once(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.shopify.add_product(DOMAIN, "CUP", stock={"Warehouse": 10})  # on Shopify, not in the sheet
    shop.cycle()
    alerts: list[str] = []

    def cycle() -> CycleReport:
        return run_cycle(
            shop.store,
            shop.channels,
            shop.settings,
            shop.now,
            alert=lambda a: alerts.extend(x.line() for x in a),
        )

    for units in (2, 1):
        shop.later(timedelta(minutes=1))
        shop.shopify.place_order(DOMAIN, [("CUP", units), ("MUG", 1)])
        shop.later(timedelta(minutes=1))
        cycle()

    assert shop.available() == "48"  # the MUG lines count as ever
    header, *rows = shop.store.sheets["Unmatched"]
    assert list(header) == ["SKU", "Channel", "Units", "Orders", "First seen", "Last seen", "What to do"]
    assert [list(map(str, row[:6])) for row in rows] == [
        ["CUP", "Shopify", "3", "2", "2026-11-27T09:01:00Z", "2026-11-27T09:03:00Z"]
    ]
    assert "add one" in str(rows[0][6])
    assert len(alerts) == 1  # once per SKU, not once per sale
    assert "CUP sells on Shopify (2 units in 1 orders)" in alerts[0]
    # the merchant adds the row: the alert clears and the tab empties
    shop.store.sheets[INVENTORY_SHEET].append(("CUP", 7))
    shop.later(timedelta(minutes=1))
    cycle()
    about_cup = [line for line in alerts if "CUP sells" in line]
    assert len(about_cup) == 2
    assert "(cleared)" in about_cup[1]
    assert shop.store.sheets["Unmatched"][1:] == []
    # WooCommerce has no CUP: the new row says so, and that channel's refusals are one alert
    assert [line for line in alerts if "CUP sells" not in line] == [
        "[sheetsync] ALERT WooCommerce refused 1 SKU(s); their rows say ERROR and why: CUP (row 3) "
        "(SKU CUP not found in WooCommerce)"
    ]


def test_webhook_copies_of_order_lines_still_move_the_poll_cursor(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.cycle()
    windows: list[str] = []
    shop.shopify.before_request = lambda call: (
        windows.append(str(call.variables.get("query"))) if call.root_fields == ("orders",) else None
    )
    for _ in range(5):
        shop.later(timedelta(minutes=10))
        order = shop.shopify.place_order(DOMAIN, [("MUG", 1)])
        delivery = shop.shopify.webhook("orders/create", order)
        delivered = webhook_lines("orders/create", json.loads(delivery.body), channel=SHOPIFY)
        shop.later(timedelta(seconds=1))
        run_cycle(shop.store, shop.channels, shop.settings, shop.now, delivered=delivered)

    assert shop.available() == "45"
    assert len(shop.moves("SALE")) == 5  # the webhook copy wins each key; the poll adds nothing
    # each poll reads from the last order it saw (less Shopify's overlap), not from the start line
    lower = [datetime.fromisoformat(window.split("'")[1]) for window in windows]
    assert lower[0] < INSTALL
    assert lower[-1] > INSTALL + timedelta(minutes=30)


def _line_id(shop: Shop, order: str, sku: str = "MUG") -> str:
    return next(line.line_id for line in shop.shopify.order_lines(order) if line.sku == sku)


def _settle(shop: Shop, cycles: int = 4) -> list[CycleReport]:
    """Cycles over 20 minutes, past every channel's max lag: where any drift would show."""
    reports = []
    for _ in range(cycles):
        shop.later(timedelta(minutes=5))
        reports.append(shop.cycle())
    return reports


def test_a_shopify_edit_up_and_down_is_counted_as_the_platform_counts_it(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.cycle()
    shop.later(timedelta(minutes=1))
    order = shop.shopify.place_order(DOMAIN, [("MUG", 2)])
    shop.later(timedelta(minutes=1))
    shop.cycle()
    assert shop.available() == "48"

    shop.shopify.edit_order(order, set_quantities={_line_id(shop, order): 5})  # the buyer wants 5
    shop.later(timedelta(minutes=1))
    shop.cycle()

    assert shop.available() == "45"
    edits = shop.moves("EDIT")
    assert [(row["channel"], row["order"], row["delta"]) for row in edits] == [
        ("shopify", order.rsplit("/", 1)[-1], "-3")
    ]
    assert shop.shown() == {SHOPIFY: 45, WOO: 45}
    reports = _settle(shop)
    assert not [d for r in reports for d in r.discrepancies]  # Shopify's own 45 is no DRIFT
    assert shop.shown() == {SHOPIFY: 45, WOO: 45}

    shop.shopify.edit_order(order, set_quantities={_line_id(shop, order): 1})  # then only 1
    shop.later(timedelta(minutes=1))
    shop.cycle()
    assert shop.available() == "49"
    assert [row["delta"] for row in shop.moves("EDIT")] == ["-3", "4"]
    assert shop.shown() == {SHOPIFY: 49, WOO: 49}
    _settle(shop)
    assert len(shop.moves("EDIT")) == 2  # re-reads and the overlap add nothing


def test_an_added_line_sells_and_a_removed_line_is_given_back(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.woo.add_product("CUP", stock=20)
    shop.shopify.add_product(DOMAIN, "CUP", stock={"Warehouse": 20})
    shop.store.sheets[INVENTORY_SHEET].append(("CUP", 20))
    shop.cycle()
    shop.later(timedelta(minutes=1))
    order = shop.woo.place_order([("MUG", 6)], status="processing")
    shop.later(timedelta(minutes=1))
    shop.cycle()
    assert shop.available() == "44"
    mug = next(line["id"] for line in shop.woo.order(order)["line_items"] if line["sku"] == "MUG")

    shop.woo.edit_order(order, remove=[mug], add=[("CUP", 2)])  # swapped mugs for cups
    shop.later(timedelta(minutes=1))
    shop.cycle()

    assert shop.available() == "50"
    assert [(row["sku"], row["movement"], row["delta"]) for row in shop.ledger()[-2:]] == [
        ("CUP", "SALE", "-2"),
        ("MUG", "EDIT", "6"),
    ]
    assert shop.woo.stock("MUG") == 50
    assert shop.woo.stock("CUP") == 18
    reports = _settle(shop)
    assert not [d for r in reports for d in r.discrepancies]


def test_refunds_restock_only_when_the_platform_says_so(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.cycle()
    shop.later(timedelta(minutes=1))
    order = shop.shopify.place_order(DOMAIN, [("MUG", 4)])
    woo_order = shop.woo.place_order([("MUG", 3)], status="processing")
    shop.later(timedelta(minutes=1))
    shop.cycle()
    assert shop.available() == "43"

    shop.shopify.refund(order, {"MUG": 1}, restock_type="NO_RESTOCK")  # the buyer keeps a chipped mug
    shop.shopify.refund(order, {"MUG": 1}, restock_type="RETURN")  # and sends one back
    shop.shopify.refund(order, {"MUG": 1}, restock_type="CANCEL")  # one never shipped
    shop.woo.refund(woo_order, [("MUG", 2)], restock=False)  # WooCommerce does not say: not restocked
    shop.later(timedelta(minutes=1))
    shop.cycle()

    assert [(row["channel"], row["delta"]) for row in shop.moves("RESTOCK")] == [
        ("shopify", "1"),
        ("shopify", "1"),
    ]
    assert shop.moves("EDIT") == []  # a refund is not an edit
    assert shop.available() == "45"
    reports = _settle(shop)
    assert not [d for r in reports for d in r.discrepancies]
    assert shop.shown() == {SHOPIFY: 45, WOO: 45}


def test_a_shop_that_always_restocks_woocommerce_refunds_says_so_in_its_settings(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    woo = shop.channels[1]
    assert isinstance(woo, WooCommerceChannel)
    shop.channels[1] = WooCommerceChannel(
        WOO,
        site="history.example.com",
        consumer_key=KEY,
        consumer_secret=SECRET,
        client=httpx.Client(transport=httpx.MockTransport(shop.woo)),
        sleep=shop.clock.sleep,
        clock=shop.clock,
        restock_refunds=True,
    )
    shop.cycle()
    shop.later(timedelta(minutes=1))
    order = shop.woo.place_order([("MUG", 3)], status="processing")
    shop.later(timedelta(minutes=1))
    shop.cycle()
    shop.woo.refund(order, [("MUG", 2)], restock=True)
    shop.later(timedelta(minutes=1))
    shop.cycle()
    assert [(row["channel"], row["delta"]) for row in shop.moves("RESTOCK")] == [("woo", "2")]
    assert shop.available() == "49"


def test_a_line_that_cannot_be_counted_is_flagged_with_its_order_and_the_rest_syncs(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.cycle()
    alerts: list[str] = []
    shop.later(timedelta(minutes=1))
    odd = shop.woo.place_order([("MUG", "1.5")], status="processing")  # a plugin's fractional unit
    shop.woo.place_order([("MUG", 2)], status="processing")
    shop.later(timedelta(minutes=1))

    run_cycle(
        shop.store, shop.channels, shop.settings, shop.now, alert=lambda a: alerts.extend(x.line() for x in a)
    )
    _settle(shop)

    assert shop.available() == "48"  # the whole line counted, the odd one not guessed at
    (check,) = shop.moves("CHECK")
    assert (check["order"], check["delta"], check["sku"]) == (str(odd), "0", "MUG")
    assert '"1.5" is not a whole number' in check["note"]
    _, *rows = shop.store.sheets["Unmatched"]
    assert [(row[0], row[1], row[3]) for row in rows] == [
        ("MUG", "WooCommerce", f"{odd} line {check['line']}")
    ]
    assert len(alerts) == 1
    assert f"WooCommerce order {odd} line" in alerts[0]


def test_a_channel_with_its_own_sku_gets_pushes_and_sells_through_the_row(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.woo.add_product("WC-MUG-01", stock=0)  # the marketplace's own code for the mug
    shop.store.sheets[INVENTORY_SHEET] = [
        ("SKU", "Quantity", "SKU WooCommerce"),
        ("MUG", 50, "WC-MUG-01"),
        ("LID", 5, "WC-LID-404"),  # points at nothing on WooCommerce
    ]
    shop.shopify.add_product(DOMAIN, "LID", stock={"Warehouse": 5})
    shop.cycle()
    shop.later(timedelta(minutes=1))
    shop.woo.place_order([("WC-MUG-01", 2)], status="processing")
    shop.later(timedelta(minutes=1))

    report = shop.cycle()

    assert shop.available() == "48"
    assert [(row["sku"], row["channel"], row["delta"]) for row in shop.moves("SALE")] == [
        ("MUG", "woo", "-2")
    ]
    assert shop.woo.stock("WC-MUG-01") == 48
    assert shop.woo.stock("MUG") == 140  # its other product named MUG is left alone (200 less 60 sold)
    assert shop.shown()[SHOPIFY] == 48
    (flagged,) = [d for d in report.discrepancies if d.sku == "LID"]
    assert "WC-LID-404" in flagged.reason
    assert shop.store.sheets.get("Unmatched", [[]])[1:] == []  # the mapped sale is no unknown SKU


def test_two_rows_that_would_be_one_sku_on_a_channel_are_both_flagged(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.store.sheets[INVENTORY_SHEET] = [
        ("SKU", "Quantity", "SKU WooCommerce"),
        ("MUG", 50, "CUP"),
        ("CUP", 5, ""),
    ]
    report = shop.cycle()
    reasons = {d.sku: d.reason for d in report.discrepancies}
    assert 'on WooCommerce this row would be "CUP", as row 3 is' in reasons["MUG"]
    assert "as row 2 is" in reasons["CUP"]


def test_a_checkpoint_archives_old_rows_and_an_old_order_refunded_later_counts_once(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.cycle()
    shop.later(timedelta(minutes=1))
    order = shop.shopify.place_order(DOMAIN, [("MUG", 2)])
    shop.later(timedelta(minutes=1))
    shop.cycle()
    # a busy month: enough hand-typed rows (moving nothing) that a checkpoint is due
    headers = list(shop.settings.layout.ledger_headers())
    stamp = (shop.now - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    filler = {"at": stamp, "sku": "MUG", "delta": "0", "movement": "ADJUST", "note": "recount check"}
    shop.store.sheets[LEDGER_SHEET] += [tuple(filler.get(h, "") for h in headers) for _ in range(FOLD_AT)]
    ledger_size = len(shop.store.sheets[LEDGER_SHEET]) - 1
    shop.later(timedelta(days=40))

    shop.cycle()

    archive = shop.store.sheets["Ledger archive"]
    assert len(archive) - 1 == ledger_size  # every row older than 35 days, as it was
    assert len(shop.ledger()) < 10  # the Ledger keeps a few rows that sum them up
    assert shop.available() == "48"
    assert shop.shown() == {SHOPIFY: 48, WOO: 48}

    shop.shopify.refund(order, {"MUG": 1}, restock_type="RETURN")  # the old order comes back
    shop.later(timedelta(minutes=1))
    shop.cycle()
    reports = _settle(shop)

    assert shop.available() == "49"
    assert [row["delta"] for row in shop.moves("RESTOCK")] == ["1"]
    assert shop.moves("SALE") == []  # its sale is in the archive: not counted a second time
    assert not [d for r in reports for d in r.discrepancies]
    assert len(shop.store.sheets["Ledger archive"]) - 1 == ledger_size  # archived once


def test_a_worker_killed_between_the_checkpoint_and_its_state_counts_on_correctly(tmp_path: Path) -> None:
    shop = Shop(tmp_path)
    shop.cycle()
    headers = list(shop.settings.layout.ledger_headers())
    stamp = shop.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    filler = {"at": stamp, "sku": "MUG", "delta": "0", "movement": "ADJUST"}
    shop.store.sheets[LEDGER_SHEET] += [tuple(filler.get(h, "") for h in headers) for _ in range(FOLD_AT)]
    shop.cycle()  # the state now counts every row as applied
    shop.later(timedelta(days=40))
    write_status = shop.store.write_status

    def killed(update: object) -> None:
        raise SystemExit("killed before the state was written")

    shop.store.write_status = killed  # type: ignore[method-assign]  # patched for the test
    with pytest.raises(SystemExit):
        shop.cycle()
    shop.store.write_status = write_status  # type: ignore[method-assign]  # patched for the test
    assert "Ledger archive" in shop.store.sheets  # the checkpoint was made, its state not written

    shop.later(timedelta(minutes=1))
    shop.shopify.place_order(DOMAIN, [("MUG", 3)])
    shop.later(timedelta(minutes=1))
    report = shop.cycle()
    reports = _settle(shop)

    # Shopify lowered itself by the sale: only WooCommerce needs a push, as without a checkpoint
    assert report.pushed == {SHOPIFY: 0, WOO: 1}
    assert shop.available() == "47"
    assert shop.shown() == {SHOPIFY: 47, WOO: 47}
    assert not [d for r in reports for d in r.discrepancies]
