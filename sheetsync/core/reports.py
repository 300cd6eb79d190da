"""The sheets the worker owns outright: Reorder, Insights and Unmatched.

Reorder says what to buy, Insights how SKUs sell, Unmatched which order lines no row takes
(unknown SKUs, quantities that cannot be counted).

Values only, no formulas or charts: the merchant sorts and charts them as they like.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from sheetsync.core.cells import MasterRow
from sheetsync.core.memo import Prefixes
from sheetsync.core.plan import Plan
from sheetsync.model import (
    INSIGHTS_SHEET,
    REORDER_SHEET,
    UNMATCHED_SHEET,
    ChannelName,
    LedgerEntry,
    Movement,
    Report,
    Sku,
    sheet_time,
)

#: Movements that are units sold: a sale, or a component taken by a bundle's sale.
SOLD = frozenset({Movement.SALE, Movement.BUNDLE})
#: ABC classes by cumulative share of the last 30 days' units, best sellers first.
CLASS_A, CLASS_B = 0.80, 0.95
DAY = timedelta(days=1)

REORDER_HEADER = ("SKU", "Available", "Reorder point", "Reorder qty", "Sold per day", "Days of cover")
UNMATCHED_HEADER = ("SKU", "Channel", "Units", "Orders", "First seen", "Last seen", "What to do")
#: Order lines are listed as unmatched while their last one is this recent: a discontinued SKU
#: whose row was deleted drops off once it stops selling.
UNMATCHED_DAYS = 30


def unmatched(
    entries: Iterable[LedgerEntry],
    known: Collection[Sku],
    titles: Mapping[ChannelName, str],
    now: datetime,
    days: int = UNMATCHED_DAYS,
) -> tuple[Report, dict[str, str]]:
    """The Unmatched sheet and its incidents (key → alert text), from the ledger.

    Listed: sales (and edits) of SKUs no Inventory row has (``known``), per SKU and channel, and
    every order line recorded as CHECK (a quantity that could not be counted).  One incident per
    unknown SKU and per CHECK line, so each is alerted once while it lasts.
    """
    since = now - days * DAY
    sold: dict[tuple[Sku, ChannelName], list[LedgerEntry]] = defaultdict(list)
    rows: list[tuple[str, ...]] = []
    found: dict[str, str] = {}
    for entry in _listable(entries, known):
        if entry.channel is None or entry.at < since:
            continue
        title = titles.get(entry.channel, entry.channel)
        if entry.movement is Movement.CHECK:
            where = f"{title} order {entry.order_id} line {entry.line_id}"
            stamp = sheet_time(entry.at.astimezone(now.tzinfo))
            rows.append(
                (entry.sku, title, "", f"{entry.order_id} line {entry.line_id}", stamp, stamp, entry.note)
            )
            found[f"check/{entry.key}"] = f"{where} (SKU {entry.sku or 'blank'}): {entry.note}"
        elif entry.movement in (Movement.SALE, Movement.EDIT) and entry.sku not in known:
            sold[(entry.sku, entry.channel)].append(entry)
    by_sku: dict[Sku, list[str]] = defaultdict(list)
    for (sku, channel), lines in sorted(sold.items()):
        title = titles.get(channel, channel)
        units = -sum(e.delta for e in lines)
        orders = len({e.order_id for e in lines})
        first, last = (min(e.at for e in lines), max(e.at for e in lines))
        todo = (
            f"no Inventory row has this SKU: add one (these sales are subtracted from the first "
            f"Quantity you type) or correct the SKU on {title}"
        )
        rows.append(
            (
                sku,
                title,
                str(units),
                str(orders),
                sheet_time(first.astimezone(now.tzinfo)),
                sheet_time(last.astimezone(now.tzinfo)),
                todo,
            )
        )
        by_sku[sku].append(f"{title} ({units} units in {orders} orders)")
    for sku, sales in by_sku.items():
        found[f"unmatched/{sku}"] = (
            f"{sku or 'a blank SKU'} sells on {', '.join(sales)} but no Inventory row has it: add a row or "
            "correct the SKU on the platform (see the Unmatched tab)"
        )
    return Report(UNMATCHED_SHEET, UNMATCHED_HEADER, tuple(rows)), found


def _listable(entries: Iterable[LedgerEntry], known: Collection[Sku]) -> tuple[LedgerEntry, ...]:
    """The entries ``unmatched`` may list, in order: CHECK lines, and sales and edits of SKUs not known.

    Which they are does not depend on the time, so a pick goes on from a recent one over the
    entries these begin with, for the same known SKUs (the Ledger mostly grows at its end).
    """
    given = tuple(entries)
    start, base = _LISTABLE.longest(given, lambda kept: kept[0] == known)
    picked = (
        *(base[1] if base is not None else ()),
        *(
            entry
            for entry in given[start:]
            if entry.movement is Movement.CHECK
            or (entry.movement in (Movement.SALE, Movement.EDIT) and entry.sku not in known)
        ),
    )
    _LISTABLE.keep(given, (frozenset(known), picked))
    return picked


#: The last picks ``_listable`` made: the SKUs known, and the entries picked.
_LISTABLE: Prefixes[tuple[frozenset[Sku], tuple[LedgerEntry, ...]]] = Prefixes(2)


def units_sold(
    entries: Iterable[LedgerEntry], now: datetime, days: int
) -> dict[tuple[ChannelName, Sku], int]:
    """Units sold per channel and SKU over the last ``days`` (restocks are not netted off)."""
    since = now - days * DAY
    sold: dict[tuple[ChannelName, Sku], int] = defaultdict(int)
    for entry in entries:
        if entry.movement in SOLD and entry.channel is not None and since <= entry.at <= now:
            sold[(entry.channel, entry.sku)] -= entry.delta
    return dict(sold)


def reorder_report(plan_: Plan, sold_30d: Mapping[Sku, int]) -> Report:
    """Every row at or below its reorder point, the soonest to run out first."""
    rows = []
    for row_plan in plan_.rows:
        point = row_plan.row.reorder
        if not row_plan.reorder or point is None:
            continue
        per_day = sold_30d.get(row_plan.row.sku, 0) / 30
        cover = _cover(row_plan.available, per_day)
        rows.append(
            (
                row_plan.row.sku,
                str(row_plan.available),
                str(point.point),
                "" if point.quantity is None else str(point.quantity),
                f"{per_day:.2f}",
                cover,
            )
        )
    rows.sort(key=lambda r: (float(r[5]) if r[5] else float("inf"), r[0]))
    return Report(REORDER_SHEET, REORDER_HEADER, tuple(rows))


def insights_report(
    rows: Sequence[MasterRow],
    available: Mapping[Sku, int],
    entries: Sequence[LedgerEntry],
    channels: Sequence[tuple[ChannelName, str]],
    now: datetime,
) -> Report:
    """Units sold per SKU and channel over 7 and 30 days, velocity, cover, ABC class, stock-outs."""
    week, month = units_sold(entries, now, 7), units_sold(entries, now, 30)
    totals = {
        row.sku: (
            sum(week.get((name, row.sku), 0) for name, _ in channels),
            sum(month.get((name, row.sku), 0) for name, _ in channels),
        )
        for row in rows
    }
    classes = abc_classes({sku: pair[1] for sku, pair in totals.items()})
    outs = stock_outs(rows, entries, now - 30 * DAY)
    stamp = sheet_time(now)
    header = (
        "SKU",
        "Available",
        *(f"{title} {span}" for _, title in channels for span in ("7d", "30d")),
        "Sold 7d",
        "Sold 30d",
        "Per day",
        "Days of cover",
        "ABC",
        "Stock-outs 30d",
        "Updated",
    )
    lines = []
    for row in rows:
        sku = row.sku
        per_day = totals[sku][1] / 30
        lines.append(
            (
                sku,
                str(available.get(sku, 0)),
                *(str(counts.get((name, sku), 0)) for name, _ in channels for counts in (week, month)),
                str(totals[sku][0]),
                str(totals[sku][1]),
                f"{per_day:.2f}",
                _cover(available.get(sku, 0), per_day),
                classes[sku],
                "" if row.parts is not None else str(outs.get(sku, 0)),
                stamp,
            )
        )
    return Report(INSIGHTS_SHEET, header, tuple(lines))


def abc_classes(units: Mapping[Sku, int]) -> dict[Sku, str]:
    """A: the best sellers making the first 80% of units; B: the next 15%; C: the rest and no sales."""
    total = sum(units.values())
    classes = {}
    running = 0
    for sku, sold in sorted(units.items(), key=lambda pair: (-pair[1], pair[0])):
        share = running / total if total else 1.0
        classes[sku] = "C" if sold <= 0 else "A" if share < CLASS_A else "B" if share < CLASS_B else "C"
        running += sold
    return classes


def stock_outs(rows: Sequence[MasterRow], entries: Sequence[LedgerEntry], since: datetime) -> dict[Sku, int]:
    """Times each SKU's stock fell to 0 or below since ``since``, replaying the ledger.

    A location's level is its latest COUNT (the Quantity cell before any) plus the movements
    after it, as the ledger reckons available stock.
    """
    counted: dict[tuple[Sku, str], int] = {}
    running: dict[tuple[Sku, str], int] = defaultdict(int)
    stocked = {row.sku: row for row in rows if row.parts is None}
    outs: dict[Sku, int] = defaultdict(int)

    def level(sku: Sku) -> int:
        row = stocked[sku]
        return sum(counted.get((sku, p), row.counts[p]) + running[(sku, p)] for p in row.counts)

    for entry in entries:
        if entry.sku not in stocked or entry.location not in stocked[entry.sku].counts:
            continue
        place = (entry.sku, entry.location)
        before = level(entry.sku)
        if entry.movement is Movement.COUNT:
            first = place not in counted
            counted[place] = entry.delta
            if not first:
                running[place] = 0
            continue
        running[place] += entry.delta
        if entry.at >= since and before > 0 >= level(entry.sku):
            outs[entry.sku] += 1
    return dict(outs)


def _cover(available: int, per_day: float) -> str:
    """Days until ``available`` runs out at ``per_day``; blank when nothing sells."""
    if per_day <= 0:
        return ""
    return f"{max(available, 0) / per_day:.1f}"
