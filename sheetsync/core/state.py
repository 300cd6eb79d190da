"""The worker's own state, kept in the master's State sheet as plain key/value text.

A Procfile worker's disk does not survive a restart, so everything the next cycle needs lives
in the master beside the data it describes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

from sheetsync.core.memo import LastCall, Places
from sheetsync.core.monitor import Watch, dump_watch, load_watch
from sheetsync.model import ChannelName

#: State key prefix of a channel's Watch (``watch:google``).
WATCH_PREFIX = "watch:"
#: State key prefix of how far a channel's orders were read and committed (``read:shopify``).
READ_PREFIX = "read:"
INCIDENTS_KEY = "incidents"
REPORTS_KEY = "reports"
FOLD_KEY = "fold"
#: Channels a push was accepted by, or whose first live sync was confirmed (see core.preview).
LIVE_KEY = "live"
#: State key prefix of what a channel spent of one quota this month (``usage:shopify:points``),
#: as ``sheetsync.pacing.Usage`` writes it (``2026-12:1234@1764979200``).
USAGE_PREFIX = "usage:"


@dataclass(frozen=True, slots=True)
class WorkerState:
    """What the next cycle needs to know about the last one."""

    #: Ledger rows already reflected in the channel columns (see ledger.channel_moves).
    ledger_applied: int | None = None
    #: The volume guard's baseline: usable rows and total count of the last good cycle.
    guard_rows: int | None = None
    guard_total: int | None = None
    #: Per channel: pushes not seen yet, lag samples, drift under watch (see core.monitor).
    watches: Mapping[ChannelName, Watch] = field(default_factory=dict)
    #: Incidents alerted and not yet cleared: key → the text they opened with.
    incidents: Mapping[str, str] = field(default_factory=dict)
    #: Per worker-owned sheet: a digest of what was last written (Reorder) or its day (Insights).
    reports: Mapping[str, str] = field(default_factory=dict)
    #: Per channel: the newest order cursor read whose lines are all in the ledger.  Webhook
    #: copies win their lines' keys and carry no cursor, so the ledger alone would never move.
    read: Mapping[ChannelName, str] = field(default_factory=dict)
    #: The marker key of the Ledger checkpoint ``ledger_applied`` counts rows after ("" before any).
    fold: str = ""
    #: Per live channel: when it went live, and how; None: a State from before this was kept.
    live: Mapping[ChannelName, str] | None = None
    #: Per channel and quota (``shopify``, ``points``): the month's count, as its State text.
    usage: Mapping[tuple[ChannelName, str], str] = field(default_factory=dict)


#: Each Watch read, by its place among the State's watches, with its text: a channel the last
#: cycle left as it was reads the same text again, and gets the very Watch read then.
_LOADED: Places[str, Watch] = Places()
#: The text each Watch written was made into: a channel that stayed as it was read keeps that
#: very Watch (``monitor.pushed``), so its text is not made again (a quiet channel's JSON is
#: neither parsed nor made each cycle).
_DUMPED: LastCall[Watch, None, str] = LastCall()


def parse_state(cells: Mapping[str, str]) -> WorkerState:
    """Read the State sheet; a missing or garbled value is simply unknown."""
    loaded = _LOADED.begin(None)
    watches = [(key, value) for key, value in cells.items() if key.startswith(WATCH_PREFIX)]
    return WorkerState(
        ledger_applied=_number(cells.get("ledger_applied")),
        guard_rows=_number(cells.get("guard_rows")),
        guard_total=_number(cells.get("guard_total")),
        watches={
            ChannelName(key.removeprefix(WATCH_PREFIX)): loaded.answer(
                place, value, partial(load_watch, value)
            )
            for place, (key, value) in enumerate(watches)
        },
        incidents=_text_map(cells.get(INCIDENTS_KEY, "")),
        reports=_text_map(cells.get(REPORTS_KEY, "")),
        read={
            ChannelName(key.removeprefix(READ_PREFIX)): value.strip()
            for key, value in cells.items()
            if key.startswith(READ_PREFIX) and value.strip()
        },
        fold=cells.get(FOLD_KEY, "").strip(),
        live=(
            None
            if LIVE_KEY not in cells
            else {ChannelName(key): text for key, text in _text_map(cells[LIVE_KEY]).items()}
        ),
        usage={
            (ChannelName(channel), quota): value.strip()
            for key, value in cells.items()
            if key.startswith(USAGE_PREFIX)
            for channel, _, quota in [key.removeprefix(USAGE_PREFIX).partition(":")]
            if channel and quota and value.strip()
        },
    )


def state_cells(state: WorkerState) -> dict[str, str]:
    """The State sheet rows for ``state`` (unknown values are left out)."""
    values = {
        "ledger_applied": state.ledger_applied,
        "guard_rows": state.guard_rows,
        "guard_total": state.guard_total,
    }
    cells = {key: str(value) for key, value in values.items() if value is not None}
    dumped = _DUMPED.begin(None)
    for name, watch in state.watches.items():
        text = dumped.get(watch, None)
        cells[f"{WATCH_PREFIX}{name}"] = dumped.keep(watch, None, dump_watch(watch) if text is None else text)
    cells.update({f"{READ_PREFIX}{name}": value for name, value in state.read.items()})
    cells.update({f"{USAGE_PREFIX}{name}:{quota}": text for (name, quota), text in state.usage.items()})
    if state.fold:
        cells[FOLD_KEY] = state.fold
    cells[INCIDENTS_KEY] = json.dumps(dict(state.incidents), separators=(",", ":"))
    if state.live is not None:
        cells[LIVE_KEY] = json.dumps(dict(state.live), separators=(",", ":"))
    if state.reports:
        cells[REPORTS_KEY] = json.dumps(dict(state.reports), separators=(",", ":"))
    return cells


def _number(text: str | None) -> int | None:
    value = (text or "").strip()
    return int(value) if value.isdigit() else None


def _text_map(text: str) -> dict[str, str]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(key): str(value) for key, value in data.items()}
