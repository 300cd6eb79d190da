"""Installing on a shop with two years of orders: the history is never subtracted, nor read in bulk.

    python benchmarks/install.py                  # 20,000 orders on each platform (about 3 s)
    python benchmarks/install.py --orders 100000

A Shopify shop and a WooCommerce store (the local fakes, through the real adapters) each take
``--orders`` orders spread evenly over the two years before the install, the last a minute before
it, on five SKUs; one in 20 was cancelled a day after it was placed.  The merchant types today's
count of each SKU in the master (an in-memory sheet) and starts the worker: the install cycle,
then ``--cycles`` cycles 15 minutes apart with three new orders on each platform between two
cycles.  Before the second of those, the merchant cancels a three-month-old order on each
platform: it comes back in the next polls (both APIs read orders by update time) and must still
not count.

Per cycle it prints the order-read calls each fake logged (Shopify: requests selecting
``orders`` or ``order``; WooCommerce: the ``orders``, ``order`` and ``refunds`` routes), the
orders the fakes sent back (read from their answers: new, and placed before the install), the
order lines the worker counted and each SKU's Available.  The last line is a JSON object with
the totals; ``history_lines_counted`` must be 0 and ``available`` must equal ``expected``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from campaigns.platforms import (
    LOCATION,
    SHOP,
    shopify_channel,
    shopify_fake,
    woo_channel,
    woo_fake,
)
from progress import log
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.shopify import FakeShopify
from sheetsync_fakes.woocommerce import FakeWooCommerce

from sheetsync.channels import shopify as shopify_module
from sheetsync.channels import woocommerce as woo_module
from sheetsync.channels.shopify import ShopifyChannel
from sheetsync.channels.woocommerce import WooCommerceChannel
from sheetsync.config import Settings, load
from sheetsync.model import INVENTORY_SHEET, ChannelName, Movement
from sheetsync.stores.memory import MemoryStore
from sheetsync.worker import CycleReport, run_cycle

#: The install: the merchant has typed today's counts and starts the worker.
INSTALL = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
HISTORY = timedelta(days=730)
#: The counts the merchant typed at the install.
COUNTS = {"TEE-BLK-M": 140, "MUG-LOGO": 60, "CAP-RED": 35, "SOCKS-3PK": 200, "POSTER-A2": 30}
CYCLE_GAP = timedelta(minutes=15)
NEW_ORDERS = 3  #: per platform between two cycles
CANCELLED = 20  #: one history order in this many was cancelled a day after it was placed
SHOPIFY, WOO = ChannelName("shopify"), ChannelName("woo")
PLATFORMS = (SHOPIFY, WOO)

CONFIG = """
[master]
kind = "workbook"
path = "unused.xlsx"

[channels.shopify]
kind = "shopify"
shop = "bench"
location = "Warehouse"

[channels.woo]
kind = "woocommerce"
site = "https://bench.example.com"
"""


@dataclass(slots=True)
class Tap:
    """A fake behind a tap that notes the id of every order its answers carry (the ground truth)."""

    fake: Callable[[httpx.Request], httpx.Response]
    orders_in: Callable[[httpx.Request, httpx.Response], Iterable[str]]
    sent: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self.fake(request)
        if response.status_code == 200:
            self.sent += self.orders_in(request, response)
        return response


def shopify_orders(request: httpx.Request, response: httpx.Response) -> list[str]:
    """The order ids in a Shopify answer (an orders page, or one order read alone)."""
    data = response.json().get("data") or {}
    nodes = [
        *((data.get("orders") or {}).get("nodes") or []),
        *([data["order"]] if data.get("order") else []),
    ]
    return [str(node["id"]).rsplit("/", 1)[-1] for node in nodes]


def woo_orders(request: httpx.Request, response: httpx.Response) -> list[str]:
    """The order ids in a WooCommerce answer (a page of orders, or one order)."""
    path = request.url.path.rstrip("/")
    if "/orders" not in path or path.endswith("/refunds") or request.method != "GET":
        return []
    body = response.json()
    return [str(order["id"]) for order in (body if isinstance(body, list) else [body])]


def order_calls(fake: FakeShopify | FakeWooCommerce) -> int:
    """The order reads the fake logged so far (its own request log)."""
    if isinstance(fake, FakeShopify):
        return fake.count("orders") + fake.count("order")
    return sum(fake.count(route) for route in ("orders", "order", "refunds"))


@dataclass(slots=True)
class World:
    """The two platforms' fakes on one clock, the master, the adapters, and every order placed."""

    clock: ManualClock
    settings: Settings
    store: MemoryStore
    shopify: FakeShopify
    woo: FakeWooCommerce
    taps: dict[ChannelName, Tap]
    channels: list[ShopifyChannel | WooCommerceChannel]
    rng: random.Random
    #: order id → its lines, per platform: placed before the install, and after it
    history: dict[ChannelName, dict[str, list[tuple[str, int]]]]
    new: dict[ChannelName, dict[str, list[tuple[str, int]]]]
    touched: dict[ChannelName, set[str]]  #: history orders changed after the install
    placed: dict[tuple[ChannelName, str], datetime] = field(default_factory=dict)

    def at(self, moment: datetime) -> None:
        self.clock.now = moment.timestamp()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def place(self, platform: ChannelName, lines: list[tuple[str, int]]) -> str:
        if platform == SHOPIFY:
            return self.shopify.place_order(SHOP, lines).rsplit("/", 1)[-1]
        return str(self.woo.place_order(lines, status="processing"))

    def cancel(self, platform: ChannelName, order: str) -> None:
        if platform == SHOPIFY:
            self.shopify.cancel_order(f"gid://shopify/Order/{order}")
        else:
            self.woo.set_status(int(order), "cancelled")

    def lines(self) -> list[tuple[str, int]]:
        """One or two lines of different SKUs, one or two units each."""
        skus = self.rng.sample(list(COUNTS), self.rng.choice((1, 1, 1, 2)))
        return [(sku, self.rng.randint(1, 2)) for sku in skus]


def build(orders: int, seed: int, directory: Path) -> World:
    """The two platforms with ``orders`` orders each before the install, and the master."""
    (directory / "sheetsync.toml").write_text(CONFIG, encoding="utf-8")
    settings = load(directory / "sheetsync.toml")
    inventory: list[list[object]] = [["SKU", "Quantity"], *([sku, count] for sku, count in COUNTS.items())]
    store = MemoryStore(settings.layout, {INVENTORY_SHEET: inventory})
    clock = ManualClock((INSTALL - HISTORY).timestamp())
    shopify, woo = shopify_fake(clock), woo_fake(clock)
    for sku in COUNTS:
        shopify.add_product(SHOP, sku, stock={LOCATION: 100_000})
        woo.add_product(sku, stock=100_000)
    taps = {SHOPIFY: Tap(shopify, shopify_orders), WOO: Tap(woo, woo_orders)}
    channels: list[ShopifyChannel | WooCommerceChannel] = [
        shopify_channel(taps[SHOPIFY], clock),
        woo_channel(taps[WOO], clock),
    ]
    world = World(
        clock, settings, store, shopify, woo, taps, channels, random.Random(seed),
        {SHOPIFY: {}, WOO: {}}, {SHOPIFY: {}, WOO: {}}, {SHOPIFY: set(), WOO: set()},
    )  # fmt: skip
    step = HISTORY / orders
    last = INSTALL - timedelta(minutes=1)
    for n in range(orders):  # oldest first; the last a minute before the install
        placed = last - (orders - 1 - n) * step
        for platform in PLATFORMS:
            world.at(placed)
            lines = world.lines()
            order = world.place(platform, lines)
            world.history[platform][order] = lines
            world.placed[(platform, order)] = placed
    for platform in PLATFORMS:  # cancellations a day after the order, all before the install
        for n, order in enumerate(world.history[platform]):
            cancelled = last - (orders - 1 - n) * step + timedelta(days=1)
            if n % CANCELLED == CANCELLED - 1 and cancelled < INSTALL - timedelta(hours=1):
                world.at(cancelled)
                world.cancel(platform, order)
    world.at(INSTALL)
    return world


@dataclass(frozen=True, slots=True)
class Cycle:
    n: int
    at: datetime
    order_calls: dict[ChannelName, int]
    other_calls: dict[ChannelName, int]
    new_orders: dict[ChannelName, int]  #: orders placed after the install the fakes sent back
    history_orders: dict[ChannelName, int]  #: orders placed before it the fakes sent back
    ingested: int
    available: dict[str, int]
    wall_s: float


def total_calls(fake: FakeShopify | FakeWooCommerce) -> int:
    return len(fake.request_log)


def run(world: World, n: int) -> tuple[Cycle, Counter[tuple[ChannelName, str]]]:
    fakes: dict[ChannelName, FakeShopify | FakeWooCommerce] = {SHOPIFY: world.shopify, WOO: world.woo}
    calls = {p: order_calls(f) for p, f in fakes.items()}
    totals = {p: total_calls(f) for p, f in fakes.items()}
    sent = {p: len(world.taps[p].sent) for p in PLATFORMS}
    started = time.perf_counter()
    report: CycleReport = run_cycle(world.store, world.channels, world.settings, world.now())
    wall = time.perf_counter() - started
    if report.errors and any(report.errors.values()):
        raise RuntimeError(f"cycle {n}: {dict(report.errors)}")
    returned: Counter[tuple[ChannelName, str]] = Counter()
    for p in PLATFORMS:
        returned.update((p, order) for order in set(world.taps[p].sent[sent[p] :]))
    order_calls_now = {p: order_calls(f) - calls[p] for p, f in fakes.items()}
    return Cycle(
        n,
        world.now(),
        order_calls_now,
        {p: total_calls(f) - totals[p] - order_calls_now[p] for p, f in fakes.items()},
        {p: sum(1 for q, o in returned if q == p and o in world.new[p]) for p in PLATFORMS},
        {p: sum(1 for q, o in returned if q == p and o in world.history[p]) for p in PLATFORMS},
        report.ingested,
        available(world.store),
        wall,
    ), returned


def available(store: MemoryStore) -> dict[str, int]:
    """Each SKU's Available, as the worker wrote it in the sheet."""
    rows = store.sheets[INVENTORY_SHEET]
    header = [str(cell) for cell in rows[0]]
    sku, column = header.index("SKU"), header.index("Available")
    return {str(row[sku]): int(str(row[column])) for row in rows[1:]}


def measure(orders: int, cycles: int = 5, seed: int = 1) -> dict[str, Any]:
    """Build the shop with ``orders`` orders a platform, install, run ``cycles`` more; the figures."""
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        world = build(orders, seed, Path(directory))
        built_s = time.perf_counter() - started
        results = [run(world, 0)]
        for n in range(1, cycles + 1):
            start = world.now()
            moments = sorted(world.rng.uniform(0, CYCLE_GAP.total_seconds()) for _ in range(2 * NEW_ORDERS))
            for k, offset in enumerate(moments):
                world.at(start + timedelta(seconds=offset))
                platform = PLATFORMS[k % 2]
                lines = world.lines()
                world.new[platform][world.place(platform, lines)] = lines
            if n == 2:  # the merchant cancels a 3-month-old order on each platform
                index = orders - orders // 8 - 1
                index -= index % CANCELLED == CANCELLED - 1  # one still open
                for platform in PLATFORMS:
                    old = list(world.history[platform])[index]
                    world.cancel(platform, old)
                    world.touched[platform].add(old)
            world.at(start + CYCLE_GAP)
            results.append(run(world, n))
        return summary(world, orders, [c for c, _ in results], [r for _, r in results], built_s)


def summary(
    world: World,
    orders: int,
    cycles: list[Cycle],
    returned: list[Counter[tuple[ChannelName, str]]],
    built_s: float,
) -> dict[str, Any]:
    ledger = [dict(row.cells) for row in world.store.read().ledger]
    counted: Counter[tuple[str, str, str]] = Counter()  # (channel, order, sku) → SALE rows
    for row in ledger:
        if row.get("movement") in (Movement.SALE.value, Movement.RESTOCK.value, Movement.EDIT.value):
            counted[(row["channel"], row["order"], row["sku"])] += 1
    history_lines = sum(n for (c, o, _), n in counted.items() if o in world.history[ChannelName(c)])
    sold: Counter[str] = Counter()
    new_lines = doubled = lost = 0
    for platform in PLATFORMS:
        for order, lines in world.new[platform].items():
            for sku, units in lines:
                sold[sku] += units
                new_lines += 1
                found = counted[(platform, order, sku)]
                lost += found == 0
                doubled += found > 1
    reads: Counter[tuple[ChannelName, str]] = sum(returned, Counter())
    history_reads = {key: n for key, n in reads.items() if key[1] in world.history[key[0]]}
    overlap = {SHOPIFY: shopify_module.ORDERS_OVERLAP, WOO: woo_module.ORDERS_OVERLAP}

    def why(platform: ChannelName, order: str) -> str:
        """Why the poll sent back an order placed before the install."""
        if order in world.touched[platform]:
            return "cancelled after the install"
        if world.placed[(platform, order)] >= INSTALL - overlap[platform]:
            minutes = overlap[platform].seconds // 60
            return f"placed in the {minutes}-minute re-read overlap before the start line"
        return "UNEXPECTED: neither changed since the install nor in the re-read overlap"

    return {
        "orders_before_install": {p: len(world.history[p]) for p in PLATFORMS},
        "cycles_after_install": len(cycles) - 1,
        "order_calls_per_cycle": {p: [c.order_calls[p] for c in cycles] for p in PLATFORMS},
        "other_calls_per_cycle": {p: [c.other_calls[p] for c in cycles] for p in PLATFORMS},
        # What reading the history once would have cost, at each adapter's page size.
        "history_read_would_take_calls": {
            SHOPIFY: math.ceil(orders / shopify_module.ORDERS_PAGE),
            WOO: math.ceil(orders / woo_module.PER_PAGE),
        },
        "history_orders_returned": {p: sum(1 for q, _ in history_reads if q == p) for p in PLATFORMS},
        "history_orders_returned_detail": [
            {
                "channel": p,
                "order": o,
                "placed": world.placed[(p, o)].strftime("%Y-%m-%dT%H:%M:%SZ"),
                "why": why(p, o),
                "returned_in_cycles": n,
                "lines_counted": sum(k for (c, order, _), k in counted.items() if (c, order) == (p, o)),
            }
            for (p, o), n in sorted(history_reads.items())
        ],
        "history_lines_counted": history_lines,
        "new_orders": {p: len(world.new[p]) for p in PLATFORMS},
        "new_orders_returned": {p: sum(c.new_orders[p] for c in cycles) for p in PLATFORMS},
        "new_lines": new_lines,
        "new_lines_counted_once": new_lines - lost - doubled,
        "new_lines_lost": lost,
        "new_lines_doubled": doubled,
        "available_after_install": cycles[0].available,
        "available": cycles[-1].available,
        "expected": {sku: count - sold[sku] for sku, count in COUNTS.items()},
        "typed": dict(COUNTS),
        "build_s": round(built_s, 1),
        "cycle_wall_s": [round(c.wall_s, 3) for c in cycles],
        "per_cycle": cycles,
    }


def report(orders: int, result: dict[str, Any]) -> None:
    """The per-cycle table and the pre-install orders the fakes sent back."""
    skus = list(COUNTS)
    print(f"{orders:,} orders on Shopify and on WooCommerce over the {HISTORY.days} days before the install")
    print(f"typed at the install: {', '.join(f'{sku} {count}' for sku, count in COUNTS.items())}")
    print()
    print("          order calls    other calls   orders sent back (new / pre-install)  lines")
    print("cycle     shopify  woo   shopify  woo  shopify        woo                   counted  Available")
    for c in result["per_cycle"]:
        name = f"{c.at:%H:%M}" + (" install" if c.n == 0 else "")
        print(
            f"{name:<14}{c.order_calls[SHOPIFY]:>3}{c.order_calls[WOO]:>5}"
            f"{c.other_calls[SHOPIFY]:>10}{c.other_calls[WOO]:>5}"
            f"  {c.new_orders[SHOPIFY]:>3} / {c.history_orders[SHOPIFY]:<8}"
            f"{c.new_orders[WOO]:>3} / {c.history_orders[WOO]:<16}"
            f"{c.ingested:>5}    {' '.join(str(c.available[sku]) for sku in skus)}"
        )
    print()
    would = result["history_read_would_take_calls"]
    print(
        f"reading the history once would take {would[SHOPIFY]:,} Shopify and {would[WOO]:,} WooCommerce calls"
    )
    for found in result["history_orders_returned_detail"]:
        print(
            f"pre-install order sent back: {found['channel']} {found['order']}, placed {found['placed']}"
            f" ({found['why']}): in {found['returned_in_cycles']} cycle(s), lines counted:"
            f" {found['lines_counted']}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=20_000, help="orders a platform before the install")
    parser.add_argument(
        "--cycles", type=int, default=5, help="cycles after the install (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    log(f"{args.orders} orders on each platform over {HISTORY.days} days; installing...")
    result = measure(args.orders, args.cycles, args.seed)
    report(args.orders, result)
    result.pop("per_cycle")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
