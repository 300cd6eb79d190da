"""What each channel can sell: its own locations, and bundles made from their components."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from sheetsync.core import memo
from sheetsync.core.cells import MasterRow
from sheetsync.core.codes import codes
from sheetsync.core.stock import counted, last_counts, last_good, orders_since_count, stock_levels
from sheetsync.model import ChannelName, LedgerEntry, Movement, Sku

ONLINE, POS = ChannelName("online"), ChannelName("pos")


def row(sku: str, counts: dict[str, int], parts: dict[str, int] | None = None) -> MasterRow:
    return MasterRow(
        2,
        Sku(sku),
        counts,
        None,
        {},
        {},
        {},
        parts=None if parts is None else {Sku(k): v for k, v in parts.items()},
    )


def test_without_locations_or_bundles_every_channel_sells_the_total() -> None:
    levels = stock_levels([row("A", {"": 5})], {(Sku("A"), ""): 3}, {ONLINE: (), POS: ()})
    assert (levels.total, levels.reach) == ({"A": 3}, {})


def test_a_channel_on_some_locations_sells_only_theirs() -> None:
    available = {(Sku("A"), "Shop"): 2, (Sku("A"), "Warehouse"): 7}
    places = {ONLINE: ("Warehouse", "Shop"), POS: ("Shop",)}
    levels = stock_levels([row("A", {"Shop": 2, "Warehouse": 7})], available, places)
    assert levels.total == {"A": 9}
    assert levels.reach == {(POS, "A"): 2}  # online sells from both: the total


def test_a_bundle_is_made_from_what_each_channel_can_sell_of_its_parts() -> None:
    available = {(Sku("CUP"), "Shop"): 4, (Sku("CUP"), "Warehouse"): 6, (Sku("LID"), "Shop"): 1}
    available[(Sku("LID"), "Warehouse")] = -2  # oversold: counts as none
    rows = [
        row("KIT", {}, {"CUP": 2, "LID": 1}),
        row("CUP", {"Shop": 4, "Warehouse": 6}),
        row("LID", {"Shop": 1, "Warehouse": -2}),
    ]
    levels = stock_levels(rows, available, {ONLINE: ("Warehouse", "Shop"), POS: ("Shop",)})
    assert levels.total[Sku("KIT")] == 0  # LID in all: -1
    assert levels.reach[(POS, Sku("KIT"))] == 1  # the Shop alone: 4 cups, 1 lid
    assert (ONLINE, "KIT") not in levels.reach


def test_the_same_rows_with_equal_stock_give_the_last_answer_and_a_change_is_worked_out() -> None:
    rows = [row("A", {"Shop": 2, "Warehouse": 7}), row("B", {"Shop": 1})]
    places = {ONLINE: ("Warehouse", "Shop"), POS: ("Shop",)}
    available = {(Sku("A"), "Shop"): 2, (Sku("A"), "Warehouse"): 7, (Sku("B"), "Shop"): 1}
    first = stock_levels(rows, available, places)
    assert stock_levels(rows, dict(available), dict(places)) is first  # a quiet cycle: no pass
    sold = stock_levels(rows, {**available, (Sku("A"), "Shop"): 1}, places)
    assert (sold.total, sold.reach) == ({"A": 8, "B": 1}, {(POS, "A"): 1, (POS, "B"): 1})
    moved = stock_levels(rows, available, {ONLINE: ("Shop",), POS: ("Shop",)})
    assert moved.reach == {(ONLINE, "A"): 2, (POS, "A"): 2, (ONLINE, "B"): 1, (POS, "B"): 1}
    fresh = [row("A", {"Shop": 2, "Warehouse": 7}), row("B", {"Shop": 1})]  # read again: new rows
    assert stock_levels(fresh, available, places) is not first


def test_counted_is_each_rows_count_by_location_and_the_same_rows_answer_as_before() -> None:
    rows = (row("A", {"Shop": 2, "Warehouse": 7}), row("B", {"": 1}))
    first = counted(rows)
    assert first == {("A", "Shop"): 2, ("A", "Warehouse"): 7, ("B", ""): 1}
    assert counted(list(rows)) is first  # the very same rows, read again
    assert counted((row("A", {"Shop": 3}), rows[1])) == {("A", "Shop"): 3, ("B", ""): 1}


def entry(key: str, sku: str, delta: int, movement: Movement, location: str = "", **more: str) -> LedgerEntry:
    at = datetime(2026, 11, 27, tzinfo=UTC)
    channel = more.get("channel")
    return LedgerEntry(
        key,
        Sku(sku),
        delta,
        movement,
        at,
        None if channel is None else ChannelName(channel),
        more.get("order", ""),
        location=location,
    )


def test_last_good_is_the_latest_count_plus_what_moved_since_over_locations() -> None:
    ledger = [
        entry("c1", "A", 10, Movement.COUNT, "shop"),
        entry("s1", "A", -2, Movement.SALE, "shop", channel="shopify", order="1"),
        entry("c2", "A", 6, Movement.COUNT, "shop"),  # a recount: the sale before it is in it
        entry("s2", "A", -1, Movement.SALE, "shop", channel="shopify", order="2"),
        entry("c3", "A", 4, Movement.COUNT, "depot"),
        entry("s3", "B", -1, Movement.SALE, channel="woo", order="7"),  # never counted
        entry("start", "", 0, Movement.START),
    ]
    assert last_counts(ledger) == {(Sku("A"), "shop"): 6, (Sku("A"), "depot"): 4}
    assert last_good(ledger) == {Sku("A"): 9}


def test_the_orders_that_count_against_a_count() -> None:
    ledger = [
        entry("s0", "A", -1, Movement.SALE, channel="shopify", order="900"),  # the first count covers it
        entry("c1", "A", 5, Movement.COUNT),
        entry("s1", "A", -4, Movement.SALE, channel="shopify", order="1001"),
        entry("e1", "A", -1, Movement.EDIT, channel="shopify", order="1001"),
        entry("b1", "A", -2, Movement.BUNDLE, channel="woo", order="57"),
        entry("r1", "A", 1, Movement.RESTOCK, channel="woo", order="58"),
        entry("m1", "A", -1, Movement.ADJUST),
        entry("s2", "B", -1, Movement.SALE, channel="woo", order="60"),
    ]
    assert orders_since_count(ledger, {Sku("A")}) == {Sku("A"): ["shopify 900", "shopify 1001", "woo 57"]}
    recount = [*ledger, entry("c2", "A", 3, Movement.COUNT)]
    assert orders_since_count(recount, {Sku("A")}) == {Sku("A"): []}


def test_over_a_growing_ledger_the_last_counts_are_what_a_fresh_worker_finds() -> None:
    ledger = [
        entry("c1", "A", 5, Movement.COUNT),
        entry("s1", "A", -1, Movement.SALE, channel="woo", order="1"),
    ]
    grown = [*ledger, entry("c2", "B", 4, Movement.COUNT), entry("c3", "A", 2, Movement.COUNT)]
    first = last_counts(ledger)
    first[(Sku("B"), "")] = 99  # a caller's copy: the next fold does not go on from it
    counted = last_counts(grown)
    assert counted == {(Sku("A"), ""): 2, (Sku("B"), ""): 4}
    assert list(counted) == [(Sku("A"), ""), (Sku("B"), "")]  # in the order first counted
    assert last_counts(ledger) == {(Sku("A"), ""): 5}  # as it was
    memo.forget()
    assert last_counts(grown) == counted


def test_the_same_rows_give_the_same_codes_and_other_rows_their_own() -> None:
    def coded(sku: str, code: str) -> MasterRow:
        return dataclasses.replace(row(sku, {"": 1}), codes={ONLINE: Sku(code)})

    rows = (coded("A", "a-1"), row("B", {"": 2}))
    first = codes(rows)
    assert (first.theirs(ONLINE, Sku("A")), first.ours(ONLINE, Sku("a-1"))) == ("a-1", "A")
    assert codes(list(rows)) is first  # the very same rows, read again
    other = codes((coded("A", "a-2"), rows[1]))
    assert (other.theirs(ONLINE, Sku("A")), other.ours(ONLINE, Sku("a-1"))) == ("a-2", "a-1")
