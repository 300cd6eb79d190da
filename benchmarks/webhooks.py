"""The Shopify webhook endpoint under load and abuse, from a local load generator (issue 11).

The app (``create_app``) is served by uvicorn on 127.0.0.1 as ``sheetsync serve`` serves it (with
``web.CONNECTIONS``), with a real Inbox and the real worker loop (``run_forever``) draining it into
an in-memory master (``MemoryStore``: ledger, plan, pushes to two sandbox channels).  Orders are
placed on the Shopify fake, whose deliveries are signed as Shopify signs them.  The mix, sent at
``--rate`` deliveries a minute for ``--duration`` seconds (``--quick`` compresses the pacing 20 times):

- ~70% fresh: an order's first delivery (200, its lines queued);
- ~10% replays: a delivery sent again as is, same webhook id (200, nothing queued);
- ~5% re-deliveries: an order already sent, under a new webhook id (queued; the ledger dedupes);
- ~10% bad signatures: signed with another secret, or not signed (401);
- ~5% oversized: a validly signed order padded past 1 MiB, half with Content-Length and half
  chunked (413).

The server and its worker run in a child process (this script with ``--serve``), so the RSS
and the latencies are the server's, not the load generator's; the worker shares the server's
process and GIL, as under ``sheetsync serve``.  A 503 (inbox full) is delivered again once the
rest are sent, as Shopify retries.  Reported: requests by status (and by kind), p50/p99 latency
per status as the client saw it, the server's peak RSS growth after start-up, the most lines the
inbox held, worker cycles, ledger lines expected (every line of every order delivered, once)
against found, and ledger keys present more than once (must be 0).  The last line of output is
the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from campaigns.platforms import SHOPIFY_SCHEMA
from progress import RssSampler, log
from sheetsync_fakes.shopify import FakeShopify, WebhookDelivery, webhook_hmac
from sheetsync_fakes.wire import serve_app

from sheetsync.config import load
from sheetsync.model import INVENTORY_SHEET, ChannelName
from sheetsync.stores.memory import MemoryStore
from sheetsync.web import CONNECTIONS, WebhookLimits, create_app
from sheetsync.worker import Inbox, open_channels, run_cycle, run_forever

SHOP, SECRET = "load.myshopify.com", "shpss_load_test"
SHOPIFY = ChannelName("shopify")
URL = "/webhooks/shopify/shopify"
SKUS = [f"SKU-{i:03d}" for i in range(50)]
STOCK = 1_000_000
MIX = {"fresh": 0.70, "replay": 0.10, "redelivery": 0.05, "bad_signature": 0.10, "oversized": 0.05}
QUICK = 20.0  #: how much --quick compresses the pacing
CLIENTS = 16  #: concurrent senders, as Shopify opens several connections
CHUNK = 64 * 1024
CONFIG = """
[master]
kind = "workbook"
path = "unused: the master is in memory"

[channels.shopify]
kind = "sandbox"
interval = 3600
max_lag = 7200

[channels.facebook]
kind = "sandbox"
interval = 3600
max_lag = 7200
"""


@dataclass(frozen=True, slots=True)
class Send:
    """One request to make: what it is, and the delivery to send."""

    kind: str
    delivery: WebhookDelivery
    chunked: bool = False


@dataclass(frozen=True, slots=True)
class Result:
    kind: str
    status: int  #: 0 when the request failed without an answer
    ms: float


def now() -> datetime:
    return datetime.now(UTC)


INSTALLED = datetime(2026, 1, 1, tzinfo=UTC)  #: the start line: every order of the run comes after it


def plan(fake: FakeShopify, deliveries: int, rng: random.Random) -> tuple[list[Send], int]:
    """The requests, in sending order, and the order lines the ledger must end up holding."""
    counts = {kind: round(deliveries * share) for kind, share in MIX.items()}
    counts["fresh"] += deliveries - sum(counts.values())
    kinds = [kind for kind, count in counts.items() for _ in range(count)]
    rng.shuffle(kinds)
    first = kinds.index("fresh")
    kinds[0], kinds[first] = kinds[first], kinds[0]  # a replay needs something sent before it
    sends: list[Send] = []
    fresh: list[tuple[str, WebhookDelivery]] = []  # (order id, its first delivery)
    expected = 0
    oversized = 0
    limit = WebhookLimits().max_bytes
    for kind in kinds:
        if kind == "fresh":
            lines = [(sku, rng.randint(1, 2)) for sku in rng.sample(SKUS, rng.randint(1, 3))]
            order = fake.place_order(SHOP, lines)
            delivery = fake.webhook("orders/create", order)
            fresh.append((order, delivery))
            expected += len(lines)
            sends.append(Send(kind, delivery))
        elif kind == "replay":
            sends.append(Send(kind, rng.choice(fresh)[1]))
        elif kind == "redelivery":
            sends.append(Send(kind, fake.webhook("orders/updated", rng.choice(fresh)[0])))
        elif kind == "bad_signature":
            order = fake.place_order(SHOP, [(rng.choice(SKUS), 1)])  # never validly delivered
            delivery = fake.webhook("orders/create", order)
            headers = dict(delivery.headers)
            if rng.random() < 0.5:
                headers["X-Shopify-Hmac-Sha256"] = webhook_hmac(delivery.body, "shpss_someone_else")
            else:
                del headers["X-Shopify-Hmac-Sha256"]
            sends.append(Send(kind, WebhookDelivery(headers, delivery.body)))
        else:
            order = fake.place_order(SHOP, [(rng.choice(SKUS), 1)])
            delivery = fake.webhook("orders/create", order)
            body = delivery.body + b" " * (limit + CHUNK - len(delivery.body))  # valid JSON, signed
            headers = {**delivery.headers, "X-Shopify-Hmac-Sha256": webhook_hmac(body, SECRET)}
            sends.append(Send(kind, WebhookDelivery(headers, body), chunked=oversized % 2 == 1))
            oversized += 1
    return sends, expected


def chunks(body: bytes) -> Iterator[bytes]:
    """A body without a Content-Length: httpx sends it chunked."""
    for start in range(0, len(body), CHUNK):
        yield body[start : start + CHUNK]


def post(client: httpx.Client, send: Send) -> Result:
    content = chunks(send.delivery.body) if send.chunked else send.delivery.body
    started = time.perf_counter()
    try:
        status = client.post(URL, content=content, headers=send.delivery.headers).status_code
    except httpx.TransportError as error:
        log(f"{send.kind}: no answer: {error!r}")
        status = 0
    return Result(send.kind, status, (time.perf_counter() - started) * 1000)


class Sampler(RssSampler):
    """Samples RSS and the inbox's queue every 10 ms in a thread, keeping the peaks."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__()
        self.inbox = inbox
        self.peak_queued = 0

    def sample(self) -> None:
        super().sample()
        self.peak_queued = max(self.peak_queued, self.inbox.queued())


def serve() -> None:
    """The server side, in its own process: prints its URL, serves until a line on stdin, then
    drains the inbox as the next cycle would and prints what the ledger holds (JSON lines)."""
    # One warning per refused request (and the sandboxes' drift alerts) would drown the report.
    logging.getLogger("sheetsync").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "sheetsync.toml"
        config.write_text(CONFIG)
        settings = load(config)
    rows = [("SKU", "Quantity"), *((sku, STOCK) for sku in SKUS)]
    store = MemoryStore(settings.layout, {INVENTORY_SHEET: rows})
    channels = open_channels(settings, now, {})
    # The shop was installed long before this traffic: its first sync drew the start line then.
    run_cycle(store, channels, settings, INSTALLED)
    inbox, stop, cycled = Inbox(), threading.Event(), threading.Event()
    cycles = [0]

    def after_cycle(_report: object) -> None:
        cycles[0] += 1
        cycled.set()

    inbox.on_cycle = after_cycle
    worker = threading.Thread(
        target=run_forever, args=(store, channels, settings, now, stop, inbox), name="worker"
    )
    worker.start()
    try:
        if not cycled.wait(60):
            raise RuntimeError("the worker's first cycle did not finish")
        app = create_app(inbox, {SHOPIFY: SECRET})
        with serve_app(app, limit_concurrency=CONNECTIONS) as url, Sampler(inbox) as sampler:
            print(json.dumps({"url": url}), flush=True)
            sys.stdin.readline()
    finally:
        stop.set()
        inbox.wake()
        worker.join()
    run_cycle(store, channels, settings, now(), delivered=inbox.take())  # what the next cycle takes
    ledger = store.read().ledger  # raw rows: parsing would fold a repeated key into one
    keys = [row.cells.get("key", "") for row in ledger]
    figures = {
        "ledger_found": sum(
            row.cells.get("channel") == SHOPIFY and row.cells.get("movement") != "START" for row in ledger
        ),
        "duplicates": len(keys) - len(set(keys)),
        "rss_growth_mb": sampler.growth_mb,
        "inbox_max_lines": sampler.peak_queued,
        "cycles": cycles[0] + 1,
    }
    print(json.dumps(figures), flush=True)


def percentile(values: list[float], share: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def measure(
    deliveries: int = 1000, rate: float = 1000.0, speedup: float = 1.0, seed: int = 1
) -> dict[str, Any]:
    """Send ``deliveries`` at ``rate`` a minute (paced ``speedup`` times faster); the figures."""
    rng = random.Random(seed)
    fake = FakeShopify({"2026-10": SHOPIFY_SCHEMA}, app_secret=SECRET, seed=seed)
    fake.create_shop(SHOP, "shpat_load_test", locations=["Warehouse"])
    fake.add_product(SHOP, SKUS, stock={"Warehouse": STOCK})
    sends, expected = plan(fake, deliveries, rng)
    interval = 60.0 / rate / speedup
    log(f"{deliveries} deliveries at {rate:.0f}/min, paced {speedup:g}x: {len(sends) * interval:.1f}s")
    command = [sys.executable, __file__, "--serve"]  # this very script, as the server
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as server:  # noqa: S603
        assert server.stdin is not None  # noqa: S101 - piped above
        assert server.stdout is not None  # noqa: S101 - piped above
        try:
            url = json.loads(server.stdout.readline())["url"]
            results = send_all(url, sends, interval)
            server.stdin.write("stop\n")
            server.stdin.flush()
            figures = json.loads(server.stdout.readline())
            if server.wait(60) != 0:
                raise RuntimeError(f"the server exited with {server.returncode}")
        finally:
            if server.poll() is None:
                server.kill()
    return {"deliveries": len(sends), **report(results), "ledger_expected": expected, **figures}


def send_all(url: str, sends: list[Send], interval: float) -> list[Result]:
    """Every request, paced ``interval`` seconds apart from ``CLIENTS`` threads; then a 503's retries."""
    limits = httpx.Limits(max_connections=CLIENTS)
    with httpx.Client(base_url=url, timeout=30, limits=limits) as client:
        start = time.perf_counter()

        def paced(index: int) -> Result:
            wait = start + index * interval - time.perf_counter()
            if wait > 0:
                time.sleep(wait)  # the generator's pacing, not a wait for the server
            return post(client, sends[index])

        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(paced, range(len(sends))))
        retries = [sends[i] for i, r in enumerate(results) if r.status == 503]
        for _round in range(5):  # Shopify delivers a 503 again later
            if not retries:
                break
            log(f"delivering {len(retries)} again after 503")
            again = [post(client, send) for send in retries]
            results += again
            retries = [send for send, r in zip(retries, again, strict=True) if r.status == 503]
    return results


def report(results: list[Result]) -> dict[str, Any]:
    """Requests by status, by kind and status, and latency per status."""
    by_status: dict[int, list[float]] = defaultdict(list)
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for result in results:
        by_status[result.status].append(result.ms)
        by_kind[result.kind][str(result.status)] += 1
    latency = {
        str(status): {"p50_ms": round(percentile(ms, 0.5), 2), "p99_ms": round(percentile(ms, 0.99), 2)}
        for status, ms in sorted(by_status.items())
    }
    return {
        "status_counts": {str(s): len(ms) for s, ms in sorted(by_status.items())},
        "status_by_kind": {kind: dict(counts) for kind, counts in sorted(by_kind.items())},
        "latency": latency,
        "p99_ms_401": latency.get("401", {}).get("p99_ms"),
        "p99_ms_413": latency.get("413", {}).get("p99_ms"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="deliveries a minute (default: %(default)s)"
    )
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds of sending (default: %(default)s)"
    )
    parser.add_argument("--quick", action="store_true", help=f"compress the pacing {QUICK:g}x")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the server's process
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    figures = measure(
        round(args.rate * args.duration / 60), args.rate, QUICK if args.quick else 1.0, args.seed
    )
    print(f"deliveries: {figures['deliveries']} (+ {figures['status_counts'].get('503', 0)} answered 503)")
    print("requests by status: " + ", ".join(f"{s}: {n}" for s, n in figures["status_counts"].items()))
    for kind, counts in figures["status_by_kind"].items():
        print(f"  {kind:>14}: " + ", ".join(f"{n} x {s}" for s, n in sorted(counts.items())))
    for status, cut in figures["latency"].items():
        print(f"latency {status}: p50 {cut['p50_ms']:.2f} ms, p99 {cut['p99_ms']:.2f} ms")
    print(f"peak RSS growth: {figures['rss_growth_mb']} MB")
    print(f"inbox held at most {figures['inbox_max_lines']} lines")
    print(f"worker cycles: {figures['cycles']}")
    print(f"ledger lines: expected {figures['ledger_expected']}, found {figures['ledger_found']}")
    print(f"duplicate ledger keys: {figures['duplicates']}")
    print(json.dumps(figures, sort_keys=True))
    sys.exit(0 if figures["duplicates"] == 0 and figures["ledger_found"] == figures["ledger_expected"] else 1)


if __name__ == "__main__":
    main()
