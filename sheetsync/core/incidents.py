"""Incidents: conditions that need a human, opened once and closed once.

A condition (a channel lagging, rows drifting, an oversell) that holds cycle after cycle is one
incident: one alert when it opens, one when it clears.  The open set lives in the worker's
state, so a restart neither repeats nor forgets an alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


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
