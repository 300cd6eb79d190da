"""Building blocks the benchmarks share: the fakes, seeded with a synthetic catalogue, and the
real adapters wired to them in-process (httpx.MockTransport, or a requests adapter for gspread).

Every fake runs on a :class:`ManualClock`: an adapter's pacing or polling sleep moves that clock
instead of waiting, so wall time is the code's own, never a rate limit's.
"""

from __future__ import annotations

import functools
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from sheetsync.channels.google_merchant import GoogleMerchantChannel
from sheetsync.channels.meta import MetaChannel
from sheetsync.channels.shopify import ShopifyChannel
from sheetsync.channels.woocommerce import WooCommerceChannel
from sheetsync.model import INVENTORY_SHEET, ChannelName, Layout
from sheetsync.stores.google_sheets import GoogleSheetsStore, connect
from sheetsync.testing.clock import ManualClock
from sheetsync.testing.google_sheets import FakeSheets, SheetSpec
from sheetsync.testing.keys import service_account_key
from sheetsync.testing.merchant import FakeMerchant, load_discovery
from sheetsync.testing.meta import FakeMeta
from sheetsync.testing.shopify import FakeShopify, load_schema
from sheetsync.testing.wire import HandlerAdapter
from sheetsync.testing.woocommerce import FakeWooCommerce

#: Black Friday morning, in epoch seconds: where the fakes' clocks start.
START = datetime(2026, 11, 27, 9, tzinfo=UTC).timestamp()

REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"
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


def log(message: str) -> None:
    """Progress on stderr, so stdout stays the report."""
    print(message, file=sys.stderr, flush=True)


def sku_names(skus: int) -> list[str]:
    """The synthetic catalogue's SKUs."""
    return [f"SKU-{i:06d}" for i in range(skus)]


@functools.cache
def shopify_schema() -> Any:
    """The real Admin schema (a few tenths of a second to build: once per process)."""
    return load_schema(SHOPIFY_SCHEMA)


@functools.cache
def key(email: str) -> dict[str, str]:
    """A real service-account key (RSA generation is slow: one per e-mail and process)."""
    return service_account_key(email)


def mock_client(fake: Any) -> httpx.Client:
    """An httpx client whose every request the fake answers in-process."""
    return httpx.Client(transport=httpx.MockTransport(fake))


# -- Shopify --------------------------------------------------------------------------------------


def shopify_fake(clock: ManualClock) -> FakeShopify:
    """A Shopify fake with one Standard-plan shop and its one location."""
    fake = FakeShopify({"2026-10": shopify_schema()}, now=clock)
    fake.create_shop(SHOP, SHOPIFY_TOKEN, locations=[LOCATION])
    return fake


def shopify_channel(
    fake: FakeShopify, clock: ManualClock, name: str = "shopify", base_url: str | None = None
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
    """A Meta fake with one catalog the bench's token manages."""
    fake = FakeMeta(META_SUMMARY, now=clock)
    fake.create_catalog(META_CATALOG, META_TOKEN)
    return fake


def meta_channel(
    fake: FakeMeta, clock: ManualClock, name: str = "meta", base_url: str | None = None
) -> MetaChannel:
    """The real adapter over ``fake``: in-process, or over HTTP at ``base_url``."""
    return MetaChannel(
        ChannelName(name),
        catalog_id=META_CATALOG,
        token=META_TOKEN,
        base_url=base_url,
        client=None if base_url else mock_client(fake),
        sleep=clock.sleep,
        clock=clock,
    )


# -- WooCommerce ----------------------------------------------------------------------------------


def woo_fake(clock: ManualClock) -> FakeWooCommerce:
    """A WooCommerce fake that knows the bench's REST key."""
    return FakeWooCommerce(WOO_SPEC, consumer_key=WOO_KEY, consumer_secret=WOO_SECRET, now=clock)


def woo_channel(
    fake: FakeWooCommerce, clock: ManualClock, name: str = "woo", base_url: str | None = None
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
    """A Merchant API fake with one account the bench's service account may use."""
    fake = FakeMerchant(load_discovery(DISCOVERY), now=clock)
    info = key(MERCHANT_EMAIL)
    fake.add_service_account(info)
    fake.create_account(MERCHANT_ACCOUNT, users=[info["client_email"]])
    return fake


def merchant_channel(
    fake: FakeMerchant,
    clock: ManualClock,
    name: str = "google",
    base_url: str | None = None,
) -> GoogleMerchantChannel:
    """The real adapter over ``fake``, online availability only (no store): in-process, or over
    HTTP at ``base_url``.
    """
    return GoogleMerchantChannel(
        ChannelName(name),
        account=MERCHANT_ACCOUNT,
        data_source="1",
        content_language="en",
        feed_label="US",
        service_account_info=key(MERCHANT_EMAIL),
        base_url=base_url,
        token_url=f"{base_url}/token" if base_url else None,
        client=None if base_url else mock_client(fake),
        sleep=clock.sleep,
        clock=clock,
    )


# -- Google Sheets --------------------------------------------------------------------------------


def sheets_fake(rows: list[list[Any]], *, title: str = "Bench") -> tuple[FakeSheets, str]:
    """A Sheets fake holding one spreadsheet whose Inventory tab holds ``rows`` (header first).

    Quotas are raised well above Google's 60 requests a minute: the bench measures calls, not
    the per-minute wait a naive script would meet (the wait is reported apart).
    """
    fake = FakeSheets(read_quota_per_minute=10**9, write_quota_per_minute=10**9)
    sheet = fake.create_spreadsheet(title, sheets=(SheetSpec(INVENTORY_SHEET, rows=len(rows) + 10),))
    fake.share(sheet, SHEETS_EMAIL)
    fake.set_values(sheet, f"{INVENTORY_SHEET}!A1", rows, value_input_option="RAW")
    return fake, sheet


def sheets_store(fake: FakeSheets, sheet: str, layout: Layout) -> GoogleSheetsStore:
    """The real store (gspread, google-auth) over ``fake`` in-process."""
    client = connect(key(SHEETS_EMAIL), adapter=HandlerAdapter(fake))
    return GoogleSheetsStore(client, sheet, layout, account=SHEETS_EMAIL, sleep=lambda _: None)
