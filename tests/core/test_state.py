"""The worker's key/value state in the master."""

from __future__ import annotations

from sheetsync.core.state import WorkerState, parse_state, state_cells


def test_round_trip_and_unknown_values() -> None:
    state = WorkerState(ledger_applied=12, guard_rows=40, guard_total=900)
    assert parse_state(state_cells(state)) == state
    assert state_cells(WorkerState()) == {}
    assert parse_state({"ledger_applied": "twelve", "guard_rows": " 3 "}) == WorkerState(guard_rows=3)
