"""GoogleMerchantChannel against FakeMerchant: flips only, store quantities, flags, quota, secrets.

The real adapter talks to the fake through httpx.MockTransport (and once over loopback); time is
the fake's clock, moved only by the adapter's injected sleep.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.merchant import FakeMerchant, load_discovery, product_segment
from sheetsync_fakes.wire import serve

from sheetsync.channels.google_merchant import AVAILABILITY_MASK, PRICE_MASK, GoogleMerchantChannel
from sheetsync.errors import PermanentError, TransientError
from sheetsync.model import ChannelName, PriceLevel, Sku, StockLevel

from .conftest import DISCOVERY, START, merchant_key

ACCOUNT = "4242"
DOCS = load_discovery(DISCOVERY)
PATCH = "merchantapi.accounts.productInputs.patch"
GET = "merchantapi.accounts.products.get"
LIST = "merchantapi.accounts.products.list"
LOCAL_INSERT = "merchantapi.accounts.products.localInventories.insert"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def fake(clock: ManualClock) -> FakeMerchant:
    fake = FakeMerchant(DOCS, now=clock)
    fake.add_service_account(merchant_key())
    fake.create_account(ACCOUNT, users=[merchant_key()["client_email"]])
    return fake


def connect(fake: FakeMerchant, clock: ManualClock, **options: Any) -> GoogleMerchantChannel:
    options.setdefault("client", httpx.Client(transport=httpx.MockTransport(fake)))
    return GoogleMerchantChannel(
        ChannelName("google"),
        account=ACCOUNT,
        data_source="1",
        content_language="en",
        feed_label="US",
        service_account_info=options.pop("info", merchant_key()),
        sleep=clock.sleep,
        clock=clock,
        **options,
    )


def levels(**quantities: int) -> list[StockLevel]:
    return [StockLevel(Sku(sku.replace("_", "-")), quantity) for sku, quantity in quantities.items()]


def writes(fake: FakeMerchant) -> list[str]:
    return [e.path for e in fake.request_log if e.method_id in (PATCH, LOCAL_INSERT)]


def test_unchanged_availability_makes_no_call_and_a_flip_makes_one(
    fake: FakeMerchant, clock: ManualClock
) -> None:
    for sku in ("A", "B", "C"):
        fake.add_product(ACCOUNT, sku)
    channel = connect(fake, clock)
    outcomes = channel.push(levels(A=5, B=0, C=1))
    assert [(o.sku, o.ok) for o in outcomes] == [("A", True), ("B", True), ("C", True)]
    assert "no change needed" in outcomes[0].message
    assert outcomes[1].message == "IN_STOCK → OUT_OF_STOCK"
    patches = [e for e in fake.request_log if e.method_id == PATCH]
    assert [e.path for e in patches] == [f"/products/v1/accounts/{ACCOUNT}/productInputs/en~US~B"]
    assert dict(patches[0].query) == {
        "updateMask": AVAILABILITY_MASK,
        "dataSource": f"accounts/{ACCOUNT}/dataSources/1",
    }
    assert fake.product_input(ACCOUNT, "B")["productAttributes"] == {"availability": "OUT_OF_STOCK"}

    # The processed view still shows IN_STOCK, but the input is known: no second patch, no read.
    fake.request_log.clear()
    again = channel.push(levels(B=0, A=9))
    assert all(o.ok for o in again)
    assert fake.request_log == []
    channel.push(levels(B=3))
    assert writes(fake) == [f"/products/v1/accounts/{ACCOUNT}/productInputs/en~US~B"]
    assert fake.product_input(ACCOUNT, "B")["productAttributes"]["availability"] == "IN_STOCK"


def test_the_threshold_decides_out_of_stock(fake: FakeMerchant, clock: ManualClock) -> None:
    fake.add_product(ACCOUNT, "A")
    channel = connect(fake, clock, threshold=2)
    assert "no change" in channel.push(levels(A=3))[0].message
    assert channel.push(levels(A=2))[0].message == "IN_STOCK → OUT_OF_STOCK"


def test_an_unknown_sku_fails_alone(fake: FakeMerchant, clock: ManualClock) -> None:
    fake.add_product(ACCOUNT, "A")
    fake.add_product(ACCOUNT, "C")
    outcomes = connect(fake, clock).push(levels(A=0, NOPE=0, C=0))
    assert [(o.sku, o.ok) for o in outcomes] == [("A", True), ("NOPE", False), ("C", True)]
    assert "SKU NOPE not found" in outcomes[1].message
    assert fake.product_input(ACCOUNT, "C")["productAttributes"]["availability"] == "OUT_OF_STOCK"


def test_a_sku_with_special_characters_uses_the_encoded_name(fake: FakeMerchant, clock: ManualClock) -> None:
    fake.add_product(ACCOUNT, "sku/123")
    outcome = connect(fake, clock).push([StockLevel(Sku("sku/123"), 0)])[0]
    assert outcome.ok
    assert writes(fake) == [f"/products/v1/accounts/{ACCOUNT}/productInputs/ZW5-VVN-c2t1LzEyMw"]


def test_many_unknown_skus_are_read_with_one_paged_list(fake: FakeMerchant, clock: ManualClock) -> None:
    skus = [f"S{i:03d}" for i in range(120)]
    for sku in skus:
        fake.add_product(ACCOUNT, sku)
    channel = connect(fake, clock)
    channel.refresh([Sku(s) for s in skus])
    assert fake.count(LIST) == 1
    assert fake.count(GET) == 0
    fake.request_log.clear()
    channel.push([StockLevel(Sku(s), 0 if i % 10 == 0 else 4) for i, s in enumerate(skus[:100])])
    assert [e.method_id for e in fake.request_log] == [PATCH] * 10


def test_one_list_serves_every_later_push_of_a_first_sync(fake: FakeMerchant, clock: ManualClock) -> None:
    skus = [f"S{i:03d}" for i in range(300)]
    for sku in skus:
        fake.add_product(ACCOUNT, sku)
    channel = connect(fake, clock)
    for start in range(0, len(skus), 100):  # the worker pushes a first sync in batches
        channel.push([StockLevel(Sku(s), 4) for s in skus[start : start + 100]])
    assert fake.count(LIST) == 1  # not once per batch: the list already covered the whole account
    assert fake.count(GET) == 0


def test_with_a_store_every_quantity_goes_to_its_local_inventory(
    fake: FakeMerchant, clock: ManualClock
) -> None:
    fake.add_product(ACCOUNT, "A")
    channel = connect(fake, clock, store_code="S1")
    price = {"amountMicros": "9990000", "currencyCode": "USD"}
    channel_client = httpx.Client(transport=httpx.MockTransport(fake))
    # The merchant's own price at the store must survive our insert (insert replaces the resource).
    token = channel._token()  # a merchant-side write with a real token
    channel_client.post(
        f"https://merchantapi.googleapis.com/inventories/v1/accounts/{ACCOUNT}/products/en~US~A/localInventories:insert",
        json={"storeCode": "S1", "localInventoryAttributes": {"price": price, "quantity": "1"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    for quantity in (4, 6):
        assert channel.push(levels(A=quantity))[0].ok
    assert fake.count(LOCAL_INSERT) == 3
    assert fake.count(PATCH) == 0
    assert channel.read_levels([Sku("A"), Sku("NOPE")]) == {"A": 6}
    assert fake.local_quantity(ACCOUNT, "A", "S1") == 6
    listed = channel_client.get(
        f"https://merchantapi.googleapis.com/inventories/v1/accounts/{ACCOUNT}/products/en~US~A/localInventories",
        headers={"Authorization": f"Bearer {token}"},
    ).json()["localInventories"][0]["localInventoryAttributes"]
    assert listed == {"price": price, "quantity": "6", "availability": "IN_STOCK"}


def test_without_a_store_levels_are_not_invented(fake: FakeMerchant, clock: ManualClock) -> None:
    fake.add_product(ACCOUNT, "A", attributes={"availability": "OUT_OF_STOCK"})
    assert connect(fake, clock).read_levels([Sku("A")]) == {}
    assert fake.request_log == []


def test_a_disapproval_is_flagged_in_its_row(fake: FakeMerchant, clock: ManualClock) -> None:
    fake.add_product(ACCOUNT, "A")
    fake.add_product(ACCOUNT, "B")
    fake.set_issues(
        ACCOUNT,
        "A",
        [
            {"code": "policy", "severity": "DISAPPROVED", "description": "Policy violation"},
            {"code": "img", "severity": "NOT_IMPACTED", "description": "Low image quality"},
        ],
    )
    outcomes = connect(fake, clock).push(levels(A=0, B=0))
    assert not outcomes[0].ok
    assert "DISAPPROVED: Policy violation" in outcomes[0].message
    assert "Low image" not in outcomes[0].message
    assert outcomes[1].ok
    assert fake.product_input(ACCOUNT, "A")["productAttributes"]["availability"] == "OUT_OF_STOCK"


def test_a_mismatch_google_keeps_is_flagged_not_repatched(fake: FakeMerchant, clock: ManualClock) -> None:
    fake.add_product(ACCOUNT, "A")
    channel = connect(fake, clock)
    assert channel.push(levels(A=0))[0].ok
    fake.override_availability(ACCOUNT, "A", "IN_STOCK")  # Google's crawl says otherwise
    clock.sleep(3600)
    channel.refresh([Sku("A")])
    outcome = channel.push(levels(A=0))[0]
    assert not outcome.ok
    assert "MISMATCH: Google shows IN_STOCK, we sent OUT_OF_STOCK" in outcome.message
    assert fake.count(PATCH) == 1


def test_pushes_are_paced_under_the_minute_limit(clock: ManualClock) -> None:
    groups = {
        "write": (("merchantapi.accounts.productInputs.insert", PATCH), 5, 1000),
        "read": ((GET, LIST), 100, 1000),
        "quota": (("merchantapi.accounts.quotas.list",), 10, 1000),
    }
    fake = FakeMerchant(DOCS, now=clock, quota_groups=groups)
    fake.add_service_account(merchant_key())
    fake.create_account(ACCOUNT, users=[merchant_key()["client_email"]])
    skus = [f"S{i}" for i in range(12)]
    for sku in skus:
        fake.add_product(ACCOUNT, sku)
    outcomes = connect(fake, clock).push([StockLevel(Sku(s), 0) for s in skus])
    assert all(o.ok for o in outcomes)
    assert all(e.status != 429 for e in fake.request_log)
    assert fake.count(PATCH) == 12
    assert sum(clock.slept) >= 120  # two full minutes waited, on the fake's clock only


def test_a_429_is_waited_out_and_retried(fake: FakeMerchant, clock: ManualClock) -> None:
    fake.add_product(ACCOUNT, "A")
    channel = connect(fake, clock)
    channel.warm_up()
    fake.fail_next(PATCH, 429)
    assert channel.push(levels(A=0))[0].ok
    assert fake.count(PATCH) == 2
    assert clock.slept == [pytest.approx(60, abs=1)]  # the rest of the minute, then once more


def test_server_errors_are_retried_then_raised(fake: FakeMerchant, clock: ManualClock) -> None:
    fake.add_product(ACCOUNT, "A")
    channel = connect(fake, clock)
    fake.fail_next(PATCH, 503, times=10)
    with pytest.raises(TransientError):
        channel.push(levels(A=0))
    assert fake.count(PATCH) == 4


def test_secrets_never_leak(fake: FakeMerchant, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add_product(ACCOUNT, "A")
    channel = connect(fake, clock)
    channel.push(levels(A=0))
    token = channel._token()  # to search for it
    fake.create_account("77", users=[])
    with pytest.raises(PermanentError) as denied:
        GoogleMerchantChannel(
            ChannelName("google"),
            account="77",
            data_source="1",
            content_language="en",
            feed_label="US",
            service_account_info=merchant_key(),
            client=httpx.Client(transport=httpx.MockTransport(fake)),
            sleep=clock.sleep,
            clock=clock,
        ).push(levels(A=0))
    assert "77" in str(denied.value)
    stranger = dict(merchant_key(), client_email="other@x.iam.gserviceaccount.com")
    with pytest.raises(PermanentError) as refused:
        connect(fake, clock, info=stranger).push(levels(A=0))
    assert "other@x.iam.gserviceaccount.com" in str(refused.value)
    key_body = merchant_key()["private_key"].splitlines()[1]
    for text in (str(denied.value), str(refused.value), caplog.text):
        assert token not in text
        assert key_body not in text


def test_batches_over_the_limit_are_refused(fake: FakeMerchant, clock: ManualClock) -> None:
    channel = connect(fake, clock)
    with pytest.raises(PermanentError, match="limit"):
        channel.push([StockLevel(Sku("A"), 1)] * (channel.limits.max_batch + 1))


def test_over_loopback_with_the_default_client(fake: FakeMerchant, clock: ManualClock) -> None:
    fake.add_product(ACCOUNT, "A")
    with serve(fake) as base_url:
        channel = connect(
            fake, clock, client=None, base_url=base_url, token_url=f"{base_url}/token", store_code="S1"
        )
        try:
            assert channel.push(levels(A=0))[0].ok
            assert channel.read_levels([Sku("A")]) == {"A": 0}
        finally:
            channel.close()
    assert fake.product_input(ACCOUNT, "A")["productAttributes"]["availability"] == "OUT_OF_STOCK"


# --- prices ------------------------------------------------------------------------------------


def usd(sku: str, amount: str, currency: str = "USD") -> PriceLevel:
    return PriceLevel(Sku(sku), Decimal(amount), currency)


def test_a_price_is_one_patch_of_the_price_attribute_alone(fake: FakeMerchant, clock: ManualClock) -> None:
    fake.add_product(ACCOUNT, "A", attributes={"availability": "IN_STOCK", "title": "Mug"})
    seen: list[httpx.Request] = []

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return fake(request)

    channel = connect(fake, clock, client=httpx.Client(transport=httpx.MockTransport(spy)))
    outcomes = channel.push_prices([usd("A", "12.5")])
    assert [(o.sku, o.ok) for o in outcomes] == [("A", True)]
    (patch,) = [r for r in seen if r.method == "PATCH"]
    assert patch.url.path == f"/products/v1/accounts/{ACCOUNT}/productInputs/en~US~A"
    assert dict(patch.url.params) == {
        "updateMask": PRICE_MASK,
        "dataSource": f"accounts/{ACCOUNT}/dataSources/1",
    }
    assert json.loads(patch.content) == {
        "productAttributes": {"price": {"amountMicros": "12500000", "currencyCode": "USD"}}
    }
    # No read first: the worker sends only changed prices, and each call counts against the policy.
    assert fake.count(GET) == fake.count(LIST) == 0
    assert fake.product_input(ACCOUNT, "A")["productAttributes"] == {
        "availability": "IN_STOCK",
        "title": "Mug",
        "price": {"amountMicros": "12500000", "currencyCode": "USD"},
    }
    clock.sleep(fake.processing_delay_s)
    processed = fake.processed_product(ACCOUNT, "A")["productAttributes"]
    assert processed["price"] == {"amountMicros": "12500000", "currencyCode": "USD"}


def test_an_unknown_sku_price_is_refused_alone(fake: FakeMerchant, clock: ManualClock) -> None:
    fake.add_product(ACCOUNT, "A")
    outcomes = connect(fake, clock).push_prices([usd("NOPE", "1.00"), usd("A", "2.00")])
    assert [(o.sku, o.ok) for o in outcomes] == [("NOPE", False), ("A", True)]
    assert "SKU NOPE not found" in outcomes[0].message
    assert fake.product_input(ACCOUNT, "NOPE") is None


def test_a_price_google_refuses_fails_its_row_with_googles_message(
    fake: FakeMerchant, clock: ManualClock
) -> None:
    fake.add_product(ACCOUNT, "A")
    fake.add_product(ACCOUNT, "B")
    outcomes = connect(fake, clock).push_prices([usd("A", "3.00", "usd"), usd("B", "3.00")])
    assert [(o.sku, o.ok) for o in outcomes] == [("A", False), ("B", True)]
    assert outcomes[0].message.startswith(
        "Google Merchant Center refused price 3.00 usd for SKU A: INVALID_ARGUMENT"
    )
    assert "currency_code" in outcomes[0].message
    assert "price" not in fake.product_input(ACCOUNT, "A")["productAttributes"]


def test_a_sku_with_special_characters_gets_its_price_under_the_encoded_name(
    fake: FakeMerchant, clock: ManualClock
) -> None:
    fake.add_product(ACCOUNT, "mug/blue")
    assert connect(fake, clock).push_prices([usd("mug/blue", "7.00")])[0].ok
    (patch,) = [e for e in fake.request_log if e.method_id == PATCH]
    assert patch.path.endswith("/productInputs/" + product_segment("en", "US", "mug/blue"))
    assert "~" not in patch.path.rsplit("/", 1)[-1]
    price = fake.product_input(ACCOUNT, "mug/blue")["productAttributes"]["price"]
    assert price == {"amountMicros": "7000000", "currencyCode": "USD"}


def test_price_patches_are_paced_under_the_write_groups_minute_limit(clock: ManualClock) -> None:
    groups = {
        "write": (("merchantapi.accounts.productInputs.insert", PATCH), 4, 1000),
        "quota": (("merchantapi.accounts.quotas.list",), 10, 1000),
    }
    fake = FakeMerchant(DOCS, now=clock, quota_groups=groups)
    fake.add_service_account(merchant_key())
    fake.create_account(ACCOUNT, users=[merchant_key()["client_email"]])
    skus = [f"S{i}" for i in range(9)]
    for sku in skus:
        fake.add_product(ACCOUNT, sku)
    outcomes = connect(fake, clock).push_prices([usd(s, "1.00") for s in skus])
    assert all(o.ok for o in outcomes)
    assert all(e.status != 429 for e in fake.request_log)
    assert fake.count(PATCH) == 9
    assert sum(clock.slept) >= 120  # two full minutes waited, on the fake's clock only


def test_a_price_batch_above_the_limit_is_refused_whole(fake: FakeMerchant, clock: ManualClock) -> None:
    channel = connect(fake, clock)
    with pytest.raises(PermanentError, match="limit"):
        channel.push_prices([usd("A", "1.00")] * (channel.limits.max_batch + 1))
    assert fake.count(PATCH) == 0


def test_server_errors_on_a_price_are_retried_then_raised(fake: FakeMerchant, clock: ManualClock) -> None:
    fake.add_product(ACCOUNT, "A")
    channel = connect(fake, clock)
    fake.fail_next(PATCH, 503, times=1)
    assert channel.push_prices([usd("A", "1.00")])[0].ok
    fake.fail_next(PATCH, 503, times=10)
    with pytest.raises(TransientError):
        channel.push_prices([usd("A", "2.00")])
