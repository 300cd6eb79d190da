"""The planner: what each channel should show, what to push now, and the two guards."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from fractions import Fraction
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sheetsync.core.buffers import NO_BUFFER, AdaptiveRule, BufferPolicy, Hold, HoldKind, Tier
from sheetsync.core.bundles import parse_bundles
from sheetsync.core.cells import ParsedRows, parse_rows
from sheetsync.core.monitor import Finding, FindingKind, Pending
from sheetsync.core.plan import (
    ChannelHealth,
    ChannelResult,
    ChannelSpec,
    GuardVerdict,
    RowPlan,
    RowState,
    apply_findings,
    channel_statuses,
    discrepancies,
    guard_status,
    hold_unconfirmed,
    plan,
    row_cells,
    volume_guard,
)
from sheetsync.core.state import WorkerState
from sheetsync.model import ChannelName, Layout, LedgerEntry, Movement, PushOutcome, RawRow, Sku

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SHOPIFY, FACEBOOK, GOOGLE = (
    ChannelName("shopify"),
    ChannelName("facebook"),
    ChannelName("google"),
)
LAYOUT = Layout(((SHOPIFY, "Shopify"), (FACEBOOK, "Facebook"), (GOOGLE, "Google")))
TITLES = dict(LAYOUT.channels)
OPEN = GuardVerdict(held=False, message="", accepted=False, rows=0, total=0)


def tiers(hold_3_to_10: int) -> BufferPolicy:
    return BufferPolicy(
        (
            Tier(11, Hold(HoldKind.PERCENT, Fraction(10))),
            Tier(3, Hold(HoldKind.UNITS, Fraction(hold_3_to_10))),
            Tier(0, Hold(HoldKind.ALL)),
        )
    )


SPECS = [
    ChannelSpec(SHOPIFY, "Shopify", tiers(2)),
    ChannelSpec(FACEBOOK, "Facebook", tiers(3)),
    ChannelSpec(GOOGLE, "Google", tiers(4)),
]


def rows(*specs: tuple[str, str] | tuple[str, str, Mapping[str, str]]) -> ParsedRows:
    raw = []
    for number, spec in enumerate(specs, start=2):
        extra = spec[2] if len(spec) == 3 else {}
        raw.append(RawRow(number, {"sku": spec[0], "quantity": spec[1], **extra}))
    return parse_rows(raw, LAYOUT)


def counts(parsed: ParsedRows) -> dict[Sku, int]:
    return {r.sku: r.count for r in parsed.rows}


def test_seed_example_master_10_pushes_8_7_6() -> None:
    parsed = rows(("A", "10"))
    result = plan(parsed, counts(parsed), {}, SPECS, OPEN)
    assert {name: [(level.sku, level.quantity) for level in result.pushes(name)] for name in TITLES} == {
        "shopify": [("A", 8)],
        "facebook": [("A", 7)],
        "google": [("A", 6)],
    }
    decision = result.rows[0].decisions[FACEBOOK]
    assert decision.reason == "shows 7: tier 3-10 holds 3"


def test_only_changes_are_planned() -> None:
    parsed = rows(
        (
            "A",
            "10",
            {"channel:shopify": "8", "channel:facebook": "7", "channel:google": "5"},
        )
    )
    result = plan(parsed, counts(parsed), {}, SPECS, OPEN)
    assert [name for name in TITLES if result.pushes(name)] == ["google"]


def test_a_channels_own_sales_are_applied_to_what_we_believe_it_shows() -> None:
    parsed = rows(("A", "10", {"channel:shopify": "8"}))
    # Shopify sold 2 by itself; the ledger now says 8 available → Shopify should show 6 = what it shows.
    result = plan(parsed, {Sku("A"): 8}, {(SHOPIFY, Sku("A")): -2}, SPECS[:1], OPEN)
    assert result.pushes(SHOPIFY) == []
    assert result.rows[0].decisions[SHOPIFY].believed == 6


def test_override_shows_the_number_on_every_channel_capped_at_available() -> None:
    parsed = rows(("A", "10", {"override": "5"}), ("B", "3", {"override": "9"}))
    result = plan(parsed, counts(parsed), {}, SPECS, OPEN)
    assert [(level.sku, level.quantity) for level in result.pushes(GOOGLE)] == [("A", 5), ("B", 3)]
    assert result.rows[1].decisions[GOOGLE].reason == "shows 3: Override 9, only 3 on the shelf"


def test_pause_override_pushes_nothing_for_the_row() -> None:
    parsed = rows(("A", "10", {"override": "PAUSE"}), ("B", "10"))
    result = plan(parsed, counts(parsed), {}, SPECS, OPEN)
    assert [level.sku for level in result.pushes(SHOPIFY)] == ["B"]
    assert result.rows[0].state is RowState.PAUSED


def test_paused_or_not_due_channels_get_no_push() -> None:
    parsed = rows(("A", "10"))
    specs = [
        ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER, paused=True),
        ChannelSpec(GOOGLE, "Google", NO_BUFFER, due=False),
    ]
    result = plan(parsed, counts(parsed), {}, specs, OPEN)
    assert result.pushes(SHOPIFY) == []
    assert result.pushes(GOOGLE) == []
    assert result.rows[0].decisions[SHOPIFY].reason == "is paused, would show all 10"


def test_oversold_rows_show_zero_everywhere() -> None:
    parsed = rows(("A", "2", {"channel:shopify": "1"}))
    result = plan(parsed, {Sku("A"): -1}, {}, SPECS, OPEN)
    assert result.rows[0].state is RowState.OVERSOLD
    assert [level.quantity for name in TITLES for level in result.pushes(name)] == [0, 0, 0]


def test_a_row_buffer_replaces_the_tiers() -> None:
    parsed = rows(("A", "10", {"buffer": "50%", "buffer:google": "all"}))
    result = plan(parsed, counts(parsed), {}, SPECS, OPEN)
    assert [result.pushes(n)[0].quantity for n in TITLES] == [5, 5, 0]


class TestStaleNumberGuard:
    def plan_raise(self, shown: int, target_stock: int) -> tuple[list[int], RowState]:
        parsed = rows(("A", str(target_stock), {"channel:shopify": "8"}))
        draft = plan(
            parsed,
            counts(parsed),
            {},
            [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)],
            OPEN,
        )
        final = hold_unconfirmed(draft, {SHOPIFY: {Sku("A"): shown}})
        return [level.quantity for level in final.pushes(SHOPIFY)], final.rows[0].state

    def test_never_raises_a_channel_that_sold_units_we_have_not_ingested(self) -> None:
        quantities, state = self.plan_raise(shown=6, target_stock=12)
        assert quantities == []
        assert state is RowState.LAG

    def test_lowering_is_always_allowed(self) -> None:
        assert self.plan_raise(shown=6, target_stock=4) == ([4], RowState.OK)

    def test_raises_once_the_channel_agrees(self) -> None:
        assert self.plan_raise(shown=8, target_stock=12) == ([12], RowState.OK)

    def test_only_raises_need_reading(self) -> None:
        parsed = rows(("A", "12", {"channel:shopify": "8"}), ("B", "3", {"channel:shopify": "8"}))
        draft = plan(
            parsed,
            counts(parsed),
            {},
            [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)],
            OPEN,
        )
        assert draft.raises(SHOPIFY) == ["A"]


class TestVolumeGuard:
    def test_holds_when_rows_vanish(self) -> None:
        verdict = volume_guard(
            rows(("A", "10")),
            WorkerState(guard_rows=10, guard_total=100),
            0.5,
            accept=False,
        )
        assert verdict.held
        assert verdict.message.startswith("Inventory has 1 usable rows (was 10): more than 50% at once")
        assert verdict.message.endswith("type ACCEPT in the Control cell of this row.")
        result = plan(rows(("A", "10")), {Sku("A"): 10}, {}, SPECS, verdict)
        assert all(result.pushes(name) == [] for name in TITLES)
        assert row_cells(result, {}, TITLES, NOW) == []

    def test_holds_when_rows_become_unreadable(self) -> None:
        parsed = rows(*[(f"S{i}", "see tab 2" if i > 2 else "5") for i in range(10)])
        verdict = volume_guard(parsed, WorkerState(guard_rows=10, guard_total=50), 0.5, accept=False)
        assert verdict.held
        assert verdict.message.startswith("Inventory has 3 usable rows (was 10)")

    def test_holds_when_a_column_is_zeroed(self) -> None:
        parsed = rows(*[(f"S{i}", "0", {"available": "10"}) for i in range(10)])
        state = WorkerState(guard_rows=10, guard_total=100)
        assert not volume_guard(parsed, state, 0.5, accept=False).held  # counts compared only when asked
        verdict = volume_guard(parsed, state, 0.5, accept=False, absorbed=[])
        assert verdict.held
        assert verdict.message.startswith(
            "Inventory has 10 of 10 counts changed at once (a column shifted or zeroed?)"
        )

    def test_holds_when_the_quantity_column_shifted(self) -> None:
        parsed = rows(*[(f"S{i}", str(i + 1), {"available": str(i)}) for i in range(10)])
        assert volume_guard(parsed, WorkerState(guard_rows=10, guard_total=45), 0.5, False, absorbed=[]).held

    def test_holds_when_the_sku_column_shifted_past_skus_that_sold(self) -> None:
        skus = [Sku(f"S{i}") for i in range(10)]
        sold = [
            entry
            for i, sku in enumerate(skus)
            for entry in (
                LedgerEntry(f"count/{sku}", sku, 20, Movement.COUNT, NOW),
                LedgerEntry(f"shopify/{i}/1", sku, -i, Movement.SALE, NOW, SHOPIFY, str(i), "1"),
            )
        ]
        before = [(sku, "20", {"available": str(20 - i)}) for i, sku in enumerate(skus)]
        state = WorkerState(guard_rows=10, guard_total=200)
        assert not volume_guard(rows(*before), state, 0.5, accept=False, absorbed=sold).held
        shifted = [(skus[(i + 1) % 10], count, cells) for i, (_, count, cells) in enumerate(before)]
        verdict = volume_guard(rows(*shifted), state, 0.5, accept=False, absorbed=sold)
        assert verdict.held
        assert "10 of 10 counts changed at once" in verdict.message

    def test_a_recount_is_never_a_bad_paste(self) -> None:
        """Issue 20: a best seller recounted 60 → 0, or a one-SKU sheet going 5 → 0."""
        best = [("BEST", "0", {"available": "60"}), *[(f"S{i}", "1", {"available": "1"}) for i in range(9)]]
        state = WorkerState(guard_rows=10, guard_total=69)
        assert not volume_guard(rows(*best), state, 0.5, accept=False, absorbed=[]).held
        one = rows(("ONLY", "0", {"available": "5"}))
        assert not volume_guard(one, WorkerState(guard_rows=1, guard_total=5), 0.5, False, absorbed=[]).held
        small = rows(*[(f"S{i}", "0", {"available": "3"}) for i in range(4)])  # a small sheet's stocktake
        assert not volume_guard(
            small, WorkerState(guard_rows=4, guard_total=12), 0.5, False, absorbed=[]
        ).held

    def test_sales_the_available_cells_absorbed_are_no_change(self) -> None:
        sale = LedgerEntry("shopify/1/1", Sku("A"), -3, Movement.SALE, NOW, SHOPIFY, "1", "1")
        parsed = rows(*[(s, "10", {"available": "7" if s == "A" else "10"}) for s in "ABCDEF"])
        state = WorkerState(guard_rows=6, guard_total=60)
        assert not volume_guard(parsed, state, 0.5, accept=False, absorbed=[sale]).held

    def test_bundle_rows_have_no_count_to_compare(self) -> None:
        bundles = parse_bundles(
            [RawRow(n, {"bundle": f"K{n}", "component": "A", "quantity": "1"}) for n in range(2, 8)]
        )
        raw = [RawRow(2, {"sku": "A", "quantity": "9", "available": "9"})]
        raw += [RawRow(n + 1, {"sku": f"K{n}", "available": "9"}) for n in range(2, 8)]
        parsed = parse_rows(raw, LAYOUT, bundles)
        assert len(parsed.rows) == 7
        assert not volume_guard(
            parsed, WorkerState(guard_rows=7, guard_total=9), 0.5, False, absorbed=[]
        ).held

    def test_accept_lets_the_change_through(self) -> None:
        verdict = volume_guard(
            rows(("A", "10")),
            WorkerState(guard_rows=10, guard_total=100),
            0.5,
            accept=True,
        )
        assert not verdict.held
        assert verdict.accepted
        assert verdict.message == "change accepted: 1 usable rows (was 10)"

    def test_an_accept_with_nothing_to_accept_is_cleared(self) -> None:
        verdict = volume_guard(rows(("A", "10")), WorkerState(guard_rows=1, guard_total=10), 0.5, accept=True)
        assert (verdict.held, verdict.accepted, verdict.message) == (False, True, "1 rows, 10 units")

    def test_first_cycle_and_small_changes_pass(self) -> None:
        assert not volume_guard(rows(("A", "10")), WorkerState(), 0.5, accept=False).held
        assert not volume_guard(
            rows(("A", "6")),
            WorkerState(guard_rows=1, guard_total=10),
            0.5,
            accept=False,
        ).held


def test_row_cells_write_only_what_changed() -> None:
    parsed = rows(
        (
            "A",
            "10",
            {
                "available": "10",
                "channel:shopify": "8",
                "status": "OK",
                "reason": "10 on the shelf; Shopify shows 8: tier 3-10 holds 2",
            },
        )
    )
    result = plan(parsed, counts(parsed), {}, SPECS[:1], OPEN)
    assert row_cells(result, {}, TITLES, NOW) == []


def test_row_cells_after_pushes_and_a_refusal() -> None:
    parsed = rows(("A", "10"), ("B", "ten"))
    result = plan(parsed, counts(parsed), {}, SPECS[:2], OPEN)
    outcomes = {
        SHOPIFY: ChannelResult({Sku("A"): PushOutcome(Sku("A"), True)}),
        FACEBOOK: ChannelResult({Sku("A"): PushOutcome(Sku("A"), False, "bundle parent")}),
    }
    written = {(c.row, c.column): c.value for c in row_cells(result, outcomes, TITLES, NOW)}
    assert written[(2, "channel:shopify")] == "8"
    assert (
        2,
        "channel:facebook",
    ) not in written  # refused: still blank, so nothing to write
    assert written[(2, "status")] == "ERROR"
    assert written[(2, "reason")].startswith(
        "Facebook refused: bundle parent · 10 on the shelf; Shopify shows 8"
    )
    assert written[(2, "synced")] == "2026-11-27T09:00:00Z"
    assert written[(3, "status")] == "ERROR"
    assert written[(3, "reason")] == 'Quantity "ten" is not a whole number; enter a whole number of 0 or more'


def test_flagged_rows_still_absorb_channel_sales() -> None:
    parsed = rows(("A", "oops", {"channel:shopify": "8"}))
    result = plan(parsed, {}, {(SHOPIFY, Sku("A")): -3}, SPECS[:1], OPEN)
    written = {(c.row, c.column): c.value for c in row_cells(result, {}, TITLES, NOW)}
    assert written[(2, "channel:shopify")] == "5"


def test_channel_statuses() -> None:
    parsed = rows(("A", "10"))
    specs = [
        ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER),
        ChannelSpec(FACEBOOK, "Facebook", NO_BUFFER, paused=True),
        ChannelSpec(GOOGLE, "Google", NO_BUFFER, due=False),
    ]
    result = plan(parsed, counts(parsed), {}, specs, OPEN)
    statuses = channel_statuses(result, {SHOPIFY: ChannelResult({}, ("push failed: 503",))}, specs, NOW)
    assert [(s.channel, s.state, s.message) for s in statuses] == [
        ("shopify", "ERROR", "push failed: 503"),
        ("facebook", "PAUSED", "paused: nothing pushed; orders are still counted"),
    ]


stock = st.integers(-5, 500)


@given(
    st.lists(st.tuples(stock, st.none() | st.integers(0, 600)), min_size=1, max_size=20),
    st.sampled_from([tiers(2), tiers(4), NO_BUFFER]),
)
def test_no_push_is_ever_negative_or_above_available(
    data: list[tuple[int, int | None]], policy: BufferPolicy
) -> None:
    specs = [ChannelSpec(SHOPIFY, "Shopify", policy)]
    raw = [
        RawRow(
            i + 2,
            {"sku": f"S{i}", "quantity": "0", "override": "" if o is None else str(o)},
        )
        for i, (_, o) in enumerate(data)
    ]
    parsed = parse_rows(raw, LAYOUT)
    available = {Sku(f"S{i}"): a for i, (a, _) in enumerate(data)}
    for level in plan(parsed, available, {}, specs, OPEN).pushes(SHOPIFY):
        assert 0 <= level.quantity <= max(available[level.sku], 0)


def test_channel_status_counts_rows_waiting_for_unseen_sales() -> None:
    parsed = rows(("A", "20", {"channel:shopify": "8"}), ("B", "20", {"channel:shopify": "8"}))
    specs = [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)]
    draft = plan(parsed, counts(parsed), {}, specs, OPEN)
    final = hold_unconfirmed(draft, {SHOPIFY: {Sku("A"): 6, Sku("B"): 8}})
    outcome = {Sku("B"): PushOutcome(Sku("B"), True)}
    (status,) = channel_statuses(final, {SHOPIFY: ChannelResult(outcome)}, specs, NOW)
    assert status.message == "pushed 1; 1 waiting for unseen sales (rows marked LAG)"


def test_held_and_refused_channel_statuses_and_the_guard_row() -> None:
    parsed = rows(("A", "20"))
    specs = [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)]
    held = GuardVerdict(
        held=True, message="Inventory has 1 usable rows (was 9)", accepted=False, rows=1, total=20
    )
    (status,) = channel_statuses(plan(parsed, counts(parsed), {}, specs, held), {}, specs, NOW)
    assert (status.state, status.message) == (
        "HOLD",
        "volume guard: nothing pushed (see the Volume guard row)",
    )
    refused = {SHOPIFY: ChannelResult({Sku("A"): PushOutcome(Sku("A"), False, "archived")})}
    (status,) = channel_statuses(plan(parsed, counts(parsed), {}, specs, OPEN), refused, specs, NOW)
    assert (status.message, status.errors) == ("pushed 0; 1 refused (see the rows marked ERROR)", 1)
    row = guard_status(held, NOW)
    assert (row.state, row.checked, row.consume_accept) == ("HOLD", "2026-11-27T09:00:00Z", False)
    assert guard_status(replace(held, held=False, accepted=True), NOW).consume_accept


@pytest.mark.parametrize("shown", [0, 5, 7])
def test_hold_unconfirmed_never_pushes_above_what_the_channel_shows_when_it_is_behind(
    shown: int,
) -> None:
    parsed = rows(("A", "20", {"channel:shopify": "8"}))
    draft = plan(parsed, counts(parsed), {}, [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)], OPEN)
    assert hold_unconfirmed(draft, {SHOPIFY: {Sku("A"): shown}}).pushes(SHOPIFY) == []


def test_a_sale_unseen_on_one_channel_holds_every_channels_raise_of_the_sku() -> None:
    """A WooCommerce-like channel shows 5 where we set 8: 3 units sold there that the Ledger has
    not read.  A restock planned from the Ledger would raise the other channel to the full count:
    it waits too, or it shows units already sold (seen by the adversary, seed 42)."""
    parsed = rows(("A", "20", {"channel:shopify": "8", "channel:facebook": "8"}))
    specs = [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER), ChannelSpec(FACEBOOK, "Facebook", NO_BUFFER)]
    draft = plan(parsed, counts(parsed), {}, specs, OPEN)
    shown = {SHOPIFY: {Sku("A"): 8}, FACEBOOK: {Sku("A"): 5}}
    final = hold_unconfirmed(draft, shown, TITLES)
    assert final.pushes(SHOPIFY) == []
    assert final.pushes(FACEBOOK) == []
    (row,) = final.rows
    assert row.state is RowState.LAG
    assert row.decisions[SHOPIFY].reason == (
        "keeps 8: not raised to 20 until 3 unseen sales on Facebook (it shows 5, we set 8) are read"
    )
    # Facebook with a push of A on its way may just not show it yet: only its own raise waits.
    final = hold_unconfirmed(draft, shown, TITLES, {FACEBOOK: {Sku("A"): Pending(((8, 0.0),), 2)}})
    assert [level.quantity for level in final.pushes(SHOPIFY)] == [20]
    assert final.pushes(FACEBOOK) == []


def test_a_channel_that_sold_unseen_is_not_set_back_above_what_it_shows() -> None:
    """A channel shows 5 where we set 8: 3 sold there that the Ledger has not read.  The plan
    lowers it to 7; set absolutely, 7 would hand 2 sold units back (the adversary, seed 40, on
    WooCommerce).  It waits; a figure at or below what the channel shows goes; so does one over
    the figure the channel showed before a push of ours still on its way (it lands over it)."""
    parsed = rows(("A", "7", {"channel:shopify": "8"}))
    draft = plan(parsed, counts(parsed), {}, [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)], OPEN)
    assert [level.quantity for level in draft.pushes(SHOPIFY)] == [7]

    final = hold_unconfirmed(draft, {SHOPIFY: {Sku("A"): 5}}, TITLES)

    assert final.pushes(SHOPIFY) == []
    (row,) = final.rows
    assert row.state is RowState.LAG
    assert row.decisions[SHOPIFY].waiting
    assert [
        level.quantity for level in hold_unconfirmed(draft, {SHOPIFY: {Sku("A"): 7}}).pushes(SHOPIFY)
    ] == [7]
    on_its_way = {SHOPIFY: {Sku("A"): Pending(((8, 0.0),), 5)}}  # pushed 8 over a 5 it still shows
    assert [
        level.quantity
        for level in hold_unconfirmed(draft, {SHOPIFY: {Sku("A"): 5}}, TITLES, on_its_way).pushes(SHOPIFY)
    ] == [7]


LAGGING = Finding(FindingKind.LAG, 10, "pushed 8 21m 0s ago, still shows 10 (limit 20m 0s)")


def test_a_lagging_channel_flags_the_row_and_says_why_first() -> None:
    parsed = rows(("A", "10", {"channel:shopify": "8"}))
    specs = [ChannelSpec(SHOPIFY, "Shopify", tiers(2))]
    final = apply_findings(plan(parsed, counts(parsed), {}, specs, OPEN), {SHOPIFY: {Sku("A"): LAGGING}})
    assert final.rows[0].state is RowState.LAG
    assert final.pushes(SHOPIFY) == []  # nothing to push: we already set 8
    written = {c.column: c.value for c in row_cells(final, {}, TITLES, NOW)}
    assert written["status"] == "LAG"
    assert written["reason"] == (
        "Shopify LAG: pushed 8 21m 0s ago, still shows 10 (limit 20m 0s) · "
        "10 on the shelf; Shopify shows 8: tier 3-10 holds 2"
    )


def test_drift_takes_what_the_channel_shows_as_belief_and_sets_it_back() -> None:
    parsed = rows(("A", "10", {"channel:shopify": "8"}), ("B", "10", {"channel:shopify": "8"}))
    specs = [ChannelSpec(SHOPIFY, "Shopify", tiers(2))]
    drift = Finding(
        FindingKind.DRIFT,
        12,
        "shows 12, we set 8: changed on the platform; setting it back",
    )
    final = apply_findings(plan(parsed, counts(parsed), {}, specs, OPEN), {SHOPIFY: {Sku("B"): drift}})
    assert [r.state for r in final.rows] == [RowState.OK, RowState.DRIFT]
    assert [(level.sku, level.quantity, level.expected) for level in final.pushes(SHOPIFY)] == [("B", 8, 12)]


def test_drift_on_a_paused_channel_is_flagged_but_not_pushed() -> None:
    parsed = rows(("A", "10", {"channel:shopify": "8"}))
    specs = [ChannelSpec(SHOPIFY, "Shopify", tiers(2), paused=True)]
    drift = Finding(FindingKind.DRIFT, 12, "shows 12")
    final = apply_findings(plan(parsed, counts(parsed), {}, specs, OPEN), {SHOPIFY: {Sku("A"): drift}})
    assert final.rows[0].state is RowState.DRIFT
    assert final.pushes(SHOPIFY) == []


def test_oversold_and_paused_rows_keep_their_state_under_findings() -> None:
    parsed = rows(("A", "1"), ("B", "5", {"override": "PAUSE"}))
    specs = [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)]
    draft = plan(parsed, {Sku("A"): -2, Sku("B"): 5}, {}, specs, OPEN)
    final = apply_findings(draft, {SHOPIFY: {Sku("A"): LAGGING, Sku("B"): LAGGING}})
    assert [r.state for r in final.rows] == [RowState.OVERSOLD, RowState.PAUSED]


def test_the_conservative_buffer_wins_only_where_it_is_lower() -> None:
    careful = BufferPolicy((Tier(10, Hold(HoldKind.UNITS)), Tier(0, Hold(HoldKind.ALL))))
    parsed = rows(("A", "30"), ("B", "6"))
    specs = [ChannelSpec(GOOGLE, "Google", tiers(4), fallback=careful)]
    result = plan(parsed, counts(parsed), {}, specs, OPEN)
    assert [(level.sku, level.quantity) for level in result.pushes(GOOGLE)] == [("A", 27), ("B", 0)]
    assert result.rows[1].decisions[GOOGLE].reason == "shows 0: lagging, so auto_pause tier 0-9 holds all"


def test_discrepancies_list_flagged_refused_and_unreadable_rows_in_sheet_order() -> None:
    parsed = rows(("A", "10"), ("B", "oops"), ("C", "10"), ("D", "10", {"override": "PAUSE"}))
    specs = [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)]
    final = apply_findings(plan(parsed, counts(parsed), {}, specs, OPEN), {SHOPIFY: {Sku("C"): LAGGING}})
    refused = {SHOPIFY: ChannelResult({Sku("A"): PushOutcome(Sku("A"), False, "archived")})}
    found = discrepancies(final, refused, TITLES)
    assert [(d.row, d.sku, d.state) for d in found] == [(2, "A", "ERROR"), (3, "B", "ERROR"), (4, "C", "LAG")]
    assert found[0].reason.startswith("Shopify refused: archived · ")
    assert found[1].reason.startswith('Quantity "oops" is not a whole number')


def test_raises_are_the_pushes_above_what_we_believe_the_channel_shows() -> None:
    shown = {"channel:shopify": "4"}
    parsed = rows(("A", "8", shown), ("B", "2", shown), ("C", "8"), ("D", "x", {"channel:shopify": "9"}))
    specs = [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)]
    draft = plan(parsed, counts(parsed), {}, specs, OPEN, entries=[count("D", 5)])
    assert [(lv.sku, lv.quantity, lv.expected) for lv in draft.pushes(SHOPIFY)] == [
        ("A", 8, 4),
        ("B", 2, 4),
        ("C", 8, None),
        ("D", 5, 9),  # an unreadable row, lowered to its last count
    ]
    assert draft.raises(SHOPIFY) == ["A"]  # a lowering, or no belief yet, is not checked first


def test_discrepancies_of_a_plan_made_from_the_planners_keep_nothing_of_it_for_the_next_cycle() -> None:
    parsed = rows(("A", "10"), ("B", "10"))
    specs = [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)]
    draft = plan(parsed, counts(parsed), {}, specs, OPEN)
    final = hold_unconfirmed(draft, {SHOPIFY: {Sku("A"): 3}})
    refused = {SHOPIFY: ChannelResult({Sku("A"): PushOutcome(Sku("A"), False, "archived")})}
    held = sys.getrefcount(final), sys.getrefcount(refused)
    assert [d.sku for d in discrepancies(final, refused, TITLES)] == ["A"]
    assert (sys.getrefcount(final), sys.getrefcount(refused)) == held
    # The planner's own plan comes back in a quiet cycle: its answer is kept, with what it was for.
    assert [d.sku for d in discrepancies(draft, refused, TITLES)] == ["A"]
    assert sys.getrefcount(refused) == held[1] + 1


def test_channel_status_shows_lag_last_success_and_why_it_lags() -> None:
    parsed = rows(("A", "10", {"channel:shopify": "10"}), ("B", "10", {"channel:shopify": "10"}))
    specs = [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)]
    drift = Finding(FindingKind.DRIFT, 12, "shows 12")
    final = apply_findings(
        plan(parsed, counts(parsed), {}, specs, OPEN), {SHOPIFY: {Sku("A"): LAGGING, Sku("B"): drift}}
    )
    health = {SHOPIFY: ChannelHealth((30.0, 1500.0), 1200.0, NOW, control="PAUSE")}
    (status,) = channel_statuses(final, {}, specs, NOW, health)
    assert (status.state, status.lag_p50, status.lag_p95, status.last_ok, status.control) == (
        "LAG",
        "30s",
        "25m 0s",
        "2026-11-27T09:00:00Z",
        "PAUSE",
    )
    assert status.message == (
        "pushed 0; lag p95 25m 0s is over the 20m 0s limit; 1 pushes not visible after 20m 0s "
        "(rows marked LAG); 1 changed on the platform, set back (rows marked DRIFT)"
    )
    healthy = {SHOPIFY: ChannelHealth((30.0, 60.0), 1200.0)}
    (status,) = channel_statuses(plan(parsed, counts(parsed), {}, specs, OPEN), {}, specs, NOW, healthy)
    assert (status.state, status.last_ok) == ("OK", "")
    degraded = {SHOPIFY: ChannelHealth((30.0, 1500.0), 1200.0, degraded=True)}
    (status,) = channel_statuses(plan(parsed, counts(parsed), {}, specs, OPEN), {}, specs, NOW, degraded)
    assert status.state == "DEGRADED"
    assert status.message.startswith("pushed 0; lagging, so only the conservative buffer is shown")


def test_an_adaptive_channel_holds_back_sales_elsewhere_and_a_row_buffer_still_wins() -> None:
    parsed = rows(("A", "20"), ("B", "20", {"buffer": "3"}))
    specs = [
        ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER),
        ChannelSpec(GOOGLE, "Google", tiers(4), adaptive=AdaptiveRule(), unseen_s=1200),
    ]
    velocity = {(SHOPIFY, Sku("A")): 6 / 3600, (SHOPIFY, Sku("B")): 6 / 3600}
    result = plan(parsed, counts(parsed), {}, specs, OPEN, velocity)
    assert [(level.sku, level.quantity) for level in result.pushes(GOOGLE)] == [("A", 15), ("B", 17)]
    assert result.rows[0].decisions[GOOGLE].reason == (
        "shows 15: adaptive holds 5, sales reach it ~20 min late (~6/h)"
    )


def test_a_row_whose_rates_move_but_not_its_holds_is_not_planned_again() -> None:
    parsed = rows(("A", "40"), ("B", "40"))
    google = ChannelSpec(GOOGLE, "Google", NO_BUFFER, adaptive=AdaptiveRule(), unseen_s=1200)
    specs = [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER), google]

    def planned(a: float, b: float, unseen_s: float = 1200) -> list[RowPlan]:
        velocity = {(SHOPIFY, Sku(sku)): rate / 3600 for sku, rate in (("A", a), ("B", b)) if rate}
        lagged = [specs[0], replace(google, unseen_s=unseen_s)]
        return list(plan(parsed, counts(parsed), {}, lagged, OPEN, velocity).rows)

    a, b = planned(26.4, 6)  # A: 8.8 expected over 20 min, + 2 sd = 14.7, 15 held; B: 5 held
    assert (a.decisions[GOOGLE].target, b.decisions[GOOGLE].target) == (25, 35)
    again_a, again_b = planned(26.3, 12)  # A's rate moved a little, B's doubled
    assert again_a is a  # the same hold and the same ~26/h: the plan stands as it was
    assert again_b.decisions[GOOGLE].target == 32  # 4 expected, + 2 sd = 8 held
    # A minute more of lag moves A's hold over a step (15 -> 20); its Reason still says ~20 min.
    later_a, _ = planned(26.3, 12, unseen_s=1260)
    assert later_a.decisions[GOOGLE].target == 20
    assert (
        later_a.decisions[GOOGLE].reason == "shows 20: adaptive holds 20, sales reach it ~20 min late (~26/h)"
    )
    quiet_a, _ = planned(0, 12, unseen_s=1260)  # no sale of A in the day: nothing held
    assert quiet_a.decisions[GOOGLE].target == 40


def test_an_adaptive_channel_showing_enough_is_not_pushed_up_and_a_restock_still_is() -> None:
    # Google holds 5 of 20 (see above); it shows 11, its largest order is 3: enough, so it stays.
    parsed = rows(("A", "20", {"channel:google": "11"}), ("B", "40", {"channel:google": "11"}))
    specs = [
        ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER),
        ChannelSpec(GOOGLE, "Google", NO_BUFFER, adaptive=AdaptiveRule(), unseen_s=1200, largest_order=3),
    ]
    velocity = {(SHOPIFY, Sku(sku)): 6 / 3600 for sku in "AB"}
    result = plan(parsed, counts(parsed), {}, specs, OPEN, velocity)
    kept, restocked = (row.decisions[GOOGLE] for row in result.rows)
    assert (kept.target, kept.push) == (11, False)
    assert kept.reason == "shows 11: adaptive keeps it until it runs low (could show 15)"
    assert (restocked.target, restocked.push) == (35, True)  # 11 is under half of 35
    lowered = plan(rows(("A", "14", {"channel:google": "11"})), {Sku("A"): 14}, {}, specs, OPEN, velocity)
    assert lowered.rows[0].decisions[GOOGLE].target == 9  # a lowering goes out at once


def test_a_faster_channel_holds_back_only_what_the_slower_ones_can_still_sell() -> None:
    parsed = rows(("A", "3", {"channel:google": "0"}), ("B", "3", {"channel:google": "0"}))
    adaptive_ = AdaptiveRule()
    specs = [
        ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER, adaptive=adaptive_, unseen_s=60),
        ChannelSpec(GOOGLE, "Google", NO_BUFFER, adaptive=adaptive_, unseen_s=3600),
    ]
    velocity = {(name, Sku(sku)): 30 / 3600 for name in (SHOPIFY, GOOGLE) for sku in "AB"}
    in_flight = {(GOOGLE, Sku("B")): 2}  # a push of 2 to Google may still surface
    result = plan(parsed, counts(parsed), {}, specs, OPEN, velocity, in_flight)
    shown = {(str(r.row.sku), name): d.target for r in result.rows for name, d in r.decisions.items()}
    assert shown[("A", GOOGLE)] == shown[("B", GOOGLE)] == 0  # the slow channel holds all 3
    assert shown[("A", SHOPIFY)] == 3  # Google shows none: nothing can sell behind Shopify's back
    assert shown[("B", SHOPIFY)] == 1  # but Google may still show 2 of B


def test_a_quantity_beyond_what_platforms_take_is_capped() -> None:
    parsed = rows(("A", "1000000000"))
    draft = plan(parsed, {Sku("A"): 1_000_000_500}, {}, [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)], OPEN)
    decision = draft.rows[0].decisions[SHOPIFY]
    assert decision.target == 1_000_000_000
    assert decision.reason == "shows 1000000000: the most a platform takes"


def sale(channel: ChannelName, order: str, sku: str, units: int, line: str = "1") -> LedgerEntry:
    return LedgerEntry(
        f"{channel}/{order}/{line}", Sku(sku), -units, Movement.SALE, NOW, channel, order, line
    )


def count(sku: str, units: int, key: str = "") -> LedgerEntry:
    return LedgerEntry(key or f"count/{sku}/{units}", Sku(sku), units, Movement.COUNT, NOW)


WOO = ChannelName("woo")


class TestOversold:
    """Issue 20: an OVERSOLD row names the units and the orders since the count."""

    def test_the_reason_names_the_units_and_the_orders_since_the_count(self) -> None:
        parsed = rows(("A", "5"), ("B", "5"))
        ledger = [
            count("A", 5),
            sale(SHOPIFY, "1001", "A", 4),
            sale(WOO, "57", "A", 4),
            sale(SHOPIFY, "9", "B", 1),
        ]
        edit = LedgerEntry("woo/57/1/edit", Sku("A"), 0, Movement.EDIT, NOW, WOO, "57", "1")
        specs = [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)]
        result = plan(parsed, {Sku("A"): -3, Sku("B"): 4}, {}, specs, OPEN, entries=[*ledger, edit])
        row_a, row_b = result.rows
        assert row_a.state is RowState.OVERSOLD
        assert row_a.oversold == "OVERSOLD by 3: orders shopify 1001, woo 57 since the count"
        assert row_b.oversold == ""
        reason = {w.column: w.value for w in row_cells(result, {}, TITLES, NOW) if w.row == 2}["reason"]
        assert (
            reason
            == "OVERSOLD by 3: orders shopify 1001, woo 57 since the count · 0 on the shelf; Shopify shows 0"
        )

    def test_a_recount_starts_the_orders_afresh_and_many_are_counted(self) -> None:
        ledger = [count("A", 5, "c1"), sale(SHOPIFY, "1", "A", 1), count("A", 2, "c2")]
        ledger += [sale(SHOPIFY, str(n), "A", 1) for n in range(100, 112)]
        result = plan(rows(("A", "2")), {Sku("A"): -10}, {}, [], OPEN, entries=ledger)
        assert result.rows[0].oversold == (
            "OVERSOLD by 10: orders shopify 100, shopify 101, shopify 102, shopify 103, shopify 104, "
            "shopify 105, shopify 106, shopify 107, shopify 108, shopify 109 and 2 more since the count"
        )

    def test_without_orders_or_without_the_ledger(self) -> None:
        adjust = LedgerEntry("manual/row9", Sku("A"), -7, Movement.ADJUST, NOW)
        result = plan(rows(("A", "5")), {Sku("A"): -2}, {}, [], OPEN, entries=[count("A", 5), adjust])
        assert result.rows[0].oversold == "OVERSOLD by 2: no channel order since the count (see the Ledger)"
        assert plan(rows(("A", "5")), {Sku("A"): -2}, {}, [], OPEN).rows[0].oversold == "OVERSOLD by 2"


class TestUnreadableRows:
    """Issue 20: a row whose Quantity cannot be read never leaves its channels above the ledger's figure."""

    SHOWN: ClassVar[dict[str, str]] = {"channel:shopify": "9", "channel:facebook": "5"}  # Google: unknown

    def test_channels_above_the_last_good_count_less_sales_are_lowered_never_raised(self) -> None:
        parsed = rows(("A", "sold out", self.SHOWN), ("B", "4"))
        ledger = [count("A", 10), sale(SHOPIFY, "1", "A", 3)]
        result = plan(parsed, {Sku("B"): 4}, {}, SPECS, OPEN, entries=ledger)
        (held,) = result.flagged
        assert (held.sku, held.cap, held.text) == ("A", 7, "channels held at ≤ 7")
        assert [(lv.sku, lv.quantity, lv.expected) for lv in result.pushes(SHOPIFY)] == [
            ("B", 2, None),
            ("A", 7, 9),
        ]
        assert [lv.sku for lv in result.pushes(FACEBOOK)] == ["B"]  # shows 5 < 7: never raised
        assert [lv.sku for lv in result.pushes(GOOGLE)] == ["B"]  # unknown: nothing to lower
        assert result.believed(SHOPIFY, [Sku("A"), Sku("B"), Sku("C")]) == {Sku("A"): 9, Sku("B"): None}
        assert result.believed(SHOPIFY, [Sku("B")]) == {Sku("B"): None}  # only the SKUs asked
        assert held.decisions[SHOPIFY].reason == (
            "is held at ≤ 7: the row is unreadable (its last figure less the sales since)"
        )
        ok = {SHOPIFY: ChannelResult({Sku("A"): PushOutcome(Sku("A"), True)})}
        cells = {w.column: w.value for w in row_cells(result, ok, TITLES, NOW) if w.row == 2}
        assert cells["channel:shopify"] == "7"
        assert cells["reason"].endswith(" · channels held at ≤ 7")
        assert cells["status"] == "ERROR"
        (found,) = [d for d in discrepancies(result, ok, TITLES) if d.sku == "A"]
        assert found.reason.endswith(" · channels held at ≤ 7")

    def test_a_sku_never_counted_is_held_at_its_last_available_less_the_sales_since(self) -> None:
        """No COUNT names it (its count never changed since the install): the Available the worker
        last wrote, less what every channel sold since, still reaches the other channels."""
        parsed = rows(("A", "ten", {**self.SHOWN, "available": "9"}))
        moves = {(FACEBOOK, Sku("A")): -2}  # Facebook sold 2 since the last write
        result = plan(parsed, {}, moves, SPECS, OPEN, entries=[count("B", 1)])
        (held,) = result.flagged
        assert (held.cap, held.text) == (7, "channels held at ≤ 7")
        assert [(lv.sku, lv.quantity, lv.expected) for lv in result.pushes(SHOPIFY)] == [("A", 7, 9)]
        assert result.pushes(FACEBOOK) == []  # shows 5 - 2 = 3: never raised
        ok = {SHOPIFY: ChannelResult({Sku("A"): PushOutcome(Sku("A"), True)})}
        cells = {w.column: w.value for w in row_cells(result, ok, TITLES, NOW)}
        assert (cells["available"], cells["channel:shopify"]) == ("7", "7")  # the next cycle's figure

    def test_a_recount_the_ledger_never_recorded_holds_the_row_at_its_available(self) -> None:
        """Counted 28 (a COUNT), recounted 18 with nothing sold since (no COUNT needed, so none
        recorded; the worker wrote Available 18), then typed over with a word: held at 18, not at
        the ledger's 28 (adversary seed 46)."""
        shown = {"channel:shopify": "28", "channel:facebook": "5"}
        parsed = rows(("A", "12 pcs", {**shown, "available": "18"}))
        result = plan(parsed, {}, {}, SPECS, OPEN, entries=[count("A", 28)])
        (held,) = result.flagged
        assert held.cap == 18
        assert [(lv.sku, lv.quantity) for lv in result.pushes(SHOPIFY)] == [("A", 18)]
        above = rows(("A", "12 pcs", {**shown, "available": "30"}))  # the ledger's is lower: it
        assert plan(above, {}, {}, SPECS, OPEN, entries=[count("A", 28)]).flagged[0].cap == 28

    def test_a_channel_refusing_to_be_lowered_is_named_in_the_reason(self) -> None:
        parsed = rows(("A", "sold out", self.SHOWN))
        result = plan(parsed, {}, {}, SPECS, OPEN, entries=[count("A", 10), sale(SHOPIFY, "1", "A", 3)])
        refused = {SHOPIFY: ChannelResult({Sku("A"): PushOutcome(Sku("A"), False, "busy, try later")})}
        cells = {w.column: w.value for w in row_cells(result, refused, TITLES, NOW)}
        assert cells["reason"].startswith("Shopify refused: busy, try later · Quantity")
        assert "channel:shopify" not in cells  # still what it showed: nothing to write
        (found,) = discrepancies(result, refused, TITLES)
        assert found.reason == cells["reason"]

    def test_a_duplicated_sku_pushes_once_and_a_closed_channel_not_at_all(self) -> None:
        parsed = rows(("A", "3", self.SHOWN), ("A", "3", self.SHOWN))
        ledger = [count("A", 3), sale(SHOPIFY, "1", "A", 5)]  # oversold by the ledger: held at 0
        specs = [
            ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER),
            ChannelSpec(FACEBOOK, "Facebook", NO_BUFFER, paused=True),
        ]
        result = plan(parsed, {}, {}, specs, OPEN, entries=ledger)
        assert [f.cap for f in result.flagged] == [0, 0]
        assert [(lv.sku, lv.quantity) for lv in result.pushes(SHOPIFY)] == [("A", 0)]
        assert result.pushes(FACEBOOK) == []
        held = plan(parsed, {}, {}, specs, replace(OPEN, held=True), entries=ledger)
        assert held.pushes(SHOPIFY) == []

    def test_a_sku_the_ledger_never_counted_pushes_nothing(self) -> None:
        parsed = rows(("A", "ten", self.SHOWN))
        result = plan(parsed, {}, {}, SPECS, OPEN, entries=[count("B", 1)])
        (held,) = result.flagged
        assert (held.cap, held.decisions) == (None, {})
        assert (
            held.text
            == "no count in the Ledger nor Available on the row to go by, so nothing is pushed until it "
            "is fixed"
        )
        assert all(result.pushes(name) == [] for name in TITLES)
        cells = {w.column: w.value for w in row_cells(result, {}, TITLES, NOW)}
        assert "channel:shopify" not in cells  # still what it showed: nothing to write
        assert cells["reason"].endswith(
            " · no count in the Ledger nor Available on the row to go by, so nothing is pushed until it "
            "is fixed"
        )
        assert plan(parsed, {}, {}, SPECS, OPEN).flagged == ()  # no ledger given: as before


def test_a_held_row_drifted_above_its_cap_is_lowered_again() -> None:
    shown = {"channel:shopify": "4", "channel:facebook": "4"}
    parsed = rows(("A", "sold out", shown), ("A", "x", shown))
    specs = [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER), ChannelSpec(FACEBOOK, "Facebook", NO_BUFFER)]
    draft = plan(parsed, {}, {}, specs, OPEN, entries=[count("A", 4)])
    assert draft.pushes(SHOPIFY) == []
    raised = Finding(FindingKind.DRIFT, 12, "shows 12, we set 4")
    lower = Finding(FindingKind.DRIFT, 2, "shows 2, we set 4")
    final = apply_findings(draft, {SHOPIFY: {Sku("A"): raised}, FACEBOOK: {Sku("A"): lower}, GOOGLE: {}})
    assert [(lv.sku, lv.quantity, lv.expected) for lv in final.pushes(SHOPIFY)] == [("A", 4, 12)]
    assert final.pushes(FACEBOOK) == []  # below the cap: never raised
    assert final.flagged[0].decisions[FACEBOOK].believed == 2
    lagging = apply_findings(draft, {SHOPIFY: {Sku("A"): LAGGING}})
    assert lagging.flagged == draft.flagged


def test_findings_on_one_channel_leave_the_others_and_a_first_sync_takes_what_was_read() -> None:
    parsed = rows(("A", "10", {"channel:shopify": "10"}))
    draft = plan(parsed, counts(parsed), {}, [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER), *SPECS[1:]], OPEN)
    final = apply_findings(draft, {SHOPIFY: {Sku("A"): LAGGING}})
    assert [d.finding for d in final.rows[0].decisions.values()] == [LAGGING, None, None]
    confirmed = hold_unconfirmed(draft, {FACEBOOK: {Sku("A"): 4}})
    assert [lv.expected for lv in confirmed.pushes(FACEBOOK)] == [4]  # no belief yet: what was read


def test_equal_decisions_are_one_object_and_a_first_syncs_beliefs_too() -> None:
    parsed = rows(("A", "10"), ("B", "10"), ("C", "9"))
    draft = plan(parsed, counts(parsed), {}, SPECS, OPEN)
    a, b, c = (row.decisions[SHOPIFY] for row in draft.rows)
    assert a is b  # the same quantity, belief and Reason: shared
    assert (c.target, c.reason) == (7, "shows 7: tier 3-10 holds 2")
    final = hold_unconfirmed(draft, {SHOPIFY: {Sku("A"): 3, Sku("B"): 3, Sku("C"): 4}})
    a, b, c = (row.decisions[SHOPIFY] for row in final.rows)
    assert a is b
    assert (a.believed, c.believed) == (3, 4)
    assert draft.rows[0].decisions[SHOPIFY].believed is None  # the draft's decision is left as it was


def test_a_row_at_its_reorder_point_says_so_and_what_to_buy() -> None:
    parsed = rows(("A", "2", {"reorder_point": "3", "reorder_qty": "12"}), ("B", "2", {"reorder_point": "3"}))
    result = plan(parsed, counts(parsed), {}, [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)], OPEN)
    cells = {(w.row, w.column): w.value for w in row_cells(result, {}, TITLES, NOW)}
    assert cells[(2, "status")] == "REORDER"
    assert cells[(2, "reason")].startswith("REORDER: 2 left, reorder point 3; buy 12 · ")
    assert cells[(3, "reason")].startswith("REORDER: 2 left, reorder point 3 · ")


def test_the_audit_sweeps_every_rows_sku_and_the_flagged_ones_held_at_a_cap_sorted() -> None:
    parsed = rows(("C", "5"), ("A", "5"), ("B", "oops"), ("D", "ten"))
    result = plan(parsed, counts(parsed), {}, SPECS, OPEN, entries=[count("B", 4)])
    assert [(f.sku, f.cap) for f in result.flagged] == [("B", 4), ("D", None)]  # D: never counted
    assert result.swept() == ("A", "B", "C")
    assert result.swept() is result.swept()  # sorted once


def test_findings_that_name_no_row_leave_the_plan_as_it_is() -> None:
    parsed = rows(("A", "10", {"channel:shopify": "8"}))
    draft = plan(parsed, counts(parsed), {}, SPECS, OPEN)
    assert apply_findings(draft, {}) is draft
    assert apply_findings(draft, {SHOPIFY: {}, GOOGLE: {}}) is draft
    assert draft.rows[0].state is RowState.OK


def test_a_channel_showing_less_holds_nothing_when_no_row_pushes() -> None:
    parsed = rows(("A", "10", {"channel:shopify": "10"}))
    draft = plan(parsed, counts(parsed), {}, [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)], OPEN)
    assert draft.pushing() == ()
    final = hold_unconfirmed(draft, {SHOPIFY: {Sku("A"): 7}}, TITLES)
    assert final is draft
    assert final.rows[0].state is RowState.OK  # no raise to hold back: not LAG
    assert final.pushes(SHOPIFY) == []


def test_a_channel_status_ends_with_where_its_quota_is_heading() -> None:
    parsed = rows(("A", "10"))
    specs = [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)]
    pacing = "on pace for 12% of a month's 259,200,000 cost points (100 a second)"
    health = {SHOPIFY: ChannelHealth(quota=pacing)}
    refused = {SHOPIFY: ChannelResult({Sku("A"): PushOutcome(Sku("A"), False, "archived")})}
    (status,) = channel_statuses(plan(parsed, counts(parsed), {}, specs, OPEN), refused, specs, NOW, health)
    assert status.message == f"pushed 0; 1 refused (see the rows marked ERROR); {pacing}"
    (status,) = channel_statuses(plan(parsed, counts(parsed), {}, specs, OPEN), {}, specs, NOW)
    assert status.message == "pushed 0"  # no quota known: no clause
