"""The world of fakes that the fault campaigns and the benchmarks share.

Every platform's fake with one account, a synthetic catalogue listed everywhere, and the real
store and adapters wired to them in-process (httpx.MockTransport, or a requests adapter for
gspread).

Every fake runs on a :class:`ManualClock`: an adapter's pacing or polling sleep moves that clock
instead of waiting, so wall time is the code's own, never a rate limit's.  The channel builders
take any handler, so a campaign can put a :class:`sheetsync_fakes.chaos.Chaos` in front.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sheetsync_fakes import REFERENCE
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.google_sheets import (
    READ_QUOTA_PER_MINUTE,
    WRITE_QUOTA_PER_MINUTE,
    FakeSheets,
    SheetSpec,
)
from sheetsync_fakes.keys import service_account_key
from sheetsync_fakes.merchant import FakeMerchant, load_discovery
from sheetsync_fakes.meta import FakeMeta
from sheetsync_fakes.shopify import FakeShopify, load_schema
from sheetsync_fakes.wire import Handler, HandlerAdapter
from sheetsync_fakes.woocommerce import FakeWooCommerce

from sheetsync.channels.google_merchant import GoogleMerchantChannel
from sheetsync.channels.meta import MetaChannel
from sheetsync.channels.shopify import ShopifyChannel
from sheetsync.channels.woocommerce import WooCommerceChannel
from sheetsync.model import INVENTORY_SHEET, ChannelName, Layout
from sheetsync.stores.google_sheets import GoogleSheetsStore, connect

#: Black Friday morning, in epoch seconds: where the fakes' clocks start.
START = datetime(2026, 11, 27, 9, tzinfo=UTC).timestamp()

SHOPIFY_SCHEMA = REFERENCE / "shopify" / "admin_2026-10.json.gz"
META_SUMMARY = REFERENCE / "meta" / "catalog_sdk_summary.json"
WOO_SPEC = REFERENCE / "woocommerce" / "rest_v3_reference.json"
DISCOVERY = REFERENCE / "discovery"

SHOP = "bench.myshopify.com"
SHOPIFY_TOKEN = "shpat_bench_token"  # noqa: S105 - the fake's token, not a secret
LOCATION = "Warehouse"
META_CATALOG = "555000111"
META_TOKEN = "EAAG_bench_token"  # noqa: S105 - the fake's token, not a secret
WOO_SITE = "bench.example.com"
WOO_KEY = "ck_bench_key"
WOO_SECRET = "cs_bench_secret"  # noqa: S105 - the fake's secret, not a real one
MERCHANT_ACCOUNT = "4242"
MERCHANT_EMAIL = "bench@shop-project.iam.gserviceaccount.com"
SHEETS_EMAIL = "bench-sheets@shop-project.iam.gserviceaccount.com"

#: The worker's config for this world: a Google Sheet master and the four channels, each with
#: its own tiers.  The daily Insights sheet is left out: the campaigns and benchmarks measure the
#: sync, not a report written once a day.
CONFIG = """
[master]
kind = "google_sheets"
spreadsheet = "{sheet}"

[insights]
enabled = false

# The benchmarks measure full pushes from a fresh worker: no first-sync confirmation (issue 23).
[first_sync]
confirm = false

[channels.shopify]
kind = "shopify"
shop = "bench"
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
site = "https://bench.example.com"
tiers = [{{ min = 10, hold = 2 }}, {{ min = 0, hold = "all" }}]
"""


def config_text(sheet: str) -> str:
    """:data:`CONFIG` for the spreadsheet ``sheet`` and this world's catalog and account."""
    return CONFIG.format(sheet=sheet, catalog=META_CATALOG, account=MERCHANT_ACCOUNT)


def sku_names(skus: int) -> list[str]:
    """The synthetic catalogue's SKUs."""
    return [f"SKU-{i:06d}" for i in range(skus)]


@functools.cache
def shopify_schema(path: Path = SHOPIFY_SCHEMA) -> Any:
    """The real Admin schema (a few tenths of a second to build: once per process)."""
    return load_schema(path)


@functools.cache
def key(email: str) -> dict[str, str]:
    """A real service-account key (RSA generation is slow: one per e-mail and process)."""
    return service_account_key(email)


def mock_client(fake: Handler) -> httpx.Client:
    """An httpx client whose every request the fake answers in-process."""
    return httpx.Client(transport=httpx.MockTransport(fake))


# -- Shopify --------------------------------------------------------------------------------------


def shopify_fake(clock: ManualClock) -> FakeShopify:
    """A Shopify fake with one Standard-plan shop and its one location."""
    fake = FakeShopify({"2026-10": shopify_schema()}, now=clock)
    fake.create_shop(SHOP, SHOPIFY_TOKEN, locations=[LOCATION])
    return fake


def shopify_channel(
    fake: Handler, clock: ManualClock, name: str = "shopify", base_url: str | None = None
) -> ShopifyChannel:
    """The real adapter over ``fake``: in-process, or over HTTP at ``base_url`` (``wire.serve``)."""
    return ShopifyChannel(
        ChannelName(name),
        shop=SHOP,
        token=SHOPIFY_TOKEN,
        location=LOCATION,
        base_url=base_url,
        client=None if base_url else mock_client(fake),
        sleep=clock.sleep,
        clock=clock,
    )


# -- Meta -----------------------------------------------------------------------------------------


def meta_fake(clock: ManualClock) -> FakeMeta:
    """A Meta fake with one catalog this world's token manages."""
    fake = FakeMeta(META_SUMMARY, now=clock)
    fake.create_catalog(META_CATALOG, META_TOKEN)
    return fake


def meta_channel(
    fake: Handler, clock: ManualClock, name: str = "meta", base_url: str | None = None
) -> MetaChannel:
    """The real adapter over ``fake``, opened as the worker opens it: in-process, or over HTTP at
    ``base_url``.
    """
    return MetaChannel(
        ChannelName(name),
        catalog_id=META_CATALOG,
        token=META_TOKEN,
        base_url=base_url,
        client=None if base_url else mock_client(fake),
        sleep=clock.sleep,
        clock=clock,
        # As sheetsync.worker opens it: a push never waits for Meta's processing; its open
        # batches are asked about at the next push.
        settle_s=0.0,
    )


# -- WooCommerce ----------------------------------------------------------------------------------


def woo_fake(clock: ManualClock, rate_limit: tuple[int, float] | None = None) -> FakeWooCommerce:
    """A WooCommerce fake that knows this world's REST key, with a host's ``rate_limit`` if any."""
    return FakeWooCommerce(
        WOO_SPEC, consumer_key=WOO_KEY, consumer_secret=WOO_SECRET, now=clock, rate_limit=rate_limit
    )


def woo_channel(
    fake: Handler, clock: ManualClock, name: str = "woo", base_url: str | None = None
) -> WooCommerceChannel:
    """The real adapter over ``fake``: in-process, or over HTTP at ``base_url``."""
    return WooCommerceChannel(
        ChannelName(name),
        site=WOO_SITE,
        consumer_key=WOO_KEY,
        consumer_secret=WOO_SECRET,
        base_url=base_url,
        client=None if base_url else mock_client(fake),
        sleep=clock.sleep,
        clock=clock,
    )


# -- Google Merchant Center -----------------------------------------------------------------------


def merchant_fake(clock: ManualClock) -> FakeMerchant:
    """A Merchant API fake with one account this world's service account may use."""
    fake = FakeMerchant(load_discovery(DISCOVERY), now=clock)
    info = key(MERCHANT_EMAIL)
    fake.add_service_account(info)
    fake.create_account(MERCHANT_ACCOUNT, users=[info["client_email"]])
    return fake


def merchant_channel(
    fake: Handler,
    clock: ManualClock,
    name: str = "google",
    base_url: str | None = None,
    store_code: str | None = None,
) -> GoogleMerchantChannel:
    """The real adapter over ``fake``: online availability, and a store's if ``store_code``."""
    return GoogleMerchantChannel(
        ChannelName(name),
        account=MERCHANT_ACCOUNT,
        data_source="1",
        content_language="en",
        feed_label="US",
        service_account_info=key(MERCHANT_EMAIL),
        store_code=store_code,
        base_url=base_url,
        token_url=f"{base_url}/token" if base_url else None,
        client=None if base_url else mock_client(fake),
        sleep=clock.sleep,
        clock=clock,
    )


# -- Google Sheets --------------------------------------------------------------------------------


def sheets_fake(
    rows: list[list[Any]], *, title: str = "Bench", clock: ManualClock | None = None, quotas: bool = False
) -> tuple[FakeSheets, str]:
    """A Sheets fake holding one spreadsheet whose Inventory tab holds ``rows`` (header first).

    Without ``quotas`` they are raised well above Google's 60 requests a minute: the bench
    measures calls, not the per-minute wait a naive script would meet (the wait is reported apart).
    """
    fake = FakeSheets(
        read_quota_per_minute=READ_QUOTA_PER_MINUTE if quotas else 10**9,
        write_quota_per_minute=WRITE_QUOTA_PER_MINUTE if quotas else 10**9,
        now=clock or time.monotonic,
    )
    sheet = fake.create_spreadsheet(title, sheets=(SheetSpec(INVENTORY_SHEET, rows=len(rows) + 10),))
    fake.share(sheet, SHEETS_EMAIL)
    fake.set_values(sheet, f"{INVENTORY_SHEET}!A1", rows, value_input_option="RAW")
    return fake, sheet


def sheets_store(
    fake: Handler, sheet: str, layout: Layout, sleep: Callable[[float], None] = lambda _: None
) -> GoogleSheetsStore:
    """The real store (gspread, google-auth) over ``fake`` in-process."""
    client = connect(key(SHEETS_EMAIL), adapter=HandlerAdapter(fake))
    return GoogleSheetsStore(client, sheet, layout, account=SHEETS_EMAIL, sleep=sleep)


def list_everywhere(
    skus: Sequence[str],
    shopify: FakeShopify,
    meta: FakeMeta,
    woo: FakeWooCommerce,
    merchant: FakeMerchant,
    *,
    shop: str = SHOP,
    google_availability: str = "IN_STOCK",
) -> dict[str, dict[str, str]]:
    """List each SKU on every channel, showing nothing yet; the Shopify and Woo ids, per SKU.

    Google keeps ``google_availability``: what the merchant's own feed says before we push.
    """
    ids: dict[str, dict[str, str]] = {"shopify": {}, "woo": {}}
    for sku in skus:
        (variant,) = shopify.add_product(shop, sku, stock={LOCATION: 0})
        ids["shopify"][sku] = variant.inventory_item_id
        meta.add_product(META_CATALOG, sku, availability="out of stock", quantity_to_sell_on_facebook=0)
        ids["woo"][sku] = str(woo.add_product(sku, stock=0))
        merchant.add_product(MERCHANT_ACCOUNT, sku, attributes={"availability": google_availability})
    return ids
