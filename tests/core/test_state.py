"""The worker's key/value state in the master."""

from __future__ import annotations

import json

import pytest

from sheetsync.core.monitor import Pending, Watch, dump_watch
from sheetsync.core.state import WorkerState, parse_state, state_cells
from sheetsync.model import ChannelName, Sku


def test_round_trip_and_unknown_values() -> None:
    watch = Watch(
        pending={Sku("A"): Pending(((9, 100.0), (8, 130.0)))},
        samples=((90.0, 12.5),),
        mismatch={Sku("B"): 50.0},
        last_ok=130.0,
        audited=None,
    )
    state = WorkerState(
        ledger_applied=12,
        guard_rows=40,
        guard_total=900,
        watches={ChannelName("google"): watch},
        incidents={"lag:google": "Google is lagging"},
        usage={
            (ChannelName("meta"), "batch"): "2026-12:41@1764979200",
            (ChannelName("shopify"), "points"): "2026-12:9",
        },
    )
    assert state_cells(state)["usage:meta:batch"] == "2026-12:41@1764979200"
    assert parse_state(state_cells(state)) == state
    assert state_cells(WorkerState()) == {"incidents": "{}"}  # written, so a cleared incident is cleared
    assert parse_state({"ledger_applied": "twelve", "guard_rows": " 3 "}) == WorkerState(guard_rows=3)


def test_garbled_watch_and_incidents_read_as_a_fresh_start() -> None:
    state = parse_state({"watch:google": "{not json", "watch:meta": '{"pending": 3}', "incidents": "[1]"})
    assert state.watches == {ChannelName("google"): Watch(), ChannelName("meta"): Watch()}
    assert state.incidents == {}
    assert parse_state({"incidents": "not json"}).incidents == {}


def test_a_usage_key_without_a_channel_or_quota_is_left_out() -> None:
    cells = {
        "usage:meta": "2026-12:4",
        "usage::batch": "2026-12:4",
        "usage:meta:batch": " ",
        "usage:a:b": "x",
    }
    assert parse_state(cells).usage == {(ChannelName("a"), "b"): "x"}  # its text is read as Usage later


def test_a_watch_read_or_written_as_last_time_is_not_made_again(monkeypatch: pytest.MonkeyPatch) -> None:
    watch = Watch(pending={Sku("A"): Pending(((9, 100.0),), 7)}, samples=((90.0, 12.5),), last_ok=130.0)
    google, meta = ChannelName("google"), ChannelName("meta")
    cells = state_cells(WorkerState(watches={google: watch, meta: Watch()}))
    first = parse_state(cells).watches
    again = parse_state(dict(cells)).watches
    assert first == again == {google: watch, meta: Watch()}
    assert again[google] is first[google]  # the same text at the same place: the Watch it gave
    fresh = state_cells(WorkerState(watches={google: Watch()}))["watch:google"]
    changed = parse_state({**cells, "watch:google": fresh}).watches
    assert changed == {google: Watch(), meta: Watch()}
    assert changed[meta] is first[meta]

    made: list[Watch] = []

    def dump(watch: Watch) -> str:
        made.append(watch)
        return dump_watch(watch)

    monkeypatch.setattr("sheetsync.core.state.dump_watch", dump)
    assert state_cells(WorkerState(watches=again)) == cells
    assert state_cells(WorkerState(watches=again)) == cells
    assert made == [again[google], again[meta]]  # the very same Watches: their texts are kept


def test_the_checkpoint_marker_and_the_report_marks_are_written_and_read_back() -> None:
    state = WorkerState(
        ledger_applied=7,
        fold="checkpoint/2026-10-28T09:00:00Z",
        reports={"Reorder": "3f2a9c0e1b7d4a65", "Insights": "2026-11-27"},
    )
    cells = state_cells(state)
    assert cells["fold"] == "checkpoint/2026-10-28T09:00:00Z"
    assert json.loads(cells["reports"]) == {"Reorder": "3f2a9c0e1b7d4a65", "Insights": "2026-11-27"}
    assert parse_state(cells) == state
