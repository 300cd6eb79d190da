"""Issue 23: every held-back unit has a Reason in plain words, and a row that sells nothing says so."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sheetsync.core.buffers import (
    NO_BUFFER,
    PRESETS,
    AdaptiveRule,
    BufferPolicy,
    Hold,
    HoldKind,
    Tier,
    published,
)
from sheetsync.core.bundles import parse_bundles
from sheetsync.core.cells import ParsedRows, parse_rows
from sheetsync.core.monitor import Finding, FindingKind
from sheetsync.core.plan import (
    ChannelSpec,
    GuardVerdict,
    Plan,
    RowState,
    apply_findings,
    discrepancies,
    hold_unconfirmed,
    plan,
    row_cells,
)
from sheetsync.core.reasons import grouped
from sheetsync.core.stock import stock_levels
from sheetsync.model import (
    REASON,
    ROW_STATUS,
    ChannelName,
    Layout,
    RawRow,
    Sku,
    buffer_column,
    channel_column,
    stock_column,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SHOPIFY, FACEBOOK, GOOGLE = ChannelName("shopify"), ChannelName("facebook"), ChannelName("google")
LAYOUT = Layout(((SHOPIFY, "Shopify"), (FACEBOOK, "Facebook"), (GOOGLE, "Google")))
TITLES = dict(LAYOUT.channels)
OPEN = GuardVerdict(held=False, message="", accepted=False, rows=0, total=0)
#: A Reason should fit a cell a merchant reads without widening the column much: about 120.
CELL = 125


def hold(text: str) -> Hold:
    if text == "all":
        return Hold(HoldKind.ALL)
    if text.endswith("%"):
        return Hold(HoldKind.PERCENT, Fraction(text[:-1]))
    return Hold(HoldKind.UNITS, Fraction(text))


def template(units: str, middle: str, top: str, cap: int | None = None) -> BufferPolicy:
    """A channel's tiers as sheetsync.toml (what `init` writes) sets them."""
    levels = ((51, top), (11, middle), (3, units), (0, "all"))
    return BufferPolicy(tuple(Tier(low, hold(text)) for low, text in levels), cap)


#: The three channels of the config template `sheetsync init` writes.
DEFAULT = [
    ChannelSpec(SHOPIFY, "Shopify", template("2", "5%", "0")),
    ChannelSpec(FACEBOOK, "Facebook", template("3", "15%", "5%")),
    ChannelSpec(GOOGLE, "Google", template("4", "20%", "10%")),
]
ONE_OFF = [ChannelSpec(spec.name, spec.title, PRESETS["one-off"]) for spec in DEFAULT]


def rows(*specs: tuple[str, str] | tuple[str, str, Mapping[str, str]], layout: Layout = LAYOUT) -> ParsedRows:
    raw = []
    for number, spec in enumerate(specs, start=2):
        extra = spec[2] if len(spec) == 3 else {}
        cells = {"sku": spec[0], **({"quantity": spec[1]} if spec[1] else {}), **extra}
        raw.append(RawRow(number, cells))
    return parse_rows(raw, layout)


def planned(parsed: ParsedRows, specs: Sequence[ChannelSpec], **kwargs: object) -> Plan:
    return plan(parsed, {r.sku: r.count for r in parsed.rows}, {}, specs, OPEN, **kwargs)  # type: ignore[arg-type]  # the test's overrides, checked by the call


def cells(result: Plan, row: int = 2) -> dict[str, str]:
    return {w.column: w.value for w in row_cells(result, {}, TITLES, NOW) if w.row == row}


class TestOneUnitWithTheDefaultTiers:
    """The default tiers hold 0-2 units back everywhere: the row says HELD, why, and what to change."""

    def test_the_row_is_held_and_says_why_and_how_to_sell_it(self) -> None:
        result = planned(rows(("VASE-1", "1")), DEFAULT)
        assert result.rows[0].state is RowState.HELD
        written = cells(result)
        assert written[ROW_STATUS] == "HELD"
        assert written[REASON] == (
            "1 on the shelf; Shopify, Facebook, Google show 0: tier 0-2 holds all; "
            'to sell it, lower that tier or use preset "one-off"'
        )
        assert len(written[REASON]) <= CELL

    def test_a_held_row_is_not_a_discrepancy_nor_pushed_above_zero(self) -> None:
        result = planned(rows(("VASE-1", "2")), DEFAULT)
        assert discrepancies(result, {}, TITLES) == []  # the dashboard lists what needs a look, not this
        assert all(level.quantity == 0 for spec in DEFAULT for level in result.pushes(spec.name))

    def test_one_channel_selling_a_unit_is_not_held(self) -> None:
        written = cells(planned(rows(("MUG", "3")), DEFAULT))
        assert written[ROW_STATUS] == "OK"
        assert written[REASON] == (
            "3 on the shelf; Shopify shows 1: tier 3-10 holds 2; Facebook shows 0: tier 3-10 holds 3; "
            "Google shows 0: tier 3-10 holds 4"
        )

    def test_the_seed_example_stays_short_enough_for_a_cell(self) -> None:
        written = cells(planned(rows(("MUG", "10")), DEFAULT))
        assert written[REASON] == (
            "10 on the shelf; Shopify shows 8: tier 3-10 holds 2; Facebook shows 7: tier 3-10 holds 3; "
            "Google shows 6: tier 3-10 holds 4"
        )
        assert len(written[REASON]) <= CELL

    def test_percent_holds_and_nothing_held(self) -> None:
        written = cells(planned(rows(("MUG", "60")), DEFAULT))
        assert written[REASON] == (
            "60 on the shelf; Shopify shows all 60; Facebook shows 57: tier 51+ holds 5%; "
            "Google shows 54: tier 51+ holds 10%"
        )

    def test_no_stock_is_not_held(self) -> None:
        written = cells(planned(rows(("MUG", "0")), DEFAULT))
        assert (written[ROW_STATUS], written[REASON]) == (
            "OK",
            "0 on the shelf; Shopify, Facebook, Google show 0",
        )

    def test_an_override_of_0_is_the_merchants_choice_not_held(self) -> None:
        written = cells(planned(rows(("MUG", "5", {"override": "0"})), DEFAULT))
        assert (written[ROW_STATUS], written[REASON]) == (
            "OK",
            "5 on the shelf; Shopify, Facebook, Google show 0: Override 0",
        )

    def test_held_outranks_reorder_whose_flag_still_leads_the_reason(self) -> None:
        written = cells(planned(rows(("VASE-1", "1", {"reorder_point": "1"})), DEFAULT))
        assert written[ROW_STATUS] == "HELD"
        assert written[REASON].startswith("REORDER: 1 left, reorder point 1 · 1 on the shelf; ")

    def test_a_lag_or_drift_outranks_held(self) -> None:
        lag = Finding(FindingKind.LAG, 0, "pushed 0 21m 0s ago, still shows 1 (limit 20m 0s)")
        final = apply_findings(planned(rows(("VASE-1", "1")), DEFAULT), {SHOPIFY: {Sku("VASE-1"): lag}})
        assert final.rows[0].state is RowState.LAG
        assert cells(final)[REASON].startswith("Shopify LAG: pushed 0 21m 0s ago")


class TestTheOneOffPreset:
    def test_one_unit_shows_on_every_channel(self) -> None:
        written = cells(planned(rows(("VASE-1", "1")), ONE_OFF))
        assert (written[ROW_STATUS], written[REASON]) == (
            "OK",
            "1 on the shelf; Shopify, Facebook, Google show all 1",
        )

    def test_small_holds_above(self) -> None:
        written = cells(planned(rows(("MUG", "3"), ("BOWL", "20")), ONE_OFF))
        assert written[REASON] == "3 on the shelf; Shopify, Facebook, Google show 2: tier 3-9 holds 1"
        assert cells(planned(rows(("MUG", "3"), ("BOWL", "20")), ONE_OFF), row=3)[REASON] == (
            "20 on the shelf; Shopify, Facebook, Google show 18: tier 10+ holds 10%"
        )

    @given(st.integers(1, 100_000))
    def test_never_holds_the_last_unit_and_never_shows_less_for_more(self, level: int) -> None:
        preset = PRESETS["one-off"]
        assert published(level, preset).quantity >= 1
        assert published(level + 1, preset).quantity >= published(level, preset).quantity


class TestEachRule:
    def test_a_buffer_cell_names_its_column_and_the_fix(self) -> None:
        parsed = rows(("A", "4", {"buffer": "all"}), ("B", "4", {buffer_column(GOOGLE): "4"}))
        result = planned(parsed, ONE_OFF)
        assert cells(result)[ROW_STATUS] == "HELD"
        assert cells(result)[REASON] == (
            "4 on the shelf; Shopify, Facebook, Google show 0: Buffer holds all; "
            "to sell it, lower the Buffer cell"
        )
        assert cells(result, row=3)[REASON] == (
            "4 on the shelf; Shopify, Facebook show 3: tier 3-9 holds 1; "
            "Google shows 0: Buffer Google holds 4"
        )

    def test_a_cap(self) -> None:
        specs = [ChannelSpec(SHOPIFY, "Shopify", template("2", "5%", "0", cap=20))]
        assert (
            cells(planned(rows(("A", "60")), specs))[REASON]
            == "60 on the shelf; Shopify shows 20: capped at 20"
        )
        closed = [ChannelSpec(SHOPIFY, "Shopify", BufferPolicy(NO_BUFFER.tiers, cap=0))]
        assert cells(planned(rows(("A", "5")), closed))[REASON] == (
            "5 on the shelf; Shopify shows 0: capped at 0; to sell it, raise the channel's cap"
        )

    def test_the_adaptive_buffer_names_the_lag_and_the_rate(self) -> None:
        specs = [
            ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER),
            ChannelSpec(FACEBOOK, "Facebook", NO_BUFFER, adaptive=AdaptiveRule(safety=1.0), unseen_s=720),
        ]
        velocity = {(SHOPIFY, Sku("A")): 3 / 3600}
        written = cells(planned(rows(("A", "5")), specs, velocity=velocity))
        assert written[REASON] == (
            "5 on the shelf; Shopify shows all 5; "
            "Facebook shows 3: adaptive holds 2, sales reach it ~10 min late (~3/h)"
        )
        quiet = cells(planned(rows(("A", "5")), specs))
        assert quiet[REASON] == "5 on the shelf; Shopify, Facebook show all 5"  # nothing sold lately

    def test_an_adaptive_buffer_holding_everything_names_max_hold(self) -> None:
        specs = [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER, adaptive=AdaptiveRule(min_hold=5))]
        written = cells(planned(rows(("A", "2")), specs))
        assert written[ROW_STATUS] == "HELD"
        assert written[REASON] == (
            "2 on the shelf; Shopify shows 0: adaptive holds 2, sales reach it ~0 min late (<1/h); "
            "to sell it, set a lower adaptive max_hold"
        )

    def test_a_lagging_channel_held_to_the_auto_pause_tiers(self) -> None:
        careful = BufferPolicy((Tier(10, Hold(HoldKind.UNITS)), Tier(0, Hold(HoldKind.ALL))))
        specs = [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER, fallback=careful)]
        written = cells(planned(rows(("A", "6")), specs))
        assert written[REASON] == (
            "6 on the shelf; Shopify shows 0: lagging, so auto_pause tier 0-9 holds all; "
            "to sell it, wait: it shows again once the lag recovers"
        )

    def test_overrides(self) -> None:
        parsed = rows(("A", "10", {"override": "4"}), ("B", "3", {"override": "5"}))
        result = planned(parsed, DEFAULT[:2])
        assert cells(result)[REASON] == "10 on the shelf; Shopify, Facebook show 4: Override 4"
        assert (
            cells(result, row=3)[REASON]
            == "3 on the shelf; Shopify, Facebook show 3: Override 5, only 3 on the shelf"
        )

    def test_a_channel_selling_from_some_locations(self) -> None:
        layout = Layout(((SHOPIFY, "Shopify"), (FACEBOOK, "Facebook")), ("Shop", "Warehouse"))
        parsed = rows(
            ("A", "", {stock_column("Shop"): "3", stock_column("Warehouse"): "7"}),
            ("B", "", {stock_column("Shop"): "1", stock_column("Warehouse"): "7", "override": "5"}),
            layout=layout,
        )
        available = {(row.sku, place): units for row in parsed.rows for place, units in row.counts.items()}
        levels = stock_levels(parsed.rows, available, {SHOPIFY: ("Shop",), FACEBOOK: ()})
        specs = [
            ChannelSpec(SHOPIFY, "Shopify", ONE_OFF[0].policy),
            ChannelSpec(FACEBOOK, "Facebook", NO_BUFFER),
        ]
        result = plan(parsed, levels.total, {}, specs, OPEN, reach=levels.reach)
        assert cells(result)[REASON] == (
            "10 on the shelf; Shopify shows 2: 3 where it sells, tier 3-9 holds 1; Facebook shows all 10"
        )
        assert cells(result, row=3)[REASON] == (
            "8 on the shelf; Shopify shows 1: Override 5, only 1 where it sells; Facebook shows 5: Override 5"
        )

    def test_a_bundle_names_the_component_that_limits_it(self) -> None:
        bundles = parse_bundles(
            [
                RawRow(2, {"bundle": "SET", "component": "CUP", "quantity": "2"}),
                RawRow(3, {"bundle": "SET", "component": "SAUCER", "quantity": "1"}),
            ]
        )
        raw = [RawRow(2, {"sku": "SET"}), RawRow(3, {"sku": "CUP", "quantity": "7"})]
        raw.append(RawRow(4, {"sku": "SAUCER", "quantity": "9"}))
        parsed = parse_rows(raw, LAYOUT, bundles)
        available = {(row.sku, place): units for row in parsed.rows for place, units in row.counts.items()}
        levels = stock_levels(parsed.rows, available, {spec.name: () for spec in ONE_OFF})
        result = plan(parsed, levels.total, {}, ONE_OFF[:1], OPEN, reach=levels.reach)
        assert (
            cells(result)[REASON]
            == "3 can be made: CUP has 7, 2 per bundle; Shopify shows 2: tier 3-9 holds 1"
        )

    def test_the_last_unit_may_be_held_by_a_quantity_beyond_any_platform(self) -> None:
        result = plan(
            rows(("A", "1")),
            {Sku("A"): 2_000_000_000},
            {},
            [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)],
            OPEN,
        )
        assert (
            cells(result)[REASON]
            == "2000000000 on the shelf; Shopify shows 1000000000: the most a platform takes"
        )


class TestPaused:
    def test_a_paused_row_says_its_channels_keep_their_last_figure(self) -> None:
        parsed = rows(
            ("A", "10", {"override": "PAUSE", channel_column(SHOPIFY): "4", channel_column(FACEBOOK): "4"})
        )
        result = planned(parsed, DEFAULT)
        written = cells(result)
        assert written[ROW_STATUS] == "PAUSED"
        assert written[REASON] == (
            "paused: Shopify, Facebook keep showing 4; Google keeps its own figure (never pushed); "
            "type a number in Override to set it, or clear PAUSE"
        )
        assert all(not result.pushes(spec.name) for spec in DEFAULT)

    def test_the_spec_example_fits_a_cell(self) -> None:
        shown = {channel_column(spec.name): "4" for spec in DEFAULT}
        written = cells(planned(rows(("A", "10", {"override": "PAUSE", **shown})), DEFAULT))
        assert written[REASON] == (
            "paused: Shopify, Facebook, Google keep showing 4; "
            "type a number in Override to set it, or clear PAUSE"
        )
        assert len(written[REASON]) <= CELL

    def test_paused_channels_say_what_they_keep_and_what_they_would_show(self) -> None:
        specs = [
            ChannelSpec(SHOPIFY, "Shopify", DEFAULT[0].policy, paused=True),
            ChannelSpec(FACEBOOK, "Facebook", DEFAULT[1].policy, paused=True),
        ]
        parsed = rows(("A", "10", {channel_column(SHOPIFY): "5"}))
        written = cells(planned(parsed, specs))
        assert written[REASON] == (
            "10 on the shelf; Shopify is paused at 5, would show 8: tier 3-10 holds 2; "
            "Facebook is paused, would show 7: tier 3-10 holds 3"
        )
        both = cells(
            planned(rows(("A", "60")), [*specs, ChannelSpec(GOOGLE, "Google", NO_BUFFER, paused=True)])
        )
        assert both[REASON] == (
            "60 on the shelf; Shopify, Google are paused, would show all 60; "
            "Facebook is paused, would show 57: tier 51+ holds 5%"
        )


def test_a_raise_waiting_for_unseen_sales_says_so() -> None:
    parsed = rows(("A", "20", {channel_column(SHOPIFY): "8"}))
    draft = planned(parsed, [ChannelSpec(SHOPIFY, "Shopify", NO_BUFFER)])
    final = hold_unconfirmed(draft, {SHOPIFY: {Sku("A"): 7}})
    assert cells(final)[REASON] == (
        "20 on the shelf; Shopify shows 7, we set 8: not raised to 20 until 1 unseen sale is read"
    )
    final = hold_unconfirmed(draft, {SHOPIFY: {Sku("A"): 5}})
    assert cells(final)[REASON].endswith("not raised to 20 until 3 unseen sales are read")


@pytest.mark.parametrize(
    ("clauses", "text"),
    [
        ([("Shopify", "shows 1"), ("Meta", "shows 1")], "Shopify, Meta show 1"),
        (
            [("Shopify", "keeps showing 4"), ("Meta", "shows 1")],
            "Shopify keeps showing 4; Meta shows 1",
        ),
        ([("A", "is held at ≤ 3: x"), ("B", "is held at ≤ 3: x")], "A, B are held at ≤ 3: x"),
    ],
)
def test_channels_that_agree_share_one_clause(clauses: list[tuple[str, str]], text: str) -> None:
    assert grouped(clauses) == text
