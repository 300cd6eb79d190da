"""The embedded default master store: a local .xlsx workbook, via openpyxl.

Every write reloads the file, so edits the merchant saved since ``read()`` survive, and
lands through a temporary file and ``os.replace``, so a crash mid-save never tears the
workbook. What the worker writes is a number or literal text, never a formula.

An append skips entries whose Key the Ledger holds already (a caller repeating an append it never
saw end adds nothing twice). ``archive_ledger`` moves the Ledger's first rows to the workbook's
``Ledger archive`` sheet and puts the checkpoint in their place, both in one save.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import filelock
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, MergedCell
from openpyxl.cell.rich_text import CellRichText
from openpyxl.styles import Font
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.formula import ArrayFormula
from openpyxl.worksheet.worksheet import Worksheet

from sheetsync.errors import PermanentError, StoreLayoutError, TransientError
from sheetsync.model import (
    INVENTORY_SHEET,
    LEDGER_HEADERS,
    LEDGER_SHEET,
    OVERRIDE,
    SKU,
    STATE_HEADERS,
    STATE_SHEET,
    STATUS_HEADERS,
    STATUS_SHEET,
    TIMESTAMP_FORMAT,
    CellWrite,
    ChannelStatus,
    GuardStatus,
    Layout,
    LedgerEntry,
    RawLedgerRow,
    RawRow,
    Report,
    Snapshot,
    StatusUpdate,
    header_key,
    ledger_cells,
)
from sheetsync.stores._dress import dress_workbook
from sheetsync.stores._grid import (
    ARCHIVE_SHEET,
    LEASE_KEY,
    SHEETS,
    Lease,
    Row,
    acquire_lease,
    appends,
    archive_columns,
    archive_keys,
    blank_anchors,
    buffer_columns,
    cell_text,
    cell_value,
    columns,
    expected_keys,
    inventory_columns,
    lease_holder,
    lease_refusal,
    percent_text,
    plan_fold,
    records,
    release_lease,
    report_value,
    sku_key,
    snapshot,
    split_lease,
    status_rows,
    target_row,
)

logger = logging.getLogger(__name__)

MAX_CELL_TEXT = 32_767  #: characters per cell (Excel specifications and limits)

_LOCK_FILES = (("LibreOffice", ".~lock.{}#"), ("Excel", "~${}"))
#: Loads and saves tried when the file keeps changing between them (the merchant saving meanwhile).
SAVE_ATTEMPTS = 3


def create_workbook(path: Path, layout: Layout) -> None:
    """Write a template: a Read me, Inventory, Ledger, Status and a hidden State, headers bold and frozen.

    The worker's columns are grey and warn when typed in; Override and Control are validated;
    Status flags are coloured (see ``_dress``).

    Raises:
        FileExistsError: ``path`` exists; an existing workbook is never replaced.
    """
    if path.exists():
        raise FileExistsError(f"{path} already exists; choose another path or move it")
    merchant = layout.merchant_headers()
    counts = [merchant[column] for column in layout.count_columns()]
    inventory = [merchant[SKU], *counts, merchant[OVERRIDE], *layout.worker_headers().values()]
    wb = Workbook()
    wb.remove(wb.worksheets[0])
    for name, headers in (
        (INVENTORY_SHEET, inventory),
        (LEDGER_SHEET, list(layout.ledger_headers().values())),
        (STATUS_SHEET, list(STATUS_HEADERS.values())),
        (STATE_SHEET, list(STATE_HEADERS.values())),
    ):
        ws = wb.create_sheet(name)
        ws.freeze_panes = "A2"
        for column, title in enumerate(headers, start=1):
            _put_header(ws, column, title)
    # Text, so a SKU typed 00123 keeps its zeros (a General column makes it the number 123).
    wb[INVENTORY_SHEET].column_dimensions["A"].number_format = "@"
    dress_workbook(wb, layout)
    _save(wb, path)


class WorkbookStore:
    """A ``MasterStore`` over a local .xlsx workbook (see the module docstring)."""

    def __init__(self, path: Path, layout: Layout) -> None:
        self.path = path
        self.layout = layout
        self._read_keys: tuple[str, ...] | None = None  #: the Ledger's Keys at the last read()
        self._anchors: dict[int, tuple[str, ...]] | None = None  #: blank-SKU rows at the last read()
        self._lease = ""  #: the lease's State value at the last read()
        self._lease_fresh = False  #: ``_lease`` comes from a read() no acquire() has used yet
        self._os_lock = filelock.FileLock(path.with_name(f".{path.name}.sheetsync.lock"), timeout=0)
        #: The workbook as this store last saved it, and that file's stamp: while the file on disk
        #: still bears the stamp, the next edit starts from it rather than loading the file again.
        self._saved: tuple[Stamp, Workbook] | None = None

    def read(self) -> Snapshot:
        """Load the workbook once; every cell as raw text; absent tables read empty.

        A Buffer cell holding a number formatted as a percentage reads as the merchant sees it
        (``10%``, not 0.1).  A file that is still the one this store saved last (same stamp) is
        not parsed again: the workbook it saved is read instead, so a cycle's read costs what
        changed since, not the whole file (nothing, if the merchant saved nothing).
        """
        saved = self._saved
        wb = (
            saved[1]
            if saved is not None and saved[0] == _stamp(self.path)
            else _load(self.path, read_only=True)
        )
        try:
            self._require_inventory(wb.sheetnames)
            sheets = {name: _rows(wb, name, _plain) for name in SHEETS[1:] if name in wb.sheetnames}
            sheets[INVENTORY_SHEET] = _inventory_rows(wb, self.layout, str(self.path))
        finally:
            if wb.read_only:
                wb.close()
        result, self._lease = split_lease(snapshot(sheets, self.layout, str(self.path))[0])
        self._lease_fresh = True
        self._anchors = blank_anchors(result.rows, self.layout)
        self._read_keys = tuple(row.cells.get("key", "") for row in result.ledger)
        return result

    def acquire(self, owner: str, now: datetime, ttl_s: float) -> str | None:
        """Take or renew the single-writer lease (see ``LeasedStore``): an OS lock, then the State's.

        The OS lock (``.<name>.sheetsync.lock`` beside the workbook, through ``filelock``) stops a
        second worker on this computer at once, and is held until ``release``.  The State's lease
        covers a workbook shared between computers (a synced folder): right after ``read()`` it
        costs nothing while held with more than half of ``ttl_s`` left, else one load and save,
        which checks the lease in the file it loaded (a compare-and-set: the save is redone if the
        file changed meanwhile).
        """
        if not self._os_lock.is_locked:
            try:
                self._os_lock.acquire(blocking=False)
            except filelock.Timeout:
                held = Lease.parse(self._fetch_lease())
                who = f" ({held.owner}, lease until {held.until.strftime(TIMESTAMP_FORMAT)})" if held else ""
                return (
                    f"{self.path} is in use by another sheetsync worker on this computer{who}: it holds "
                    f"{Path(self._os_lock.lock_file).name}; run one worker per workbook"
                )
        seen = self._lease if self._lease_fresh else None
        self._lease_fresh = False

        def write(text: str) -> str | None:
            return self._write_lease(text, owner, now)

        refusal = acquire_lease(
            owner, now, ttl_s, str(self.path), seen=seen, fetch=self._fetch_lease, write=write, confirm=False
        )
        if refusal:
            self._os_lock.release()
        return refusal

    def holder(self, now: datetime) -> str | None:
        """Who holds the lease at ``now`` as the last read() saw it (see ``LeasedStore``)."""
        return lease_holder(self._lease, now, str(self.path))

    def release(self, owner: str) -> None:
        """Clear the State's lease if ``owner`` holds it, and let go of the OS lock."""
        try:
            if self._os_lock.is_locked:
                release_lease(owner, self._fetch_lease, lambda text: self._write_lease(text, owner, None))
        finally:
            if self._os_lock.is_locked:
                self._os_lock.release(force=True)

    def _fetch_lease(self) -> str:
        wb = _load(self.path, read_only=True)
        try:
            rows = _rows(wb, STATE_SHEET)
        finally:
            wb.close()
        return _lease_in(rows, str(self.path))

    def _write_lease(self, text: str, owner: str, now: datetime | None) -> str | None:
        """Put the lease unless, in the file as loaded, another worker holds it (``now`` given)."""
        refusal: str | None = None

        def change(wb: Workbook) -> bool:
            nonlocal refusal
            held = Lease.parse(_lease_in(_rows(wb, STATE_SHEET), str(self.path)))
            if now is None:
                refusal = None if held is not None and held.owner == owner else "not held"
            else:
                refusal = lease_refusal(held, owner, now, str(self.path))
            if refusal:
                return False
            ws, columns = self._table(wb, STATE_SHEET, STATE_HEADERS)
            rows = _locate(ws, columns["key"], [LEASE_KEY], str.strip)
            _put(ws, rows[LEASE_KEY], columns["value"], text)
            return True

        self._edit(change)
        return refusal if now is not None else None

    def _edit(self, change: Callable[[Workbook], bool]) -> None:
        """Load the workbook, ``change`` it (False: nothing to save) and save it over the file.

        Loaded fresh, so edits the merchant saved since ``read()`` survive and every column and
        row is placed by the headers and SKUs as they are now.  If the file changes between the
        load and the save (the merchant saved again), nothing is saved and it is all done again
        from a new load, a few times before giving up until the next cycle.  A file that is still
        the one this store saved last (same stamp) is not loaded again: the workbook it saved is
        that file, and loading it is most of an edit's time.
        """
        for _ in range(SAVE_ATTEMPTS):
            self._refuse_if_open()
            before = _stamp(self.path)
            saved, self._saved = self._saved, None  # changed below: kept again only once saved
            wb = saved[1] if saved is not None and saved[0] == before else _load(self.path)
            if not change(wb):
                return
            try:
                self._saved = (_save(wb, self.path, before), wb)
            except _Changed:
                logger.info("%s changed while the worker was writing to it; writing again", self.path)
                continue
            return
        raise TransientError(
            f"{self.path} kept changing while the worker wrote to it; nothing was written, the next cycle "
            "retries"
        )

    def append_ledger(self, entries: Sequence[LedgerEntry]) -> None:
        """Append one Ledger row per entry, in order, under its headers wherever they are.

        An entry whose Key the Ledger holds already is left out: the caller is repeating an
        append it never saw end.
        """
        if not entries:
            return

        def change(wb: Workbook) -> bool:
            ws, columns = self._table(wb, LEDGER_SHEET, self.layout.ledger_headers())
            key = columns["key"]
            held = {
                cell_text(value)
                for (value,) in ws.iter_rows(min_row=2, min_col=key, max_col=key, values_only=True)
            }
            fresh = [entry for entry in entries if not entry.key or entry.key not in held]
            for row, entry in enumerate(fresh, start=_next_row(ws)):
                for logical, text in ledger_cells(entry).items():
                    _put(ws, row, columns[logical], text)
            return bool(fresh)

        self._edit(change)

    def append_inventory(self, rows: Sequence[Mapping[str, str]]) -> int:
        """Append Inventory rows below the last row with text, in a fresh load (see ``AppendingStore``)."""
        if not rows:
            return 0
        appended = 0

        def change(wb: Workbook) -> bool:
            nonlocal appended
            self._require_inventory(wb.sheetnames)
            ws = wb[INVENTORY_SHEET]
            where = f"{self.path}, sheet {INVENTORY_SHEET}"
            plan = appends(_header_row(ws), rows, self.layout, where)
            sku = plan.found[plan.sku]
            held = ws.iter_rows(min_row=2, min_col=sku, max_col=sku, values_only=True)
            fresh = plan.fresh(rows, (cell_text(value) for (value,) in held))
            appended = len(fresh)
            if not fresh:
                return False
            found = {**plan.found, **_add_columns(ws, {header_key(t): t for t in plan.missing})}
            for row, cells in enumerate(fresh, start=_next_row(ws)):
                for key, text in cells.items():
                    value = plan.value(key, text)
                    if isinstance(value, int):
                        _put(ws, row, found[key], text)
                    elif value is not None:
                        _put(ws, row, found[key], text, literal=True)
            return True

        self._edit(change)
        return appended

    def archive_ledger(
        self, folded: int, checkpoint: Sequence[LedgerEntry], keys: Sequence[str] | None = None
    ) -> None:
        """Move the first ``folded`` Ledger rows to ``Ledger archive`` and put ``checkpoint`` there.

        ``keys`` are those rows' Keys as the caller read them (by default, as ``read()`` last
        saw them).  Both steps land in one save; a repeat after they did changes nothing.

        Raises:
            StoreLayoutError: the Ledger's first rows are not those read, or a Key header is missing.
        """
        expected = expected_keys(folded, keys, self._read_keys)

        def change(wb: Workbook) -> bool:
            ledger, archive = _rows(wb, LEDGER_SHEET), _rows(wb, ARCHIVE_SHEET)
            held = archive_keys(archive, str(self.path))
            keys = [entry.key for entry in checkpoint]
            fold = plan_fold(ledger, held, folded, keys, expected, str(self.path))
            if fold is None:
                return False
            if not fold.archived:
                _archive(wb, ledger[0], archive, fold.moved)
            ws, columns = self._table(wb, LEDGER_SHEET, self.layout.ledger_headers())
            ws.delete_rows(2, fold.end - 1)
            if checkpoint:  # openpyxl's insert_rows(2, 0) would delete a row
                ws.insert_rows(2, len(checkpoint))
            for row, entry in enumerate(checkpoint, start=2):
                for logical, text in ledger_cells(entry).items():
                    _put(ws, row, columns[logical], text)
            return True

        self._edit(change)

    def read_archive(self) -> tuple[RawLedgerRow, ...]:
        """Every archived Ledger row, oldest first; none if nothing was archived."""
        wb = _load(self.path, read_only=True)
        try:
            rows = _rows(wb, ARCHIVE_SHEET)
        finally:
            wb.close()
        where = f"{self.path}, sheet {ARCHIVE_SHEET}"
        found = columns(rows[0] if rows else (), LEDGER_HEADERS, where)
        return tuple(RawLedgerRow(number, cells) for number, cells in records(rows, found))

    def write_status(self, update: StatusUpdate) -> None:
        """Write worker cells, Status rows and state into a fresh load of the workbook.

        Raises:
            ValueError: a ``CellWrite`` names a column the worker does not own.
        """
        if update.empty:
            return

        def change(wb: Workbook) -> bool:
            for report in update.reports:
                _write_report(wb, report)
            if update.cells:
                self._write_cells(wb, update.cells)
            if update.channels or update.guard:
                self._write_status_rows(wb, update.channels, update.guard)
            if update.state:
                ws, columns = self._table(wb, STATE_SHEET, STATE_HEADERS)
                rows = _locate(ws, columns["key"], update.state, str.strip)
                for key, value in update.state.items():
                    _put(ws, rows[key], columns["value"], value)
            return True

        self._edit(change)

    def _write_cells(self, wb: Workbook, writes: Sequence[CellWrite]) -> None:
        worker = self.layout.worker_headers()
        if unknown := {write.column for write in writes} - worker.keys():
            raise ValueError(f"not worker columns, refusing to write: {sorted(unknown)}")
        self._require_inventory(wb.sheetnames)
        ws = wb[INVENTORY_SHEET]
        columns = inventory_columns(_header_row(ws), self.layout, f"{self.path}, sheet {INVENTORY_SHEET}")
        wanted = {write.column for write in writes} - columns.keys()
        columns |= _add_columns(ws, {k: t for k, t in worker.items() if k in wanted})
        skus: dict[str, list[int]] = {}
        cells = ws.iter_rows(min_row=2, min_col=columns[SKU], max_col=columns[SKU], values_only=True)
        for number, (value,) in enumerate(cells, start=2):
            skus.setdefault(sku_key(cell_text(value)), []).append(number)
        anchors = None
        if any(not sku_key(write.sku) for write in writes):
            rows = list(ws.iter_rows(values_only=True))
            anchors = blank_anchors((RawRow(n, c) for n, c in records(rows, columns)), self.layout)
        for write in writes:
            row = target_row(write, skus, self._anchors, anchors)
            if row is not None:
                _put(ws, row, columns[write.column], write.value)
            else:
                logger.warning(
                    "%s: SKU %s is no longer in row %d nor in exactly one other row; not writing %s",
                    self.path,
                    write.sku,
                    write.row,
                    write.column,
                )

    def _write_status_rows(
        self, wb: Workbook, channels: Sequence[ChannelStatus], guard: GuardStatus | None
    ) -> None:
        writes = status_rows(channels, guard)
        ws, columns = self._table(wb, STATUS_SHEET, STATUS_HEADERS)
        rows = _locate(ws, columns["channel"], [label for label, _ in writes], header_key)
        for label, values in writes:
            for logical, text in values.items():
                _put(ws, rows[label], columns[logical], text)

    def _table(self, wb: Workbook, name: str, headers: Mapping[str, str]) -> tuple[Worksheet, dict[str, int]]:
        """The sheet ``name`` and its columns, adding the sheet or any missing header."""
        if name not in wb.sheetnames:
            wb.create_sheet(name).freeze_panes = "A2"
            if name == STATE_SHEET:
                wb[name].sheet_state = "hidden"  # the worker's bookkeeping
        ws = wb[name]
        found = columns(_header_row(ws), headers, f"{self.path}, sheet {name}")
        missing = {k: title for k, title in headers.items() if k not in found}
        return ws, found | _add_columns(ws, missing)

    def _require_inventory(self, sheetnames: Sequence[str]) -> None:
        if INVENTORY_SHEET not in sheetnames:
            raise StoreLayoutError(
                f"{self.path} has no sheet {INVENTORY_SHEET} (found: "
                f"{', '.join(sheetnames) or 'no sheets'}); "
                f"rename your inventory sheet back to {INVENTORY_SHEET}"
            )

    def check_writable(self) -> None:
        """Check the worker could save the workbook now, writing nothing.

        Raises:
            TransientError: it is open in Excel or LibreOffice (their lock file is beside it).
            PermanentError: the file or its folder is read-only (the save goes through a copy beside it).
        """
        self._refuse_if_open()
        for target, what in ((self.path, "the workbook"), (self.path.parent, "its folder")):
            if not os.access(target, os.W_OK):
                raise PermanentError(
                    f"{target}: {what} is read-only; make it writable so the worker can save"
                )

    def _refuse_if_open(self) -> None:
        # Our save would be lost at the spreadsheet app's next save of its own copy.
        for app, pattern in _LOCK_FILES:
            lock = self.path.with_name(pattern.format(self.path.name))
            if lock.exists():
                raise TransientError(
                    f"{self.path} is open in {app} (lock file {lock.name}); close it so "
                    "the worker can write (or delete the lock file if it is not open); "
                    "nothing is lost, the next cycle retries"
                )


def _inventory_rows(wb: Workbook, layout: Layout, where: str) -> list[Row]:
    """The Inventory's rows as ``_rows`` reads them, but a Buffer cell formatted as a percentage as shown."""
    ws = wb[INVENTORY_SHEET]
    if wb.read_only:
        ws.reset_dimensions()
    rows: list[list[object]] = []
    buffers: list[int] = []
    for number, cells in enumerate(ws.iter_rows(), start=1):
        values = [_plain(cell.value) for cell in cells]
        if number == 1:
            buffers = buffer_columns(
                columns(values, layout.merchant_headers(), f"{where}, sheet {INVENTORY_SHEET}")
            )
        for column in buffers:
            if column <= len(cells):
                shown = percent_text(values[column - 1], str(getattr(cells[column - 1], "number_format", "")))
                values[column - 1] = values[column - 1] if shown is None else shown
        rows.append(values)
    return [tuple(row) for row in rows]


def _lease_in(rows: Sequence[Row], where: str) -> str:
    """The lease's value in a State sheet's rows ("" if none)."""
    found = columns(rows[0] if rows else (), STATE_HEADERS, f"{where}, sheet {STATE_SHEET}")
    if "key" not in found or "value" not in found:
        return ""
    for row in rows[1:]:
        key = cell_text(row[found["key"] - 1]) if found["key"] <= len(row) else ""
        if key.strip() == LEASE_KEY:
            return cell_text(row[found["value"] - 1]) if found["value"] <= len(row) else ""
    return ""


def _rows(wb: Workbook, name: str, unwrap: Callable[[object], object] | None = None) -> list[Row]:
    """Every row's values of sheet ``name`` as stored (none if it is absent), each through ``unwrap``.

    By default ``_unwrap``: an array formula as its text, rich text kept (an edit copies it as it is).
    """
    if name not in wb.sheetnames:
        return []
    ws = wb[name]
    if wb.read_only:
        # Some writers record a too-small used range; trusting it drops columns.
        ws.reset_dimensions()
    return [tuple(map(unwrap or _unwrap, row)) for row in ws.iter_rows(values_only=True)]


def _archive(wb: Workbook, header: Row, archive: Sequence[Row], moved: Sequence[Row]) -> None:
    """Append ``moved`` (Ledger rows, as stored) to the archive sheet, adding it or its headers."""
    if ARCHIVE_SHEET not in wb.sheetnames:
        wb.create_sheet(ARCHIVE_SHEET).freeze_panes = "A2"
    ws = wb[ARCHIVE_SHEET]
    if not archive:  # a new archive: the Ledger's headers as they are
        for column, title in enumerate(header, start=1):
            if cell_text(title).strip():
                _put_header(ws, column, cell_text(title))
        archive = [header]
    placed, added = archive_columns(header, archive[0], moved)
    for column, title in added.items():
        _put_header(ws, column, title)
    for row, values in enumerate(moved, start=_next_row(ws)):
        for column, value in enumerate(values, start=1):
            if column in placed and value is not None:
                _copy(ws, row, placed[column], value)


def _copy(ws: Worksheet, row: int, column: int, value: object) -> None:
    """Set a cell to a value copied from another, as it was (a formula's text stays text)."""
    cell = ws.cell(row=row, column=column)
    if isinstance(cell, MergedCell):
        raise StoreLayoutError(
            f"{ws.title}!{cell.coordinate} is in merged cells; unmerge them so the worker can write there"
        )
    cell.value = cast(Any, value)  # a value openpyxl itself read
    if isinstance(value, str):
        cell.data_type = "s"


def _write_report(wb: Workbook, report: Report) -> None:
    """Replace a worker-owned sheet's values whole (its formatting and widths stay)."""
    if report.name not in wb.sheetnames:
        wb.create_sheet(report.name).freeze_panes = "A2"
    ws = wb[report.name]
    for row in ws.iter_rows():
        for cell in row:
            if not isinstance(cell, MergedCell):
                cell.value = None
    for column, title in enumerate(report.header, start=1):
        _put_header(ws, column, title)
    for number, values in enumerate(report.rows, start=2):
        for column, text in enumerate(values, start=1):
            _put(ws, number, column, text)
            if isinstance(value := report_value(text), float):
                ws.cell(row=number, column=column).value = value


def _unwrap(value: object) -> object:
    """An array formula reads as its text, like any other formula."""
    return str(value.text or "") if isinstance(value, ArrayFormula) else value


def _plain(value: object) -> object:
    """As a read-only load reads a value: ``_unwrap``'s, and rich text as its plain text."""
    return str(value) if isinstance(value, CellRichText) else _unwrap(value)


def _load(path: Path, *, read_only: bool = False) -> Workbook:
    try:
        # rich_text keeps formatting inside the merchant's cells through our save.
        return load_workbook(path, read_only=read_only, rich_text=not read_only)
    except FileNotFoundError as exc:
        raise PermanentError(f"{path}: no such workbook; check the configured path") from exc
    except (InvalidFileException, zipfile.BadZipFile) as exc:
        raise PermanentError(f"{path} is not an .xlsx workbook ({exc})") from exc


def _header_row(ws: Worksheet) -> Row:
    return next(ws.iter_rows(min_row=1, max_row=1, values_only=True), ())


def _used(values: Iterable[object]) -> bool:
    return any(cell_text(value).strip() for value in values)


def _add_columns(ws: Worksheet, headers: Mapping[str, str]) -> dict[str, int]:
    """Add headers right of the last one, skipping columns the merchant has data in."""
    header = _header_row(ws)
    column = max((n for n, value in enumerate(header, 1) if _used([value])), default=0)
    added = {}
    for logical, title in headers.items():
        column += 1
        while _used(v for (v,) in ws.iter_rows(min_col=column, max_col=column, values_only=True)):
            column += 1
        _put_header(ws, column, title)
        added[logical] = column
    return added


def _next_row(ws: Worksheet) -> int:
    # Not ws.max_row: formatted but empty rows would push appends far below the data.
    rows = enumerate(ws.iter_rows(values_only=True), start=1)
    return max((number for number, values in rows if _used(values)), default=1) + 1


def _locate(ws: Worksheet, column: int, labels: Iterable[str], key: Callable[[str], str]) -> dict[str, int]:
    """The first row whose ``column`` matches each label; a missing label gets a new row."""
    rows: dict[str, int] = {}
    cells = ws.iter_rows(min_row=2, min_col=column, max_col=column, values_only=True)
    for number, (value,) in enumerate(cells, start=2):
        if text := key(cell_text(value)):
            rows.setdefault(text, number)
    free = _next_row(ws)
    for label in labels:
        if key(label) not in rows:
            rows[key(label)], free = free, free + 1
            _put(ws, rows[key(label)], column, label)
    return {label: rows[key(label)] for label in labels}


def _put_header(ws: Worksheet, column: int, title: str) -> None:
    _put(ws, 1, column, title)
    ws.cell(row=1, column=column).font = Font(bold=True)


def _put(ws: Worksheet, row: int, column: int, text: str, *, literal: bool = False) -> None:
    """Set a worker-owned cell: blank, a whole number as a number, else (or if ``literal``) literal text."""
    cell = ws.cell(row=row, column=column)
    if isinstance(cell, MergedCell):
        raise StoreLayoutError(
            f"{ws.title}!{cell.coordinate} is in merged cells; unmerge them so the worker can write there"
        )
    value = text if literal else cell_value(text)
    if not isinstance(value, str):
        cell.value = value
    else:
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", text)[:MAX_CELL_TEXT]
        # openpyxl makes text starting with "=" a formula; worker text must never run.
        cell.data_type = "s"


class _Changed(Exception):
    """The workbook changed on disk between its load and our save: nothing was saved."""


#: What tells one version of the file from another (``_stamp``).
Stamp = tuple[int, int, int, bytes]


def _stamp(path: Path) -> Stamp | None:
    """``path``'s stamp (``_stamp_of``); None if there is no such file."""
    try:
        return _stamp_of(path)
    except FileNotFoundError:
        return None


def _stamp_of(path: Path) -> Stamp:
    """Modification time, size, inode and a digest of the bytes.

    The digest because timestamps tick only every few milliseconds, and an app may save a file
    of the same size in place.
    """
    with path.open("rb") as fh:
        stat = os.fstat(fh.fileno())
        return stat.st_mtime_ns, stat.st_size, stat.st_ino, hashlib.file_digest(fh, "blake2b").digest()


def _unchanged(path: Path, loaded: Stamp) -> None:
    if _stamp(path) != loaded:
        raise _Changed(str(path))


def _save(wb: Workbook, path: Path, loaded: Stamp | None = None) -> Stamp:
    """Replace ``path`` atomically: a crash leaves the old file or the new one, whole.

    With ``loaded`` (the file's stamp when it was loaded), raises ``_Changed`` instead of saving
    when the file is no longer that version: the merchant's save made meanwhile is not overwritten.
    Returns the stamp of the file saved, taken before it replaced ``path`` (a rename keeps its
    modification time and inode), so a save by someone else right after is never taken for it.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("xb") as fh:  # unlike mkstemp's 0600, "x" honours the umask
            wb.save(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if loaded is not None:
            _unchanged(path, loaded)
        if path.exists():
            shutil.copymode(path, tmp)
        saved = _stamp_of(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return saved
