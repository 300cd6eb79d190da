"""Reorder, Insights and Unmatched: units sold, ABC classes, stock-outs, cover, unknown SKUs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sheetsync.core import memo
from sheetsync.core.cells import MasterRow, Reorder, parse_rows
from sheetsync.core.plan import GuardVerdict, plan
from sheetsync.core.reports import (
    REORDER_HEADER,
    abc_classes,
    insights_report,
    reorder_report,
    stock_outs,
    units_sold,
    unmatched,
)
from sheetsync.model import ChannelName, Layout, LedgerEntry, Movement, RawRow, Sku

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
SHOP = ChannelName("shop")


def entry(
    sku: str, delta: int, days_ago: float, movement: Movement = Movement.SALE, place: str = ""
) -> LedgerEntry:
    channel = SHOP if movement in (Movement.SALE, Movement.BUNDLE, Movement.RESTOCK) else None
    at = NOW - timedelta(days=days_ago)
    return LedgerEntry(
        f"{sku}/{delta}/{days_ago}/{movement}", Sku(sku), delta, movement, at, channel, location=place
    )


def row(sku: str, count: int, parts: dict[str, int] | None = None) -> MasterRow:
    counts = {} if parts is not None else {"": count}
    return MasterRow(2, Sku(sku), counts, None, {}, {}, {}, reorder=Reorder(1), parts=parts)  # type: ignore[arg-type]  # plain-str SKUs in the test rows


def test_units_sold_counts_sales_and_bundle_consumption_inside_the_window() -> None:
    entries = [
        entry("A", -2, 1),
        entry("A", -3, 10),
        entry("A", 1, 2, Movement.RESTOCK),  # not netted off: it was sold
        entry("B", -4, 3, Movement.BUNDLE),
        entry("A", -9, 40),  # too old
        entry("A", 50, 5, Movement.COUNT),
    ]
    assert units_sold(entries, NOW, 7) == {(SHOP, "A"): 2, (SHOP, "B"): 4}
    assert units_sold(entries, NOW, 30) == {(SHOP, "A"): 5, (SHOP, "B"): 4}


def test_abc_classes_split_by_cumulative_share() -> None:
    units = {Sku("A"): 70, Sku("B"): 15, Sku("C"): 10, Sku("D"): 5, Sku("E"): 0}
    assert abc_classes(units) == {"A": "A", "B": "A", "C": "B", "D": "C", "E": "C"}
    assert abc_classes({Sku("A"): 0}) == {"A": "C"}


def test_stock_outs_replay_counts_and_recounts() -> None:
    entries = [
        entry("A", -5, 20),  # 5 → 0: out (in the window)
        entry("A", 4, 19, Movement.COUNT),  # the first count covers the sale before it: 4 - 5 = -1
        entry("A", 3, 18, Movement.COUNT),  # a recount starts afresh: 3
        entry("A", -3, 17),  # out again
        entry("A", -1, 45),  # before the window: not counted, though it moves the level
        entry("Z", -1, 1),  # no row
        entry("A", -1, 1, place="Shop"),  # a location the row does not have
    ]
    assert stock_outs([row("A", 5), row("KIT", 0, {"A": 1})], entries, NOW - timedelta(days=30)) == {"A": 2}


def test_insights_rows_show_cover_and_leave_bundle_stock_outs_blank() -> None:
    rows = [row("A", 10), row("KIT", 0, {"A": 2})]
    entries = [entry("A", -30, 3), entry("KIT", -1, 1)]
    report = insights_report(rows, {Sku("A"): 10, Sku("KIT"): 5}, entries, [(SHOP, "Shop")], NOW)
    header = report.header
    a, kit = (dict(zip(header, line, strict=True)) for line in report.rows)
    assert (a["Shop 7d"], a["Per day"], a["Days of cover"], a["ABC"]) == ("30", "1.00", "10.0", "A")
    assert (kit["Stock-outs 30d"], kit["Sold 30d"]) == ("", "1")
    assert report.name == "Insights"


def test_unmatched_over_a_growing_ledger_is_what_a_fresh_worker_lists() -> None:
    titles = {SHOP: "Shop"}
    check = LedgerEntry("c/1", Sku("A"), 0, Movement.CHECK, NOW - timedelta(days=1), SHOP, "9", "1", note="?")
    ledger = [entry("A", -1, 2), entry("X", -2, 40), entry("X", -1, 3), check]
    grown = [*ledger, entry("Y", -1, 1), entry("A", -1, 1)]
    a, x = Sku("A"), Sku("X")

    unmatched(ledger, {a, x}, titles, NOW)  # while X had a row
    report, found = unmatched(grown, {a}, titles, NOW)  # X's row deleted since, and the Ledger grew
    assert [(r[0], r[2], r[3]) for r in report.rows] == [
        ("A", "", "9 line 1"),
        ("X", "1", "1"),
        ("Y", "1", "1"),
    ]
    assert set(found) == {"check/c/1", "unmatched/X", "unmatched/Y"}
    assert [r[0] for r in unmatched(grown, {a, x}, titles, NOW)[0].rows] == ["A", "Y"]  # X's row is back
    memo.forget()
    assert unmatched(grown, {a}, titles, NOW) == (report, found)  # as a fresh worker lists them


def test_the_reorder_report_lists_rows_at_their_reorder_point_soonest_to_run_out_first() -> None:
    cells = [
        {"sku": "A", "quantity": "2", "reorder_point": "3", "reorder_qty": "12"},
        {"sku": "B", "quantity": "4", "reorder_point": "5"},  # nothing sold: no cover, listed last
        {"sku": "C", "quantity": "1", "reorder_point": "3", "reorder_qty": "6"},
        {"sku": "D", "quantity": "50", "reorder_point": "5"},  # above its point
        {"sku": "E", "quantity": "0"},  # no reorder point
    ]
    parsed = parse_rows([RawRow(n, c) for n, c in enumerate(cells, start=2)], Layout(((SHOP, "Shop"),)))
    available = {r.sku: r.count for r in parsed.rows}
    guard = GuardVerdict(held=False, message="", accepted=False, rows=0, total=0)
    sold = {Sku("A"): 30, Sku("C"): 60, Sku("D"): 300}
    report = reorder_report(plan(parsed, available, {}, [], guard), sold)
    assert (report.name, report.header) == ("Reorder", REORDER_HEADER)
    assert report.rows == (
        ("C", "1", "3", "6", "2.00", "0.5"),
        ("A", "2", "3", "12", "1.00", "2.0"),
        ("B", "4", "5", "", "0.00", ""),
    )
