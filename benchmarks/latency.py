"""Sale → other channels: how long a sale delivered by webhook takes to reach every other channel.

A catalogue of ``--skus`` SKUs (10,000) lives in a Google Sheet (the Sheets fake, through gspread
and the real store) and on Shopify, Meta, WooCommerce and Google Merchant (their fakes, through
the real adapters), every request answered ``--latency`` (50 ms) late.  Meta applies a batch
``--meta-processing`` (30 s) after accepting it.  The real worker loop (``run_forever``) runs in
a thread with an ``Inbox``, audits every ``--audit`` seconds (so sales land during audits), and
after its first full cycle and one settle cycle, ``--sales`` orders (200), one SKU each, are
placed on Shopify ``--gap`` seconds apart (Shopify is the channel that delivers webhooks).  Each
order's webhook body, as the fake makes it, is turned into order lines by the adapter's own
parser and delivered to the inbox, as the web app does after checking the signature.

A sample is one sale: from its delivery to the end of the last push, to the other channels whose
figure it changes, that sets the SKU (a push that started before the delivery does not count).
Those channels are Meta and WooCommerce; Google Merchant takes availability only, which one
sale out of 50 units does not change.
A sale an expected channel never receives by the end counts as missed (and as the slowest).

The fakes' clocks move with real time, and jump ahead when an adapter sleeps for a rate limit (a
limit's wait costs no wall time here; ``benchmarks/run.py`` reports those waits).  Webhook
transport and signature checks are not in the figure (``benchmarks/webhooks.py`` measures the
endpoint: milliseconds).  The last line is JSON: ``p50_s``, ``p99_s``, ``samples`` and the rest.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from campaigns.platforms import (
    META_CATALOG,
    META_SUMMARY,
    META_TOKEN,
    SHOP,
    START,
    config_text,
    list_everywhere,
    merchant_channel,
    merchant_fake,
    meta_channel,
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
from sheetsync_fakes.meta import FakeMeta
from sheetsync_fakes.wire import Handler

from sheetsync.channels import Channel
from sheetsync.channels.shopify import webhook_lines
from sheetsync.config import load
from sheetsync.model import ChannelName, PushOutcome, Sku, StockLevel
from sheetsync.worker import Inbox, run_forever

STOCK = 50
SHOPIFY, META, GOOGLE, WOO = (ChannelName(n) for n in ("shopify", "meta", "google", "woo"))
#: The channels a Shopify sale must reach (see the module docstring).
EXPECTED = (META, WOO)


class RealTime(ManualClock):
    """A fake's clock that moves with real time, and jumps ahead when someone sleeps on it."""

    def __init__(self) -> None:
        super().__init__(START)
        self._started = time.monotonic()

    def __call__(self) -> float:
        with self._lock:
            return self.now + time.monotonic() - self._started


def late(fake: Handler, seconds: float) -> Handler:
    """``fake`` answering every request ``seconds`` late, as a platform across the internet does."""

    def answer(request: httpx.Request) -> httpx.Response:
        time.sleep(seconds)
        return fake(request)

    return answer


@dataclass(frozen=True, slots=True)
class Push:
    started: float
    ended: float


class Recorder:
    """Wraps each adapter's pushes: when each SKU was set, from start to end of the call."""

    def __init__(self) -> None:
        self.pushes: dict[tuple[ChannelName, Sku], list[Push]] = defaultdict(list)
        self.audits: list[tuple[float, float]] = []  #: (start, end) of reads of 1,000 SKUs or more
        self._lock = threading.Lock()

    def watch(self, channel: Channel) -> None:
        for method in ("push", "push_now"):
            if hasattr(channel, method):
                setattr(channel, method, self._pushing(channel.name, getattr(channel, method)))
        read = channel.read_levels

        def read_levels(skus: Any) -> Any:
            started = time.monotonic()
            try:
                return read(skus)
            finally:
                if len(skus) >= 1000:
                    with self._lock:
                        self.audits.append((started, time.monotonic()))

        channel.read_levels = read_levels  # type: ignore[method-assign]  # wrapped to record the audits

    def _pushing(
        self, name: ChannelName, send: Callable[[Sequence[StockLevel]], Sequence[PushOutcome]]
    ) -> Callable[[Sequence[StockLevel]], Sequence[PushOutcome]]:
        def pushed(levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
            started = time.monotonic()
            outcomes = send(levels)
            ended = time.monotonic()
            with self._lock:
                for outcome in outcomes:
                    if outcome.ok:
                        self.pushes[(name, outcome.sku)].append(Push(started, ended))
            return outcomes

        return pushed

    def reached(self, channel: ChannelName, sku: Sku, since: float) -> float | None:
        """When the first push of ``sku`` to ``channel`` started at or after ``since`` ended."""
        with self._lock:
            ends = [p.ended for p in self.pushes.get((channel, sku), ()) if p.started >= since]
        return min(ends, default=None)

    def during_audit(self, at: float) -> bool:
        with self._lock:
            return any(start <= at <= end for start, end in self.audits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--sales", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between two sales")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds each request takes")
    parser.add_argument("--meta-processing", type=float, default=30.0)
    parser.add_argument("--audit", type=float, default=20.0, help="seconds between two audits")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    skus = sku_names(args.skus)

    log(f"listing {args.skus:,} SKUs on four platforms and in the sheet")
    clock = RealTime()
    shopify, woo, merchant = shopify_fake(clock), woo_fake(clock), merchant_fake(clock)
    meta = FakeMeta(META_SUMMARY, now=clock, processing_delay_s=args.meta_processing)
    meta.create_catalog(META_CATALOG, META_TOKEN)
    list_everywhere(skus, shopify, meta, woo, merchant)
    sheet_rows: list[list[Any]] = [["SKU", "Quantity"], *([sku, STOCK] for sku in skus)]
    sheets, sheet = sheets_fake(sheet_rows, clock=clock)

    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "sheetsync.toml"
        text = config_text(sheet).replace("tiers = [", f"audit_every = {args.audit}\ntiers = [")
        config.write_text(text, encoding="utf-8")
        settings = load(config)
    slow = args.latency
    store = sheets_store(late(sheets, slow), sheet, settings.layout)
    channels: list[Channel] = [
        shopify_channel(late(shopify, slow), clock),
        meta_channel(late(meta, slow), clock),
        merchant_channel(late(merchant, slow), clock),
        woo_channel(late(woo, slow), clock),
    ]
    recorder = Recorder()
    for channel in channels:
        recorder.watch(channel)

    inbox, stop = Inbox(), threading.Event()
    cycles: list[float] = []
    inbox.on_cycle = lambda _report: cycles.append(time.monotonic())
    now = lambda: datetime.fromtimestamp(clock(), UTC)  # noqa: E731 - the worker's wall clock
    worker = threading.Thread(
        target=run_forever, args=(store, channels, settings, now, stop, inbox), name="worker", daemon=True
    )
    started = time.monotonic()
    worker.start()
    while len(cycles) < 2:  # the first full cycle, and one that reads its pushes back
        time.sleep(0.2)
    log(f"worker ready after {time.monotonic() - started:.0f} s ({len(cycles)} cycles)")

    sold = rng.sample(skus, args.sales)
    samples: list[tuple[Sku, float]] = []  # (SKU, delivered at)
    for number, sku in enumerate(sold):
        order = shopify.place_order(SHOP, [(sku, 1)])
        body = json.loads(shopify.webhook("orders/create", order).body)
        samples.append((Sku(sku), time.monotonic()))
        inbox.deliver(f"sale {number}", webhook_lines("orders/create", body, channel=SHOPIFY))
        time.sleep(args.gap)
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline and not all(_reached(recorder, s) is not None for s in samples):
        time.sleep(0.2)
    stop.set()
    inbox.wake()
    worker.join(timeout=600)

    latencies, audited, missed = [], [], 0
    for sample in samples:
        ended = _reached(recorder, sample)
        if ended is None:
            missed += 1
            latencies.append(float("inf"))
            continue
        latencies.append(ended - sample[1])
        if recorder.during_audit(sample[1]):
            audited.append(ended - sample[1])
    latencies.sort()
    figures = {
        "skus": args.skus,
        "samples": len(latencies),
        "p50_s": round(statistics.median(latencies), 3),
        "p99_s": round(_quantile(latencies, 0.99), 3),
        "max_s": round(latencies[-1], 3),
        "missed": missed,
        "during_audit": len(audited),
        "during_audit_p99_s": round(_quantile(sorted(audited), 0.99), 3) if audited else None,
        "cycles": len(cycles),
        "latency_s": slow,
        "meta_processing_s": args.meta_processing,
        "meta_batch_calls": meta.count("items_batch"),
    }
    print(json.dumps(figures))


def _reached(recorder: Recorder, sample: tuple[Sku, float]) -> float | None:
    sku, at = sample
    ends = [recorder.reached(other, sku, at) for other in EXPECTED]
    return None if None in ends else max(e for e in ends if e is not None)


def _quantile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


if __name__ == "__main__":
    main()
