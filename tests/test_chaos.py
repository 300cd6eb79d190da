"""API faults on every fake: each adapter retries within bounds, flags what failed, and converges.

Every real adapter runs over its fake behind a :class:`Chaos` in-process, on a ManualClock whose
sleeps are recorded, never waited. The bound on waiting, per request, is what retry.py documents:
at most ``attempts - 1`` waits of at most ``retry.MAX_WAIT_S`` each; a Meta push may also poll
its batch's status for up to ``SETTLE_S``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from campaigns.api import api_fault_campaign
from campaigns.platforms import DISCOVERY, META_SUMMARY, WOO_SPEC, key, shopify_schema
from sheetsync_fakes.airtable import OWNER, AccessToken, FakeAirtable, FieldSpec
from sheetsync_fakes.chaos import KINDS, Chaos, Kind, Platform
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.google_sheets import FakeSheets, SheetSpec
from sheetsync_fakes.merchant import FakeMerchant, load_discovery
from sheetsync_fakes.meta import FakeMeta
from sheetsync_fakes.shopify import FakeShopify
from sheetsync_fakes.wire import HandlerAdapter
from sheetsync_fakes.woocommerce import FakeWooCommerce

from sheetsync import retry
from sheetsync.channels import meta as meta_module
from sheetsync.channels.google_merchant import GoogleMerchantChannel
from sheetsync.channels.meta import MetaChannel
from sheetsync.channels.shopify import ShopifyChannel
from sheetsync.channels.woocommerce import WooCommerceChannel
from sheetsync.core.ledger import parse_ledger
from sheetsync.errors import SyncError, TransientError
from sheetsync.model import (
    INVENTORY_SHEET,
    LEDGER_SHEET,
    ChannelName,
    Layout,
    LedgerEntry,
    Movement,
    Sku,
    StockLevel,
)
from sheetsync.stores import airtable as airtable_module
from sheetsync.stores import google_sheets as sheets_module
from sheetsync.stores.airtable import AirtableStore
from sheetsync.stores.airtable import connect as connect_airtable
from sheetsync.stores.google_sheets import GoogleSheetsStore, connect

START = datetime(2026, 11, 27, 9, tzinfo=UTC).timestamp()
SKUS = [Sku("A-1"), Sku("A-2"), Sku("A-3"), Sku("A-4")]
LAYOUT = Layout(channels=((ChannelName("shopify"), "Shopify"),))
SHEETS_EMAIL = "chaos@shop-project.iam.gserviceaccount.com"
MERCHANT_EMAIL = "chaos-merchant@shop-project.iam.gserviceaccount.com"
SECRETS = {
    "shopify": "shpat_chaos_secret_token",
    "meta": "EAAG_chaos_secret_token",
    "woo_key": "ck_chaos_secret_key",
    "woo_secret": "cs_chaos_secret_secret",
    "airtable": "patChaosSecret.token",
}
#: How each adapter's messages name its platform.
NAMES: dict[Platform, str] = {
    "shopify": "Shopify",
    "meta": "Meta",
    "google_merchant": "Google",
    "woocommerce": "WooCommerce",
    "google_sheets": "Google Sheet",
    "airtable": "Airtable",
}
#: Attempts per request, the first included: retry.ATTEMPTS, except where a store documents more
#: (Google's advice: back off up to 64 s) or fewer (Airtable: its 30 s penalty, twice).
ATTEMPTS: dict[Platform, int] = {
    "shopify": retry.ATTEMPTS,
    "meta": retry.ATTEMPTS,
    "google_merchant": retry.ATTEMPTS,
    "woocommerce": retry.ATTEMPTS,
    "google_sheets": sheets_module.ATTEMPTS,
    "airtable": airtable_module.ATTEMPTS,
}


@dataclass
class Rig:
    """One real adapter over its fake behind a Chaos, warmed up, and the one call under test."""

    platform: Platform
    chaos: Chaos
    clock: ManualClock
    call: Callable[[], Any]
    shown: Callable[[], Mapping[Sku, int]] | None = None  #: a channel's levels, read back


def _levels(quantity: int) -> list[StockLevel]:
    return [StockLevel(sku, quantity, None) for sku in SKUS]


def _entry(n: int) -> LedgerEntry:
    return LedgerEntry(
        key=f"shopify/100{n}/1",
        sku=SKUS[0],
        delta=-1,
        movement=Movement.SALE,
        at=datetime(2026, 11, 27, 9, tzinfo=UTC),
        channel=ChannelName("shopify"),
        order_id=f"100{n}",
        line_id="1",
    )


def _shopify(clock: ManualClock) -> Rig:
    fake = FakeShopify({"2026-10": shopify_schema()}, now=clock)
    fake.create_shop("chaos.myshopify.com", SECRETS["shopify"], locations=["Warehouse"])
    for sku in SKUS:
        fake.add_product("chaos.myshopify.com", sku, stock={"Warehouse": 0})
    chaos = Chaos(fake, "shopify", clock=clock)
    channel = ShopifyChannel(
        ChannelName("shopify"),
        shop="chaos.myshopify.com",
        token=SECRETS["shopify"],
        location="Warehouse",
        client=httpx.Client(transport=httpx.MockTransport(chaos)),
        sleep=clock.sleep,
        clock=clock,
    )
    channel.read_levels(SKUS)
    return Rig("shopify", chaos, clock, lambda: channel.push(_levels(5)), lambda: channel.read_levels(SKUS))


def _meta(clock: ManualClock) -> Rig:
    fake = FakeMeta(META_SUMMARY, now=clock)
    fake.create_catalog("555000111", SECRETS["meta"])
    for sku in SKUS:
        fake.add_product("555000111", sku, availability="out of stock", quantity_to_sell_on_facebook=0)
    chaos = Chaos(fake, "meta", clock=clock)
    channel = MetaChannel(
        ChannelName("meta"),
        catalog_id="555000111",
        token=SECRETS["meta"],
        client=httpx.Client(transport=httpx.MockTransport(chaos)),
        sleep=clock.sleep,
        clock=clock,
    )
    channel.read_levels(SKUS)
    return Rig("meta", chaos, clock, lambda: channel.push(_levels(5)), lambda: channel.read_levels(SKUS))


def _merchant(clock: ManualClock) -> Rig:
    fake = FakeMerchant(load_discovery(DISCOVERY), now=clock)
    info = key(MERCHANT_EMAIL)
    fake.add_service_account(info)
    fake.create_account("4242", users=[info["client_email"]])
    for sku in SKUS:
        fake.add_product("4242", sku, attributes={"availability": "IN_STOCK"})
    chaos = Chaos(fake, "google_merchant", clock=clock)
    channel = GoogleMerchantChannel(
        ChannelName("google"),
        account="4242",
        data_source="1",
        content_language="en",
        feed_label="US",
        service_account_info=info,
        store_code="STORE-1",
        client=httpx.Client(transport=httpx.MockTransport(chaos)),
        sleep=clock.sleep,
        clock=clock,
    )
    channel.warm_up()
    channel.read_levels(SKUS)
    return Rig(
        "google_merchant", chaos, clock, lambda: channel.push(_levels(5)), lambda: channel.read_levels(SKUS)
    )


def _woo(clock: ManualClock) -> Rig:
    fake = FakeWooCommerce(
        WOO_SPEC,
        consumer_key=SECRETS["woo_key"],
        consumer_secret=SECRETS["woo_secret"],
        now=clock,
    )
    for sku in SKUS:
        fake.add_product(sku, stock=0)
    chaos = Chaos(fake, "woocommerce", clock=clock)
    channel = WooCommerceChannel(
        ChannelName("woo"),
        site="chaos.example.com",
        consumer_key=SECRETS["woo_key"],
        consumer_secret=SECRETS["woo_secret"],
        client=httpx.Client(transport=httpx.MockTransport(chaos)),
        sleep=clock.sleep,
        clock=clock,
    )
    channel.read_levels(SKUS)
    return Rig(
        "woocommerce", chaos, clock, lambda: channel.push(_levels(5)), lambda: channel.read_levels(SKUS)
    )


def sheets_rig(clock: ManualClock) -> tuple[Rig, FakeSheets, GoogleSheetsStore, str]:
    fake = FakeSheets(now=clock)
    sheet = fake.create_spreadsheet("Chaos", sheets=(SheetSpec(INVENTORY_SHEET),))
    fake.share(sheet, SHEETS_EMAIL)
    fake.set_values(
        sheet, f"{INVENTORY_SHEET}!A1", [["SKU", "Quantity"], ["A-1", 9]], value_input_option="RAW"
    )
    chaos = Chaos(fake, "google_sheets", clock=clock)
    client = connect(key(SHEETS_EMAIL), adapter=HandlerAdapter(chaos))
    store = GoogleSheetsStore(client, sheet, LAYOUT, account=SHEETS_EMAIL, sleep=clock.sleep)
    store.prepare()
    store.read()
    return Rig("google_sheets", chaos, clock, lambda: store.append_ledger([_entry(1)])), fake, store, sheet


def _sheets(clock: ManualClock) -> Rig:
    return sheets_rig(clock)[0]


def _airtable(clock: ManualClock) -> Rig:
    fake = FakeAirtable(tokens={SECRETS["airtable"]: AccessToken(OWNER)}, now=clock, seed=1)
    base = fake.create_base("Shop")
    fake.create_table(
        base, INVENTORY_SHEET, [FieldSpec("SKU", "singleLineText"), FieldSpec("Quantity", "number")]
    )
    fake.add_records(base, INVENTORY_SHEET, [{"SKU": "A-1", "Quantity": 9}])
    chaos = Chaos(fake, "airtable", clock=clock)
    api, paced = connect_airtable(
        SECRETS["airtable"], inner=HandlerAdapter(chaos), clock=clock, sleep=clock.sleep
    )
    store = AirtableStore(api, base, LAYOUT, paced=paced)
    store.prepare()
    store.read()
    return Rig("airtable", chaos, clock, lambda: store.append_ledger([_entry(1)]))


RIGS: dict[Platform, Callable[[ManualClock], Rig]] = {
    "shopify": _shopify,
    "meta": _meta,
    "google_merchant": _merchant,
    "woocommerce": _woo,
    "google_sheets": _sheets,
    "airtable": _airtable,
}
#: Only Meta's items_batch and WooCommerce's batches answer per item.
CASES = [
    (platform, kind)
    for platform in RIGS
    for kind in KINDS
    if kind != "half_batch" or platform in ("meta", "woocommerce")
]


def _under(rig: Rig, kind: Kind, times: int) -> tuple[Any, SyncError | None, list[float]]:
    """Run the rig's call with ``kind`` forced ``times``; (result, error, sleeps during the call)."""
    rig.chaos.force(kind, times)
    slept = len(rig.clock.slept)
    rig.chaos.log.clear()
    try:
        result, error = rig.call(), None
    except SyncError as raised:
        result, error = None, raised
    return result, error, rig.clock.slept[slept:]


def _requests(rig: Rig) -> int:
    """Distinct requests the call made (a retry repeats a method and path)."""
    return len({(method, path) for _, method, path in rig.chaos.log})


def _bound(rig: Rig) -> float:
    """The documented most a call may sleep: per request, attempts - 1 waits of MAX_WAIT_S."""
    settle = meta_module.SETTLE_S if rig.platform == "meta" else 0.0
    return _requests(rig) * (ATTEMPTS[rig.platform] - 1) * retry.MAX_WAIT_S + settle


def _check_error(rig: Rig, error: SyncError) -> None:
    assert isinstance(error, TransientError), error  # every injected kind is worth retrying
    text = str(error)
    assert NAMES[rig.platform] in text, text
    assert not any(secret in text for secret in SECRETS.values()), text


@pytest.mark.parametrize(("platform", "kind"), CASES)
def test_one_fault_is_retried_or_reported(platform: Platform, kind: Kind) -> None:
    rig = RIGS[platform](ManualClock(START))
    result, error, slept = _under(rig, kind, 1)
    assert rig.chaos.injected[kind] == 1
    if error is not None:
        _check_error(rig, error)
        # Only a throttle that asks for longer than we wait in-process ends the call at once.
        assert (platform, kind) in {("meta", "throttle"), ("woocommerce", "http_503")}, error
    elif kind == "half_batch":
        failed = [o for o in result if not o.ok]
        assert 0 < len(failed) < len(SKUS)
        assert all(o.message for o in failed)
    elif result is not None:
        assert all(o.ok for o in result), result
    if result is not None and rig.shown is not None:
        # What the adapter calls done is done: the platform shows it (faults off).
        rig.chaos.rate = 0.0
        shown = rig.shown()
        assert all(shown.get(o.sku) == 5 for o in result if o.ok), (result, shown)
    assert sum(slept) <= _bound(rig)
    attempts = max(n for n in _per_request(rig).values())
    assert attempts <= ATTEMPTS[platform]


@pytest.mark.parametrize(("platform", "kind"), CASES)
def test_a_lasting_fault_gives_up_within_bounds(platform: Platform, kind: Kind) -> None:
    rig = RIGS[platform](ManualClock(START))
    result, error, slept = _under(rig, kind, 200)
    if error is not None:
        _check_error(rig, error)
    elif kind == "half_batch":
        assert not all(o.ok for o in result)
    else:  # a failure the adapter absorbed: then it flags the rows instead
        assert result is None or not all(o.ok for o in result), result
    assert max(_per_request(rig).values()) <= ATTEMPTS[platform]
    assert sum(slept) <= _bound(rig)
    assert all(s <= retry.MAX_WAIT_S + 1 for s in slept), slept


def _per_request(rig: Rig) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for _, method, path in rig.chaos.log:
        counts[method, path] = counts.get((method, path), 0) + 1
    return counts or {("", ""): 0}


def test_a_ledger_append_whose_answer_is_lost_is_not_doubled_in_the_sheet() -> None:
    rig, fake, store, sheet = sheets_rig(ManualClock(START))
    rig.chaos.force("lost_answer")
    store.append_ledger([_entry(1), _entry(2)])
    rows = fake.get_values(sheet, LEDGER_SHEET)
    keys = [row[0] for row in rows[1:]]
    assert sorted(keys) == ["shopify/1001/1", "shopify/1002/1"]  # the retry looked before appending
    ledger = parse_ledger(store.read().ledger)
    assert sorted(e.key for e in ledger.entries) == ["shopify/1001/1", "shopify/1002/1"]
    assert sum(e.delta for e in ledger.entries) == -2


def test_the_campaign_loses_nothing_and_converges() -> None:
    figures = api_fault_campaign(seed=1, cycles=12)
    assert figures["faults"] > 0
    assert figures["lost"] == 0
    assert figures["doubled"] == 0
    assert figures["oversold_by_us"] == 0
    assert figures["unconverged"] == 0
    assert figures["rate_limit_violations"] == 0


def test_the_campaign_repeats_exactly() -> None:
    assert api_fault_campaign(seed=3, cycles=6) == api_fault_campaign(seed=3, cycles=6)
