"""The ledger: exactly-once ingestion, recounts, cursors and available stock."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sheetsync.core.ledger as ledger_module
from sheetsync.core.ledger import (
    POOLED_WINDOW_S,
    SHARE_WINDOW_S,
    START_NOTE,
    VELOCITY_WINDOWS_S,
    RecentSales,
    Routing,
    after_start,
    available,
    channel_moves,
    cursor,
    new_entries,
    parse_ledger,
    recent_sales,
    start_cursor,
    start_entry,
    start_key,
    starts,
)
from sheetsync.core.memo import forget
from sheetsync.model import (
    ChannelName,
    LedgerEntry,
    Movement,
    OrderLine,
    RawLedgerRow,
    Sku,
    ledger_cells,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
K = TypeVar("K")
SHOP = ChannelName("shopify")


def sale(order: str, sku: str = "A", quantity: int = 1, cursor: str = "0001", line: str = "1") -> OrderLine:
    return OrderLine(SHOP, order, line, Sku(sku), quantity, Movement.SALE, NOW, cursor)


def as_rows(entries: list[LedgerEntry], first_row: int = 2) -> list[RawLedgerRow]:
    return [RawLedgerRow(first_row + i, ledger_cells(e)) for i, e in enumerate(entries)]


def test_an_order_line_is_counted_once_however_often_it_is_delivered() -> None:
    ledger = parse_ledger([])
    first = new_entries([sale("1"), sale("1"), sale("2")], ledger, {(Sku("A"), ""): 10}, NOW)
    again = new_entries(
        [sale("1"), sale("2"), sale("3")],
        parse_ledger(as_rows(first)),
        {(Sku("A"), ""): 10},
        NOW,
    )
    assert [e.key for e in again] == ["shopify/3/1"]
    assert available({(Sku("A"), ""): 10}, [*first, *again]) == {("A", ""): 7}


def test_first_movement_of_a_sku_records_the_count_it_is_subtracted_from() -> None:
    entries = new_entries([sale("1", quantity=2)], parse_ledger([]), {(Sku("A"), ""): 10}, NOW)
    assert [(e.movement, e.delta) for e in entries] == [
        (Movement.COUNT, 10),
        (Movement.SALE, -2),
    ]


def test_a_recount_starts_the_running_total_again() -> None:
    entries = new_entries([sale("1", quantity=3)], parse_ledger([]), {(Sku("A"), ""): 10}, NOW)
    ledger = parse_ledger(as_rows(entries))
    assert available({(Sku("A"), ""): 10}, ledger.entries) == {("A", ""): 7}
    # The merchant counts the shelf and types 6: the 3 sold are already off the shelf.
    later = NOW + timedelta(hours=1)
    recount = new_entries([], ledger, {(Sku("A"), ""): 6}, later)
    assert [(e.movement, e.delta) for e in recount] == [(Movement.COUNT, 6)]
    assert available({(Sku("A"), ""): 6}, [*ledger.entries, *recount]) == {("A", ""): 6}


def test_the_same_counts_and_ledger_answer_as_before_and_a_changed_count_or_a_sale_is_seen() -> None:
    entries = new_entries([sale("1", quantity=3)], parse_ledger([]), {(Sku("A"), ""): 10}, NOW)
    ledger = parse_ledger(as_rows(entries))
    counts = {(Sku("A"), ""): 10, (Sku("B"), ""): 4}
    first = available(counts, ledger.entries)
    assert available(counts, ledger.entries) is first  # a quiet cycle's: the very same answer
    assert first == {("A", ""): 7, ("B", ""): 4}
    later = NOW + timedelta(hours=1)
    assert new_entries([], ledger, counts, later) == []
    assert new_entries([], ledger, counts, later) == []  # as before
    recount = new_entries([], ledger, {**counts, (Sku("A"), ""): 6}, later)  # typed on the shelf
    assert [(e.sku, e.movement, e.delta) for e in recount] == [("A", Movement.COUNT, 6)]
    sold = new_entries([sale("2", sku="B")], ledger, counts, later)  # B's first movement
    assert [(e.sku, e.movement, e.delta) for e in sold] == [
        ("B", Movement.COUNT, 4),
        ("B", Movement.SALE, -1),
    ]
    assert available({**counts, (Sku("A"), ""): 6}, ledger.entries)[(Sku("A"), "")] == 3
    assert available(counts, [*ledger.entries, *sold]) == {("A", ""): 7, ("B", ""): 3}


def test_no_count_entry_when_nothing_has_moved() -> None:
    assert new_entries([], parse_ledger([]), {(Sku("A"), ""): 10, (Sku("B"), ""): 1}, NOW) == []


def test_a_changed_count_without_movements_since_needs_no_entry() -> None:
    entries = new_entries([sale("1")], parse_ledger([]), {(Sku("A"), ""): 10}, NOW)
    restock = new_entries([], parse_ledger(as_rows(entries)), {(Sku("A"), ""): 10}, NOW)
    assert restock == []


def test_cancellation_restocks_once() -> None:
    cancel = OrderLine(SHOP, "1", "1-cancel", Sku("A"), 1, Movement.RESTOCK, NOW, "0002")
    entries = new_entries([sale("1"), cancel, cancel], parse_ledger([]), {(Sku("A"), ""): 5}, NOW)
    assert available({(Sku("A"), ""): 5}, entries) == {("A", ""): 5}
    assert [e.delta for e in entries] == [5, -1, 1]


def test_cursor_is_the_newest_recorded_for_the_channel() -> None:
    entries = new_entries([sale("1", cursor="0005"), sale("2", cursor="0009")], parse_ledger([]), {}, NOW)
    assert cursor(entries, SHOP) == "0009"
    assert cursor(entries, ChannelName("google")) is None


def test_manual_adjustments_and_bad_rows() -> None:
    rows = [
        RawLedgerRow(2, {"sku": "A", "delta": "-2", "note": "broken in transit"}),
        RawLedgerRow(
            3,
            {
                "key": "shopify/9/1",
                "sku": "A",
                "delta": "lots",
                "movement": "SALE",
                "at": "x",
            },
        ),
        RawLedgerRow(4, {"key": "", "sku": "", "delta": "1"}),
        RawLedgerRow(5, {"key": "", "sku": "B", "delta": "1", "movement": "GIFT"}),
    ]
    ledger = parse_ledger(rows)
    assert [(e.key, e.movement, e.delta) for e in ledger.entries] == [("manual/row2", Movement.ADJUST, -2)]
    assert ledger.problems == (
        'Ledger row 3: Delta "lots" is not a whole number; the row is not counted',
        "Ledger row 4: SKU is blank; the row is not counted",
        'Ledger row 5: Movement "GIFT" is not one of SALE, RESTOCK, ADJUST, COUNT, BUNDLE, START, EDIT, '
        "CHECK, CARRY; the row is not counted",
    )
    # A garbled order row is never appended a second time; the first count covers the adjustment.
    fresh = new_entries([sale("9")], ledger, {(Sku("A"), ""): 4}, NOW)
    assert [(e.movement, e.delta) for e in fresh] == [(Movement.COUNT, 4)]
    assert available({(Sku("A"), ""): 4}, [*ledger.entries, *fresh]) == {("A", ""): 2}


def test_sales_recorded_while_the_cell_was_broken_still_count_until_a_recount() -> None:
    blind = new_entries([sale("1"), sale("2")], parse_ledger([]), {}, NOW)  # Quantity unreadable
    assert [e.movement for e in blind] == [Movement.SALE, Movement.SALE]
    first = new_entries([], parse_ledger(as_rows(blind)), {(Sku("A"), ""): 10}, NOW)  # merchant fixes it
    ledger = parse_ledger(as_rows([*blind, *first]))
    assert available({(Sku("A"), ""): 10}, ledger.entries) == {("A", ""): 8}
    recount = new_entries([], ledger, {(Sku("A"), ""): 7}, NOW)  # a shelf count, no sale since
    assert [(e.movement, e.delta) for e in recount] == [(Movement.COUNT, 7)]
    assert available({(Sku("A"), ""): 7}, [*ledger.entries, *recount]) == {("A", ""): 7}


def test_channel_moves_counts_only_rows_since_the_last_write() -> None:
    entries = new_entries([sale("1"), sale("2")], parse_ledger([]), {(Sku("A"), ""): 9}, NOW)
    ledger = parse_ledger(as_rows(entries))
    fresh = new_entries([sale("3")], ledger, {(Sku("A"), ""): 9}, NOW)
    assert channel_moves(ledger, fresh, since=ledger.size) == {(SHOP, "A"): -1}
    assert channel_moves(ledger, fresh, since=0) == {(SHOP, "A"): -3}


deliveries = st.lists(
    st.tuples(st.integers(1, 8), st.integers(1, 3), st.sampled_from(["A", "B"])),
    max_size=30,
)


@given(deliveries, st.randoms(use_true_random=False))
def test_replaying_any_redelivery_order_gives_the_same_stock(
    batch: list[tuple[int, int, str]], rng: random.Random
) -> None:
    lines = [sale(str(order), sku, quantity) for order, quantity, sku in batch]
    counts = {(Sku("A"), ""): 50, (Sku("B"), ""): 50}
    once = new_entries(lines, parse_ledger([]), counts, NOW)
    # Deliver everything again, shuffled, on top of what was recorded: nothing changes.
    shuffled = list(lines)
    rng.shuffle(shuffled)
    twice = new_entries(shuffled, parse_ledger(as_rows(once)), counts, NOW)
    assert twice == []
    first_by_key: dict[int, tuple[int, str]] = {}
    for order, quantity, sku in batch:
        first_by_key.setdefault(order, (quantity, sku))
    expected = {(s, ""): 50 - sum(q for q, k in first_by_key.values() if k == s) for s in ("A", "B")}
    assert available(counts, once) == expected


def test_a_repeated_key_counts_once_and_a_worker_row_needs_a_time() -> None:
    (entry,) = new_entries([sale("1", quantity=2)], parse_ledger([]), {}, NOW)
    pasted_twice = as_rows([entry, entry])
    assert [e.delta for e in parse_ledger(pasted_twice).entries] == [-2]
    garbled = RawLedgerRow(2, {**ledger_cells(entry), "at": "yesterday"})
    assert parse_ledger([garbled]).problems == (
        'Ledger row 2: Time "yesterday" is not a UTC time like 2026-11-24T09:30:00Z; the row is not counted',
    )


def test_sales_velocity_takes_the_faster_of_the_recent_windows() -> None:
    def entry(
        key: str, sku: str, delta: int, minutes_ago: float, movement: Movement = Movement.SALE
    ) -> LedgerEntry:
        return LedgerEntry(key, Sku(sku), delta, movement, NOW - timedelta(minutes=minutes_ago), SHOP)

    entries = [
        entry("1", "A", -3, 10),  # a rush in the last 15 minutes
        entry("2", "A", -1, 40),
        entry("3", "B", -6, 50),  # a rush earlier in the hour, quiet since
        entry("4", "B", 2, 1, Movement.RESTOCK),  # restocks are not sales
        entry("5", "C", -9, 61),  # older than the hour: only its share of the day counts
        entry("6", "D", -1, -5),  # stamped in the future: ignored
    ]
    velocity = recent_sales(entries, NOW).velocity
    assert velocity[(SHOP, Sku("A"))] == 3 / 900
    assert velocity[(SHOP, Sku("B"))] == 6 / 3600
    assert (SHOP, Sku("D")) not in velocity


def test_largest_orders_are_each_channels_biggest_sale_line_of_the_last_day() -> None:
    meta = ChannelName("facebook")

    def line(
        key: str, channel: ChannelName | None, delta: int, hours_ago: float, movement: Movement
    ) -> LedgerEntry:
        return LedgerEntry(key, Sku("A"), delta, movement, NOW - timedelta(hours=hours_ago), channel)

    entries = [
        line("1", SHOP, -2, 1, Movement.SALE),
        line("2", SHOP, -3, 23, Movement.SALE),
        line("3", SHOP, -9, 25, Movement.SALE),  # older than a day
        line("4", SHOP, 7, 1, Movement.RESTOCK),  # not an order
        line("5", meta, -1, 2, Movement.SALE),
        line("6", None, -12, 1, Movement.SALE),  # typed by hand: no channel's order
        line("7", meta, -5, -1, Movement.SALE),  # stamped in the future
    ]
    assert recent_sales(entries, NOW).largest == {SHOP: 3, meta: 1}


def test_a_shop_wide_rush_raises_each_sku_by_its_share_before_the_sku_shows_it() -> None:
    def sold(key: str, sku: str, minutes_ago: float) -> LedgerEntry:
        return LedgerEntry(key, Sku(sku), -1, Movement.SALE, NOW - timedelta(minutes=minutes_ago), SHOP)

    quiet_hour = [sold(f"a{i}", "A", 10 + 10 * i) for i in range(4)] + [sold("b", "B", 30)]
    rush = [sold(f"c{i}", "C", 1) for i in range(20)]  # 20 sales of another SKU in the last minute
    velocity = recent_sales([*quiet_hour, *rush], NOW).velocity
    assert velocity[(SHOP, Sku("A"))] == pytest.approx(4 / 25 * 20 / 300)  # its share x the shop's rate
    assert velocity[(SHOP, Sku("C"))] == pytest.approx(20 / 25 * 20 / 300)


def test_hand_typed_sales_that_add_up_to_no_units_give_no_shared_rate() -> None:
    # A SALE typed by hand with 0 units (or +1 and -1) is read: the day's sales add up to nothing.
    at = NOW - timedelta(minutes=5)
    zero = [LedgerEntry("1", Sku("A"), 0, Movement.SALE, at, SHOP)]
    assert recent_sales(zero, NOW).velocity == {(SHOP, Sku("A")): 0.0}
    netted = [*zero, LedgerEntry("2", Sku("B"), 1, Movement.SALE, at, SHOP)]
    netted.append(LedgerEntry("3", Sku("B"), -1, Movement.SALE, at, SHOP))
    assert recent_sales(netted, NOW).velocity[(SHOP, Sku("B"))] == 0.0


# What ``recent_sales`` must give: two whole passes over the Ledger, as it was worked out before
# it was kept from call to call.
def reference_velocity(
    entries: Sequence[LedgerEntry], now: datetime, windows: Sequence[float] = VELOCITY_WINDOWS_S
) -> dict[tuple[ChannelName, Sku], float]:
    longest = max(*windows, SHARE_WINDOW_S)
    sold: dict[tuple[ChannelName, Sku], list[tuple[float, int]]] = defaultdict(list)
    recent = 0
    for entry in entries:
        if entry.movement is Movement.SALE and entry.channel is not None:
            age = (now - entry.at).total_seconds()
            if 0 <= age <= longest:
                sold[(entry.channel, entry.sku)].append((age, -entry.delta))
                recent += -entry.delta if age <= POOLED_WINDOW_S else 0
    total = sum(units for sales in sold.values() for _, units in sales)
    shop_rate = recent / POOLED_WINDOW_S if total > 0 else 0.0  # hand-typed sales of no units in all
    velocity = {}
    for key, sales in sold.items():
        own = max(sum(units for age, units in sales if age <= window) / window for window in windows)
        share = sum(units for _, units in sales) / max(total, 1)
        velocity[key] = max(own, share * shop_rate)
    return velocity


def reference_largest(entries: Sequence[LedgerEntry], now: datetime) -> dict[ChannelName, int]:
    since = now - timedelta(seconds=SHARE_WINDOW_S)
    largest: dict[ChannelName, int] = {}
    for entry in entries:
        if entry.movement is Movement.SALE and entry.channel is not None and since <= entry.at <= now:
            largest[entry.channel] = max(largest.get(entry.channel, 1), -entry.delta)
    return largest


def bits(figures: Mapping[K, float] | Mapping[K, int]) -> list[tuple[K, str | int]]:
    """The figures in order, each to the bit."""
    return [(key, value.hex() if isinstance(value, float) else value) for key, value in figures.items()]


def check_recent_sales(
    entries: Sequence[LedgerEntry], now: datetime, windows: Sequence[float] = VELOCITY_WINDOWS_S
) -> None:
    expected = bits(reference_velocity(entries, now, windows)), bits(reference_largest(entries, now))
    sales = recent_sales(entries, now, windows)
    assert (bits(sales.velocity), bits(sales.largest)) == expected


# Ages at and a microsecond around each window's edge, in the future, and a hand-typed row's no time.
EDGES = [0, 300, 900, 3600, 86_400]
AGES = st.one_of(
    st.sampled_from([s + d for s in EDGES for d in (-1e-6, 0, 1e-6)]),
    st.floats(-600, 90_000),
    st.just(float("inf")),
)


@st.composite
def sale_entries(draw: st.DrawFn, n: int) -> LedgerEntry:
    age = draw(AGES)
    at = datetime.min.replace(tzinfo=UTC) if age == float("inf") else NOW - timedelta(seconds=age)
    return LedgerEntry(
        f"k{n}",
        Sku(draw(st.sampled_from("ABC"))),
        draw(st.integers(-4, 1)),  # a hand-typed SALE may take 0 units or put one back
        draw(st.sampled_from([Movement.SALE, Movement.SALE, Movement.SALE, Movement.RESTOCK])),
        at,
        draw(st.sampled_from([SHOP, ChannelName("facebook"), None])),
    )


#: A change to the Ledger between two cycles: rows at the end replaced by (parsed) others, and
#: rows appended; or all of it replaced, as a checkpoint does.
changes = st.tuples(st.integers(0, 3), st.integers(0, 6), st.booleans(), st.floats(-60, 4000))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), size=st.integers(0, 25), steps=st.lists(changes, max_size=6))
def test_recent_sales_cycle_after_cycle_are_a_whole_pass_to_the_bit(
    data: st.DataObject, size: int, steps: list[tuple[int, int, bool, float]]
) -> None:
    count = iter(range(1_000))
    entries = [data.draw(sale_entries(next(count))) for _ in range(size)]
    now = NOW
    check_recent_sales(entries, now)
    for dropped, added, replaced, later in steps:
        kept = [] if replaced else entries[: max(len(entries) - dropped, 0)]
        entries = [*kept, *(data.draw(sale_entries(next(count))) for _ in range(added))]
        now += timedelta(seconds=later)  # on, or back a little
        check_recent_sales(entries, now)


def test_recent_sales_go_on_from_the_last_call_and_start_afresh_when_the_ledger_was_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kept: list[int] = []
    update = ledger_module._Sales.update

    def spy(
        self: ledger_module._Sales, entries: tuple[LedgerEntry, ...], shared: int, now: datetime
    ) -> RecentSales:
        kept.append(shared)
        return update(self, entries, shared, now)

    monkeypatch.setattr(ledger_module._Sales, "update", spy)

    def sold(key: str, sku: str, minutes_ago: float, units: int = 1) -> LedgerEntry:
        return LedgerEntry(key, Sku(sku), -units, Movement.SALE, NOW - timedelta(minutes=minutes_ago), SHOP)

    day = [sold(f"d{i}", "AB"[i % 2], 20 * i + 5, i % 3 + 1) for i in range(60)]
    fresh = sold("fresh", "A", 0.5, 4)  # appended this cycle, with its microseconds
    later = NOW + timedelta(minutes=10)
    forget()
    for entries, at in [
        (day, NOW),
        ((*day, fresh), NOW),  # grown at the end
        ((*day, sold("fresh", "A", 0), sold("new", "C", -1)), later),  # the last one as parsed, and one more
        (day[40:], later),  # folded: most of it is gone
    ]:
        check_recent_sales(entries, at)
    assert kept == [0, 60, 60, 0]
    assert recent_sales(day, NOW, (60.0,)) == recent_sales(day, NOW, (60.0,))
    assert kept[-2:] == [0, 60]  # other windows: worked out afresh, then on from there


def test_with_locations_a_blank_location_is_the_first_and_an_unknown_one_is_a_problem() -> None:
    rows = [
        RawLedgerRow(2, {"sku": "A", "delta": "-1"}),
        RawLedgerRow(3, {"sku": "A", "delta": "-2", "location": "warehouse"}),
        RawLedgerRow(4, {"sku": "A", "delta": "-3", "location": "Attic"}),
    ]
    ledger = parse_ledger(rows, ("Shop", "Warehouse"))
    assert [(e.delta, e.location) for e in ledger.entries] == [(-1, "Shop"), (-2, "Warehouse")]
    assert ledger.problems == (
        'Ledger row 4: Location "Attic" is not one of Shop, Warehouse; the row is not counted',
    )
    counts = {(Sku("A"), "Shop"): 5, (Sku("A"), "Warehouse"): 5}
    assert available(counts, ledger.entries) == {("A", "Shop"): 4, ("A", "Warehouse"): 3}


def test_a_bundle_line_is_recorded_on_the_bundle_and_its_components_each_once() -> None:
    routing = Routing({SHOP: ("Warehouse", "Shop")}, {Sku("KIT"): {Sku("CUP"): 2, Sku("LID"): 1}})
    stock = {(Sku("CUP"), "Warehouse"): 1, (Sku("CUP"), "Shop"): 9, (Sku("LID"), "Warehouse"): 5}
    line = sale("7", "KIT", quantity=2)
    entries = new_entries([line, sale("8", "A", quantity=0)], parse_ledger([]), {}, NOW, routing, stock)
    assert [(e.key, e.sku, e.delta, e.movement, e.location) for e in entries] == [
        ("shopify/7/1", "KIT", -2, Movement.SALE, ""),
        ("shopify/7/1/CUP", "CUP", -4, Movement.BUNDLE, "Shop"),  # the Warehouse has 1, not 4
        ("shopify/7/1/LID", "LID", -2, Movement.BUNDLE, "Warehouse"),
        ("shopify/8/1/check", "A", 0, Movement.CHECK, ""),  # a 0-unit line is named, not dropped
    ]
    # An append cut short after the first two rows: the retry adds only what is missing.
    partial = parse_ledger(as_rows(entries[:2]))
    assert [e.key for e in new_entries([line], partial, {}, NOW, routing, stock)] == ["shopify/7/1/LID"]
    # A cancellation puts the units back at the first location.
    cancel = OrderLine(SHOP, "7", "c1", Sku("KIT"), 1, Movement.RESTOCK, NOW, "0002")
    back = new_entries([cancel], parse_ledger(as_rows(entries)), {}, NOW, routing, stock)
    assert [(e.sku, e.delta, e.location) for e in back] == [
        ("KIT", 1, ""),
        ("CUP", 2, "Warehouse"),
        ("LID", 1, "Warehouse"),
    ]


def test_two_recounts_in_one_second_are_two_entries_and_the_later_one_counts() -> None:
    first = new_entries([sale("1")], parse_ledger([]), {(Sku("A"), ""): 10}, NOW)
    ledger = parse_ledger(as_rows(first))
    recount = new_entries([sale("2")], ledger, {(Sku("A"), ""): 6}, NOW)
    ledger = parse_ledger(as_rows([*first, *recount]))
    again = new_entries([sale("3")], ledger, {(Sku("A"), ""): 4}, NOW)  # the same second
    counts = [e for e in [*recount, *again] if e.movement is Movement.COUNT]
    assert [e.delta for e in counts] == [6, 4]
    assert len({e.key for e in counts}) == 2
    everything = parse_ledger(as_rows([*first, *recount, *again])).entries
    assert available({(Sku("A"), ""): 4}, everything) == {("A", ""): 3}  # 4 counted, then 1 sold


def test_a_start_cursor_sorts_between_the_orders_updated_before_and_at_or_after_its_second() -> None:
    from sheetsync.channels import shopify, woocommerce

    start = start_cursor(datetime(2026, 3, 1, 10, 0, 0, 999_000, tzinfo=UTC))
    assert start == "2026-03-01T10:00:00Z#00000000000000000000"
    for adapter in (shopify, woocommerce):
        before = adapter.order_cursor(datetime(2026, 3, 1, 9, 59, 59, tzinfo=UTC), "99999")
        same_second = adapter.order_cursor(datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC), "1")
        later = adapter.order_cursor(datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC), "1")
        assert before < start < same_second < later
        assert len(start) == len(later)  # the same format: "#" and a 20-digit id


def test_a_start_line_reads_back_as_written_moves_no_stock_and_sets_the_cursor() -> None:
    start = start_entry(SHOP, NOW.replace(microsecond=500), start_cursor(NOW))
    assert (start.key, start.movement, start.delta, start.sku, start.at) == (
        "start:shopify",
        Movement.START,
        0,
        "",
        NOW,
    )
    row = ledger_cells(start)
    assert (row["movement"], row["channel"], row["note"]) == ("START", "shopify", START_NOTE)
    parsed = parse_ledger(as_rows([start]))
    assert parsed.entries == (start,)
    assert not parsed.problems
    assert cursor(parsed.entries, SHOP) == start_cursor(NOW)
    assert starts(parsed.entries) == {SHOP: NOW}
    count = LedgerEntry("count/A", Sku("A"), 5, Movement.COUNT, NOW)
    assert available({(Sku("A"), ""): 5}, [count, start]) == {(Sku("A"), ""): 5}
    # the start line is no sale: no COUNT entry is needed for it, and later sales still get one
    assert new_entries([], parsed, {(Sku("A"), ""): 5}, NOW) == []
    assert start_key(SHOP) in parsed.keys


def test_a_start_row_needs_its_channel_and_a_later_typed_one_moves_the_start() -> None:
    rows = [
        RawLedgerRow(
            2, {"key": "start:x", "sku": "", "delta": "0", "movement": "START", "at": "2026-11-27T09:00:00Z"}
        ),
        RawLedgerRow(3, {"key": "", "sku": "", "delta": "0", "movement": "start", "channel": "shopify"}),
        RawLedgerRow(
            4,
            {
                "sku": "",
                "delta": "0",
                "movement": "start",
                "channel": "shopify",
                "at": "2026-11-20T08:00:00Z",
            },
        ),
    ]
    parsed = parse_ledger(rows)
    assert parsed.problems == (
        "Ledger row 2: a START row needs the Channel it starts; the row is not counted",
        "Ledger row 3: a START row needs its Time, like 2026-11-24T09:30:00Z; the row is not counted",
    )
    first = start_entry(SHOP, NOW, "")
    later = start_entry(SHOP, NOW + timedelta(days=1), "", moved=True)
    assert later.key != first.key  # a move is recorded once, beside the first start line
    assert starts([first, later]) == {SHOP: NOW + timedelta(days=1)}
    # the last start line wins, even one moved back in time (typed by hand here)
    assert starts([first, later, *parsed.entries]) == {SHOP: datetime(2026, 11, 20, 8, tzinfo=UTC)}


def test_orders_placed_before_the_start_line_are_not_counted_nor_their_refunds() -> None:
    woo = ChannelName("woo")
    early, late = NOW - timedelta(minutes=1), NOW + timedelta(minutes=1)

    def line(order: str, movement: Movement, at: datetime, channel: ChannelName = SHOP) -> OrderLine:
        return OrderLine(channel, order, movement.value, Sku("A"), 1, movement, at, "c")

    lines = [
        line("old", Movement.SALE, early),
        line("old", Movement.RESTOCK, late),  # refunded after the start: it goes with its order
        line("new", Movement.SALE, NOW),  # at the start line itself: counted
        line("new", Movement.RESTOCK, late),
        line("recorded", Movement.RESTOCK, late),  # its sale is in the ledger
        line("unknown", Movement.RESTOCK, late),  # a refund of an order never recorded
        line("old", Movement.SALE, early, woo),  # no start line on woo: as before
        line("unknown", Movement.RESTOCK, late, woo),
    ]
    recorded = LedgerEntry("shopify/recorded/SALE", Sku("A"), -1, Movement.SALE, late, SHOP, "recorded")
    kept = after_start(lines, [recorded], {SHOP: NOW})
    assert [(x.channel, x.order_id, x.movement) for x in kept] == [
        (SHOP, "new", Movement.SALE),
        (SHOP, "new", Movement.RESTOCK),
        (SHOP, "recorded", Movement.RESTOCK),
        (woo, "old", Movement.SALE),
        (woo, "unknown", Movement.RESTOCK),
    ]
    assert after_start(lines, [], {}) == lines
    assert after_start(lines[6:], [], {SHOP: NOW}) == lines[6:]


def test_a_typed_delta_larger_than_a_quantity_cell_can_hold_is_a_problem() -> None:
    parsed = parse_ledger([RawLedgerRow(2, {"sku": "A", "delta": "-1000000001"})])
    assert parsed.entries == ()
    assert parsed.problems == (
        "Ledger row 2: Delta -1000000001 is too large; the most is 1000000000 either way; "
        "the row is not counted",
    )
