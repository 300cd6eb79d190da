"""Cost of one worker cycle against a master store, over loopback to its fake.

    python benchmarks/master_store.py --store google_sheets --skus 10000 --changed 0.01

The fake runs in a child process (so CPU and memory below are the worker's alone) and is served
on 127.0.0.1; the real client talks to it. Cycle 1 sets the sheet up; then the merchant changes
a share of the quantities and cycle 2 is measured: API calls by endpoint, CPU time, peak RSS.
The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.config import SERVICE_ACCOUNT_ENV, load
from sheetsync.model import INVENTORY_SHEET
from sheetsync.testing.google_sheets import FakeSheets, SheetSpec
from sheetsync.testing.wire import serve
from sheetsync.worker import open_store, run_cycle

ACCOUNT = "bench@bench.iam.gserviceaccount.com"
CONFIG = """
[master]
kind = "google_sheets"
spreadsheet = "{sheet}"
base_url = "{base_url}"

[channels.shopify]
kind = "sandbox"
tiers = [{{ min = 3, hold = 2 }}, {{ min = 0, hold = "all" }}]
"""


def fake_process(skus: int, conn: Connection) -> None:
    """The Sheets fake in its own process: seeds the sheet, serves it, answers the bench's requests."""
    fake = FakeSheets(read_quota_per_minute=10_000, write_quota_per_minute=10_000)
    sheet = fake.create_spreadsheet("Bench", sheets=(SheetSpec(INVENTORY_SHEET, rows=skus + 10),))
    fake.share(sheet, ACCOUNT)
    rows = [["SKU", "Quantity"], *([f"SKU-{i:06d}", (i * 7) % 200] for i in range(skus))]
    fake.set_values(sheet, f"{INVENTORY_SHEET}!A1", rows, value_input_option="RAW")
    with serve(fake) as base_url:
        conn.send((base_url, sheet))
        while (command := conn.recv()) != "stop":
            if command == "clear":
                fake.request_log.clear()
                conn.send(None)
            elif command == "calls":
                counts: dict[str, int] = {}
                for logged in fake.request_log:
                    counts[logged.operation] = counts.get(logged.operation, 0) + 1
                conn.send(counts)
            else:  # ("edit", [(row, value), ...]): the merchant types new quantities
                for row, value in command[1]:
                    fake.set_values(sheet, f"{INVENTORY_SHEET}!B{row}", [[value]], value_input_option="RAW")
                conn.send(None)


def key_json(base_url: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return json.dumps(
        {
            "type": "service_account",
            "client_email": ACCOUNT,
            "private_key": pem.decode(),
            "token_uri": f"{base_url}/token",
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", choices=["google_sheets"], default="google_sheets")
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument(
        "--changed", type=float, default=0.01, help="share of quantities the merchant changes"
    )
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=fake_process, args=(args.skus, child), daemon=True)
    process.start()
    base_url, sheet = parent.recv()
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / "sheetsync.toml"
        config.write_text(CONFIG.format(sheet=sheet, base_url=base_url))
        settings = load(config)
        store = open_store(settings, {SERVICE_ACCOUNT_ENV: key_json(base_url)})
        now = datetime(2026, 11, 27, 9, tzinfo=UTC)
        channel = SandboxChannel(settings.channels[0].name, lambda: now, max_batch=250)
        print(f"{args.skus} SKUs on the Sheets fake at {base_url}: first cycle (sets the sheet up)...")
        run_cycle(store, [channel], settings, now)

        changed = random.Random(1).sample(range(args.skus), int(args.skus * args.changed))
        parent.send(("edit", [(i + 2, 500 + i % 50) for i in changed]))
        parent.recv()
        parent.send("clear")
        parent.recv()
        print(f"merchant changed {len(changed)} quantities; measured cycle...")
        cpu, wall = time.process_time(), time.perf_counter()
        report = run_cycle(store, [channel], settings, now)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        parent.send("calls")
        calls: dict[str, int] = parent.recv()
        parent.send("stop")
    process.join(timeout=10)
    reads = sum(
        n
        for op, n in calls.items()
        if op in {"spreadsheets.values.batchGet", "spreadsheets.get", "spreadsheets.values.get"}
    )
    result = {
        "store": args.store,
        "skus": args.skus,
        "changed": len(changed),
        "pushed": sum(report.pushed.values()),
        "api_calls_per_cycle": sum(calls.values()),
        "read_calls": reads,
        "write_calls": sum(calls.values()) - reads,
        "calls": calls,
        "cycle_cpu_s": round(cpu, 3),
        "cycle_wall_s": round(wall, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
