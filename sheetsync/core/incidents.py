"""Incidents: conditions that need a human, opened once and closed once.

A condition (a channel lagging, rows drifting, an oversell) that holds cycle after cycle is one
incident: one alert when it opens, one when it clears.  The open set lives in the worker's
state, so a restart neither repeats nor forgets an alert.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sheetsync.core.monitor import FindingKind
from sheetsync.core.plan import Plan, RowState
from sheetsync.model import ChannelName, ChannelStatus


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


def conditions(
    statuses: Sequence[ChannelStatus],
    plan_: Plan,
    open_before: Mapping[str, str],
    due: Collection[ChannelName],
) -> dict[str, str]:
    """This cycle's conditions that need a human, as incident key → one-line text.

    A channel not talked to this cycle keeps its incidents as they were: silence is not recovery.
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
    drifted: dict[ChannelName, list[str]] = {}
    oversold = []
    for row in plan_.rows:
        where = f"{row.row.sku} (row {row.row.row})"
        if row.state is RowState.OVERSOLD:
            oversold.append(f"{where} at {row.available}")
        for channel, decision in row.decisions.items():
            if decision.finding is not None and decision.finding.kind is FindingKind.DRIFT:
                drifted.setdefault(channel, []).append(where)
    titles = {status.channel: status.title for status in statuses}
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
                f"{row.row.sku} (row {row.row.row}) is down to {row.available}, at or below its reorder "
                f"point {point.point}{buy}"
            )
    if oversold:
        found["oversold"] = f"{len(oversold)} SKU(s) oversold: {_first(oversold)}"
    if plan_.guard.held:
        found["guard"] = f"volume guard holds every push: {plan_.guard.message}"
    return found


def _channel(key: str) -> str | None:
    return key.partition(":")[2] or None


def _detail(message: str) -> str:
    """A status message without its routine first part (``pushed N``)."""
    head, _, rest = message.partition("; ")
    return rest if head.startswith("pushed ") and rest else message


def _first(items: Sequence[str], shown: int = 5) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more
