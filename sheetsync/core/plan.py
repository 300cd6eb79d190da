"""The planner: from rows, the ledger and what channels show, to the pushes a cycle must make.

Pure functions: the time comes in as an argument.  Only changes are planned, and every
published quantity carries a one-line reason that the Status columns show.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sheetsync.core.buffers import (
    AdaptiveRule,
    BufferPolicy,
    Exposure,
    Gauge,
    Published,
    adaptive,
    measure,
    minutes,
    published,
)
from sheetsync.core.cells import MAX_QUANTITY, MasterRow, ParsedRows, Pause, RowProblem, own_number
from sheetsync.core.ledger import available as ledger_available
from sheetsync.core.memo import LastCall, Same
from sheetsync.core.monitor import Finding, FindingKind, Pending, lag_text
from sheetsync.core.prices import price_for, read_sent, sent_text
from sheetsync.core.reasons import (
    LAGGING_FIX,
    keeps,
    paused_channel,
    paused_reason,
    row_reason,
    shelf,
    shows,
    waiting,
    waiting_for,
)
from sheetsync.core.state import WorkerState
from sheetsync.core.stock import last_good, orders_since_count
from sheetsync.model import (
    AVAILABLE,
    PRICES_SENT,
    REASON,
    ROW_STATUS,
    SYNCED,
    CellWrite,
    ChannelName,
    ChannelStatus,
    Discrepancy,
    GuardStatus,
    LedgerEntry,
    PriceLevel,
    PushOutcome,
    Sku,
    StockLevel,
    channel_column,
    sheet_time,
)


class RowState(StrEnum):
    """What the Status column of an Inventory row says."""

    OK = "OK"
    LAG = "LAG"  #: a channel has not shown our push within its threshold, or shows unseen sales
    DRIFT = "DRIFT"  #: a channel's figure was changed on the platform behind our back
    PAUSED = "PAUSED"
    OVERSOLD = "OVERSOLD"
    ERROR = "ERROR"
    REORDER = "REORDER"  #: stock is at or below the row's reorder point (nothing else is wrong)
    HELD = "HELD"  #: there is stock, but every channel's buffer holds all of it back (shows 0)


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """What the planner needs to know about one channel this cycle."""

    name: ChannelName
    title: str
    policy: BufferPolicy
    paused: bool = False
    due: bool = True  #: talked to this cycle (its poll interval has come round)
    #: the auto-pause rule's conservative buffer while the channel lags (the lower figure wins)
    fallback: BufferPolicy | None = None
    adaptive: AdaptiveRule | None = None  #: replaces the tiers when set
    unseen_s: float = 0.0  #: how long a sale elsewhere goes unseen here: polls + lag (high quantile)
    lag_s: float = 0.0  #: push-to-visible lag (high quantile)
    largest_order: int = 1  #: the most units one order line took here in the last day
    priced: bool = False  #: takes prices, and a currency is configured


@dataclass(frozen=True, slots=True)
class Decision:
    """One row on one channel: what it should show, what we believe it shows, and why."""

    target: int
    believed: int | None
    #: why, in plain words, as a clause after the channel's title (``shows 8: tier 3-10 holds 2``)
    reason: str
    push: bool
    waiting: bool = False  #: a raise held back until unseen sales are ingested
    allowed: bool = True  #: the channel, the row and the guard let us push this cycle
    finding: Finding | None = None  #: LAG or DRIFT seen on the channel this cycle


class _Decisions:
    """One call's decisions, each distinct one made once and shared by every SKU and channel it fits.

    A catalogue has few distinct ones (the same quantity, belief and Reason clause); a Decision
    and its clause for each SKU on each channel was the largest part of a plan's memory.
    """

    __slots__ = ("_made",)

    def __init__(self) -> None:
        self._made: dict[tuple[object, ...], Decision] = {}

    def __call__(
        self,
        target: int,
        believed: int | None,
        reason: str,
        push: bool,
        waiting: bool = False,
        allowed: bool = True,
        finding: Finding | None = None,
    ) -> Decision:
        """The Decision with these fields: one made earlier in this call, if any."""
        fields = (target, believed, reason, push, waiting, allowed, finding)
        made = self._made.get(fields)
        if made is None:
            made = self._made[fields] = Decision(target, believed, reason, push, waiting, allowed, finding)
        return made

    def believing(self, decision: Decision, shown: int) -> Decision:
        """``decision`` with ``shown`` as its belief (``replace`` costs several times more, per SKU)."""
        d = decision
        return self(d.target, shown, d.reason, d.push, d.waiting, d.allowed, d.finding)


@dataclass(frozen=True, slots=True)
class RowPlan:
    """One valid row's verdict."""

    row: MasterRow
    available: int
    state: RowState
    decisions: Mapping[ChannelName, Decision]
    #: prices to push this cycle: changed since the Prices sent cell, on channels we may push
    prices: Mapping[ChannelName, Decimal] = field(default_factory=dict)
    reorder: bool = False  #: stock is at or below the reorder point
    #: an oversold row's flag: the units and the orders since the count (``OVERSOLD by 3: …``)
    oversold: str = ""
    #: what there is, for the Reason cell: ``7 on the shelf`` (a bundle: what limits it)
    shelf: str = ""
    #: a HELD row: what the merchant can change so the channels show its stock
    fixes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FlaggedRow:
    """A row that cannot be read, with a SKU: its channels are never left above what the ledger says.

    ``cap`` is the last good count less the sales since (``stock.last_good``) or, for a SKU the
    ledger never counted, the row's last Available less the channels' sales since; a channel
    showing more is lowered to it, never raised, and it stays the row's Available.  None: neither
    is known, nothing is pushed.  Of rows sharing a SKU (a duplicate), only the first pushes.
    """

    problem: RowProblem
    sku: Sku
    cap: int | None
    decisions: Mapping[ChannelName, Decision] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """What the row's Reason adds, and its alert: where its channels are held, or why not."""
        if self.cap is None:
            return (
                "no count in the Ledger nor Available on the row to go by, so nothing is pushed until "
                "it is fixed"
            )
        return f"channels held at ≤ {self.cap}"


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """The volume guard: hold every push when the sheet suddenly shrinks."""

    held: bool
    message: str
    accepted: bool  #: the merchant's ACCEPT was used this cycle
    rows: int
    total: int


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a cycle will push and report."""

    rows: tuple[RowPlan, ...]
    problems: tuple[RowProblem, ...]
    guard: GuardVerdict
    #: per flagged row: what each channel shows by now (its own sales applied), for its columns
    problem_believed: tuple[Mapping[ChannelName, int | None], ...] = ()
    #: flagged rows with a SKU, in sheet order: where their channels are held (see FlaggedRow)
    flagged: tuple[FlaggedRow, ...] = ()
    #: the channels talked to this cycle (None: every one); only they are pushed
    due: frozenset[ChannelName] | None = None
    #: pushes per channel, worked out once (a cycle asks for them several times)
    _pushes: dict[ChannelName, tuple[StockLevel, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    #: ``pushing()``, worked out once (empty until asked)
    _pushing: list[tuple[int, ...]] = field(default_factory=list, init=False, repr=False, compare=False)
    #: per SKU, its row's decisions (a flagged row's too), worked out once (``believed()``)
    _by_sku: list[dict[Sku, Mapping[ChannelName, Decision]]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )
    #: ``tally()`` per channel, worked out once
    _tallies: list[dict[ChannelName, tuple[int, int, int]]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )
    #: ``swept()``, worked out once (a quiet cycle's plan is the last one's: once for many cycles)
    _swept: list[tuple[Sku, ...]] = field(default_factory=list, init=False, repr=False, compare=False)

    def pushes(self, channel: ChannelName) -> list[StockLevel]:
        """The absolute quantities to push to ``channel``, in sheet order."""
        levels = self._pushes.get(channel)
        if levels is None:
            levels = self._pushes[channel] = tuple(
                StockLevel(sku, decision.target, decision.believed) for sku, decision in self._pushed(channel)
            )
        return list(levels)

    def _pushed(self, channel: ChannelName) -> Iterator[tuple[Sku, Decision]]:
        """Each SKU with a push to ``channel``, in sheet order, and its decision there."""
        for row in map(self.rows.__getitem__, self.pushing()):  # the few with a push
            if (decision := row.decisions.get(channel)) is not None and decision.push:
                yield row.row.sku, decision
        for held in self.flagged:
            if (decision := held.decisions.get(channel)) is not None and decision.push:
                yield held.sku, decision

    def pushed_to(self, channel: ChannelName, decision: Decision) -> bool:
        """Whether a row with ``decision`` may be pushed to ``channel`` this cycle (its turn has come)."""
        return decision.allowed and (self.due is None or channel in self.due)

    def pushing(self) -> tuple[int, ...]:
        """Where in ``rows`` the rows with a push on some channel are (most cycles: none)."""
        if not self._pushing:
            # One pass over every decision, not a generator per row; a row once, in order.
            pushes = (n for n, row in enumerate(self.rows) for d in row.decisions.values() if d.push)
            self._pushing.append(tuple(dict.fromkeys(pushes)))
        return self._pushing[0]

    def swept(self) -> tuple[Sku, ...]:
        """Every SKU an audit sweeps, sorted: every row's, and a flagged row's held at a cap.

        A platform's own raise on a held row is set back to the cap as well.  Sorting 100,000
        SKUs anew each cycle was a sixth of an idle cycle's own CPU.
        """
        if not self._swept:
            held = {f.sku for f in self.flagged if f.cap is not None}
            self._swept.append(tuple(sorted({r.row.sku for r in self.rows} | held)))
        return self._swept[0]

    def believed(self, channel: ChannelName, skus: Iterable[Sku]) -> dict[Sku, int | None]:
        """What we believe ``channel`` shows of each of ``skus`` it has a decision for (for ``observe``).

        Flagged rows' SKUs included.  Only the SKUs asked: a cycle reads back a few of them, and a
        map of every SKU per channel was a tenth of a 1% cycle's own CPU at 100,000 SKUs.
        """
        if not self._by_sku:
            by_sku = {f.sku: f.decisions for f in self.flagged}
            by_sku.update((r.row.sku, r.decisions) for r in self.rows)
            self._by_sku.append(by_sku)
        by_sku = self._by_sku[0]
        return {
            sku: d.believed
            for sku in skus
            if (decisions := by_sku.get(sku)) is not None and (d := decisions.get(channel)) is not None
        }

    def tally(self, channel: ChannelName) -> tuple[int, int, int]:
        """Rows on ``channel`` whose raise waits for unseen sales, and those found LAG and DRIFT."""
        if not self._tallies:
            # Every channel in one pass: most decisions neither wait nor carry a finding.
            tallies: dict[ChannelName, list[int]] = {}
            for row in self.rows:
                for name, d in row.decisions.items():
                    if d.waiting or d.finding is not None:
                        kind = d.finding.kind if d.finding is not None else None
                        counts = tallies.setdefault(name, [0, 0, 0])
                        counts[0] += d.waiting
                        counts[1] += kind is FindingKind.LAG
                        counts[2] += kind is FindingKind.DRIFT
            self._tallies.append({name: (w, lag, drift) for name, (w, lag, drift) in tallies.items()})
        return self._tallies[0].get(channel, (0, 0, 0))

    def price_levels(self, channel: ChannelName, currency: str) -> list[PriceLevel]:
        """The prices to push to ``channel``, in sheet order."""
        return [
            PriceLevel(row.row.sku, price, currency)
            for row in self.rows
            if (price := row.prices.get(channel)) is not None
        ]

    def raises(self, channel: ChannelName) -> list[Sku]:
        """SKUs whose push would raise what ``channel`` shows: check those against the channel.

        From the decisions, not ``pushes``: asked of a draft, whose pushes are never made, that
        kept a StockLevel for each SKU pushed on each channel as long as the draft.
        """
        return [
            sku
            for sku, decision in self._pushed(channel)
            if decision.believed is not None and decision.target > decision.believed
        ]


#: A bad paste moves many rows at once: fewer counts changing together are recounts, however
#: large a share of a small sheet they are.
PASTE_ROWS = 5


def volume_guard(
    parsed: ParsedRows,
    last: WorkerState,
    max_drop: float,
    accept: bool,
    absorbed: Sequence[LedgerEntry] | None = None,
) -> GuardVerdict:
    """Hold every push when the Inventory has the shape of a bad paste, never for a recount.

    The shape: more than ``max_drop`` of the last good cycle's usable rows vanished or became
    unreadable at once (a renamed tab, a filter left on, cells blanked), or more than
    ``max_drop`` of the rows, and at least ``PASTE_ROWS`` of them, had their counts changed at
    once (a column shifted or zeroed).  A count changed when the row's Available cell, written
    by the last good cycle, is no longer its count plus the movements that cycle had absorbed:
    ``absorbed``, the ledger entries before the state's ``ledger_applied`` row (None: counts are
    not compared).  Units are not compared: one best seller recounted 60 → 0, or a one-SKU sheet
    going 5 → 0, is a recount.
    """
    rows, total = (
        len(parsed.rows),
        _UNITS.answer(parsed.rows, None, lambda: sum(r.count for r in parsed.rows)),
    )
    drops = []
    if last.guard_rows is not None and rows < last.guard_rows * (1 - max_drop):
        drops.append(f"{rows} usable rows (was {last.guard_rows})")
    compared, changed = (0, 0) if absorbed is None else _recounted(parsed.rows, absorbed)
    if changed >= PASTE_ROWS and changed > compared * max_drop:
        drops.append(f"{changed} of {compared} counts changed at once (a column shifted or zeroed?)")
    if not drops:  # an ACCEPT with nothing to accept is cleared: it must not wave a later paste through
        return GuardVerdict(False, f"{rows} rows, {total} units", accept, rows, total)
    change = " and ".join(drops)
    if accept:
        return GuardVerdict(False, f"change accepted: {change}", True, rows, total)
    message = (
        f"Inventory has {change}: more than {max_drop:.0%} at once since the last good cycle, which "
        "looks like a bad paste, so nothing was pushed. If that is right, type ACCEPT in the Control "
        "cell of this row."
    )
    return GuardVerdict(True, message, False, rows, total)


def _recounted(rows: Sequence[MasterRow], absorbed: Sequence[LedgerEntry]) -> tuple[int, int]:
    """Rows whose Available cell can be compared, and those whose count changed since it was written."""
    return _RECOUNTED.answer((*rows, *absorbed), len(rows), lambda: _recount(rows, absorbed))


#: The last recount (``_recounted``): a quiet cycle's rows and Ledger are the very same objects.
_RECOUNTED: Same[tuple[int, int]] = Same()
#: The units over the very same rows (``volume_guard``: a quiet cycle's, without a pass).
_UNITS: Same[int] = Same()


def _recount(rows: Sequence[MasterRow], absorbed: Sequence[LedgerEntry]) -> tuple[int, int]:
    known = [
        (row, cell)
        for row in rows
        if row.parts is None and (cell := own_number(row.current.get(AVAILABLE, ""))) is not None
    ]
    moved = ledger_available({(row.sku, place): 0 for row, _ in known for place in row.counts}, absorbed)
    # Summed by SKU in one pass, not a generator per row: a SKU's row is its only one (repeats
    # are problems), so its locations are the row's.
    by_sku: dict[Sku, int] = defaultdict(int)
    for (sku, _), units in moved.items():
        by_sku[sku] += units
    return len(known), sum(row.count + by_sku[row.sku] != cell for row, cell in known)


def plan(
    parsed: ParsedRows,
    available: Mapping[Sku, int],
    moves: Mapping[tuple[ChannelName, Sku], int],
    channels: Sequence[ChannelSpec],
    guard: GuardVerdict,
    velocity: Mapping[tuple[ChannelName, Sku], float] | None = None,
    in_flight: Mapping[tuple[ChannelName, Sku], int] | None = None,
    reach: Mapping[tuple[ChannelName, Sku], int] | None = None,
    entries: Sequence[LedgerEntry] = (),
) -> Plan:
    """Decide, per row and channel, the quantity to show and whether to push it now.

    ``moves`` is each channel's own net sales/restocks since we last wrote its column: the
    channel already lowered (or raised) itself by that much.  ``velocity`` (units a second per
    channel and SKU) feeds the adaptive buffer, with ``in_flight``: the highest quantity pushed
    to each channel and SKU that the channel has not shown yet (it may still show it).
    ``reach`` is what a channel may sell where that is not ``available`` (it sells from some of
    the locations, or the row is a bundle).  ``entries`` is the whole ledger, this cycle's
    entries included: an oversold row names its orders since the count, and a row that cannot
    be read holds its channels at the SKU's last good count less the sales since (never raised).
    The very same rows and Ledger entries with equal inputs plan as last time: a quiet cycle.
    """
    # Adaptive channels go slowest first: a faster one's hold counts only what the slower ones
    # can still sell.  Without any, the bookkeeping is skipped (it is most of a cycle's work).
    adaptive_ = any(spec.adaptive is not None for spec in channels)
    if not adaptive_:
        channels = tuple(map(_without_lag, channels))
    items = (*parsed.rows, *parsed.problems, *entries)
    values = (available, moves, tuple(channels), guard, velocity, in_flight, reach, len(parsed.rows))
    if (same := _PLANS.get(items, values)) is not None:
        return same
    rows = []
    rates = velocity or {}
    totals: dict[Sku, float] = defaultdict(float)
    for (_, sku), rate in rates.items():
        totals[sku] += rate
    # Whether a row may be pushed to a channel at all (``Decision.allowed``), whatever its turn;
    # whether the channel is talked to this cycle (``due``) decides only ``Decision.push``.
    open_ = [(spec, not spec.paused and not guard.held) for spec in channels]
    due = frozenset(spec.name for spec in channels if spec.due)
    ordered = sorted(open_, key=lambda pair: -pair[0].unseen_s) if adaptive_ else open_
    priced = [spec for spec, channel_open in open_ if spec.priced and channel_open and spec.due]
    short = {row.sku for row in parsed.rows if available[row.sku] < 0}
    inputs = _Inputs(
        tuple(spec.name for spec in channels),
        tuple(ordered),
        adaptive_,
        tuple(priced),
        available,
        moves,
        rates,
        totals,
        in_flight or {},
        reach or {},
        orders_since_count(entries, short) if short and entries else {},
        bool(entries),
        due,
        tuple(
            (spec.name, spec.unseen_s, spec.lag_s, spec.largest_order, spec.adaptive.safety)
            for spec, _ in ordered
            if spec.adaptive
        ),
    )
    # A row planned last time from the same inputs plans the same: most rows, most cycles.  Past
    # the row and its stock, a row's inputs are sparse (a sale, a rate, a push in flight).  The
    # channels talked to change from cycle to cycle (their intervals differ): they are no part of
    # the context, and a row is planned again only where one whose turn changed has a figure to
    # push (``_due_on``).
    # A channel's lags and largest order weigh only in its adaptive buffer: with no sales, as its
    # largest order and the lag its Reason states (``quiet``); else in a touched row's gauges.
    context = tuple((_without_lag(replace(spec, due=True)), open_) for spec, open_ in inputs.ordered)
    quiet = tuple((spec.largest_order, minutes(spec.unseen_s)) for spec, _ in ordered if spec.adaptive)
    kept = _PLANNED.begin((context, quiet, guard.held, inputs.priced))
    touched = _around(inputs)
    turns: dict[_Turns, _Turns] = {}
    for row in parsed.rows:
        stock = available[row.sku]
        if stock < 0 or row.parts is not None:  # its orders, its components: beyond the key
            rows.append(_plan_row(row, stock, inputs))
            continue
        key: object = stock
        if (around := touched.get(row.sku)) is not None:
            key = _Touched(inputs, row.sku, stock, around) if adaptive_ else (stock, around)
        hit = kept.get(row, key)
        # Most rows' plans depend on no channel's turn: no generator to ask that of.
        if hit is not None and (not hit[1] or all((name in due) is was for name, was in hit[1])):
            rows.append(kept.keep(row, key, hit)[0])
            continue
        row_plan = _plan_row(row, stock, inputs)
        rows.append(kept.keep(row, key, (row_plan, _due_on(row_plan, due, turns)))[0])
    problem_shown = tuple(
        {
            spec.name: _moved(
                own_number(p.current.get(channel_column(spec.name), "")),
                moves.get((spec.name, p.sku), 0),
            )
            for spec in channels
        }
        for p in parsed.problems
        if p.sku is not None
    )
    talked = [(spec, channel_open and spec.due) for spec, channel_open in open_]
    held = _held(parsed.problems, problem_shown, talked, entries, moves)
    return _PLANS.keep(items, values, Plan(tuple(rows), parsed.problems, guard, problem_shown, held, due))


def _without_lag(spec: ChannelSpec) -> ChannelSpec:
    """``spec`` without what only its adaptive buffer reads: its lags and its largest order.

    A channel's measured lag moves whenever a sample ages out of the hour; that must not make
    every row be planned again.  With tiers alone they weigh nowhere; with an adaptive channel
    they order the channels, slowest first, and weigh in each row's ``Gauge``.
    """
    return replace(spec, unseen_s=0.0, lag_s=0.0, largest_order=1)


#: The last whole plan (``plan``).
_PLANS: Same[Plan] = Same()


#: Channels and whether each was due (``_due_on``).
_Turns = tuple[tuple[ChannelName, bool], ...]


def _due_on(row_plan: RowPlan, due: frozenset[ChannelName], made: dict[_Turns, _Turns]) -> _Turns:
    """The channels whose turn the row's plan depends on, and whether each was due.

    A channel shown what we want it to show has nothing to push, due or not; one with a figure to
    push is pushed only on its turn (and its prices likewise).  Rows alike share one tuple from
    ``made`` (this call's): a first sync's rows each push on every channel.
    """
    if not row_plan.prices and all(d.target == d.believed for d in row_plan.decisions.values()):
        return ()  # most rows: the plan is the same whichever channels are due
    priced = bool(row_plan.row.prices)
    turns = tuple(
        (name, name in due) for name, d in row_plan.decisions.items() if priced or d.target != d.believed
    )
    return made.setdefault(turns, turns)


#: Each row's plan from the last call, for rows that come back with the same inputs, with the
#: channels whose turn it depends on (``_due_on``).
_PLANNED: LastCall[MasterRow, object, tuple[RowPlan, _Turns]] = LastCall()
#: Each row's cell writes from the last call, for rows that come back with the same plan.
_WRITES: LastCall[RowPlan, None, tuple[CellWrite, ...]] = LastCall()
#: ``row_cells``' writes for the last plan that nothing was pushed for.
_QUIET_WRITES: Same[tuple[CellWrite, ...]] = Same()


class _Touched:
    """A touched row's key in ``plan`` with an adaptive channel (a sale, rate, move, push in flight).

    Equal when all but the rates are and the rates too or, else, what the adaptive buffers make
    of them (``_Inputs.gauges``, worked out only then): the rates move with every sale in the
    shop, the holds they set seldom do.
    """

    __slots__ = ("_gauges", "inputs", "sku", "sparse")

    def __init__(self, inputs: _Inputs, sku: Sku, stock: int, around: _Around) -> None:
        self.inputs, self.sku = inputs, sku
        self.sparse = (stock, *around, inputs.gauged)
        self._gauges: tuple[Gauge, ...] | None = None

    def gauges(self) -> tuple[Gauge, ...]:
        if self._gauges is None:
            self._gauges = self.inputs.gauges(self.sku)
        return self._gauges

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Touched):
            return NotImplemented
        if self.sparse == other.sparse:  # the very same inputs: share the gauges, if worked out
            self._gauges = other._gauges = self._gauges or other._gauges
            return True
        if self.sparse[:2] != other.sparse[:2]:  # the stock, or a move, reach or push in flight
            return False
        return self.gauges() == other.gauges()

    __hash__ = None  # type: ignore[assignment]


#: A touched row's inputs beyond the row itself (``_around``).
_Around = tuple[tuple[int | None, ...], tuple[float, ...]]


def _around(inputs: _Inputs) -> dict[Sku, _Around]:
    """Each touched SKU's inputs beyond its row: its moves, reaches and pushes in flight; its rates.

    Each in ``ordered``'s order, the total rate first (every channel's, a channel no longer
    synced's too).  Pushes in flight and rates weigh only with an adaptive channel (without one,
    none are given): a sale moves every rate.  Worked out from the inputs' own entries, not by
    looking every touched row up on every channel.
    """
    at = {spec.name: i for i, (spec, _) in enumerate(inputs.ordered)}
    n = len(inputs.ordered)
    counted = (inputs.moves, inputs.reach, inputs.flying) if inputs.adaptive else (inputs.moves, inputs.reach)
    blank: list[int | None] = [0] * n + [None] * n + [0] * n
    others: dict[Sku, list[int | None]] = {}
    for k, source in enumerate(counted):
        for (name, sku), figure in source.items():
            if (mine := others.get(sku)) is None:
                mine = others[sku] = blank[: len(counted) * n]
            if (i := at.get(name)) is not None:
                mine[k * n + i] = figure
    if not inputs.adaptive:
        return {sku: (tuple(mine), ()) for sku, mine in others.items()}
    rated: dict[Sku, list[float]] = {}
    for (name, sku), rate in inputs.rates.items():
        if (own := rated.get(sku)) is None:
            own = rated[sku] = [0.0] * n
        if (i := at.get(name)) is not None:
            own[i] = rate
    still = [0.0] * n
    return {
        sku: (tuple(others.get(sku, blank)), (inputs.totals.get(sku, 0.0), *rated.get(sku, still)))
        for sku in others.keys() | rated.keys()
    }


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What ``plan`` weighs for every row, worked out once per call."""

    names: tuple[ChannelName, ...]  #: the channels in the sheet's order
    ordered: tuple[tuple[ChannelSpec, bool], ...]  #: each channel and whether it may be pushed
    adaptive: bool  #: any channel is adaptive
    priced: tuple[ChannelSpec, ...]
    available: Mapping[Sku, int]
    moves: Mapping[tuple[ChannelName, Sku], int]
    rates: Mapping[tuple[ChannelName, Sku], float]
    totals: Mapping[Sku, float]
    flying: Mapping[tuple[ChannelName, Sku], int]
    reach: Mapping[tuple[ChannelName, Sku], int]
    named: Mapping[Sku, Sequence[str]]  #: an oversold SKU's orders since its count
    known: bool  #: the ledger was given
    due: frozenset[ChannelName]  #: the channels talked to this cycle
    #: each adaptive channel's name, lags, largest order and ``safety``, in ``ordered``'s order:
    #: all that its ``Gauge`` weighs but the rates
    gauged: tuple[tuple[ChannelName, float, float, int, float], ...]
    #: what each channel's tiers publish at a level, for this call: every SKU at that level asks
    rules: dict[tuple[ChannelName, int], Published] = field(default_factory=dict)
    decide: _Decisions = field(default_factory=_Decisions)

    def gauges(self, sku: Sku) -> tuple[Gauge, ...]:
        """What the adaptive buffers make of ``sku``'s rates and the lags, channel by channel.

        As ``exposure`` gives them to ``adaptive``.
        """
        total, rates = self.totals.get(sku, 0.0), self.rates
        return tuple(
            measure(total - (own := rates.get((name, sku), 0.0)), own, unseen_s, lag_s, largest, safety)
            for name, unseen_s, lag_s, largest, safety in self.gauged
        )

    def exposure(self, spec: ChannelSpec, sku: Sku, selling: int | None = None) -> Exposure:
        """How fast ``sku`` sells around ``spec``'s channel, and how long the channel lags."""
        total = self.totals.get(sku, 0.0)  # every channel's rate, a channel no longer synced's too
        own = self.rates.get((spec.name, sku), 0.0)
        return Exposure(total - own, spec.unseen_s, own, spec.lag_s, selling, spec.largest_order)


def _plan_row(row: MasterRow, stock: int, inputs: _Inputs) -> RowPlan:
    """One row's quantity on every channel, its state and what its Reason needs."""
    unpaused = row.override is not Pause.PAUSE
    decisions = {}
    fixes = []
    # What each channel may sell: what it shows or is about to; undecided, all there is.
    selling = dict.fromkeys(inputs.names, max(stock, 0)) if inputs.adaptive else {}
    for spec, channel_open in inputs.ordered:
        key = (spec.name, row.sku)
        believed = _moved(row.believed.get(spec.name), inputs.moves.get(key, 0))
        exposure = None
        stock_here = inputs.reach.get(key, stock) if inputs.reach else stock
        if spec.adaptive is not None:
            exposure = inputs.exposure(spec, row.sku, sum(selling.values()) - selling[spec.name])
        target, reason, fix = _target(row, stock_here, spec, exposure, believed, stock, inputs.rules)
        if target < stock_here:  # the channel's rule holds units back: what would free them
            fixes.append(fix)
        if inputs.adaptive:
            selling[spec.name] = max(target, believed or 0, inputs.flying.get(key, 0))
        allowed = channel_open and unpaused
        push = allowed and spec.name in inputs.due and target != believed
        decisions[spec.name] = inputs.decide(target, believed, reason, push, allowed=allowed)
    if inputs.adaptive:
        decisions = {name: decisions[name] for name in inputs.names}  # in the sheet's order
    # Stock, no Override, and every channel's buffer holds all of it: the row says so.
    hidden = stock > 0 and row.override is None and not any(d.target for d in decisions.values())
    state = (
        RowState.PAUSED
        if row.override is Pause.PAUSE
        else RowState.OVERSOLD
        if stock < 0
        else RowState.HELD
        if hidden and decisions
        else RowState.OK
    )
    prices = _price_changes(row, inputs.priced) if inputs.priced and unpaused and row.prices else {}
    reorder = row.reorder is not None and stock <= row.reorder.point
    oversold = (
        _oversold(-stock, inputs.named.get(row.sku), inputs.known) if state is RowState.OVERSOLD else ""
    )
    on_hand = _shelf(row, stock, inputs.available)
    fixed = tuple(fixes) if state is RowState.HELD else ()
    return RowPlan(row, stock, state, decisions, prices, reorder, oversold, on_hand, fixed)


#: Orders an oversold row names; the rest are counted.
NAMED_ORDERS = 10


def _oversold(units: int, orders: Sequence[str] | None, known: bool) -> str:
    """``OVERSOLD by 3: orders shopify 1001, woo 57 since the count``."""
    text = f"OVERSOLD by {units}"
    if not known:
        return text  # no ledger given: the orders are not known here
    if not orders:
        return f"{text}: no channel order since the count (see the Ledger)"
    return f"{text}: orders {_listed(orders, NAMED_ORDERS)} since the count"


def _listed(items: Sequence[str], shown: int) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def _held(
    problems: Sequence[RowProblem],
    believed: Sequence[Mapping[ChannelName, int | None]],
    channels: Sequence[tuple[ChannelSpec, bool]],
    entries: Sequence[LedgerEntry],
    moves: Mapping[tuple[ChannelName, Sku], int],
) -> tuple[FlaggedRow, ...]:
    """Each flagged row with a SKU: its channels lowered to its last good figure, if above.

    That is the lower of the ledger's (its last COUNT and the movements since) and the Available
    the worker last wrote on the row plus what each channel moved since: the channels' sales
    still reach the others.  Either may be missing: a SKU no COUNT names (its count never changed
    since the install), an Available cell blank.  Both are needed: a recount with nothing sold
    since the last COUNT is not recorded (``ledger._needs_count``), so the ledger can be behind
    the count the row last had (adversary seed 46: recounted from 28 to 18, then typed ``12 pcs``
    and held at 28).
    """
    flagged = [p for p in problems if p.sku is not None]
    if not entries or not flagged:  # most cycles: no Ledger pass for no row
        return ()  # no ledger given: nothing known beyond the row's own cells
    good = last_good(entries)
    held: list[FlaggedRow] = []
    first: set[Sku] = set()
    for problem, shown in zip(flagged, believed, strict=True):
        sku = Sku(problem.sku or "")
        cap = good.get(sku)
        if (last := own_number(problem.current.get(AVAILABLE, ""))) is not None:
            written = last + sum(moves.get((spec.name, sku), 0) for spec, _ in channels)
            cap = written if cap is None else min(cap, written)
        pushes = sku not in first
        first.add(sku)
        if cap is None:
            held.append(FlaggedRow(problem, sku, None))
            continue
        cap = max(cap, 0)
        decisions = {}
        for spec, channel_open in channels:
            now = shown[spec.name]
            lower = now is not None and cap < now
            reason = f"is held at ≤ {cap}: the row is unreadable (its last figure less the sales since)"
            decisions[spec.name] = Decision(
                cap, now, reason, channel_open and pushes and lower, allowed=channel_open
            )
        held.append(FlaggedRow(problem, sku, cap, decisions))
    return tuple(held)


def _price_changes(row: MasterRow, priced: Sequence[ChannelSpec]) -> dict[ChannelName, Decimal]:
    sent = read_sent(row.current.get(PRICES_SENT, ""))
    return {
        spec.name: price
        for spec in priced
        if (price := price_for(row, spec.name)) is not None and sent.get(spec.name) != price
    }


def _moved(believed: int | None, move: int) -> int | None:
    return None if believed is None else max(believed + move, 0)


def _target(
    row: MasterRow,
    stock: int,
    spec: ChannelSpec,
    exposure: Exposure | None,
    believed: int | None,
    everywhere: int,
    rules: dict[tuple[ChannelName, int], Published],
) -> tuple[int, str, str]:
    """One channel's quantity, its clause for the Reason cell, and what frees units it holds.

    ``stock`` is what the channel may sell, ``everywhere`` the row's stock over every location.
    ``rules`` remembers what the channel's tiers publish at each level, for this plan only.
    """
    if row.override is Pause.PAUSE:
        return 0, keeps(believed), ""
    fix = ""
    if isinstance(row.override, int):
        quantity = min(row.override, max(stock, 0))
        rule = f"Override {row.override}"
        if quantity < row.override:
            rule += (
                f", only {quantity} where it sells"
                if stock != everywhere
                else f", only {quantity} on the shelf"
            )
    else:
        column = "Buffer" if spec.name not in row.holds else f"Buffer {spec.title}"
        hold = row.holds.get(spec.name) or row.holds.get(None)
        if spec.adaptive is not None and exposure is not None and hold is None:
            result = adaptive(stock, exposure, spec.adaptive, believed)
        elif hold is None:
            result = rules.get((spec.name, stock)) or rules.setdefault(
                (spec.name, stock), published(stock, spec.policy)
            )
        else:
            result = published(stock, spec.policy, hold, column)
        quantity, rule, fix = result.quantity, result.reason, result.fix
        if spec.fallback is not None:
            careful = published(stock, spec.fallback)
            if careful.quantity < quantity:
                quantity, rule, fix = (
                    careful.quantity,
                    f"lagging, so auto_pause {careful.reason}",
                    LAGGING_FIX,
                )
        if stock != everywhere:
            rule = ", ".join(part for part in (f"{max(stock, 0)} where it sells", rule) if part)
    if quantity > MAX_QUANTITY:  # restocks can carry stock past what any platform takes
        quantity, rule = MAX_QUANTITY, "the most a platform takes"
    if spec.paused:
        return quantity, paused_channel(believed, quantity, rule), fix
    return quantity, shows(quantity, rule), fix


def _shelf(row: MasterRow, stock: int, available: Mapping[Sku, int]) -> str:
    """``7 on the shelf``; for a bundle, how many can be made and the component that limits it."""
    if row.parts is None:
        return shelf(stock)
    component, per = min(row.parts.items(), key=lambda part: max(available.get(part[0], 0), 0) // part[1])
    return shelf(stock, (component, available.get(component, 0), per))


def apply_findings(plan_: Plan, findings: Mapping[ChannelName, Mapping[Sku, Finding]]) -> Plan:
    """Flag rows whose channel figure lags or drifted; set a drifted channel back to the master's.

    A drifted channel no longer shows what we believed, so what it shows becomes our belief and
    the push goes out if that differs from the target (when the channel may be pushed at all).
    """
    found = [(channel, by_sku) for channel, by_sku in findings.items() if by_sku]
    if not found:
        return plan_  # nothing lags or drifted: the plan stands as it is
    rows = []
    for row_plan in plan_.rows:
        sku = row_plan.row.sku
        if not any(sku in by_sku for _, by_sku in found):
            rows.append(row_plan)  # nothing found on this row: the plan stands as it is
            continue
        decisions = dict(row_plan.decisions)
        kinds = set()
        for channel, decision in row_plan.decisions.items():
            finding = findings.get(channel, {}).get(sku)
            if finding is None:
                continue
            kinds.add(finding.kind)
            if finding.kind is FindingKind.DRIFT and finding.shown is not None:
                push = plan_.pushed_to(channel, decision) and decision.target != finding.shown
                decisions[channel] = replace(decision, believed=finding.shown, push=push, finding=finding)
            else:
                decisions[channel] = replace(decision, finding=finding)
        state = row_plan.state
        if state in (RowState.OK, RowState.LAG, RowState.HELD) and kinds:
            state = RowState.DRIFT if FindingKind.DRIFT in kinds else RowState.LAG
        rows.append(replace(row_plan, decisions=decisions, state=state))
    return replace(plan_, rows=tuple(rows), flagged=_refound(plan_.flagged, findings))


def _refound(
    flagged: Sequence[FlaggedRow], findings: Mapping[ChannelName, Mapping[Sku, Finding]]
) -> tuple[FlaggedRow, ...]:
    """Flagged rows with what a drifted channel shows as its belief: lowered to the cap if above it."""
    held = []
    pushing: set[Sku] = set()
    for row in flagged:
        decisions = dict(row.decisions)
        for channel, decision in row.decisions.items():
            finding = findings.get(channel, {}).get(row.sku)
            if finding is None or finding.kind is not FindingKind.DRIFT or finding.shown is None:
                continue
            push = decision.allowed and row.sku not in pushing and decision.target < finding.shown
            decisions[channel] = replace(decision, believed=finding.shown, push=push, finding=finding)
        pushing.add(row.sku)
        held.append(replace(row, decisions=decisions))
    return tuple(held)


def hold_unconfirmed(
    plan_: Plan,
    reported: Mapping[ChannelName, Mapping[Sku, int]],
    titles: Mapping[ChannelName, str] | None = None,
    pending: Mapping[ChannelName, Mapping[Sku, Pending]] | None = None,
) -> Plan:
    """Never raise a SKU while a channel shows less of it than we believe: units sold unseen.

    A channel read this cycle that shows fewer units than we set sold them, and the ledger has
    not ingested that sale yet: every channel's raise of that SKU waits until it has (the row
    shows LAG meanwhile), since the stock the raise counts on is already gone.  A channel with
    a push of the SKU still on its way (``pending``) may just not show it yet: it holds only its
    own raises.  Lowering below what we believe waits too on the channel that sold unseen, while
    the figure is above what it shows: set absolutely, it would hand the sold units back.  Not
    when that channel still shows its figure from before a push of ours on its way (which lands
    over it anyway).  A push with no belief yet (a channel's first sync) takes what the channel
    showed in this cycle's read as its expected figure, so the adapter need not read it again
    for its compare-and-set.
    """
    pushing = plan_.pushing()
    if not pushing:
        return plan_  # only a row with a push can be held: a quiet cycle's plan stands
    rows = list(plan_.rows)
    decide = _Decisions()
    for index in pushing:
        row_plan = rows[index]
        decisions: dict[ChannelName, Decision] | None = None  # copied on the first change
        lagging = False
        sku = row_plan.row.sku
        unseen = [
            (channel, shown, decision.believed)
            for channel, decision in row_plan.decisions.items()
            if decision.believed is not None
            and (shown := reported.get(channel, {}).get(sku)) is not None
            and shown < decision.believed
            and sku not in (pending or {}).get(channel, ())
        ]
        for channel, decision in row_plan.decisions.items():
            if not decision.push:
                continue
            shown = reported.get(channel, {}).get(sku)
            believed = decision.believed
            if believed is None and shown is not None:
                decisions = decisions or dict(row_plan.decisions)
                decisions[channel] = decide.believing(decision, shown)
                continue
            if believed is None:
                continue
            if shown is not None and shown < believed and shown < decision.target:
                # Sold here unseen: a figure above what it shows hands units back. A lower one
                # may go while the figure shown is the one from before a push on its way.
                on_its_way = (pending or {}).get(channel, {}).get(sku)
                lowering = decision.target <= believed
                if lowering and on_its_way is not None and on_its_way.unlanded(shown, believed):
                    continue
                reason = waiting(shown, believed, decision.target)
            elif decision.target <= believed:
                continue
            elif unseen:  # another channel sold it: what this one may show is less than planned
                other, other_shown, other_believed = unseen[0]
                title = (titles or {}).get(other, other)
                reason = waiting_for(believed, decision.target, title, other_shown, other_believed)
            else:
                continue
            lagging = True
            decisions = decisions or dict(row_plan.decisions)
            decisions[channel] = replace(decision, push=False, reason=reason, waiting=True)
        if decisions is not None:
            state = RowState.LAG if lagging and row_plan.state is RowState.OK else row_plan.state
            rows[index] = replace(row_plan, decisions=decisions, state=state)
    return replace(plan_, rows=tuple(rows))


@dataclass(frozen=True, slots=True)
class ChannelResult:
    """What happened on one channel this cycle."""

    outcomes: Mapping[Sku, PushOutcome]
    errors: tuple[str, ...] = ()
    prices: Mapping[Sku, PushOutcome] = field(default_factory=dict)  #: verdicts on pushed prices
    #: SKUs set again after a compare-and-set refusal, with what the channel showed just before
    #: (what it showed before this push, for ``monitor``; not the belief the refusal proved wrong)
    reset_from: Mapping[Sku, int] = field(default_factory=dict)


#: What happened on a channel not talked to this cycle: nothing (one for every row that asks).
NO_RESULT = ChannelResult({})


def row_cells(
    plan_: Plan,
    results: Mapping[ChannelName, ChannelResult],
    titles: Mapping[ChannelName, str],
    now: datetime,
) -> list[CellWrite]:
    """The worker-owned Inventory cells that change after this cycle's pushes."""
    if plan_.guard.held:
        return []  # the sheet may be broken: leave every row as it was
    stamp = sheet_time(now)
    writes: list[CellWrite] = []
    # A row no channel answered for this cycle writes what it did last time for the same plan
    # (nothing, once written): the stamp goes only on a row something was pushed for.
    acted = {sku for result in results.values() for sku in (*result.outcomes, *result.prices)}
    context = tuple(titles.items())
    # Nothing pushed: the very same plan writes what it did last time (a quiet cycle's: nothing).
    if not acted and (quiet := _QUIET_WRITES.get((plan_,), context)) is not None:
        return list(quiet)
    kept = _WRITES.begin(context)
    for row_plan in plan_.rows:
        if row_plan.row.sku in acted:
            values = _row_values(row_plan, results, titles, stamp)
            writes += _changed(row_plan.row.row, row_plan.row.sku, row_plan.row.current, values)
            continue
        same = kept.get(row_plan, None)
        if same is None:
            values = _row_values(row_plan, {}, titles, stamp)
            same = tuple(_changed(row_plan.row.row, row_plan.row.sku, row_plan.row.current, values))
        writes += kept.keep(row_plan, None, same)
    believed = iter(plan_.problem_believed)
    held = {f.problem.row: f for f in plan_.flagged}
    for problem in plan_.problems:
        flagged = held.get(problem.row)
        values = {
            AVAILABLE: "" if flagged is None or flagged.cap is None else str(flagged.cap),
            ROW_STATUS: RowState.ERROR.value,
            REASON: _problem_reason(problem, flagged, results, titles),
        }
        if problem.sku is not None:
            for channel, shown in next(believed).items():
                decision = None if flagged is None else flagged.decisions.get(channel)
                outcome = results.get(channel, NO_RESULT).outcomes.get(problem.sku)
                if decision is not None and outcome is not None and outcome.ok:
                    shown = decision.target  # lowered to the ledger's figure
                values[channel_column(channel)] = "" if shown is None else str(shown)
        writes += _changed(problem.row, problem.sku or Sku(""), problem.current, values)
    if not acted:
        _QUIET_WRITES.keep((plan_,), context, tuple(writes))
    return writes


def _problem_reason(
    problem: RowProblem,
    flagged: FlaggedRow | None,
    results: Mapping[ChannelName, ChannelResult],
    titles: Mapping[ChannelName, str],
) -> str:
    """A flagged row's Reason: why it cannot be read, and where its channels are held.

    A channel that refused to be lowered there is named first: it goes on showing more until
    the next cycle's try lands.
    """
    reason = "; ".join(problem.messages)
    if flagged is None:
        return reason
    refusals = [
        f"{titles[channel]} refused: {outcome.message}"
        for channel in flagged.decisions
        if (outcome := results.get(channel, NO_RESULT).outcomes.get(flagged.sku)) is not None
        and not outcome.ok
    ]
    return " · ".join([*refusals, reason, flagged.text])


def _row_values(
    row_plan: RowPlan,
    results: Mapping[ChannelName, ChannelResult],
    titles: Mapping[ChannelName, str],
    stamp: str,
) -> dict[str, str]:
    """The worker-owned cells of one valid row after this cycle's pushes."""
    values: dict[str, str] = {AVAILABLE: str(row_plan.available)}
    clauses: list[tuple[str, str]] = []
    refusals, flags, pushed = [], list(row_plan.row.notes), False
    row = row_plan.row
    if row_plan.oversold:
        flags.append(row_plan.oversold)
    if row_plan.reorder and row.reorder is not None:
        buy = "" if row.reorder.quantity is None else f"; buy {row.reorder.quantity}"
        flags.append(f"REORDER: {row_plan.available} left, reorder point {row.reorder.point}{buy}")
    if PRICES_SENT in row.current:
        sent = read_sent(row.current[PRICES_SENT])
        for channel in row_plan.prices:
            verdict = results.get(channel, NO_RESULT).prices.get(row.sku)
            if verdict is not None and verdict.ok:
                sent[channel] = row_plan.prices[channel]
            elif verdict is not None:
                refusals.append(f"{titles[channel]} refused the price: {verdict.message}")
        values[PRICES_SENT] = sent_text(sent, list(titles))
    for channel, decision in row_plan.decisions.items():
        if decision.finding is not None:
            flags.append(f"{titles[channel]} {decision.finding.kind}: {decision.finding.message}")
        outcome = results.get(channel, NO_RESULT).outcomes.get(row_plan.row.sku)
        shown = decision.believed
        if outcome is not None and outcome.ok:
            shown, pushed = decision.target, True
        elif outcome is not None:
            refusals.append(f"{titles[channel]} refused: {outcome.message}")
        values[channel_column(channel)] = "" if shown is None else str(shown)
        clauses.append((titles[channel], decision.reason))
    if row.override is Pause.PAUSE:
        reasons = paused_reason(clauses)
    else:
        reasons = row_reason(row_plan.shelf, clauses, row_plan.fixes)
    state = RowState.ERROR if refusals or row.notes else row_plan.state
    if state is RowState.OK and row_plan.reorder:
        state = RowState.REORDER
    values[ROW_STATUS] = state.value
    values[REASON] = " · ".join([*refusals, *flags, reasons])
    if pushed:
        values[SYNCED] = stamp
    return values


def discrepancies(
    plan_: Plan, results: Mapping[ChannelName, ChannelResult], titles: Mapping[ChannelName, str]
) -> list[Discrepancy]:
    """Every row that needs a look after this cycle: DRIFT, LAG, OVERSOLD or ERROR, with its reason."""
    if (found := _DISCREPANCIES.get((plan_,), (results, titles))) is not None:
        return list(found)
    found = _discrepancies(plan_, results, titles)
    # Only the planner's own plan comes back (a quiet cycle hands it on); one held or flagged from
    # it is made anew each cycle, and kept it would hold its decisions and this cycle's results.
    if _PLANS.gave(plan_):
        _DISCREPANCIES.keep((plan_,), (results, titles), found)
    else:
        _DISCREPANCIES.forget()
    return list(found)


#: The last call's answer (``discrepancies``): a quiet cycle's plan is the very same.
_DISCREPANCIES: Same[tuple[Discrepancy, ...]] = Same()


def _discrepancies(
    plan_: Plan, results: Mapping[ChannelName, ChannelResult], titles: Mapping[ChannelName, str]
) -> tuple[Discrepancy, ...]:
    found = []
    # The few SKUs a channel refused a push or a price for, once: not every row on every channel.
    refused = {
        sku
        for result in results.values()
        for verdicts in (result.outcomes, result.prices)
        for sku, verdict in verdicts.items()
        if not verdict.ok
    }
    for row_plan in plan_.rows:
        if (
            row_plan.state in (RowState.OK, RowState.PAUSED, RowState.HELD)
            and not row_plan.row.notes
            and row_plan.row.sku not in refused
        ):
            continue  # no flag and no refusal: nothing to look at (the cells below would say OK)
        values = _row_values(row_plan, results, titles, "")
        if values[ROW_STATUS] not in (RowState.OK, RowState.PAUSED, RowState.REORDER, RowState.HELD):
            found.append(Discrepancy(row_plan.row.row, row_plan.row.sku, values[ROW_STATUS], values[REASON]))
    held = {f.problem.row: f for f in plan_.flagged}
    found += [
        Discrepancy(
            p.row, p.sku or "", RowState.ERROR.value, _problem_reason(p, held.get(p.row), results, titles)
        )
        for p in plan_.problems
    ]
    return tuple(sorted(found, key=lambda d: d.row))


def _changed(row: int, sku: Sku, current: Mapping[str, str], values: Mapping[str, str]) -> list[CellWrite]:
    return [
        CellWrite(row, sku, column, value) for column, value in values.items() if current.get(column) != value
    ]


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    """What the monitor knows of one channel, for its Status row."""

    lag: tuple[float, float] | None = None  #: p50, p95 seconds over the last hour
    max_lag: float = math.inf  #: the channel's lag threshold
    last_ok: datetime | None = None
    degraded: bool = False  #: held to the auto-pause rule's conservative buffer
    control: str | None = None  #: a Control-cell edit to write (dashboard pause / resume)
    #: where the month's use of the platform's busiest quota is heading (``pacing.pace``)
    quota: str = ""


def channel_statuses(
    plan_: Plan,
    results: Mapping[ChannelName, ChannelResult],
    channels: Sequence[ChannelSpec],
    now: datetime,
    health: Mapping[ChannelName, ChannelHealth] | None = None,
) -> list[ChannelStatus]:
    """One Status row per channel talked to this cycle."""
    stamp = sheet_time(now)
    statuses = []
    for spec in channels:
        if not spec.due:
            continue
        known = (health or {}).get(spec.name, ChannelHealth())
        result = results.get(spec.name, NO_RESULT)
        refused = [o for o in result.outcomes.values() if not o.ok]
        pushed = len(result.outcomes) - len(refused)
        waiting, lagging, drifted = plan_.tally(spec.name)
        slow = known.lag is not None and known.lag[1] > known.max_lag
        if spec.paused:
            state, message = "PAUSED", "paused: nothing pushed; orders are still counted"
        elif result.errors:
            state, message = "ERROR", "; ".join(result.errors)
        elif plan_.guard.held:
            state, message = "HOLD", "volume guard: nothing pushed (see the Volume guard row)"
        elif known.degraded:
            state, message = "DEGRADED", f"pushed {pushed}; lagging, so only the conservative buffer is shown"
        else:
            state, message = ("LAG" if lagging or slow else "OK"), f"pushed {pushed}"
        if slow and known.lag is not None:
            message += f"; lag p95 {lag_text(known.lag[1])} is over the {lag_text(known.max_lag)} limit"
        if lagging:
            message += f"; {lagging} pushes not visible after {lag_text(known.max_lag)} (rows marked LAG)"
        if drifted:
            message += f"; {drifted} changed on the platform, set back (rows marked DRIFT)"
        if refused:
            message += f"; {len(refused)} refused (see the rows marked ERROR)"
        if waiting:
            message += f"; {waiting} waiting for unseen sales (rows marked LAG)"
        if known.quota:
            message += f"; {known.quota}"
        p50, p95 = known.lag or (None, None)
        statuses.append(
            ChannelStatus(
                spec.name,
                spec.title,
                state,
                stamp,
                pushed,
                len(refused) + len(result.errors),
                message,
                last_ok="" if known.last_ok is None else sheet_time(known.last_ok.astimezone(now.tzinfo)),
                lag_p50=lag_text(p50),
                lag_p95=lag_text(p95),
                paused=spec.paused,
                control=known.control,
            )
        )
    return statuses


def guard_status(guard: GuardVerdict, now: datetime) -> GuardStatus:
    """The Volume guard row of the Status sheet."""
    state = "HOLD" if guard.held else "OK"
    return GuardStatus(
        state,
        sheet_time(now),
        guard.message,
        consume_accept=guard.accepted,
    )
