"""Order reads in webhook mode: the poll reads only what is new, however many orders came by webhook.

    python benchmarks/webhook_reads.py                 # 400 orders, a cycle after each
    python benchmarks/webhook_reads.py --orders 1000

A Shopify shop (the local fake, through the real adapter) takes one order at a time; each is
delivered to the worker as its ``orders/create`` webhook and a cycle runs, polling the shop as
every cycle does.  The webhook copy of each line wins its ledger key and carries no cursor, so
before the State's read mark the poll never moved past the start line and re-read every order
each cycle (551, 2,101 and 8,201 order requests after 100, 200 and 400 orders).

It prints the order requests the fake logged (ground truth) after 100, 200, 400… orders, and a
last JSON line: ``requests_per_cycle`` must stay flat and ``counted`` equal ``orders``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from campaigns.platforms import LOCATION, SHOP, shopify_channel, shopify_fake
from sheetsync_fakes.clock import ManualClock

from sheetsync.channels.shopify import webhook_lines
from sheetsync.config import load
from sheetsync.model import INVENTORY_SHEET, LEDGER_SHEET, ChannelName
from sheetsync.stores.memory import MemoryStore
from sheetsync.worker import run_cycle

INSTALL = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
GAP = timedelta(seconds=20)  #: between two orders, and so between two cycles
CONFIG = """
[master]
kind = "workbook"
path = "unused.xlsx"

[channels.shopify]
kind = "shopify"
shop = "bench"
location = "Warehouse"
"""
SHOPIFY = ChannelName("shopify")


def measure(orders: int, directory: Path) -> dict[str, Any]:
    """Run ``orders`` orders through webhook and poll; order requests counted by the fake."""
    (directory / "sheetsync.toml").write_text(CONFIG, encoding="utf-8")
    settings = load(directory / "sheetsync.toml")
    store = MemoryStore(settings.layout, {INVENTORY_SHEET: [["SKU", "Quantity"], ["MUG", 1_000_000]]})
    clock = ManualClock(INSTALL.timestamp())
    fake = shopify_fake(clock)
    fake.add_product(SHOP, "MUG", stock={LOCATION: 1_000_000})
    requests = 0

    def count(call: Any) -> None:
        nonlocal requests
        requests += bool({"orders", "order"} & set(call.root_fields))

    fake.before_request = count
    channel = shopify_channel(fake, clock)
    now = INSTALL
    run_cycle(store, [channel], settings, now)  # the install: its start line
    marks: dict[int, int] = {}
    for n in range(1, orders + 1):
        now += GAP
        clock.now = now.timestamp()
        order = fake.place_order(SHOP, [("MUG", 1)])
        delivery = fake.webhook("orders/create", order)
        delivered = webhook_lines("orders/create", json.loads(delivery.body), channel=SHOPIFY)
        run_cycle(store, [channel], settings, now, delivered=delivered)
        if n & (n - 1) == 0 or n % 100 == 0:
            marks[n] = requests
    sales = [row for row in store.sheets[LEDGER_SHEET][1:] if "SALE" in row]
    return {
        "orders": orders,
        "order_requests_after": marks,
        "requests_per_cycle": round(requests / orders, 2),
        "counted": len(sales),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        figures = measure(args.orders, Path(directory))
    for n, requests in figures["order_requests_after"].items():
        if n % 100 == 0:
            print(f"after {n:>5} orders: {requests:>6} order requests")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
