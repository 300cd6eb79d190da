"""WooCommerceChannel against FakeWooCommerce: mapping, batches per parent, errors, orders, edits, refunds.

The real adapter talks to the fake through httpx.MockTransport (and once over loopback); time is
the fake's clock, moved only by the adapter's injected sleep.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sheetsync_fakes import REFERENCE as REFERENCE_ROOT
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.wire import serve
from sheetsync_fakes.woocommerce import FakeWooCommerce

from sheetsync.channels.woocommerce import MAX_BATCH, ORDERS_OVERLAP, WooCommerceChannel, order_cursor
from sheetsync.errors import ConfigError, PermanentError, TransientError
from sheetsync.model import ChannelName, Movement, OrderBatch, PriceLevel, Sku, StockLevel

REFERENCE = REFERENCE_ROOT / "woocommerce"
SITE = "shop.example.com"
KEY = "ck_do_not_leak_4242"
SECRET = "cs_do_not_leak_4242"
NAME = ChannelName("woo")
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0.timestamp())


def make_fake(clock: ManualClock, **options: Any) -> FakeWooCommerce:
    return FakeWooCommerce(
        REFERENCE / "rest_v3_reference.json", consumer_key=KEY, consumer_secret=SECRET, now=clock, **options
    )


@pytest.fixture
def fake(clock: ManualClock) -> FakeWooCommerce:
    return make_fake(clock)


def connect(fake: FakeWooCommerce, clock: ManualClock, **options: Any) -> WooCommerceChannel:
    options.setdefault("consumer_key", KEY)
    options.setdefault("consumer_secret", SECRET)
    return WooCommerceChannel(
        NAME,
        site=options.pop("site", SITE),
        client=httpx.Client(transport=httpx.MockTransport(fake)),
        sleep=clock.sleep,
        clock=clock,
        **options,
    )


def levels(**quantities: int) -> list[StockLevel]:
    return [StockLevel(Sku(sku.replace("_", "-")), quantity) for sku, quantity in quantities.items()]


# --- mapping and pushes ------------------------------------------------------------------------------


def test_skus_map_once_and_an_unknown_sku_fails_alone(fake: FakeWooCommerce, clock: ManualClock) -> None:
    fake.add_product("A")
    fake.add_product("B", stock=9)
    channel = connect(fake, clock)
    outcomes = channel.push(levels(A=3, NOPE=1, B=4))
    assert [(o.sku, o.ok) for o in outcomes] == [("A", True), ("NOPE", False), ("B", True)]
    assert outcomes[1].message == "SKU NOPE not found in WooCommerce"
    assert (fake.stock("A"), fake.stock("B")) == (3, 4)
    assert [e.route for e in fake.request_log] == ["products", "products/batch"]
    assert channel.known_items == {"A": str(fake.product("A")["id"]), "B": str(fake.product("B")["id"])}
    fake.request_log.clear()
    channel.push(levels(A=2, B=1))
    assert [e.route for e in fake.request_log] == ["products/batch"]  # cached
    fake.add_product("NOPE")  # listed since: a missing SKU is looked up again
    fake.request_log.clear()
    assert channel.push(levels(NOPE=5))[0].ok
    assert [e.route for e in fake.request_log] == ["products", "products/batch"]


def test_sku_lookups_go_100_to_a_request_and_match_exactly(fake: FakeWooCommerce, clock: ManualClock) -> None:
    for i in range(150):
        fake.add_product(f"S{i:03d}")
    fake.add_product("mug")
    fake.add_product("X,Y")
    fake.add_product("X")
    channel = connect(fake, clock)
    mapped = channel.map_skus([Sku(f"S{i:03d}") for i in range(150)] + [Sku("MUG"), Sku("X,Y")])
    assert "MUG" not in mapped  # WooCommerce matched "mug" case-insensitively; SKUs are exact here
    assert mapped[Sku("X,Y")] == str(fake.product("X,Y")["id"])
    lookups = [e for e in fake.request_log if e.route == "products"]
    assert len(lookups) == 3  # 100 + 51, and the SKU holding a comma alone
    assert sorted(len(e.params["sku"].split(",")) for e in lookups) == [2, 51, 100]
    assert "X,Y" in [e.params["sku"] for e in lookups]
    # each product as far as the lookup reads it, not its descriptions, images and meta data
    assert {e.params["_fields"] for e in lookups} == {"id,sku,type,parent_id,manage_stock,stock_quantity"}


def test_variations_go_in_one_call_per_parent(fake: FakeWooCommerce, clock: ManualClock) -> None:
    shirt = fake.add_product("SHIRT", product_type="variable")
    cap = fake.add_product("CAP", product_type="variable")
    fake.add_variation(shirt, "SHIRT-S")
    fake.add_variation(shirt, "SHIRT-M")
    fake.add_variation(cap, "CAP-RED")
    fake.add_product("MUG")
    channel = connect(fake, clock)
    outcomes = channel.push(levels(SHIRT_S=1, MUG=2, CAP_RED=3, SHIRT_M=4))
    assert all(o.ok for o in outcomes)
    assert [fake.stock(s) for s in ("SHIRT-S", "MUG", "CAP-RED", "SHIRT-M")] == [1, 2, 3, 4]
    batches = sorted(e.path for e in fake.request_log if e.route.endswith("batch"))
    assert batches == sorted(
        [
            "/wp-json/wc/v3/products/batch",
            f"/wp-json/wc/v3/products/{shirt}/variations/batch",
            f"/wp-json/wc/v3/products/{cap}/variations/batch",
        ]
    )
    assert channel.known_items[Sku("SHIRT-M")] == f"{shirt}/{fake.product('SHIRT-M')['id']}"
    assert channel.read_levels([Sku("SHIRT-S"), Sku("CAP-RED"), Sku("SHIRT")]) == {"SHIRT-S": 1, "CAP-RED": 3}


def test_a_full_push_of_simple_products_is_one_call(fake: FakeWooCommerce, clock: ManualClock) -> None:
    for i in range(MAX_BATCH):
        fake.add_product(f"P{i}")
    channel = connect(fake, clock)
    wanted = [StockLevel(Sku(f"P{i}"), i) for i in range(MAX_BATCH)]
    channel.map_skus([level.sku for level in wanted])
    fake.request_log.clear()
    assert all(o.ok for o in channel.push(wanted))
    assert [(e.route, e.objects) for e in fake.request_log] == [("products/batch", MAX_BATCH)]
    with pytest.raises(PermanentError, match="limit is 100"):
        channel.push([*wanted, StockLevel(Sku("P0"), 1)])
    assert len(fake.request_log) == 1  # refused before sending


def test_a_product_deleted_after_mapping_fails_its_row_only(
    fake: FakeWooCommerce, clock: ManualClock
) -> None:
    gone = fake.add_product("GONE")
    fake.add_product("KEPT")
    channel = connect(fake, clock)
    channel.map_skus([Sku("GONE"), Sku("KEPT")])
    fake.delete_product(gone)
    outcomes = channel.push(levels(GONE=1, KEPT=2))
    assert [(o.sku, o.ok) for o in outcomes] == [("GONE", False), ("KEPT", True)]
    assert outcomes[0].message == f"SKU GONE not found in WooCommerce (its id {gone} is gone)"
    assert "GONE" not in channel.known_items  # looked up again next time
    assert fake.stock("KEPT") == 2


def test_a_deleted_parent_fails_its_variations_only(fake: FakeWooCommerce, clock: ManualClock) -> None:
    shirt = fake.add_product("SHIRT", product_type="variable")
    small = fake.add_variation(shirt, "SHIRT-S")
    fake.add_product("MUG")
    channel = connect(fake, clock)
    channel.map_skus([Sku("SHIRT-S"), Sku("MUG")])
    fake.delete_product(small)
    fake.delete_product(shirt)
    outcomes = channel.push(levels(SHIRT_S=1, MUG=2))
    assert [(o.sku, o.ok) for o in outcomes] == [("SHIRT-S", False), ("MUG", True)]
    assert "not found in WooCommerce" in outcomes[0].message


def test_a_server_batch_limit_is_a_permanent_error_naming_the_limit(
    fake: FakeWooCommerce, clock: ManualClock
) -> None:
    fake.batch_limit = 2  # the woocommerce_rest_batch_items_limit filter, lowered by the site
    for sku in "ABC":
        fake.add_product(sku)
    with pytest.raises(PermanentError, match=r"Unable to accept more than 2 items .*batch limit"):
        connect(fake, clock).push(levels(A=1, B=1, C=1))


def test_expected_is_not_a_compare_and_set(fake: FakeWooCommerce, clock: ManualClock) -> None:
    fake.add_product("A", stock=10)
    channel = connect(fake, clock)
    fake.set_stock("A", 4)  # changed behind our back; WooCommerce cannot refuse our write
    assert channel.push([StockLevel(Sku("A"), 7, expected=10)])[0].ok
    assert fake.stock("A") == 7


# --- transport, credentials and errors -----------------------------------------------------------------


def test_plain_http_is_refused_except_on_loopback(fake: FakeWooCommerce, clock: ManualClock) -> None:
    with pytest.raises(ConfigError, match="not HTTPS") as refused:
        connect(fake, clock, site="http://shop.example.com")
    assert KEY not in str(refused.value)
    with pytest.raises(ConfigError):
        connect(fake, clock, base_url="http://10.0.0.5:8080")
    connect(fake, clock, base_url="http://127.0.0.1:8080")
    connect(fake, clock, base_url="http://localhost:8080")


def test_bad_credentials_name_the_site_never_the_key(
    fake: FakeWooCommerce, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add_product("A")
    wrong_key = connect(fake, clock, consumer_key="ck_wrong_777")
    with pytest.raises(
        PermanentError, match=f"{SITE} refused the API key .*woocommerce_rest_authentication"
    ) as one:
        wrong_key.push(levels(A=1))
    wrong_secret = connect(fake, clock, consumer_secret="cs_wrong_777")
    with pytest.raises(PermanentError, match="HTTP 401") as two:
        wrong_secret.orders_since(None)
    told = [str(one.value), str(two.value), caplog.text]
    assert not any(
        secret in text for text in told for secret in (KEY, SECRET, "ck_wrong_777", "cs_wrong_777")
    )
    assert clock.slept == []  # nothing to retry


def test_server_errors_and_throttling_are_retried_honouring_retry_after(
    fake: FakeWooCommerce, clock: ManualClock
) -> None:
    fake.add_product("A")
    fake.fail_next("products", 503)
    fake.fail_next("products/batch", response=httpx.Response(429, headers={"Retry-After": "7"}, json={}))
    fake.fail_next("products/batch", exception=httpx.ReadTimeout("scripted"))
    channel = connect(fake, clock)
    assert channel.push(levels(A=5))[0].ok
    assert fake.stock("A") == 5
    assert len(clock.slept) == 3
    assert clock.slept[1] == 7  # the server's word, not our back-off
    fake.fail_next("products/batch", 500, times=4)
    with pytest.raises(TransientError, match="HTTP 500"):
        channel.push(levels(A=6))
    assert fake.count("products/batch") == 2 + 1 + 4


def test_a_host_rate_limit_is_waited_out(clock: ManualClock) -> None:
    fake = make_fake(clock, rate_limit=(2, 10))
    fake.add_product("A")
    channel = connect(fake, clock)
    for quantity in range(3):
        assert channel.push(levels(A=quantity))[0].ok
    assert clock.slept
    assert all(wait >= 1 for wait in clock.slept)


# --- orders ---------------------------------------------------------------------------------------------


def lines_of(channel: WooCommerceChannel, cursor: str | None = None) -> list[tuple[str, str, int, Movement]]:
    return [
        (line.line_id, line.sku, line.quantity, line.movement) for line in channel.orders_since(cursor).lines
    ]


def test_only_stock_reducing_orders_are_sales(fake: FakeWooCommerce, clock: ManualClock) -> None:
    fake.add_product("A", stock=20)
    fake.add_product("NOSKU", stock=5)
    channel = connect(fake, clock)
    pending = fake.place_order([("A", 1)], status="pending")
    fake.place_order([("A", 2)], status="failed")
    fake.place_order([("A", 3)], status="checkout-draft")
    held = fake.place_order([("A", 4)], status="on-hold")
    assert [line[2] for line in lines_of(channel)] == [4]
    fake.set_status(pending, "processing")  # paid later: the sale comes then
    sold = channel.orders_since(None).lines
    assert sorted((line.order_id, line.quantity) for line in sold) == sorted(
        [(str(held), 4), (str(pending), 1)]
    )
    assert all(line.movement is Movement.SALE for line in sold)
    assert sold[0].key == f"woo/{sold[0].order_id}/{sold[0].line_id}"


def test_cancellations_and_refunds_are_restocks_once_with_stable_ids(
    fake: FakeWooCommerce, clock: ManualClock
) -> None:
    fake.add_product("A", stock=20)
    fake.add_product("B", stock=20)
    channel = connect(fake, clock, restock_refunds=True)
    order = fake.place_order([("A", 3), ("B", 2)])
    item_a, item_b = (item["id"] for item in fake.order(order)["line_items"])
    clock.now += 60
    refund = fake.refund(order, [("A", 1)], restock=True)
    clock.now += 60
    fake.set_status(order, "cancelled")
    got = lines_of(channel)
    assert got == [
        (str(item_a), "A", 3, Movement.SALE),
        (str(item_b), "B", 2, Movement.SALE),
        (f"{item_a}-refund-{refund}", "A", 1, Movement.RESTOCK),
        (f"{item_a}-cancel", "A", 2, Movement.RESTOCK),  # the rest: the refund put one back already
        (f"{item_b}-cancel", "B", 2, Movement.RESTOCK),
    ]
    assert lines_of(channel) == got  # the same state, the same lines: the ledger keeps each once
    assert (fake.stock("A"), fake.stock("B")) == (20, 20)  # WooCommerce's own moves agree


def test_a_cancelled_never_paid_order_nets_to_zero(fake: FakeWooCommerce, clock: ManualClock) -> None:
    fake.add_product("A", stock=5)
    order = fake.place_order([("A", 2)], status="pending")
    fake.set_status(order, "cancelled")
    got = lines_of(connect(fake, clock))
    assert sum(q if m is Movement.RESTOCK else -q for _, _, q, m in got) == 0


def test_refunds_restock_nothing_by_default(fake: FakeWooCommerce, clock: ManualClock) -> None:
    fake.add_product("A", stock=5)
    order = fake.place_order([("A", 2)])
    fake.refund(order, [("A", 2)], restock=False)
    assert fake.stock("A") == 3  # WooCommerce left its stock alone too
    batch = connect(fake, clock).orders_since(None)
    assert [(line.quantity, line.movement) for line in batch.lines] == [(2, Movement.SALE)]
    assert fake.count("refunds") == 0  # nothing to read: the refund cannot restock
    # a refund does not change what the line took; a restock would be its own line
    assert list(batch.states[0].units.values()) == [2]


def test_a_shop_that_always_restocks_counts_refunds_as_restocks(
    fake: FakeWooCommerce, clock: ManualClock
) -> None:
    fake.add_product("A", stock=5)
    order = fake.place_order([("A", 2)])
    (item,) = (line["id"] for line in fake.order(order)["line_items"])
    refund = fake.refund(order, [("A", 1)], restock=True)
    got = lines_of(connect(fake, clock, restock_refunds=True))
    assert got == [(str(item), "A", 2, Movement.SALE), (f"{item}-refund-{refund}", "A", 1, Movement.RESTOCK)]
    assert fake.stock("A") == 4


def test_orders_resume_from_the_cursor_with_an_overlap_in_gmt(clock: ManualClock) -> None:
    fake = make_fake(clock, utc_offset_hours=-5)  # the site's own time is not GMT
    fake.add_product("A", stock=500)
    channel = connect(fake, clock)
    first = fake.place_order([("A", 1)])
    clock.now += 3600
    second = fake.place_order([("A", 1)])
    lines = channel.orders_since(None).lines
    assert [line.order_id for line in lines] == [str(first), str(second)]
    assert lines[0].cursor < lines[1].cursor
    resumed = channel.orders_since(lines[-1].cursor).lines
    assert [line.order_id for line in resumed] == [str(second)]
    asked = fake.request_log[-1].params
    expected_after = datetime.fromtimestamp(clock.now, UTC) - ORDERS_OVERLAP
    assert asked["dates_are_gmt"] == "true"
    assert asked["modified_after"] == expected_after.strftime("%Y-%m-%dT%H:%M:%S")
    # an order modified in the overlap after we read past it (a late commit) is still read
    clock.now += 1
    late = fake.place_order([("A", 1)])
    fake._orders[late].modified = fake._orders[second].modified - 1  # a late commit
    again = channel.orders_since(lines[-1].cursor).lines
    assert str(late) in [line.order_id for line in again]


def test_cursors_sort_in_time_then_by_order_id() -> None:
    early = order_cursor(T0, "99")
    assert early < order_cursor(T0, "100") < order_cursor(T0 + timedelta(seconds=1), "2")
    with pytest.raises(PermanentError, match="not a time"):
        connect(make_fake(ManualClock(T0.timestamp())), ManualClock(T0.timestamp())).orders_since("garbage")


def test_many_orders_are_read_page_by_page(fake: FakeWooCommerce, clock: ManualClock) -> None:
    fake.add_product("A", stock=1000)
    for _ in range(230):
        fake.place_order([("A", 1)])
    got = connect(fake, clock).orders_since(None).lines
    assert len(got) == len({line.key for line in got}) == 230
    assert fake.count("orders") == math.ceil(230 / 100)


def test_over_loopback_with_the_default_client(fake: FakeWooCommerce, clock: ManualClock) -> None:
    fake.add_product("A", stock=10)
    fake.add_product("B")
    fake.place_order([("A", 1)])
    with serve(fake) as base_url:
        channel = WooCommerceChannel(
            NAME,
            site=SITE,
            consumer_key=KEY,
            consumer_secret=SECRET,
            base_url=base_url,
            sleep=clock.sleep,
            clock=clock,
        )
        try:
            assert all(o.ok for o in channel.push(levels(A=4, B=6)))
            assert channel.read_levels([Sku("A"), Sku("B"), Sku("Z")]) == {"A": 4, "B": 6}
            assert [(line.sku, line.quantity) for line in channel.orders_since(None).lines] == [("A", 1)]
        finally:
            channel.close()


# --- prices ------------------------------------------------------------------------------------


def usd(sku: str, amount: str, currency: str = "USD") -> PriceLevel:
    return PriceLevel(Sku(sku), Decimal(amount), currency)


def batch_bodies(fake: FakeWooCommerce, requests: list[httpx.Request]) -> list[tuple[str, Any]]:
    return [(r.url.path, json.loads(r.content)) for r in requests if r.method == "POST"]


def test_prices_are_regular_price_strings_in_one_batch_and_the_currency_is_read_once(
    fake: FakeWooCommerce, clock: ManualClock
) -> None:
    a = fake.add_product("A")
    b = fake.add_product("B", regular_price="1.00")
    seen: list[httpx.Request] = []

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return fake(request)

    channel = WooCommerceChannel(
        NAME,
        site=SITE,
        consumer_key=KEY,
        consumer_secret=SECRET,
        client=httpx.Client(transport=httpx.MockTransport(spy)),
        sleep=clock.sleep,
        clock=clock,
    )
    outcomes = channel.push_prices([usd("A", "12.5"), usd("B", "3")])
    assert [(o.sku, o.ok, o.message) for o in outcomes] == [("A", True, ""), ("B", True, "")]
    assert batch_bodies(fake, seen) == [
        (
            "/wp-json/wc/v3/products/batch",
            {"update": [{"id": a, "regular_price": "12.50"}, {"id": b, "regular_price": "3.00"}]},
        )
    ]
    assert (fake.regular_price("A"), fake.regular_price("B")) == ("12.50", "3.00")
    assert channel.push_prices([usd("A", "13.00")])[0].ok
    assert fake.count("settings") == 1  # read once, then cached
    assert channel.store_currency() == "USD"


def test_a_price_in_another_currency_is_refused_naming_both_and_not_sent(clock: ManualClock) -> None:
    fake = make_fake(clock, currency="EUR")
    fake.add_product("A")
    fake.add_product("B")
    outcomes = connect(fake, clock).push_prices([usd("A", "5.00"), usd("B", "6.00", "EUR")])
    assert [(o.sku, o.ok) for o in outcomes] == [("A", False), ("B", True)]
    assert outcomes[0].message == (f"price 5.00 USD for SKU A not sent: WooCommerce site {SITE} sells in EUR")
    assert (fake.regular_price("A"), fake.regular_price("B")) == ("", "6.00")
    only_wrong = connect(fake, clock).push_prices([usd("A", "5.00")])
    assert not only_wrong[0].ok
    assert fake.count("products/batch") == 1  # nothing left to send: no batch call


def test_variation_prices_go_per_parent_and_an_unknown_sku_fails_alone(
    fake: FakeWooCommerce, clock: ManualClock
) -> None:
    shirt = fake.add_product("SHIRT", product_type="variable")
    small = fake.add_variation(shirt, "SHIRT-S")
    fake.add_product("MUG")
    outcomes = connect(fake, clock).push_prices(
        [usd("SHIRT-S", "20.00"), usd("NOPE", "1.00"), usd("MUG", "8.00")]
    )
    assert [(o.sku, o.ok) for o in outcomes] == [("SHIRT-S", True), ("NOPE", False), ("MUG", True)]
    assert outcomes[1].message == "SKU NOPE not found in WooCommerce"
    assert fake.regular_price("SHIRT-S") == "20.00"
    assert fake.product("SHIRT-S")["id"] == small
    assert {e.route for e in fake.request_log if e.method == "POST"} == {"products/batch", "variations/batch"}


def test_a_variable_parent_keeps_no_price_and_its_row_says_so(
    fake: FakeWooCommerce, clock: ManualClock
) -> None:
    fake.add_product("SHIRT", product_type="variable")
    outcomes = connect(fake, clock).push_prices([usd("SHIRT", "20.00")])
    assert not outcomes[0].ok
    assert outcomes[0].message == (
        "WooCommerce kept price '' for SKU SHIRT, not 20.00 (a variable product has no price of its own)"
    )
    assert fake.regular_price("SHIRT") == ""


def test_a_price_woocommerce_stored_differently_is_a_refusal(
    fake: FakeWooCommerce, clock: ManualClock
) -> None:
    # What wc_format_decimal makes of a text in a shop set up otherwise (here: a plugin rewrote it).
    a = fake.add_product("A")
    rewritten = {"update": [{**fake.product("A"), "id": a, "regular_price": "1250"}]}
    fake.fail_next("products/batch", response=httpx.Response(200, json=rewritten))
    outcomes = connect(fake, clock).push_prices([usd("A", "12.50")])
    assert not outcomes[0].ok
    assert outcomes[0].message == "WooCommerce kept price '1250' for SKU A, not 12.50"


def test_a_price_batch_above_the_limit_is_refused_whole(fake: FakeWooCommerce, clock: ManualClock) -> None:
    fake.add_product("A")
    with pytest.raises(PermanentError, match=f"the limit is {MAX_BATCH}"):
        connect(fake, clock).push_prices([usd("A", "1.00")] * (MAX_BATCH + 1))
    assert fake.count("products/batch") == fake.count("settings") == 0


def test_a_currency_read_that_fails_fails_the_push(fake: FakeWooCommerce, clock: ManualClock) -> None:
    fake.add_product("A")
    fake.fail_next("settings", 503, times=10)
    with pytest.raises(TransientError, match="settings/general/woocommerce_currency"):
        connect(fake, clock).push_prices([usd("A", "1.00")])
    assert fake.regular_price("A") == ""


# --- admin edits and order states -----------------------------------------------------------------


def state_of(batch: OrderBatch, order: int) -> dict[str, int]:
    (state,) = [s for s in batch.states if s.order_id == str(order)]
    return dict(state.units)


def lines_of_batch(batch: OrderBatch) -> list[tuple[str, str, int, Movement]]:
    return [(line.line_id, line.sku, line.quantity, line.movement) for line in batch.lines]


def item_ids(fake: FakeWooCommerce, order: int) -> list[str]:
    return [str(line["id"]) for line in fake.order(order)["line_items"]]


def test_a_quantity_edited_up_is_the_orders_state_and_moves_woocommerces_stock(
    fake: FakeWooCommerce, clock: ManualClock
) -> None:
    fake.add_product("A", stock=20)
    channel = connect(fake, clock)
    order = fake.place_order([("A", 2)])
    (item,) = item_ids(fake, order)
    first = channel.orders_since(None)
    assert state_of(first, order) == {item: 2}
    clock.now += 60
    fake.edit_order(order, set_quantities={int(item): 5})
    assert fake.stock("A") == 20 - 5  # WooCommerce took the 3 more
    edited = channel.orders_since(first.lines[-1].cursor)
    state = edited.states[0]
    assert (state.order_id, dict(state.units)) == (str(order), {item: 5})
    assert state.at == datetime.fromtimestamp(clock.now, UTC)  # date_modified moved
    assert state.cursor > first.states[0].cursor  # so the edit is read again
    assert [(line.line_id, line.movement) for line in edited.lines] == [(item, Movement.SALE)]  # same key


def test_a_quantity_edited_down_is_the_orders_state(fake: FakeWooCommerce, clock: ManualClock) -> None:
    fake.add_product("A", stock=20)
    order = fake.place_order([("A", 5)], status="on-hold")
    (item,) = item_ids(fake, order)
    fake.edit_order(order, set_quantities={int(item): 2})
    assert fake.stock("A") == 18
    assert state_of(connect(fake, clock).orders_since(None), order) == {item: 2}


def test_a_removed_line_is_absent_from_the_state(fake: FakeWooCommerce, clock: ManualClock) -> None:
    fake.add_product("A", stock=20)
    fake.add_product("B", stock=20)
    order = fake.place_order([("A", 2), ("B", 3)])
    item_a, item_b = item_ids(fake, order)
    fake.edit_order(order, remove=[int(item_b)])
    assert (fake.stock("A"), fake.stock("B")) == (18, 20)  # B's three came back
    batch = connect(fake, clock).orders_since(None)
    assert state_of(batch, order) == {item_a: 2}  # deleted, not 0: the core counts it as 0
    assert [line.line_id for line in batch.lines] == [item_a]


def test_an_added_line_is_a_new_sale_and_in_the_state(fake: FakeWooCommerce, clock: ManualClock) -> None:
    fake.add_product("A", stock=20)
    fake.add_product("C", stock=20)
    order = fake.place_order([("A", 2)], status="completed")
    (item_a,) = item_ids(fake, order)
    (item_c,) = fake.edit_order(order, add=[("C", 3)])
    assert fake.stock("C") == 17
    batch = connect(fake, clock).orders_since(None)
    assert lines_of_batch(batch) == [(item_a, "A", 2, Movement.SALE), (str(item_c), "C", 3, Movement.SALE)]
    assert state_of(batch, order) == {item_a: 2, str(item_c): 3}


def test_states_cover_every_stock_holding_order_read_and_nothing_else(
    fake: FakeWooCommerce, clock: ManualClock
) -> None:
    fake.add_product("A", stock=50)
    sold = fake.place_order([("A", 1)])
    cancelled = fake.place_order([("A", 2)])
    fake.set_status(cancelled, "cancelled")
    fake.place_order([("A", 1)], status="pending")
    fake.place_order([("A", 1)], status="failed")
    batch = connect(fake, clock).orders_since(None)
    assert [state.order_id for state in batch.states] == [str(sold), str(cancelled)]
    (item,) = item_ids(fake, cancelled)
    assert state_of(batch, cancelled) == {item: 2}  # as the lines stand; the cancel is a RESTOCK
    assert (f"{item}-cancel", "A", 2, Movement.RESTOCK) in lines_of_batch(batch)


def test_states_come_with_the_overlap_whose_lines_are_dropped(
    fake: FakeWooCommerce, clock: ManualClock
) -> None:
    fake.add_product("A", stock=50)
    channel = connect(fake, clock)
    early = fake.place_order([("A", 1)])
    channel.orders_since(None)
    clock.now += 60
    late = fake.place_order([("A", 1)])
    cursor = channel.orders_since(None).lines[-1].cursor
    resumed = channel.orders_since(cursor)
    assert [line.order_id for line in resumed.lines] == [str(late)]  # early's line was committed
    assert [state.order_id for state in resumed.states] == [str(early), str(late)]  # oldest first


# --- quantities that are not whole units ------------------------------------------------------------


def test_odd_quantities_are_named_never_counted_rounded_or_dropped(
    fake: FakeWooCommerce, clock: ManualClock
) -> None:
    for sku in ("A", "B", "C", "D", "E"):
        fake.add_product(sku, stock=10)
    # What a decimal-quantity plugin (1.5, "1.5") or an import (0, -2) can leave on an order.
    order = fake.place_order([("A", 1.5), ("B", "1.5"), ("C", 0), ("D", -2), ("E", 2.0)])
    ids = item_ids(fake, order)
    batch = connect(fake, clock).orders_since(None)
    assert lines_of_batch(batch) == [(ids[4], "E", 2, Movement.SALE)]
    assert [(o.order_id, o.line_id, o.sku, o.quantity) for o in batch.odd] == [
        (str(order), ids[0], "A", "1.5"),
        (str(order), ids[1], "B", "1.5"),
        (str(order), ids[2], "C", "0"),
        (str(order), ids[3], "D", "-2"),
    ]
    assert state_of(batch, order) == {ids[4]: 2}
    assert all(o.channel == NAME and o.cursor == batch.states[0].cursor for o in batch.odd)


def test_a_sold_line_edited_to_a_fraction_leaves_the_state_and_is_named(
    fake: FakeWooCommerce, clock: ManualClock
) -> None:
    fake.add_product("A", stock=10)
    order = fake.place_order([("A", 2)])
    (item,) = item_ids(fake, order)
    fake.edit_order(order, set_quantities={int(item): "1.5"})
    batch = connect(fake, clock).orders_since(None)
    assert batch.lines == ()  # not truncated to 1
    assert state_of(batch, order) == {}
    assert [(o.line_id, o.quantity) for o in batch.odd] == [(item, "1.5")]


def test_a_refund_line_of_a_fraction_is_named_not_truncated(
    fake: FakeWooCommerce, clock: ManualClock
) -> None:
    fake.add_product("A", stock=10)
    order = fake.place_order([("A", 2)])
    (item,) = item_ids(fake, order)
    refund_id = fake.refund(order, [("A", 1)])
    client = httpx.Client(transport=httpx.MockTransport(fake), auth=(KEY, SECRET))
    (refund,) = client.get(f"https://{SITE}/wp-json/wc/v3/orders/{order}/refunds").json()
    refund["line_items"][0]["quantity"] = "-1.5"  # a decimal-quantity plugin's refund
    fake.fail_next("refunds", response=httpx.Response(200, json=[refund], headers={"X-WP-TotalPages": "1"}))
    batch = connect(fake, clock, restock_refunds=True).orders_since(None)
    assert lines_of_batch(batch) == [(item, "A", 2, Movement.SALE)]
    assert [(o.line_id, o.sku, o.quantity) for o in batch.odd] == [
        (f"{item}-refund-{refund_id}", "A", "-1.5")
    ]
