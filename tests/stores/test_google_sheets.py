"""Google Sheets only: call budget, quotas, sharing errors, the race with the merchant, the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.google_sheets import FakeSheets, SheetsCall, SheetSpec
from sheetsync_fakes.wire import HandlerAdapter, serve

from sheetsync import cli
from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.cli import main
from sheetsync.config import SERVICE_ACCOUNT_ENV, GoogleSheetsMaster, Settings, load
from sheetsync.errors import LeaseHeld, PermanentError, StoreLayoutError, TransientError
from sheetsync.model import (
    AVAILABLE,
    BUFFER,
    INVENTORY_SHEET,
    LEDGER_SHEET,
    QUANTITY,
    SKU,
    SKU_IS_NUMBER,
    ChannelName,
    LedgerEntry,
    Movement,
    Sku,
)
from sheetsync.stores._grid import ARCHIVE_SHEET
from sheetsync.stores._template import ROW_FLAGS
from sheetsync.stores.google_sheets import (
    ATTEMPTS,
    SETTLE_ROUNDS,
    WHOLE_READ_EVERY,
    GoogleSheetsStore,
    connect,
    spreadsheet_id,
)
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
        # the whole read, then just before writing the header row, the SKU column, Status and
        # State, and after it the header row and SKU column again (had rows moved under the write?)
        "spreadsheets.values.batchGet": 3,
        "spreadsheets.values.get": 1,  # the Ledger's Key column tail: has another worker appended?
        "spreadsheets.values.append": 1,  # the new ledger rows
        # every worker cell (through its column's tag), Status and State
        "spreadsheets.values.batchUpdateByDataFilter": 1,
    }
    fake.request_log.clear()
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, 6, tzinfo=UTC))
    assert calls(fake) == {
        "spreadsheets.values.batchGet": 2,  # the read, and Status and State just before writing
        "spreadsheets.values.batchUpdate": 1,
    }  # status only


def test_the_quota_429_is_waited_out_and_nothing_is_lost(tmp_path: Path) -> None:
    clock = ManualClock(1000.0)
    fake = FakeSheets(read_quota_per_minute=2, now=lambda: clock.now)
    store, settings, channel = world(tmp_path, fake, clock)
    before = clock.now
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, tzinfo=UTC))
    assert fake.count("spreadsheets.values.batchGet") >= 2
    assert clock.now > before  # the store slept through the per-minute window instead of failing
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
        if call.operation.startswith("spreadsheets.values.batchUpdate") and not edited:
            fake.set_values(store.id, f"{INVENTORY_SHEET}!B2", [[20]])
            edited.append("B2")

    fake.before_request = merchant_types
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, tzinfo=UTC))
    assert edited == ["B2"]
    assert fake.get_values(store.id, f"{INVENTORY_SHEET}!B2") == [["20"]]
    assert channel.read_levels([Sku("A-1")]) == {"A-1": 8}  # planned from the 10 it read
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, 1, tzinfo=UTC))
    assert channel.read_levels([Sku("A-1")]) == {"A-1": 18}  # the next cycle uses the edit


def test_worker_columns_typed_without_tags_are_tagged_and_written_once_their_headers_are_under_the_tags(
    tmp_path: Path,
) -> None:
    """Worker headers the merchant typed (no `sheetsync init`): the cycle tags them, reads the
    header row once to see each tag under its header, and writes through the tags, null where a
    row is left alone. Before, the cells waited a cycle while the State moved on, and the next
    cycle's volume guard took the stale Available column for a bad paste (adversary seed 30)."""
    fake = FakeSheets()
    store, settings, channel = world(tmp_path, fake)
    header = ["SKU", "Quantity", "Available", "Shopify", "Status", "Reason", "Synced"]
    rows: list[list[str | int]] = [
        ["A-1", 10],
        ["B-2", 4],
        ["Notes:", "restock Friday"],
        ["C-3", 7],
        [],
        ["D-4", 1],
    ]
    fake.set_values(store.id, f"{INVENTORY_SHEET}!A1", [header, *rows])
    written: list[dict[str, Any]] = []

    def write(call: SheetsCall) -> None:
        if call.operation.startswith("spreadsheets.values.batchUpdate"):
            written.extend(call.body["data"])

    fake.before_request = write
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, tzinfo=UTC))

    assert not [d for d in written if d.get("range", "").startswith("'Inventory'")]  # nothing by A1
    through_tags = {
        d["dataFilter"]["developerMetadataLookup"]["metadataValue"]: d["values"][0]
        for d in written
        if "developerMetadataLookup" in d.get("dataFilter", {})
    }
    assert through_tags["available"] == [None, 10, 4, None, 7, None, 1]  # the header and row 6 left alone
    assert [row[2:5] for row in fake.get_values(store.id, f"{INVENTORY_SHEET}!A2:G7")] == [
        ["10", "8", "OK"],
        ["4", "2", "OK"],
        ["", "", "ERROR"],
        ["7", "5", "OK"],
        [],
        ["1", "0", "HELD"],
    ]


def test_a_column_inserted_before_the_tagging_lands_keeps_its_cells_and_the_worker_waits(
    tmp_path: Path,
) -> None:
    """The merchant inserts a column where the worker's typed Available header was, between the
    store's re-read and its tagging: the tag lands on the merchant's column, the header row read
    after shows it, and no worker value goes there; the next cycle moves the tag and writes."""
    fake = FakeSheets()
    store, settings, channel = world(tmp_path, fake)
    header = ["SKU", "Quantity", "Available", "Shopify", "Status", "Reason", "Synced"]
    fake.set_values(store.id, f"{INVENTORY_SHEET}!A1", [header, ["A-1", 10], ["B-2", 4]])
    inserted: list[str] = []

    def merchant_inserts(call: SheetsCall) -> None:
        tagging = call.operation == "spreadsheets.batchUpdate" and "createDeveloperMetadata" in str(call.body)
        if tagging and not inserted:
            fake.insert_columns(store.id, INVENTORY_SHEET, 3)
            fake.set_values(store.id, f"{INVENTORY_SHEET}!C1", [["Notes"], ["top shelf"], ["back room"]])
            inserted.append(call.operation)

    fake.before_request = merchant_inserts
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, tzinfo=UTC))
    fake.before_request = None

    assert inserted
    grid = fake.get_values(store.id, INVENTORY_SHEET)
    assert [row[:4] for row in grid] == [
        ["SKU", "Quantity", "Notes", "Available"],
        ["A-1", "10", "top shelf"],
        ["B-2", "4", "back room"],
    ]
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, 1, tzinfo=UTC))
    grid = fake.get_values(store.id, INVENTORY_SHEET)
    assert [row[:6] for row in grid[1:]] == [
        ["A-1", "10", "top shelf", "10", "8", "OK"],
        ["B-2", "4", "back room", "4", "2", "OK"],
    ]


def test_a_column_inserted_in_the_round_trip_before_the_write_takes_no_worker_value(tmp_path: Path) -> None:
    """The merchant inserts a column after the store's last look at the header row and before its
    write lands: the worker's cells follow their columns (tagged), and the merchant's stay theirs."""
    fake = FakeSheets()
    store, settings, channel = world(tmp_path, fake)
    fake.set_values(store.id, f"{INVENTORY_SHEET}!C1", [["Notes"], ["top shelf"], ["back room"]])
    for minute in range(2):  # the first cycle tags the worker columns, the second confirms the tags
        run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, minute, tzinfo=UTC))
        channel.sell(Sku("A-1"))
    inserted: list[str] = []

    def merchant_inserts(call: SheetsCall) -> None:
        if call.operation.startswith("spreadsheets.values.batchUpdate") and not inserted:
            fake.insert_columns(store.id, INVENTORY_SHEET, 2)  # before Quantity: every column moves
            fake.set_values(store.id, f"{INVENTORY_SHEET}!B1", [["Supplier"]])
            inserted.append(call.operation)

    fake.before_request = merchant_inserts
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, 5, tzinfo=UTC))
    grid = fake.get_values(store.id, INVENTORY_SHEET)
    header = grid[0]
    assert header[:4] == ["SKU", "Supplier", "Quantity", "Notes"]
    assert [row[:4] for row in grid[1:3]] == [["A-1", "", "10", "top shelf"], ["B-2", "", "4", "back room"]]
    available = header.index("Available")
    assert grid[1][available] == "8"  # 10 less the two sold: in the worker's own column, moved
    assert inserted == ["spreadsheets.values.batchUpdateByDataFilter"]
    # The next cycle, with the header row changed, looks the tags up again and writes through them.
    fake.before_request = None
    channel.sell(Sku("A-1"))
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, 6, tzinfo=UTC))
    grid = fake.get_values(store.id, INVENTORY_SHEET)
    assert [row[:4] for row in grid[1:3]] == [["A-1", "", "10", "top shelf"], ["B-2", "", "4", "back room"]]
    assert grid[1][available] == "7"


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
        "coloured rows by Status (OK green, ERROR and OVERSOLD red, LAG amber, DRIFT purple, PAUSED grey, "
        "REORDER blue, HELD yellow)",
        "formatted the SKU column as Plain text (a SKU typed 00123 keeps its zeros; "
        "retype any SKU that lost them)",
        # the template's look: tests/test_template.py
        "marked the worker's columns on Inventory and Status (grey, a note, a warning on editing)",
        "Override now takes only a whole number of at least 0, PAUSE, or nothing",
        "Control offers PAUSE, CONFIRM and ACCEPT; the Status tab's State is coloured",
        "froze the SKU column",
        "added the Read me tab: every tab, column and flag in plain words",
    ]
    assert fake.get_values(sheet, "Inventory!A1:H1") == [
        ["SKU", "Quantity", "Override", "Available", "Shopify", "Status", "Reason", "Synced"]
    ]
    assert fake.get_values(sheet, "Suppliers!A1:B1", value_render_option="FORMULA") == [["Name", "=1+1"]]
    inventory = next(s for s in fake.metadata(sheet)["sheets"] if s["properties"]["title"] == "Inventory")
    assert [r["ranges"][0]["startColumnIndex"] for r in inventory["conditionalFormats"]] == [5] * len(
        ROW_FLAGS
    )
    assert store.prepare() == []  # a second run changes nothing
    inventory = next(s for s in fake.metadata(sheet)["sheets"] if s["properties"]["title"] == "Inventory")
    assert len(inventory["conditionalFormats"]) == len(ROW_FLAGS)


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
    assert settings.master == GoogleSheetsMaster(sheet, None, None)  # the key, from the URL
    assert main(["init", "--dir", str(tmp_path), "--google-sheet", url]) == 0
    assert "was ready; nothing changed" in capsys.readouterr().out
    assert main(["init", "--dir", str(tmp_path), "--google-sheet", "1another"]) == 1


AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def sale(n: int) -> LedgerEntry:
    return LedgerEntry(f"shopify/{1000 + n}/1", Sku("A-1"), -1, Movement.SALE, AT, ChannelName("shopify"))


def ledger_keys(fake: FakeSheets, store: GoogleSheetsStore) -> list[str]:
    return [row[0] for row in fake.get_values(store.id, LEDGER_SHEET)[1:]]


@pytest.mark.parametrize(
    ("fault", "applied", "expected"),
    [
        # The request landed and only its answer was lost: one more look, nothing appended again.
        (httpx.ReadTimeout("The read operation timed out"), True, {"append": 1, "get": 2}),
        # Refused before it landed (a 503 after the write would look the same from here).
        (None, False, {"append": 2, "get": 2}),
    ],
)
def test_a_lost_append_looks_at_the_key_column_tail_before_repeating(
    tmp_path: Path, fault: Exception | None, applied: bool, expected: dict[str, int]
) -> None:
    fake = FakeSheets()
    store, _, _ = world(tmp_path, fake)
    store.append_ledger([sale(n) for n in range(1, 4)])
    store.read()
    fake.request_log.clear()

    fake.fail_next("spreadsheets.values.append", exception=fault, applied=applied)
    store.append_ledger([sale(4), sale(5)])

    assert ledger_keys(fake, store) == [sale(n).key for n in range(1, 6)]
    counts = calls(fake)
    assert (counts.get("spreadsheets.values.append"), counts.get("spreadsheets.values.get")) == (
        expected["append"],
        expected["get"],
    )
    looked = next(log for log in fake.request_log if log.operation == "spreadsheets.values.get")
    assert looked.path.endswith("/values/'Ledger'!A2:A")  # the Key column, from near the end


def test_a_throttled_append_is_repeated_without_looking_again(tmp_path: Path) -> None:
    fake = FakeSheets()
    store, _, _ = world(tmp_path, fake)
    store.append_ledger([sale(1)])
    fake.request_log.clear()

    fake.fail_next("spreadsheets.values.append", 429)  # a 429 is a refusal: nothing landed
    store.append_ledger([sale(2)])

    assert calls(fake) == {"spreadsheets.values.get": 1, "spreadsheets.values.append": 2}
    assert ledger_keys(fake, store) == [sale(1).key, sale(2).key]


def test_a_worker_that_read_before_another_appended_appends_nothing(tmp_path: Path) -> None:
    """A worker paused past its lease resumes with its old read: its entries would count twice."""
    fake = FakeSheets()
    paused, settings, _ = world(tmp_path, fake)
    paused.append_ledger([sale(1)])
    paused.read()
    other = GoogleSheetsStore(
        connect(_KEY, adapter=HandlerAdapter(fake)), paused.id, settings.layout, account=SERVICE_ACCOUNT
    )
    other.read()
    other.append_ledger([sale(2), sale(3)])  # the same orders, read by the other worker meanwhile

    with pytest.raises(LeaseHeld, match="the Ledger gained rows 3-4 since this worker read it"):
        paused.append_ledger([sale(2), sale(3), sale(4)])

    assert ledger_keys(fake, paused) == [sale(n).key for n in (1, 2, 3)]
    paused.read()  # the next cycle reads again and appends what is new
    paused.append_ledger([sale(4)])
    assert ledger_keys(fake, paused) == [sale(n).key for n in (1, 2, 3, 4)]


def test_a_ledger_renamed_away_and_back_is_seen_again(tmp_path: Path) -> None:
    fake = FakeSheets()
    store, _, _ = world(tmp_path, fake)
    store.append_ledger([sale(1)])
    assert store.read().ledger_found

    fake.rename_sheet(store.id, LEDGER_SHEET, "Ledger (old)")
    assert not store.read().ledger_found  # the tab list is fetched again, not a 400
    fake.rename_sheet(store.id, "Ledger (old)", LEDGER_SHEET)
    fake.request_log.clear()

    assert store.read().ledger_found
    assert calls(fake) == {"spreadsheets.get": 1, "spreadsheets.values.batchGet": 1}


def archiving_world(tmp_path: Path) -> tuple[FakeSheets, GoogleSheetsStore, list[dict[str, Any]]]:
    """A sheet whose Ledger holds five sales, as read; the batchUpdate bodies are recorded."""
    fake = FakeSheets()
    store, _, _ = world(tmp_path, fake)
    store.append_ledger([sale(n) for n in range(1, 6)])
    store.read()
    fake.request_log.clear()
    bodies: list[dict[str, Any]] = []

    def record(call: SheetsCall) -> None:
        if call.operation == "spreadsheets.batchUpdate":
            bodies.append(call.body)

    fake.before_request = record
    return fake, store, bodies


CHECKPOINT = [LedgerEntry("checkpoint/A-1", Sku("A-1"), 7, Movement.COUNT, AT)]


def test_archiving_costs_the_tab_list_one_read_and_one_atomic_batch_update(tmp_path: Path) -> None:
    fake, store, bodies = archiving_world(tmp_path)

    store.archive_ledger(3, CHECKPOINT)

    assert calls(fake) == {
        "spreadsheets.get": 1,  # the tab list as it is now
        "spreadsheets.values.batchGet": 1,  # the Ledger's first rows (and the archive's Keys)
        "spreadsheets.batchUpdate": 1,  # archive, insert, write and delete, all or nothing
    }
    [body] = bodies
    assert [next(iter(request)) for request in body["requests"]] == [
        "addSheet",
        "appendCells",
        "insertDimension",
        "updateCells",
        "deleteDimension",
    ]
    assert ledger_keys(fake, store) == ["checkpoint/A-1", sale(4).key, sale(5).key]
    assert [row[0] for row in fake.get_values(store.id, ARCHIVE_SHEET)] == [
        "Key",
        *(sale(n).key for n in range(1, 4)),
    ]
    ledger = next(s for s in fake.metadata(store.id)["sheets"] if s["properties"]["title"] == LEDGER_SHEET)
    assert ledger["properties"]["gridProperties"]["frozenRowCount"] == 1  # the header stays frozen

    fake.request_log.clear()
    assert [row.cells["key"] for row in store.read_archive()] == [sale(n).key for n in range(1, 4)]
    assert calls(fake) == {"spreadsheets.values.get": 1}


def test_an_archive_whose_answer_was_lost_is_settled_by_reading_again(tmp_path: Path) -> None:
    fake, store, bodies = archiving_world(tmp_path)
    lost = httpx.RemoteProtocolError("Server disconnected without sending a response.")
    fake.fail_next("spreadsheets.batchUpdate", exception=lost, applied=True)

    store.archive_ledger(3, CHECKPOINT)

    assert len(bodies) == 1  # it landed: the second look found it done
    assert calls(fake) == {
        "spreadsheets.get": 2,
        "spreadsheets.values.batchGet": 2,
        "spreadsheets.batchUpdate": 1,
    }
    assert ledger_keys(fake, store) == ["checkpoint/A-1", sale(4).key, sale(5).key]
    assert [row[0] for row in fake.get_values(store.id, ARCHIVE_SHEET)[1:]] == [
        sale(n).key for n in range(1, 4)
    ]


def test_archiving_everything_without_a_checkpoint_keeps_a_row_below_the_header(tmp_path: Path) -> None:
    fake = FakeSheets()
    sheet = shop(fake)
    fake.add_sheet(sheet, SheetSpec(LEDGER_SHEET, rows=4, frozen_rows=1))  # exactly the rows used
    fake.set_values(
        sheet, f"{LEDGER_SHEET}!A1:B4", [["Key", "SKU"], ["k1", "A-1"], ["k2", "A-1"], ["k3", "B-2"]]
    )
    (tmp_path / "sheetsync.toml").write_text(CONFIG.format(sheet=sheet, extra=""))
    layout = load(tmp_path / "sheetsync.toml").layout
    store = GoogleSheetsStore(
        connect(_KEY, adapter=HandlerAdapter(fake)), sheet, layout, account=SERVICE_ACCOUNT
    )
    store.read()

    store.archive_ledger(3, [])

    assert fake.get_values(sheet, LEDGER_SHEET)[0][:2] == ["Key", "SKU"]
    assert len(fake.get_values(sheet, LEDGER_SHEET)) == 1
    assert [row[0] for row in fake.get_values(sheet, ARCHIVE_SHEET)] == ["Key", "k1", "k2", "k3"]


def test_an_archive_that_keeps_failing_gives_up_in_bounds_and_changes_nothing(tmp_path: Path) -> None:
    fake, store, _ = archiving_world(tmp_path)
    fake.fail_next("spreadsheets.batchUpdate", 503, times=50)

    with pytest.raises(TransientError, match="503"):
        store.archive_ledger(3, CHECKPOINT)

    assert fake.count("spreadsheets.batchUpdate") == ATTEMPTS  # one loop retries, nothing nested
    assert ledger_keys(fake, store) == [sale(n).key for n in range(1, 6)]
    assert ARCHIVE_SHEET not in [s["properties"]["title"] for s in fake.metadata(store.id)["sheets"]]


def test_prepare_formats_the_sku_column_as_plain_text_so_zeros_stay(tmp_path: Path) -> None:
    fake = FakeSheets()
    store, _, _ = world(tmp_path, fake)
    fake.set_values(store.id, f"{INVENTORY_SHEET}!A3", [["00123"]])  # before: Sheets makes it 123
    assert [(r.cells[SKU], r.cells.get(SKU_IS_NUMBER)) for r in store.read().rows][1] == ("123", "TRUE")

    store.prepare()
    fake.set_values(store.id, f"{INVENTORY_SHEET}!A3", [["00123"]])  # retyped, as the message says

    assert [(r.cells[SKU], r.cells.get(SKU_IS_NUMBER)) for r in store.read().rows][1] == ("00123", None)
    assert store.prepare() == []  # formatted once


def test_a_percentage_buffer_costs_one_read_more_and_only_while_a_buffer_holds_a_number(
    tmp_path: Path,
) -> None:
    fake = FakeSheets()
    store, _, _ = world(tmp_path, fake)
    fake.set_values(store.id, f"{INVENTORY_SHEET}!C1:C3", [["Buffer"], ["3"], ["'2 units"]])
    store.read()
    assert calls(fake)["spreadsheets.values.batchGet"] == 2  # a number: 3, or 300% shown as 3?

    fake.set_values(store.id, f"{INVENTORY_SHEET}!C2", [["10%"]])
    assert [row.cells[BUFFER] for row in store.read().rows] == ["10%", "2 units"]

    fake.set_values(store.id, f"{INVENTORY_SHEET}!C2", [["'3"]])
    fake.request_log.clear()
    assert [row.cells[BUFFER] for row in store.read().rows] == ["3", "2 units"]
    assert calls(fake)["spreadsheets.values.batchGet"] == 1


def test_a_percentage_buffer_is_read_right_when_rows_or_columns_move_between_the_two_reads(
    tmp_path: Path,
) -> None:
    """The merchant inserts a row (then a column) between the read and its FORMATTED_VALUE read of
    the Buffers: rows are matched by SKU, and a moved column makes the store read again."""
    fake = FakeSheets()
    sheet = shop(fake)
    fake.set_values(sheet, f"{INVENTORY_SHEET}!C1:C3", [["Buffer"], ["10%"], ["25%"]])
    (tmp_path / "sheetsync.toml").write_text(CONFIG.format(sheet=sheet, extra=""))
    settings = load(tmp_path / "sheetsync.toml")
    edits = [
        lambda: fake.insert_rows(sheet, INVENTORY_SHEET, 2),
        lambda: fake.insert_columns(sheet, INVENTORY_SHEET, 2),
    ]

    def merchant_between(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("valueRenderOption") == "FORMATTED_VALUE" and edits:
            edits.pop(0)()  # after the first read, before this one reaches the sheet
        return fake(request)

    client = connect(_KEY, adapter=HandlerAdapter(merchant_between))
    store = GoogleSheetsStore(client, sheet, settings.layout, account=SERVICE_ACCOUNT)
    assert [(row.cells[SKU], row.cells[BUFFER]) for row in store.read().rows] == [
        ("A-1", "10%"),
        ("B-2", "25%"),
    ]
    assert [(row.cells[SKU], row.cells[BUFFER]) for row in store.read().rows] == [
        ("A-1", "10%"),
        ("B-2", "25%"),
    ]
    assert calls(fake)["spreadsheets.values.batchGet"] == 2 + 4  # the second read read again, once


def test_the_lease_costs_nothing_while_held_and_three_calls_to_take(tmp_path: Path) -> None:
    fake = FakeSheets()
    store, settings, channel = world(tmp_path, fake)
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 8, 59, tzinfo=UTC))  # adds the tabs
    store.read()
    fake.request_log.clear()

    assert store.acquire("worker-1", datetime(2026, 11, 27, 9, tzinfo=UTC), 120) is None
    assert calls(fake) == {
        "spreadsheets.values.batchGet": 2,  # the State as it is now, then to confirm it is ours
        "spreadsheets.values.batchUpdate": 1,  # the lease written
    }
    store.read()
    fake.request_log.clear()
    assert store.acquire("worker-1", datetime(2026, 11, 27, 9, 0, 59, tzinfo=UTC), 120) is None
    assert calls(fake) == {}
    assert store.acquire("worker-1", datetime(2026, 11, 27, 9, 1, 1, tzinfo=UTC), 120) is None
    assert calls(fake) == {
        "spreadsheets.values.batchGet": 1,  # no read() just before: the State as it is now
        "spreadsheets.values.batchUpdate": 1,  # renewed: ours, so nothing to confirm
    }


def test_the_lease_runs_on_googles_clock_whatever_the_workers_clocks_say(tmp_path: Path) -> None:
    """One worker's clock runs ten minutes slow: its lease still lasts its time in Google's time,
    and a worker with a right clock is refused until then, and takes it over after."""
    google = ManualClock(datetime(2026, 11, 27, 9, tzinfo=UTC).timestamp())
    fake = FakeSheets(wall=google)
    slow, settings, channel = world(tmp_path, fake)
    right = GoogleSheetsStore(
        connect(_KEY, adapter=HandlerAdapter(fake)), slow.id, settings.layout, account=SERVICE_ACCOUNT
    )
    run_cycle(slow, [channel], settings, datetime(2026, 11, 27, 9, tzinfo=UTC))  # adds the tabs
    slow.read()
    assert slow.acquire("slow", datetime(2026, 11, 27, 8, 50, tzinfo=UTC), 300) is None
    lease = [row[1] for row in fake.get_values(slow.id, "State") if row and row[0] == "lease"]
    assert lease == ["slow until 2026-11-27T09:05:00Z"]  # Google's 09:00 and 300 s; not 08:55
    google.sleep(240)
    right.read()
    refusal = right.acquire("right", datetime(2026, 11, 27, 9, 4, tzinfo=UTC), 300)
    assert refusal is not None
    assert "held by another sheetsync worker (slow)" in refusal
    google.sleep(120)  # 09:06 in Google's time: the slow worker's lease has run out
    right.read()
    assert right.acquire("right", datetime(2026, 11, 27, 9, 6, tzinfo=UTC), 300) is None


def test_a_tab_renamed_during_the_cycle_is_a_layout_error_naming_it(tmp_path: Path) -> None:
    fake = FakeSheets()
    store, settings, channel = world(tmp_path, fake)
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, tzinfo=UTC))
    store.read()

    fake.rename_sheet(store.id, LEDGER_SHEET, "Ledger 2025")
    with pytest.raises(StoreLayoutError) as raised:
        store.append_ledger([LedgerEntry("k", Sku("A-1"), -1, Movement.SALE, datetime.now(UTC))])

    assert "Unable to parse range" in str(raised.value)
    assert "renamed or deleted" in str(raised.value)
    assert "name yours back" in str(raised.value)


def test_a_sheet_read_again_unchanged_is_the_same_and_a_checkbox_over_a_count_is_seen(tmp_path: Path) -> None:
    fake = FakeSheets()
    store, _, _ = world(tmp_path, fake)
    store.prepare()
    fake.set_values(store.id, f"{INVENTORY_SHEET}!B3", [[1]])
    first = store.read()
    again = store.read()
    assert again.rows is first.rows  # nothing changed: what was made of the last read
    assert [r.cells["quantity"] for r in again.rows] == ["10", "1"]
    fake.set_values(store.id, f"{INVENTORY_SHEET}!B3", [[True]])  # a checkbox: TRUE == 1 in Python
    assert [r.cells["quantity"] for r in store.read().rows] == ["10", "TRUE"]


def test_a_read_whose_reply_is_cut_short_is_read_again_and_at_last_named(tmp_path: Path) -> None:
    fake = FakeSheets()
    cut = [1]  # how many of the next batchGet replies arrive cut short

    def handler(request: httpx.Request) -> httpx.Response:
        answer = fake(request)
        if request.url.path.endswith("values:batchGet") and cut[0] > 0:
            cut[0] -= 1
            body = answer.read()
            return httpx.Response(200, headers={"content-type": "application/json"}, content=body[:-20])
        return answer

    sheet = shop(fake)
    (tmp_path / "sheetsync.toml").write_text(CONFIG.format(sheet=sheet, extra=""))
    settings = load(tmp_path / "sheetsync.toml")
    client = connect(_KEY, adapter=HandlerAdapter(handler))
    store = GoogleSheetsStore(client, sheet, settings.layout, account=SERVICE_ACCOUNT, sleep=lambda _: None)

    assert [r.cells["quantity"] for r in store.read().rows] == ["10", "4"]  # the second try's
    assert cut == [0]

    cut[0] = ATTEMPTS
    with pytest.raises(TransientError, match=f"{store.where}: Google Sheets answered with broken JSON"):
        store.read()
    assert cut == [0]


TAB = f"'{INVENTORY_SHEET}'"  #: the Inventory as the store names it in a range


def read_ranges(fake: FakeSheets) -> list[list[str]]:
    """The ranges of each values:batchGet since the log was cleared."""
    return [
        [value for key, value in logged.query if key == "ranges"]
        for logged in fake.request_log
        if logged.operation == "spreadsheets.values.batchGet"
    ]


def synced(tmp_path: Path) -> tuple[FakeSheets, GoogleSheetsStore]:
    """A sheet after two cycles (the worker's columns written), and one whole read since."""
    fake = FakeSheets()
    store, settings, channel = world(tmp_path, fake)
    for minute in range(2):
        run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, minute, tzinfo=UTC))
    store.read()
    fake.request_log.clear()
    return fake, store


def whole_read(fake: FakeSheets, store: GoogleSheetsStore, layout: Any) -> Any:
    """What a store that kept nothing reads."""
    fresh = GoogleSheetsStore(
        connect(_KEY, adapter=HandlerAdapter(fake)), store.id, layout, account=SERVICE_ACCOUNT
    )
    return fresh.read()


def test_a_quiet_read_asks_only_for_the_merchants_columns_and_reads_what_a_whole_one_does(
    tmp_path: Path,
) -> None:
    fake, store = synced(tmp_path)
    inventory = fake.get_values(store.id, INVENTORY_SHEET)
    assert inventory[0][:2] == ["SKU", "Quantity"]
    assert len(inventory[0]) > 2
    fake.set_values(store.id, f"{INVENTORY_SHEET}!B3", [[9]])  # the merchant recounts

    quiet = store.read()

    [ranges] = read_ranges(fake)
    assert f"{TAB}!1:1" in ranges
    assert f"{TAB}!A2:B" in ranges
    assert TAB not in ranges  # not the whole tab
    assert quiet == whole_read(fake, store, store.layout)
    assert {row.cells[SKU]: row.cells[QUANTITY] for row in quiet.rows} == {"A-1": "10", "B-2": "9"}


@pytest.mark.parametrize(
    "move",
    [
        lambda fake, sheet: fake.insert_rows(sheet, INVENTORY_SHEET, 2),  # a row inserted above
        lambda fake, sheet: fake.set_values(sheet, f"{INVENTORY_SHEET}!A2", [["B-2"], ["A-1"]]),  # sorted
        lambda fake, sheet: fake.insert_columns(sheet, INVENTORY_SHEET, 2),  # a column inserted
        lambda fake, sheet: fake.set_values(sheet, f"{INVENTORY_SHEET}!C1", [["Avail."]]),  # renamed
    ],
    ids=["row inserted", "rows sorted", "column inserted", "header renamed"],
)
def test_rows_or_columns_moved_since_the_whole_read_are_read_whole_again(tmp_path: Path, move: Any) -> None:
    fake, store = synced(tmp_path)
    move(fake, store.id)

    moved = store.read()

    assert [r[-1:] for r in read_ranges(fake)] == [[f"{TAB}!A2:B"], [TAB]]
    assert moved == whole_read(fake, store, store.layout)
    fake.request_log.clear()
    store.read()
    assert TAB not in read_ranges(fake)[0]  # quiet again, from the new whole read


def test_a_worker_cell_typed_over_is_read_within_whole_read_every_reads(tmp_path: Path) -> None:
    fake, store = synced(tmp_path)
    fake.set_values(store.id, f"{INVENTORY_SHEET}!C2", [["typed"]])  # over A-1's Available
    wholes, shown = [], []
    for _ in range(WHOLE_READ_EVERY):
        fake.request_log.clear()
        read = store.read()
        wholes.append(TAB in read_ranges(fake)[0])
        shown.append(next(row.cells[AVAILABLE] for row in read.rows if row.cells[SKU] == "A-1"))
    assert wholes.count(True) == 1
    at = wholes.index(True)
    assert set(shown[:at]) == {"10"}  # what the worker wrote, kept
    assert set(shown[at:]) == {"typed"}  # seen from the whole read on
    assert read == whole_read(fake, store, store.layout)


def test_the_worker_reads_the_cells_it_wrote_from_its_kept_read_not_from_the_sheet(tmp_path: Path) -> None:
    fake = FakeSheets()
    store, settings, channel = world(tmp_path, fake)
    wholes, available = [], []
    for minute in range(6):
        if minute >= 2:
            channel.sell(Sku("A-1"))  # every cycle from 09:02 on writes A-1's cells
        fake.request_log.clear()
        run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, minute, tzinfo=UTC))
        read = store.read()
        wholes.append(sum(TAB in ranges for ranges in read_ranges(fake)))
        assert read == whole_read(fake, store, store.layout)  # what it wrote, as the sheet has it
        available.append(next(row.cells[AVAILABLE] for row in read.rows if row.cells[SKU] == "A-1"))
    # The first cycle adds the worker's columns: the read after it takes them whole, none after.
    assert wholes == [2, 0, 0, 0, 0, 0]  # the cycle's read and this one's
    assert available == ["10", "10", "9", "8", "7", "6"]


def test_a_lease_another_worker_took_since_makes_the_worker_read_its_columns_whole(tmp_path: Path) -> None:
    fake, store = synced(tmp_path)
    at = datetime(2026, 11, 27, 9, 5, tzinfo=UTC)
    assert store.acquire("worker-1", at, 60) is None
    store.read()  # held by this store: the next read may be quiet
    fake.request_log.clear()
    store.read()
    assert TAB not in read_ranges(fake)[0]
    other = GoogleSheetsStore(
        connect(_KEY, adapter=HandlerAdapter(fake)), store.id, store.layout, account=SERVICE_ACCOUNT
    )
    other.read()
    later = datetime(2026, 11, 27, 9, 7, tzinfo=UTC)  # worker-1's lease has lapsed
    assert other.acquire("worker-2", later, 60) is None
    fake.set_values(store.id, f"{INVENTORY_SHEET}!C2", [[3]])  # as worker-2's cycle writes Available
    fake.request_log.clear()

    read = store.read()

    assert [TAB in ranges for ranges in read_ranges(fake)] == [False, True]  # quiet, then again whole
    assert next(row.cells[AVAILABLE] for row in read.rows if row.cells[SKU] == "A-1") == "3"
    assert store.acquire("worker-1", later, 60) is not None  # worker-2's: worker-1 writes nothing
    fake.request_log.clear()
    store.read()
    assert [TAB in ranges for ranges in read_ranges(fake)] == [True]  # nothing kept meanwhile


@pytest.mark.parametrize("before", ["the columns are made", "the cells are written"])
def test_a_column_inserted_while_the_worker_adds_its_columns_keeps_all_it_holds(
    tmp_path: Path, before: str
) -> None:
    """The first cycle adds the worker's columns and writes them; the merchant inserts a column
    just before one or the other request (found by the adversary campaign, seed 18 at 16 cycles,
    when the new columns' headers and cells went by A1)."""
    fake = FakeSheets()
    store, settings, channel = world(tmp_path, fake)
    fake.set_values(store.id, f"{INVENTORY_SHEET}!C1", [["Notes"], ["top shelf"], ["back room"]])
    inserted: list[str] = []

    def merchant_inserts(call: SheetsCall) -> None:
        making = call.operation == "spreadsheets.batchUpdate" and "insertDimension" in str(call.body)
        writing = call.operation == "spreadsheets.values.batchUpdateByDataFilter"
        if not inserted and (making if before == "the columns are made" else writing):
            fake.insert_columns(store.id, INVENTORY_SHEET, 2)
            fake.set_values(store.id, f"{INVENTORY_SHEET}!B1", [["Supplier"]])
            inserted.append(call.operation)

    fake.before_request = merchant_inserts
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, tzinfo=UTC))

    assert inserted
    header, *rows = fake.get_values(store.id, INVENTORY_SHEET)
    by_header = [dict(zip(header, row + [""] * (len(header) - len(row)), strict=True)) for row in rows]
    merchant = [{k: row[k] for k in ("SKU", "Supplier", "Quantity", "Notes")} for row in by_header]
    assert merchant == [
        {"SKU": "A-1", "Supplier": "", "Quantity": "10", "Notes": "top shelf"},
        {"SKU": "B-2", "Supplier": "", "Quantity": "4", "Notes": "back room"},
    ]
    assert [(row["Available"], row["Status"]) for row in by_header] == [("10", "OK"), ("4", "OK")]
    assert len(header) == len(set(header))  # each header once: none written over another


def _six_skus_synced(tmp_path: Path, fake: FakeSheets) -> tuple[GoogleSheetsStore, Settings, SandboxChannel]:
    """Six SKUs at 10..15, two cycles run (the worker's columns made and tagged), one sold of each."""
    store, settings, channel = world(tmp_path, fake)
    skus = [f"S-{n}" for n in range(1, 7)]
    fake.set_values(store.id, f"{INVENTORY_SHEET}!A2", [[sku, 9 + n] for n, sku in enumerate(skus, start=1)])
    for minute in range(2):
        run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, minute, tzinfo=UTC))
    for sku in skus:
        channel.sell(Sku(sku))
    return store, settings, channel


def _available_by_sku(fake: FakeSheets, sheet: str) -> dict[str, str]:
    header, *rows = fake.get_values(sheet, INVENTORY_SHEET)
    sku, available = header.index("SKU"), header.index("Available")
    return {row[sku] if row else "": row[available] if available < len(row) else "" for row in rows}


@pytest.mark.parametrize("when", ["before the write lands", "after the write landed"])
def test_a_row_inserted_in_the_writes_round_trip_leaves_every_worker_cell_on_its_sku(
    tmp_path: Path, when: str
) -> None:
    """The merchant inserts a note row at the top while the worker's cells are on their way (found
    by the adversary campaign, seed 11 at 36 cycles): before the fix, the cells below landed one
    row up, and the next cycle's volume guard took the shifted Available column for a bad paste
    and held every push."""
    fake = FakeSheets()
    store, settings, channel = _six_skus_synced(tmp_path, fake)
    inserted: list[str] = []

    def merchant_inserts(call: SheetsCall) -> None:
        writing = call.operation == "spreadsheets.values.batchUpdateByDataFilter"
        landed = call.operation == "spreadsheets.values.batchGet" and bool(
            fake.count("spreadsheets.values.batchUpdateByDataFilter")
        )
        if not inserted and (writing if when == "before the write lands" else landed):
            fake.insert_rows(store.id, INVENTORY_SHEET, 2)
            fake.set_values(store.id, f"{INVENTORY_SHEET}!B2", [["restock Friday"]])
            inserted.append(call.operation)

    fake.request_log.clear()
    fake.before_request = merchant_inserts
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, 5, tzinfo=UTC))
    fake.before_request = None

    assert inserted
    assert _available_by_sku(fake, store.id) == {
        "": "",  # the note row: no worker value
        **{f"S-{n}": str(8 + n) for n in range(1, 7)},  # 9 + n counted, one sold
    }
    for sku in ("S-1", "S-6"):
        channel.sell(Sku(sku))
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, 6, tzinfo=UTC))
    assert fake.get_values(store.id, "Status!A2:C2") == [["Shopify", "", "OK"]]  # nothing held
    assert channel.read_levels([Sku("S-1"), Sku("S-6")]) == {
        "S-1": 6,
        "S-6": 11,
    }  # 10 and 15, two sold, 2 kept
    assert _available_by_sku(fake, store.id)["S-6"] == "13"


@pytest.mark.parametrize("edit", ["drags S-1 below S-4", "deletes S-2's row"])
def test_a_row_dragged_or_deleted_before_the_write_lands_leaves_every_worker_cell_on_its_sku(
    tmp_path: Path, edit: str
) -> None:
    fake = FakeSheets()
    store, settings, channel = _six_skus_synced(tmp_path, fake)
    edited: list[str] = []

    def merchant_edits(call: SheetsCall) -> None:
        if call.operation == "spreadsheets.values.batchUpdateByDataFilter" and not edited:
            if edit == "drags S-1 below S-4":
                fake.move_rows(store.id, INVENTORY_SHEET, 2, 1, 6)
            else:
                fake.delete_row(store.id, INVENTORY_SHEET, 3)
            edited.append(edit)

    fake.before_request = merchant_edits
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, 5, tzinfo=UTC))
    fake.before_request = None

    assert edited
    expected = {f"S-{n}": str(8 + n) for n in range(1, 7)}  # 9 + n counted, one sold
    if edit == "deletes S-2's row":
        del expected["S-2"]
    assert _available_by_sku(fake, store.id) == expected
    _, *rows = fake.get_values(store.id, INVENTORY_SHEET)
    assert len(rows) == len(expected)  # no worker value left on a row below the table
    fake.request_log.clear()
    assert store.read() == whole_read(fake, store, store.layout)
    assert TAB in read_ranges(fake)[0]  # the kept read has the rows where they were: not used


def test_rows_that_keep_moving_cost_a_bounded_number_of_writes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeSheets()
    store, settings, channel = _six_skus_synced(tmp_path, fake)

    def merchant_inserts(call: SheetsCall) -> None:
        # a row inserted before the write and before each repair (not before the clearing)
        writes = fake.count("spreadsheets.values.batchUpdateByDataFilter")  # this one included
        if call.operation == "spreadsheets.values.batchUpdateByDataFilter" and writes <= 1 + SETTLE_ROUNDS:
            fake.insert_rows(store.id, INVENTORY_SHEET, 2)

    fake.request_log.clear()
    fake.before_request = merchant_inserts
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, 5, tzinfo=UTC))
    fake.before_request = None

    # the write, SETTLE_ROUNDS repairs, then the worker's columns cleared
    assert fake.count("spreadsheets.values.batchUpdateByDataFilter") == 2 + SETTLE_ROUNDS
    assert "rows kept moving while the worker wrote the Inventory" in caplog.text
    assert set(_available_by_sku(fake, store.id).values()) == {""}
    # Once the merchant stops, the next cycle writes every cell on its SKU and holds nothing.
    channel.sell(Sku("S-1"))
    run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, 6, tzinfo=UTC))
    assert fake.get_values(store.id, "Status!A2:C2") == [["Shopify", "", "OK"]]
    assert channel.read_levels([Sku("S-1")]) == {"S-1": 6}  # 10, two sold, 2 kept
    assert {k: v for k, v in _available_by_sku(fake, store.id).items() if k} == {
        f"S-{n}": str(8 + n - (n == 1)) for n in range(1, 7)
    }


def test_the_inventory_renamed_just_after_the_write_leaves_the_cycle_done(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The write landed; the check of the rows after it finds no Inventory tab: the cycle is not
    failed for that (its pushes and cells are done), and the next read says what is wrong."""
    fake = FakeSheets()
    store, settings, channel = _six_skus_synced(tmp_path, fake)

    def merchant_renames(call: SheetsCall) -> None:
        after = call.operation == "spreadsheets.values.batchGet" and bool(
            fake.count("spreadsheets.values.batchUpdateByDataFilter")
        )
        if after and INVENTORY_SHEET in [
            tab["properties"]["title"] for tab in fake.metadata(store.id)["sheets"]
        ]:
            fake.rename_sheet(store.id, INVENTORY_SHEET, "Stock")

    fake.request_log.clear()
    fake.before_request = merchant_renames
    report = run_cycle(store, [channel], settings, datetime(2026, 11, 27, 9, 5, tzinfo=UTC))
    fake.before_request = None

    assert not any(report.errors.values())
    assert "rows not checked after the write" in caplog.text
    assert [row[:3] for row in fake.get_values(store.id, "Stock!A2:C3")] == [
        ["S-1", "10", "9"],
        ["S-2", "11", "10"],
    ]
    assert channel.read_levels([Sku("S-1")]) == {"S-1": 7}  # 10, one sold, 2 kept
