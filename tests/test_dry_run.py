"""Issue 23: ``sheetsync sync --dry-run`` and the confirmation a channel's first live sync waits for.

Two Shopify shops (one Shopify fake, served on loopback) read a local workbook through the real
CLI.  The fake's ``before_request`` hook records every quantity it is asked to set, by SKU: the
dry run must leave that record, the fakes' request logs and the workbook's bytes untouched, and
the next real sync must push exactly what the dry run printed.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLSchema
from openpyxl import load_workbook
from sheetsync_fakes import REFERENCE
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.google_sheets import FakeSheets, SheetSpec
from sheetsync_fakes.keys import service_account_key
from sheetsync_fakes.shopify import FakeShopify, ShopifyCall, load_schema
from sheetsync_fakes.wire import HandlerAdapter, serve, serve_app

from sheetsync.channels.shopify import ShopifyChannel
from sheetsync.cli import main
from sheetsync.config import Settings, load
from sheetsync.core.preview import preview_data
from sheetsync.model import INVENTORY_SHEET, STATUS_SHEET, ChannelName
from sheetsync.stores.google_sheets import GoogleSheetsStore, connect
from sheetsync.stores.workbook import create_workbook
from sheetsync.web import Board, create_app
from sheetsync.worker import Inbox, open_channels, open_store, preview_cycle, run_cycle

BIG, NEAR = ChannelName("big"), ChannelName("near")
TOKENS = {BIG: "shpat_big_token", NEAR: "shpat_near_token"}
PLAIN = [f"P-{n:02d}" for n in range(1, 26)]  #: 25 rows under the channels' buffer
#: Rows beyond the plain ones: an override, a paused row, a bundle of two P-01.
SPECIAL = ["OVR", "PAUSED", "KIT"]
CONFIG = """
[master]
kind = "workbook"
path = "inventory.xlsx"

[channels.big]
kind = "shopify"
title = "Big"
shop = "big-shop"
location = "Warehouse"
base_url = "{url}"
tiers = [{{ min = 5, hold = 2 }}, {{ min = 0, hold = "all" }}]

[channels.near]
kind = "shopify"
title = "Near"
shop = "near-shop"
location = "Warehouse"
base_url = "{url}"
tiers = [{{ min = 5, hold = 2 }}, {{ min = 0, hold = "all" }}]
"""
WRITES = {"inventorySetQuantities", "productVariantsBulkUpdate"}


@functools.cache
def schema() -> GraphQLSchema:
    return load_schema(REFERENCE / "shopify" / "admin_2026-10.json.gz")


class Shops:
    """Both shops on one fake; every quantity the fake is asked to set, by shop and SKU, in order."""

    def __init__(self) -> None:
        self.clock = ManualClock(time.time())  # the CLI's start lines are on the real clock
        self.fake = FakeShopify({"2026-10": schema()}, now=self.clock)
        self.sku_of: dict[str, str] = {}
        for name in (BIG, NEAR):
            self.fake.create_shop(f"{name}-shop", TOKENS[name], locations=["Warehouse"])
            for sku in [*PLAIN, *SPECIAL]:
                for variant in self.fake.add_product(f"{name}-shop", sku, stock={"Warehouse": 0}):
                    self.sku_of[variant.inventory_item_id] = sku
        self.pushed: dict[ChannelName, list[tuple[str, int]]] = {BIG: [], NEAR: []}
        self.fake.before_request = self.record

    def record(self, call: ShopifyCall) -> None:
        if "inventorySetQuantities" in call.root_fields:
            channel = ChannelName(call.shop.removesuffix("-shop.myshopify.com"))
            for row in call.variables["input"]["quantities"]:
                self.pushed[channel].append((self.sku_of[row["inventoryItemId"]], row["quantity"]))

    def writes(self) -> int:
        return sum(bool(WRITES & set(entry.root_fields)) for entry in self.fake.request_log)


@pytest.fixture
def shops() -> Iterator[tuple[Shops, str]]:
    world = Shops()
    with serve(world.fake) as url:
        yield world, url


@pytest.fixture
def project(tmp_path: Path, shops: tuple[Shops, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The config and a workbook: plain rows, an override, a paused row, a bundle, an unreadable count."""
    _, url = shops
    config = tmp_path / "sheetsync.toml"
    config.write_text(CONFIG.format(url=url), encoding="utf-8")
    for name, token in TOKENS.items():
        monkeypatch.setenv(f"SHEETSYNC__{name.upper()}__TOKEN", token)
    settings = load(config)
    workbook = tmp_path / "inventory.xlsx"
    create_workbook(workbook, settings.layout)
    book = load_workbook(workbook)
    sheet = book[INVENTORY_SHEET]
    rows: list[tuple[str, int | str | None, int | str | None]] = [(sku, 10, None) for sku in PLAIN]
    rows += [("OVR", 10, 4), ("PAUSED", 10, "PAUSE"), ("KIT", None, None), ("BAD", "ten", None)]
    for number, (sku, quantity, override) in enumerate(rows, start=2):
        sheet.cell(number, 1, sku)
        sheet.cell(number, 2, quantity)
        sheet.cell(number, 3, override)
    bundles = book.create_sheet("Bundles")
    bundles.append(["Bundle", "Component", "Quantity"])
    bundles.append(["KIT", "P-01", 2])
    book.save(workbook)
    return config


def dry_run(config: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    capsys.readouterr()  # what came before: a sync's summary line
    assert main(["sync", "--dry-run", "--json", "--config", str(config), *extra]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def channel(data: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in data["channels"] if c["name"] == name)
    return found


def pushes(data: dict[str, Any], name: str) -> list[tuple[str, int]]:
    """What the preview says the next sync pushes to ``name``, in order."""
    return [(line["sku"], line["to"]) for line in channel(data, name)["skus"] if line["action"] == "push"]


def sync(config: Path, *extra: str) -> None:
    assert main(["sync", "--config", str(config), *extra]) == 0


def status(config: Path, title: str) -> dict[object, object]:
    sheet = load_workbook(config.parent / "inventory.xlsx")[STATUS_SHEET]
    header = [cell.value for cell in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2, values_only=True) if r[0] == title)
    return dict(zip(header, row, strict=False))


def test_a_dry_run_writes_nothing_anywhere(
    project: Path, shops: tuple[Shops, str], capsys: pytest.CaptureFixture[str]
) -> None:
    world, _ = shops
    workbook = project.parent / "inventory.xlsx"
    before = workbook.read_bytes()

    data = dry_run(project, capsys)
    assert main(["sync", "--dry-run", "--config", str(project)]) == 0  # the text form
    text = capsys.readouterr().out

    assert workbook.read_bytes() == before  # no Ledger append, no Status or State, no lease
    assert world.writes() == 0
    assert world.pushed == {BIG: [], NEAR: []}
    reads = {field for entry in world.fake.request_log for field in entry.root_fields}
    assert reads
    assert not reads & WRITES
    # Both channels' first syncs would change 27 quantities: both are held, every line shown.
    for name in ("big", "near"):
        assert channel(data, name)["state"] == "HOLD"
        assert channel(data, name)["held"] == 28
        assert channel(data, name)["would_change"] == 0
    assert text.startswith("dry run at ")
    assert "nothing was written or pushed" in text
    assert "  held KIT     row 29: 0 → 3  shows 3: tier 5+ holds 2" in text
    assert 'Inventory row 30 (SKU BAD): Quantity "ten" is not a whole number' in text


def test_the_dry_run_is_exactly_what_the_next_sync_pushes_with_a_buffer_an_override_a_pause_and_a_bundle(
    project: Path, shops: tuple[Shops, str], capsys: pytest.CaptureFixture[str]
) -> None:
    world, _ = shops
    data = dry_run(project, capsys, "--confirm", "big", "--confirm", "near")
    lines = {line["sku"]: line for line in channel(data, "big")["skus"]}

    assert "tier 5+ holds 2" in lines["P-02"]["why"]  # the buffer
    assert (lines["P-02"]["from"], lines["P-02"]["to"], lines["P-02"]["action"]) == (0, 8, "push")
    assert "Override 4" in lines["OVR"]["why"]
    assert lines["OVR"]["to"] == 4
    assert lines["PAUSED"]["action"] == "held"
    assert "never pushed" in lines["PAUSED"]["why"]
    assert "bundle of 2 x P-01" in lines["KIT"]["why"]
    assert lines["KIT"]["action"] == "push"
    assert [(p["row"], p["sku"]) for p in data["problems"]] == [(30, "BAD")]
    assert channel(data, "big")["would_change"] == len(PLAIN) + 2  # every row but the paused one

    sync(project, "--confirm", "big", "--confirm", "near")

    assert world.pushed[BIG] == pushes(data, "big")
    assert world.pushed[NEAR] == pushes(data, "near")
    shown = world.fake.levels("big-shop.myshopify.com")
    assert {sku: to for sku, to in pushes(data, "big")} == {
        sku: shown[sku, "Warehouse"] for sku, _ in pushes(data, "big")
    }


def test_a_first_live_sync_with_many_changes_holds_that_channel_until_confirmed(
    project: Path,
    shops: tuple[Shops, str],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    world, _ = shops
    # Near already shows what the sheet says, but for two SKUs: a small first sync of its own.
    planned = [(line["sku"], line["to"]) for line in channel(dry_run(project, capsys), "big")["skus"]]
    for sku, to in planned[2:]:
        world.fake.admin_set_available("near-shop", sku, "Warehouse", to)
    data = dry_run(project, capsys)
    assert channel(data, "big")["state"] == "HOLD"
    assert channel(data, "big")["message"].startswith("first live sync: would change 27 of 28 quantities")
    assert (channel(data, "near")["state"], channel(data, "near")["would_change"]) == ("OK", 2)

    with caplog.at_level(logging.WARNING, logger="sheetsync"):
        sync(project)

    assert world.pushed[BIG] == []  # held: nothing at all went to Big
    assert world.pushed[NEAR] == pushes(data, "near")  # the other channel synced as usual
    held = status(project, "Big")
    assert held["State"] == "HOLD"
    assert "type CONFIRM in the Control cell of this row" in str(held["Message"])
    assert "sheetsync sync --confirm big" in str(held["Message"])
    assert status(project, "Near")["State"] == "OK"
    alerts = [r.getMessage() for r in caplog.records if "waits for you" in r.getMessage()]
    assert len(alerts) == 1
    assert "Big waits for you: first live sync" in alerts[0]

    sync(project)  # still held, and alerted only once
    assert world.pushed[BIG] == []

    # The merchant types CONFIRM in Big's Control cell: the next sync pushes what the preview says.
    book = load_workbook(project.parent / "inventory.xlsx")
    sheet = book[STATUS_SHEET]
    row = next(r[0].row for r in sheet.iter_rows(min_row=2) if r[0].value == "Big")
    sheet.cell(row, 2, "CONFIRM")
    book.save(project.parent / "inventory.xlsx")
    confirmed = dry_run(project, capsys)
    assert channel(confirmed, "big")["state"] == "OK"

    sync(project)

    assert world.pushed[BIG] == pushes(confirmed, "big")
    after = status(project, "Big")
    assert after["State"] == "OK"
    assert not after["Control"]
    # Live now: a later change of every row goes out without asking again.
    book = load_workbook(project.parent / "inventory.xlsx")
    for number in range(2, 2 + len(PLAIN)):
        book[INVENTORY_SHEET].cell(number, 3, 3)  # Override 3
    book.save(project.parent / "inventory.xlsx")
    later = channel(dry_run(project, capsys), "big")
    assert (later["state"], later["would_change"]) == ("OK", len(PLAIN))


def test_a_confirmation_is_for_a_channel_that_exists(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", "--dry-run", "--config", str(project), "--confirm", "amazon"]) == 2
    assert "--confirm amazon" in capsys.readouterr().err
    assert main(["sync", "--json", "--config", str(project)]) == 2
    assert "--json goes with --dry-run" in capsys.readouterr().err


def test_the_dashboard_preview_is_the_same_data_and_its_confirm_button_confirms(
    project: Path,
    shops: tuple[Shops, str],
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    world, _ = shops
    settings: Settings = load(project)
    store, channels = open_store(settings), open_channels(settings, lambda: datetime.now(UTC))

    def close() -> None:
        for channel in channels:
            if isinstance(channel, ShopifyChannel):
                channel.close()

    request.addfinalizer(close)
    inbox = Inbox()
    board = Board({c.name: c.title for c in settings.channels})
    app = create_app(
        inbox, {}, board=board, preview=lambda: preview_cycle(store, channels, settings, datetime.now(UTC))
    )
    cli = dry_run(project, capsys)
    with serve_app(app) as url, httpx.Client(base_url=url) as client:
        answer = client.get("/preview")
        page = client.get("/preview", headers={"Accept": "text/html"})
        stranger = client.get("/preview", headers={"Host": "evil.example"})
        board.record(run_cycle(store, channels, settings, datetime.now(UTC)))  # both channels held
        dashboard = client.get("/")
        confirm = client.post("/channels/big/confirm", follow_redirects=False)
        unknown = client.post("/channels/nope/confirm", follow_redirects=False)

    assert answer.status_code == 200
    shown = answer.json()
    assert {**shown, "at": ""} == {**cli, "at": ""}
    assert "first live sync" in page.text
    assert "dry run at" in page.text
    assert stranger.status_code == 403  # the dashboard's own rule: loopback only without a token
    assert (confirm.status_code, unknown.status_code) == (303, 404)
    assert '<form method="post" action="/channels/big/confirm">' in dashboard.text
    assert '<a href="/preview">' in dashboard.text
    assert world.writes() == 0

    controls = inbox.take_controls()
    assert controls == {BIG: "CONFIRM"}
    confirmed = dry_run(project, capsys, "--confirm", "big")
    report = run_cycle(store, channels, settings, datetime.now(UTC), controls=controls)
    assert world.pushed[BIG] == pushes(confirmed, "big") != []
    assert not report.errors


def test_over_google_sheets_a_dry_run_only_reads_and_polls_orders_it_does_not_count(tmp_path: Path) -> None:
    """The Sheets fake's own log: no values.update, append or batchUpdate; the sale is planned, not kept."""
    account = "bot@shop-project.iam.gserviceaccount.com"
    sheets = FakeSheets()
    sid = sheets.create_spreadsheet("Shop", sheets=(SheetSpec(INVENTORY_SHEET),), shared_with=[account])
    sheets.set_values(sid, f"{INVENTORY_SHEET}!A1", [["SKU", "Quantity"], ["MUG", 10], ["TEE", 4]])
    (tmp_path / "sheetsync.toml").write_text(
        f'[master]\nkind = "google_sheets"\nspreadsheet = "{sid}"\n\n'
        '[channels.shopify]\nkind = "shopify"\nshop = "mugs"\nlocation = "Warehouse"\n'
        'tiers = [{ min = 8, hold = 2 }, { min = 0, hold = "all" }]\n',
        encoding="utf-8",
    )
    settings = load(tmp_path / "sheetsync.toml")
    store = GoogleSheetsStore(
        connect(service_account_key(account), adapter=HandlerAdapter(sheets)),
        sid,
        settings.layout,
        account=account,
        sleep=lambda _: None,
    )
    clock = ManualClock(datetime(2026, 11, 27, 9, tzinfo=UTC).timestamp())
    fake = FakeShopify({"2026-10": schema()}, now=clock)
    fake.create_shop("mugs", "shpat_mugs", locations=["Warehouse"])
    for sku in ("MUG", "TEE"):
        fake.add_product("mugs", sku, stock={"Warehouse": 0})
    shop = ShopifyChannel(
        ChannelName("shopify"),
        shop="mugs",
        token="shpat_mugs",
        location="Warehouse",
        client=httpx.Client(transport=httpx.MockTransport(fake)),
        sleep=clock.sleep,
        clock=clock,
    )

    def now() -> datetime:
        return datetime.fromtimestamp(clock.now, UTC)

    run_cycle(store, [shop], settings, now())  # the install: its start line; MUG 8 and TEE 2 pushed
    clock.now += 60
    fake.place_order("mugs", [("MUG", 3)])
    clock.now += 60
    sheets.request_log.clear()
    fake.request_log.clear()
    ledger = sheets.get_values(sid, "Ledger")

    shown = preview_data(preview_cycle(store, [shop], settings, now()))

    assert {entry.operation for entry in sheets.request_log} <= {
        "spreadsheets.get",
        "spreadsheets.values.batchGet",
    }
    assert sheets.get_values(sid, "Ledger") == ledger  # the sale was read, not appended
    polled = {field for entry in fake.request_log for field in entry.root_fields}
    assert "orders" in polled
    assert not polled & WRITES
    [line] = shown["channels"][0]["skus"][:1]
    # Shopify sold 3 of its 8 by itself; 7 left is under the tier of 8, so all of it is held back.
    assert (line["sku"], line["from"], line["to"], line["action"]) == ("MUG", 5, 0, "push")

    report = run_cycle(store, [shop], settings, now())

    assert report.pushed == {ChannelName("shopify"): 1}
    assert fake.levels("mugs.myshopify.com")["MUG", "Warehouse"] == 0
