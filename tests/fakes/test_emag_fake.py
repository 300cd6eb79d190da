"""FakeEmag replays eMAG's documented examples and keeps its documented rules.

The examples are those of eMAG's API documentation v4.4.9, kept in
``sheetsync_fakes/reference/marketplaces/emag/`` (see its README for their source).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sheetsync_fakes import REFERENCE
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.emag import (
    CANCELED,
    FINALIZED,
    IN_PROGRESS,
    PREPARED,
    RETURNED,
    STATUS_MATRIX,
    FakeEmag,
)

EXAMPLES = REFERENCE / "marketplaces" / "emag"
USER, PASSWORD = "seller@shop.example", "secret-4242"
API = "https://marketplace-api.emag.ro/api-3"
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC).timestamp()


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def fake(clock: ManualClock) -> FakeEmag:
    return FakeEmag(username=USER, password=PASSWORD, now=clock)


def auth(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def call(
    fake: FakeEmag,
    route: str,
    body: Any = None,
    *,
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    sent = {**auth(), **(headers or {})}
    if content is None and body is not None:
        content = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    return fake(httpx.Request(method, f"{API}/{route}", headers=sent, content=content or b""))


# --- the light offer API (offer/save) -------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        "basic_price_update",
        "stock_and_status_update",
        "comprehensive_offer_update",
        "deactivate_with_zero_stock",
    ],
)
def test_the_documented_light_offer_requests_are_taken(fake: FakeEmag, clock: ManualClock, case: str) -> None:
    documented = example("offer_save_light_api.json")
    fake.add_offer(243409, stock=3)
    request = documented["requests"][case]
    answer = call(fake, "offer/save", request)
    assert answer.status_code == 200
    shape = documented["responses"]["success_200"]
    expected = {
        **shape,
        "results": {"243409": {"isError": False, "messages": ["Offer 243409 updated successfully"]}},
    }
    assert answer.json() == expected
    stock = request[0].get("stock")
    if stock:
        assert fake.stock(243409) == stock[0]["value"]
    clock.sleep(1)


def test_a_failing_offer_answers_as_documented_inside_is_error_false(fake: FakeEmag) -> None:
    documented = example("offer_save_light_api.json")["responses"]["per_offer_error"]
    fake.add_offer(1235122, stock=4)
    answer = call(fake, "offer/save", [{"id": 1235122, "stock": [{"warehouse_id": 1, "value": "abc"}]}])
    assert answer.json() == documented
    assert fake.stock(1235122) == 4


def test_negative_and_decimal_stock_give_their_own_documented_messages(
    fake: FakeEmag, clock: ManualClock
) -> None:
    fake.add_offer(1, stock=4)
    negative = call(fake, "offer/save", [{"id": 1, "stock": [{"warehouse_id": 1, "value": -1}]}])
    assert negative.json()["results"]["1"] == {"isError": True, "messages": ["Stock should be 0 or more"]}
    clock.sleep(1)
    decimal = call(fake, "offer/save", [{"id": 1, "stock": [{"warehouse_id": 1, "value": 1.5}]}])
    assert len(decimal.json()["results"]["1"]["messages"]) == 2


def test_a_save_holds_at_most_50_offers_and_4000_elements(fake: FakeEmag, clock: ManualClock) -> None:
    for number in range(1, 52):
        fake.add_offer(number)
    too_many = call(
        fake, "offer/save", [{"id": n, "stock": [{"warehouse_id": 1, "value": 1}]} for n in range(1, 52)]
    )
    assert too_many.json()["isError"] is True
    clock.sleep(1)
    huge = call(fake, "product_offer/read", {"data": {"x": list(range(4001))}})
    assert huge.json() == {
        "isError": True,
        "messages": ["Maximum input vars of 4000 exceeded"],
        "results": [],
    }


def test_the_light_api_cannot_create_offers_and_unknown_fields_are_refused(fake: FakeEmag) -> None:
    fake.add_offer(1)
    answer = call(fake, "offer/save", [{"id": 2, "stock": []}, {"id": 1, "stok": []}]).json()
    assert answer["isError"] is False
    assert answer["results"]["2"]["isError"] is True
    assert answer["results"]["1"] == {"isError": True, "messages": ["Unknown field stok"]}


# --- offer_stock PATCH ---------------------------------------------------------------------------


def test_the_documented_offer_stock_answers(fake: FakeEmag, clock: ManualClock) -> None:
    documented = {case["case"]: case for case in example("offer_stock_patch.json")["responses"]}
    fake.add_offer(55, stock=1)

    def patch(path: str, body: Any) -> httpx.Response:
        clock.sleep(1)
        return call(fake, path, body, method="PATCH")

    cases = {
        "Request processed": patch("offer_stock/55", {"stock": 21}),
        "Invalid url": patch("offer_stock/abc", {"stock": 21}),
        "Offer / resource does not exist": patch("offer_stock/56", {"stock": 21}),
        "Invalid request content": patch("offer_stock/55", {"stock": "many"}),
    }
    fake.start_campaign(55, "BF")
    cases["Flow validations"] = patch("offer_stock/55", {"stock": 3})
    fake.api_rights = False
    cases["Not authorized"] = patch("offer_stock/55", {"stock": 3})
    for name, answer in cases.items():
        assert answer.status_code == documented[name]["status"], name
        body = documented[name]["body"]
        assert (answer.json() if body is not None else answer.content) == (
            body if body is not None else b""
        ), name
    assert fake.stock(55) == 21


# --- rate limits -----------------------------------------------------------------------------------


def test_past_3_a_second_the_documented_429(fake: FakeEmag, clock: ManualClock) -> None:
    documented = example("rate_limit_429_and_200.json")
    answers = [call(fake, "product_offer/read", {"data": {}}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].json() == documented["throttled"]["body"]
    for answer, case in ((answers[0], "not_throttled"), (answers[3], "throttled")):
        names = {k for k in documented[case]["headers"] if k.startswith("X-RateLimit")}
        assert {n.lower() for n in names} <= {k.lower() for k in answer.headers}
    clock.sleep(1)
    assert call(fake, "product_offer/read", {"data": {}}).status_code == 200


def test_non_order_routes_share_one_bucket_and_orders_have_their_own(
    fake: FakeEmag, clock: ManualClock
) -> None:
    fake.add_offer(1, stock=1)
    assert call(fake, "offer_stock/1", {"stock": 2}, method="PATCH").status_code == 204
    assert call(fake, "rma/read", {"data": {}}).status_code == 200
    assert call(fake, "vat/read", {"data": {}}).status_code == 501  # not modelled, but counted
    assert call(fake, "product_offer/read", {"data": {}}).status_code == 429
    assert [call(fake, "order/read", {"data": {}}).status_code for _ in range(13)] == [200] * 12 + [429]
    assert fake.throttled == 2


def test_invalid_requests_count_and_the_minute_limit_holds(fake: FakeEmag, clock: ManualClock) -> None:
    for _ in range(60):
        assert call(fake, "product_offer/read", {"data": {"nope": 1}}).json()["isError"] is True
        assert call(fake, "product_offer/read", {"data": {}}).status_code == 200
        assert call(fake, "product_offer/read", {"data": {}}).status_code == 200
        clock.sleep(1.0)
    # 180 in the last minute: the next one waits even though its second is free
    limited = FakeEmag(
        username=USER, password=PASSWORD, now=clock, limits={"other": (1000, 5), "orders": (12, 720)}
    )
    assert [call(limited, "rma/read", {"data": {}}).status_code for _ in range(6)] == [200] * 5 + [429]


# --- requests and auth -----------------------------------------------------------------------------


def test_bad_credentials_and_the_allow_list(fake: FakeEmag) -> None:
    wrong = fake(httpx.Request("POST", f"{API}/order/read", headers=auth(password="x"), json={"data": {}}))
    assert wrong.status_code == 401
    assert wrong.json()["isError"] is True
    fake.ip_allowed = False
    assert call(fake, "order/read", {"data": {}}).status_code == 403
    assert all(PASSWORD not in str(entry) for entry in fake.request_log)


def test_read_filters_are_checked(fake: FakeEmag, clock: ManualClock) -> None:
    bad = [
        {"itemsPerPage": 101},
        {"currentPage": 0},
        {"modifiedBefore": "2026-11-27 10:00:00"},
        {"modifiedAfter": "2026-10-01 10:00:00", "modifiedBefore": "2026-11-27 10:00:00"},
        {"modifiedAfter": "2026-11-27T10:00:00Z"},
        {"modified_after": "2026-11-27 10:00:00"},
        {"type": 1},
    ]
    for data in bad:
        assert call(fake, "order/read", {"data": data}).json()["isError"] is True, data
    assert call(fake, "order/read", {"nodata": 1}).json()["isError"] is True
    assert (
        call(
            fake,
            "order/read",
            content=b"data=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ).status_code
        == 501
    )
    assert call(fake, "product_offer/read", {"data": {"general_stock": 1}}).status_code == 501
    assert call(fake, "nothing/here", {"data": {}}).json() == {"message": "Invalid URL"}


# --- orders ----------------------------------------------------------------------------------------


def test_an_order_reads_in_the_documented_shape(fake: FakeEmag) -> None:
    documented = example("order_update_order_read_shape.json")["order"]
    fake.add_offer(1264, stock=5, part_number="68133")
    order_id = fake.place_order([(1264, 1)])
    [order] = call(fake, "order/read", {"data": {"id": order_id}}).json()["results"]
    assert set(documented) <= set(order)
    assert set(documented["products"][0]) <= set(order["products"][0])
    assert {"modified", "type"} <= set(order)
    assert order["date"] == "2026-11-27 11:00:00"  # site time (Bucharest), no zone
    assert order["products"][0]["part_number"] == "68133"


def test_orders_page_and_filter_by_modification_in_site_time(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=500)
    first = [fake.place_order([(1, 1)]) for _ in range(150)]
    clock.sleep(3600)
    later = fake.place_order([(1, 1)])
    pages = [
        call(fake, "order/read", {"data": {"currentPage": p, "itemsPerPage": 100}}).json()["results"]
        for p in (1, 2)
    ]
    assert [len(p) for p in pages] == [100, 51]
    recent = call(fake, "order/read", {"data": {"modifiedAfter": "2026-11-27 11:30:00"}}).json()["results"]
    assert [o["id"] for o in recent] == [later]
    assert call(fake, "order/count", {"data": {}}).json()["results"] == {"noOfItems": 151, "noOfPages": 2}
    assert first[0] < later


def test_the_status_matrix_is_the_documented_one() -> None:
    documented = example("emag_api_v449_reference.json")["order"]["status_matrix"]
    for source, targets in documented.items():
        if source.startswith("_"):
            continue
        for target, rule in targets.items():
            ours = STATUS_MATRIX[int(source)].get(int(target))
            assert (ours is not None) == rule.startswith("Yes"), (source, target)
            if ours is not None and source != target:
                assert ("48h" in rule) == (ours == "48h"), (source, target)
                assert ("ACK" in rule) == (ours == "ack"), (source, target)


def test_acknowledging_is_the_only_way_from_new_and_moves_the_stock(
    fake: FakeEmag, clock: ManualClock
) -> None:
    fake.add_offer(1, stock=10)
    order = fake.place_order([(1, 3)])
    assert (fake.stock(1), fake.estimated_stock(1)) == (10, 7)
    with pytest.raises(ValueError, match="not allowed"):
        fake.set_status(order, IN_PROGRESS)
    assert call(fake, f"order/acknowledge/{order}", None).json() == {
        "isError": False,
        "messages": [],
        "results": [],
    }
    assert fake.order(order)["status"] == IN_PROGRESS
    assert (fake.stock(1), fake.estimated_stock(1)) == (7, 7)
    assert call(fake, f"order/acknowledge/{order}", None).json()["isError"] is True


def test_cancellations_release_or_restock(clock: ManualClock) -> None:
    for restock in (True, False):
        fake = FakeEmag(username=USER, password=PASSWORD, now=clock, restock_on_cancel=restock)
        fake.add_offer(1, stock=10)
        new = fake.place_order([(1, 2)])
        fake.cancel(new)
        assert fake.estimated_stock(1) == 10  # a reservation is always released
        taken = fake.place_order([(1, 3)])
        fake.acknowledge(taken)
        fake.cancel(taken)
        assert fake.stock(1) == (10 if restock else 7)


def test_the_48_hour_rules(fake: FakeEmag, clock: ManualClock) -> None:
    fake.add_offer(1, stock=10)
    order = fake.place_order([(1, 1)])
    fake.acknowledge(order)
    fake.set_status(order, FINALIZED)
    fake.set_status(order, PREPARED)  # within 48 h
    fake.set_status(order, FINALIZED)
    clock.sleep(49 * 3600)
    with pytest.raises(ValueError, match="48 hours"):
        fake.set_status(order, CANCELED)
    fake.set_status(order, RETURNED)
    with pytest.raises(ValueError, match="not allowed"):
        fake.set_status(order, FINALIZED)
    other = fake.place_order([(1, 1)])
    fake.acknowledge(other)
    fake.set_status(other, CANCELED)
    fake.set_status(other, IN_PROGRESS)  # taken back within 48 h
    assert fake.stock(1) == 8


def test_lines_change_only_in_2_or_3_and_not_down_on_card_orders(fake: FakeEmag) -> None:
    fake.add_offer(1, stock=10)
    order = fake.place_order([(1, 2)])
    line = fake.order(order)["products"][0]["id"]
    with pytest.raises(ValueError, match="only in 2 or 3"):
        fake.edit_line(order, line, 3)
    fake.edit_line(order, line, 3, by_staff=True)  # eMAG staff, before acknowledgement
    assert fake.estimated_stock(1) == 7
    fake.acknowledge(order)
    fake.edit_line(order, line, 1)
    assert fake.stock(1) == 9
    card = fake.place_order([(1, 2)], payment_mode_id=3)
    fake.acknowledge(card)
    with pytest.raises(ValueError, match="online card"):
        fake.edit_line(card, fake.order(card)["products"][0]["id"], 1)


def test_a_storno_needs_a_finalized_order_and_ends_in_returned(fake: FakeEmag) -> None:
    fake.add_offer(1, stock=10)
    order = fake.place_order([(1, 2)])
    fake.acknowledge(order)
    line = fake.order(order)["products"][0]["id"]
    with pytest.raises(ValueError, match="finalized"):
        fake.storno(order, line, 1)
    fake.set_status(order, FINALIZED)
    fake.storno(order, line, 1)
    shown = fake.order(order)
    assert (shown["status"], shown["products"][0]["quantity"], shown["products"][0]["storno_qty"]) == (
        4,
        1,
        1,
    )
    fake.storno(order, line, 1)
    assert fake.order(order)["status"] == RETURNED
    assert fake.stock(1) == 8  # returns put nothing back by themselves (an assumption)


def test_orders_fulfilled_by_emag_are_read_only_with_type_2(fake: FakeEmag) -> None:
    fake.add_offer(1, stock=10)
    fbe = fake.place_order([(1, 1)], order_type=2)
    assert call(fake, "order/read", {"data": {}}).json()["results"] == []
    assert [o["id"] for o in call(fake, "order/read", {"data": {"type": 2}}).json()["results"]] == [fbe]
    assert fake.estimated_stock(1) == 10


# --- RMA -------------------------------------------------------------------------------------------


def test_the_documented_rma_reads(fake: FakeEmag, clock: ManualClock) -> None:
    found, empty = example("rma_read.json")["examples"]
    fake.load_rma(found["response"]["results"][0], request_id=int(found["request"]["data"]["id"]))
    assert call(fake, "rma/read", found["request"]).json() == found["response"]
    clock.sleep(1)
    assert call(fake, "rma/read", empty["request"]).json() == empty["response"]


def test_rma_statuses_follow_their_matrix(fake: FakeEmag) -> None:
    fake.add_offer(1, stock=5)
    order = fake.place_order([(1, 1)])
    emag_id = fake.add_rma(order, [(1, 1)])
    fake.set_rma_status(emag_id, 3)
    with pytest.raises(ValueError, match="not allowed"):
        fake.set_rma_status(emag_id, 7)
    fake.set_rma_status(emag_id, 6)
    fake.set_rma_status(emag_id, 7)
    [read] = call(fake, "rma/read", {"data": {"order_id": order}}).json()["results"]
    assert (read["emag_id"], read["request_status"], read["return_type"]) == (emag_id, 7, 3)


def test_an_offer_read_shows_the_products_name_when_it_has_one(fake: FakeEmag) -> None:
    fake.add_offer(7, stock=2, part_number="PN-7", name="Desk lamp")
    fake.add_offer(8, stock=1)

    results = call(fake, "product_offer/read", {"data": {"currentPage": 1, "itemsPerPage": 10}}).json()[
        "results"
    ]

    assert [(o["id"], o["part_number"], o.get("name")) for o in results] == [
        (7, "PN-7", "Desk lamp"),
        (8, "PN8", None),
    ]
