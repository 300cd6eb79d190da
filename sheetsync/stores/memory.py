"""An in-memory master store: the simulator's master, with no file to load or save per cycle.

Each sheet is a list of rows of cell values (row 1 is the header), read and written with the
same grid rules as the workbook and Google Sheets stores (``stores._grid``).  The worker writes
text; whatever else a row holds (a number a test typed) reads back as its text.

Rows are tuples, replaced whole on every change, so a row that is the same object as at the
last read holds the same cells: the Ledger, which only grows, is parsed only where it grew.  That
every row is still the same object is checked on each read (by identity, in C: a few
microseconds for thousands of rows), so a row the merchant replaced anywhere is parsed again.

An append skips entries whose Key the Ledger holds already, so a caller that repeats one
(it never saw the first one end) adds nothing twice.  ``archive_ledger`` moves the Ledger's first
rows to the ``Ledger archive`` sheet and puts the checkpoint in their place in one step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from operator import is_

from sheetsync.errors import StoreLayoutError
from sheetsync.model import (
    INVENTORY_SHEET,
    LEDGER_HEADERS,
    LEDGER_SHEET,
    SKU,
    STATE_HEADERS,
    STATE_SHEET,
    STATUS_HEADERS,
    STATUS_SHEET,
    CellWrite,
    Layout,
    LedgerEntry,
    RawLedgerRow,
    RawRow,
    Snapshot,
    StatusUpdate,
    header_key,
    ledger_cells,
)
from sheetsync.stores._grid import (
    ARCHIVE_SHEET,
    LEASE_KEY,
    acquire_lease,
    appends,
    archive_columns,
    archive_keys,
    blank_anchors,
    cell_text,
    columns,
    expected_keys,
    in_place,
    inventory_columns,
    lease_holder,
    plan_fold,
    read_snapshot,
    records,
    release_lease,
    sku_key,
    split_lease,
    status_rows,
    target_row,
)

log = logging.getLogger(__name__)

#: A row of cell values; replaced, never changed in place.
Cells = tuple[object, ...]
#: A sheet as the store holds it: rows of cell values, row 1 the header.
Sheet = list[Cells]


class MemoryStore:
    """A ``MasterStore`` whose sheets live in ``self.sheets`` (see the module docstring)."""

    def __init__(
        self, layout: Layout, sheets: Mapping[str, Sequence[Sequence[object]]], where: str = "memory"
    ) -> None:
        self.layout = layout
        self.where = where
        self.sheets: dict[str, Sheet] = {name: [tuple(row) for row in rows] for name, rows in sheets.items()}
        #: rows as last parsed, their records and their Keys
        self._ledger: tuple[Sheet, tuple[RawLedgerRow, ...], set[str]] = ([], (), set())
        self._read_ledger_rows: tuple[RawLedgerRow, ...] | None = None  #: the Ledger at the last read()
        self._read_rows: tuple[RawRow, ...] | None = None  #: the Inventory at the last read()
        self._lease = ""  #: the lease's State value at the last read()
        self._lease_fresh = False  #: ``_lease`` comes from a read() no acquire() has used yet

    def read(self) -> Snapshot:
        """Every sheet as raw text; absent tables read empty."""
        self._require_inventory()
        others = {name: rows for name, rows in self.sheets.items() if name != LEDGER_SHEET}
        ledger = self._read_ledger()
        self._read_ledger_rows = ledger  # its Keys are needed only to archive (``archive_ledger``)
        found = "key" in self._ledger_columns(self.sheets.get(LEDGER_SHEET, []))
        result, self._lease = split_lease(read_snapshot(others, self.layout, self.where))
        self._lease_fresh = True
        self._read_rows = result.rows  # its blank-SKU rows are needed only to write to one
        return replace(result, ledger=ledger, ledger_found=found)

    def _require_inventory(self) -> None:
        if INVENTORY_SHEET not in self.sheets:
            raise StoreLayoutError(
                f"{self.where} has no sheet {INVENTORY_SHEET} "
                f"(found: {', '.join(self.sheets) or 'no sheets'}); "
                f"rename your inventory sheet back to {INVENTORY_SHEET}"
            )

    def acquire(self, owner: str, now: datetime, ttl_s: float) -> str | None:
        """Take or renew the single-writer lease in the State (see ``LeasedStore``).

        Stores sharing one ``sheets`` are workers on one master; each step is a plain assignment,
        so no confirming read is needed.
        """
        seen = self._lease if self._lease_fresh else None
        self._lease_fresh = False
        return acquire_lease(
            owner,
            now,
            ttl_s,
            self.where,
            seen=seen,
            fetch=self._fetch_lease,
            write=self._write_lease,
            confirm=False,
        )

    def holder(self, now: datetime) -> str | None:
        """Who holds the lease at ``now`` as the last read() saw it (see ``LeasedStore``)."""
        return lease_holder(self._lease, now, self.where)

    def release(self, owner: str) -> None:
        """Clear the lease if ``owner`` holds it."""
        release_lease(owner, self._fetch_lease, self._write_lease)

    def _fetch_lease(self) -> str:
        rows = self.sheets.get(STATE_SHEET, [])
        found = columns(rows[0] if rows else (), STATE_HEADERS, f"{self.where}, sheet {STATE_SHEET}")
        if "key" not in found or "value" not in found:
            return ""
        for row in rows[1:]:
            if _text(row, found["key"]).strip() == LEASE_KEY:
                return _text(row, found["value"])
        return ""

    def _write_lease(self, text: str) -> None:
        rows, found = self._table(STATE_SHEET, STATE_HEADERS)
        at = _locate(rows, found["key"], [LEASE_KEY], str.strip)
        _put(rows, at[LEASE_KEY], found["value"], text)

    def _ledger_columns(self, rows: Sheet) -> dict[str, int]:
        return columns(rows[0] if rows else (), LEDGER_HEADERS, f"{self.where}, sheet {LEDGER_SHEET}")

    def _read_ledger(self) -> tuple[RawLedgerRow, ...]:
        """The Ledger's records, parsing only rows added since the last read."""
        rows = self.sheets.get(LEDGER_SHEET, [])
        seen, parsed, keys = self._ledger
        if len(rows) < len(seen) or not all(map(is_, rows, seen)):
            seen, parsed, keys = [], (), set()
        if rows:
            found = self._ledger_columns(rows)
            start = max(len(seen), 1)  # the header is rows[0]: records() numbers the next row 2
            added = [
                RawLedgerRow(number + start - 1, cells)
                for number, cells in records([rows[0], *rows[start:]], found)
            ]
            if added:
                parsed = (*parsed, *added)
                keys.update(key for row in added if (key := row.cells.get("key", "")))
        self._ledger = (list(rows), parsed, keys)
        return parsed

    def append_ledger(self, entries: Sequence[LedgerEntry]) -> None:
        """Append one Ledger row per entry, in order, below the last row with any text.

        An entry whose Key the Ledger holds already is left out: the caller is repeating an
        append it never saw end.
        """
        self._read_ledger()
        held = self._ledger[2]
        entries = [entry for entry in entries if not entry.key or entry.key not in held]
        if not entries:
            return
        rows, found = self._table(LEDGER_SHEET, self.layout.ledger_headers())
        del rows[_used(rows) :]
        rows.extend(self._ledger_row(entry, found) for entry in entries)

    @staticmethod
    def _ledger_row(entry: LedgerEntry, found: Mapping[str, int]) -> Cells:
        cells: list[object] = [None] * max(found.values())
        for logical, text in ledger_cells(entry).items():
            cells[found[logical] - 1] = text
        return tuple(cells)

    def archive_ledger(
        self, folded: int, checkpoint: Sequence[LedgerEntry], keys: Sequence[str] | None = None
    ) -> None:
        """Move the first ``folded`` Ledger rows to ``Ledger archive`` and put ``checkpoint`` there.

        ``keys`` are those rows' Keys as the caller read them (by default, as ``read()`` last
        saw them).  Both steps happen at once; a repeat after they did changes nothing.

        Raises:
            StoreLayoutError: the Ledger's first rows are not those read, or a Key header is missing.
        """
        read = self._read_ledger_rows
        expected = expected_keys(
            folded, keys, None if read is None else [r.cells.get("key", "") for r in read]
        )
        ledger = self.sheets.get(LEDGER_SHEET, [])
        archive = self.sheets.get(ARCHIVE_SHEET, [])
        held = archive_keys(archive, self.where)
        fold = plan_fold(ledger, held, folded, [entry.key for entry in checkpoint], expected, self.where)
        if fold is None:
            return
        if not fold.archived:
            archive = self.sheets.setdefault(ARCHIVE_SHEET, [])
            if not archive:
                archive.append(tuple(ledger[0]))  # a new archive: the Ledger's headers as they are
            placed, added = archive_columns(ledger[0], archive[0], fold.moved)
            for column, title in added.items():
                _put(archive, 1, column, title)
            del archive[_used(archive) :]
            for row in fold.moved:
                cells: list[object] = [None] * max(placed.values(), default=0)
                for column, value in enumerate(row, start=1):
                    if column in placed:
                        cells[placed[column] - 1] = value
                archive.append(tuple(cells))
        rows, found = self._table(LEDGER_SHEET, self.layout.ledger_headers())
        rows[1:] = [*(self._ledger_row(entry, found) for entry in checkpoint), *rows[fold.end :]]

    def read_archive(self) -> tuple[RawLedgerRow, ...]:
        """Every archived Ledger row, oldest first; none if nothing was archived."""
        rows = self.sheets.get(ARCHIVE_SHEET, [])
        found = columns(rows[0] if rows else (), LEDGER_HEADERS, f"{self.where}, sheet {ARCHIVE_SHEET}")
        return tuple(RawLedgerRow(number, cells) for number, cells in records(rows, found))

    def append_inventory(self, rows: Sequence[Mapping[str, str]]) -> int:
        """Append Inventory rows below the last row with any text (see ``AppendingStore``)."""
        if not rows:
            return 0
        self._require_inventory()
        sheet = self.sheets[INVENTORY_SHEET]
        where = f"{self.where}, sheet {INVENTORY_SHEET}"
        plan = appends(sheet[0] if sheet else (), rows, self.layout, where)
        sku = plan.found[plan.sku]
        fresh = plan.fresh(rows, (_text(row, sku) for row in sheet[1:]))
        if not fresh:
            return 0
        found = {**plan.found, **_add_columns(sheet, {header_key(t): t for t in plan.missing})}
        del sheet[_used(sheet) :]
        for cells in fresh:
            values: list[object] = [None] * max(found.values())
            for key, text in cells.items():
                values[found[key] - 1] = plan.value(key, text)
            sheet.append(tuple(values))
        return len(fresh)

    def write_status(self, update: StatusUpdate) -> None:
        """Write worker cells, Status rows and state.

        Raises:
            ValueError: a ``CellWrite`` names a column the worker does not own.
            StoreLayoutError: cells to write and no Inventory sheet (renamed since the read).
        """
        if update.cells and INVENTORY_SHEET not in self.sheets:
            raise StoreLayoutError(
                f"{self.where} has no sheet {INVENTORY_SHEET} any more (found: {', '.join(self.sheets)}); "
                f"nothing was written: rename your inventory sheet back to {INVENTORY_SHEET}"
            )
        for report in update.reports:
            self.sheets[report.name] = [report.header, *report.rows]
        if update.cells:
            self._write_cells(update.cells)
        if update.channels or update.guard:
            rows, found = self._table(STATUS_SHEET, STATUS_HEADERS)
            writes = status_rows(update.channels, update.guard)
            at = _locate(rows, found["channel"], [label for label, _ in writes], header_key)
            for label, values in writes:
                for logical, text in values.items():
                    _put(rows, at[label], found[logical], text)
        if update.state:
            rows, found = self._table(STATE_SHEET, STATE_HEADERS)
            at = _locate(rows, found["key"], update.state, str.strip)
            for key, value in update.state.items():
                _put(rows, at[key], found["value"], value)

    def _write_cells(self, writes: Sequence[CellWrite]) -> None:
        worker = self.layout.worker_headers()
        if unknown := {write.column for write in writes} - worker.keys():
            raise ValueError(f"not worker columns, refusing to write: {sorted(unknown)}")
        rows = self.sheets[INVENTORY_SHEET]
        found = inventory_columns(
            rows[0] if rows else [], self.layout, f"{self.where}, sheet {INVENTORY_SHEET}"
        )
        wanted = {write.column for write in writes}
        found |= _add_columns(
            rows, {k: title for k, title in worker.items() if k in wanted and k not in found}
        )
        # Anchors matter only to a write to a row with a blank SKU: most cycles have none.
        anchors = now = None
        if self._read_rows is not None and any(not sku_key(write.sku) for write in writes):
            anchors = blank_anchors(self._read_rows, self.layout)
            now = blank_anchors((RawRow(n, cells) for n, cells in records(rows, found)), self.layout)
        skus: dict[str, list[int]] = {}  # every row's, made for the first write not in its own row
        for write in writes:
            if 1 < write.row <= len(rows) and in_place(write, _text(rows[write.row - 1], found[SKU])):
                target: int | None = write.row
            else:
                if not skus:
                    for number, row in enumerate(rows[1:], start=2):
                        skus.setdefault(sku_key(_text(row, found[SKU])), []).append(number)
                target = target_row(write, skus, anchors, now)
            if target is None:
                log.warning(
                    "%s: SKU %s is no longer in row %d nor in exactly one other row; not writing %s",
                    self.where,
                    write.sku,
                    write.row,
                    write.column,
                )
            else:
                _put(rows, target, found[write.column], write.value)

    def _table(self, name: str, headers: Mapping[str, str]) -> tuple[Sheet, dict[str, int]]:
        """The sheet ``name`` and its columns, adding the sheet or any missing header."""
        rows = self.sheets.setdefault(name, [()])
        found = columns(rows[0], headers, f"{self.where}, sheet {name}")
        return rows, found | _add_columns(rows, {k: t for k, t in headers.items() if k not in found})


def _text(row: Sequence[object], column: int) -> str:
    return cell_text(row[column - 1]) if column <= len(row) else ""


def _used(rows: Sheet) -> int:
    """How many rows up to the last with any text (at least the header)."""
    number = len(rows)
    while number > 1 and not any(cell_text(v).strip() for v in rows[number - 1]):
        number -= 1
    return max(number, 1)


def _add_columns(rows: Sheet, headers: Mapping[str, str]) -> dict[str, int]:
    """Add headers right of every column with any text, in the order given."""
    if not headers:
        return {}
    column = max((n for row in rows for n, v in enumerate(row, start=1) if cell_text(v).strip()), default=0)
    added = {}
    for logical, title in headers.items():
        column += 1
        _put(rows, 1, column, title)
        added[logical] = column
    return added


def _locate(rows: Sheet, column: int, labels: Iterable[str], key: Callable[[str], str]) -> dict[str, int]:
    """The first row whose ``column`` matches each label; a missing label gets a new row."""
    found: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if text := key(_text(row, column)):
            found.setdefault(text, number)
    free = _used(rows) + 1
    at = {}
    for label in labels:
        if key(label) not in found:
            found[key(label)], free = free, free + 1
            _put(rows, found[key(label)], column, label)
        at[label] = found[key(label)]
    return at


def _put(rows: Sheet, row: int, column: int, text: str) -> None:
    """Set one cell (1-based), growing the sheet as needed; the value is the worker's text.

    A cell that holds that text already is left as it is, and so is its row (a State or Status
    value the cycle did not change).
    """
    rows.extend(() for _ in range(row - len(rows)))
    held = rows[row - 1]
    if column <= len(held) and type(held[column - 1]) is str and held[column - 1] == text:
        return
    cells = list(held)
    cells.extend([None] * (column - len(cells)))
    cells[column - 1] = text
    rows[row - 1] = tuple(cells)
