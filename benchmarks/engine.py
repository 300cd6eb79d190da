"""Engine cost of one cycle: parse rows, fold the ledger, plan 4 channels. Pure CPU, no I/O.

    python benchmarks/engine.py --skus 10000 --ledger 50000

Prints one line per size (the median CPU time of 3 cycles) and, last, a JSON object with
engine_cpu_s per size, so growth with catalogue size can be read off (it should be near linear).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from datetime import UTC, datetime

from sheetsync.core.buffers import BufferPolicy, Tier, parse_hold
from sheetsync.core.cells import parse_rows
from sheetsync.core.ledger import available, channel_moves, new_entries, parse_ledger
from sheetsync.core.plan import ChannelSpec, GuardVerdict, hold_unconfirmed, plan
from sheetsync.core.stock import stock_levels
from sheetsync.model import ChannelName, Layout, Movement, OrderLine, RawLedgerRow, RawRow, Sku, ledger_cells

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
CHANNELS = [ChannelName(n) for n in ("shopify", "facebook", "google", "woo")]


def policy(hold: int) -> BufferPolicy:
    return BufferPolicy(
        (
            Tier(51, parse_hold("5%")),
            Tier(11, parse_hold("15%")),
            Tier(3, parse_hold(str(hold))),
            Tier(0, parse_hold("all")),
        )
    )


def one_cycle(skus: int, ledger_rows: int, rng: random.Random) -> float:
    layout = Layout(tuple((c, c.title()) for c in CHANNELS))
    rows = [
        RawRow(i + 2, {"sku": f"SKU-{i:06d}", "quantity": str(rng.randint(0, 200)), "channel:shopify": "5"})
        for i in range(skus)
    ]
    lines = [
        OrderLine(
            CHANNELS[0],
            f"o{i}",
            "1",
            Sku(f"SKU-{rng.randrange(skus):06d}"),
            1,
            Movement.SALE,
            NOW,
            f"{i:012d}",
        )
        for i in range(ledger_rows)
    ]
    counts = {(Sku(r.cells["sku"]), ""): int(r.cells["quantity"]) for r in rows}
    history = [
        RawLedgerRow(i + 2, ledger_cells(e))
        for i, e in enumerate(new_entries(lines, parse_ledger([]), counts, NOW))
    ]
    fresh_orders = lines[-skus // 100 :]  # a few redelivered lines: all dropped by key
    specs = [ChannelSpec(c, c.title(), policy(2 + i)) for i, c in enumerate(CHANNELS)]
    guard = GuardVerdict(False, "", False, 0, 0)

    gc.collect()  # don't bill this cycle for collecting the set-up's garbage
    start = time.process_time()
    ledger = parse_ledger(history)
    parsed = parse_rows(rows, layout)
    fresh = new_entries(fresh_orders, ledger, counts, NOW)
    entries = [*ledger.entries, *fresh]
    levels = stock_levels(parsed.rows, available(counts, entries), dict.fromkeys(CHANNELS, ()))
    moves = channel_moves(ledger, fresh, since=0)
    draft = plan(parsed, levels.total, moves, specs, guard, reach=levels.reach)
    hold_unconfirmed(draft, {})
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skus", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--ledger", type=int, default=5, help="ledger rows per SKU (default: %(default)s)")
    args = parser.parse_args()
    results = {}
    for skus in args.skus:
        cpu = statistics.median(one_cycle(skus, skus * args.ledger, random.Random(seed)) for seed in range(3))
        results[str(skus)] = {
            "engine_cpu_s": round(cpu, 3),
            "ledger_rows": skus * args.ledger,
            "channels": len(CHANNELS),
        }
        print(f"{skus} SKUs x {len(CHANNELS)} channels, {skus * args.ledger} ledger rows: {cpu:.3f} s CPU")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
