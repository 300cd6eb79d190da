"""Cost of one worker cycle against a master store, over loopback to its fake.

    python benchmarks/master_store.py --store google_sheets --skus 10000 --changed 0.01
    python benchmarks/master_store.py --store airtable --skus 10000 --changed 0.01

The fake runs in a child process (so CPU and memory below are the worker's alone) and is served
on 127.0.0.1; the real client talks to it. Cycle 1 sets the master up; then the merchant changes
a share of the quantities and cycle 2 is measured: API calls by endpoint, CPU time, peak RSS.
For Airtable, cycle 1 runs on fast-forwarded time (its 10,000 first writes would take half an
hour at 5 requests a second) and cycle 2 on real time, against the fake's real rate limit:
`min_wall_s_rate_limit` is what 5 requests a second allow at best for the calls it made.
The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import random
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from campaigns.platforms import SHEETS_EMAIL, sheets_fake, sku_names
from sheetsync_fakes.airtable import OWNER, AccessToken, FakeAirtable, FieldSpec
from sheetsync_fakes.google_sheets import FakeSheets
from sheetsync_fakes.keys import service_account_key
from sheetsync_fakes.wire import serve

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.config import AIRTABLE_TOKEN_ENV, SERVICE_ACCOUNT_ENV, load
from sheetsync.model import INVENTORY_SHEET
from sheetsync.stores import MasterStore
from sheetsync.stores.airtable import RATE_PER_SECOND, AirtableStore
from sheetsync.stores.airtable import connect as connect_airtable
from sheetsync.worker import open_store, run_cycle

ACCOUNT = SHEETS_EMAIL
TOKEN = "patBench.token"  # noqa: S105 - the fake's token
BASE = "appBenchBenchBen1"
MASTERS = {
    "google_sheets": 'kind = "google_sheets"\nspreadsheet = "{where}"\nbase_url = "{base_url}"',
    "airtable": 'kind = "airtable"\nbase = "{where}"\nbase_url = "{base_url}"',
}
CONFIG = """
[master]
{master}

[insights]
enabled = false

[channels.shopify]
kind = "sandbox"
tiers = [{{ min = 3, hold = 2 }}, {{ min = 0, hold = "all" }}]
"""
READS = {
    "spreadsheets.values.batchGet",
    "spreadsheets.get",
    "spreadsheets.values.get",
    "meta.tables",
    "records.list",
}


class FastForward:
    """A clock that runs on real time, or skips ahead instead of sleeping while ``fast``."""

    def __init__(self) -> None:
        self.fast = True
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.time() + self.skipped

    def sleep(self, seconds: float) -> None:
        if self.fast:
            self.skipped += seconds
        else:
            time.sleep(seconds)


def seed_sheets(skus: int) -> tuple[FakeSheets, str, Callable[[int, int], None]]:
    rows: list[list[Any]] = [
        ["SKU", "Quantity"],
        *([sku, (i * 7) % 200] for i, sku in enumerate(sku_names(skus))),
    ]
    fake, sheet = sheets_fake(rows)

    def edit(index: int, value: int) -> None:
        fake.set_values(sheet, f"{INVENTORY_SHEET}!B{index + 2}", [[value]], value_input_option="RAW")

    return fake, sheet, edit


def seed_airtable(skus: int, clock: FastForward) -> tuple[FakeAirtable, str, Callable[[int, int], None]]:
    # While the bench sets up, every request the fake sees is ten seconds after the last.
    ticks = itertools.count()
    fake = FakeAirtable(
        tokens={TOKEN: AccessToken(OWNER)}, now=lambda: clock() + (10 * next(ticks) if clock.fast else 0)
    )
    fake.create_base("Bench", base_id=BASE)
    specs = [FieldSpec("SKU", "singleLineText"), FieldSpec("Quantity", "number", {"precision": 0})]
    fake.create_table(BASE, INVENTORY_SHEET, specs)
    ids = fake.add_records(
        BASE, INVENTORY_SHEET, [{"SKU": f"SKU-{i:06d}", "Quantity": (i * 7) % 200} for i in range(skus)]
    )

    def edit(index: int, value: int) -> None:
        fake.set_cell(BASE, INVENTORY_SHEET, ids[index], "Quantity", value)

    return fake, BASE, edit


def fake_process(store: str, skus: int, conn: Connection) -> None:
    """The fake in its own process: seeds the master, serves it, answers the bench's requests."""
    clock = FastForward()
    fake: Any
    fake, where, edit = seed_sheets(skus) if store == "google_sheets" else seed_airtable(skus, clock)
    with serve(fake) as base_url:
        conn.send((base_url, where))
        while (command := conn.recv()) != "stop":
            if command == "clear":  # setup is over: the fake's clock runs on real time from here
                clock.skipped += 10 * skus * 3
                clock.fast = False
                fake.request_log.clear()
                conn.send(None)
            elif command == "calls":
                counts: dict[str, int] = {}
                for logged in fake.request_log:
                    counts[logged.operation] = counts.get(logged.operation, 0) + 1
                conn.send(counts)
            else:  # ("edit", [(index, value), ...]): the merchant types new quantities
                for index, value in command[1]:
                    edit(index, value)
                conn.send(None)


def key_json(base_url: str) -> str:
    return json.dumps(service_account_key(ACCOUNT, f"{base_url}/token"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", choices=list(MASTERS), default="google_sheets")
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument(
        "--changed", type=float, default=0.01, help="share of quantities the merchant changes"
    )
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=fake_process, args=(args.store, args.skus, child), daemon=True)
    process.start()
    base_url, where = parent.recv()
    clock = FastForward()
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / "sheetsync.toml"
        master = MASTERS[args.store].format(where=where, base_url=base_url)
        config.write_text(CONFIG.format(master=master))
        settings = load(config)
        store: MasterStore
        if args.store == "airtable":
            api, paced = connect_airtable(TOKEN, base_url=base_url, clock=clock, sleep=clock.sleep)
            store = AirtableStore(api, BASE, settings.layout, paced=paced)
        else:
            store = open_store(settings, {SERVICE_ACCOUNT_ENV: key_json(base_url), AIRTABLE_TOKEN_ENV: TOKEN})
        now = datetime(2026, 11, 27, 9, tzinfo=UTC)
        channel = SandboxChannel(settings.channels[0].name, lambda: now, max_batch=250)
        print(f"{args.skus} SKUs on the {args.store} fake at {base_url}: first cycle (sets the master up)...")
        run_cycle(store, [channel], settings, now)

        changed = random.Random(1).sample(range(args.skus), int(args.skus * args.changed))
        parent.send(("edit", [(i, 500 + i % 50) for i in changed]))
        parent.recv()
        parent.send("clear")
        parent.recv()
        clock.fast = False
        print(f"merchant changed {len(changed)} quantities; measured cycle...")
        cpu, wall = time.process_time(), time.perf_counter()
        report = run_cycle(store, [channel], settings, now)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        parent.send("calls")
        calls: dict[str, int] = parent.recv()
        parent.send("stop")
    process.join(timeout=10)
    total = sum(calls.values())
    reads = sum(n for op, n in calls.items() if op in READS)
    result: dict[str, object] = {
        "store": args.store,
        "skus": args.skus,
        "changed": len(changed),
        "pushed": sum(report.pushed.values()),
        "api_calls_per_cycle": total,
        "read_calls": reads,
        "write_calls": total - reads,
        "calls": calls,
        "cycle_cpu_s": round(cpu, 3),
        "cycle_wall_s": round(wall, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if args.store == "airtable":
        result["wall_s"] = round(wall, 3)
        result["min_wall_s_rate_limit"] = round((total - 1) / RATE_PER_SECOND, 3)  # the first waits for none
    print(json.dumps(result))


if __name__ == "__main__":
    main()
