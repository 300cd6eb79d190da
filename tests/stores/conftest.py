"""One harness per master-store backend; the contract suite runs against every one of them.

A new store proves itself by adding a backend to ``BACKENDS``: ``make`` builds the real store
over its fake (or file), and the other methods are the merchant's hands and eyes on the sheet,
so the suite never reaches into a backend's storage itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, time
from pathlib import Path
from typing import Protocol

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from sheetsync.model import (
    INVENTORY_SHEET,
    LEDGER_SHEET,
    STATUS_HEADERS,
    STATUS_SHEET,
    ChannelName,
    Layout,
    header_key,
)
from sheetsync.stores import MasterStore
from sheetsync.stores.workbook import WorkbookStore

LAYOUT = Layout(channels=((ChannelName("shopify"), "Shopify"), (ChannelName("meta"), "Meta Shop")))


class Backend(Protocol):
    """A master store plus the merchant's view of it.

    Rows are 1-based sheet rows (the header is row 1); headers are matched like the stores
    match them (``model.header_key``).  Values read back are the text a cell holds: "" for a
    blank, "7" for the number 7, "=A1+1" for a formula.
    """

    def make(self, inventory: list[dict[str, object]], layout: Layout) -> MasterStore:
        """The store over an Inventory sheet with one row per dict (header -> value).

        Headers are the dicts' keys in first-seen order.  Values are stored as a merchant
        leaves them: ``str`` as text (one starting with "=" is a formula, as if typed),
        ``int``/``float`` as numbers, ``None`` as a blank cell.  No other sheet exists.
        """
        ...

    def merchant_edit(self, row: int, header: str, value: object) -> None:
        """The merchant types ``value`` into an Inventory cell (same rules as ``make``)."""
        ...

    def insert_row(self, before: int) -> None:
        """The merchant inserts a blank Inventory row at ``before``, shifting the rest down."""
        ...

    def delete_row(self, row: int) -> None:
        """The merchant deletes an Inventory row, shifting the rest up."""
        ...

    def set_control(self, label: str, value: str) -> None:
        """The merchant types into the Control cell of the Status row labelled ``label``.

        Adds the Status sheet and the row if they are missing.
        """
        ...

    def inventory_headers(self) -> list[str]:
        """The Inventory header row, left to right, blanks dropped."""
        ...

    def inventory_value(self, row: int, header: str) -> str:
        """The text of one Inventory cell."""
        ...

    def status_row(self, label: str) -> dict[str, str]:
        """Header -> text for the first Status row labelled ``label``; {} if there is none."""
        ...

    def ledger_rows(self) -> list[dict[str, str]]:
        """Header -> text for each non-blank Ledger row, top to bottom."""
        ...

    def formula_cells(self) -> set[str]:
        """``Sheet!A1`` references of every cell that holds a formula, in every sheet."""
        ...

    def revision(self) -> object:
        """An opaque token that changes whenever the store writes anything."""
        ...


def _shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _typed(value: object) -> str | float | date | time | None:
    """Narrow a harness value to what an openpyxl cell takes."""
    assert value is None or isinstance(value, str | int | float | date | time), value
    return value


def _column(ws: Worksheet, header: str) -> int:
    for cell in ws[1]:
        if header_key(_shown(cell.value)) == header_key(header):
            return cell.column or 0
    raise AssertionError(f"no header {header!r} in {ws.title}")


def _dicts(ws: Worksheet) -> list[dict[str, str]]:
    rows = list(ws.iter_rows(values_only=True))
    headers = [_shown(value) for value in rows[0]] if rows else []
    return [
        {h: _shown(v) for h, v in zip(headers, values, strict=False) if h}
        for values in rows[1:]
        if any(_shown(v).strip() for v in values)
    ]


class WorkbookBackend:
    """The .xlsx store; the merchant edits the file with openpyxl as their app would save it."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "inventory.xlsx"

    def make(self, inventory: list[dict[str, object]], layout: Layout) -> WorkbookStore:
        headers = list(dict.fromkeys(header for row in inventory for header in row))
        wb = Workbook()
        ws = wb.worksheets[0]
        ws.title = INVENTORY_SHEET
        for column, header in enumerate(headers, start=1):
            ws.cell(row=1, column=column, value=header)
            for row, values in enumerate(inventory, start=2):
                ws.cell(row=row, column=column, value=_typed(values.get(header)))
        wb.save(self.path)
        return WorkbookStore(self.path, layout)

    @contextmanager
    def edit(self) -> Iterator[Workbook]:
        """Open the workbook, let the caller change it, and save it as the merchant's app would."""
        wb = load_workbook(self.path)
        yield wb
        wb.save(self.path)

    def merchant_edit(self, row: int, header: str, value: object) -> None:
        with self.edit() as wb:
            ws = wb[INVENTORY_SHEET]
            ws.cell(row=row, column=_column(ws, header)).value = _typed(value)

    def insert_row(self, before: int) -> None:
        with self.edit() as wb:
            wb[INVENTORY_SHEET].insert_rows(before)

    def delete_row(self, row: int) -> None:
        with self.edit() as wb:
            wb[INVENTORY_SHEET].delete_rows(row)

    def set_control(self, label: str, value: str) -> None:
        with self.edit() as wb:
            if STATUS_SHEET not in wb.sheetnames:
                wb.create_sheet(STATUS_SHEET).append(list(STATUS_HEADERS.values()))
            ws = wb[STATUS_SHEET]
            channel = _column(ws, "Channel")
            labels = [_shown(v) for (v,) in ws.iter_rows(min_col=channel, max_col=channel, values_only=True)]
            row = labels.index(label) + 1 if label in labels else ws.max_row + 1
            ws.cell(row=row, column=channel, value=label)
            ws.cell(row=row, column=_column(ws, "Control"), value=value)

    def inventory_headers(self) -> list[str]:
        ws = load_workbook(self.path)[INVENTORY_SHEET]
        return [_shown(cell.value) for cell in ws[1] if cell.value is not None]

    def inventory_value(self, row: int, header: str) -> str:
        ws = load_workbook(self.path)[INVENTORY_SHEET]
        return _shown(ws.cell(row=row, column=_column(ws, header)).value)

    def status_row(self, label: str) -> dict[str, str]:
        wb = load_workbook(self.path)
        rows = _dicts(wb[STATUS_SHEET]) if STATUS_SHEET in wb.sheetnames else []
        return next((row for row in rows if row.get("Channel") == label), {})

    def ledger_rows(self) -> list[dict[str, str]]:
        wb = load_workbook(self.path)
        return _dicts(wb[LEDGER_SHEET]) if LEDGER_SHEET in wb.sheetnames else []

    def formula_cells(self) -> set[str]:
        wb = load_workbook(self.path)
        return {
            f"{ws.title}!{cell.coordinate}"
            for ws in wb.worksheets
            for row in ws.iter_rows()
            for cell in row
            if cell.data_type == "f"
        }

    def revision(self) -> object:
        # os.replace gives every save a new inode, so even a same-size rewrite shows.
        stat = self.path.stat()
        return stat.st_ino, stat.st_mtime_ns, stat.st_size


#: Every store backend the contract suite runs against, as a factory over a fresh directory.
BACKENDS: dict[str, Callable[[Path], Backend]] = {"workbook": WorkbookBackend}


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return BACKENDS[request.param](tmp_path)


@pytest.fixture
def workbook(tmp_path: Path) -> WorkbookBackend:
    return WorkbookBackend(tmp_path)
