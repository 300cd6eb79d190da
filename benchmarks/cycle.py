"""One size of the end-to-end benchmark: real ``run_cycle`` cycles on the local fakes.

A synthetic catalogue of N SKUs lives in a Google Sheet (the Sheets fake, through the real
GoogleSheetsStore and gspread) and on four channels (the Shopify, Meta, WooCommerce and Merchant
fakes, through the real adapters), all in this process. Each platform's fake runs on its own
ManualClock, which its adapter's pacing and polling sleeps move (reported as rate_limit_wait_s,
never slept for real); the worker's cycles are 60 s apart on a clock of their own. Cycles:

1. **full**: a fresh worker, every SKU read back (the first audit) and pushed to every channel
   that shows something else;
2. **settle** (60 s later, not a headline figure): the pushes of cycle 1 are read back;
3. **1% changed** (60 s later): 1% of the SKUs changed, by the merchant typing new quantities
   (some to 0, so Google's availability flips) and by ten orders on Shopify and ten on
   WooCommerce.

For each measured cycle: the API calls per API, counted from the fakes' request logs, against the
minimum the APIs' documented batch limits allow for the work the cycle did (:func:`minimum`); the
engine's CPU time (the cycle's CPU time minus the time spent inside store and channel calls,
which is where the clients and the in-process fakes run); and the wall time.
"""

from __future__ import annotations

import gc
import math
import random
import tempfile
import time
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from campaigns.platforms import (
    MERCHANT_ACCOUNT,
    SHOP,
    START,
    config_text,
    list_everywhere,
    merchant_channel,
    merchant_fake,
    meta_channel,
    meta_fake,
    sheets_fake,
    sheets_store,
    shopify_channel,
    shopify_fake,
    sku_names,
    woo_channel,
    woo_fake,
)
from progress import log
from sheetsync_fakes.clock import ManualClock

from sheetsync.channels import Channel, OrderSource
from sheetsync.channels import meta as meta_module
from sheetsync.config import Settings, load
from sheetsync.model import INVENTORY_SHEET, LEDGER_SHEET, ChannelLimits, ChannelName, StatusUpdate
from sheetsync.stores.google_sheets import GoogleSheetsStore
from sheetsync.worker import CycleReport, run_cycle

APIS = ("sheets", "shopify", "meta", "google", "woo")
#: Orders placed on each selling channel before the 1%-changed cycle.
ORDERS = 10

# Batch limits, from each platform's documentation (the page in brackets).
#: Shopify: any input list (inventorySetQuantities) or connection page holds at most 250
#: [https://shopify.dev/docs/api/usage/limits].
SHOPIFY_LIST = 250
#: Shopify: a query may cost at most 1,000 points [https://shopify.dev/docs/api/usage/rate-limits];
#: a variant read with its level requests 4 (variant, item, level, quantities) and the
#: connection 2, so a level read holds at most 249.
SHOPIFY_READ = min(SHOPIFY_LIST, (1000 - 2) // 4)
#: Meta: items_batch takes up to 5,000 records, 3,000 recommended; the adapter sends 3,000
#: [https://developers.facebook.com/docs/marketing-api/catalog-batch/reference].
META_BATCH = meta_module.MAX_BATCH
#: Meta: no documented cap on a products read; the filter (the SKUs) travels in the query string,
#: so the adapter asks for 100 at a time to keep URLs a few KB long. Taken as the minimum.
META_READ = meta_module.READ_BATCH
#: WooCommerce: a batch holds 100 objects; list pages hold 100 (``per_page``)
#: [https://woocommerce.github.io/woocommerce-rest-api-docs/].
WOO_BATCH = 100
#: Merchant API: products.list pages hold up to 1,000 products; a write is one method call per
#: product (no batch method; an HTTP batch still counts each inner call against quota)
#: [https://developers.google.com/merchant/api/guides/quotas-limits/quotas].
MERCHANT_LIST = 1000


@dataclass
class Tally:
    """What one cycle asked of each channel (recorded by the timed wrappers)."""

    read: dict[str, int] = field(default_factory=Counter)  #: SKUs asked for by read_levels
    pushed: dict[str, int] = field(default_factory=Counter)  #: levels handed to push
    io_cpu: float = 0.0  #: thread CPU spent inside store and channel calls
    appended: int = 0  #: ledger entries appended
    cells: int = 0  #: Inventory cells written


class Meter:
    """Times every store and channel call of a cycle, so the engine's share can be told apart."""

    def __init__(self) -> None:
        self.tally = Tally()

    @contextmanager
    def io(self) -> Iterator[None]:
        start = time.thread_time()
        try:
            yield
        finally:
            self.tally.io_cpu += time.thread_time() - start


class TimedStore:
    """The store, with every call timed as I/O."""

    def __init__(self, store: GoogleSheetsStore, meter: Meter) -> None:
        self.store, self.meter = store, meter

    def read(self) -> Any:
        with self.meter.io():
            return self.store.read()

    def append_ledger(self, entries: Sequence[Any]) -> None:
        self.meter.tally.appended += len(entries)
        with self.meter.io():
            self.store.append_ledger(entries)

    def write_status(self, update: StatusUpdate) -> None:
        self.meter.tally.cells += len(update.cells)
        with self.meter.io():
            self.store.write_status(update)


class TimedChannel:
    """A channel, with every call timed as I/O and its reads and pushes counted."""

    def __init__(self, channel: Any, meter: Meter) -> None:
        self.channel, self.meter = channel, meter
        self.name: ChannelName = channel.name
        self.limits: ChannelLimits = channel.limits

    def push(self, levels: Sequence[Any]) -> Sequence[Any]:
        self.meter.tally.pushed[self.name] += len(levels)
        with self.meter.io():
            return self.channel.push(levels)  # type: ignore[no-any-return]

    def read_levels(self, skus: Collection[Any]) -> Mapping[Any, int]:
        self.meter.tally.read[self.name] += len(skus)
        with self.meter.io():
            return self.channel.read_levels(skus)  # type: ignore[no-any-return]


class TimedSource(TimedChannel):
    """A channel with checkout: its order reads are I/O too."""

    def orders_since(self, cursor: str | None) -> Any:
        with self.meter.io():
            return self.channel.orders_since(cursor)


@dataclass
class World:
    """The fakes, the real store and channels over them, and the catalogue."""

    clock: ManualClock  #: the worker's: each cycle's ``now``, 60 s apart
    clocks: dict[str, ManualClock]  #: each platform's, moved only by the waits its adapter makes
    skus: list[str]
    quantities: list[int]
    fakes: dict[str, Any]
    sheet: str
    settings: Settings
    store: GoogleSheetsStore
    channels: list[Any]
    ids: dict[str, dict[str, str]]  #: per channel, SKU → platform id (for the naive baseline)


def build(size: int, seed: int, directory: Path) -> World:
    """Seed a catalogue of ``size`` SKUs on every fake and open the real store and channels."""
    rng = random.Random(seed)
    clock = ManualClock(START)
    # One clock per platform: an adapter's pacing sleeps move its own platform's time (rate limits
    # are per platform), and the worker's cycles stay 60 s apart (see rate_limit_wait_s).
    clocks = {api: ManualClock(START) for api in ("shopify", "meta", "google", "woo")}
    skus = sku_names(size)
    quantities = [rng.randint(20, 200) for _ in skus]
    log(f"{size} SKUs: seeding the Sheets, Shopify, Meta, WooCommerce and Merchant fakes...")
    sheets, sheet = sheets_fake(
        [["SKU", "Quantity"], *([s, q] for s, q in zip(skus, quantities, strict=True))]
    )
    shopify, meta, woo, merchant = (
        shopify_fake(clocks["shopify"]),
        meta_fake(clocks["meta"]),
        woo_fake(clocks["woo"]),
        merchant_fake(clocks["google"]),
    )
    ids = list_everywhere(skus, shopify, meta, woo, merchant)
    config = directory / "sheetsync.toml"
    config.write_text(config_text(sheet))
    settings = load(config)
    store = sheets_store(sheets, sheet, settings.layout)
    store.prepare()  # `sheetsync init`: tabs and worker columns, before the worker's first cycle
    channels = [
        shopify_channel(shopify, clocks["shopify"]),
        meta_channel(meta, clocks["meta"]),
        merchant_channel(merchant, clocks["google"]),
        woo_channel(woo, clocks["woo"]),
    ]
    fakes = {"sheets": sheets, "shopify": shopify, "meta": meta, "google": merchant, "woo": woo}
    return World(clock, clocks, skus, quantities, fakes, sheet, settings, store, channels, ids)


def operation(api: str, entry: Any) -> str:
    """How a fake's log entry names the call."""
    if api == "sheets":
        return str(entry.operation)
    if api == "shopify":
        return str(entry.operation_name or ",".join(entry.root_fields))
    if api == "meta":
        return f"{entry.method} {entry.edge}"
    if api == "google":
        return str(entry.method_id)
    return f"{entry.method} {entry.route}"


def log_marks(world: World) -> dict[str, int]:
    return {api: len(fake.request_log) for api, fake in world.fakes.items()}


def calls_since(world: World, marks: Mapping[str, int]) -> dict[str, Counter[str]]:
    return {
        api: Counter(operation(api, entry) for entry in fake.request_log[marks[api] :])
        for api, fake in world.fakes.items()
    }


@dataclass
class Cycle:
    """One measured cycle."""

    name: str
    report: CycleReport
    calls: dict[str, Counter[str]]
    minimum: dict[str, dict[str, int]]
    cpu_s: float
    engine_cpu_s: float
    wall_s: float
    tally: Tally
    #: per platform, seconds its adapter waited (virtually) for rate limits and processing
    waited: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        ours = {api: sum(c.values()) for api, c in self.calls.items()}
        least = {api: sum(m.values()) for api, m in self.minimum.items()}
        return {
            "api_calls": sum(ours.values()),
            "min_api_calls": sum(least.values()),
            "api_calls_by_api": ours,
            "min_api_calls_by_api": least,
            "calls_by_operation": {api: dict(c) for api, c in self.calls.items()},
            "min_by_operation": self.minimum,
            "engine_cpu_s": round(self.engine_cpu_s, 3),
            "cycle_cpu_s": round(self.cpu_s, 3),
            "wall_s": round(self.wall_s, 3),
            "rate_limit_wait_s": {api: round(w, 1) for api, w in self.waited.items()},
            "pushed": dict(self.tally.pushed),
            "read_back": dict(self.tally.read),
            "ledger_rows_appended": self.tally.appended,
            "cells_written": self.tally.cells,
        }


def run(world: World, name: str, now: datetime, first: bool, orders: Mapping[str, int]) -> Cycle:
    """One real run_cycle, timed, with its calls counted against the minimum."""
    meter = Meter()
    store = TimedStore(world.store, meter)
    channels: list[Channel] = [
        TimedSource(c, meter) if isinstance(c, OrderSource) else TimedChannel(c, meter)
        for c in world.channels
    ]
    flips_before = availability(world)
    ledger_before = ledger_rows(world)
    marks = log_marks(world)
    slept = {api: clock.waited for api, clock in world.clocks.items()}
    gc.collect()
    gc.freeze()  # the fakes' heap is the platforms', not the worker's: keep it out of GC passes
    cpu, wall = time.thread_time(), time.perf_counter()
    report = run_cycle(store, channels, world.settings, now)  # type: ignore[arg-type]
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    calls = calls_since(world, marks)
    flips = sum(1 for sku, shown in availability(world).items() if flips_before.get(sku) != shown)
    grew = ledger_rows(world) > ledger_before
    minimum = least_calls(world, meter.tally, first=first, flips=flips, ledger_grew=grew, orders=orders)
    waited = {api: clock.waited - slept[api] for api, clock in world.clocks.items()}
    engine = cpu - meter.tally.io_cpu
    return Cycle(name, report, calls, minimum, cpu, engine, wall, meter.tally, waited)


def availability(world: World) -> dict[str, str]:
    """What each product input holds online (read from the fake's side: not a logged call)."""
    fake = world.fakes["google"]
    with fake._lock:  # the bench reads the fake's state directly, unlogged
        inputs = fake._accounts[MERCHANT_ACCOUNT].inputs
        return {
            offer: entry.body["productAttributes"]["availability"] for (_, _, offer), entry in inputs.items()
        }


def ledger_rows(world: World) -> int:
    fake = world.fakes["sheets"]
    return len(fake.get_values(world.sheet, LEDGER_SHEET))


def least_calls(
    world: World, tally: Tally, *, first: bool, flips: int, ledger_grew: bool, orders: Mapping[str, int]
) -> dict[str, dict[str, int]]:
    """The fewest calls per API that the documented batch limits allow for this cycle's work.

    The work is what the cycle had to do: the SKUs it read back (the monitor's choice: pushes not
    seen yet, raises, or every SKU on an audit), the levels it pushed, the orders there were, the
    availability flips Google needed, whether ledger rows were appended. One-time costs of a
    fresh worker (Shopify's location id, Google's token and quota groups, Google's product list)
    count in the first cycle only.
    """
    pages = lambda n, size: math.ceil(n / size)  # noqa: E731
    read, pushed = tally.read, tally.pushed
    sheets = {
        # Every tab in one read; then, just before writing, the header row, the SKU column and the
        # Status and State tabs again, so that a row or column the merchant inserted, moved or
        # deleted meanwhile never gets the worker's numbers: deliberate, counted.
        "spreadsheets.values.batchGet": 2,
    }
    if first:
        # A fresh worker looks up where its columns' tags are, and tags them (none yet): once.
        sheets["spreadsheets.developerMetadata.search"] = 1
        sheets["spreadsheets.batchUpdate"] = 1
    # Every worker cell, Status row and State cell in one write: through the columns' tags once
    # they are in place (Google places them where the column is at that instant), else by A1.
    tagged = tally.cells and not first
    sheets["spreadsheets.values.batchUpdateByDataFilter" if tagged else "spreadsheets.values.batchUpdate"] = 1
    if ledger_grew:
        # The Ledger's Key column tail first, deliberate: rows another worker appended since the
        # read mean this cycle's entries were planned from an old Ledger, and none is appended.
        sheets["spreadsheets.values.get"] = 1
        sheets["spreadsheets.values.append"] = 1
    shopify = {
        "SheetsyncLocations": 1 if first else 0,  # the location's id, once per worker
        # A channel's first sync records its start line instead of reading the order history.
        "SheetsyncOrders": 0 if first else max(1, pages(orders.get("shopify", 0), SHOPIFY_LIST)),
        "SheetsyncVariants": pages(read.get("shopify", 0), SHOPIFY_READ),
        "SheetsyncSetQuantities": pages(pushed.get("shopify", 0), SHOPIFY_LIST),
    }
    meta_batches = pages(pushed.get("meta", 0), META_BATCH)
    meta = {
        "POST items_batch": meta_batches,
        # Meta applies a batch asynchronously; only its status says which records it refused, so
        # the adapter must ask at least once per batch (the fake applies a batch within 2 s, and
        # the adapter's back-off asks at 1 s and again at 3 s: the second ask is the first
        # that can see it finished).
        "GET check_batch_request_status": meta_batches * polls_needed(world.fakes["meta"].processing_delay_s),
        "GET products": pages(read.get("meta", 0), META_READ),
    }
    google = {
        "oauth2.token": 1 if first else 0,
        "merchantapi.accounts.quotas.list": 1 if first else 0,
        # The current availability of every product, once: the whole account in pages of 1,000.
        "merchantapi.accounts.products.list": pages(len(world.skus), MERCHANT_LIST) if first else 0,
        "merchantapi.accounts.productInputs.patch": flips,
    }
    woo = {
        "GET orders": 0 if first else max(1, pages(orders.get("woo", 0), WOO_BATCH)),
        "GET products": pages(read.get("woo", 0), WOO_BATCH),
        "POST products/batch": pages(pushed.get("woo", 0), WOO_BATCH),
    }
    return {
        api: {op: n for op, n in ops.items() if n}
        for api, ops in {
            "sheets": sheets,
            "shopify": shopify,
            "meta": meta,
            "google": google,
            "woo": woo,
        }.items()
    }


def polls_needed(delay: float) -> int:
    """Status polls the adapter's doubling back-off (1, 2, 4, 8 … s) makes before one sees ``delay``."""
    waited, step, polls = 0.0, 1.0, 0
    while True:
        waited += step
        polls += 1
        if waited >= delay:
            return polls
        step = min(step * 2, 8.0)


def change(world: World, share: float, seed: int) -> dict[str, int]:
    """Change ``share`` of the SKUs: ten orders on Shopify and ten on WooCommerce, merchant edits."""
    rng = random.Random(seed)
    changed = rng.sample(range(len(world.skus)), max(3 * ORDERS, round(len(world.skus) * share)))
    sheets, shopify, woo = world.fakes["sheets"], world.fakes["shopify"], world.fakes["woo"]
    for index in changed[:ORDERS]:
        shopify.place_order(SHOP, [(world.skus[index], 1)])
    for index in changed[ORDERS : 2 * ORDERS]:
        woo.place_order([(world.skus[index], 1)], status="processing")
    for n, index in enumerate(changed[2 * ORDERS :]):
        value = 0 if n % 2 else world.quantities[index] + 1 + rng.randrange(50)  # half sell out
        sheets.set_values(world.sheet, f"{INVENTORY_SHEET}!B{index + 2}", [[value]], value_input_option="RAW")
    return {"shopify": ORDERS, "woo": ORDERS, "changed": len(changed)}


def measure(size: int, changed_share: float = 0.01, seed: int = 1) -> dict[str, Any]:
    """Build the world for ``size`` SKUs and run the three cycles; the figures as a dict."""
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        world = build(size, seed, Path(directory))
        seeded_s = time.perf_counter() - started
        now = datetime.fromtimestamp(world.clock(), UTC)
        log(f"{size} SKUs: full cycle...")
        full = run(world, "full", now, True, {})
        world.clock.sleep(60)
        log(f"{size} SKUs: settle cycle...")
        settle = run(world, "settle", datetime.fromtimestamp(world.clock(), UTC), False, {})
        world.clock.sleep(60)
        orders = change(world, changed_share, seed)
        log(f"{size} SKUs: {orders['changed']} SKUs changed; 1% cycle...")
        delta = run(world, "changed", datetime.fromtimestamp(world.clock(), UTC), False, orders)
        for cycle in (full, settle, delta):
            if cycle.report.errors:
                raise RuntimeError(f"{cycle.name} cycle: {dict(cycle.report.errors)}")
        return {
            "skus": size,
            "channels": len(world.channels),
            "changed_skus": orders["changed"],
            "seed_s": round(seeded_s, 1),
            "full": full.summary(),
            "settle": settle.summary(),
            "changed": delta.summary(),
            "world": world,
        }
