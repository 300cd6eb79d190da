"""Engine cost of one cycle: parse the sheet, fold the ledger, plan 4 channels. Pure CPU, no I/O.

    python benchmarks/engine.py                          # 1,000 and 10,000 SKUs, then the checkpoint
    python benchmarks/engine.py --skus 10000 --ledger 50 --checkpoint-skus 0

Each cycle timed is a fresh worker's: every row remembered from the cycle before is forgotten
(``core.memo.forget``, ``stores._grid.forget_records``), so it times parsing and planning every
row, not looking them up.
The cycle starts from the Inventory and Ledger tabs as the Sheets API returns them (lists of
cell texts, header row first) and parses them as the store does (``read_snapshot``), then as the
worker does. Prints one line per size (the median CPU time of ``--runs`` cycles) and, last, a JSON
object with engine_cpu_s per size, so growth with catalogue size can be read off (it should be
near linear).

Then the Ledger checkpoint (``--checkpoint-skus``, default 10,000 SKUs; 0 skips it): the same
cycle on a Ledger of 5 rows a SKU, of 50 rows a SKU, and of those 50 after a checkpoint
(``sheetsync.core.ledger.checkpoint``) folded every row older than 35 days: once when all 50 are
(a quiet catalogue), once keeping the last 35 days' 5 a SKU (a year of steady sales).  For each
it prints the rows parsed, the ledger part (``parse_ledger`` and ``available``) and the whole
cycle, each the median CPU time of ``--runs``; the checkpointed Ledger must give every SKU the
same Available as the 50 rows it replaced.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sheetsync.core.buffers import BufferPolicy, Tier, parse_hold
from sheetsync.core.cells import parse_rows
from sheetsync.core.ledger import (
    KEEP_DAYS,
    Place,
    available,
    channel_moves,
    checkpoint,
    new_entries,
    parse_ledger,
)
from sheetsync.core.memo import forget
from sheetsync.core.plan import ChannelSpec, GuardVerdict, hold_unconfirmed, plan
from sheetsync.core.stock import stock_levels
from sheetsync.model import (
    INVENTORY_SHEET,
    LEDGER_HEADERS,
    LEDGER_SHEET,
    ChannelName,
    Layout,
    LedgerEntry,
    Movement,
    OrderLine,
    RawLedgerRow,
    RawRow,
    Sku,
    ledger_cells,
)
from sheetsync.stores._grid import forget_records, read_snapshot

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
CHANNELS = [ChannelName(n) for n in ("shopify", "facebook", "google", "woo")]
#: Ledger rows a SKU in the checkpoint comparison: a few weeks' worth, and about a year's.
FEW, MANY = 5, 50
LAYOUT = Layout(tuple((c, c.title()) for c in CHANNELS))
#: A tab as the Sheets API returns it: rows of cell texts, the header row first.
Tab = list[list[str]]


def policy(hold: int) -> BufferPolicy:
    return BufferPolicy(
        (
            Tier(51, parse_hold("5%")),
            Tier(11, parse_hold("15%")),
            Tier(3, parse_hold(str(hold))),
            Tier(0, parse_hold("all")),
        )
    )


@dataclass(frozen=True, slots=True)
class Timing:
    ledger_s: float  #: parse_ledger and available
    cycle_s: float  #: the whole engine cycle, the ledger part included


def catalogue(skus: int, rng: random.Random) -> tuple[list[RawRow], dict[Place, int]]:
    """The Inventory rows and each SKU's count."""
    rows = [
        RawRow(i + 2, {"sku": f"SKU-{i:06d}", "quantity": str(rng.randint(0, 200)), "channel:shopify": "5"})
        for i in range(skus)
    ]
    return rows, {(Sku(r.cells["sku"]), ""): int(r.cells["quantity"]) for r in rows}


def sales(
    skus: int, count: int, rng: random.Random, first: datetime, last: datetime, prefix: str = "o"
) -> list[OrderLine]:
    """``count`` one-unit Shopify sales of random SKUs, evenly from ``first`` to ``last``."""
    step = (last - first) / max(count - 1, 1)
    return [
        OrderLine(
            CHANNELS[0],
            f"{prefix}{i}",
            "1",
            Sku(f"SKU-{rng.randrange(skus):06d}"),
            1,
            Movement.SALE,
            first + i * step,
            f"{i:012d}",
        )
        for i in range(count)
    ]


def as_rows(entries: Sequence[LedgerEntry]) -> list[RawLedgerRow]:
    return [RawLedgerRow(i + 2, ledger_cells(e)) for i, e in enumerate(entries)]


def tabs(rows: Sequence[RawRow], history: Sequence[RawLedgerRow]) -> dict[str, Tab]:
    """The Inventory and Ledger tabs holding ``rows`` and ``history``, as the Sheets API sends them."""
    titles = {**LAYOUT.worker_headers(), **LAYOUT.merchant_headers()}
    keys = list(rows[0].cells)
    inventory = [[titles[key] for key in keys], *([row.cells[key] for key in keys] for row in rows)]
    ledger = [list(LEDGER_HEADERS.values())]
    ledger += [[row.cells.get(key, "") for key in LEDGER_HEADERS] for row in history]
    return {INVENTORY_SHEET: inventory, LEDGER_SHEET: ledger}


def engine_cycle(sheet: dict[str, Tab], counts: dict[Place, int], orders: list[OrderLine]) -> Timing:
    """One cycle's engine on the ``sheet``'s tabs with ``orders`` polled: its CPU time, and its
    ledger part's (the Ledger parsed by the worker, and Available).
    """
    specs = [ChannelSpec(c, c.title(), policy(2 + i)) for i, c in enumerate(CHANNELS)]
    guard = GuardVerdict(False, "", False, 0, 0)

    forget()  # a whole cycle: nothing remembered from the last one timed,
    forget_records()  # in the core nor in the store
    gc.collect()  # don't bill this cycle for collecting the set-up's garbage
    start = time.process_time()
    snapshot = read_snapshot(sheet, LAYOUT, "bench")  # the store's part: cell texts to rows
    before = time.process_time()
    ledger = parse_ledger(snapshot.ledger)
    parsed_s = time.process_time() - before
    parsed = parse_rows(snapshot.rows, LAYOUT)
    fresh = new_entries(orders, ledger, counts, NOW)
    entries = [*ledger.entries, *fresh]
    before = time.process_time()
    stock = available(counts, entries)
    available_s = time.process_time() - before
    levels = stock_levels(parsed.rows, stock, dict.fromkeys(CHANNELS, ()))
    moves = channel_moves(ledger, fresh, since=0)
    draft = plan(parsed, levels.total, moves, specs, guard, reach=levels.reach)
    hold_unconfirmed(draft, {})
    return Timing(parsed_s + available_s, time.process_time() - start)


def one_cycle(skus: int, ledger_rows: int, rng: random.Random) -> tuple[float, int]:
    """A cycle on ``ledger_rows`` sales (plus a COUNT a SKU) with a few lines redelivered."""
    rows, counts = catalogue(skus, rng)
    lines = sales(skus, ledger_rows, rng, NOW, NOW)
    history = as_rows(new_entries(lines, parse_ledger([]), counts, NOW))
    fresh_orders = lines[-skus // 100 :]  # a few redelivered lines: all dropped by key
    return engine_cycle(tabs(rows, history), counts, fresh_orders).cycle_s, len(history)


def median(timings: list[Timing]) -> Timing:
    return Timing(
        statistics.median(t.ledger_s for t in timings), statistics.median(t.cycle_s for t in timings)
    )


def checkpoint_costs(skus: int, runs: int, seed: int = 1) -> dict[str, Any]:
    """The engine cycle on a short Ledger, a long one, and the long one after a checkpoint.

    The long Ledger is ``MANY`` sales a SKU over the year before ``NOW``: the first ``MANY - FEW``
    a SKU older than ``KEEP_DAYS``, the last ``FEW`` a SKU within them.  A checkpoint at ``NOW``
    folds the old ones; one ``KEEP_DAYS`` + 1 days later (every row old enough) folds them all.
    Each cycle polls the same ``skus // 100`` new orders.
    """
    rng = random.Random(seed)
    rows, counts = catalogue(skus, rng)
    year_ago, horizon = NOW - timedelta(days=365), NOW - timedelta(days=KEEP_DAYS)
    old = sales(skus, skus * (MANY - FEW), rng, year_ago, horizon - timedelta(days=1))
    recent = sales(skus, skus * FEW, rng, horizon + timedelta(days=1), NOW - timedelta(hours=1), "r")
    few = sales(skus, skus * FEW, rng, horizon + timedelta(days=1), NOW - timedelta(hours=1), "f")
    orders = sales(skus, max(skus // 100, 1), rng, NOW, NOW, "new")
    ledgers: dict[str, list[RawLedgerRow]] = {
        f"{FEW} rows/SKU": as_rows(new_entries(few, parse_ledger([]), counts, year_ago)),
        f"{MANY} rows/SKU": as_rows(new_entries([*old, *recent], parse_ledger([]), counts, year_ago)),
    }
    long = ledgers[f"{MANY} rows/SKU"]
    parsed = parse_ledger(long)
    truth = available(counts, parsed.entries)
    later = NOW + timedelta(days=KEEP_DAYS + 1)
    for name, at in (("all folded", later), (f"last {KEEP_DAYS} days kept", NOW)):
        made = checkpoint(parsed, at)
        if made is None:
            raise RuntimeError(f"no checkpoint at {at}")
        folded = [*as_rows(made.entries), *long[made.folded :]]
        if available(counts, parse_ledger(folded).entries) != truth:
            raise RuntimeError(f"{name}: the checkpoint changed Available")
        ledgers[f"{MANY} rows/SKU, checkpoint, {name}"] = folded
    del parsed, truth
    results = {}
    for name, history in ledgers.items():
        sheet = tabs(rows, history)
        timing = median([engine_cycle(sheet, counts, orders) for _ in range(runs)])
        results[name] = {
            "ledger_rows": len(history),
            "rows_per_sku": round(len(history) / skus, 2),
            "ledger_cpu_s": round(timing.ledger_s, 3),
            "engine_cpu_s": round(timing.cycle_s, 3),
        }
        print(
            f"{skus} SKUs, {name}: {len(history):,} ledger rows; "
            f"ledger {timing.ledger_s:.3f} s, cycle {timing.cycle_s:.3f} s CPU"
        )
    return {"skus": skus, "runs": runs, "available_unchanged_by_checkpoint": True, "ledgers": results}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skus", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--ledger", type=int, default=5, help="ledger sales per SKU (default: %(default)s)")
    parser.add_argument(
        "--checkpoint-skus",
        type=int,
        default=10_000,
        help="SKUs in the checkpoint comparison; 0 skips it (default: %(default)s)",
    )
    parser.add_argument("--runs", type=int, default=3, help="cycles timed per figure (default: %(default)s)")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for skus in args.skus:
        measured = [one_cycle(skus, skus * args.ledger, random.Random(seed)) for seed in range(args.runs)]
        cpu = statistics.median(cycle for cycle, _ in measured)
        results[str(skus)] = {
            "engine_cpu_s": round(cpu, 3),
            "ledger_rows": measured[0][1],
            "channels": len(CHANNELS),
        }
        print(f"{skus} SKUs x {len(CHANNELS)} channels, {measured[0][1]} ledger rows: {cpu:.3f} s CPU")
    if args.checkpoint_skus:
        results["checkpoint"] = checkpoint_costs(args.checkpoint_skus, args.runs)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
