"""Multi-cycle scenarios through the real worker, the workbook store and sandbox channels."""

from __future__ import annotations

import dataclasses
import gc
import itertools
import json
import logging
import threading
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sheetsync_fakes.keys import service_account_key
from sheetsync_fakes.slack import FakeSlack
from sheetsync_fakes.wire import serve

from sheetsync.channels import OrderSource
from sheetsync.channels.amazon import AmazonChannel
from sheetsync.channels.emag import EmagChannel
from sheetsync.channels.google_merchant import GoogleMerchantChannel
from sheetsync.channels.meta import MetaChannel
from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.channels.shopify import ShopifyChannel
from sheetsync.channels.woocommerce import WooCommerceChannel
from sheetsync.config import SLACK_WEBHOOK_ENV, Settings, WorkbookMaster, load
from sheetsync.core.buffers import AdaptiveRule
from sheetsync.core.incidents import Alert
from sheetsync.errors import ConfigError, LeaseHeld, TransientError
from sheetsync.model import (
    INVENTORY_SHEET,
    LEDGER_SHEET,
    STATUS_SHEET,
    ChannelName,
    LedgerEntry,
    OrderBatch,
    Sku,
    Snapshot,
    StatusUpdate,
    StockLevel,
    header_key,
)
from sheetsync.stores import MasterStore
from sheetsync.stores.workbook import WorkbookStore, create_workbook
from sheetsync.worker import (
    FULL_COLLECTION_AFTER,
    MAX_BACKOFF_S,
    THAW_EVERY_S,
    Heap,
    backoff_s,
    open_alerter,
    open_channels,
    run_cycle,
    run_forever,
    spacing,
    woken,
)

CONFIG = """
[master]
kind = "workbook"
path = "inventory.xlsx"

[channels.shopify]
kind = "sandbox"
interval = 30
tiers = [{ min = 11, hold = "5%" }, { min = 3, hold = 2 }, { min = 0, hold = "all" }]

[channels.facebook]
kind = "sandbox"
interval = 30
lag = 600
tiers = [{ min = 11, hold = "15%" }, { min = 3, hold = 3 }, { min = 0, hold = "all" }]

[channels.google]
kind = "sandbox"
interval = 120
tiers = [{ min = 11, hold = "20%" }, { min = 3, hold = 4 }, { min = 0, hold = "all" }]
"""

#: What the merchant types into a cell: text, a number, or nothing (a cleared cell).
Typed = str | float | None


class World:
    """A workbook master, three sandbox channels and a clock the test moves."""

    def __init__(self, tmp_path: Path, rows: Sequence[tuple[str, Typed]]) -> None:
        (tmp_path / "sheetsync.toml").write_text(CONFIG, encoding="utf-8")
        self.settings: Settings = load(tmp_path / "sheetsync.toml")
        assert isinstance(self.settings.master, WorkbookMaster)
        self.path = self.settings.master.path
        create_workbook(self.path, self.settings.layout)
        for number, (sku, quantity) in enumerate(rows, start=2):
            self.type(number, "SKU", sku)
            self.type(number, "Quantity", quantity)
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
        self.channels = {
            c.name: SandboxChannel(c.name, lambda: self.now, lag_s=c.lag_s) for c in self.settings.channels
        }
        self.store = WorkbookStore(self.path, self.settings.layout)

    def cycle(self, due: set[str] | None = None, store: MasterStore | None = None) -> None:
        run_cycle(
            store or self.store,
            list(self.channels.values()),
            self.settings,
            self.now,
            None if due is None else {ChannelName(d) for d in due},
        )

    def type(self, row: int, header: str, value: Typed, sheet: str = INVENTORY_SHEET) -> None:
        """The merchant types into a cell (by header name) and saves."""
        book = load_workbook(self.path)
        ws = book[sheet]
        column = next(c.column for c in ws[1] if c.value and header_key(str(c.value)) == header_key(header))
        ws.cell(row, column).value = value  # ws.cell(row, column, None) would not clear it
        book.save(self.path)

    def cell(self, row: int, header: str, sheet: str = INVENTORY_SHEET) -> object:
        ws = load_workbook(self.path)[sheet]
        column = next(c.column for c in ws[1] if c.value and header_key(str(c.value)) == header_key(header))
        return ws.cell(row, column).value

    def control(self, label: str, value: str) -> None:
        """The merchant types in the Control cell of a Status row."""
        book = load_workbook(self.path)
        ws = book[STATUS_SHEET]
        row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == label)
        ws.cell(row, 2, value)
        book.save(self.path)

    def status(self, label: str) -> dict[object, object]:
        ws = load_workbook(self.path)[STATUS_SHEET]
        headers = [c.value for c in ws[1]]
        for values in ws.iter_rows(min_row=2, values_only=True):
            if values[0] == label:
                return dict(zip(headers, values, strict=False))
        raise AssertionError(f"no Status row {label}")

    def ledger(self) -> list[dict[object, object]]:
        ws = load_workbook(self.path)[LEDGER_SHEET]
        headers = [c.value for c in ws[1]]
        return [
            dict(zip(headers, v, strict=False)) for v in ws.iter_rows(min_row=2, values_only=True) if any(v)
        ]

    def shown(self, channel: str, sku: str) -> int | None:
        return self.channels[ChannelName(channel)].read_levels([Sku(sku)]).get(Sku(sku))

    def sell(self, channel: str, sku: str, quantity: int = 1) -> None:
        assert self.channels[ChannelName(channel)].sell(Sku(sku), quantity)

    def later(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path, [("A-1", 10), ("B-2", 3), ("C-3", "ten")])


def test_first_cycle_pushes_the_seed_tiers_and_writes_status_to_the_sheet(world: World) -> None:
    world.cycle()
    world.later(600)
    assert [world.shown(c, "A-1") for c in ("shopify", "facebook", "google")] == [8, 7, 6]
    assert [world.cell(2, h) for h in ("Available", "Shopify", "Facebook", "Google", "Status")] == [
        10,
        8,
        7,
        6,
        "OK",
    ]
    assert world.cell(2, "Reason") == (
        "10 on the shelf; Shopify shows 8: tier 3-10 holds 2; Facebook shows 7: tier 3-10 holds 3; "
        "Google shows 6: tier 3-10 holds 4"
    )
    assert world.cell(2, "Synced") == "2026-11-27T09:00:00Z"
    assert [world.cell(3, h) for h in ("Shopify", "Facebook", "Google")] == [1, 0, 0]
    # The bad row is flagged in place, never pushed, and the rest of the catalogue synced.
    assert world.cell(4, "Status") == "ERROR"
    assert (
        world.cell(4, "Reason")
        == 'Quantity "ten" is not a whole number; enter a whole number of 0 or more · no count in the '
        "Ledger nor Available on the row to go by, so nothing is pushed until it is fixed"
    )
    assert world.shown("shopify", "C-3") is None
    assert world.cell(4, "Quantity") == "ten"  # the merchant's cell is untouched
    assert world.status("Shopify")["State"] == "OK"


def test_orders_are_counted_once_and_reach_every_channel(world: World) -> None:
    world.cycle()
    world.later(600)
    world.sell("shopify", "A-1", 2)
    world.cycle()
    world.cycle()  # the same order is offered again: nothing changes
    world.later(600)
    sales = [e for e in world.ledger() if e["Movement"] == "SALE"]
    assert [(e["Key"], e["SKU"], e["Delta"]) for e in sales] == [("shopify/order-1/1", "A-1", -2)]
    assert world.cell(2, "Available") == 8
    assert [world.shown(c, "A-1") for c in ("shopify", "facebook", "google")] == [6, 5, 4]
    assert world.cell(2, "Quantity") == 10  # the merchant's count stays as typed


def test_only_changed_skus_are_pushed(world: World) -> None:
    world.cycle()
    before = world.channels[ChannelName("shopify")].push_calls
    world.cycle()
    assert world.channels[ChannelName("shopify")].push_calls == before


class CrashingStore:
    """Delegates to the real store, failing once at a chosen step (a crash between two calls)."""

    def __init__(self, store: WorkbookStore, fail_on: str) -> None:
        self.store, self.fail_on = store, fail_on

    def read(self) -> Snapshot:
        return self.store.read()

    def append_ledger(self, entries: Sequence[LedgerEntry]) -> None:
        if self.fail_on == "append":
            raise KeyboardInterrupt("crash before the commit point")
        self.store.append_ledger(entries)

    def write_status(self, update: StatusUpdate) -> None:
        if self.fail_on == "write":
            raise KeyboardInterrupt("crash after the pushes")
        self.store.write_status(update)


@pytest.mark.parametrize("step", ["append", "write"])
def test_a_crash_between_steps_never_doubles_or_loses_an_order(world: World, step: str) -> None:
    world.cycle()
    world.later(600)
    world.sell("shopify", "A-1", 3)
    with pytest.raises(KeyboardInterrupt):
        world.cycle(store=CrashingStore(world.store, step))
    world.cycle()
    world.later(600)
    world.cycle()
    assert [e["Delta"] for e in world.ledger() if e["Movement"] == "SALE"] == [-3]
    assert world.cell(2, "Available") == 7
    assert [world.cell(2, h) for h in ("Shopify", "Facebook", "Google")] == [5, 4, 3]
    assert [world.shown(c, "A-1") for c in ("shopify", "facebook", "google")] == [5, 4, 3]
    assert world.cell(2, "Status") == "OK"


def test_a_merchant_edit_between_read_and_write_survives(world: World) -> None:
    class EditingStore(CrashingStore):
        def read(self) -> Snapshot:
            snapshot = self.store.read()
            world.type(2, "Quantity", 20)  # saved while the worker is pushing
            return snapshot

    world.cycle(store=EditingStore(world.store, fail_on=""))
    assert world.cell(2, "Quantity") == 20
    world.cycle()
    world.later(600)
    assert world.shown("shopify", "A-1") == 19  # 20 - 5%, rounded down


def test_a_recount_is_just_typing_the_new_number(world: World) -> None:
    world.cycle()
    world.later(600)
    world.sell("shopify", "A-1", 4)
    world.cycle()
    assert world.cell(2, "Available") == 6
    world.type(2, "Quantity", 5)  # the shelf count, the 4 sold already gone
    world.cycle()
    assert world.cell(2, "Available") == 5
    # each channel's first sync recorded its start line (sheetsync counts orders from there)
    assert [e["Movement"] for e in world.ledger()] == ["START", "START", "START", "COUNT", "SALE", "COUNT"]


def test_a_failing_channel_does_not_stop_the_others_and_recovers(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    google = world.channels[ChannelName("google")]

    def unavailable(levels: Sequence[StockLevel]) -> None:
        raise TransientError("google: 503 from the API")

    monkeypatch.setattr(google, "push", unavailable)
    world.cycle()
    world.later(600)
    assert world.shown("shopify", "A-1") == 8
    assert world.status("Google")["State"] == "ERROR"
    assert "503" in str(world.status("Google")["Message"])
    assert world.cell(2, "Google") is None
    monkeypatch.undo()
    world.cycle()
    assert world.shown("google", "A-1") == 6
    assert world.status("Google")["State"] == "OK"


def test_pause_a_channel_from_the_status_sheet(world: World) -> None:
    world.cycle()
    world.later(600)
    world.control("Facebook", "PAUSE")
    assert world.status("Facebook")["Control"] == "PAUSE"
    world.sell("shopify", "A-1", 5)
    world.cycle()
    world.later(600)
    assert world.shown("facebook", "A-1") == 7  # not pushed while paused
    assert world.shown("shopify", "A-1") == 3
    assert world.status("Facebook")["State"] == "PAUSED"
    assert world.status("Facebook")["Control"] == "PAUSE"  # the merchant's cell is left alone
    assert "Facebook is paused at 7, would show 2: tier 3-10 holds 3" in str(world.cell(2, "Reason"))


def test_override_and_row_pause(world: World) -> None:
    world.type(2, "Override", 4)
    world.type(3, "Override", "PAUSE")
    world.cycle()
    world.later(600)
    assert [world.shown(c, "A-1") for c in ("shopify", "facebook", "google")] == [4, 4, 4]
    assert world.shown("shopify", "B-2") is None
    assert world.cell(3, "Status") == "PAUSED"


def test_the_volume_guard_holds_a_bad_paste_until_the_merchant_accepts(world: World) -> None:
    world.cycle()
    world.later(600)
    world.type(2, "SKU", None)
    world.type(2, "Quantity", None)
    world.type(3, "Quantity", "see tab 2")  # two of two usable rows gone
    world.sell("shopify", "A-1", 1)
    world.cycle()
    world.later(600)
    guard = world.status("Volume guard")
    assert guard["State"] == "HOLD"
    assert "type ACCEPT in the Control cell" in str(guard["Message"])
    assert world.shown("google", "A-1") == 6  # nothing pushed
    assert [e["Movement"] for e in world.ledger()][-1] == "SALE"  # but the order was counted
    world.type(2, "SKU", "A-1")
    world.type(2, "Quantity", 1)
    world.control("Volume guard", "ACCEPT")
    world.cycle()
    world.later(600)
    assert world.status("Volume guard")["State"] == "OK"
    assert world.status("Volume guard")["Control"] in (None, "")  # consumed
    assert world.shown("shopify", "A-1") == 0  # 1 counted, and the sale made meanwhile still counts


def test_never_raises_a_channel_that_sold_what_we_have_not_seen(world: World) -> None:
    world.cycle()
    world.later(600)
    world.type(2, "Quantity", 30)  # restock, and Shopify sells at the same moment
    world.cycle(due={"google"})  # Shopify's orders are not read this cycle
    world.sell("shopify", "A-1", 2)
    world.cycle(due={"facebook"})
    assert world.shown("shopify", "A-1") == 6
    shopify = world.channels[ChannelName("shopify")]
    calls = shopify.push_calls

    # Shopify is due but its orders endpoint lags: it shows 6, we set 8, so no raise to 28.
    orders_since = shopify.orders_since
    shopify.orders_since = lambda cursor: OrderBatch(())  # type: ignore[method-assign]  # patched for the test
    world.cycle(due={"shopify"})
    assert shopify.push_calls == calls
    assert world.cell(2, "Status") == "LAG"
    shopify.orders_since = orders_since  # type: ignore[method-assign]  # patched for the test
    world.cycle(due={"shopify"})
    assert world.shown("shopify", "A-1") == 26  # 28 available, 5% held, once the sales are in
    assert world.cell(2, "Status") == "OK"


class Ticking:
    """A monotonic clock the worker loop waits on: each wait moves it on, and the wall clock with it
    (or not: ``step`` moves the wall clock alone, as NTP or a DST change would)."""

    def __init__(self, world: World) -> None:
        self.world, self.now = world, 1000.0

    def tick(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += seconds
        self.world.later(seconds)


def _loop(world: World, store: MasterStore, stop: threading.Event, ticking: Ticking, **kwargs: Any) -> None:
    run_forever(
        store,
        list(world.channels.values()),
        world.settings,
        lambda: world.now,
        stop,
        tick=ticking.tick,
        wait=ticking.wait,
        **kwargs,
    )


def _intervals(world: World, **seconds: int) -> None:
    world.settings = dataclasses.replace(
        world.settings,
        channels=tuple(dataclasses.replace(c, interval_s=seconds[c.name]) for c in world.settings.channels),
    )


def test_run_forever_runs_each_channel_at_its_interval_and_stops_cleanly(world: World) -> None:
    _intervals(world, shopify=60, facebook=60, google=3600)
    stop = threading.Event()
    ticking = Ticking(world)
    seen: list[tuple[float, set[str]]] = []

    class Counting(CrashingStore):
        def write_status(self, update: StatusUpdate) -> None:
            self.store.write_status(update)
            seen.append((ticking.now, {s.channel for s in update.channels}))
            if len(seen) == 4:
                stop.set()  # as SIGTERM does: this cycle finishes, no other starts

    _loop(world, Counting(world.store, ""), stop, ticking)
    assert len(seen) == 4
    assert seen[0][1] == {"shopify", "facebook", "google"}
    assert all(due == {"shopify", "facebook"} for _, due in seen[1:])  # google's hour has not come round
    assert [round(b[0] - a[0]) for a, b in itertools.pairwise(seen)] == [60, 60, 60]


@pytest.mark.parametrize("step", [-600.0, 3600.0, -3600.0])
def test_a_wall_clock_step_or_a_dst_change_moves_no_cycle(world: World, step: float) -> None:
    _intervals(world, shopify=60, facebook=60, google=60)
    stop = threading.Event()
    ticking = Ticking(world)
    cycles: list[float] = []

    class Stepping(CrashingStore):
        def write_status(self, update: StatusUpdate) -> None:
            self.store.write_status(update)
            cycles.append(ticking.now)
            if len(cycles) == 2:
                world.later(step)  # NTP steps the wall clock (or the zone's clocks go back at 2 am)
            if len(cycles) == 5:
                stop.set()

    _loop(world, Stepping(world.store, ""), stop, ticking)
    assert [round(b - a) for a, b in itertools.pairwise(cycles)] == [60, 60, 60, 60]


def test_a_failing_master_is_retried_with_backoff_and_alerted_once_until_it_recovers(world: World) -> None:
    _intervals(world, shopify=60, facebook=60, google=60)
    stop = threading.Event()
    ticking = Ticking(world)
    tries: list[float] = []
    sent: list[str] = []

    class Unreachable(CrashingStore):
        def read(self) -> Snapshot:
            tries.append(ticking.now)
            if len(tries) <= 5:
                raise OSError("inventory.xlsx: Permission denied")  # not even a SyncError
            if len(tries) == 7:
                stop.set()
            return self.store.read()

    class Collect:
        def send(self, alerts: Sequence[Alert]) -> None:
            sent.extend(a.line() for a in alerts)

    _loop(world, Unreachable(world.store, ""), stop, ticking, alerter=Collect())
    assert len(tries) == 7  # the loop outlived five failures
    gaps = [round(b - a) for a, b in itertools.pairwise(tries[:6])]
    assert gaps == [5, 10, 20, 40, 80]  # backing off, doubling
    outage = [line for line in sent if "cycles failed in a row" in line]
    assert len(outage) == 2  # once when it started, once when it cleared
    assert "Permission denied" in outage[0]
    assert outage[1].startswith("[sheetsync] RECOVERED")


def test_the_backoff_doubles_to_its_cap_and_stays_there_for_days() -> None:
    """Found by an instrumented adversary run: the 1,025th failure in a row (three and a half days
    at the longest backoff) computed 5 s x 2**1024 and the loop died of an OverflowError."""
    assert [backoff_s(n) for n in (1, 2, 3, 6, 7, 1025, 10**6)] == [5, 10, 20, 160, MAX_BACKOFF_S] + [
        MAX_BACKOFF_S
    ] * 2


KEY_PEM = service_account_key("bot@p.iam.gserviceaccount.com")["private_key"]
PLATFORMS = """
[master]
kind = "workbook"
path = "inventory.xlsx"

[channels.shop]
kind = "shopify"
shop = "my-store"
location = "Warehouse"

[channels.facebook]
kind = "meta"
catalog = "1234567890"

[channels.woo]
kind = "woocommerce"
site = "https://shop.example.com"

[channels.google]
kind = "google_merchant"
account = "123"
data_source = "456"

[channels.emag]
kind = "emag"
site = "ro"

[channels.amazon]
kind = "amazon"
region = "eu"
marketplace_id = "A1PA6795UKMFR9"
seller_id = "A2SELLER"
"""


def test_open_channels_builds_each_platform_with_its_secrets(tmp_path: Path) -> None:
    (tmp_path / "sheetsync.toml").write_text(PLATFORMS, encoding="utf-8")
    settings = load(tmp_path / "sheetsync.toml")
    environ = {
        "SHEETSYNC__SHOP__TOKEN": "shpat_x",
        "SHEETSYNC__FACEBOOK__TOKEN": "EAAB_x",
        "SHEETSYNC__WOO__CONSUMER_KEY": "ck_x",
        "SHEETSYNC__WOO__CONSUMER_SECRET": "cs_x",
        "SHEETSYNC__EMAG__USERNAME": "seller@example.ro",
        "SHEETSYNC__EMAG__PASSWORD": "pw_x",
        "SHEETSYNC__AMAZON__CLIENT_ID": "amzn1.application-oa2-client.x",
        "SHEETSYNC__AMAZON__CLIENT_SECRET": "amzn_secret_x",
        "SHEETSYNC__AMAZON__REFRESH_TOKEN": "Atzr|x",
        "SHEETSYNC__GOOGLE__SERVICE_ACCOUNT": json.dumps(
            {
                "client_email": "bot@p.iam.gserviceaccount.com",
                "private_key": KEY_PEM,
                "token_uri": "https://t",
            }
        ),
    }

    channels = open_channels(settings, lambda: datetime.now(UTC), environ)

    assert [type(c) for c in channels] == [
        ShopifyChannel,
        MetaChannel,
        WooCommerceChannel,
        GoogleMerchantChannel,
        EmagChannel,
        AmazonChannel,
    ]
    assert [c.name for c in channels] == ["shop", "facebook", "woo", "google", "emag", "amazon"]
    assert [isinstance(c, OrderSource) for c in channels] == [True, False, True, False, True, True]
    for channel in channels:
        assert isinstance(
            channel,
            ShopifyChannel
            | MetaChannel
            | WooCommerceChannel
            | GoogleMerchantChannel
            | EmagChannel
            | AmazonChannel,
        )  # as the list above says: each holds an HTTP client to close
        channel.close()
    del environ["SHEETSYNC__WOO__CONSUMER_SECRET"]
    with pytest.raises(ConfigError, match=r"\$SHEETSYNC__WOO__CONSUMER_SECRET is empty"):
        open_channels(settings, lambda: datetime.now(UTC), environ)


def monitored(world: World, name: str, **changes: object) -> list[str]:
    """Give one channel monitoring settings; returns a list for the alert lines as they come."""
    channels = tuple(
        dataclasses.replace(c, **changes) if c.name == name else c  # type: ignore[arg-type]  # the test's overrides, checked by the call
        for c in world.settings.channels
    )
    world.settings = dataclasses.replace(world.settings, channels=channels)
    return []


def cycle_alerting(world: World, lines: list[str], **kwargs: object) -> None:
    run_cycle(
        world.store,
        list(world.channels.values()),
        world.settings,
        world.now,
        alert=lambda alerts: lines.extend(a.line() for a in alerts),
        **kwargs,  # type: ignore[arg-type]  # the test's overrides, checked by the call
    )


def test_a_push_not_visible_after_max_lag_is_flagged_lag_and_alerted_once(world: World) -> None:
    lines = monitored(world, "facebook", max_lag_s=60.0)
    cycle_alerting(world, lines)
    # row 4's unreadable Quantity has its own alert (never pushed); what follows is the channel's
    assert [line for line in lines if "(SKU C-3)" in line] == lines
    lines.clear()
    world.later(61)
    cycle_alerting(world, lines)

    assert world.cell(2, "Status") == "LAG"
    assert str(world.cell(2, "Reason")).startswith(
        "Facebook LAG: pushed 7 1m 1s ago, is not listed yet (limit 1m 0s) · "
    )
    facebook = world.status("Facebook")
    assert facebook["State"] == "LAG"
    assert facebook["Lag p95"] == "1m 1s"  # the stuck push counts with its age so far
    assert lines == [
        "[sheetsync] ALERT Facebook is lagging: lag p95 1m 1s is over the 1m 0s limit; "
        "2 pushes not visible after 1m 0s (rows marked LAG)"
    ]

    world.later(30)
    cycle_alerting(world, lines)
    assert len(lines) == 1  # the same incident: no second message

    world.later(510)  # the channel's 600 s lag has passed: it shows our push now
    cycle_alerting(world, lines)
    assert world.cell(2, "Status") == "OK"
    assert world.status("Facebook")["Lag p50"] == "10m 1s"

    world.later(3601)  # the slow samples leave the hour's window
    cycle_alerting(world, lines)
    assert world.status("Facebook")["State"] == "OK"
    assert lines[1].startswith("[sheetsync] RECOVERED Facebook is lagging")
    assert len(lines) == 2


def test_a_push_watched_through_a_clock_stepped_back_a_day_is_alerted_after_max_lag(world: World) -> None:
    lines = monitored(world, "facebook", max_lag_s=60.0)
    cycle_alerting(world, lines)
    lines.clear()
    world.later(30)
    world.now -= timedelta(days=1)  # the host's clock set back a day (a snapshot restored, NTP stepping it)
    cycle_alerting(world, lines)
    assert lines == []
    world.later(61)
    cycle_alerting(world, lines)  # a day younger by that clock, the push would stay LAG unalerted a day

    assert world.cell(2, "Status") == "LAG"
    assert lines == [
        "[sheetsync] ALERT Facebook is lagging: lag p95 1m 1s is over the 1m 0s limit; "
        "2 pushes not visible after 1m 0s (rows marked LAG)"
    ]


class Killed(BaseException):
    """kill -9 at the status write: no ``except Exception`` survives it."""


def test_an_alert_goes_out_before_its_state_is_written_and_a_recovery_only_after(world: World) -> None:
    lines: list[str] = []
    cycle_alerting(world, lines)  # row 4's Quantity "ten" opens its incident
    assert [line for line in lines if line.startswith("[sheetsync] ALERT row 4")]
    lines.clear()
    world.type(4, "Quantity", 7)  # fixed: its incident clears this cycle
    world.type(2, "Quantity", "eleven")  # and another opens

    def killed(update: object) -> None:
        raise Killed

    write_status, world.store.write_status = world.store.write_status, killed  # type: ignore[method-assign]  # patched for the test
    with pytest.raises(Killed):
        cycle_alerting(world, lines)
    assert [line[:30] for line in lines] == ["[sheetsync] ALERT row 2 (SKU A"]  # told, though not recorded

    world.store.write_status = write_status  # type: ignore[method-assign]  # patched for the test
    lines.clear()
    world.type(4, "Quantity", "ten")  # row 4 broken again: still open in the state, so no news of it
    cycle_alerting(world, lines)
    assert [line for line in lines if "row 4" in line] == []  # it never said RECOVERED, so no ALERT is owed
    assert [line[:30] for line in lines] == ["[sheetsync] ALERT row 2 (SKU A"]  # the state lost it: again


def test_a_number_changed_on_the_platform_is_flagged_drift_and_set_back(world: World) -> None:
    lines = monitored(world, "shopify", audit_every_s=60.0)
    cycle_alerting(world, lines)
    lines.clear()  # row 4's unreadable Quantity opened its own alert
    world.later(30)
    cycle_alerting(world, lines)  # reads back our pushes: seen
    world.channels[ChannelName("shopify")].edit(Sku("A-1"), 50)

    world.later(60)
    cycle_alerting(world, lines)
    assert world.cell(2, "Status") == "DRIFT"
    assert str(world.cell(2, "Reason")).startswith(
        "Shopify DRIFT: shows 50, we set 8: changed on the platform; setting it back · "
    )
    assert world.shown("shopify", "A-1") == 8
    assert lines == [
        "[sheetsync] ALERT Shopify: 1 SKU(s) changed on the platform behind our back, set back to the "
        "sheet: A-1 (row 2)"
    ]

    world.later(30)
    cycle_alerting(world, lines)
    assert world.cell(2, "Status") == "OK"
    assert lines[1].startswith("[sheetsync] RECOVERED Shopify: 1 SKU(s) changed")


def test_auto_pause_shows_only_the_conservative_buffer_while_a_channel_lags(world: World) -> None:
    lines = monitored(world, "facebook", max_lag_s=60.0)
    rule = dataclasses.replace(world.settings.auto_pause, enabled=True, max_lag_p95_s=60.0)
    world.settings = dataclasses.replace(world.settings, auto_pause=rule)
    cycle_alerting(world, lines)
    world.sell("shopify", "A-1")  # 9 left: under the rule's 10 units
    world.later(61)
    cycle_alerting(world, lines)

    assert world.cell(2, "Facebook") == 0
    assert "Facebook shows 0: lagging, so auto_pause tier 0-9 holds all" in str(world.cell(2, "Reason"))
    assert world.cell(2, "Shopify") == 7  # the other channels keep their own buffers
    assert world.status("Facebook")["State"] == "DEGRADED"
    assert any("Facebook: auto-pause rule on" in line for line in lines)


def test_a_pause_from_the_dashboard_is_typed_into_the_control_cell(world: World) -> None:
    world.cycle()
    world.sell("shopify", "A-1")
    world.later(30)
    run_cycle(
        world.store,
        list(world.channels.values()),
        world.settings,
        world.now,
        due={ChannelName("shopify")},
        controls={ChannelName("google"): "PAUSE"},
    )
    assert world.status("Google")["Control"] == "PAUSE"
    assert world.status("Google")["State"] == "PAUSED"
    assert world.shown("google", "A-1") == 6  # not lowered: paused
    world.later(30)
    world.cycle()
    assert world.status("Google")["Control"] == "PAUSE"  # it stays paused, as if typed

    run_cycle(
        world.store,
        list(world.channels.values()),
        world.settings,
        world.now,
        due=set(),
        controls={ChannelName("google"): ""},
    )
    assert world.status("Google")["Control"] in ("", None)
    assert world.status("Google")["State"] == "OK"
    assert world.shown("google", "A-1") == 5


def test_open_alerter_posts_to_the_webhook_with_every_secret_taken_out(world: World) -> None:
    slack = FakeSlack()
    with serve(slack) as base_url:
        environ = {SLACK_WEBHOOK_ENV: slack.url(base_url), "SHEETSYNC__SHOPIFY__TOKEN": "shpat_0123456789"}
        alerter = open_alerter(world.settings, environ)
        alerter.send([Alert("error:shopify", "Shopify: 401 for shpat_0123456789", world.now)])
    assert slack.texts == ["[sheetsync] ALERT Shopify: 401 for [redacted]"]


def test_open_alerter_without_destinations_only_logs(world: World, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sheetsync.alerts"):
        open_alerter(world.settings, {}).send([Alert("oversold", "1 SKU(s) oversold", world.now)])
    assert caplog.messages == ["[sheetsync] ALERT 1 SKU(s) oversold"]


def test_an_adaptive_channel_holds_back_recent_sales_over_its_max_lag_until_lag_is_measured(
    world: World,
) -> None:
    monitored(world, "facebook", adaptive=AdaptiveRule())
    world.cycle()
    world.sell("shopify", "A-1", 2)
    world.later(301)  # the rush is over: the SKU's own 15-minute rate speaks, not the shop's
    world.cycle()
    # 2 sold on Shopify in the last 15 min; unseen on Facebook: Google's 120 s poll + its own
    # 30 s cycle + 900 s max_lag = 1050 s: 2.3 expected, + 2 sd = 5.4, so 6 held.
    assert world.cell(2, "Available") == 8
    assert world.cell(2, "Facebook") == 2
    assert "Facebook shows 2: adaptive holds 6, sales reach it ~20 min late (~8/h)" in str(
        world.cell(2, "Reason")
    )


def test_an_adaptive_channel_is_lowered_at_once_and_raised_only_when_its_figure_runs_low(
    world: World,
) -> None:
    monitored(world, "facebook", adaptive=AdaptiveRule())
    world.cycle()
    world.sell("shopify", "A-1", 1)
    world.later(301)
    world.cycle()
    # 9 on the shelf, 1 sold in 15 min (4.0/h) over 18 min unseen: 1.2 expected, + 2 sd, 4 held.
    assert world.cell(2, "Facebook") == 5
    world.later(900)  # the 15-minute rate is gone; the hour's (1.0/h) holds 2
    world.cycle()
    assert world.cell(2, "Facebook") == world.shown("facebook", "A-1") == 5  # not pushed up to 7
    reason = str(world.cell(2, "Reason"))
    assert "Facebook shows 5: adaptive keeps it until it runs low (could show 7)" in reason
    world.sell("facebook", "A-1", 4)  # a rush of its own
    world.later(60)
    world.cycle()
    assert world.cell(2, "Available") == 5
    assert world.cell(2, "Facebook") == 0  # lowered at once
    assert world.channels[ChannelName("facebook")].push_calls == 3  # none in the quiet cycle


def test_a_second_worker_on_one_master_writes_nothing_until_the_first_releases(world: World) -> None:
    channels = list(world.channels.values())
    run_cycle(world.store, channels, world.settings, world.now, owner="deploy-old:1")
    second = WorkbookStore(world.path, world.settings.layout)  # a deploy overlap: another process
    world.later(60)
    world.sell("shopify", "A-1", 2)
    before = load_workbook(world.path)["Ledger"].max_row

    with pytest.raises(LeaseHeld) as held:
        run_cycle(second, channels, world.settings, world.now, owner="deploy-new:2")

    assert "deploy-old:1" in str(held.value)
    assert load_workbook(world.path)["Ledger"].max_row == before  # nothing appended by the second
    world.store.release("deploy-old:1")  # the old worker shuts down
    run_cycle(second, channels, world.settings, world.now, owner="deploy-new:2")
    ledger = list(load_workbook(world.path)["Ledger"].iter_rows(min_row=2, values_only=True))
    assert [str(row[6]) for row in ledger if row[7] == "SALE"] == ["-2"]  # the sale, counted once
    second.release("deploy-new:2")


def test_a_delivered_sale_wakes_a_call_limited_channel_no_more_often_than_its_limit_allows() -> None:
    meta, shop = ChannelName("facebook"), ChannelName("shopify")
    gaps = {meta: 3600 / (200 * 0.9)}  # 200 calls an hour, a tenth kept for retries: every 20 s
    next_at = {meta: 1060.0, shop: 1030.0}
    # Facebook's last cycle was 5 s ago: the sale reaches Shopify now, Facebook at its turn.
    assert woken(next_at, {meta: 1000.0, shop: 1000.0}, gaps, 1005.0) == {shop}
    assert next_at[meta] == pytest.approx(1020.0)
    # 20 s on, a sale wakes both.
    assert woken(next_at, {meta: 1000.0, shop: 1005.0}, gaps, 1020.0) == {meta, shop}
    # A channel never run yet is due at once.
    assert woken({meta: 5000.0}, {}, gaps, 1.0) == {meta}


def test_the_spacing_comes_from_the_channels_hourly_call_limit(world: World) -> None:
    channels = list(world.channels.values())
    assert spacing(channels) == {}  # the sandboxes have no hourly limit
    limited = SandboxChannel(ChannelName("facebook"), lambda: world.now, calls_per_hour=200)
    assert spacing([limited]) == {ChannelName("facebook"): pytest.approx(20.0)}


class _Node:
    """An object that can sit in a reference cycle and be watched with a weak reference."""

    def __init__(self) -> None:
        self.me = self


def test_the_heap_a_cycle_leaves_is_frozen_and_thawed_and_collected_now_and_then() -> None:
    heap = Heap()
    try:
        heap.settle(1000.0)  # the first: collected, then frozen
        node = _Node()  # a reference cycle, alive at the freeze and dead after it
        watched = weakref.ref(node)
        heap.settle(1001.0)
        assert gc.get_freeze_count() > 0
        del node
        heap.settle(1000.0 + THAW_EVERY_S - 1)  # not due yet
        gc.collect()
        assert watched() is not None  # frozen: the collector does not walk it
        heap.settle(1000.0 + THAW_EVERY_S)  # thawed, collected, frozen again
        assert watched() is None
        again = _Node()
        watched = weakref.ref(again)
        heap.settle(1000.0 + THAW_EVERY_S + 1)
        del again
        heap.settle(500.0)  # the clock stepped back: thawed and collected at once
        assert watched() is None
    finally:
        heap.release()


def test_while_the_heap_is_held_the_collector_makes_no_full_collection_of_its_own() -> None:
    full: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    before = gc.get_threshold()
    heap = Heap()
    heap.settle(1000.0)
    gc.callbacks.append(count)
    try:
        kept = [[n] for n in range(300_000)]  # a first sync keeps much: a third of a million lists
        assert gc.get_threshold()[2] == FULL_COLLECTION_AFTER
        assert (len(kept), full) == (300_000, [])
    finally:
        gc.callbacks.remove(count)
        heap.release()
    assert gc.get_threshold() == before


def state_sheet(world: World) -> dict[str, str]:
    ws = load_workbook(world.path)["State"]
    return {str(key): str(value) for key, value in ws.iter_rows(min_row=2, values_only=True) if key}


def test_a_metered_channels_month_is_kept_in_the_state_across_restarts_and_its_pace_shown(
    world: World,
) -> None:
    def facebook() -> SandboxChannel:  # Meta's batch-call limit, counted by the platform itself
        return SandboxChannel(ChannelName("facebook"), lambda: world.now, lag_s=600, calls_per_hour=200)

    first = world.channels[ChannelName("facebook")] = facebook()
    world.cycle()
    began = world.now.timestamp()
    world.sell("shopify", "A-1", 2)
    world.later(60)
    world.cycle()
    assert first.push_calls == 2
    assert state_sheet(world)["usage:facebook:calls"] == f"2026-11:2@{began:.0f}"
    # 2 calls in the first day (counted over a day at least): 60 by November's end of its 144,000.
    message = str(world.status("Facebook")["Message"])
    assert message.endswith("; on pace for under 1% of a month's 144,000 push calls (200 an hour)")
    assert "on pace" not in str(world.status("Shopify")["Message"])  # no limit given: nothing counted

    second = world.channels[ChannelName("facebook")] = facebook()  # the worker restarted
    world.sell("shopify", "A-1", 3)
    world.later(60)
    world.cycle()
    assert second.push_calls == 1
    assert state_sheet(world)["usage:facebook:calls"] == f"2026-11:3@{began:.0f}"

    world.now = datetime(2026, 12, 1, 0, 0, 30, tzinfo=UTC)  # a new month starts from 0
    world.sell("shopify", "A-1", 1)
    world.cycle()
    assert second.push_calls == 2
    assert state_sheet(world)["usage:facebook:calls"] == f"2026-12:1@{world.now.timestamp():.0f}"
