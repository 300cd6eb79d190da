"""Many merchants on one deployment (issue 25): cycles a minute, shared quota, sale latency per worker count.

``python benchmarks/merchants.py --merchants 200 --skus 1000 --workers 1,2,4`` needs Redis on
127.0.0.1:6379 (``--redis``). Each merchant is what `sheetsync init` writes: a workbook master
(here with ``--skus`` rows) and three sandbox channels, in a registry folder. For each worker
count, that many real Celery worker processes (``celery -A merchants worker --pool solo``) run
the fleet's real task and the worker's real cycle (``runner.merchant_cycle``); every merchant's
cycle is asked for at once, as beat does on a cold start, and ``--sales`` webhook sales arrive
meanwhile through ``Fleet.deliver`` (the sales queue), spread over the merchants.

The fakes answer at once, and a real API does not: in the workers, every call of the workbook
master (read, lease, ledger append, status write) and of a sandbox channel (a push batch, a levels
read, an orders page) first waits ``--latency-ms`` (120 by default; 0 for none), as a round-trip
to Google Sheets or a shop would. The wait is added to those classes in the benchmark's worker
processes only (this module, run by ``celery -A merchants``), never to the product.

The shared quota: every cycle also spends one request per 250 SKUs from one account's allowance
in Redis (``--quota`` requests a second, as one Shopify app or service account shared by all
merchants would be), through ``RedisQuotas``, the allowance the adapters use. Its admissions are
recorded by the workers, and the most in any one second is reported against the quota.

Reported, per worker count: cycles a minute (merchant cycles done / wall time from the first
request to the last cycle's end), the API calls a cycle made (each waited the latency), the
shared account's busiest second against its quota, p50 and p99 sale → channels latency (from the
delivery to the end of the cycle that pushed it), and the workers' CPU time over that wall time
and the machine's cores (1.0: every core busy with cycles). The last line of output is the
figures as JSON. Machine: 2 cores; workers past 2 share them.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from redis import Redis

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.cli import main as sheetsync
from sheetsync.fleet.registry import Merchant, Registry
from sheetsync.fleet.runner import Fleet, merchant_cycle
from sheetsync.fleet.tasks import CYCLE_TASK, deliver, make_app, sales_queue
from sheetsync.model import ChannelName, Movement, OrderLine, Sku
from sheetsync.pacing import Quotas
from sheetsync.stores.workbook import WorkbookStore
from sheetsync.worker import CycleReport

HERE = Path(__file__).resolve().parent
SKUS_PER_CALL = 250
#: The calls that stand for one API round-trip each, given ``--latency-ms`` in the workers.
REMOTE_CALLS: dict[type, tuple[str, ...]] = {
    WorkbookStore: ("read", "acquire", "append_ledger", "write_status"),
    SandboxChannel: ("push", "read_levels", "orders_since"),
}
_remote_calls = [0]  #: made by this worker process so far


def _note(text: str) -> None:
    fd = os.open(os.environ["BENCH_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)


def remote(method: Callable[..., Any], latency_s: float) -> Callable[..., Any]:
    """``method``, answering ``latency_s`` later, as over the network; the call counted."""

    @functools.wraps(method)
    def call(self: object, *args: Any, **kwargs: Any) -> Any:
        _remote_calls[0] += 1
        time.sleep(latency_s)
        return method(self, *args, **kwargs)

    return call


def measured(merchant: Merchant, delivered: Sequence[OrderLine], quotas: Quotas) -> CycleReport:
    """The real cycle and the shared account's requests; its end, calls and sales pushed, recorded."""
    pacer = quotas.window("bench:shared-app", int(os.environ["BENCH_QUOTA"]), 1.0, time.monotonic, time.sleep)
    asked = time.monotonic()
    for _ in range(math.ceil(int(os.environ["BENCH_SKUS"]) / SKUS_PER_CALL)):
        pacer.wait()
        _note(f"call {time.time():.6f}")
    before, started = _remote_calls[0], time.monotonic()
    report = merchant_cycle(merchant, delivered, quotas)
    spent = f"{_remote_calls[0] - before} {started - asked:.3f} {time.monotonic() - started:.3f}"
    _note(f"cycle {merchant.name} {time.time():.6f} {spent} {','.join(x.order_id for x in delivered)}")
    return report


app = None
if "BENCH_RECORD" in os.environ:  # a benchmark worker (``celery -A merchants worker``)
    for kind, names in REMOTE_CALLS.items():
        for name in names:
            setattr(kind, name, remote(getattr(kind, name), float(os.environ["BENCH_LATENCY_MS"]) / 1000))
    app = make_app(cycle=measured)


def registry(folder: Path, merchants: int, skus: int) -> Path:
    """``merchants`` copies of `sheetsync init`'s merchant, each with ``skus`` rows."""
    template = folder / "template"
    with contextlib.redirect_stdout(sys.stderr):  # stdout: the figures only
        if sheetsync(["init", "--dir", str(template)]) != 0:
            raise SystemExit("sheetsync init failed")
    book = load_workbook(template / "inventory.xlsx")
    for number in range(skus):
        book["Inventory"].append([f"SKU-{number:05d}", 50 + number % 40])
    book.save(template / "inventory.xlsx")
    config = (template / "sheetsync.toml").read_text(encoding="utf-8")
    merchants_dir = folder / "merchants"
    merchants_dir.mkdir()
    for number in range(merchants):
        name = f"m{number:03d}"
        workbook = folder / "workbooks" / f"{name}.xlsx"
        workbook.parent.mkdir(exist_ok=True)
        shutil.copyfile(template / "inventory.xlsx", workbook)
        text = config.replace('path = "inventory.xlsx"', f'path = "{workbook.as_posix()}"')
        (merchants_dir / f"{name}.toml").write_text(text, encoding="utf-8")
    return merchants_dir


def run(workers: int, args: argparse.Namespace, folder: Path) -> dict[str, object]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    record = folder / f"record-{workers}.txt"
    shops = folder / f"run-{workers}"
    merchants = registry(shops, args.merchants, args.skus)
    environ = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "SHEETSYNC_REDIS_URL": args.redis,
        "SHEETSYNC_FLEET_PREFIX": prefix,
        "SHEETSYNC_MERCHANTS": str(merchants),
        "SHEETSYNC_LOG_LEVEL": "WARNING",
        "BENCH_RECORD": str(record),
        "BENCH_QUOTA": str(args.quota),
        "BENCH_SKUS": str(args.skus),
        "BENCH_LATENCY_MS": str(args.latency_ms),
    }
    client = Redis.from_url(args.redis)
    celery = make_app(environ)
    fleet = Fleet(client, Registry(merchants, environ), prefix=prefix)
    processes = []
    for number in range(workers):
        log = (folder / f"worker-{workers}-{number}.log").open("wb")
        processes.append(
            subprocess.Popen(  # noqa: S603 - this interpreter, this script's app
                [
                    *(sys.executable, "-m", "celery", "-A", "merchants", "worker", "--pool", "solo"),
                    *("--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "ERROR"),
                    *("-n", f"bench{number}@%h"),
                ],
                cwd=HERE,
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        names = Registry(merchants).names()
        # Wait for the workers: one warm-up cycle each is not counted.
        warm = [celery.send_task(CYCLE_TASK, args=(names[i % len(names)],)) for i in range(workers)]
        for result in warm:
            result.get(timeout=600)
        record.unlink(missing_ok=True)
        rng = random.Random(args.seed)
        cpu_before = sum(cpu_s(p.pid) for p in processes)
        started = time.time()
        results = [celery.send_task(CYCLE_TASK, args=(name,)) for name in names]
        sales: dict[str, float] = {}
        for number in range(args.sales):
            name = rng.choice(names)
            order = f"S{workers}-{number}"
            at = datetime.now(UTC)
            sale = OrderLine(ChannelName("shopify"), order, "1", Sku("SKU-00001"), 1, Movement.SALE, at, "")
            sales[order] = time.time()
            deliver(celery, fleet, name, order, [sale])
            time.sleep(args.sale_every)
        outcomes = [r.get(timeout=3600) for r in results]
        # A sale delivered while its merchant's cycle ran is pushed by the cycle that cycle asks for.
        while fleet.redis.exists(*(fleet.key("inbox", n) for n in names)) or any(
            client.llen(queue) for queue in (prefix + "cycles", sales_queue(prefix))
        ):
            time.sleep(0.05)
        time.sleep(0.5)
        cpu = sum(cpu_s(p.pid) for p in processes) - cpu_before
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(60)
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
    cycles: list[float] = []
    remote_calls: list[int] = []
    quota_waits: list[float] = []
    cycle_s: list[float] = []
    calls: list[float] = []
    pushed: dict[str, float] = {}
    for line in record.read_text(encoding="utf-8").splitlines():
        parts = line.split(" ")
        if parts[0] == "call":
            calls.append(float(parts[1]))
        else:
            cycles.append(float(parts[2]))
            remote_calls.append(int(parts[3]))
            quota_waits.append(float(parts[4]))
            cycle_s.append(float(parts[5]))
            for order in filter(None, parts[6].split(",")):
                pushed.setdefault(order, float(parts[2]))
    elapsed = max(cycles) - started
    busiest = max(sum(1 for c in calls if t <= c < t + 1.0) for t in calls) if calls else 0
    latencies = sorted(pushed[o] - sales[o] for o in sales if o in pushed)
    return {
        "workers": workers,
        "cycles": len(cycles),
        "cycles_per_min": round(len(cycles) / elapsed * 60, 1),
        "api_calls_per_cycle": round(statistics.mean(remote_calls), 1),
        "latency_ms_per_call": args.latency_ms,
        "cycle_s_mean": round(statistics.mean(cycle_s), 2),
        "quota_wait_s_mean": round(statistics.mean(quota_waits), 2),
        "outcomes": {
            s: sum(1 for o in outcomes if o["status"] == s) for s in {o["status"] for o in outcomes}
        },
        "shared_account": {"calls": len(calls), "busiest_second": busiest, "quota_per_s": args.quota},
        "sales": len(sales),
        "sales_pushed": len(latencies),
        "sale_latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "sale_latency_p99_s": round(latencies[max(0, math.ceil(0.99 * len(latencies)) - 1)], 3)
        if latencies
        else None,
        "worker_cpu_s": round(cpu, 1),
        "cpu_utilisation": round(cpu / (elapsed * (os.cpu_count() or 1)), 2),
    }


def cpu_s(pid: int) -> float:
    """CPU seconds process ``pid`` has used so far, user and system (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--merchants", type=int, default=200)
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--quota", type=int, default=10, help="the shared account's requests a second")
    parser.add_argument("--sales", type=int, default=40)
    parser.add_argument("--sale-every", type=float, default=0.25, help="seconds between sales")
    parser.add_argument(
        "--latency-ms", type=float, default=120, help="each master and channel call's round-trip, in ms"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sheetsync-merchants-") as tmp:
        runs = []
        for workers in (int(w) for w in args.workers.split(",")):
            runs.append(run(workers, args, Path(tmp)))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"merchants": args.merchants, "skus": args.skus, "runs": runs}))


if __name__ == "__main__":
    main()
