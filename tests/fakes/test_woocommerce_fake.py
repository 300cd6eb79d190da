"""FakeWooCommerce against the WooCommerce REST v3 reference: shapes, limits, validation, stock rules."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import httpx
import pytest
from sheetsync_fakes import REFERENCE as REFERENCE_ROOT
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.wire import serve
from sheetsync_fakes.woocommerce import BATCH_LIMIT, FakeWooCommerce, wc_format_decimal

REFERENCE_PATH = REFERENCE_ROOT / "woocommerce" / "rest_v3_reference.json"
REFERENCE = json.loads(REFERENCE_PATH.read_text())
KEY = "ck_fake_key_0001"
SECRET = "cs_fake_secret_0001"
SITE = "https://shop.example.com/wp-json/wc/v3"
START = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC).timestamp()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def fake(clock: ManualClock) -> FakeWooCommerce:
    return FakeWooCommerce(REFERENCE, consumer_key=KEY, consumer_secret=SECRET, now=clock)


@pytest.fixture
def client(fake: FakeWooCommerce) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(fake), auth=(KEY, SECRET), base_url=SITE)


def properties(resource: str, table: str) -> dict[str, Any]:
    return {row["name"]: row for row in REFERENCE["resources"][resource]["property_tables"][table]}


PRODUCT = properties("products", "Product properties")
VARIATION = properties("product_variations", "Product variation properties")


def test_objects_use_only_reference_fields_types_and_enum_values(
    fake: FakeWooCommerce, client: httpx.Client
) -> None:
    parent = fake.add_product("SHIRT", product_type="variable")
    fake.add_variation(parent, "SHIRT-S", stock=3)
    fake.add_product("MUG", stock=0, backorders="notify")
    found = client.get("/products", params={"sku": "SHIRT,SHIRT-S,MUG"}).json()
    assert sorted(o["sku"] for o in found) == ["MUG", "SHIRT", "SHIRT-S"]
    for obj in found:
        table = VARIATION if obj["type"] == "variation" else PRODUCT
        # ``type`` and ``parent_id`` are product fields the products endpoint shows for variations too.
        assert set(obj) <= set(table) | {"type", "parent_id"}
        assert obj["stock_status"] in table["stock_status"]["options"]
        assert obj["backorders"] in table["backorders"]["options"]
        assert isinstance(obj["manage_stock"], bool) or obj["manage_stock"] == "parent"
        assert obj["stock_quantity"] is None or isinstance(obj["stock_quantity"], int)
        example = REFERENCE["resources"]["products"]["examples"][0]["response_example"]
        assert len(obj["date_modified_gmt"]) == len(example["date_modified_gmt"])  # no zone designator
    mug = next(o for o in found if o["sku"] == "MUG")
    assert mug["stock_status"] == "onbackorder"  # managed, at 0, backorders allowed
    variation = next(o for o in found if o["sku"] == "SHIRT-S")
    assert (variation["type"], variation["parent_id"]) == ("variation", parent)


def test_the_no_route_error_is_the_reference_body(client: httpx.Client) -> None:
    example = REFERENCE["errors"]["examples"][0]["body"]
    answer = client.get("/products/coupons")
    assert answer.status_code == example["data"]["status"]
    assert answer.json() == example


def test_batch_limit_from_the_reference(fake: FakeWooCommerce, client: httpx.Client) -> None:
    assert REFERENCE["batch_limit"]["value"] == BATCH_LIMIT == fake.batch_limit
    ids = [fake.add_product(f"P{i}") for i in range(BATCH_LIMIT + 1)]
    update = [{"id": i, "manage_stock": True, "stock_quantity": 1} for i in ids]
    too_many = client.post("/products/batch", json={"update": update})
    assert too_many.status_code == 413
    assert too_many.json() == {
        "code": "woocommerce_rest_request_entity_too_large",
        "message": "Unable to accept more than 100 items for this request.",
        "data": {"status": 413},
    }
    assert fake.stock("P0") is None  # nothing applied
    # create + update + delete count together
    mixed = client.post("/products/batch", json={"update": update[:60], "delete": ids[:41]})
    assert mixed.status_code == 413
    ok = client.post("/products/batch", json={"update": update[:BATCH_LIMIT]})
    assert ok.status_code == 200
    assert [o["stock_quantity"] for o in ok.json()["update"]] == [1] * BATCH_LIMIT


def test_a_plugin_failing_on_one_products_save_kills_every_batch_holding_it_midway(
    fake: FakeWooCommerce, client: httpx.Client
) -> None:
    ids = [fake.add_product(f"P{i}", stock=5) for i in range(3)]
    fake.break_saves("P1")
    update = [{"id": i, "manage_stock": True, "stock_quantity": 2} for i in ids]
    for _ in range(2):
        answer = client.post("/products/batch", json={"update": update})
        assert answer.status_code == 500
        assert "critical error" in answer.json()["message"]
    assert [fake.stock(f"P{i}") for i in range(3)] == [2, 5, 5]  # saved up to it, never past it
    fake.break_saves("P1", broken=False)
    assert client.post("/products/batch", json={"update": update}).status_code == 200
    assert [fake.stock(f"P{i}") for i in range(3)] == [2, 2, 2]


def test_a_refused_object_comes_back_in_place_with_http_200(
    fake: FakeWooCommerce, client: httpx.Client
) -> None:
    a = fake.add_product("A")
    b = fake.add_product("B")
    answer = client.post(
        "/products/batch",
        json={
            "update": [
                {"id": a, "manage_stock": True, "stock_quantity": 4},
                {"id": 999999, "manage_stock": True, "stock_quantity": 4},
                {"id": b, "manage_stock": True, "stock_status": "instok"},
                {"id": b, "manage_stock": True, "stock_quantity": "6"},  # WordPress takes numeric strings
            ]
        },
    )
    assert answer.status_code == 200
    first, missing, bad_enum, numeric = answer.json()["update"]
    assert first["stock_quantity"] == 4
    assert missing == {
        "id": 999999,
        "error": {
            "code": "woocommerce_rest_product_invalid_id",
            "message": "Invalid ID.",
            "data": {"status": 400},
        },
    }
    assert bad_enum["error"]["code"] == "rest_invalid_param"
    assert bad_enum["error"]["data"]["params"] == {
        "stock_status": "stock_status is not one of instock, outofstock, and onbackorder."
    }
    assert numeric["stock_quantity"] == 6
    assert (fake.stock("A"), fake.stock("B")) == (4, 6)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("backorders", "maybe", "backorders is not one of no, notify, and yes."),
        ("manage_stock", "yes", "manage_stock is not of type boolean."),
        ("stock_quantity", 2.5, "stock_quantity is not of type integer."),
        ("stock_quantity", True, "stock_quantity is not of type integer."),
        ("stok_quantity", 3, "stok_quantity is not a property of product."),
    ],
)
def test_bad_fields_are_refused_as_wordpress_words_them(
    fake: FakeWooCommerce, client: httpx.Client, field: str, value: Any, reason: str
) -> None:
    product = fake.add_product("A", stock=1)
    answer = client.post("/products/batch", json={"update": [{"id": product, field: value}]})
    assert answer.json()["update"][0]["error"]["data"] == {"status": 400, "params": {field: reason}}
    assert fake.stock("A") == 1


def test_stock_quantity_is_ignored_unless_stock_is_managed(
    fake: FakeWooCommerce, client: httpx.Client
) -> None:
    product = fake.add_product("A")
    client.post("/products/batch", json={"update": [{"id": product, "stock_quantity": 5}]})
    assert fake.stock("A") is None
    client.post(
        "/products/batch", json={"update": [{"id": product, "manage_stock": True, "stock_quantity": 0}]}
    )
    assert (fake.stock("A"), fake.product("A")["stock_status"]) == (0, "outofstock")


def test_variations_batch_per_parent(fake: FakeWooCommerce, client: httpx.Client) -> None:
    one = fake.add_product("ONE", product_type="variable")
    two = fake.add_product("TWO", product_type="variable")
    small = fake.add_variation(one, "ONE-S")
    other = fake.add_variation(two, "TWO-S")
    answer = client.post(
        f"/products/{one}/variations/batch",
        json={
            "update": [
                {"id": small, "manage_stock": True, "stock_quantity": 2},
                {"id": other, "manage_stock": True, "stock_quantity": 2},  # another parent's
            ]
        },
    )
    applied, refused = answer.json()["update"]
    assert applied["stock_quantity"] == 2
    assert refused["error"]["code"] == "woocommerce_rest_product_variation_invalid_id"
    assert fake.stock("TWO-S") is None
    listed = client.get(f"/products/{one}/variations").json()
    assert [v["sku"] for v in listed] == ["ONE-S"]
    # a simple product's id is not a variation
    assert client.post("/products/batch", json={"update": [{"id": small, "manage_stock": True}]}).json()[
        "update"
    ][0]["error"]["code"] == ("woocommerce_rest_product_invalid_id")


def test_query_parameters_are_validated(fake: FakeWooCommerce, client: httpx.Client) -> None:
    too_big = client.get("/products", params={"per_page": 101})
    assert too_big.status_code == 400
    assert too_big.json()["code"] == "rest_invalid_param"
    assert too_big.json()["message"] == "Invalid parameter(s): per_page"
    assert too_big.json()["data"]["params"] == {
        "per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"
    }
    typo = client.get("/orders", params={"modifed_after": "2026-03-01T10:00:00"})
    assert typo.status_code == 400
    assert "modifed_after" in typo.json()["data"]["params"]
    status = client.get("/orders", params={"status": "shipped"})
    assert status.status_code == 400
    assert status.json()["data"]["params"]["status"].startswith(
        "status[0] is not one of any, pending, processing"
    )
    by_modified = client.get("/orders", params={"orderby": "modified"})
    assert by_modified.status_code == 400
    assert client.get("/orders", params={"modified_after": "yesterday"}).status_code == 400
    assert client.get("/products", params={"search": "mug"}).status_code == 501  # known, not modelled


def test_paging_headers_and_links(fake: FakeWooCommerce, client: httpx.Client) -> None:
    for i in range(25):
        fake.add_product(f"P{i:02d}")
    first = client.get("/products", params={"per_page": 10, "orderby": "id", "order": "asc"})
    assert (first.headers["X-WP-Total"], first.headers["X-WP-TotalPages"]) == ("25", "3")
    assert 'rel="next"' in first.headers["Link"]
    assert 'rel="prev"' not in first.headers["Link"]
    last = client.get("/products", params={"per_page": 10, "page": 3, "orderby": "id", "order": "asc"})
    assert [p["sku"] for p in last.json()] == ["P20", "P21", "P22", "P23", "P24"]
    assert 'rel="next"' not in last.headers["Link"]
    default = client.get("/products")
    assert len(default.json()) == REFERENCE["pagination"]["default_per_page"]


def test_sku_lookup_is_a_comma_list_and_case_insensitive(fake: FakeWooCommerce, client: httpx.Client) -> None:
    fake.add_product("Mug")
    fake.add_product("A,B")
    fake.add_product("A")
    assert [p["sku"] for p in client.get("/products", params={"sku": "mug"}).json()] == ["Mug"]
    found = sorted(p["sku"] for p in client.get("/products", params={"sku": "A,B"}).json())
    assert found == ["A", "A,B"]  # split on commas, and the whole string too


def test_fields_keeps_only_what_is_named_as_wordpress_does(
    fake: FakeWooCommerce, client: httpx.Client
) -> None:
    fake.add_product("MUG", stock=4)
    whole = client.get("/products", params={"sku": "MUG"}).json()
    only = client.get("/products", params={"sku": "MUG", "_fields": "id, sku,stock_quantity"})
    assert only.json() == [{k: whole[0][k] for k in ("id", "sku", "stock_quantity")}]
    assert client.get("/products", params={"sku": "MUG", "_fields": ","}).json() == whole  # no names: all
    fake.place_order([("MUG", 1)])
    order = client.get("/orders", params={"_fields": "id,line_items.sku,status"}).json()[0]
    assert order["line_items"] == []  # a nested name does not reach into a list
    assert set(order) == {"id", "line_items", "status"}
    refused = client.get("/products", params={"per_page": 101, "_fields": "id"})
    assert refused.status_code == 400
    assert refused.json()["code"] == "rest_invalid_param"  # an error is left whole


@pytest.mark.parametrize(
    ("auth", "code", "message"),
    [
        (None, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
        (("ck_wrong", SECRET), "woocommerce_rest_authentication_error", "Consumer key is invalid."),
        ((KEY, "cs_wrong"), "woocommerce_rest_authentication_error", "Consumer secret is invalid."),
    ],
)
def test_authentication_errors(
    fake: FakeWooCommerce, auth: tuple[str, str] | None, code: str, message: str
) -> None:
    client = httpx.Client(transport=httpx.MockTransport(fake), base_url=SITE, auth=auth)
    answer = client.get("/products")
    assert answer.status_code == 401
    assert answer.json() == {"code": code, "message": message, "data": {"status": 401}}


def test_basic_auth_counts_only_over_https_or_loopback(fake: FakeWooCommerce) -> None:
    plain = httpx.Client(
        transport=httpx.MockTransport(fake),
        base_url="http://shop.example.com/wp-json/wc/v3",
        auth=(KEY, SECRET),
    )
    assert plain.get("/products").status_code == 401  # WooCommerce wants OAuth 1.0a over HTTP
    query = httpx.Client(transport=httpx.MockTransport(fake), base_url=SITE)
    assert query.get("/products", params={"consumer_key": KEY, "consumer_secret": SECRET}).status_code == 200
    assert all("consumer_secret" not in entry.params for entry in fake.request_log)
    batch = query.post("/products/batch", json={"update": []})
    assert batch.json()["code"] == "woocommerce_rest_cannot_batch"


def test_orders_filter_by_modification_in_gmt_or_site_time(clock: ManualClock) -> None:
    fake = FakeWooCommerce(REFERENCE, consumer_key=KEY, consumer_secret=SECRET, now=clock, utc_offset_hours=2)
    client = httpx.Client(transport=httpx.MockTransport(fake), auth=(KEY, SECRET), base_url=SITE)
    fake.add_product("A", stock=10)
    early = fake.place_order([("A", 1)])
    clock.now += 3600
    late = fake.place_order([("A", 1)])
    order = client.get(f"/orders/{late}/refunds")
    assert order.json() == []
    gmt = {"modified_after": "2026-03-01T10:30:00", "dates_are_gmt": "true"}
    assert [o["id"] for o in client.get("/orders", params=gmt).json()] == [late]
    site_time = {"modified_after": "2026-03-01T10:30:00"}  # 08:30 GMT at UTC+2: both
    assert sorted(o["id"] for o in client.get("/orders", params=site_time).json()) == [early, late]
    shown = fake.order(late)
    assert (shown["date_modified_gmt"], shown["date_modified"]) == (
        "2026-03-01T11:00:00",
        "2026-03-01T13:00:00",
    )


def test_woocommerce_stock_transitions(fake: FakeWooCommerce, clock: ManualClock) -> None:
    fake.add_product("A", stock=10)
    pending = fake.place_order([("A", 2)], status="pending")
    assert fake.stock("A") == 10  # pending moves nothing
    fake.set_status(pending, "processing")
    assert fake.stock("A") == 8
    fake.set_status(pending, "completed")
    assert fake.stock("A") == 8  # reduced once
    fake.set_status(pending, "cancelled")
    assert fake.stock("A") == 10
    held = fake.place_order([("A", 3)], status="on-hold")
    assert fake.stock("A") == 7
    fake.refund(held, [("A", 1)], restock=True)
    assert fake.stock("A") == 8
    fake.refund(held, [("A", 1)], restock=False)
    assert fake.stock("A") == 8
    fake.set_status(held, "cancelled")
    assert fake.stock("A") == 10  # what the restocking refund put back is not restored twice


def test_refunds_list_negative_quantities_linked_to_their_line(
    fake: FakeWooCommerce, client: httpx.Client
) -> None:
    fake.add_product("A", stock=5)
    order = fake.place_order([("A", 2)])
    fake.refund(order, [("A", 2)])
    shown = client.get("/orders", params={"include": order}).json()[0]
    assert shown["status"] == "refunded"
    assert [set(r) for r in shown["refunds"]] == [{"id", "reason", "total"}]
    (refund,) = client.get(f"/orders/{order}/refunds").json()
    (line,) = refund["line_items"]
    assert line["quantity"] == -2
    assert {"key": "_refunded_item_id", "value": str(shown["line_items"][0]["id"])}.items() <= line[
        "meta_data"
    ][0].items()


def test_host_rate_limit_answers_429_with_retry_after(clock: ManualClock) -> None:
    fake = FakeWooCommerce(REFERENCE, consumer_key=KEY, consumer_secret=SECRET, now=clock, rate_limit=(2, 10))
    client = httpx.Client(transport=httpx.MockTransport(fake), auth=(KEY, SECRET), base_url=SITE)
    assert [client.get("/products").status_code for _ in range(3)] == [200, 200, 429]
    throttled = client.get("/products")
    assert throttled.headers["Retry-After"] == "10"
    clock.now += 10
    assert client.get("/products").status_code == 200


def test_faults_and_the_request_log(fake: FakeWooCommerce, client: httpx.Client) -> None:
    product = fake.add_product("A")
    fake.fail_next("products/batch", 502, applied=True)
    fake.fail_next("products", exception=httpx.ReadTimeout("scripted"))
    lost = client.post(
        "/products/batch", json={"update": [{"id": product, "manage_stock": True, "stock_quantity": 3}]}
    )
    assert lost.status_code == 502
    assert fake.stock("A") == 3  # applied, answer lost
    with pytest.raises(httpx.ReadTimeout):
        client.get("/products")
    assert [(e.route, e.status, e.objects) for e in fake.request_log] == [
        ("products/batch", 502, 1),
        ("products", None, 0),
    ]


def test_over_loopback_basic_auth_is_accepted(fake: FakeWooCommerce) -> None:
    fake.add_product("A", stock=2)
    with serve(fake) as base_url:
        token = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
        answer = httpx.get(
            f"{base_url}/wp-json/wc/v3/products",
            params={"sku": "A"},
            headers={"Authorization": f"Basic {token}"},
        )
    assert answer.status_code == 200
    assert answer.json()[0]["stock_quantity"] == 2


# --- prices and the store currency --------------------------------------------------------------


def test_prices_are_reference_strings() -> None:
    for table in (PRODUCT, VARIATION):
        assert table["regular_price"]["type"] == "string"
        assert table["regular_price"]["read_only"] is False
        assert table["price"]["read_only"] is True


def test_a_regular_price_is_stored_and_shown_as_the_active_price(
    fake: FakeWooCommerce, client: httpx.Client
) -> None:
    product = fake.add_product("MUG")
    answer = client.post("/products/batch", json={"update": [{"id": product, "regular_price": "12.50"}]})
    assert answer.status_code == 200
    (shown,) = answer.json()["update"]
    assert (shown["regular_price"], shown["price"], shown["sale_price"]) == ("12.50", "12.50", "")
    assert fake.regular_price("MUG") == "12.50"


@pytest.mark.parametrize("value", [12.5, 12, None, True, ["12.50"]])
def test_a_regular_price_that_is_not_a_string_is_refused_in_place(
    fake: FakeWooCommerce, client: httpx.Client, value: Any
) -> None:
    product = fake.add_product("MUG", regular_price="3.00")
    other = fake.add_product("CUP")
    update = [{"id": product, "regular_price": value}, {"id": other, "regular_price": "4.00"}]
    answer = client.post("/products/batch", json={"update": update})
    assert answer.status_code == 200
    refused, applied = answer.json()["update"]
    assert refused == {
        "id": product,
        "error": {
            "code": "rest_invalid_param",
            "message": "Invalid parameter(s): regular_price",
            "data": {"status": 400, "params": {"regular_price": "regular_price is not of type string."}},
        },
    }
    assert applied["regular_price"] == "4.00"
    assert fake.regular_price("MUG") == "3.00"


@pytest.mark.parametrize(
    ("sent", "separator", "stored"),
    [
        ("12.50", ".", "12.50"),
        ("12,50", ".", "1250"),  # a comma in a "." store is dropped, not understood
        ("12,50", ",", "12.50"),
        ("1.234,50", ",", "1234.50"),  # every "." but the last goes
        ("$9.99", ".", "9.99"),
        ("abc", ".", ""),  # clears the price
        ("-5", ".", "-5"),  # WooCommerce does not refuse a negative price
    ],
)
def test_a_string_price_is_stored_as_wc_format_decimal_makes_it(
    clock: ManualClock, sent: str, separator: str, stored: str
) -> None:
    assert wc_format_decimal(sent, separator) == stored
    fake = FakeWooCommerce(
        REFERENCE, consumer_key=KEY, consumer_secret=SECRET, now=clock, decimal_separator=separator
    )
    product = fake.add_product("MUG")
    client = httpx.Client(transport=httpx.MockTransport(fake), auth=(KEY, SECRET), base_url=SITE)
    answer = client.post("/products/batch", json={"update": [{"id": product, "regular_price": sent}]})
    assert answer.json()["update"][0]["regular_price"] == stored
    assert fake.regular_price("MUG") == stored


def test_variable_and_grouped_products_hold_no_price_of_their_own(
    fake: FakeWooCommerce, client: httpx.Client
) -> None:
    shirt = fake.add_product("SHIRT", product_type="variable")
    group = fake.add_product("SET", product_type="grouped")
    small = fake.add_variation(shirt, "SHIRT-S")
    answer = client.post(
        "/products/batch",
        json={"update": [{"id": shirt, "regular_price": "20.00"}, {"id": group, "regular_price": "5.00"}]},
    )
    assert [item["regular_price"] for item in answer.json()["update"]] == ["", ""]
    variation = client.post(
        f"/products/{shirt}/variations/batch", json={"update": [{"id": small, "regular_price": "20.00"}]}
    )
    assert variation.json()["update"][0]["regular_price"] == "20.00"


def test_the_store_currency_is_a_setting_option(clock: ManualClock) -> None:
    fake = FakeWooCommerce(REFERENCE, consumer_key=KEY, consumer_secret=SECRET, now=clock, currency="EUR")
    client = httpx.Client(transport=httpx.MockTransport(fake), auth=(KEY, SECRET), base_url=SITE)
    answer = client.get("/settings/general/woocommerce_currency")
    assert answer.status_code == 200
    body = answer.json()
    # The documented setting-option properties, nothing else.
    assert set(body) <= {
        "id",
        "label",
        "description",
        "value",
        "default",
        "tip",
        "placeholder",
        "type",
        "options",
        "group_id",
        "_links",
    }
    assert (body["id"], body["type"], body["group_id"], body["value"], body["default"]) == (
        "woocommerce_currency",
        "select",
        "general",
        "EUR",
        "USD",
    )
    assert fake.count("settings") == 1
    assert client.get("/settings/general/woocommerce_weight_unit").status_code == 501
    anonymous = httpx.Client(transport=httpx.MockTransport(fake), base_url=SITE)
    denied = anonymous.get("/settings/general/woocommerce_currency")
    assert (denied.status_code, denied.json()["code"]) == (401, "woocommerce_rest_cannot_view")
    assert client.get("/settings/general/woocommerce_currency", params={"bogus": "1"}).status_code == 400


# --- admin edits of an order's lines ----------------------------------------------------------------


def lines(fake: FakeWooCommerce, order: int) -> list[tuple[int, str, Any]]:
    return [(line["id"], line["sku"], line["quantity"]) for line in fake.order(order)["line_items"]]


def test_a_rest_quantity_edit_moves_stock_by_the_difference_and_the_modified_date(
    fake: FakeWooCommerce, client: httpx.Client, clock: ManualClock
) -> None:
    fake.add_product("A", stock=20)
    order = fake.place_order([("A", 2)])
    ((item, _, _),) = lines(fake, order)
    clock.now += 3600
    answer = client.put(f"/orders/{order}", json={"line_items": [{"id": item, "quantity": 5}]})
    assert answer.status_code == 200
    assert [(line["id"], line["quantity"]) for line in answer.json()["line_items"]] == [(item, 5)]
    assert answer.json()["date_modified_gmt"] == "2026-03-01T11:00:00"
    assert fake.stock("A") == 15  # 3 more taken
    client.put(f"/orders/{order}", json={"line_items": [{"id": item, "quantity": 1}]})
    assert fake.stock("A") == 19
    assert client.get(f"/orders/{order}").json()["line_items"][0]["quantity"] == 1


@pytest.mark.parametrize("zero", [0, "0"])
def test_a_rest_quantity_of_zero_deletes_the_line_and_gives_its_stock_back(
    fake: FakeWooCommerce, client: httpx.Client, zero: Any
) -> None:
    fake.add_product("A", stock=20)
    fake.add_product("B", stock=20)
    order = fake.place_order([("A", 2), ("B", 3)])
    (item_a, _, _), (item_b, _, _) = lines(fake, order)
    answer = client.put(f"/orders/{order}", json={"line_items": [{"id": item_b, "quantity": zero}]})
    assert answer.status_code == 200
    assert lines(fake, order) == [(item_a, "A", 2)]  # deleted, not kept at 0; unsent lines stay
    assert (fake.stock("A"), fake.stock("B")) == (18, 20)


def test_a_rest_added_line_takes_stock_only_once_the_order_holds_stock(
    fake: FakeWooCommerce, client: httpx.Client
) -> None:
    fake.add_product("A", stock=20)
    fake.add_product("B", stock=20)
    held = fake.place_order([("A", 1)], status="on-hold")
    answer = client.put(f"/orders/{held}", json={"line_items": [{"sku": "B", "quantity": 4}]})
    assert [line["sku"] for line in answer.json()["line_items"]] == ["A", "B"]
    assert fake.stock("B") == 16
    pending = fake.place_order([("A", 1)], status="pending")
    client.put(f"/orders/{pending}", json={"line_items": [{"product_id": fake.product("B")["id"]}]})
    assert lines(fake, pending)[-1][1:] == ("B", 1)  # quantity 1 when not given
    assert fake.stock("B") == 16  # a pending order holds nothing
    fake.set_status(pending, "processing")
    assert (fake.stock("A"), fake.stock("B")) == (18, 15)


@pytest.mark.parametrize(
    ("line_items", "status", "code", "detail"),
    [
        (
            [{"id": "ITEM", "quantity": 1.5}],
            400,
            "rest_invalid_param",
            {"line_items": "line_items[0][quantity] is not of type integer."},
        ),
        (
            [{"id": "ITEM", "quantity": "1.5"}],
            400,
            "rest_invalid_param",
            {"line_items": "line_items[0][quantity] is not of type integer."},
        ),
        ([{"id": 999999, "quantity": 1}], 400, "woocommerce_rest_invalid_item_id", None),
        ([{"quantity": 1}], 400, "woocommerce_rest_required_product_reference", None),
        (
            [{"id": "ITEM", "qty": 1}],
            400,
            "rest_invalid_param",
            {"line_items": "qty is not a valid property of Object."},
        ),
        ([{"id": "ITEM", "total": "9.00"}], 501, "sheetsync_fake_unmodelled", None),
    ],
)
def test_rest_line_edits_woocommerce_refuses_change_nothing(
    fake: FakeWooCommerce,
    client: httpx.Client,
    line_items: list[dict[str, Any]],
    status: int,
    code: str,
    detail: dict[str, str] | None,
) -> None:
    fake.add_product("A", stock=20)
    order = fake.place_order([("A", 2)])
    ((item, _, _),) = lines(fake, order)
    before = fake.order(order)
    # the first line item is valid: the whole request is checked before anything changes
    posted = [{"id": item, "quantity": 3}] + [
        {**li, "id": item} if li.get("id") == "ITEM" else li for li in line_items
    ]
    answer = client.put(f"/orders/{order}", json={"line_items": posted})
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    if detail is not None:
        assert answer.json()["data"]["params"] == {k: v.replace("[0]", "[1]") for k, v in detail.items()}
    assert fake.order(order) == before
    assert fake.stock("A") == 18


def test_rest_order_edits_refuse_what_is_not_modelled_or_allowed(
    fake: FakeWooCommerce, client: httpx.Client
) -> None:
    fake.add_product("A", stock=5)
    order = fake.place_order([("A", 1)])
    assert client.put(f"/orders/{order}", json={"status": "completed"}).status_code == 501
    assert client.put(f"/orders/{order}", json={"line_itemz": []}).json()["code"] == "rest_invalid_param"
    assert client.put(f"/orders/{order}", json={"line_items": {}}).json()["data"]["params"] == {
        "line_items": "line_items is not of type array."
    }
    missing = client.put("/orders/999999", json={"line_items": []})
    assert (missing.status_code, missing.json()["code"]) == (400, "woocommerce_rest_shop_order_invalid_id")
    assert client.get("/orders/999999").status_code == 404
    anonymous = httpx.Client(transport=httpx.MockTransport(fake), base_url=SITE)
    denied = anonymous.put(f"/orders/{order}", json={"line_items": []})
    assert (denied.status_code, denied.json()["code"]) == (401, "woocommerce_rest_cannot_edit")
    assert client.delete(f"/orders/{order}").json()["code"] == "rest_no_route"
    assert [e.route for e in fake.request_log if e.method == "PUT"] == ["order/edit"] * 5


def test_an_edit_after_a_restocking_refund_counts_what_the_refund_put_back(
    fake: FakeWooCommerce, client: httpx.Client
) -> None:
    fake.add_product("A", stock=20)
    order = fake.place_order([("A", 3)])
    ((item, _, _),) = lines(fake, order)
    fake.refund(order, [("A", 1)], restock=True)
    assert fake.stock("A") == 18
    client.put(f"/orders/{order}", json={"line_items": [{"id": item, "quantity": 4}]})
    assert fake.stock("A") == 17  # 4 ordered, 1 restocked by the refund: 3 held
    fake.set_status(order, "cancelled")
    assert fake.stock("A") == 20


def test_edits_of_an_order_that_holds_no_stock_move_none(fake: FakeWooCommerce, client: httpx.Client) -> None:
    fake.add_product("A", stock=20)
    order = fake.place_order([("A", 2), ("A", 1)])
    fake.set_status(order, "cancelled")
    (first, _, _), (second, _, _) = lines(fake, order)
    client.put(
        f"/orders/{order}", json={"line_items": [{"id": first, "quantity": 5}, {"id": second, "quantity": 0}]}
    )
    assert lines(fake, order) == [(first, "A", 5)]
    assert fake.stock("A") == 20


def test_the_order_screen_sets_removes_and_adds_lines(fake: FakeWooCommerce, clock: ManualClock) -> None:
    fake.add_product("A", stock=20)
    fake.add_product("B", stock=20)
    fake.add_product("C", stock=20)
    order = fake.place_order([("A", 2), ("B", 2)], status="completed")
    (item_a, _, _), (item_b, _, _) = lines(fake, order)
    clock.now += 60
    (item_c,) = fake.edit_order(order, set_quantities={item_a: 4}, remove=[item_b], add=[("C", 3)])
    assert lines(fake, order) == [(item_a, "A", 4), (item_c, "C", 3)]
    assert [fake.stock(s) for s in "ABC"] == [16, 20, 17]
    assert fake.order(order)["date_modified_gmt"] == "2026-03-01T10:01:00"
    fake.edit_order(order, set_quantities={item_c: 0})  # the screen's 0 deletes the line
    assert [line[0] for line in lines(fake, order)] == [item_a]
    assert fake.stock("C") == 20
    with pytest.raises(ValueError, match="not on order"):
        fake.edit_order(order, set_quantities={item_a: 1}, remove=[999999])
    assert fake.stock("A") == 16  # nothing changed


def test_quantities_a_plugin_or_an_import_stores_are_shown_as_stored(
    fake: FakeWooCommerce, client: httpx.Client
) -> None:
    for sku in "ABCD":
        fake.add_product(sku, stock=10)
    order = fake.place_order([("A", 1.5), ("B", "1.5"), ("C", 0), ("D", -2)])
    shown = client.get("/orders", params={"include": order}).json()[0]["line_items"]
    assert [line["quantity"] for line in shown] == [1.5, "1.5", 0, -2]
    assert [fake.stock(s) for s in "ABCD"] == [10, 10, 10, 12]  # decimals move nothing here


def test_lists_show_a_products_name_and_a_variations_attributes(
    fake: FakeWooCommerce, client: httpx.Client
) -> None:
    parent = fake.add_product("", product_type="variable", name="Shirt")
    fake.add_variation(parent, "SHIRT-S", stock=3, attributes={"Size": "S", "Colour": "Red"})

    [product] = client.get("/products").json()
    [variation] = client.get(f"/products/{parent}/variations").json()

    assert (product["name"], product["variations"]) == ("Shirt", [variation["id"]])
    assert variation["attributes"] == [
        {"id": 0, "name": "Size", "option": "S"},
        {"id": 0, "name": "Colour", "option": "Red"},
    ]
    assert "name" not in variation  # not a variation property in the reference
