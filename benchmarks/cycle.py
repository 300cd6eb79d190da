"""One size of the end-to-end benchmark: real ``run_cycle`` cycles on the local fakes.

A synthetic catalogue of N SKUs lives in a Google Sheet (the Sheets fake, through the real
GoogleSheetsStore and gspread) and on four channels (the Shopify, Meta, WooCommerce and Merchant
fakes, through the real adapters opened as the worker opens them), all in this process. Each
platform's fake runs on its own ManualClock, which its adapter's pacing and polling sleeps move
(reported as rate_limit_wait_s, never slept for real); between two cycles every clock moves on by
the worker's interval (60 s by default). :func:`worker_memory` runs the worker in a process of its
own instead (:class:`Apart`), for its memory alone. Cycles:

1. **full**: a fresh worker, every SKU read back (the first audit) and pushed to every channel
   that shows something else;
2. **settle** (not a headline figure): the pushes of cycle 1 are read back;
3. **1% changed**: 1% of the SKUs changed, by the merchant typing new quantities (some to 0, so
   Google's availability flips) and by ten orders on Shopify and ten on WooCommerce;
4. **busy**: a minute of trade after it, ten orders on each of the two shops and ten recounts: it
   reads the Inventory the cycle before wrote, as every cycle does on a busy day;
5. quiet cycles, unmeasured, until no pushed SKU is watched any more;
6. **idle**: one audit period of cycles where nothing changes (``audit_every_s`` over the
   interval, from the settings); the first is the idle figure, their mean the steady state, so
   the audit's reads count in it however the worker spreads them.

For each measured cycle: the API calls per API, counted from the fakes' request logs, against the
minimum the APIs' documented limits allow for the work the cycle did (:func:`least_calls`); what
the calls used of each plan's quota (:func:`quotas`); the engine's CPU time (the cycle's CPU time
minus the time spent inside the fakes: the worker's own, parsing the sheet included); and the wall
time. The steady state is projected over a month against each quota.
"""

from __future__ import annotations

import gc
import math
import multiprocessing
import random
import resource
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx
from campaigns.platforms import (
    MERCHANT_ACCOUNT,
    MERCHANT_EMAIL,
    SHEETS_EMAIL,
    SHOP,
    START,
    config_text,
    key,
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
from sheetsync_fakes.wire import Handler

from sheetsync.channels import Channel, OrderSource
from sheetsync.config import Settings, load
from sheetsync.model import INVENTORY_SHEET, LEDGER_SHEET, ChannelLimits, ChannelName, StatusUpdate
from sheetsync.stores.google_sheets import GoogleSheetsStore
from sheetsync.worker import Heap, run_cycle

APIS = ("sheets", "shopify", "meta", "google", "woo")
#: Orders placed on each selling channel before the 1%-changed cycle.
ORDERS = 10

# Batch limits and quotas, from each API's documentation (the page in brackets). The benchmark
# keeps its own copies: a minimum taken from an adapter's constant would only check the adapter
# against itself.
#: Shopify: any input list (inventorySetQuantities) or connection page holds at most 250
#: [https://shopify.dev/docs/api/usage/limits].
SHOPIFY_LIST = 250
#: Shopify: a query may cost at most 1,000 points [https://shopify.dev/docs/api/usage/rate-limits];
#: a variant read with its level requests 4 (variant, item, level, quantities) and the
#: connection 2, so a level read holds at most 249.
SHOPIFY_READ = min(SHOPIFY_LIST, (1000 - 2) // 4)
#: Meta: items_batch takes at most 5,000 records a call (3,000 recommended)
#: [https://developers.facebook.com/docs/marketing-api/catalog-batch/reference].
META_BATCH = 5000
#: Meta: no documented cap on one products read. The SKUs travel in the URL's filter, and 100 a
#: read keeps the URL a few KB long: the benchmark's assumption, not a documented limit.
META_READ = 100
#: WooCommerce: a batch holds 100 objects; list pages hold 100 (``per_page``)
#: [https://woocommerce.github.io/woocommerce-rest-api-docs/].
WOO_BATCH = 100
#: Merchant API: products.list pages hold up to 1,000 products; a write is one method call per
#: product (no batch method; an HTTP batch still counts each inner call against quota)
#: [https://developers.google.com/merchant/api/guides/quotas-limits/quotas].
MERCHANT_LIST = 1000

#: A month, for the projections: 30 days.
MONTH_S = 30 * 86_400
#: Google Sheets: 60 read requests and 60 write requests a minute per user per project (300 per
#: project); the worker is one user [https://developers.google.com/sheets/api/limits].
SHEETS_PER_MINUTE = 60
#: Shopify: cost points restored a second on a Standard plan
#: [https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits].
SHOPIFY_POINTS_PER_S = 100
#: Meta: Catalog Batch calls (items_batch, localized_items_batch, batch) and Catalog Management
#: calls an hour per catalog, for one user
#: [https://developers.facebook.com/docs/graph-api/overview/rate-limiting#catalog].
META_BATCH_PER_HOUR = 200
META_MANAGEMENT_PER_HOUR = 20_000
#: Merchant API: quotas per method group are dynamic (``accounts.quotas.list``); the documented
#: policy is to update a product at most about twice a day
#: [https://developers.google.com/merchant/api/guides/products/frequent-updates].
MERCHANT_UPDATES_PER_PRODUCT_PER_DAY = 2


@dataclass(frozen=True)
class Quota:
    """One plan's allowance for a group of calls, over a month."""

    api: str
    unit: str  #: "calls", or "points" for Shopify's cost
    per_month: float | None  #: None: no documented fixed figure
    plan: str  #: the allowance as documented


def quotas(skus: int) -> dict[str, Quota]:
    """Each quota group's monthly allowance for a catalogue of ``skus``."""
    minutes, hours = MONTH_S / 60, MONTH_S / 3600
    return {
        "sheets_reads": Quota("sheets", "calls", SHEETS_PER_MINUTE * minutes, "60 reads/min per user"),
        "sheets_writes": Quota("sheets", "calls", SHEETS_PER_MINUTE * minutes, "60 writes/min per user"),
        "shopify_points": Quota(
            "shopify", "points", SHOPIFY_POINTS_PER_S * MONTH_S, "Standard: 100 points/s restored"
        ),
        "meta_catalog_batch": Quota("meta", "calls", META_BATCH_PER_HOUR * hours, "Catalog Batch: 200/h"),
        "meta_catalog_management": Quota(
            "meta", "calls", META_MANAGEMENT_PER_HOUR * hours, "Catalog Management: 20,000/h"
        ),
        "merchant_product_writes": Quota(
            "google",
            "calls",
            MERCHANT_UPDATES_PER_PRODUCT_PER_DAY * skus * MONTH_S / 86_400,
            "about 2 updates a product a day (policy)",
        ),
        "merchant_other": Quota("google", "calls", None, "dynamic: accounts.quotas.list"),
        "woo": Quota("woo", "calls", None, "none in core (host-bound)"),
    }


def quota_group(api: str, entry: Any) -> tuple[str, float]:
    """The quota group a fake's log entry counts against, and how much of it (calls, or points)."""
    name = operation(api, entry)
    if api == "sheets":
        written = ("batchUpdate", "batchUpdateByDataFilter", "append", "update", "clear", "batchClear")
        return ("sheets_writes" if name.endswith(written) else "sheets_reads"), 1
    if api == "shopify":
        cost = entry.actual_cost if entry.actual_cost is not None else entry.requested_cost
        return "shopify_points", float(cost or 0)
    if api == "meta":
        # The docs place items_batch, localized_items_batch and batch under Catalog Batch; the
        # rest (reads, item updates, and the status polls the docs place nowhere) is counted
        # under Catalog Management.
        batch = entry.edge in {"items_batch", "localized_items_batch", "batch"}
        return ("meta_catalog_batch" if batch else "meta_catalog_management"), 1
    if api == "google":
        writes = ("productInputs", "localInventories", "regionalInventories")
        return ("merchant_product_writes" if any(w in name for w in writes) else "merchant_other"), 1
    return "woo", 1


@dataclass
class Tally:
    """What one cycle asked of each channel (recorded by the timed wrappers)."""

    read: dict[str, int] = field(default_factory=Counter)  #: SKUs asked for by read_levels
    pushed: dict[str, int] = field(default_factory=Counter)  #: levels handed to push
    io_cpu: float = 0.0  #: thread CPU spent inside store and channel calls (the fakes' included)
    #: per call (``read``, ``meta read_levels``), the worker's CPU inside it: the fakes' left out
    by_call: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    appended: int = 0  #: ledger entries appended
    cells: int = 0  #: Inventory cells written


class Meter:
    """Times every store and channel call of a cycle, so that the worker's CPU inside them is told apart."""

    def __init__(self, fakes_cpu: list[float]) -> None:
        self.tally = Tally()
        self.fakes_cpu = fakes_cpu  #: the World's cell that ``Served`` adds the fakes' CPU to

    @contextmanager
    def io(self, call: str) -> Iterator[None]:
        start, fakes = time.thread_time(), self.fakes_cpu[0]
        try:
            yield
        finally:
            spent = time.thread_time() - start
            self.tally.io_cpu += spent
            self.tally.by_call[call] += spent - (self.fakes_cpu[0] - fakes)


class Served:
    """A fake as its adapter sees it, with the CPU it spends answering counted as the platform's,
    and the bytes of its answers counted in ``received`` under ``api``.

    The fakes run in this process, so their work would otherwise be billed to the worker.
    """

    def __init__(self, fake: Handler, spent: list[float], received: Counter[str], api: str) -> None:
        self.fake, self.spent, self.received, self.api = fake, spent, received, api

    def __call__(self, request: httpx.Request) -> httpx.Response:
        start = time.thread_time()
        try:
            answer = self.fake(request)
        finally:
            self.spent[0] += time.thread_time() - start
        self.received[self.api] += len(answer.read())
        return answer


class TimedStore:
    """The store, with every call timed as I/O."""

    def __init__(self, store: GoogleSheetsStore, meter: Meter) -> None:
        self.store, self.meter = store, meter

    def read(self) -> Any:
        with self.meter.io("read"):
            return self.store.read()

    def append_ledger(self, entries: Sequence[Any]) -> None:
        self.meter.tally.appended += len(entries)
        with self.meter.io("append_ledger"):
            self.store.append_ledger(entries)

    def write_status(self, update: StatusUpdate) -> None:
        self.meter.tally.cells += len(update.cells)
        with self.meter.io("write_status"):
            self.store.write_status(update)


class TimedChannel:
    """A channel, with every call timed as I/O and its reads and pushes counted."""

    def __init__(self, channel: Any, meter: Meter) -> None:
        self.channel, self.meter = channel, meter
        self.name: ChannelName = channel.name
        self.limits: ChannelLimits = channel.limits

    def push(self, levels: Sequence[Any]) -> Sequence[Any]:
        self.meter.tally.pushed[self.name] += len(levels)
        with self.meter.io(f"{self.name} push"):
            outcomes: Sequence[Any] = self.channel.push(levels)
            return outcomes

    def read_levels(self, skus: Collection[Any]) -> Mapping[Any, int]:
        self.meter.tally.read[self.name] += len(skus)
        with self.meter.io(f"{self.name} read_levels"):
            shown: Mapping[Any, int] = self.channel.read_levels(skus)
            return shown


class TimedSource(TimedChannel):
    """A channel with checkout: its order reads are I/O too."""

    def orders_since(self, cursor: str | None) -> Any:
        with self.meter.io(f"{self.name} orders_since"):
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
    fakes_cpu: list[float]  #: thread CPU spent inside the fakes so far (one cell, see Served)
    received: Counter[str]  #: per API, the bytes of the answers the worker received so far (Served)
    #: the fewest items_batch calls of Meta's last push, each still to be asked about once
    meta_unasked: int = 0
    #: the measured worker, when it runs in a process of its own (``build(..., apart=True)``)
    apart: Apart | None = None

    def later(self, seconds: float) -> None:
        """Let ``seconds`` pass everywhere: the worker's clock and every platform's."""
        self.clock.sleep(seconds)
        for clock in self.clocks.values():
            clock.sleep(seconds)


def build(size: int, seed: int, directory: Path, apart: bool = False) -> World:
    """Seed a catalogue of ``size`` SKUs on every fake and open the real store and channels.

    With ``apart``, the measured worker runs in a process of its own (see :class:`Apart`),
    started before the fakes are seeded; ``World.store`` and ``World.channels`` stay in this
    process, for the naive scripts.
    """
    rng = random.Random(seed)
    clock = ManualClock(START)
    # One clock per platform: an adapter's pacing sleeps move its own platform's time (rate limits
    # are per platform), and the worker's cycles stay 60 s apart (see rate_limit_wait_s).
    clocks = {api: ManualClock(START) for api in ("shopify", "meta", "google", "woo")}
    worker = Apart.start(clocks) if apart else None
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
    fakes: dict[str, Handler] = {
        "sheets": sheets,
        "shopify": shopify,
        "meta": meta,
        "google": merchant,
        "woo": woo,
    }
    spent, received = [0.0], Counter[str]()
    store, channels = open_worker(fakes, clocks, sheet, settings, spent, received)
    if worker is None:
        store.prepare()  # `sheetsync init`: tabs and worker columns, before the worker's first cycle
    else:
        worker.open(fakes, sheet, config)
    return World(
        clock,
        clocks,
        skus,
        quantities,
        fakes,
        sheet,
        settings,
        store,
        channels,
        ids,
        spent,
        received,
        apart=worker,
    )


def open_worker(
    fakes: Mapping[str, Handler],
    clocks: Mapping[str, ManualClock],
    sheet: str,
    settings: Settings,
    spent: list[float],
    received: Counter[str],
) -> tuple[GoogleSheetsStore, list[Any]]:
    """The real store and channels over ``fakes``, each call's time inside them added to ``spent``
    and the bytes of its answer to ``received``.
    """
    store = sheets_store(Served(fakes["sheets"], spent, received, "sheets"), sheet, settings.layout)
    channels = [
        shopify_channel(Served(fakes["shopify"], spent, received, "shopify"), clocks["shopify"]),
        meta_channel(Served(fakes["meta"], spent, received, "meta"), clocks["meta"]),
        merchant_channel(Served(fakes["google"], spent, received, "google"), clocks["google"]),
        woo_channel(Served(fakes["woo"], spent, received, "woo"), clocks["woo"]),
    ]
    return store, channels


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


def quota_use_since(world: World, marks: Mapping[str, int]) -> dict[str, float]:
    """Per quota group, what the calls since ``marks`` used of it (calls, or Shopify's points)."""
    used: dict[str, float] = dict.fromkeys(quotas(len(world.skus)), 0.0)
    for api, fake in world.fakes.items():
        for entry in fake.request_log[marks[api] :]:
            group, amount = quota_group(api, entry)
            used[group] += amount
    return used


@dataclass
class Cycle:
    """One measured cycle."""

    name: str
    calls: dict[str, Counter[str]]
    minimum: dict[str, dict[str, int]]
    cpu_s: float
    engine_cpu_s: float  #: the cycle's CPU minus the fakes': the worker's own, parsing included
    fakes_cpu_s: float
    wall_s: float
    tally: Tally
    quota_use: dict[str, float]
    #: per platform, seconds its adapter waited (virtually) for rate limits and processing
    waited: dict[str, float] = field(default_factory=dict)
    #: per API, the bytes of the answers the worker received
    received: dict[str, int] = field(default_factory=dict)

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
            # The worker's CPU inside store and channel calls: parsing the sheet's reply,
            # building and decoding requests (part of engine_cpu_s).
            "calls_cpu_s": round(self.tally.io_cpu - self.fakes_cpu_s, 3),
            "calls_cpu_ms_by_call": {
                call: round(cpu * 1000, 1) for call, cpu in sorted(self.tally.by_call.items())
            },
            "fakes_cpu_s": round(self.fakes_cpu_s, 3),
            "received_kb_by_api": {api: round(self.received.get(api, 0) / 1024, 1) for api in APIS},
            "cycle_cpu_s": round(self.cpu_s, 3),
            "wall_s": round(self.wall_s, 3),
            "rate_limit_wait_s": {api: round(w, 1) for api, w in self.waited.items()},
            "pushed": dict(self.tally.pushed),
            "read_back": dict(self.tally.read),
            "ledger_rows_appended": self.tally.appended,
            "cells_written": self.tally.cells,
            "quota_use": {group: round(used, 1) for group, used in self.quota_use.items()},
        }


def run(world: World, name: str, now: datetime, first: bool, orders: Mapping[str, int]) -> Cycle:
    """One real run_cycle, timed, with its calls counted against the minimum."""
    flips_before = availability(world)
    ledger_before = ledger_rows(world)
    marks, received = log_marks(world), Counter(world.received)
    if world.apart is None:
        ran = execute(world.store, world.channels, world.settings, now, world.clocks, world.fakes_cpu)
    else:
        ran = world.apart.cycle(world.fakes, world.settings, now)
    if ran.errors:
        raise RuntimeError(f"{name} cycle: {ran.errors}")
    calls = calls_since(world, marks)
    flips = sum(1 for sku, shown in availability(world).items() if flips_before.get(sku) != shown)
    grew = ledger_rows(world) > ledger_before
    minimum = least_calls(world, ran.tally, first=first, flips=flips, ledger_grew=grew, orders=orders)
    use = quota_use_since(world, marks)
    return Cycle(
        name,
        calls,
        minimum,
        ran.cpu_s,
        ran.cpu_s - ran.fakes_cpu_s,
        ran.fakes_cpu_s,
        ran.wall_s,
        ran.tally,
        use,
        ran.waited,
        dict(world.received - received),  # the worker apart's answers are not counted here
    )


@dataclass
class Ran:
    """One run_cycle as the process that ran it measured it."""

    errors: dict[str, Any]  #: the report's errors, per channel
    tally: Tally
    cpu_s: float  #: the cycle's thread CPU, the fakes' included
    fakes_cpu_s: float  #: the part of it spent inside the fakes (see Served)
    wall_s: float
    waited: dict[str, float]  #: per platform, seconds its adapter waited (virtually)


def execute(
    store: GoogleSheetsStore,
    channels: Sequence[Any],
    settings: Settings,
    now: datetime,
    clocks: Mapping[str, ManualClock],
    fakes_cpu: list[float],
) -> Ran:
    """Run one cycle of the worker over ``store`` and ``channels``, every call timed."""
    meter = Meter(fakes_cpu)
    timed: list[Channel] = [
        TimedSource(c, meter) if isinstance(c, OrderSource) else TimedChannel(c, meter) for c in channels
    ]
    slept = {api: clock.waited for api, clock in clocks.items()}
    # Held as the worker's loop holds it (collected, frozen, no full collection of the
    # collector's own); the fakes' heap is frozen too: it is the platforms', not the worker's.
    heap = Heap()
    heap.settle(0.0)
    spent = fakes_cpu[0]
    cpu, wall = time.thread_time(), time.perf_counter()
    report = run_cycle(TimedStore(store, meter), timed, settings, now)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    heap.release()  # so that the next cycle's collection (untimed) frees what this one dropped
    waited = {api: clock.waited - slept[api] for api, clock in clocks.items()}
    errors = {str(channel): problem for channel, problem in report.errors.items() if problem}
    return Ran(errors, meter.tally, cpu, fakes_cpu[0] - spent, wall, waited)


class Apart:
    """The measured worker in a process of its own, so that the memory it uses is its own.

    In one process the fakes' work lands in the worker's resident set: a 100,000-SKU Status
    write has the Sheets fake parse an 800,000-cell request, journal it and copy the book. Here
    the worker is forked before the fakes are seeded (an interpreter with the libraries loaded),
    opens the real store and channels, and sends each of their requests through a pipe; this
    process answers it from the fakes. Each request carries the worker's platform clocks (its
    adapters' waits move time there) and each cycle this process's (the bench moves time here).
    """

    def __init__(self, conn: Connection, process: BaseProcess, clocks: Mapping[str, ManualClock]) -> None:
        self.conn, self.process, self.clocks = conn, process, clocks

    @classmethod
    def start(cls, clocks: Mapping[str, ManualClock]) -> Apart:
        for email in (SHEETS_EMAIL, MERCHANT_EMAIL):
            key(
                email
            )  # made and cached per process: made before the fork, the worker signs with the fakes' keys
        ours, theirs = multiprocessing.Pipe()
        fork = multiprocessing.get_context("fork")
        process = fork.Process(target=_worker_apart, args=(theirs, clocks), name="bench-worker", daemon=True)
        process.start()
        theirs.close()
        return cls(ours, process, clocks)

    def open(self, fakes: Mapping[str, Handler], sheet: str, config: Path) -> None:
        """Open the worker's store and channels and prepare the sheet (``sheetsync init``)."""
        gc.collect()
        gc.freeze()  # the fakes' heap, as the in-process run freezes it (see execute)
        self._ask(fakes, ("open", sheet, str(config)))

    def cycle(self, fakes: Mapping[str, Handler], settings: Settings, now: datetime) -> Ran:
        """Run one cycle of the worker with ``settings`` at ``now``."""
        ran: Ran
        ran, times = self._ask(fakes, ("cycle", settings, now, _times(self.clocks)))
        _set_times(self.clocks, times)
        return ran

    def stop(self, fakes: Mapping[str, Handler]) -> float:
        """End the worker; its peak resident set, in MB."""
        peak: float = self._ask(fakes, ("stop",))
        self.process.join(10)
        self.conn.close()
        gc.unfreeze()
        return peak

    def _ask(self, fakes: Mapping[str, Handler], command: tuple[Any, ...]) -> Any:
        """Send ``command`` and answer the worker's requests until it is done."""
        self.conn.send(command)
        while True:
            kind, *rest = self.conn.recv()
            if kind == "done":
                return rest[0]
            if kind == "failed":
                raise RuntimeError(f"the worker apart failed:\n{rest[0]}")
            api, times, method, url, headers, content = rest
            _set_times(self.clocks, times)
            answer = fakes[api](httpx.Request(method, url, headers=headers, content=content))
            self.conn.send((answer.status_code, answer.headers.multi_items(), answer.read()))


class _Forwarded:
    """A fake as the worker apart sees it: each request goes through the pipe (see Apart)."""

    def __init__(self, conn: Connection, api: str, clocks: Mapping[str, ManualClock]) -> None:
        self.conn, self.api, self.clocks = conn, api, clocks

    def __call__(self, request: httpx.Request) -> httpx.Response:
        headers = request.headers.multi_items()
        self.conn.send(
            ("http", self.api, _times(self.clocks), request.method, str(request.url), headers, request.read())
        )
        status, headers, content = self.conn.recv()
        return httpx.Response(status, headers=headers, content=content, request=request)


def _worker_apart(conn: Connection, clocks: Mapping[str, ManualClock]) -> None:
    """The worker's process (see Apart): its commands come through ``conn``."""
    fakes = {api: _Forwarded(conn, api, clocks) for api in APIS}
    spent = [0.0]
    store: GoogleSheetsStore | None = None
    channels: list[Any] = []
    while (command := conn.recv())[0] != "stop":
        try:
            if command[0] == "open":
                _, sheet, config = command
                store, channels = open_worker(fakes, clocks, sheet, load(Path(config)), spent, Counter())
                store.prepare()
                conn.send(("done", None))
            else:
                _, settings, now, times = command
                _set_times(clocks, times)
                assert store is not None  # noqa: S101 - opened first
                ran = execute(store, channels, settings, now, clocks, spent)
                conn.send(("done", (ran, _times(clocks))))
        except Exception:  # reported to the bench, which raises it
            conn.send(("failed", traceback.format_exc()))
            return
    # The peak since the fork; the child starts from the resident set the bench had then.
    conn.send(("done", round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)))


def _times(clocks: Mapping[str, ManualClock]) -> dict[str, float]:
    return {api: clock() for api, clock in clocks.items()}


def _set_times(clocks: Mapping[str, ManualClock], times: Mapping[str, float]) -> None:
    for api, now in times.items():
        clocks[api].now = now


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

    def pages(n: int, size: int) -> int:
        return math.ceil(n / size)

    read, pushed = tally.read, tally.pushed
    sheets = {
        # Every tab in one read; then, just before writing, the header row, the SKU column and the
        # Status and State tabs again, so that a row or column the merchant inserted, moved or
        # deleted meanwhile never gets the worker's numbers: deliberate, counted.
        # When the worker's Inventory cells are written, the SKU column once more after the write:
        # a row moved in the write's round trip would have shifted them (then they are written again).
        "spreadsheets.values.batchGet": 3 if tally.cells else 2,
    }
    if first:
        # A fresh worker looks up where its columns' tags are (`sheetsync init` made them): once.
        sheets["spreadsheets.developerMetadata.search"] = 1
    # Every worker cell, Status row and State cell in one write: the worker's Inventory cells go
    # through their columns' tags (Google places them where the column is at that instant).
    sheets[
        "spreadsheets.values.batchUpdateByDataFilter" if tally.cells else "spreadsheets.values.batchUpdate"
    ] = 1
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
    asked = 0
    if meta_batches:
        # Meta applies a batch asynchronously and only its status says which records it refused,
        # so each batch is asked about once. The worker does not wait for that (settle_s=0): it
        # asks at the next push, a minute or more later, when the batch has long been applied.
        asked, world.meta_unasked = world.meta_unasked, meta_batches
    meta = {
        "POST items_batch": meta_batches,
        "GET check_batch_request_status": asked,
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


def at(world: World) -> datetime:
    return datetime.fromtimestamp(world.clock(), UTC)


def measure(
    size: int, changed_share: float = 0.01, seed: int = 1, period: float | None = None
) -> dict[str, Any]:
    """Build the world for ``size`` SKUs and run its cycles; the figures as a dict.

    ``period`` (seconds) replaces every channel's ``audit_every`` and ``max_lag``: a shorter
    steady state for the tests; the benchmark keeps the defaults.
    """
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        world = build(size, seed, Path(directory))
        if period is not None:
            shorter = [replace(c, audit_every_s=period, max_lag_s=period) for c in world.settings.channels]
            world.settings = replace(world.settings, channels=tuple(shorter))
        seeded_s = time.perf_counter() - started
        return {
            "skus": size,
            "channels": len(world.channels),
            "seed_s": round(seeded_s, 1),
            **_cycles(world, changed_share, seed),
            "world": world,
        }


def worker_memory(size: int, changed_share: float = 0.01, seed: int = 1) -> float:
    """The worker process's peak resident set in MB (the interpreter and libraries included)
    over a full, a settle, a changed and an idle cycle, with the worker apart from the fakes.

    Call it in a process that holds little yet: the worker is forked from it (see Apart).
    """
    with tempfile.TemporaryDirectory() as directory:
        world = build(size, seed, Path(directory), apart=True)
        assert world.apart is not None  # noqa: S101 - built apart
        log(f"{size} SKUs, the worker apart: full, settle, changed and idle cycles...")
        spacing = min(c.interval_s for c in world.settings.channels)
        run(world, "full", at(world), True, {})
        world.later(spacing)
        run(world, "settle", at(world), False, {})
        world.later(spacing)
        orders = change(world, changed_share, seed)
        run(world, "changed", at(world), False, orders)
        world.later(spacing)
        run(world, "idle", at(world), False, {})
        return world.apart.stop(world.fakes)


def _cycles(world: World, changed_share: float, seed: int) -> dict[str, Any]:
    """The measured cycles, in order (see the module's docstring)."""
    size = len(world.skus)
    channels = world.settings.channels
    spacing = min(c.interval_s for c in channels)  # the worker's cycles, every channel due
    between_audits = math.ceil(max(c.audit_every_s for c in channels) / spacing)
    watched_s = max(c.max_lag_s for c in channels)
    log(f"{size} SKUs: full cycle...")
    # Summaries only: a cycle's report holds its whole plan (tens of MB at 10,000 SKUs).
    full = run(world, "full", at(world), True, {}).summary()
    world.later(spacing)
    log(f"{size} SKUs: settle cycle...")
    settle = run(world, "settle", at(world), False, {}).summary()
    world.later(spacing)
    orders = change(world, changed_share, seed)
    log(f"{size} SKUs: {orders['changed']} SKUs changed; 1% cycle...")
    changed_at = world.clock()
    delta = run(world, "changed", at(world), False, orders).summary()
    world.later(spacing)
    trade = change(world, 0.0, seed + 1)  # the fewest change() makes: its orders and a few recounts
    log(f"{size} SKUs: busy cycle ({trade['changed']} SKUs changed)...")
    changed_at = world.clock()
    busy = run(world, "busy", at(world), False, trade).summary()
    # Nothing changes from here on. The worker keeps reading a pushed SKU back for max_lag
    # after the cycle that saw it (the next one), so the cycles are idle after that.
    log(f"{size} SKUs: quiet cycles until the changed SKUs are no longer watched...")
    world.later(spacing)
    while world.clock() <= changed_at + spacing + watched_s:
        run(world, "quiet", at(world), False, {})
        world.later(spacing)
    log(f"{size} SKUs: {between_audits} idle cycles, one audit period...")
    window = []
    for _ in range(between_audits):
        window.append(run(world, "idle", at(world), False, {}).summary())
        world.later(spacing)
    steady = steady_state(window, size, spacing)
    return {
        "changed_skus": orders["changed"],
        "sheet_edits": orders["changed"] - 2 * ORDERS,
        "full": full,
        "settle": settle,
        "changed": delta,
        "busy": busy,
        "idle": window[0],
        "steady": steady,
    }


#: Each idle cycle's calls and their minimum per API and operation, and its reads, kept in the figures.
BY_OPERATION = ("calls_by_operation", "min_by_operation", "read_back")


def steady_state(summaries: Sequence[dict[str, Any]], skus: int, spacing: float) -> dict[str, Any]:
    """Per cycle, averaged over one audit period of idle cycles (the audit's share included), and
    projected over a month of cycles ``spacing`` seconds apart against each plan's quota.
    """
    n = len(summaries)
    calls = {api: sum(s["api_calls_by_api"][api] for s in summaries) / n for api in APIS}
    least = {api: sum(s["min_api_calls_by_api"].get(api, 0) for s in summaries) / n for api in APIS}
    use = {group: sum(s["quota_use"][group] for s in summaries) / n for group in summaries[0]["quota_use"]}
    received = {api: sum(s["received_kb_by_api"][api] for s in summaries) / n for api in APIS}
    cycles = MONTH_S / spacing
    month = {}
    for group, quota in quotas(skus).items():
        used = use[group] * cycles
        month[group] = {
            "api": quota.api,
            "unit": quota.unit,
            "used": round(used),
            "quota": None if quota.per_month is None else round(quota.per_month),
            "share": None if quota.per_month is None else round(used / quota.per_month, 6),
            "plan": quota.plan,
        }
    return {
        "cycles": n,
        "cycle_spacing_s": spacing,
        "api_calls_by_api": {api: round(c, 2) for api, c in calls.items()},
        "min_api_calls_by_api": {api: round(c, 2) for api, c in least.items()},
        "api_calls": round(sum(calls.values()), 2),
        "min_api_calls": round(sum(least.values()), 2),
        "engine_cpu_s": round(sum(s["engine_cpu_s"] for s in summaries) / n, 3),
        "received_kb_by_api": {api: round(kb, 1) for api, kb in received.items()},
        "month_received_gb_by_api": {api: round(kb * cycles / 1024**2, 2) for api, kb in received.items()},
        "calls_cpu_ms_by_call": {
            call: round(sum(s["calls_cpu_ms_by_call"].get(call, 0.0) for s in summaries) / n, 1)
            for call in sorted({call for s in summaries for call in s["calls_cpu_ms_by_call"]})
        },
        "month_cycles": round(cycles),
        "month_calls_by_api": {api: round(c * cycles) for api, c in calls.items()},
        "month": month,
        "window": [
            {
                key: s[key]
                for key in (
                    "api_calls",
                    "min_api_calls",
                    "engine_cpu_s",
                    "calls_cpu_ms_by_call",
                    "received_kb_by_api",
                    *BY_OPERATION,
                )
            }
            for s in summaries
        ],
    }
