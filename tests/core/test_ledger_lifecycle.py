"""Order lifecycles in the ledger: edits as corrections, lines that cannot be counted, moved start lines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sheetsync.core.ledger import (
    Routing,
    available,
    channel_moves,
    checkpoint,
    cursor,
    new_entries,
    odd_reason,
    parse_ledger,
    start_cursor,
    start_entry,
)
from sheetsync.model import (
    ChannelName,
    LedgerEntry,
    Movement,
    OddLine,
    OrderLine,
    OrderState,
    RawLedgerRow,
    Sku,
    ledger_cells,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SHOP = ChannelName("shopify")
A = Sku("A")
COUNTS = {(A, ""): 20}


def sale(order: str, line: str, quantity: int, sku: str = "A") -> OrderLine:
    return OrderLine(SHOP, order, line, Sku(sku), quantity, Movement.SALE, NOW, "0001")


def state(order: str, minutes: int = 1, **units: int) -> OrderState:
    return OrderState(SHOP, order, units, NOW + timedelta(minutes=minutes), f"{minutes:04d}")


def rows(entries: list[LedgerEntry]) -> list[RawLedgerRow]:
    return [RawLedgerRow(2 + i, ledger_cells(e)) for i, e in enumerate(entries)]


def cycle(
    ledger: list[LedgerEntry], lines: Sequence[OrderLine] = (), states: Sequence[OrderState] = ()
) -> list[LedgerEntry]:
    """One ingest over the ledger read back as rows (as the worker does); the ledger afterwards."""
    fresh = new_entries(lines, parse_ledger(rows(ledger)), COUNTS, NOW, states=states)
    return [*ledger, *fresh]


def stock(ledger: list[LedgerEntry]) -> int:
    return available(COUNTS, parse_ledger(rows(ledger)).entries)[(A, "")]


def test_an_edit_up_then_down_is_recorded_as_exactly_each_difference_once() -> None:
    ledger = cycle([], [sale("1", "L1", 2)], [state("1", 0, L1=2)])
    assert stock(ledger) == 18
    ledger = cycle(ledger, states=[state("1", 1, L1=5)])  # edited 2 -> 5
    edit = ledger[-1]
    assert (edit.key, edit.delta, edit.movement, edit.order_id, edit.line_id) == (
        "shopify/1/L1/edit1",
        -3,
        Movement.EDIT,
        "1",
        "L1",
    )
    assert stock(ledger) == 15
    assert cycle(ledger, states=[state("1", 1, L1=5)]) == ledger  # the same state read again
    ledger = cycle(ledger, states=[state("1", 2, L1=2)])  # and back to 2: a second correction
    assert [e.key for e in ledger[-1:]] == ["shopify/1/L1/edit2"]
    assert stock(ledger) == 18


def test_a_removed_line_gives_its_units_back_and_an_added_line_is_a_sale() -> None:
    ledger = cycle([], [sale("1", "L1", 6), sale("1", "L2", 1)], [state("1", 0, L1=6, L2=1)])
    assert stock(ledger) == 13
    # WooCommerce deletes an edited-out line (L2 missing), Shopify sets it to 0 (L1 here), L3 added
    ledger = cycle(ledger, [sale("1", "L3", 4)], [state("1", 1, L1=0, L3=4)])
    assert stock(ledger) == 16
    assert sorted((e.line_id, e.delta) for e in ledger if e.movement is Movement.EDIT) == [
        ("L1", 6),
        ("L2", 1),
    ]


def test_a_line_never_sold_in_the_ledger_is_left_alone() -> None:
    # placed before the start line, or its sale not read yet: nothing to correct
    assert cycle([], states=[state("9", 1, L1=3)]) == []


def test_two_copies_of_a_state_in_one_batch_correct_once() -> None:
    ledger = cycle([], [sale("1", "L1", 2)])
    ledger = cycle(ledger, states=[state("1", 1, L1=4), state("1", 1, L1=4)])
    assert [(e.key, e.delta) for e in ledger if e.movement is Movement.EDIT] == [("shopify/1/L1/edit1", -2)]


def test_an_edit_moves_the_channel_itself_and_a_bundle_edit_moves_its_components() -> None:
    routing = Routing(parts={Sku("KIT"): {A: 2}})
    first = new_entries([sale("1", "L1", 1, "KIT")], parse_ledger([]), {}, NOW, routing)
    fresh = new_entries([], parse_ledger(rows(first)), {}, NOW, routing, states=[state("1", 1, L1=3)])
    assert [(e.key, e.sku, e.delta, e.movement) for e in fresh] == [
        ("shopify/1/L1/edit1", "KIT", -2, Movement.EDIT),
        ("shopify/1/L1/edit1/A", "A", -4, Movement.BUNDLE),
    ]
    ledger = parse_ledger(rows([*first, *fresh]))
    assert channel_moves(ledger, [], 0) == {(SHOP, Sku("KIT")): -3}


@given(st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=8))
def test_whatever_the_edits_the_ledger_holds_what_the_line_takes_now(history: list[int]) -> None:
    ledger = cycle([], [sale("1", "L1", 3)])
    for minute, units in enumerate(history, start=1):
        ledger = cycle(ledger, states=[state("1", minute, L1=units)])
        ledger = cycle(ledger, states=[state("1", minute, L1=units)])  # a re-read changes nothing
        assert stock(ledger) == 20 - units
    assert len({e.key for e in ledger}) == len(ledger)


def test_a_line_that_cannot_be_counted_is_named_once_and_moves_nothing() -> None:
    odd = OddLine(SHOP, "7", "L1", A, "1.5", NOW, "0003")
    first = new_entries([], parse_ledger([]), COUNTS, NOW, odd=[odd])
    assert [(e.key, e.delta, e.movement, e.order_id) for e in first] == [
        ("shopify/7/L1/check", 0, Movement.CHECK, "7")
    ]
    assert "1.5" in first[0].note
    assert "not counted" in first[0].note
    ledger = parse_ledger(rows(first))
    assert new_entries([], ledger, COUNTS, NOW, odd=[odd]) == []  # read again: not named twice
    assert available(COUNTS, ledger.entries) == {(A, ""): 20}
    zero = new_entries([sale("8", "L1", 0)], parse_ledger([]), COUNTS, NOW)
    assert [(e.key, e.note) for e in zero] == [("shopify/8/L1/check", odd_reason("0"))]
    assert odd_reason("-2").startswith("quantity -2 is not a sale of at least 1 unit")
    assert odd_reason("ten").startswith('quantity "ten" is not a whole number')


def test_a_start_line_moved_back_is_read_again_from_its_own_cursor() -> None:
    first = start_entry(SHOP, NOW, start_cursor(NOW))
    sold = LedgerEntry("shopify/1/1", A, -1, Movement.SALE, NOW, SHOP, "1", "1", f"{start_cursor(NOW)}9")
    assert cursor([first, sold], SHOP) == f"{start_cursor(NOW)}9"
    earlier = NOW - timedelta(hours=2)
    moved = start_entry(SHOP, earlier, start_cursor(earlier), moved=True)
    assert cursor([first, sold, moved], SHOP) == start_cursor(earlier)


def test_a_checkpoint_folds_the_old_rows_into_rows_that_count_the_same() -> None:
    old, young = NOW - timedelta(days=40), NOW - timedelta(days=1)
    start = start_entry(SHOP, old - timedelta(days=1), start_cursor(old - timedelta(days=1)))

    def line(n: int, at: datetime, delta: int, movement: Movement = Movement.SALE) -> LedgerEntry:
        return LedgerEntry(
            f"shopify/{n}/1", A, delta, movement, at, SHOP, str(n), "1", f"{at:%Y-%m-%dT%H:%M:%SZ}#{n:020d}"
        )

    ledger = [
        start,
        LedgerEntry("count/A/1", A, 20, Movement.COUNT, old),
        *(line(n, old + timedelta(minutes=n), -1) for n in range(6)),
        LedgerEntry("", Sku("B"), 4, Movement.ADJUST, old),  # typed by the merchant: no key
        line(7, young, -2),
        line(8, young + timedelta(minutes=1), 1, Movement.RESTOCK),
    ]
    parsed = parse_ledger(rows(ledger))
    assert checkpoint(parsed, NOW, fold_at=10) is None  # only 9 rows are old enough

    made = checkpoint(parsed, NOW, fold_at=9)

    assert made is not None
    assert made.folded == 9
    after = parse_ledger(rows([*made.entries, *ledger[9:]]))
    counts = {(A, ""): 20, (Sku("B"), ""): 0}
    assert (
        available(counts, after.entries)
        == available(counts, parsed.entries)
        == {(A, ""): 13, (Sku("B"), ""): 4}
    )
    assert cursor(after.entries, SHOP) == cursor(parsed.entries, SHOP)
    assert [e.key for e in made.entries if e.movement is Movement.START] == [start.key]
    assert after.fold is not None
    assert (after.fold.folded, after.fold.written) == (9, len(made.entries))
    # a recount is noticed the same way after the checkpoint
    assert [e.delta for e in new_entries([], after, {(A, ""): 12}, NOW)] == [12]
    # the worker's count of applied rows from before the checkpoint maps onto the rows of now
    assert after.applied(len(ledger), "") == len(made.entries) + 2
    assert after.applied(len(made.entries) + 2, after.fold.key) == len(made.entries) + 2


def test_an_unreadable_row_is_never_folded() -> None:
    old = NOW - timedelta(days=40)
    ledger = rows([LedgerEntry(f"count/A/{n}", A, 20, Movement.COUNT, old) for n in range(4)])
    ledger[2] = RawLedgerRow(4, {"key": "x", "sku": "A", "delta": "lots"})
    made = checkpoint(parse_ledger(ledger), NOW, fold_at=1)
    assert made is not None
    assert made.folded == 2


_MOVES = st.sampled_from([Movement.SALE, Movement.RESTOCK, Movement.ADJUST, Movement.EDIT, Movement.COUNT])


@given(
    st.lists(
        st.tuples(_MOVES, st.sampled_from(["A", "B"]), st.integers(-5, 30), st.integers(0, 80)),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([None, {(A, ""): 7}, {(A, ""): 20, (Sku("B"), ""): 3}]),
)
def test_after_any_checkpoint_the_ledger_counts_exactly_as_before(
    moves: list[tuple[Movement, str, int, int]], counts: dict[tuple[Sku, str], int] | None
) -> None:
    """Old rows (days ago, in order) then young ones: the fold changes no figure the worker uses."""
    ledger: list[LedgerEntry] = [
        start_entry(SHOP, NOW - timedelta(days=90), start_cursor(NOW - timedelta(days=90)))
    ]
    for n, (movement, sku, delta, days) in enumerate(sorted(moves, key=lambda m: -m[3])):
        at = NOW - timedelta(days=days, minutes=len(moves) - n)
        channel = SHOP if movement in (Movement.SALE, Movement.RESTOCK, Movement.EDIT) else None
        ledger.append(
            LedgerEntry(
                f"k{n}",
                Sku(sku),
                delta,
                movement,
                at,
                channel,
                str(n),
                "1",
                f"{at:%Y-%m-%dT%H:%M:%SZ}#{n:020d}",
            )
        )
    before = parse_ledger(rows(ledger))
    made = checkpoint(before, NOW, fold_at=1)
    if made is None:
        return
    after = parse_ledger(rows([*made.entries, *ledger[made.folded :]]))
    typed = counts or {(A, ""): 0, (Sku("B"), ""): 0}
    assert available(typed, after.entries) == available(typed, before.entries)
    assert cursor(after.entries, SHOP) == cursor(before.entries, SHOP)
    recount = {place: count + 1 for place, count in typed.items()}
    for now_counts in (typed, recount):
        made_before = [
            (e.sku, e.delta) for e in new_entries([], before, now_counts, NOW) if e.movement is Movement.COUNT
        ]
        made_after = [
            (e.sku, e.delta) for e in new_entries([], after, now_counts, NOW) if e.movement is Movement.COUNT
        ]
        assert made_after == made_before


def test_a_ledger_shorter_than_the_fold_threshold_is_not_folded_however_old() -> None:
    old = NOW - timedelta(days=400)
    parsed = parse_ledger(
        rows([LedgerEntry(f"count/A/{n}", A, 20 + n, Movement.COUNT, old) for n in range(4)])
    )
    assert checkpoint(parsed, NOW, fold_at=5) is None
    made = checkpoint(parsed, NOW, fold_at=4)
    assert made is not None
    assert made.folded == 4
    assert [(e.sku, e.delta, e.movement) for e in made.entries[:1]] == [(A, 23, Movement.COUNT)]
