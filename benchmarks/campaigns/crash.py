"""Crash-anywhere: a real worker in a child process, SIGKILLed at every step boundary of a cycle.

The platforms (the Sheets master, Shopify and WooCommerce with buyers, Meta, Merchant Center,
a Slack webhook) are the fakes, in this process, served on 127.0.0.1 with :func:`serve`.  The
worker is a child process that knows them only by the base URLs of its config file and the
secrets of its environment, as in production (``open_store``, ``open_channels``,
``open_alerter``).  In the child, thin proxies around the store and the channels name each step
boundary as the cycle passes it::

    read → append → readback:<channel> … → push:<channel>:<n> … → status

and kill the process with SIGKILL at the one they were told: no ``finally``, no flush, as an
out-of-memory kill or a pulled plug.  The campaign finds the boundaries with one recorded cycle,
then for each one: buyers order, the merchant types (a count, an Override, a Buffer), a child
dies at the boundary, a fresh child runs cycles until one has nothing left to push, and the
invariants are checked against the parent's own ground truth (the shelf):

- every order line placed is in the Ledger exactly once;
- Available is the shelf (the last count typed, less what sold since);
- every channel shows what the final plan wants, and none more than the shelf (``oversold_by_us``);
- every cell the merchant typed still holds what they typed.

:func:`secrets_scan` runs the same world with every secret configured, once cleanly and once
with a wrong token and throttled APIs, and looks for any secret value in the child's DEBUG
logs, the sheet, the Sheets request log and the Slack messages.

Children come from a ``forkserver`` that has imported the worker once, so each start costs
milliseconds, not the second an interpreter takes to import gspread, httpx and pydantic; each
is still a fresh process with nothing of the parent's (no fake, no thread, no open socket).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import multiprocessing
import multiprocessing.context
import os
import random
import secrets
import signal
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sheetsync_fakes.google_sheets import FakeSheets, SheetSpec
from sheetsync_fakes.merchant import DEFAULT_QUOTA_GROUPS, FakeMerchant, load_discovery
from sheetsync_fakes.meta import FakeMeta
from sheetsync_fakes.shopify import FakeShopify
from sheetsync_fakes.slack import FakeSlack
from sheetsync_fakes.wire import Handler, serve
from sheetsync_fakes.woocommerce import FakeWooCommerce

from campaigns.platforms import (
    DISCOVERY,
    LOCATION,
    MERCHANT_ACCOUNT,
    META_CATALOG,
    META_SUMMARY,
    WOO_SPEC,
    key,
    list_everywhere,
    shopify_schema,
)
from sheetsync.config import SERVICE_ACCOUNT_ENV, SLACK_WEBHOOK_ENV, load
from sheetsync.model import (
    INVENTORY_SHEET,
    LEDGER_SHEET,
    ChannelLimits,
    ChannelName,
    LedgerEntry,
    OrderBatch,
    PushOutcome,
    Sku,
    Snapshot,
    StatusUpdate,
    StockLevel,
)
from sheetsync.worker import open_alerter, open_channels, open_store, run_cycle

log = logging.getLogger(__name__)


SKUS = 30  #: a small catalogue keeps each cycle to a few tenths of a second
BATCH = 3  #: push batch size the child's proxies announce: several batches per channel per cycle
EDITS = 7  #: Quantity cells the merchant recounts per scenario (each moves every channel's target)
ORDERS = 2  #: orders per selling channel per scenario
CONVERGE_CYCLES = 6  #: cycles a restarted worker gets to reach a cycle with nothing to push
CHILD_TIMEOUT_S = 60.0  #: a child still alive after this is a hang, and the campaign fails
RESERVED = 6  #: the first SKUs take Override and Buffer edits; counts and orders go elsewhere

SHOP = "crash.myshopify.com"
SHEETS_EMAIL = "crash-sheets@crash-project.iam.gserviceaccount.com"
MERCHANT_EMAIL = "crash-merchant@crash-project.iam.gserviceaccount.com"
#: The dashboard's token variable (sheetsync.web.TOKEN_ENV): configured, though the worker alone
#: never uses it, so that a leak of it would be seen too.
DASHBOARD_TOKEN_ENV = "SHEETSYNC_DASHBOARD_TOKEN"  # noqa: S105 - the variable's name

CONFIG = """\
[master]
kind = "google_sheets"
spreadsheet = "{sheet}"
base_url = "{sheets}"

[insights]
enabled = false

# The campaign kills the worker in its first pushes too: no confirmation to wait for (issue 23).
[first_sync]
confirm = false

[channels.shopify]
kind = "shopify"
shop = "crash"
location = "{location}"
base_url = "{shopify}"

[channels.meta]
kind = "meta"
catalog = "{catalog}"
base_url = "{meta}"
tiers = [{{ min = 0, hold = 1 }}]

[channels.google]
kind = "google_merchant"
account = "{account}"
data_source = "1"
base_url = "{merchant}"
tiers = [{{ min = 0, hold = 2 }}]

[channels.woo]
kind = "woocommerce"
site = "{woo}"
tiers = [{{ min = 0, hold = 1 }}]
"""


class CampaignError(RuntimeError):
    """The campaign itself could not run (a child hung, or died in a way no boundary explains)."""


# -- the child ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """What one child does; pickled to it."""

    config: str
    env: Mapping[str, str]
    log: str  #: the child's stdout and stderr go here
    result: str  #: the child writes its JSON result here (nothing when killed)
    cycles: int = 1
    kill_at: str | None = None  #: the boundary to die at, in the first cycle only
    batch: int = BATCH


class Boundaries:
    """The step boundaries a cycle passes; SIGKILLs the process at the chosen one."""

    def __init__(self, kill_at: str | None) -> None:
        self.kill_at = kill_at
        self.passed: list[str] = []
        self._pushes: Counter[str] = Counter()

    def start_cycle(self) -> None:
        """A cycle begins: push batches count from 1 again."""
        self._pushes.clear()

    def push(self, channel: str) -> None:
        """One push batch to ``channel`` returned."""
        self._pushes[channel] += 1
        self.mark(f"push:{channel}:{self._pushes[channel]}")

    def mark(self, name: str) -> None:
        """The cycle is at boundary ``name``: die here if told to."""
        self.passed.append(name)
        if name == self.kill_at:
            for handler in logging.getLogger().handlers:
                handler.flush()
            os.kill(os.getpid(), signal.SIGKILL)


class CrashStore:
    """The master store, with its step boundaries named: after read, after append, before status."""

    def __init__(self, store: Any, marks: Boundaries) -> None:
        self.store, self.marks = store, marks

    def read(self) -> Snapshot:
        """Read, then pass ``read``."""
        self.marks.start_cycle()
        snapshot: Snapshot = self.store.read()
        self.marks.mark("read")
        return snapshot

    def append_ledger(self, entries: Sequence[LedgerEntry]) -> None:
        """Append (the commit point), then pass ``append``."""
        self.store.append_ledger(entries)
        self.marks.mark("append")

    def write_status(self, update: StatusUpdate) -> None:
        """Pass ``status``, then write."""
        self.marks.mark("status")
        self.store.write_status(update)


class CrashChannel:
    """A channel with its boundaries named (after each push batch, after the read-back).

    It announces a push batch of at most ``batch`` levels, so that a small catalogue still
    makes several batches per channel; every adapter takes fewer than its limit.
    """

    def __init__(self, channel: Any, marks: Boundaries, batch: int) -> None:
        self.channel, self.marks = channel, marks
        self.name: ChannelName = channel.name
        real: ChannelLimits = channel.limits
        self.limits = replace(real, max_batch=min(real.max_batch, batch))

    def push(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        """Push one batch, then pass ``push:<channel>:<n>``."""
        outcomes: Sequence[PushOutcome] = self.channel.push(levels)
        self.marks.push(self.name)
        return outcomes

    def read_levels(self, skus: Collection[Sku]) -> Mapping[Sku, int]:
        """Read back, then pass ``readback:<channel>``."""
        levels: Mapping[Sku, int] = self.channel.read_levels(skus)
        self.marks.mark(f"readback:{self.name}")
        return levels


class CrashSource(CrashChannel):
    """A channel with checkout: order reads go straight through (no boundary of their own)."""

    def orders_since(self, cursor: str | None) -> OrderBatch:
        """The channel's order lines since ``cursor``."""
        batch: OrderBatch = self.channel.orders_since(cursor)
        return batch


def _hurry(adapter: object) -> None:
    """Cap the adapter's waits at 10 ms.

    The fakes answer at once (Meta applies a batch with no delay, quotas are raised), so a
    second-long status poll or back-off only proves the clock works; the adapters take
    ``sleep`` at construction, but ``open_channels`` builds them with ``time.sleep``.
    """
    if hasattr(adapter, "_sleep"):
        adapter._sleep = lambda seconds: time.sleep(min(seconds, 0.01))


def child_main(job: Job) -> None:
    """The worker process: open everything from config and environment, run cycles, report.

    Exit status 0 with a result file, or death by SIGKILL at ``job.kill_at``; 3 when the first
    cycle never passed ``job.kill_at``.
    """
    descriptor = os.open(job.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)
    os.environ.update(job.env)
    logging.basicConfig(
        level=logging.DEBUG,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    settings = load(Path(job.config))

    def clock() -> datetime:
        return datetime.now(UTC)

    store = open_store(settings)
    channels = open_channels(settings, clock)
    alerter = open_alerter(settings)
    for adapter in (store, *channels):
        _hurry(adapter)
    marks = Boundaries(job.kill_at)
    proxies: list[Any] = [
        CrashSource(c, marks, job.batch) if hasattr(c, "orders_since") else CrashChannel(c, marks, job.batch)
        for c in channels
    ]
    result: dict[str, Any] = {"converged": False, "cycles": 0}
    for _ in range(job.cycles):
        report = run_cycle(CrashStore(store, marks), proxies, settings, clock(), alert=alerter.send)
        result["cycles"] += 1
        if result["cycles"] == 1:
            result["boundaries"] = list(marks.passed)
            marks.kill_at = None  # a restart after the crash must be left to recover
        pending = {c.name: len(report.plan.pushes(c.name)) for c in channels}
        result["pending"] = pending
        result["errors"] = {name: list(errors) for name, errors in report.errors.items()}
        result["targets"] = {
            c.name: {r.row.sku: d.target for r in report.plan.rows if (d := r.decisions.get(c.name))}
            for c in channels
        }
        result["available"] = {r.row.sku: r.available for r in report.plan.rows}
        if not any(pending.values()) and not report.errors:
            result["converged"] = True
            break
    Path(job.result).write_text(json.dumps(result), encoding="utf-8")
    if job.kill_at is not None:
        sys.exit(3)  # still alive: the boundary was never reached


# -- the parent: fakes, buyers, the merchant ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Placed:
    """One order line a buyer placed."""

    channel: str
    order: str
    sku: str
    quantity: int


@dataclass
class Tally:
    """What a campaign counted, and why."""

    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def add(self, kind: str, message: str) -> None:
        """Count one violation of ``kind`` and keep the sentence that explains it."""
        self.counts[kind] += 1
        self.problems.append(f"{kind}: {message}")


@dataclass
class World:
    """The fakes, served; the worker's config and environment; the ground truth."""

    directory: Path
    sheets: FakeSheets
    sheet: str
    shopify: FakeShopify
    meta: FakeMeta
    woo: FakeWooCommerce
    merchant: FakeMerchant
    slack: FakeSlack
    urls: dict[str, str]
    env: dict[str, str]
    secrets: dict[str, str]  #: name → value of every secret configured (see :func:`secret_values`)
    skus: list[str]
    shelf: dict[str, int]  #: what is really on the shelf, per SKU
    typed: dict[str, str] = field(default_factory=dict)  #: A1 → what the merchant typed there
    placed: list[Placed] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    runs: int = 0
    reported: set[str] = field(default_factory=set)  #: ledger keys already found twice

    @property
    def config(self) -> Path:
        """The worker's config file."""
        return self.directory / "sheetsync.toml"


@contextlib.contextmanager
def world(seed: int) -> Iterator[World]:
    """Seed every fake with a catalogue of :data:`SKUS`, serve them, write the config."""
    rng = random.Random(seed)
    skus = [f"CR-{i:03d}" for i in range(SKUS)]
    shelf = {sku: rng.randint(150, 300) for sku in skus}
    secret = {
        "shopify": f"shpat_{secrets.token_hex(16)}",
        "meta": f"EAAG{secrets.token_urlsafe(24)}",
        "woo_key": f"ck_{secrets.token_hex(20)}",
        "woo_secret": f"cs_{secrets.token_hex(20)}",
        "dashboard": secrets.token_urlsafe(24),
    }
    sheets = FakeSheets(read_quota_per_minute=10**9, write_quota_per_minute=10**9, seed=seed)
    headers = ["SKU", "Quantity", "Override", "Buffer"]
    sheet = sheets.create_spreadsheet(
        "Crash", sheets=(SheetSpec(INVENTORY_SHEET, rows=SKUS + 10),), shared_with=[SHEETS_EMAIL]
    )
    sheets.set_values(
        sheet, f"{INVENTORY_SHEET}!A1", [headers, *([s, shelf[s]] for s in skus)], value_input_option="RAW"
    )
    shopify = FakeShopify({"2026-10": shopify_schema()}, seed=seed)
    shopify.create_shop(SHOP, secret["shopify"], locations=[LOCATION], bucket_size=20000, restore_rate=1000)
    meta = FakeMeta(META_SUMMARY, processing_delay_s=0.0)
    meta.batch_calls_per_hour = 10**6
    meta.create_catalog(META_CATALOG, secret["meta"])
    woo = FakeWooCommerce(
        WOO_SPEC,
        consumer_key=secret["woo_key"],
        consumer_secret=secret["woo_secret"],
    )
    groups = {name: (methods, 10**6, 10**9) for name, (methods, _, _) in DEFAULT_QUOTA_GROUPS.items()}
    merchant = FakeMerchant(load_discovery(DISCOVERY), processing_delay_s=0.0, quota_groups=groups, seed=seed)
    merchant_key = key(MERCHANT_EMAIL)
    merchant.add_service_account(merchant_key)
    merchant.create_account(MERCHANT_ACCOUNT, users=[MERCHANT_EMAIL])
    list_everywhere(skus, shopify, meta, woo, merchant, shop=SHOP, google_availability="OUT_OF_STOCK")
    slack = FakeSlack(per_window=1000)
    with contextlib.ExitStack() as stack:
        fakes: dict[str, Handler] = {"sheets": sheets, "shopify": shopify, "meta": meta, "woo": woo}
        fakes |= {"merchant": merchant, "slack": slack}
        urls = {name: stack.enter_context(serve(fake)) for name, fake in fakes.items()}
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sheetsync-crash-")))
        sheets_key = {**key(SHEETS_EMAIL), "token_uri": f"{urls['sheets']}/token"}
        google_key = {**merchant_key, "token_uri": f"{urls['merchant']}/token"}
        env = {
            SERVICE_ACCOUNT_ENV: json.dumps(sheets_key),
            "SHEETSYNC__GOOGLE__SERVICE_ACCOUNT": json.dumps(google_key),
            "SHEETSYNC__SHOPIFY__TOKEN": secret["shopify"],
            "SHEETSYNC__META__TOKEN": secret["meta"],
            "SHEETSYNC__WOO__CONSUMER_KEY": secret["woo_key"],
            "SHEETSYNC__WOO__CONSUMER_SECRET": secret["woo_secret"],
            SLACK_WEBHOOK_ENV: slack.url(urls["slack"]),
            DASHBOARD_TOKEN_ENV: secret["dashboard"],
        }
        secret |= {
            "sheets_private_key": sheets_key["private_key"],
            "merchant_private_key": google_key["private_key"],
            "slack_webhook": env[SLACK_WEBHOOK_ENV],
            "slack_path_secret": slack.secret,
        }
        (directory / "sheetsync.toml").write_text(
            CONFIG.format(
                sheet=sheet,
                sheets=urls["sheets"],
                shopify=urls["shopify"],
                location=LOCATION,
                meta=urls["meta"],
                catalog=META_CATALOG,
                merchant=urls["merchant"],
                account=MERCHANT_ACCOUNT,
                woo=urls["woo"],
            ),
            encoding="utf-8",
        )
        yield World(
            directory, sheets, sheet, shopify, meta, woo, merchant, slack, urls, env, secret, skus, shelf
        )


@functools.cache
def _context() -> multiprocessing.context.ForkServerContext:
    """Children fork from a server that imported the worker once (see the module docstring)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def run_child(
    w: World, *, cycles: int = 1, kill_at: str | None = None, env: Mapping[str, str] | None = None
) -> tuple[int, dict[str, Any] | None]:
    """Start a worker child and wait for it; (exit code, its result, or None when it left none).

    A killed child's exit code is ``-SIGKILL``.

    Raises:
        CampaignError: the child is still running after :data:`CHILD_TIMEOUT_S`.
    """
    w.runs += 1
    log_path = w.directory / f"child-{w.runs:03d}.log"
    result_path = w.directory / f"child-{w.runs:03d}.json"
    w.logs.append(log_path)
    job = Job(str(w.config), dict(env or w.env), str(log_path), str(result_path), cycles, kill_at)
    process = _context().Process(target=child_main, args=(job,), name=f"sheetsync-crash-{w.runs}")
    process.start()
    process.join(CHILD_TIMEOUT_S)
    if process.is_alive():
        process.kill()
        process.join()
        raise CampaignError(f"worker child {w.runs} still running after {CHILD_TIMEOUT_S:.0f} s")
    code = -signal.SIGKILL if process.exitcode is None else process.exitcode  # None: not joined
    if not result_path.exists():
        return code, None
    loaded: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    return code, loaded


def _inventory(w: World) -> tuple[list[str], list[list[str]]]:
    values = w.sheets.get_values(w.sheet, INVENTORY_SHEET)
    header = [str(h) for h in values[0]]
    return header, [[str(v) for v in row] for row in values[1:]]


def _a1(header: Sequence[str], column: str, row: int) -> str:
    return f"{INVENTORY_SHEET}!{chr(ord('A') + header.index(column))}{row}"


def scenario(w: World, rng: random.Random) -> None:
    """Buyers order on Shopify and WooCommerce; the merchant recounts, overrides, buffers.

    Orders and recounts touch different SKUs, so that the shelf after the scenario does not
    depend on which of them the worker sees first.
    """
    header, _ = _inventory(w)
    free = w.skus[RESERVED:]
    recounted = rng.sample(free, EDITS)
    buyable = [s for s in free if s not in recounted and w.shelf[s] > 20]
    for channel in ("shopify", "woo"):
        for sku in rng.sample(buyable, ORDERS):
            quantity = rng.randint(1, 2)
            if channel == "shopify":
                order = w.shopify.place_order(SHOP, [(sku, quantity)])
            else:
                order = str(w.woo.place_order([(sku, quantity)], status="processing"))
            w.placed.append(Placed(channel, order, sku, quantity))
            w.shelf[sku] -= quantity
    for sku in recounted:  # a few units found broken: the merchant types the new count
        w.shelf[sku] -= rng.randint(1, 4)
        _type(w, _a1(header, "Quantity", w.skus.index(sku) + 2), str(w.shelf[sku]))
    reserved = w.skus[:RESERVED]
    _type(w, _a1(header, "Override", w.skus.index(rng.choice(reserved)) + 2), str(rng.randint(3, 40)))
    _type(w, _a1(header, "Buffer", w.skus.index(rng.choice(reserved)) + 2), str(rng.randint(1, 5)))


def _type(w: World, a1: str, text: str) -> None:
    w.sheets.set_values(w.sheet, a1, [[text]])
    w.typed[a1] = text


def check(w: World, result: Mapping[str, Any] | None, tally: Tally, where: str) -> None:
    """Check every invariant after the worker converged (or was given up on) at ``where``."""
    if result is None or not result.get("converged"):
        errors = (result or {}).get("errors")
        pending = (result or {}).get("pending")
        tally.add(
            "unconverged",
            f"{where}: no cycle without pushes in {CONVERGE_CYCLES} "
            f"(left to push {pending}, errors {errors})",
        )
    _check_ledger(w, tally, where)
    _check_edits(w, tally, where)
    if result is not None:
        _check_channels(w, result, tally, where)


def _ledger(w: World) -> list[dict[str, str]]:
    tabs = {tab["properties"]["title"] for tab in w.sheets.metadata(w.sheet)["sheets"]}
    if LEDGER_SHEET not in tabs:  # no order line and no count ingested yet
        return []
    values = w.sheets.get_values(w.sheet, LEDGER_SHEET)
    if not values:
        return []
    header = [str(h) for h in values[0]]
    return [dict(zip(header, (str(v) for v in row), strict=False)) for row in values[1:]]


def _check_ledger(w: World, tally: Tally, where: str) -> None:
    rows = _ledger(w)
    for ledger_key, seen in Counter(r.get("Key", "") for r in rows).items():
        if seen > 1 and ledger_key not in w.reported:
            w.reported.add(ledger_key)
            if ledger_key.startswith("count/"):
                # A COUNT row sets the level rather than moving it: a repeat changes nothing.
                tally.problems.append(f"note: {where}: COUNT key {ledger_key} is there {seen} times")
            else:
                tally.add("doubled", f"{where}: ledger key {ledger_key} is there {seen} times")
    for line in w.placed:
        order = line.order.rsplit("/", 1)[-1]
        found = [
            r
            for r in rows
            if r.get("Channel") == line.channel
            and r.get("SKU") == line.sku
            and r.get("Movement") == "SALE"
            and r.get("Order", "").rsplit("/", 1)[-1] == order
        ]
        units = -sum(int(r.get("Delta", "0")) for r in found)
        if not found:
            tally.add(
                "lost",
                f"{where}: {line.channel} order {line.order} ({line.sku} x{line.quantity}) not in the Ledger",
            )
        elif len(found) > 1 or units != line.quantity:
            tally.add(
                "doubled",
                f"{where}: {line.channel} order {line.order} ({line.sku} x{line.quantity}) "
                f"is {len(found)} ledger rows for {units} units",
            )
    header, inventory = _inventory(w)
    column = header.index("Available") if "Available" in header else None
    for row in inventory:
        sku = row[0]
        shown = row[column] if column is not None and column < len(row) else ""
        if sku in w.shelf and shown != str(w.shelf[sku]):
            tally.add(
                "unconverged",
                f"{where}: {sku} Available is {shown or 'blank'}, the shelf holds {w.shelf[sku]}",
            )


def _check_edits(w: World, tally: Tally, where: str) -> None:
    for a1, text in w.typed.items():
        now = w.sheets.get_values(w.sheet, a1)
        value = str(now[0][0]) if now and now[0] else ""
        if value != text:
            tally.add("overwritten_edits", f"{where}: {a1} holds {value!r}, the merchant typed {text!r}")


def shown(w: World) -> dict[str, dict[str, int]]:
    """What each channel shows buyers, read from the fakes' side (unlogged).

    Merchant Center holds availability only: in stock counts as 1 unit shown, out of stock as 0.
    """
    shopify = w.shopify.levels(SHOP)
    meta = w.meta.quantities(META_CATALOG)
    google = {}
    for sku in w.skus:
        entry = w.merchant.product_input(MERCHANT_ACCOUNT, sku) or {}
        google[sku] = int(entry.get("productAttributes", {}).get("availability") == "IN_STOCK")
    return {
        "shopify": {sku: shopify.get((sku, LOCATION), 0) for sku in w.skus},
        "meta": {sku: meta.get(sku) or 0 for sku in w.skus},
        "google": google,
        "woo": {sku: w.woo.stock(sku) or 0 for sku in w.skus},
    }


def _check_channels(w: World, result: Mapping[str, Any], tally: Tally, where: str) -> None:
    targets: Mapping[str, Mapping[str, int]] = result.get("targets", {})
    for channel, levels in shown(w).items():
        for sku, level in levels.items():
            if level > max(w.shelf[sku], 0):
                tally.add(
                    "oversold_by_us",
                    f"{where}: {channel} shows {level} of {sku}, the shelf holds {w.shelf[sku]}",
                )
            target = targets.get(channel, {}).get(sku)
            expected = None if target is None else (int(target > 0) if channel == "google" else target)
            if expected is not None and level != expected:
                tally.add(
                    "unconverged", f"{where}: {channel} shows {level} of {sku}, the plan wants {target}"
                )


# -- the campaign ---------------------------------------------------------------------------------


def discover(w: World, rng: random.Random) -> list[str]:
    """The boundaries of a cycle with a scenario's worth of work (this cycle is a real one)."""
    scenario(w, rng)
    code, result = run_child(w, cycles=1)
    if code != 0 or result is None:
        raise CampaignError(f"the recording cycle failed (exit {code}); see {w.logs[-1]}")
    names: list[str] = result["boundaries"]
    return names


def quick_set(names: Sequence[str]) -> list[str]:
    """One boundary of each kind: read, append, the first read-back, a push mid-way, status."""
    chosen: list[str] = []
    for kind in ("read", "append", "readback:", "push:", "status"):
        matching = [n for n in names if n == kind or n.startswith(kind)]
        if matching:
            chosen.append(matching[len(matching) // 2] if kind == "push:" else matching[0])
    return chosen


def crash_campaign(
    seed: int, *, quick: bool = False, progress: Callable[[str], None] | None = None
) -> dict[str, int]:
    """Kill a worker at every step boundary of a cycle in turn; the invariant violations, counted.

    Returns ``crashes`` (children killed), ``boundaries`` (boundaries tried), ``lost`` and
    ``doubled`` order lines, ``oversold_by_us`` (a channel showing more than the shelf),
    ``overwritten_edits``, ``unconverged`` (a channel or Available left wrong, or no quiet cycle)
    and ``unreached`` (a boundary a scenario's cycle did not pass: nothing was killed there).
    """
    return run_campaign(seed, quick=quick, progress=progress)[0]


def run_campaign(
    seed: int,
    *,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
    only: Collection[str] | None = None,
    inspect: Callable[[World, str], None] | None = None,
) -> tuple[dict[str, int], list[str]]:
    """:func:`crash_campaign`, with a sentence for each violation found.

    ``only`` limits the boundaries tried (to replay one); ``inspect`` is called with the world
    after each boundary's checks.
    """
    say = progress or (lambda _: None)
    rng = random.Random(seed)
    tally = Tally()
    with world(seed) as w:
        code, result = run_child(w, cycles=CONVERGE_CYCLES)  # the first sync
        check(w, result, tally, "first sync")
        names = discover(w, rng)
        code, result = run_child(w, cycles=CONVERGE_CYCLES)
        check(w, result, tally, "after the recorded cycle")
        chosen = quick_set(names) if quick else names
        if only is not None:
            chosen = [name for name in chosen if name in only]
        say(f"crash: {len(names)} boundaries in a cycle, trying {len(chosen)}: {' '.join(chosen)}")
        for name in chosen:
            scenario(w, rng)
            code, _ = run_child(w, kill_at=name)
            if code == -signal.SIGKILL:
                tally.counts["crashes"] += 1
            elif code == 3:
                tally.add("unreached", f"{name}: the cycle did not pass it this time")
            else:
                raise CampaignError(f"child to be killed at {name} exited {code}; see {w.logs[-1]}")
            code, result = run_child(w, cycles=CONVERGE_CYCLES)
            if code != 0:
                raise CampaignError(f"restarted worker after {name} exited {code}; see {w.logs[-1]}")
            before = sum(tally.counts[k] for k in ("lost", "doubled", "oversold_by_us", "overwritten_edits"))
            check(w, result, tally, f"killed at {name}")
            after = sum(tally.counts[k] for k in ("lost", "doubled", "oversold_by_us", "overwritten_edits"))
            cycles = (result or {}).get("cycles")
            if inspect is not None:
                inspect(w, name)
            say(f"crash: killed at {name:<18} recovered in {cycles} cycle(s); {after - before} violation(s)")
        tally.counts["boundaries"] = len(chosen)
    keys = ("crashes", "boundaries", "lost", "doubled", "oversold_by_us", "overwritten_edits", "unconverged")
    counts = {key: tally.counts[key] for key in (*keys, "unreached")}
    return counts, tally.problems


# -- secrets --------------------------------------------------------------------------------------


def secret_values(named: Mapping[str, str]) -> dict[str, str]:
    """Every form of every secret worth looking for: the value, URL-encoded, JSON-escaped.

    A private key is looked for line by line (each base64 line of its PEM body is 64
    characters of key material): any one line of it showing is a leak.
    """
    forms: dict[str, str] = {}
    for name, value in named.items():
        if "PRIVATE KEY" in value:
            body = [line for line in value.splitlines() if line and "PRIVATE KEY" not in line]
            forms |= {f"{name} (line {n})": line for n, line in enumerate(body, 1) if len(line) >= 40}
            continue
        forms[name] = value
        for variant in (urllib.parse.quote(value, safe=""), json.dumps(value)[1:-1]):
            if variant != value:
                forms[f"{name} (encoded)"] = variant
    return forms


def find_secrets(texts: Iterable[tuple[str, str]], named: Mapping[str, str]) -> list[str]:
    """``where: secret name`` for every secret that shows in any of the ``(where, text)`` pairs."""
    forms = secret_values(named)
    found = []
    for where, text in texts:
        for name, value in forms.items():
            if value and value in text:
                found.append(f"{where}: {name}")
    return found


def exposed(w: World) -> Iterator[tuple[str, str]]:
    """Every place a secret must never reach, as ``(where, text)``."""
    for path in w.logs:
        if path.exists():
            yield f"log {path.name}", path.read_text(encoding="utf-8", errors="replace")
    for tab in w.sheets.metadata(w.sheet)["sheets"]:
        title = tab["properties"]["title"]
        for option in ("FORMATTED_VALUE", "FORMULA"):
            values = w.sheets.get_values(w.sheet, f"'{title}'", value_render_option=option)
            yield f"sheet {title}", json.dumps(values, ensure_ascii=False)
    yield "Sheets request log", "\n".join(repr(entry) for entry in w.sheets.request_log)
    yield "Slack messages", json.dumps(w.slack.messages, ensure_ascii=False)
    yield "Slack request log", "\n".join(repr(entry) for entry in w.slack.request_log)


def secrets_scan(seed: int, *, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Run workers with every secret configured, cleanly and with faults; count secrets that leak.

    The faulty run gives Meta a wrong token, throttles WooCommerce and Shopify, fails a Sheets
    read once and the Slack webhook once: the error paths write messages to the log, the
    Status sheet and Slack.  Returns ``secrets_leaked``, ``places_scanned``, ``alerts`` and
    ``runs``.
    """
    say = progress or (lambda _: None)
    rng = random.Random(seed)
    with world(seed) as w:
        run_child(w, cycles=2)
        scenario(w, rng)
        wrong = f"EAAG{secrets.token_urlsafe(24)}"
        w.secrets["meta_wrong_token"] = wrong
        w.woo.fail_next("orders", 429, times=2)
        w.shopify.fail_next("orders", 429)
        w.sheets.fail_next("spreadsheets.values.batchGet", 503)
        w.slack.fail_next(status=500)
        run_child(w, cycles=3, env={**w.env, "SHEETSYNC__META__TOKEN": wrong})
        run_child(w, cycles=2)
        places = list(exposed(w))
        leaks = find_secrets(places, w.secrets)
        for leak in leaks:
            say(f"secrets: LEAK {leak}")
        say(
            f"secrets: {len(w.secrets)} secrets, {len(places)} places, "
            f"{len(w.slack.messages)} alerts, {len(leaks)} leaks"
        )
        return {
            "secrets_leaked": len(leaks),
            "places_scanned": len(places),
            "alerts": len(w.slack.messages),
            "runs": w.runs,
        }
