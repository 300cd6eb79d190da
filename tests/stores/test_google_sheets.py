"""Google Sheets only: call budget, quotas, sharing errors, the race with the merchant, the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.google_sheets import FakeSheets, SheetsCall, SheetSpec
from sheetsync_fakes.wire import HandlerAdapter, serve

from sheetsync import cli
from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.cli import main
from sheetsync.config import SERVICE_ACCOUNT_ENV, GoogleSheetsMaster, Settings, load
from sheetsync.errors import PermanentError
from sheetsync.model import INVENTORY_SHEET, Sku
from sheetsync.stores.google_sheets import GoogleSheetsStore, connect, spreadsheet_id
from sheetsync.worker import run_cycle

from .conftest import _KEY, SERVICE_ACCOUNT

CONFIG = """
[master]
kind = "google_sheets"
spreadsheet = "{sheet}"
{extra}

[channels.shopify]
kind = "sandbox"
tiers = [{{ min = 3, hold = 2 }}, {{ min = 0, hold = "all" }}]
"""


def shop(fake: FakeSheets) -> str:
    sheet = fake.create_spreadsheet(
        "Shop", sheets=(SheetSpec(INVENTORY_SHEET),), shared_with=[SERVICE_ACCOUNT]
    )
    fake.set_values(sheet, f"{INVENTORY_SHEET}!A1", [["SKU", "Quantity"], ["A-1", 10], ["B-2", 4]])
    return sheet


def world(
    tmp_path: Path, fake: FakeSheets, clock: ManualClock | None = None
) -> tuple[GoogleSheetsStore, Settings, SandboxChannel]:
    sheet = shop(fake)
    (tmp_path / "sheetsync.toml").write_text(CONFIG.format(sheet=sheet, extra=""))
    settings = load(tmp_path / "sheetsync.toml")
    sleep = clock.sleep if clock else (lambda _: None)
    client = connect(_KEY, adapter=HandlerAdapter(fake))
    store = GoogleSheetsStore(client, sheet, settings.layout, account=SERVICE_ACCOUNT, sleep=sleep)
    now = datetime(2026, 11, 27, 9, tzinfo=UTC)
    return store, settings, SandboxChannel(settings.channels[0].name, lambda: now)


def calls(fake: FakeSheets) -> dict[str, int]:
    counts: dict[str, int] = {}
    for logged in fake.request_log:
        counts[logged.operation] = counts.get(logged.operation, 0) + 1
    return counts


def test_spreadsheet_id_from_a_url_or_an_id() -> None:
    assert spreadsheet_id("https://docs.google.com/spreadsheets/d/1AbC-d_9/edit#gid=0") == "1AbC-d_9"
    assert spreadsheet_id(" 1AbC-d_9 ") == "1AbC-d_9"


def test_a_cycle_reads_once_and_writes_at_most_twice(tmp_path: Path) -> None:
    fake = FakeSheets()
    store, settings, channel = world(tmp_path, fake)
    for minute, sku in enumerate(("A-1", "B-2")):  # the first cycles also create the tabs
        run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, minute, tzinfo=UTC))
        channel.sell(Sku(sku))
    fake.request_log.clear()
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, 5, tzinfo=UTC))
    assert calls(fake) == {
        "spreadsheets.values.batchGet": 1,  # the whole read
        "spreadsheets.values.append": 1,  # the new ledger rows
        "spreadsheets.values.get": 1,  # the SKU column, just before writing
        "spreadsheets.values.batchUpdate": 1,  # every worker cell, Status and State
    }
    fake.request_log.clear()
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, 6, tzinfo=UTC))
    assert calls(fake) == {
        "spreadsheets.values.batchGet": 1,
        "spreadsheets.values.batchUpdate": 1,
    }  # status only


def test_the_quota_429_is_waited_out_and_nothing_is_lost(tmp_path: Path) -> None:
    clock = ManualClock(1000.0)
    fake = FakeSheets(read_quota_per_minute=2, now=lambda: clock.now)
    store, settings, channel = world(tmp_path, fake, clock)
    before = clock.now
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, tzinfo=UTC))
    assert fake.count("spreadsheets.values.get") >= 1
    assert clock.now > before  # the store slept through the per-minute window instead of failing
    assert any(log.operation == "spreadsheets.values.get" for log in fake.request_log)
    assert fake.get_values(store.id, "Status!A2:C2") == [["Shopify", "", "OK"]]


def test_a_sheet_not_shared_names_the_service_account(tmp_path: Path) -> None:
    fake = FakeSheets()
    store, _, _ = world(tmp_path, fake)
    fake.unshare(store.id, SERVICE_ACCOUNT)
    with pytest.raises(PermanentError) as caught:
        store.read()
    assert str(caught.value) == (
        f"Google Sheet {store.id}: no access for {SERVICE_ACCOUNT}; "
        f"share the sheet with {SERVICE_ACCOUNT} as Editor"
    )


def test_an_unknown_sheet_says_so(tmp_path: Path) -> None:
    fake = FakeSheets()
    _, settings, _ = world(tmp_path, fake)
    store = GoogleSheetsStore(
        connect(_KEY, adapter=HandlerAdapter(fake)), "1nope", settings.layout, account=SERVICE_ACCOUNT
    )
    with pytest.raises(PermanentError, match=r"Google Sheet 1nope does not exist; check master\.spreadsheet"):
        store.read()


def test_a_merchant_edit_between_the_workers_read_and_write_survives(tmp_path: Path) -> None:
    fake = FakeSheets()
    store, settings, channel = world(tmp_path, fake)
    edited: list[str] = []

    def merchant_types(call: SheetsCall) -> None:
        if call.operation == "spreadsheets.values.batchUpdate" and not edited:
            fake.set_values(store.id, f"{INVENTORY_SHEET}!B2", [[20]])
            edited.append("B2")

    fake.before_request = merchant_types
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, tzinfo=UTC))
    assert edited == ["B2"]
    assert fake.get_values(store.id, f"{INVENTORY_SHEET}!B2") == [["20"]]
    assert channel.read_levels([Sku("A-1")]) == {"A-1": 8}  # planned from the 10 it read
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, 1, tzinfo=UTC))
    assert channel.read_levels([Sku("A-1")]) == {"A-1": 18}  # the next cycle uses the edit


def test_sync_once_over_loopback_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeSheets()
    sheet = shop(fake)
    with serve(fake) as base_url:
        monkeypatch.setenv(SERVICE_ACCOUNT_ENV, json.dumps({**_KEY, "token_uri": f"{base_url}/token"}))
        config = tmp_path / "sheetsync.toml"
        config.write_text(CONFIG.format(sheet=sheet, extra=f'base_url = "{base_url}"'))
        assert main(["sync", "--once", "--config", str(config)]) == 0
    assert "pushed shopify 2" in capsys.readouterr().out
    assert fake.get_values(sheet, f"{INVENTORY_SHEET}!A1:E2") == [
        ["SKU", "Quantity", "Available", "Shopify", "Status"],
        ["A-1", "10", "10", "8", "OK"],
    ]
    assert fake.count("oauth2.token") == 1  # signed in once, with a real signed JWT


def test_prepare_adds_tabs_headers_and_colours_once_and_touches_nothing_else(tmp_path: Path) -> None:
    fake = FakeSheets()
    sheet = fake.create_spreadsheet("Shop", sheets=(SheetSpec("Suppliers"),), shared_with=[SERVICE_ACCOUNT])
    fake.set_values(sheet, "Suppliers!A1", [["Name", "=1+1"]])
    (tmp_path / "sheetsync.toml").write_text(CONFIG.format(sheet=sheet, extra=""))
    settings = load(tmp_path / "sheetsync.toml")
    store = GoogleSheetsStore(
        connect(_KEY, adapter=HandlerAdapter(fake)), sheet, settings.layout, account=SERVICE_ACCOUNT
    )
    assert store.prepare() == [
        "added the Inventory tab with SKU, Quantity, Override",
        "added the worker columns to Inventory: Available, Shopify, Status, Reason, Synced",
        "prepared the Ledger tab",
        "prepared the Status tab",
        "prepared the State tab",
        "coloured rows by Status (ERROR and OVERSOLD red, LAG amber, PAUSED grey, REORDER blue)",
    ]
    assert fake.get_values(sheet, "Inventory!A1:H1") == [
        ["SKU", "Quantity", "Override", "Available", "Shopify", "Status", "Reason", "Synced"]
    ]
    assert fake.get_values(sheet, "Suppliers!A1:B1", value_render_option="FORMULA") == [["Name", "=1+1"]]
    inventory = next(s for s in fake.metadata(sheet)["sheets"] if s["properties"]["title"] == "Inventory")
    assert [r["ranges"][0]["startColumnIndex"] for r in inventory["conditionalFormats"]] == [5] * 5
    assert store.prepare() == []  # a second run changes nothing
    inventory = next(s for s in fake.metadata(sheet)["sheets"] if s["properties"]["title"] == "Inventory")
    assert len(inventory["conditionalFormats"]) == 5


def test_prepare_keeps_the_merchants_columns(tmp_path: Path) -> None:
    fake = FakeSheets()
    store, _, _ = world(tmp_path, fake)
    fake.set_values(store.id, f"{INVENTORY_SHEET}!C1:C2", [["Supplier"], ["Acme"]])
    store.prepare()
    assert fake.get_values(store.id, f"{INVENTORY_SHEET}!A1:D2") == [
        ["SKU", "Quantity", "Supplier", "Available"],
        ["A-1", "10", "Acme"],
    ]


def test_init_google_sheet_writes_the_config_and_prepares_the_sheet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeSheets()
    sheet = fake.create_spreadsheet(
        "Shop", sheets=(SheetSpec(INVENTORY_SHEET),), shared_with=[SERVICE_ACCOUNT]
    )
    fake.set_values(sheet, f"{INVENTORY_SHEET}!A1", [["SKU", "Quantity"]])
    url = f"https://docs.google.com/spreadsheets/d/{sheet}/edit"

    def offline_store(settings: Settings) -> GoogleSheetsStore:  # no network here: the fake, in-process
        client = connect(_KEY, adapter=HandlerAdapter(fake))
        return GoogleSheetsStore(client, sheet, settings.layout, account=SERVICE_ACCOUNT)

    monkeypatch.setattr(cli, "open_store", offline_store)
    assert main(["init", "--dir", str(tmp_path), "--google-sheet", url]) == 0
    out = capsys.readouterr().out
    assert "prepared the Ledger tab" in out
    settings = load(tmp_path / "sheetsync.toml")
    assert settings.master == GoogleSheetsMaster(url, None, None)
    assert main(["init", "--dir", str(tmp_path), "--google-sheet", url]) == 0
    assert "was ready; nothing changed" in capsys.readouterr().out
    assert main(["init", "--dir", str(tmp_path), "--google-sheet", "1another"]) == 1
