"""What a cycle works out again only for rows that changed: never a stale answer.

Each stage that remembers rows from the last call (the parsers, ``plan``, ``row_cells``) must
give exactly what it gives from scratch, whatever changed in between: the reference here is the
same call with nothing remembered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import sheetsync.core.cells as cells_module
import sheetsync.core.ledger as ledger_module
import sheetsync.core.plan as plan_module
from sheetsync.core.buffers import AdaptiveRule, BufferPolicy, Hold, HoldKind, Tier
from sheetsync.core.bundles import Bundles
from sheetsync.core.cells import parse_rows
from sheetsync.core.ledger import available, parse_ledger
from sheetsync.core.memo import LastCall, Lent, Places, Prefixes, Same, forget, shared
from sheetsync.core.monitor import Finding, FindingKind
from sheetsync.core.plan import (
    ChannelResult,
    ChannelSpec,
    GuardVerdict,
    apply_findings,
    discrepancies,
    plan,
    row_cells,
)
from sheetsync.core.sales import capped
from sheetsync.model import ChannelName, Layout, LedgerEntry, Movement, PushOutcome, RawLedgerRow, RawRow, Sku
from sheetsync.stores._grid import records, snapshot

SHOPIFY, GOOGLE = ChannelName("shopify"), ChannelName("google")
LAYOUT = Layout(((SHOPIFY, "Shopify"), (GOOGLE, "Google")))
TITLES = dict(LAYOUT.channels)
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
OPEN = GuardVerdict(held=False, message="", accepted=False, rows=0, total=0)
SKUS = [Sku(f"S{n}") for n in range(6)]
TIERS = BufferPolicy(
    (Tier(10, Hold(HoldKind.PERCENT, Fraction(10))), Tier(0, Hold(HoldKind.UNITS, Fraction(2))))
)


def test_a_result_is_offered_only_for_the_same_object_with_equal_inputs_in_the_same_context() -> None:
    memo: LastCall[list[int], int, str] = LastCall()
    a, b = [1], [1]  # equal, not the same
    first = memo.begin("context")
    assert first.get(a, 1) is None
    first.keep(a, 1, "planned")
    second = memo.begin("context")
    assert second.get(a, 1) == "planned"
    assert second.get(b, 1) is None
    assert second.get(a, 2) is None
    assert memo.begin("context").get(a, 1) is None  # the second call kept nothing
    memo.begin("context").keep(a, 1, "again")
    assert memo.begin("other").get(a, 1) is None


def test_a_place_gives_its_last_result_for_an_equal_input_in_the_same_context_only() -> None:
    memo: Places[dict[str, str], str] = Places()
    worked: list[str] = []

    def work(answer: str) -> str:
        worked.append(answer)
        return answer

    first = memo.begin("context")
    assert first.answer(2, {"q": "5"}, lambda: work("five")) == "five"
    assert first.answer(3, {"q": "7"}, lambda: work("seven")) == "seven"
    second = memo.begin("context")
    assert second.answer(2, {"q": "5"}, lambda: work("again")) == "five"  # an equal dict, read afresh
    assert second.answer(3, {"q": "8"}, lambda: work("eight")) == "eight"
    third = memo.begin("context")
    assert third.answer(3, {"q": "7"}, lambda: work("seven again")) == "seven again"  # only the last call's
    assert third.answer(4, {"q": "5"}, lambda: work("elsewhere")) == "elsewhere"  # another place
    assert memo.begin("other").answer(4, {"q": "5"}, lambda: work("other")) == "other"
    assert worked == ["five", "seven", "eight", "seven again", "elsewhere", "other"]


def test_a_row_edited_and_edited_back_is_parsed_afresh_and_the_same() -> None:
    first = parse_rows(_rows({SKUS[0]: "5"}), LAYOUT)
    parse_rows(_rows({SKUS[0]: "6"}), LAYOUT)
    back = parse_rows(_rows({SKUS[0]: "5"}), LAYOUT)
    assert back.rows[0] == first.rows[0]
    assert back.rows[0] is not first.rows[0]  # the edit pushed it out: one parse of a row is kept


def _rows(quantities: Mapping[Sku, str]) -> list[RawRow]:
    return [
        RawRow(n, {"sku": sku, "quantity": q, "channel:google": "3"})
        for n, (sku, q) in enumerate(quantities.items(), 2)
    ]


def test_forget_leaves_nothing_remembered() -> None:
    first = parse_rows(_rows({SKUS[0]: "5"}), LAYOUT)
    assert parse_rows(_rows({SKUS[0]: "5"}), LAYOUT).rows[0] is first.rows[0]
    forget()
    again = parse_rows(_rows({SKUS[0]: "5"}), LAYOUT)
    assert again.rows[0] == first.rows[0]
    assert again.rows[0] is not first.rows[0]


def test_an_edited_or_moved_row_is_parsed_again() -> None:
    before = parse_rows(_rows({SKUS[0]: "5", SKUS[1]: "7"}), LAYOUT)
    same = parse_rows(_rows({SKUS[0]: "5", SKUS[1]: "7"}), LAYOUT)
    assert same.rows[0] is before.rows[0]  # remembered: the very same row
    edited = parse_rows(_rows({SKUS[0]: "6", SKUS[1]: "7"}), LAYOUT)
    assert edited.rows[0].count == 6
    moved = parse_rows(_rows({SKUS[1]: "7", SKUS[0]: "5"}), LAYOUT)  # a row inserted above, say
    assert {r.sku: r.row for r in moved.rows} == {SKUS[1]: 2, SKUS[0]: 3}
    broken = parse_rows(_rows({SKUS[0]: "5", SKUS[1]: "seven"}), LAYOUT)
    assert [p.row for p in broken.problems] == [3]


def test_records_of_the_same_cells_are_the_same_and_a_changed_cell_is_read() -> None:
    grid: list[list[object]] = [["SKU", "Quantity"], ["A", 5], ["B", 7]]
    found = {"sku": 1, "quantity": 2}
    first, second = list(records(grid, found)), list(records(grid, found))
    assert first == second == [(2, {"sku": "A", "quantity": "5"}), (3, {"sku": "B", "quantity": "7"})]
    grid[2][1] = 8
    assert list(records(grid, found))[1] == (3, {"sku": "B", "quantity": "8"})
    grid[2][1] = 1
    assert list(records(grid, found))[1] == (3, {"sku": "B", "quantity": "1"})
    grid[2][1] = True  # equal to 1 in Python: a checkbox typed over the count
    assert list(records(grid, found))[1] == (3, {"sku": "B", "quantity": "TRUE"})


def test_a_sheet_read_again_unchanged_is_what_was_made_of_it_and_any_change_is_read() -> None:
    def read(count: object = 5) -> dict[str, list[list[object]]]:  # a fresh read each time
        return {
            "Inventory": [["SKU", "Quantity"], ["A", count], ["B", 7]],
            "Ledger": [["Key", "SKU", "Delta"], ["k1", "A", -1]],
        }

    first, grid = snapshot(read(), LAYOUT, "sheet 1")
    again, grid_again = snapshot(read(), LAYOUT, "sheet 1")
    assert again.rows is first.rows  # no pass over the rows
    assert again.ledger is first.ledger
    assert grid_again == grid
    other, _ = snapshot(read(), LAYOUT, "sheet 2")  # another master's read is its own
    assert other.rows is not first.rows
    assert other.rows == first.rows
    for count, text in ((8, "8"), (1, "1"), (True, "TRUE"), (1.0, "1")):  # TRUE == 1 == 1.0
        changed, _ = snapshot(read(count), LAYOUT, "sheet 1")
        assert changed.rows[0].cells["quantity"] == text
    assert changed.rows is not first.rows  # 1.0 reads as 1, yet is a cell of another type
    sheets = read()
    before, _ = snapshot(sheets, LAYOUT, "sheet 1")
    sheets["Inventory"][2][1] = 9  # the very same lists, changed in place: read again
    after, _ = snapshot(sheets, LAYOUT, "sheet 1")
    assert (before.rows[1].cells["quantity"], after.rows[1].cells["quantity"]) == ("7", "9")
    sheets["Inventory"].append(["", "", "", "note"])  # a cell further out, in no column read
    _, wider = snapshot(sheets, LAYOUT, "sheet 1")
    assert (wider.used_rows["Inventory"], wider.used_columns["Inventory"]) == (4, 4)


@contextmanager
def _forgetting() -> Iterator[None]:
    """Calls inside remember nothing from before, and leave what was remembered as it was."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plan_module, "_PLANNED", LastCall())
        patch.setattr(plan_module, "_WRITES", LastCall())
        patch.setattr(plan_module, "_PLANS", Same())
        patch.setattr(plan_module, "_DISCREPANCIES", Same())
        yield


cycle = st.fixed_dictionaries(
    {
        "stock": st.dictionaries(st.sampled_from(SKUS), st.integers(-2, 30)),
        "moves": st.dictionaries(
            st.tuples(st.sampled_from([SHOPIFY, GOOGLE]), st.sampled_from(SKUS)), st.integers(-3, 3)
        ),
        "rates": st.dictionaries(
            st.tuples(st.sampled_from([SHOPIFY, GOOGLE]), st.sampled_from(SKUS)),
            st.sampled_from([0.0, 0.001, 0.01]),
        ),
        "flying": st.dictionaries(
            st.tuples(st.sampled_from([SHOPIFY, GOOGLE]), st.sampled_from(SKUS)), st.integers(0, 20)
        ),
        "due": st.sampled_from([(True, True), (True, False), (False, True)]),
        "adaptive": st.booleans(),
        "lag": st.sampled_from([60.0, 900.0]),
        "pushed": st.sets(st.sampled_from(SKUS), max_size=2),
        "edit": st.none() | st.tuples(st.sampled_from(SKUS), st.sampled_from(["4", "12", "x", "PAUSE"])),
    }
)


@settings(max_examples=60, deadline=None)
@given(cycles=st.lists(cycle, min_size=2, max_size=6))
def test_what_is_remembered_plans_and_writes_exactly_what_a_fresh_call_does(
    cycles: list[dict[str, Any]],
) -> None:
    cells = {
        sku: {"sku": sku, "quantity": "10", "channel:shopify": "8", "channel:google": "8"} for sku in SKUS
    }
    for step in cycles:
        if step["edit"] is not None:
            sku, text = step["edit"]
            column = "override" if text == "PAUSE" else "quantity"
            cells[sku] = {**cells[sku], column: text}
        parsed = parse_rows([RawRow(n, dict(c)) for n, c in enumerate(cells.values(), 2)], LAYOUT)
        stock = {row.sku: step["stock"].get(row.sku, row.count) for row in parsed.rows}
        rule = AdaptiveRule() if step["adaptive"] else None
        specs = [
            ChannelSpec(SHOPIFY, "Shopify", TIERS, due=step["due"][0], adaptive=rule, unseen_s=120, lag_s=5),
            ChannelSpec(
                GOOGLE,
                "Google",
                TIERS,
                due=step["due"][1],
                adaptive=rule,
                unseen_s=step["lag"],
                lag_s=step["lag"],
            ),
        ]
        args = (parsed, stock, step["moves"], specs, OPEN, step["rates"], step["flying"])
        results = {
            name: ChannelResult({sku: PushOutcome(sku, True) for sku in step["pushed"]})
            for name in (SHOPIFY, GOOGLE)
        }
        remembered = plan(*args)
        writes = row_cells(remembered, results, TITLES, NOW)
        assert row_cells(remembered, results, TITLES, NOW) == writes  # asked again, pushed or not
        flags = discrepancies(remembered, results, TITLES)
        with _forgetting():
            fresh = plan(*args)
            assert remembered == fresh
            assert writes == row_cells(fresh, results, TITLES, NOW)
            assert flags == discrepancies(fresh, results, TITLES)
        assert plan(*args) is remembered  # the very same rows and equal inputs: the very same plan


movement = st.sampled_from([Movement.COUNT, Movement.SALE, Movement.RESTOCK, Movement.START, Movement.EDIT])


@settings(max_examples=80, deadline=None)
@given(
    drawn=st.lists(st.tuples(st.sampled_from(SKUS[:3]), movement, st.integers(-3, 20)), max_size=30),
    cuts=st.lists(st.integers(0, 30), max_size=4),
)
@example(  # a fold grown on from a remembered one must leave that one as it was
    drawn=[(SKUS[0], Movement.COUNT, 5), (SKUS[0], Movement.SALE, -1), (SKUS[0], Movement.SALE, -1)],
    cuts=[2, 3, 2],
)
def test_a_ledger_folded_on_from_an_earlier_fold_gives_what_a_fold_from_the_start_does(
    drawn: list[tuple[Sku, Movement, int]], cuts: list[int]
) -> None:
    entries = tuple(
        LedgerEntry(f"k{n}", sku, delta, kind, NOW, None if kind is Movement.COUNT else SHOPIFY)
        for n, (sku, kind, delta) in enumerate(drawn)
    )
    counts = {(sku, ""): 10 for sku in SKUS[:3]}
    for cut in [*cuts, len(entries)]:  # folds of growing and shrinking ledgers, remembered
        remembered = available(counts, entries[:cut])
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ledger_module, "_FOLDS", Prefixes(4))
            assert remembered == available(counts, entries[:cut])


ledger_cells = st.sampled_from(
    [
        {"sku": "A", "delta": "-2", "note": "broken in transit"},  # manual: its key is its row
        {"key": "shopify/1/1", "sku": "A", "delta": "-1", "movement": "SALE", "at": "2026-11-27 09:00:00"},
        {"key": "shopify/1/1", "sku": "A", "delta": "-1", "movement": "SALE", "at": "2026-11-27 09:00:00"},
        {"key": "count/A", "sku": "A", "delta": "12", "movement": "COUNT", "at": "2026-11-27 08:00:00"},
        {"key": "shopify/2/1", "sku": "B", "delta": "lots", "movement": "SALE", "at": "x"},
    ]
)


@settings(max_examples=80, deadline=None)
@given(
    drawn=st.lists(ledger_cells, max_size=12),
    reads=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 12), st.integers(2, 3)), max_size=5),
)
def test_a_ledger_parsed_on_from_an_earlier_parse_gives_what_a_parse_from_the_start_does(
    drawn: list[dict[str, str]], reads: list[tuple[int, int, int]]
) -> None:
    cells = [dict(c) for c in drawn]  # one object per row, as a store's read gives again and again
    # Rows deleted at the top, rows appended, a blank row inserted above (the same cells, each a
    # row further down: a manual row's key is its row).
    for dropped, cut, first in [*reads, (0, len(cells), 2)]:
        rows = [RawLedgerRow(n, c) for n, c in enumerate(cells[dropped:cut], start=first)]
        remembered = parse_ledger(rows)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ledger_module, "_LEDGERS", Prefixes(2))
            assert remembered == parse_ledger(rows)


def test_a_stage_answers_again_only_for_the_very_same_items_and_equal_values() -> None:
    memo: Same[str] = Same()
    a, b = {"sku": "A"}, {"sku": "B"}
    assert memo.get([a, b], 1) is None
    memo.keep([a, b], 1, "parsed")
    assert memo.get([a, b], 1) == "parsed"
    assert memo.get([a, {"sku": "B"}], 1) is None  # equal, not the same
    assert memo.get([a, b], 2) is None
    assert memo.get([b, a], 1) is None
    assert memo.get([a], 1) is None
    memo.forget()
    assert memo.get([a, b], 1) is None


def test_a_stage_gave_only_the_very_answer_it_kept_last() -> None:
    memo: Same[list[str]] = Same()
    answer = ["A"]
    assert not memo.gave(answer)
    memo.keep([], 1, answer)
    assert memo.gave(answer)
    assert not memo.gave(["A"])  # equal, not the same
    memo.forget()
    assert not memo.gave(answer)


def test_the_same_rows_at_the_same_numbers_parse_as_last_time_and_any_change_parses_again() -> None:
    cells = [{"sku": sku, "quantity": "5"} for sku in SKUS[:3]]
    first = parse_rows([RawRow(n, c) for n, c in enumerate(cells, 2)], LAYOUT)
    assert parse_rows([RawRow(n, c) for n, c in enumerate(cells, 2)], LAYOUT) is first
    moved = parse_rows([RawRow(n, c) for n, c in enumerate(cells, 3)], LAYOUT)  # a row inserted above
    assert [r.row for r in moved.rows] == [3, 4, 5]
    kit = Bundles({SKUS[1]: {SKUS[0]: 2}}, {})
    bundled = parse_rows([RawRow(n, c) for n, c in enumerate(cells, 3)], LAYOUT, kit)
    # The Bundles sheet changed: parsed again, and a bundle's row with a count of its own is flagged.
    assert [p.sku for p in bundled.problems] == [SKUS[1]]
    cells[2] = {"sku": SKUS[2], "quantity": "9"}  # the store hands an edited row on as a new dict
    edited = parse_rows([RawRow(n, c) for n, c in enumerate(cells, 3)], LAYOUT, kit)
    assert edited.rows[-1].count == 9


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sets(st.integers(0, 4), max_size=2),  # rows whose cells change (new dicts)
            st.sampled_from(["4", "x", "12"]),
            st.integers(2, 3),  # the first row's number
            st.booleans(),  # a Bundles sheet or none
        ),
        min_size=2,
        max_size=6,
    )
)
def test_a_whole_parse_remembered_is_what_a_fresh_parse_gives(
    steps: list[tuple[set[int], str, int, bool]],
) -> None:
    cells = [{"sku": f"S{n}", "quantity": "5"} for n in range(5)]
    for changed, text, first, kits in steps:
        for n in changed:
            cells[n] = {**cells[n], "quantity": text}
        raw = [RawRow(n, c) for n, c in enumerate(cells, first)]
        bundles = Bundles({Sku("S4"): {Sku("S0"): 1}}, {}) if kits else None
        remembered = parse_rows(raw, LAYOUT, bundles)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(cells_module, "_PARSED", Same())
            patch.setattr(cells_module, "_ROWS", Places())
            assert remembered == parse_rows(raw, LAYOUT, bundles)


def test_a_recount_is_worked_out_again_when_a_row_or_an_absorbed_entry_is_another() -> None:
    parsed = parse_rows([RawRow(2, {"sku": "A", "quantity": "5", "available": "4"})], LAYOUT)
    sale = LedgerEntry("shopify/1/1", Sku("A"), -1, Movement.SALE, NOW, SHOPIFY)
    assert plan_module._recounted(parsed.rows, [sale]) == (1, 0)  # 5 - 1 = 4: not recounted
    assert plan_module._recounted(parsed.rows, [sale]) == (1, 0)
    restock = LedgerEntry("shopify/1/2", Sku("A"), 1, Movement.RESTOCK, NOW, SHOPIFY)
    assert plan_module._recounted(parsed.rows, [restock]) == (1, 1)  # 5 + 1 is not 4
    recounted = parse_rows([RawRow(2, {"sku": "A", "quantity": "3", "available": "4"})], LAYOUT)
    assert plan_module._recounted(recounted.rows, [sale]) == (1, 1)


def _sale(order: str) -> LedgerEntry:
    return LedgerEntry(
        f"shopify/{order}/1", SKUS[0], -1, Movement.SALE, NOW, SHOPIFY, order_id=order, line_id="1"
    )


@pytest.mark.parametrize(
    "change", ["moves", "available", "channels", "guard", "velocity", "in_flight", "reach", "entries"]
)
def test_a_plan_is_worked_out_again_when_any_one_of_its_inputs_changes(change: str) -> None:
    cells = {"sku": SKUS[0], "quantity": "10", "channel:shopify": "8", "channel:google": "8"}
    parsed = parse_rows([RawRow(2, cells)], LAYOUT)
    rule = AdaptiveRule()
    specs = [
        ChannelSpec(SHOPIFY, "Shopify", TIERS, adaptive=rule, unseen_s=120, lag_s=5),
        ChannelSpec(GOOGLE, "Google", TIERS, adaptive=rule, unseen_s=900, lag_s=900),
    ]
    short = change == "entries"  # an oversold row names its orders from the Ledger
    base: dict[str, Any] = {
        "parsed": parsed,
        "available": {SKUS[0]: -1 if short else 10},
        "moves": {},
        "channels": specs,
        "guard": OPEN,
        # Google selling fast: Shopify's hold is bounded by what Google may still sell (in flight too).
        "velocity": {(GOOGLE, SKUS[0]): 0.05} if change == "in_flight" else {},
        "in_flight": {},
        "reach": {},
        "entries": (_sale("1001"),),
    }
    changed = dict(base)
    changed[change] = {
        "moves": {(SHOPIFY, SKUS[0]): -2},
        "available": {SKUS[0]: 9},
        "channels": [dataclasses.replace(specs[0], due=False), specs[1]],
        "guard": dataclasses.replace(OPEN, held=True),
        "velocity": {(SHOPIFY, SKUS[0]): 0.01},
        "in_flight": {(GOOGLE, SKUS[0]): 30},
        "reach": {(SHOPIFY, SKUS[0]): 3},
        "entries": (_sale("1001"), _sale("1002")),
    }[change]
    first = plan(**base)
    again = plan(**changed)
    with _forgetting():
        assert again == plan(**changed)
    assert again != first


def test_a_lag_moving_keeps_the_plan_with_tiers_alone_and_plans_again_with_an_adaptive_channel() -> None:
    parsed = parse_rows([RawRow(2, {"sku": SKUS[0], "quantity": "10", "channel:google": "8"})], LAYOUT)
    tiered = [ChannelSpec(GOOGLE, "Google", TIERS, unseen_s=900, lag_s=800)]
    first = plan(parsed, {SKUS[0]: 10}, {}, tiered, OPEN)
    later = [dataclasses.replace(tiered[0], unseen_s=1000, lag_s=900)]  # a lag sample aged out
    assert plan(parsed, {SKUS[0]: 10}, {}, later, OPEN) is first
    rates = {(SHOPIFY, SKUS[0]): 0.002}  # sold on Shopify while Google shows an old figure
    shopify = ChannelSpec(SHOPIFY, "Shopify", TIERS)
    adaptive = [shopify, dataclasses.replace(tiered[0], adaptive=AdaptiveRule())]
    before = plan(parsed, {SKUS[0]: 10}, {}, adaptive, OPEN, rates)
    slower = [shopify, dataclasses.replace(adaptive[1], unseen_s=1800, lag_s=1700)]
    after = plan(parsed, {SKUS[0]: 10}, {}, slower, OPEN, rates)
    assert after.rows[0].decisions[GOOGLE].target < before.rows[0].decisions[GOOGLE].target


def test_a_row_is_remembered_across_turns_unless_a_channel_whose_turn_changed_has_a_figure_to_push() -> None:
    cells = [
        {"sku": SKUS[0], "quantity": "10", "channel:shopify": "9", "channel:google": "9"},  # shown
        {"sku": SKUS[1], "quantity": "10", "channel:shopify": "9", "channel:google": "5"},  # to push
    ]
    parsed = parse_rows([RawRow(n, c) for n, c in enumerate(cells, 2)], LAYOUT)
    stock = {SKUS[0]: 10, SKUS[1]: 10}
    shopify = ChannelSpec(SHOPIFY, "Shopify", TIERS)
    google = ChannelSpec(GOOGLE, "Google", TIERS, due=False)
    before = plan(parsed, stock, {}, [shopify, google], OPEN)
    assert before.pushes(GOOGLE) == []  # not its turn
    turn = plan(parsed, stock, {}, [shopify, replace_due(google)], OPEN)
    assert turn.rows[0] is before.rows[0]  # shows what it should: its plan is the same either way
    assert turn.rows[1] is not before.rows[1]
    assert [(level.sku, level.quantity) for level in turn.pushes(GOOGLE)] == [(SKUS[1], 9)]
    with _forgetting():
        assert turn == plan(parsed, stock, {}, [shopify, replace_due(google)], OPEN)


def replace_due(spec: ChannelSpec) -> ChannelSpec:
    return dataclasses.replace(spec, due=True)


def test_a_channel_not_talked_to_is_neither_capped_nor_set_back() -> None:
    cells = {"sku": SKUS[0], "quantity": "10", "channel:shopify": "9", "channel:google": "8"}
    parsed = parse_rows([RawRow(2, cells)], LAYOUT)
    specs = [ChannelSpec(SHOPIFY, "Shopify", TIERS), ChannelSpec(GOOGLE, "Google", TIERS, due=False)]
    planned = plan(parsed, {SKUS[0]: 10}, {}, specs, OPEN)
    lowered = capped(planned, {SHOPIFY: {SKUS[0]: 4}, GOOGLE: {SKUS[0]: 4}})
    assert [level.quantity for level in lowered.pushes(SHOPIFY)] == [4]
    assert lowered.pushes(GOOGLE) == []
    drift = Finding(FindingKind.DRIFT, 3, "shows 3")
    found = apply_findings(planned, {GOOGLE: {SKUS[0]: drift}, SHOPIFY: {SKUS[0]: drift}})
    assert [level.quantity for level in found.pushes(SHOPIFY)] == [9]
    assert found.pushes(GOOGLE) == []


def test_a_lent_state_goes_to_one_call_at_a_time_and_forget_drops_it() -> None:
    memo: Lent[list[int]] = Lent()
    assert memo.take() is None
    state = [1]
    memo.give(state)
    assert memo.take() is state
    assert memo.take() is None  # taken: a call meanwhile starts afresh
    memo.give([2])
    memo.give(state)
    assert memo.take() is state  # the last given is kept
    assert memo.take() is None
    memo.give(state)
    forget()
    assert memo.take() is None


@given(
    st.lists(st.integers(0, 2), max_size=12),
    st.lists(st.integers(0, 2), max_size=12),
)
def test_shared_is_how_many_items_two_sequences_begin_with_alike(a: list[int], b: list[int]) -> None:
    count = 0
    while count < min(len(a), len(b)) and a[count] == b[count]:
        count += 1
    assert shared(tuple(a), tuple(b)) == count


def test_shared_items_may_be_equal_rather_than_the_very_same() -> None:
    first = LedgerEntry("k", Sku("A"), -1, Movement.SALE, NOW, SHOPIFY)
    assert shared((first, first), (dataclasses.replace(first), first)) == 2
    assert shared((first,), (dataclasses.replace(first, delta=-2),)) == 0
