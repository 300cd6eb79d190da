"""The worker: the one place where I/O is sequenced.

``run_cycle`` runs one cycle as a sequence of phases (its docstring says why a crash between
any two is safe); ``run_forever`` runs cycles at each channel's interval.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import math
import os
import signal
import socket
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import FrameType
from typing import TypeVar

from sheetsync.alerts import Alerter, AlertSink, SlackWebhook, SmtpMail
from sheetsync.channels import CatalogueSource, Channel, Metered, OrderSource, PriceChannel
from sheetsync.channels.amazon import AmazonChannel
from sheetsync.channels.emag import EmagChannel
from sheetsync.channels.google_merchant import GoogleMerchantChannel
from sheetsync.channels.meta import MetaChannel
from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.channels.shopify import ShopifyChannel
from sheetsync.channels.woocommerce import WooCommerceChannel
from sheetsync.config import (
    SLACK_WEBHOOK_ENV,
    SMTP_PASSWORD_ENV,
    AirtableMaster,
    AmazonAccount,
    ChannelSettings,
    EmagAccount,
    MerchantCenter,
    MetaCatalog,
    Settings,
    ShopifyShop,
    WooStore,
    WorkbookMaster,
    airtable_token,
    channel_secret,
    channel_service_account,
    service_account_info,
)
from sheetsync.core import ledger as ledger_
from sheetsync.core.bundles import Bundles, parse_bundles
from sheetsync.core.cells import ParsedRows, parse_rows
from sheetsync.core.codes import Codes, codes
from sheetsync.core.incidents import Alert, conditions, group, track
from sheetsync.core.monitor import (
    Finding,
    Watch,
    audit_slice,
    lag_percentiles,
    observe,
    pushed,
    stepped_back,
)
from sheetsync.core.plan import (
    ChannelHealth,
    ChannelResult,
    ChannelSpec,
    GuardVerdict,
    Plan,
    apply_findings,
    channel_statuses,
    discrepancies,
    guard_status,
    hold_unconfirmed,
    plan,
    row_cells,
    volume_guard,
)
from sheetsync.core.preview import (
    CONFIRM_WORD,
    Preview,
    first_sync_holds,
    held_statuses,
    hold,
    hold_incidents,
    live_channels,
    preview,
)
from sheetsync.core.reports import insights_report, reorder_report, units_sold, unmatched
from sheetsync.core.sales import Basis, capped
from sheetsync.core.state import WorkerState, parse_state, state_cells
from sheetsync.core.stock import counted, stock_levels
from sheetsync.errors import LeaseHeld, PermanentError, SyncError, TransientError
from sheetsync.fastpath import FastPath, FastPush
from sheetsync.model import (
    INSIGHTS_SHEET,
    REORDER_SHEET,
    TIMESTAMP_FORMAT,
    ChannelName,
    ChannelStatus,
    Discrepancy,
    LedgerEntry,
    Movement,
    OddLine,
    OrderLine,
    OrderState,
    PriceLevel,
    PushOutcome,
    Report,
    Sku,
    StatusControl,
    StatusUpdate,
    StockLevel,
    sheet_time,
)
from sheetsync.pacing import Quotas, Usage, month_of, pace, share
from sheetsync.stores import ArchivingStore, LeasedStore, MasterStore, airtable
from sheetsync.stores.google_sheets import GoogleSheetsStore, connect
from sheetsync.stores.workbook import WorkbookStore

Item = TypeVar("Item")  #: a quantity or a price to send

log = logging.getLogger(__name__)

#: Control-cell words that pause a channel (a Google Sheets checkbox reads TRUE).
PAUSE_WORDS = frozenset({"pause", "paused", "true", "yes", "x"})


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one cycle did, for logs, the CLI and tests."""

    at: datetime
    ingested: int
    pushed: Mapping[ChannelName, int]
    refused: int
    errors: Mapping[ChannelName, tuple[str, ...]]
    held: bool
    flagged_rows: int
    plan: Plan = field(repr=False)
    #: the Status rows written this cycle (channels talked to), for the dashboard and metrics
    statuses: tuple[ChannelStatus, ...] = ()
    #: every Inventory row flagged DRIFT, LAG, OVERSOLD or ERROR after this cycle
    discrepancies: tuple[Discrepancy, ...] = ()
    alerts: tuple[Alert, ...] = ()  #: incidents opened or cleared this cycle

    def summary(self) -> str:
        """One log line."""
        pushes = ", ".join(f"{name} {count}" for name, count in self.pushed.items()) or "none"
        text = f"ingested {self.ingested} order lines; pushed {pushes}; {self.flagged_rows} rows flagged"
        if self.held:
            text += "; HELD by the volume guard"
        for name, errors in self.errors.items():
            text += f"; {name}: {'; '.join(errors)}"
        return text


def run_cycle(
    store: MasterStore,
    channels: Sequence[Channel],
    settings: Settings,
    now: datetime,
    due: Collection[ChannelName] | None = None,
    accept_shrink: bool = False,
    delivered: Sequence[OrderLine] = (),
    controls: Mapping[ChannelName, str] | None = None,
    alert: Callable[[Sequence[Alert]], None] | None = None,
    since: datetime | None = None,
    owner: str | None = None,
    confirm: Collection[ChannelName] = (),
    fast: FastPath | None = None,
    fast_pushes: Sequence[FastPush] = (),
) -> CycleReport:
    """Run one sync cycle against ``channels`` that are ``due`` (all of them when None).

    ``since`` moves each due order source's start line to that time (the merchant's count was
    taken then): orders placed from then on are counted, earlier ones not.  ``owner`` names this
    worker: with it, the cycle takes (or renews) the master's single-writer lease right after
    reading, and raises ``LeaseHeld`` before writing anything when another worker holds it.
    ``confirm`` names channels whose first live sync the merchant confirmed (``--confirm``), as
    CONFIRM in their Control cell does (see ``core.preview``).

    ``delivered`` are order lines pushed to us (webhooks); like polled ones, each counts once.
    ``controls`` are Control-cell edits (a pause from the dashboard): they take effect now and
    are written to the Status tab.  ``alert`` receives the incidents opened or cleared.
    ``fast`` is the sale fast path: the cycle leaves it its plan and takes turns with it on each
    channel; ``fast_pushes`` are what it pushed since the last cycle (see ``sheetsync.fastpath``).

    The phases are the crash boundaries: read the master, ingest new order lines into the
    ledger, plan, observe what the channels show, push, record.  A kill between any two is safe:

    - The ledger append is the single commit point.  Killed before it, the next cycle reads the
      same orders again; killed after it, their keys are in the ledger, so none counts twice.
    - Order cursors derive from the ledger, so they never run ahead of the entries they cover.
    - A push sets the channel to an absolute target, so pushing it again is harmless: a cycle
      killed after the append re-plans from the ledger and pushes the same quantities.
    - The Status tab and the worker state are written last, so they never record a cycle that
      did not finish.

    A Ledger the State says existed but that is now missing or headless stops the cycle before
    anything is read from a channel or pushed (see ``_halt``): a new empty Ledger would re-read
    nothing, forget every adjustment and push the raw counts.
    """
    controls = controls or {}
    due_names = ({c.name for c in channels} if due is None else set(due)) | set(controls)
    cycle = _Cycle(channels, settings, now, due_names, controls, since, tuple(fast_pushes))
    read = _read(store, cycle)
    if owner is not None and isinstance(store, LeasedStore):
        holder = store.acquire(owner, now, lease_s(settings))
        if holder is not None:
            raise LeaseHeld(f"{holder}; this worker ({owner}) writes nothing until it is free")
    if read.lost:
        return _halt(store, cycle, read, read.lost, alert)
    ingested, planned, observed = _decide(store, cycle, read, delivered, accept_shrink, confirm)
    if fast is not None:
        fast.rebase(_basis(read, planned, observed), read.codes, _believed(observed.final), _counted(planned))
    final, results = _push_all(cycle, observed.final, observed.errors, read.codes, fast)
    observed = replace(observed, final=final)
    report = _record(store, cycle, read, ingested, planned, observed, results, alert)
    log.info("cycle: %s", report.summary())
    return report


def preview_cycle(
    store: MasterStore,
    channels: Sequence[Channel],
    settings: Settings,
    now: datetime,
    accept_shrink: bool = False,
    confirm: Collection[ChannelName] = (),
) -> Preview:
    """What a cycle would push to every channel now, and why; nothing is written anywhere.

    The cycle's own phases run up to the push: the master is read, orders are polled and the
    channels read back as a cycle would, and the plan is made and gated the same way.  Every
    write phase is left out: no lease, no Ledger append, no push, no Status or State write, no
    alert.  The next real cycle, given the same orders and figures, pushes exactly the preview.
    """
    cycle = _Cycle(channels, settings, now, {c.name for c in channels}, {})
    read = _read(store, cycle)
    if read.lost:
        return Preview(now, (), halted=read.lost)
    _, planned, observed = _decide(store, cycle, read, (), accept_shrink, confirm, commit=False)
    return preview(observed.final, planned.specs, observed.holds, observed.errors, now, settings.currency)


def _decide(
    store: MasterStore,
    cycle: _Cycle,
    read: _Read,
    delivered: Sequence[OrderLine],
    accept_shrink: bool,
    confirm: Collection[ChannelName],
    commit: bool = True,
) -> tuple[_Ingested, _Planned, _Observed]:
    """Ingest (appending to the Ledger only if ``commit``), plan, observe and gate: the final plan."""
    ingested = _ingest(store, cycle, read, delivered, commit)
    planned = _plan(cycle, read, ingested.fresh, accept_shrink)
    observed = _observe(cycle, planned, read.watches, ingested.errors, read.codes)
    return ingested, planned, _gate(cycle, read, planned, observed, confirm)


#: The errors each channel met so far this cycle, in the order met.
_Errors = Mapping[ChannelName, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class _Cycle:
    """What one cycle was asked to do: the same for every phase."""

    channels: Sequence[Channel]
    settings: Settings
    now: datetime
    due: Collection[ChannelName]  #: the channels talked to: the due ones and those with a Control edit
    controls: Mapping[ChannelName, str]
    since: datetime | None = None  #: where to move the start lines to (``sheetsync sync --since``)
    fast_pushes: tuple[FastPush, ...] = ()  #: what the sale fast path set since the last cycle

    @property
    def epoch(self) -> float:
        """``now`` in seconds, as the channel watches keep time."""
        return self.now.timestamp()

    @property
    def configured(self) -> dict[ChannelName, ChannelSettings]:
        """Each channel's settings by name."""
        return {c.name: c for c in self.settings.channels}

    @property
    def titles(self) -> dict[ChannelName, str]:
        """Each channel's title, as the sheet shows it."""
        return {c.name: c.title for c in self.settings.channels}

    @property
    def places(self) -> dict[ChannelName, tuple[str, ...]]:
        """Each channel's stock locations, preferred first (empty without locations)."""
        return {c.name: c.locations for c in self.settings.channels}


@dataclass(frozen=True, slots=True)
class _Read:
    """The master as the cycle read it, and each channel's watch as the last cycle left it."""

    control: StatusControl
    ledger: ledger_.ParsedLedger
    bundles: Bundles
    parsed: ParsedRows
    counts: Mapping[ledger_.Place, int]  #: the merchant's count per SKU and location
    state: WorkerState
    watches: Mapping[ChannelName, Watch]
    lags: Mapping[ChannelName, tuple[float, float] | None]  #: p50 and p95, None until measured
    lost: str = ""  #: why the Ledger counts as lost ("" when it is there)
    codes: Codes = field(default_factory=Codes)  #: the rows' own SKUs on channels using other codes


@dataclass(frozen=True, slots=True)
class _Ingested:
    """What the ingest phase appended, the channels not read, and how far each channel was read."""

    fresh: Sequence[LedgerEntry]
    errors: _Errors
    read: Mapping[ChannelName, str]  #: see WorkerState.read


@dataclass(frozen=True, slots=True)
class _Planned:
    """The plan before any channel is read back, and what the later phases need of its inputs."""

    draft: Plan
    specs: tuple[ChannelSpec, ...]  #: one per channel, in the channels' order
    available: Mapping[Sku, int]  #: per SKU, over every location
    entries: tuple[LedgerEntry, ...]  #: the whole ledger, this cycle's entries included
    applied: int  #: ledger rows the channel columns had absorbed before this cycle
    reach: Mapping[tuple[ChannelName, Sku], int] = field(default_factory=dict)  #: see StockLevels
    velocity: Mapping[tuple[ChannelName, Sku], float] = field(default_factory=dict)
    in_flight: Mapping[tuple[ChannelName, Sku], int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Observed:
    """The plan to push, corrected by what the channels showed, and the watches that saw it."""

    final: Plan
    watches: Mapping[ChannelName, Watch]
    errors: _Errors
    #: channels whose first live sync waits for the merchant, with their Status message
    holds: Mapping[ChannelName, str] = field(default_factory=dict)
    #: channels whose first live sync the merchant confirmed this cycle
    confirmed: frozenset[ChannelName] = frozenset()


def _read(store: MasterStore, cycle: _Cycle) -> _Read:
    """Read and parse the master; what cannot be parsed is logged and left out."""
    settings = cycle.settings
    snapshot = store.read()
    ledger = ledger_.parse_ledger(snapshot.ledger, settings.locations)
    bundles = parse_bundles(snapshot.bundles)
    for message in (*ledger.problems, *bundles.stray):
        log.warning("%s", message)
    parsed = parse_rows(snapshot.rows, settings.layout, bundles)
    for problem in parsed.problems:
        log.warning(
            "Inventory row %d (SKU %s): %s",
            problem.row,
            problem.sku or "blank",
            "; ".join(problem.messages),
        )
    state = parse_state(snapshot.state)
    configured = cycle.configured
    watches = {c.name: state.watches.get(c.name, Watch()) for c in cycle.channels}
    for push in cycle.fast_pushes:  # the fast path's pushes are ours: watched, not drift
        channel = next(c for c in cycle.channels if c.name == push.channel)
        watches[push.channel] = pushed(
            watches[push.channel],
            [(push.sku, push.quantity)],
            push.at,
            configured[push.channel].max_lag_s,
            before={push.sku: push.before},
            reports=channel.limits.reports_levels,
        )
    watches = {name: stepped_back(watch, cycle.epoch) for name, watch in watches.items()}
    lags = {
        c.name: lag_percentiles(watches[c.name], cycle.epoch, configured[c.name].max_lag_s)
        for c in cycle.channels
    }
    counts = counted(parsed.rows)
    headers = settings.layout.ledger_headers().values()
    lost = _lost(snapshot.ledger_found, len(snapshot.ledger), state.ledger_applied or 0, headers)
    return _Read(
        snapshot.control, ledger, bundles, parsed, counts, state, watches, lags, lost, codes(parsed.rows)
    )


def _lost(found: bool, rows: int, held: int, headers: Collection[str]) -> str:
    """Why the Ledger counts as lost: the State says it held rows, and it is missing or empty now."""
    if not held or (found and rows):
        return ""
    what = "is empty" if found else "is missing, renamed, or its header row no longer has a Key column"
    return (
        f"the Ledger tab {what}, but it held {held} rows: nothing is read or pushed until it is back. "
        f'Rename the tab back to "Ledger", restore its header row ({", ".join(headers)}), or restore it '
        "from the version history; do not start a new one"
    )


def _halt(
    store: MasterStore,
    cycle: _Cycle,
    read: _Read,
    why: str,
    alert: Callable[[Sequence[Alert]], None] | None,
) -> CycleReport:
    """Stop a cycle that must not sync: every channel ERROR with ``why``, one alert, nothing pushed."""
    stamp = sheet_time(cycle.now.astimezone(cycle.settings.zone))
    statuses = tuple(
        ChannelStatus(c.name, c.title, "ERROR", stamp, 0, 1, why)
        for c in cycle.settings.channels
        if c.name in cycle.due
    )
    incidents, alerts = track(read.state.incidents, {**read.state.incidents, "ledger": why}, cycle.now)
    if alert is not None and alerts:
        alert(alerts)
    state = replace(read.state, incidents=incidents)
    store.write_status(StatusUpdate(cells=(), channels=statuses, guard=None, state=state_cells(state)))
    log.error("cycle stopped: %s", why)
    guard = GuardVerdict(held=True, message=why, accepted=False, rows=0, total=0)
    return CycleReport(
        at=cycle.now,
        ingested=0,
        pushed={},
        refused=0,
        errors={status.channel: (why,) for status in statuses},
        held=True,
        flagged_rows=0,
        plan=Plan((), (), guard),
        statuses=statuses,
        alerts=tuple(alerts),
    )


def _ingest(
    store: MasterStore, cycle: _Cycle, read: _Read, delivered: Sequence[OrderLine], commit: bool = True
) -> _Ingested:
    """Append the order lines ``delivered`` and polled from due channels, each once, to the ledger.

    A due order source's first sync (no entry in the ledger yet) records its start line instead
    of reading its history: the merchant's count already reflects every earlier order.  Orders
    placed before a channel's start line are never counted.  Polled orders' current states give
    EDIT corrections; lines that cannot be counted give CHECK entries.  The append, start lines
    included, is the cycle's commit point (see ``run_cycle``); without ``commit`` (a preview)
    nothing is appended.
    """
    errors: dict[ChannelName, tuple[str, ...]] = {c.name: () for c in cycle.channels}
    lines: list[OrderLine] = list(delivered)
    states: list[OrderState] = []
    odd: list[OddLine] = []
    entries = read.ledger.entries
    known = {e.channel for e in entries}
    started: list[LedgerEntry] = []
    marks = dict(read.state.read)
    for channel in cycle.channels:
        if channel.name not in cycle.due or not isinstance(channel, OrderSource):
            continue
        start, problem = _start_line(cycle, channel, entries, channel.name in known, read.ledger.keys)
        if problem:
            errors[channel.name] += (problem,)
            continue
        if start is not None:
            started.append(start)
            entries = (*entries, start)
            if cycle.since is None and channel.name not in known:
                continue  # a new install reads nothing: its count reflects every order so far
        since = _resume(entries, marks.get(channel.name, ""), channel.name)
        try:
            batch = channel.orders_since(since)
        except SyncError as error:
            errors[channel.name] += (f"orders not read: {error}",)
            continue
        lines += batch.lines
        states += batch.states
        odd += batch.odd
        cursors = [x.cursor for x in batch.lines] + [x.cursor for x in batch.states]
        read_to = max([*cursors, *(x.cursor for x in batch.odd)], default="")
        if read_to > (since or ""):
            marks[channel.name] = f"{read_to} {_start_of(entries, channel.name)}"
    lines = [replace(line, sku=read.codes.ours(line.channel, line.sku)) for line in lines]
    odd = [replace(line, sku=read.codes.ours(line.channel, line.sku)) for line in odd]
    archived = _archived(store, read, [*lines, *odd], cycle.settings.locations)
    begun = ledger_.starts(entries)
    lines = ledger_.after_start(lines, (*(archived.entries if archived else ()), *entries), begun)
    odd = [line for line in odd if line.channel not in begun or line.at >= begun[line.channel]]
    routing = ledger_.Routing(cycle.places, read.bundles.parts)
    # Which location a sale takes stock from depends on what is left there.
    before = ledger_.available(read.counts, entries) if cycle.settings.locations else None
    fresh = [
        *started,
        *ledger_.new_entries(
            lines,
            read.ledger,
            read.counts,
            cycle.now,
            routing,
            before,
            states=states,
            odd=odd,
            archived=archived,
        ),
    ]
    if commit:
        store.append_ledger(fresh)
    return _Ingested(fresh, errors, marks)


def _archived(
    store: MasterStore, read: _Read, lines: Sequence[OrderLine | OddLine], locations: Sequence[str]
) -> ledger_.ParsedLedger | None:
    """The archived Ledger rows, read only when an order older than the last checkpoint turned up.

    Its lines may be in the archive (a refund re-reads the whole order), so their keys must be
    known there, and its edits need the units its lines were sold with.
    """
    fold = read.ledger.fold
    if (
        fold is None
        or not isinstance(store, ArchivingStore)
        or all(line.at >= fold.horizon for line in lines)
    ):
        return None
    return ledger_.parse_ledger(store.read_archive(), locations)


def _start_line(
    cycle: _Cycle, channel: Channel, entries: Sequence[LedgerEntry], known: bool, keys: Collection[str]
) -> tuple[LedgerEntry | None, str]:
    """The start line to record for ``channel`` this cycle, if any, or why its orders cannot be read.

    A channel with no entry gets its first start line (now, or at ``cycle.since``); with
    ``cycle.since``, a known channel's start line moves there, once.
    """
    name = channel.name
    if not known:
        if ledger_.start_key(name) in keys:  # there, but unreadable
            return None, (
                f"orders not read: its start line (Ledger key {ledger_.start_key(name)}) cannot be read; "
                "correct that row"
            )
        at = cycle.since or cycle.now
        return ledger_.start_entry(name, at, _start_cursor(channel, at)), ""
    if cycle.since is not None and _start_of(entries, name) != ledger_.start_key(name, cycle.since):
        return ledger_.start_entry(name, cycle.since, _start_cursor(channel, cycle.since), moved=True), ""
    return None, ""


def _start_cursor(channel: Channel, now: datetime) -> str:
    """Where a channel's start line at ``now`` resumes reading its orders.

    Shopify and WooCommerce cursors are times (see ``ledger_.start_cursor``).  The sandbox's are
    sequence numbers that no time sorts against, so its start line carries no cursor: it is read
    from its beginning, and the start line's time alone keeps earlier orders out.
    """
    return "" if isinstance(channel, SandboxChannel) else ledger_.start_cursor(now)


def _start_of(entries: Sequence[LedgerEntry], channel: ChannelName) -> str:
    """The key of ``channel``'s last start line: a read mark holds only while it stays the last."""
    return next(
        (e.key for e in reversed(entries) if e.channel == channel and e.movement is Movement.START), ""
    )


def _resume(entries: Sequence[LedgerEntry], mark: str, channel: ChannelName) -> str | None:
    """Where to read ``channel``'s orders from: its ledger cursor, or further if the State's read mark is.

    The mark (``<cursor> <start line key>``) is written with the state, after the append that
    holds every line read up to it, so it never runs ahead of the ledger either.
    """
    since = ledger_.cursor(entries, channel)
    cursor, _, start = mark.partition(" ")
    if cursor and start == _start_of(entries, channel) and cursor > (since or ""):
        return cursor
    return since


def _plan(cycle: _Cycle, read: _Read, fresh: Sequence[LedgerEntry], accept_shrink: bool) -> _Planned:
    """Plan what each channel should show, from the counts, the ledger and the last state."""
    state = read.state
    entries = (*read.ledger.entries, *fresh)
    applied = (
        read.ledger.size
        if state.ledger_applied is None
        else read.ledger.applied(state.ledger_applied, state.fold)
    )
    moves = ledger_.channel_moves(read.ledger, fresh, since=applied)
    # The movements the Available cells have taken in: the guard tells a recount from a bad paste.
    absorbed = [e for e, p in zip(read.ledger.entries, read.ledger.positions, strict=True) if p < applied]
    guard = volume_guard(
        read.parsed,
        state,
        cycle.settings.guard.max_drop,
        accept_shrink or _accepts(read.control.guard),
        absorbed=absorbed,
    )
    control = {**read.control.channels, **cycle.controls}
    # Sales rates and order sizes weigh only with an adaptive buffer.
    adaptive = any(c.adaptive is not None for c in cycle.settings.channels)
    sales = ledger_.recent_sales(entries, cycle.now) if adaptive else ledger_.RecentSales({}, {})
    largest, velocity = sales.largest, sales.velocity
    specs = tuple(
        _spec(
            channel, cycle.settings, control, cycle.due, read.lags[channel.name], largest.get(channel.name, 1)
        )
        for channel in cycle.channels
    )
    levels = stock_levels(read.parsed.rows, ledger_.available(read.counts, entries), cycle.places)
    in_flight = {
        (name, sku): quantity
        for name, watch in read.watches.items()
        for sku, quantity in watch.in_flight().items()
    }
    if cycle.fast_pushes:
        since = [e for e, p in zip(read.ledger.entries, read.ledger.positions, strict=True) if p >= applied]
        moves = _fast_moves(cycle.fast_pushes, read.parsed, moves, [*since, *fresh])
    draft = plan(
        read.parsed, levels.total, moves, specs, guard, velocity, in_flight, levels.reach, entries=entries
    )
    return _Planned(draft, specs, levels.total, entries, applied, levels.reach, velocity, in_flight)


def _fast_moves(
    pushes: Sequence[FastPush],
    parsed: ParsedRows,
    moves: Mapping[tuple[ChannelName, Sku], int],
    since: Sequence[LedgerEntry],
) -> dict[tuple[ChannelName, Sku], int]:
    """``moves`` such that a channel the fast path set is believed at that figure.

    The planner believes a channel shows its column's figure plus its own sales since
    (``moves``).  Where the fast path set a quantity since, the channel shows that quantity plus
    its own sales the push did not allow for; the move is what takes the column there.
    """
    latest = {(push.channel, push.sku): push for push in pushes}
    columns = {row.sku: row.believed for row in parsed.rows}
    adjusted = dict(moves)
    for (name, sku), push in latest.items():
        column = columns.get(sku, {}).get(name)
        if column is None:
            continue
        unseen = sum(
            e.delta
            for e in since
            if e.channel == name
            and e.sku == sku
            and e.movement in ledger_.CHANNEL_MOVEMENTS
            and e.line_key not in push.seen
        )
        adjusted[(name, sku)] = push.quantity + unseen - column
    return adjusted


def _basis(read: _Read, planned: _Planned, observed: _Observed) -> Basis:
    """What the fast path plans a sale on until the next cycle: this one's rows, stock and rules."""
    rows = {row.sku: row for row in read.parsed.rows}
    specs = tuple(
        replace(spec, paused=True) if spec.name in observed.holds else spec for spec in planned.specs
    )
    return Basis(
        rows,
        planned.available,
        planned.reach,
        specs,
        observed.final.guard.held,
        planned.velocity,
        planned.in_flight,
    )


def _believed(final: Plan) -> dict[tuple[ChannelName, Sku], int]:
    """What the cycle believes each channel shows of each row before it pushes."""
    return {
        (name, row.row.sku): decision.believed
        for row in final.rows
        for name, decision in row.decisions.items()
        if decision.believed is not None
    }


def _counted(planned: _Planned) -> frozenset[str]:
    """The order lines the Ledger counts, by ``OrderLine.key``."""
    return frozenset(e.line_key for e in planned.entries if e.channel is not None)


def _observe(
    cycle: _Cycle, planned: _Planned, watches: Mapping[ChannelName, Watch], errors: _Errors, codes: Codes
) -> _Observed:
    """Read back what each channel shows of the SKUs that matter; flag lag and drift, hold raises.

    A channel is read for the SKUs it would be raised on and, when due and not paused, those
    its watch still follows and the audit's slice (``monitor.audit_slice``: every SKU once each
    ``audit_every``, within ``audit_share`` of the platform's read quota).  A channel that
    cannot be read keeps its raises held.
    """
    configured, epoch, draft = cycle.configured, cycle.epoch, planned.draft
    watches, errors = dict(watches), dict(errors)
    reported: dict[ChannelName, Mapping[Sku, int]] = {}
    findings: dict[ChannelName, Mapping[Sku, Finding]] = {}
    every = draft.swept()  # what the audit sweeps, in order: the same for every channel
    for channel, spec in zip(cycle.channels, planned.specs, strict=True):
        name, watch = channel.name, watches[channel.name]
        if not channel.limits.reports_levels:  # nothing to read back, so nothing waits on it
            watches[name] = observe(watch, {}, {}, epoch, configured[name].max_lag_s, reports=False)[0]
            continue
        raises = draft.raises(name)
        wanted = set(raises)
        audited = watch
        if spec.due and not spec.paused:
            wanted |= {*watch.pending, *watch.mismatch, *watch.recent}
            quota = channel.limits.read_skus_per_s
            pace = None if quota is None else quota * configured[name].audit_share
            chosen, audited = audit_slice(watch, every, epoch, configured[name].audit_every_s, pace)
            wanted.update(chosen)
        if not wanted:
            continue
        asked = sorted(wanted)  # in order, so lag samples (and the simulator) repeat exactly
        try:
            reported[name] = _read_levels(channel, asked, codes)
        except SyncError as error:
            errors[name] += (f"levels not read, raises held: {error}",)
            reported[name] = {sku: 0 for sku in raises}
            continue
        believed = draft.believed(name, asked)
        watch, findings[name] = observe(
            watch, believed, reported[name], epoch, configured[name].max_lag_s, read=asked
        )
        watches[name] = replace(watch, audited=audited.audited, audit_mark=audited.audit_mark)
    pending = {name: watch.pending for name, watch in watches.items()}
    final = hold_unconfirmed(apply_findings(draft, findings), reported, cycle.titles, pending)
    return _Observed(final, watches, errors)


def _gate(
    cycle: _Cycle, read: _Read, planned: _Planned, observed: _Observed, confirm: Collection[ChannelName]
) -> _Observed:
    """Hold the first live sync of a channel that would change many quantities until confirmed.

    A confirmation is ``confirm`` or CONFIRM in the channel's Control cell (typed, or sent by the
    dashboard); it counts only for a channel not live yet and pushed to this cycle.  Sandbox
    channels are local simulations: nothing to protect there.
    """
    live = live_channels(read.state)
    asked = set(confirm) | _confirming({**read.control.channels, **cycle.controls})
    final, guard = observed.final, observed.final.guard
    confirmed = frozenset(
        spec.name
        for spec in planned.specs
        if spec.name in asked and spec.due and not spec.paused and not guard.held and spec.name not in live
    )
    sandboxes = {c.name for c in cycle.channels if isinstance(c, SandboxChannel)}
    holds = first_sync_holds(final, planned.specs, live, confirmed, cycle.settings.first_sync, sandboxes)
    return replace(observed, final=hold(final, holds), holds=holds, confirmed=confirmed)


def _confirming(control: Mapping[ChannelName, str]) -> set[ChannelName]:
    """Channels whose Control cell says CONFIRM."""
    return {name for name, text in control.items() if text.strip().casefold() == CONFIRM_WORD.casefold()}


def _push_all(
    cycle: _Cycle, final: Plan, errors: _Errors, codes: Codes, fast: FastPath | None = None
) -> tuple[Plan, dict[ChannelName, ChannelResult]]:
    """Push ``final`` to every channel; each result's errors are all its channel met this cycle.

    With the fast path, each channel's push takes its turn there and is capped by the sales
    delivered since the master was read; the plan returned is the one pushed.
    """
    results = {}
    for channel in cycle.channels:
        name = channel.name
        turn: AbstractContextManager[Mapping[Sku, int]] = (
            nullcontext({}) if fast is None else fast.pushing(name)
        )
        with turn as caps:
            final = capped(final, {name: caps})
            result = _push(channel, final, list(errors[name]), cycle.settings.currency, codes)
            if fast is not None:
                fast.pushed(name, _accepted(final, name, result))
        results[name] = result
    return final, results


def _accepted(final: Plan, name: ChannelName, result: ChannelResult) -> dict[Sku, int]:
    """The quantities ``name`` accepted of those ``final`` pushed."""
    return {
        level.sku: level.quantity
        for level in final.pushes(name)
        if (outcome := result.outcomes.get(level.sku)) is not None and outcome.ok
    }


def _record(
    store: MasterStore,
    cycle: _Cycle,
    read: _Read,
    ingested: _Ingested,
    planned: _Planned,
    observed: _Observed,
    results: Mapping[ChannelName, ChannelResult],
    alert: Callable[[Sequence[Alert]], None] | None,
) -> CycleReport:
    """Alert, then write the Status tab, the reports and the worker state; report the cycle."""
    settings, now, epoch, configured = cycle.settings, cycle.now, cycle.epoch, cycle.configured
    fresh, read_to = ingested.fresh, ingested.read
    final, state, guard = observed.final, read.state, observed.final.guard
    watches = dict(observed.watches)
    titles = cycle.titles
    live = live_channels(state)
    stamp = now.strftime(TIMESTAMP_FORMAT)
    live.update((name, f"{stamp} confirmed") for name in observed.confirmed)
    usage, paces = _spending(cycle.channels, state.usage, now)
    health = {}
    for channel, spec in zip(cycle.channels, planned.specs, strict=True):
        name = channel.name
        accepted = [
            (level.sku, level.quantity)
            for level in final.pushes(name)
            if (outcome := results[name].outcomes.get(level.sku)) is not None and outcome.ok
        ]
        reset = results[name].reset_from
        before = {level.sku: reset.get(level.sku, level.expected) for level in final.pushes(name)}
        watch = pushed(
            watches[name],
            accepted,
            epoch,
            configured[name].max_lag_s,
            before=before,
            reports=channel.limits.reports_levels,
        )
        if accepted and name not in live:
            live[name] = f"{stamp} pushed"
        if spec.due and not results[name].errors:
            watch = replace(watch, last_ok=epoch)
        watches[name] = watch
        health[name] = ChannelHealth(
            lag_percentiles(watch, epoch, configured[name].max_lag_s),
            configured[name].max_lag_s,
            None if watch.last_ok is None else datetime.fromtimestamp(watch.last_ok, UTC),
            degraded=spec.fallback is not None,
            control=cycle.controls.get(name),
            quota=paces.get(name, ""),
        )
    shown = now.astimezone(settings.zone)  # the zone the sheet shows times in
    statuses = channel_statuses(final, results, planned.specs, shown, health)
    # A CONFIRM left in the cell of a channel already live is cleared too: nothing is left to confirm.
    typed = _confirming({**read.control.channels, **cycle.controls})
    cleared = observed.confirmed | (typed & set(live) & set(cycle.due))
    statuses = held_statuses(statuses, observed.holds, cleared)
    known = read.parsed.skus()
    if read.bundles.parts:
        known |= set(read.bundles.parts)
    listing, loose = unmatched(planned.entries, known, titles, shown)
    found = {
        **conditions(statuses, final, state.incidents, cycle.due, results),
        **loose,
        **hold_incidents(observed.holds, titles),
    }
    incidents, alerts = track(state.incidents, found, now)
    alerts = group(alerts)
    opened = [a for a in alerts if not a.recovered]
    if alert is not None and opened:
        alert(opened)  # before the state that records them: an alert may repeat, never vanish
    reports, marks = _reports(
        final, read.parsed, planned.available, planned.entries, settings, now, state.reports, listing
    )
    fold = read.ledger.fold.key if read.ledger.fold else ""
    # While held, no row is written, so the channel columns have not absorbed these moves yet.
    if guard.held:
        new_state = WorkerState(
            planned.applied,
            state.guard_rows,
            state.guard_total,
            watches,
            incidents,
            marks,
            read_to,
            fold,
            live,
            usage,
        )
    else:
        size, fold = _fold(store, read.ledger, now, read.ledger.size + len(fresh), fold)
        new_state = WorkerState(
            size, guard.rows, guard.total, watches, incidents, marks, read_to, fold, live, usage
        )
    store.write_status(
        StatusUpdate(
            cells=tuple(row_cells(final, results, titles, shown)),
            channels=tuple(statuses),
            guard=guard_status(guard, shown),
            state=state_cells(new_state),
            reports=tuple(reports),
        )
    )
    if alert is not None and (recovered := [a for a in alerts if a.recovered]):
        # After the state that records them: killed before it, a RECOVERED sent would leave the
        # incident open in the state, and the problem coming back would raise no new alert.  A
        # recovery may be told late or twice, never before it is recorded.
        alert(recovered)
    return CycleReport(
        at=now,
        ingested=len([e for e in fresh if e.channel is not None and e.movement is not Movement.START]),
        pushed={
            name: sum(o.ok for o in r.outcomes.values()) for name, r in results.items() if name in cycle.due
        },
        refused=sum(not o.ok for r in results.values() for o in r.outcomes.values()),
        errors={name: r.errors for name, r in results.items() if r.errors},
        held=guard.held,
        flagged_rows=len(final.problems),
        plan=final,
        statuses=tuple(statuses),
        discrepancies=tuple(discrepancies(final, results, titles)),
        alerts=tuple(alerts),
    )


def _fold(
    store: MasterStore, ledger: ledger_.ParsedLedger, now: datetime, size: int, fold: str
) -> tuple[int, str]:
    """Make a Ledger checkpoint when one is due; the Ledger's size after it and its marker key.

    Only with every row absorbed (the state then records the new size and the checkpoint in one
    write); killed before that write, the next cycle maps the old count (``ParsedLedger.applied``).
    """
    made = ledger_.checkpoint(ledger, now) if isinstance(store, ArchivingStore) else None
    if made is None or not isinstance(store, ArchivingStore):
        return size, fold
    try:
        store.archive_ledger(made.folded, made.entries)
    except SyncError as error:
        log.warning("Ledger checkpoint not made (tried again next cycle): %s", error)
        return size, fold
    log.info(
        "Ledger checkpoint: %d rows moved to the Ledger archive, %d written", made.folded, len(made.entries)
    )
    return size - made.folded + len(made.entries), made.entries[-1].key


def _accepts(control: str) -> bool:
    return control.strip().casefold() == "accept"


def _spending(
    channels: Sequence[Channel], kept: Mapping[tuple[ChannelName, str], str], now: datetime
) -> tuple[dict[tuple[ChannelName, str], str], dict[ChannelName, str]]:
    """The month's spending per channel and quota, as State text, with this cycle's added.

    Also, per metered channel, where its busiest quota is heading (``pacing.pace``).
    """
    month = month_of(now)
    usage = dict(kept)
    paces: dict[ChannelName, str] = {}
    for channel in channels:
        if not isinstance(channel, Metered):
            continue
        for quota, units in channel.take_spent().items():
            key = (channel.name, quota)
            # Nothing counted this month (a new month, a new worker): its pace runs from now.
            so_far = Usage.counted(usage.get(key, ""), month) or Usage(month, 0, now.timestamp())
            usage[key] = so_far.add(units, now).text()
        counted = [
            (spent, allowance)
            for allowance in channel.allowances()
            if (spent := Usage.counted(usage.get((channel.name, allowance.name), ""), month)) is not None
        ]
        if counted:  # the quota nearest its end: the others are further from it
            spent, allowance = max(counted, key=lambda pair: share(pair[0], pair[1], now))
            paces[channel.name] = pace(spent, allowance, now)
    return usage, paces


def _spec(
    channel: Channel,
    settings: Settings,
    control: Mapping[ChannelName, str],
    due: Collection[ChannelName],
    lag: tuple[float, float] | None,
    largest_order: int,
) -> ChannelSpec:
    configured = next(c for c in settings.channels if c.name == channel.name)
    paused = configured.paused or control.get(channel.name, "").strip().casefold() in PAUSE_WORDS
    rule = settings.auto_pause
    degraded = rule.enabled and lag is not None and lag[1] > rule.max_lag_p95_s
    # A sale elsewhere goes unseen here until it is polled there, this channel's next cycle
    # comes, and the channel shows the push; until the lag is measured, assume its max_lag.
    polled = max((c.interval_s for c in settings.channels if c.name != channel.name), default=0)
    shows = configured.max_lag_s if lag is None else lag[1]
    return ChannelSpec(
        channel.name,
        configured.title,
        configured.policy,
        paused,
        channel.name in due,
        fallback=rule.policy if degraded else None,
        adaptive=configured.adaptive,
        unseen_s=polled + configured.interval_s + shows,
        lag_s=shows,
        largest_order=largest_order,
        priced=settings.currency is not None and isinstance(channel, PriceChannel),
    )


def _push(
    channel: Channel, final: Plan, errors: list[str], currency: str | None, codes: Codes
) -> ChannelResult:
    """Push quantities, then changed prices, in batches of the channel's limit.

    A failed batch fails only itself; its rows are pushed again next cycle.  Each SKU goes out
    as the channel calls it (``codes``) and its outcome comes back under the row's SKU.
    """
    levels = final.pushes(channel.name)
    size = channel.limits.max_batch
    push = _as_theirs(channel.name, channel.push, codes)
    outcomes = _batched(push, levels, size, errors, "push of {} items failed")
    # A crash after a push and before the status write leaves our belief behind what the
    # channel shows; a compare-and-set channel then refuses every later push of the SKU.
    # Lowering (or keeping) what it shows is always safe: set those from what it shows now.
    planned = {level.sku: level for level in levels}
    reset_from: dict[Sku, int] = {}
    if refused := [sku for sku, outcome in outcomes.items() if not outcome.ok]:
        try:
            shown = _read_levels(channel, refused, codes)
        except SyncError as error:
            errors.append(f"refused items not set again: {error}")
            shown = {}
        again = [
            replace(planned[sku], expected=shown[sku])
            for sku in refused
            if sku in shown and planned[sku].quantity <= shown[sku] != planned[sku].expected
        ]
        outcomes |= _batched(push, again, size, errors, "push of {} items failed")
        reset_from = {level.sku: level.expected for level in again if level.expected is not None}
    verdicts: dict[Sku, PushOutcome] = {}
    if currency is not None and isinstance(channel, PriceChannel):
        prices = final.price_levels(channel.name, currency)
        send = _as_theirs(channel.name, channel.push_prices, codes)
        verdicts = _batched(send, prices, size, errors, "prices of {} items not sent")
    return ChannelResult(outcomes, tuple(errors), verdicts, reset_from)


def _read_levels(channel: Channel, skus: Sequence[Sku], codes: Codes) -> dict[Sku, int]:
    """What ``channel`` shows of ``skus`` (asked, and answered, as it calls them)."""
    shown = channel.read_levels([codes.theirs(channel.name, sku) for sku in skus])
    return {codes.ours(channel.name, code): quantity for code, quantity in shown.items()}


_Priced = TypeVar("_Priced", StockLevel, PriceLevel)


def _as_theirs(
    name: ChannelName, send: Callable[[Sequence[_Priced]], Sequence[PushOutcome]], codes: Codes
) -> Callable[[Sequence[_Priced]], list[PushOutcome]]:
    """``send`` with each item's SKU as the channel calls it, and each outcome's as the row's."""

    def translated(items: Sequence[_Priced]) -> list[PushOutcome]:
        if not codes.out.get(name):  # the rows' own SKUs: a replace() each cost a full sync 70 ms
            return list(send(items))
        sent = send([replace(item, sku=codes.theirs(name, item.sku)) for item in items])
        return [replace(outcome, sku=codes.ours(name, outcome.sku)) for outcome in sent]

    return translated


def _batched(
    send: Callable[[Sequence[_Priced]], Sequence[PushOutcome]],
    items: Sequence[_Priced],
    size: int,
    errors: list[str],
    failure: str,
) -> dict[Sku, PushOutcome]:
    """``send`` the items in batches of ``size``; a failed batch fails only itself.

    A batch refused for what it carries (``_by_item``: a permanent error, or the site's own code
    failing on it) is halved to find the items that cause it (``_bisect``): they come back
    refused, each flagged on its row, and the rest are sent.  A failure of the call itself (both
    halves refused alike: a revoked key, a site down), or one on the way (a timeout, a 503), is
    noted in ``errors`` (``failure`` with its size) and tried again next cycle.
    """
    outcomes: dict[Sku, PushOutcome] = {}
    for start in range(0, len(items), size):
        batch = items[start : start + size]
        try:
            outcomes.update((o.sku, o) for o in send(batch))
        except SyncError as error:
            if not (_by_item(error) and _bisect(send, batch, str(error), outcomes)):
                errors.append(f"{failure.format(len(batch))}: {error}")
    return outcomes


def _by_item(error: SyncError) -> bool:
    """Whether one item of a batch may cause ``error``: a permanent refusal, or an HTTP 500.

    A WordPress plugin failing on one product's save fails the whole batch, every time.
    """
    return isinstance(error, PermanentError) or (isinstance(error, TransientError) and error.status == 500)


def _bisect(
    send: Callable[[Sequence[_Priced]], Sequence[PushOutcome]],
    batch: Sequence[_Priced],
    refusal: str,
    outcomes: dict[Sku, PushOutcome],
) -> bool:
    """Find the items of ``batch`` (refused with ``refusal``) that cause it; False: none do.

    Each half is sent once.  A half refused with the very same message as the whole says the
    call is refused, not an item, when the other half is too; otherwise each refused half is
    halved again, down to single items, which come back refused with their message.  A half
    failing on the way (not ``_by_item``) ends the search: the call, not an item, failed.
    """
    if len(batch) == 1:
        outcomes[batch[0].sku] = PushOutcome(batch[0].sku, False, f"refused: {refusal}")
        return True
    half = len(batch) // 2
    refused: list[tuple[Sequence[_Priced], str]] = []
    for part in (batch[:half], batch[half:]):
        try:
            outcomes.update((o.sku, o) for o in send(part))
        except SyncError as error:
            if not _by_item(error):
                return False
            refused.append((part, str(error)))
    if len(refused) == 2 and refused[0][1] == refused[1][1] == refusal:
        return False  # every part refused alike: the call, not an item
    for part, message in refused:
        if not _bisect(send, part, message, outcomes):
            for item in part:
                outcomes[item.sku] = PushOutcome(item.sku, False, f"refused: {message}")
    return True


def _reports(
    final: Plan,
    parsed: ParsedRows,
    available: Mapping[Sku, int],
    entries: Sequence[LedgerEntry],
    settings: Settings,
    now: datetime,
    marks: Mapping[str, str],
    listing: Report,
) -> tuple[list[Report], dict[str, str]]:
    """Reorder and Unmatched when what they list changed, and Insights on a day's first cycle."""
    reports: list[Report] = []
    marked = dict(marks)
    if listing.rows or listing.name in marked:
        digest = hashlib.sha256(repr(listing.rows).encode()).hexdigest()[:16]
        if marked.get(listing.name) != digest:
            reports.append(listing)
            marked[listing.name] = digest
    if any(row.reorder is not None for row in parsed.rows) or REORDER_SHEET in marked:
        sold: dict[Sku, int] = defaultdict(int)
        for (_, sku), units in units_sold(entries, now, 30).items():
            sold[sku] += units
        report = reorder_report(final, sold)
        digest = hashlib.sha256(repr(report.rows).encode()).hexdigest()[:16]
        if marked.get(REORDER_SHEET) != digest:
            reports.append(report)
            marked[REORDER_SHEET] = digest
    today = now.astimezone(settings.zone).date().isoformat()  # the merchant's day
    if settings.insights and marked.get(INSIGHTS_SHEET) != today and not final.guard.held:
        channels = [(c.name, c.title) for c in settings.channels]
        reports.append(
            insights_report(parsed.rows, available, entries, channels, now.astimezone(settings.zone))
        )
        marked[INSIGHTS_SHEET] = today
    return reports, marked


def open_store(
    settings: Settings, environ: Mapping[str, str] = os.environ, quotas: Quotas | None = None
) -> MasterStore:
    """The master store the settings name, signed in with the secrets from ``environ``.

    ``quotas`` keeps its request allowances, as for ``open_channels`` (Airtable's by default in
    its adapter; Google Sheets is paced only when given them).
    """
    master = settings.master
    if isinstance(master, WorkbookMaster):
        return WorkbookStore(master.path, settings.layout)
    if isinstance(master, AirtableMaster):
        api, paced = airtable.connect(
            airtable_token(settings, environ), base=master.base, base_url=master.base_url, quotas=quotas
        )
        return airtable.AirtableStore(
            api,
            master.base,
            settings.layout,
            paced=paced,
            fields=master.fields,
            monthly_budget=master.monthly_call_budget,
        )
    info = service_account_info(settings, master, environ)
    client = connect(info, base_url=master.base_url, quotas=quotas)
    return GoogleSheetsStore(client, master.spreadsheet, settings.layout, account=info["client_email"])


def open_channels(
    settings: Settings,
    clock: Callable[[], datetime],
    environ: Mapping[str, str] = os.environ,
    quotas: Quotas | None = None,
) -> list[Channel]:
    """The channels the settings name, built from their kind, with their secrets from ``environ``.

    ``quotas`` keeps the request allowances of the adapters that pace themselves (by default
    each in its own adapter; ``sheetsync.fleet`` shares them across workers).
    """
    channels: list[Channel] = []
    for c in settings.channels:
        platform = c.platform
        if isinstance(platform, ShopifyShop):
            channels.append(
                ShopifyChannel(
                    c.name,
                    shop=platform.shop,
                    token=channel_secret(settings, c, "TOKEN", environ),
                    location=platform.location,
                    api_version=platform.api_version,
                    base_url=platform.base_url,
                )
            )
        elif isinstance(platform, MetaCatalog):
            channels.append(
                MetaChannel(
                    c.name,
                    catalog_id=platform.catalog,
                    token=channel_secret(settings, c, "TOKEN", environ),
                    api_version=platform.api_version,
                    base_url=platform.base_url,
                    # Never wait for Meta's processing: the cycle reads the figures back, and its
                    # open batches are asked about at the next push (a sale's own push goes
                    # item by item, applied at once: ``push_now``).
                    settle_s=0.0,
                )
            )
        elif isinstance(platform, MerchantCenter):
            channels.append(
                GoogleMerchantChannel(
                    c.name,
                    account=platform.account,
                    data_source=platform.data_source,
                    content_language=platform.content_language,
                    feed_label=platform.feed_label,
                    service_account_info=channel_service_account(settings, c, environ),
                    store_code=platform.store_code,
                    threshold=platform.out_of_stock_at,
                    base_url=platform.base_url,
                )
            )
        elif isinstance(platform, WooStore):
            channels.append(
                WooCommerceChannel(
                    c.name,
                    site=platform.site,
                    consumer_key=channel_secret(settings, c, "CONSUMER_KEY", environ),
                    consumer_secret=channel_secret(settings, c, "CONSUMER_SECRET", environ),
                    restock_refunds=platform.restock_refunds,
                )
            )
        elif isinstance(platform, AmazonAccount):
            channels.append(
                AmazonChannel(
                    c.name,
                    region=platform.region,
                    marketplace_id=platform.marketplace_id,
                    seller_id=platform.seller_id,
                    client_id=channel_secret(settings, c, "CLIENT_ID", environ),
                    client_secret=channel_secret(settings, c, "CLIENT_SECRET", environ),
                    refresh_token=channel_secret(settings, c, "REFRESH_TOKEN", environ),
                    patch_max=platform.patch_max,
                    max_feed_messages=platform.max_feed_messages,
                    base_url=platform.base_url,
                    token_url=platform.token_url,
                    now=clock,
                    quotas=quotas,
                )
            )
        elif isinstance(platform, EmagAccount):
            channels.append(
                EmagChannel(
                    c.name,
                    site=platform.site,
                    username=channel_secret(settings, c, "USERNAME", environ),
                    password=channel_secret(settings, c, "PASSWORD", environ),
                    warehouse_id=platform.warehouse_id,
                    acknowledge=platform.acknowledge,
                    rma_returns=platform.rma_returns,
                    timezone=platform.timezone,
                    base_url=platform.base_url,
                    quotas=quotas,
                )
            )
        else:
            channels.append(SandboxChannel(c.name, clock, lag_s=c.lag_s, skus=c.skus))
    return channels


def open_alerter(settings: Settings, environ: Mapping[str, str] = os.environ) -> Alerter:
    """The alert destinations the settings and ``environ`` name; with none, alerts are log lines.

    Every ``SHEETSYNC__*`` value is a secret (tokens, keys, the webhook URL, the SMTP password),
    so each one is taken out of any alert text before it leaves.
    """
    sinks: list[AlertSink] = []
    if webhook := environ.get(SLACK_WEBHOOK_ENV, "").strip():
        sinks.append(SlackWebhook(webhook))
    email = settings.alerts.email
    if email is not None:
        sinks.append(
            SmtpMail(
                email.host,
                email.port,
                email.sender,
                email.to,
                username=email.username,
                password=environ.get(SMTP_PASSWORD_ENV) or None,
                starttls=email.starttls,
            )
        )
    secrets = [value for key, value in environ.items() if key.startswith("SHEETSYNC__") and value.strip()]
    return Alerter(sinks, secrets=secrets, max_per_hour=settings.alerts.max_per_hour)


def cycle_once(
    settings: Settings,
    clock: Callable[[], datetime],
    *,
    environ: Mapping[str, str] = os.environ,
    quotas: Quotas | None = None,
    owner: str | None = None,
    keep_lease: bool = False,
    delivered: Sequence[OrderLine] = (),
    accept_shrink: bool = False,
    since: datetime | None = None,
    confirm: Collection[ChannelName] = (),
) -> CycleReport:
    """One cycle on a store and channels opened for it and let go of after: `sheetsync sync`'s.

    The lease is taken as ``owner`` (this process by default) and given up after the cycle,
    unless ``keep_lease``: the fleet keeps it in one name for all its workers (``sheetsync.fleet``).
    """
    owner = owner or worker_name()
    channels = open_channels(settings, clock, environ, quotas)
    try:
        store = open_store(settings, environ, quotas)
        try:
            return run_cycle(
                store,
                channels,
                settings,
                clock(),
                accept_shrink=accept_shrink,
                delivered=delivered,
                alert=open_alerter(settings, environ).send,
                since=since,
                owner=owner,
                confirm=confirm,
            )
        finally:
            if not keep_lease and isinstance(store, LeasedStore):
                store.release(owner)
    finally:
        for channel in channels:
            if isinstance(channel, CatalogueSource):
                channel.close()


def lease_s(settings: Settings) -> float:
    """How long a worker's lease on the master lasts unrenewed: five of its slowest intervals.

    Never under five minutes: a long cycle must not lose it, and a dead worker is taken over then.
    """
    return max(300.0, 5 * max((c.interval_s for c in settings.channels), default=60.0))


def worker_name() -> str:
    """This worker, as the lease names it: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


#: Seconds of the worker's clock between two collections of the heap that ``Heap`` keeps frozen.
THAW_EVERY_S = 3600.0
#: The collector's third threshold while ``Heap`` holds the heap: young collections between two
#: full ones of its own.  High enough that within a cycle it never makes one (``Heap``).
FULL_COLLECTION_AFTER = 1_000_000


@dataclass
class Heap:
    """Around the cycles: freeze what is alive, so the collector stops rescanning it every cycle.

    What outlives a cycle (parsed Ledger rows, watches, adapters' maps, the fast path's basis)
    is most of the heap at 10,000 SKUs, and each full collection walked all of it: a quarter of
    an idle cycle's CPU.  Frozen objects are still freed when nothing refers to them; only a
    reference cycle among them that dies is kept, so every ``THAW_EVERY_S`` the heap is thawed
    and collected once.  By time, not by cycles: sales by webhook make a cycle every few seconds
    at a peak (the simulated Black Friday, 3,000 cycles a day, spent 5% of its CPU collecting).

    Those collections are the only full ones while the heap is held.  CPython makes one of its
    own when what is not frozen has grown by a quarter since its last; with the heap frozen that
    is only what this cycle kept, so a cycle that keeps much (a first sync) was walked again each
    time it grew by a quarter: 10 full collections in a 10,000-SKU first sync, 40% of its CPU.
    """

    thawed_at: float = -math.inf  #: when the heap was last thawed and collected
    #: the collector's thresholds before the heap was first settled, put back by ``release``
    thresholds: tuple[int, int, int] | None = None

    def settle(self, now: float) -> None:
        """Freeze the heap at ``now``, before the first cycle and after each; collect it first if due."""
        if self.thresholds is None:
            self.thresholds = gc.get_threshold()
            gc.set_threshold(*self.thresholds[:2], FULL_COLLECTION_AFTER)
        if not self.thawed_at <= now < self.thawed_at + THAW_EVERY_S:  # due, or the clock stepped back
            self.thawed_at = now
            gc.unfreeze()
            gc.collect()
        gc.freeze()

    def release(self) -> None:
        """Give the heap back to the collector as it was: the process may go on (a test, a restart)."""
        gc.unfreeze()
        if self.thresholds is not None:
            gc.set_threshold(*self.thresholds)
            self.thresholds = None


#: After a failed cycle the next try waits this long, doubling each failure, up to ``MAX_BACKOFF_S``.
FIRST_BACKOFF_S = 5.0
MAX_BACKOFF_S = 300.0
#: Doublings past which the backoff is at its cap anyway: 2**1024 seconds is no float (a master
#: down for three and a half days at the cap once made the loop die of an OverflowError).
BACKOFF_DOUBLINGS = math.ceil(math.log2(MAX_BACKOFF_S / FIRST_BACKOFF_S))


def backoff_s(failures: int) -> float:
    """Seconds before the next try after ``failures`` failed cycles in a row: doubling, capped."""
    return min(FIRST_BACKOFF_S * 2.0 ** min(failures - 1, BACKOFF_DOUBLINGS), MAX_BACKOFF_S)


#: Cycles failed in a row before an alert: one failure is usually a blip the next try fixes.
OUTAGE_AFTER = 3


#: Share of a channel's hourly call limit that deliveries may use up (the rest: retries, prices).
CALL_SHARE = 0.9


def spacing(channels: Sequence[Channel]) -> dict[ChannelName, float]:
    """Seconds between two cycles of each channel with an hourly call limit (``ChannelLimits``)."""
    return {
        c.name: 3600 / (c.limits.calls_per_hour * CALL_SHARE) for c in channels if c.limits.calls_per_hour
    }


def intervals(settings: Settings, gaps: Mapping[ChannelName, float]) -> dict[ChannelName, float]:
    """Seconds between each channel's cycles: its interval, stretched to its call limit's spacing."""
    return {c.name: max(float(c.interval_s), gaps.get(c.name, 0.0)) for c in settings.channels}


def woken(
    next_at: dict[ChannelName, float],
    last_at: Mapping[ChannelName, float],
    gaps: Mapping[ChannelName, float],
    now: float,
) -> set[ChannelName]:
    """The channels a delivered sale makes due now (times on one clock, in seconds).

    Every channel, except one with an hourly call limit whose last cycle was too recent: a sale
    per push would spend the hour's calls at the peak and leave the channel throttled, showing
    old stock.  Such a channel's next cycle is brought forward to when the limit allows it.
    """
    due = set()
    for name, at in next_at.items():
        free_at = last_at.get(name, -math.inf) + gaps.get(name, 0.0)
        if at <= now or free_at <= now:
            due.add(name)
        else:
            next_at[name] = min(at, free_at)
    return due


def run_forever(
    store: MasterStore,
    channels: Sequence[Channel],
    settings: Settings,
    clock: Callable[[], datetime],
    stop: threading.Event,
    inbox: Inbox | None = None,
    alerter: Alerter | None = None,
    tick: Callable[[], float] = time.monotonic,
    wait: Callable[[float], None] | None = None,
    lock: AbstractContextManager[object] | None = None,
) -> None:
    """Run cycles at each channel's interval until ``stop`` is set; the current cycle finishes.

    A delivery to ``inbox`` is pushed at once to every channel it lowers (the sale fast path,
    ``sheetsync.fastpath``), and starts a cycle for every channel, which counts it and reconciles.
    Intervals run on ``tick``, a monotonic clock: a wall clock stepped back or forward, or a DST
    change, moves no cycle.  A cycle that fails (a master out of reach, a workbook open in Excel,
    any error) is tried again after a backoff; ``OUTAGE_AFTER`` failures in a row raise one
    alert, and the first cycle that succeeds clears it.  ``wait`` (seconds) is how the loop
    idles; by default it waits on the inbox or ``stop``.  Each cycle holds ``lock``, when given:
    the dashboard's preview (``preview_cycle``) takes it too, so the two never use the store and
    channels at once.
    """
    pushed = inbox or Inbox()  # without a web server, nothing is ever delivered
    fast = FastPath(channels)
    pushed.on_sale = fast.sale
    owner = worker_name()
    start = tick()
    next_at = {c.name: start for c in channels}  # everyone on the first cycle
    last_at: dict[ChannelName, float] = {}
    gaps = spacing(channels)
    every = intervals(settings, gaps)
    alert = (alerter or Alerter([])).send
    failures, retry_at, outage, heap = 0, start, "", Heap()
    heap.settle(start)

    def idle(seconds: float) -> None:
        if wait is not None:
            wait(seconds)
        elif inbox is None:
            stop.wait(seconds)
        else:
            inbox.wait(stop, seconds)

    while not stop.is_set():
        now = tick()
        delivered, controls, fast_pushes = pushed.take(), pushed.take_controls(), fast.take()
        if controls:  # the merchant's Control edit takes effect everywhere at once
            due = set(next_at)
        elif delivered:
            due = woken(next_at, last_at, gaps, now)
        else:
            due = {n for n, at in next_at.items() if at <= now}
        if due and now >= retry_at:
            for name in due:
                next_at[name] = now + every.get(name, 60.0)
                last_at[name] = now
            try:
                with lock or nullcontext():
                    report = run_cycle(
                        store,
                        channels,
                        settings,
                        clock(),
                        due,
                        delivered=delivered,
                        controls=controls,
                        alert=alert,
                        owner=owner,
                        fast=fast if inbox is not None else None,  # no inbox, no sale to push
                        fast_pushes=fast_pushes,
                    )
            except Exception as error:  # the worker outlives every failure: logged, retried, alerted
                pushed.put_back(delivered, controls)  # nothing delivered is lost: the next cycle counts it
                fast.put_back(fast_pushes)
                failures += 1
                backoff = backoff_s(failures)
                retry_at = now + backoff
                for name in due:
                    next_at[name] = min(next_at[name], retry_at)
                _log_failure(error, backoff)
                if failures == OUTAGE_AFTER:
                    outage = f"sync stopped: {failures} cycles failed in a row, retrying at least every "
                    outage += f"{MAX_BACKOFF_S:g}s: {error}"
                    alert([Alert("outage", outage, clock())])
            else:
                pushed.done(report)
                if outage:
                    alert([Alert("outage", f"{outage} (cleared)", clock(), recovered=True)])
                failures, retry_at, outage = 0, now, ""
            heap.settle(now)
        else:  # backing off: the next cycle takes all of it in
            pushed.put_back(delivered, controls)
            fast.put_back(fast_pushes)
        if not stop.is_set():
            idle(max(min([*next_at.values(), retry_at]) - tick(), 0.05) if next_at else 1.0)
    fast.close()
    heap.release()
    _release(store, owner)


def _release(store: MasterStore, owner: str) -> None:
    """Give the master's lease up at shutdown, so a worker started meanwhile need not wait it out."""
    if isinstance(store, LeasedStore):
        try:
            store.release(owner)
        except SyncError as error:  # it expires by itself
            log.warning("lease not released (it expires by itself): %s", error)


def _log_failure(error: Exception, backoff: float) -> None:
    if isinstance(error, SyncError):  # an expected failure: its message says it all
        log.error("cycle failed, trying again in %gs: %s", backoff, error)
    else:
        log.error("cycle failed, trying again in %gs", backoff, exc_info=error)


class Inbox:
    """Order lines pushed to us (webhooks), waiting for the worker; thread-safe.

    A delivery id seen before changes nothing: platforms deliver at least once.
    """

    #: Delivery ids remembered; far more than a platform re-delivers within its retry window.
    REMEMBERED = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._lines: list[OrderLine] = []
        self._controls: dict[ChannelName, str] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.on_cycle: Callable[[CycleReport], None] | None = None  #: told after each cycle
        self.on_sale: Callable[[Sequence[OrderLine]], object] | None = None  #: told each new delivery

    def deliver(self, delivery_id: str, lines: Sequence[OrderLine]) -> bool:
        """Queue ``lines`` and wake the worker; False (and nothing queued) for a repeat delivery."""
        with self._lock:
            if delivery_id in self._seen:
                return False
            self._seen[delivery_id] = None
            if len(self._seen) > self.REMEMBERED:
                self._seen.popitem(last=False)
            self._lines += lines
        if self.on_sale is not None:
            self.on_sale(lines)
        self._wake.set()
        return True

    def queued(self) -> int:
        """Order lines waiting for the worker (the web app turns webhooks away past its cap)."""
        with self._lock:
            return len(self._lines)

    def take(self) -> list[OrderLine]:
        """Everything delivered so far, emptying the inbox."""
        with self._lock:
            lines, self._lines = self._lines, []
            self._wake.clear()
            return lines

    def put_back(self, lines: Sequence[OrderLine], controls: Mapping[ChannelName, str] = {}) -> None:
        """Return lines (and Control edits) a failed cycle could not record; newer edits win."""
        with self._lock:
            self._lines[:0] = lines
            self._controls = {**controls, **self._controls}

    def control(self, channel: ChannelName, text: str) -> None:
        """Type ``text`` into ``channel``'s Control cell (PAUSE, or "" to resume) at the next cycle.

        The dashboard's buttons come here, so a pause from the page and a pause typed in the
        sheet are one and the same: the cell.  The worker wakes at once.
        """
        with self._lock:
            self._controls[channel] = text
        self._wake.set()

    def take_controls(self) -> dict[ChannelName, str]:
        """Control edits requested since the last cycle, emptying the queue."""
        with self._lock:
            controls, self._controls = self._controls, {}
            return controls

    def wait(self, stop: threading.Event, timeout: float) -> None:
        """Sleep until a delivery, ``timeout``, or ``stop`` with ``wake`` (see ``stop_on_signals``)."""
        if not stop.is_set():
            self._wake.wait(timeout)

    def wake(self) -> None:
        """Wake the worker now (to stop it)."""
        self._wake.set()

    def done(self, report: CycleReport) -> None:
        """A cycle finished."""
        if self.on_cycle is not None:
            self.on_cycle(report)


def stop_on_signals(stop: threading.Event, inbox: Inbox | None = None) -> None:
    """SIGTERM (a platform shutting the worker down) and SIGINT finish the cycle, then exit."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current cycle, then stopping", signum)
        stop.set()
        if inbox is not None:
            inbox.wake()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
