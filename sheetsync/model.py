"""Plain typed data shared by the core, the stores, the channels and the worker.

Everything here is a frozen value: no I/O, no behaviour beyond trivial derived properties.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import NewType

Sku = NewType("Sku", str)
ChannelName = NewType("ChannelName", str)

#: Logical names of the Inventory columns the merchant types in.
SKU = "sku"
QUANTITY = "quantity"
OVERRIDE = "override"
BUFFER = "buffer"
PRICE = "price"
REORDER_POINT = "reorder_point"
REORDER_QTY = "reorder_qty"


#: Set (to "TRUE") in a RawRow's cells when its SKU cell holds a number, not text: the sheet
#: turned what was typed into a number (``00123`` became 123, a long code lost digits), so the
#: text in ``cells[SKU]`` may not be what the merchant typed.  No layout has a column by this name.
SKU_IS_NUMBER = "sku#number"


@cache  # one string per name: every row's cells and writes share it
def buffer_column(channel: ChannelName) -> str:
    """Logical name of the per-channel buffer column (``Buffer <Channel title>`` in the sheet)."""
    return f"buffer:{channel}"


@cache  # one string per name: every row's cells and writes share it
def code_column(channel: ChannelName) -> str:
    """Logical name of a channel's own-SKU column (``SKU <Channel title>``): its code for the row."""
    return f"sku:{channel}"


@cache  # one string per name: every row's cells and writes share it
def stock_column(location: str) -> str:
    """Logical name of a location's count column (``Quantity <Location>`` in the sheet)."""
    return f"stock:{location}"


@cache  # one string per name: every row's cells and writes share it
def price_column(channel: ChannelName) -> str:
    """Logical name of the per-channel price column (``Price <Channel title>`` in the sheet)."""
    return f"price:{channel}"


#: Logical names of the Inventory columns the worker owns (to the right of the merchant's).
AVAILABLE = "available"
ROW_STATUS = "status"
REASON = "reason"
SYNCED = "synced"
PRICES_SENT = "prices_sent"


@cache  # one string per name: every row's cells and writes share it
def channel_column(channel: ChannelName) -> str:
    """Logical name of the worker column showing what ``channel`` shows for the row."""
    return f"channel:{channel}"


@dataclass(frozen=True, slots=True)
class RawRow:
    """One Inventory row as the merchant left it: raw strings, never numericised.

    ``cells`` maps a logical column name (``sku``, ``quantity``, ``channel:shopify`` …) to the
    cell's text; a blank cell is ``""`` and a column the sheet lacks is absent.
    """

    row: int  #: 1-based row number in the sheet, for messages and write-back
    cells: Mapping[str, str]


class Movement(StrEnum):
    """Why a ledger entry changes stock."""

    SALE = "SALE"  #: an order line sold on a channel (delta < 0)
    RESTOCK = "RESTOCK"  #: a cancellation or refund that puts units back (delta > 0)
    ADJUST = "ADJUST"  #: a manual adjustment typed by the merchant into the Ledger
    COUNT = "COUNT"  #: the merchant's count as the worker accepted it; resets the running total
    BUNDLE = "BUNDLE"  #: a component consumed (or put back) by a bundle's sale on a channel
    #: a channel's start line (delta 0, no SKU): its orders placed before it are not counted,
    #: because the merchant's first count already reflects them
    START = "START"
    #: an order line's units changed after the sale (an edit, a removed or partly cancelled
    #: line): delta is exactly the difference, so the line's entries add up to what it takes now
    EDIT = "EDIT"
    #: an order line not counted because its quantity is not a whole number of at least 1
    #: (delta 0): it stays in the Ledger, named, for the merchant to settle by hand
    CHECK = "CHECK"
    #: a checkpoint's fold of older rows (now in the Ledger archive): on a SKU, the sum of the
    #: movements since its count; on a channel, where its orders were read to; without either,
    #: the checkpoint's marker (delta: the rows it folded)
    CARRY = "CARRY"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One stock movement, identified by a stable key so that applying it twice changes nothing.

    For channel movements the key is ``channel/order id/line id``; a compensation (a cancel or a
    refund) carries its own line id, so it too is applied once.  A ``COUNT`` entry carries the
    merchant's count in ``delta`` (it is absolute, not a change).
    """

    key: str
    sku: Sku
    delta: int
    movement: Movement
    at: datetime  #: when the movement happened on its channel (or was recorded)
    channel: ChannelName | None = None
    order_id: str = ""
    line_id: str = ""
    cursor: str = ""  #: the source's position token for this order (see OrderSource)
    note: str = ""
    location: str = ""  #: the stock location it moves ("" when the master has no locations)

    @property
    def line_key(self) -> str:
        """The order line it comes from, as ``OrderLine.key`` names it ("" for no channel's)."""
        return f"{self.channel}/{self.order_id}/{self.line_id}" if self.channel is not None else ""


@dataclass(frozen=True, slots=True)
class RawLedgerRow:
    """One Ledger row as stored: raw strings keyed by logical ledger column."""

    row: int
    cells: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class StatusControl:
    """What the merchant typed in the Status sheet's Control column."""

    channels: Mapping[ChannelName, str] = field(default_factory=dict)
    guard: str = ""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one cycle reads from the master store, in as few calls as the store allows."""

    rows: tuple[RawRow, ...]
    ledger: tuple[RawLedgerRow, ...]
    control: StatusControl
    state: Mapping[str, str]  #: the worker's key/value state (see core.state)
    bundles: tuple[RawRow, ...] = ()  #: the Bundles sheet: bundle, component, quantity
    #: False when the Ledger tab (table) is missing or its header row has no Key column: the
    #: worker then stops rather than start a new Ledger over the lost one
    ledger_found: bool = True


@dataclass(frozen=True, slots=True)
class Report:
    """A sheet the worker owns outright (Reorder, Insights): replaced whole when written."""

    name: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class CellWrite:
    """One worker-owned Inventory cell to set; ``sku`` guards against rows moved meanwhile."""

    row: int
    sku: Sku
    column: str
    value: str


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """One row of the Status sheet: how a channel fared in the latest cycle that touched it."""

    channel: ChannelName
    title: str
    state: str  #: OK / LAG / DEGRADED / PAUSED / ERROR / HOLD
    last_sync: str
    pushed: int
    errors: int
    message: str
    last_ok: str = ""  #: the last cycle that reached the channel without an error
    lag_p50: str = ""  #: push-to-visible lag over the last hour, e.g. "42s" ("" unmeasured)
    lag_p95: str = ""
    paused: bool = False
    #: text to put in the Control cell (a pause or resume from the dashboard); None leaves it
    control: str | None = None


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """A flagged Inventory row, as the dashboard lists it."""

    row: int
    sku: str
    state: str  #: DRIFT / LAG / OVERSOLD / ERROR
    reason: str


@dataclass(frozen=True, slots=True)
class GuardStatus:
    """The volume guard's row of the Status sheet."""

    state: str  #: OK / HOLD
    checked: str
    message: str
    consume_accept: bool = False  #: clear the merchant's ACCEPT now that it has been acted on


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """Everything the worker writes back at the end of a cycle; only cells that changed."""

    cells: tuple[CellWrite, ...]
    channels: tuple[ChannelStatus, ...]
    guard: GuardStatus | None
    state: Mapping[str, str]
    reports: tuple[Report, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing to write: a store makes no call at all."""
        return not (self.cells or self.channels or self.guard or self.state or self.reports)


@dataclass(frozen=True, slots=True)
class StockLevel:
    """An absolute quantity to publish for one SKU on one channel.

    ``expected`` is what we believe the channel shows now, for platforms that can refuse to
    overwrite a number that changed behind our back.
    """

    sku: Sku
    quantity: int
    expected: int | None = None


@dataclass(frozen=True, slots=True)
class PriceLevel:
    """A price to publish for one SKU on one channel: ``amount`` in ``currency`` (ISO 4217).

    ``amount`` is positive with at most two decimal places (the planner checks it).
    """

    sku: Sku
    amount: Decimal
    currency: str

    @property
    def text(self) -> str:
        """The amount with two decimals, as price fields take it: ``"12.50"``."""
        return f"{self.amount:.2f}"


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """A channel's verdict on one pushed SKU; a refusal is flagged on that row only."""

    sku: Sku
    ok: bool
    message: str = ""


@dataclass(frozen=True, slots=True)
class ChannelLimits:
    """What a channel's API allows; the worker splits batches and the buffers read the lag."""

    max_batch: int
    typical_lag_s: float = 0.0
    #: the channel reads back quantities; one that cannot (Google Merchant online shows only in
    #: or out of stock) is never waited on for a confirmation
    reports_levels: bool = True
    #: push calls the platform takes an hour (None: no hourly limit): a sale delivered by webhook
    #: wakes this channel no more often than the limit allows (``worker.woken``)
    calls_per_hour: int | None = None
    #: SKUs a second the platform's read quota lets us read back, all of it (None: no documented
    #: limit); audits use a share of it (``ChannelSettings.audit_share``)
    read_skus_per_s: float | None = None


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line of a channel order, already translated to our SKU and sign convention.

    ``quantity`` is always positive; ``movement`` says which way it moves stock.
    """

    channel: ChannelName
    order_id: str
    line_id: str
    sku: Sku
    quantity: int
    movement: Movement
    at: datetime
    cursor: str

    @property
    def key(self) -> str:
        """The ledger key: stable across re-deliveries of the same order line."""
        return f"{self.channel}/{self.order_id}/{self.line_id}"


@dataclass(frozen=True, slots=True)
class OrderState:
    """An order's lines as the platform counts them now, after edits (a polled order's truth).

    ``units`` holds, per line id, the units the line takes from stock now before any refund's
    restock (those are their own RESTOCK lines): 0 for a removed line.  A line the ledger holds
    for this order but ``units`` does not list was removed (WooCommerce deletes edited-out lines).
    """

    channel: ChannelName
    order_id: str
    units: Mapping[str, int]
    at: datetime  #: when the order was last modified
    cursor: str


@dataclass(frozen=True, slots=True)
class OddLine:
    """An order line whose quantity is not a whole number of at least 1 (0, 1.5, -2, "abc")."""

    channel: ChannelName
    order_id: str
    line_id: str
    sku: Sku
    quantity: str  #: as the platform sent it
    at: datetime
    cursor: str


@dataclass(frozen=True, slots=True)
class OrderBatch:
    """Order lines newer than a cursor, oldest first, with the orders' current states.

    ``states`` come from polled orders only (a webhook may be older than what the ledger holds);
    ``odd`` are lines that cannot be counted as they are.
    """

    lines: tuple[OrderLine, ...]
    states: tuple[OrderState, ...] = ()
    odd: tuple[OddLine, ...] = ()


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    """One sellable product or variant as a channel lists it (``sheetsync import``).

    ``sku`` is the SKU the channel shows ("" when it has none); ``code`` is what the channel keys
    pushes by when that is not the SKU (eMAG's offer id), else "".  ``quantity`` is what the channel
    has available at its configured location, None when it does not track the item's stock.
    """

    sku: str
    title: str
    variant: str = ""
    quantity: int | None = None
    code: str = ""
    ref: str = ""  #: how the merchant finds it on the channel ("variant 1234", "offer 17")


#: Sheet (tab, table) names every master store uses.
INVENTORY_SHEET = "Inventory"
LEDGER_SHEET = "Ledger"
STATUS_SHEET = "Status"
STATE_SHEET = "State"
BUNDLES_SHEET = "Bundles"
REORDER_SHEET = "Reorder"
INSIGHTS_SHEET = "Insights"
UNMATCHED_SHEET = "Unmatched"

#: Ledger columns: logical name → header, in the order they are written.
LEDGER_HEADERS: Mapping[str, str] = {
    "key": "Key",
    "at": "Time",
    "channel": "Channel",
    "order": "Order",
    "line": "Line",
    "sku": "SKU",
    "delta": "Delta",
    "movement": "Movement",
    "cursor": "Cursor",
    "note": "Note",
    "location": "Location",
}

#: Bundles sheet columns: one row per component of a bundle.
BUNDLE_HEADERS: Mapping[str, str] = {"bundle": "Bundle", "component": "Component", "quantity": "Quantity"}

#: Status sheet columns; ``control`` is the only one the merchant types in.
STATUS_HEADERS: Mapping[str, str] = {
    "channel": "Channel",
    "control": "Control",
    "state": "State",
    "last_sync": "Last sync",
    "last_ok": "Last success",
    "lag_p50": "Lag p50",
    "lag_p95": "Lag p95",
    "pushed": "Pushed",
    "errors": "Errors",
    "message": "Message",
}

#: The Status row that reports the volume guard (its Control cell takes ACCEPT).
GUARD_ROW_LABEL = "Volume guard"

#: State sheet columns.
STATE_HEADERS: Mapping[str, str] = {"key": "Key", "value": "Value"}

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def sheet_time(at: datetime) -> str:
    """A time as the sheet shows it: ``...Z`` in UTC, else with its offset (never ambiguous)."""
    if at.utcoffset() == timedelta(0):
        return at.strftime(TIMESTAMP_FORMAT)
    return at.isoformat(timespec="seconds")


def ledger_cells(entry: LedgerEntry) -> dict[str, str]:
    """The ledger row for ``entry``, as text keyed by logical ledger column.

    The Location cell is left out when the entry has none, so a master without locations never
    needs that column.
    """
    cells = {
        "key": entry.key,
        "at": entry.at.strftime(TIMESTAMP_FORMAT),
        "channel": entry.channel or "",
        "order": entry.order_id,
        "line": entry.line_id,
        "sku": entry.sku,
        "delta": str(entry.delta),
        "movement": entry.movement.value,
        "cursor": entry.cursor,
        "note": entry.note,
    }
    if entry.location:
        cells["location"] = entry.location
    return cells


@dataclass(frozen=True, slots=True)
class Layout:
    """How logical Inventory columns map to header text, given the configured channels.

    Headers are matched case- and space-insensitively (see ``header_key``).
    """

    channels: tuple[tuple[ChannelName, str], ...]  #: (name, title), e.g. ("shopify", "Shopify")
    #: stock locations, each its own ``Quantity <Location>`` column; none: the one Quantity column
    locations: tuple[str, ...] = ()
    priced: bool = False  #: a currency is configured: Price columns are read and pushed

    def merchant_headers(self) -> dict[str, str]:
        """Columns the merchant types in; the worker reads them and never writes them."""
        headers = {SKU: "SKU", QUANTITY: "Quantity"}
        headers.update({stock_column(place): f"Quantity {place}" for place in self.locations})
        headers.update({OVERRIDE: "Override", BUFFER: "Buffer"})
        headers.update({buffer_column(name): f"Buffer {title}" for name, title in self.channels})
        headers.update({code_column(name): f"SKU {title}" for name, title in self.channels})
        if self.priced:
            headers[PRICE] = "Price"
            headers.update({price_column(name): f"Price {title}" for name, title in self.channels})
        headers.update({REORDER_POINT: "Reorder point", REORDER_QTY: "Reorder qty"})
        return headers

    def count_columns(self) -> tuple[str, ...]:
        """The columns holding the merchant's counts: one per location, or Quantity."""
        return tuple(stock_column(place) for place in self.locations) or (QUANTITY,)

    def ledger_headers(self) -> dict[str, str]:
        """The Ledger columns the worker writes (Location only when there are locations)."""
        if self.locations:
            return dict(LEDGER_HEADERS)
        return {k: v for k, v in LEDGER_HEADERS.items() if k != "location"}

    def worker_headers(self) -> dict[str, str]:
        """Columns the worker owns, in the order it adds them to the right of the merchant's."""
        headers = {AVAILABLE: "Available"}
        headers.update({channel_column(name): title for name, title in self.channels})
        headers.update({ROW_STATUS: "Status", REASON: "Reason", SYNCED: "Synced"})
        if self.priced:
            headers[PRICES_SENT] = "Prices sent"
        return headers


def header_key(text: str) -> str:
    """Normalise header text for matching: case-folded, inner whitespace collapsed."""
    return " ".join(text.split()).casefold()
