"""A cycle's plan as a preview, and the confirmation a channel's first live sync waits for.

``sheetsync sync --dry-run`` and the dashboard's ``/preview`` show the final plan of a cycle that
writes nothing: per channel and SKU, what the channel shows now (as far as we know), what it
would be set to, and the plan's reason.  It is the plan rendered, not a second computation.

A channel no push was ever accepted by (no ``live`` entry in the State) whose first sync would
change many quantities is held (``first_sync_holds``): nothing is pushed to it, its Status row
says so, and the merchant confirms with CONFIRM in its Control cell, ``sheetsync sync --confirm
NAME`` or the dashboard's Confirm button.  A wrong column, shop or location found then costs a
look at the sheet, not a catalogue of wrong quantities.

Pure functions: the time comes in as an argument.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sheetsync.core.plan import ChannelSpec, Decision, Plan, RowPlan
from sheetsync.core.state import WorkerState
from sheetsync.model import TIMESTAMP_FORMAT, ChannelName, ChannelStatus, PriceLevel, Sku

#: What the merchant types in a channel's Control cell (or the dashboard's button sends) to
#: confirm its first live sync.
CONFIRM_WORD = "CONFIRM"
#: How a held channel's Status message starts (the dashboard offers Confirm on such rows).
FIRST_SYNC = "first live sync"
#: SKUs a held channel's message names as examples; the preview lists every one.
EXAMPLES = 3
#: The ``live`` value of channels already syncing when the State had no ``live`` entry yet.
EARLIER = "before confirmation was introduced"


@dataclass(frozen=True, slots=True)
class FirstSyncRule:
    """When a channel's first live sync waits for the merchant: more changes than either limit.

    The share counts only in a catalogue larger than ``max_changes`` rows: a catalogue that small
    is checked by eye, and a mistake in it is as small.
    """

    confirm: bool = True  #: False: never wait
    max_changes: int = 20  #: quantities changed at most without confirmation
    max_share: float = 0.1  #: share of the catalogue (valid rows) changed at most without it


@dataclass(frozen=True, slots=True)
class PreviewLine:
    """One SKU on one channel: from what, to what, and why."""

    sku: Sku
    row: int  #: the Inventory row
    current: int | None  #: what the channel shows now, as far as known (None: not known)
    target: int
    action: str  #: "push", "unchanged" or "held" (would differ, but is not pushed this cycle)
    why: str


@dataclass(frozen=True, slots=True)
class ChannelPreview:
    """What a cycle would do on one channel."""

    name: ChannelName
    title: str
    state: str  #: OK, PAUSED, HOLD or ERROR
    message: str
    lines: tuple[PreviewLine, ...]
    prices: tuple[PriceLevel, ...] = ()

    @property
    def changes(self) -> int:
        """SKUs a push would change (a push of what the channel shows already changes nothing)."""
        return sum(line.action == "push" and line.current != line.target for line in self.lines)

    @property
    def unchanged(self) -> int:
        """SKUs the channel shows as planned already."""
        return sum(line.current == line.target for line in self.lines)

    @property
    def held(self) -> int:
        """SKUs that would differ, not pushed this cycle (a pause, a hold, unseen sales)."""
        return sum(line.action == "held" for line in self.lines)


@dataclass(frozen=True, slots=True)
class Preview:
    """What the next cycle would push, per channel; nothing of it was written."""

    at: datetime
    channels: tuple[ChannelPreview, ...]
    problems: tuple[tuple[int, str, str], ...] = ()  #: unreadable rows: row, SKU, why
    guard: str = ""  #: the volume guard's message while it holds every push
    halted: str = ""  #: why nothing at all would be read or pushed (a lost Ledger)


def live_channels(state: WorkerState) -> dict[ChannelName, str]:
    """Channels a push was accepted by, or whose first sync was confirmed: when, and how.

    A State written before this was recorded has no ``live`` entry at all: its channels that a
    cycle reached without an error (``Watch.last_ok``) were syncing then, so they count as live.
    """
    if state.live is not None:
        return dict(state.live)
    return {name: EARLIER for name, watch in state.watches.items() if watch.last_ok is not None}


def first_sync_holds(
    plan_: Plan,
    specs: Sequence[ChannelSpec],
    live: Collection[ChannelName],
    confirmed: Collection[ChannelName],
    rule: FirstSyncRule,
    exempt: Collection[ChannelName] = (),
) -> dict[ChannelName, str]:
    """Channels whose first live sync must wait for the merchant, each with its Status message.

    Only a channel pushed to this cycle (due, not paused, the volume guard not holding) that is
    not live, not confirmed and not ``exempt`` (a local sandbox), and whose pushes would change
    more than ``rule.max_changes`` quantities, or more than ``rule.max_share`` of the valid rows
    of a catalogue larger than ``rule.max_changes``.
    """
    if not rule.confirm or plan_.guard.held:
        return {}
    catalogue = len(plan_.rows)
    holds = {}
    for spec in specs:
        name = spec.name
        if not spec.due or spec.paused or name in live or name in confirmed or name in exempt:
            continue
        changes = [level for level in plan_.pushes(name) if level.quantity != level.expected]
        small = catalogue <= rule.max_changes or len(changes) <= rule.max_share * catalogue
        if len(changes) <= rule.max_changes and small:
            continue
        examples = ", ".join(
            f"{level.sku} {_figure(level.expected)}→{level.quantity}" for level in changes[:EXAMPLES]
        )
        more = ", …" if len(changes) > EXAMPLES else ""
        holds[name] = (
            f"{FIRST_SYNC}: would change {len(changes)} of {catalogue} quantities ({examples}{more}), "
            f"more than {rule.max_changes} or {rule.max_share:.0%} of the catalogue, so nothing was "
            f"pushed. Check them with `sheetsync sync --dry-run`, then type {CONFIRM_WORD} in the "
            f"Control cell of this row, run `sheetsync sync --confirm {name}`, or press Confirm on "
            "the dashboard"
        )
    return holds


def hold(plan_: Plan, holds: Mapping[ChannelName, str]) -> Plan:
    """``plan_`` with nothing pushed to the held channels: no quantity, no price."""
    if not holds:
        return plan_
    rows = []
    for row in plan_.rows:
        rows.append(
            replace(
                row,
                decisions=_held(row.decisions, holds),
                prices={name: price for name, price in row.prices.items() if name not in holds},
            )
        )
    flagged = tuple(replace(f, decisions=_held(f.decisions, holds)) for f in plan_.flagged)
    return replace(plan_, rows=tuple(rows), flagged=flagged)


def _held(
    decisions: Mapping[ChannelName, Decision], holds: Mapping[ChannelName, str]
) -> dict[ChannelName, Decision]:
    return {
        name: replace(d, push=False, allowed=False, reason=f"{d.reason} (held: {FIRST_SYNC} not confirmed)")
        if name in holds and d.push
        else d
        for name, d in decisions.items()
    }


def held_statuses(
    statuses: Sequence[ChannelStatus], holds: Mapping[ChannelName, str], consumed: Collection[ChannelName]
) -> list[ChannelStatus]:
    """Status rows with the held channels in HOLD, and the Control cells of used confirmations cleared."""
    rows = []
    for status in statuses:
        if status.channel in holds:
            errors = f"; {status.message}" if status.state == "ERROR" else ""
            status = replace(status, state="HOLD", message=holds[status.channel] + errors)
        if status.channel in consumed:
            status = replace(status, control="")
        rows.append(status)
    return rows


def hold_incidents(holds: Mapping[ChannelName, str], titles: Mapping[ChannelName, str]) -> dict[str, str]:
    """One incident per held channel (``confirm:NAME``): alerted once, cleared once confirmed."""
    return {
        f"confirm:{name}": f"{titles.get(name, name)} waits for you: {message}"
        for name, message in holds.items()
    }


def preview(
    plan_: Plan,
    specs: Sequence[ChannelSpec],
    holds: Mapping[ChannelName, str],
    errors: Mapping[ChannelName, Sequence[str]],
    now: datetime,
    currency: str | None = None,
) -> Preview:
    """The final plan of a cycle as a preview: each channel of ``specs``, every SKU it has a say on."""
    channels = []
    for spec in specs:
        name = spec.name
        lines = [
            _line(row.row.sku, row.row.row, decision, _why(row, decision))
            for row in plan_.rows
            if (decision := row.decisions.get(name)) is not None
        ]
        lines += [
            _line(f.sku, f.problem.row, decision, f"{'; '.join(f.problem.messages)} · {decision.reason}")
            for f in plan_.flagged
            if (decision := f.decisions.get(name)) is not None
        ]
        state, message = _state(spec, plan_, holds, errors.get(name, ()))
        prices = () if currency is None else tuple(plan_.price_levels(name, currency))
        channels.append(ChannelPreview(name, spec.title, state, message, tuple(lines), prices))
    problems = tuple((p.row, p.sku or "", "; ".join(p.messages)) for p in plan_.problems)
    guard = plan_.guard.message if plan_.guard.held else ""
    return Preview(now, tuple(channels), problems, guard)


def _line(sku: Sku, row: int, decision: Decision, why: str) -> PreviewLine:
    if decision.push:
        action = "push"
    elif decision.target == decision.believed:
        action = "unchanged"
    else:
        action = "held"
    return PreviewLine(sku, row, decision.believed, decision.target, action, why)


def _why(row: RowPlan, decision: Decision) -> str:
    """The plan's reason, with what a bundle is made of."""
    parts = row.row.parts
    if parts is None:
        return decision.reason
    made = " + ".join(f"{units} x {sku}" for sku, units in parts.items())
    return f"{decision.reason} (bundle of {made})"


def _state(
    spec: ChannelSpec, plan_: Plan, holds: Mapping[ChannelName, str], errors: Sequence[str]
) -> tuple[str, str]:
    if spec.paused:
        return "PAUSED", "paused: nothing would be pushed"
    if plan_.guard.held:
        return "HOLD", "volume guard: nothing would be pushed (see the Volume guard row)"
    if spec.name in holds:
        return "HOLD", holds[spec.name]
    if errors:
        return "ERROR", "; ".join(errors)
    return "OK", ""


def _figure(value: int | None) -> str:
    return "?" if value is None else str(value)


def preview_data(shown: Preview) -> dict[str, Any]:
    """The preview as plain JSON data: what ``--dry-run --json`` prints and ``/preview`` answers."""
    return {
        "at": shown.at.isoformat(),
        "halted": shown.halted,
        "guard": shown.guard,
        "channels": [
            {
                "name": channel.name,
                "title": channel.title,
                "state": channel.state,
                "message": channel.message,
                "would_change": channel.changes,
                "unchanged": channel.unchanged,
                "held": channel.held,
                "skus": [
                    {
                        "sku": line.sku,
                        "row": line.row,
                        "from": line.current,
                        "to": line.target,
                        "action": line.action,
                        "why": line.why,
                    }
                    for line in channel.lines
                ],
                "prices": [{"sku": price.sku, "to": price.text} for price in channel.prices],
            }
            for channel in shown.channels
        ],
        "problems": [{"row": row, "sku": sku, "why": why} for row, sku, why in shown.problems],
    }


def preview_lines(shown: Preview) -> list[str]:
    """The preview as text, one line each: changes and held SKUs listed, unchanged ones counted."""
    lines = [f"dry run at {shown.at.strftime(TIMESTAMP_FORMAT)}: nothing was written or pushed"]
    if shown.halted:
        return [*lines, f"nothing would be read or pushed: {shown.halted}"]
    if shown.guard:
        lines.append(f"volume guard holds every push: {shown.guard}")
    for channel in shown.channels:
        counts = f"{channel.changes} would change, {channel.unchanged} unchanged, {channel.held} held"
        note = f" · {channel.state}: {channel.message}" if channel.message else ""
        lines.append(f"{channel.title} ({channel.name}): {counts}{note}")
        width = max((len(line.sku) for line in channel.lines), default=0)
        for line in channel.lines:
            if line.current != line.target:
                lines.append(
                    f"  {line.action:<4} {line.sku:<{width}}  row {line.row}: "
                    f"{_figure(line.current)} → {line.target}  {line.why}"
                )
        lines += [f"  price {price.sku}: {price.text} {price.currency}" for price in channel.prices]
    lines += [
        f"Inventory row {row} (SKU {sku or 'blank'}): {why}; not pushed" for row, sku, why in shown.problems
    ]
    return lines
