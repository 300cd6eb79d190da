"""The preview of a plan, and when a channel's first live sync waits for the merchant (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sheetsync.core.buffers import NO_BUFFER
from sheetsync.core.bundles import parse_bundles
from sheetsync.core.cells import ParsedRows, parse_rows
from sheetsync.core.monitor import Watch
from sheetsync.core.plan import ChannelSpec, GuardVerdict, Plan, plan
from sheetsync.core.preview import (
    EARLIER,
    FirstSyncRule,
    first_sync_holds,
    held_statuses,
    hold,
    hold_incidents,
    live_channels,
    preview,
    preview_data,
    preview_lines,
)
from sheetsync.core.state import WorkerState, parse_state, state_cells
from sheetsync.model import ChannelName, ChannelStatus, Layout, LedgerEntry, Movement, RawRow, Sku

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SHOP, MARKET = ChannelName("shop"), ChannelName("market")
LAYOUT = Layout(((SHOP, "Shop"), (MARKET, "Market")), priced=True)
OPEN = GuardVerdict(held=False, message="", accepted=False, rows=0, total=0)
SPECS = (ChannelSpec(SHOP, "Shop", NO_BUFFER, priced=True), ChannelSpec(MARKET, "Market", NO_BUFFER))


def sheet(count: int, shown: str = "") -> ParsedRows:
    """``count`` rows of 5 units each; each channel shows ``shown`` ("" unknown: a first sync)."""
    return parse_rows(
        [
            RawRow(n, {"sku": f"S{n}", "quantity": "5", "channel:shop": shown, "channel:market": shown})
            for n in range(2, 2 + count)
        ],
        LAYOUT,
    )


def planned(parsed: ParsedRows, guard: GuardVerdict = OPEN, specs: tuple[ChannelSpec, ...] = SPECS) -> Plan:
    return plan(parsed, {r.sku: r.count for r in parsed.rows}, {}, specs, guard)


@pytest.mark.parametrize(
    ("rows", "held"),
    [
        (20, False),  # a catalogue of 20 or fewer rows is checked by eye
        (21, True),  # more than 20 changes
        (200, True),
    ],
)
def test_a_first_sync_waits_past_20_changes(rows: int, held: bool) -> None:
    holds = first_sync_holds(planned(sheet(rows)), SPECS, (), (), FirstSyncRule())
    assert (SHOP in holds) is held
    assert (MARKET in holds) is held


def test_in_a_larger_catalogue_more_than_a_tenth_changed_waits_too() -> None:
    parsed = sheet(30)
    shown = parse_rows(
        [
            RawRow(r.row, {"sku": r.sku, "quantity": "5", "channel:shop": "5" if r.row > 5 else ""})
            for r in parsed.rows
        ],
        LAYOUT,
    )
    assert len(first_sync_holds(planned(shown), SPECS[:1], (), (), FirstSyncRule())) == 1  # 4 of 30: over 10%
    assert first_sync_holds(planned(shown), SPECS[:1], (), (), FirstSyncRule(max_share=0.2)) == {}
    fewer = FirstSyncRule(max_share=0.2, max_changes=3)
    [message] = first_sync_holds(planned(shown), SPECS[:1], (), (), fewer).values()
    assert message.startswith("first live sync: would change 4 of 30 quantities (S2 ?→5, S3 ?→5, S4 ?→5, …)")
    assert "`sheetsync sync --confirm shop`" in message


def test_no_wait_when_live_confirmed_exempt_paused_not_due_held_by_the_guard_or_turned_off() -> None:
    result = planned(sheet(25))
    rule = FirstSyncRule()
    assert set(first_sync_holds(result, SPECS, (), (), rule)) == {SHOP, MARKET}
    assert set(first_sync_holds(result, SPECS, (SHOP,), (), rule)) == {MARKET}
    assert set(first_sync_holds(result, SPECS, (), (MARKET,), rule)) == {SHOP}
    assert set(first_sync_holds(result, SPECS, (), (), rule, exempt=(SHOP,))) == {MARKET}
    paused = (
        ChannelSpec(SHOP, "Shop", NO_BUFFER, paused=True),
        ChannelSpec(MARKET, "Market", NO_BUFFER, due=False),
    )
    assert first_sync_holds(planned(sheet(25), specs=paused), paused, (), (), rule) == {}
    guard = GuardVerdict(held=True, message="bad paste", accepted=False, rows=25, total=125)
    assert first_sync_holds(planned(sheet(25), guard), SPECS, (), (), rule) == {}
    assert first_sync_holds(result, SPECS, (), (), FirstSyncRule(confirm=False)) == {}


def test_a_held_channel_gets_no_quantity_and_no_price_and_the_others_are_untouched() -> None:
    parsed = parse_rows(
        [RawRow(2, {"sku": "A", "quantity": "5", "price": "9.50", "prices_sent": ""})], LAYOUT
    )
    result = planned(parsed)
    assert result.pushes(SHOP)
    assert result.price_levels(SHOP, "EUR")
    held = hold(result, {SHOP: "waits"})
    assert held.pushes(SHOP) == []
    assert held.price_levels(SHOP, "EUR") == []
    assert held.pushes(MARKET) == result.pushes(MARKET)
    assert held.rows[0].decisions[SHOP].reason.endswith("(held: first live sync not confirmed)")
    assert hold(result, {}) is result


def test_the_status_row_of_a_held_channel_says_hold_and_a_used_confirmation_is_cleared() -> None:
    statuses = [
        ChannelStatus(SHOP, "Shop", "ERROR", "now", 0, 1, "orders not read"),
        ChannelStatus(MARKET, "Market", "OK", "now", 3, 0, "pushed 3", control="CONFIRM"),
    ]
    shop, market = held_statuses(statuses, {SHOP: "first live sync: waits"}, {MARKET})
    assert (shop.state, shop.message) == ("HOLD", "first live sync: waits; orders not read")
    assert (market.state, market.control) == ("OK", "")
    assert hold_incidents({SHOP: "first live sync: waits"}, {SHOP: "Shop"}) == {
        "confirm:shop": "Shop waits for you: first live sync: waits"
    }


def test_live_channels_round_trip_and_an_older_state_counts_channels_synced_before() -> None:
    state = WorkerState(live={SHOP: "2026-11-27 09:00 confirmed"})
    assert parse_state(state_cells(state)) == state
    assert parse_state(state_cells(WorkerState(live={}))).live == {}
    assert parse_state({}).live is None
    older = WorkerState(watches={SHOP: Watch(last_ok=1.0), MARKET: Watch()})
    assert live_channels(older) == {SHOP: EARLIER}
    assert live_channels(state) == {SHOP: "2026-11-27 09:00 confirmed"}


def test_the_preview_lists_each_line_and_counts_changes_unchanged_and_held() -> None:
    raw = [
        RawRow(2, {"sku": "A", "quantity": "5", "channel:shop": "3", "channel:market": "5", "price": "2"}),
        RawRow(3, {"sku": "B", "quantity": "ten", "channel:shop": "9"}),
        RawRow(4, {"sku": "", "quantity": "1"}),
    ]
    parsed = parse_rows(raw, LAYOUT)
    count = LedgerEntry("count:B", Sku("B"), 4, Movement.COUNT, NOW)
    result = plan(parsed, {Sku("A"): 5}, {}, SPECS, OPEN, entries=(count,))
    paused = (SPECS[0], ChannelSpec(MARKET, "Market", NO_BUFFER, paused=True))
    shown = preview(result, paused, {}, {SHOP: ("orders not read: down",)}, NOW, currency="EUR")

    shop, market = shown.channels
    assert [(x.sku, x.current, x.target, x.action) for x in shop.lines] == [
        ("A", 3, 5, "push"),
        ("B", 9, 4, "push"),
    ]
    assert (shop.changes, shop.unchanged, shop.held, shop.state) == (2, 0, 0, "ERROR")
    assert (market.state, market.unchanged) == ("PAUSED", 1)
    data = preview_data(shown)
    assert data["channels"][0]["prices"] == [{"sku": "A", "to": "2.00"}]
    assert data["problems"][0]["sku"] == "B"
    assert data["problems"][1]["sku"] == ""
    text = preview_lines(shown)
    assert text[1] == "Shop (shop): 2 would change, 0 unchanged, 0 held · ERROR: orders not read: down"
    assert text[2].startswith("  push A  row 2: 3 → 5  ")
    assert "  price A: 2.00 EUR" in text
    assert text[-1].startswith("Inventory row 4 (SKU blank): ")


def test_a_bundle_line_says_what_it_is_made_of() -> None:
    raw = [RawRow(2, {"sku": "A", "quantity": "6"}), RawRow(3, {"sku": "KIT", "quantity": ""})]
    parsed = parse_rows(
        raw, LAYOUT, parse_bundles([RawRow(2, {"bundle": "KIT", "component": "A", "quantity": "2"})])
    )
    result = plan(parsed, {Sku("A"): 6, Sku("KIT"): 3}, {}, SPECS, OPEN)
    [line] = [x for x in preview(result, SPECS, {}, {}, NOW).channels[0].lines if x.sku == "KIT"]
    assert line.why.endswith("(bundle of 2 x A)")


def test_the_preview_of_a_guard_hold_a_first_sync_hold_and_a_lost_ledger() -> None:
    guard = GuardVerdict(held=True, message="a bad paste", accepted=False, rows=1, total=5)
    shown = preview(planned(sheet(1), guard), SPECS, {}, {}, NOW)
    assert shown.guard == "a bad paste"
    assert shown.channels[0].state == "HOLD"
    assert "volume guard holds every push: a bad paste" in preview_lines(shown)
    waiting = preview(
        hold(planned(sheet(1)), {SHOP: "first live sync: waits"}),
        SPECS,
        {SHOP: "first live sync: waits"},
        {},
        NOW,
    )
    assert (waiting.channels[0].state, waiting.channels[0].held) == ("HOLD", 1)
    lost = preview(planned(sheet(1)), SPECS, {}, {}, NOW)
    lost = type(lost)(NOW, (), halted="the Ledger tab is missing")
    assert preview_lines(lost)[-1] == "nothing would be read or pushed: the Ledger tab is missing"
