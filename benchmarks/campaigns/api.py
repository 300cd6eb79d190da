"""The API-fault campaign: the real worker, store and channels over the fakes, each behind a Chaos.

:func:`api_fault_campaign` builds a world (a Google Sheet master through gspread, and the
Shopify, Meta, Google Merchant and WooCommerce adapters over their fakes, in-process, all on one
:class:`ManualClock` that every pacing and retry sleep moves), lets buyers order on Shopify and
WooCommerce between cycles while seeded faults hit ~15% of requests
(:class:`sheetsync_fakes.chaos.Chaos`), then runs fault-free cycles and checks what the worker
promises: no order line lost or counted twice, nothing oversold by us, every channel converged,
and no rate limit broken by our own retries.
"""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sheetsync_fakes.chaos import Chaos, Platform
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.google_sheets import FakeSheets
from sheetsync_fakes.shopify import FakeShopify
from sheetsync_fakes.wire import Handler
from sheetsync_fakes.woocommerce import FakeWooCommerce

from campaigns.platforms import (
    LOCATION,
    SHOP,
    START,
    config_text,
    list_everywhere,
    merchant_channel,
    merchant_fake,
    meta_channel,
    meta_fake,
    sheets_fake,
    sheets_store,
    shopify_channel,
    shopify_fake,
    woo_channel,
    woo_fake,
)
from sheetsync.channels import Channel, OrderSource
from sheetsync.config import Settings, load
from sheetsync.core import ledger as ledger_
from sheetsync.errors import SyncError
from sheetsync.model import Sku
from sheetsync.stores.google_sheets import GoogleSheetsStore
from sheetsync.worker import CycleReport, run_cycle

CYCLE_S = 60.0  #: the worker's poll interval in the campaign
SETTLE_CYCLES = 4  #: fault-free cycles at the end, to converge
SKUS = 12
FAULT_RATE = 0.15
STORE_CODE = "STORE-1"  #: Google gets local (store) availability too, a second kind of write


@dataclass
class World:
    """The fakes, each behind a Chaos, and the real store and channels over them."""

    clock: ManualClock
    skus: list[Sku]
    sheets: FakeSheets
    shopify: FakeShopify
    woo: FakeWooCommerce
    chaos: dict[str, Chaos]
    settings: Settings
    store: GoogleSheetsStore
    channels: list[Channel]


def build_world(seed: int, directory: Path, skus: int = SKUS) -> World:
    """A Google Sheet master and four real channels, all on one ManualClock, faults off."""
    rng = random.Random(seed)
    clock = ManualClock(START)
    names = [Sku(f"SKU-{n:03d}") for n in range(skus)]
    rows: list[list[Any]] = [["SKU", "Quantity"], *([sku, rng.randint(4, 30)] for sku in names)]
    sheets, sheet = sheets_fake(rows, title="Chaos", clock=clock, quotas=True)
    shopify, meta, merchant = shopify_fake(clock), meta_fake(clock), merchant_fake(clock)
    woo = woo_fake(clock, rate_limit=(60, 60.0))  # a host's limit: 60 requests a minute
    list_everywhere(names, shopify, meta, woo, merchant)
    fakes: dict[str, tuple[Handler, Platform]] = {
        "sheets": (sheets, "google_sheets"),
        "shopify": (shopify, "shopify"),
        "meta": (meta, "meta"),
        "google": (merchant, "google_merchant"),
        "woo": (woo, "woocommerce"),
    }
    chaos = {
        name: Chaos(fake, platform, seed=seed * 1000 + n, clock=clock)
        for n, (name, (fake, platform)) in enumerate(fakes.items())
    }
    config = directory / "sheetsync.toml"
    config.write_text(config_text(sheet))
    settings = load(config)
    store = sheets_store(chaos["sheets"], sheet, settings.layout, sleep=clock.sleep)
    store.prepare()
    channels: list[Channel] = [
        shopify_channel(chaos["shopify"], clock),
        meta_channel(chaos["meta"], clock),
        merchant_channel(chaos["google"], clock, store_code=STORE_CODE),
        woo_channel(chaos["woo"], clock),
    ]
    return World(clock, names, sheets, shopify, woo, chaos, settings, store, channels)


def _buyers(world: World, rng: random.Random) -> None:
    """A buyer or two on Shopify and on WooCommerce, taking only what the channel shows."""
    shown = world.shopify.levels(SHOP)
    for sku in rng.sample(world.skus, rng.randint(0, 2)):
        if (quantity := shown.get((sku, LOCATION), 0)) > 0:
            world.shopify.place_order(SHOP, [(sku, rng.randint(1, min(2, quantity)))])
    for sku in rng.sample(world.skus, rng.randint(0, 2)):
        if (quantity := world.woo.stock(sku) or 0) > 0:
            world.woo.place_order([(sku, rng.randint(1, min(2, quantity)))], status="processing")


def _cycle(world: World) -> CycleReport | None:
    """One worker cycle; a store failure ends it as ``run_forever`` would (None)."""
    now = datetime.fromtimestamp(world.clock(), UTC)
    try:
        return run_cycle(world.store, world.channels, world.settings, now)
    except SyncError:
        return None


def api_fault_campaign(seed: int, cycles: int = 40, rate: float = FAULT_RATE) -> dict[str, int]:
    """Run ``cycles`` cycles under seeded faults on every API, then converge; what went wrong.

    Returns ``faults`` injected, ``cycles`` run, ``failed_cycles`` (ended by a store failure),
    ``lost`` (order lines the channels hold and the Ledger lacks), ``doubled`` (order lines the
    worker counts more than once), ``ledger_duplicate_rows`` (rows repeating a key, as a retried
    ``values:append`` leaves them: harmless when ``doubled`` is 0), ``oversold_by_us`` ((channel,
    SKU) pairs showing more than the master has available), ``unconverged`` (channel quantities
    other than the plan's targets) and ``rate_limit_violations`` (throttles the fakes answered to
    our own traffic, not injected ones).
    """
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as directory:
        world = build_world(seed, Path(directory))
        failed = 0
        report: CycleReport | None = None
        for n in range(cycles + SETTLE_CYCLES):
            faulty = n < cycles
            for chaos in world.chaos.values():
                chaos.rate = rate if faulty else 0.0
            if faulty and n:
                _buyers(world, rng)
            report = _cycle(world)
            failed += report is None
            world.clock.sleep(CYCLE_S)
        figures = _verdict(world, report)
    return {
        "faults": sum(c.faults for c in world.chaos.values()),
        "cycles": cycles + SETTLE_CYCLES,
        "failed_cycles": failed,
        **figures,
        "rate_limit_violations": sum(c.violations for c in world.chaos.values()),
    }


def _verdict(world: World, report: CycleReport | None) -> dict[str, int]:
    """Compare the Ledger with every order the channels hold, and the channels with the plan."""
    if report is None:
        raise AssertionError("the last fault-free cycle failed")
    snapshot = world.store.read()
    parsed = ledger_.parse_ledger(snapshot.ledger, world.settings.locations)
    counted = Counter(e.key for e in parsed.entries)
    raw = Counter(key for row in snapshot.ledger if (key := row.cells.get("key", "").strip()))
    truth = {
        line.key: line
        for channel in world.channels
        if isinstance(channel, OrderSource)
        for line in channel.orders_since(None).lines
    }
    lost = sum(1 for key in truth if key not in counted)
    doubled = sum(n - 1 for n in counted.values() if n > 1)
    oversold = unconverged = 0
    for channel in world.channels:
        shown = channel.read_levels(world.skus)
        for row in report.plan.rows:
            decision = row.decisions.get(channel.name)
            quantity = shown.get(row.row.sku)
            if decision is None:
                continue
            oversold += quantity is not None and quantity > row.available
            unconverged += quantity != decision.target
    return {
        "lost": lost,
        "doubled": doubled,
        "ledger_duplicate_rows": sum(n - 1 for n in raw.values() if n > 1),
        "oversold_by_us": oversold,
        "unconverged": unconverged,
    }
