"""One harness per master-store backend; the contract suite runs against every one of them.

A new store proves itself by adding a backend to ``BACKENDS``: ``make`` builds the real store
over its fake (or file), and the other methods are the merchant's hands and eyes on the sheet,
so the suite never reaches into a backend's storage itself.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, time
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sheetsync_fakes.airtable import OWNER, AccessToken, FakeAirtable, FieldSpec
from sheetsync_fakes.google_sheets import FakeSheets, SheetSpec
from sheetsync_fakes.keys import service_account_key
from sheetsync_fakes.wire import HandlerAdapter

from sheetsync.errors import StoreLayoutError, TransientError
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
from sheetsync.stores._grid import column_letter, inventory_columns
from sheetsync.stores.airtable import AirtableStore
from sheetsync.stores.airtable import connect as connect_airtable
from sheetsync.stores.google_sheets import COLUMN_TAG, GoogleSheetsStore, connect
from sheetsync.stores.memory import MemoryStore
from sheetsync.stores.workbook import WorkbookStore

LAYOUT = Layout(channels=((ChannelName("shopify"), "Shopify"), (ChannelName("meta"), "Meta Shop")))


class Backend(Protocol):
    """A master store plus the merchant's view of it.

    Rows are 1-based sheet rows (the header is row 1); headers are matched like the stores
    match them (``model.header_key``).  Values read back are the text a cell holds: "" for a
    blank, "7" for the number 7, "=A1+1" for a formula.
    """

    #: The row number of the first data row (a sheet's row 1 is its header; Airtable has none).
    first_row: int
    #: Rows have positions the merchant can insert at, and cells can hold formulas.
    grid: bool

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

    def delete_row(self, row: int, sheet: str = INVENTORY_SHEET) -> None:
        """The merchant deletes a row (of the Inventory unless told), shifting the rest up."""
        ...

    def rename_sheet(self, name: str, new_name: str) -> None:
        """The merchant renames a sheet (a tab, a table)."""
        ...

    def rename_header(self, sheet: str, header: str, new_header: str) -> None:
        """The merchant retypes one header of a sheet (renames an Airtable field)."""
        ...

    def sheet_names(self) -> list[str]:
        """Every sheet's name, in the master's order."""
        ...

    def lose_next_append_answer(self) -> None:
        """The store's next Ledger append lands, and then its answer is lost.

        A remote store sees its request time out after the service applied it; a local one lands
        its write and then raises TransientError to its caller, who repeats the call.
        """
        ...

    def lose_next_archive_answer(self) -> None:
        """Likewise for the store's next ``archive_ledger`` (its replacing step, where there are two)."""
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

    def add_sheet(self, name: str, rows: Sequence[Sequence[object]]) -> None:
        """The merchant adds a sheet (the Bundles sheet): a header row, then data rows."""
        ...

    def sheet_rows(self, name: str) -> list[dict[str, str]]:
        """Header -> text for each non-blank row of any sheet; [] if the sheet is absent."""
        ...

    def revision(self) -> object:
        """An opaque token that changes whenever the store writes anything."""
        ...

    def insert_column(self, before: str, header: str) -> None:
        """The merchant inserts a column left of the Inventory column headed ``before`` and heads it.

        Grid backends only (Airtable fields have no position a write goes by).
        """
        ...

    def move_column(self, header: str, before: str | None) -> None:
        """The merchant drags the Inventory column ``header`` left of column ``before`` (None: to the end)."""
        ...

    def another_store(self) -> MasterStore:
        """A second store on the same master, as a second worker would open it."""
        ...

    def die(self, store: MasterStore) -> None:
        """The process running ``store`` dies: what the OS frees at exit is freed, nothing else."""
        ...


class Percent(str):
    """A percentage as the merchant types it ("10%"): a sheet keeps it as 0.1 formatted as a percent,
    Airtable as a percent field's 0.1.  The in-memory store has no formats: it holds the number.
    """

    __slots__ = ()

    @property
    def number(self) -> float:
        return float(self.rstrip("%")) / 100


def _order(headers: Sequence[object], header: str, before: str | None) -> list[int]:
    """Column indexes (0-based) after dragging ``header`` left of ``before`` (None: to the end)."""
    keys = [header_key(_shown(h)) for h in headers]
    moved = keys.index(header_key(header))
    rest = [i for i in range(len(keys)) if i != moved]
    at = len(rest) if before is None else rest.index(keys.index(header_key(before)))
    return [*rest[:at], moved, *rest[at:]]


def _lose_once(store: object, method: str) -> None:
    """The store's next ``method`` call lands, then raises as if its answer was lost.

    For a store with no wire to lose an answer on: its caller sees a failure and repeats the call.
    """
    real = getattr(store, method)

    def lost(*args: object, **kwargs: object) -> None:
        del vars(store)[method]
        real(*args, **kwargs)
        raise TransientError("the answer was lost after the write landed")

    vars(store)[method] = lost


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

    first_row = 2
    grid = True

    def __init__(self, directory: Path) -> None:
        self.path = directory / "inventory.xlsx"
        self.store: WorkbookStore | None = None

    def make(self, inventory: list[dict[str, object]], layout: Layout) -> WorkbookStore:
        headers = list(dict.fromkeys(header for row in inventory for header in row))
        wb = Workbook()
        ws = wb.worksheets[0]
        ws.title = INVENTORY_SHEET
        for column, header in enumerate(headers, start=1):
            ws.cell(row=1, column=column, value=header)
            for row, values in enumerate(inventory, start=2):
                value = values.get(header)
                if isinstance(value, Percent):
                    ws.cell(row=row, column=column, value=value.number).number_format = "0%"
                else:
                    ws.cell(row=row, column=column, value=_typed(value))
        wb.save(self.path)
        self.layout = layout
        self.store = WorkbookStore(self.path, layout)
        return self.store

    def insert_column(self, before: str, header: str) -> None:
        with self.edit() as wb:
            ws = wb[INVENTORY_SHEET]
            column = _column(ws, before)
            ws.insert_cols(column)
            ws.cell(row=1, column=column).value = header

    def move_column(self, header: str, before: str | None) -> None:
        with self.edit() as wb:
            ws = wb[INVENTORY_SHEET]
            rows = [list(row) for row in ws.iter_rows(values_only=True)]
            order = _order(rows[0], header, before)
            for number, row in enumerate(rows, start=1):
                for column, index in enumerate(order, start=1):
                    ws.cell(row=number, column=column).value = _typed(
                        row[index] if index < len(row) else None
                    )

    def another_store(self) -> WorkbookStore:
        return WorkbookStore(self.path, self.layout)

    def die(self, store: MasterStore) -> None:
        assert isinstance(store, WorkbookStore)
        store._os_lock.release(force=True)  # the OS drops a dead process's file locks

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

    def delete_row(self, row: int, sheet: str = INVENTORY_SHEET) -> None:
        with self.edit() as wb:
            wb[sheet].delete_rows(row)

    def rename_sheet(self, name: str, new_name: str) -> None:
        with self.edit() as wb:
            wb[name].title = new_name

    def rename_header(self, sheet: str, header: str, new_header: str) -> None:
        with self.edit() as wb:
            ws = wb[sheet]
            ws.cell(row=1, column=_column(ws, header)).value = new_header

    def sheet_names(self) -> list[str]:
        return list(load_workbook(self.path).sheetnames)

    def lose_next_append_answer(self) -> None:
        _lose_once(self.store, "append_ledger")

    def lose_next_archive_answer(self) -> None:
        _lose_once(self.store, "archive_ledger")

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
        return self.sheet_rows(LEDGER_SHEET)

    def add_sheet(self, name: str, rows: Sequence[Sequence[object]]) -> None:
        with self.edit() as wb:
            ws = wb.create_sheet(name)
            for row in rows:
                ws.append([_typed(value) for value in row])

    def sheet_rows(self, name: str) -> list[dict[str, str]]:
        wb = load_workbook(self.path)
        return _dicts(wb[name]) if name in wb.sheetnames else []

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


SERVICE_ACCOUNT = "sheetsync-bot@shop-project.iam.gserviceaccount.com"


_KEY = service_account_key(SERVICE_ACCOUNT)  # RSA generation is slow; one key serves every test


class _GridReads:
    """What the tests read back, for the backends that hold each sheet as rows of cell values."""

    def _rows(self, sheet: str) -> Sequence[Sequence[object]]:
        raise NotImplementedError

    def _column(self, sheet: str, header: str) -> int:
        for column, value in enumerate(self._rows(sheet)[0], start=1):
            if header_key(_shown(value)) == header_key(header):
                return column
        raise AssertionError(f"no header {header!r} in {sheet}")

    def _dicts(self, sheet: str) -> list[dict[str, str]]:
        rows = self._rows(sheet)
        headers = [_shown(v) for v in rows[0]] if rows else []
        # Google leaves trailing blanks out of a row; they read as "" like any blank cell.
        return [
            {h: _shown(line[i]) if i < len(line) else "" for i, h in enumerate(headers) if h}
            for line in rows[1:]
            if any(_shown(v).strip() for v in line)
        ]

    def inventory_value(self, row: int, header: str) -> str:
        rows, column = self._rows(INVENTORY_SHEET), self._column(INVENTORY_SHEET, header)
        line = rows[row - 1] if row <= len(rows) else []
        return _shown(line[column - 1]) if column <= len(line) else ""

    def status_row(self, label: str) -> dict[str, str]:
        return next((row for row in self._dicts(STATUS_SHEET) if row.get("Channel") == label), {})

    def ledger_rows(self) -> list[dict[str, str]]:
        return self._dicts(LEDGER_SHEET)

    def sheet_rows(self, name: str) -> list[dict[str, str]]:
        return self._dicts(name)


class GoogleSheetsBackend(_GridReads):
    """The Google Sheets store through gspread and google-auth, against the Sheets fake in-process."""

    first_row = 2
    grid = True

    def __init__(self, _directory: Path) -> None:
        self.fake = FakeSheets()
        self.id = ""

    def make(self, inventory: list[dict[str, object]], layout: Layout) -> GoogleSheetsStore:
        headers = list(dict.fromkeys(header for row in inventory for header in row))
        self.id = self.fake.create_spreadsheet("Shop inventory", sheets=(SheetSpec(INVENTORY_SHEET),))
        self.fake.share(self.id, SERVICE_ACCOUNT)
        rows: list[Sequence[object]] = [headers, *([row.get(h) for h in headers] for row in inventory)]
        self.fake.set_values(self.id, f"{INVENTORY_SHEET}!A1", [[_entered(v) for v in row] for row in rows])
        self.layout = layout
        self._tag_worker_columns(headers)
        return self.another_store()

    def _tag_worker_columns(self, header: list[str]) -> None:
        """Tag the worker's columns the header row holds, as `sheetsync init` does: the store
        writes a column's cells only through its tag (one it makes itself waits a cycle)."""
        try:
            found = inventory_columns(header, self.layout, INVENTORY_SHEET)
        except StoreLayoutError:
            return  # a sheet the store refuses to read: nothing to tag
        spreadsheet = connect(_KEY, adapter=HandlerAdapter(self.fake)).open_by_key(self.id)
        sheet_id = spreadsheet.worksheet(INVENTORY_SHEET).id
        worker = self.layout.worker_headers()
        requests = [
            {
                "createDeveloperMetadata": {
                    "developerMetadata": {
                        "metadataKey": COLUMN_TAG,
                        "metadataValue": name,
                        "visibility": "DOCUMENT",
                        "location": {
                            "dimensionRange": {
                                "sheetId": sheet_id,
                                "dimension": "COLUMNS",
                                "startIndex": column - 1,
                                "endIndex": column,
                            }
                        },
                    }
                }
            }
            for name, column in found.items()
            if name in worker
        ]
        if requests:
            spreadsheet.batch_update({"requests": requests})

    def another_store(self) -> GoogleSheetsStore:
        client = connect(_KEY, adapter=HandlerAdapter(self.fake))
        return GoogleSheetsStore(client, self.id, self.layout, account=SERVICE_ACCOUNT, sleep=lambda _: None)

    def die(self, store: MasterStore) -> None:
        del store  # nothing of a remote store's outlives its process

    def insert_column(self, before: str, header: str) -> None:
        column = self._column(INVENTORY_SHEET, before)
        self.fake.insert_columns(self.id, INVENTORY_SHEET, column)
        self.fake.set_values(self.id, f"{INVENTORY_SHEET}!{column_letter(column)}1", [[header]])

    def move_column(self, header: str, before: str | None) -> None:
        header_row = self._rows(INVENTORY_SHEET)[0]
        column = self._column(INVENTORY_SHEET, header)
        target = len(header_row) + 1 if before is None else self._column(INVENTORY_SHEET, before)
        self.fake.move_columns(self.id, INVENTORY_SHEET, column, 1, target)

    def merchant_edit(self, row: int, header: str, value: object) -> None:
        column = self._column(INVENTORY_SHEET, header)
        self.fake.set_values(
            self.id, f"{INVENTORY_SHEET}!{column_letter(column)}{row}", [[_entered(value) or ""]]
        )

    def insert_row(self, before: int) -> None:
        self.fake.insert_rows(self.id, INVENTORY_SHEET, before)

    def delete_row(self, row: int, sheet: str = INVENTORY_SHEET) -> None:
        self.fake.delete_row(self.id, sheet, row)

    def rename_sheet(self, name: str, new_name: str) -> None:
        self.fake.rename_sheet(self.id, name, new_name)

    def rename_header(self, sheet: str, header: str, new_header: str) -> None:
        column = column_letter(self._column(sheet, header))
        self.fake.set_values(self.id, f"{sheet}!{column}1", [[new_header]])

    def sheet_names(self) -> list[str]:
        return self._titles()

    def lose_next_append_answer(self) -> None:
        lost = httpx.ReadTimeout("The read operation timed out")
        self.fake.fail_next("spreadsheets.values.append", exception=lost, applied=True)

    def lose_next_archive_answer(self) -> None:
        lost = httpx.RemoteProtocolError("Server disconnected without sending a response.")
        self.fake.fail_next("spreadsheets.batchUpdate", exception=lost, applied=True)

    def set_control(self, label: str, value: str) -> None:
        if STATUS_SHEET not in self._titles():
            self.fake.add_sheet(self.id, SheetSpec(STATUS_SHEET))
            self.fake.set_values(self.id, f"{STATUS_SHEET}!A1", [list(STATUS_HEADERS.values())])
        rows = self._rows(STATUS_SHEET)
        labels = [_shown(r[0]) if r else "" for r in rows]
        row = labels.index(label) + 1 if label in labels else len(rows) + 1
        control = column_letter(self._column(STATUS_SHEET, "Control"))
        self.fake.set_values(self.id, f"{STATUS_SHEET}!A{row}", [[label]])
        self.fake.set_values(self.id, f"{STATUS_SHEET}!{control}{row}", [[value]])

    def add_sheet(self, name: str, rows: Sequence[Sequence[object]]) -> None:
        self.fake.add_sheet(self.id, SheetSpec(name))
        self.fake.set_values(self.id, f"{name}!A1", [[_entered(v) for v in row] for row in rows])

    def inventory_headers(self) -> list[str]:
        header = self._rows(INVENTORY_SHEET)[0]
        return [_shown(v) for v in header if _shown(v)]

    def formula_cells(self) -> set[str]:
        return self.fake.formula_cells(self.id)

    def revision(self) -> object:
        return self.fake.count("spreadsheets.values.batchUpdate"), self.fake.count(
            "spreadsheets.values.append"
        )

    def _titles(self) -> list[str]:
        return [s["properties"]["title"] for s in self.fake.metadata(self.id)["sheets"]]

    def _rows(self, sheet: str) -> list[list[object]]:
        if sheet not in self._titles():
            return []
        return self.fake.get_values(self.id, sheet, value_render_option="FORMULA")


def _entered(value: object) -> object:
    """A harness value as the merchant types it into Google Sheets (USER_ENTERED)."""
    if isinstance(value, Percent):
        return str(value)  # "10%": Sheets keeps 0.1, formatted as a percentage
    if isinstance(value, str) and not value.startswith("=") and value.strip() != value:
        return "'" + value  # keep surrounding spaces as typed text
    if isinstance(value, str) and value and value[0].isdigit() and not value.isdigit():
        return "'" + value  # "1,000" or "2.5" typed as text stays text
    if isinstance(value, str) and value.isdigit() and value.startswith("0") and value != "0":
        return "'" + value  # "0042" typed with a leading apostrophe, as merchants keep SKUs
    return value


AIRTABLE_TOKEN = "patFakeToken.merchant"
AIRTABLE_API = "https://api.airtable.com"


class AirtableBackend:
    """The Airtable store through pyairtable, against the Airtable fake in-process.

    Rows are Airtable's: the first record is row 1 and there is no header row.
    """

    first_row = 1
    grid = False

    def __init__(self, _directory: Path) -> None:
        self.clock = 1_795_000_000.0  # the fake's and the pacer's seconds; sleeping advances it
        self.fake = FakeAirtable(tokens={AIRTABLE_TOKEN: AccessToken(OWNER)}, now=lambda: self.clock, seed=1)
        self.base = self.fake.create_base("Shop")

    def sleep(self, seconds: float) -> None:
        self.clock += seconds

    def make(self, inventory: list[dict[str, object]], layout: Layout) -> AirtableStore:
        headers = list(dict.fromkeys(header for row in inventory for header in row))
        specs = [self._spec(h, [row.get(h) for row in inventory]) for h in headers]
        self.fake.create_table(self.base, INVENTORY_SHEET, specs)
        numbers = {spec.name for spec in specs if spec.type in ("number", "percent")}
        self.fake.add_records(
            self.base,
            INVENTORY_SHEET,
            [
                {
                    h: (v.number if isinstance(v, Percent) else v) if h in numbers else _shown(v)
                    for h, v in row.items()
                    if v is not None
                }
                for row in inventory
            ],
        )
        self.layout = layout
        return self.another_store()

    def another_store(self) -> AirtableStore:
        api, paced = connect_airtable(
            AIRTABLE_TOKEN,
            inner=HandlerAdapter(self.fake),
            clock=lambda: self.clock,
            sleep=self.sleep,
        )
        return AirtableStore(api, self.base, self.layout, paced=paced)

    def die(self, store: MasterStore) -> None:
        del store  # nothing of a remote store's outlives its process

    def insert_column(self, before: str, header: str) -> None:
        raise NotImplementedError("Airtable writes go by field id: a field has no position to insert at")

    def move_column(self, header: str, before: str | None) -> None:
        raise NotImplementedError("Airtable writes go by field id: a field has no position to move")

    @staticmethod
    def _spec(header: str, values: list[object]) -> FieldSpec:
        """A number field if every value is a number, else text: what a merchant would pick."""
        given = [v for v in values if v is not None]
        if given and all(isinstance(v, Percent) for v in given):
            return FieldSpec(header, "percent", {"precision": 0})
        if given and all(isinstance(v, int | float) for v in given):
            return FieldSpec(
                header, "number", {"precision": 0 if all(isinstance(v, int) for v in given) else 2}
            )
        return FieldSpec(header, "singleLineText")

    def merchant_edit(self, row: int, header: str, value: object) -> None:
        record = self._records(INVENTORY_SHEET)[row - 1]
        field = self._field(INVENTORY_SHEET, header)
        typed = value if self._types(INVENTORY_SHEET)[field] == "number" else _shown(value) or None
        self.fake.set_cell(self.base, INVENTORY_SHEET, record["id"], field, typed)

    def insert_row(self, before: int) -> None:
        raise NotImplementedError("Airtable records have no position to insert at")

    def delete_row(self, row: int, sheet: str = INVENTORY_SHEET) -> None:
        record = self._records(sheet)[row - 1]
        answer = self._api("DELETE", f"/v0/{self.base}/{sheet}/{record['id']}")
        assert answer.status_code == 200, answer.text

    def rename_sheet(self, name: str, new_name: str) -> None:
        self.fake.rename_table(self.base, name, new_name)

    def rename_header(self, sheet: str, header: str, new_header: str) -> None:
        self.fake.rename_field(self.base, sheet, self._field(sheet, header), new_header)

    def sheet_names(self) -> list[str]:
        return list(self._tables())

    def lose_next_append_answer(self) -> None:
        lost = httpx.ReadTimeout("The read operation timed out")
        self.fake.fail_next("records.create", exception=lost, applied=True)

    def lose_next_archive_answer(self) -> None:
        raise NotImplementedError("the Airtable store keeps no archive")

    def set_control(self, label: str, value: str) -> None:
        if STATUS_SHEET not in self._tables():
            specs = [FieldSpec(h, "singleLineText") for h in STATUS_HEADERS.values()]
            self.fake.create_table(self.base, STATUS_SHEET, specs)
        found = next((r for r in self._records(STATUS_SHEET) if r["fields"].get("Channel") == label), None)
        if found is None:
            self.fake.add_records(self.base, STATUS_SHEET, [{"Channel": label, "Control": value}])
        else:
            self.fake.set_cell(self.base, STATUS_SHEET, found["id"], "Control", value)

    def inventory_headers(self) -> list[str]:
        return list(self._types(INVENTORY_SHEET))

    def inventory_value(self, row: int, header: str) -> str:
        records = self._records(INVENTORY_SHEET)
        if row > len(records):
            return ""
        return _shown(records[row - 1]["fields"].get(self._field(INVENTORY_SHEET, header)))

    def status_row(self, label: str) -> dict[str, str]:
        return next((row for row in self._dicts(STATUS_SHEET) if row.get("Channel") == label), {})

    def ledger_rows(self) -> list[dict[str, str]]:
        return self._dicts(LEDGER_SHEET)

    def formula_cells(self) -> set[str]:
        return set()  # an Airtable cell holds a value; formulas are whole fields

    def add_sheet(self, name: str, rows: Sequence[Sequence[object]]) -> None:
        header = [_shown(v) for v in rows[0]]
        self.fake.create_table(self.base, name, [FieldSpec(h, "singleLineText") for h in header])
        records = [
            {h: _shown(v) for h, v in zip(header, row, strict=False) if v is not None} for row in rows[1:]
        ]
        self.fake.add_records(self.base, name, records)

    def sheet_rows(self, name: str) -> list[dict[str, str]]:
        return self._dicts(name)

    def revision(self) -> object:
        return [e for e in self.fake.request_log if e.method != "GET" and e.operation != "records.list"]

    def _api(self, method: str, path: str) -> httpx.Response:
        """The merchant's own request; a second passes first, so it never meets the rate limit."""
        self.clock += 1.0
        headers = {"Authorization": f"Bearer {AIRTABLE_TOKEN}"}
        return self.fake(httpx.Request(method, AIRTABLE_API + path, headers=headers))

    def _tables(self) -> dict[str, dict[str, Any]]:
        answer = self._api("GET", f"/v0/meta/bases/{self.base}/tables")
        return {t["name"]: t for t in answer.json()["tables"]}

    def _types(self, table: str) -> dict[str, str]:
        tables = self._tables()
        return {f["name"]: f["type"] for f in tables[table]["fields"]} if table in tables else {}

    def _field(self, table: str, header: str) -> str:
        for name in self._types(table):
            if header_key(name) == header_key(header):
                return name
        raise AssertionError(f"no field {header!r} in {table}")

    def _records(self, table: str) -> list[dict[str, Any]]:
        return self.fake.records(self.base, table) if table in self._tables() else []

    def _dicts(self, table: str) -> list[dict[str, str]]:
        names = list(self._types(table))
        return [
            {name: _shown(record["fields"].get(name)) for name in names}
            for record in self._records(table)
            if any(_shown(v).strip() for v in record["fields"].values())
        ]


class _Formula(str):
    """Text the merchant typed starting with "=": a formula in a sheet (the worker writes plain str)."""

    __slots__ = ()


def _held(value: object) -> object:
    if isinstance(value, Percent):
        return value.number
    return _Formula(value) if isinstance(value, str) and value.startswith("=") else value


class MemoryBackend(_GridReads):
    """The in-memory store; the merchant's hands are list edits on its sheets."""

    first_row = 2
    grid = True

    def __init__(self, _directory: Path) -> None:
        self.store = MemoryStore(LAYOUT, {})

    def make(self, inventory: list[dict[str, object]], layout: Layout) -> MemoryStore:
        headers = list(dict.fromkeys(header for row in inventory for header in row))
        rows: list[list[object]] = [
            list(headers),
            *([_held(row.get(h)) for h in headers] for row in inventory),
        ]
        self.store = MemoryStore(layout, {INVENTORY_SHEET: rows})
        return self.store

    def another_store(self) -> MemoryStore:
        other = MemoryStore(self.store.layout, {})
        other.sheets = self.store.sheets  # the same master: one set of sheets
        return other

    def die(self, store: MasterStore) -> None:
        del store  # an in-memory worker holds nothing the master keeps

    def insert_column(self, before: str, header: str) -> None:
        column = self._column(INVENTORY_SHEET, before)
        rows = self.store.sheets[INVENTORY_SHEET]
        for number, row in enumerate(rows):
            cells = [*row, *[None] * (column - 1 - len(row))]
            cells.insert(column - 1, header if number == 0 else None)
            rows[number] = tuple(cells)

    def move_column(self, header: str, before: str | None) -> None:
        rows = self.store.sheets[INVENTORY_SHEET]
        width = max(len(row) for row in rows)
        order = _order([*rows[0], *[None] * (width - len(rows[0]))], header, before)
        for number, row in enumerate(rows):
            padded = [*row, *[None] * (width - len(row))]
            rows[number] = tuple(padded[index] for index in order)

    def _rows(self, sheet: str) -> list[tuple[object, ...]]:
        return self.store.sheets.get(sheet, [])

    def _set(self, sheet: str, row: int, column: int, value: object) -> None:
        rows = self.store.sheets[sheet]
        rows.extend(() for _ in range(row - len(rows)))
        cells = [*rows[row - 1], *[None] * (column - len(rows[row - 1]))]
        cells[column - 1] = _held(value)
        rows[row - 1] = tuple(cells)  # the store's rows are replaced, never changed in place

    def merchant_edit(self, row: int, header: str, value: object) -> None:
        self._set(INVENTORY_SHEET, row, self._column(INVENTORY_SHEET, header), value)

    def add_sheet(self, name: str, rows: Sequence[Sequence[object]]) -> None:
        self.store.sheets[name] = [tuple(_held(v) for v in row) for row in rows]

    def insert_row(self, before: int) -> None:
        self.store.sheets[INVENTORY_SHEET].insert(before - 1, ())

    def delete_row(self, row: int, sheet: str = INVENTORY_SHEET) -> None:
        del self.store.sheets[sheet][row - 1]

    def rename_sheet(self, name: str, new_name: str) -> None:
        self.store.sheets[new_name] = self.store.sheets.pop(name)

    def rename_header(self, sheet: str, header: str, new_header: str) -> None:
        self._set(sheet, 1, self._column(sheet, header), new_header)

    def sheet_names(self) -> list[str]:
        return list(self.store.sheets)

    def lose_next_append_answer(self) -> None:
        _lose_once(self.store, "append_ledger")

    def lose_next_archive_answer(self) -> None:
        _lose_once(self.store, "archive_ledger")

    def set_control(self, label: str, value: str) -> None:
        rows = self.store.sheets.setdefault(STATUS_SHEET, [tuple(STATUS_HEADERS.values())])
        channel = self._column(STATUS_SHEET, "Channel")
        labels = [_shown(r[channel - 1]) if len(r) >= channel else "" for r in rows]
        row = labels.index(label) + 1 if label in labels else len(rows) + 1
        self._set(STATUS_SHEET, row, channel, label)
        self._set(STATUS_SHEET, row, self._column(STATUS_SHEET, "Control"), value)

    def inventory_headers(self) -> list[str]:
        return [_shown(v) for v in self._rows(INVENTORY_SHEET)[0] if v is not None]

    def formula_cells(self) -> set[str]:
        return {
            f"{sheet}!{column_letter(c)}{r}"
            for sheet, rows in self.store.sheets.items()
            for r, row in enumerate(rows, start=1)
            for c, value in enumerate(row, start=1)
            if isinstance(value, _Formula)
        }

    def revision(self) -> object:
        return copy.deepcopy(self.store.sheets)


#: Every store backend the contract suite runs against, as a factory over a fresh directory.
BACKENDS: dict[str, Callable[[Path], Backend]] = {
    "workbook": WorkbookBackend,
    "google_sheets": GoogleSheetsBackend,
    "airtable": AirtableBackend,
    "memory": MemoryBackend,
}


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return BACKENDS[request.param](tmp_path)


@pytest.fixture
def workbook(tmp_path: Path) -> WorkbookBackend:
    return WorkbookBackend(tmp_path)
