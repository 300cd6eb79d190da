"""ShopifyChannel against FakeShopify: mapping, batches, compare-and-set, idempotency, cost, orders, webhooks.

The real adapter talks to the fake through httpx.MockTransport (and once over loopback); time is
the fake's clock, moved only by the adapter's injected sleep.
"""

from __future__ import annotations

import json
import logging
import math
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import httpx
import pytest
from sheetsync_fakes import REFERENCE as REFERENCE_ROOT
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.shopify import FakeShopify, ShopifyCall, WebhookTopic
from sheetsync_fakes.wire import serve

from sheetsync.channels.shopify import (
    ORDER_LINES_PAGE,
    SEARCH_BATCH,
    ShopifyChannel,
    verify_webhook,
    webhook_lines,
    webhook_skus,
)
from sheetsync.errors import PermanentError, TransientError
from sheetsync.model import ChannelName, Movement, OrderLine, PriceLevel, Sku, StockLevel

from .conftest import shopify_schema

REFERENCE = REFERENCE_ROOT / "shopify"
VECTORS = json.loads((REFERENCE / "webhook_vectors.json").read_text())

SHOP = "sheetsync-test.myshopify.com"
TOKEN = "shpat_do_not_leak_4242"
SECRET = "app-secret"
NAME = ChannelName("shopify")
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0.timestamp())


@pytest.fixture
def fake(clock: ManualClock) -> FakeShopify:
    fake = FakeShopify({"2026-10": shopify_schema()}, now=clock, app_secret=SECRET)
    fake.create_shop(SHOP, TOKEN, locations=["Warehouse", "Store"])
    return fake


def connect(fake: FakeShopify, clock: ManualClock, **options: Any) -> ShopifyChannel:
    options.setdefault("sleep", clock.sleep)
    options.setdefault("location", "Warehouse")
    return ShopifyChannel(
        NAME,
        shop=SHOP,
        token=TOKEN,
        client=httpx.Client(transport=httpx.MockTransport(fake)),
        clock=clock,
        **options,
    )


def stock(fake: FakeShopify, skus: list[str], quantity: int = 10, **options: Any) -> None:
    fake.add_product(SHOP, skus, stock={"Warehouse": quantity}, **options)


def calls(fake: FakeShopify, operation: str | None = None) -> int:
    return sum(1 for entry in fake.request_log if operation in (None, entry.operation_name))


def level(fake: FakeShopify, sku: str, where: str = "Warehouse") -> int:
    return fake.levels(SHOP)[sku, where]


# --- mapping --------------------------------------------------------------------------------------


def test_skus_map_once_and_an_unknown_sku_fails_alone(fake: FakeShopify, clock: ManualClock) -> None:
    stock(fake, ["A", "B"])
    channel = connect(fake, clock)
    outcomes = channel.push(
        [StockLevel(Sku("A"), 4, 10), StockLevel(Sku("NOPE"), 1, 0), StockLevel(Sku("B"), 6, 10)]
    )
    assert [(o.sku, o.ok) for o in outcomes] == [("A", True), ("NOPE", False), ("B", True)]
    assert outcomes[1].message == "SKU NOPE not found in Shopify"
    assert (level(fake, "A"), level(fake, "B")) == (4, 6)
    assert set(channel.known_items) == {"A", "B"}

    fake.request_log.clear()
    channel.push([StockLevel(Sku("A"), 5, 4), StockLevel(Sku("B"), 7, 6)])
    assert [e.operation_name for e in fake.request_log] == ["SheetsyncSetQuantities"]  # cached

    stock(fake, ["NOPE"])  # the merchant creates it: the next push looks it up again
    assert channel.push([StockLevel(Sku("NOPE"), 2, 10)])[0].ok
    assert level(fake, "NOPE") == 2


def test_the_sku_search_is_batched_and_exact(fake: FakeShopify, clock: ManualClock) -> None:
    skus = [f"SKU-{i:03d}" for i in range(2 * SEARCH_BATCH + 30)]
    stock(fake, skus)
    stock(fake, ["sku-000"])  # differs in case only: SKUs are case-sensitive
    channel = connect(fake, clock)
    mapped = channel.map_skus([Sku(s) for s in skus])
    assert set(mapped) == set(skus)
    # 249 + 249 + 30 SKUs per search; the first also matches "sku-000", which spills onto a page 2.
    assert calls(fake, "SheetsyncVariants") == 4


def test_a_sku_on_two_variants_is_refused_not_guessed(fake: FakeShopify, clock: ManualClock) -> None:
    stock(fake, ["TWIN"])
    stock(fake, ["TWIN", "SOLO"])
    outcomes = connect(fake, clock).push([StockLevel(Sku("TWIN"), 1, 10), StockLevel(Sku("SOLO"), 1, 10)])
    assert not outcomes[0].ok
    assert "on 2 variants" in outcomes[0].message
    assert outcomes[1].ok
    assert level(fake, "SOLO") == 1


def test_a_bundle_parent_is_skipped_while_the_batch_applies(fake: FakeShopify, clock: ManualClock) -> None:
    stock(fake, ["KIT"], 3, bundle_parent=True)
    stock(fake, ["A", "B"])
    outcomes = connect(fake, clock).push(
        [StockLevel(Sku("A"), 1, 10), StockLevel(Sku("KIT"), 9, 3), StockLevel(Sku("B"), 2, 10)]
    )
    assert [(o.sku, o.ok) for o in outcomes] == [("A", True), ("KIT", False), ("B", True)]
    assert "bundle parent" in outcomes[1].message
    assert (level(fake, "A"), level(fake, "KIT"), level(fake, "B")) == (1, 3, 2)
    assert calls(fake, "SheetsyncSetQuantities") == 1  # skipped before sending, not refused by Shopify


# --- batches ------------------------------------------------------------------------------------------


def test_pushes_go_in_calls_of_250_and_no_more(fake: FakeShopify, clock: ManualClock) -> None:
    skus = [f"P-{i:04d}" for i in range(600)]
    stock(fake, skus, 5)
    channel = connect(fake, clock)
    assert channel.limits.max_batch == 250
    channel.map_skus([Sku(s) for s in skus])
    fake.request_log.clear()
    levels = [StockLevel(Sku(s), i % 7, 5) for i, s in enumerate(skus)]
    size = channel.limits.max_batch
    outcomes = [o for start in range(0, 600, size) for o in channel.push(levels[start : start + size])]
    assert all(o.ok for o in outcomes)
    assert calls(fake) == calls(fake, "SheetsyncSetQuantities") == math.ceil(600 / 250)
    assert [level(fake, s) for s in skus] == [i % 7 for i in range(600)]
    with pytest.raises(PermanentError, match="limit is 250"):
        channel.push([StockLevel(Sku(skus[0]), 1)] * 251)


# --- compare-and-set ------------------------------------------------------------------------------


def test_a_merchant_edit_between_read_and_push_is_drift_not_overwritten(
    fake: FakeShopify, clock: ManualClock
) -> None:
    stock(fake, ["A", "B", "C"])
    channel = connect(fake, clock)

    def merchant_edits(call: ShopifyCall) -> None:
        if call.operation_name == "SheetsyncSetQuantities" and level(fake, "B") == 10:
            fake.admin_set_available(SHOP, "B", "Warehouse", 0)

    fake.before_request = merchant_edits
    # expected None: the push reads 10 for each, then the merchant types 0 for B before the set.
    outcomes = channel.push([StockLevel(Sku("A"), 7), StockLevel(Sku("B"), 7), StockLevel(Sku("C"), 7)])
    assert [(o.sku, o.ok) for o in outcomes] == [("A", True), ("B", False), ("C", True)]
    assert outcomes[1].message == "DRIFT: Shopify shows 0, we expected 10; not overwritten"
    assert (level(fake, "A"), level(fake, "B"), level(fake, "C")) == (7, 0, 7)
    assert calls(fake, "SheetsyncSetQuantities") == 2  # refused whole, then sent without B


def test_a_stale_expected_quantity_is_drift(fake: FakeShopify, clock: ManualClock) -> None:
    stock(fake, ["A"], 10)
    fake.place_order(SHOP, [("A", 3)])  # a sale we have not ingested yet
    outcome = connect(fake, clock).push([StockLevel(Sku("A"), 10, expected=10)])[0]
    assert not outcome.ok
    assert outcome.message.startswith("DRIFT: Shopify shows 7, we expected 10")
    assert level(fake, "A") == 7


# --- idempotency -----------------------------------------------------------------------------------


def test_a_retry_after_a_lost_answer_does_not_apply_twice(fake: FakeShopify, clock: ManualClock) -> None:
    stock(fake, ["A", "B"], 10)
    keys: list[str] = []
    fake.before_request = lambda call: keys.extend(
        [call.variables["key"]] if call.operation_name == "SheetsyncSetQuantities" else []
    )

    def sleep_while_a_buyer_checks_out(seconds: float) -> None:
        if not clock.slept:
            fake.place_order(SHOP, [("A", 1)])  # lands between the lost answer and the retry
        clock.sleep(seconds)

    channel = connect(fake, clock, sleep=sleep_while_a_buyer_checks_out)
    channel.map_skus([Sku("A"), Sku("B")])
    fake.fail_next("inventorySetQuantities", exception=httpx.ReadTimeout("answer lost"), applied=True)
    outcomes = channel.push([StockLevel(Sku("A"), 5, 10), StockLevel(Sku("B"), 5, 10)])
    assert all(o.ok for o in outcomes)
    assert (level(fake, "A"), level(fake, "B")) == (4, 5)  # set once to 5, then the sale: not reset
    assert len(keys) == 2
    assert keys[0] == keys[1]

    again = channel.push([StockLevel(Sku("A"), 5, 4), StockLevel(Sku("B"), 5, 5)])  # same numbers, later
    assert all(o.ok for o in again)
    assert level(fake, "A") == 5
    assert len(set(keys)) == 2


def test_server_errors_are_retried_and_then_reported(fake: FakeShopify, clock: ManualClock) -> None:
    stock(fake, ["A"])
    channel = connect(fake, clock)
    channel.map_skus([Sku("A")])
    fake.fail_next("inventorySetQuantities", 503)
    internal = {"errors": [{"message": "Internal error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
    fake.fail_next("inventorySetQuantities", response=httpx.Response(200, json=internal))
    assert channel.push([StockLevel(Sku("A"), 3, 10)])[0].ok
    assert calls(fake, "SheetsyncSetQuantities") == 3
    assert level(fake, "A") == 3
    fake.fail_next("inventorySetQuantities", exception=httpx.ConnectTimeout("down"), times=4)
    with pytest.raises(TransientError, match=SHOP):
        channel.push([StockLevel(Sku("A"), 2, 3)])
    assert level(fake, "A") == 3


def test_bad_credentials_name_the_shop_never_the_token(
    fake: FakeShopify, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    channel = ShopifyChannel(
        NAME,
        shop=SHOP,
        token="shpat_wrong_token_777",
        location="Warehouse",
        client=httpx.Client(transport=httpx.MockTransport(fake)),
        sleep=clock.sleep,
    )
    with pytest.raises(PermanentError, match=f"{SHOP} refused the access token") as refused:
        channel.push([StockLevel(Sku("A"), 1)])
    missing = ShopifyChannel(
        NAME,
        shop="elsewhere",
        token=TOKEN,
        location="Warehouse",
        client=httpx.Client(transport=httpx.MockTransport(fake)),
        sleep=clock.sleep,
    )
    with pytest.raises(PermanentError, match=re.escape("elsewhere.myshopify.com")) as not_found:
        missing.read_levels([Sku("A")])
    wrong_place = connect(fake, clock, location="Attic")
    with pytest.raises(PermanentError, match="no location named 'Attic'; it has Store, Warehouse"):
        wrong_place.location_id()
    told = [str(refused.value), str(not_found.value), caplog.text]
    assert not any("shpat_wrong_token_777" in text or TOKEN in text for text in told)
    assert clock.slept == []  # nothing to retry


# --- cost and throttling ---------------------------------------------------------------------------


def test_sustained_pushes_are_paced_so_shopify_never_throttles(clock: ManualClock) -> None:
    fake = FakeShopify({"2026-10": shopify_schema()}, now=clock)
    fake.create_shop(SHOP, TOKEN, locations=["Warehouse"], bucket_size=60.0, restore_rate=2.0)
    stock(fake, ["A", "B", "C"])
    channel = connect(fake, clock)
    for quantity in range(12):  # 12 mutations of 10 points each: twice the bucket
        believed = 10 if quantity == 0 else quantity - 1
        outcomes = channel.push([StockLevel(Sku(s), quantity, believed) for s in ("A", "B", "C")])
        assert all(o.ok for o in outcomes)
    assert not any(entry.throttled for entry in fake.request_log)
    assert clock.slept  # it did wait, on the fake clock
    assert sum(clock.slept) < 12 * 10 / 2.0  # no more than the restore rate demands
    assert level(fake, "C") == 11


@pytest.mark.parametrize("status", [200, 429])
def test_a_throttled_call_is_waited_out_and_retried(clock: ManualClock, status: Literal[200, 429]) -> None:
    fake = FakeShopify({"2026-10": shopify_schema()}, now=clock, throttle_status=status)
    fake.create_shop(SHOP, TOKEN, locations=["Warehouse"], bucket_size=60.0, restore_rate=2.0)
    stock(fake, ["A"])
    first = connect(fake, clock)
    for quantity in range(6):  # spends the bucket down to what pacing leaves
        first.push([StockLevel(Sku("A"), quantity)])
    # A restarted worker: it knows the location and the item, not the bucket; its first call is refused.
    restarted = connect(fake, clock, known_items=dict(first.known_items), location=first.location_id())
    clock.slept.clear()
    fake.request_log.clear()
    assert restarted.push([StockLevel(Sku("A"), 9, 5)])[0].ok
    assert [entry.throttled for entry in fake.request_log] == [True, False]
    refused = fake.request_log[0]
    assert refused.requested_cost == 10
    assert len(clock.slept) == 1
    assert 0 < clock.slept[0] <= 10 / 2.0 + 0.1  # (requested - available) / restore rate
    assert level(fake, "A") == 9


# --- prices ----------------------------------------------------------------------------------------


def usd(sku: str, amount: str, currency: str = "USD") -> PriceLevel:
    return PriceLevel(Sku(sku), Decimal(amount), currency)


def test_prices_go_one_call_per_product_and_land_on_the_variants(
    fake: FakeShopify, clock: ManualClock
) -> None:
    shirt = fake.add_product(SHOP, ["TEE-S", "TEE-M", "TEE-L"], price="10.00")
    fake.add_product(SHOP, "MUG", price="4.00")
    sent: list[dict[str, Any]] = []
    fake.before_request = lambda call: sent.extend(
        [dict(call.variables)] if call.operation_name == "SheetsyncPrices" else []
    )
    channel = connect(fake, clock)
    outcomes = channel.push_prices(
        [usd("TEE-S", "12.5"), usd("MUG", "5.25"), usd("TEE-L", "14"), usd("TEE-M", "13.00")]
    )
    assert [(o.sku, o.ok) for o in outcomes] == [
        ("TEE-S", True),
        ("MUG", True),
        ("TEE-L", True),
        ("TEE-M", True),
    ]
    prices = {sku: fake.price(SHOP, sku) for sku in ("TEE-S", "TEE-M", "TEE-L", "MUG")}
    assert prices == {
        "TEE-S": Decimal("12.50"),
        "TEE-M": Decimal("13.00"),
        "TEE-L": Decimal("14.00"),
        "MUG": Decimal("5.25"),
    }
    # The real wire format: the product's id, and each variant's id with the price as Money text.
    assert sent[0] == {
        "productId": shirt[0].product_id,
        "variants": [
            {"id": shirt[0].variant_id, "price": "12.50"},
            {"id": shirt[2].variant_id, "price": "14.00"},
            {"id": shirt[1].variant_id, "price": "13.00"},
        ],
    }
    assert [e.operation_name for e in fake.request_log] == [
        "SheetsyncShop",
        "SheetsyncVariants",
        "SheetsyncPrices",
        "SheetsyncPrices",
    ]
    assert set(channel.known_variants) == {"TEE-S", "TEE-M", "TEE-L", "MUG"}

    fake.request_log.clear()
    channel.push_prices([usd("MUG", "6.00")])
    assert [e.operation_name for e in fake.request_log] == ["SheetsyncPrices"]  # currency and ids cached
    assert fake.price(SHOP, "MUG") == Decimal("6.00")


def test_a_price_in_another_currency_is_refused_naming_both(clock: ManualClock) -> None:
    fake = FakeShopify({"2026-10": shopify_schema()}, now=clock)
    fake.create_shop(SHOP, TOKEN, locations=["Warehouse"], currency="EUR")
    fake.add_product(SHOP, "A", price="3.00")
    fake.add_product(SHOP, "B", price="3.00")
    outcomes = connect(fake, clock).push_prices([usd("A", "9.00"), usd("B", "8.00", "eur")])
    assert [(o.sku, o.ok) for o in outcomes] == [("A", False), ("B", True)]
    assert outcomes[0].message == f"price in USD but Shopify shop {SHOP} sells in EUR; not pushed"
    assert (fake.price(SHOP, "A"), fake.price(SHOP, "B")) == (Decimal("3.00"), Decimal("8.00"))


def test_unknown_and_duplicated_skus_are_refused_and_a_bundle_takes_its_price(
    fake: FakeShopify, clock: ManualClock
) -> None:
    fake.add_product(SHOP, "TWIN")
    fake.add_product(SHOP, ["TWIN", "SOLO"])
    fake.add_product(SHOP, "KIT", bundle_parent=True)
    outcomes = connect(fake, clock).push_prices(
        [usd("TWIN", "1.00"), usd("NOPE", "1.00"), usd("SOLO", "2.00"), usd("KIT", "30.00")]
    )
    assert [(o.sku, o.ok) for o in outcomes] == [
        ("TWIN", False),
        ("NOPE", False),
        ("SOLO", True),
        ("KIT", True),
    ]
    assert outcomes[0].message == "SKU TWIN is on 2 variants in Shopify; make it unique to sync it"
    assert outcomes[1].message == "SKU NOPE not found in Shopify"
    assert (fake.price(SHOP, "SOLO"), fake.price(SHOP, "KIT")) == (Decimal("2.00"), Decimal("30.00"))


def test_a_variant_shopify_refuses_fails_alone_and_its_siblings_apply(
    fake: FakeShopify, clock: ManualClock
) -> None:
    fake.add_product(SHOP, ["S", "M", "L"], price="10.00")
    channel = connect(fake, clock)
    # The planner never sends a negative price; Shopify's refusal must still map to its SKU.
    outcomes = channel.push_prices([usd("S", "11.00"), usd("M", "-1.00"), usd("L", "12.00")])
    assert [(o.sku, o.ok) for o in outcomes] == [("S", True), ("M", False), ("L", True)]
    assert outcomes[1].message == (
        "Shopify refused the price of SKU M: GREATER_THAN_OR_EQUAL_TO: "
        "Price must be greater than or equal to 0"
    )
    assert [fake.price(SHOP, sku) for sku in ("S", "M", "L")] == [
        Decimal("11.00"),
        Decimal("10.00"),
        Decimal("12.00"),
    ]
    assert calls(fake, "SheetsyncPrices") == 2  # refused whole, then sent without M


def test_a_stale_variant_id_is_refused_then_looked_up_again(fake: FakeShopify, clock: ManualClock) -> None:
    (mug,) = fake.add_product(SHOP, "MUG", price="4.00")
    (other,) = fake.add_product(SHOP, "CUP")
    # Ids a restarted worker handed back: MUG's variant since deleted and re-created elsewhere.
    channel = connect(fake, clock, known_variants={"MUG": (other.product_id, mug.variant_id)})
    outcome = channel.push_prices([usd("MUG", "5.00")])[0]
    assert (outcome.ok, outcome.message) == (False, "SKU MUG not found in Shopify (its variant is gone)")
    assert "MUG" not in channel.known_variants
    assert fake.price(SHOP, "MUG") == Decimal("4.00")
    assert channel.push_prices([usd("MUG", "5.00")])[0].ok
    assert channel.known_variants[Sku("MUG")] == (mug.product_id, mug.variant_id)
    assert fake.price(SHOP, "MUG") == Decimal("5.00")


def test_price_pushes_are_retried_limited_and_fail_whole(fake: FakeShopify, clock: ManualClock) -> None:
    fake.add_product(SHOP, "A", price="1.00")
    channel = connect(fake, clock)
    fake.fail_next("productVariantsBulkUpdate", 503)
    assert channel.push_prices([usd("A", "2.00")])[0].ok
    assert calls(fake, "SheetsyncPrices") == 2
    assert fake.price(SHOP, "A") == Decimal("2.00")
    fake.fail_next("productVariantsBulkUpdate", exception=httpx.ConnectTimeout("down"), times=4)
    with pytest.raises(TransientError, match=SHOP):
        channel.push_prices([usd("A", "3.00")])
    with pytest.raises(PermanentError, match="limit is 250"):
        channel.push_prices([usd("A", "3.00")] * 251)
    assert fake.price(SHOP, "A") == Decimal("2.00")


def test_a_sku_twice_in_one_push_sends_its_variant_once(fake: FakeShopify, clock: ManualClock) -> None:
    fake.add_product(SHOP, "A", price="1.00")
    outcomes = connect(fake, clock).push_prices([usd("A", "2.00"), usd("A", "3.00")])
    assert [(o.sku, o.ok) for o in outcomes] == [("A", True), ("A", True)]
    assert fake.price(SHOP, "A") == Decimal("3.00")  # the later row wins, as in the sheet's order


# --- orders ----------------------------------------------------------------------------------------


class Ledger:
    """The part of the worker that matters here: keys dedup, the cursor is the newest one kept."""

    def __init__(self) -> None:
        self.lines: list[OrderLine] = []

    def cursor(self) -> str | None:
        cursors = [line.cursor for line in self.lines if line.cursor]
        return max(cursors) if cursors else None

    def take(self, lines: tuple[OrderLine, ...]) -> list[OrderLine]:
        keys = {line.key for line in self.lines}
        fresh = [line for line in lines if line.key not in keys]
        self.lines += fresh
        return fresh


def summary(lines: list[OrderLine]) -> list[tuple[str, int, Movement]]:
    return [(line.sku, line.quantity, line.movement) for line in lines]


def test_orders_since_gives_each_line_once_across_cycles_with_the_overlap(
    fake: FakeShopify, clock: ManualClock
) -> None:
    stock(fake, ["A", "B", "C"], 20)
    channel = connect(fake, clock)
    ledger = Ledger()
    minute = timedelta(minutes=1)

    first = fake.place_order(SHOP, [("A", 2), ("B", 1)], at=T0 + minute)
    fake.place_order(SHOP, [("C", 1)], at=T0 + 3 * minute)
    batch = channel.orders_since(ledger.cursor()).lines
    assert summary(ledger.take(batch)) == [
        ("A", 2, Movement.SALE),
        ("B", 1, Movement.SALE),
        ("C", 1, Movement.SALE),
    ]

    # An order the search index shows only now, updated before the cursor: the overlap finds it.
    fake.place_order(SHOP, [("A", 4)], at=T0 + 2 * minute)
    batch = channel.orders_since(ledger.cursor()).lines
    assert summary(list(batch)) == [("A", 4, Movement.SALE), ("C", 1, Movement.SALE)]  # C: at the cursor
    assert summary(ledger.take(batch)) == [("A", 4, Movement.SALE)]

    fake.cancel_order(first, at=T0 + 10 * minute)  # restocks the open units (CANCEL)
    later = fake.place_order(SHOP, [("B", 3)], at=T0 + 11 * minute)
    fake.refund(later, {"B": 1}, restock_type="RETURN", at=T0 + 12 * minute)
    fake.refund(later, {"B": 1}, restock_type="NO_RESTOCK", at=T0 + 13 * minute)
    batch = channel.orders_since(ledger.cursor()).lines
    assert summary(ledger.take(batch)) == [
        ("A", 2, Movement.RESTOCK),
        ("B", 1, Movement.RESTOCK),
        ("B", 3, Movement.SALE),
        ("B", 1, Movement.RESTOCK),
    ]
    assert ledger.take(channel.orders_since(ledger.cursor()).lines) == []
    assert len({line.key for line in ledger.lines}) == len(ledger.lines) == 8

    # A restarted worker re-reads the overlap once; the ledger drops every repeat by key.
    restarted = connect(fake, clock)
    assert ledger.take(restarted.orders_since(ledger.cursor()).lines) == []


def test_cursors_sort_in_time_order_then_by_order(fake: FakeShopify, clock: ManualClock) -> None:
    stock(fake, ["A"], 50)
    for minutes in (5, 5, 1, 30):
        fake.place_order(SHOP, [("A", 1)], at=T0 + timedelta(minutes=minutes))
    lines = connect(fake, clock).orders_since(None).lines
    assert [line.cursor for line in lines] == sorted(line.cursor for line in lines)
    assert [line.at for line in lines] == sorted(line.at for line in lines)
    assert lines[0].cursor.startswith("2026-11-27T09:01:00Z")


def test_an_order_with_many_lines_is_read_whole(fake: FakeShopify, clock: ManualClock) -> None:
    skus = [f"L-{i:02d}" for i in range(ORDER_LINES_PAGE + 5)]
    stock(fake, skus, 5)
    fake.place_order(SHOP, [(sku, 1) for sku in skus])
    lines = connect(fake, clock).orders_since(None).lines
    assert [line.sku for line in lines] == skus
    assert calls(fake, "SheetsyncOrder") == 1


# --- webhooks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda vector: vector["id"])
def test_webhook_signatures_against_the_reference_vectors(vector: dict[str, Any]) -> None:
    body, secret = vector["body"].encode(), vector["secret"]
    presented = vector["expected_hmac_sha256_base64"] if vector["valid"] else vector["presented_hmac"]
    assert verify_webhook(body, presented, secret) is vector["valid"]


@pytest.mark.parametrize(
    "header", [None, "", "not base64!", "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7", "é"]
)
def test_missing_or_garbled_signatures_are_refused(header: str | None) -> None:
    assert verify_webhook(b'{"foo": "bar"}', header, "test_secret_key") is False


@pytest.mark.parametrize("topic", ["orders/create", "orders/cancelled", "refunds/create"])
def test_webhook_lines_match_what_orders_since_reads(
    fake: FakeShopify, clock: ManualClock, topic: WebhookTopic
) -> None:
    stock(fake, ["A", "B"], 10)
    order = fake.place_order(SHOP, [("A", 2), ("B", 1)], at=T0)
    if topic == "orders/cancelled":
        fake.cancel_order(order, at=T0 + timedelta(minutes=3))
    if topic == "refunds/create":
        fake.refund(order, {"A": 1}, restock_type="RETURN", at=T0 + timedelta(minutes=4))
    delivery = fake.webhook(topic, order)
    assert verify_webhook(delivery.body, delivery.headers["X-Shopify-Hmac-Sha256"], SECRET)
    assert not verify_webhook(delivery.body + b" ", delivery.headers["X-Shopify-Hmac-Sha256"], SECRET)

    pushed = webhook_lines(topic, json.loads(delivery.body), channel=NAME)
    polled = {line.key: line for line in connect(fake, clock).orders_since(None).lines}
    assert pushed
    for line in pushed:
        twin = polled[line.key]
        assert (line.order_id, line.line_id, line.sku, line.quantity, line.movement, line.at) == (
            twin.order_id,
            twin.line_id,
            twin.sku,
            twin.quantity,
            twin.movement,
            twin.at,
        )
        assert line.cursor == ""  # never moves the poll's cursor
    expected = {
        "orders/create": [("A", 2, Movement.SALE), ("B", 1, Movement.SALE)],
        "orders/cancelled": [
            ("A", 2, Movement.SALE),
            ("B", 1, Movement.SALE),
            ("A", 2, Movement.RESTOCK),
            ("B", 1, Movement.RESTOCK),
        ],
        "refunds/create": [("A", 1, Movement.RESTOCK)],
    }[topic]
    assert summary(pushed) == expected
    assert webhook_skus(topic, json.loads(delivery.body)) == {sku for sku, _, _ in expected}


def test_a_topic_without_order_lines_is_refused() -> None:
    with pytest.raises(ValueError, match="inventory_levels/update"):
        webhook_lines("inventory_levels/update", {"inventory_item_id": 1}, channel=NAME)


# --- over loopback ----------------------------------------------------------------------------------


def test_over_loopback_with_the_default_client(fake: FakeShopify, clock: ManualClock) -> None:
    stock(fake, ["A", "B"], 10)
    fake.place_order(SHOP, [("A", 1)])
    with serve(fake) as base_url:
        channel = ShopifyChannel(
            NAME,
            shop=SHOP,
            token=TOKEN,
            location="Warehouse",
            base_url=base_url,
            sleep=clock.sleep,
            clock=clock,
        )
        try:
            outcomes = channel.push([StockLevel(Sku("A"), 4), StockLevel(Sku("B"), 6, 10)])
            assert all(o.ok for o in outcomes)
            assert channel.read_levels([Sku("A"), Sku("B"), Sku("Z")]) == {"A": 4, "B": 6}
            assert [(line.sku, line.quantity) for line in channel.orders_since(None).lines] == [("A", 1)]
        finally:
            channel.close()
