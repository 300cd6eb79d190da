"""Cost of pushing changed quantities to a channel, over loopback to its fake.

    python benchmarks/channel_push.py --channel shopify --skus 10000 --changed 0.05

The fake is served on 127.0.0.1 (wire.serve, in a thread of this process) and the real adapter
talks to it over HTTP. A warm-up step maps the SKUs to push (the SKU → item cache a running
worker already holds); then the changed share is pushed in batches of the channel's limit, each
level carrying the quantity the worker believes the channel shows (``expected``), and measured:
every request the push made, THROTTLED answers, wall time, and the CPU time of the pushing thread
(the fake runs in other threads). The fake's clock is virtual: the adapter's pacing sleeps move it
instead of waiting, and ``virtual_wait_s`` says how long a real shop would have made it wait.
The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sheetsync.channels.shopify import ShopifyChannel
from sheetsync.model import ChannelName, Sku, StockLevel
from sheetsync.testing.shopify import FakeShopify, load_schema
from sheetsync.testing.wire import serve

REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "shopify"
SHOP = "bench.myshopify.com"
TOKEN = "shpat_bench_token"  # noqa: S105 - the fake's token, not a secret
LOCATION = "Warehouse"


class VirtualClock:
    """Seconds since the epoch that move only when the adapter sleeps."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 9, tzinfo=UTC).timestamp()
        self.waited = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
            self.waited += seconds


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench_shopify(skus: int, changed_share: float, seed: int) -> dict[str, Any]:
    clock = VirtualClock()
    fake = FakeShopify({"2026-10": load_schema(REFERENCE / "admin_2026-10.json.gz")}, now=clock)
    fake.create_shop(SHOP, TOKEN, locations=[LOCATION])  # a Standard plan: 2,000 points, 100/s
    rng = random.Random(seed)
    names = [f"SKU-{i:06d}" for i in range(skus)]
    shown = {name: rng.randrange(0, 200) for name in names}
    for name in names:
        fake.add_product(SHOP, name, stock={LOCATION: shown[name]})
    changed = rng.sample(names, math.ceil(skus * changed_share))
    levels = [StockLevel(Sku(name), shown[name] + 1 + rng.randrange(20), shown[name]) for name in changed]
    log(f"{skus} variants on the Shopify fake; {len(changed)} quantities to push")

    with serve(fake) as base_url:
        channel = ShopifyChannel(
            ChannelName("shopify"),
            shop=SHOP,
            token=TOKEN,
            location=LOCATION,
            base_url=base_url,
            sleep=clock.sleep,
            clock=clock,
        )
        try:
            log("warm-up: mapping the SKUs to push (a running worker holds this cache)...")
            channel.map_skus([level.sku for level in levels])
            warm_up_calls = len(fake.request_log)
            fake.request_log.clear()
            waited_before = clock.waited
            log("pushing...")
            cpu, wall = time.thread_time(), time.perf_counter()
            outcomes = push_all(channel.push, levels, channel.limits.max_batch)
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        finally:
            channel.close()

    applied = fake.levels(SHOP)
    wrong = sum(1 for level in levels if applied[level.sku, LOCATION] != level.quantity)
    operations = Counter(entry.operation_name or "" for entry in fake.request_log)
    return {
        "channel": "shopify",
        "skus": skus,
        "changed": len(levels),
        "max_batch": channel.limits.max_batch,
        "api_calls": len(fake.request_log),
        "api_calls_by_operation": dict(operations),
        "min_api_calls": math.ceil(len(levels) / channel.limits.max_batch),
        "throttled_responses": sum(1 for entry in fake.request_log if entry.throttled),
        "failed_outcomes": sum(1 for outcome in outcomes if not outcome.ok),
        "quantities_not_applied": wrong,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "virtual_wait_s": round(clock.waited - waited_before, 3),
        "warm_up_calls": warm_up_calls,
        "note": "SKU mapping cached in a warm-up step (not counted); api_calls is every request of the push",
    }


def push_all(push: Callable[[list[StockLevel]], Any], levels: list[StockLevel], size: int) -> list[Any]:
    """Push in batches of the channel's limit, as the worker does."""
    outcomes: list[Any] = []
    for start in range(0, len(levels), size):
        outcomes += push(levels[start : start + size])
        log(f"  pushed {min(start + size, len(levels))}/{len(levels)}")
    return outcomes


BENCHES = {"shopify": bench_shopify}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--channel", choices=sorted(BENCHES), default="shopify")
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.05, help="share of quantities that changed")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    report = BENCHES[args.channel](args.skus, args.changed, args.seed)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
