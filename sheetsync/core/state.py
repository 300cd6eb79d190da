"""The worker's own state, kept in the master's State sheet as plain key/value text.

A Procfile worker's disk does not survive a restart, so everything the next cycle needs lives
in the master beside the data it describes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkerState:
    """What the next cycle needs to know about the last one."""

    #: Ledger rows already reflected in the channel columns (see ledger.channel_moves).
    ledger_applied: int | None = None
    #: The volume guard's baseline: usable rows and total count of the last good cycle.
    guard_rows: int | None = None
    guard_total: int | None = None


def parse_state(cells: Mapping[str, str]) -> WorkerState:
    """Read the State sheet; a missing or garbled value is simply unknown."""
    return WorkerState(
        ledger_applied=_number(cells.get("ledger_applied")),
        guard_rows=_number(cells.get("guard_rows")),
        guard_total=_number(cells.get("guard_total")),
    )


def state_cells(state: WorkerState) -> dict[str, str]:
    """The State sheet rows for ``state`` (unknown values are left out)."""
    values = {
        "ledger_applied": state.ledger_applied,
        "guard_rows": state.guard_rows,
        "guard_total": state.guard_total,
    }
    return {key: str(value) for key, value in values.items() if value is not None}


def _number(text: str | None) -> int | None:
    value = (text or "").strip()
    return int(value) if value.isdigit() else None
