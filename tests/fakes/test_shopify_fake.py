"""FakeShopify against the real schemas, the recorded shapes and costs, and over the wire."""

from __future__ import annotations

import copy
import datetime as dt
import hmac
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sheetsync_fakes import REFERENCE as REFERENCE_ROOT
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.shopify import (
    FakeShopify,
    ShopifyCall,
    Variant,
    WebhookTopic,
    load_schema,
    webhook_hmac,
)
from sheetsync_fakes.wire import serve

REFERENCE = REFERENCE_ROOT / "shopify"
# Built once: each schema takes a few tenths of a second.
SCHEMAS = {version: load_schema(REFERENCE / f"admin_{version}.json.gz") for version in ("2026-01", "2026-10")}
SHAPES = json.loads((REFERENCE / "graphql_response_shapes.json").read_text())
VECTORS = json.loads((REFERENCE / "webhook_vectors.json").read_text())

SHOP = "sheetsync-test.myshopify.com"
TOKEN = "shpat_test_token"
SECRET = "test_app_secret"
START = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC).timestamp()

# --- the documents sheetsync sends ---------------------------------------------------------------

VARIANTS_BY_SKU = """
query VariantsBySku($query: String!, $after: String) {
  productVariants(first: 250, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes { id sku inventoryItem { id tracked } product { id hasVariantsThatRequiresComponents } }
  }
}
"""
LOCATIONS = """
query Locations {
  locations(first: 50) { nodes { id name isActive fulfillsOnlineOrders } }
}
"""
LEVELS = """
query Levels($id: ID!) {
  inventoryItem(id: $id) {
    id
    inventoryLevels(first: 10) {
      nodes { location { id } quantities(names: ["available", "on_hand"]) { name quantity } }
    }
  }
}
"""
ORDERS_SINCE = """
query OrdersSince($after: String, $query: String!) {
  orders(first: 10, after: $after, sortKey: UPDATED_AT, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name createdAt updatedAt cancelledAt cancelReason
      lineItems(first: 10) { nodes { id sku quantity currentQuantity variant { id } } }
      refunds(first: 5) {
        id createdAt
        refundLineItems(first: 10) {
          nodes { quantity restockType restocked location { id } lineItem { id sku } }
        }
      }
    }
  }
}
"""
SET_QUANTITIES = """
mutation SetQuantities($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup {
      id createdAt reason referenceDocumentUri
      changes { name delta quantityAfterChange item { id } location { id } }
    }
    userErrors { code field message }
  }
}
"""
SET_WITHOUT_DIRECTIVE = """
mutation SetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}
"""

# Selections whose costs were recorded against a live 2026-04 store (airhorns/shopify-draft-proxy,
# fixtures/conformance/harry-test-heelo.myshopify.com/2026-04/products/*.json).
RECORDED_SET = """
mutation InventorySetQuantitiesBounds($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    inventoryAdjustmentGroup {
      reason
      referenceDocumentUri
      changes { name delta item { id } location { id name } }
    }
    userErrors { field message code }
  }
}
"""
RECORDED_SEED_SET = """
mutation Seed($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    inventoryAdjustmentGroup { reason referenceDocumentUri }
    userErrors { field message code }
  }
}
"""
RECORDED_LEVEL = """
query Level($id: ID!) {
  inventoryItem(id: $id) {
    id
    inventoryLevels(first: 1) {
      nodes { id location { id name } quantities(names: ["available", "on_hand"]) { name quantity } }
    }
  }
}
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def fake(clock: ManualClock) -> FakeShopify:
    fake = FakeShopify(SCHEMAS, now=clock, app_secret=SECRET)
    fake.create_shop(SHOP, TOKEN, locations=["Warehouse", "Store"])
    return fake


@pytest.fixture
def stock(fake: FakeShopify) -> list[Variant]:
    return [
        *fake.add_product(SHOP, ["TEE-S", "TEE-M", "TEE-L", "TEE-XL"], stock={"Warehouse": 10, "Store": 4}),
        *fake.add_product(SHOP, "MUG", stock={"Warehouse": 3}),
    ]


@pytest.fixture
def client(fake: FakeShopify) -> Iterator[httpx.Client]:
    headers = {"X-Shopify-Access-Token": TOKEN}
    with httpx.Client(
        transport=httpx.MockTransport(fake), base_url=f"https://{SHOP}", headers=headers
    ) as client:
        yield client


def call(
    client: httpx.Client, query: str, variables: dict[str, Any] | None = None, version: str = "2026-10"
) -> dict[str, Any]:
    response = client.post(
        f"/admin/api/{version}/graphql.json", json={"query": query, "variables": variables or {}}
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = response.json()
    return body


def location_ids(fake: FakeShopify, client: httpx.Client) -> dict[str, str]:
    nodes = call(client, LOCATIONS)["data"]["locations"]["nodes"]
    return {node["name"]: node["id"] for node in nodes}


def set_input(
    rows: list[dict[str, Any]], name: str = "available", reason: str = "correction"
) -> dict[str, Any]:
    return {
        "name": name,
        "reason": reason,
        "referenceDocumentUri": "gid://sheetsync/SyncRun/2026-03-01T10:00Z",
        "quantities": rows,
    }


def row(variant: Variant, location: str, quantity: int, change_from: int | None) -> dict[str, Any]:
    return {
        "inventoryItemId": variant.inventory_item_id,
        "locationId": location,
        "quantity": quantity,
        "changeFromQuantity": change_from,
    }


# --- (a) the documents sheetsync sends, and what the real schema refuses ---------------------------


def test_sheetsync_documents_are_accepted(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant]
) -> None:
    found = call(client, VARIANTS_BY_SKU, {"query": "sku:TEE-S OR sku:MUG"})
    assert "errors" not in found
    nodes = found["data"]["productVariants"]["nodes"]
    assert [(n["sku"], n["inventoryItem"]["tracked"]) for n in nodes] == [("TEE-S", True), ("MUG", True)]
    assert found["extensions"]["cost"]["requestedQueryCost"] == 2 + 250 * 3  # node, inventoryItem, product

    places = location_ids(fake, client)
    assert sorted(places) == ["Store", "Warehouse"]

    levels = call(client, LEVELS, {"id": stock[0].inventory_item_id})["data"]["inventoryItem"][
        "inventoryLevels"
    ]
    by_place = {
        n["location"]["id"]: {q["name"]: q["quantity"] for q in n["quantities"]} for n in levels["nodes"]
    }
    assert by_place == {
        places["Warehouse"]: {"available": 10, "on_hand": 10},
        places["Store"]: {"available": 4, "on_hand": 4},
    }

    fake.place_order(SHOP, [("TEE-S", 2)], at=dt.datetime(2026, 3, 1, 11, tzinfo=dt.UTC))
    orders = call(client, ORDERS_SINCE, {"query": "updated_at:>'2026-03-01T10:00:00Z'"})
    assert "errors" not in orders
    assert [o["lineItems"]["nodes"][0]["sku"] for o in orders["data"]["orders"]["nodes"]] == ["TEE-S"]

    rows = [row(stock[0], places["Warehouse"], 7, 8)]
    done = call(client, SET_QUANTITIES, {"input": set_input(rows), "key": "run-1/chunk-0"})
    payload = done["data"]["inventorySetQuantities"]
    assert payload["userErrors"] == []
    assert [(c["name"], c["delta"]) for c in payload["inventoryAdjustmentGroup"]["changes"]] == [
        ("available", -1),
        ("on_hand", -1),
    ]
    assert fake.levels(SHOP)["TEE-S", "Warehouse"] == 7
    assert fake.levels(SHOP, "on_hand")["TEE-S", "Warehouse"] == 9  # 2 units stay committed to the order


def test_recorded_costs_are_reproduced(fake: FakeShopify, client: httpx.Client, stock: list[Variant]) -> None:
    warehouse = location_ids(fake, client)["Warehouse"]
    level = call(client, RECORDED_LEVEL, {"id": stock[0].inventory_item_id})["extensions"]["cost"]
    assert (level["requestedQueryCost"], level["actualQueryCost"]) == (6, 6)

    stale = set_input([row(stock[0], warehouse, 5, 99)])
    refused = call(client, RECORDED_SET, {"input": stale, "idempotencyKey": "a"})["extensions"]["cost"]
    assert (refused["requestedQueryCost"], refused["actualQueryCost"]) == (13, 10)
    applied = set_input([row(stock[0], warehouse, 5, 10)])
    done = call(client, RECORDED_SET, {"input": applied, "idempotencyKey": "b"})["extensions"]["cost"]
    assert (done["requestedQueryCost"], done["actualQueryCost"]) == (13, 13)
    seed = call(
        client,
        RECORDED_SEED_SET,
        {"input": set_input([row(stock[0], warehouse, 6, 5)]), "idempotencyKey": "c"},
    )
    assert (
        seed["extensions"]["cost"]["requestedQueryCost"],
        seed["extensions"]["cost"]["actualQueryCost"],
    ) == (10, 10)


def test_a_field_not_in_the_schema_is_refused_as_shopify_words_it(client: httpx.Client) -> None:
    body = call(client, 'query Levels {\n  inventoryItem(id: "x") {\n    available\n  }\n}\n')
    assert body == {
        "errors": [
            {
                "message": "Field 'available' doesn't exist on type 'InventoryItem'",
                "locations": [{"line": 3, "column": 5}],
                "extensions": {
                    "code": "undefinedField",
                    "typeName": "InventoryItem",
                    "fieldName": "available",
                },
                "path": ["query Levels", "inventoryItem", "available"],
            }
        ]
    }


def test_syntax_errors_and_missing_selections_read_as_recorded(client: httpx.Client) -> None:
    # Both texts are from a live capture (graphql-base-validation-unhappy-paths.json).
    eof = call(client, "query GraphqlBaseValidationInvalidSyntax {\n  shop {\n    id\n")
    assert eof["errors"] == [
        {
            "message": "syntax error, unexpected end of file at [3, 5]",
            "locations": [{"line": 3, "column": 5}],
            "extensions": {"code": "PARSE_ERROR"},
        }
    ]
    bare = call(client, "query GraphqlBaseValidationMissingSubselection {\n  shop\n}\n")
    assert bare["errors"][0]["message"] == (
        "Field must have selections (field 'shop' returns Shop but has no selections. "
        "Did you mean 'shop { ... }'?)"
    )
    assert bare["errors"][0]["path"] == ["query GraphqlBaseValidationMissingSubselection", "shop"]


def test_compare_quantity_is_gone_in_2026_10(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant]
) -> None:
    warehouse = location_ids(fake, client)["Warehouse"]
    legacy = row(stock[0], warehouse, 5, None)
    del legacy["changeFromQuantity"]
    legacy["compareQuantity"] = 10
    body = call(client, SET_QUANTITIES, {"input": set_input([legacy]), "key": "k"})
    (error,) = body["errors"]
    assert error["message"] == (
        "Variable $input of type InventorySetQuantitiesInput! was provided invalid value for "
        "quantities.0.compareQuantity (Field is not defined on InventoryQuantityInput)"
    )
    assert error["extensions"]["code"] == "INVALID_VARIABLE"
    assert error["extensions"]["problems"] == [
        {
            "path": ["quantities", 0, "compareQuantity"],
            "explanation": "Field is not defined on InventoryQuantityInput",
        }
    ]
    assert "data" not in body
    assert "extensions" not in body

    literal = (
        SET_WITHOUT_DIRECTIVE.replace("$input: InventorySetQuantitiesInput!", "")
        .replace(
            "(input: $input)",
            '(input: {name: "available", reason: "correction", quantities: [{inventoryItemId: "x", '
            'locationId: "y", quantity: 1, compareQuantity: 0}]})',
        )
        .replace("mutation SetQuantities()", "mutation SetQuantities")
    )
    (error,) = call(client, literal)["errors"]
    assert error["extensions"]["code"] == "argumentNotAccepted"
    assert error["extensions"]["argumentName"] == "compareQuantity"
    assert fake.levels(SHOP)["TEE-S", "Warehouse"] == 10


def test_the_change_from_quantity_key_is_mandatory_from_2026_04(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant]
) -> None:
    warehouse = location_ids(fake, client)["Warehouse"]
    missing = row(stock[0], warehouse, 5, None)
    del missing["changeFromQuantity"]
    body = call(client, SET_QUANTITIES, {"input": set_input([missing]), "key": "k"})
    assert body["errors"] == [
        {
            "message": "InventoryQuantityInput must include the following argument: changeFromQuantity.",
            "locations": [{"line": 3, "column": 3}, {"line": 2, "column": 24}],
            "extensions": {"code": "INVALID_FIELD_ARGUMENTS"},
            "path": ["inventorySetQuantities"],
        }
    ]
    assert body["data"] == {"inventorySetQuantities": None}
    assert body["extensions"]["cost"]["actualQueryCost"] == 10
    # A null value is the explicit opt-out of the check, and is accepted.
    opted_out = call(
        client, SET_QUANTITIES, {"input": set_input([row(stock[0], warehouse, 5, None)]), "key": "k2"}
    )
    assert opted_out["data"]["inventorySetQuantities"]["userErrors"] == []
    # 2026-01 still took rows without the key.
    old = call(
        client, SET_WITHOUT_DIRECTIVE, {"input": set_input([missing], name="available")}, version="2026-01"
    )
    assert old["data"]["inventorySetQuantities"]["userErrors"] == [
        {
            "code": "COMPARE_QUANTITY_REQUIRED",
            "field": ["input", "quantities", "0", "compareQuantity"],
            "message": "The compareQuantity argument must be given to each quantity or ignored using "
            "ignoreCompareQuantity.",
        }
    ]


def test_the_idempotent_directive_is_mandatory_in_2026_10(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant]
) -> None:
    warehouse = location_ids(fake, client)["Warehouse"]
    variables = {"input": set_input([row(stock[0], warehouse, 5, 10)])}
    body = call(client, SET_WITHOUT_DIRECTIVE, variables)
    assert body["errors"] == [
        {
            "message": "The @idempotent directive is required for this mutation but was not provided.",
            "locations": [{"line": 3, "column": 3}],
            "extensions": {"code": "BAD_REQUEST"},
            "path": ["inventorySetQuantities"],
        }
    ]
    assert fake.levels(SHOP)["TEE-S", "Warehouse"] == 10
    adjust = """
    mutation Adjust($input: InventoryAdjustQuantitiesInput!) {
      inventoryAdjustQuantities(input: $input) { userErrors { code field message } }
    }
    """
    change = {"inventoryItemId": stock[0].inventory_item_id, "locationId": warehouse, "delta": 1}
    adjusted = call(
        client, adjust, {"input": {"name": "available", "reason": "correction", "changes": [change]}}
    )
    assert adjusted["errors"][0]["message"] == (
        "InventoryChangeInput must include the following argument: changeFromQuantity."
    )
    change["changeFromQuantity"] = None
    adjusted = call(
        client, adjust, {"input": {"name": "available", "reason": "correction", "changes": [change]}}
    )
    assert adjusted["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}
    # Optional in 2026-01.
    old = call(client, SET_WITHOUT_DIRECTIVE, variables, version="2026-01")
    assert old["data"]["inventorySetQuantities"]["userErrors"] == []
    assert fake.levels(SHOP)["TEE-S", "Warehouse"] == 5


def test_more_than_250_quantities_are_refused(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant]
) -> None:
    warehouse = location_ids(fake, client)["Warehouse"]
    rows = [row(stock[0], warehouse, 1, None)] * 251
    body = call(client, SET_QUANTITIES, {"input": set_input(rows), "key": "k"})
    assert body == {
        "errors": [
            {
                "message": "The input array size of 251 is greater than the maximum allowed of 250.",
                "locations": [{"line": 3, "column": 3}],
                "extensions": {"code": "MAX_INPUT_SIZE_EXCEEDED"},
                "path": ["inventorySetQuantities", "input", "quantities"],
            }
        ]
    }
    assert fake.request_log[-1].actual_cost is None


def test_a_query_over_1000_points_is_refused(client: httpx.Client) -> None:
    body = call(client, "{ orders(first: 100) { nodes { lineItems(first: 10) { nodes { id } } } } }")
    (error,) = body["errors"]
    cost = 2 + 100 * (1 + 2 + 10)
    assert error["message"].startswith(
        f"Query cost is {cost}, which exceeds the single query max cost limit (1000)."
    )
    assert error["extensions"] == {
        "code": "MAX_COST_EXCEEDED",
        "cost": cost,
        "maxCost": 1000,
        "documentation": "https://shopify.dev/api/usage/rate-limits",
    }
    assert set(body) == {"errors"}  # recorded: no cost extension beside it


def test_unmodelled_behaviour_answers_501(client: httpx.Client, stock: list[Variant]) -> None:
    response = client.post(
        "/admin/api/2026-10/graphql.json",
        json={"query": "{ productVariants(first: 1) { nodes { barcode } } }"},
    )
    assert response.status_code == 501
    assert response.json()["errors"][0]["message"] == "FakeShopify does not model ProductVariant.barcode"
    response = client.post(
        "/admin/api/2026-10/graphql.json",
        json={"query": '{ orders(first: 1, query: "status:open") { nodes { id } } }'},
    )
    assert response.status_code == 501


# --- prices: productVariantsBulkUpdate and the shop's currency ---------------------------------------

PRICES = """
mutation SheetsyncPrices($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants) {
    productVariants { id price }
    userErrors { field message code }
  }
}
"""
# The selection of a live 2025-01 capture (airhorns/shopify-draft-proxy, fixtures/conformance/
# very-big-test-store.myshopify.com/2025-01/products/product-variants-bulk-update-parity.json),
# cut to the fields this fake models.
RECORDED_PRICES = """
mutation productVariantsBulkUpdate($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants) {
    product { id totalInventory tracksInventory }
    productVariants { id title sku price inventoryQuantity inventoryItem { id tracked requiresShipping } }
    userErrors { field message code }
  }
}
"""
SHOP_CURRENCY = "query SheetsyncShop { shop { currencyCode } }"


def prices(product: str, *rows: tuple[str, str]) -> dict[str, Any]:
    return {"productId": product, "variants": [{"id": v, "price": p} for v, p in rows]}


def test_a_price_update_holds_and_answers_the_recorded_shape(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant]
) -> None:
    tee_s, tee_m = stock[0], stock[1]
    body = call(
        client, RECORDED_PRICES, prices(tee_s.product_id, (tee_s.variant_id, "24"), (tee_m.variant_id, "9.5"))
    )
    payload = body["data"]["productVariantsBulkUpdate"]
    assert payload["userErrors"] == []
    assert payload["product"] == {"id": tee_s.product_id, "totalInventory": 56, "tracksInventory": True}
    # As recorded: Money comes back with two decimals, each variant in full.
    assert payload["productVariants"] == [
        {
            "id": tee_s.variant_id,
            "title": "Default Title",
            "sku": "TEE-S",
            "price": "24.00",
            "inventoryQuantity": 14,
            "inventoryItem": {"id": tee_s.inventory_item_id, "tracked": True, "requiresShipping": True},
        },
        {
            "id": tee_m.variant_id,
            "title": "Default Title",
            "sku": "TEE-M",
            "price": "9.50",
            "inventoryQuantity": 14,
            "inventoryItem": {"id": tee_m.inventory_item_id, "tracked": True, "requiresShipping": True},
        },
    ]
    assert (fake.price(SHOP, "TEE-S"), fake.price(SHOP, "TEE-M"), fake.price(SHOP, "TEE-L")) == (
        Decimal("24.00"),
        Decimal("9.50"),
        Decimal("0.00"),  # untouched: a new variant's price
    )
    read = call(client, "query V($id: ID!) { productVariant(id: $id) { price } }", {"id": tee_s.variant_id})
    assert read["data"]["productVariant"] == {"price": "24.00"}


def test_a_price_update_is_charged_to_the_bucket_like_other_mutations(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant]
) -> None:
    body = call(client, PRICES, prices(stock[0].product_id, (stock[0].variant_id, "1.00")))
    cost = body["extensions"]["cost"]
    # 10 for the mutation and its payload; the variants carry only scalars.
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (10, 10)
    assert cost["throttleStatus"]["currentlyAvailable"] == 2000 - 10
    assert (fake.request_log[-1].requested_cost, fake.request_log[-1].actual_cost) == (10, 10)


@pytest.mark.parametrize(
    ("case", "code", "field", "message"),
    [
        (
            "unknown variant",
            "PRODUCT_VARIANT_DOES_NOT_EXIST",
            ["variants", "1", "id"],
            "Product variant does not exist",
        ),
        (
            "other product",
            "MUST_BE_FOR_THIS_PRODUCT",
            ["variants", "1", "id"],
            "Input must be for this product",
        ),
        (
            "negative",
            "GREATER_THAN_OR_EQUAL_TO",
            ["variants", "1", "price"],
            "Price must be greater than or equal to 0",
        ),
        (
            "no id",
            "PRODUCT_VARIANT_ID_MISSING",
            ["variants", "1", "id"],
            "Product variant is missing ID attribute",
        ),
    ],
)
def test_a_refused_variant_applies_nothing_of_the_call(
    fake: FakeShopify,
    client: httpx.Client,
    stock: list[Variant],
    case: str,
    code: str,
    field: list[str],
    message: str,
) -> None:
    tee_s, tee_m, mug = stock[0], stock[1], stock[4]
    second = {
        "unknown variant": {"id": "gid://shopify/ProductVariant/424242", "price": "1.00"},
        "other product": {"id": mug.variant_id, "price": "1.00"},
        "negative": {"id": tee_m.variant_id, "price": "-0.01"},
        "no id": {"price": "1.00"},
    }[case]
    variables = {
        "productId": tee_s.product_id,
        "variants": [{"id": tee_s.variant_id, "price": "5.00"}, second],
    }
    payload = call(client, PRICES, variables)["data"]["productVariantsBulkUpdate"]
    assert payload["userErrors"] == [{"field": field, "message": message, "code": code}]
    assert [fake.price(SHOP, sku) for sku in ("TEE-S", "TEE-M", "MUG")] == [Decimal("0.00")] * 3


def test_an_unknown_product_is_refused(fake: FakeShopify, client: httpx.Client, stock: list[Variant]) -> None:
    body = call(client, PRICES, prices("gid://shopify/Product/424242", (stock[0].variant_id, "1.00")))
    assert body["data"]["productVariantsBulkUpdate"] == {
        "productVariants": None,
        "userErrors": [
            {"field": ["productId"], "message": "Product does not exist", "code": "PRODUCT_DOES_NOT_EXIST"}
        ],
    }
    assert fake.price(SHOP, "TEE-S") == Decimal("0.00")


def test_more_than_250_variants_are_refused(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant]
) -> None:
    rows = [(stock[0].variant_id, "1.00")] * 251
    body = call(client, PRICES, prices(stock[0].product_id, *rows))
    assert body == {
        "errors": [
            {
                "message": "The input array size of 251 is greater than the maximum allowed of 250.",
                "locations": [{"line": 3, "column": 3}],
                "extensions": {"code": "MAX_INPUT_SIZE_EXCEEDED"},
                "path": ["productVariantsBulkUpdate", "variants"],
            }
        ]
    }
    assert fake.price(SHOP, "TEE-S") == Decimal("0.00")


def test_the_shop_currency_is_usd_unless_the_shop_says_otherwise(clock: ManualClock) -> None:
    fake = FakeShopify(SCHEMAS, now=clock)
    fake.create_shop(SHOP, TOKEN)
    fake.create_shop("euro-shop", "shpat_euro", currency="EUR")
    for domain, token, currency in ((SHOP, TOKEN, "USD"), ("euro-shop.myshopify.com", "shpat_euro", "EUR")):
        with httpx.Client(
            transport=httpx.MockTransport(fake),
            base_url=f"https://{domain}",
            headers={"X-Shopify-Access-Token": token},
        ) as client:
            assert call(client, SHOP_CURRENCY)["data"] == {"shop": {"currencyCode": currency}}


def test_unmodelled_price_inputs_answer_501(client: httpx.Client, stock: list[Variant]) -> None:
    url = "/admin/api/2026-10/graphql.json"
    tee = stock[0]
    partial = """
mutation P($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants, allowPartialUpdates: true) {
    userErrors { field message code }
  }
}
"""
    variables = {"productId": tee.product_id, "variants": [{"id": tee.variant_id, "compareAtPrice": "9.00"}]}
    for query, values in (
        (partial, prices(tee.product_id, (tee.variant_id, "1.00"))),
        (PRICES, variables),
        (PRICES, prices(tee.product_id, (tee.variant_id, "1.005"))),
    ):
        assert client.post(url, json={"query": query, "variables": values}).status_code == 501


# --- transport --------------------------------------------------------------------------------------


def test_transport_errors(fake: FakeShopify, client: httpx.Client) -> None:
    url = "/admin/api/2026-10/graphql.json"
    bad = client.post(url, json={"query": "{ shop { id } }"}, headers={"X-Shopify-Access-Token": "nope"})
    assert (bad.status_code, bad.json()) == (
        401,
        {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
    )
    assert (
        client.post("/admin/api/2025-07/graphql.json", json={"query": "{ shop { id } }"}).status_code == 404
    )
    assert client.post(url, content=b"{not json").status_code == 400
    answer = client.post(url, json={"query": LOCATIONS})
    assert answer.headers["X-Shopify-API-Version"] == "2026-10"


# --- (b) userErrors, all or nothing, idempotency ----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "field"),
    [
        ("INVALID_NAME", ["input", "name"]),
        ("INVALID_REASON", ["input", "reason"]),
        ("INVALID_REFERENCE_DOCUMENT", ["input", "referenceDocumentUri"]),
        ("INVALID_INVENTORY_ITEM", ["input", "quantities", "3", "inventoryItemId"]),
        ("INVALID_LOCATION", ["input", "quantities", "3", "locationId"]),
        ("NON_MUTABLE_INVENTORY_ITEM", ["input", "quantities", "3", "inventoryItemId"]),
        ("INVALID_QUANTITY_NEGATIVE", ["input", "quantities", "3", "quantity"]),
        ("INVALID_QUANTITY_TOO_HIGH", ["input", "quantities", "3", "quantity"]),
        ("INVALID_QUANTITY_TOO_LOW", ["input", "quantities", "3", "quantity"]),
        ("NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR", ["input", "quantities", "3", "locationId"]),
        ("CHANGE_FROM_QUANTITY_STALE", ["input", "quantities", "3", "changeFromQuantity"]),
    ],
)
def test_each_user_error_applies_nothing(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant], code: str, field: list[str]
) -> None:
    warehouse = location_ids(fake, client)["Warehouse"]
    rows = [row(variant, warehouse, 9, 10) for variant in stock[:3]]
    bad = row(stock[3], warehouse, 9, 10)
    given = set_input([*rows, bad])
    bundle = fake.add_product(SHOP, "BUNDLE", bundle_parent=True, stock={"Warehouse": 1})[0]
    if code == "INVALID_NAME":
        given["name"] = "committed"
    elif code == "INVALID_REASON":
        given["reason"] = "because"
    elif code == "INVALID_REFERENCE_DOCUMENT":
        given["referenceDocumentUri"] = "gid://sheetsync/SyncRun"
    elif code == "INVALID_INVENTORY_ITEM":
        bad["inventoryItemId"] = "gid://shopify/InventoryItem/1"
    elif code == "INVALID_LOCATION":
        bad["locationId"] = "gid://shopify/Location/1"
    elif code == "NON_MUTABLE_INVENTORY_ITEM":
        bad.update(inventoryItemId=bundle.inventory_item_id, changeFromQuantity=1)
    elif code == "INVALID_QUANTITY_NEGATIVE":
        given["name"] = "on_hand"
        bad["quantity"] = -1
    elif code == "INVALID_QUANTITY_TOO_HIGH":
        bad["quantity"] = 1_000_000_001
    elif code == "INVALID_QUANTITY_TOO_LOW":
        bad["quantity"] = -1_000_000_001
    elif code == "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR":
        bad["inventoryItemId"] = stock[0].inventory_item_id
    else:
        bad["changeFromQuantity"] = 11
    before = fake.levels(SHOP)
    payload = call(client, SET_QUANTITIES, {"input": given, "key": code})["data"]["inventorySetQuantities"]
    assert payload["inventoryAdjustmentGroup"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, field)]
    assert payload["userErrors"][0]["message"]
    assert fake.levels(SHOP) == before


def test_recorded_user_error_messages(fake: FakeShopify, client: httpx.Client, stock: list[Variant]) -> None:
    warehouse = location_ids(fake, client)["Warehouse"]
    invalid_name = set_input([row(stock[0], warehouse, 5, 10)], name="damaged")
    negative = set_input([row(stock[0], warehouse, -5, 10)], name="on_hand")
    too_low = set_input([row(stock[0], warehouse, -2_000_000_000, 10)])
    messages = [
        call(client, SET_QUANTITIES, {"input": given, "key": str(i)})["data"]["inventorySetQuantities"][
            "userErrors"
        ][0]["message"]
        for i, given in enumerate((invalid_name, negative, too_low))
    ]
    assert messages == [
        "The quantity name must be either 'available' or 'on_hand'.",
        "The quantity can't be negative.",
        "The quantity can't be lower than -1,000,000,000.",
    ]
    # A negative available is allowed (recorded), and moves on_hand by the same delta.
    done = call(
        client, SET_QUANTITIES, {"input": set_input([row(stock[0], warehouse, -5, 10)]), "key": "neg"}
    )
    assert done["data"]["inventorySetQuantities"]["userErrors"] == []
    assert fake.levels(SHOP, "on_hand")["TEE-S", "Warehouse"] == -5


def test_not_stocked_at_a_location_depends_on_the_version(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant]
) -> None:
    store = location_ids(fake, client)["Store"]
    mug = stock[4]  # stocked in the warehouse only
    old = call(
        client, SET_QUANTITIES, {"input": set_input([row(mug, store, 2, 0)]), "key": "a"}, version="2026-01"
    )
    assert old["data"]["inventorySetQuantities"]["userErrors"] == [
        {
            "code": "ITEM_NOT_STOCKED_AT_LOCATION",
            "field": ["input", "quantities", "0", "locationId"],
            "message": "The specified inventory item is not stocked at the location.",
        }
    ]
    # 2026-10 has no such code: the set stocks the item there.
    new = call(client, SET_QUANTITIES, {"input": set_input([row(mug, store, 2, 0)]), "key": "b"})
    assert new["data"]["inventorySetQuantities"]["userErrors"] == []
    assert fake.levels(SHOP)["MUG", "Store"] == 2


def test_a_stale_row_applies_nothing(fake: FakeShopify, client: httpx.Client, stock: list[Variant]) -> None:
    places = location_ids(fake, client)
    rows = [row(stock[0], places["Warehouse"], 8, 10), row(stock[0], places["Store"], 2, 4)]

    def sell(request: ShopifyCall) -> None:
        fake.place_order(SHOP, [("TEE-S", 1)], location="Store")

    fake.before_request = sell
    payload = call(client, SET_QUANTITIES, {"input": set_input(rows), "key": "k"})["data"][
        "inventorySetQuantities"
    ]
    assert payload["userErrors"][0]["field"] == ["input", "quantities", "1", "changeFromQuantity"]
    assert fake.levels(SHOP)["TEE-S", "Warehouse"] == 10
    assert fake.levels(SHOP)["TEE-S", "Store"] == 3


def test_merchant_edit_between_read_and_write_is_caught(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant]
) -> None:
    warehouse = location_ids(fake, client)["Warehouse"]
    seen: list[ShopifyCall] = []

    def edit(request: ShopifyCall) -> None:
        seen.append(request)
        fake.admin_set_available(SHOP, "TEE-M", "Warehouse", 0)

    fake.before_request = edit
    payload = call(
        client, SET_QUANTITIES, {"input": set_input([row(stock[1], warehouse, 6, 10)]), "key": "k"}
    )
    assert payload["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "CHANGE_FROM_QUANTITY_STALE"
    assert fake.levels(SHOP)["TEE-M", "Warehouse"] == 0
    assert seen[0].root_fields == ("inventorySetQuantities",)
    assert seen[0].operation_name == "SetQuantities"


def test_idempotent_replay_and_key_reuse(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant]
) -> None:
    warehouse = location_ids(fake, client)["Warehouse"]
    variables: dict[str, Any] = {
        "input": set_input([row(stock[0], warehouse, 7, 10)]),
        "key": "run-1/chunk-0",
    }
    first = call(client, SET_QUANTITIES, variables)["data"]
    fake.place_order(SHOP, [("TEE-S", 1)])  # 6 available now
    again = call(client, SET_QUANTITIES, variables)["data"]
    assert again == first
    assert fake.levels(SHOP)["TEE-S", "Warehouse"] == 6
    other = copy.deepcopy(variables)
    other["input"]["quantities"][0]["quantity"] = 5
    mismatch = call(client, SET_QUANTITIES, other)["data"]["inventorySetQuantities"]
    assert mismatch["inventoryAdjustmentGroup"] is None
    assert mismatch["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"
    assert fake.levels(SHOP)["TEE-S", "Warehouse"] == 6


# --- reads: paging, orders, refunds ------------------------------------------------------------------


def test_variants_page_with_cursors(client: httpx.Client, stock: list[Variant]) -> None:
    query = (
        'query($after: String) { productVariants(first: 2, after: $after, query: "sku:TEE-*") '
        "{ pageInfo { hasNextPage endCursor } nodes { sku } } }"
    )
    skus, after = [], None
    for _ in range(3):
        page = call(client, query, {"after": after})["data"]["productVariants"]
        skus += [n["sku"] for n in page["nodes"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert skus == ["TEE-S", "TEE-M", "TEE-L", "TEE-XL"]


def test_orders_since_a_cursor_with_cancellations_and_refunds(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant], clock: ManualClock
) -> None:
    hour = dt.timedelta(hours=1)
    t0 = dt.datetime.fromtimestamp(START, dt.UTC)
    kept = fake.place_order(SHOP, [("TEE-S", 2), ("MUG", 1)], at=t0 + hour)
    cancelled = fake.place_order(SHOP, [("TEE-M", 1)], at=t0 + 2 * hour)
    fake.cancel_order(cancelled, reason="CUSTOMER", at=t0 + 3 * hour)
    fake.refund(kept, {"MUG": 1}, restock_type="RETURN", at=t0 + 4 * hour)
    assert fake.levels(SHOP)["TEE-M", "Warehouse"] == 10
    assert fake.levels(SHOP)["MUG", "Warehouse"] == 3

    since = "updated_at:>'2026-03-01T12:30:00Z'"
    nodes = call(client, ORDERS_SINCE, {"query": since})["data"]["orders"]["nodes"]
    assert [(n["name"], n["updatedAt"]) for n in nodes] == [
        ("#1002", "2026-03-01T13:00:00Z"),
        ("#1001", "2026-03-01T14:00:00Z"),
    ]
    gone, sold = nodes
    assert (gone["cancelledAt"], gone["cancelReason"]) == ("2026-03-01T13:00:00Z", "CUSTOMER")
    assert gone["refunds"][0]["refundLineItems"]["nodes"][0]["restockType"] == "CANCEL"
    assert [(li["sku"], li["quantity"], li["currentQuantity"]) for li in sold["lineItems"]["nodes"]] == [
        ("TEE-S", 2, 2),
        ("MUG", 1, 0),
    ]
    refund_line = sold["refunds"][0]["refundLineItems"]["nodes"][0]
    assert (refund_line["restockType"], refund_line["restocked"], refund_line["lineItem"]["sku"]) == (
        "RETURN",
        True,
        "MUG",
    )
    none_left = call(client, ORDERS_SINCE, {"query": "updated_at:>'2026-03-01T14:00:00Z'"})
    assert none_left["data"]["orders"]["nodes"] == []


# --- order edits: orderEditBegin / SetQuantity / AddVariant / Commit, and edit_order --------------

EDIT_BEGIN = """
mutation Begin($id: ID!) {
  orderEditBegin(id: $id) {
    calculatedOrder {
      id committed subtotalLineItemsQuantity originalOrder { id }
      lineItems(first: 10) {
        nodes { id sku quantity editableQuantity editableQuantityBeforeChanges restockable variant { id } }
      }
    }
    orderEditSession { id }
    userErrors { field message }
  }
}
"""
EDIT_SET = """
mutation SetQuantity($id: ID!, $lineItemId: ID!, $quantity: Int!, $restock: Boolean) {
  orderEditSetQuantity(id: $id, lineItemId: $lineItemId, quantity: $quantity, restock: $restock) {
    calculatedLineItem { id quantity editableQuantityBeforeChanges restocking }
    calculatedOrder { id subtotalLineItemsQuantity }
    userErrors { field message }
  }
}
"""
EDIT_ADD = """
mutation AddVariant($id: ID!, $variantId: ID!, $quantity: Int!, $allowDuplicates: Boolean) {
  orderEditAddVariant(
    id: $id, variantId: $variantId, quantity: $quantity, allowDuplicates: $allowDuplicates
  ) {
    calculatedLineItem { id sku quantity }
    calculatedOrder { addedLineItems(first: 5) { nodes { id sku quantity } } }
    userErrors { field message }
  }
}
"""
EDIT_COMMIT = """
mutation Commit($id: ID!) {
  orderEditCommit(id: $id, notifyCustomer: false, staffNote: "size swap") {
    order { id updatedAt lineItems(first: 10) { nodes { id sku quantity currentQuantity } } }
    successMessages
    userErrors { field message }
  }
}
"""


def begin(client: httpx.Client, order: str) -> dict[str, Any]:
    payload: dict[str, Any] = call(client, EDIT_BEGIN, {"id": order})["data"]["orderEditBegin"]
    assert payload["userErrors"] == []
    return payload


def current(fake: FakeShopify, order: str) -> list[tuple[str, int, int]]:
    return [(li.sku, li.quantity, li.current_quantity) for li in fake.order_lines(order)]


def test_an_order_edit_stages_then_commits_as_shopify_does(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant], clock: ManualClock
) -> None:
    order = fake.place_order(SHOP, [("TEE-S", 2), ("TEE-M", 3)])
    tee_s, tee_m = fake.order_lines(order)
    began = begin(client, order)
    calculated = began["calculatedOrder"]
    assert calculated["id"].startswith("gid://shopify/CalculatedOrder/")
    assert began["orderEditSession"]["id"].startswith("gid://shopify/OrderEditSession/")
    assert (
        calculated["committed"],
        calculated["originalOrder"],
        calculated["subtotalLineItemsQuantity"],
    ) == (
        False,
        {"id": order},
        5,
    )
    # As recorded: a calculated line item carries its line item's number.
    assert [line["id"] for line in calculated["lineItems"]["nodes"]] == [
        tee_s.line_id.replace("LineItem", "CalculatedLineItem"),
        tee_m.line_id.replace("LineItem", "CalculatedLineItem"),
    ]
    first = calculated["lineItems"]["nodes"][0]
    assert (first["quantity"], first["editableQuantity"], first["restockable"]) == (2, 2, True)
    assert first["variant"] == {"id": stock[0].variant_id}
    s_line, m_line = (line["id"] for line in calculated["lineItems"]["nodes"])

    up = call(client, EDIT_SET, {"id": calculated["id"], "lineItemId": s_line, "quantity": 5})
    assert up["data"]["orderEditSetQuantity"]["calculatedLineItem"] == {
        "id": s_line,
        "quantity": 5,
        "editableQuantityBeforeChanges": 2,
        "restocking": False,
    }
    # The session id names the same edit.
    down = call(
        client,
        EDIT_SET,
        {"id": began["orderEditSession"]["id"], "lineItemId": m_line, "quantity": 1, "restock": True},
    )["data"]["orderEditSetQuantity"]
    assert (
        down["calculatedLineItem"]["restocking"],
        down["calculatedOrder"]["subtotalLineItemsQuantity"],
    ) == (
        True,
        6,
    )
    added = call(client, EDIT_ADD, {"id": calculated["id"], "variantId": stock[4].variant_id, "quantity": 2})
    added_line = added["data"]["orderEditAddVariant"]["calculatedLineItem"]
    assert (added_line["sku"], added_line["quantity"]) == ("MUG", 2)
    assert re.fullmatch(
        r"gid://shopify/CalculatedLineItem/[0-9a-f-]{36}", added_line["id"]
    )  # a uuid, recorded
    assert added["data"]["orderEditAddVariant"]["calculatedOrder"]["addedLineItems"]["nodes"] == [added_line]
    # Staged only: nothing has moved yet.
    assert current(fake, order) == [("TEE-S", 2, 2), ("TEE-M", 3, 3)]
    assert (fake.levels(SHOP)["TEE-S", "Warehouse"], fake.levels(SHOP)["MUG", "Warehouse"]) == (8, 3)

    clock.now += 120
    done = call(client, EDIT_COMMIT, {"id": calculated["id"]})["data"]["orderEditCommit"]
    assert (done["userErrors"], done["successMessages"]) == ([], ["Order updated"])
    assert done["order"]["updatedAt"] == "2026-03-01T10:02:00Z"
    assert [(n["sku"], n["quantity"], n["currentQuantity"]) for n in done["order"]["lineItems"]["nodes"]] == [
        ("TEE-S", 2, 5),  # quantity stays what was ordered; currentQuantity follows the edit
        ("TEE-M", 3, 1),
        ("MUG", 2, 2),
    ]
    levels = fake.levels(SHOP)
    # An increase and an added variant take units; a restocked decrease puts them back.
    assert (levels["TEE-S", "Warehouse"], levels["TEE-M", "Warehouse"], levels["MUG", "Warehouse"]) == (
        5,
        9,
        1,
    )
    assert fake.levels(SHOP, "on_hand")["TEE-M", "Warehouse"] == 10  # committed units never left
    # Committed: the calculated order is gone.
    again = call(client, EDIT_COMMIT, {"id": calculated["id"]})["data"]["orderEditCommit"]
    assert again == {
        "order": None,
        "successMessages": None,
        "userErrors": [{"field": ["id"], "message": "The calculated order does not exist."}],
    }


def test_a_decrease_without_restock_keeps_the_units_out(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant]
) -> None:
    order = fake.place_order(SHOP, [("TEE-S", 4)])
    calculated = begin(client, order)["calculatedOrder"]
    line = calculated["lineItems"]["nodes"][0]["id"]
    call(client, EDIT_SET, {"id": calculated["id"], "lineItemId": line, "quantity": 0, "restock": False})
    assert call(client, EDIT_COMMIT, {"id": calculated["id"]})["data"]["orderEditCommit"]["userErrors"] == []
    assert current(fake, order) == [("TEE-S", 4, 0)]  # the line stays, with nothing left
    assert fake.levels(SHOP)["TEE-S", "Warehouse"] == 6


@pytest.mark.parametrize(
    ("case", "root", "field", "message"),
    [
        ("negative", "orderEditSetQuantity", ["quantity"], "must be greater than or equal to 0"),
        (
            "unknown line",
            "orderEditSetQuantity",
            ["lineItemId"],
            "The line item does not exist on the order.",
        ),
        ("unknown edit", "orderEditSetQuantity", ["id"], "The calculated order does not exist."),
        ("add none", "orderEditAddVariant", ["quantity"], "must be greater than 0"),
        ("add unknown", "orderEditAddVariant", ["variantId"], "The variant does not exist in the shop."),
        (
            "add twice",
            "orderEditAddVariant",
            ["id"],
            "TEE-S was not added because it's already on the order.",
        ),
        ("cancelled", "orderEditBegin", None, "The order cannot be edited."),
        ("unknown order", "orderEditBegin", ["id"], "The order does not exist."),
        ("cancelled meanwhile", "orderEditCommit", None, "The order cannot be edited."),
    ],
)
def test_order_edit_refusals_are_user_errors_and_apply_nothing(
    fake: FakeShopify,
    client: httpx.Client,
    stock: list[Variant],
    case: str,
    root: str,
    field: list[str] | None,
    message: str,
) -> None:
    order = fake.place_order(SHOP, [("TEE-S", 2)])
    if case == "cancelled":
        fake.cancel_order(order)
    before = (fake.levels(SHOP), current(fake, order))
    if root == "orderEditBegin":
        target = "gid://shopify/Order/424242" if case == "unknown order" else order
        payload = call(client, EDIT_BEGIN, {"id": target})["data"][root]
        assert (payload["calculatedOrder"], payload["orderEditSession"]) == (None, None)
    else:
        calculated = begin(client, order)["calculatedOrder"]
        edit, line = calculated["id"], calculated["lineItems"]["nodes"][0]["id"]
        if root == "orderEditCommit":
            call(client, EDIT_SET, {"id": edit, "lineItemId": line, "quantity": 1, "restock": True})
            fake.cancel_order(order)
            before = (fake.levels(SHOP), current(fake, order))
            payload = call(client, EDIT_COMMIT, {"id": edit})["data"][root]
            assert payload["order"] is None
        elif root == "orderEditSetQuantity":
            variables = {"id": edit, "lineItemId": line, "quantity": 1}
            if case == "negative":
                variables["quantity"] = -1
            elif case == "unknown line":
                variables["lineItemId"] = "gid://shopify/CalculatedLineItem/424242"
            else:
                variables["id"] = "gid://shopify/CalculatedOrder/424242"
            payload = call(client, EDIT_SET, variables)["data"][root]
            assert (payload["calculatedLineItem"], payload["calculatedOrder"]) == (None, None)
        else:
            variables = {"id": edit, "variantId": stock[4].variant_id, "quantity": 1}
            if case == "add none":
                variables["quantity"] = 0
            elif case == "add unknown":
                variables["variantId"] = "gid://shopify/ProductVariant/424242"
            else:
                variables["variantId"] = stock[0].variant_id
            payload = call(client, EDIT_ADD, variables)["data"][root]
            assert payload["calculatedLineItem"] is None
            if case != "add twice":  # a second line of a variant takes allowDuplicates
                variables.update(variantId=stock[0].variant_id, quantity=1, allowDuplicates=True)
                assert call(client, EDIT_ADD, variables)["data"][root]["userErrors"] == []
    assert payload["userErrors"] == [{"field": field, "message": message}]
    assert (fake.levels(SHOP), current(fake, order)) == before


def test_order_edit_errors_are_plain_user_errors_without_a_code(
    client: httpx.Client, stock: list[Variant]
) -> None:
    body = call(
        client, EDIT_BEGIN.replace("userErrors { field message }", "userErrors { code }"), {"id": "x"}
    )
    assert body["errors"][0]["extensions"] == {
        "code": "undefinedField",
        "typeName": "UserError",
        "fieldName": "code",
    }


def test_a_refund_lowers_current_quantity_and_an_edit_follows_it(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant]
) -> None:
    order = fake.place_order(SHOP, [("TEE-S", 6)])
    fake.refund(order, {"TEE-S": 1}, restock_type="NO_RESTOCK")
    fake.refund(order, {"TEE-S": 1}, restock_type="RETURN")
    assert current(fake, order) == [("TEE-S", 6, 4)]
    line = begin(client, order)["calculatedOrder"]["lineItems"]["nodes"][0]
    assert line["editableQuantity"] == 4  # the edit starts from what is left
    (line_id,) = [li.line_id for li in fake.order_lines(order)]
    fake.edit_order(order, set_quantities={line_id: 2})
    assert current(fake, order) == [("TEE-S", 6, 2)]
    # 10 - 6 sold + 1 returned + 2 restocked by the edit; the unrestocked refund stays out.
    assert fake.levels(SHOP)["TEE-S", "Warehouse"] == 7
    with pytest.raises(ValueError, match="no 3 refundable"):
        fake.refund(order, {"TEE-S": 3})


def test_edit_order_goes_through_the_same_steps(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant], clock: ManualClock
) -> None:
    order = fake.place_order(SHOP, [("TEE-S", 2)])
    (line,) = fake.order_lines(order)
    added = fake.edit_order(
        order, set_quantities={line.line_id: 3}, add=[("MUG", 1)], at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    )
    assert [li.line_id for li in fake.order_lines(order)] == [line.line_id, *added]
    assert current(fake, order) == [("TEE-S", 2, 3), ("MUG", 1, 1)]
    assert (fake.levels(SHOP)["TEE-S", "Warehouse"], fake.levels(SHOP)["MUG", "Warehouse"]) == (7, 2)
    read = call(client, "query O($id: ID!) { order(id: $id) { updatedAt } }", {"id": order})
    assert read["data"]["order"]["updatedAt"] == "2026-03-02T00:00:00Z"

    before = (fake.levels(SHOP), current(fake, order))
    with pytest.raises(ValueError, match=r"\['quantity'\]: must be greater than or equal to 0"):
        fake.edit_order(order, set_quantities={line.line_id: 5, added[0]: -1})
    with pytest.raises(ValueError, match="MUG was not added because it's already on the order"):
        fake.edit_order(order, add=[("MUG", 1)])
    with pytest.raises(ValueError, match="The line item does not exist on the order"):
        fake.edit_order(order, set_quantities={"gid://shopify/LineItem/424242": 1})
    with pytest.raises(KeyError):
        fake.edit_order(order, add=[("NOPE", 1)])
    assert (fake.levels(SHOP), current(fake, order)) == before  # all or nothing
    # A second line of the same SKU: refunds by SKU take its first line with enough units.
    (again,) = fake.edit_order(order, add=[("MUG", 2)], allow_duplicates=True)
    fake.refund(order, {"MUG": 2}, restock_type="RETURN")
    assert current(fake, order) == [("TEE-S", 2, 3), ("MUG", 1, 1), ("MUG", 2, 0)]
    fake.refund(order, {added[0]: 1}, restock_type="CANCEL")
    assert current(fake, order)[1] == ("MUG", 1, 0)
    assert again != added[0]

    fake.cancel_order(order)
    with pytest.raises(ValueError, match="None: The order cannot be edited"):
        fake.edit_order(order, set_quantities={line.line_id: 1})


def test_unmodelled_order_edits_answer_501(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant]
) -> None:
    url = "/admin/api/2026-10/graphql.json"
    order = fake.place_order(SHOP, [("TEE-S", 2)])
    calculated = begin(client, order)["calculatedOrder"]
    custom = """
    mutation C($id: ID!) {
      orderEditAddCustomItem(
        id: $id, title: "Gift wrap", quantity: 1, price: {amount: "1.00", currencyCode: USD}
      ) {
        userErrors { field message }
      }
    }
    """
    assert client.post(url, json={"query": custom, "variables": {"id": calculated["id"]}}).status_code == 501
    located = EDIT_SET.replace(
        "restock: $restock)", 'restock: $restock, locationId: "gid://shopify/Location/1")'
    )
    line = calculated["lineItems"]["nodes"][0]["id"]
    variables = {"id": calculated["id"], "lineItemId": line, "quantity": 1}
    assert client.post(url, json={"query": located, "variables": variables}).status_code == 501
    # An edit begun before the order changed (a refund meanwhile) is not reconciled here.
    call(client, EDIT_SET, variables)
    fake.refund(order, {"TEE-S": 1})
    stale = client.post(url, json={"query": EDIT_COMMIT, "variables": {"id": calculated["id"]}})
    assert stale.status_code == 501
    assert current(fake, order) == [("TEE-S", 2, 1)]


def test_the_updated_webhook_shows_an_edit(fake: FakeShopify, stock: list[Variant]) -> None:
    order = fake.place_order(SHOP, [("TEE-S", 2)])
    (line,) = fake.order_lines(order)
    fake.edit_order(order, set_quantities={line.line_id: 1}, add=[("MUG", 1)])
    delivery = fake.webhook("orders/updated", order)
    assert delivery.headers["X-Shopify-Topic"] == "orders/updated"
    payload = json.loads(delivery.body)
    assert [(li["sku"], li["quantity"], li["current_quantity"]) for li in payload["line_items"]] == [
        ("TEE-S", 2, 1),
        ("MUG", 1, 1),
    ]


# --- (c) cost and throttling -------------------------------------------------------------------------


def keys(value: Any) -> Any:
    """The shape of a JSON value: its keys, recursively."""
    if isinstance(value, dict):
        return {key: keys(inner) for key, inner in value.items()}
    return type(value).__name__ if value is not None else None


def test_a_drained_bucket_throttles_until_time_restores_it(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant], clock: ManualClock
) -> None:
    fake.create_shop("small", "small-token", bucket_size=30.0, restore_rate=2.0)
    fake.add_product("small", "CAP", stock={"Shop location": 5})
    small = httpx.Client(
        transport=httpx.MockTransport(fake),
        base_url="https://small.myshopify.com",
        headers={"X-Shopify-Access-Token": "small-token"},
    )
    # 30 points: 7 requested and 3 spent on locations, 5 on the variant, 13 on the first set.
    where = call(small, LOCATIONS.replace("50", "5"))["data"]["locations"]["nodes"][0]["id"]
    item = call(small, VARIANTS_BY_SKU.replace("250", "1"), {"query": "sku:CAP"})["data"]["productVariants"]
    item_id = item["nodes"][0]["inventoryItem"]["id"]
    bodies = []
    for n in range(2):
        rows = [{"inventoryItemId": item_id, "locationId": where, "quantity": n, "changeFromQuantity": None}]
        bodies.append(call(small, SET_QUANTITIES, {"input": set_input(rows), "key": f"k{n}"}))
    throttled = bodies[-1]
    available = throttled["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
    assert available == 30 - 3 - 5 - 13
    assert throttled["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert fake.levels("small")["CAP", "Shop location"] == 0
    recorded = next(e for e in SHAPES["examples"] if e["name"] == "throttled")
    assert keys(throttled) == keys(recorded["body"]) | {
        "extensions": {
            "cost": {
                **keys(recorded["body"])["extensions"]["cost"],
                "throttleStatus": {
                    "maximumAvailable": "float",
                    "currentlyAvailable": "int",
                    "restoreRate": "float",
                },
            }
        }
    }
    assert throttled["errors"][0]["message"] == recorded["body"]["errors"][0]["message"]
    assert throttled["extensions"]["cost"]["actualQueryCost"] is None
    assert "data" not in throttled
    assert fake.request_log[-1].throttled

    clock.now += (13 - available) / 2.0
    rows = [{"inventoryItemId": item_id, "locationId": where, "quantity": 2, "changeFromQuantity": None}]
    retried = call(small, SET_QUANTITIES, {"input": set_input(rows), "key": "k1"})
    assert retried["data"]["inventorySetQuantities"]["userErrors"] == []
    assert retried["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 0
    assert fake.levels("small")["CAP", "Shop location"] == 2


def test_the_success_envelope_and_the_refund_of_unused_points(
    client: httpx.Client, stock: list[Variant]
) -> None:
    body = call(client, LOCATIONS)
    recorded = next(e for e in SHAPES["examples"] if e["name"] == "cost extension, bigger query")
    assert set(body) == {"data", "extensions"}
    assert set(body["extensions"]["cost"]) == set(recorded["body_fragment"]["extensions"]["cost"])
    status = body["extensions"]["cost"]["throttleStatus"]
    assert set(status) == set(recorded["body_fragment"]["extensions"]["cost"]["throttleStatus"])
    assert (status["maximumAvailable"], status["restoreRate"]) == (2000.0, 100.0)
    cost = body["extensions"]["cost"]
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (52, 4)
    assert status["currentlyAvailable"] == 2000 - 4  # the requested 52 was taken, 48 given back


def test_throttling_can_answer_429(clock: ManualClock) -> None:
    fake = FakeShopify(SCHEMAS, now=clock, throttle_status=429)
    fake.create_shop("tiny", "t", bucket_size=10.0, restore_rate=1.0)
    with httpx.Client(transport=httpx.MockTransport(fake), headers={"X-Shopify-Access-Token": "t"}) as tiny:
        answer = tiny.post(
            "https://tiny.myshopify.com/admin/api/2026-10/graphql.json", json={"query": LOCATIONS}
        )
    assert answer.status_code == 429
    assert answer.json()["errors"][0]["extensions"]["code"] == "THROTTLED"


def test_faults_are_scripted_per_root_field(
    fake: FakeShopify, client: httpx.Client, stock: list[Variant]
) -> None:
    fake.fail_next("inventorySetQuantities", 503)
    fake.fail_next("inventorySetQuantities", exception=httpx.ReadTimeout("scripted"), applied=True)
    warehouse = location_ids(fake, client)["Warehouse"]
    variables = {"input": set_input([row(stock[0], warehouse, 4, None)]), "key": "k"}
    url = "/admin/api/2026-10/graphql.json"
    assert client.post(url, json={"query": SET_QUANTITIES, "variables": variables}).status_code == 503
    assert fake.levels(SHOP)["TEE-S", "Warehouse"] == 10
    with pytest.raises(httpx.ReadTimeout):
        client.post(url, json={"query": SET_QUANTITIES, "variables": variables})
    assert fake.levels(SHOP)["TEE-S", "Warehouse"] == 4  # applied, then the answer was lost
    retried = call(client, SET_QUANTITIES, variables)  # the same key: nothing applied twice
    assert retried["data"]["inventorySetQuantities"]["userErrors"] == []
    assert fake.count("inventorySetQuantities") == 3
    assert fake.count("locations") == 1


# --- (d) webhooks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda vector: vector["id"])
def test_webhook_hmac_against_the_vectors(vector: dict[str, Any]) -> None:
    computed = webhook_hmac(vector["body"].encode(), vector["secret"])
    if vector["valid"]:
        assert computed == vector["expected_hmac_sha256_base64"]
    else:
        assert not hmac.compare_digest(computed, vector["presented_hmac"])


@pytest.mark.parametrize("topic", ["orders/create", "orders/cancelled", "refunds/create"])
def test_webhook_deliveries_are_signed(fake: FakeShopify, stock: list[Variant], topic: WebhookTopic) -> None:
    order = fake.place_order(SHOP, [("TEE-S", 1), ("MUG", 1)])
    if topic == "orders/cancelled":
        fake.cancel_order(order, reason="INVENTORY")
    if topic == "refunds/create":
        fake.refund(order, {"MUG": 1}, restock_type="NO_RESTOCK")
    delivery = fake.webhook(topic, order)
    names = VECTORS["header_names"]["webhooks"]
    for key in ("hmac", "topic", "domain", "api_version", "webhook_id", "triggered_at"):
        assert names[key] in delivery.headers
    assert delivery.headers[names["hmac"]] == webhook_hmac(delivery.body, SECRET)
    assert delivery.headers[names["topic"]] == topic
    assert delivery.headers[names["domain"]] == SHOP
    payload = json.loads(delivery.body)
    if topic == "refunds/create":
        (line,) = payload["refund_line_items"]
        assert (line["restock_type"], line["quantity"], line["line_item"]["sku"]) == ("no_restock", 1, "MUG")
        assert payload["restock"] is False
    else:
        assert payload["admin_graphql_api_id"] == order
        assert [li["sku"] for li in payload["line_items"]] == ["TEE-S", "MUG"]
        assert (payload["cancel_reason"] is None) == (topic == "orders/create")
        assert set(payload["line_items"][0]) >= {"id", "sku", "quantity", "variant_id"}


# --- (e) over loopback --------------------------------------------------------------------------------


def test_over_loopback_with_a_plain_client(fake: FakeShopify, stock: list[Variant]) -> None:
    with serve(fake) as base, httpx.Client(base_url=base, headers={"X-Shopify-Access-Token": TOKEN}) as plain:
        found = call(plain, VARIANTS_BY_SKU, {"query": "sku:MUG"})
        assert found["data"]["productVariants"]["nodes"][0]["sku"] == "MUG"
        refused = plain.post(
            "/admin/api/2026-10/graphql.json",
            json={"query": LOCATIONS},
            headers={"X-Shopify-Access-Token": "wrong"},
        )
        assert refused.status_code == 401


def test_deliver_posts_the_signed_body(fake: FakeShopify, stock: list[Variant]) -> None:
    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        signature = request.headers["X-Shopify-Hmac-Sha256"]
        ok = hmac.compare_digest(signature, webhook_hmac(request.content, SECRET))
        return httpx.Response(200 if ok else 401)

    order = fake.place_order(SHOP, [("TEE-L", 1)])
    with serve(receiver) as base:
        answer = fake.deliver(f"{base}/webhooks/shopify", "orders/create", order)
    assert answer.status_code == 200
    assert received[0].headers["X-Shopify-Topic"] == "orders/create"


SETUP = """
query Setup($topics: [WebhookSubscriptionTopic!]) {
  currentAppInstallation { accessScopes { handle } }
  webhookSubscriptions(first: 10, topics: $topics) { nodes { topic uri format } }
}
"""


def test_the_apps_scopes_and_own_webhook_subscriptions_are_listed(clock: ManualClock) -> None:
    fake = FakeShopify(SCHEMAS, now=clock, app_secret=SECRET)
    fake.create_shop(SHOP, TOKEN, scopes=["read_orders", "write_inventory"])
    created = fake.subscribe(SHOP, "ORDERS_CREATE", "https://sync.example.com/webhooks/shopify/shop")
    fake.subscribe(SHOP, "REFUNDS_CREATE", "https://sync.example.com/webhooks/shopify/shop")
    headers = {"X-Shopify-Access-Token": TOKEN}
    with httpx.Client(
        transport=httpx.MockTransport(fake), base_url=f"https://{SHOP}", headers=headers
    ) as client:
        data = call(client, SETUP, {"topics": ["ORDERS_CREATE"]})["data"]
        assert data["currentAppInstallation"]["accessScopes"] == [
            {"handle": "read_orders"},
            {"handle": "write_inventory"},
        ]
        assert data["webhookSubscriptions"]["nodes"] == [
            {
                "topic": "ORDERS_CREATE",
                "uri": "https://sync.example.com/webhooks/shopify/shop",
                "format": "JSON",
            }
        ]
        fake.unsubscribe(SHOP, created)
        assert (
            call(client, SETUP, {"topics": ["ORDERS_CREATE"]})["data"]["webhookSubscriptions"]["nodes"] == []
        )
        assert len(call(client, SETUP)["data"]["webhookSubscriptions"]["nodes"]) == 1


def test_product_variants_count_is_exact_up_to_its_limit_then_at_least(
    client: httpx.Client, stock: list[Variant]
) -> None:
    query = "query($limit: Int) { productVariantsCount(limit: $limit) { count precision } }"

    default = call(client, "{ productVariantsCount { count precision } }")["data"]["productVariantsCount"]
    capped = call(client, query, {"limit": 3})["data"]["productVariantsCount"]
    unlimited = call(client, query, {"limit": None})["data"]["productVariantsCount"]

    assert default == {"count": 5, "precision": "EXACT"}
    assert capped == {"count": 3, "precision": "AT_LEAST"}
    assert unlimited == {"count": 5, "precision": "EXACT"}
