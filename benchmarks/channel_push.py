"""Cost of pushing changed quantities to a channel, over loopback to its fake.

    python benchmarks/channel_push.py --channel shopify --skus 10000 --changed 0.05

The fake is served on 127.0.0.1 (wire.serve, in a thread of this process) and the real adapter
talks to it over HTTP. A warm-up step maps the SKUs to push (the SKU → item cache a running
worker already holds); then the changed share is pushed in batches of the channel's limit, each
level carrying the quantity the worker believes the channel shows (``expected``), and measured:
every request the push made, THROTTLED answers, wall time, and the CPU time of the pushing thread
(the fake runs in other threads). The fake's clock is virtual: the adapter's pacing sleeps move it
instead of waiting, and ``virtual_wait_s`` says how long a real shop would have made it wait.
The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from campaigns.platforms import (
    LOCATION,
    MERCHANT_ACCOUNT,
    META_CATALOG,
    SHOP,
    START,
    merchant_channel,
    merchant_fake,
    meta_channel,
    meta_fake,
    shopify_channel,
    shopify_fake,
    sku_names,
    woo_channel,
    woo_fake,
)
from progress import log
from sheetsync_fakes.amazon import FakeAmazon
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.emag import FakeEmag
from sheetsync_fakes.wire import serve

from sheetsync.channels import Channel
from sheetsync.channels.amazon import AmazonChannel
from sheetsync.channels.emag import EmagChannel
from sheetsync.model import ChannelName, PushOutcome, Sku, StockLevel


def bench_shopify(skus: int, changed_share: float, seed: int) -> dict[str, Any]:
    clock = ManualClock(START)
    fake = shopify_fake(clock)  # a Standard plan: 2,000 points, 100/s
    rng = random.Random(seed)
    names = sku_names(skus)
    shown = {name: rng.randrange(0, 200) for name in names}
    for name in names:
        fake.add_product(SHOP, name, stock={LOCATION: shown[name]})
    changed = rng.sample(names, math.ceil(skus * changed_share))
    levels = [StockLevel(Sku(name), shown[name] + 1 + rng.randrange(20), shown[name]) for name in changed]
    log(f"{skus} variants on the Shopify fake; {len(changed)} quantities to push")

    with serve(fake) as base_url:
        channel = shopify_channel(fake, clock, base_url=base_url)
        try:
            log("warm-up: mapping the SKUs to push (a running worker holds this cache)...")
            channel.map_skus([level.sku for level in levels])
            warm_up_calls = len(fake.request_log)
            fake.request_log.clear()
            waited_before = clock.waited
            pushed = timed_push(channel, levels)
        finally:
            channel.close()

    applied = fake.levels(SHOP)
    wrong = sum(1 for level in levels if applied[level.sku, LOCATION] != level.quantity)
    operations = Counter(entry.operation_name or "" for entry in fake.request_log)
    return {
        **pushed.summary("shopify", skus, channel.limits.max_batch, clock.waited - waited_before),
        "api_calls": len(fake.request_log),
        "api_calls_by_operation": dict(operations),
        "min_api_calls": math.ceil(len(levels) / channel.limits.max_batch),
        "throttled_responses": sum(1 for entry in fake.request_log if entry.throttled),
        "quantities_not_applied": wrong,
        "warm_up_calls": warm_up_calls,
        "note": "SKU mapping cached in a warm-up step (not counted); api_calls is every request of the push",
    }


def bench_meta(skus: int, changed_share: float, seed: int) -> dict[str, Any]:
    """items_batch calls (the Catalog Batch limit counts these) and, apart, the status polls."""
    clock = ManualClock(START)
    fake = meta_fake(clock)
    rng = random.Random(seed)
    names = sku_names(skus)
    shown = {name: rng.randrange(0, 200) for name in names}
    for name in names:
        fake.add_product(
            META_CATALOG, name, availability="in stock", quantity_to_sell_on_facebook=shown[name]
        )
    changed = rng.sample(names, math.ceil(skus * changed_share))
    levels = [StockLevel(Sku(name), shown[name] + 1 + rng.randrange(20), shown[name]) for name in changed]
    log(f"{skus} products in the Meta fake's catalog; {len(changed)} quantities to push")

    with serve(fake) as base_url:
        channel = meta_channel(fake, clock, base_url=base_url)
        try:
            pushed = timed_push(channel, levels)
        finally:
            channel.close()

    applied = fake.quantities(META_CATALOG)
    wrong = sum(1 for level in levels if applied[level.sku] != level.quantity)
    edges = Counter(entry.edge for entry in fake.request_log)
    return {
        **pushed.summary("meta", skus, channel.limits.max_batch, clock.waited),
        "api_calls": edges["items_batch"],
        "min_api_calls": math.ceil(len(levels) / channel.limits.max_batch),
        "status_polls": edges["check_batch_request_status"],
        "api_calls_by_edge": dict(edges),
        "throttled_responses": sum(1 for entry in fake.request_log if entry.code == 80014),
        "lagging_outcomes": sum(1 for outcome in pushed.outcomes if outcome.message.startswith("LAG:")),
        "quantities_not_applied": wrong,
        "note": "api_calls counts items_batch only (the Catalog Batch limit); status_polls apart, "
        f"with Meta processing a batch in {fake.processing_delay_s:g} s",
    }


def bench_woo(skus: int, changed_share: float, seed: int) -> dict[str, Any]:
    """POST products/batch calls for simple products; the SKU mapping is warmed up and reported apart."""
    clock = ManualClock(START)
    fake = woo_fake(clock)
    rng = random.Random(seed)
    names = sku_names(skus)
    shown = {name: rng.randrange(0, 200) for name in names}
    for name in names:
        fake.add_product(name, stock=shown[name])
    changed = rng.sample(names, math.ceil(skus * changed_share))
    levels = [StockLevel(Sku(name), shown[name] + 1 + rng.randrange(20), shown[name]) for name in changed]
    log(f"{skus} simple products on the WooCommerce fake; {len(changed)} quantities to push")

    with serve(fake) as base_url:
        channel = woo_channel(fake, clock, base_url=base_url)
        try:
            log("warm-up: mapping the SKUs to push (a running worker holds this cache)...")
            channel.map_skus([level.sku for level in levels])
            warm_up_calls = len(fake.request_log)
            fake.request_log.clear()
            pushed = timed_push(channel, levels)
        finally:
            channel.close()

    wrong = sum(1 for level in levels if fake.stock(level.sku) != level.quantity)
    routes = Counter(entry.route for entry in fake.request_log)
    return {
        **pushed.summary("woo", skus, channel.limits.max_batch, clock.waited),
        "api_calls": len(fake.request_log),
        "api_calls_by_route": dict(routes),
        "min_api_calls": math.ceil(len(levels) / channel.limits.max_batch),
        "throttled_responses": sum(1 for entry in fake.request_log if entry.status == 429),
        "quantities_not_applied": wrong,
        "warm_up_calls": warm_up_calls,
        "note": "simple products: one products/batch per 100; variations would add one call per parent "
        "in each push; SKU mapping cached in a warm-up step (warm_up_calls, not counted)",
    }


#: The eMAG fake's API user and password (the benchmark's own).
EMAG_LOGIN = ("bench@shop.example", "bench-password")


def bench_emag(skus: int, changed_share: float, seed: int) -> dict[str, Any]:
    """Light ``offer/save`` calls, 50 offers each, paced to eMAG's 3 requests a second.

    The SKUs are the offers' ids (the seller's internal product ids), so nothing is mapped.
    """
    clock = ManualClock(START)
    user, secret = EMAG_LOGIN
    fake = FakeEmag(username=user, password=secret, now=clock)
    rng = random.Random(seed)
    ids = list(range(1, skus + 1))
    shown = {number: rng.randrange(0, 200) for number in ids}
    for number in ids:
        fake.add_offer(number, stock=shown[number])
    changed = rng.sample(ids, math.ceil(skus * changed_share))
    levels = [StockLevel(Sku(str(n)), shown[n] + 1 + rng.randrange(20), shown[n]) for n in changed]
    log(f"{skus} offers on the eMAG fake; {len(changed)} quantities to push")

    with serve(fake) as base_url:
        channel = EmagChannel(
            ChannelName("emag"),
            site="ro",
            username=user,
            password=secret,
            base_url=f"{base_url}/api-3",
            sleep=clock.sleep,
            clock=clock,
        )
        try:
            pushed = timed_push(channel, levels)
        finally:
            channel.close()

    wrong = sum(1 for level in levels if fake.stock(int(level.sku)) != level.quantity)
    routes = Counter(entry.route for entry in fake.request_log)
    return {
        **pushed.summary("emag", skus, channel.limits.max_batch, clock.waited),
        "api_calls": len(fake.request_log),
        "api_calls_by_route": dict(routes),
        "min_api_calls": math.ceil(len(levels) / channel.limits.max_batch),
        "throttled_responses": fake.throttled,
        "quantities_not_applied": wrong,
        "note": "offer ids are the SKUs: no mapping; 50 offers per offer/save (eMAG's bulk limit), "
        "paced to 3 requests a second shared by every non-order route",
    }


class AmazonLogin(TypedDict):
    """The app's Login with Amazon credentials, as FakeAmazon and AmazonChannel take them."""

    client_id: str
    client_secret: str
    refresh_token: str


#: The Amazon fake's seller and app (the benchmark's own).
AMAZON_LOGIN: AmazonLogin = {
    "client_id": "amzn1.application-oa2-client.bench",
    "client_secret": "bench-secret",
    "refresh_token": "Atzr|bench",
}
AMAZON_SELLER = "A2BENCHSELLER"
#: SP-API operations of a feed push (the document transfers go to the presigned URLs, apart).
AMAZON_FEED_OPERATIONS = ("createFeedDocument", "createFeed", "getFeed", "getFeedDocument")


def bench_amazon(skus: int, changed_share: float, seed: int) -> dict[str, Any]:
    """One JSON_LISTINGS_FEED per 25,000 changed SKUs; the SKU lookup is the warm-up.

    The documented minimum for a feed is createFeedDocument, createFeed, one getFeed and
    getFeedDocument (4 SP-API calls), plus the document's upload and the report's download.
    """
    clock = ManualClock(START)
    fake = FakeAmazon(seller_id=AMAZON_SELLER, now=clock, **AMAZON_LOGIN)
    rng = random.Random(seed)
    names = sku_names(skus)
    shown = {name: rng.randrange(0, 200) for name in names}
    for name in names:
        fake.add_listing(name, quantity=shown[name])
    changed = rng.sample(names, math.ceil(skus * changed_share))
    levels = [StockLevel(Sku(name), shown[name] + 1 + rng.randrange(20), shown[name]) for name in changed]
    log(f"{skus} listings on the Amazon fake; {len(changed)} quantities to push")

    with serve(fake) as base_url:
        channel = AmazonChannel(
            ChannelName("amazon"),
            region="na",
            marketplace_id="ATVPDKIKX0DER",
            seller_id=AMAZON_SELLER,
            base_url=base_url,
            token_url=f"{base_url}/auth/o2/token",
            sleep=clock.sleep,
            clock=clock,
            now=lambda: datetime.fromtimestamp(clock(), UTC),
            **AMAZON_LOGIN,
        )
        try:
            log("warm-up: sign-in, each SKU's product type and fulfilment (a running worker holds these)")
            channel.map_skus([level.sku for level in levels])
            warm_up = Counter(entry.operation for entry in fake.request_log)
            fake.request_log.clear()
            waited_before = clock.waited
            pushed = timed_push(channel, levels)
        finally:
            channel.close()

    wrong = sum(1 for level in levels if fake.quantity(level.sku) != level.quantity)
    operations = Counter(entry.operation for entry in fake.request_log)
    feeds = math.ceil(len(levels) / channel.limits.max_batch) if len(levels) > channel.patch_max else 0
    sp_api = {op: n for op, n in operations.items() if not op.startswith("document")}
    return {
        **pushed.summary("amazon", skus, channel.limits.max_batch, clock.waited - waited_before),
        "api_calls": sum(sp_api.values()),
        "api_calls_by_operation": dict(operations),
        "min_api_calls": len(AMAZON_FEED_OPERATIONS) * feeds if feeds else len(levels),
        "document_transfers": operations["documentUpload"] + operations["documentDownload"],
        "throttled_responses": sum(1 for entry in fake.request_log if entry.throttled),
        "quantities_not_applied": wrong,
        "warm_up_calls": dict(warm_up),
        "note": "api_calls counts SP-API operations (createFeedDocument, createFeed, getFeed polls, "
        "getFeedDocument); the document upload and report download go to presigned URLs "
        f"(document_transfers); the fake processes a feed in {fake.processing_delay_s:g} s and the "
        f"adapter first polls after {channel.limits.typical_lag_s:g} s",
    }


@dataclass(frozen=True)
class Pushed:
    """One measured push: its outcomes, the pushing thread's CPU time and the wall time."""

    levels: list[StockLevel]
    outcomes: list[PushOutcome]
    cpu_s: float
    wall_s: float

    def summary(self, channel: str, skus: int, max_batch: int, waited_s: float) -> dict[str, Any]:
        """The figures every channel reports."""
        return {
            "channel": channel,
            "skus": skus,
            "changed": len(self.levels),
            "max_batch": max_batch,
            "failed_outcomes": sum(1 for outcome in self.outcomes if not outcome.ok),
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "virtual_wait_s": round(waited_s, 3),
        }


def timed_push(channel: Channel, levels: list[StockLevel]) -> Pushed:
    """Push in batches of the channel's limit, as the worker does, and time it."""
    log("pushing...")
    size = channel.limits.max_batch
    outcomes: list[PushOutcome] = []
    cpu, wall = time.thread_time(), time.perf_counter()
    for start in range(0, len(levels), size):
        outcomes += channel.push(levels[start : start + size])
        log(f"  pushed {min(start + size, len(levels))}/{len(levels)}")
    return Pushed(levels, outcomes, time.thread_time() - cpu, time.perf_counter() - wall)


def bench_google(skus: int, changed_share: float, seed: int) -> dict[str, Any]:
    """Online availability only (no store): a changed quantity costs a call only when it flips."""
    clock = ManualClock(START)
    fake = merchant_fake(clock)
    rng = random.Random(seed)
    names = sku_names(skus)
    shown = {name: rng.randrange(0, 20) for name in names}
    for name in names:
        fake.add_product(
            MERCHANT_ACCOUNT, name, attributes={"availability": "IN_STOCK" if shown[name] else "OUT_OF_STOCK"}
        )
    changed = rng.sample(names, math.ceil(skus * changed_share))
    levels = []
    for name in changed:
        quantity = rng.choice([q for q in range(20) if q != shown[name]])
        levels.append(StockLevel(Sku(name), quantity, shown[name]))
    flips = sum(1 for level in levels if (level.quantity > 0) != (shown[level.sku] > 0))
    log(f"{skus} products on the Merchant fake; {len(levels)} quantities changed, {flips} flip availability")

    with serve(fake) as base_url:
        channel = merchant_channel(fake, clock, base_url=base_url)
        try:
            log("warm-up: token, quota groups, and the products' current availability...")
            channel.warm_up()
            channel.refresh([level.sku for level in levels])
            warm_up = Counter(entry.method_id for entry in fake.request_log)
            fake.request_log.clear()
            waited_before = clock.waited
            pushed = timed_push(channel, levels)
        finally:
            channel.close()

    wrong = sum(
        1
        for level in levels
        if fake.product_input(MERCHANT_ACCOUNT, level.sku)["productAttributes"]["availability"]
        != ("IN_STOCK" if level.quantity > 0 else "OUT_OF_STOCK")
    )
    writes = ("merchantapi.accounts.productInputs.patch", "merchantapi.accounts.productInputs.insert")
    return {
        **pushed.summary("google", skus, channel.limits.max_batch, clock.waited - waited_before),
        "api_calls": sum(1 for entry in fake.request_log if entry.method_id in writes),
        "api_calls_by_operation": dict(Counter(entry.method_id for entry in fake.request_log)),
        "min_api_calls": flips,
        "throttled_responses": sum(1 for entry in fake.request_log if entry.status == 429),
        "quantities_not_applied": wrong,
        "warm_up_calls": dict(warm_up),
        "note": "no store: only availability flips are written; "
        "token, quota and product reads are the warm-up",
    }


BENCHES = {
    "shopify": bench_shopify,
    "meta": bench_meta,
    "woo": bench_woo,
    "google": bench_google,
    "emag": bench_emag,
    "amazon": bench_amazon,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--channel", choices=sorted(BENCHES), default="shopify")
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.05, help="share of quantities that changed")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    report = BENCHES[args.channel](args.skus, args.changed, args.seed)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
