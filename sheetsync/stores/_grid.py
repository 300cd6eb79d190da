"""What every grid-shaped master (a workbook, a Google Sheet) shares.

Cells as raw text, columns found by header, the Snapshot built from the four sheets' rows, and
the plan for moving the Ledger's first rows to the archive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain
from typing import Any, TypeVar

import orjson

from sheetsync.errors import StoreLayoutError, TransientError
from sheetsync.model import (
    BUFFER,
    BUNDLE_HEADERS,
    BUNDLES_SHEET,
    GUARD_ROW_LABEL,
    INVENTORY_SHEET,
    LEDGER_HEADERS,
    LEDGER_SHEET,
    SKU,
    SKU_IS_NUMBER,
    STATE_HEADERS,
    STATE_SHEET,
    STATUS_HEADERS,
    STATUS_SHEET,
    TIMESTAMP_FORMAT,
    CellWrite,
    ChannelName,
    ChannelStatus,
    GuardStatus,
    Layout,
    RawLedgerRow,
    RawRow,
    Snapshot,
    StatusControl,
    header_key,
)

Row = Sequence[object]
T = TypeVar("T")
Records = Iterator[tuple[int, dict[str, str]]]

#: The sheets a master holds, in the order they are read (Bundles only where the merchant added it).
SHEETS = (INVENTORY_SHEET, LEDGER_SHEET, STATUS_SHEET, STATE_SHEET, BUNDLES_SHEET)
#: Where ``archive_ledger`` moves old Ledger rows: the Ledger's headers, its rows oldest first.
ARCHIVE_SHEET = "Ledger archive"

MAX_EXACT_DIGITS = 15  #: digits a spreadsheet keeps in a number (Excel and Google Sheets)

# Worker text is written as a number only if reading it back gives the same text: no leading
# zero, no "-0", no digits a spreadsheet would round away.
_NUMBER = re.compile(rf"0|-?[1-9][0-9]{{0,{MAX_EXACT_DIGITS - 1}}}")


class OutcomeUnknown(TransientError):
    """A write whose answer never arrived whole: a timeout, a dropped connection, a 5xx, a garbled body.

    It may have been applied, so a store repeats it only after looking at what is there.
    """


def column_letter(column: int) -> str:
    """1 → A, 27 → AA."""
    letters = ""
    while column:
        column, remainder = divmod(column - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def cell_text(value: object) -> str:
    """A cell value as raw text, never numericised: parsing belongs to the core."""
    if type(value) is str:  # most cells, so tested first
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def cell_value(text: str) -> int | str | None:
    """Worker text as a cell value: blank, a whole number as a number, else literal text."""
    if not text:
        return None
    return int(text) if _NUMBER.fullmatch(text) else text


_DECIMAL = re.compile(r"-?[0-9]{1,15}\.[0-9]{1,6}")


def report_value(text: str) -> int | float | str:
    """A report cell as a value: whole and decimal numbers as numbers (so they sort), else text."""
    value = cell_value(text)
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return float(value)
    return "" if value is None else value


def columns(header: Row, wanted: Mapping[str, str], where: str) -> dict[str, int]:
    """Logical name → 1-based column, matched by header text; a repeated header is an error."""
    by_key = {header_key(title): logical for logical, title in wanted.items()}
    found: dict[str, int] = {}
    for column, value in enumerate(header, start=1):
        logical = by_key.get(header_key(cell_text(value)))
        if logical in found:
            letters = f"{column_letter(found[logical])} and {column_letter(column)}"
            raise StoreLayoutError(
                f"{where}: header {wanted[logical]!r} appears twice, in columns {letters}; "
                "rename or delete one"
            )
        if logical is not None:
            found[logical] = column
    return found


def inventory_columns(header: Row, layout: Layout, where: str) -> dict[str, int]:
    """The Inventory's columns; SKU and the count columns (Quantity, or one per location) are required."""
    merchant = layout.merchant_headers()
    found = columns(header, merchant | layout.worker_headers(), where)
    if missing := [merchant[name] for name in (SKU, *layout.count_columns()) if name not in found]:
        present = ", ".join(text for value in header if (text := cell_text(value).strip()))
        raise StoreLayoutError(
            f"{where}: header row 1 lacks {' and '.join(missing)} "
            f"(found: {present or 'no headers'}); rename the column back to {' and '.join(missing)} "
            "or add the missing header (case and spaces do not matter)"
        )
    return found


@dataclass(frozen=True, slots=True)
class Appends:
    """Where the cells of new Inventory rows go (``append_inventory``), by ``header_key`` of their header."""

    found: Mapping[str, int]  #: header key → the column it has now
    missing: tuple[str, ...]  #: headers to add right of the columns in use, in order
    numbers: frozenset[str]  #: header keys of the count columns, which take numbers
    sku: str  #: header key of the SKU column

    def value(self, key: str, text: str) -> int | str | None:
        """A cell's value: a whole number in a count column as a number, else literal text; blank None."""
        if not text:
            return None
        return cell_value(text) if key in self.numbers else text

    def fresh(self, rows: Sequence[Mapping[str, str]], held: Iterable[str]) -> list[dict[str, str]]:
        """The rows, keyed by header key, less those whose SKU is in ``held`` (SKU cells as stored)."""
        have = {sku_key(text) for text in held} - {""}
        keyed = [{header_key(title): text for title, text in row.items()} for row in rows]
        return [row for row in keyed if sku_key(row.get(self.sku, "")) not in have]


def appends(header: Row, rows: Sequence[Mapping[str, str]], layout: Layout, where: str) -> Appends:
    """Where new rows' cells go by the Inventory's header row as it is now (see ``Appends``).

    Raises:
        StoreLayoutError: the header row lacks SKU or a count column, or repeats a header.
    """
    found = inventory_columns(header, layout, where)
    merchant = layout.merchant_headers()
    sku = header_key(merchant[SKU])
    titles = {sku: merchant[SKU]} | {header_key(title): title for row in rows for title in row}
    at = columns(header, titles, where) | {sku: found[SKU]}
    return Appends(
        at,
        tuple(title for key, title in titles.items() if key not in at),
        frozenset(header_key(merchant[column]) for column in layout.count_columns()),
        sku,
    )


def is_number(value: object) -> bool:
    """A cell value that is a number (not text, not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def records(rows: Sequence[Row], found: Mapping[str, int], *, marks_numbers: bool = False) -> Records:
    """(sheet row, text by logical column) for rows below the header with any text.

    With ``marks_numbers`` (the Inventory), a SKU cell holding a number rather than text also
    sets ``SKU_IS_NUMBER`` (see there).  A row whose cells the last read of the same columns
    held gives the very same dict (never changed): a master is read whole every cycle, most rows
    are as they were, and the core goes on from what it made of them (``parse_ledger``).
    """
    where = tuple(found.items())
    sku_column = found.get(SKU, 0) if marks_numbers else 0
    # Only the last read is kept, whatever its size: a cache of fixed size that a long Ledger
    # overflows would forget every row before it came round again.
    previous = _READS.pop((where, sku_column), {})
    fresh: dict[tuple[object, ...], dict[str, str] | None] = {}
    _READS[(where, sku_column)] = fresh
    for stale in list(_READS)[:-READS_KEPT]:  # the oldest first (a dict keeps its order)
        _READS.pop(stale, None)
    for number, values in enumerate(rows[1:], start=2):
        key: tuple[object, ...] = tuple(values)
        if True in key or False in key:  # TRUE == 1 in Python, yet a checkbox is no count
            key = (key, tuple(type(value) is bool for value in key))
        # One lookup, not two: hashing a whole row is most of the cost of one already read.
        cells = previous.get(key, _UNREAD)
        if cells is _UNREAD:
            cells = _record(values, where, sku_column)
        fresh[key] = cells
        if cells is not None:
            yield number, cells


#: A row ``records`` has no record of (its record may be None: a row with no text).
_UNREAD: dict[str, str] = {}
#: Sheets (by their columns) whose last read ``records`` keeps: the five tabs, and a few more
#: for a process syncing several masters (each keeps what it read last, until pushed out).
READS_KEPT = 16
_READS: dict[tuple[tuple[tuple[str, int], ...], int], dict[tuple[object, ...], dict[str, str] | None]] = {}


def _record(values: Row, found: tuple[tuple[str, int], ...], sku_column: int) -> dict[str, str] | None:
    """One row's text by logical column; None for a row with no text in them."""
    cells = {
        logical: cell_text(values[column - 1]) if column <= len(values) else "" for logical, column in found
    }
    if not any(text.strip() for text in cells.values()):
        return None
    if 0 < sku_column <= len(values) and is_number(values[sku_column - 1]):
        cells[SKU_IS_NUMBER] = "TRUE"
    return cells


def forget_records() -> None:
    """Forget the rows ``records`` and ``snapshot`` remembered: a benchmark's cold cycle.

    (``core.memo.forget`` forgets the core's.)
    """
    _READS.clear()
    _TABS.clear()


def buffer_columns(found: Mapping[str, int]) -> list[int]:
    """The Buffer columns (Buffer and Buffer <Channel>) among an Inventory's columns, left to right."""
    return sorted(c for logical, c in found.items() if logical == BUFFER or logical.startswith("buffer:"))


def percent_text(value: object, number_format: str) -> str | None:
    """A number formatted as a percentage as the merchant sees it (0.1 with ``0%`` → ``10%``); else None.

    A spreadsheet keeps a typed ``10%`` as 0.1, and ``100%`` as 1: only the format tells them apart
    from the units 0.1 and 1.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or "%" not in number_format:
        return None
    decimals = number_format.split("%")[0].partition(".")[2].count("0")
    return f"{value * 100:.{decimals}f}%"


def sku_key(text: str) -> str:
    """A SKU cell as every store matches it against a write's SKU (the core strips SKUs the same way)."""
    return text.strip()


def blank_anchors(rows: Iterable[RawRow], layout: Layout) -> dict[int, tuple[str, ...]]:
    """Rows with a blank SKU, each with its count cells as read: how a write finds them again.

    A row with no SKU cannot be found by its SKU after rows were inserted or deleted; its write
    lands only where the row still has a blank SKU and these same counts.
    """
    counts = layout.count_columns()
    return {
        row.row: tuple(sku_key(row.cells.get(column, "")) for column in counts)
        for row in rows
        if not sku_key(row.cells.get(SKU, ""))
    }


def target_row(
    write: CellWrite,
    rows_by_sku: Mapping[str, Sequence[int]],
    anchors: Mapping[int, tuple[str, ...]] | None = None,
    anchors_now: Mapping[int, tuple[str, ...]] | None = None,
) -> int | None:
    """Where a worker cell goes now: its row if the SKU is still there, else the SKU's one row.

    The merchant may have inserted or deleted rows since the read; None means the SKU is gone
    or repeated, and the write is skipped (the next cycle writes it where it now is).  A write
    for a row with a blank SKU (a flagged row) goes to its row only if that row still has a blank
    SKU and, where ``anchors`` (as read) and ``anchors_now`` are given, the same count cells.
    """
    sku = sku_key(write.sku)
    if not sku and anchors is not None and anchors_now is not None:
        then = anchors.get(write.row)
        return write.row if then is not None and anchors_now.get(write.row) == then else None
    found = rows_by_sku.get(sku, ())
    if write.row in found:
        return write.row
    return found[0] if len(found) == 1 and sku else None


def in_place(write: CellWrite, sku_now: str) -> bool:
    """Whether the write's own row holds its SKU now (``sku_now``): then ``target_row`` gives that row.

    A store that can see that row's SKU alone needs no other row's for the write.
    """
    sku = sku_key(write.sku)
    return bool(sku) and sku_key(sku_now) == sku


def inventory_moved(read: Mapping[str, int], now: Mapping[str, int], writes: Iterable[CellWrite]) -> set[str]:
    """Worker columns written to that the read had and the header row lacks now: skipped this cycle.

    The merchant deleted or renamed one during the cycle; adding it again meanwhile could land on
    a column of theirs, so the next cycle (a fresh read) adds it.
    """
    return {write.column for write in writes if write.column in read and write.column not in now}


# -- the single-writer lease ----------------------------------------------------------------------

#: The State key of the lease: ``<owner> until <UTC time>``, written by ``acquire``.
LEASE_KEY = "lease"
_UNTIL = " until "


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds the master, and until when (a lease not renewed by then is free to take)."""

    owner: str
    until: datetime

    def text(self) -> str:
        """As kept in the State: readable by the merchant."""
        return f"{self.owner}{_UNTIL}{self.until.strftime(TIMESTAMP_FORMAT)}"

    @classmethod
    def parse(cls, text: str) -> Lease | None:
        """The lease in a State value; None when blank or garbled (a free master)."""
        owner, found, until = text.strip().rpartition(_UNTIL)
        if not found or not owner:
            return None
        try:
            return cls(owner, datetime.strptime(until, TIMESTAMP_FORMAT).replace(tzinfo=UTC))
        except ValueError:
            return None


def lease_refusal(held: Lease | None, owner: str, now: datetime, where: str) -> str | None:
    """Why ``owner`` may not write now: another holder whose lease runs past ``now``; else None."""
    if held is None or held.owner == owner or held.until <= now:
        return None
    return (
        f"{where} is held by another sheetsync worker ({held.owner}) until "
        f"{held.until.strftime(TIMESTAMP_FORMAT)}; run one worker per master (stop the other one; "
        "if it is gone, this worker takes over once its lease expires)"
    )


def lease_holder(seen: str, now: datetime, where: str) -> str | None:
    """Who holds the master at ``now`` by a lease's State value (as :func:`lease_refusal` says), or None."""
    return lease_refusal(Lease.parse(seen), "", now, where)


def lease_needs_writing(held: Lease | None, owner: str, now: datetime, ttl_s: float) -> bool:
    """Whether ``acquire`` writes: the lease is not ours, or less than half its time is left."""
    return held is None or held.owner != owner or held.until - now < timedelta(seconds=ttl_s / 2)


def new_lease(owner: str, now: datetime, ttl_s: float) -> Lease:
    """The lease ``owner`` writes at ``now``, whole seconds (as the State keeps it)."""
    return Lease(owner, (now + timedelta(seconds=ttl_s)).astimezone(UTC).replace(microsecond=0))


@dataclass(frozen=True, slots=True)
class Grid:
    """Where things are in a master as read: each sheet's columns and the labelled rows."""

    columns: Mapping[str, Mapping[str, int]]  #: sheet → logical column → 1-based column
    status_rows: Mapping[str, int]  #: header_key(label) → row
    state_rows: Mapping[str, int]  #: key → row
    used_rows: Mapping[str, int]  #: sheet → last row with any text (1 = header only)
    used_columns: Mapping[str, int]  #: sheet → last column with any text in any row


def snapshot(sheets: Mapping[str, Sequence[Row]], layout: Layout, where: str) -> tuple[Snapshot, Grid]:
    """Build the Snapshot from each sheet's rows (row 1 is the header); absent sheets read empty.

    ``sheets`` is a fresh read, never changed afterwards: a sheet whose cells all equal the last
    read's of the same master gives what was made of that one (``_Tab``).
    """
    tabs = {name: _tab(where, name, rows) for name, rows in sheets.items()}
    result, found, status_rows, state_rows = _read(sheets, layout, where, tabs)
    used_rows = {name: tab.used_rows for name, tab in tabs.items()}
    used_columns = {name: tab.used_columns for name, tab in tabs.items()}
    return result, Grid(found, status_rows, state_rows, used_rows, used_columns)


def read_snapshot(sheets: Mapping[str, Sequence[Row]], layout: Layout, where: str) -> Snapshot:
    """The Snapshot alone, for a store that writes without a Grid (it scans every cell)."""
    return _read(sheets, layout, where)[0]


def _made(
    rows: Sequence[Row],
    found: Mapping[str, int],
    make: Callable[[int, dict[str, str]], T],
    *,
    marks_numbers: bool = False,
) -> tuple[T, ...]:
    """Each of ``records(rows, found)`` made by ``make`` (a ``RawRow``, a ``RawLedgerRow``)."""
    return tuple(make(n, cells) for n, cells in records(rows, found, marks_numbers=marks_numbers))


@dataclass(slots=True)
class _Tab:
    """One sheet as read, and what was made of it: its rows by columns, and its used extent.

    A master is read whole every cycle and is mostly as it was: when every cell equals the last
    read's, of the same type (``True == 1``, yet a checkbox is no count), what was made of the
    last read is the answer, with no pass over its rows.
    """

    rows: Sequence[Row]
    #: a digest of every cell's value and type (``_told``)
    told: int
    used_rows: int
    used_columns: int
    #: (columns, marks_numbers, how a row is made) → the rows ``records`` gave, made
    made: dict[tuple[object, ...], tuple[Any, ...]]

    def of(
        self,
        found: Mapping[str, int],
        make: Callable[[int, dict[str, str]], T],
        *,
        marks_numbers: bool = False,
    ) -> tuple[T, ...]:
        """``records(rows, found)``, each made by ``make``: worked out once for the same columns."""
        key = (tuple(found.items()), marks_numbers, make)
        if key not in self.made:
            self.made[key] = _made(self.rows, found, make, marks_numbers=marks_numbers)
        return self.made[key]


def _tab(where: str, name: str, rows: Sequence[Row]) -> _Tab:
    """Sheet ``name`` of master ``where`` as read now: the last read's ``_Tab`` if nothing changed."""
    told = _told(rows)
    last = _TABS.pop((where, name), None)
    if last is None or last.rows is rows or last.told != told or last.rows != rows:
        lasts = [_last_cell(row) for row in rows]
        used = max((n for n, cell in enumerate(lasts, start=1) if cell), default=1)
        last = _Tab(rows, told, used, max(lasts, default=0), {})
    _TABS[(where, name)] = last
    for stale in list(_TABS)[:-READS_KEPT]:  # the oldest first
        _TABS.pop(stale, None)
    return last


def _told(rows: Sequence[Row]) -> int:
    """What tells two reads of a tab apart where ``==`` does not: ``True == 1 == 1.0``.

    The cells as JSON (orjson, in one pass in C: a third of the time of listing every cell's
    type) keep ``true``, ``1`` and ``1.0`` apart. Values JSON holds only as something else (a
    date as its ISO text, a workbook's rich text as its parts) fall back to every cell's type.
    Only a digest of them is kept: the JSON of a 100,000-row tab is about 27 MB, and it was held
    twice while a changed read was made beside the last. Python's SipHash of the bytes, 64 bits:
    two reads equal by ``==`` whose types differ give one digest once in 2**64.
    """
    try:
        return hash(orjson.dumps(rows, option=_PASS_THROUGH))
    except orjson.JSONEncodeError:
        return hash(tuple(map(type, chain.from_iterable(rows))))


#: orjson refuses these instead of writing them as JSON's str, list or object (``_told``).
_PASS_THROUGH = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
)
#: The last read of each sheet of each master (``_tab``), a few masters' worth (``READS_KEPT``).
_TABS: dict[tuple[str, str], _Tab] = {}


def _read(
    sheets: Mapping[str, Sequence[Row]], layout: Layout, where: str, tabs: Mapping[str, _Tab] | None = None
) -> tuple[Snapshot, dict[str, dict[str, int]], dict[str, int], dict[str, int]]:
    def rows_of(
        name: str,
        found: Mapping[str, int],
        make: Callable[[int, dict[str, str]], T],
        *,
        marks_numbers: bool = False,
    ) -> tuple[T, ...]:
        if tabs is not None and name in tabs:
            return tabs[name].of(found, make, marks_numbers=marks_numbers)
        return _made(sheets.get(name, []), found, make, marks_numbers=marks_numbers)

    inventory = sheets.get(INVENTORY_SHEET, [])
    inventory_cols = inventory_columns(
        inventory[0] if inventory else (), layout, f"{where}, sheet {INVENTORY_SHEET}"
    )
    tables = {
        name: columns(rows[0] if (rows := sheets.get(name, [])) else (), headers, f"{where}, sheet {name}")
        for name, headers in (
            (LEDGER_SHEET, LEDGER_HEADERS),
            (STATUS_SHEET, STATUS_HEADERS),
            (STATE_SHEET, STATE_HEADERS),
            (BUNDLES_SHEET, BUNDLE_HEADERS),
        )
    }
    titles = {header_key(title): name for name, title in layout.channels}
    channels: dict[ChannelName, str] = {}
    status_rows: dict[str, int] = {}
    guard = ""
    for number, cells in records(sheets.get(STATUS_SHEET, []), tables[STATUS_SHEET]):
        label, control = header_key(cells.get("channel", "")), cells.get("control", "")
        status_rows.setdefault(label, number)
        if label in titles:
            channels[titles[label]] = control
        elif label == header_key(GUARD_ROW_LABEL):
            guard = control
    state: dict[str, str] = {}
    state_rows: dict[str, int] = {}
    for number, cells in records(sheets.get(STATE_SHEET, []), tables[STATE_SHEET]):
        if key := cells.get("key", "").strip():
            state.setdefault(key, cells.get("value", ""))
            state_rows.setdefault(key, number)
    result = Snapshot(
        rows=rows_of(INVENTORY_SHEET, inventory_cols, RawRow, marks_numbers=True),
        ledger=rows_of(LEDGER_SHEET, tables[LEDGER_SHEET], RawLedgerRow),
        control=StatusControl(channels, guard),
        state=state,
        bundles=rows_of(BUNDLES_SHEET, tables[BUNDLES_SHEET], RawRow),
        ledger_found=LEDGER_SHEET in sheets and "key" in tables[LEDGER_SHEET],
    )
    return result, {INVENTORY_SHEET: inventory_cols, **tables}, status_rows, state_rows


def split_lease(result: Snapshot) -> tuple[Snapshot, str]:
    """The Snapshot without the lease (the store's, not the worker's), and the lease's State value."""
    if LEASE_KEY not in result.state:
        return result, ""
    state = dict(result.state)
    lease = state.pop(LEASE_KEY)
    return replace(result, state=state), lease


def acquire_lease(
    owner: str,
    now: datetime,
    ttl_s: float,
    where: str,
    *,
    seen: str | None,
    fetch: Callable[[], str],
    write: Callable[[str], str | None],
    confirm: bool,
) -> str | None:
    """The lease protocol every store follows; None when ``owner`` holds the master now.

    ``seen`` is the lease's State value from a read made just before (None: ``fetch`` it, one
    read).  Nothing is written while ``owner`` holds it with more than half its time left; else
    ``write`` puts ``owner`` in it for ``ttl_s``.  A store without compare-and-set (``confirm``)
    fetches it just before taking it and once more after: of two workers that both found it
    free, the one whose write landed last wins, and the other sees that and stands down.  Only
    when both fetch before either writes, and one confirms before the other writes, do both go
    on, for one cycle: the next read shows the loser the winner's lease.  A store that can compare and set
    (the workbook) checks inside ``write``, which then answers the refusal instead of None.
    """
    held = Lease.parse(fetch() if seen is None else seen)
    if confirm and seen is not None and (held is None or held.owner != owner):
        held = Lease.parse(fetch())  # taking it: as it is now, not as the read saw it
    if refusal := lease_refusal(held, owner, now, where):
        return refusal
    if not lease_needs_writing(held, owner, now, ttl_s):
        return None
    if refusal := write(new_lease(owner, now, ttl_s).text()):
        return refusal
    if confirm and (held is None or held.owner != owner):
        won = Lease.parse(fetch())
        if won is None or won.owner != owner:
            return lease_refusal(won, owner, now, where) or (
                f"{where}: another sheetsync worker took the lease at the same moment; this one stands down"
            )
    return None


def release_lease(owner: str, fetch: Callable[[], str], write: Callable[[str], object]) -> None:
    """Clear the lease if ``owner`` holds it (one read, and one write if so): the next worker may start."""
    held = Lease.parse(fetch())
    if held is not None and held.owner == owner:
        write("")


def labelled(rows: Sequence[Row], sheet_name: str, where: str) -> tuple[dict[str, int], dict[str, int], int]:
    """A Status or State tab as it is now: its columns, the row of each label, its last used row.

    Labels are keyed as ``snapshot`` keys them: ``header_key`` of a Status label, a State key stripped.
    """
    headers, label, key = (
        (STATUS_HEADERS, "channel", header_key)
        if sheet_name == STATUS_SHEET
        else (STATE_HEADERS, "key", str.strip)
    )
    found = columns(rows[0] if rows else (), headers, f"{where}, sheet {sheet_name}")
    at: dict[str, int] = {}
    for number, cells in records(rows, found):
        if text := key(cells.get(label, "")):
            at.setdefault(text, number)
    return found, at, _last_row(rows)


def _last_row(rows: Sequence[Row]) -> int:
    """The last row with any text; 1 (the header) if none."""
    return max((n for n, row in enumerate(rows, start=1) if _last_cell(row)), default=1)


def _last_cell(row: Row) -> int:
    """1-based column of the last cell with any text; 0 if none (from the end: it is usually there)."""
    for column in range(len(row), 0, -1):
        if cell_text(row[column - 1]).strip():
            return column
    return 0


def status_rows(
    channels: Sequence[ChannelStatus], guard: GuardStatus | None
) -> list[tuple[str, dict[str, str]]]:
    """The Status rows to write, as (label, text by logical column).

    Every column but Control, which is the merchant's; the exceptions are the guard's ACCEPT,
    consumed once acted on, and a pause or resume from the dashboard, which types into it.
    """
    rows = []
    for s in channels:
        values = {
            "channel": s.title,
            "state": s.state,
            "last_sync": s.last_sync,
            "last_ok": s.last_ok,
            "lag_p50": s.lag_p50,
            "lag_p95": s.lag_p95,
            "pushed": str(s.pushed),
            "errors": str(s.errors),
            "message": s.message,
        }
        if s.control is not None:
            values["control"] = s.control
        rows.append((s.title, values))
    if guard:
        values = {"channel": GUARD_ROW_LABEL, "state": guard.state, "last_sync": guard.checked}
        values["message"] = guard.message
        if guard.consume_accept:
            values["control"] = ""
        rows.append((GUARD_ROW_LABEL, values))
    return rows


# -- archiving the Ledger's first rows ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fold:
    """The Ledger's first ``folded`` rows as the Ledger holds them now, ready to move."""

    end: int  #: sheet row of the last folded row: rows 2 to ``end`` leave the Ledger
    moved: tuple[Row, ...]  #: each of those rows with any text, as stored, for the archive
    archived: bool  #: the archive's last rows already are these (a retry after a kill)


def plan_fold(
    ledger: Sequence[Row],
    archive_keys: Sequence[str],
    folded: int,
    checkpoint: Sequence[str],
    expected: Sequence[str] | None,
    where: str,
) -> Fold | None:
    """What ``archive_ledger`` has left to do; None when it was done already.

    ``ledger`` is the Ledger's rows from its header down to at least the last folded row,
    ``archive_keys`` the archive's Keys top to bottom (blanks left out), ``checkpoint`` the Keys
    that replace the folded rows and ``expected`` the Keys of the folded rows as they were read
    (None: whatever is there now).  Done means the Ledger starts with the checkpoint and the
    archive ends with the rows that were read: a repeat after an answer was lost.

    Raises:
        ValueError: ``folded`` is below 1, or ``expected`` does not hold ``folded`` Keys.
        StoreLayoutError: the Ledger has no Key column, or its first rows are not those read.
    """
    if folded < 1 or (expected is not None and len(expected) != folded):
        raise ValueError(f"archive at least one row, with one key per row: {folded} rows, keys {expected}")
    sheet = f"{where}, sheet {LEDGER_SHEET}"
    found = columns(ledger[0] if ledger else (), LEDGER_HEADERS, sheet)
    if "key" not in found:
        raise StoreLayoutError(
            f"{sheet}: header row 1 has no Key column; restore the Key header so the Ledger can be archived"
        )
    rows = list(records(ledger, found))
    keys = [cells.get("key", "") for _, cells in rows]
    head = keys[:folded]
    if len(head) == folded and (expected is None or head == list(expected)):
        end = rows[folded - 1][0]
        moved = tuple(row for row in ledger[1:end] if _last_cell(row))
        moved_keys = [key for row in moved if (key := _cell(row, found["key"]))]
        archived = bool(moved_keys) and list(archive_keys[-len(moved_keys) :]) == moved_keys
        return Fold(end, moved, archived)
    wanted = [key for key in expected or () if key]
    if (
        wanted
        and keys[: len(checkpoint)] == list(checkpoint)
        and list(archive_keys[-len(wanted) :]) == wanted
    ):
        return None
    read = f"{_keys(expected)} were read" if expected is not None else f"{folded} rows were asked for"
    raise StoreLayoutError(
        f"{sheet}: its first rows are not the ones read ({_keys(head)} where {read}): a row was "
        "inserted, deleted or sorted above them since; nothing was archived, and the next cycle "
        "archives from a fresh read. Add Ledger rows at the bottom only, and do not sort it"
    )


def archive_keys(rows: Sequence[Row], where: str) -> list[str]:
    """The Keys of an archive (its header row first), top to bottom, blanks left out."""
    if not rows:
        return []
    column = archive_key_column(rows[0], where)
    return [key for row in rows[1:] if (key := _cell(row, column))]


def archive_key_column(header: Row, where: str) -> int:
    """The archive's Key column (1-based), from its header row."""
    found = columns(header, {"key": LEDGER_HEADERS["key"]}, f"{where}, sheet {ARCHIVE_SHEET}")
    if "key" not in found:
        raise StoreLayoutError(
            f"{where}, sheet {ARCHIVE_SHEET}: header row 1 has no Key column; restore the Key header "
            "(the archive has the Ledger's headers) so old rows can be added to it"
        )
    return found["key"]


def expected_keys(
    folded: int, keys: Sequence[str] | None, read: Sequence[str] | None
) -> Sequence[str] | None:
    """The Keys the Ledger's first ``folded`` rows must still have: the caller's, else the last read's.

    None when neither is known (nothing was read): whatever the Ledger holds is archived.
    """
    if keys is not None or read is None:
        return keys
    if len(read) < folded:
        raise ValueError(f"{folded} Ledger rows to archive, but the last read saw {len(read)}")
    return read[:folded]


def merchant_spans(header: Row, worker: Iterable[int]) -> list[tuple[int, int]]:
    """The runs of the header's columns (first, last; 1-based) that are not the ``worker``'s."""
    theirs = set(worker)
    spans: list[tuple[int, int]] = []
    for column in range(1, len(header) + 1):
        if column in theirs:
            continue
        if spans and spans[-1][1] == column - 1:
            spans[-1] = (spans[-1][0], column)
        else:
            spans.append((column, column))
    return spans


def column_cells(rows: Sequence[Row], column: int, first: int = 1) -> list[object]:
    """Column ``column`` of ``rows`` (whose first column is ``first``), trailing blanks dropped."""
    index = column - first
    cells = [row[index] if index < len(row) else "" for row in rows]
    while cells and cells[-1] == "":
        cells.pop()
    return cells


def same_cells(rows: Sequence[Row], other: Sequence[Row]) -> bool:
    """Equal cell for cell, and of the same types (``True == 1`` in Python, yet a checkbox is no count)."""
    return rows == other and _told(rows) == _told(other)


def merged(
    kept: Sequence[Row], spans: Sequence[tuple[int, int]], parts: Sequence[Sequence[Row]]
) -> list[list[object]]:
    """A tab as a whole read gives it: ``spans`` from ``parts`` (rows from row 2), the rest from ``kept``.

    Like Sheets, no row ends with a blank cell and the tab ends with its last row that has one.
    """
    header = kept[0]
    count = max([len(kept) - 1, *map(len, parts)])
    width = max([len(header), *(last for _, last in spans)])
    blanks: list[object] = [""] * width
    old = [*kept[1:], *([()] * (count + 1 - len(kept)))]
    columns = [[*part, *([()] * (count - len(part)))] for part in parts]
    if len(spans) == 1 and spans[0][0] == 1:  # the merchant's columns first, as the template has them
        last = spans[0][1]
        rows = [
            [*fresh, *blanks[len(fresh) : last], *line[last:]]
            for fresh, line in zip(columns[0], old, strict=True)
        ]
    else:
        rows = [[] for _ in range(count)]
        done = 0  #: columns placed so far
        for (first, last), column in zip(spans, columns, strict=True):
            # Each span in one pass over the rows: what is left before it from the kept row, then the part.
            rows = [
                [
                    *row,
                    *line[done : first - 1],
                    *blanks[len(row) + len(line[done : first - 1]) : first - 1],
                    *fresh,
                    *blanks[len(fresh) : last - first + 1],
                ]
                for row, line, fresh in zip(rows, old, column, strict=True)
            ]
            done = last
        rows = [[*row, *line[done:]] for row, line in zip(rows, old, strict=True)]
    for row in (row for row in rows if row and row[-1] == ""):
        while row and row[-1] == "":
            row.pop()
    while rows and not rows[-1]:
        rows.pop()
    return [list(header), *rows]


def last_cell(row: Row) -> int:
    """1-based column of the last cell with any text; 0 if none."""
    return _last_cell(row)


def archive_columns(
    ledger_header: Row, archive_header: Row, moved: Sequence[Row]
) -> tuple[dict[int, int], dict[int, str]]:
    """Where each Ledger column (1-based) goes in the archive, and the archive headers to add.

    A titled column goes under the same title; an untitled one holding text keeps its place where
    the archive's is untitled too.  Any other gets a new column right of the archive's last header.
    """
    titles = [cell_text(value).strip() for value in archive_header]
    by_title: dict[str, int] = {}
    for column, title in enumerate(titles, start=1):
        if title:
            by_title.setdefault(header_key(title), column)
    span = max((column for column, title in enumerate(titles, start=1) if title), default=0)
    width = max([_last_cell(ledger_header), *(_last_cell(row) for row in moved)])
    placed: dict[int, int] = {}
    pending: list[tuple[int, str]] = []
    for column in range(1, width + 1):
        title = _cell(ledger_header, column).strip()
        if title and header_key(title) in by_title:
            placed[column] = by_title.pop(header_key(title))
        elif not title and column <= span and not titles[column - 1]:
            placed[column] = column
        elif title or any(_cell(row, column).strip() for row in moved):
            pending.append((column, title))
    free = max([span, *placed.values()]) + 1
    added: dict[int, str] = {}
    for offset, (column, title) in enumerate(pending):
        placed[column] = free + offset
        added[free + offset] = title
    return placed, added


def _cell(row: Row, column: int) -> str:
    return cell_text(row[column - 1]) if column <= len(row) else ""


def _keys(keys: Sequence[str] | None) -> str:
    shown = [repr(key) for key in (keys or ())[:3]]
    more = len(keys or ()) - len(shown)
    return "keys " + ", ".join(shown) + (f" and {more} more" if more > 0 else "") if shown else "no rows"
