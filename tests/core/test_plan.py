"""The planner: what each channel should show, what to push now, and the two guards."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sheetsync.core.buffers import NO_BUFFER, AdaptiveRule, BufferPolicy, Hold, HoldKind, Tier
from sheetsync.core.cells import ParsedRows, parse_rows
from sheetsync.core.monitor import Finding, FindingKind
from sheetsync.core.plan import (
    ChannelHealth,
    ChannelResult,
    ChannelSpec,
    GuardVerdict,
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
from sheetsync.model import ChannelName, Layout, PushOutcome, RawRow, Sku

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
        extra = spec[2] if len(spec) == 3 else {}  # type: ignore[misc]
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
    assert decision.reason == "Facebook: 10 - 3 (tier 3-10) = 7"


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
    assert result.rows[1].decisions[GOOGLE].reason == "Google: override 9, capped at 3 available"


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
    assert result.rows[0].decisions[SHOPIFY].reason == "Shopify: paused, would be 10 - 0 (tier 0+) = 10"


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
        assert verdict.message.startswith(
            "Inventory has 1 usable rows (was 10) and 10 units counted (was 100)"
        )
        result = plan(rows(("A", "10")), {Sku("A"): 10}, {}, SPECS, verdict)
        assert all(result.pushes(name) == [] for name in TITLES)
        assert row_cells(result, {}, TITLES, NOW) == []

    def test_holds_when_the_total_collapses(self) -> None:
        parsed = rows(*[(f"S{i}", "0") for i in range(10)])
        assert volume_guard(parsed, WorkerState(guard_rows=10, guard_total=100), 0.5, accept=False).held

    def test_accept_lets_the_shrink_through(self) -> None:
        verdict = volume_guard(
            rows(("A", "10")),
            WorkerState(guard_rows=10, guard_total=100),
            0.5,
            accept=True,
        )
        assert not verdict.held
        assert verdict.accepted

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
                "reason": "Shopify: 10 - 2 (tier 3-10) = 8",
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
    assert written[(2, "reason")].startswith("Facebook refused: bundle parent · Shopify: 10 - 2")
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
        "Shopify LAG: pushed 8 21m 0s ago, still shows 10 (limit 20m 0s) · Shopify: 10 - 2 (tier 3-10) = 8"
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
    assert (
        result.rows[1].decisions[GOOGLE].reason
        == "Google: lagging, conservative buffer 6 held (tier 0-9) = 0"
    )


def test_discrepancies_list_flagged_refused_and_unreadable_rows_in_sheet_order() -> None:
    parsed = rows(("A", "10"), ("B", "oops"), ("C", "10"), ("D", "10", {"override": "PAUSE"}))
    specs = [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)]
    final = apply_findings(plan(parsed, counts(parsed), {}, specs, OPEN), {SHOPIFY: {Sku("C"): LAGGING}})
    refused = {SHOPIFY: ChannelResult({Sku("A"): PushOutcome(Sku("A"), False, "archived")})}
    found = discrepancies(final, refused, TITLES)
    assert [(d.row, d.sku, d.state) for d in found] == [(2, "A", "ERROR"), (3, "B", "ERROR"), (4, "C", "LAG")]
    assert found[0].reason.startswith("Shopify refused: archived · ")
    assert found[1].reason.startswith('Quantity "oops" is not a whole number')


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
    assert result.rows[0].decisions[GOOGLE].reason == "Google: 20 - 5 (adaptive: 6.0/h, 20 min unseen) = 15"


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
    shown = {(r.row.sku, name): d.target for r in result.rows for name, d in r.decisions.items()}
    assert shown[("A", GOOGLE)] == shown[("B", GOOGLE)] == 0  # the slow channel holds all 3
    assert shown[("A", SHOPIFY)] == 3  # Google shows none: nothing can sell behind Shopify's back
    assert shown[("B", SHOPIFY)] == 1  # but Google may still show 2 of B


def test_a_quantity_beyond_what_platforms_take_is_capped() -> None:
    parsed = rows(("A", "1000000000"))
    draft = plan(parsed, {Sku("A"): 1_000_000_500}, {}, [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)], OPEN)
    decision = draft.rows[0].decisions[SHOPIFY]
    assert decision.target == 1_000_000_000
    assert decision.reason.endswith("capped at 1000000000")
