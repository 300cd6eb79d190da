"""Google Sheets as the master store, through gspread and a service account.

A cycle costs one ``values:batchGet`` for everything it reads; its writes are one
``values:append`` for new ledger rows and one ``values:batchUpdate`` for the worker's cells,
the Status rows and the State.  The sheet is shared: the merchant inserts, moves and deletes rows
and columns while a cycle runs.  So just before that batchUpdate one more ``values:batchGet``
reads the Inventory's header row and SKU column (and its count columns when a row with a blank
SKU is written) and the Status and State tabs, and every cell is placed by the headers, SKUs and
labels as they are then: a worker column that moved is followed, one that vanished or was
renamed is skipped until the next cycle, and a merchant's column never receives a worker value.

That leaves the round trip between that read and the write. So each worker column carries
developer metadata (``sheetsync.column`` = its name), which Sheets moves with the column, and the
Inventory's worker cells are written through it (``values:batchUpdateByDataFilter``): Google
places them in the column where it is at the instant of the write. The metadata is created on a
column the header row names, and trusted only where the header row still names that column: it
is looked up (one ``developerMetadata:search``) after the header row changed, and a tag found on
any other column is never written through, but moved (deleted and created where the header says).
No Inventory cell goes by A1. A missing worker column is inserted, headed and tagged in one
spreadsheets.batchUpdate (an insert moves what is there on, never writes over it), then written
through its tag; ``prepare`` (``sheetsync init``) tags the columns. A worker column found without
a tag is tagged in that batchUpdate, and written through the tag once one more read of the
header row finds its header under it: a column inserted in the round trip may have taken the
tag, and then its cells wait for the next cycle.

Rows are placed by the SKU column as read just before the write. A row inserted, deleted or
dragged in the write's round trip shifts worker cells onto other SKUs' rows (never into a
merchant's column), so the SKU column is read once more after a write of Inventory cells, and
the rows that moved get their own values again (``_settle_rows``).

When a Buffer column holds a number, the read costs one more ``values:batchGet`` that reads those
columns as the merchant sees them (``10%``, not 0.1).  Everything is written RAW: text from a
channel can never become a formula.  Metadata is fetched once.

An append whose answer is lost (a timeout, a dropped connection, a 5xx, a garbled body) may have
landed: before repeating it the store reads the Ledger's Key column from a little above where the
Ledger ended and appends only the entries still missing.  ``archive_ledger`` costs the tab list,
one ``values:batchGet`` and one ``spreadsheets.batchUpdate``, which appends the rows to the
``Ledger archive`` tab and replaces them in the Ledger with the checkpoint, atomically.

Given :class:`~sheetsync.pacing.Quotas`, the client keeps to Google's per-minute quotas: reads and
writes apart, per project and per user (the service account) of the project. Under
``sheetsync.fleet`` every merchant signed in as one service account draws from the same allowances.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, TypeVar

import google.auth.exceptions
import gspread
import orjson
import requests
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import service_account
from gspread.http_client import ParamsType
from gspread.urls import SPREADSHEET_VALUES_BATCH_URL

from sheetsync import retry
from sheetsync.errors import LeaseHeld, PermanentError, StoreLayoutError, TransientError
from sheetsync.model import (
    INVENTORY_SHEET,
    LEDGER_HEADERS,
    LEDGER_SHEET,
    OVERRIDE,
    ROW_STATUS,
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
    Report,
    Snapshot,
    StatusUpdate,
    header_key,
    ledger_cells,
)
from sheetsync.pacing import Pacer, Quotas
from sheetsync.stores._dress import sheet_dress
from sheetsync.stores._grid import (
    ARCHIVE_SHEET,
    LEASE_KEY,
    SHEETS,
    Fold,
    Grid,
    OutcomeUnknown,
    Row,
    acquire_lease,
    appends,
    archive_columns,
    archive_key_column,
    blank_anchors,
    buffer_columns,
    cell_text,
    cell_value,
    column_cells,
    column_letter,
    columns,
    expected_keys,
    inventory_columns,
    inventory_moved,
    is_number,
    labelled,
    last_cell,
    lease_holder,
    merchant_spans,
    merged,
    plan_fold,
    records,
    release_lease,
    report_value,
    same_cells,
    sku_key,
    snapshot,
    split_lease,
    status_rows,
    target_row,
)
from sheetsync.stores._template import ROW_FLAGS, rgb

log = logging.getLogger(__name__)

SHEETS_API = "https://sheets.googleapis.com"
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
#: Raw values: numbers as numbers (no numericising of text, no thousands separators), formulas as
#: their text (so the core can flag them), dates as the text the merchant sees (so a date in a
#: Quantity cell is flagged, not read as a serial number).
READ_OPTIONS = {"valueRenderOption": "FORMULA", "dateTimeRenderOption": "FORMATTED_STRING"}
RAW = {"valueInputOption": "RAW"}
#: Bytes per chunk when reading a values:batchGet body (requests' own default is 10 KB).
READ_CHUNK = 1 << 20
#: One read in this many asks for the worker's own Inventory columns too (``_Kept``): a cell the
#: merchant typed over in them is seen, and written back, within as many cycles.
WHOLE_READ_EVERY = 15
#: Repairs after a write whose rows moved under it, each checked by one more read (``_settle_rows``)
SETTLE_ROUNDS = 2
#: The developer metadata key on each worker column (its value: the column's name in the layout).
COLUMN_TAG = "sheetsync.column"
#: Waits of 1, 2, 4 … 32 s: Google's advice is truncated exponential back-off up to 64 s, which
#: outlasts a per-minute quota (its 429 carries no Retry-After).
ATTEMPTS = 7
MAX_CELL_CHARACTERS = 50_000  #: Google's limit on the text of one cell
#: Read requests and write requests (each counted apart) a minute, per project and per user of a
#: project (developers.google.com/sheets/api/limits); a service account is the user.
PROJECT_REQUESTS_PER_MINUTE = 300
USER_REQUESTS_PER_MINUTE = 60
QUOTA_WINDOW_S = 60.0  #: the quotas above are per minute (same page)
#: Requests of a kind an account may send at once: a cycle's few reads (or writes) go without
#: waiting. Each allowance refills slower by as much, so no minute ever holds more than its quota.
QUOTA_BURST = 10
#: Row colours set once by ``prepare``: flags the merchant must see at a glance.
FLAG_COLOURS = tuple((flag.word, rgb(flag.colour)) for flag in ROW_FLAGS)  #: one per flag (``_template``)

#: After a lost append, the Key column is read from this many rows above where the Ledger ended:
#: rows the merchant deleted meanwhile move the appended ones up, never out of sight.
TAIL_ROWS = 1000
#: ``archive_ledger`` reads the Ledger this many rows past the last folded row as read: blank rows
#: the merchant inserted above it meanwhile are tolerated.
FOLD_SLACK_ROWS = 100
#: Cell values only, as ``updateCells`` and ``appendCells`` write them (formats stay).
VALUES_ONLY = "userEnteredValue"

T = TypeVar("T")
Cells = dict[int, Any]  #: column → value, for one row


def spreadsheet_id(text: str) -> str:
    """The id from a spreadsheet URL (``…/spreadsheets/d/<id>/edit``) or the id itself."""
    match = re.search(r"/spreadsheets/d/([A-Za-z0-9_-]+)", text)
    return match[1] if match else text.strip()


def connect(
    info: Mapping[str, Any],
    *,
    base_url: str | None = None,
    adapter: requests.adapters.BaseAdapter | None = None,
    quotas: Quotas | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> gspread.Client:
    """A gspread client signed in as the service account described by ``info`` (its JSON key).

    ``base_url`` points the client at another Sheets host (the local fake); ``adapter`` is mounted
    for every https request, token requests included (tests serve the fake in-process). With
    ``quotas``, every Sheets request first waits for the account's read or write allowances
    (``clock`` and ``sleep`` time them); without, nothing is paced: one merchant's cycles stay
    far inside the quotas, and a 429 is waited out by the store.
    """
    credentials = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    token_session = requests.Session()
    session = AuthorizedSession(credentials, auth_request=Request(session=token_session))
    if adapter is not None:
        for mounted in (token_session, session):
            mounted.mount("https://", adapter)
    allowances = _allowances(info, quotas, clock, sleep) if quotas else {}
    http_client = type(
        "SheetsClient",
        (SheetsClient,),
        {"base_url": base_url.rstrip("/") if base_url else SHEETS_API, "allowances": allowances},
    )
    return gspread.Client(auth=credentials, session=session, http_client=http_client)


def _allowances(
    info: Mapping[str, Any], quotas: Quotas, clock: Callable[[], float], sleep: Callable[[float], None]
) -> dict[str, list[Pacer]]:
    """Read and write allowances of the key's project and of its service account in that project.

    Token buckets of ``QUOTA_BURST`` refilled at (quota - burst) a minute: at most the burst plus
    the refill, the quota, in any minute. Evenly spaced requests (a window shared in Redis) would
    keep to it too, but would add a second per read to every cycle of an idle fleet.
    """
    project = f"sheets:{info.get('project_id', '')}"
    user = f"{project}:{info['client_email']}"

    def allowance(account: str, quota: int) -> Pacer:
        per_second = (quota - QUOTA_BURST) / QUOTA_WINDOW_S
        return quotas.token_bucket(account, per_second, QUOTA_BURST, clock, sleep)

    return {
        kind: [
            allowance(f"{user}:{kind}", USER_REQUESTS_PER_MINUTE),
            allowance(f"{project}:{kind}", PROJECT_REQUESTS_PER_MINUTE),
        ]
        for kind in ("read", "write")
    }


class SheetsClient(gspread.HTTPClient):
    """Every Sheets request (gspread's one funnel): paced, and sent to :attr:`base_url`.

    gspread has no base-URL setting; its URLs are module constants, so they are rewritten here.
    Each answer's ``Date`` is kept, with when it came (the lease runs on Google's clock).
    """

    base_url: ClassVar[str] = SHEETS_API
    #: "read" and "write" → the allowances each such request waits for first
    allowances: ClassVar[Mapping[str, Sequence[Pacer]]] = {}
    google_clock: tuple[datetime, float] | None = None

    def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> requests.Response:
        """Send as gspread does, paced, at :attr:`base_url`; keep the answer's ``Date``."""
        url = self._paced(method, endpoint)
        response = super().request(method, url, *args, **kwargs)
        self._dated(response)
        return response

    def get_json(self, endpoint: str, params: ParamsType) -> Any:
        """A GET as :meth:`request` sends it, its body read in large chunks and decoded by orjson.

        A master's whole read is megabytes of JSON, every cycle. ``response.content`` reads it
        10 KB at a time (about 5 ms of CPU for 3.4 MB, against 0.1 ms in 1 MB chunks), and orjson
        decodes the bytes as they came in about half the stdlib's time.
        """
        url = self._paced("GET", endpoint)
        with self.session.request("get", url, params=params, timeout=self.timeout, stream=True) as response:
            self._dated(response)
            if not response.ok:
                raise gspread.exceptions.APIError(response)
            return orjson.loads(b"".join(response.iter_content(READ_CHUNK)))

    def _paced(self, method: str, endpoint: str) -> str:
        """Wait for the request's allowances; its URL at :attr:`base_url`."""
        # Every GET the store makes is a read (values.get, values.batchGet, spreadsheets.get),
        # and so is a developerMetadata:search; every other POST is a write (values.append,
        # values.batchUpdate and batchUpdateByDataFilter, spreadsheets.batchUpdate).
        read = method.upper() == "GET" or endpoint.endswith(":search")
        for pacer in self.allowances.get("read" if read else "write", ()):
            pacer.wait()
        return self.base_url + endpoint.removeprefix(SHEETS_API)

    def _dated(self, response: requests.Response) -> None:
        if date := response.headers.get("Date"):
            with contextlib.suppress(TypeError, ValueError):  # not a date: keep the last one
                self.google_clock = (parsedate_to_datetime(date), time.monotonic())


class GoogleSheetsStore:
    """A ``MasterStore`` over a Google Sheet shared with a service account."""

    def __init__(
        self,
        client: gspread.Client,
        spreadsheet: str,
        layout: Layout,
        *,
        account: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.layout = layout
        self.id = spreadsheet_id(spreadsheet)
        # gspread's Spreadsheet drops the tab list it fetches; its HTTPClient serves every endpoint.
        if not isinstance(client.http_client, SheetsClient):
            raise TypeError("open the gspread client with google_sheets.connect()")
        self._http: SheetsClient = client.http_client
        self._account, self._sleep = account, sleep
        self._tabs: dict[str, dict[str, Any]] = {}  #: title → sheet properties, from the metadata
        self._grid: Grid | None = None
        self._ledger_end = 1  #: the Ledger's last used row, as last seen (read or appended)
        self._ledger_read: tuple[RawLedgerRow, ...] | None = None  #: the Ledger as read() last saw it
        self._ledger_key_column = 1  #: the Ledger's Key column as read() last saw it
        self._read_header: list[str] = []  #: the Inventory header row as read() last saw it
        self._anchors: dict[int, tuple[str, ...]] = {}  #: blank-SKU rows as read (see blank_anchors)
        self._anchored: tuple[RawRow, ...] = ()  #: the rows of the last read (``_anchors`` among them)
        self._lease = ""  #: the lease's State value as last read
        self._lease_written = ""  #: the lease's State value as this store last wrote it
        self._lease_fresh = False  #: ``_lease`` comes from a read() no acquire() has used yet
        #: the State's columns, the lease's row (None: none yet) and its last used row
        self._lease_place: tuple[dict[str, int], int | None, int] | None = None
        #: worker column → its tagged column, as last looked up (None: look up before relying on it)
        self._tags: dict[str, int] | None = None
        self._tags_found: set[str] = set()  #: worker columns with a tag anywhere (even a stray one)
        self._tags_header: list[str] = []  #: the header row when the tags were looked up
        #: the Inventory as the last whole read gave it, with the cells the worker wrote since
        #: (None: the next read is whole)
        self._kept: _Kept | None = None

    @property
    def where(self) -> str:
        """How messages name this spreadsheet."""
        return f"Google Sheet {self.id}"

    def read(self) -> Snapshot:
        """Everything a cycle needs, in one values:batchGet.

        The tab list is fetched again only when the Ledger or the Inventory is not in it (a
        merchant may have renamed it back since) or a tab it names has gone (renamed meanwhile).
        """
        if not self._open() and not {LEDGER_SHEET, INVENTORY_SHEET} <= set(self._tabs):
            self._open(again=True)
        for attempt in range(2):
            try:
                sheets, quiet = self._read_tabs()
            except _TabGone:
                self._open(again=True)
                sheets, quiet = self._read_tabs()
            inventory = sheets[INVENTORY_SHEET]
            if self._as_shown(inventory):
                break
            if attempt:  # the merchant is moving columns right now: the next cycle reads again
                raise TransientError(
                    f"{self.where}: the {INVENTORY_SHEET} columns moved while they were read"
                )
        self._read_header = _header(inventory)
        result, self._grid = snapshot(sheets, self.layout, self.where)
        result, self._lease = split_lease(result)
        if self._lease != self._lease_written:
            # Another worker holds the lease or did since this one last wrote it: it may have
            # written the worker's columns, so no read is kept, and a quiet one is made again whole.
            self._kept = None
            if quiet:
                return self.read()
        self._lease_fresh = True
        self._lease_place = (
            dict(self._grid.columns.get(STATE_SHEET, {})),
            self._grid.state_rows.get(LEASE_KEY),
            self._grid.used_rows.get(STATE_SHEET, 1),
        )
        if result.rows is not self._anchored:  # an unchanged sheet's read hands on the very same rows
            self._anchors, self._anchored = blank_anchors(result.rows, self.layout), result.rows
        self._ledger_end = self._grid.used_rows.get(LEDGER_SHEET, 1)
        self._ledger_read = result.ledger
        self._ledger_key_column = self._grid.columns.get(LEDGER_SHEET, {}).get("key", 1)
        return result

    def _as_shown(self, inventory: list[list[Any]]) -> bool:
        """Buffer cells holding a number are read again as the merchant sees them (``10%``, not 0.1).

        Sheets keeps a typed ``10%`` as 0.1 formatted as a percentage, and ``100%`` as 1, which
        FORMULA rendering cannot tell from the unit 1.  So when a Buffer column holds a number,
        one more values:batchGet reads those columns and the SKU column with FORMATTED_VALUE, and
        a number shown with a ``%`` takes that text; every other cell keeps its raw value.  Rows
        are matched by SKU, since the merchant may insert or drag rows between the two reads.
        False: a column moved in between (its header is not the one read), nothing was taken.
        """
        header = inventory[0] if inventory else []
        found = inventory_columns(header, self.layout, f"{self.where}, sheet {INVENTORY_SHEET}")
        buffers = buffer_columns(found)
        numeric = [
            column
            for column in buffers
            if any(column <= len(row) and is_number(row[column - 1]) for row in inventory[1:])
        ]
        if not numeric:
            return True
        sku = found[SKU]
        columns = [sku, *numeric]
        ranges = [f"{_quoted(INVENTORY_SHEET)}!{column_letter(c)}:{column_letter(c)}" for c in columns]
        params = {"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "COLUMNS"}
        reply = self._call(lambda: self._batch_get(ranges, params))
        shown = [(value_range.get("values") or [[]])[0] for value_range in reply["valueRanges"]]
        if any(
            not line or line[0] != cell_text(header[c - 1]) for c, line in zip(columns, shown, strict=True)
        ):
            return False
        where: dict[str, int | None] = {}  # SKU → its row in the second read (None: there twice)
        for number, text in enumerate(shown[0][1:], start=1):
            where[text] = None if text in where else number
        for number, row in enumerate(inventory[1:], start=1):
            text = cell_text(row[sku - 1]) if sku <= len(row) else ""
            at = number if number < len(shown[0]) and shown[0][number] == text else where.get(text)
            if at is None:
                continue
            for column, line in zip(numeric, shown[1:], strict=True):
                seen = str(line[at]) if at < len(line) else ""
                if column <= len(row) and is_number(row[column - 1]) and seen.strip().endswith("%"):
                    # A copy: the row read may be kept for the next quiet read (``_Kept``).
                    row = inventory[number] = [*row[: column - 1], seen, *row[column:]]
        return True

    def _read_tabs(self) -> tuple[dict[str, list[list[Any]]], bool]:
        """Each tab's rows, in one values:batchGet (two if the Inventory's rows or columns moved).

        True with them when the worker's columns are the kept ones (``_read_quietly``).
        """
        present = [name for name in SHEETS if name in self._tabs]
        if INVENTORY_SHEET not in present:
            raise StoreLayoutError(
                f"{self.where} has no tab {INVENTORY_SHEET} (found: {', '.join(self._tabs) or 'no tabs'}); "
                f"rename your inventory tab back to {INVENTORY_SHEET}, "
                "or run `sheetsync init --google-sheet URL`"
            )
        kept = self._kept
        if kept is not None and kept.reads < WHOLE_READ_EVERY - 1:
            return self._read_quietly(present, kept)
        sheets = dict(zip(present, self._get([_quoted(n) for n in present]), strict=True))
        self._keep(sheets[INVENTORY_SHEET])
        return sheets, False

    def _read_quietly(self, present: Sequence[str], kept: _Kept) -> tuple[dict[str, list[list[Any]]], bool]:
        """Every tab, but of the Inventory only its header row and the merchant's columns.

        The worker's own columns are most of a read (a row's Reason alone is a hundred characters or
        more) and hold what it wrote: they are taken from the last whole read, with the cells the
        worker wrote since put in it (``_Kept.written``; a write whose rows moved under it, or that
        made or tagged columns, keeps nothing).  Unless the header row and the SKU column are as that
        read saw them, the Inventory is read again whole (one values:batchGet more): rows or columns
        were inserted, moved or deleted, and the kept cells would land in the wrong places.
        """
        inventory = _quoted(INVENTORY_SHEET)
        others = [name for name in present if name != INVENTORY_SHEET]
        spans = [f"{inventory}!{column_letter(a)}2:{column_letter(b)}" for a, b in kept.spans]
        answer = self._get([*map(_quoted, others), f"{inventory}!1:1", *spans])
        sheets = dict(zip(others, answer, strict=False))
        header, parts = answer[len(others)][:1], answer[len(others) + 1 :]
        kept.reads += 1
        unmoved = same_cells(header, kept.rows[:1])
        if unmoved and kept.parts is not None and all(map(same_cells, parts, kept.parts)):
            sheets[INVENTORY_SHEET] = list(kept.last)  # the very rows: every later stage's memo hits
            return sheets, True
        at, (first, _) = next(
            (n, span) for n, span in enumerate(kept.spans) if span[0] <= kept.sku <= span[1]
        )
        if not (unmoved and same_cells([column_cells(parts[at], kept.sku, first)], [kept.skus])):
            sheets[INVENTORY_SHEET] = self._get([inventory])[0]
            self._keep(sheets[INVENTORY_SHEET])
            return sheets, False
        kept.parts, kept.last = parts, merged(kept.rows, kept.spans, parts)
        sheets[INVENTORY_SHEET] = list(kept.last)
        return sheets, True

    def _keep(self, inventory: list[list[Any]]) -> None:
        """Keep a whole read of the Inventory for the quiet reads after it (``_Kept``)."""
        self._kept = None
        header = inventory[0] if inventory else []
        try:
            found = inventory_columns(header, self.layout, f"{self.where}, sheet {INVENTORY_SHEET}")
        except StoreLayoutError:
            return  # the read's parse says what is wrong
        worker = [found[k] for k in self.layout.worker_headers() if k in found]
        if SKU in found and worker:
            sku = found[SKU]
            spans = merchant_spans(header, worker)
            rows = list(inventory)  # ``_as_shown`` puts copies of rows it changes in ``inventory``
            self._kept = _Kept(rows, spans, sku, column_cells(rows[1:], sku), rows)

    def append_ledger(self, entries: Sequence[LedgerEntry]) -> None:
        """Append the entries in one values:append (INSERT_ROWS: nothing below is overwritten).

        Before each try, the Ledger's Key column is read from a little above where it ended, and
        only the entries it lacks are appended: each entry lands once when the answer to an
        earlier try was lost.  Rows with a Key below where ``read()`` saw the Ledger end, before
        this call appended anything, are another worker's (one paused past its lease resumes
        with the read it made before it: Sheets cannot compare and set, so the lease alone cannot
        stop it): the entries were planned from a Ledger that has moved on, so none is appended.

        Raises:
            LeaseHeld: another worker appended to the Ledger since this one read it.
        """
        checked = self._grid is None  # no read to compare with (none yet, or the Ledger archived since)
        if not entries:
            return
        grid = self._known_grid()
        headers = self.layout.ledger_headers()
        data, structure = self._missing_table(grid, LEDGER_SHEET, headers)
        columns = {
            **grid.columns.get(LEDGER_SHEET, {}),
            **self._new_table_columns(LEDGER_SHEET, headers, grid),
        }
        self._apply(structure, data)
        if data:  # the tab or headers it just added: the next append need not add them again
            self._grid = replace(grid, columns={**grid.columns, LEDGER_SHEET: columns})
        params: ParamsType = {**RAW, "insertDataOption": "INSERT_ROWS"}
        target = f"{_quoted(LEDGER_SHEET)}!A1"
        pending, unsure = list(entries), True

        def attempt() -> None:
            nonlocal pending, unsure, checked
            if unsure:  # the last try may have landed: append only what the Ledger lacks
                end = self._ledger_end
                held = self._tail_keys(columns["key"])
                if not checked and self._ledger_end > end:
                    raise LeaseHeld(
                        f"{self.where}: the Ledger gained rows {end + 1}-{self._ledger_end} since this "
                        "worker read it: another sheetsync worker is writing to it (run one worker per "
                        "master); this cycle appends nothing and reads again"
                    )
                checked = True
                pending, unsure = [e for e in pending if not e.key or e.key not in held], False
                if not pending:
                    return
            rows = [_ledger_row(entry, columns) for entry in pending]
            try:
                reply = self._classified(
                    lambda: self._http.values_append(self.id, target, params, {"values": rows})
                )
            except OutcomeUnknown:
                unsure = True
                raise
            self._ledger_end = _last_row(reply.get("updates", {}).get("updatedRange", "")) or (
                self._ledger_end + len(rows)
            )

        retry.call(attempt, self._sleep, attempts=ATTEMPTS)

    def append_inventory(self, rows: Sequence[Mapping[str, str]]) -> int:
        """Append Inventory rows below every row with data (see ``AppendingStore``).

        Each try reads the Inventory tab whole (one values:batchGet: its header row and SKUs as
        they are now), then makes one atomic spreadsheets.batchUpdate: the headers it lacks, and
        ``appendCells``, which lands below the last row with data from column A and never
        overwrites a cell.  A try whose answer is lost is followed by a read that sees what landed.
        """
        if not rows:
            return 0
        appended = 0
        self._kept = None

        def attempt() -> None:
            nonlocal appended
            self._open()
            if INVENTORY_SHEET not in self._tabs:
                self._open(again=True)
            if INVENTORY_SHEET not in self._tabs:
                raise StoreLayoutError(
                    f"{self.where} has no tab {INVENTORY_SHEET} (found: {', '.join(self._tabs)}); "
                    f"rename your inventory tab back to {INVENTORY_SHEET}"
                )
            reply = self._classified(lambda: self._batch_get([_quoted(INVENTORY_SHEET)]))
            sheet = reply["valueRanges"][0].get("values", [])
            header = sheet[0] if sheet else []
            plan = appends(header, rows, self.layout, f"{self.where}, sheet {INVENTORY_SHEET}")
            sku = plan.found[plan.sku]
            fresh = plan.fresh(rows, (cell_text(line[sku - 1]) for line in sheet[1:] if sku <= len(line)))
            if not fresh:
                return
            start = max([*(last_cell(line) for line in sheet), *plan.found.values()]) + 1
            added = {header_key(title): start + offset for offset, title in enumerate(plan.missing)}
            found = {**plan.found, **added}
            sheet_id = self._tabs[INVENTORY_SHEET]["sheetId"]
            requests_ = self._widen(INVENTORY_SHEET, max(found.values()))
            if added:
                titles = [_cell_data(title) for title in plan.missing]
                requests_.append(_update_cells(sheet_id, 0, start, [titles]))
            new_rows = []
            for cells in fresh:
                values: list[dict[str, Any]] = [{} for _ in range(max(found.values()))]
                for key, text in cells.items():
                    values[found[key] - 1] = _cell_data(_clipped(plan.value(key, text)))
                new_rows.append({"values": values})
            requests_.append({"appendCells": {"sheetId": sheet_id, "rows": new_rows, "fields": VALUES_ONLY}})
            try:
                self._classified(lambda: self._http.batch_update(self.id, {"requests": requests_}))
            finally:
                self._tabs.clear()  # sizes may have changed, or the outcome is unknown
                self._grid = None
            appended = len(fresh)

        retry.call(attempt, self._sleep, attempts=ATTEMPTS)
        return appended

    def _tail_keys(self, column: int) -> set[str]:
        """The Keys from ``TAIL_ROWS`` above where the Ledger ended down to its last row."""
        letter = column_letter(column)
        start = max(2, self._ledger_end + 1 - TAIL_ROWS)
        target = f"{_quoted(LEDGER_SHEET)}!{letter}{start}:{letter}"
        reply = self._classified(lambda: self._http.values_get(self.id, target, params=dict(READ_OPTIONS)))
        values = reply.get("values", [])
        keys = {text for row in values if row and (text := cell_text(row[0]))}
        filled = [number for number, row in enumerate(values, start=start) if row and cell_text(row[0])]
        self._ledger_end = max([self._ledger_end, *filled])
        return keys

    def archive_ledger(
        self, folded: int, checkpoint: Sequence[LedgerEntry], keys: Sequence[str] | None = None
    ) -> None:
        """Move the first ``folded`` Ledger rows to ``Ledger archive`` and put ``checkpoint`` there.

        ``keys`` are those rows' Keys as the caller read them (by default, as ``read()`` last saw
        them).  The tab list, one values:batchGet, then one spreadsheets.batchUpdate that appends
        the rows to the archive, inserts the checkpoint below the Ledger's header and deletes the
        rows, all or nothing.  A lost answer is settled by reading again: a repeat after it landed, or
        after an earlier call did, changes nothing.

        Raises:
            StoreLayoutError: the Ledger's first rows are not those read, or a Key header is missing.
        """
        if self._ledger_read is None:
            self.read()
        read = self._ledger_read or ()
        expected = expected_keys(folded, keys, [row.cells.get("key", "") for row in read])
        last = read[min(folded, len(read)) - 1].row if read else 1
        span = last + FOLD_SLACK_ROWS + max(0, folded - len(read))
        cp_keys = [entry.key for entry in checkpoint]

        def attempt() -> None:
            # The tab list as it is now: the merchant may have added, renamed or widened a tab
            # since it was fetched, and a try whose answer was lost may have too.  Tried once:
            # this loop is the one that retries.
            self._tabs = _tab_list(self._classified(lambda: self._http.fetch_sheet_metadata(self.id)))
            ledger, archive_header, held = self._fold_state(span)
            fold = plan_fold(ledger, held, folded, cp_keys, expected, self.where)
            if fold is None:
                return
            requests_ = self._fold_requests(ledger, archive_header, fold, checkpoint)
            reply = self._classified(lambda: self._http.batch_update(self.id, {"requests": requests_}))
            for answer in reply.get("replies", []):
                if "addSheet" in answer:
                    properties = answer["addSheet"]["properties"]
                    self._tabs[properties["title"]] = properties

        retry.call(attempt, self._sleep, attempts=ATTEMPTS)
        self._grid = None
        self._ledger_end = 1  # unknown until the next read; a lost append then reads from the top

    def read_archive(self) -> tuple[RawLedgerRow, ...]:
        """Every archived Ledger row, oldest first (one values.get; none without the tab)."""
        self._open()
        if ARCHIVE_SHEET not in self._tabs:
            return ()
        target = _quoted(ARCHIVE_SHEET)
        reply = self._call(lambda: self._http.values_get(self.id, target, params=dict(READ_OPTIONS)))
        rows = reply.get("values", [])
        found = columns(rows[0] if rows else (), LEDGER_HEADERS, f"{self.where}, sheet {ARCHIVE_SHEET}")
        return tuple(RawLedgerRow(number, cells) for number, cells in records(rows, found))

    def _fold_state(self, span: int) -> tuple[list[Row], Row | None, list[str]]:
        """The Ledger's rows 1 to ``span``, the archive's header (None: no tab) and its Keys."""
        has_ledger, has_archive = LEDGER_SHEET in self._tabs, ARCHIVE_SHEET in self._tabs
        guess = column_letter(self._ledger_key_column)  # the archive copies the Ledger's headers
        ranges = [f"{_quoted(LEDGER_SHEET)}!1:{span}"] if has_ledger else []
        if has_archive:
            ranges += [f"{_quoted(ARCHIVE_SHEET)}!1:1", f"{_quoted(ARCHIVE_SHEET)}!{guess}:{guess}"]
        if not ranges:
            return [], None, []
        reply = self._classified(lambda: self._batch_get(ranges))
        found = [value_range.get("values", []) for value_range in reply["valueRanges"]]
        ledger: list[Row] = found.pop(0) if has_ledger else []
        if not has_archive:
            return ledger, None, []
        header: Row = found[0][0] if found[0] else ()
        if not header:
            return ledger, (), []
        column = archive_key_column(header, self.where)
        values = found[1]
        if column_letter(column) != guess:
            target = f"{_quoted(ARCHIVE_SHEET)}!{column_letter(column)}:{column_letter(column)}"
            answer = self._classified(
                lambda: self._http.values_get(self.id, target, params=dict(READ_OPTIONS))
            )
            values = answer.get("values", [])
        return ledger, header, [text for row in values[1:] if row and (text := cell_text(row[0]))]

    def _fold_requests(
        self, ledger: Sequence[Row], archive_header: Row | None, fold: Fold, checkpoint: Sequence[LedgerEntry]
    ) -> list[dict[str, Any]]:
        """The one batchUpdate of ``archive_ledger``: archive the rows, then replace them."""
        requests_: list[dict[str, Any]] = []
        if not fold.archived:
            requests_ += self._archive_requests(ledger[0], archive_header, fold.moved)
        ledger_id = self._tabs[LEDGER_SHEET]["sheetId"]
        found = columns(ledger[0], LEDGER_HEADERS, f"{self.where}, sheet {LEDGER_SHEET}")
        headers = self.layout.ledger_headers()
        start = max([last_cell(ledger[0]), *found.values()]) + 1
        missing = [logical for logical in headers if logical not in found]
        added = {logical: start + offset for offset, logical in enumerate(missing)}
        if added:
            requests_ += self._widen(LEDGER_SHEET, max(added.values()))
            titles = [_cell_data(headers[logical]) for logical in missing]
            requests_.append(_update_cells(ledger_id, 0, start, [titles]))
        kept = {**found, **added}
        count = len(checkpoint)
        if count:
            rows_ = []
            for entry in checkpoint:
                row: list[Any] = _ledger_row(entry, kept)
                rows_.append([_cell_data(value) for value in row])
            dimension = {"sheetId": ledger_id, "dimension": "ROWS", "startIndex": 1, "endIndex": 1 + count}
            requests_.append({"insertDimension": {"range": dimension, "inheritFromBefore": False}})
            requests_.append(_update_cells(ledger_id, 1, 1, rows_))
        else:  # a grid must keep a row below its frozen header
            requests_.append({"appendDimension": {"sheetId": ledger_id, "dimension": "ROWS", "length": 1}})
        gone = {
            "sheetId": ledger_id,
            "dimension": "ROWS",
            "startIndex": 1 + count,
            "endIndex": fold.end + count,
        }
        requests_.append({"deleteDimension": {"range": gone}})
        return requests_

    def _archive_requests(
        self, header: Row, archive_header: Row | None, moved: Sequence[Row]
    ) -> list[dict[str, Any]]:
        """Append ``moved`` to the archive tab, adding the tab (the Ledger's headers) or headers it lacks."""
        requests_: list[dict[str, Any]] = []
        rows: list[list[dict[str, Any]]] = []
        if archive_header is None or not archive_header:
            archive_header = header
            rows.append([_cell_data(value) for value in header])
        placed, added = archive_columns(header, archive_header, moved)
        width = max([*placed.values(), *added, len(archive_header), 1])
        if ARCHIVE_SHEET in self._tabs:
            sheet_id = self._tabs[ARCHIVE_SHEET]["sheetId"]
            requests_ += self._widen(ARCHIVE_SHEET, width)
        else:
            taken = {properties["sheetId"] for properties in self._tabs.values()}
            sheet_id = next(n for n in itertools.count(1) if n not in taken)
            grid = {"frozenRowCount": 1, "columnCount": max(width, 26)}
            add = {
                "addSheet": {
                    "properties": {"sheetId": sheet_id, "title": ARCHIVE_SHEET, "gridProperties": grid}
                }
            }
            requests_.append(add)
        if added:
            first = min(added)
            titles = [_cell_data(added.get(column, "")) for column in range(first, max(added) + 1)]
            requests_.append(_update_cells(sheet_id, 0, first, [titles]))
        for values in moved:
            row: list[dict[str, Any]] = [{} for _ in range(max(placed.values(), default=0))]
            for column, value in enumerate(values, start=1):
                if column in placed:
                    row[placed[column] - 1] = _cell_data(value)
            rows.append(row)
        requests_.append(
            {
                "appendCells": {
                    "sheetId": sheet_id,
                    "rows": [{"values": r} for r in rows],
                    "fields": VALUES_ONLY,
                }
            }
        )
        return requests_

    def write_status(self, update: StatusUpdate) -> None:
        """Worker cells, Status rows and state in one values:batchUpdate, placed as the sheet is now.

        One values:batchGet just before (see the module docstring) finds the columns, SKUs and
        labels where they are now: a structural edit the merchant made during the cycle moves the
        writes with it, or skips a write whose column vanished, and never redirects one into a
        column of theirs.
        """
        if update.empty:
            return
        kept = self._kept
        if update.cells:
            self._kept = None  # until the cells written are known to be where the kept read has them
        try:
            self._write_status(update, kept)
        except BaseException:
            self._kept = None  # some of it may have landed
            raise

    def _write_status(self, update: StatusUpdate, kept: _Kept | None) -> None:
        read = self._known_grid()
        rows: dict[tuple[str, int], Cells] = {}
        tagged: dict[str, Cells] = {}  #: worker column → row → value, written through its tag
        waiting: dict[str, Cells] = {}  #: the same for columns tagged now, written once confirmed
        structure: list[dict[str, Any]] = []
        data: list[dict[str, Any]] = []
        for report in update.reports:
            self._report(report, structure, data)
        keys = self._placing_columns(update)
        grid, now = self._recheck(read, update, keys)
        if update.cells:
            self._inventory_cells(read, grid, now, update.cells, tagged, waiting, structure)
        if update.channels or update.guard:
            self._status_cells(grid, update, rows, structure, data)
        if update.state:
            self._state_cells(grid, update.state, rows, structure, data)
        data += _row_ranges(rows)
        # The kept read goes on with the cells written in it when they went where it has them.
        cells_only = bool(update.cells) and not structure and not waiting  # no column made or tagged
        keep = kept if kept is not None and cells_only and _aligned(kept, now) else None
        self._apply(structure, data, tagged, waiting)
        if tagged and not self._settle_rows(read, now, tagged, keys):
            keep = None
        if keep is not None:
            self._kept = keep.written(tagged, grid.columns[INVENTORY_SHEET])
        self._grid = None

    def acquire(self, owner: str, now: datetime, ttl_s: float) -> str | None:
        """Take or renew the single-writer lease (see ``LeasedStore``), on Google's clock.

        Every answer carries Google's time (``Date``): the lease is written and judged by it once
        one has come, so a worker whose own clock is minutes off neither lets its lease lapse early
        nor takes one still held.

        Right after ``read()``: no call while ``owner`` holds it with more than half of ``ttl_s``
        left, one values:batchUpdate to renew it, and to take it that plus one values:batchGet of
        the State to confirm (Sheets has no compare-and-set).  Without a read just before, one
        values:batchGet more.
        """
        seen = self._lease if self._lease_fresh else None
        self._lease_fresh = False
        return acquire_lease(
            owner,
            self._google_now(now),
            ttl_s,
            self.where,
            seen=seen,
            fetch=self._fetch_lease,
            write=self._write_lease,
            confirm=True,
        )

    def holder(self, now: datetime) -> str | None:
        """Who holds the lease at ``now`` (on Google's clock) as the last read() saw it (``LeasedStore``)."""
        return lease_holder(self._lease, self._google_now(now), self.where)

    def _google_now(self, now: datetime) -> datetime:
        """Google's time now, from the last answer's ``Date`` and the time since; ``now`` before any."""
        told = self._http.google_clock
        if told is None:
            return now
        date, at = told
        return date + timedelta(seconds=time.monotonic() - at)

    def release(self, owner: str) -> None:
        """Clear the lease if ``owner`` holds it: one values:batchGet, and one values:batchUpdate if so."""
        release_lease(owner, self._fetch_lease, self._write_lease)

    def _fetch_lease(self) -> str:
        """The lease's State value as it is now (one values:batchGet; none without a State tab)."""
        self._open()
        if STATE_SHEET not in self._tabs:
            self._lease_place = ({}, None, 1)
            return ""
        try:
            rows = self._get([_quoted(STATE_SHEET)])[0]
        except _TabGone:
            self._open(again=True)
            return self._fetch_lease()
        found, at, used = labelled(rows, STATE_SHEET, self.where)
        row = at.get(LEASE_KEY)
        self._lease_place = (found, row, used)
        value = found.get("value", 0)
        return cell_text(rows[row - 1][value - 1]) if row and 0 < value <= len(rows[row - 1]) else ""

    def _write_lease(self, text: str) -> None:
        """Put the lease's State value: one values:batchUpdate (the State tab is added if missing)."""
        if self._lease_place is None or STATE_SHEET not in self._tabs:
            self._fetch_lease()
        assert self._lease_place is not None  # noqa: S101 - _fetch_lease always sets it
        found, row, used = self._lease_place
        if STATE_SHEET not in self._tabs:
            add = {
                "addSheet": {"properties": {"title": STATE_SHEET, "gridProperties": {"frozenRowCount": 1}}}
            }
            rows = [list(STATE_HEADERS.values()), [LEASE_KEY, _written(text)]]
            self._apply([add], [{"range": f"{_quoted(STATE_SHEET)}!A1", "values": rows}])
            self._lease_place = ({"key": 1, "value": 2}, 2, 2)
            self._lease_written = text
            return
        if "key" not in found or "value" not in found:
            raise StoreLayoutError(
                f"{self.where}, sheet {STATE_SHEET}: header row 1 lacks Key or Value; restore both headers"
            )
        row = row or used + 1
        data = _row_ranges({(STATE_SHEET, row): {found["key"]: LEASE_KEY, found["value"]: _written(text)}})
        self._call(lambda: self._http.values_batch_update(self.id, {**RAW, "data": data}))
        self._lease_place = (found, row, max(used, row))
        self._lease_written = text

    def prepare(self) -> list[str]:
        """Add the tabs, headers and row colours the worker needs; touch nothing of the merchant's.

        Returns what it did, one line each (empty when the sheet was ready).
        """
        self._open()
        done: list[str] = []
        if INVENTORY_SHEET not in self._tabs:
            merchant = self.layout.merchant_headers()
            first = [merchant[SKU], *(merchant[c] for c in self.layout.count_columns()), merchant[OVERRIDE]]
            add = {
                "addSheet": {
                    "properties": {"title": INVENTORY_SHEET, "gridProperties": {"frozenRowCount": 1}}
                }
            }
            self._apply([add], [{"range": f"{_quoted(INVENTORY_SHEET)}!A1", "values": [first]}])
            done.append(f"added the {INVENTORY_SHEET} tab with {', '.join(first)}")
        grid = self._known_grid()
        structure: list[dict[str, Any]] = []
        data: list[dict[str, Any]] = []
        worker = self.layout.worker_headers()
        # Tagged here, each worker column's cells go through its tag from the first cycle on.
        _, made, untagged = self._writable_columns(grid, self._read_header, worker, structure)
        if untagged:
            done.append(
                f"tagged the worker columns of {INVENTORY_SHEET}, so that the worker finds them "
                f"wherever they move: {', '.join(worker[k] for k in untagged)}"
            )
        if made:
            done.append(
                f"added the worker columns to {INVENTORY_SHEET}: " + ", ".join(worker[k] for k in made)
            )
        columns = {**grid.columns[INVENTORY_SHEET], **made}
        for name, headers in (
            (LEDGER_SHEET, self.layout.ledger_headers()),
            (STATUS_SHEET, STATUS_HEADERS),
            (STATE_SHEET, STATE_HEADERS),
        ):
            new_data, new_structure = self._missing_table(grid, name, headers)
            if new_data:
                done.append(f"prepared the {name} tab")
            data += new_data
            structure += new_structure
        self._apply(structure, data)
        done += self._format_columns(columns[ROW_STATUS], columns[SKU])
        self._grid = None
        return done + self._dress()

    def _dress(self) -> list[str]:
        """The template's look (``_dress.sheet_dress``): a read, a spreadsheets.get, and its writes if any."""
        found = self._known_grid().columns
        self._grid = None
        # One cell of each tab (Override's and Control's, where they are): the answer then holds
        # both tabs' protected ranges, and those cells' validations.
        cells = [
            (INVENTORY_SHEET, found[INVENTORY_SHEET].get(OVERRIDE, found[INVENTORY_SHEET][SKU])),
            (STATUS_SHEET, found[STATUS_SHEET].get("control", 1)),
        ]
        params: ParamsType = {
            "ranges": [f"{_quoted(name)}!{column_letter(column)}2" for name, column in cells],
            "includeGridData": "true",
        }
        metadata = self._call(lambda: self._http.fetch_sheet_metadata(self.id, params=params))
        fetched = {s["properties"]["title"]: s for s in metadata["sheets"]}
        requests_, values, done = sheet_dress(self._tabs, fetched, self.layout, found)
        self._apply(requests_, values)
        return done

    def _format_columns(self, status_column: int, sku_column: int) -> list[str]:
        """Row colours on the Status column and Plain text on the SKU column, each once.

        One spreadsheets.get (the Inventory's conditional formats and its first SKU cell's
        format) and, when either is missing, one batchUpdate.  A SKU column formatted as Plain
        text keeps ``00123`` as typed; an automatic one makes it the number 123.
        """
        target = f"{_quoted(INVENTORY_SHEET)}!{column_letter(sku_column)}2"
        params: ParamsType = {"ranges": target, "includeGridData": "true"}
        metadata = self._call(lambda: self._http.fetch_sheet_metadata(self.id, params=params))
        sheet = next(s for s in metadata["sheets"] if s["properties"]["title"] == INVENTORY_SHEET)
        sheet_id = sheet["properties"]["sheetId"]
        requests_: list[dict[str, Any]] = []
        done: list[str] = []
        if not any(
            r.get("startColumnIndex") == status_column - 1
            for rule in sheet.get("conditionalFormats", [])
            for r in rule.get("ranges", [])
        ):
            status = {
                "sheetId": sheet_id,
                "startRowIndex": 1,
                "startColumnIndex": status_column - 1,
                "endColumnIndex": status_column,
            }
            requests_ += [
                {
                    "addConditionalFormatRule": {
                        "index": 0,
                        "rule": {
                            "ranges": [status],
                            "booleanRule": {
                                "condition": {"type": "TEXT_EQ", "values": [{"userEnteredValue": word}]},
                                "format": {"backgroundColor": colour},
                            },
                        },
                    }
                }
                for word, colour in FLAG_COLOURS
            ]
            done.append(
                "coloured rows by Status (OK green, ERROR and OVERSOLD red, LAG amber, DRIFT purple, "
                "PAUSED grey, REORDER blue, HELD yellow)"
            )
        cells = [
            value
            for data in sheet.get("data", [])
            for row in data.get("rowData", [])
            for value in row.get("values", [])
        ]
        number_format = cells[0].get("userEnteredFormat", {}).get("numberFormat", {}) if cells else {}
        if number_format.get("type") != "TEXT":
            sku = {
                "sheetId": sheet_id,
                "startRowIndex": 1,
                "startColumnIndex": sku_column - 1,
                "endColumnIndex": sku_column,
            }
            requests_.append(
                {
                    "repeatCell": {
                        "range": sku,
                        "cell": {"userEnteredFormat": {"numberFormat": {"type": "TEXT"}}},
                        "fields": "userEnteredFormat.numberFormat",
                    }
                }
            )
            done.append(
                "formatted the SKU column as Plain text (a SKU typed 00123 keeps its zeros; "
                "retype any SKU that lost them)"
            )
        if requests_:
            self._call(lambda: self._http.batch_update(self.id, {"requests": requests_}))
        return done

    # -- writing helpers -------------------------------------------------------------------

    def _recheck(self, read: Grid, update: StatusUpdate, keys: Sequence[str]) -> tuple[Grid, _Now]:
        """Where things are now, just before writing: one values:batchGet (see ``write_status``).

        The Inventory's header row and its ``keys`` columns (``_placing_columns``), and the Status
        and State tabs whole when they are written: the merchant may have inserted, moved or
        deleted rows and columns since ``read()``.
        """
        tables = [
            name
            for name, wanted in ((STATUS_SHEET, update.channels or update.guard), (STATE_SHEET, update.state))
            if wanted
        ]
        try:
            return self._fetch_now(read, keys, tables)
        except _TabGone:  # a tab renamed or deleted during the cycle
            self._open(again=True)
            return self._fetch_now(read, keys, tables)

    def _placing_columns(self, update: StatusUpdate) -> list[str]:
        """The Inventory columns that place its worker cells: SKU, and the counts for a blank-SKU row."""
        if not update.cells:
            return []
        blanks = any(not sku_key(w.sku) for w in update.cells)
        return [SKU, *(self.layout.count_columns() if blanks else ())]

    def _settle_rows(self, read: Grid, placed: _Now, tagged: Mapping[str, Cells], keys: list[str]) -> bool:
        """Put back in their rows worker cells that a row moved under during the write's round trip.

        True when no row had moved: every cell is where it was placed.

        The cells went to the rows where the re-read just before found their SKUs: a row the
        merchant inserted, deleted or dragged before the write landed shifts the cells below it
        onto other SKUs' rows, and the next cycle's volume guard takes the shifted Available
        column for a bad paste (adversary seed 11).  So one values:batchGet of the SKU column
        follows the write; where a row's SKU is not the one the cells were placed by, every
        column written gets, through its tag, that row's own value: the one written for its SKU,
        else the one this cycle read for it, else blank (a row the read did not have).  The repair
        meets the same race, so it is checked the same way, ``SETTLE_ROUNDS`` times at most; rows
        still moving then get their columns written blank, which no move can misplace.
        """
        # What each row key got, and what the read held for it: made only once a row moved.
        written: dict[str, dict[_RowKey, set[str]]] | None = None
        before: dict[str, dict[_RowKey, set[str]]] | None = None
        first, repairs = placed, 0
        while True:
            try:
                _, now = self._fetch_now(read, keys, [])
            except (StoreLayoutError, TransientError) as error:  # the write landed: the next cycle reads
                log.warning("%s: rows not checked after the write: %s", self.where, error)
                return False
            moved = _moved(placed, now)
            if not moved:
                return not repairs
            if written is None or before is None:
                written, before = _by_row_key(_row_keys(first), tagged), self._read_by_row_key(tagged)
            there = _row_keys(now)
            counts = [SKU, *self.layout.count_columns()]
            if keys != counts and any(not there.get(row, ("",))[0] for row in moved):
                keys = counts  # which blank-SKU row moved: its count cells tell (blank_anchors)
                continue
            if repairs == SETTLE_ROUNDS:
                break
            repairs += 1
            repair: dict[str, Cells] = {}
            for column in tagged:
                for row in moved:
                    key = there.get(row, ("",))
                    own = written[column].get(key) or before[column].get(key) or {""}
                    if len(own) == 1:  # a key on several rows that hold different values: left alone
                        repair.setdefault(column, {})[row] = _written(next(iter(own)))
            log.warning(
                "%s: rows moved while the worker wrote the Inventory; the worker cells of rows %s are "
                "written again where their SKUs are now",
                self.where,
                _spans(moved),
            )
            self._write_through_tags([], repair)
            placed = now
        # Still moving: a cell placed by SKU may land on any row. Blank is every row's value alike,
        # wherever the rows go, and a blank Available is no count to hold against (volume_guard).
        last = max(_row_keys(now), default=1)
        log.warning(
            "%s: rows kept moving while the worker wrote the Inventory (rows %s last); its cells in "
            "rows 2-%d are cleared, and the next cycle writes them where their SKUs are then",
            self.where,
            _spans(moved),
            last,
        )
        self._write_through_tags([], {column: dict.fromkeys(range(2, last + 1), "") for column in tagged})
        return False

    def _read_by_row_key(self, columns: Iterable[str]) -> dict[str, dict[_RowKey, set[str]]]:
        """Per worker column, what the last read held for each row key (``_row_keys``)."""
        held: dict[str, dict[_RowKey, set[str]]] = {column: {} for column in columns}
        for row in self._anchored:
            sku = sku_key(row.cells.get(SKU, ""))
            key = (sku,) if sku else ("", *self._anchors[row.row])  # blank_anchors: the same rows
            for column, values in held.items():
                values.setdefault(key, set()).add(row.cells.get(column, ""))
        return held

    def _fetch_now(self, read: Grid, keys: Sequence[str], tables: Sequence[str]) -> tuple[Grid, _Now]:
        inventory = f"{_quoted(INVENTORY_SHEET)}"
        if keys and INVENTORY_SHEET not in self._tabs:
            raise StoreLayoutError(
                f"{self.where} has no tab {INVENTORY_SHEET} any more (found: {', '.join(self._tabs)}): it "
                f"was renamed or deleted since the read, so nothing was written; name the tab "
                f"{INVENTORY_SHEET} again"
            )
        present = [name for name in tables if name in self._tabs]
        guess = {k: c for k in keys if (c := read.columns[INVENTORY_SHEET].get(k))}
        ranges = [f"{inventory}!1:1"] if keys else []
        ranges += [f"{inventory}!{column_letter(c)}:{column_letter(c)}" for c in guess.values()]
        ranges += [_quoted(name) for name in present]
        if not ranges:
            return read, _Now({}, {}, [])
        answer = self._get(ranges)
        header = answer[0][0] if keys and answer[0] else []
        found = (
            inventory_columns(header, self.layout, f"{self.where}, sheet {INVENTORY_SHEET}") if keys else {}
        )
        first = 1 if keys else 0  # the header row's range comes first
        values = dict(zip(guess, answer[first : first + len(guess)], strict=True))
        if moved := [k for k in keys if k in found and guess.get(k) != found[k]]:
            # a column moved since the read: read those columns again where they are now (rare)
            again = self._get(
                [f"{inventory}!{column_letter(found[k])}:{column_letter(found[k])}" for k in moved]
            )
            values |= dict(zip(moved, again, strict=True))
        tabs = dict(zip(present, answer[first + len(guess) :], strict=True))
        columns_ = {**read.columns, INVENTORY_SHEET: found or dict(read.columns[INVENTORY_SHEET])}
        status_at, state_at, used = dict(read.status_rows), dict(read.state_rows), dict(read.used_rows)
        for name, rows in tabs.items():
            columns_[name], at, used[name] = labelled(rows, name, self.where)
            if name == STATUS_SHEET:
                status_at = at
            else:
                state_at = at
        grid = replace(read, columns=columns_, status_rows=status_at, state_rows=state_at, used_rows=used)
        if not keys:
            return grid, _Now({}, {}, [])
        return grid, _keys_now(values, self.layout, _header(answer[0]))

    def _get(self, ranges: Sequence[str]) -> list[list[list[Any]]]:
        """Each range's rows, in one values:batchGet (FORMULA rendering, like the read)."""
        reply = self._call(lambda: self._batch_get(ranges))
        return [value_range.get("values", []) for value_range in reply["valueRanges"]]

    def _inventory_cells(
        self,
        read: Grid,
        grid: Grid,
        now: _Now,
        writes: Sequence[CellWrite],
        tagged: dict[str, Cells],
        waiting: dict[str, Cells],
        structure: list[dict[str, Any]],
    ) -> None:
        """The worker's Inventory cells, placed by the header row and SKU column as they are now.

        Every cell goes through its column's tag (``tagged``). A column missing is made with its
        tag (``_worker_columns``); a column there without a confirmed tag gets one, and its cells
        (``waiting``) go through it once a read finds its header there (``_apply``); ``structure``
        holds both.
        """
        worker = self.layout.worker_headers()
        written = {w.column for w in writes}
        if unknown := written - worker.keys():
            raise ValueError(f"not worker columns, refusing to write: {sorted(unknown)}")
        read_columns, now_columns = read.columns[INVENTORY_SHEET], grid.columns[INVENTORY_SHEET]
        skipped = inventory_moved(read_columns, now_columns, writes)
        wanted = {k: v for k, v in worker.items() if k in written and k not in skipped}
        if [k for k in wanted if k not in now_columns] and now.header != self._read_header:
            # Columns to add, but the header row changed during the cycle: where "right of
            # everything in use" is now is not known. The next cycle adds them from a fresh read.
            skipped |= {k for k in wanted if k not in now_columns}
            wanted = {k: v for k, v in wanted.items() if k in now_columns}
        if skipped:
            log.warning(
                "%s: the Inventory's columns changed during the cycle (%s); not writing them until the "
                "next cycle",
                self.where,
                ", ".join(worker[k] for k in sorted(skipped)),
            )
        tags, _, untagged = self._writable_columns(grid, now.header, wanted, structure)
        # A row's writes come one after another and share its row and SKU: placed once, not per cell.
        placed: CellWrite | None = None
        row: int | None = None
        for write in writes:
            if write.column not in tags and write.column not in untagged:
                continue
            if placed is None or write.row != placed.row or write.sku != placed.sku:
                placed, row = write, target_row(write, now.skus, self._anchors, now.anchors)
            if row is None:
                log.warning(
                    "%s: SKU %s moved or repeated since the read; not writing %s",
                    self.where,
                    write.sku or "(blank)",
                    write.column,
                )
                continue
            (tagged if write.column in tags else waiting).setdefault(write.column, {})[row] = _written(
                write.value
            )

    def _writable_columns(
        self, grid: Grid, header: Sequence[str], wanted: Mapping[str, str], structure: list[dict[str, Any]]
    ) -> tuple[set[str], dict[str, int], list[str]]:
        """The ``wanted`` worker columns a write may go through now, those made now, and those waiting.

        Through: a column whose tag is confirmed, and one made now with its tag (``_worker_columns``).
        Waiting: a column there without a confirmed tag, tagged now (``_confirmed_tags``). The tag
        sits where the re-read found the worker's header, and a column the merchant inserted since
        may stand there: its cells wait for a read that finds the header under the tag.
        """
        columns = grid.columns[INVENTORY_SHEET]
        present = {k: columns[k] for k in wanted if k in columns}
        confirmed = self._confirmed_tags(header, present, structure)
        made = self._worker_columns(grid, wanted, structure)
        return confirmed | made.keys(), made, sorted(present.keys() - confirmed)

    def _confirmed_tags(
        self, header: Sequence[str], columns: Mapping[str, int], structure: list[dict[str, Any]]
    ) -> set[str]:
        """The worker ``columns`` whose tag is on the column the header row names for them now.

        The tags are looked up again when the header row changed since they last were (a column
        inserted, moved, deleted or renamed). Each column without its tag there gets one, after
        any stray tag of that name is deleted, and is written by A1 until the tag is in place.
        """
        if self._tags is None or list(header) != self._tags_header:
            self._look_up_tags(header)
        assert self._tags is not None  # noqa: S101 - _look_up_tags sets it
        confirmed = {k for k, column in columns.items() if self._tags.get(k) == column}
        for name, column in columns.items():
            if name not in confirmed:
                structure += self._tag(name, column)
        return confirmed

    def _tag(self, name: str, column: int) -> list[dict[str, Any]]:
        """Requests that tag ``column`` as worker column ``name``, any stray tag of it deleted first."""
        requests_: list[dict[str, Any]] = []
        if name in self._tags_found:
            requests_.append({"deleteDeveloperMetadata": {"dataFilter": _tag_filter(name)}})
        place = {
            "sheetId": self._tabs[INVENTORY_SHEET]["sheetId"],
            "dimension": "COLUMNS",
            "startIndex": column - 1,
            "endIndex": column,
        }
        tag = {"metadataKey": COLUMN_TAG, "metadataValue": name, "visibility": "DOCUMENT"}
        requests_.append(
            {"createDeveloperMetadata": {"developerMetadata": tag | {"location": {"dimensionRange": place}}}}
        )
        self._tags_found.add(name)
        if self._tags is not None:
            self._tags.pop(name, None)  # trusted once Google says where it landed (``_tagged``)
        return requests_

    def _tagged(self, reply: Mapping[str, Any]) -> None:
        """Trust the tags just created where Google says it put them.

        Only while the header row stays as it was when they were placed: a column moved in between
        changes it, and then they are looked up.
        """
        sheet_id = self._tabs.get(INVENTORY_SHEET, {}).get("sheetId")
        for answer in reply.get("replies", []):
            metadata = answer.get("createDeveloperMetadata", {}).get("developerMetadata", {})
            if (tag := _tag_place(metadata, sheet_id)) and self._tags is not None:
                self._tags[tag[0]] = tag[1]

    def _look_up_tags(self, header: Sequence[str]) -> None:
        """Where each worker column's tag is now (one developerMetadata:search); two count as none."""
        body = {
            "dataFilters": [
                {"developerMetadataLookup": {"metadataKey": COLUMN_TAG, "locationType": "COLUMN"}}
            ]
        }
        url = f"{SHEETS_API}/v4/spreadsheets/{self.id}/developerMetadata:search"
        reply = self._call(lambda: self._http.request("post", url, json=body).json())
        sheet_id = self._tabs[INVENTORY_SHEET]["sheetId"]
        places: dict[str, list[int]] = {}
        for match in reply.get("matchedDeveloperMetadata", []):
            if tag := _tag_place(match["developerMetadata"], sheet_id):
                places.setdefault(tag[0], []).append(tag[1])
        self._tags = {name: found[0] for name, found in places.items() if len(found) == 1}
        self._tags_found, self._tags_header = set(places), list(header)

    def _worker_columns(
        self, grid: Grid, wanted: Mapping[str, str], structure: list[dict[str, Any]]
    ) -> dict[str, int]:
        """Make the ``wanted`` Inventory columns that are missing, right of everything in use.

        Each is inserted (what is there moves on, nothing is written over), headed and tagged in
        the write's one spreadsheets.batchUpdate, at once: a column the merchant inserted since
        the read moves the new ones along and keeps what it holds, and the new columns' cells go
        through their tags in the same write. Returns the columns made, by name.
        """
        columns = grid.columns[INVENTORY_SHEET]
        missing = [logical for logical in wanted if logical not in columns]
        if not missing:
            return {}
        start = max(max(columns.values()), grid.used_columns.get(INVENTORY_SHEET, 0)) + 1
        properties = self._tabs[INVENTORY_SHEET]
        sheet_id, have = properties["sheetId"], properties["gridProperties"]["columnCount"]
        place = {
            "sheetId": sheet_id,
            "dimension": "COLUMNS",
            "startIndex": start - 1,
            "endIndex": start - 1 + len(missing),
        }
        # The new columns look like the blank ones after them; like the merchant's last column
        # when the columns in use fill the grid (Google takes no column after the last).
        structure.append({"insertDimension": {"range": place, "inheritFromBefore": start > have}})
        structure.append(_update_cells(sheet_id, 0, start, [[_cell_data(wanted[k]) for k in missing]]))
        made = {logical: start + offset for offset, logical in enumerate(missing)}
        for logical, column in made.items():
            structure += self._tag(logical, column)
        return made

    def _status_cells(
        self,
        grid: Grid,
        update: StatusUpdate,
        rows: dict[tuple[str, int], Cells],
        structure: list[dict[str, Any]],
        data: list[dict[str, Any]],
    ) -> None:
        new_data, new_structure = self._missing_table(grid, STATUS_SHEET, STATUS_HEADERS)
        data += new_data
        structure += new_structure
        columns = {
            **grid.columns.get(STATUS_SHEET, {}),
            **self._new_table_columns(STATUS_SHEET, STATUS_HEADERS, grid),
        }
        labelled = status_rows(update.channels, update.guard)
        self._place(
            grid,
            STATUS_SHEET,
            columns,
            labelled,
            {k: v for k, v in grid.status_rows.items()},
            header_key,
            rows,
        )

    def _state_cells(
        self,
        grid: Grid,
        state: Mapping[str, str],
        rows: dict[tuple[str, int], Cells],
        structure: list[dict[str, Any]],
        data: list[dict[str, Any]],
    ) -> None:
        new_data, new_structure = self._missing_table(grid, STATE_SHEET, STATE_HEADERS)
        data += new_data
        structure += new_structure
        columns = {
            **grid.columns.get(STATE_SHEET, {}),
            **self._new_table_columns(STATE_SHEET, STATE_HEADERS, grid),
        }
        labelled = [(key, {"key": key, "value": value}) for key, value in state.items()]
        self._place(grid, STATE_SHEET, columns, labelled, dict(grid.state_rows), str.strip, rows)

    def _report(self, report: Report, structure: list[dict[str, Any]], data: list[dict[str, Any]]) -> None:
        """Replace a worker-owned tab whole: clear every value, then write the rows (RAW)."""
        if report.name not in self._tabs:
            add = {
                "addSheet": {"properties": {"title": report.name, "gridProperties": {"frozenRowCount": 1}}}
            }
            self._apply([add], [])
        properties = self._tabs[report.name]
        grid_size = properties["gridProperties"]
        needed_rows, needed_columns = len(report.rows) + 1, len(report.header)
        if needed_rows > grid_size["rowCount"]:
            structure.append(
                {
                    "appendDimension": {
                        "sheetId": properties["sheetId"],
                        "dimension": "ROWS",
                        "length": needed_rows - grid_size["rowCount"],
                    }
                }
            )
            grid_size["rowCount"] = needed_rows
        structure += self._widen(report.name, needed_columns)
        # updateCells over the whole tab with no rows clears each cell's value, and only that.
        structure.append(
            {"updateCells": {"range": {"sheetId": properties["sheetId"]}, "fields": "userEnteredValue"}}
        )
        values = [list(report.header), *([report_value(text) for text in row] for row in report.rows)]
        last = column_letter(needed_columns)
        data.append({"range": f"{_quoted(report.name)}!A1:{last}{needed_rows}", "values": values})

    def _place(
        self,
        grid: Grid,
        sheet_name: str,
        columns: Mapping[str, int],
        labelled: Sequence[tuple[str, Mapping[str, str]]],
        known: dict[str, int],
        key: Callable[[str], str],
        rows: dict[tuple[str, int], Cells],
    ) -> None:
        """Write labelled rows where their label already is, new labels below the last used row."""
        free = grid.used_rows.get(sheet_name, 1) + 1
        for label, values in labelled:
            if key(label) not in known:
                known[key(label)], free = free, free + 1
            for logical, text in values.items():
                rows.setdefault((sheet_name, known[key(label)]), {})[columns[logical]] = _written(text)

    def _missing_table(
        self, grid: Grid, name: str, headers: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(values, requests) that create a missing tab and its headers, or add missing headers."""
        if name not in self._tabs:
            properties = {"title": name, "gridProperties": {"frozenRowCount": 1}}
            add = {"addSheet": {"properties": properties | ({"hidden": True} if name == STATE_SHEET else {})}}
            return [{"range": f"{_quoted(name)}!A1", "values": [list(headers.values())]}], [add]
        new = self._new_table_columns(name, headers, grid)
        values = [
            {"range": _range(name, 1, column, column), "values": [[headers[k]]]} for k, column in new.items()
        ]
        return values, self._widen(name, max(new.values(), default=0))

    def _new_table_columns(self, name: str, headers: Mapping[str, str], grid: Grid) -> dict[str, int]:
        if name not in self._tabs:
            return {logical: column for column, logical in enumerate(headers, start=1)}
        known = grid.columns.get(name, {})
        start = max(known.values(), default=0) + 1
        missing = [logical for logical in headers if logical not in known]
        return {logical: start + offset for offset, logical in enumerate(missing)}

    def _widen(self, name: str, needed: int) -> list[dict[str, Any]]:
        properties = self._tabs.get(name)
        if properties is None:
            return []
        have = properties["gridProperties"]["columnCount"]
        if needed <= have:
            return []
        properties["gridProperties"]["columnCount"] = needed
        return [
            {
                "appendDimension": {
                    "sheetId": properties["sheetId"],
                    "dimension": "COLUMNS",
                    "length": needed - have,
                }
            }
        ]

    def _apply(
        self,
        structure: list[dict[str, Any]],
        data: list[dict[str, Any]],
        tagged: dict[str, Cells] | None = None,
        waiting: Mapping[str, Cells] | None = None,
    ) -> None:
        """``structure`` (one spreadsheets.batchUpdate), then ``data`` by A1 and the ``tagged`` columns.

        Columns tagged by ``structure`` (``waiting``) are written with them where one read of the
        header row finds each one's header under its tag: a column the merchant inserted between
        the re-read and the tagging may have taken the tag, and then its cells wait a cycle.
        """
        if structure:
            self._kept = None  # columns or tabs may change
            self._tagged(self._call(lambda: self._http.batch_update(self.id, {"requests": structure})))
            if any(not _tagging(request) for request in structure):
                self._tabs.clear()  # new tabs or sizes: the metadata again, only after such a change
                self._open()
        if waiting and tagged is not None:
            tagged.update(self._under_their_headers(waiting))
        if tagged:
            self._write_through_tags(data, tagged)
        elif data:
            self._call(lambda: self._http.values_batch_update(self.id, {**RAW, "data": data}))

    def _under_their_headers(self, waiting: Mapping[str, Cells]) -> dict[str, Cells]:
        """The ``waiting`` columns whose tag Google placed under their header (one values:batchGet)."""
        answer = self._get([f"{_quoted(INVENTORY_SHEET)}!1:1"])[0]
        header = _header(answer)
        worker, tags = self.layout.worker_headers(), self._tags or {}
        confirmed = {
            name: cells
            for name, cells in waiting.items()
            if 0 < (column := tags.get(name, 0)) <= len(header)
            and header_key(header[column - 1]) == header_key(worker[name])
        }
        if late := sorted(waiting.keys() - confirmed.keys()):
            log.info(
                "%s: worker column(s) %s tagged, but the header row moved meanwhile; their cells are "
                "written from the next cycle",
                self.where,
                ", ".join(worker[k] for k in late),
            )
        return confirmed

    def _write_through_tags(self, data: list[dict[str, Any]], tagged: Mapping[str, Cells]) -> None:
        """``data`` by A1 and the ``tagged`` columns through their tags, in one batchUpdateByDataFilter.

        A tagged column is written from its first row (``null`` leaves a cell alone). A tag that
        finds no column (deleted meanwhile) writes nothing, and the tags are looked up again.
        """
        by_filter = [{"dataFilter": {"a1Range": d["range"]}, "values": d["values"]} for d in data]
        by_filter += [
            {
                "dataFilter": _tag_filter(name),
                "majorDimension": "COLUMNS",
                "values": [[cells.get(row) for row in range(1, max(cells) + 1)]],
            }
            for name, cells in tagged.items()
        ]
        url = f"{SHEETS_API}/v4/spreadsheets/{self.id}/values:batchUpdateByDataFilter"
        reply = self._call(lambda: self._http.request("post", url, json={**RAW, "data": by_filter}).json())
        written = [answer.get("dataFilter") for answer in reply.get("responses", [])]
        if missed := [name for name in tagged if _tag_filter(name) not in written]:
            log.warning(
                "%s: worker column(s) %s not found by their tags (deleted?); written again next cycle",
                self.where,
                ", ".join(sorted(missed)),
            )
            self._tags = None

    # -- plumbing ------------------------------------------------------------------------------

    def _known_grid(self) -> Grid:
        if self._grid is None:
            self.read()
        assert self._grid is not None  # noqa: S101 - read() always sets it
        return self._grid

    def _open(self, *, again: bool = False) -> bool:
        """Fetch the spreadsheet's metadata (its tabs) once, or ``again``; whether it was fetched now."""
        if again:
            self._tabs.clear()
        if self._tabs:
            return False
        self._tabs = _tab_list(self._call(lambda: self._http.fetch_sheet_metadata(self.id)))
        return True

    def _batch_get(self, ranges: Sequence[str], params: Mapping[str, str] = READ_OPTIONS) -> Any:
        """One values:batchGet (:meth:`SheetsClient.get_json`)."""
        return self._http.get_json(SPREADSHEET_VALUES_BATCH_URL % self.id, {**params, "ranges": list(ranges)})

    def _call(self, action: Callable[[], T]) -> T:
        return retry.call(lambda: self._classified(action), self._sleep, attempts=ATTEMPTS)

    def _classified(self, action: Callable[[], T]) -> T:
        """Sort failures by what the worker should do: retry later, or tell the merchant."""
        try:
            return action()
        except gspread.exceptions.APIError as error:
            raise self._api_error(error) from None
        except requests.ConnectTimeout:
            raise TransientError(f"{self.where}: ConnectTimeout talking to Google Sheets") from None
        except (requests.ConnectionError, requests.Timeout) as error:
            # Sent, perhaps applied: the writes that are not safe to repeat look before they do.
            raise OutcomeUnknown(f"{self.where}: {type(error).__name__} talking to Google Sheets") from None
        except (requests.JSONDecodeError, orjson.JSONDecodeError):
            # A 200 whose body was cut short or garbled on the way: the call did apply.
            raise OutcomeUnknown(f"{self.where}: Google Sheets answered with broken JSON") from None
        except google.auth.exceptions.RefreshError as error:
            if getattr(error, "retryable", False):
                raise TransientError(f"{self.where}: Google sign-in is unavailable; retrying") from None
            raise PermanentError(
                f"{self.where}: the service account {self._account} could not sign in; check its key"
            ) from None

    def _api_error(self, error: gspread.exceptions.APIError) -> Exception:
        code, message = error.code, str(error.error.get("message", ""))
        if code == -1:  # gspread's mark for a body that is not JSON: a load balancer's HTML page
            code, message = error.response.status_code, error.response.reason or ""
        if code == 429 or code >= 500:
            after = error.response.headers.get("Retry-After")
            wait = float(after) if after and after.isdigit() else None
            kind = TransientError if code == 429 else OutcomeUnknown  # a 5xx may come after the write
            return kind(f"{self.where}: {code} {message}", retry_after=wait)
        if code == 400 and message.startswith("Unable to parse range"):
            return _TabGone(
                f"{self.where}: a tab the worker reads or writes was renamed or deleted ({code} {message}); "
                f"the worker needs the tabs {', '.join(SHEETS[:4])}: name yours back"
            )
        if code == 403:
            return PermanentError(self._share_hint())
        if code == 404:
            return PermanentError(f"{self.where} does not exist; check master.spreadsheet in the config")
        return PermanentError(f"{self.where}: {code} {message}")

    def check_editable(self) -> None:
        """Check that the service account may edit the sheet, writing nothing.

        An empty ``:batchUpdate`` is refused after the permission check: 400 ("Must specify at
        least one request") for an Editor, 403 for a Viewer or a stranger.

        Raises:
            PermanentError: it may not (the message names the account to share the sheet with).
        """

        def empty_update() -> None:
            try:
                self._http.batch_update(self.id, {"requests": []})
            except gspread.exceptions.APIError as error:
                if error.code != 400:
                    raise

        self._classified(empty_update)

    def _share_hint(self) -> str:
        return f"{self.where}: no access for {self._account}; share the sheet with {self._account} as Editor"


@dataclass(frozen=True, slots=True)
class _Now:
    """The Inventory just before a write: where each SKU is, the blank-SKU rows, the header row."""

    skus: dict[str, list[int]]  #: sku_key → rows
    anchors: dict[int, tuple[str, ...]]  #: row with a blank SKU → its count cells (see blank_anchors)
    header: list[str]
    counted: bool = False  #: the count columns were read (``anchors`` holds every blank-SKU row)
    sku_cells: list[object] = field(default_factory=list)  #: the SKU column from row 2 (``column_cells``)


def _keys_now(values: Mapping[str, list[list[Any]]], layout: Layout, header: list[str]) -> _Now:
    """``_Now`` from the SKU column and, where read, the count columns (rows of one cell each)."""

    def text(column: list[list[Any]], number: int) -> str:
        return cell_text(column[number - 1][0]) if number <= len(column) and column[number - 1] else ""

    skus: dict[str, list[int]] = {}
    anchors: dict[int, tuple[str, ...]] = {}
    sku_column = values.get(SKU, [])
    counts = [values[c] for c in layout.count_columns() if c in values]
    last = max([len(sku_column), *(len(c) for c in counts)])
    for number in range(2, last + 1):
        sku = sku_key(text(sku_column, number))
        if sku:
            skus.setdefault(sku, []).append(number)
        elif counts:
            anchors[number] = tuple(sku_key(text(column, number)) for column in counts)
    return _Now(skus, anchors, header, bool(counts), column_cells(sku_column[1:], 1))


#: A row as a write knows it: ``(sku,)``, or ``("", *counts)`` for a row with a blank SKU.
_RowKey = tuple[str, ...]


def _row_keys(now: _Now) -> dict[int, _RowKey]:
    """Each row's key in ``now``: its SKU, or its count cells when it has none (if they were read)."""
    keys: dict[int, _RowKey] = {row: ("", *counts) for row, counts in now.anchors.items()}
    keys.update((row, (sku,)) for sku, rows in now.skus.items() for row in rows)
    return keys


def _by_row_key(
    keys: Mapping[int, _RowKey], tagged: Mapping[str, Cells]
) -> dict[str, dict[_RowKey, set[str]]]:
    """Per worker column, the values written for each row key (rows as ``keys`` placed them)."""
    by_key: dict[str, dict[_RowKey, set[str]]] = {}
    for column, cells in tagged.items():
        values = by_key[column] = {}
        for row, value in cells.items():
            if row in keys:
                values.setdefault(keys[row], set()).add(cell_text(value))
    return by_key


def _moved(then: _Now, now: _Now) -> list[int]:
    """Rows whose key (``_row_keys``) is not the one ``then`` had.

    Blank-SKU rows are compared by their counts only where both reads had them.
    """
    counted = then.counted and now.counted
    if then.skus == now.skus and (not counted or then.anchors == now.anchors):
        return []  # most writes: compared at C speed, no key built
    before, after = _row_keys(then), _row_keys(now)
    if not counted:
        before = {row: key for row, key in before.items() if key[0]}
        after = {row: key for row, key in after.items() if key[0]}
    return sorted(row for row in before.keys() | after.keys() if before.get(row) != after.get(row))


def _spans(rows: Sequence[int]) -> str:
    """Sorted row numbers as ``2-9, 12``."""
    runs: list[list[int]] = []
    for row in rows:
        if runs and runs[-1][-1] == row - 1:
            runs[-1].append(row)
        else:
            runs.append([row])
    return ", ".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs)


def _header(rows: Sequence[Sequence[Any]]) -> list[str]:
    """A header row as text, trailing blanks dropped: what two reads of it compare."""
    header = [cell_text(value) for value in (rows[0] if rows else ())]
    while header and not header[-1].strip():
        header.pop()
    return header


def _written(text: str) -> int | str:
    """Worker text as a RAW value; "" clears the cell (null would leave it as it was).

    Text over Google's 50,000 characters a cell (a channel's error page quoted in a Reason) is
    cut short: Google would refuse the whole write.  Ledger cells are far shorter.
    """
    value = _clipped(cell_value(text))
    return "" if value is None else value


def _clipped(value: int | str | None) -> int | str | None:
    """A value as Google takes it: text cut to a cell's 50,000 characters."""
    if isinstance(value, str) and len(value) > MAX_CELL_CHARACTERS:
        return value[: MAX_CELL_CHARACTERS - 1] + "…"
    return value


def _tag_filter(name: str) -> dict[str, Any]:
    """The DataFilter that finds worker column ``name`` by its tag, wherever it is now."""
    lookup = {"metadataKey": COLUMN_TAG, "metadataValue": name, "locationType": "COLUMN"}
    return {"developerMetadataLookup": lookup}


def _tag_place(metadata: Mapping[str, Any], sheet_id: int | None) -> tuple[str, int] | None:
    """The worker column a piece of developer metadata tags, and the column it is on, if ours."""
    where = metadata.get("location", {}).get("dimensionRange", {})
    ours = metadata.get("metadataKey") == COLUMN_TAG and where.get("sheetId") == sheet_id
    if not ours or "metadataValue" not in metadata:
        return None
    return metadata["metadataValue"], int(where["startIndex"]) + 1


def _tagging(request: Mapping[str, Any]) -> bool:
    """A batchUpdate request that only tags or untags a column (the tab list stays as it was)."""
    return set(request) <= {"createDeveloperMetadata", "deleteDeveloperMetadata"}


def _tab_list(metadata: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Title → sheet properties, from a spreadsheets.get answer."""
    return {sheet["properties"]["title"]: sheet["properties"] for sheet in metadata["sheets"]}


@dataclass(slots=True)
class _Kept:
    """The Inventory as a whole read gave it, for the quiet reads after it (``_read_quietly``)."""

    rows: list[list[Any]]  #: every row as read, the header row first (never changed)
    spans: list[tuple[int, int]]  #: the columns a quiet read asks for: all but the worker's
    sku: int  #: the SKU column
    skus: list[object]  #: its cells from row 2, trailing blanks dropped
    last: list[list[Any]]  #: the rows the last read gave (never changed: ``_as_shown`` copies a row)
    parts: list[list[list[Any]]] | None = None  #: the merchant's columns as the last quiet read gave them
    reads: int = 0  #: quiet reads since

    def written(self, tagged: Mapping[str, Cells], columns: Mapping[str, int]) -> _Kept | None:
        """This read with the worker's cells ``tagged`` (column → row → value) in it.

        As a read gives them back: RAW values come back as written. None if one is in a row or
        column it does not have.
        """
        cells: dict[int, dict[int, Any]] = {}
        for name, values in tagged.items():
            if name not in columns:
                return None
            for row, value in values.items():
                cells.setdefault(row, {})[columns[name]] = value
        rows = _with_cells(self.rows, cells)
        last = rows if self.last is self.rows else _with_cells(self.last, cells)
        if rows is None or last is None:
            return None
        return replace(self, rows=rows, last=last)


def _with_cells(rows: list[list[Any]], cells: Mapping[int, Mapping[int, Any]]) -> list[list[Any]] | None:
    """``rows`` (row 1 first) with ``cells`` (row → column → value) set in copies of their rows.

    No row ends with a blank, as Sheets gives them. None if a row is past the last one.
    """
    rows = list(rows)
    for number, values in cells.items():
        if number > len(rows):
            return None
        line = list(rows[number - 1])
        line.extend([""] * (max(values) - len(line)))
        for column, value in values.items():
            line[column - 1] = value
        while line and line[-1] == "":
            line.pop()
        rows[number - 1] = line
    return rows


def _aligned(kept: _Kept, now: _Now) -> bool:
    """Whether the Inventory just before a write had the header row and SKU column ``kept`` has."""
    return now.header == _header(kept.rows[:1]) and same_cells([now.sku_cells], [kept.skus])


class _TabGone(StoreLayoutError):
    """A range named a tab the spreadsheet no longer has (renamed or deleted since the tab list)."""


def _ledger_row(entry: LedgerEntry, columns: Mapping[str, int]) -> list[Any]:
    """The Ledger row for ``entry`` as RAW values, placed by ``columns`` (None: a cell left alone)."""
    row: list[Any] = [None] * max(columns.values())
    for logical, text in ledger_cells(entry).items():
        row[columns[logical] - 1] = _written(text)
    return row


def _cell_data(value: object) -> dict[str, Any]:
    """A value (as read with FORMULA rendering, or worker text) as a CellData to write; {} is blank.

    Text is written as text, like RAW: a formula in a copied row arrives as its text.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, bool):
        return {VALUES_ONLY: {"boolValue": value}}
    if isinstance(value, int | float):
        return {VALUES_ONLY: {"numberValue": value}}
    return {VALUES_ONLY: {"stringValue": str(value)}}


def _update_cells(
    sheet_id: int, row: int, column: int, rows: Sequence[Sequence[dict[str, Any]]]
) -> dict[str, Any]:
    """An updateCells writing ``rows`` of CellData from 0-based ``row`` and 1-based ``column``."""
    start = {"sheetId": sheet_id, "rowIndex": row, "columnIndex": column - 1}
    return {
        "updateCells": {"start": start, "rows": [{"values": list(r)} for r in rows], "fields": VALUES_ONLY}
    }


def _last_row(a1: str) -> int:
    """The last row of an A1 range (``'Ledger'!A5:K7`` → 7); 0 if it names none."""
    match = re.search(r"(\d+)$", a1)
    return int(match[1]) if match else 0


def _quoted(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _range(sheet_name: str, row: int, first: int, last: int, last_row: int | None = None) -> str:
    """Columns ``first`` to ``last`` of ``row`` (to ``last_row``) in A1 notation."""
    return f"{_quoted(sheet_name)}!{column_letter(first)}{row}:{column_letter(last)}{last_row or row}"


def _row_ranges(rows: dict[tuple[str, int], Cells]) -> list[dict[str, Any]]:
    """Values:batchUpdate data for ``rows`` (emptied): each run of consecutive rows of a tab as one range.

    A cell a row does not set is null there, which leaves it alone.  One range a row made a first
    sync's Status 10,000 ranges, and its answer as many entries.
    """
    data: list[dict[str, Any]] = []
    run: list[Cells] = []  #: consecutive rows from ``start``
    start = ("", 0)
    for key in sorted(rows):
        if run and key != (start[0], start[1] + len(run)):
            data.append(_block(start, run))
            run = []
        if not run:
            start = key
        run.append(rows.pop(key))  # each row's cells go once in ``data``: not held twice
    if run:
        data.append(_block(start, run))
    return data


def _block(start: tuple[str, int], run: Sequence[Cells]) -> dict[str, Any]:
    """One range for consecutive rows from ``start``: their columns' span, null where a row sets none."""
    first = min(min(cells) for cells in run)
    last = max(max(cells) for cells in run)
    sheet_name, number = start
    values = [[cells.get(column) for column in range(first, last + 1)] for cells in run]
    return {"range": _range(sheet_name, number, first, last, number + len(run) - 1), "values": values}
