"""An Airtable master's month of calls at the default interval, against the Team plan's 100,000.

    python benchmarks/airtable_month.py --skus 10000 --quiet 60 --rounds 5

Builds a base on the Airtable fake, served in-process on a fast-forwarded clock (waits for the
rate limit skip ahead instead of sleeping), and runs the real worker cycle (``run_cycle``, with
its lease) with two sandbox channels.  The first two cycles set the master up and the webhook
(see ``sheetsync.stores.airtable``); then ``--quiet`` cycles where nothing happens (their Status
and State writes wait in the store, ten minutes at most), then ``--rounds`` rounds of one
changed cycle (a channel sells and the merchant edits one row) and quiet ones, as many as make
``--changed-share`` of the round changed.  The cycle after a change writes its Status at once
(its pushed count and message went back to 0), so the month is priced from the rounds, not from
the quiet and changed cycles alone.  Calls are counted from the fake's request log, per cycle
and per operation.  The month at 60 s cycles is 43,200 cycles at the rounds' average, plus a
full listing every 6 hours.  With ``--slow-status`` the budget is set below any projection, so
the Status rows are written every 10 minutes as past ``monthly_call_budget``.  The last line is
a JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sheetsync_fakes.airtable import OWNER, AccessToken, FakeAirtable, FieldSpec
from sheetsync_fakes.wire import HandlerAdapter

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.config import AirtableMaster, load
from sheetsync.model import INVENTORY_SHEET, Sku
from sheetsync.stores.airtable import RECONCILE_S, AirtableStore, connect
from sheetsync.worker import run_cycle

TOKEN = "patBench.token"  # noqa: S105 - the fake's token
BASE = "appBenchBenchBen1"
INTERVAL_S = 60.0  #: the default interval
MONTH_S = 30 * 86400.0
TEAM_PLAN_CALLS = 100_000
CONFIG = """
[master]
kind = "airtable"
base = "{base}"
monthly_call_budget = {budget}

[insights]
enabled = false

[channels.shopify]
kind = "sandbox"
tiers = [{{ min = 3, hold = 2 }}, {{ min = 0, hold = "all" }}]

[channels.woocommerce]
kind = "sandbox"
"""


class Bench:
    """The fake base, the worker's store and channels, and one clock that sleeping moves on."""

    def __init__(self, skus: int, directory: Path, budget: int) -> None:
        self.t = datetime(2026, 11, 2, 9, tzinfo=UTC).timestamp()
        self.fake = FakeAirtable(tokens={TOKEN: AccessToken(OWNER)}, now=lambda: self.t)
        self.fake.create_base("Shop", base_id=BASE)
        self.fake.create_table(
            BASE,
            INVENTORY_SHEET,
            [FieldSpec("SKU", "singleLineText"), FieldSpec("Quantity", "number", {"precision": 0})],
        )
        self.fake.add_records(
            BASE, INVENTORY_SHEET, [{"SKU": f"SKU-{i:05d}", "Quantity": 5 + i % 50} for i in range(skus)]
        )
        (directory / "sheetsync.toml").write_text(CONFIG.format(base=BASE, budget=budget))
        self.settings = load(directory / "sheetsync.toml")
        self.store = self.open()
        self.channels = [SandboxChannel(c.name, self.now) for c in self.settings.channels]
        self.started: float | None = None  #: when the last cycle began

    def open(self) -> AirtableStore:
        api, paced = connect(TOKEN, inner=HandlerAdapter(self.fake), clock=lambda: self.t, sleep=self.sleep)
        master = self.settings.master
        budget = master.monthly_call_budget if isinstance(master, AirtableMaster) else None
        return AirtableStore(
            api, BASE, self.settings.layout, paced=paced, monthly_budget=budget, now=self.now
        )

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def cycle(self) -> Counter[str]:
        """One worker cycle a minute after the last began; its requests by operation."""
        if self.started is not None:  # a long cycle delays the next, as the worker's loop does
            self.t = max(self.t, self.started + INTERVAL_S)
        self.started = self.t
        self.fake.request_log.clear()
        run_cycle(self.store, self.channels, self.settings, self.now(), owner="bench-worker")
        return Counter(entry.operation for entry in self.fake.request_log)


def calls(cycles: list[Counter[str]]) -> float:
    """The calls a cycle, on average."""
    return sum(sum(c.values()) for c in cycles) / len(cycles)


def average(cycles: list[Counter[str]]) -> dict[str, float]:
    total: Counter[str] = Counter()
    for ops in cycles:
        total.update(ops)
    return {op: round(n / len(cycles), 2) for op, n in sorted(total.items())}


def run(skus: int, quiet: int, rounds: int, changed_share: float, slow_status: bool) -> dict[str, Any]:
    started = time.monotonic()
    per_round = max(round(1 / changed_share), 2)  #: cycles a round: one changed, the others quiet
    with tempfile.TemporaryDirectory() as directory:
        bench = Bench(skus, Path(directory), 1 if slow_status else TEAM_PLAN_CALLS)
        setup = [bench.cycle(), bench.cycle()]  # lists and writes; sets the webhook up and lists
        quiet_cycles = [bench.cycle() for _ in range(quiet)]
        records = bench.fake.records(BASE, INVENTORY_SHEET)
        changed_cycles, after_cycles, round_cycles = [], [], []
        for n in range(rounds):
            bench.channels[n % 2].sell(Sku(f"SKU-{n:05d}"))
            bench.fake.set_cell(BASE, INVENTORY_SHEET, records[100 + n]["id"], "Quantity", 40 + n)
            changed_cycles.append(bench.cycle())
            rest = [bench.cycle() for _ in range(per_round - 1)]
            after_cycles.append(rest[0])
            round_cycles += [changed_cycles[-1], *rest]
        bench.t += RECONCILE_S  # the next cycle is a reconciliation: every table listed again
        reconcile = bench.cycle()

    per_quiet = calls(quiet_cycles)
    per_cycle = calls(round_cycles)
    listing = sum(reconcile.values()) - per_quiet  # what a reconciliation adds to a quiet cycle
    month = MONTH_S / INTERVAL_S * per_cycle + MONTH_S / RECONCILE_S * listing
    return {
        "skus": skus,
        "channels": 2,
        "interval_s": INTERVAL_S,
        "slow_status": slow_status,
        "setup_calls": [sum(c.values()) for c in setup],
        "calls_per_quiet_cycle": round(per_quiet, 2),
        "quiet_cycle_by_operation": average(quiet_cycles),
        "calls_per_changed_cycle": round(calls(changed_cycles), 2),
        "changed_cycle_by_operation": average(changed_cycles),
        "calls_per_cycle_after_a_change": round(calls(after_cycles), 2),
        "changed_share": round(1 / per_round, 3),
        "calls_per_cycle_at_that_share": round(per_cycle, 2),
        "reconciliation_calls": sum(reconcile.values()),
        "month_calls": round(month),
        "team_plan_calls": TEAM_PLAN_CALLS,
        "fits_team_plan": month <= TEAM_PLAN_CALLS,
        "wall_s": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument(
        "--quiet", type=int, default=60, help="quiet cycles measured (whole 10-minute write periods)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of a changed cycle and quiet ones")
    parser.add_argument(
        "--changed-share", type=float, default=0.1, help="share of the month's cycles that change"
    )
    parser.add_argument("--slow-status", action="store_true", help="Status rows every 10 minutes")
    args = parser.parse_args()
    print(json.dumps(run(args.skus, args.quiet, args.rounds, args.changed_share, args.slow_status)))


if __name__ == "__main__":
    main()
