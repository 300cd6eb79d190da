"""The master explains itself: the Read me, the worker's grey columns, flags, validations, hidden State.

Through each store's public entry points (``create_workbook``, ``prepare``) and what the workbook
file, the Sheets fake and the Airtable fake then hold; and a cycle still syncs the dressed master.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.worksheet.worksheet import Worksheet
from sheetsync_fakes.airtable import OWNER, AccessToken, FakeAirtable
from sheetsync_fakes.google_sheets import FakeSheets, SheetSpec
from sheetsync_fakes.keys import service_account_key
from sheetsync_fakes.wire import HandlerAdapter

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.config import load
from sheetsync.core.plan import RowState
from sheetsync.model import (
    INVENTORY_SHEET,
    LEDGER_SHEET,
    STATE_SHEET,
    STATUS_HEADERS,
    STATUS_SHEET,
    ChannelName,
    Layout,
    Sku,
    header_key,
)
from sheetsync.stores._template import (
    CHANNEL_STATES,
    README_SHEET,
    ROW_FLAGS,
    WORKER_NOTE,
    inventory_columns,
    template_columns,
)
from sheetsync.stores.airtable import AirtableStore
from sheetsync.stores.airtable import connect as airtable_connect
from sheetsync.stores.google_sheets import GoogleSheetsStore
from sheetsync.stores.google_sheets import connect as sheets_connect
from sheetsync.stores.workbook import WorkbookStore, create_workbook
from sheetsync.web import STATES
from sheetsync.worker import run_cycle

LAYOUT = Layout(((ChannelName("shopify"), "Shopify"), (ChannelName("meta"), "Meta Shop")))
NOW = datetime(2026, 11, 27, 9, tzinfo=UTC)
CONFIG = """
[master]
kind = "workbook"
path = "inventory.xlsx"

[channels.shopify]
kind = "sandbox"
tiers = [{ min = 3, hold = 2 }, { min = 0, hold = "all" }]
"""


def test_the_flags_explained_are_exactly_the_flags_the_worker_writes() -> None:
    assert [f.word for f in ROW_FLAGS] == [s.value for s in RowState]
    assert [f.word for f in CHANNEL_STATES] == list(STATES)


# --- the workbook ------------------------------------------------------------------------------


def made(tmp_path: Path, layout: Layout = LAYOUT) -> Path:
    path = tmp_path / "inventory.xlsx"
    create_workbook(path, layout)
    return path


def letters(ws: Worksheet, *, worker: bool, columns: list[Any]) -> set[str]:
    titles = {header_key(c.title) for c in columns if c.worker == worker}
    return {c.column_letter for c in ws[1] if c.value and header_key(str(c.value)) in titles}


def test_the_read_me_names_every_tab_column_and_flag_in_plain_words(tmp_path: Path) -> None:
    wb = load_workbook(made(tmp_path))

    assert wb.sheetnames[0] == README_SHEET
    text = "\n".join(str(v) for row in wb[README_SHEET].iter_rows(values_only=True) for v in row if v)
    for title in [c.title for c in inventory_columns(LAYOUT)] + list(STATUS_HEADERS.values()):
        assert f"\n{title}\n" in f"\n{text}\n", title
    for ledger_title in LAYOUT.ledger_headers().values():
        assert f"\n{ledger_title}\n" in text
    for flag in [*RowState, *STATES]:
        assert f"\n{flag}\n" in text, flag
    for tab in (INVENTORY_SHEET, LEDGER_SHEET, STATUS_SHEET, STATE_SHEET):
        assert f"\n{tab}\n" in text
    for how in ("Pause a row", "Pause a channel", "Override", "Confirm a shrink"):
        assert how in text


def test_the_workbook_marks_the_workers_columns_only(tmp_path: Path) -> None:
    wb = load_workbook(made(tmp_path))
    ws = wb[INVENTORY_SHEET]
    columns = template_columns(LAYOUT)
    worker, merchant = letters(ws, worker=True, columns=columns), letters(ws, worker=False, columns=columns)

    assert worker == {"D", "E", "F", "G", "H", "I"}
    assert merchant == {"A", "B", "C"}
    header = [c for c in ws[1] if isinstance(c, Cell)]
    assert len(header) == len(ws[1])  # no merged cell in the header row
    assert {c.column_letter for c in header if c.comment and c.comment.text == WORKER_NOTE} == worker
    assert {c.column_letter for c in header if c.fill.fill_type == "solid"} == worker
    warning = next(v for v in ws.data_validations.dataValidation if v.formula1 == "FALSE")
    assert warning.errorStyle == "warning"
    assert WORKER_NOTE in (warning.error or "")
    assert {
        str(r).rstrip("0123456789").split(":")[0].rstrip("0123456789") for r in warning.sqref.ranges
    } == worker
    grey = {
        str(cf.sqref)[0]
        for cf in ws.conditional_formatting
        for rule in cf.rules
        if rule.type == "expression" and rule.formula == ["TRUE"]
    }
    assert grey == worker
    # Nothing locks the merchant out: no sheet protection (it would stop deleting a row in Excel).
    assert not any(sheet.protection.sheet for sheet in wb.worksheets)


def test_the_workbook_colours_each_flag_and_validates_override_and_control(tmp_path: Path) -> None:
    wb = load_workbook(made(tmp_path))
    inventory, status = wb[INVENTORY_SHEET], wb[STATUS_SHEET]

    rules = {
        str(cf.sqref): [r.formula[0] for r in cf.rules if r.type == "cellIs"]
        for cf in inventory.conditional_formatting
    }
    assert rules["G2:G5000"] == [f'"{flag}"' for flag in RowState]  # G: Status
    assert all(
        r.dxf.fill.fgColor.rgb.endswith(f.colour)
        for cf in inventory.conditional_formatting
        if str(cf.sqref) == "G2:G5000"
        for r, f in zip([r for r in cf.rules if r.type == "cellIs"], ROW_FLAGS, strict=True)
    )
    state_rules = [
        r.formula[0] for cf in status.conditional_formatting for r in cf.rules if r.type == "cellIs"
    ]
    assert state_rules == [f'"{state}"' for state in STATES]
    override = next(
        v for v in inventory.data_validations.dataValidation if v.type == "custom" and "C2" in v.formula1
    )
    assert str(override.sqref) == "C2:C5000"
    assert override.errorStyle in (None, "stop")
    assert override.formula1 == (
        'IF(ISNUMBER(C2),AND(C2>=0,C2=INT(C2)),OR(UPPER(TRIM(C2))="PAUSE",UPPER(TRIM(C2))="PAUSED"))'
    )
    control = next(v for v in status.data_validations.dataValidation if v.type == "list")
    assert (control.formula1, str(control.sqref), control.errorStyle) == (
        '"PAUSE,CONFIRM,ACCEPT"',
        "B2:B50",
        "warning",
    )


def test_the_workbook_hides_state_freezes_sku_and_starts_a_ledger(tmp_path: Path) -> None:
    wb = load_workbook(made(tmp_path))

    assert wb[STATE_SHEET].sheet_state == "hidden"
    assert [wb[name].sheet_state for name in (README_SHEET, INVENTORY_SHEET, LEDGER_SHEET, STATUS_SHEET)] == [
        "visible"
    ] * 4
    assert wb[INVENTORY_SHEET].freeze_panes == "B2"
    assert wb[INVENTORY_SHEET].column_dimensions["H"].width == 60  # Reason
    assert [c.value for c in wb[LEDGER_SHEET][1]] == list(LAYOUT.ledger_headers().values())
    assert WorkbookStore(tmp_path / "inventory.xlsx", LAYOUT).read().ledger_found


def test_a_cycle_syncs_the_dressed_workbook_and_the_merchants_edits_count(tmp_path: Path) -> None:
    (tmp_path / "sheetsync.toml").write_text(CONFIG, encoding="utf-8")
    settings = load(tmp_path / "sheetsync.toml")
    path = made(tmp_path, settings.layout)
    book = load_workbook(path)
    book[INVENTORY_SHEET].append(["A-1", 10])
    book.save(path)
    store, channel = WorkbookStore(path, settings.layout), SandboxChannel(ChannelName("shopify"), lambda: NOW)

    run_cycle(store, [channel], settings, NOW)
    book = load_workbook(path)
    book[INVENTORY_SHEET]["B2"] = 20  # the merchant recounts in their own column
    book.save(path)
    run_cycle(store, [channel], settings, NOW)

    assert channel.read_levels([Sku("A-1")]) == {Sku("A-1"): 18}
    wb = load_workbook(path)
    row = {c.value: v.value for c, v in zip(wb[INVENTORY_SHEET][1], wb[INVENTORY_SHEET][2], strict=True)}
    assert (row["Quantity"], row["Available"], row["Status"]) == (20, 20, "OK")
    assert wb[STATE_SHEET].sheet_state == "hidden"  # still, after the worker's saves
    assert [v.formula1 for v in wb[INVENTORY_SHEET].data_validations.dataValidation if v.type == "custom"]


# --- Google Sheets ------------------------------------------------------------------------------

ACCOUNT = "sheetsync@shop.iam.gserviceaccount.com"


def sheets_world(layout: Layout = LAYOUT) -> tuple[FakeSheets, GoogleSheetsStore]:
    fake = FakeSheets()
    sheet = fake.create_spreadsheet("Shop", sheets=(SheetSpec("Suppliers"),), shared_with=[ACCOUNT])
    key = service_account_key(ACCOUNT, "https://oauth2.googleapis.com/token")
    store = GoogleSheetsStore(
        sheets_connect(key, adapter=HandlerAdapter(fake)), sheet, layout, account=ACCOUNT
    )
    return fake, store


def tab(fake: FakeSheets, sheet: str, title: str) -> dict[str, Any]:
    return next(s for s in fake.metadata(sheet)["sheets"] if s["properties"]["title"] == title)


def test_prepare_dresses_a_google_sheet_once_and_the_fake_holds_every_part() -> None:
    fake, store = sheets_world()

    lines = store.prepare()
    updates = fake.count("spreadsheets.batchUpdate")

    assert store.prepare() == []
    assert fake.count("spreadsheets.batchUpdate") == updates
    assert any("Read me" in line for line in lines)
    sheets = fake.metadata(store.id)["sheets"]
    assert sheets[0]["properties"]["title"] == README_SHEET
    assert tab(fake, store.id, STATE_SHEET)["properties"]["hidden"] is True
    inventory = tab(fake, store.id, INVENTORY_SHEET)
    assert inventory["properties"]["gridProperties"]["frozenColumnCount"] == 1
    protected = {p["range"]["startColumnIndex"]: p for p in inventory["protectedRanges"]}
    assert sorted(protected) == [3, 4, 5, 6, 7, 8]  # Available … Synced; never SKU, Quantity, Override
    assert all(p["warningOnly"] and p["description"] == WORKER_NOTE for p in protected.values())
    colours = [
        r["booleanRule"]["condition"]["values"][0]["userEnteredValue"]
        for r in inventory["conditionalFormats"]
    ]
    assert set(colours) >= {flag.value for flag in RowState}
    status = tab(fake, store.id, STATUS_SHEET)
    states = [
        r["booleanRule"]["condition"]["values"][0]["userEnteredValue"] for r in status["conditionalFormats"]
    ]
    assert states == list(STATES)
    readme = "\n".join(c for row in fake.get_values(store.id, f"'{README_SHEET}'!A1:C200") for c in row)
    assert all(f"\n{flag}\n" in readme for flag in [*RowState, *STATES])


def test_the_sheet_validates_override_and_control_and_notes_the_worker_headers() -> None:
    _fake, store = sheets_world()
    store.prepare()

    grid = store._http.fetch_sheet_metadata(
        store.id,
        params={"ranges": ["Inventory!A1:D2", "Status!B2"], "includeGridData": "true"},
    )
    inventory, status = (s["data"][0]["rowData"] for s in grid["sheets"])
    override = inventory[1]["values"][2]["dataValidation"]
    assert override["strict"] is True
    assert override["condition"]["type"] == "CUSTOM_FORMULA"
    assert override["condition"]["values"][0]["userEnteredValue"].startswith("=IF(ISNUMBER(C2),AND(C2>=0")
    control = status[0]["values"][0]["dataValidation"]
    assert [v["userEnteredValue"] for v in control["condition"]["values"]] == ["PAUSE", "CONFIRM", "ACCEPT"]
    assert control["strict"] is False
    headers = inventory[0]["values"]
    assert [h.get("note") for h in headers] == [None, None, None, WORKER_NOTE]
    widths = [c["pixelSize"] for c in grid["sheets"][0]["data"][0]["columnMetadata"]]
    assert widths[0] > widths[1]  # SKU wider than Quantity


def test_a_cycle_syncs_the_dressed_sheet(tmp_path: Path) -> None:
    (tmp_path / "sheetsync.toml").write_text(CONFIG, encoding="utf-8")
    settings = load(tmp_path / "sheetsync.toml")
    fake, store = sheets_world(settings.layout)
    store.prepare()
    fake.set_values(store.id, "Inventory!A2:B2", [["A-1", "10"]])
    channel = SandboxChannel(ChannelName("shopify"), lambda: NOW)

    run_cycle(store, [channel], settings, NOW)

    assert channel.read_levels([Sku("A-1")]) == {Sku("A-1"): 8}
    assert fake.get_values(store.id, "Inventory!D2:F2") == [["10", "8", "OK"]]


def test_a_state_tab_the_worker_adds_itself_is_hidden(tmp_path: Path) -> None:
    (tmp_path / "sheetsync.toml").write_text(CONFIG, encoding="utf-8")
    settings = load(tmp_path / "sheetsync.toml")
    fake, store = sheets_world(settings.layout)
    fake.add_sheet(store.id, SheetSpec(INVENTORY_SHEET))
    fake.set_values(store.id, "Inventory!A1:B2", [["SKU", "Quantity"], ["A-1", "10"]])

    run_cycle(store, [SandboxChannel(ChannelName("shopify"), lambda: NOW)], settings, NOW)  # no prepare

    assert tab(fake, store.id, STATE_SHEET)["properties"]["hidden"] is True
    assert "hidden" not in tab(fake, store.id, STATUS_SHEET)["properties"]


# --- Airtable ------------------------------------------------------------------------------------

TOKEN = "patSecret.0123456789abcdef"
BASE = "appSheetsyncTest1"


def test_airtable_fields_are_created_with_their_descriptions(
    tmp_path: Path,
) -> None:
    clock = [NOW.timestamp()]  # the fake's and the pacer's: the pacer's sleep moves it on
    fake = FakeAirtable(tokens={TOKEN: AccessToken(OWNER)}, now=lambda: clock[0])
    fake.create_base("Shop", base_id=BASE)

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    api, paced = airtable_connect(TOKEN, inner=HandlerAdapter(fake), clock=lambda: clock[0], sleep=sleep)
    store = AirtableStore(api, BASE, LAYOUT, paced=paced, now=lambda: NOW)

    store.prepare()

    request = httpx.Request(
        "GET",
        f"https://api.airtable.com/v0/meta/bases/{BASE}/tables",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    tables = {t["name"]: t for t in fake(request).json()["tables"]}
    added = {f["name"]: f for f in tables[INVENTORY_SHEET]["fields"]}
    assert added["Override"]["description"].startswith("yours: ")
    assert all(
        added[c.title]["description"].startswith(WORKER_NOTE) for c in inventory_columns(LAYOUT) if c.worker
    )
    assert added["SKU"]["description"].startswith("yours: your code for the item")
    assert added["Quantity"]["type"] == "number"
    status_fields = {f["name"]: f for f in tables[STATUS_SHEET]["fields"]}
    assert status_fields["Control"]["description"].startswith("yours: PAUSE pauses a channel")
    assert all(f.get("description") for f in tables[LEDGER_SHEET]["fields"])
