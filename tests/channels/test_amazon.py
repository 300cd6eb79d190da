"""AmazonChannel over FakeAmazon: sign-in, patches and feeds, per-item refusals, pacing, orders."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sheetsync_fakes.amazon import FakeAmazon, usage_plans
from sheetsync_fakes.clock import ManualClock

from sheetsync.channels.amazon import USAGE_PLANS, AmazonChannel
from sheetsync.config import AmazonAccount, load
from sheetsync.errors import ConfigError, PermanentError, TransientError
from sheetsync.model import ChannelName, Movement, Sku, StockLevel

START = datetime(2026, 11, 27, 9, tzinfo=UTC).timestamp()
SELLER = "A2SELLER01"
SECRET = "app-secret-never-shown"
REFRESH = "Atzr|refresh-never-shown"


class World:
    def __init__(self, **fake_options: Any) -> None:
        self.clock = ManualClock(START)
        self.fake = FakeAmazon(
            seller_id=SELLER,
            client_id="amzn1.app",
            client_secret=SECRET,
            refresh_token=REFRESH,
            now=self.clock,
            **fake_options,
        )

    def channel(self, **options: Any) -> AmazonChannel:
        return AmazonChannel(
            ChannelName("amazon"),
            region="na",
            marketplace_id="ATVPDKIKX0DER",
            seller_id=SELLER,
            client_id="amzn1.app",
            client_secret=options.pop("client_secret", SECRET),
            refresh_token=REFRESH,
            client=httpx.Client(transport=httpx.MockTransport(self.fake)),
            sleep=self.clock.sleep,
            clock=self.clock,
            now=lambda: datetime.fromtimestamp(self.clock(), UTC),
            **options,
        )

    def operations(self) -> Counter[str]:
        return Counter(entry.operation for entry in self.fake.request_log)


def levels(count: int, quantity: int = 7) -> list[StockLevel]:
    return [StockLevel(Sku(f"S-{i}"), quantity) for i in range(count)]


def test_the_usage_plans_are_the_models() -> None:
    plans = usage_plans()
    assert {op: plans[op] for op in USAGE_PLANS} == dict(USAGE_PLANS)


def test_the_access_token_is_exchanged_once_and_renewed_before_it_ends() -> None:
    world = World(token_ttl_s=600)
    world.fake.add_listing("S-0")
    channel = world.channel()
    channel.push(levels(1))
    channel.push(levels(1, 3))
    assert world.operations()["lwaToken"] == 1
    world.clock.sleep(600 - 30)  # 30 s early, as Amazon's reference client
    channel.push(levels(1, 4))
    assert world.operations()["lwaToken"] == 2
    assert world.fake.quantity("S-0") == 4


def test_refused_credentials_are_permanent_and_never_shown() -> None:
    world = World()
    world.fake.add_listing("S-0")
    with pytest.raises(PermanentError, match="invalid_client") as caught:
        world.channel(client_secret="wrong-secret").push(levels(1))
    assert "wrong-secret" not in str(caught.value)
    world.fake.revoke()
    with pytest.raises(PermanentError, match="invalid_grant") as caught:
        world.channel().push(levels(1))
    assert REFRESH not in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_few_skus_are_patched_one_call_each() -> None:
    world = World()
    for i in range(5):
        world.fake.add_listing(f"S-{i}", quantity=1)
    outcomes = world.channel().push(levels(5))
    assert all(o.ok for o in outcomes)
    ops = world.operations()
    assert ops["patchListingsItem"] == 5
    assert ops["createFeed"] == 0
    assert ops["searchListingsItems"] == 1  # product types and FBA, 20 SKUs a call
    assert [world.fake.quantity(f"S-{i}") for i in range(5)] == [7] * 5


def test_many_skus_go_in_one_feed_with_the_fewest_calls() -> None:
    world = World()
    for i in range(500):
        world.fake.add_listing(f"S-{i}", quantity=1)
    channel = world.channel()
    channel.map_skus([Sku(f"S-{i}") for i in range(500)])  # the warm-up a running worker has done
    world.fake.request_log.clear()
    outcomes = channel.push(levels(500, 9))
    assert all(o.ok and not o.message for o in outcomes)
    ops = world.operations()
    assert ops == Counter(
        {
            "createFeedDocument": 1,
            "documentUpload": 1,
            "createFeed": 1,
            "getFeed": 1,
            "getFeedDocument": 1,
            "documentDownload": 1,
        }
    )
    assert {world.fake.quantity(f"S-{i}") for i in range(500)} == {9}
    assert not any(entry.throttled for entry in world.fake.request_log)


def test_the_processing_report_refuses_its_skus_only() -> None:
    world = World(gzip_reports=True)
    for i in range(8):
        world.fake.add_listing(f"S-{i}", quantity=1)
    channel = world.channel()
    channel.map_skus([Sku(f"S-{i}") for i in range(8)])
    world.fake.listing("S-3").product_type = "LUGGAGE"  # changed on Amazon since we looked it up
    world.fake.set_fba("S-5", 30)
    outcomes = channel.push([*levels(8), StockLevel(Sku("NOPE"), 1)])
    refused = {o.sku: o.message for o in outcomes if not o.ok}
    assert set(refused) == {"S-3", "S-5", "NOPE"}
    assert "PRODUCT_TYPE_MISMATCH" in refused[Sku("S-3")]
    assert "FULFILLMENT_CHANNEL_MISMATCH" in refused[Sku("S-5")]
    assert "lists no SKU NOPE" in refused[Sku("NOPE")]
    assert world.fake.quantity("S-0") == 7
    assert world.fake.quantity("S-3") == 1


def test_a_patch_answered_200_invalid_is_a_refusal() -> None:
    world = World()
    world.fake.add_listing("S-0", quantity=1)
    channel = world.channel()
    channel.map_skus([Sku("S-0")])
    world.fake.listing("S-0").product_type = "LUGGAGE"
    [outcome] = channel.push(levels(1))
    assert not outcome.ok
    assert "INVALID" in outcome.message
    assert "PRODUCT_TYPE_MISMATCH" in outcome.message


def test_fba_skus_are_read_but_never_pushed() -> None:
    world = World()
    world.fake.add_listing("FBA", quantity=40, fba=True)
    world.fake.add_listing("MFN", quantity=3)
    channel = world.channel()
    assert channel.read_levels([Sku("FBA"), Sku("MFN"), Sku("NOPE")]) == {"FBA": 40, "MFN": 3}
    outcomes = channel.push([StockLevel(Sku("FBA"), 1), StockLevel(Sku("MFN"), 2)])
    assert not outcomes[0].ok
    assert "fulfilled by Amazon (FBA)" in outcomes[0].message
    assert outcomes[1].ok
    assert world.fake.quantity("FBA") == 40
    assert world.operations()["patchListingsItem"] == 1


def test_a_fatal_feed_refuses_every_sku_in_it() -> None:
    world = World()
    for i in range(10):
        world.fake.add_listing(f"S-{i}", quantity=1)
    world.fake.fail_next_feed("FATAL")
    outcomes = world.channel().push(levels(10))
    assert not any(o.ok for o in outcomes)
    assert all("FATAL" in o.message for o in outcomes)


def test_a_feed_still_processing_is_lag_then_its_refusals_come_later() -> None:
    world = World(processing_delay_s=900)
    for i in range(10):
        world.fake.add_listing(f"S-{i}", quantity=1)
    channel = world.channel(settle_s=120)
    channel.map_skus([Sku(f"S-{i}") for i in range(10)])
    world.fake.listing("S-2").product_type = "LUGGAGE"
    outcomes = channel.push(levels(10))
    assert all(o.ok and o.message.startswith("LAG:") for o in outcomes)
    world.clock.sleep(900)
    world.fake.listing("S-2").product_type = "PRODUCT"  # put right meanwhile: this patch goes through
    later = channel.push([StockLevel(Sku("S-2"), 5), StockLevel(Sku("S-3"), 5)])
    assert not later[0].ok
    assert later[0].message.startswith("an earlier push failed after it returned")
    assert "PRODUCT_TYPE_MISMATCH" in later[0].message
    assert later[1].ok
    assert channel.late_errors == {}
    assert world.fake.quantity("S-0") == 7
    assert world.fake.quantity("S-2") == 5


def test_throttling_is_waited_out_per_operation() -> None:
    world = World()
    for i in range(5):
        world.fake.add_listing(f"S-{i}", quantity=1)
    # the adapter believes in a larger burst than Amazon grants: Amazon answers 429 and it waits
    channel = world.channel(usage_plans={"patchListingsItem": (5.0, 50)})
    for _ in range(2):
        assert all(o.ok for o in channel.push(levels(5)))
    throttled = [entry for entry in world.fake.request_log if entry.throttled]
    assert throttled
    assert {entry.operation for entry in throttled} == {"patchListingsItem"}
    assert world.clock.waited > 0


def test_the_orders_quota_is_not_slept_through() -> None:
    world = World()
    channel = world.channel()
    for _ in range(20):  # the burst
        channel.orders_since("2026-11-27T08:00:00Z#00000000000000000000")
    sent = len(world.fake.request_log)
    with pytest.raises(TransientError, match="searchOrders quota"):
        channel.orders_since("2026-11-27T08:00:00Z#00000000000000000000")
    assert len(world.fake.request_log) == sent  # nothing sent: the bucket said no
    assert world.clock.waited == 0
    world.clock.sleep(180)
    channel.orders_since("2026-11-27T08:00:00Z#00000000000000000000")


def test_listings_feed_submissions_are_kept_to_five_in_five_minutes() -> None:
    world = World(processing_delay_s=1)
    for i in range(10):
        world.fake.add_listing(f"S-{i}", quantity=1)
    channel = world.channel(feed_first_poll_s=1, patch_max=0)
    for _ in range(5):
        assert all(o.ok for o in channel.push(levels(10)))
    with pytest.raises(TransientError, match="5 listings feeds in 300 s"):
        channel.push(levels(10))
    assert not any(entry.throttled for entry in world.fake.request_log)
    world.clock.sleep(300)
    assert all(o.ok for o in channel.push(levels(10, 2)))


def test_orders_become_sales_cancellations_restocks_and_edits() -> None:
    world = World()
    for sku in ("A", "B", "C"):
        world.fake.add_listing(sku, quantity=100)
    channel = world.channel()
    placed = world.fake.place_order([("A", 2), ("B", 1)])
    world.clock.sleep(1)
    cancelled = world.fake.place_order([("C", 3)])
    world.clock.sleep(1)
    world.fake.cancel(cancelled)
    world.clock.sleep(1)
    world.fake.place_order([("A", 5)], fulfilled_by="AMAZON")  # Amazon's stock: not ours to count
    world.clock.sleep(1)
    world.fake.cancel_item(placed, world.fake.order_items(placed)[1])
    world.clock.sleep(1)
    batch = channel.orders_since(None)
    shown = [(line.order_id, line.sku, line.quantity, line.movement) for line in batch.lines]
    assert shown == [
        (cancelled, "C", 3, Movement.SALE),
        (cancelled, "C", 3, Movement.RESTOCK),
        (placed, "A", 2, Movement.SALE),
    ]
    assert batch.lines[1].line_id.endswith("-cancel")
    states = {state.order_id: dict(state.units) for state in batch.states}
    item_a, item_b = world.fake.order_items(placed)
    assert states[placed] == {item_a: 2, item_b: 0}  # the item cancelled inside a live order
    assert batch.lines[2].cursor.startswith("2026-11-27T09:00:04Z#0")
    assert len(batch.lines[2].cursor.partition("#")[2]) == 20
    query = next(e for e in world.fake.request_log if e.operation == "searchOrders")
    assert query.status == 200


def test_odd_quantities_are_odd_lines_and_pages_are_followed() -> None:
    world = World()
    world.fake.add_listing("A", quantity=1000)
    channel = world.channel()
    for _ in range(150):
        world.fake.place_order([("A", 1)])
    odd = world.fake.place_order([("A", 1.5)])
    world.clock.sleep(1)
    batch = channel.orders_since("2026-11-27T08:00:00Z#00000000000000000000")
    assert len(batch.lines) == 150
    assert [(line.order_id, line.quantity) for line in batch.odd] == [(odd, "1.5")]
    assert world.operations()["searchOrders"] == 2  # 100 a page


def test_orders_are_read_again_from_the_cursor_less_the_overlap() -> None:
    world = World()
    world.fake.add_listing("A", quantity=10)
    channel = world.channel()
    first = world.fake.place_order([("A", 1)])
    world.clock.sleep(60)
    lines = channel.orders_since(None).lines
    assert [line.order_id for line in lines] == [first]
    world.clock.sleep(3600)
    second = world.fake.place_order([("A", 1)])
    world.clock.sleep(1)
    again = channel.orders_since(lines[-1].cursor).lines
    assert [line.order_id for line in again] == [first, second]  # at the cursor: again (the ledger drops it)


def test_config_registers_amazon_with_its_checks(tmp_path: Path) -> None:
    head = '[master]\nkind = "workbook"\npath = "x.xlsx"\n[channels.amazon]\nkind = "amazon"\n'
    good = head + 'region = "eu"\nmarketplace_id = "A1PA6795UKMFR9"\nseller_id = "A2SELLER01"\n'
    path = tmp_path / "sheetsync.toml"
    path.write_text(good)
    [channel] = load(path).channels
    assert channel.platform == AmazonAccount("eu", "A1PA6795UKMFR9", "A2SELLER01")
    assert channel.interval_s == 180
    for extra, said in (
        ('client_secret = "x"\n', "SHEETSYNC__AMAZON__CLIENT_SECRET"),
        ("interval = 60\n", "interval = 180 or more"),
        ('region = "us"\n', r"\[channels.amazon\] region"),
    ):
        path.write_text(
            good.replace('region = "eu"\n', "") + (extra if "region" in extra else 'region = "eu"\n' + extra)
        )
        with pytest.raises(ConfigError, match=said):
            load(path)


def test_bad_settings_are_config_errors() -> None:
    world = World()
    with pytest.raises(ConfigError, match="region"):
        AmazonChannel(
            ChannelName("amazon"),
            region="us",
            marketplace_id="ATVPDKIKX0DER",
            seller_id=SELLER,
            client_id="x",
            client_secret="y",
            refresh_token="z",
            client=httpx.Client(transport=httpx.MockTransport(world.fake)),
        )


def test_a_token_without_expires_in_is_kept_1800_seconds_less_30() -> None:
    world = World()
    world.fake.add_listing("S-0")

    def without_lifetime(request: httpx.Request) -> httpx.Response:
        answer = world.fake(request)
        if request.url.path == "/auth/o2/token" and answer.status_code == 200:
            body = answer.json()
            del body["expires_in"]
            return httpx.Response(200, json=body)
        return answer

    channel = world.channel()
    channel._client = httpx.Client(transport=httpx.MockTransport(without_lifetime))
    channel.push(levels(1))
    world.clock.sleep(1800 - 31)
    channel.push(levels(1))
    assert world.operations()["lwaToken"] == 1
    world.clock.sleep(1)
    channel.push(levels(1))
    assert world.operations()["lwaToken"] == 2


def test_a_transport_failure_names_the_step_never_the_presigned_url() -> None:
    world = World()
    for i in range(10):
        world.fake.add_listing(f"S-{i}", quantity=1)

    def upload_fails(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/_documents/") and request.method == "PUT":
            raise httpx.ConnectError("cannot reach https://bucket.example/doc?X-Amz-Signature=secret")
        return world.fake(request)

    channel = world.channel()
    channel._client = httpx.Client(transport=httpx.MockTransport(upload_fails))
    with pytest.raises(TransientError) as caught:
        channel.push(levels(10))
    assert "ConnectError on the feed document PUT" in str(caught.value)
    assert "Signature" not in str(caught.value)
    assert world.operations()["createFeed"] == 0
