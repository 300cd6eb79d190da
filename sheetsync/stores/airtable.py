"""Airtable as the master: Inventory, Ledger, Status and State are tables of one base.

Every table reads as a grid (field names as the header, one record per row) so the parsing is
the one the sheet stores share (``_grid``).  Rows are numbered as Airtable numbers them in the
grid view: the first record is row 1.  Writes go by record id and PATCH only the worker's
fields, so a merchant's edit made meanwhile survives.

Airtable allows 5 requests per second per base (and 50 per token across bases) and answers a
429 after which the base is closed for 30 s; plans cap calls per month.  Every request goes
through one paced adapter that keeps to the rates, waits the penalty out and counts calls
against the configured monthly budget.  The rates are allowances from :mod:`sheetsync.pacing`,
named by base and by token: under ``sheetsync.fleet`` every worker draws from the same ones.

Reading every record each cycle would spend a Team plan's monthly calls in a day, so once the
store has written its status (it is a worker's, not a one-off command's) it watches the base
through a webhook, created without a notification URL (the store polls it).  Later reads ask only
for the payloads since its cursor, one call when nothing changed, and apply them to the records
it holds.  Every table is listed again at the first read, the first after the webhook is set
up, every ``reconcile_s`` (6 hours), and whenever the payloads cannot be trusted: the webhook
gone, expired or in error, a page that might have more, a gap in the cursor, or a change of
fields or tables.  Reads alone never create anything: ``doctor`` and ``import`` leave no
webhook behind.

A quiet cycle still changes its Status times and the worker's watches, which would cost two
writes a cycle, more than its read.  So ``write_status`` holds back an update whose changes are
all of the quiet kind, and nothing else (no Inventory cell, no report, no record to create):
Status fields ``QUIET_STATUS_FIELDS`` (Last sync, Last success, the lag texts that
``core.plan.channel_statuses`` and ``guard_status`` refresh each cycle; on the calls row its
message too, which is the count), and State keys ``watch:<channel>`` (``core.state.state_cells``)
and the store's call count.  Held writes are laid over the records held, so the next read
returns them as if written, and go out together (one PATCH a table) with the first update
that is not quiet, or once ``quiet_write_s`` (10 minutes) has passed since the last write went
out.  A Status row's State word, message or counts, ``ledger_applied``, the guard's baseline,
read marks, incidents, ``live``, ``fold``, reports and the lease are never held.  Losing what is held (the
process killed) is harmless: the next worker reads a watch up to 10 minutes old, so it audits a
slice again, misses some lag samples and shows an older last-OK time, and the call count misses
those minutes' calls; never a stock count, a ledger position or an incident.

Ledger records are created ten a request, and a request whose answer is lost (a timeout, a
dropped connection, a 5xx, a garbled body) may have landed: before repeating it the store asks
for the records holding its Keys (one filtered list) and creates only the missing ones.

The store does not archive the Ledger (it is no ``ArchivingStore``): records have no position,
so a checkpoint cannot take the place of the rows it replaces, and no request spans more than ten
records, so moving thousands of rows could stop halfway and leave the Ledger meaning something
else.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

import pyairtable
import requests
from pyairtable.api.types import UpdateRecordDict
from pyairtable.formulas import EQ, OR, Field
from pyairtable.models.schema import SingleSelectFieldSchema, TableSchema
from requests.adapters import BaseAdapter, HTTPAdapter

from sheetsync import retry
from sheetsync.errors import PermanentError, StoreLayoutError, TransientError
from sheetsync.model import (
    INVENTORY_SHEET,
    LEDGER_SHEET,
    QUANTITY,
    SKU,
    STATE_HEADERS,
    STATE_SHEET,
    STATUS_HEADERS,
    STATUS_SHEET,
    TIMESTAMP_FORMAT,
    CellWrite,
    Layout,
    LedgerEntry,
    Report,
    Snapshot,
    StatusUpdate,
    header_key,
    ledger_cells,
)
from sheetsync.pacing import Pacer, Quotas, Usage, month_of
from sheetsync.stores._grid import (
    LEASE_KEY,
    SHEETS,
    Grid,
    OutcomeUnknown,
    acquire_lease,
    appends,
    cell_text,
    cell_value,
    is_number,
    lease_holder,
    release_lease,
    sku_key,
    snapshot,
    split_lease,
    status_rows,
)
from sheetsync.stores._template import field_specs

log = logging.getLogger(__name__)

API_URL = "https://api.airtable.com"
RATE_PER_SECOND = 5  #: requests per second per base (Airtable's limit)
TOKEN_RATE_PER_SECOND = 50  #: requests per second per access token, across its bases (same page)
#: We keep each rate's requests to any 1.1 s: requests leave on time but arrive with jitter, and
#: Airtable counts arrivals.  The cost is 10% of the allowed rate.
RATE_WINDOW_S = 1.1
PENALTY_S = 30.0  #: after a 429 the base refuses every request this long
#: A 429 is waited out (30 s) twice before the cycle gives up; 5xx and timeouts back off.
ATTEMPTS = 3
RECORDS_PER_REQUEST = 10  #: Airtable's limit for create and update
#: Past the monthly budget's pace, the Status rows are written at most this often.
SLOW_STATUS_S = 600.0
#: The State key holding this month's call count, as ``YYYY-MM:count``.
CALLS_KEY = "airtable_calls"
#: A quiet cycle's Status and State writes wait in the store at most this long (see ``write_status``).
QUIET_WRITE_S = 600.0
#: The Status fields a quiet cycle changes: times and lag texts (``core.plan.channel_statuses``,
#: ``guard_status``).  The State word, the message and the counts are never among them.
QUIET_STATUS_FIELDS = frozenset({"last_sync", "last_ok", "lag_p50", "lag_p95"})
#: The State keys a quiet cycle changes: a channel's watch (``core.state.WATCH_PREFIX``; the
#: stores may not import the core), and the store's own call count.
QUIET_STATE_PREFIX = "watch:"
#: The Status row that reports the month's calls.
CALLS_ROW_LABEL = "Airtable calls"
#: Field types the worker writes numbers into; every other type takes text.
NUMBER_TYPES = frozenset({"number", "currency", "percent", "rating", "duration"})
#: Worker fields are created as text: any message fits, and the merchant may retype them
#: (a number field, or a single select to colour the Status).
NEW_FIELD = {"type": "singleLineText"}
#: What the store's webhook reports: records with every cell value, and field and table changes
#: (after which the store lists everything again).  Listing its payloads needs webhook:manage,
#: data.records:read (tableData) and schema.bases:read (tableFields, tableMetadata).
WEBHOOK_SPEC: Mapping[str, Any] = {
    "options": {
        "filters": {"dataTypes": ["tableData", "tableFields", "tableMetadata"]},
        "includes": {"includeCellValuesInFieldIds": "all"},
    }
}
#: How often every table is listed again though the payloads showed every change.
RECONCILE_S = 6 * 3600.0
#: A webhook expires this long after it was created, refreshed or its payloads were listed, and
#: payloads are deleted this long after they were made (create a webhook; list webhook payloads).
WEBHOOK_LIFE = timedelta(days=7)
#: Changes to a table's shape: the store lists it again rather than patch its schema.
RESHAPES = ("changedMetadata", "createdFieldsById", "changedFieldsById", "destroyedFieldIds")
#: The Airtable error types that name one bad field of one record.
FIELD_ERRORS = frozenset(
    {"INVALID_VALUE_FOR_COLUMN", "UNKNOWN_FIELD_NAME", "INVALID_MULTIPLE_CHOICE_OPTIONS"}
)


class PacedAdapter(BaseAdapter):
    """Every request to the base: kept under its allowances, a 429 waited out, each one counted.

    Wraps the adapter that really sends (``HTTPAdapter``, or a fake's in tests).  pyairtable's
    own retry gives up after ~3 s, far inside Airtable's 30 s penalty, so it is switched off and
    this adapter retries with the house policy instead, except inside ``single()``.
    """

    def __init__(self, inner: BaseAdapter, base: Pacer, token: Pacer, sleep: Callable[[float], None]) -> None:
        super().__init__()
        self.inner, self._base, self._token, self._sleep = inner, base, token, sleep
        # Start with the base's window spent: the process before us (`init`, then `sync`) may have
        # just spent this second's requests, and a 429 costs 30 s where waiting costs one.
        base.drain()
        self.calls = 0  #: requests sent, retries included: Airtable counts each one
        self._single = False

    @property
    def sleep(self) -> Callable[[float], None]:
        """How this adapter waits (injected: tests never wait)."""
        return self._sleep

    @contextmanager
    def single(self) -> Iterator[None]:
        """Send each request inside once, paced: the caller retries, having looked first.

        A failure after which the request may have landed raises ``OutcomeUnknown``.
        """
        self._single = True
        try:
            yield
        finally:
            self._single = False

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        """Send ``request`` at the allowed pace, retrying 429, 5xx and network failures."""
        if self._single:
            return self._attempt(request, *args, **kwargs)
        return retry.call(lambda: self._attempt(request, *args, **kwargs), self._sleep, ATTEMPTS)

    def close(self) -> None:
        """Close the wrapped adapter."""
        self.inner.close()

    def _attempt(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self._base.wait()
        self._token.wait()
        self.calls += 1
        try:
            response = self.inner.send(request, *args, **kwargs)
        except requests.ConnectTimeout:
            raise TransientError("Airtable unreachable (ConnectTimeout)") from None
        except (requests.ConnectionError, requests.Timeout) as error:
            # Sent, perhaps applied: a ledger create looks before it repeats (see the store).
            raise OutcomeUnknown(f"Airtable unreachable ({type(error).__name__})") from None
        if response.status_code == 429:
            self._base.drain()  # every worker on this base holds back, not only this one
            raise TransientError("Airtable rate limit (429): waiting out its 30 s penalty", PENALTY_S)
        if response.status_code >= 500:
            raise OutcomeUnknown(f"Airtable answered {response.status_code}")
        if response.ok and "json" in response.headers.get("Content-Type", ""):
            try:
                response.json()
            except requests.JSONDecodeError:
                # Cut short or garbled on the way (pyairtable would raise it raw): it did apply.
                raise OutcomeUnknown("Airtable answered with broken JSON") from None
        return response


def connect(
    token: str,
    *,
    base: str = "",
    base_url: str | None = None,
    inner: BaseAdapter | None = None,
    quotas: Quotas | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[pyairtable.Api, PacedAdapter]:
    """A pyairtable client for ``base`` whose every request goes through a ``PacedAdapter``.

    ``base_url`` points it at another host (the local fake); ``inner`` replaces the adapter that
    really sends (tests serve the fake in-process).  ``quotas`` keeps the base's and the token's
    allowances (by default in this process; ``sheetsync.fleet`` shares them across workers).
    """
    quotas = quotas or Quotas()
    # The token keys its allowance without being shown (a Redis key is no place for a secret).
    holder = hashlib.sha256(token.encode()).hexdigest()[:16]
    paced = PacedAdapter(
        inner or HTTPAdapter(),
        quotas.window(f"airtable:{base}", RATE_PER_SECOND, RATE_WINDOW_S, clock, sleep),
        quotas.window(f"airtable:token:{holder}", TOKEN_RATE_PER_SECOND, RATE_WINDOW_S, clock, sleep),
        sleep,
    )
    api = pyairtable.Api(token, retry_strategy=None, endpoint_url=base_url or API_URL)
    for prefix in ("https://", "http://"):
        api.session.mount(prefix, paced)
    return api, paced


@dataclass(frozen=True, slots=True)
class _Table:
    """One table as read: its fields in schema order and its records in table order."""

    schema: TableSchema
    records: list[dict[str, Any]]

    @property
    def fields(self) -> list[str]:
        """The real field names, in schema order (the grid's columns)."""
        return [f.name for f in self.schema.fields]

    def kind(self, field: str) -> str:
        """The Airtable type of ``field`` (text if unknown)."""
        return next((f.type for f in self.schema.fields if f.name == field), "singleLineText")

    def choices(self, field: str) -> set[str]:
        """The options of a single-select field."""
        for f in self.schema.fields:
            if f.name == field and isinstance(f, SingleSelectFieldSchema):
                return {choice.name for choice in f.options.choices}
        return set()


@dataclass(slots=True)
class _Writes:
    """One table's writes: fields by record id to PATCH, records to create (typed, by field name)."""

    updates: dict[str, dict[str, Any]]
    creates: list[dict[str, Any]]
    quiet: bool  #: every change is one a quiet cycle makes, and nothing is created


class AirtableStore:
    """A ``MasterStore`` over an Airtable base, reached with a personal access token.

    The token needs ``data.records:read``, ``data.records:write`` and ``schema.bases:read`` on
    the base; ``schema.bases:write`` too for ``prepare`` and for adding missing worker fields;
    ``webhook:manage`` for incremental reads (without it every read lists every table).
    ``fields`` renames our default field names (``{"Quantity": "Stock"}``).  ``quiet_write_s``
    is how long a quiet cycle's writes may wait (see the module).
    """

    def __init__(
        self,
        api: pyairtable.Api,
        base_id: str,
        layout: Layout,
        *,
        paced: PacedAdapter,
        fields: Mapping[str, str] | None = None,
        monthly_budget: int | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        reconcile_s: float = RECONCILE_S,
        quiet_write_s: float = QUIET_WRITE_S,
    ) -> None:
        self.layout, self.base_id = layout, base_id
        self._base = api.base(base_id)
        self._paced, self._now, self._budget = paced, now, monthly_budget
        self._ours = {header_key(theirs): ours for ours, theirs in (fields or {}).items()}
        self._theirs = {header_key(ours): theirs for ours, theirs in (fields or {}).items()}
        self._tables: dict[str, _Table] = {}
        self._specs = field_specs(layout)
        self._grid: Grid | None = None
        self._usage: Usage | None = None
        self._counted = 0  #: the adapter's calls already added to the usage
        self._status_written: datetime | None = None
        self._lease = ""  #: the lease's State value as last read
        self._lease_fresh = False  #: ``_lease`` comes from a read() no acquire() has used yet
        self._lease_record: str | None = None  #: the lease's State record, once known
        self._state_seen: dict[str, str] = {}  #: the State as last read, to write only what changed
        self._reconcile = timedelta(seconds=reconcile_s)
        self._listed: datetime | None = None  #: when every table was last listed
        self._hook: str | None = None  #: the store's webhook, while its payloads can be trusted
        self._hook_expires = datetime.min.replace(tzinfo=UTC)
        self._cursor = 1  #: the next payload to read; taken before the listing it follows
        self._watch_after: datetime | None = None  #: a webhook that could not be set up waits
        self._writer = False  #: status was written: a worker's store, which watches the base
        self._quiet_write = timedelta(seconds=quiet_write_s)
        #: Quiet writes not sent yet: table -> record id -> typed value by field name.
        self._held: dict[str, dict[str, dict[str, Any]]] = {}
        self._sent: datetime | None = None  #: when Status and State writes last went out

    @property
    def where(self) -> str:
        """How messages name this base."""
        return f"Airtable base {self.base_id}"

    def read(self) -> Snapshot:
        """The changes since the last read (one call if none), or every table (see the module).

        Either way the Snapshot is built from the records as a full read lists them.
        """
        if not self._caught_up():
            self._list_all()
        self._lay_held()
        return self._snapshot()

    def _list_all(self) -> None:
        """The base's schema, then every record of the tables, 100 a page (the API's most).

        A worker's store sets its webhook up (or checks it) first, so the changes made while
        listing come in the next payloads.
        """
        now = self._now()
        due = self._listed is not None and now - self._listed >= self._reconcile
        if self._writer and (due or not self._watching(now)):
            self._watch(now)
        schemas = self._schemas()
        if INVENTORY_SHEET not in schemas:
            raise StoreLayoutError(
                f"{self.where} has no table {INVENTORY_SHEET} (found: {', '.join(schemas) or 'none'}); "
                f"rename your inventory table back to {INVENTORY_SHEET}, "
                "or run `sheetsync init --airtable-base ID`"
            )
        self._tables = {
            name: _Table(
                schemas[name], self._call(partial(self._base.table(schemas[name].id).all, page_size=100))
            )
            for name in SHEETS
            if name in schemas
        }
        self._listed = now

    def _snapshot(self) -> Snapshot:
        """The Snapshot of the records held, numbered as Airtable numbers them."""
        sheets = {name: self._grid_rows(table) for name, table in self._tables.items() if name in SHEETS}
        result, self._grid = snapshot(sheets, self.layout, self.where)
        self._state_seen = dict(result.state)
        month = month_of(self._now())
        if self._usage is None or self._usage.month != month:
            self._usage = Usage.parse(result.state.get(CALLS_KEY, ""), month)
        result, self._lease = split_lease(result)
        self._lease_fresh = True
        # Airtable numbers records from 1: one less than the grid, whose row 1 is the header.
        rows = tuple(replace(row, row=row.row - 1) for row in result.rows)
        ledger = tuple(replace(row, row=row.row - 1) for row in result.ledger)
        bundles = tuple(replace(row, row=row.row - 1) for row in result.bundles)
        state = {k: v for k, v in result.state.items() if k != CALLS_KEY}  # the store's, not the worker's
        return replace(result, rows=rows, ledger=ledger, state=state, bundles=bundles)

    def acquire(self, owner: str, now: datetime, ttl_s: float) -> str | None:
        """Take or renew the single-writer lease, the State record ``lease`` (see ``LeasedStore``).

        Right after ``read()``: no call while ``owner`` holds it with more than half of ``ttl_s``
        left, one PATCH (or create) to renew it, and to take it that plus one filtered list to
        confirm (Airtable has no compare-and-set).  Should two workers each create a ``lease``
        record, both go by the oldest one.
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
            confirm=True,
        )

    def holder(self, now: datetime) -> str | None:
        """Who holds the lease at ``now`` as the last read() saw it (see ``LeasedStore``)."""
        return lease_holder(self._lease, now, self.where)

    def release(self, owner: str) -> None:
        """Send the quiet writes held back, then clear the lease if ``owner`` holds it.

        A worker stopping cleanly leaves its last watch behind: the next one starts from it.
        """
        for name, held in self._held.items():
            self._send(name, held, _Writes({}, [], quiet=True))
        self._held = {}
        release_lease(owner, self._fetch_lease, self._write_lease)

    def _fetch_lease(self) -> str:
        """The lease's value now: one filtered list of the State (none without the table)."""
        if STATE_SHEET not in self._tables:
            schemas = self._schemas()
            if STATE_SHEET not in schemas:
                self._lease_record = None
                return ""
            self._tables[STATE_SHEET] = _Table(schemas[STATE_SHEET], [])
        table = self._tables[STATE_SHEET]
        columns = self._columns(table, STATE_HEADERS)
        if "key" not in columns or "value" not in columns:
            self._lease_record = None
            return ""
        target = self._base.table(table.schema.id)
        formula = EQ(Field(columns["key"]), LEASE_KEY)
        found = self._call(partial(target.all, formula=formula, page_size=100))
        oldest = min(found, key=lambda r: (str(r.get("createdTime", "")), str(r["id"])), default=None)
        self._lease_record = None if oldest is None else str(oldest["id"])
        return "" if oldest is None else _text(oldest["fields"].get(columns["value"]))

    def _write_lease(self, text: str) -> None:
        """Put the lease's value: one PATCH of its record, or one create (the State table if missing)."""
        if self._lease_record is None and STATE_SHEET in self._tables:
            table = self._tables[STATE_SHEET]
            rows = self._grid.state_rows if self._grid is not None else {}
            row = rows.get(LEASE_KEY)
            if row is not None and row - 2 < len(table.records):
                self._lease_record = str(table.records[row - 2]["id"])
        table = self._table(STATE_SHEET, STATE_HEADERS)
        columns = self._columns(table, STATE_HEADERS)
        target = self._base.table(table.schema.id)
        if self._lease_record is not None:
            fields = self._by_id(table, self._typed(table, {columns["value"]: text}))
            try:
                self._call(partial(target.update, self._lease_record, fields, typecast=False))
            except _Gone:  # the merchant deleted the row: write a new one
                self._lease_record = None
            else:
                return
        fields = self._by_id(table, self._typed(table, {columns["key"]: LEASE_KEY, columns["value"]: text}))
        created = self._call(partial(target.create, fields, typecast=False))
        self._lease_record = str(created["id"])

    def append_ledger(self, entries: Sequence[LedgerEntry]) -> None:
        """Create one Ledger record per entry, ten a request, in order.

        When a request's answer is lost, the records holding its Keys are listed (one filtered
        request) and only the missing ones are created again: each entry lands once.
        """
        if not entries:
            return
        self._known_grid()
        headers = self.layout.ledger_headers()
        table = self._table(LEDGER_SHEET, headers)
        columns = self._columns(table, headers)
        created = [
            (entry.key, {columns[k]: text for k, text in ledger_cells(entry).items()}) for entry in entries
        ]
        for start in range(0, len(created), RECORDS_PER_REQUEST):
            self._create_once(table, columns["key"], created[start : start + RECORDS_PER_REQUEST])

    def append_inventory(self, rows: Sequence[Mapping[str, str]]) -> int:
        """Create Inventory records, ten a request, after a fresh read of the table (see ``AppendingStore``).

        A field the table lacks is created (as single line text; that needs schema.bases:write).
        Airtable lists records in the order they were created, so the new rows come last.  When a
        request's answer is lost, the records holding its SKUs are listed and only the missing
        ones created again.
        """
        if not rows:
            return 0
        schemas = self._schemas()
        if INVENTORY_SHEET not in schemas:
            raise StoreLayoutError(
                f"{self.where} has no table {INVENTORY_SHEET} (found: {', '.join(schemas) or 'none'}); "
                f"rename your inventory table back to {INVENTORY_SHEET}"
            )
        schema = schemas[INVENTORY_SHEET]
        records = self._call(partial(self._base.table(schema.id).all, page_size=100))
        self._tables[INVENTORY_SHEET] = table = _Table(schema, records)
        self._grid = None  # the read's rows are no longer the table's
        header, *lines = self._grid_rows(table)
        plan = appends(header, rows, self.layout, f"{self.where}, table {INVENTORY_SHEET}")
        sku = plan.found[plan.sku]
        fresh = plan.fresh(rows, (_text(line[sku - 1]) for line in lines))
        titles = {header_key(title): title for row in rows for title in row}
        self._add_fields(INVENTORY_SHEET, {title: title for title in plan.missing})
        table = self._tables[INVENTORY_SHEET]
        fields = self._columns(table, titles)
        created = [
            (cells.get(plan.sku, ""), {fields[key]: text for key, text in cells.items() if key in fields})
            for cells in fresh
        ]
        for start in range(0, len(created), RECORDS_PER_REQUEST):
            self._create_once(table, fields[plan.sku], created[start : start + RECORDS_PER_REQUEST])
        return len(created)

    def _create_once(
        self, table: _Table, key_field: str, chunk: Sequence[tuple[str, Mapping[str, str]]]
    ) -> None:
        """Create up to ten records, each (key, text by field); after a lost answer, only those not there."""
        target = self._base.table(table.schema.id)
        pending, unsure = list(chunk), False

        def attempt() -> None:
            nonlocal pending, unsure
            with self._paced.single():  # one loop retries, so no request is tried more than ATTEMPTS times
                if unsure:  # the last try may have landed: create only what the table lacks
                    held = self._held_keys(target, key_field, [key for key, _ in pending if key])
                    pending, unsure = [(k, c) for k, c in pending if not k or k not in held], False
                    if not pending:
                        return
                records = [self._typed(table, cells) for _, cells in pending]
                try:
                    self._call(partial(target.batch_create, records, typecast=False))
                except OutcomeUnknown:
                    unsure = True
                    raise

        retry.call(attempt, self._paced.sleep, ATTEMPTS)

    def _held_keys(self, target: pyairtable.Table, field: str, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` (ten at most) a table's ``field`` holds: one filtered list request."""
        if not keys:
            return set()
        formula = OR(*(EQ(Field(field), key) for key in keys))
        found = self._call(partial(target.all, formula=formula, fields=[field], page_size=100))
        return {_text(record["fields"].get(field)) for record in found}

    def write_status(self, update: StatusUpdate) -> None:
        """PATCH the worker's Inventory fields, then the Status and State fields that changed.

        A quiet update's Status and State changes are held back (see the module) until
        ``quiet_write_s`` has passed since the last write went out, or any other update comes.
        """
        if update.empty:
            return
        grid = self._known_grid()
        for report in update.reports:
            self._report(report)
        if update.cells:
            self._inventory(update.cells)
        slow, now = self._over_pace(), self._now()
        recent = (
            self._status_written is not None and (now - self._status_written).total_seconds() < SLOW_STATUS_S
        )
        controls = any(status.control is not None for status in update.channels)
        status: list[tuple[str, Mapping[str, str]]] = []
        if (update.channels or update.guard) and (controls or not (slow and recent)):
            status = self._status_rows(update, slow)
            self._status_written = now
        # Only what changed: with a second channel the State passes ten records, two requests.
        state = {key: value for key, value in update.state.items() if self._state_seen.get(key) != value}
        if self._usage is not None:  # held with the quiet writes, so it costs no call of its own
            state[CALLS_KEY] = self._count().text()
        writes = {
            STATUS_SHEET: self._changes(
                STATUS_SHEET, STATUS_HEADERS, grid.status_rows, header_key, status, self._quiet_status
            ),
            STATE_SHEET: self._changes(
                STATE_SHEET,
                STATE_HEADERS,
                grid.state_rows,
                str.strip,
                [(key, {"key": key, "value": value}) for key, value in state.items()],
                lambda key, _: key.startswith(QUIET_STATE_PREFIX) or key == CALLS_KEY,
            ),
        }
        quiet = not (update.cells or update.reports) and all(w.quiet for w in writes.values())
        if quiet and self._sent is not None and now - self._sent < self._quiet_write:
            for name, planned in writes.items():
                for record_id, fields in planned.updates.items():
                    self._held.setdefault(name, {}).setdefault(record_id, {}).update(fields)
            self._lay_held()
        else:
            for name, planned in writes.items():
                self._send(name, self._held.get(name, {}), planned)
            self._held, self._sent = {}, now
        self._grid = None
        self._writer = True

    def prepare(self) -> list[str]:
        """Create the tables and fields the worker needs; touch nothing of the merchant's.

        Returns what it did, one line each (empty when the base was ready).
        """
        done: list[str] = []
        if INVENTORY_SHEET not in self._schemas():
            merchant = self.layout.merchant_headers()
            first = [
                self._name(merchant[SKU]),
                *(self._name(merchant[c]) for c in self.layout.count_columns()),
            ]
            texts = [self._spec(INVENTORY_SHEET, merchant[SKU])["description"]] + [
                self._spec(INVENTORY_SHEET, merchant[c])["description"] for c in self.layout.count_columns()
            ]
            fields: list[dict[str, Any]] = [
                {"name": first[0], **NEW_FIELD, "description": texts[0]},
                *(
                    {"name": name, "type": "number", "options": {"precision": 0}, "description": text}
                    for name, text in zip(first[1:], texts[1:], strict=True)
                ),
            ]
            self._call(partial(self._base.create_table, INVENTORY_SHEET, fields))
            done.append(f"created the {INVENTORY_SHEET} table with {', '.join(first)}")
        self.read()
        merchant, worker = self.layout.merchant_headers(), self.layout.worker_headers()
        optional = {
            k: v for k, v in merchant.items() if k not in (SKU, QUANTITY, *self.layout.count_columns())
        }
        if added := self._add_fields(INVENTORY_SHEET, {**optional, **worker}):
            done.append(f"added the fields to {INVENTORY_SHEET}: {', '.join(added)}")
        for name, headers in (
            (LEDGER_SHEET, self.layout.ledger_headers()),
            (STATUS_SHEET, STATUS_HEADERS),
            (STATE_SHEET, STATE_HEADERS),
        ):
            existed = name in self._tables
            added = self._add_fields(name, headers) if existed else []
            self._table(name, headers)
            if not existed:
                done.append(f"created the {name} table")
            elif added:
                done.append(f"added the fields to {name}: {', '.join(added)}")
        self._grid = None
        return done

    # -- reading --------------------------------------------------------------------------------

    def _schemas(self) -> dict[str, TableSchema]:
        schema = self._call(partial(self._base.schema, force=True))
        return {table.name: table for table in schema.tables}

    def _watching(self, now: datetime) -> bool:
        return self._hook is not None and now < self._hook_expires

    def _watch(self, now: datetime) -> None:
        """Check the store's webhook, or find or create one; take its cursor.

        A webhook of another process with the same specification is the same to us (its payloads
        are read-only and the cursor is ours), so a restarted worker reuses, and refreshes, the one
        it made.  Without webhook:manage, or with ten webhooks on the base, every read lists every
        table until the next reconciliation tries again.
        """
        if self._watch_after is not None and now < self._watch_after:
            return
        url = self._base.urls.webhooks
        try:
            listed = self._call(partial(self._base.api.get, url))["webhooks"]
            enabled = [hook for hook in listed if hook.get("isHookEnabled")]
            mine = next((h for h in enabled if h["id"] == self._hook), None) or next(
                (h for h in enabled if _ours(h)), None
            )
            # Its life is counted on our clock from the last call that extended it (create,
            # refresh, list payloads: 7 days each), never compared with Airtable's clock.
            expires = self._hook_expires
            if mine is None:
                mine = self._call(partial(self._base.api.post, url, json={"specification": WEBHOOK_SPEC}))
                cursor, expires = 1, now + WEBHOOK_LIFE  # a new webhook's first payload
            else:
                cursor = int(mine["cursorForNextPayload"])
                if mine["id"] != self._hook or not self._watching(now):
                    self._call(partial(self._base.api.post, url / mine["id"] / "refresh"))
                    expires = now + WEBHOOK_LIFE
        except PermanentError as error:
            log.warning(
                "%s: no webhook to read changes from (%s); every read lists every table. The token "
                "needs webhook:manage, and the base may hold at most 10 webhooks",
                self.where,
                error,
            )
            self._hook, self._watch_after = None, now + self._reconcile
            return
        self._hook, self._cursor, self._hook_expires, self._watch_after = (
            str(mine["id"]),
            cursor,
            expires,
            None,
        )

    def _caught_up(self) -> bool:
        """Apply the payloads since the cursor to the records held; False when every table must be listed."""
        now = self._now()
        hook = self._hook
        if (
            hook is None
            or self._listed is None
            or now - self._listed >= self._reconcile
            or not self._watching(now)
        ):
            return False
        url = self._base.urls.webhooks / hook / "payloads"
        try:
            page = self._call(partial(self._base.api.get, url, params={"cursor": self._cursor}))
        except PermanentError as error:  # gone, or no longer ours to read; a 429 or 5xx raises
            log.warning(
                "%s: the webhook's changes could not be read (%s); listing every table", self.where, error
            )
            self._hook = None
            return False
        payloads: list[dict[str, Any]] = page.get("payloads", [])
        cursor = int(page["cursor"])
        # Payloads are numbered one by one: a jump means some were deleted unread.
        complete = cursor == self._cursor + len(payloads) and not page.get("mightHaveMore")
        self._cursor, self._hook_expires = cursor, now + WEBHOOK_LIFE  # listing extends its life
        if any(payload.get("error") for payload in payloads):
            log.warning("%s: the webhook reports an error; listing every table", self.where)
            self._hook = None
            return False
        if not complete or any(self._reshaped(payload) for payload in payloads):
            return False
        for payload in payloads:
            self._apply(payload)
        return True

    def _reshaped(self, payload: Mapping[str, Any]) -> bool:
        """Whether ``payload`` changes tables or the fields of one read: the schema must be read again."""
        if payload.get("createdTablesById") or payload.get("destroyedTableIds"):
            return True
        read = {table.schema.id for name, table in self._tables.items() if name in SHEETS}
        for table_id, changes in payload.get("changedTablesById", {}).items():
            if changes.get("changedMetadata"):  # a renamed table may become one we read, or stop being
                return True
            if table_id in read and any(changes.get(key) for key in RESHAPES):
                return True
        return False

    def _apply(self, payload: Mapping[str, Any]) -> None:
        """Records destroyed, changed and created, as a full read would list them.

        Applying a change twice is harmless: a listing overlaps the first payloads after it.
        """
        names = {table.schema.id: name for name, table in self._tables.items()}
        for table_id, changes in payload.get("changedTablesById", {}).items():
            if table_id not in names:
                continue
            table = self._tables[names[table_id]]
            fields = {f.id: f for f in table.schema.fields}
            records = {str(record["id"]): record for record in table.records}
            for record_id in changes.get("destroyedRecordIds", []):
                records.pop(record_id, None)
            for record_id, change in changes.get("changedRecordsById", {}).items():
                if record_id in records:
                    cells = {
                        **change.get("unchanged", {}).get("cellValuesByFieldId", {}),
                        **change.get("current", {}).get("cellValuesByFieldId", {}),
                    }
                    record = records[record_id]
                    records[record_id] = {**record, "fields": _merged(record["fields"], cells, fields)}
            # Listed in the order they were created, so new records come last.
            created = sorted(
                changes.get("createdRecordsById", {}).items(),
                key=lambda item: str(item[1].get("createdTime")),
            )
            for record_id, new in created:
                record = records.get(record_id, {"id": record_id, "createdTime": new.get("createdTime")})
                cells = new.get("cellValuesByFieldId", {})
                records[record_id] = {**record, "fields": _merged({}, cells, fields)}
            self._tables[names[table_id]] = replace(table, records=list(records.values()))

    def _grid_rows(self, table: _Table) -> list[Sequence[object]]:
        """The table as a grid: our names for its fields as the header, one row per record."""
        fields = table.fields
        header = [self._ours.get(header_key(name), name) for name in fields]
        percent = {name for name in fields if table.kind(name) == "percent"}
        return [
            header,
            *([_value(r["fields"].get(name), name in percent) for name in fields] for r in table.records),
        ]

    def _known_grid(self) -> Grid:
        if self._grid is None:
            self.read()
        assert self._grid is not None  # noqa: S101 - read() always sets it
        return self._grid

    # -- writing --------------------------------------------------------------------------------

    def _inventory(self, writes: Sequence[CellWrite]) -> None:
        worker = self.layout.worker_headers()
        written = {w.column for w in writes}
        if unknown := written - worker.keys():
            raise ValueError(f"not worker columns, refusing to write: {sorted(unknown)}")
        self._add_fields(INVENTORY_SHEET, {k: v for k, v in worker.items() if k in written})
        table = self._tables[INVENTORY_SHEET]
        columns = self._columns(table, worker)
        sku_field = self._columns(table, {SKU: self.layout.merchant_headers()[SKU]})[SKU]
        changes: dict[str, dict[str, str]] = {}
        for write in writes:
            record = table.records[write.row - 1] if 0 < write.row <= len(table.records) else None
            # Stripped as every store (and the core) strips a SKU: "A-1 " is the row of A-1.
            if record is None or sku_key(_text(record["fields"].get(sku_field))) != sku_key(write.sku):
                log.warning(
                    "%s: SKU %s is not at row %d; not writing %s",
                    self.where,
                    write.sku,
                    write.row,
                    write.column,
                )
                continue
            changes.setdefault(record["id"], {})[columns[write.column]] = write.value
        self._update(table, changes)

    def _report(self, report: Report) -> None:
        """Replace a worker-owned table's records whole: delete them all, create the new ones.

        Ten records a request each way (Airtable's limit), so a report costs about
        2 x rows / 10 calls: Insights on a large base is worth turning off (``[insights]``).
        """
        if report.name not in self._tables:
            schemas = self._schemas()
            if report.name in schemas:
                self._tables[report.name] = _Table(schemas[report.name], [])
        table = self._table(report.name, {title: title for title in report.header})
        target = self._base.table(table.schema.id)
        old = [record["id"] for record in self._call(partial(target.all, page_size=100))]
        if old:
            self._call(partial(target.batch_delete, old))
        names = self._columns(table, {title: title for title in report.header})
        records = [
            self._typed(table, {names[title]: text for title, text in zip(report.header, row, strict=True)})
            for row in report.rows
        ]
        if records:
            self._call(partial(target.batch_create, records, typecast=False))

    def _status_rows(self, update: StatusUpdate, slow: bool) -> list[tuple[str, Mapping[str, str]]]:
        labelled: list[tuple[str, Mapping[str, str]]] = [*status_rows(update.channels, update.guard)]
        if self._budget is not None:
            labelled.append((CALLS_ROW_LABEL, self._calls_row(self._budget, slow)))
        return labelled

    @staticmethod
    def _quiet_status(label: str, changed: set[str]) -> bool:
        """Whether a Status row changes only as every quiet cycle changes it (its times, lags)."""
        # The calls row's message is the count, which grows every cycle; its word says SLOW.
        quiet = QUIET_STATUS_FIELDS | {"message"} if label == CALLS_ROW_LABEL else QUIET_STATUS_FIELDS
        return changed <= quiet

    def _calls_row(self, budget: int, slow: bool) -> dict[str, str]:
        usage, now = self._count(), self._now()
        message = (
            f"{usage.spent:,} calls in {usage.month}, {usage.projected(now):,} by its end at this pace; "
            f"budget {budget:,}"
        )
        if slow:
            message += f"; Status rows now written every {SLOW_STATUS_S / 60:.0f} min, pushes as usual"
        return {
            "channel": CALLS_ROW_LABEL,
            "state": "SLOW" if slow else "OK",
            "last_sync": now.strftime(TIMESTAMP_FORMAT),
            "message": message,
        }

    def _changes(
        self,
        name: str,
        headers: Mapping[str, str],
        known_rows: Mapping[str, int],
        key: Callable[[str], str],
        labelled: Sequence[tuple[str, Mapping[str, str]]],
        quiet: Callable[[str, set[str]], bool],
    ) -> _Writes:
        """The fields of labelled records that differ from those held, and the records to create.

        ``quiet`` says, from a record's label and the logical fields that changed, whether the
        change may wait; a record to create never does.
        """
        writes = _Writes({}, [], quiet=True)
        if not labelled:
            return writes
        table = self._table(name, headers)
        columns = self._columns(table, headers)
        for label, values in labelled:
            row = known_rows.get(key(label))
            if row is None or row - 2 >= len(table.records):
                writes.creates.append(self._typed(table, {columns[k]: text for k, text in values.items()}))
                writes.quiet = False
                continue
            record = table.records[row - 2]
            held = record["fields"]
            changed = {k for k, text in values.items() if _text(held.get(columns[k])) != text}
            # A value the field refuses (a select without the option) is left out, and changes nothing.
            fields = self._typed(table, {columns[k]: values[k] for k in changed})
            if fields:
                writes.updates[record["id"]] = fields
                writes.quiet = writes.quiet and quiet(label, {k for k in changed if columns[k] in fields})
        return writes

    def _send(self, name: str, held: Mapping[str, Mapping[str, Any]], writes: _Writes) -> None:
        """Send a table's held fields with ``writes`` over them: PATCH ten records a request, then create."""
        if not (held or writes.updates or writes.creates):
            return
        table = self._tables[name]
        merged = {rid: dict(fields) for rid, fields in held.items()}
        for rid, fields in writes.updates.items():
            merged.setdefault(rid, {}).update(fields)
        self._patch(table, merged)
        if writes.creates:
            target = self._base.table(table.schema.id)
            self._call(partial(target.batch_create, writes.creates, typecast=False))

    def _lay_held(self) -> None:
        """Lay the held writes over the records held, as if they had gone out.

        After a listing, or a payload's ``unchanged`` values, too.  A record deleted meanwhile
        loses its held fields: its label is then written anew, at once.
        """
        for name, held in self._held.items():
            table = self._tables.get(name)
            records = [] if table is None else table.records
            for record_id in held.keys() - {str(record["id"]) for record in records}:
                del held[record_id]
            if table is None or not held:
                continue
            laid = [
                {**record, "fields": _laid(record["fields"], held[str(record["id"])])}
                if str(record["id"]) in held
                else record
                for record in records
            ]
            self._tables[name] = replace(table, records=laid)

    def _update(self, table: _Table, changes: Mapping[str, Mapping[str, str]]) -> None:
        """PATCH records' text, typed for their fields (see ``_patch``)."""
        self._patch(table, {rid: self._typed(table, cells) for rid, cells in changes.items()})

    def _patch(self, table: _Table, changes: Mapping[str, Mapping[str, Any]]) -> None:
        """PATCH records ten a request (``batch_update`` chunks); a bad chunk goes a record at a time.

        A record deleted since the read is skipped; a value Airtable refuses flags the row.
        """
        records: list[UpdateRecordDict] = [
            {"id": rid, "fields": self._by_id(table, fields)} for rid, fields in changes.items()
        ]
        target = self._base.table(table.schema.id)
        for start in range(0, len(records), RECORDS_PER_REQUEST):
            chunk = records[start : start + RECORDS_PER_REQUEST]
            try:
                self._call(partial(target.batch_update, chunk, typecast=False))
            except _RecordProblem:
                for record in chunk:  # only a record at a time can say which one it was
                    self._update_one(table, record)

    def _update_one(self, table: _Table, record: UpdateRecordDict) -> None:
        target = self._base.table(table.schema.id)
        try:
            self._call(partial(target.batch_update, [record], typecast=False))
        except _Gone:
            log.warning(
                "%s: a %s record was deleted since the read; not written", self.where, table.schema.name
            )
        except _Refused as refused:
            log.warning("%s: %s", self.where, refused)
            if table.schema.name == INVENTORY_SHEET:
                self._flag(table, record["id"], str(refused))

    def _flag(self, table: _Table, record_id: str, reason: str) -> None:
        """Mark a row whose write Airtable refused: Status ERROR and the reason, if those take it."""
        columns = self._columns(table, self.layout.worker_headers())
        flag = {columns[k]: v for k, v in (("status", "ERROR"), ("reason", reason)) if k in columns}
        fields = self._by_id(table, self._typed(table, flag))
        try:
            self._call(partial(self._base.table(table.schema.id).update, record_id, fields))
        except _RecordProblem as problem:
            log.warning("%s: could not flag the row either: %s", self.where, problem)

    def _typed(self, table: _Table, cells: Mapping[str, str]) -> dict[str, Any]:
        """Worker text in the type each field takes; typecast stays off so nothing is coerced."""
        typed: dict[str, Any] = {}
        for name, text in cells.items():
            kind = table.kind(name)
            if kind in NUMBER_TYPES:
                value = cell_value(text)
                if isinstance(value, str):
                    log.warning(
                        "%s: %s.%s is a number field; %r left out", self.where, table.schema.name, name, text
                    )
                    continue
                typed[name] = value
            elif kind == "singleSelect" and text and text not in table.choices(name):
                log.warning("%s: %s.%s has no option %r; left out", self.where, table.schema.name, name, text)
            else:
                typed[name] = text or None
        return typed

    @staticmethod
    def _by_id(table: _Table, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Field name → value as field id → value.

        A PATCH by id lands in the field that was read, even if the merchant renames it meanwhile,
        and never in another field that took its name.
        """
        ids = {f.name: f.id for f in table.schema.fields}
        return {ids.get(name, name): value for name, value in fields.items()}

    def _columns(self, table: _Table, headers: Mapping[str, str]) -> dict[str, str]:
        """Logical column → the table's real field name, for the ``headers`` it has."""
        real = {header_key(self._ours.get(header_key(f), f)): f for f in table.fields}
        return {
            logical: real[header_key(title)]
            for logical, title in headers.items()
            if header_key(title) in real
        }

    # -- schema -----------------------------------------------------------------------------------

    def _name(self, ours: str) -> str:
        return self._theirs.get(header_key(ours), ours)

    def _table(self, name: str, headers: Mapping[str, str]) -> _Table:
        """The table, created with ``headers`` as text fields if the base lacks it."""
        if name not in self._tables:
            fields = [{"name": self._name(title), **self._spec(name, title)} for title in headers.values()]
            created = self._call(partial(self._base.create_table, name, fields))
            self._tables[name] = _Table(created.schema(), [])
        self._add_fields(name, headers)
        return self._tables[name]

    def _spec(self, table: str, title: str) -> dict[str, Any]:
        """A new field's type, description and options (``_template.field_specs``); text if unlisted."""
        return dict(self._specs.get(table, {}).get(title, NEW_FIELD))

    def _add_fields(self, name: str, wanted: Mapping[str, str]) -> list[str]:
        """Create the ``wanted`` fields the table lacks, in ``wanted`` order; their names."""
        table = self._tables[name]
        have = set(self._columns(table, wanted))
        titles = {self._name(title): title for logical, title in wanted.items() if logical not in have}
        missing = list(titles)
        if not missing:
            return []
        target = self._base.table(table.schema.id)
        for field, title in titles.items():
            spec = self._spec(name, title)
            create = partial(
                target.create_field, field, spec["type"], spec.get("description"), spec.get("options")
            )
            try:
                self._call(create)
            except PermanentError:
                raise StoreLayoutError(
                    f"{self.where}, table {name}: fields {', '.join(missing)} are missing and the token "
                    "may not create them (it lacks schema.bases:write); create them by hand as single "
                    "line text, or run `sheetsync init --airtable-base ID` with such a token"
                ) from None
        self._tables[name] = replace(table, schema=self._call(partial(target.schema, force=True)))
        return missing

    # -- calls and the monthly budget -------------------------------------------------------------

    def _call(self, action: Callable[[], Any]) -> Any:
        """Run one pyairtable call; its HTTP errors become ours, naming the base but no secret."""
        try:
            return action()
        except requests.HTTPError as error:
            raise _translated(error, self.where) from None

    def _count(self) -> Usage:
        usage = self._usage or Usage(month_of(self._now()), 0)
        self._usage = Usage(usage.month, usage.spent + self._paced.calls - self._counted)
        self._counted = self._paced.calls
        return self._usage

    def _over_pace(self) -> bool:
        return self._budget is not None and self._count().projected(self._now()) > self._budget


class _RecordProblem(PermanentError):
    """A write Airtable refused because of one record in it."""


class _Gone(_RecordProblem):
    """A record the request named no longer exists."""


class _Refused(_RecordProblem):
    """A value or field Airtable refused (422); the message names the field."""


def _translated(error: requests.HTTPError, where: str) -> PermanentError:
    """An Airtable HTTP error as our exception; the token is never part of it."""
    response = error.response
    status = response.status_code if response is not None else 0
    try:
        body = response.json() if response is not None else {}
    except ValueError:
        body = {}
    detail = body.get("error") if isinstance(body, dict) else None
    kind = str(detail.get("type", "")) if isinstance(detail, dict) else str(detail or "")
    message = str(detail.get("message", "")) if isinstance(detail, dict) else ""
    if kind in {"MODEL_ID_NOT_FOUND", "ROW_DOES_NOT_EXIST"}:
        return _Gone(message or kind)
    if kind in FIELD_ERRORS:
        return _Refused(f"Airtable refused the write ({kind}): {message}")
    if status in (401, 403) or kind in {"INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", "NOT_FOUND"}:
        return PermanentError(
            f"{where}: Airtable refused the token ({status} {kind}); check the base id and that the "
            "token has data.records:read, data.records:write and schema.bases:read on this base"
        )
    return PermanentError(f"{where}: Airtable answered {status} {kind} {message}".strip())


def _ours(hook: Mapping[str, Any]) -> bool:
    """Whether a listed webhook reports what ``WEBHOOK_SPEC`` asks, no more narrowly and unnotified."""
    options = hook.get("specification", {}).get("options", {})
    filters, includes = options.get("filters", {}), options.get("includes") or {}
    wanted = WEBHOOK_SPEC["options"]["filters"]["dataTypes"]
    return (
        not hook.get("notificationUrl")
        and sorted(filters.get("dataTypes", [])) == sorted(wanted)
        and not any(value for key, value in filters.items() if key != "dataTypes")
        and includes.get("includeCellValuesInFieldIds") == "all"
    )


def _merged(fields: Mapping[str, Any], cells: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """A record's values by field name, with a payload's cells by field id laid over them."""
    out = dict(fields)
    for field_id, value in cells.items():
        known = schema.get(field_id)
        if known is None:
            continue
        plain = _v1(known.type, value)
        if plain is None or plain == "" or plain == [] or plain is False:  # the records API leaves these out
            out.pop(known.name, None)
        else:
            out[known.name] = plain
    return out


def _laid(fields: Mapping[str, Any], written: Mapping[str, Any]) -> dict[str, Any]:
    """A record's values by field name after a PATCH of ``written`` (None clears, and is left out)."""
    out = {**fields, **written}
    return {name: value for name, value in out.items() if value is not None}


def _v1(kind: str, value: Any) -> Any:
    """A webhook's cell value (Airtable's V2 format) as the records API gives it (field model)."""
    if kind in ("singleSelect", "externalSyncSource") and isinstance(value, dict):
        return value.get("name")
    if kind == "multipleSelects" and isinstance(value, list):
        return [v.get("name") if isinstance(v, dict) else v for v in value]
    if kind == "multipleRecordLinks" and isinstance(value, list):
        return [v.get("id") if isinstance(v, dict) else v for v in value]
    if kind == "multipleLookupValues" and isinstance(value, dict):
        by_record = value.get("valuesByLinkedRecordId", {})
        return [v for record_id in value.get("linkedRecordIds", []) for v in by_record.get(record_id, [])]
    return value


def _value(value: object, percent: bool = False) -> object:
    """An Airtable value for the grid: a number stays a number, anything else the text shown.

    A number is kept so a SKU field of type number is marked (see ``SKU_IS_NUMBER``).  A percent
    field's number reads as the merchant sees it: the API answers 0.1 for the 10% shown.
    """
    if percent and is_number(value):
        return f"{float(cast(float, value)) * 100:g}%"
    return value if is_number(value) else _text(value)


def _text(value: object) -> str:
    """An Airtable value as the text the merchant sees."""
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return str(value.get("name") or value.get("email") or value.get("id") or "")
    return cell_text(value)
