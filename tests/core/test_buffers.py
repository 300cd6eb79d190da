"""Buffer policies, checked against the worked examples of the market's tools (shared/conventions.md)."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sheetsync.core.buffers import (
    NO_BUFFER,
    AdaptiveRule,
    BufferPolicy,
    Exposure,
    Hold,
    HoldKind,
    Tier,
    adaptive,
    least_hold,
    oversell_risk,
    parse_hold,
    published,
    step_up,
)


def flat(hold: str, cap: int | None = None) -> BufferPolicy:
    return BufferPolicy((Tier(0, parse_hold(hold)),), cap)


def publish_percent(percent: int) -> BufferPolicy:
    """The market's 'publish P% of available' rule is our 'hold back 100 - P%'."""
    return flat(f"{100 - percent}%")


@pytest.mark.parametrize(
    ("policy", "available", "expected"),
    [
        (publish_percent(90), 1, 0),
        (publish_percent(40), 2, 0),
        (publish_percent(90), 10, 9),
        (publish_percent(70), 100, 70),
        (publish_percent(70), 10, 7),
        (publish_percent(50), 3, 1),
        (flat("2"), 5, 3),
        (flat("2"), 1, 0),
        (flat("0", cap=5), 3, 3),
        (flat("0", cap=2), 10, 2),
        (
            BufferPolicy((Tier(2, Hold(HoldKind.UNITS)), Tier(0, Hold(HoldKind.ALL)))),
            1,
            0,
        ),
        (
            BufferPolicy((Tier(2, Hold(HoldKind.UNITS)), Tier(0, Hold(HoldKind.ALL)))),
            2,
            2,
        ),
    ],
)
def test_conventions_of_established_tools(policy: BufferPolicy, available: int, expected: int) -> None:
    assert published(available, policy).quantity == expected


def seed_tiers(hold_3_to_10: int, low_pct: str, high_pct: str) -> BufferPolicy:
    return BufferPolicy(
        (
            Tier(51, parse_hold(high_pct)),
            Tier(11, parse_hold(low_pct)),
            Tier(3, Hold(HoldKind.UNITS, Fraction(hold_3_to_10))),
            Tier(0, Hold(HoldKind.ALL)),
        )
    )


def test_seed_tiers_master_10_gives_8_7_6() -> None:
    shopify, facebook, google = (
        seed_tiers(2, "5%", "0"),
        seed_tiers(3, "15%", "5%"),
        seed_tiers(4, "20%", "10%"),
    )
    assert [published(10, p).quantity for p in (shopify, facebook, google)] == [8, 7, 6]


def test_reason_names_the_tier_and_what_it_holds() -> None:
    facebook = seed_tiers(3, "15%", "5%")
    assert published(10, facebook).reason == "tier 3-10 holds 3"
    assert published(60, facebook).reason == "tier 51+ holds 5%"
    assert published(2, facebook).reason == "tier 0-2 holds all"
    assert published(0, facebook).reason == ""  # nothing there, nothing held


def test_cap_is_named_in_the_reason() -> None:
    assert published(10, flat("0", cap=4)).reason == "capped at 4"


def test_row_hold_replaces_the_tier_but_keeps_the_cap() -> None:
    result = published(10, flat("1", cap=6), hold=parse_hold("50%"))
    assert (result.quantity, result.reason) == (5, "Buffer holds 50%")
    assert published(20, flat("1", cap=6), hold=parse_hold("50%")).quantity == 6


@pytest.mark.parametrize("text", ["", "ten", "-1", "101%", "2.5", "3 units", "%"])
def test_parse_hold_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match=r"hold|whole number|100%"):
        parse_hold(text)


@pytest.mark.parametrize(
    ("text", "label"),
    [("3", "3"), (" 10 % ", "10%"), ("ALL", "all"), ("12.5%", "12.5%")],
)
def test_parse_hold_labels(text: str, label: str) -> None:
    assert parse_hold(text).label == label


def test_tiers_must_end_at_zero_and_descend() -> None:
    with pytest.raises(ValueError, match="ending at 0"):
        BufferPolicy((Tier(3, Hold(HoldKind.UNITS)),))
    with pytest.raises(ValueError, match="highest first"):
        BufferPolicy((Tier(0, Hold(HoldKind.UNITS)), Tier(3, Hold(HoldKind.UNITS))))


holds = st.one_of(
    st.integers(0, 50).map(lambda n: Hold(HoldKind.UNITS, Fraction(n))),
    st.fractions(0, 100).map(lambda p: Hold(HoldKind.PERCENT, p)),
    st.just(Hold(HoldKind.ALL)),
)
policies = st.builds(
    lambda mins, hs, cap: BufferPolicy(
        tuple(Tier(m, h) for m, h in zip(sorted({*mins, 0}, reverse=True), hs, strict=False)),
        cap,
    ),
    st.lists(st.integers(0, 200), max_size=4),
    st.lists(holds, min_size=5, max_size=5),
    st.none() | st.integers(0, 100),
)


@given(available=st.integers(-50, 10_000), policy=policies, hold=st.none() | holds)
def test_published_is_never_negative_nor_above_available_nor_cap(
    available: int, policy: BufferPolicy, hold: Hold | None
) -> None:
    quantity = published(available, policy, hold).quantity
    assert 0 <= quantity <= max(available, 0)
    if policy.cap is not None:
        assert quantity <= policy.cap


@given(available=st.integers(-50, 10_000))
def test_no_buffer_publishes_everything_available(available: int) -> None:
    assert published(available, NO_BUFFER).quantity == max(available, 0)


# 6 an hour elsewhere and 3 here, 20 minutes before a change shows, orders of 1 to 3 units.
BUSY = Exposure(6 / 3600, 1200, own=3 / 3600, lag_s=60, lump=7 / 3)


def test_adaptive_holds_nothing_while_the_shelf_outlasts_the_exposure() -> None:
    # Even twice the measured rates cannot empty 60 units within 20 minutes.
    assert adaptive(60, BUSY, AdaptiveRule()).quantity == 60
    assert oversell_risk(60, BUSY, 2.0) == [0.0] * 61


def test_adaptive_holds_back_once_the_shelf_could_run_out_before_the_channel_shows_it() -> None:
    result = adaptive(12, BUSY, AdaptiveRule())
    assert result.quantity < 12
    assert result.reason.startswith(
        f"adaptive holds {12 - result.quantity}, sales reach it ~20 min late (9.0/h)"
    )
    # The hold left leaves at most the rule's risk; one unit less would leave more.
    risk = oversell_risk(12, BUSY, AdaptiveRule().safety)
    held = 12 - result.quantity
    assert risk[held] <= AdaptiveRule().risk < risk[0]


def test_the_risk_of_an_oversell_falls_as_the_hold_grows_and_vanishes_when_nothing_shows() -> None:
    risk = oversell_risk(15, BUSY, 2.0)
    assert all(later <= earlier for earlier, later in itertools.pairwise(risk))
    assert risk[0] > 0.001
    assert risk[-1] == 0.0


def test_lumpier_orders_and_higher_safety_hold_more() -> None:
    single = Exposure(6 / 3600, 1200, own=3 / 3600)
    lumpy = Exposure(6 / 3600, 1200, own=3 / 3600, lump=3.0)
    assert adaptive(15, lumpy, AdaptiveRule()).quantity <= adaptive(15, single, AdaptiveRule()).quantity
    assert oversell_risk(15, lumpy, 2.0)[4] > oversell_risk(15, single, 2.0)[4]
    assert (
        adaptive(15, single, AdaptiveRule(safety=4)).quantity
        < adaptive(15, single, AdaptiveRule(safety=1)).quantity
    )


@pytest.mark.parametrize(("hold", "step"), [(0, 0), (1, 1), (7, 8), (13, 15), (100, 100), (101, 120)])
def test_holds_are_rounded_up_to_a_few_steps_so_a_wobbling_rate_seldom_moves_them(
    hold: int, step: int
) -> None:
    assert step_up(hold) == step


def test_a_channel_that_does_not_sell_the_sku_cannot_oversell_it() -> None:
    assert adaptive(2, Exposure(60 / 3600, 1200), AdaptiveRule()).quantity == 2


def test_adaptive_counts_its_own_sales_over_its_lag_as_sales_it_may_overwrite() -> None:
    alone = Exposure(0.0, 1200, own=18 / 3600)
    overwriting = Exposure(0.0, 1200, own=18 / 3600, lag_s=600)
    assert adaptive(10, alone, AdaptiveRule()).quantity == 10
    assert adaptive(10, overwriting, AdaptiveRule()).quantity < 10
    assert Exposure(0.0, 1200, own=36 / 3600, lag_s=100).expected == pytest.approx(1.0)


def test_adaptive_never_holds_more_than_the_other_channels_can_sell() -> None:
    busy = Exposure(60 / 3600, 1200, own=60 / 3600, selling=3)
    assert adaptive(20, busy, AdaptiveRule()).quantity == 17
    assert adaptive(1, Exposure(60 / 3600, 1200, own=1 / 3600, selling=0), AdaptiveRule()).quantity == 1


def test_adaptive_with_no_sales_holds_only_its_minimum() -> None:
    assert adaptive(20, Exposure(0.0, 1200), AdaptiveRule()).quantity == 20
    assert adaptive(20, Exposure(0.0, 1200), AdaptiveRule(min_hold=2)).quantity == 18


def test_adaptive_is_bounded_by_max_hold() -> None:
    assert adaptive(100, Exposure(1.0, 3600, own=1.0), AdaptiveRule(max_hold=10)).quantity == 90


@given(
    st.integers(-50, 10_000),
    st.floats(0, 10, allow_nan=False),
    st.floats(0, 86_400, allow_nan=False),
    st.floats(0, 5, allow_nan=False),
    st.integers(0, 20),
    st.none() | st.integers(0, 500),
    st.none() | st.integers(0, 500),
)
def test_adaptive_is_never_negative_and_never_above_available(
    available: int,
    velocity: float,
    unseen: float,
    safety: float,
    min_hold: int,
    max_hold: int | None,
    selling: int | None,
) -> None:
    exposure = Exposure(velocity, unseen, velocity, unseen / 10, selling)
    shown = adaptive(available, exposure, AdaptiveRule(safety, min_hold, max_hold)).quantity
    assert 0 <= shown <= max(available, 0)


@given(st.integers(0, 1000), st.floats(0, 1, allow_nan=False), st.floats(0, 7200, allow_nan=False))
def test_adaptive_holds_more_the_faster_it_sells(available: int, velocity: float, unseen: float) -> None:
    rule = AdaptiveRule()
    faster = adaptive(available, Exposure(velocity * 2, unseen, own=velocity), rule).quantity
    assert faster <= adaptive(available, Exposure(velocity, unseen, own=velocity), rule).quantity


@given(st.integers(0, 200), st.floats(0, 0.05, allow_nan=False), st.floats(0, 0.05, allow_nan=False))
def test_the_risk_never_rises_with_the_hold(available: int, elsewhere: float, own: float) -> None:
    risk = oversell_risk(available, Exposure(elsewhere, 1800, own=own, lag_s=60, lump=2.0), 2.0)
    assert len(risk) == available + 1
    assert all(0 <= later <= earlier + 1e-12 for earlier, later in itertools.pairwise(risk))


@given(
    st.integers(0, 120),
    st.floats(0, 0.05, allow_nan=False),
    st.floats(0, 0.05, allow_nan=False),
    st.floats(1, 3, allow_nan=False),
    st.sampled_from([0.1, 1e-3, 1e-5]),
)
def test_the_least_hold_is_the_first_whose_risk_is_within_the_rule(
    available: int, elsewhere: float, own: float, lump: float, risk: float
) -> None:
    exposure = Exposure(elsewhere, 1800, own=own, lag_s=60, lump=lump)
    chances = oversell_risk(available, exposure, 1.5)
    assert least_hold(available, exposure, 1.5, risk) == next(h for h, c in enumerate(chances) if c <= risk)
