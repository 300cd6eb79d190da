"""One harness per channel backend; the contract suite runs against every one of them.

A new channel proves itself by adding a backend here: ``make`` builds the real adapter over its
fake, and the other methods act on the platform side (a buyer, the clock).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

import httpx
import pytest
from graphql import GraphQLSchema
from sheetsync_fakes import REFERENCE as REFERENCE_ROOT
from sheetsync_fakes.amazon import FakeAmazon
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.emag import FakeEmag
from sheetsync_fakes.keys import service_account_key
from sheetsync_fakes.merchant import FakeMerchant, load_discovery
from sheetsync_fakes.meta import FakeMeta
from sheetsync_fakes.shopify import FakeShopify, load_schema
from sheetsync_fakes.woocommerce import FakeWooCommerce

from sheetsync.channels import Channel
from sheetsync.channels.amazon import USAGE_PLANS, AmazonChannel
from sheetsync.channels.emag import EmagChannel
from sheetsync.channels.google_merchant import GoogleMerchantChannel
from sheetsync.channels.meta import MetaChannel
from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.channels.shopify import ShopifyChannel
from sheetsync.channels.woocommerce import WooCommerceChannel
from sheetsync.model import (
    ChannelLimits,
    ChannelName,
    OrderBatch,
    PushOutcome,
    Sku,
    StockLevel,
)
from sheetsync.pacing import Allowance

#: Black Friday morning, in epoch seconds: where the fakes' clocks start.
START = datetime(2026, 11, 27, 9, tzinfo=UTC).timestamp()

SHOPIFY_REFERENCE = REFERENCE_ROOT / "shopify"
WOO_REFERENCE = REFERENCE_ROOT / "woocommerce"
META_REFERENCE = REFERENCE_ROOT / "meta"
DISCOVERY = REFERENCE_ROOT / "discovery"


class ChannelBackend(Protocol):
    sells: bool  # it is an OrderSource: buyers check out on it

    def make(self, skus: list[str]) -> Channel: ...
    def sell(self, sku: str, quantity: int) -> str: ...  # returns the platform's order id
    def cancel(self, order_id: str) -> None: ...
    def settle(self) -> None: ...  # let the platform finish processing what was pushed
    def price(self, sku: str) -> Decimal | None: ...  # what the platform holds; None: no price/listing


class SandboxBackend:
    sells = True
    lag = timedelta(seconds=90)

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
        self.channel: SandboxChannel | None = None

    def make(self, skus: list[str]) -> Channel:
        self.channel = SandboxChannel(
            ChannelName("sandbox"),
            lambda: self.now,
            lag_s=self.lag.total_seconds(),
            skus=skus,
            max_batch=5,
            calls_per_hour=1000,
        )
        return self.channel

    def charged(self) -> dict[str, int]:
        """The sandbox is its own platform: the push calls it accepted."""
        assert self.channel is not None
        return {"calls": self.channel.push_calls}

    def sell(self, sku: str, quantity: int) -> str:
        assert self.channel is not None
        assert self.channel.sell(Sku(sku), quantity)
        return self.channel.orders_since(None).lines[-1].order_id

    def cancel(self, order_id: str) -> None:
        assert self.channel is not None
        self.channel.cancel(order_id)

    def settle(self) -> None:
        self.now += self.lag

    def price(self, sku: str) -> Decimal | None:
        assert self.channel is not None
        return self.channel.read_prices([Sku(sku)]).get(Sku(sku))


@functools.cache
def shopify_schema(version: str = "2026-10") -> GraphQLSchema:
    """The real Admin schema, built once per session (a few tenths of a second each)."""
    return load_schema(SHOPIFY_REFERENCE / f"admin_{version}.json.gz")


class ShopifyBackend:
    """The real ShopifyChannel over FakeShopify in-process (httpx.MockTransport)."""

    sells = True

    shop = "contract.myshopify.com"
    token = "shpat_contract_token"

    def __init__(self) -> None:
        self.clock = ManualClock(START)
        self.fake = FakeShopify({"2026-10": shopify_schema()}, now=self.clock)

    def make(self, skus: list[str]) -> Channel:
        self.fake.create_shop(self.shop, self.token, locations=["Warehouse"])
        for sku in skus:
            # Listed but never stocked at the location, like a fresh sandbox listing: no level yet.
            self.fake.add_product(self.shop, sku, stock={})
        return ShopifyChannel(
            ChannelName("shopify"),
            shop=self.shop,
            token=self.token,
            location="Warehouse",
            client=httpx.Client(transport=httpx.MockTransport(self.fake)),
            sleep=self.clock.sleep,
            clock=self.clock,
        )

    def sell(self, sku: str, quantity: int) -> str:
        # Order lines carry Shopify's legacy numeric id (the REST and webhook spelling of the gid).
        return self.fake.place_order(self.shop, [(sku, quantity)]).rsplit("/", 1)[-1]

    def cancel(self, order_id: str) -> None:
        self.fake.cancel_order(f"gid://shopify/Order/{order_id}")

    def settle(self) -> None:
        """Shopify applies a set at once: nothing to wait for."""

    def charged(self) -> dict[str, int]:
        """The cost points the shop's bucket was charged, from the fake's request log."""
        return {"points": sum(entry.actual_cost or 0 for entry in self.fake.request_log)}

    def price(self, sku: str) -> Decimal | None:
        try:
            return self.fake.price(self.shop, sku)
        except KeyError:  # no variant (or several) with this SKU
            return None


class MetaBackend:
    """The real MetaChannel over FakeMeta in-process; push-only (Meta ended on-site checkout)."""

    sells = False

    catalog = "555000111"
    token = "EAAG_contract_token"

    def __init__(self) -> None:
        self.clock = ManualClock(START)
        self.fake = FakeMeta(META_REFERENCE / "catalog_sdk_summary.json", now=self.clock)

    def make(self, skus: list[str]) -> Channel:
        self.fake.create_catalog(self.catalog, self.token)
        for sku in skus:
            # Listed by the merchant without a quantity to sell yet: read_levels leaves it out.
            self.fake.add_product(self.catalog, sku, availability="in stock")
        return MetaChannel(
            ChannelName("meta"),
            catalog_id=self.catalog,
            token=self.token,
            client=httpx.Client(transport=httpx.MockTransport(self.fake)),
            sleep=self.clock.sleep,
            clock=self.clock,
        )

    def sell(self, sku: str, quantity: int) -> str:
        raise NotImplementedError("Meta has no checkout since 2025-09-04")

    def cancel(self, order_id: str) -> None:
        raise NotImplementedError("Meta has no checkout since 2025-09-04")

    def settle(self) -> None:
        """Let Meta finish processing batches a push left open."""
        self.clock.sleep(self.fake.processing_delay_s)

    def charged(self) -> dict[str, int]:
        """Calls by the limit Meta counts them against, from the fake's request log."""
        batch = sum(
            entry.edge in {"items_batch", "localized_items_batch", "batch"} for entry in self.fake.request_log
        )
        return {"batch": batch, "management": len(self.fake.request_log) - batch}

    def price(self, sku: str) -> Decimal | None:
        """The ``price`` of the processed catalog item (the fake keeps ``"12.50 USD"``)."""
        held = self.fake.price(self.catalog, sku)
        return held[0] if held is not None else None


class WooBackend:
    """The real WooCommerceChannel over FakeWooCommerce in-process (httpx.MockTransport)."""

    sells = True

    site = "contract.example.com"
    key = "ck_contract_key"
    secret = "cs_contract_secret"

    def __init__(self) -> None:
        self.clock = ManualClock(START)
        self.fake = FakeWooCommerce(
            WOO_REFERENCE / "rest_v3_reference.json",
            consumer_key=self.key,
            consumer_secret=self.secret,
            now=self.clock,
        )

    def make(self, skus: list[str]) -> Channel:
        for sku in skus:
            self.fake.add_product(sku)  # listed, stock not managed yet: read_levels leaves it out
        return WooCommerceChannel(
            ChannelName("woo"),
            site=self.site,
            consumer_key=self.key,
            consumer_secret=self.secret,
            client=httpx.Client(transport=httpx.MockTransport(self.fake)),
            sleep=self.clock.sleep,
            clock=self.clock,
        )

    def sell(self, sku: str, quantity: int) -> str:
        return str(self.fake.place_order([(sku, quantity)], status="processing"))

    def cancel(self, order_id: str) -> None:
        self.fake.set_status(int(order_id), "cancelled")

    def settle(self) -> None:
        """WooCommerce applies a batch at once: nothing to wait for."""

    def price(self, sku: str) -> Decimal | None:
        """The stored ``regular_price`` (None for an unknown SKU or an empty price)."""
        try:
            text = self.fake.regular_price(sku)
        except KeyError:
            return None
        return Decimal(text) if text else None


class GoogleBackend:
    """GoogleMerchantChannel over FakeMerchant in-process, with a store so quantities are real."""

    sells = False  # push-only: Google sends us no orders
    account = "4242"
    key = "bot@shop-project.iam.gserviceaccount.com"

    def __init__(self) -> None:
        self.clock = ManualClock(START)
        self.fake = FakeMerchant(load_discovery(DISCOVERY), now=self.clock)

    def make(self, skus: list[str]) -> Channel:
        info = merchant_key()
        self.fake.add_service_account(info)
        self.fake.create_account(self.account, users=[info["client_email"]])
        for sku in skus:
            self.fake.add_product(self.account, sku)
        return GoogleMerchantChannel(
            ChannelName("google"),
            account=self.account,
            data_source="1",
            content_language="en",
            feed_label="US",
            service_account_info=info,
            store_code="STORE-1",
            client=httpx.Client(transport=httpx.MockTransport(self.fake)),
            sleep=self.clock.sleep,
            clock=self.clock,
        )

    def sell(self, sku: str, quantity: int) -> str:
        raise NotImplementedError("Google takes no orders for us")

    def cancel(self, order_id: str) -> None:
        raise NotImplementedError("Google takes no orders for us")

    def settle(self) -> None:
        """Move past Google's processing delay, so the processed view shows what was pushed."""
        self.clock.sleep(self.fake.processing_delay_s + 1)

    def price(self, sku: str) -> Decimal | None:
        """``productAttributes.price`` of the processed product, from micros."""
        product = self.fake.processed_product(self.account, sku)
        held = (product or {}).get("productAttributes", {}).get("price")
        return Decimal(held["amountMicros"]) / 1_000_000 if held else None


@functools.cache
def merchant_key(email: str = GoogleBackend.key) -> dict[str, str]:
    """A real service-account key (RSA generation is slow: one per session)."""
    return service_account_key(email)


class Coded:
    """A channel behind the row SKU → channel code translation the worker applies (``core.codes``).

    eMAG keys offers by the seller's internal product id, a number: a merchant whose SKUs are
    not those numbers puts them in the ``SKU <channel>`` column, and the worker speaks to the
    adapter in those codes. This does the same for the contract's SKUs (unknown ones pass as
    they are, so the adapter refuses them by name).
    """

    def __init__(self, channel: EmagChannel, codes: Mapping[str, str]) -> None:
        self.channel = channel
        self.name = channel.name
        self.limits: ChannelLimits = channel.limits
        self._out = dict(codes)
        self._back = {code: sku for sku, code in codes.items()}

    def _theirs(self, sku: str) -> Sku:
        return Sku(self._out.get(sku, sku))

    def _ours(self, code: str) -> Sku:
        return Sku(self._back.get(code, code))

    def push(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        outcomes = self.channel.push([replace(level, sku=self._theirs(level.sku)) for level in levels])
        return [replace(o, sku=level.sku) for o, level in zip(outcomes, levels, strict=True)]

    def read_levels(self, skus: Collection[Sku]) -> Mapping[Sku, int]:
        shown = self.channel.read_levels([self._theirs(sku) for sku in skus])
        return {self._ours(code): units for code, units in shown.items()}

    def orders_since(self, cursor: str | None) -> OrderBatch:
        batch = self.channel.orders_since(cursor)
        return replace(batch, lines=tuple(replace(x, sku=self._ours(x.sku)) for x in batch.lines))

    def allowances(self) -> Sequence[Allowance]:
        return self.channel.allowances()

    def take_spent(self) -> Mapping[str, int]:
        return self.channel.take_spent()


class EmagBackend:
    """The real EmagChannel over FakeEmag in-process, behind the worker's SKU → offer id codes."""

    sells = True

    user = "contract@shop.example"
    password = "contract-password"

    def __init__(self) -> None:
        self.clock = ManualClock(START)
        self.fake = FakeEmag(username=self.user, password=self.password, now=self.clock)

    def make(self, skus: list[str]) -> Channel:
        codes = {sku: str(101 + i) for i, sku in enumerate(skus)}
        for code in codes.values():
            self.fake.add_offer(int(code))  # listed, never stocked: read_levels leaves it out
        self.codes = codes
        channel = EmagChannel(
            ChannelName("emag"),
            site="ro",
            username=self.user,
            password=self.password,
            client=httpx.Client(transport=httpx.MockTransport(self.fake)),
            sleep=self.clock.sleep,
            clock=self.clock,
        )
        return Coded(channel, codes)

    def sell(self, sku: str, quantity: int) -> str:
        """A buyer orders and the seller acknowledges (the usual flow: eMAG then takes the units)."""
        order = self.fake.place_order([(int(self.codes[sku]), quantity)])
        self.fake.acknowledge(order)
        self.clock.sleep(1)
        return str(order)

    def cancel(self, order_id: str) -> None:
        self.clock.sleep(1)
        self.fake.cancel(int(order_id))

    def settle(self) -> None:
        """eMAG applies a save at once: nothing to wait for."""

    def charged(self) -> dict[str, int]:
        """Requests by the rate eMAG counts them against, from the fake's request log."""
        orders = sum(entry.route.startswith("order/") for entry in self.fake.request_log)
        return {"orders": orders, "other": len(self.fake.request_log) - orders}

    def price(self, sku: str) -> Decimal | None:
        raise NotImplementedError("sheetsync does not push eMAG prices")


class AmazonBackend:
    """The real AmazonChannel over FakeAmazon in-process (LWA, listings, feeds and orders)."""

    sells = True

    seller = "A2CONTRACT01"
    login = ("amzn1.application-oa2-client.contract", "contract-secret", "Atzr|contract-refresh")

    def __init__(self) -> None:
        self.clock = ManualClock(START)
        client_id, secret, refresh = self.login
        self.fake = FakeAmazon(
            seller_id=self.seller,
            client_id=client_id,
            client_secret=secret,
            refresh_token=refresh,
            now=self.clock,
        )

    def make(self, skus: list[str]) -> Channel:
        for sku in skus:
            self.fake.add_listing(sku)  # listed, never stocked: read_levels leaves it out
        client_id, secret, refresh = self.login
        return AmazonChannel(
            ChannelName("amazon"),
            region="na",
            marketplace_id="ATVPDKIKX0DER",
            seller_id=self.seller,
            client_id=client_id,
            client_secret=secret,
            refresh_token=refresh,
            client=httpx.Client(transport=httpx.MockTransport(self.fake)),
            sleep=self.clock.sleep,
            clock=self.clock,
            now=lambda: datetime.fromtimestamp(self.clock(), UTC),
        )

    def sell(self, sku: str, quantity: int) -> str:
        order = self.fake.place_order([(sku, quantity)])
        self.clock.sleep(1)
        return order

    def cancel(self, order_id: str) -> None:
        self.clock.sleep(1)
        self.fake.cancel(order_id)

    def settle(self) -> None:
        """A patch applies at once; a feed is processed within the fake's delay."""
        self.clock.sleep(self.fake.processing_delay_s)

    def charged(self) -> dict[str, int]:
        """SP-API calls by operation (not the LWA token or a document upload), from the fake's log."""
        return dict(Counter(e.operation for e in self.fake.request_log if e.operation in USAGE_PLANS))

    def price(self, sku: str) -> Decimal | None:
        raise NotImplementedError("sheetsync does not push Amazon prices")


@pytest.fixture(params=["sandbox", "shopify", "meta", "woo", "google", "emag", "amazon"])
def backend(request: pytest.FixtureRequest) -> ChannelBackend:
    if request.param == "emag" and request.module.__name__.endswith("test_price_contract"):
        pytest.skip("sheetsync does not push eMAG prices (sale_price is without VAT, per offer)")
    if request.param == "amazon" and request.module.__name__.endswith("test_price_contract"):
        pytest.skip("sheetsync does not push Amazon prices")
    backends: dict[str, Callable[[], ChannelBackend]] = {
        "sandbox": SandboxBackend,
        "shopify": ShopifyBackend,
        "meta": MetaBackend,
        "woo": WooBackend,
        "google": GoogleBackend,
        "emag": EmagBackend,
        "amazon": AmazonBackend,
    }
    return backends[request.param]()
