"""Incidents: conditions that need a human, opened once and closed once.

A condition (a channel lagging, rows drifting, an oversell) that holds cycle after cycle is one
incident: one alert when it opens, one when it clears.  The open set lives in the worker's
state, so a restart neither repeats nor forgets an alert.

Keys name their scope: ``kind:channel`` for a channel's incident (kept while the channel is not
talked to), ``kind/SKU`` for one SKU's (an oversell, a reorder point, a row that cannot be
read), re-decided every cycle and cleared on its own.  ``group`` folds the per-SKU alerts of one
kind opened (or cleared) in the same cycle into one message, so a bad hour is one alert, not
three hundred.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sheetsync.core.memo import Same
from sheetsync.core.monitor import FindingKind
from sheetsync.core.plan import NO_RESULT, ChannelResult, Plan, RowPlan, RowState
from sheetsync.model import ChannelName, ChannelStatus

#: A grouped alert names this many of its incidents in full, then counts the rest.
GROUPED_SHOWN = 10


@dataclass(frozen=True, slots=True)
class Alert:
    """One message for the people on call."""

    key: str  #: the incident, e.g. ``lag:google``; stable while the condition lasts
    text: str  #: one line a merchant understands; never a secret
    at: datetime
    recovered: bool = False

    def line(self) -> str:
        """The alert as one line (the same text every sink sends)."""
        mark = "RECOVERED" if self.recovered else "ALERT"
        return f"[sheetsync] {mark} {self.text}"


def track(
    open_before: Mapping[str, str], conditions: Mapping[str, str], now: datetime
) -> tuple[dict[str, str], list[Alert]]:
    """Compare this cycle's ``conditions`` (key → text) with the incidents already open.

    Returns the incidents open now (key → the text it opened with) and the alerts to send: one
    for each new key and one for each key that cleared.  A condition whose text changes while
    it lasts (the lag grew) is the same incident and says nothing new.
    """
    alerts = [Alert(key, text, now) for key, text in conditions.items() if key not in open_before]
    alerts += [
        Alert(key, f"{text} (cleared)", now, recovered=True)
        for key, text in open_before.items()
        if key not in conditions
    ]
    opened = {key: open_before.get(key, text) for key, text in conditions.items()}
    return opened, alerts


def _row_conditions(plan_: Plan, titles: Mapping[ChannelName, str]) -> dict[str, str]:
    """The rows' conditions: oversold SKUs, SKUs drifted per channel, SKUs at their reorder point."""
    found: dict[str, str] = {}
    drifted: dict[ChannelName, list[str]] = {}
    for row in plan_.rows:
        if row.state is RowState.OVERSOLD:
            found[f"oversold/{row.row.sku}"] = (
                f"{_named(row)} {row.oversold or f'OVERSOLD by {-row.available}'}"
            )
        for channel, decision in row.decisions.items():
            if decision.finding is not None and decision.finding.kind is FindingKind.DRIFT:
                drifted.setdefault(channel, []).append(_named(row))
    for channel, rows in drifted.items():
        found[f"drift:{channel}"] = (
            f"{titles.get(channel, channel)}: {len(rows)} SKU(s) changed on the platform behind our "
            f"back, set back to the sheet: {_first(rows)}"
        )
    for row in plan_.rows:
        if row.reorder and (point := row.row.reorder) is not None:
            buy = "" if point.quantity is None else f"; reorder {point.quantity}"
            # "/" not ":": the key names no channel, so it is re-decided every cycle
            found[f"reorder/{row.row.sku}"] = (
                f"{_named(row)} is down to {row.available}, at or below its reorder point {point.point}{buy}"
            )
    return found


def _named(row: RowPlan) -> str:
    """``SKU-1 (row 7)``: named only where it has a condition (few rows, most cycles)."""
    return f"{row.row.sku} (row {row.row.row})"


#: The last plan's row conditions (``_row_conditions``): a quiet cycle's plan is the very same.
_ROWS: Same[dict[str, str]] = Same()


def conditions(
    statuses: Sequence[ChannelStatus],
    plan_: Plan,
    open_before: Mapping[str, str],
    due: Collection[ChannelName],
    results: Mapping[ChannelName, ChannelResult] | None = None,
) -> dict[str, str]:
    """This cycle's conditions that need a human, as incident key → one-line text.

    A channel not talked to this cycle keeps its incidents as they were: silence is not recovery.
    A channel refusing some SKUs (``results``) is one incident naming their rows.
    """
    found: dict[str, str] = {
        key: text for key, text in open_before.items() if _channel(key) not in (None, *due)
    }
    for status in statuses:
        if status.state in ("LAG", "DEGRADED"):
            found[f"lag:{status.channel}"] = f"{status.title} is lagging: {_detail(status.message)}"
        if status.state == "DEGRADED":
            found[f"degraded:{status.channel}"] = (
                f"{status.title}: auto-pause rule on, publishing only the conservative buffer until "
                "its lag recovers"
            )
        if status.state == "ERROR":
            found[f"error:{status.channel}"] = f"{status.title}: {status.message}"
        outcomes = (results or {}).get(status.channel, NO_RESULT).outcomes
        if refused := [o for o in outcomes.values() if not o.ok]:  # rare: the rows are looked up then
            row_of = {row.row.sku: row.row.row for row in plan_.rows} | {
                f.sku: f.problem.row for f in plan_.flagged
            }
            named = [f"{o.sku} (row {row_of[o.sku]})" if o.sku in row_of else o.sku for o in refused]
            found[f"refused:{status.channel}"] = (
                f"{status.title} refused {len(refused)} SKU(s); their rows say ERROR and why: "
                f"{_first(named)} ({refused[0].message})"
            )
    titles = {status.channel: status.title for status in statuses}
    found.update(_ROWS.answer((plan_,), titles, lambda: _row_conditions(plan_, titles)))
    for held in plan_.flagged:
        key = f"unreadable/{held.sku}"
        if key not in found:  # a duplicated SKU is one incident, named by its first row
            reason = "; ".join(held.problem.messages)
            found[key] = f"row {held.problem.row} (SKU {held.sku}): {reason}; {held.text}"
    if plan_.guard.held:
        found["guard"] = f"volume guard holds every push: {plan_.guard.message}"
    return found


def group(alerts: Sequence[Alert]) -> list[Alert]:
    """One message per kind of per-SKU incident opened (or cleared) together, in first-seen order.

    Alerts keyed ``kind/SKU`` of one kind and direction become one alert keyed ``kind`` (``kind
    cleared`` for recoveries), naming the first ``GROUPED_SHOWN`` and counting the rest; a kind
    with a single alert, and channel alerts, go as they are.  Only the messages are grouped: the
    incidents stay per key (``track``), so each clears on its own.
    """
    kinds: dict[tuple[str, bool], list[Alert]] = {}
    order: list[Alert | tuple[str, bool]] = []
    for alert in alerts:
        kind, per_sku, _ = alert.key.partition("/")
        if not per_sku:
            order.append(alert)
            continue
        if (kind, alert.recovered) not in kinds:
            order.append((kind, alert.recovered))
        kinds.setdefault((kind, alert.recovered), []).append(alert)
    grouped = []
    for item in order:
        if isinstance(item, Alert):
            grouped.append(item)
            continue
        members = kinds[item]
        if len(members) == 1:
            grouped.append(members[0])
            continue
        kind, recovered = item
        texts = [m.text.removesuffix(" (cleared)") for m in members]
        more = f"; and {len(texts) - GROUPED_SHOWN} more" if len(texts) > GROUPED_SHOWN else ""
        head = f"{len(members)} {kind} incidents {'cleared' if recovered else 'opened'}"
        text = f"{head}: {'; '.join(texts[:GROUPED_SHOWN])}{more}"
        key = f"{kind} cleared" if recovered else kind
        grouped.append(Alert(key, text, members[0].at, recovered))
    return grouped


def _channel(key: str) -> str | None:
    """The channel a ``kind:channel`` key names; None for a SKU's (``kind/SKU``, whatever the SKU)."""
    kind, colon, channel = key.partition(":")
    return channel if colon and "/" not in kind and channel else None


def _detail(message: str) -> str:
    """A status message without its routine first part (``pushed N``)."""
    head, _, rest = message.partition("; ")
    return rest if head.startswith("pushed ") and rest else message


def _first(items: Sequence[str], shown: int = 5) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more
