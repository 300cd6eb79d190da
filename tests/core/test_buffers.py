"""Buffer policies, checked against the worked examples of the market's tools (shared/conventions.md)."""

from __future__ import annotations

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
    gauge,
    minutes,
    parse_hold,
    per_hour,
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


def test_adaptive_holds_back_what_may_sell_before_the_channel_shows_a_change() -> None:
    # 6 an hour elsewhere over 20 minutes: 2 expected, + 2 x sqrt(2) = 4.83, rounded up to 5.
    result = adaptive(20, Exposure(6 / 3600, 1200), AdaptiveRule())
    assert result.quantity == 15
    assert result.reason == "adaptive holds 5, sales reach it ~20 min late (~6/h)"


#: 6 an hour elsewhere and 3 an hour here over 20 minutes, orders of up to 3 units: 3 held
#: (1 + 2 x 1 = 3); enough to show is 1 own sale + 2 x 1 + 3 = 6.
SELLING = Exposure(3 / 3600, 1200, own=3 / 3600, largest=3)


def test_enough_covers_its_own_sales_until_a_raise_shows_and_then_its_largest_order() -> None:
    assert gauge(SELLING, AdaptiveRule()).enough == 6
    assert gauge(Exposure(0.0, 1200), AdaptiveRule()).enough == 1  # no sales: one unit takes any order
    assert gauge(Exposure(0.0, 1200, own=36 / 3600, largest=2), AdaptiveRule(safety=1)).enough == 12 + 4 + 2


def test_adaptive_keeps_a_figure_that_is_enough_rather_than_raise_it_on_every_wobble() -> None:
    assert adaptive(20, SELLING, AdaptiveRule()).quantity == 17
    kept = adaptive(20, SELLING, AdaptiveRule(), shown=9)
    assert (kept.quantity, kept.reason) == (9, "adaptive keeps it until it runs low (could show 17)")


@pytest.mark.parametrize(
    ("shown", "why"),
    [
        (5, "below enough: it may run out before a raise shows"),
        (8, "below half of what it may show: a restock, say"),
        (18, "above what it may show: lowering is never put off"),
        (None, "not known"),
    ],
)
def test_adaptive_moves_a_figure_that_is_not_enough_or_far_off_or_too_high(
    shown: int | None, why: str
) -> None:
    assert adaptive(20, SELLING, AdaptiveRule(), shown=shown).quantity == 17, why


def test_adaptive_keeps_nothing_that_would_hold_more_than_max_hold() -> None:
    assert adaptive(20, SELLING, AdaptiveRule(max_hold=10), shown=9).quantity == 17
    assert adaptive(20, SELLING, AdaptiveRule(max_hold=11), shown=9).quantity == 9


@pytest.mark.parametrize(("hold", "step"), [(0, 0), (1, 1), (7, 8), (13, 15), (100, 100), (101, 120)])
def test_holds_are_rounded_up_to_a_few_steps_so_a_wobbling_rate_seldom_moves_them(
    hold: int, step: int
) -> None:
    assert step_up(hold) == step


def test_adaptive_counts_its_own_sales_over_its_lag_only() -> None:
    # 36 an hour here over a 100 s lag: 1 expected, + 2 = 3 held.
    assert adaptive(20, Exposure(0.0, 1200, own=36 / 3600, lag_s=100), AdaptiveRule()).quantity == 17


def test_adaptive_never_holds_more_than_the_other_channels_can_sell() -> None:
    busy = Exposure(60 / 3600, 1200, selling=3)
    assert adaptive(20, busy, AdaptiveRule()).quantity == 17
    assert adaptive(1, Exposure(60 / 3600, 1200, selling=0), AdaptiveRule()).quantity == 1


def test_adaptive_with_no_sales_holds_only_its_minimum() -> None:
    assert adaptive(20, Exposure(0.0, 1200), AdaptiveRule()).quantity == 20
    assert adaptive(20, Exposure(0.0, 1200), AdaptiveRule(min_hold=2)).quantity == 18


def test_adaptive_is_bounded_by_max_hold() -> None:
    assert adaptive(100, Exposure(1.0, 3600), AdaptiveRule(max_hold=10)).quantity == 90


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
    rule = AdaptiveRule(safety, min_hold, max_hold)
    quantity = adaptive(available, exposure, rule).quantity
    assert 0 <= quantity <= max(available, 0)
    for shown in (0, quantity // 2, quantity - 1, quantity + 1):
        # what a channel shows never raises the figure: keeping it only holds more back
        assert 0 <= adaptive(available, exposure, rule, shown).quantity <= quantity


@given(st.integers(0, 1000), st.floats(0, 1, allow_nan=False), st.floats(0, 7200, allow_nan=False))
def test_adaptive_holds_more_the_faster_it_sells(available: int, velocity: float, unseen: float) -> None:
    rule = AdaptiveRule()
    faster = adaptive(available, Exposure(velocity * 2, unseen), rule).quantity
    assert faster <= adaptive(available, Exposure(velocity, unseen), rule).quantity


@given(
    st.integers(-50, 500),
    st.none() | st.integers(0, 100),
    st.floats(0, 0.02, allow_nan=False),
    st.floats(0, 0.02, allow_nan=False),
    st.floats(0.9, 1.1, allow_nan=False),
    st.floats(0, 7200, allow_nan=False),
    st.integers(1, 5),
    st.none() | st.integers(0, 50),
    st.integers(0, 10),
    st.none() | st.integers(0, 60),
)
def test_rates_with_equal_gauges_get_the_same_answer(
    available: int,
    shown: int | None,
    elsewhere: float,
    own: float,
    moved: float,
    unseen: float,
    largest: int,
    selling: int | None,
    min_hold: int,
    max_hold: int | None,
) -> None:
    # plan() plans a row again only when its gauges move: what the rates change must be in them.
    rule = AdaptiveRule(2.0, min_hold, max_hold)
    before = Exposure(elsewhere, unseen, own, unseen / 2, selling, largest)
    after = Exposure(elsewhere * moved, unseen, own * moved, unseen / 2 * moved, selling, largest)
    if gauge(before, rule) == gauge(after, rule):
        assert adaptive(available, before, rule, shown) == adaptive(available, after, rule, shown)


def test_the_reason_states_rates_to_two_figures_and_lags_to_five_minutes() -> None:
    # So that it changes with the hold, not with every sale in the shop.
    rates = (0.0, 0.99, 1.0, 6.04, 6.6, 16.9, 99.4, 123.0, 1234.0)
    assert [per_hour(gauge(Exposure(r / 3600, 60), AdaptiveRule()).per_hour) for r in rates] == [
        "<1/h",
        "<1/h",
        "~1/h",
        "~6/h",
        "~7/h",
        "~17/h",
        "~99/h",
        "~120/h",
        "~1200/h",
    ]
    assert [minutes(m * 60) for m in (0, 9.4, 12, 18, 62, -1)] == [
        "~0 min",
        "~9 min",
        "~10 min",
        "~20 min",
        "~60 min",
        "~0 min",
    ]
