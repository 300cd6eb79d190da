"""FakeAmazon against the reference: the models' sandbox examples replayed, the feed schemas, the limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypedDict

import httpx
import pytest
from sheetsync_fakes.amazon import QUOTA_EXCEEDED, FakeAmazon, example, reference, usage_plans, validate
from sheetsync_fakes.clock import ManualClock

START = datetime(2026, 11, 27, 9, tzinfo=UTC).timestamp()
SELLER = "A2SELLER01"
MARKET = "ATVPDKIKX0DER"


class Login(TypedDict):
    """The app's Login with Amazon credentials, as FakeAmazon takes them."""

    client_id: str
    client_secret: str
    refresh_token: str


LOGIN: Login = {"client_id": "amzn1.app", "client_secret": "app-secret", "refresh_token": "Atzr|refresh"}
HOST = "https://sellingpartnerapi-na.amazon.com"


class Seller:
    """A fake, its clock and an authenticated client (the token fetched once)."""

    def __init__(self, **options: Any) -> None:
        self.clock = ManualClock(START)
        self.fake = FakeAmazon(seller_id=SELLER, now=self.clock, **LOGIN, **options)
        self.http = httpx.Client(transport=httpx.MockTransport(self.fake), base_url=HOST)
        answer = self.http.post(
            "https://api.amazon.com/auth/o2/token", data={"grant_type": "refresh_token", **LOGIN}
        )
        assert answer.status_code == 200
        self.token = answer.json()["access_token"]

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers={"x-amz-access-token": self.token}, **kwargs)


def fits(value: Any, model: str, definition: str) -> list[str]:
    root = reference(model)
    return validate(value, root["definitions"][definition], root)


FEEDS = "model_feeds_2021-06-30.json"
LISTINGS = "model_listingsItems_2021-08-01.json"
ORDERS = "model_orders_2026-01-01.json"


@pytest.mark.parametrize(
    ("name", "method", "path", "kwargs"),
    [
        ("createFeedDocument_400", "POST", "/feeds/2021-06-30/documents", {"json": {}}),
        (
            "createFeed_400",
            "POST",
            "/feeds/2021-06-30/feeds",
            {
                "json": {
                    "marketplaceIds": ["ATVPDKIKX0DER", "A1F83G8C2ARO7P"],
                    "inputFeedDocumentId": "badDocumentId",
                }
            },
        ),
        ("getFeed_400", "GET", "/feeds/2021-06-30/feeds/badFeedId1", {}),
        ("getFeedDocument_400", "GET", "/feeds/2021-06-30/documents/badDocumentId1", {}),
        (
            "searchListingsItems_400",
            "GET",
            "/listings/2021-08-01/items/SellerId",
            {"params": {"marketplaceIds": "invalid"}},
        ),
        (
            "patchListingsItem_400",
            "PATCH",
            f"/listings/2021-08-01/items/{SELLER}/BadSKU",
            {"params": {"marketplaceIds": MARKET}},
        ),
    ],
)
def test_the_documented_bad_requests_are_refused_as_documented(
    name: str, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    seller = Seller()
    documented = example(name)
    answer = seller.call(method, path, **kwargs)
    assert answer.status_code == documented["http_status"] == 400
    body = answer.json()
    assert fits(body, FEEDS, "ErrorList") == []
    assert [e["message"] for e in body["errors"]] == [
        e["message"] for e in documented["examples"][0]["response"]["errors"]
    ]


def test_a_feed_flow_answers_in_the_documented_shapes() -> None:
    seller = Seller(gzip_reports=True)
    seller.fake.add_listing("My-SKU-D", quantity=1, product_type="LUGGAGE")
    seller.fake.add_listing("My-SKU-E", quantity=1, product_type="LUGGAGE")
    created = seller.call(
        "POST", "/feeds/2021-06-30/documents", json={"contentType": "application/json; charset=UTF-8"}
    )
    assert created.status_code == example("createFeedDocument_201")["http_status"]
    assert set(created.json()) == set(example("createFeedDocument_201")["examples"][0]["response"])
    # The documented listings feed, sent for this seller: two PATCH messages apply, the rest are
    # a DELETE and an UPDATE (not modelled, so refused per message), and an unknown SKU.
    document = reference("example_listings-feed-v2.json")
    assert (
        validate(
            document, reference("schema_listings-feed-v2.json"), reference("schema_listings-feed-v2.json")
        )
        == []
    )
    document["header"]["sellerId"] = SELLER
    upload = seller.http.put(
        created.json()["url"],
        content=json.dumps(document),
        headers={"Content-Type": "application/json; charset=UTF-8"},
    )
    assert upload.status_code == 200
    spec = {
        "feedType": "JSON_LISTINGS_FEED",
        "marketplaceIds": [MARKET],
        "inputFeedDocumentId": created.json()["feedDocumentId"],
    }
    feed = seller.call("POST", "/feeds/2021-06-30/feeds", json=spec)
    assert feed.status_code == example("createFeed_202")["http_status"]
    assert set(feed.json()) == set(example("createFeed_202")["examples"][0]["response"])
    path = f"/feeds/2021-06-30/feeds/{feed.json()['feedId']}"
    assert seller.call("GET", path).json()["processingStatus"] == "IN_QUEUE"
    seller.clock.sleep(seller.fake.processing_delay_s)
    status = seller.call("GET", path).json()
    assert fits(status, FEEDS, "Feed") == []
    assert status["processingStatus"] == "DONE"
    assert set(status) <= set(example("getFeed_200")["examples"][0]["response"]) | {
        "marketplaceIds",
        "resultFeedDocumentId",
    }
    meta = seller.call("GET", f"/feeds/2021-06-30/documents/{status['resultFeedDocumentId']}").json()
    assert fits(meta, FEEDS, "FeedDocument") == []
    assert meta["compressionAlgorithm"] == "GZIP"
    import gzip

    report = json.loads(gzip.decompress(seller.http.get(meta["url"]).content))
    schema = reference("schema_listings-feed-processing-report-v2.json")
    assert validate(report, schema, schema) == []
    documented_report = reference("example_listings-feed-processing-report-v2.json")
    assert validate(documented_report, schema, schema) == []
    assert report["summary"]["messagesAccepted"] == 2  # messages 4 and 5: My-SKU-D, My-SKU-E
    assert {issue["messageId"] for issue in report["issues"]} == {1, 2, 3}
    assert seller.fake.quantity("My-SKU-D") == seller.fake.quantity("My-SKU-E") == 10


def test_patch_answers_accepted_valid_or_invalid_as_documented() -> None:
    seller = Seller()
    seller.fake.add_listing("GM-ZDPI-9B4E", quantity=3, product_type="LUGGAGE")
    body = {
        "productType": "LUGGAGE",
        "patches": [
            {
                "op": "replace",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 8}],
            }
        ],
    }
    path = f"/listings/2021-08-01/items/{SELLER}/GM-ZDPI-9B4E"
    preview = seller.call(
        "PATCH", path, params={"marketplaceIds": MARKET, "mode": "VALIDATION_PREVIEW"}, json=body
    )
    assert preview.json()["status"] == "VALID"
    assert seller.fake.quantity("GM-ZDPI-9B4E") == 3
    accepted = seller.call("PATCH", path, params={"marketplaceIds": MARKET}, json=body).json()
    documented = example("patchListingsItem_200")["examples"][0]["response"]
    assert set(accepted) == set(documented)
    assert fits(accepted, LISTINGS, "ListingsItemSubmissionResponse") == []
    assert accepted["status"] == "ACCEPTED"
    assert seller.fake.quantity("GM-ZDPI-9B4E") == 8
    seller.fake.set_fba("GM-ZDPI-9B4E", 40)
    invalid = seller.call("PATCH", path, params={"marketplaceIds": MARKET}, json=body)
    assert invalid.status_code == 200
    assert invalid.json()["status"] == "INVALID"
    assert fits(invalid.json(), LISTINGS, "ListingsItemSubmissionResponse") == []
    assert seller.fake.quantity("GM-ZDPI-9B4E") == 40


def test_search_listings_by_sku_in_the_documented_shape() -> None:
    seller = Seller()
    seller.fake.add_listing("A", quantity=2)
    seller.fake.add_listing("B", quantity=5, fba=True)
    seller.fake.add_listing("C")
    answer = seller.call(
        "GET",
        f"/listings/2021-08-01/items/{SELLER}",
        params={
            "marketplaceIds": MARKET,
            "identifiers": "A,B,C,Z",
            "identifiersType": "SKU",
            "includedData": "summaries,fulfillmentAvailability",
        },
    ).json()
    assert fits(answer, LISTINGS, "ItemSearchResults") == []
    documented = example("searchListingsItems_200")["examples"][0]["response"]["items"][0]
    for item in answer["items"]:
        assert set(item) <= set(documented) | {"fulfillmentAvailability"}
    shown = {item["sku"]: item["fulfillmentAvailability"] for item in answer["items"]}
    assert shown == {
        "A": [{"fulfillmentChannelCode": "DEFAULT", "quantity": 2}],
        "B": [{"fulfillmentChannelCode": "AMAZON_NA", "quantity": 5}],
        "C": [],
    }
    too_many = ",".join(str(n) for n in range(21))
    refused = seller.call(
        "GET",
        f"/listings/2021-08-01/items/{SELLER}",
        params={"marketplaceIds": MARKET, "identifiers": too_many, "identifiersType": "SKU"},
    )
    assert refused.status_code == 400


def test_unknown_parameters_are_refused_stricter_than_amazon() -> None:
    seller = Seller()
    answer = seller.call(
        "GET", f"/listings/2021-08-01/items/{SELLER}", params={"marketplaceIds": MARKET, "sku": "A"}
    )
    assert answer.status_code == 400
    assert "unknown parameter" in answer.json()["errors"][0]["details"]


def test_each_operation_has_its_usage_plan_and_429_says_quota_exceeded() -> None:
    seller = Seller()
    rate, burst = usage_plans()["getFeed"]
    assert (rate, burst) == (2.0, 15)
    answers = [seller.call("GET", "/feeds/2021-06-30/feeds/1") for _ in range(burst + 1)]
    assert [a.status_code for a in answers[:burst]] == [400] * burst  # refused requests count too
    assert answers[-1].status_code == 429
    assert answers[-1].json() == {"errors": [QUOTA_EXCEEDED]}
    assert "x-amzn-RequestId" in answers[-1].headers
    assert "x-amzn-RateLimit-Limit" not in answers[-1].headers
    # another operation has its own bucket; this one refills at its rate
    assert seller.call("POST", "/feeds/2021-06-30/documents", json={"contentType": "x"}).status_code == 201
    seller.clock.sleep(1 / rate)
    assert seller.call("GET", "/feeds/2021-06-30/feeds/1").status_code == 400
    assert sum(1 for entry in seller.fake.request_log if entry.throttled) == 1


def test_listings_feeds_are_five_in_five_minutes() -> None:
    seller = Seller()

    def submit() -> int:
        document = seller.call(
            "POST", "/feeds/2021-06-30/documents", json={"contentType": "text/plain"}
        ).json()
        spec = {
            "feedType": "JSON_LISTINGS_FEED",
            "marketplaceIds": [MARKET],
            "inputFeedDocumentId": document["feedDocumentId"],
        }
        return seller.call("POST", "/feeds/2021-06-30/feeds", json=spec).status_code

    assert [submit() for _ in range(6)] == [202] * 5 + [429]
    seller.clock.sleep(300)
    assert submit() == 202


def test_lwa_refusals_and_expired_tokens() -> None:
    seller = Seller()
    token_url = "https://api.amazon.com/auth/o2/token"
    wrong = seller.http.post(
        token_url, data={**LOGIN, "grant_type": "refresh_token", "client_secret": "nope"}
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    revoked = seller.http.post(
        token_url, data={**LOGIN, "grant_type": "refresh_token", "refresh_token": "Atzr|other"}
    )
    assert revoked.json()["error"] == "invalid_grant"
    assert seller.call("POST", "/feeds/2021-06-30/documents", json={"contentType": "x"}).status_code == 201
    seller.clock.sleep(seller.fake.token_ttl_s)
    expired = seller.call("POST", "/feeds/2021-06-30/documents", json={"contentType": "x"})
    assert expired.status_code == 403
    assert fits(expired.json(), FEEDS, "ErrorList") == []


def test_presigned_urls_expire_and_check_the_content_type() -> None:
    seller = Seller()
    document = seller.call(
        "POST", "/feeds/2021-06-30/documents", json={"contentType": "application/json"}
    ).json()
    assert (
        seller.http.put(document["url"], content=b"{}", headers={"Content-Type": "text/plain"}).status_code
        == 403
    )
    seller.clock.sleep(301)
    assert (
        seller.http.put(
            document["url"], content=b"{}", headers={"Content-Type": "application/json"}
        ).status_code
        == 403
    )


def test_a_legacy_feed_type_ends_fatal() -> None:
    seller = Seller()
    document = seller.call("POST", "/feeds/2021-06-30/documents", json={"contentType": "text/xml"}).json()
    seller.http.put(document["url"], content=b"<x/>", headers={"Content-Type": "text/xml"})
    spec = {
        "feedType": "POST_PRODUCT_DATA",
        "marketplaceIds": [MARKET],
        "inputFeedDocumentId": document["feedDocumentId"],
    }
    feed = seller.call("POST", "/feeds/2021-06-30/feeds", json=spec).json()
    seller.clock.sleep(seller.fake.processing_delay_s)
    assert (
        seller.call("GET", f"/feeds/2021-06-30/feeds/{feed['feedId']}").json()["processingStatus"] == "FATAL"
    )


def test_search_orders_follows_the_documented_parameter_rules() -> None:
    seller = Seller()
    seller.fake.add_listing("A", quantity=500)
    for _ in range(3):
        seller.fake.place_order([("A", 1)])
    seller.clock.sleep(600)
    path = "/orders/2026-01-01/orders"
    after = "2026-11-27T08:00:00Z"
    assert seller.call("GET", path, params={"marketplaceIds": MARKET}).status_code == 400
    both = {"createdAfter": after, "lastUpdatedAfter": after}
    assert seller.call("GET", path, params=both).status_code == 400
    too_recent = {"lastUpdatedAfter": after, "lastUpdatedBefore": FakeAmazon.stamp(seller.clock() - 60)}
    assert seller.call("GET", path, params=too_recent).status_code == 400
    assert (
        seller.call("GET", path, params={"lastUpdatedAfter": after, "maxResultsPerPage": 101}).status_code
        == 400
    )
    first = seller.call("GET", path, params={"lastUpdatedAfter": after, "maxResultsPerPage": 2}).json()
    assert fits(first, ORDERS, "SearchOrdersResponse") == []
    assert len(first["orders"]) == 2
    assert "fulfillment" not in first["orders"][0]  # only with includedData=FULFILLMENT
    token = first["pagination"]["nextToken"]
    changed = {"lastUpdatedAfter": after, "maxResultsPerPage": 3, "paginationToken": token}
    assert seller.call("GET", path, params=changed).status_code == 400
    rest = seller.call(
        "GET", path, params={"lastUpdatedAfter": after, "maxResultsPerPage": 2, "paginationToken": token}
    )
    assert len(rest.json()["orders"]) == 1
    assert "pagination" not in rest.json()
    documented = reference(ORDERS)["paths"][path]["get"]["responses"]["200"]["examples"]["application/json"]
    assert fits(documented, ORDERS, "SearchOrdersResponse") == []
    full = seller.call(
        "GET", path, params={"lastUpdatedAfter": after, "includedData": "FULFILLMENT,CANCELLATION"}
    ).json()
    order, shown = full["orders"][0], documented["orders"][0]
    assert set(order) <= set(shown)
    assert set(order["orderItems"][0]) <= set(shown["orderItems"][0])
    assert order["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"


def test_orders_move_merchant_stock_and_cancellations_put_it_back() -> None:
    seller = Seller()
    seller.fake.add_listing("A", quantity=5)
    order = seller.fake.place_order([("A", 2)])
    assert seller.fake.quantity("A") == 3
    seller.fake.cancel(order)
    assert seller.fake.quantity("A") == 5
    amazons = seller.fake.place_order([("A", 1)], fulfilled_by="AMAZON")
    assert seller.fake.quantity("A") == 5
    assert amazons
