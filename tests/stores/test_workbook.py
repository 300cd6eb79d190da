"""What only the .xlsx store does: the template, atomic saves, lock files, openpyxl's types."""

from __future__ import annotations

import os
import zipfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import BinaryIO

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.styles import Font

from sheetsync.errors import PermanentError, StoreLayoutError, TransientError
from sheetsync.model import (
    AVAILABLE,
    INVENTORY_SHEET,
    LEDGER_SHEET,
    QUANTITY,
    REASON,
    SKU,
    STATE_HEADERS,
    STATE_SHEET,
    STATUS_HEADERS,
    STATUS_SHEET,
    CellWrite,
    ChannelName,
    ChannelStatus,
    GuardStatus,
    LedgerEntry,
    Movement,
    Report,
    Sku,
    Snapshot,
    StatusControl,
    StatusUpdate,
    ledger_cells,
)
from sheetsync.stores import workbook as workbook_module
from sheetsync.stores._template import README_SHEET
from sheetsync.stores.workbook import MAX_CELL_TEXT, WorkbookStore, create_workbook

from .conftest import LAYOUT, Percent, WorkbookBackend

AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
ENTRY = LedgerEntry("shopify/1001/1", Sku("A"), -1, Movement.SALE, AT, ChannelName("shopify"), "1001", "1")


def available(value: str) -> StatusUpdate:
    return StatusUpdate((CellWrite(2, Sku("A"), AVAILABLE, value),), (), None, {})


def test_create_workbook_writes_the_template(tmp_path: Path) -> None:
    path = tmp_path / "inventory.xlsx"

    create_workbook(path, LAYOUT)

    wb = load_workbook(path)
    del wb[README_SHEET]  # the Read me: see tests/test_template.py
    headers = {ws.title: [cell.value for cell in ws[1]] for ws in wb.worksheets}
    assert headers == {
        INVENTORY_SHEET: [
            "SKU",
            "Quantity",
            "Override",
            "Available",
            "Shopify",
            "Meta Shop",
            "Status",
            "Reason",
            "Synced",
        ],
        LEDGER_SHEET: list(LAYOUT.ledger_headers().values()),
        STATUS_SHEET: list(STATUS_HEADERS.values()),
        STATE_SHEET: list(STATE_HEADERS.values()),
    }
    assert [ws.freeze_panes for ws in wb.worksheets] == ["B2", "A2", "A2", "A2"]  # Inventory: SKU too
    assert all(cell.font.b for ws in wb.worksheets for cell in ws[1])
    assert WorkbookStore(path, LAYOUT).read() == Snapshot((), (), StatusControl(), {})


def test_create_workbook_refuses_an_existing_path(tmp_path: Path) -> None:
    path = tmp_path / "inventory.xlsx"
    path.write_bytes(b"the merchant's")

    with pytest.raises(FileExistsError, match=r"inventory\.xlsx already exists"):
        create_workbook(path, LAYOUT)

    assert path.read_bytes() == b"the merchant's"


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each load of a workbook from its file, by whether it was read-only."""
    made: list[bool] = []

    def counting(path: Path, **kwargs: bool) -> Workbook:
        made.append(kwargs["read_only"])
        return load_workbook(path, **kwargs)

    monkeypatch.setattr("sheetsync.stores.workbook.load_workbook", counting)
    return made


def test_read_loads_the_file_once_and_an_empty_append_not_at_all(
    workbook: WorkbookBackend, loads: list[bool]
) -> None:
    store = workbook.make([{"SKU": "A", "Quantity": 1}], LAYOUT)
    store.read()
    store.append_ledger([])

    assert loads == [True]


def test_the_workbook_it_saved_is_not_loaded_again_but_a_merchants_save_is(
    workbook: WorkbookBackend, loads: list[bool]
) -> None:
    store = workbook.make([{"SKU": "A", "Quantity": 1}], LAYOUT)
    store.read()
    store.append_ledger([ENTRY])
    store.write_status(available("5"))
    assert loads == [True, False]  # the read, and one load for both writes

    ours = workbook.path.stat()
    workbook.merchant_edit(2, "Quantity", 7)  # saved in place, at our size, in the same tick of the clock:
    _sized(workbook.path, ours.st_size)
    os.utime(workbook.path, ns=(ours.st_atime_ns, ours.st_mtime_ns))
    theirs = workbook.path.stat()
    assert (theirs.st_ino, theirs.st_size, theirs.st_mtime_ns) == (
        ours.st_ino,
        ours.st_size,
        ours.st_mtime_ns,
    )
    store.write_status(available("6"))  # only the bytes tell the files apart
    assert loads == [True, False, False]
    assert workbook.inventory_value(2, "Quantity") == "7"
    assert workbook.inventory_value(2, "Available") == "6"
    assert [row.cells["key"] for row in store.read().ledger] == [ENTRY.key]


def test_a_read_of_the_file_it_saved_is_what_loading_that_file_reads(
    workbook: WorkbookBackend, loads: list[bool]
) -> None:
    typed = datetime(2026, 1, 2, 3, 4, 5)  # noqa: DTZ001 - an Excel cell holds no timezone
    store = workbook.make(
        [
            {"SKU": "A", "Quantity": 7, "Buffer": Percent("10%"), "Notes": "=B2*2"},
            {"SKU": "B", "Quantity": 2.5, "Buffer": 3, "Notes": typed},
            {"SKU": None, "Quantity": "  text  ", "Notes": True},
        ],
        LAYOUT,
    )
    with workbook.edit() as wb:
        wb[INVENTORY_SHEET]["D3"] = CellRichText("Acme ", TextBlock(InlineFont(b=True), "urgent"))
    store.read()
    store.append_ledger([ENTRY])
    status = ChannelStatus(ChannelName("shopify"), "Shopify", "OK", "2026-11-27 09:30", 1, 0, "")
    report = Report("Reorder", ("SKU", "Days left"), (("A", "2.5"), ("B", "")))
    store.write_status(
        StatusUpdate((CellWrite(2, Sku("A"), AVAILABLE, "5"),), (status,), None, {"cursor": "7"}, (report,))
    )
    assert loads == [True, False]

    ours = store.read()

    assert loads == [True, False]  # the workbook it saved, not the file again
    assert ours == WorkbookStore(workbook.path, LAYOUT).read()
    assert loads == [True, False, True]
    assert [row.cells["buffer"] for row in ours.rows] == ["10%", "3", ""]
    workbook.merchant_edit(3, "Quantity", 4)
    assert [row.cells[QUANTITY] for row in store.read().rows] == ["7", "4", "  text  "]
    assert loads == [True, False, True, True]


def _sized(path: Path, size: int) -> None:
    """Rewrite the workbook at ``path`` to exactly ``size`` bytes, its cells as they are.

    Its application properties (which no reader needs) are left out and a zip comment makes up
    the rest: a save's size varies by a few bytes with what deflate makes of its timestamps.
    """
    with zipfile.ZipFile(path) as source:
        parts = [
            (info, source.read(info)) for info in source.infolist() if info.filename != "docProps/app.xml"
        ]

    def write(comment: bytes) -> int:
        with zipfile.ZipFile(path, "w") as target:
            for info, data in parts:
                target.writestr(info, data)
            target.comment = comment
        return path.stat().st_size

    write(b" " * (size - write(b"")))


def test_cells_convert_to_text_without_numericising(workbook: WorkbookBackend) -> None:
    typed = datetime(2026, 1, 2, 3, 4, 5)  # noqa: DTZ001 - an Excel cell holds no timezone
    values: list[object] = [7, 2.0, 2.5, -0.25, True, False, typed, date(2026, 1, 2), time(3, 4, 5)]
    values += ["=SUM(B2:B3)", "  text  "]
    store = workbook.make([{"SKU": f"S{n}", "Quantity": value} for n, value in enumerate(values)], LAYOUT)

    quantities = [row.cells[QUANTITY] for row in store.read().rows]

    # openpyxl stores a date as a date-formatted number and reads it back as midnight.
    assert quantities == [
        "7",
        "2",
        "2.5",
        "-0.25",
        "TRUE",
        "FALSE",
        "2026-01-02T03:04:05",
        "2026-01-02T00:00:00",
        "03:04:05",
        "=SUM(B2:B3)",
        "  text  ",
    ]


def test_whole_floats_from_other_writers_read_as_whole_numbers(workbook: WorkbookBackend) -> None:
    store = workbook.make([{"SKU": "A", "Quantity": 123}, {"SKU": "B", "Quantity": 456}], LAYOUT)
    # openpyxl writes whole numbers as "123"; Excel and others may write "123.0" or "4.56E2".
    with zipfile.ZipFile(workbook.path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = (
        parts[sheet].replace(b"<v>123</v>", b"<v>123.0</v>").replace(b"<v>456</v>", b"<v>4.56E2</v>")
    )
    with zipfile.ZipFile(workbook.path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)

    assert [row.cells[QUANTITY] for row in store.read().rows] == ["123", "456"]


def test_worker_text_is_stored_as_text_and_whole_numbers_as_numbers(workbook: WorkbookBackend) -> None:
    store = workbook.make([{"SKU": "A", "Quantity": 1}], LAYOUT)
    texts = {
        "Available": "12",
        "Shopify": "0042",
        "Status": "-3",
        "Reason": "=1+1",
        "Synced": "1234567890123456",
    }
    logical = {title: name for name, title in LAYOUT.worker_headers().items()}

    cells = tuple(CellWrite(2, Sku("A"), logical[header], text) for header, text in texts.items())
    store.write_status(StatusUpdate(cells, (), None, {}))

    ws = load_workbook(workbook.path)[INVENTORY_SHEET]
    stored = {str(ws.cell(1, c).value): (ws.cell(2, c).value, ws.cell(2, c).data_type) for c in range(3, 8)}
    assert stored == {
        "Available": (12, "n"),
        "Shopify": ("0042", "s"),  # a number would lose the zeros
        "Status": (-3, "n"),
        "Reason": ("=1+1", "s"),  # text, not a formula
        "Synced": ("1234567890123456", "s"),  # more digits than Excel keeps
    }


def test_merchant_cells_keep_value_type_and_style(workbook: WorkbookBackend) -> None:
    workbook.make([{"SKU": "A", "Quantity": 1.5, "Notes": "=B2*2", "Supplier": None}], LAYOUT)
    rich = CellRichText("Acme ", TextBlock(InlineFont(b=True), "urgent"))
    with workbook.edit() as wb:
        ws = wb[INVENTORY_SHEET]
        ws["B2"].number_format = "0.00"
        ws["C2"].font = Font(italic=True)
        ws["D2"] = rich
    store = WorkbookStore(workbook.path, LAYOUT)

    store.append_ledger([ENTRY])
    store.write_status(available("1"))

    ws = load_workbook(workbook.path, rich_text=True)[INVENTORY_SHEET]
    assert [(c.value, c.data_type) for c in ws[2][:3]] == [("A", "s"), (1.5, "n"), ("=B2*2", "f")]
    assert (ws["B2"].number_format, ws["C2"].font.i, ws["D2"].value) == ("0.00", True, rich)
    assert ws["E2"].value == 1


def test_saves_leave_no_temporary_files_and_keep_the_file_mode(workbook: WorkbookBackend) -> None:
    store = workbook.make([{"SKU": "A", "Quantity": 1}], LAYOUT)
    workbook.path.chmod(0o640)

    store.append_ledger([ENTRY])
    store.write_status(available("1"))

    assert os.listdir(workbook.path.parent) == [workbook.path.name]
    assert workbook.path.stat().st_mode & 0o777 == 0o640


def test_a_crash_mid_save_leaves_the_old_workbook_whole(
    workbook: WorkbookBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = workbook.make([{"SKU": "A", "Quantity": 1}], LAYOUT)
    before = workbook.path.read_bytes()

    def crash(self: Workbook, target: BinaryIO) -> None:
        target.write(b"PK half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(Workbook, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        store.write_status(available("1"))

    assert workbook.path.read_bytes() == before
    assert os.listdir(workbook.path.parent) == [workbook.path.name]


@pytest.mark.parametrize(
    ("lock", "app"), [(".~lock.inventory.xlsx#", "LibreOffice"), ("~$inventory.xlsx", "Excel")]
)
def test_an_open_workbook_blocks_writes_but_not_reads(workbook: WorkbookBackend, lock: str, app: str) -> None:
    store = workbook.make([{"SKU": "A", "Quantity": 1}], LAYOUT)
    (workbook.path.parent / lock).write_text("someone,host")
    before = workbook.revision()

    assert [row.cells[SKU] for row in store.read().rows] == ["A"]
    with pytest.raises(TransientError) as appending:
        store.append_ledger([ENTRY])
    with pytest.raises(TransientError) as writing:
        store.write_status(available("1"))

    assert (
        str(appending.value)
        == str(writing.value)
        == (
            f"{workbook.path} is open in {app} (lock file {lock}); close it so the worker can write "
            "(or delete the lock file if it is not open); nothing is lost, the next cycle retries"
        )
    )
    assert workbook.revision() == before


def test_a_missing_inventory_sheet_names_the_sheets_found(tmp_path: Path) -> None:
    wb = Workbook()
    wb.worksheets[0].title = "Stock"
    wb.create_sheet("Notes")
    wb.save(tmp_path / "inventory.xlsx")

    with pytest.raises(StoreLayoutError, match=r"has no sheet Inventory \(found: Stock, Notes\)"):
        WorkbookStore(tmp_path / "inventory.xlsx", LAYOUT).read()


def test_a_header_twice_names_both_columns(workbook: WorkbookBackend) -> None:
    store = workbook.make([{"SKU": "A", "Quantity": 1, "Notes": "", " sku ": "B"}], LAYOUT)

    with pytest.raises(StoreLayoutError, match="header 'SKU' appears twice, in columns A and D"):
        store.read()


def test_a_missing_or_broken_file_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="no such workbook"):
        WorkbookStore(tmp_path / "inventory.xlsx", LAYOUT).read()

    (tmp_path / "inventory.xlsx").write_bytes(b"not a zip")
    with pytest.raises(PermanentError, match=r"is not an \.xlsx workbook"):
        WorkbookStore(tmp_path / "inventory.xlsx", LAYOUT).read()


def test_absent_tables_read_empty_and_are_created_on_first_write(workbook: WorkbookBackend) -> None:
    store = workbook.make([{"SKU": "A", "Quantity": 1}], LAYOUT)
    # No Ledger yet reads as one not found: the worker's State says whether one ever existed.
    assert store.read() == Snapshot(store.read().rows, (), StatusControl(), {}, ledger_found=False)

    store.append_ledger([ENTRY])
    store.write_status(StatusUpdate((), (), GuardStatus("OK", "now", "fine"), {"k": "v"}))

    wb = load_workbook(workbook.path)
    assert [[c.value for c in wb[name][1]] for name in (LEDGER_SHEET, STATUS_SHEET, STATE_SHEET)] == [
        list(LAYOUT.ledger_headers().values()),
        list(STATUS_HEADERS.values()),
        list(STATE_HEADERS.values()),
    ]


def test_ledger_rows_follow_the_merchants_column_order(workbook: WorkbookBackend) -> None:
    store = workbook.make([{"SKU": "A", "Quantity": 1}], LAYOUT)
    with workbook.edit() as wb:
        ws = wb.create_sheet(LEDGER_SHEET)
        ws.append(["Comment", *reversed(list(LAYOUT.ledger_headers().values()))])
        ws.append(["opening count", "", "", "COUNT", "5", "A", "", "", "", "", "count-A"])

    store.append_ledger([ENTRY])

    ledger = store.read().ledger
    assert [row.row for row in ledger] == [2, 3]
    assert dict(ledger[1].cells) == ledger_cells(ENTRY)
    assert load_workbook(workbook.path)[LEDGER_SHEET]["A3"].value is None  # Comment left alone


def test_new_columns_skip_a_column_the_merchant_scribbled_in(workbook: WorkbookBackend) -> None:
    store = workbook.make([{"SKU": "A", "Quantity": 1}], LAYOUT)
    with workbook.edit() as wb:
        wb[INVENTORY_SHEET]["C5"] = "call supplier"

    store.write_status(available("1"))

    ws = load_workbook(workbook.path)[INVENTORY_SHEET]
    assert [c.value for c in ws[1]] == ["SKU", "Quantity", None, "Available"]
    assert (ws["C5"].value, ws["D2"].value) == ("call supplier", 1)


def test_channel_text_is_cleaned_of_control_characters_and_capped(workbook: WorkbookBackend) -> None:
    store = workbook.make([{"SKU": "A", "Quantity": 1}], LAYOUT)

    store.write_status(
        StatusUpdate((CellWrite(2, Sku("A"), REASON, "bad\x00\x07byte" + "x" * 40_000),), (), None, {})
    )

    reason = store.read().rows[0].cells[REASON]
    assert reason.startswith("badbytex")
    assert len(reason) == MAX_CELL_TEXT


def test_a_save_by_the_merchant_between_load_and_save_is_kept_and_the_write_redone(
    workbook: WorkbookBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = workbook.make([{"SKU": "A", "Quantity": 1}, {"SKU": "B", "Quantity": 2}], LAYOUT)
    store.read()
    real_load, loads = workbook_module._load, []

    def load_then_merchant_saves(path: Path, *, read_only: bool = False) -> Workbook:
        wb = real_load(path, read_only=read_only)
        loads.append(read_only)
        if len(loads) == 1:  # the merchant inserts a row above A and saves, after our load
            workbook.insert_row(2)
            workbook.merchant_edit(2, "SKU", "NEW")
        return wb

    monkeypatch.setattr(workbook_module, "_load", load_then_merchant_saves)
    store.write_status(available("5"))

    assert loads == [False, False]  # loaded again, the first save abandoned
    assert [workbook.inventory_value(r, "SKU") for r in (2, 3, 4)] == ["NEW", "A", "B"]
    assert [workbook.inventory_value(r, "Available") for r in (2, 3, 4)] == ["", "5", ""]


def test_a_file_that_keeps_changing_is_left_alone_until_the_next_cycle(
    workbook: WorkbookBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = workbook.make([{"SKU": "A", "Quantity": 1}], LAYOUT)
    store.read()
    real_load = workbook_module._load

    def load_then_merchant_saves(path: Path, *, read_only: bool = False) -> Workbook:
        wb = real_load(path, read_only=read_only)
        workbook.merchant_edit(2, "Quantity", 7)
        return wb

    monkeypatch.setattr(workbook_module, "_load", load_then_merchant_saves)
    with pytest.raises(TransientError, match="kept changing"):
        store.write_status(available("5"))
    assert workbook.inventory_headers() == ["SKU", "Quantity"]  # nothing of ours was saved
    assert workbook.inventory_value(2, "Quantity") == "7"


def test_a_second_worker_on_this_computer_is_stopped_by_the_os_lock(workbook: WorkbookBackend) -> None:
    first = workbook.make([{"SKU": "A", "Quantity": 1}], LAYOUT)
    second = workbook.another_store()
    first.read()
    assert first.acquire("worker-1", AT, 120) is None

    first.release("worker-1")  # the State's lease is free again, and so is the lock
    second.read()
    assert second.acquire("worker-2", AT, 120) is None
    first.read()
    refusal = first.acquire("worker-1", AT + timedelta(hours=1), 120)  # the State's lease expired

    assert refusal is not None
    assert "on this computer (worker-2, lease until 2026-11-27T09:32:00Z)" in refusal
    assert ".inventory.xlsx.sheetsync.lock" in refusal


def test_the_template_keeps_skus_as_text(tmp_path: Path) -> None:
    path = tmp_path / "inventory.xlsx"
    create_workbook(path, LAYOUT)

    assert load_workbook(path)[INVENTORY_SHEET].column_dimensions["A"].number_format == "@"
