"""The sale fast path's arithmetic: what a sale lowers on each channel before the next cycle.

A cycle reads the whole master; a sale must reach the other channels in about a second.  So a
cycle leaves a ``Basis`` behind (the rows it planned, their stock, each channel's rule) and a
sale delivered since is planned on it for the SKUs it touches only: the SKU, the components a
bundle takes, and every bundle made of those.  The fast path only ever lowers what a channel
shows: a raise (a refund, a restock, a merchant's edit) waits for the cycle, which reads the
master and reconciles everything, so a basis older than the sheet can never oversell.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from sheetsync.core.cells import MasterRow, ParsedRows
from sheetsync.core.plan import ChannelSpec, Decision, GuardVerdict, Plan, RowPlan, plan
from sheetsync.core.reasons import shows
from sheetsync.core.stock import made
from sheetsync.model import ChannelName, Movement, OrderLine, Sku, StockLevel

#: Per channel and SKU, what we believe the channel shows now.
Shown = Mapping[tuple[ChannelName, Sku], int]

#: The clause a quantity lowered by a sale after the master was read gives in the Reason cell.
SOLD_SINCE = "less the sales since the sheet was read"


@dataclass(frozen=True, slots=True)
class Basis:
    """What a cycle planned, kept for the sales delivered after it read its orders."""

    rows: Mapping[Sku, MasterRow]  #: the valid rows, by SKU
    available: Mapping[Sku, int]  #: stock per SKU over every location (bundles: how many can be made)
    #: (channel, SKU) → what the channel may sell where that is not ``available``
    reach: Mapping[tuple[ChannelName, Sku], int]
    specs: tuple[ChannelSpec, ...]
    held: bool = False  #: the volume guard held the cycle: nothing is pushed until it is cleared
    velocity: Mapping[tuple[ChannelName, Sku], float] = field(default_factory=dict)
    in_flight: Mapping[tuple[ChannelName, Sku], int] = field(default_factory=dict)
    #: component → the bundles that take it (worked out once: every sale asks)
    made_of: Mapping[Sku, frozenset[Sku]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bundles: dict[Sku, set[Sku]] = defaultdict(set)
        for row in self.rows.values():
            for part in row.parts or {}:
                bundles[part].add(row.sku)
        object.__setattr__(self, "made_of", {part: frozenset(of) for part, of in bundles.items()})


def taken(rows: Mapping[Sku, MasterRow], lines: Iterable[OrderLine]) -> dict[Sku, int]:
    """Units each stock-holding SKU lost to ``lines``' sales; a bundle's sale takes its parts.

    Only sales count: a refund or an edit that gives units back is the cycle's to raise.
    """
    units: dict[Sku, int] = defaultdict(int)
    for line in lines:
        if line.movement is not Movement.SALE:
            continue
        row = rows.get(line.sku)
        parts = row.parts if row is not None and row.parts is not None else {line.sku: 1}
        for part, per in parts.items():
            units[part] += per * line.quantity
    return dict(units)


def own_sales(shown: Shown, lines: Iterable[OrderLine]) -> dict[tuple[ChannelName, Sku], int]:
    """``shown`` after each line's own channel lowered itself by it (a platform counts its sales)."""
    after = dict(shown)
    for line in lines:
        key = (line.channel, line.sku)
        if line.movement is Movement.SALE and key in after:
            after[key] = max(after[key] - line.quantity, 0)
    return after


def targets(basis: Basis, lines: Sequence[OrderLine]) -> dict[ChannelName, dict[Sku, int]]:
    """What each channel should show of the SKUs ``lines`` touch, planned on ``basis`` less them.

    Channels that are paused, rows paused, and everything while the guard holds are left out:
    nothing would be pushed there.
    """
    if basis.held:
        return {}
    units = taken(basis.rows, lines)
    bundles = basis.made_of
    touched = {sku for sku in units if sku in basis.rows}
    touched |= {bundle for sku in units for bundle in bundles.get(sku, ())}
    if not touched:
        return {}
    # Only what the plan of the touched rows looks at: them, and the parts of the bundles among them.
    needed = touched | {part for sku in touched for part in basis.rows[sku].parts or {}}
    available = {sku: basis.available.get(sku, 0) - units.get(sku, 0) for sku in needed}
    reach = {
        (spec.name, sku): basis.reach[(spec.name, sku)] - units.get(sku, 0)
        for spec in basis.specs
        for sku in touched
        if (spec.name, sku) in basis.reach
    }
    for sku in touched:
        parts = basis.rows[sku].parts
        if parts is None:
            continue
        available[sku] = made(parts, available)
        for spec in basis.specs:
            if (spec.name, sku) in reach:
                sells = {p: reach.get((spec.name, p), available.get(p, 0)) for p in parts}
                reach[(spec.name, sku)] = made(parts, sells)
    rows = tuple(basis.rows[sku] for sku in sorted(touched, key=lambda s: basis.rows[s].row))
    specs = tuple(replace(spec, due=True) for spec in basis.specs)
    guard = GuardVerdict(False, "", False, 0, 0)
    planned = plan(ParsedRows(rows, ()), available, {}, specs, guard, basis.velocity, basis.in_flight, reach)
    found: dict[ChannelName, dict[Sku, int]] = defaultdict(dict)
    for row in planned.rows:
        for name, decision in row.decisions.items():
            if decision.allowed:
                found[name][row.row.sku] = decision.target
    return dict(found)


def lowered(basis: Basis, lines: Sequence[OrderLine], shown: Shown) -> dict[ChannelName, list[StockLevel]]:
    """Per channel, the quantities to push now: the touched SKUs the sale leaves above target.

    ``shown`` already has each line's own channel lowered (``own_sales``).  A SKU whose figure
    is not known is left alone: lowering it blind could raise it.  Each level expects what is
    shown, for channels that refuse to overwrite a figure that changed behind our back.
    """
    pushes: dict[ChannelName, list[StockLevel]] = {}
    for name, wanted in targets(basis, lines).items():
        levels = [
            StockLevel(sku, target, now)
            for sku, target in wanted.items()
            if (now := shown.get((name, sku))) is not None and target < now
        ]
        if levels:
            pushes[name] = levels
    return pushes


def capped(plan_: Plan, caps: Mapping[ChannelName, Mapping[Sku, int]]) -> Plan:
    """``plan_`` with each channel's target lowered to its cap where the cap is lower.

    A cycle pushes this when sales arrived after it read its orders: its own targets do not
    count them yet, and pushing them would undo what the fast path lowered.
    """
    if not any(caps.values()):
        return plan_
    rows = tuple(_capped_row(plan_, row, caps) for row in plan_.rows)
    return replace(plan_, rows=rows)


def _capped_row(plan_: Plan, row: RowPlan, caps: Mapping[ChannelName, Mapping[Sku, int]]) -> RowPlan:
    changed: dict[ChannelName, Decision] = {}
    for name, decision in row.decisions.items():
        cap = caps.get(name, {}).get(row.row.sku)
        if cap is not None and cap < decision.target:
            changed[name] = replace(
                decision,
                target=cap,
                reason=shows(cap, SOLD_SINCE),
                push=plan_.pushed_to(name, decision) and cap != decision.believed,
            )
    return replace(row, decisions={**row.decisions, **changed}) if changed else row
