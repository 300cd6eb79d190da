"""MetaChannel against FakeMeta: the batch payload, async processing and LAG, late errors, throttling.

The real adapter talks to the fake through httpx.MockTransport (and once over loopback); time is
the fake's clock, moved only by the adapter's injected sleep.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sheetsync_fakes import REFERENCE as REFERENCE_ROOT
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.meta import FakeMeta
from sheetsync_fakes.wire import serve

from sheetsync.channels import OrderSource, QuickPush
from sheetsync.channels.meta import FIRST_ASK_S, QUICK_MAX, REASK_S, MetaChannel, regain_seconds
from sheetsync.errors import PermanentError, TransientError
from sheetsync.model import ChannelName, PriceLevel, PushOutcome, Sku, StockLevel

from .conftest import START

REFERENCE = REFERENCE_ROOT / "meta"
CATALOG = "880011223344"
TOKEN = "EAAG_do_not_leak_4242"
NAME = ChannelName("meta")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def fake(clock: ManualClock) -> FakeMeta:
    fake = FakeMeta(REFERENCE / "catalog_sdk_summary.json", now=clock)
    fake.create_catalog(CATALOG, TOKEN, business_id="4242")
    for sku in ("A-1", "A-2", "B-1"):
        fake.add_product(CATALOG, sku, availability="in stock", quantity_to_sell_on_facebook=5)
    return fake


def connect(fake: FakeMeta, clock: ManualClock, **options: Any) -> MetaChannel:
    options.setdefault("sleep", clock.sleep)
    options.setdefault("token", TOKEN)
    return MetaChannel(
        NAME,
        catalog_id=CATALOG,
        client=httpx.Client(transport=httpx.MockTransport(fake)),
        clock=clock,
        **options,
    )


def stored(fake: FakeMeta, catalog_id: str, retailer_id: str) -> Mapping[str, Any]:
    """The product as Meta holds it now, which the test expects to be there."""
    product = fake.product(catalog_id, retailer_id)
    assert product is not None, retailer_id
    return product


def sent_records(fake: FakeMeta) -> list[Any]:
    return [
        record
        for entry in fake.request_log
        if entry.edge == "items_batch"
        for record in json.loads(entry.params["requests"])
    ]


def test_a_push_updates_quantity_to_sell_and_a_matching_availability(
    fake: FakeMeta, clock: ManualClock
) -> None:
    channel = connect(fake, clock)
    outcomes = channel.push([StockLevel(Sku("A-1"), 7), StockLevel(Sku("A-2"), 0)])
    assert [(o.sku, o.ok, o.message) for o in outcomes] == [("A-1", True, ""), ("A-2", True, "")]
    (batch,) = [entry for entry in fake.request_log if entry.edge == "items_batch"]
    assert (batch.params["item_type"], batch.params["allow_upsert"]) == ("PRODUCT_ITEM", "false")
    assert sent_records(fake) == [
        {
            "method": "UPDATE",
            "data": {"id": "A-1", "quantity_to_sell_on_facebook": 7, "availability": "in stock"},
        },
        {
            "method": "UPDATE",
            "data": {"id": "A-2", "quantity_to_sell_on_facebook": 0, "availability": "out of stock"},
        },
    ]
    assert fake.product(CATALOG, "A-2") == {
        "id": stored(fake, CATALOG, "A-2")["id"],
        "retailer_id": "A-2",
        "availability": "out of stock",
        "quantity_to_sell_on_facebook": 0,
    }
    assert channel.read_levels([Sku("A-1"), Sku("A-2"), Sku("B-1")]) == {"A-1": 7, "A-2": 0, "B-1": 5}
    # The status was polled with back-off on the injected sleep: 1 s, then 2 s (processing takes 2 s).
    assert clock.slept == [1.0, 2.0]
    assert channel.status_polls == 2


def test_an_unknown_sku_is_refused_in_its_row_and_not_created(fake: FakeMeta, clock: ManualClock) -> None:
    channel = connect(fake, clock)
    outcomes = channel.push([StockLevel(Sku("A-1"), 3), StockLevel(Sku("GHOST"), 4)])
    assert [(o.sku, o.ok) for o in outcomes] == [("A-1", True), ("GHOST", False)]
    assert outcomes[1].message.startswith("Meta refused SKU GHOST: ")
    assert "allow_upsert" in outcomes[1].message  # Meta's own message is passed on
    assert fake.product(CATALOG, "GHOST") is None
    assert fake.quantities(CATALOG)["A-1"] == 3


def test_every_invalid_id_is_refused_even_beyond_the_sample_of_errors(
    fake: FakeMeta, clock: ManualClock
) -> None:
    fake.error_sample = 1
    channel = connect(fake, clock)
    outcomes = channel.push(
        [StockLevel(Sku(f"GHOST-{i}"), 1) for i in range(3)] + [StockLevel(Sku("B-1"), 2)]
    )
    assert [o.ok for o in outcomes] == [False, False, False, True]
    assert "no message in the sample" in outcomes[2].message


def test_an_item_meta_rejects_on_receipt_does_not_fail_the_rest(fake: FakeMeta, clock: ManualClock) -> None:
    channel = connect(fake, clock)
    outcomes = channel.push([StockLevel(Sku("A-1"), -2), StockLevel(Sku("B-1"), 9)])
    assert [(o.sku, o.ok) for o in outcomes] == [("A-1", False), ("B-1", True)]
    assert "quantity_to_sell_on_facebook" in outcomes[0].message
    assert fake.quantities(CATALOG) == {"A-1": 5, "A-2": 5, "B-1": 9}


def test_a_batch_not_processed_in_time_is_lag_and_levels_keep_the_old_number(
    fake: FakeMeta, clock: ManualClock
) -> None:
    fake.processing_delay_s = 600
    channel = connect(fake, clock, settle_s=10)
    outcomes = channel.push([StockLevel(Sku("A-1"), 2)])
    assert outcomes[0].ok
    assert outcomes[0].message.startswith("LAG:")
    assert sum(clock.slept) == pytest.approx(10)
    assert channel.read_levels([Sku("A-1")]) == {"A-1": 5}  # what buyers see has not changed
    clock.sleep(600)
    assert channel.read_levels([Sku("A-1")]) == {"A-1": 2}
    polls = fake.count("check_batch_request_status")
    fake.processing_delay_s = 0
    channel.push([StockLevel(Sku("B-1"), 1)])
    assert fake.count("check_batch_request_status") == polls + 1 + 1  # the open handle, then the new one
    assert channel.push([StockLevel(Sku("A-1"), 2)]) == [PushOutcome(Sku("A-1"), True, "")]


def test_a_late_error_is_logged_and_reported_the_next_time_the_sku_is_pushed(
    fake: FakeMeta, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake.processing_delay_s = 600
    channel = connect(fake, clock, settle_s=5)
    first = channel.push([StockLevel(Sku("GHOST"), 4), StockLevel(Sku("A-1"), 1)])
    assert [o.ok for o in first] == [True, True]
    assert first[0].message.startswith("LAG:")
    clock.sleep(600)
    fake.processing_delay_s = 0
    with caplog.at_level(logging.WARNING):
        other = channel.push([StockLevel(Sku("B-1"), 3)])
    assert [o.ok for o in other] == [True]
    assert any("GHOST" in r.getMessage() and "allow_upsert" in r.getMessage() for r in caplog.records)
    assert "GHOST" in channel.late_errors
    fake.add_product(CATALOG, "GHOST", availability="in stock")  # the merchant fixes it meanwhile
    again = channel.push([StockLevel(Sku("GHOST"), 4), StockLevel(Sku("A-1"), 1)])
    assert [(o.sku, o.ok) for o in again] == [("GHOST", False), ("A-1", True)]
    assert "earlier push failed" in again[0].message
    assert "GHOST" in again[0].message
    assert channel.late_errors == {}
    assert channel.push([StockLevel(Sku("GHOST"), 4)])[0].ok  # reported once, not forever


def test_throttling_raises_with_the_wait_meta_gives_and_makes_no_more_batch_calls(
    fake: FakeMeta, clock: ManualClock
) -> None:
    fake.batch_calls_per_hour = 2
    channel = connect(fake, clock)
    channel.push([StockLevel(Sku("A-1"), 1)])
    channel.push([StockLevel(Sku("A-1"), 2)])
    with pytest.raises(TransientError, match=rf"catalog {CATALOG} throttled items_batch") as throttled:
        channel.push([StockLevel(Sku("A-1"), 3)])
    # The first call was ~3 s ago on the fake's clock: access returns in 60 minutes (rounded up).
    assert throttled.value.retry_after == 3600
    assert fake.count("items_batch") == 3  # not retried in-process
    with pytest.raises(TransientError, match="throttled for another"):
        channel.push([StockLevel(Sku("A-1"), 3)])
    assert fake.count("items_batch") == 3
    clock.sleep(3600)
    assert channel.push([StockLevel(Sku("A-1"), 3)])[0].ok
    assert fake.quantities(CATALOG)["A-1"] == 3


def test_regain_seconds_reads_minutes_from_the_usage_header() -> None:
    header = '{"4242":[{"type":"catalog_batch","call_count":100,"estimated_time_to_regain_access":7}]}'
    assert regain_seconds(header) == 420
    assert regain_seconds('{"4242":[{"call_count":5,"estimated_time_to_regain_access":0}]}') is None
    assert regain_seconds(None) is None
    assert regain_seconds("not json") is None


def test_a_bad_token_names_the_catalog_never_the_token(
    fake: FakeMeta, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "EAAG_wrong_token_777"
    channel = connect(fake, clock, token=wrong)
    with caplog.at_level(logging.DEBUG), pytest.raises(PermanentError, match=f"catalog {CATALOG}") as refused:
        channel.push([StockLevel(Sku("A-1"), 1)])
    assert "code 190" in str(refused.value)
    with pytest.raises(PermanentError):
        channel.read_levels([Sku("A-1")])
    told = [str(refused.value), caplog.text]
    assert not any(wrong in text for text in told)


def recorded(fake: FakeMeta, clock: ManualClock) -> tuple[MetaChannel, list[httpx.Request]]:
    """A channel on its own transport to ``fake``, and every request it sends, as sent."""
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return fake(request)

    channel = MetaChannel(
        NAME, catalog_id=CATALOG, token=TOKEN, transport=httpx.MockTransport(recording), sleep=clock.sleep
    )
    return channel, seen


def test_the_token_travels_in_a_header_never_in_a_url(fake: FakeMeta, clock: ManualClock) -> None:
    channel, seen = recorded(fake, clock)
    channel.push([StockLevel(Sku("A-1"), 1)])
    channel.read_levels([Sku("A-1")])
    assert {r.url.path.split("/")[-1] for r in seen} == {
        "items_batch",
        "check_batch_request_status",
        "products",
    }
    assert all(r.url.path.startswith(f"/v25.0/{CATALOG}/") for r in seen)
    assert not any(TOKEN in str(r.url) or TOKEN in r.content.decode() for r in seen)
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in seen)


def test_server_errors_are_retried_then_reported(fake: FakeMeta, clock: ManualClock) -> None:
    channel = connect(fake, clock)
    fake.fail_next("items_batch", status=500)
    assert channel.push([StockLevel(Sku("A-1"), 4)])[0].ok
    assert fake.count("items_batch") == 2
    fake.fail_next("items_batch", exception=httpx.ConnectError("reset"), times=4)
    with pytest.raises(TransientError, match=f"catalog {CATALOG}: ConnectError"):
        channel.push([StockLevel(Sku("A-1"), 5)])


def test_a_failed_status_poll_leaves_the_batch_open_instead_of_failing_the_push(
    fake: FakeMeta, clock: ManualClock
) -> None:
    channel = connect(fake, clock, settle_s=1)
    fake.fail_next("check_batch_request_status", status=503, times=4)
    outcomes = channel.push([StockLevel(Sku("A-1"), 6)])
    assert outcomes[0].ok
    assert outcomes[0].message.startswith("LAG:")
    assert channel.push([StockLevel(Sku("B-1"), 1)])[0].ok
    assert fake.quantities(CATALOG)["A-1"] == 6


def test_an_unknown_catalog_is_a_permanent_error(fake: FakeMeta, clock: ManualClock) -> None:
    channel = MetaChannel(
        NAME, catalog_id="999", token=TOKEN, transport=httpx.MockTransport(fake), sleep=clock.sleep
    )
    with pytest.raises(PermanentError, match="catalog 999 does not exist or this token cannot see it"):
        channel.push([StockLevel(Sku("A-1"), 1)])


def test_reads_go_in_batches_and_leave_out_skus_without_a_quantity(
    fake: FakeMeta, clock: ManualClock
) -> None:
    for i in range(230):
        fake.add_product(CATALOG, f"S-{i}", quantity_to_sell_on_facebook=i)
    fake.add_product(CATALOG, "NO-QTY", availability="in stock")
    channel = connect(fake, clock)
    wanted = [Sku(f"S-{i}") for i in range(230)] + [Sku("NO-QTY"), Sku("MISSING")]
    assert channel.read_levels(wanted) == {f"S-{i}": i for i in range(230)}
    assert fake.count("products") == 3


def test_meta_is_push_only() -> None:
    assert not issubclass(MetaChannel, OrderSource)


def test_over_loopback(fake: FakeMeta, clock: ManualClock) -> None:
    with serve(fake) as base_url:
        channel = MetaChannel(
            NAME, catalog_id=CATALOG, token=TOKEN, base_url=base_url, sleep=clock.sleep, clock=clock
        )
        try:
            outcomes = channel.push([StockLevel(Sku("A-1"), 8), StockLevel(Sku("NOPE"), 1)])
            assert [(o.sku, o.ok) for o in outcomes] == [("A-1", True), ("NOPE", False)]
            assert channel.read_levels([Sku("A-1")]) == {"A-1": 8}
        finally:
            channel.close()


# --- prices ------------------------------------------------------------------------------------


def prices(**amounts: str) -> list[PriceLevel]:
    return [PriceLevel(Sku(sku.replace("_", "-")), Decimal(amount), "EUR") for sku, amount in amounts.items()]


def test_prices_go_as_feed_format_price_updates_in_one_batch(fake: FakeMeta, clock: ManualClock) -> None:
    channel = connect(fake, clock)
    outcomes = channel.push_prices(prices(A_1="12.5", B_1="3"))
    assert [(o.sku, o.ok, o.message) for o in outcomes] == [("A-1", True, ""), ("B-1", True, "")]
    assert fake.count("items_batch") == 1
    (batch,) = [entry for entry in fake.request_log if entry.edge == "items_batch"]
    assert (batch.params["item_type"], batch.params["allow_upsert"]) == ("PRODUCT_ITEM", "false")
    assert sent_records(fake) == [
        {"method": "UPDATE", "data": {"id": "A-1", "price": "12.50 EUR"}},
        {"method": "UPDATE", "data": {"id": "B-1", "price": "3.00 EUR"}},
    ]
    assert fake.price(CATALOG, "A-1") == (Decimal("12.50"), "EUR")
    assert fake.price(CATALOG, "B-1") == (Decimal("3.00"), "EUR")
    assert fake.quantities(CATALOG)["A-1"] == 5  # a price update leaves the quantity alone


def test_an_unknown_sku_price_is_refused_alone(fake: FakeMeta, clock: ManualClock) -> None:
    channel = connect(fake, clock)
    outcomes = channel.push_prices(prices(A_1="9.99", GHOST="1.00"))
    assert [(o.sku, o.ok) for o in outcomes] == [("A-1", True), ("GHOST", False)]
    assert outcomes[1].message.startswith("Meta refused SKU GHOST: ")
    assert fake.product(CATALOG, "GHOST") is None
    assert fake.price(CATALOG, "A-1") == (Decimal("9.99"), "EUR")


def test_a_price_meta_rejects_on_receipt_is_refused_in_its_row(fake: FakeMeta, clock: ManualClock) -> None:
    channel = connect(fake, clock)
    bad = PriceLevel(Sku("A-1"), Decimal("12.50"), "eur")  # Meta wants the upper-case ISO code
    outcomes = channel.push_prices([bad, *prices(B_1="4.00")])
    assert [(o.sku, o.ok) for o in outcomes] == [("A-1", False), ("B-1", True)]
    assert "price information" in outcomes[0].message
    assert fake.price(CATALOG, "A-1") is None


def test_a_late_price_error_waits_for_the_next_price_push_not_a_stock_push(
    fake: FakeMeta, clock: ManualClock
) -> None:
    fake.processing_delay_s = 600
    channel = connect(fake, clock, settle_s=5)
    first = channel.push_prices(prices(GHOST="2.00"))
    assert first[0].ok
    assert first[0].message == "LAG: Meta accepted price 2.00 EUR for SKU GHOST but has not applied it yet"
    clock.sleep(600)
    fake.processing_delay_s = 0
    assert channel.push([StockLevel(Sku("A-1"), 1)])[0].ok  # polls the open price batch
    assert "GHOST" in channel.late_price_errors
    assert channel.late_errors == {}
    fake.add_product(CATALOG, "GHOST", availability="in stock")  # the merchant fixes it meanwhile
    stock = channel.push([StockLevel(Sku("GHOST"), 1)])
    assert stock == [PushOutcome(Sku("GHOST"), True, "")]  # the price's failure is not the stock's
    again = channel.push_prices(prices(GHOST="2.00"))
    assert not again[0].ok
    assert "earlier push failed" in again[0].message
    assert channel.push_prices(prices(GHOST="2.00"))[0].ok  # reported once


def test_price_batches_count_against_the_hourly_batch_limit(fake: FakeMeta, clock: ManualClock) -> None:
    fake.batch_calls_per_hour = 2
    channel = connect(fake, clock)
    channel.push([StockLevel(Sku("A-1"), 1)])
    channel.push_prices(prices(A_1="5.00"))
    with pytest.raises(TransientError, match="throttled items_batch") as throttled:
        channel.push_prices(prices(A_1="6.00"))
    assert throttled.value.retry_after == 3600
    with pytest.raises(TransientError, match="throttled for another"):
        channel.push_prices(prices(A_1="6.00"))
    assert fake.count("items_batch") == 3
    assert fake.price(CATALOG, "A-1") == (Decimal("5.00"), "EUR")


def test_a_price_batch_above_the_limit_is_refused_whole(fake: FakeMeta, clock: ManualClock) -> None:
    channel = connect(fake, clock, max_batch=2)
    with pytest.raises(PermanentError, match="the limit is 2"):
        channel.push_prices(prices(A_1="1.00", A_2="2.00", B_1="3.00"))
    assert fake.count("items_batch") == 0


# --- quick push: one product item update per SKU ---------------------------------------------


def item_updates(fake: FakeMeta) -> list[Any]:
    return [entry for entry in fake.request_log if entry.edge == "product_item"]


def test_push_now_sets_quantities_at_once_by_item_updates_not_batches(
    fake: FakeMeta, clock: ManualClock
) -> None:
    channel = connect(fake, clock)
    assert isinstance(channel, QuickPush)
    before = clock.now
    outcomes = channel.push_now([StockLevel(Sku("A-1"), 2), StockLevel(Sku("A-2"), 0)])
    assert [(o.sku, o.ok, o.message) for o in outcomes] == [("A-1", True, ""), ("A-2", True, "")]
    assert clock.now == before  # nothing waited for: no status to poll
    assert fake.quantities(CATALOG) == {"A-1": 2, "A-2": 0, "B-1": 5}
    assert stored(fake, CATALOG, "A-2")["availability"] == "out of stock"
    assert [
        (u.params["quantity_to_sell_on_facebook"], u.params["availability"]) for u in item_updates(fake)
    ] == [
        ("2", "in stock"),
        ("0", "out of stock"),
    ]
    assert fake.count("items_batch") == fake.count("check_batch_request_status") == 0


def test_push_now_reads_missing_ids_once_and_keeps_them(fake: FakeMeta, clock: ManualClock) -> None:
    channel = connect(fake, clock)
    channel.push_now([StockLevel(Sku("A-1"), 1), StockLevel(Sku("A-2"), 1)])
    (read,) = [entry for entry in fake.request_log if entry.edge == "products"]
    assert json.loads(read.params["filter"]) == {"retailer_id": {"is_any": ["A-1", "A-2"]}}
    channel.push_now([StockLevel(Sku("A-2"), 4), StockLevel(Sku("A-1"), 3)])
    assert fake.count("products") == 1
    assert fake.quantities(CATALOG)["A-1"] == 3


def test_a_channel_read_back_needs_no_lookup_to_push_now(fake: FakeMeta, clock: ManualClock) -> None:
    channel = connect(fake, clock)
    assert channel.read_levels([Sku("B-1")]) == {"B-1": 5}
    assert channel.push_now([StockLevel(Sku("B-1"), 9)])[0].ok
    assert fake.count("products") == 1
    assert fake.quantities(CATALOG)["B-1"] == 9


def test_push_now_refuses_a_sku_the_catalog_lacks_and_sends_the_rest(
    fake: FakeMeta, clock: ManualClock
) -> None:
    channel = connect(fake, clock)
    outcomes = channel.push_now([StockLevel(Sku("GHOST"), 1), StockLevel(Sku("A-1"), 3)])
    assert [(o.sku, o.ok) for o in outcomes] == [("GHOST", False), ("A-1", True)]
    assert "GHOST" in outcomes[0].message
    assert CATALOG in outcomes[0].message
    assert fake.quantities(CATALOG)["A-1"] == 3
    assert fake.product(CATALOG, "GHOST") is None
    assert len(item_updates(fake)) == 1


def test_an_invalid_value_is_refused_by_meta_for_its_sku_alone(fake: FakeMeta, clock: ManualClock) -> None:
    channel = connect(fake, clock)
    outcomes = channel.push_now([StockLevel(Sku("A-1"), -1), StockLevel(Sku("A-2"), 6)])
    assert [(o.sku, o.ok) for o in outcomes] == [("A-1", False), ("A-2", True)]
    assert "code 100" in outcomes[0].message
    assert "quantity_to_sell_on_facebook" in outcomes[0].message
    assert fake.quantities(CATALOG) == {"A-1": 5, "A-2": 6, "B-1": 5}


def test_an_item_deleted_since_its_id_was_read_is_refused_then_looked_up_again(
    fake: FakeMeta, clock: ManualClock
) -> None:
    channel = connect(fake, clock)
    channel.push_now([StockLevel(Sku("A-1"), 1)])
    with httpx.Client(transport=httpx.MockTransport(fake)) as graph:
        graph.post(
            f"https://graph.facebook.com/v25.0/{CATALOG}/items_batch",
            data={
                "item_type": "PRODUCT_ITEM",
                "requests": json.dumps([{"method": "DELETE", "data": {"id": "A-1"}}]),
            },
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    clock.sleep(fake.processing_delay_s)
    assert fake.product(CATALOG, "A-1") is None
    fake.add_product(CATALOG, "A-1", availability="in stock")  # listed again, under a new item id
    gone = channel.push_now([StockLevel(Sku("A-1"), 2)])[0]
    assert not gone.ok
    assert "code 100/33" in gone.message
    assert channel.push_now([StockLevel(Sku("A-1"), 2)])[0].ok
    assert fake.count("products") == 2
    assert fake.quantities(CATALOG)["A-1"] == 2


def test_more_than_quick_max_levels_go_as_one_batch(fake: FakeMeta, clock: ManualClock) -> None:
    for i in range(QUICK_MAX + 1):
        fake.add_product(CATALOG, f"S-{i}", availability="in stock")
    channel = connect(fake, clock)
    outcomes = channel.push_now([StockLevel(Sku(f"S-{i}"), i) for i in range(QUICK_MAX + 1)])
    assert all(o.ok for o in outcomes)
    assert fake.count("items_batch") == 1
    assert item_updates(fake) == []
    assert fake.quantities(CATALOG)[f"S-{QUICK_MAX}"] == QUICK_MAX


def test_the_catalog_management_limit_throttles_quick_pushes_not_batches(
    fake: FakeMeta, clock: ManualClock
) -> None:
    fake.management_calls_per_hour = 3
    channel = connect(fake, clock)
    channel.push_now([StockLevel(Sku("A-1"), 1)])  # a products read and an update
    channel.push_now([StockLevel(Sku("A-1"), 2)])
    with pytest.raises(
        TransientError, match=rf"catalog {CATALOG} throttled item \d+ \(code 80009\)"
    ) as throttled:
        channel.push_now([StockLevel(Sku("A-1"), 3)])
    assert throttled.value.retry_after == 3600
    assert len(item_updates(fake)) == 3  # not retried in-process
    with pytest.raises(TransientError, match="management calls throttled for another"):
        channel.push_now([StockLevel(Sku("A-1"), 3)])
    assert len(item_updates(fake)) == 3
    assert channel.push([StockLevel(Sku("A-1"), 3)])[0].ok  # Catalog Batch is another limit
    clock.sleep(3600)
    assert channel.push_now([StockLevel(Sku("A-1"), 4)])[0].ok
    assert fake.quantities(CATALOG)["A-1"] == 4


def test_item_updates_retry_server_errors_and_keep_the_token_in_the_header(
    fake: FakeMeta, clock: ManualClock
) -> None:
    channel, seen = recorded(fake, clock)
    fake.fail_next("product_item", status=500)
    assert channel.push_now([StockLevel(Sku("A-1"), 4)])[0].ok
    assert len(item_updates(fake)) == 2
    item_id = stored(fake, CATALOG, "A-1")["id"]
    assert {r.url.path for r in seen} == {f"/v25.0/{CATALOG}/products", f"/v25.0/{item_id}"}
    assert not any(TOKEN in str(r.url) or TOKEN in r.content.decode() for r in seen)
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in seen)


def test_a_cycle_pushing_many_batches_asks_about_each_open_one_once_meta_had_time(
    fake: FakeMeta, clock: ManualClock
) -> None:
    fake.processing_delay_s = 600
    channel = connect(fake, clock, settle_s=0, max_batch=1)
    for quantity in range(4):  # four batches in one cycle: none processed yet
        channel.push([StockLevel(Sku("A-1"), quantity)])
        clock.sleep(FIRST_ASK_S / 4 - 1)
    assert fake.count("check_batch_request_status") == 0  # each was sent under FIRST_ASK_S before the next
    clock.sleep(4)
    channel.push([StockLevel(Sku("A-1"), 4)])
    assert fake.count("check_batch_request_status") == 1  # the first batch's time has come, not the others'
    clock.sleep(REASK_S - 1)
    channel.push([StockLevel(Sku("A-1"), 5)])
    assert fake.count("check_batch_request_status") == 1 + 4  # the three others and the fifth, once each
    clock.sleep(1)
    channel.push([StockLevel(Sku("A-1"), 6)])
    assert fake.count("check_batch_request_status") == 1 + 4 + 1  # a minute after its ask: the first again
