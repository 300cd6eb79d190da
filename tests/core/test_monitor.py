"""Discrepancy detection and lag measurement: pushes against what a channel shows."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sheetsync.core.monitor import (
    MAX_PENDING,
    WINDOW_S,
    FindingKind,
    Pending,
    Watch,
    audit_slice,
    dump_watch,
    lag_percentiles,
    lag_text,
    load_watch,
    observe,
    pushed,
    stepped_back,
)
from sheetsync.model import Sku

A, B = Sku("A"), Sku("B")
MAX_LAG = 600.0


def test_a_push_seen_on_the_channel_is_a_lag_sample_and_no_longer_pending() -> None:
    watch = pushed(Watch(), [(A, 8)], now=1000.0, max_lag=MAX_LAG)
    watch, findings = observe(watch, {A: 8}, {A: 8}, now=1090.0, max_lag=MAX_LAG)
    assert findings == {}
    assert watch.pending == {}
    assert watch.samples == ((1090.0, 90.0),)


def test_a_push_counts_as_seen_when_the_channel_sold_from_it_meanwhile() -> None:
    watch = pushed(Watch(), [(A, 8)], now=1000.0, max_lag=MAX_LAG)
    watch, findings = observe(watch, {A: 7}, {A: 7}, now=1030.0, max_lag=MAX_LAG)
    assert (findings, watch.pending) == ({}, {})


def test_an_unseen_push_is_quiet_until_the_threshold_then_lag() -> None:
    watch = pushed(Watch(), [(A, 8)], now=1000.0, max_lag=MAX_LAG, before={A: 10})
    watch, findings = observe(watch, {A: 8}, {A: 10}, now=1000.0 + MAX_LAG, max_lag=MAX_LAG)
    assert findings == {}
    watch, findings = observe(watch, {A: 8}, {A: 10}, now=1001.0 + MAX_LAG, max_lag=MAX_LAG)
    assert findings[A].kind is FindingKind.LAG
    assert findings[A].shown == 10
    assert findings[A].message == "pushed 8 10m 1s ago, still shows 10 (limit 10m 0s)"
    assert A in watch.pending


def test_a_new_push_keeps_the_lag_clock_of_the_first_unseen_one() -> None:
    watch = pushed(
        pushed(Watch(), [(A, 8)], now=1000.0, max_lag=MAX_LAG), [(A, 6)], now=1500.0, max_lag=MAX_LAG
    )
    assert watch.pending[A] == Pending(((8, 1000.0), (6, 1500.0)))
    watch, _ = observe(watch, {A: 6}, {A: 6}, now=1560.0, max_lag=MAX_LAG)
    assert watch.samples == ((1560.0, 60.0),)  # measured from the push it shows
    assert watch.pending == {}


def test_an_earlier_push_shown_from_the_backlog_is_a_sample_and_the_rest_stay_pending() -> None:
    watch = Watch()
    for at, quantity in ((0.0, 9), (30.0, 8), (60.0, 7)):
        watch = pushed(watch, [(A, quantity)], now=at, max_lag=MAX_LAG)
    watch, findings = observe(watch, {A: 7}, {A: 8}, now=500.0, max_lag=MAX_LAG)
    assert (findings, watch.samples) == ({}, ((500.0, 470.0),))
    assert watch.pending[A] == Pending(((7, 60.0),), 8)  # the lag clock now runs from 60 s
    _, findings = observe(watch, {A: 7}, {A: 8}, now=661.0, max_lag=MAX_LAG)
    assert findings[A].kind is FindingKind.LAG
    _, findings = observe(watch, {A: 7}, {A: 3}, now=661.0, max_lag=MAX_LAG)
    assert findings[A].kind is FindingKind.DRIFT  # neither 7 nor the 8 before it


def test_skus_first_pushed_alike_share_their_pending_push_yet_land_one_by_one() -> None:
    C = Sku("C")
    watch = pushed(Watch(), [(A, 5), (B, 5), (C, 5)], now=0.0, max_lag=MAX_LAG, before={A: 2, B: 2, C: 3})
    assert watch.pending[A] is watch.pending[B]
    assert watch.pending[C] == Pending(((5, 0.0),), 3)
    watch, findings = observe(watch, {A: 5, B: 5}, {A: 5, B: 2}, now=30.0, max_lag=MAX_LAG)
    assert (findings, set(watch.pending)) == ({}, {B, C})
    watch = pushed(watch, [(B, 4)], now=60.0, max_lag=MAX_LAG)
    assert (watch.pending[B], watch.pending[C]) == (
        Pending(((5, 0.0), (4, 60.0)), 2),
        Pending(((5, 0.0),), 3),
    )


def test_a_channel_that_shows_nothing_still_ages_however_often_we_push() -> None:
    watch = Watch()
    for step in range(10):
        watch = pushed(watch, [(A, 10 - step)], now=step * 30.0, max_lag=MAX_LAG, before={A: 50})
    assert watch.pending[A].first == 0.0
    assert len(watch.pending[A].pushes) == 4
    _, findings = observe(watch, {A: 1}, {A: 50}, now=MAX_LAG + 1, max_lag=MAX_LAG)
    assert findings[A].message == "pushed 1 10m 1s ago, still shows 50 (limit 10m 0s)"


def test_more_than_we_set_is_drift_at_once() -> None:
    _, findings = observe(Watch(), {A: 5}, {A: 9}, now=1000.0, max_lag=MAX_LAG)
    assert findings[A].kind is FindingKind.DRIFT
    assert findings[A].message == "shows 9, we set 5: changed on the platform; setting it back"


def test_less_than_we_set_waits_one_threshold_for_unseen_orders() -> None:
    watch, findings = observe(Watch(), {A: 5}, {A: 3}, now=1000.0, max_lag=MAX_LAG)
    assert findings == {}
    watch, findings = observe(watch, {A: 5}, {A: 3}, now=1000.0 + MAX_LAG, max_lag=MAX_LAG)
    assert findings[A].kind is FindingKind.DRIFT


def test_a_mismatch_that_resolves_is_forgotten() -> None:
    watch, _ = observe(Watch(), {A: 5, B: 2}, {A: 3, B: 2}, now=1000.0, max_lag=MAX_LAG)
    assert watch.mismatch == {A: 1000.0}
    watch, findings = observe(watch, {A: 5}, {A: 5}, now=2000.0, max_lag=MAX_LAG)
    assert (findings, watch.mismatch) == ({}, {})
    watch, _ = observe(watch, {A: None}, {A: 1}, now=2000.0, max_lag=MAX_LAG)
    assert watch.mismatch == {}  # a column we never wrote: nothing to compare


def test_a_push_replaces_a_mismatch_under_watch() -> None:
    watch, _ = observe(Watch(), {A: 5}, {A: 3}, now=1000.0, max_lag=MAX_LAG)
    watch = pushed(watch, [(A, 5)], now=1010.0, max_lag=MAX_LAG)
    assert watch.mismatch == {}
    _, findings = observe(watch, {A: 5}, {A: 3}, now=1100.0, max_lag=MAX_LAG)
    assert findings == {}  # our own push is on its way, within the threshold


def test_samples_leave_the_window() -> None:
    watch = Watch(samples=((0.0, 5.0), (WINDOW_S, 7.0)))
    watch, _ = observe(watch, {}, {}, now=WINDOW_S + 1, max_lag=MAX_LAG)
    assert watch.samples == ((WINDOW_S, 7.0),)


def test_percentiles_are_nearest_rank_and_count_pushes_stuck_past_the_limit() -> None:
    assert lag_percentiles(Watch(), 0.0, MAX_LAG) is None
    samples = tuple((100.0, float(lag)) for lag in range(1, 21))  # 1..20 s
    assert lag_percentiles(Watch(samples=samples), 100.0, MAX_LAG) == (10.0, 19.0)
    stuck = Watch(samples=((100.0, 5.0),), pending={A: Pending(((1, 96.0),)), B: Pending(((1, 900.0),))})
    assert lag_percentiles(stuck, 1000.0, MAX_LAG) == (5.0, 904.0)  # B is young: not counted yet
    old = Watch(samples=((0.0, 5.0),))
    assert lag_percentiles(old, WINDOW_S + 1, MAX_LAG) is None


def test_lag_text() -> None:
    assert [lag_text(s) for s in (None, 42, 725.4, 3780)] == ["", "42s", "12m 5s", "1h 3m"]


SKUS = [Sku(f"S{i:02d}") for i in range(10)]


def test_the_first_audit_reads_every_sku_and_later_ones_a_slice_in_proportion_to_the_time() -> None:
    first, watch = audit_slice(Watch(), SKUS, 0.0, 900.0)
    assert (first, watch.audited, watch.audit_mark) == (SKUS, 0.0, "S09")
    read, watch = audit_slice(watch, SKUS, 270.0, 900.0)  # 30% of the sweep's time: 3 SKUs
    assert (read, watch.audited) == (SKUS[:3], 270.0)
    read, watch = audit_slice(watch, SKUS, 540.0, 900.0)
    assert read == SKUS[3:6]
    read, watch = audit_slice(watch, SKUS, 1440.0, 900.0)  # a whole sweep's time, from where it was
    assert read == [*SKUS[6:], *SKUS[:6]]
    assert audit_slice(watch, [], 9999.0, 900.0) == ([], watch)


@pytest.mark.parametrize("mark", [-1, 0, 4, 8, 9])
@pytest.mark.parametrize("skus", [1, 3, 7, 10])
def test_a_slice_goes_on_from_the_last_sku_read_and_round_to_the_first(mark: int, skus: int) -> None:
    # the clock 90 s a SKU of a 900 s sweep: ``skus`` SKUs read, from just after the mark
    watch = Watch(audited=0.0, audit_mark=SKUS[mark] if mark >= 0 else "")
    read, later = audit_slice(watch, SKUS, 90.0 * skus, 900.0)
    after = mark + 1
    assert read == [SKUS[(after + n) % len(SKUS)] for n in range(skus)]
    assert later.audit_mark == read[-1]


def test_a_slice_too_short_to_hold_a_sku_waits_and_the_time_adds_up() -> None:
    _, watch = audit_slice(Watch(), SKUS, 0.0, 900.0)
    assert audit_slice(watch, SKUS, 0.0, 900.0) == ([], watch)
    read, later = audit_slice(watch, SKUS, 1.0, 900.0)  # rounds up to one SKU
    assert read == [Sku("S00")]
    assert later.audit_mark == "S00"


def test_the_read_quota_slows_the_sweep_of_a_large_catalogue() -> None:
    _, watch = audit_slice(Watch(), SKUS, 0.0, 900.0)
    read, _ = audit_slice(watch, SKUS, 90.0, 900.0, per_s=1.0)  # 10 SKUs need 10 s: 900 s rules
    assert read == [Sku("S00")]
    read, _ = audit_slice(watch, SKUS, 90.0, 900.0, per_s=0.005)  # 10 SKUs need 2,000 s
    assert read == [Sku("S00")]
    read, _ = audit_slice(watch, SKUS, 1000.0, 900.0, per_s=0.005)
    assert read == SKUS[:5]


def test_a_sku_removed_since_is_stepped_over() -> None:
    watch = Watch(audited=0.0, audit_mark="S04")
    read, _ = audit_slice(watch, [s for s in SKUS if s != "S04"], 180.0, 900.0)
    assert read == [Sku("S05"), Sku("S06")]


def test_the_state_text_is_capped_to_the_oldest_pending_pushes() -> None:
    many = {Sku(f"S{i:04d}"): Pending(((1, float(1000 - i)),)) for i in range(MAX_PENDING + 50)}
    kept = load_watch(dump_watch(Watch(pending=many))).pending
    assert len(kept) == MAX_PENDING
    assert Sku(f"S{MAX_PENDING + 49:04d}") in kept  # the oldest (lagging longest) stay
    assert len(dump_watch(Watch(pending=many))) < 32_000  # fits one workbook cell


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=20).map(Sku),
        st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 2_000_000_000)), min_size=1, max_size=4),
        max_size=20,
    ),
    st.one_of(st.none(), st.integers(0, 2_000_000_000)),
)
def test_the_state_text_round_trips(entries: dict[Sku, list[tuple[int, int]]], audited: int | None) -> None:
    watch = Watch(
        pending={sku: Pending(tuple((q, float(at)) for q, at in pushes)) for sku, pushes in entries.items()},
        samples=((10.0, 1.5),),
        mismatch={sku: 5.0 for sku in entries},
        last_ok=None,
        audited=None if audited is None else float(audited),
        audit_mark=next(iter(entries), ""),
    )
    assert load_watch(dump_watch(watch)) == watch


def test_garbled_state_text_is_a_fresh_start() -> None:
    for text in (
        "",
        "{",
        "[]",
        '{"pending": [["A", [["x", 1]]]]}',
        '{"pending":[],"samples":[],',
        '{"pending":[["A"]]}',
    ):
        assert load_watch(text) == Watch()
    empty = '{"pending":[["A",[]]],"samples":[],"mismatch":[],"last_ok":null,"audited":null}'
    assert load_watch(empty) == Watch()
    bad_time = '{"pending":[],"samples":[],"mismatch":[],"last_ok":"soon","audited":null}'
    assert load_watch(bad_time) == Watch()


def test_with_a_backlog_only_an_exact_figure_confirms_and_the_oldest_match_is_taken() -> None:
    watch = Watch()
    for at, quantity in ((0.0, 2), (30.0, 1), (60.0, 2)):
        watch = pushed(watch, [(A, quantity)], now=at, max_lag=MAX_LAG)
    watch, _ = observe(watch, {A: 1}, {A: 2}, now=90.0, max_lag=MAX_LAG)
    assert watch.pending[A] == Pending(((1, 30.0), (2, 60.0)), 2)  # the first 2 may be the one shown
    watch, _ = observe(watch, {A: 0}, {A: 0}, now=120.0, max_lag=MAX_LAG)
    assert A in watch.pending  # 0 is what we believe, but two pushes are still on their way
    assert watch.in_flight() == {A: 2}


def test_a_channel_may_still_sell_what_it_showed_before_a_lowering_lands() -> None:
    watch = pushed(Watch(), [(A, 0)], now=0.0, max_lag=MAX_LAG, before={A: 15})
    assert watch.in_flight() == {A: 15}  # it shows 15 until the 0 lands
    watch, _ = observe(watch, {A: 0}, {A: 0}, now=60.0, max_lag=MAX_LAG)
    assert watch.in_flight() == {}  # landed: nothing more to sell than what we believe
    raised = pushed(Watch(), [(A, 9)], now=0.0, max_lag=MAX_LAG)  # what it showed is not known
    assert raised.in_flight() == {A: 9}


def test_a_backlog_is_not_taken_as_landed_while_the_figure_from_before_it_shows() -> None:
    # Seed 3 of the Black Friday simulation: Google (in order, 30-60 min) had 0, 6, 4, 0 on the
    # way. The first 0 landed; a later read showing 0 again is that 0, not the last one: the 6
    # and the 4 may still surface, and the other channels must leave room for them.
    watch = Watch(pending={A: Pending(((0, 0.0), (6, 10.0), (4, 20.0), (0, 30.0)), 9)})
    watch, _ = observe(watch, {A: 0}, {A: 0}, now=100.0, max_lag=MAX_LAG)
    assert watch.pending[A] == Pending(((6, 10.0), (4, 20.0), (0, 30.0)), 0)
    watch, findings = observe(watch, {A: 0}, {A: 0}, now=200.0, max_lag=MAX_LAG)
    assert (watch.in_flight(), findings) == ({A: 6}, {})
    watch, _ = observe(watch, {A: 0}, {A: 6}, now=300.0, max_lag=MAX_LAG)
    assert watch.in_flight() == {A: 6}  # the 6 shows; the 4 and the 0 are still to come
    # Past max_lag, a backlog whose last figure shows has landed (not LAG: it never moved).
    watch = Watch(pending={A: Pending(((6, 10.0), (4, 20.0), (0, 30.0)), 0)})
    watch, findings = observe(watch, {A: 0}, {A: 0}, now=10.0 + MAX_LAG + 1, max_lag=MAX_LAG)
    assert (watch.pending, findings) == ({}, {})


def test_recently_pushed_skus_are_remembered_for_max_lag() -> None:
    watch = pushed(pushed(Watch(), [(A, 3)], now=0.0, max_lag=MAX_LAG), [(B, 1)], now=500.0, max_lag=MAX_LAG)
    assert watch.recent == {A: 0.0, B: 500.0}
    watch = pushed(watch, [], now=MAX_LAG + 1, max_lag=MAX_LAG)
    assert watch.recent == {B: 500.0}
    assert load_watch(dump_watch(watch)).recent == {B: 500.0}


def test_an_edit_on_the_platform_before_the_first_read_back_becomes_drift_after_max_lag() -> None:
    """Issue 20: the channel shows neither our push nor what it showed before: someone edited it."""
    watch = pushed(Watch(), [(A, 8)], now=0.0, max_lag=MAX_LAG, before={A: 10})
    watch, findings = observe(watch, {A: 8}, {A: 5}, now=MAX_LAG, max_lag=MAX_LAG)
    assert findings == {}  # within the threshold the push may still land
    watch, findings = observe(watch, {A: 8}, {A: 5}, now=MAX_LAG + 1, max_lag=MAX_LAG)
    assert findings[A].kind is FindingKind.DRIFT
    assert findings[A].shown == 5
    assert findings[A].message == (
        "shows 5, we pushed 8 10m 1s ago, 10 before it: changed on the platform; setting it back"
    )
    assert (watch.pending, watch.mismatch) == ({}, {})  # the push that sets it back is watched afresh
    assert lag_percentiles(watch, MAX_LAG + 1, MAX_LAG) is None  # not a lag


def test_more_than_we_set_that_no_push_explains_is_drift_at_once() -> None:
    """It can oversell now: not waited for, whether a push of ours is on its way or not."""
    watch = pushed(Watch(), [(A, 8)], now=0.0, max_lag=MAX_LAG, before={A: 10})
    watch, findings = observe(watch, {A: 8}, {A: 25}, now=1.0, max_lag=MAX_LAG)
    assert findings[A].kind is FindingKind.DRIFT
    assert findings[A].message == (
        "shows 25, more than the 8 we set, and none of our pushes explains it; setting it back"
    )
    assert watch.pending == {}
    # A sale the channel made just before our push landed, counted after it as well: we believe
    # 23 (27 less 4 sold), it shows 25; not landed, it would show 27 + (23 - 27) = 23.
    watch = pushed(Watch(), [(A, 27)], now=0.0, max_lag=MAX_LAG, before={A: 27})
    _, findings = observe(watch, {A: 23}, {A: 25}, now=60.0, max_lag=MAX_LAG)
    assert findings[A].kind is FindingKind.DRIFT
    # What it showed before, less the sales since, is a push not landed yet: LAG in time, not DRIFT.
    watch = pushed(Watch(), [(A, 27)], now=0.0, max_lag=MAX_LAG, before={A: 29})
    assert observe(watch, {A: 23}, {A: 25}, now=60.0, max_lag=MAX_LAG)[1] == {}
    # A backlog (a slow channel): an older push may have landed and sold since; waited for.
    watch = pushed(Watch(), [(A, 10)], now=0.0, max_lag=MAX_LAG, before={A: 12})
    watch = pushed(watch, [(A, 8)], now=30.0, max_lag=MAX_LAG)
    assert observe(watch, {A: 7}, {A: 9}, now=60.0, max_lag=MAX_LAG)[1] == {}  # 10 landed, 1 sold


def test_a_push_unseen_while_the_channel_sells_from_the_old_figure_is_still_lag() -> None:
    watch = pushed(Watch(), [(A, 8)], now=0.0, max_lag=MAX_LAG, before={A: 10})
    # two sold on the channel since: we believe it shows 6; not landed, it shows 10 - 2
    _, findings = observe(watch, {A: 6}, {A: 8 - 0}, now=MAX_LAG + 1, max_lag=MAX_LAG)
    assert findings == {}  # 8 is the push itself: seen
    _, findings = observe(watch, {A: 6}, {A: 9}, now=MAX_LAG + 1, max_lag=MAX_LAG)
    assert findings[A].kind is FindingKind.DRIFT
    watch = pushed(Watch(), [(A, 3)], now=0.0, max_lag=MAX_LAG, before={A: 10})
    _, findings = observe(watch, {A: 1}, {A: 8}, now=MAX_LAG + 1, max_lag=MAX_LAG)
    assert findings[A].kind is FindingKind.LAG  # 10 less the 2 sold: the push has not landed


def test_without_knowing_what_was_there_before_an_unexplained_figure_is_drift() -> None:
    """A first sync's push, or a watch kept by an older version: set it back once, then known."""
    watch = Watch(pending={A: Pending(((8, 0.0),))})
    watch, findings = observe(watch, {A: 8}, {A: 10}, now=7200.0, max_lag=MAX_LAG)
    assert findings[A].kind is FindingKind.DRIFT
    assert findings[A].message == (
        "shows 10, we pushed 8 2h 0m ago, and what it showed before is not known: changed on the platform "
        "or the push was lost; setting it again"
    )
    assert watch.pending == {}


def test_one_sku_stuck_does_not_make_a_channel_whose_later_pushes_show_look_slow() -> None:
    stuck = Pending(((1, 0.0),), 5)  # pushed at 0, never shown
    later = tuple((float(at), 20.0) for at in range(3000, 3600, 60))  # pushed from 2980 on, seen in 20 s
    watch = Watch(pending={A: stuck}, samples=later)
    assert lag_percentiles(watch, 3600.0, MAX_LAG) == (20.0, 20.0)
    # a channel that shows nothing pushed after the stuck push is slow, whatever it showed before
    behind = Watch(pending={A: stuck, B: Pending(((1, 100.0),))}, samples=((50.0, 60.0),))  # pushed at -10
    assert lag_percentiles(behind, 3600.0, MAX_LAG) == (3500.0, 3600.0)


def test_a_channel_that_cannot_report_quantities_is_never_waited_for() -> None:
    """Issue 20: Google Merchant without a store code reports no quantity, so nothing confirms."""
    old = Watch(pending={A: Pending(((3, 0.0),))}, mismatch={B: 0.0}, recent={A: 0.0}, samples=((1.0, 1.0),))
    watch = pushed(old, [(A, 4), (B, 0)], now=7200.0, max_lag=MAX_LAG, reports=False)
    assert (watch.pending, watch.mismatch, watch.recent) == ({}, {}, {})
    assert watch.samples == old.samples
    assert lag_percentiles(watch, 7200.0, MAX_LAG) is None
    watch, findings = observe(old, {A: 4}, {}, now=7200.0, max_lag=MAX_LAG, read=[A], reports=False)
    assert findings == {}
    assert (watch.pending, watch.mismatch, watch.recent) == ({}, {}, {})


def test_what_a_channel_showed_before_a_push_survives_the_state_text() -> None:
    watch = pushed(Watch(), [(A, 8), (B, 2)], now=0.0, max_lag=MAX_LAG, before={A: 10})
    assert load_watch(dump_watch(watch)).pending == {A: Pending(((8, 0.0),), 10), B: Pending(((2, 0.0),))}
    older = '{"pending":[["A",[[8,0]]]],"samples":[],"mismatch":[],"last_ok":null,"audited":null}'
    assert load_watch(older).pending == {A: Pending(((8, 0.0),))}


def test_a_watch_nothing_was_pushed_to_or_forgotten_from_is_given_back_as_it_is() -> None:
    watch = pushed(Watch(mismatch={B: 10.0}), [(A, 3)], now=0.0, max_lag=MAX_LAG)
    assert pushed(watch, [], now=MAX_LAG, max_lag=MAX_LAG) is watch
    assert pushed(watch, [(A, 3)], now=MAX_LAG, max_lag=MAX_LAG) != watch  # a push again: pending twice
    assert pushed(watch, [(B, 1)], now=1.0, max_lag=MAX_LAG).mismatch == {}
    assert pushed(watch, [], now=MAX_LAG + 1, max_lag=MAX_LAG).recent == {}


DAY = 86400.0


def test_a_push_under_a_clock_stepped_back_a_day_is_lag_after_max_lag_not_a_day() -> None:
    watch = pushed(Watch(last_ok=1000.0), [(A, 8)], now=1000.0, max_lag=MAX_LAG, before={A: 10})
    now = 1060.0 - DAY  # a minute later, on a wall clock stepped back a day
    _, findings = observe(watch, {A: 8}, {A: 10}, now=now + MAX_LAG + 1, max_lag=MAX_LAG)
    assert findings == {}  # the push looks a day younger: the row would say LAG with no alert for a day
    watch = stepped_back(watch, now)
    assert (watch.pending[A].first, watch.last_ok, watch.recent) == (now, now, {A: now})
    _, findings = observe(watch, {A: 8}, {A: 10}, now=now + MAX_LAG + 1, max_lag=MAX_LAG)
    assert findings[A].kind is FindingKind.LAG  # one cycle late at most


def test_a_stepped_back_watch_keeps_every_age_and_its_shared_pushes_shared() -> None:
    watch = Watch(
        pending={
            A: (first := Pending(((8, 900.0), (6, 950.0)), 10)),
            B: first,
            Sku("C"): Pending(((1, 800.0),)),
        },
        samples=((700.0, 30.0), (990.0, 5.0)),
        mismatch={Sku("D"): 980.0},
        last_ok=1000.0,
        audited=940.0,
        recent={A: 950.0, B: 950.0},
    )
    moved = stepped_back(watch, 400.0)  # stepped back 600 s: the newest, last_ok, is now
    assert moved.pending == {
        A: Pending(((8, 300.0), (6, 350.0)), 10),
        B: Pending(((8, 300.0), (6, 350.0)), 10),
        Sku("C"): Pending(((1, 200.0),)),
    }
    assert moved.pending[A] is moved.pending[B]
    assert moved.samples == ((100.0, 30.0), (390.0, 5.0))
    assert (moved.mismatch, moved.last_ok, moved.audited) == ({Sku("D"): 380.0}, 400.0, 340.0)
    assert moved.recent == {A: 350.0, B: 350.0}
    assert lag_percentiles(moved, 400.0 + MAX_LAG, MAX_LAG) == lag_percentiles(
        watch, 1000.0 + MAX_LAG, MAX_LAG
    )


@pytest.mark.parametrize(
    "watch",
    [
        Watch(),
        Watch(last_ok=1000.0, audited=1000.0),
        Watch(recent={A: 1000.0}),
        Watch(mismatch={A: 1000.0}),
        Watch(samples=((1000.0, 1.0),)),
    ],
)
def test_a_watch_with_nothing_after_now_is_given_back_as_it_is(watch: Watch) -> None:
    assert stepped_back(watch, 1000.0) is watch
    if watch != Watch():
        assert stepped_back(watch, 999.0) != watch  # one second back is a step too


@pytest.mark.parametrize(
    "newest",
    [
        Watch(audited=1000.0),
        Watch(recent={A: 1000.0}),
        Watch(mismatch={A: 1000.0}),
        Watch(samples=((1000.0, 1.0),)),
    ],
)
def test_each_time_a_watch_keeps_counts_toward_its_newest(newest: Watch) -> None:
    moved = stepped_back(replace(newest, last_ok=100.0), 500.0)
    assert moved.last_ok == -400.0  # moved back 500 s, as far as the newest time went past now
