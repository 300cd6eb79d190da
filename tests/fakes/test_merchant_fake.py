"""FakeMerchant agrees with the Merchant API v1 discovery documents, and keeps state like Google."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import google.auth.transport.requests
import httpx
import pytest
import requests
from google.oauth2 import service_account
from sheetsync_fakes import REFERENCE as REFERENCE_ROOT
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.keys import service_account_key
from sheetsync_fakes.merchant import (
    CONTENT_SCOPE,
    DISCOVERY_FILES,
    FakeMerchant,
    decode_segment,
    load_discovery,
    product_segment,
)
from sheetsync_fakes.wire import HandlerAdapter, serve

DISCOVERY = REFERENCE_ROOT / "discovery"
DOCS = load_discovery(DISCOVERY)
PRODUCTS = DOCS["merchantapi.products_v1.json"]
ACCOUNT = "123"
SOURCE = f"accounts/{ACCOUNT}/dataSources/1"
API = "https://merchantapi.googleapis.com"


def make_key(email: str = "bot@shop-project.iam.gserviceaccount.com") -> dict[str, str]:
    """A real service-account key, so the JWT grant is signed and verified for real."""
    return service_account_key(email)


@pytest.fixture(scope="module")
def key() -> dict[str, str]:
    return make_key()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture
def fake(clock: ManualClock, key: dict[str, str]) -> FakeMerchant:
    fake = FakeMerchant(DOCS, now=clock)
    fake.add_service_account(key)
    fake.create_account(ACCOUNT, users=[key["client_email"]], data_sources={"1": "API", "9": "FILE"})
    for sku in ("A", "B"):
        fake.add_product(ACCOUNT, sku, attributes={"availability": "IN_STOCK", "title": f"Item {sku}"})
    return fake


def token_for(fake: FakeMerchant, info: dict[str, str], scopes: list[str] | None = None) -> str:
    """A token got the way google-auth gets one: a signed JWT grant to the token endpoint."""
    credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]  # google-auth is unannotated
        info, scopes=scopes or [CONTENT_SCOPE]
    )
    session = requests.Session()
    session.mount("https://", HandlerAdapter(fake))
    credentials.refresh(google.auth.transport.requests.Request(session=session))
    return str(credentials.token)


@pytest.fixture
def client(fake: FakeMerchant, key: dict[str, str]) -> httpx.Client:
    token = token_for(fake, key)
    return httpx.Client(
        transport=httpx.MockTransport(fake), base_url=API, headers={"Authorization": f"Bearer {token}"}
    )


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    assert set(body) <= {"code", "message", "status", "details"}
    assert body["code"] == response.status_code
    return body


def test_the_documents_are_the_pinned_revisions() -> None:
    manifest = json.loads((DISCOVERY / "MANIFEST.json").read_text())
    revisions = {entry["file"]: entry["revision"] for entry in manifest["documents"]}
    for name in DISCOVERY_FILES:
        assert DOCS[name]["revision"] == revisions[name]


def test_every_documented_method_is_routed_and_unmodelled_ones_say_so(client: httpx.Client) -> None:
    response = client.get(f"/datasources/v1/accounts/{ACCOUNT}/dataSources/1")
    assert response.status_code == 501
    assert "merchantapi.accounts.dataSources.get" in error(response)["message"]
    assert client.get(f"/products/v1/accounts/{ACCOUNT}/nothing").status_code == 404


def test_the_documented_name_encoding(fake: FakeMerchant, client: httpx.Client) -> None:
    # The example of the documents' name description.
    assert product_segment("en", "US", "sku/123") == "ZW5-VVN-c2t1LzEyMw"
    assert decode_segment("ZW5-VVN-c2t1LzEyMw") == ("en", "US", "sku/123")
    assert product_segment("en", "US", "sku123") == "en~US~sku123"
    encoded = base64.urlsafe_b64encode(b"en~US~A").decode().rstrip("=")
    plain = client.get(f"/products/v1/accounts/{ACCOUNT}/products/en~US~A").json()
    assert client.get(f"/products/v1/accounts/{ACCOUNT}/products/{encoded}").json() == plain
    assert plain["name"] == f"accounts/{ACCOUNT}/products/en~US~A"


def test_unknown_query_parameters_are_refused(client: httpx.Client) -> None:
    response = client.get(f"/products/v1/accounts/{ACCOUNT}/products", params={"filter": "x"})
    assert response.status_code == 400
    body = error(response)
    assert body["status"] == "INVALID_ARGUMENT"
    assert 'Unknown name "filter": Cannot bind query parameter' in body["message"]
    # The global parameters every Google API takes are fine.
    assert client.get(f"/products/v1/accounts/{ACCOUNT}/products", params={"prettyPrint": "false"}).is_success


def test_body_fields_and_enums_follow_the_schema(client: httpx.Client) -> None:
    url = f"/products/v1/accounts/{ACCOUNT}/productInputs:insert"
    base = {"offerId": "C", "contentLanguage": "en", "feedLabel": "US"}
    unknown = client.post(url, params={"dataSource": SOURCE}, json={**base, "quantity": 3})
    assert unknown.status_code == 400
    assert 'Unknown name "quantity"' in error(unknown)["message"]
    nested = client.post(url, params={"dataSource": SOURCE}, json={**base, "productAttributes": {"stock": 3}})
    assert "at 'product_input.product_attributes'" in error(nested)["message"]
    bad = client.post(
        url, params={"dataSource": SOURCE}, json={**base, "productAttributes": {"availability": "in stock"}}
    )
    assert bad.status_code == 400
    assert "product_input.product_attributes.availability" in error(bad)["message"]
    assert error(bad)["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    for value in PRODUCTS["schemas"]["ProductAttributes"]["properties"]["availability"]["enum"]:
        ok = client.post(
            url, params={"dataSource": SOURCE}, json={**base, "productAttributes": {"availability": value}}
        )
        assert ok.status_code == 200, value


def test_insert_needs_an_api_data_source(client: httpx.Client) -> None:
    url = f"/products/v1/accounts/{ACCOUNT}/productInputs:insert"
    body = {"offerId": "C", "contentLanguage": "en", "feedLabel": "US"}
    assert (
        client.post(url, params={"dataSource": f"accounts/{ACCOUNT}/dataSources/9"}, json=body).status_code
        == 400
    )
    assert (
        client.post(url, params={"dataSource": f"accounts/{ACCOUNT}/dataSources/7"}, json=body).status_code
        == 404
    )
    assert client.post(url, json=body).status_code == 400


def test_patch_with_a_mask_sets_named_fields_and_deletes_named_missing_ones(
    fake: FakeMerchant, client: httpx.Client
) -> None:
    url = f"/products/v1/accounts/{ACCOUNT}/productInputs/en~US~A"
    mask = "productAttributes.availability,productAttributes.title"
    answer = client.patch(
        url,
        params={"updateMask": mask, "dataSource": SOURCE},
        json={"productAttributes": {"availability": "OUT_OF_STOCK", "link": "https://x"}},
    )
    assert answer.status_code == 200
    assert answer.json()["name"] == f"accounts/{ACCOUNT}/productInputs/en~US~A"
    # availability set, title deleted (masked, absent), link ignored (not masked)
    assert fake.product_input(ACCOUNT, "A")["productAttributes"] == {"availability": "OUT_OF_STOCK"}
    merged = client.patch(url, params={"dataSource": SOURCE}, json={"productAttributes": {"title": "T"}})
    assert merged.status_code == 200
    assert fake.product_input(ACCOUNT, "A")["productAttributes"] == {
        "availability": "OUT_OF_STOCK",
        "title": "T",
    }
    for wrong in ("availability", "productAttributes.stock", "*"):
        refused = client.patch(url, params={"updateMask": wrong, "dataSource": SOURCE}, json={})
        assert refused.status_code == 400, wrong
    missing = client.patch(
        f"/products/v1/accounts/{ACCOUNT}/productInputs/en~US~NOPE",
        params={"updateMask": "productAttributes.availability", "dataSource": SOURCE},
        json={"productAttributes": {"availability": "IN_STOCK"}},
    )
    assert missing.status_code == 404


def test_the_processed_product_lags_the_input(
    fake: FakeMerchant, client: httpx.Client, clock: ManualClock
) -> None:
    client.patch(
        f"/products/v1/accounts/{ACCOUNT}/productInputs/en~US~A",
        params={"updateMask": "productAttributes.availability", "dataSource": SOURCE},
        json={"productAttributes": {"availability": "OUT_OF_STOCK"}},
    )
    get = f"/products/v1/accounts/{ACCOUNT}/products/en~US~A"
    assert client.get(get).json()["productAttributes"]["availability"] == "IN_STOCK"
    clock.now += fake.processing_delay_s
    shown = client.get(get).json()
    assert shown["productAttributes"]["availability"] == "OUT_OF_STOCK"
    assert set(shown) <= set(PRODUCTS["schemas"]["Product"]["properties"])
    fake.add_product(ACCOUNT, "NEW", processed=False)
    assert client.get(f"/products/v1/accounts/{ACCOUNT}/products/en~US~NEW").status_code == 404


def test_issues_and_googles_overrides_show_in_the_processed_view(
    fake: FakeMerchant, client: httpx.Client
) -> None:
    issue = {"code": "landing_page_error", "severity": "DISAPPROVED", "description": "Unavailable page"}
    fake.set_issues(ACCOUNT, "A", [issue])
    fake.override_availability(ACCOUNT, "A", "OUT_OF_STOCK")
    product = client.get(f"/products/v1/accounts/{ACCOUNT}/products/en~US~A").json()
    assert product["productStatus"]["itemLevelIssues"] == [issue]
    assert product["productAttributes"]["availability"] == "OUT_OF_STOCK"
    assert fake.product_input(ACCOUNT, "A")["productAttributes"]["availability"] == "IN_STOCK"


def test_products_list_pages(fake: FakeMerchant, client: httpx.Client) -> None:
    for index in range(5):
        fake.add_product(ACCOUNT, f"P{index}")
    seen, token = [], None
    while True:
        params = {"pageSize": "3", **({"pageToken": token} if token else {})}
        page = client.get(f"/products/v1/accounts/{ACCOUNT}/products", params=params).json()
        seen += [p["offerId"] for p in page.get("products", [])]
        token = page.get("nextPageToken")
        if not token:
            break
    assert sorted(seen) == ["A", "B", "P0", "P1", "P2", "P3", "P4"]


def test_local_inventory_insert_replaces_the_store_entry(fake: FakeMerchant, client: httpx.Client) -> None:
    url = f"/inventories/v1/accounts/{ACCOUNT}/products/en~US~A/localInventories"
    first = {"storeCode": "S1", "localInventoryAttributes": {"quantity": "4", "price": {"amountMicros": "1"}}}
    assert client.post(url + ":insert", json=first).status_code == 200
    answer = client.post(
        url + ":insert", json={"storeCode": "S1", "localInventoryAttributes": {"quantity": 2}}
    )
    assert answer.json()["localInventoryAttributes"] == {"quantity": "2"}
    listed = client.get(url).json()["localInventories"]
    assert [(r["storeCode"], r["localInventoryAttributes"]) for r in listed] == [("S1", {"quantity": "2"})]
    assert fake.local_quantity(ACCOUNT, "A", "S1") == 2
    bad = client.post(
        url + ":insert", json={"storeCode": "S1", "localInventoryAttributes": {"availability": "SOLD"}}
    )
    assert bad.status_code == 400
    missing = f"/inventories/v1/accounts/{ACCOUNT}/products/en~US~NOPE/localInventories"
    assert client.get(missing).status_code == 404


def test_per_minute_quota_per_method_group(
    fake: FakeMerchant, client: httpx.Client, clock: ManualClock
) -> None:
    fake.quota_groups["products-read"] = (fake.quota_groups["products-read"][0], 3, 100)
    clock.now = 60 * (int(clock.now) // 60)  # the start of a minute
    get = f"/products/v1/accounts/{ACCOUNT}/products/en~US~A"
    assert [client.get(get).status_code for _ in range(4)] == [200, 200, 200, 429]
    body = error(client.get(get))
    assert body["status"] == "RESOURCE_EXHAUSTED"
    assert body["details"][0]["reason"] == "quota/request_rate_too_high"
    assert (
        client.get(f"/inventories/v1/accounts/{ACCOUNT}/products/en~US~A/localInventories").status_code == 200
    )
    clock.now += 60
    assert client.get(get).status_code == 200
    groups = client.get(f"/quota/v1/accounts/{ACCOUNT}/quotas").json()["quotaGroups"]
    schema = DOCS["merchantapi.quota_v1.json"]["schemas"]
    for group in groups:
        assert set(group) <= set(schema["QuotaGroup"]["properties"])
        for detail in group["methodDetails"]:
            assert set(detail) <= set(schema["MethodDetails"]["properties"])
    read = next(g for g in groups if g["name"].endswith("/products-read"))
    assert read["quotaMinuteLimit"] == "3"
    assert {d["path"] for d in read["methodDetails"]} == {
        "products/v1/products.get",
        "products/v1/products.list",
    }


def test_tokens_need_a_signature_by_a_registered_key(fake: FakeMerchant, key: dict[str, str]) -> None:
    stranger = make_key(key["client_email"])  # same e-mail, another key
    with pytest.raises(Exception, match="invalid_grant"):
        token_for(fake, stranger)
    with pytest.raises(Exception, match="invalid_scope"):
        token_for(fake, key, scopes=["https://www.googleapis.com/auth/spreadsheets"])


def test_calls_need_a_live_token_of_an_account_user(
    fake: FakeMerchant, key: dict[str, str], clock: ManualClock
) -> None:
    plain = httpx.Client(transport=httpx.MockTransport(fake), base_url=API)
    assert error(plain.get(f"/products/v1/accounts/{ACCOUNT}/products"))["status"] == "UNAUTHENTICATED"
    token = token_for(fake, key)
    headers = {"Authorization": f"Bearer {token}"}
    assert plain.get("/products/v1/accounts/999/products", headers=headers).status_code == 403
    clock.now += 3600
    assert plain.get(f"/products/v1/accounts/{ACCOUNT}/products", headers=headers).status_code == 401


def test_faults_and_the_request_log(fake: FakeMerchant, client: httpx.Client) -> None:
    fake.fail_next("merchantapi.accounts.products.get", 503)
    fake.fail_next("merchantapi.accounts.products.list", httpx.ReadTimeout("lost"))
    assert error(client.get(f"/products/v1/accounts/{ACCOUNT}/products/en~US~A"))["status"] == "UNAVAILABLE"
    with pytest.raises(httpx.ReadTimeout):
        client.get(f"/products/v1/accounts/{ACCOUNT}/products")
    assert client.get(f"/products/v1/accounts/{ACCOUNT}/products/en~US~A").status_code == 200
    assert fake.count("merchantapi.accounts.products.get") == 2


def test_over_loopback(fake: FakeMerchant, key: dict[str, str]) -> None:
    token = token_for(fake, key)
    started = time.perf_counter()
    with serve(fake) as base_url:
        response = httpx.get(
            f"{base_url}/products/v1/accounts/{ACCOUNT}/products/en~US~B",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.json()["offerId"] == "B"
    assert time.perf_counter() - started < 5


# --- prices ------------------------------------------------------------------------------------


def price_patch(client: httpx.Client, price: Any, offer: str = "A") -> httpx.Response:
    return client.patch(
        f"/products/v1/accounts/{ACCOUNT}/productInputs/en~US~{offer}",
        params={"updateMask": "productAttributes.price", "dataSource": SOURCE},
        json={"productAttributes": {"price": price}},
    )


def test_price_is_the_documented_price_type() -> None:
    attributes = PRODUCTS["schemas"]["ProductAttributes"]["properties"]
    assert attributes["price"]["$ref"] == "Price"
    price = PRODUCTS["schemas"]["Price"]["properties"]
    assert price["amountMicros"] == {**price["amountMicros"], "type": "string", "format": "int64"}
    assert price["currencyCode"]["type"] == "string"


def test_a_price_patch_stores_the_price_and_the_processed_view_follows(
    fake: FakeMerchant, client: httpx.Client, clock: ManualClock
) -> None:
    answer = price_patch(client, {"amountMicros": "12500000", "currencyCode": "USD"})
    assert answer.status_code == 200
    assert answer.json()["productAttributes"]["price"] == {"amountMicros": "12500000", "currencyCode": "USD"}
    assert "price" not in fake.processed_product(ACCOUNT, "A")["productAttributes"]
    clock.now += fake.processing_delay_s
    assert fake.processed_product(ACCOUNT, "A")["productAttributes"]["price"]["amountMicros"] == "12500000"
    # A currency other than the US feed's is not refused on the request (Merchant Center reports it
    # later, as an item issue).
    assert price_patch(client, {"amountMicros": "1000000", "currencyCode": "EUR"}).status_code == 200
    # The mask names price and the body lacks it: the price is deleted, as documented.
    deleted = client.patch(
        f"/products/v1/accounts/{ACCOUNT}/productInputs/en~US~A",
        params={"updateMask": "productAttributes.price", "dataSource": SOURCE},
        json={"productAttributes": {}},
    )
    assert deleted.status_code == 200
    assert "price" not in fake.product_input(ACCOUNT, "A")["productAttributes"]


@pytest.mark.parametrize(
    ("price", "where"),
    [
        ({"amountMicros": "12500000"}, "currency_code"),
        ({"amountMicros": "12500000", "currencyCode": "usd"}, "currency_code"),
        ({"amountMicros": "12500000", "currencyCode": "$"}, "currency_code"),
        ({"amountMicros": "-1", "currencyCode": "USD"}, "amount_micros"),
        ({"amountMicros": "12.50", "currencyCode": "USD"}, "amount_micros"),
        ({"amountMicros": "twelve", "currencyCode": "USD"}, "amount_micros"),
        ({"currencyCode": "USD"}, "amount_micros"),
    ],
)
def test_a_bad_price_is_refused_and_nothing_changes(
    fake: FakeMerchant, client: httpx.Client, price: dict[str, str], where: str
) -> None:
    before = fake.product_input(ACCOUNT, "A")
    answer = price_patch(client, price)
    assert answer.status_code == 400
    body = error(answer)
    assert body["status"] == "INVALID_ARGUMENT"
    assert f"product_input.product_attributes.price.{where}" in body["message"]
    assert fake.product_input(ACCOUNT, "A") == before


def test_insert_checks_prices_too(client: httpx.Client) -> None:
    url = f"/products/v1/accounts/{ACCOUNT}/productInputs:insert"
    body = {"offerId": "C", "contentLanguage": "en", "feedLabel": "US"}
    bad = {**body, "productAttributes": {"salePrice": {"amountMicros": "-5", "currencyCode": "USD"}}}
    assert client.post(url, params={"dataSource": SOURCE}, json=bad).status_code == 400
    good = {**body, "productAttributes": {"price": {"amountMicros": "0", "currencyCode": "USD"}}}
    assert client.post(url, params={"dataSource": SOURCE}, json=good).status_code == 200


def test_price_patches_count_against_the_write_groups_minute_quota(
    clock: ManualClock, key: dict[str, str]
) -> None:
    groups = {"write": (("merchantapi.accounts.productInputs.patch",), 2, 100)}
    fake = FakeMerchant(DOCS, now=clock, quota_groups=groups)
    fake.add_service_account(key)
    fake.create_account(ACCOUNT, users=[key["client_email"]])
    fake.add_product(ACCOUNT, "A")
    client = httpx.Client(
        transport=httpx.MockTransport(fake),
        base_url=API,
        headers={"Authorization": f"Bearer {token_for(fake, key)}"},
    )
    price = {"amountMicros": "1000000", "currencyCode": "USD"}
    assert [price_patch(client, price).status_code for _ in range(3)] == [200, 200, 429]
    clock.now += 60
    assert price_patch(client, price).status_code == 200
