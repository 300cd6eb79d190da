"""The API-fault campaign: the real worker, store and channels over the fakes, each behind a Chaos.

:func:`api_fault_campaign` builds a world (a Google Sheet master through gspread, and the
Shopify, Meta, Google Merchant and WooCommerce adapters over their fakes, in-process, all on one
:class:`ManualClock` that every pacing and retry sleep moves), lets buyers order on Shopify and
WooCommerce between cycles while seeded faults hit ~15% of requests
(:class:`sheetsync.testing.chaos.Chaos`), then runs fault-free cycles and checks what the worker
promises: no order line lost or counted twice, nothing oversold by us, every channel converged,
and no rate limit broken by our own retries.
"""

from __future__ import annotations

import functools
import random
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from sheetsync.channels import Channel, OrderSource
from sheetsync.channels.google_merchant import GoogleMerchantChannel
from sheetsync.channels.meta import MetaChannel
from sheetsync.channels.shopify import ShopifyChannel
from sheetsync.channels.woocommerce import WooCommerceChannel
from sheetsync.config import Settings, load
from sheetsync.core import ledger as ledger_
from sheetsync.errors import SyncError
from sheetsync.faults import REFERENCE
from sheetsync.model import INVENTORY_SHEET, ChannelName, Sku
from sheetsync.stores.google_sheets import GoogleSheetsStore, connect
from sheetsync.testing.chaos import Chaos, Platform
from sheetsync.testing.clock import ManualClock
from sheetsync.testing.google_sheets import FakeSheets, SheetSpec
from sheetsync.testing.keys import service_account_key
from sheetsync.testing.merchant import FakeMerchant, load_discovery
from sheetsync.testing.meta import FakeMeta
from sheetsync.testing.shopify import FakeShopify, load_schema
from sheetsync.testing.wire import Handler, HandlerAdapter
from sheetsync.testing.woocommerce import FakeWooCommerce
from sheetsync.worker import CycleReport, run_cycle

#: Black Friday morning, in epoch seconds: where the campaign's clock starts.
START = datetime(2026, 11, 27, 9, tzinfo=UTC).timestamp()
CYCLE_S = 60.0  #: the worker's poll interval in the campaign
SETTLE_CYCLES = 4  #: fault-free cycles at the end, to converge
SKUS = 12
FAULT_RATE = 0.15

SHOP = "chaos.myshopify.com"
SHOPIFY_TOKEN = "shpat_chaos_token"  # noqa: S105 - the fake's token, not a secret
META_CATALOG = "555000111"
META_TOKEN = "EAAG_chaos_token"  # noqa: S105 - the fake's token, not a secret
WOO_SITE = "chaos.example.com"
WOO_KEY = "ck_chaos_key"
WOO_SECRET = "cs_chaos_secret"  # noqa: S105 - the fake's secret, not a real one
MERCHANT_ACCOUNT = "4242"
MERCHANT_EMAIL = "chaos-merchant@shop-project.iam.gserviceaccount.com"
SHEETS_EMAIL = "chaos-sheets@shop-project.iam.gserviceaccount.com"
STORE_CODE = "STORE-1"
LOCATION = "Warehouse"
#: Every secret of the world: no message, log line or sheet cell may hold one.
SECRETS = (SHOPIFY_TOKEN, META_TOKEN, WOO_KEY, WOO_SECRET)

CONFIG = """
[master]
kind = "google_sheets"
spreadsheet = "{sheet}"

[insights]
enabled = false

[channels.shopify]
kind = "shopify"
shop = "chaos"
location = "Warehouse"
tiers = [{{ min = 10, hold = 2 }}, {{ min = 0, hold = "all" }}]

[channels.meta]
kind = "meta"
catalog = "{catalog}"
tiers = [{{ min = 10, hold = 3 }}, {{ min = 0, hold = "all" }}]

[channels.google]
kind = "google_merchant"
account = "{account}"
data_source = "1"
feed_label = "US"
tiers = [{{ min = 10, hold = 4 }}, {{ min = 0, hold = "all" }}]

[channels.woo]
kind = "woocommerce"
site = "https://chaos.example.com"
tiers = [{{ min = 10, hold = 2 }}, {{ min = 0, hold = "all" }}]
"""


@functools.cache
def _key(email: str) -> dict[str, str]:
    return service_account_key(email)  # RSA generation is slow: once per e-mail and process


@functools.cache
def _shopify_schema() -> Any:
    return load_schema(REFERENCE / "shopify" / "admin_2026-10.json.gz")


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
    rng = random.Random(seed)  # noqa: S311 - a test world, not secrets
    clock = ManualClock(START)
    names = [Sku(f"SKU-{n:03d}") for n in range(skus)]
    sheets = FakeSheets(now=clock)
    sheet = sheets.create_spreadsheet("Chaos", sheets=(SheetSpec(INVENTORY_SHEET, rows=skus + 10),))
    sheets.share(sheet, SHEETS_EMAIL)
    rows: list[list[Any]] = [["SKU", "Quantity"], *([sku, rng.randint(4, 30)] for sku in names)]
    sheets.set_values(sheet, f"{INVENTORY_SHEET}!A1", rows, value_input_option="RAW")

    shopify = FakeShopify({"2026-10": _shopify_schema()}, now=clock)
    shopify.create_shop(SHOP, SHOPIFY_TOKEN, locations=[LOCATION])
    meta = FakeMeta(REFERENCE / "meta" / "catalog_sdk_summary.json", now=clock)
    meta.create_catalog(META_CATALOG, META_TOKEN)
    woo = FakeWooCommerce(
        REFERENCE / "woocommerce" / "rest_v3_reference.json",
        consumer_key=WOO_KEY,
        consumer_secret=WOO_SECRET,
        now=clock,
        rate_limit=(60, 60.0),  # a host's limit: 60 requests a minute
    )
    merchant = FakeMerchant(load_discovery(REFERENCE / "discovery"), now=clock)
    info = _key(MERCHANT_EMAIL)
    merchant.add_service_account(info)
    merchant.create_account(MERCHANT_ACCOUNT, users=[info["client_email"]])
    for sku in names:
        shopify.add_product(SHOP, sku, stock={LOCATION: 0})
        meta.add_product(META_CATALOG, sku, availability="out of stock", quantity_to_sell_on_facebook=0)
        woo.add_product(sku, stock=0)
        merchant.add_product(MERCHANT_ACCOUNT, sku, attributes={"availability": "IN_STOCK"})

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
    config.write_text(CONFIG.format(sheet=sheet, catalog=META_CATALOG, account=MERCHANT_ACCOUNT))
    settings = load(config)
    client = connect(_key(SHEETS_EMAIL), adapter=HandlerAdapter(chaos["sheets"]))
    store = GoogleSheetsStore(client, sheet, settings.layout, account=SHEETS_EMAIL, sleep=clock.sleep)
    store.prepare()

    def mock(name: str) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(chaos[name]))

    channels: list[Channel] = [
        ShopifyChannel(
            ChannelName("shopify"),
            shop=SHOP,
            token=SHOPIFY_TOKEN,
            location=LOCATION,
            client=mock("shopify"),
            sleep=clock.sleep,
            clock=clock,
        ),
        MetaChannel(
            ChannelName("meta"),
            catalog_id=META_CATALOG,
            token=META_TOKEN,
            client=mock("meta"),
            sleep=clock.sleep,
            clock=clock,
        ),
        GoogleMerchantChannel(
            ChannelName("google"),
            account=MERCHANT_ACCOUNT,
            data_source="1",
            content_language="en",
            feed_label="US",
            service_account_info=info,
            store_code=STORE_CODE,
            client=mock("google"),
            sleep=clock.sleep,
            clock=clock,
        ),
        WooCommerceChannel(
            ChannelName("woo"),
            site=WOO_SITE,
            consumer_key=WOO_KEY,
            consumer_secret=WOO_SECRET,
            client=mock("woo"),
            sleep=clock.sleep,
            clock=clock,
        ),
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
    rng = random.Random(seed)  # noqa: S311 - buyers for a test, not secrets
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
