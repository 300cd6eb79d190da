"""FakeMeta against the reference: SDK names and enums, documented shapes, limits, and over the wire."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sheetsync_fakes import REFERENCE as REFERENCE_ROOT
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.meta import MAX_BATCH_ITEMS, FakeMeta
from sheetsync_fakes.wire import serve

REFERENCE = REFERENCE_ROOT / "meta" / "catalog_sdk_summary.json"
SUMMARY = json.loads(REFERENCE.read_text())
DOCS = SUMMARY["docs_facts"]
CATALOG = "1234567890"
TOKEN = "EAAG_fake_test_token"
START = 1_800_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def fake(clock: ManualClock) -> FakeMeta:
    fake = FakeMeta(REFERENCE, now=clock, processing_delay_s=5)
    fake.create_catalog(CATALOG, TOKEN, business_id="777")
    fake.add_product(CATALOG, "SKU-1", availability="in stock", quantity_to_sell_on_facebook=3)
    return fake


@pytest.fixture
def client(fake: FakeMeta) -> httpx.Client:
    return httpx.Client(
        transport=httpx.MockTransport(fake), base_url=f"https://graph.facebook.com/v25.0/{CATALOG}"
    )


def stored(fake: FakeMeta, catalog_id: str, retailer_id: str) -> Mapping[str, Any]:
    """The product as Meta holds it now, which the test expects to be there."""
    product = fake.product(catalog_id, retailer_id)
    assert product is not None, retailer_id
    return product


def batch(client: httpx.Client, records: list[Any], **params: Any) -> httpx.Response:
    form = {"item_type": "PRODUCT_ITEM", "requests": json.dumps(records), "access_token": TOKEN, **params}
    return client.post("/items_batch", data=form)


def update(retailer_id: str, **data: Any) -> dict[str, Any]:
    return {"method": "UPDATE", "data": {"id": retailer_id, **data}}


def status(client: httpx.Client, handle: str, **params: Any) -> dict[str, Any]:
    answer = client.get(
        "/check_batch_request_status", params={"handle": handle, "access_token": TOKEN, **params}
    )
    assert answer.status_code == 200, answer.text
    entry: dict[str, Any]
    (entry,) = answer.json()["data"]
    return entry


def assert_graph_error(answer: httpx.Response, code: int, status: int = 400) -> dict[str, Any]:
    assert answer.status_code == status
    error: dict[str, Any] = answer.json()["error"]
    assert (
        {"message", "type", "code", "fbtrace_id"}
        <= set(error)
        <= {"message", "type", "code", "error_subcode", "fbtrace_id", "error_user_title", "error_user_msg"}
    )
    assert error["code"] == code
    return error


def test_the_fields_sheetsync_writes_are_productitem_update_params() -> None:
    params = SUMMARY["ProductItem_endpoints"]["api_update"]["param_types"]
    assert params["quantity_to_sell_on_facebook"] == "unsigned int"
    assert params["availability"] == "availability_enum"
    assert {"in stock", "out of stock"} <= set(SUMMARY["ProductItem"]["enums"]["Availability"])
    assert set(SUMMARY["endpoints"]["ProductCatalog.create_items_batch"]["param_types"]) == {
        "allow_upsert",
        "item_sub_type",
        "item_type",
        "requests",
        "version",
    }


def test_a_batch_is_accepted_then_processed_after_the_delay(
    fake: FakeMeta, client: httpx.Client, clock: ManualClock
) -> None:
    answer = batch(client, [update("SKU-1", quantity_to_sell_on_facebook=9, availability="in stock")])
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == set(DOCS["items_batch"]["response"])
    assert body["validation_status"] == []
    (handle,) = body["handles"]
    first = status(client, handle)
    assert set(first) == set(
        SUMMARY["CheckBatchRequestStatus_fields (response of GET /check_batch_request_status)"]
    )
    assert first["status"] in DOCS["check_batch_request_status"]["status_values"]
    assert first["status"] != "finished"
    assert fake.quantities(CATALOG)["SKU-1"] == 3
    clock.now += 5
    done = status(client, handle)
    assert (done["status"], done["errors_total_count"]) == ("finished", 0)
    assert fake.quantities(CATALOG)["SKU-1"] == 9


def test_allow_upsert_decides_whether_an_update_of_an_unknown_id_creates_it(
    fake: FakeMeta, client: httpx.Client, clock: ManualClock
) -> None:
    refused = batch(client, [update("NEW-1", quantity_to_sell_on_facebook=1)], allow_upsert="false").json()
    created = batch(client, [update("NEW-2", quantity_to_sell_on_facebook=2)]).json()  # default: true
    clock.now += 5
    entry = status(client, refused["handles"][0], load_ids_of_invalid_requests="true")
    example = DOCS["check_batch_request_status"]["documented_example_response"]["data"][0]
    assert entry["status"] == "finished"
    assert entry["errors_total_count"] == 1
    assert set(entry["errors"][0]) == set(example["errors"][0])
    assert (entry["errors"][0]["id"], entry["ids_of_invalid_requests"]) == ("NEW-1", ["NEW-1"])
    assert status(client, refused["handles"][0])["ids_of_invalid_requests"] == []  # only when asked
    assert status(client, created["handles"][0])["errors"] == []
    assert fake.quantities(CATALOG) == {"SKU-1": 3, "NEW-2": 2}


def test_the_error_list_is_a_sample_but_the_invalid_ids_are_all_there(
    fake: FakeMeta, client: httpx.Client, clock: ManualClock
) -> None:
    fake.error_sample = 2
    handle = batch(client, [update(f"X-{i}", inventory=1) for i in range(5)], allow_upsert="false").json()[
        "handles"
    ][0]
    clock.now += 5
    entry = status(client, handle, load_ids_of_invalid_requests="true")
    assert len(entry["errors"]) == 2
    assert entry["errors_total_count"] == 5
    assert entry["ids_of_invalid_requests"] == [f"X-{i}" for i in range(5)]


@pytest.mark.parametrize(
    ("params", "records", "fragment"),
    [
        ({"item_type": ""}, [update("SKU-1")], "item_type is required"),
        ({"item_sub_type": "SOCKS"}, [update("SKU-1")], "item_sub_type must be one of"),
        ({"colour": "red"}, [update("SKU-1")], "colour"),
        (
            {},
            [{"method": "PATCH", "data": {"id": "SKU-1"}}],
            "method] must be one of {CREATE, UPDATE, DELETE}",
        ),
        ({}, [update("SKU-1", stock_level=3)], "stock_level"),
        ({}, [update("SKU-1")] * (MAX_BATCH_ITEMS + 1), "5000"),
    ],
)
def test_unknown_parameters_enums_and_fields_fail_the_call_with_code_100(
    client: httpx.Client, params: dict[str, str], records: list[Any], fragment: str
) -> None:
    error = assert_graph_error(batch(client, records, **params), 100)
    assert fragment in error["message"]


def test_a_bad_value_is_an_item_error_and_an_empty_handles_means_nothing_ingested(
    client: httpx.Client,
) -> None:
    body = batch(
        client, [update("SKU-1", availability="sold out"), update("SKU-1", quantity_to_sell_on_facebook=-1)]
    ).json()
    assert body["handles"] == []
    assert [v["retailer_id"] for v in body["validation_status"]] == ["SKU-1", "SKU-1"]
    assert all(
        set(v) == {"retailer_id", "errors", "warnings"} and v["errors"] for v in body["validation_status"]
    )


def test_the_catalog_batch_limit_answers_80014_with_the_usage_header(
    fake: FakeMeta, client: httpx.Client, clock: ManualClock
) -> None:
    for _ in range(200):
        ok = batch(client, [update("SKU-1", quantity_to_sell_on_facebook=1)])
        assert ok.status_code == 200
        clock.now += 1
    usage = json.loads(ok.headers["X-Business-Use-Case-Usage"])
    assert usage["777"][0]["call_count"] == 100
    assert usage["777"][0]["estimated_time_to_regain_access"] == 0
    throttled = batch(client, [update("SKU-1", quantity_to_sell_on_facebook=1)])
    error = assert_graph_error(throttled, 80014)
    assert "too many calls for the batch uploads" in error["message"]
    (entry,) = json.loads(throttled.headers["X-Business-Use-Case-Usage"])["777"]
    assert set(entry) == {
        "type",
        "call_count",
        "total_cputime",
        "total_time",
        "estimated_time_to_regain_access",
    }
    assert entry["estimated_time_to_regain_access"] == 57  # the oldest call leaves the hour in 3,400 s
    assert fake.count("items_batch") == 201
    clock.now += 3400
    assert batch(client, [update("SKU-1", quantity_to_sell_on_facebook=1)]).status_code == 200


def test_tokens_and_catalogs(fake: FakeMeta, client: httpx.Client) -> None:
    assert_graph_error(client.get("/products", params={"access_token": "nope"}), 190)
    fake.create_catalog("999", "EAAG_other")
    other = client.get("https://graph.facebook.com/v25.0/999/products", params={"access_token": TOKEN})
    assert assert_graph_error(other, 100)["error_subcode"] == 33
    bearer = client.get("/products", headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200
    assert all("access_token" not in entry.params for entry in fake.request_log)


def test_products_filter_fields_and_paging(fake: FakeMeta, client: httpx.Client) -> None:
    for i in range(5):
        fake.add_product(CATALOG, f"P-{i}", quantity_to_sell_on_facebook=i)
    fake.add_product(CATALOG, "P-unset", availability="in stock")
    wanted = [f"P-{i}" for i in range(5)] + ["P-unset", "ABSENT"]
    params = {
        "access_token": TOKEN,
        "fields": "retailer_id,quantity_to_sell_on_facebook",
        "filter": json.dumps({"retailer_id": {"is_any": wanted}}),
        "limit": "4",
    }
    first = client.get("/products", params=params).json()
    assert [item["retailer_id"] for item in first["data"]] == ["P-0", "P-1", "P-2", "P-3"]
    assert all(set(item) == {"id", "retailer_id", "quantity_to_sell_on_facebook"} for item in first["data"])
    assert "next" in first["paging"]
    second = client.get("/products", params={**params, "after": first["paging"]["cursors"]["after"]}).json()
    assert second["data"][1] == {"id": second["data"][1]["id"], "retailer_id": "P-unset"}  # unset: absent
    assert "next" not in second["paging"]
    bad = client.get("/products", params={**params, "fields": "retailer_id,stock"})
    assert "Tried accessing nonexisting field (stock)" in assert_graph_error(bad, 100)["message"]


def test_faults_and_unmodelled_routes(fake: FakeMeta, client: httpx.Client) -> None:
    fake.fail_next("items_batch", status=503)
    assert_graph_error(batch(client, [update("SKU-1")]), 1, status=503)
    assert batch(client, [update("SKU-1")]).status_code == 200
    assert client.get("/product_sets", params={"access_token": TOKEN}).status_code == 501


def test_over_loopback(fake: FakeMeta) -> None:
    with serve(fake) as base_url, httpx.Client(base_url=f"{base_url}/v25.0/{CATALOG}") as client:
        body = batch(client, [update("SKU-1", quantity_to_sell_on_facebook=4)]).json()
        assert len(body["handles"]) == 1
        assert (
            client.get("/products", params={"access_token": TOKEN, "fields": "retailer_id"}).json()["data"][
                0
            ]["retailer_id"]
            == "SKU-1"
        )


# --- prices ------------------------------------------------------------------------------------


def test_the_sdk_types_price_as_cents_for_single_items_but_batches_take_the_feed_format(
    fake: FakeMeta, client: httpx.Client, clock: ManualClock
) -> None:
    # The SDK's update parameter is integer cents with a separate currency: not what batches take.
    assert SUMMARY["ProductItem_endpoints"]["api_update"]["param_types"]["price"] == "unsigned int"
    answer = batch(client, [update("SKU-1", price="12.50 EUR")], allow_upsert="false")
    assert answer.status_code == 200
    assert answer.json()["validation_status"] == []
    clock.sleep(5)
    assert fake.price(CATALOG, "SKU-1") == (Decimal("12.50"), "EUR")
    assert stored(fake, CATALOG, "SKU-1")["price"] == "12.50 EUR"


@pytest.mark.parametrize(
    "value", ["12,50 EUR", "€12.50", "12.50", "12.50 eur", "-1.00 EUR", "EUR 12.50", 1250]
)
def test_a_malformed_price_is_refused_in_validation_status_and_not_ingested(
    fake: FakeMeta, client: httpx.Client, clock: ManualClock, value: Any
) -> None:
    answer = batch(client, [update("SKU-1", price=value)], allow_upsert="false")
    assert answer.status_code == 200
    body = answer.json()
    assert body["handles"] == []  # nothing ingested
    assert body["validation_status"] == [
        {
            "retailer_id": "SKU-1",
            "errors": [{"message": "The price information under is invalid. Review for more details"}],
            "warnings": [],
        }
    ]
    clock.sleep(5)
    assert fake.price(CATALOG, "SKU-1") is None


def test_a_bad_price_fails_only_its_item(fake: FakeMeta, client: httpx.Client, clock: ManualClock) -> None:
    fake.add_product(CATALOG, "SKU-2", availability="in stock")
    answer = batch(client, [update("SKU-1", price="9,99 EUR"), update("SKU-2", price="9.99 EUR")])
    body = answer.json()
    assert len(body["handles"]) == 1
    assert [v["retailer_id"] for v in body["validation_status"]] == ["SKU-1"]
    clock.sleep(5)
    assert fake.price(CATALOG, "SKU-2") == (Decimal("9.99"), "EUR")
    assert fake.price(CATALOG, "SKU-1") is None


def test_price_batches_count_against_the_catalog_batch_limit(fake: FakeMeta, client: httpx.Client) -> None:
    fake.batch_calls_per_hour = 1
    assert batch(client, [update("SKU-1", price="1.00 EUR")]).status_code == 200
    throttled = batch(client, [update("SKU-1", price="2.00 EUR")])
    assert_graph_error(throttled, 80014)


# --- product item nodes ------------------------------------------------------------------------


def item_id(fake: FakeMeta, retailer_id: str) -> str:
    return str(stored(fake, CATALOG, retailer_id)["id"])


def update_item(client: httpx.Client, node: str, **params: Any) -> httpx.Response:
    return client.post(f"https://graph.facebook.com/v25.0/{node}", data={"access_token": TOKEN, **params})


def test_a_product_item_update_applies_at_once_under_the_id_products_shows(
    fake: FakeMeta, client: httpx.Client
) -> None:
    listed = client.get("/products", params={"access_token": TOKEN, "fields": "retailer_id"}).json()
    (item,) = listed["data"]
    assert item["id"].isdigit()
    assert item["id"] == item_id(fake, "SKU-1")  # stable: the same id on every read
    answer = update_item(client, item["id"], quantity_to_sell_on_facebook="0", availability="out of stock")
    assert answer.status_code == 200
    assert answer.json() == {"success": True}
    assert fake.quantities(CATALOG) == {"SKU-1": 0}  # no processing delay
    assert stored(fake, CATALOG, "SKU-1")["availability"] == "out of stock"
    as_json = client.post(
        f"https://graph.facebook.com/v25.0/{item['id']}",
        json={"quantity_to_sell_on_facebook": 2},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert as_json.json() == {"success": True}
    assert fake.quantities(CATALOG) == {"SKU-1": 2}
    assert fake.count("product_item") == 2
    assert {entry.catalog_id for entry in fake.request_log if entry.edge == "product_item"} == {CATALOG}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"stock": "3"}, "Param stock is not a valid parameter"),
        ({"availability": "sold out"}, "availability"),
        ({"quantity_to_sell_on_facebook": "-1"}, "quantity_to_sell_on_facebook"),
        ({"quantity_to_sell_on_facebook": "three"}, "quantity_to_sell_on_facebook"),
        ({"price": "12.50 EUR"}, "price"),  # a node takes the SDK's integer cents
    ],
)
def test_a_product_item_update_is_checked_against_the_sdk_parameters(
    fake: FakeMeta, client: httpx.Client, params: dict[str, str], fragment: str
) -> None:
    error = assert_graph_error(update_item(client, item_id(fake, "SKU-1"), **params), 100)
    assert fragment in error["message"]
    assert fake.product(CATALOG, "SKU-1") == {
        "id": item_id(fake, "SKU-1"),
        "retailer_id": "SKU-1",
        "availability": "in stock",
        "quantity_to_sell_on_facebook": 3,
    }
    assert update_item(client, item_id(fake, "SKU-1"), price="1250", currency="EUR").status_code == 200


def test_an_item_the_token_cannot_manage_is_an_unsupported_post_request(
    fake: FakeMeta, client: httpx.Client
) -> None:
    fake.create_catalog("999", "EAAG_other")
    fake.add_product("999", "THEIRS", quantity_to_sell_on_facebook=1)
    for node in ("7000000000000999", str(stored(fake, "999", "THEIRS")["id"])):
        error = assert_graph_error(update_item(client, node, quantity_to_sell_on_facebook="5"), 100)
        assert error["error_subcode"] == 33
        assert error["message"].startswith(f"Unsupported post request. Object with ID '{node}'")
    assert fake.quantities("999") == {"THEIRS": 1}
    assert update_item(client, CATALOG, name="Shop").status_code == 501  # a catalog is no product item


def test_the_catalog_management_limit_counts_reads_and_item_updates(
    fake: FakeMeta, client: httpx.Client, clock: ManualClock
) -> None:
    fake.management_calls_per_hour = 2
    read = client.get("/products", params={"access_token": TOKEN})
    assert json.loads(read.headers["X-Business-Use-Case-Usage"])["777"][0]["call_count"] == 50
    clock.now += 600
    assert update_item(client, item_id(fake, "SKU-1"), quantity_to_sell_on_facebook="1").status_code == 200
    throttled = update_item(client, item_id(fake, "SKU-1"), quantity_to_sell_on_facebook="2")
    assert_graph_error(throttled, 80009)
    (entry,) = json.loads(throttled.headers["X-Business-Use-Case-Usage"])["777"]
    assert (entry["type"], entry["call_count"], entry["estimated_time_to_regain_access"]) == (
        "catalog_management",
        100,
        50,  # the read leaves the hour in 3,000 s
    )
    assert_graph_error(client.get("/products", params={"access_token": TOKEN}), 80009)
    assert (
        batch(client, [update("SKU-1", quantity_to_sell_on_facebook=1)]).status_code == 200
    )  # another limit
    assert fake.quantities(CATALOG) == {"SKU-1": 1}
    clock.now += 3000
    assert update_item(client, item_id(fake, "SKU-1"), quantity_to_sell_on_facebook="2").status_code == 200
