"""The adversary: the world keeps moving while the real worker works (issue 21), Jepsen-style.

One seed makes one schedule.  The real worker loop (``run_forever``, with its backoff, its
outage alert and its single-writer lease) runs over the real Google Sheets store and the real
Shopify and WooCommerce adapters, each over its fake in-process, all on one
:class:`ManualClock`.  Every HTTP request the worker makes passes a seam that

- adds a latency of tens to hundreds of milliseconds on the fake clock (now and then a lag of
  seconds);
- lets the actors act *between that request and the next*, so a buyer checks out, the merchant
  drags a column or renames a tab, or the platform edits a quantity while a cycle is half done;
- may kill the worker there (an exception no ``except Exception`` catches, raised before the
  request reaches the fake, or after the fake applied it: the answer is lost with the worker).

Nothing runs on a thread: the interleaving is the schedule, so a seed replays exactly, and the
schedule's prefix up to a violation is a reproduction.

The actors:

- **buyers** order on Shopify and WooCommerce (only what a channel shows), edit orders, cancel
  them (restocked or not), and get refunds (Shopify RETURN, CANCEL, NO_RESTOCK; WooCommerce with
  or without its restock box);
- **the merchant** recounts (types Quantity), types Overrides (a number or PAUSE) and Buffers
  (``10%``, stored by Sheets as 0.1 with a percent format), pauses and resumes a channel on the
  Status tab, inserts and deletes note rows, drags a product row elsewhere, inserts, drags and
  deletes a column, renames a header, the Inventory tab or the Ledger tab (and renames it back a
  few cycles later), and pastes a block of counts;
- **the platforms** hold orders from before the first sync (the counts hold them), set
  quantities behind our back, lag, throttle, fail half a batch, answer 5xx, and lose answers
  after applying the request (:class:`sheetsync_fakes.chaos.Chaos`, forced);
- **the operator** kills the worker at a request (including right after a restart, during its
  recovery) and starts a new one, starts a second worker beside the first (the lease must keep it
  from writing), and steps the worker's wall clock.

The invariants are checked against what the fakes and the actors know, never by asking the
adapters: see :func:`check_ledger`, :func:`check_shown`, :func:`check_merchant_cells`, the
formula and secret scans, and the stuck-state rule (:class:`Stuck`).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import random
import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from unittest import mock

import httpx
from sheetsync_fakes.chaos import Chaos, Kind, Platform
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.google_sheets import FakeSheets, SheetSpec
from sheetsync_fakes.shopify import FakeShopify, RestockType
from sheetsync_fakes.wire import HandlerAdapter
from sheetsync_fakes.woocommerce import FakeWooCommerce

import sheetsync.worker as worker_module
from campaigns.crash import find_secrets
from campaigns.platforms import LOCATION, START, WOO_SPEC, key, shopify_schema
from sheetsync.alerts import Alerter
from sheetsync.channels import Channel
from sheetsync.channels.shopify import ShopifyChannel
from sheetsync.channels.woocommerce import WooCommerceChannel
from sheetsync.config import Settings, load
from sheetsync.core.incidents import Alert
from sheetsync.model import (
    GUARD_ROW_LABEL,
    INVENTORY_SHEET,
    LEDGER_SHEET,
    STATE_SHEET,
    STATUS_SHEET,
    ChannelName,
    LedgerEntry,
    Snapshot,
    StatusUpdate,
)
from sheetsync.stores._grid import Lease
from sheetsync.stores.google_sheets import GoogleSheetsStore, connect
from sheetsync.worker import CycleReport, Inbox, run_forever

SHOP = "adversary.myshopify.com"
SITE = "https://adversary.example.com"
SHEETS_EMAIL = "adversary-sheets@adversary.iam.gserviceaccount.com"
MERCHANT_EMAIL = "merchant@adversary.example"  #: the merchant's own Google account (a browser)

CONFIG = """\
[master]
kind = "google_sheets"
spreadsheet = "{sheet}"

[insights]
enabled = false

[channels.shopify]
kind = "shopify"
shop = "adversary"
location = "{location}"

[channels.woo]
kind = "woocommerce"
site = "{site}"
"""

SHOPIFY, WOO = "shopify", "woo"
TITLES = {SHOPIFY: "Shopify", WOO: "WooCommerce"}
BEST_SELLER_SCALE = 10  #: the first SKU's counts are this many times the others'
SKUS = 11  #: products; one more, ``00123``, keeps its zeros only in a column formatted as Plain text
CYCLES = 36  #: cycles the worker completes under attack, before the quiet settle
HISTORY = 4  #: orders per platform placed before the worker's first sync (its counts hold them)
SETTLE = 5  #: quiet cycles at the end (no actor, no fault, renames undone)
ACT_P = 0.07  #: chance that someone acts between two of the worker's requests
#: chance that the merchant inserts, drags or deletes a column inside a cycle's window (a rare hit
#: by chance alone): after its read of the sheet, at its first request to a platform; and in the
#: round trip between the store's last look at the header row and its write of the worker's cells
RACE_P = 0.1
KILL_P = 1 / 140  #: chance that the operator kills the worker at one of its requests
RECOVERY_KILL_P = 0.35  #: chance of a second kill within a restarted worker's first requests
STALL_AFTER = 25  #: cycles failed in a row before the operator restarts the worker by hand
RECOVER_WITHIN = 3  #: cycles a worker may still fail for a rename after it was renamed back
MAX_RENAMES = 4  #: headers and tabs renamed (one at a time, each renamed back) per run
ALERT_WITHIN = {"ledger": 2, "failing": 4, "refused": 2}  #: a stuck state is alerted within this many cycles
PLUGIN_P = 0.4  #: share of seeds where a WooCommerce plugin fails one product's every save for a while
DELETE_P = (
    0.4  #: share of seeds where the merchant deletes a product row still selling, and adds it back later
)
UNMATCHED_WITHIN = 2  #: cycles within which a sale of a SKU with no row must be alerted
MERCHANT_COLUMNS = ("sku", "quantity", "override", "buffer", "notes")
HEADERS = {"sku": "SKU", "quantity": "Quantity", "override": "Override", "buffer": "Buffer", "notes": "Notes"}
FIGURES = (
    "lost",
    "doubled",
    "oversold_by_us",
    "merchant_cells_changed",
    "formulas_written",
    "secrets_leaked",
    "unalerted_stuck_states",
    "valid_input_refused",
    "lease_violations",
    "unrecovered_after_fix",
)


def _percentage(kept: str) -> bool:
    """A Buffer Sheets kept from a typed percentage: 0.1 for ``10%`` (it shows ``10%``)."""
    try:
        return 0 < float(kept) <= 1 and float(kept) * 100 == round(float(kept) * 100)
    except ValueError:
        return False


class Killed(BaseException):
    """The operator's kill -9: a BaseException, so no ``except Exception`` in the worker survives it."""


# -- what happened: the actors' record, the fakes' truth -------------------------------------------


@dataclass
class Order:
    """One order a buyer placed, and what the buyer did to it since."""

    channel: str
    id: str
    at: float
    no_restock: Counter[str] = field(default_factory=Counter)  #: Shopify line id → units kept by the buyer
    cancelled: bool = False
    refunded: bool = False


@dataclass
class Version:
    """A count the merchant typed, and when a completed cycle first read it."""

    value: int
    typed_at: float
    seen_at: float | None = None
    gone_at: float | None = None  #: typed over with a word before any read saw it: no read can see it after
    #: units put back (cancelled, refunded, edited down) before the read that the Ledger had not
    #: recorded at the read: the worker adds them to this count, as README's contract says
    restocked_after: int = 0


@dataclass
class Stuck:
    """A state the worker cannot sync through; it must alert within ``ALERT_WITHIN[kind]`` cycles."""

    kind: str  #: "ledger" (the Ledger tab lost), or "failing" (cycles failing in a row: a rename, a lease)
    what: str
    began: float
    tag: str  #: the worker (incarnation) that must alert ("" for any)
    attempts: int = 0
    alerted: bool = False
    over: bool = False
    reported: bool = False


@dataclass
class Incarnation:
    """One worker process's life: its name on the lease, its cycles, its failures in a row."""

    tag: str
    second: bool = False
    attempts: int = 0
    done: int = 0
    failing: int = 0
    requests: int = 0
    writes: int = 0
    read_at: float = 0.0
    unrecorded_at_read: dict[str, int] = field(default_factory=dict)  #: SKU → units sold, not in the Ledger
    judged: int = 0  #: attempts already judged failed or not
    completed_attempt: int = 0  #: the attempt the last completed cycle was
    stuck: Stuck | None = None
    ledger_lost_at_read: bool = False  #: the Ledger tab was lost (renamed, headless) when it read
    reading: bool = False  #: inside the store's read (its values fetch is the read's instant)
    faults_at_begin: dict[str, int] = field(default_factory=dict)  #: platform → faults injected by then
    #: the stuck states the current attempt counted as one more cycle (see ``kill_uncounts``)
    counted: list[Stuck] = field(default_factory=list)


@dataclass
class Tally:
    """The figures and the first sentence of each violation."""

    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    first_at: int | None = None  #: schedule length when the first violation was seen

    def add(self, kind: str, message: str, step: int) -> None:
        """Count one violation and keep its sentence (the first 40)."""
        self.counts[kind] += 1
        if self.first_at is None:
            self.first_at = step
        if len(self.problems) < 40:
            self.problems.append(f"{kind}: {message}")


# -- the seam between the worker and every fake ----------------------------------------------------


def _is_write(platform: str, request: httpx.Request) -> bool:
    """Whether ``request`` changes anything (a read of Sheets is a GET or a values:batchGet)."""
    if platform == "google_sheets":
        return request.method != "GET" and not request.url.path.endswith(":batchGet")
    if platform == "shopify":
        return b"mutation" in request.content
    return request.method in ("POST", "PUT", "PATCH", "DELETE")


class Seam:
    """One fake as one worker reaches it: latency, the actors' turn, the operator's kill."""

    def __init__(self, world: World, chaos: Chaos, platform: Platform, life: Incarnation) -> None:
        self.world, self.chaos, self.platform, self.life = world, chaos, platform, life

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` as the world would, in its turn."""
        if request.url.path.endswith("/token"):
            return self.chaos(request)
        request.read()
        w = self.world
        w.requests += 1
        self.life.requests += 1
        w.clock.sleep(w.rng_latency.uniform(0.02, 0.3))
        w.world_turn(self.life)
        if self.platform != "google_sheets":
            w.race_turn()
        elif request.url.path.endswith(("values:batchUpdate", "values:batchUpdateByDataFilter")):
            w.race_turn(writing=True)
        kill = w.kill_now(self.life)
        if kill == "before":
            w.note(f"operator: kill -9 {self.life.tag} before {request.method} {request.url.path}")
            raise Killed(self.life.tag)
        channel = {"shopify": SHOPIFY, "woocommerce": WOO}.get(self.platform)
        write = _is_write(self.platform, request)
        if write:
            self.life.writes += 1
            w.lease_check(self.life, request)
        levels = {sku: w.shown(channel, sku) for sku in w.skus} if write and channel else {}
        if (
            self.life.reading
            and request.url.path.endswith("values:batchGet")
            and request.url.params.get("valueRenderOption") != "FORMATTED_VALUE"  # Buffers again, as shown
        ):
            w.read_instant(self.life)  # after the actors' turn: what this fetch answers is what it reads
        answer = self.chaos(request)
        if self.platform == "google_sheets" and request.url.path.endswith(":append"):
            w.counts_recorded(self.life)
        if channel:
            for sku, level in levels.items():
                if w.shown(channel, sku) != level:  # the worker set it: a platform's own change is gone
                    w.tampered.pop((channel, sku), None)
        if kill == "after":
            w.note(f"operator: kill -9 {self.life.tag} after {request.method} {request.url.path} was applied")
            raise Killed(self.life.tag)
        return answer


class CountingStore:
    """The real store; its ``read`` marks a cycle's start (attempts, the read time)."""

    def __init__(self, store: GoogleSheetsStore, world: World, life: Incarnation) -> None:
        self.store, self.world, self.life = store, world, life

    def read(self) -> Snapshot:
        """A cycle begins: count the attempt, then read."""
        self.world.cycle_begins(self.life)
        self.life.reading = True
        try:
            return self.store.read()
        finally:
            self.life.reading = False

    def append_ledger(self, entries: Sequence[LedgerEntry]) -> None:
        """Append to the Ledger."""
        self.store.append_ledger(entries)

    def write_status(self, update: StatusUpdate) -> None:
        """Write the Status and State."""
        self.store.write_status(update)

    def acquire(self, owner: str, now: datetime, ttl_s: float) -> str | None:
        """Take or renew the lease."""
        return self.store.acquire(owner, now, ttl_s)

    def release(self, owner: str) -> None:
        """Give the lease up."""
        self.store.release(owner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class WatchedInbox(Inbox):
    """The worker's inbox; ``done`` tells the world a cycle completed."""

    def __init__(self, world: World, life: Incarnation) -> None:
        super().__init__()
        self.world, self.life = world, life

    def done(self, report: CycleReport) -> None:
        """A cycle completed: the world checks what the channels show now."""
        super().done(report)
        self.world.cycle_done(self.life, report)


class WatchedAlerter(Alerter):
    """The real alerter (redaction, budget); every alert raised is recorded, delivered or not."""

    def __init__(self, world: World, life: Incarnation, secrets: Collection[str]) -> None:
        super().__init__([], secrets=secrets, clock=world.clock)
        self.world, self.life = world, life

    def send(self, alerts: Sequence[Alert]) -> None:
        """Record, then log as the real one does."""
        for alert in alerts:
            self.world.alerted(self.life, self.redact(alert.line()))
        super().send(alerts)


# -- the world -------------------------------------------------------------------------------------


class World:
    """The fakes, the actors, the ground truth and the checks of one seeded run."""

    def __init__(self, seed: int, directory: Path, steps: int | None = None, cycles: int = CYCLES) -> None:
        self.seed, self.steps, self.cycles = seed, steps, cycles
        self.rng = random.Random(seed)  # the schedule
        self.rng_latency = random.Random(seed * 7 + 1)
        self.rng_race = random.Random(seed * 13 + 5)  # its own: the schedule draws as before
        self.race_armed = False  # a cycle has read the sheet and not yet reached a platform
        self.write_race_armed = False  # a cycle has read the sheet and not yet written its cells
        self.clock = ManualClock(START)
        self.tally = Tally()
        self.history: list[str] = []
        self.actions: Counter[str] = Counter()
        self.requests = 0
        self.kills = 0
        self.quiet = False  # the settle: nobody acts, nothing fails
        self.busy = False  # an actor is acting (no nested turn)
        self.in_second = False  # a second worker is running (inside the first's turn)
        self.accept = False  # the merchant will type ACCEPT for the volume guard
        self.recoveries: list[tuple[Incarnation, int, str, str]] = []
        self.stalled = False
        self.lives: list[Incarnation] = []
        self.primary: Incarnation | None = None
        self.skew = 0.0  # the worker's wall clock, stepped by the operator
        self.stepped = False
        self.recovery_kill: int | None = None
        self.completed = 0
        self.primary_attempts = 0  # cycles begun by every primary worker in turn (restarts go on counting)
        self.alerts: list[tuple[str, float, str]] = []
        self.stuck: list[Stuck] = []
        self.counts_seen: set[str] = set()  #: Keys of the Ledger's COUNT rows already attributed
        #: SKU → since when its row has said LAG, cycle after cycle: true time, and the worker's clock's
        self.lagging: dict[str, tuple[float, float]] = {}
        self.lag_reported: set[str] = set()  #: SKUs whose current LAG episode is already counted
        self.lease: tuple[str, float] | None = None  # who holds it and until when (true time)
        self.count_typed: dict[str, float] = {}  #: SKU → when the merchant last typed its Quantity
        self.row_typed: dict[str, float] = {}  #: SKU → when the merchant last typed in its row
        self.refusing: Counter[tuple[str, str]] = (
            Counter()
        )  #: (channel, SKU) → completed cycles refused in a row
        self.refusal_reported: set[tuple[str, str]] = set()
        self.unmatched: dict[
            str, tuple[float, int]
        ] = {}  #: deleted row's SKU → its first sale since (time, cycle)
        self.unmatched_reported: set[str] = set()
        self.good_read_at = START  #: the read of the last cycle that pushed (no hold): the guard's reference

        # -- secrets, drawn from the seed (never the same twice across seeds) --
        secret_rng = random.Random(seed ^ 0x5EC12E7)
        self.secrets: dict[str, str] = {
            "shopify_token": f"shpat_{secret_rng.getrandbits(128):032x}",
            "woo_key": f"ck_{secret_rng.getrandbits(160):040x}",
            "woo_secret": f"cs_{secret_rng.getrandbits(160):040x}",
            "sheets_private_key": key(SHEETS_EMAIL)["private_key"],
        }
        merchant_token = f"ya29.merchant-{secret_rng.getrandbits(64):016x}"

        # -- the catalogue and the sheet, as the merchant typed it --
        self.skus = [f"AD-{n:03d}" for n in range(SKUS)] + ["00123"]
        self.sheets = FakeSheets(
            tokens={merchant_token: MERCHANT_EMAIL},
            read_quota_per_minute=10**9,
            write_quota_per_minute=10**9,
            now=self.clock,
            seed=seed,
            wall=self.clock,  # Google's Date: true time, whatever the worker's clock says
        )
        self.merchant_token = merchant_token
        self.sheet = self.sheets.create_spreadsheet(
            "Adversary", sheets=(SheetSpec(INVENTORY_SHEET, rows=60, columns=20),), shared_with=[SHEETS_EMAIL]
        )
        self.sheets.share(self.sheet, MERCHANT_EMAIL)
        self.columns: dict[str, str] = dict(HEADERS)  # column id → its header text now
        self.cells: dict[tuple[str, str], Any] = {}  # (row id, column id) → what Sheets holds
        self.notes: list[str] = []  # note rows the merchant inserted (their Notes text)
        self.notes_made = 0
        self.tabs = {"inventory": INVENTORY_SHEET, "ledger": LEDGER_SHEET}
        self.controls: dict[str, Any] = {}  # channel title → what the merchant typed in Control
        self.paused: dict[str, float] = {}  # channel → until when its figures are not ours to check
        self.versions: dict[str, list[Version]] = {}
        self.events: dict[str, list[tuple[float, int]]] = defaultdict(list)  # sku → (time, units sold)
        self.orders: list[Order] = []
        #: (channel, SKU) → units a platform added itself (staff, a restocking refund), allowed until
        #: the worker sets that level (at its next full read of levels, it sets it back)
        self.tampered: dict[tuple[str, str], int] = {}
        self.tampered_at: dict[tuple[str, str], float] = {}  # when a platform last changed it itself
        self.row_paused: dict[str, float] = {}  # SKU → until when its Override PAUSE is not ours to check
        self.ledger_alert_open = False  # a Ledger alert raised and not yet RECOVERED
        self.over: dict[tuple[str, str], int] = {}  # (channel, SKU) → level over the bound at the last check
        self.restore: list[tuple[int, str, Callable[[], None]]] = []  # (at primary attempt, what, undo)
        self.extra_column = False

        counts = {sku: self.rng.randint(6, 40) * self._scale(sku) for sku in self.skus}

        # -- the platforms, each with orders from before the first sync (the counts hold them) --
        self.back = 0.0  # how far the platforms' clock runs behind the world's, for the history
        self.shopify = FakeShopify({"2026-10": shopify_schema()}, now=self.clock, seed=seed)
        self.shopify.create_shop(SHOP, self.secrets["shopify_token"], locations=[LOCATION])
        self.woo = FakeWooCommerce(
            WOO_SPEC,
            consumer_key=self.secrets["woo_key"],
            consumer_secret=self.secrets["woo_secret"],
            now=self.platform_now,
        )
        history_rng = random.Random(seed ^ 0x415)  # its own: the schedule draws as before
        history = [
            (channel, history_rng.choice(self.skus), history_rng.randint(1, 3))
            for channel in (SHOPIFY, WOO)
            for _ in range(HISTORY)
        ]
        for sku in self.skus:  # the shops list the shelf's count, and sell the history from it
            stock = {
                c: counts[sku] + sum(q for ch, s, q in history if ch == c and s == sku)
                for c in (SHOPIFY, WOO)
            }
            self.shopify.add_product(SHOP, sku, stock={LOCATION: stock[SHOPIFY]})
            self.woo.add_product(sku, stock=stock[WOO])
        self.before_start: list[Order] = []
        for n, (channel, sku, quantity) in enumerate(history):
            self.back = 86_400.0 - 3_000.0 * n  # yesterday, an order every 50 minutes
            if channel == SHOPIFY:
                at = datetime.fromtimestamp(self.platform_now(), UTC)
                order_id = self.shopify.place_order(SHOP, [(sku, quantity)], at=at)
            else:
                order_id = str(self.woo.place_order([(sku, quantity)], status="completed"))
            self.before_start.append(Order(channel, order_id, self.platform_now()))
        self.back = 0.0
        self.chaos: dict[str, Chaos] = {
            "sheets": Chaos(self.sheets, "google_sheets", seed=seed * 10 + 1, clock=self.clock),
            SHOPIFY: Chaos(self.shopify, "shopify", seed=seed * 10 + 2, clock=self.clock),
            WOO: Chaos(self.woo, "woocommerce", seed=seed * 10 + 3, clock=self.clock),
        }
        for chaos in self.chaos.values():  # a little background noise besides the forced faults
            chaos.rate = 0.02
            chaos.kinds = ("throttle", "http_503", "timeout", "lost_answer")
        plugin = random.Random(seed * 17 + 3)  # its own: the schedule draws as before
        #: (SKU, from cycle, to cycle): a WooCommerce plugin fails that product's every save meanwhile
        self.plugin: tuple[str, int, int] | None = None
        if plugin.random() < PLUGIN_P:
            begins = plugin.randint(2, CYCLES - 8)
            # one of the first rows: a batch goes in sheet order, so most of it comes after
            self.plugin = (plugin.choice(self.skus[:4]), begins, begins + plugin.randint(6, 12))
        deleting = random.Random(seed * 19 + 7)  # its own stream too
        #: (SKU, deleted after cycle, typed back after cycle, the count typed back)
        self.deletion: tuple[str, int, int, int] | None = None
        if deleting.random() < DELETE_P:
            sku, gone = deleting.choice(self.skus[4:]), deleting.randint(3, CYCLES - 10)
            self.deletion = (sku, gone, gone + deleting.randint(6, 12), deleting.randint(0, 40))
        config = directory / "sheetsync.toml"
        config.write_text(CONFIG.format(sheet=self.sheet, location=LOCATION, site=SITE), encoding="utf-8")
        self.settings: Settings = load(config)
        self.log = io.StringIO()
        self._set_up_sheet(counts)

    def _set_up_sheet(self, counts: Mapping[str, int]) -> None:
        """The merchant types the headers, runs ``sheetsync prepare`` (the SKU column becomes Plain
        text, the worker's columns and tabs appear), then types the catalogue."""
        self.sheets.set_values(self.sheet, f"{INVENTORY_SHEET}!A1", [[HEADERS[c] for c in MERCHANT_COLUMNS]])
        client = connect(key(SHEETS_EMAIL), adapter=HandlerAdapter(self.sheets))
        GoogleSheetsStore(client, self.sheet, self.settings.layout, account=SHEETS_EMAIL).prepare()
        rows = [
            [sku, str(counts[sku]), "", "10%" if n == 2 else ("1" if n == 3 else ""), f"shelf {n}"]
            for n, sku in enumerate(self.skus)
        ]
        self.sheets.set_values(self.sheet, f"{INVENTORY_SHEET}!A2", rows)
        self._record_all_typed()
        for sku in self.skus:
            self.versions[sku] = [Version(int(self._typed(sku, "quantity")), self.clock(), None)]

    # -- the schedule's record --

    def note(self, line: str) -> None:
        """Add one line to the schedule (what happened, at which request and time)."""
        self.history.append(
            f"#{len(self.history) + 1} req {self.requests} t+{self.clock() - START:.1f}s {line}"
        )

    def now(self) -> float:
        """The true time (the platforms')."""
        return self.clock()

    def platform_now(self) -> float:
        """WooCommerce's clock: the true time, but for the history placed before the first sync."""
        return self.clock() - self.back

    # -- the merchant's record of what it typed --

    def _inventory(self, render: str = "UNFORMATTED_VALUE") -> list[list[Any]]:
        tab = self.tabs["inventory"]
        return self.sheets.get_values(self.sheet, f"'{tab}'", value_render_option=render)  # type: ignore[arg-type]

    def _header(self, values: list[list[Any]] | None = None) -> list[str]:
        values = values if values is not None else self._inventory()
        return [str(h) for h in (values[0] if values else [])]

    def _column(self, column: str) -> int:
        """The 0-based position of merchant column ``column`` now."""
        return self._header().index(self.columns[column])

    def _row_id(self, row: Sequence[Any], header: Sequence[str]) -> str | None:
        sku_at = header.index(self.columns["sku"]) if self.columns["sku"] in header else 0
        sku = str(row[sku_at]) if sku_at < len(row) and row[sku_at] != "" else ""
        if sku:  # a SKU Sheets made a number (00123 → 123) is still the merchant's row
            return next((s for s in self.skus if s != sku and s.lstrip("0") == sku), sku)
        notes_at = header.index(self.columns["notes"]) if self.columns["notes"] in header else None
        if notes_at is not None and notes_at < len(row) and str(row[notes_at]).startswith("note "):
            return f"#{row[notes_at]}"
        return None

    def _row_of(self, row_id: str) -> int:
        """The 1-based sheet row holding ``row_id``."""
        values = self._inventory()
        header = self._header(values)
        for n, row in enumerate(values[1:], start=2):
            if self._row_id(row, header) == row_id:
                return n
        raise KeyError(row_id)

    def _record_all_typed(self) -> None:
        values = self._inventory()
        header = self._header(values)
        for row in values[1:]:
            row_id = self._row_id(row, header)
            if row_id is None:
                continue
            for column, title in self.columns.items():
                if title in header and (at := header.index(title)) < len(row) and row[at] != "":
                    self.cells[row_id, column] = row[at]
                else:
                    self.cells.pop((row_id, column), None)

    def _typed(self, row_id: str, column: str) -> Any:
        return self.cells.get((row_id, column), "")

    def _letter(self, index: int) -> str:
        text = ""
        index += 1
        while index:
            index, rest = divmod(index - 1, 26)
            text = chr(ord("A") + rest) + text
        return text

    def type_cell(self, row_id: str, column: str, text: str) -> Any:
        """The merchant types ``text`` (as a browser does: USER_ENTERED); what Sheets kept is recorded."""
        at = f"'{self.tabs['inventory']}'!{self._letter(self._column(column))}{self._row_of(row_id)}"
        self.sheets.set_values(self.sheet, at, [[text]])
        self.row_typed[row_id] = self.clock()
        if column == "quantity":
            self.count_typed[row_id] = self.clock()
        kept = self.sheets.get_values(self.sheet, at, value_render_option="UNFORMATTED_VALUE")
        value = kept[0][0] if kept and kept[0] else ""
        if value == "":
            self.cells.pop((row_id, column), None)
        else:
            self.cells[row_id, column] = value
        return value

    def _merchant_batch(self, requests: list[dict[str, Any]]) -> None:
        """A structural edit through the Sheets API, as the browser makes it (one batchUpdate)."""
        answer = self.sheets(
            httpx.Request(
                "POST",
                f"https://sheets.googleapis.com/v4/spreadsheets/{self.sheet}:batchUpdate",
                json={"requests": requests},
                headers={"Authorization": f"Bearer {self.merchant_token}"},
            )
        )
        if answer.status_code != 200:
            raise ValueError(answer.text[:300])

    def _sheet_id(self, title: str) -> int:
        for tab in self.sheets.metadata(self.sheet)["sheets"]:
            if tab["properties"]["title"] == title:
                return int(tab["properties"]["sheetId"])
        raise KeyError(title)

    # -- the worker, as the operator runs it --

    def build(self, life: Incarnation) -> tuple[CountingStore, list[Channel]]:
        """A fresh process's store and channels: nothing shared with the last one but the fakes."""
        sheets = Seam(self, self.chaos["sheets"], "google_sheets", life)
        client = connect(key(SHEETS_EMAIL), adapter=HandlerAdapter(sheets))
        store = GoogleSheetsStore(
            client, self.sheet, self.settings.layout, account=SHEETS_EMAIL, sleep=self.clock.sleep
        )
        shopify = ShopifyChannel(
            ChannelName(SHOPIFY),
            shop=SHOP,
            token=self.secrets["shopify_token"],
            location=LOCATION,
            client=httpx.Client(
                transport=httpx.MockTransport(Seam(self, self.chaos[SHOPIFY], "shopify", life))
            ),
            sleep=self.clock.sleep,
            clock=self.clock,
        )
        woo = WooCommerceChannel(
            ChannelName(WOO),
            site=SITE,
            consumer_key=self.secrets["woo_key"],
            consumer_secret=self.secrets["woo_secret"],
            client=httpx.Client(
                transport=httpx.MockTransport(Seam(self, self.chaos[WOO], "woocommerce", life))
            ),
            sleep=self.clock.sleep,
            clock=self.clock,
        )
        return CountingStore(store, self, life), [shopify, woo]

    def run_worker(self, life: Incarnation, cycles: int | None = None) -> str:
        """Run ``run_forever`` as a process would, until the campaign stops it or kills it."""
        self.lives.append(life)
        store, channels = self.build(life)
        stop_at = None if cycles is None else life.attempts + cycles

        def tick() -> float:
            return self.clock()

        def wall() -> datetime:
            skew = self.skew if not life.second else 0.0
            return datetime.fromtimestamp(self.clock() + skew, UTC)

        def wait(seconds: float) -> None:
            self.idle(life, seconds)
            if stop_at is not None and life.attempts >= stop_at:
                stop.set()
            if stop_at is None and (self.completed >= self.target or self.primary is not life):
                stop.set()
            if life is self.primary and life.failing >= STALL_AFTER:
                # the operator, alerted long ago, restarts the stuck worker by hand
                self.actions["restarts"] += 1
                self.note(f"operator: restarts {life.tag}, failing {life.failing} cycles in a row")
                stop.set()

        import threading

        stop = threading.Event()
        secrets = list(self.secrets.values())
        with mock.patch.object(worker_module, "worker_name", return_value=life.tag):
            try:
                run_forever(
                    store,
                    channels,
                    self.settings,
                    wall,
                    stop,
                    WatchedInbox(self, life),
                    WatchedAlerter(self, life, secrets),
                    tick=tick,
                    wait=wait,
                )
            except Killed:
                return "killed"
        return "stopped"

    target = 0

    def kill_uncounts(self, life: Incarnation) -> None:
        """A cycle killed before it ended had no chance to alert: it is no cycle of a stuck state.

        Seed 1 at 20 cycles: the Ledger tab renamed, the next two attempts killed by the operator
        (one before its read), and the third alerted; counted, the kills made it "no alert in 2".
        """
        for stuck in life.counted:
            if stuck.kind == "ledger" and not stuck.reported:
                stuck.attempts -= 1
        life.counted = []

    def kill_now(self, life: Incarnation) -> str | None:
        """Whether the operator kills ``life`` at this request, and before or after it is applied."""
        if self.quiet or life is not self.primary or self.busy or self.in_second or not self._acting():
            return None
        if self.recovery_kill is not None and life.requests >= self.recovery_kill:
            self.recovery_kill = None
            return self.rng.choice(("before", "after"))
        if self.rng.random() < KILL_P:
            return self.rng.choice(("before", "after"))
        return None

    def lease_check(self, life: Incarnation, request: httpx.Request) -> None:
        """A write by one worker while the State names another whose lease is valid in true time.

        A stepped wall clock is no excuse: the lease runs on Google's clock (each answer's Date).
        """
        holder = self.lease_holder()
        if holder is None or holder == life.tag:
            return
        what = f"{life.tag} wrote ({request.method} {request.url.path}) while {holder} holds the lease"
        self.tally.add("lease_violations", what, len(self.history))

    def lease_holder(self) -> str | None:
        """The lease's holder per the State tab, if its time (true time) has not passed."""
        if STATE_SHEET not in self._titles():
            return None
        for row in self.sheets.get_values(self.sheet, f"'{STATE_SHEET}'")[1:]:
            if row and str(row[0]) == "lease" and len(row) > 1:
                lease = Lease.parse(str(row[1]))
                if lease is not None and lease.until.timestamp() > self.clock():
                    return lease.owner
        return None

    # -- the cycle's events, from the seam and the inbox --

    def cycle_begins(self, life: Incarnation) -> None:
        """A cycle's read: an attempt (failing ones count too)."""
        life.attempts += 1
        life.counted = []
        if life is self.primary:
            self.primary_attempts += 1
        life.read_at, life.unrecorded_at_read = self.clock(), {}  # until its values fetch: read_instant
        life.faults_at_begin = {name: chaos.faults for name, chaos in self.chaos.items()}
        life.ledger_lost_at_read = any(s.kind == "ledger" and not s.over for s in self.stuck)
        self.race_armed = self.write_race_armed = True
        self._check_recovered(life)
        holder = self.lease_holder()
        for stuck in self.stuck:
            # A worker waiting for another's lease reads no further than the lease: it cannot see
            # the Ledger gone (its own failing cycles are a stuck state of their own).
            sees = stuck.kind != "ledger" or holder in (None, life.tag)
            if not stuck.over and (stuck.tag in ("", life.tag)) and sees:
                stuck.attempts += 1
                life.counted.append(stuck)
                self._judge(stuck)
        self._tick_restores(life)

    def read_instant(self, life: Incarnation) -> None:
        """The instant ``life`` reads the sheet (its values fetch; the cycle's start until then)."""
        life.read_at = self.clock()
        life.ledger_lost_at_read = any(s.kind == "ledger" and not s.over for s in self.stuck)
        recorded = self._ledger_units()
        life.unrecorded_at_read = {
            sku: sum(u for _, u in self.events[sku]) - recorded.get(sku, 0) for sku in self.skus
        }
        # Any attempt may record a count it read (the COUNT goes in with the Ledger append, before
        # the writes that can still fail): restocks it saw unrecorded then are on top of it too.
        for sku, versions in self.versions.items():
            for version in versions:
                if version.seen_at is None and version.typed_at <= life.read_at:
                    version.restocked_after = max(version.restocked_after, -life.unrecorded_at_read[sku])

    def counts_recorded(self, life: Incarnation) -> None:
        """After a Ledger append: each new COUNT row is the count that attempt read, at its read.

        The bound runs from that read (what sold since; what was put back before it and recorded
        after), whether or not the attempt completes: the COUNT is in the Ledger either way.
        """
        for row in self._ledger_rows():
            key = row.get("Key", "")
            if (
                row.get("Movement") != "COUNT"
                or key in self.counts_seen
                or row.get("SKU") not in self.versions
            ):
                continue
            self.counts_seen.add(key)
            sku, value = row["SKU"], int(row.get("Delta") or 0)
            read = [v for v in self.versions[sku] if v.seen_at is None and v.typed_at <= life.read_at]
            if not any(v.value == value for v in read):
                continue
            for version in read:  # the one read, and any typed over before it
                version.seen_at = life.read_at
                version.restocked_after = max(0, -life.unrecorded_at_read.get(sku, 0))

    def cycle_done(self, life: Incarnation, report: CycleReport) -> None:
        """A cycle completed: counts become seen, the channels are checked."""
        life.done += 1
        life.failing = 0
        life.completed_attempt = life.attempts
        explained = not report.held or self._hold_explained(life)
        if not report.held:
            self.good_read_at = max(self.good_read_at, life.read_at)
        if life.stuck is not None:
            life.stuck.over = True
            life.stuck = None
        if life is self.primary:
            self.completed += 1
            for sku, versions in self.versions.items():
                for version in versions:
                    if (
                        version.seen_at is None
                        and version.typed_at <= life.read_at
                        and (version.gone_at is None or version.gone_at > life.read_at)
                    ):
                        version.seen_at = life.read_at
                        version.restocked_after = max(
                            version.restocked_after, -life.unrecorded_at_read.get(sku, 0)
                        )
            self._check_lag_rows(report)
            self._check_valid_input_read(life, report)
            self._check_refusals_alerted(report)
            if not explained:  # a hold nothing the merchant did explains: what the channels show is ours
                self.check_shown(f"after cycle {self.completed} of {life.tag} (held)", at_once=True)
            elif not report.held:
                # A channel's error excuses it only when this cycle's faults (ours to inject) explain
                # it: a site failing on what we send, every time, is the worker's to get round.
                failing = {
                    str(name)
                    for name, errors in report.errors.items()
                    if errors and self.chaos[str(name)].faults > life.faults_at_begin.get(str(name), 0)
                }
                self.check_shown(
                    f"after cycle {self.completed} of {life.tag}", skip=failing, refused=self.refused(report)
                )
            self._plugin_turn()
            self._deletion_turn()
            self._check_unmatched_alerted()

    def _plugin_turn(self) -> None:
        """The WooCommerce plugin breaks one product's saves, and is fixed some cycles later."""
        if self.plugin is None:
            return
        sku, begins, ends = self.plugin
        if self.completed == begins:
            self.woo.break_saves(sku)
            self.actions["platforms"] += 1
            self.note(f"platform: a WooCommerce plugin now fails every save of {sku} (HTTP 500)")
        elif self.completed == ends:
            self.woo.break_saves(sku, broken=False)
            self.note(f"platform: the WooCommerce plugin failing {sku} is fixed")

    def _deletion_turn(self) -> None:
        """The merchant deletes a product row that still sells, then types it back some cycles later."""
        if self.deletion is None or not self._inventory_ok():
            return
        sku, gone, back, count = self.deletion
        if self.completed == gone:
            self.sheets.delete_row(self.sheet, self.tabs["inventory"], self._row_of(sku))
            for cell in [c for c in self.cells if c[0] == sku]:
                del self.cells[cell]
            self.row_paused[sku] = float("inf")  # nothing of ours to check: no row says what to show
            if any(units > 0 for _, units in self.events[sku]):  # it sold: README lists it as Unmatched
                self.unmatched.setdefault(sku, (self.clock(), self.completed))
            self.actions["merchant"] += 1
            self.note(f"merchant: deletes the row of {sku} (the platforms still sell it)")
        elif self.completed == back and (sku, "quantity") not in self.cells:
            row = len(self._inventory()) + 1
            tab = self.tabs["inventory"]
            self.sheets.set_values(self.sheet, f"'{tab}'!{self._letter(self._column('sku'))}{row}", [[sku]])
            self.type_cell(sku, "quantity", str(count))
            self.type_cell(sku, "notes", "shelf again")
            self._record_all_typed()
            self.versions[sku].append(Version(count, self.clock()))
            self.row_paused[sku] = self.clock() + 180
            self.unmatched.pop(sku, None)
            self.actions["merchant"] += 1
            self.note(f"merchant: types the row of {sku} back at row {row}, counted {count}")

    def _check_unmatched_alerted(self) -> None:
        """A SKU that sold with no row (a deleted row that sold, a sale since) is a stuck state the
        merchant must hear of: README's Unmatched tab, "Each gets one alert"."""
        for sku, (at, cycle) in self.unmatched.items():
            if sku in self.unmatched_reported or self.completed - cycle <= UNMATCHED_WITHIN:
                continue
            if not any(
                sold_at >= at and sku in line and "no Inventory row" in line
                for _, sold_at, line in self.alerts
            ):
                self.unmatched_reported.add(sku)
                self.tally.add(
                    "unalerted_stuck_states",
                    f"{sku} sold with no row since t+{at - START:.0f}s: "
                    f"no alert in {UNMATCHED_WITHIN} cycles",
                    len(self.history),
                )

    def _check_refusals_alerted(self, report: CycleReport) -> None:
        """A channel refusing a SKU cycle after cycle is a stuck state: alerted within a bound."""
        refused = self.refused(report)
        for pair in set(self.refusing) - refused:
            del self.refusing[pair]
            self.refusal_reported.discard(pair)
        for channel, sku in sorted(refused):
            self.refusing[channel, sku] += 1
            if (
                self.refusing[channel, sku] <= ALERT_WITHIN["refused"]
                or (channel, sku) in self.refusal_reported
            ):
                continue
            title = next(c.title for c in self.settings.channels if str(c.name) == channel)
            said = [line for _, _, line in self.alerts if f"{title} refused" in line]
            told = bool(said) and "RECOVERED" not in said[-1]  # the channel's refusal incident is open
            if not told:
                self.refusal_reported.add((channel, sku))
                self.tally.add(
                    "unalerted_stuck_states",
                    f"{channel} refused {sku} for {self.refusing[channel, sku]} cycles: no alert",
                    len(self.history),
                )

    def _check_valid_input_read(self, life: Incarnation, report: CycleReport) -> None:
        """A row flagged as unreadable must hold something README says cannot be read.

        The merchant's own record of the row, untouched since the read: a count of digits, an
        Override that is a number, PAUSE or nothing, a Buffer of units or a percentage (``10%``,
        however Sheets keeps it) is valid input, and refusing it is a defect of ours.
        """
        for problem in report.plan.problems:
            sku = problem.sku
            if sku not in self.versions or self.row_typed.get(sku, START) > life.read_at:
                continue
            count, override, buffer = (str(self._typed(sku, c)) for c in ("quantity", "override", "buffer"))
            if (
                count.isdigit()
                and (override in ("", "PAUSE") or override.isdigit())
                and (buffer == "" or buffer.isdigit() or _percentage(buffer))
            ):
                self.tally.add(
                    "valid_input_refused",
                    f"row {sku} (Quantity {count!r}, Override {override!r}, Buffer {buffer!r}) flagged: "
                    + "; ".join(problem.messages),
                    len(self.history),
                )

    def _hold_explained(self, life: Incarnation) -> bool:
        """Whether the sheet, when ``life`` read it, had the shape README gives the volume guard.

        A lost Ledger stops every push, or more than ``max_drop`` of the readable rows, and at least
        5, had their Quantity typed since the last cycle that pushed (the merchant's own record: a count,
        a paste, an unreadable word).  Anything less is a recount, which must never hold a channel
        above the shelf ("A recount never trips it, even of a best seller to 0").
        """
        if life.ledger_lost_at_read:
            return True
        typed = [sku for sku, at in self.count_typed.items() if self.good_read_at < at <= life.read_at]
        readable = [sku for sku in self.skus if str(self._typed(sku, "quantity")).isdigit()]
        return len(typed) >= 5 and len(typed) > len(readable) * self.settings.guard.max_drop

    def refused(self, report: CycleReport) -> set[tuple[str, str]]:
        """(channel, SKU) whose push the platform refused this cycle (half a batch failed): its row is
        flagged ERROR, the channel still shows what it showed, and the next cycle pushes again."""
        titles = {str(c.name): c.title for c in self.settings.channels}
        return {
            (channel, flag.sku)
            for flag in report.discrepancies
            if flag.state == "ERROR"
            for channel, title in titles.items()
            if f"{title} refused" in flag.reason
        }

    def failed(self, life: Incarnation) -> None:
        """A cycle of ``life`` failed (``run_forever`` caught it): one more in a row."""
        life.failing += 1
        if life.failing == 1:
            stuck = Stuck("failing", f"{life.tag}: cycles failing", self.clock(), life.tag, attempts=1)
            life.stuck = stuck
            self.stuck.append(stuck)
            self._judge(stuck)

    def alerted(self, life: Incarnation, line: str) -> None:
        """An alert raised by ``life``."""
        self.alerts.append((life.tag, self.clock(), line))
        if "Ledger" in line:
            self.ledger_alert_open = "RECOVERED" not in line
        if "volume guard holds" in line and "(cleared)" not in line:
            self.accept = True  # the merchant reads the alert, checks the sheet, and accepts
        self.note(f"alert from {life.tag}: {line[:160]}")
        for stuck in self.stuck:
            if stuck.over or stuck.alerted:
                continue
            if (stuck.kind == "ledger" and "Ledger" in line) or (
                stuck.kind == "failing" and stuck.tag == life.tag
            ):
                stuck.alerted = True

    def _check_lag_rows(self, report: CycleReport) -> None:
        """A row left LAG past its channels' ``max_lag`` (and two cycles) must have been alerted.

        The worker's promise: a push still unseen after ``max_lag`` makes the channel LAG (alerted
        as lagging); a raise held for unseen sales that long becomes DRIFT (alerted, set back).
        So a row saying LAG longer than that with no alert naming it or a lagging channel since
        it began is a stuck state nobody was told about.  How long is told by the worker's wall
        clock, which its timers run on. A step back of it larger than the time since the watch's
        newest moment moves the watch back whole (``monitor.stepped_back``: about a cycle lost); a
        smaller one, during an outage (seed 18: -166 s, 680 s after the last cycle), puts DRIFT
        off by the step: an open limitation, docs/fault-suite.md.
        """
        now = self.clock()
        lag_rows = {flag.sku for flag in report.discrepancies if flag.state == "LAG"}
        for sku in set(self.lagging) - lag_rows:
            del self.lagging[sku]
            self.lag_reported.discard(sku)
        bound = max(c.max_lag_s for c in self.settings.channels) + 2 * max(
            c.interval_s for c in self.settings.channels
        )
        for sku in sorted(lag_rows):
            since, by_worker = self.lagging.setdefault(sku, (now, now + self.skew))
            if now + self.skew - by_worker <= bound or sku in self.lag_reported:
                continue
            told = any(_lagging_now(line for _, _, line in self.alerts).values())  # an incident open
            told = told or any(
                at >= since and "RECOVERED" not in line and sku in line for _, at, line in self.alerts
            )
            if not told:
                self.lag_reported.add(sku)
                self.tally.add(
                    "unalerted_stuck_states",
                    f"row {sku} LAG since t+{since - START:.0f}s: no alert in {bound:.0f}s",
                    len(self.history),
                )

    def _judge(self, stuck: Stuck) -> None:
        bound = ALERT_WITHIN[stuck.kind]
        if not stuck.alerted and not stuck.reported and stuck.attempts > bound:
            stuck.reported = True
            self.tally.add(
                "unalerted_stuck_states",
                f"{stuck.what} (since t+{stuck.began - START:.0f}s): no alert in {bound} cycles",
                len(self.history),
            )

    # -- the actors' turn --

    def _acting(self) -> bool:
        return self.steps is None or len(self.history) < self.steps

    def world_turn(self, life: Incarnation) -> None:
        """Between two requests of the worker: maybe someone acts."""
        if self.quiet or self.busy or not self._acting() or self.completed < 1:
            return
        if self.rng.random() < ACT_P:
            self.act(life)

    def race_turn(self, *, writing: bool = False) -> None:
        """Maybe a column edit inside the cycle: at its first platform request after its read, or
        (``writing``) just before its write of the worker's cells lands, after the store's last
        look at the header row. Drawn apart, so the rest of the schedule draws as before."""
        if writing:
            armed, self.write_race_armed = self.write_race_armed, False
        else:
            armed, self.race_armed = self.race_armed, False
        if not armed or self.quiet or self.busy or not self._acting() or self.completed < 1:
            return
        if self.rng_race.random() >= RACE_P:
            return
        self.busy, schedule = True, self.rng
        self.rng = self.rng_race
        try:
            self.actions["merchant"] += 1
            if what := self.column_edit():
                self.note(f"merchant (inside the cycle): {what}")
        finally:
            self.busy, self.rng = False, schedule

    def idle(self, life: Incarnation, seconds: float) -> None:
        """The worker waits ``seconds``: time passes, people act, the platforms' clocks move."""
        if life.attempts > life.judged:
            life.judged = life.attempts
            if life.completed_attempt != life.attempts:
                self.failed(life)
        if self.accept and self.quiet and not self.busy:
            self.accept = False
            self.busy = True
            try:
                self.guard_accept()
            finally:
                self.busy = False
        left, acted = max(seconds, 0.0), 0
        while left > 0:
            step = min(left, self.rng.uniform(10.0, 30.0))
            self.clock.sleep(step)
            left -= step
            chance = 0.3 * step / 20.0  # about one action a minute while the worker waits
            if (
                acted < 2
                and not self.quiet
                and not self.busy
                and self._acting()
                and self.completed >= 1
                and self.rng.random() < chance
            ):
                acted += 1
                self.act(life)

    def act(self, life: Incarnation) -> None:
        """One actor does one thing."""
        self.busy = True
        try:
            if self.accept:
                self.accept = False
                self.guard_accept()
                return
            roll = self.rng.random()
            if roll < 0.45:
                self.buyer()
            elif roll < 0.80:
                self.merchant()
            elif roll < 0.95:
                self.platform()
            else:
                self.operator(life)
        finally:
            self.busy = False

    # buyers

    def shown(self, channel: str, sku: str) -> int:
        """What ``channel`` shows buyers of ``sku``, from the fake's own side."""
        if channel == SHOPIFY:
            return self.shopify.levels(SHOP).get((sku, LOCATION), 0)
        return self.woo.stock(sku) or 0

    def sold(self, sku: str, units: int, what: str) -> None:
        """Units leave (or, negative, come back to) the shelf, as the ledger's policy counts them."""
        if units:
            self.events[sku].append((self.clock(), units))
        if units > 0 and self.row_paused.get(sku) == float("inf") and (sku, "quantity") not in self.cells:
            self.unmatched.setdefault(sku, (self.clock(), self.completed))
        self.actions["buyers"] += 1
        self.note(f"buyer: {what}")

    def buyer(self) -> None:
        """Order, edit, cancel or refund, on Shopify or WooCommerce."""
        channel = self.rng.choice((SHOPIFY, WOO))
        mine = [o for o in self.orders if o.channel == channel and not o.cancelled]
        roll = self.rng.random()
        if roll < 0.6 or not mine:
            sku = self.rng.choice(self.skus)
            level = self.shown(channel, sku)
            if level <= 0:
                return
            quantity = self.rng.randint(1, min(3, level))
            if channel == SHOPIFY:
                order_id = self.shopify.place_order(SHOP, [(sku, quantity)])
            else:
                order_id = str(self.woo.place_order([(sku, quantity)], status="processing"))
            self.orders.append(Order(channel, order_id, self.clock()))
            self.sold(sku, quantity, f"{channel} order {order_id}: {sku} x{quantity}")
            return
        order = self.rng.choice(mine)
        try:
            if channel == SHOPIFY:
                self._shopify_after(order, roll)
            else:
                self._woo_after(order, roll)
        except (ValueError, KeyError) as refused:  # the platform refused the buyer: nothing happened
            self.note(f"buyer: {channel} refused a change to {order.id}: {str(refused)[:80]}")

    def _shopify_after(self, order: Order, roll: float) -> None:
        lines = [line for line in self.shopify.order_lines(order.id) if line.current_quantity > 0]
        if not lines:
            return
        line = self.rng.choice(lines)
        if roll < 0.72:
            new = self.rng.randint(1, 4)
            self.shopify.edit_order(order.id, set_quantities={line.line_id: new})
            self.sold(
                line.sku,
                new - line.current_quantity,
                f"shopify edit {order.id}: {line.sku} {line.current_quantity}→{new}",
            )
        elif roll < 0.82:
            restock = self.rng.random() < 0.7
            self.shopify.cancel_order(order.id, restock=restock)
            order.cancelled = True
            for each in lines:
                if restock:
                    self.events[each.sku].append((self.clock(), -each.current_quantity))
                else:
                    order.no_restock[each.line_id] += each.current_quantity
            self.sold(
                line.sku, 0, f"shopify cancel {order.id} ({'restocked' if restock else 'not restocked'})"
            )
        else:
            kinds: tuple[RestockType, ...] = ("RETURN", "CANCEL", "NO_RESTOCK")
            kind = self.rng.choice(kinds)
            self.shopify.refund(order.id, {line.line_id: 1}, restock_type=kind)
            if kind == "NO_RESTOCK":
                order.no_restock[line.line_id] += 1
            self.sold(
                line.sku,
                0 if kind == "NO_RESTOCK" else -1,
                f"shopify refund {order.id}: {line.sku} x1 {kind}",
            )

    def _woo_after(self, order: Order, roll: float) -> None:
        data = self.woo.order(int(order.id))
        if data["status"] not in ("processing", "completed", "on-hold"):
            return
        items = [item for item in data["line_items"] if int(item["quantity"]) > 0]
        if not items:
            return
        item = self.rng.choice(items)
        sku, current = str(item["sku"]), int(item["quantity"])
        if roll < 0.72 and not order.refunded:
            new = self.rng.randint(1, 4)
            self.woo.edit_order(int(order.id), set_quantities={int(item["id"]): new})
            self.sold(sku, new - current, f"woo edit {order.id}: {sku} {current}→{new}")
        elif roll < 0.82:
            self.woo.set_status(int(order.id), "cancelled")
            order.cancelled = True
            for each in items:
                self.events[str(each["sku"])].append((self.clock(), -int(each["quantity"])))
            self.sold(sku, 0, f"woo cancel {order.id}")
        else:
            restock = self.rng.random() < 0.5
            self.woo.refund(int(order.id), [(sku, 1)], restock=restock)
            order.refunded = True
            if restock:  # the platform puts it back; the worker (restock_refunds off) does not count it
                self.tampered[WOO, sku] = self.tampered.get((WOO, sku), 0) + 1
                self.tampered_at[WOO, sku] = self.clock()
            self.sold(sku, 0, f"woo refund {order.id}: {sku} x1 ({'restocked' if restock else 'kept'})")

    # the merchant

    def merchant(self) -> None:
        """Type, paste, pause, insert, drag, delete, rename."""
        self.actions["merchant"] += 1
        actions: list[tuple[float, Callable[[], str | None]]] = [
            (0.25, self.recount),
            (0.03, self.unreadable),
            (0.08, self.override),
            (0.06, self.buffer),
            (0.06, self.paste),
            (0.05, self.pause_channel),
            (0.08, self.insert_note),
            (0.05, self.delete_note),
            (0.08, self.drag_row),
            (0.05, self.column_edit),
            (0.04, self.rename_header),
            (0.03, self.rename_tab),
        ]
        roll = self.rng.random() * sum(p for p, _ in actions)
        overrides = {sku: self._typed(sku, "override") for sku in self.skus}
        for weight, action in actions:
            roll -= weight
            if roll <= 0:
                try:
                    what = action()
                except (ValueError, KeyError) as refused:
                    what = f"{action.__name__} not done: {str(refused)[:100]}"
                for sku, before in overrides.items():  # a row paused, or unpaused (typed or pasted)
                    if self._typed(sku, "override") == "PAUSE":
                        self.row_paused[sku] = float("inf")
                    elif before == "PAUSE":
                        self.row_paused[sku] = self.clock() + 180
                if what:
                    self.note(f"merchant: {what}")
                return

    def _inventory_ok(self) -> bool:
        header = self._header() if self.tabs["inventory"] in self._titles() else []
        return all(self.columns[c] in header for c in MERCHANT_COLUMNS)

    def _titles(self) -> set[str]:
        return {tab["properties"]["title"] for tab in self.sheets.metadata(self.sheet)["sheets"]}

    def recount(self, sku: str | None = None, value: int | None = None) -> str | None:
        """The merchant counts a shelf and types the count."""
        if not self._inventory_ok():
            return None
        sku = sku or self.rng.choice(self.skus)
        count = value if value is not None else self.rng.randint(0, 40) * self._scale(sku)
        kept = self.type_cell(sku, "quantity", str(count))
        if not self._new_count(sku):  # no worker can tell this count from the last
            return f"recount {sku} = {count} (the last count already)"
        self.versions[sku].append(Version(int(kept), self.clock()))
        return f"recount {sku} = {count}"

    def _scale(self, sku: str) -> int:
        """The best seller's shelf holds ten times what the others' do (a volume guard on units
        would hold its recount to 0)."""
        return BEST_SELLER_SCALE if sku == self.skus[0] else 1

    def _new_count(self, sku: str) -> bool:
        """Whether the Quantity cell now holds a count other than the last one the worker could
        read (text in between, "sold out", is no count: the worker holds the row meanwhile)."""
        kept = str(self._typed(sku, "quantity"))
        return kept.isdigit() and int(kept) != self.versions[sku][-1].value

    def unreadable(self) -> str | None:
        """The merchant types a count the worker cannot read ("sold out"); a later recount fixes it."""
        if not self._inventory_ok():
            return None
        sku = self.rng.choice(self.skus)
        text = self.rng.choice(("sold out", "ten", "12 pcs"))
        self.type_cell(sku, "quantity", text)
        for version in self.versions[sku]:
            if version.seen_at is None and version.gone_at is None:
                version.gone_at = self.clock()
        return f"count {sku} = {text!r} (unreadable)"

    def override(self) -> str | None:
        """An Override: a number, PAUSE, or cleared."""
        if not self._inventory_ok():
            return None
        sku = self.rng.choice(self.skus)
        text = self.rng.choice(("5", "0", "PAUSE", "", "", "12"))
        self.type_cell(sku, "override", text)
        return f"override {sku} = {text!r}"

    def buffer(self) -> str | None:
        """A Buffer, as a percentage (kept as 0.1, formatted) or units."""
        if not self._inventory_ok():
            return None
        sku = self.rng.choice(self.skus)
        text = self.rng.choice(("10%", "25%", "2", "", "1"))
        kept = self.type_cell(sku, "buffer", text)
        return f"buffer {sku} = {text!r} (Sheets keeps {kept!r})"

    def paste(self) -> str | None:
        """A block of counts pasted over a few consecutive rows (Quantity, Override, Buffer)."""
        if not self._inventory_ok():
            return None
        values = self._inventory()
        header = self._header(values)
        rows = [(n, self._row_id(r, header)) for n, r in enumerate(values[1:], start=2)]
        skus = [(n, rid) for n, rid in rows if rid in self.skus]
        if len(skus) < 3:
            return None
        start = self.rng.randrange(0, len(skus) - 2)
        block = [skus[start + k] for k in range(3) if skus[start + k][0] == skus[start][0] + k]
        first = [self._column(c) for c in ("quantity", "override", "buffer")]
        wide = first == list(range(first[0], first[0] + 3))
        lines = []
        for _ in block:
            count = str(self.rng.randint(0, 30))
            lines.append([count, "", self.rng.choice(("", "10%"))] if wide else [count])
        tab = self.tabs["inventory"]
        at = f"'{tab}'!{self._letter(first[0])}{block[0][0]}"
        pasted = [sku for _, sku in block if sku is not None]
        self.sheets.set_values(self.sheet, at, lines)
        self._record_all_typed()
        self.count_typed.update((sku, self.clock()) for sku in pasted)
        self.row_typed.update((sku, self.clock()) for sku in pasted)
        for sku in pasted:
            if self._new_count(sku):  # the last count again is no recount the worker can see
                self.versions[sku].append(Version(int(self._typed(sku, "quantity")), self.clock()))
        return f"paste {len(lines)} rows x {len(lines[0])} at {at}: {lines}"

    def pause_channel(self) -> str | None:
        """Type PAUSE in a channel's Control cell on the Status tab, or clear it."""
        if STATUS_SHEET not in self._titles():
            return None
        values = self.sheets.get_values(self.sheet, f"'{STATUS_SHEET}'")
        if not values:
            return None
        header = [str(h) for h in values[0]]
        if "Control" not in header or "Channel" not in header:
            return None
        channel = self.rng.choice((SHOPIFY, WOO))
        title = TITLES[channel]
        for n, row in enumerate(values[1:], start=2):
            if row and str(row[header.index("Channel")]) == title:
                text = "" if self.controls.get(title) == "PAUSE" else "PAUSE"
                at = f"'{STATUS_SHEET}'!{self._letter(header.index('Control'))}{n}"
                self.sheets.set_values(self.sheet, at, [[text]])
                self.controls[title] = text
                self.paused[channel] = float("inf") if text else self.clock() + 180
                return f"Control {title} = {text!r}"
        return None

    def guard_accept(self) -> None:
        """The merchant answers a volume-guard alert: ACCEPT in its Control cell (the worker clears it)."""
        if STATUS_SHEET not in self._titles():
            return
        values = self.sheets.get_values(self.sheet, f"'{STATUS_SHEET}'")
        header = [str(h) for h in values[0]] if values else []
        if "Control" not in header or "Channel" not in header:
            return
        for n, row in enumerate(values[1:], start=2):
            if row and str(row[header.index("Channel")]) == GUARD_ROW_LABEL:
                at = f"'{STATUS_SHEET}'!{self._letter(header.index('Control'))}{n}"
                self.sheets.set_values(self.sheet, at, [["ACCEPT"]])
                self.actions["merchant"] += 1
                self.note(f"merchant: ACCEPT typed for the volume guard at {at}")
                return

    def insert_note(self) -> str | None:
        """Insert a blank row somewhere in the list and type a note in it."""
        if not self._inventory_ok() or len(self.notes) >= 4:
            return None
        rows = len(self._inventory())
        before = self.rng.randint(2, rows + 1)
        self.sheets.insert_rows(self.sheet, self.tabs["inventory"], before)
        self.notes_made += 1
        text = f"note {self.notes_made}"  # never a text a live note row has (rows are told apart by it)
        self.notes.append(text)
        at = f"'{self.tabs['inventory']}'!{self._letter(self._column('notes'))}{before}"
        self.sheets.set_values(self.sheet, at, [[text]])
        self.cells[f"#{text}", "notes"] = text
        return f"insert row {before} with {text!r}"

    def delete_note(self) -> str | None:
        """Delete a note row inserted before."""
        if not self.notes or not self._inventory_ok():
            return None
        text = self.rng.choice(self.notes)
        row = self._row_of(f"#{text}")
        self.sheets.delete_row(self.sheet, self.tabs["inventory"], row)
        self.notes.remove(text)
        self.cells.pop((f"#{text}", "notes"), None)
        return f"delete row {row} ({text!r})"

    def drag_row(self) -> str | None:
        """Drag a product row elsewhere (one move: nobody sees it half done)."""
        if not self._inventory_ok():
            return None
        sku = self.rng.choice(self.skus)
        row = self._row_of(sku)
        rows = len(self._inventory()) - 1
        to = self.rng.randint(2, rows + 1)  # where it lands, among the rows left
        before = to if to < row else to + 1  # moveDimension counts rows as they were before the move
        self.sheets.move_rows(self.sheet, self.tabs["inventory"], row, 1, before)
        self._record_all_typed()
        return f"drag row {row} ({sku}) to {to}"

    def column_edit(self) -> str | None:
        """Insert a Supplier column among the merchant's, drag it, or delete it again."""
        if not self._inventory_ok():
            return None
        tab = self.tabs["inventory"]
        if not self.extra_column:
            before = self.rng.randint(2, len(MERCHANT_COLUMNS) + 1)
            self.sheets.insert_columns(self.sheet, tab, before)
            self.sheets.set_values(self.sheet, f"'{tab}'!{self._letter(before - 1)}1", [["Supplier"]])
            self.columns["supplier"] = "Supplier"
            self.extra_column = True
            sku = self.rng.choice(self.skus)
            self.type_cell(sku, "supplier", "ACME")
            return f"insert column {self._letter(before - 1)} Supplier"
        at = self._column("supplier")
        if self.rng.random() < 0.5:
            to = self.rng.randint(1, len(MERCHANT_COLUMNS) + 1)
            self.sheets.move_columns(self.sheet, tab, at + 1, 1, to)
            return f"drag column Supplier ({self._letter(at)}) before {self._letter(to - 1)}"
        # The fake does not model deleteDimension on COLUMNS (501): the merchant drags the column
        # past the last one and clears it, which leaves every other cell where a delete would.
        values = self._inventory()
        end = max(len(row) for row in values) + 1
        self.sheets.move_columns(self.sheet, tab, at + 1, 1, end + 1)
        last = self._letter(end - 1)
        self.sheets.set_values(self.sheet, f"'{tab}'!{last}1:{last}{len(values)}", [[""] for _ in values])
        del self.columns["supplier"]
        for cell in [c for c in self.cells if c[1] == "supplier"]:
            del self.cells[cell]
        self.extra_column = False
        return f"delete column {self._letter(at)} Supplier (dragged to {last} and cleared)"

    def rename_header(self) -> str | None:
        """Rename the Override or Quantity header (and rename it back some cycles later)."""
        if not self._inventory_ok() or self.restore or self.actions["renames"] >= MAX_RENAMES:
            return None
        self.actions["renames"] += 1
        column = self.rng.choice(("quantity", "override", "buffer"))
        old = self.columns[column]
        new = {"quantity": "Qty", "override": "Override (temp)", "buffer": "Safety stock"}[column]
        self._rename_header(column, new)
        self.recoveries.clear()  # broken again: an earlier fix's recovery bound no longer applies

        def back() -> None:
            if self.columns[column] == new:
                self._rename_header(column, old)
                self.note(f"merchant: header {new!r} renamed back to {old!r}")
                self._fixed(f"header {new!r} renamed back to {old!r}", new)

        self._later("header " + column, back)
        return f"header {old!r} renamed {new!r}"

    def _rename_header(self, column: str, text: str) -> None:
        at = f"'{self.tabs['inventory']}'!{self._letter(self._column(column))}1"
        self.sheets.set_values(self.sheet, at, [[text]])
        self.columns[column] = text

    def rename_tab(self) -> str | None:
        """Rename the Inventory or the Ledger tab (and rename it back some cycles later)."""
        which = self.rng.choice(("inventory", "ledger"))
        if self.restore or self.actions["renames"] >= MAX_RENAMES:
            return None
        self.actions["renames"] += 1
        old = self.tabs[which]
        if old not in self._titles():
            return None
        new = f"{old} (old)"
        self.sheets.rename_sheet(self.sheet, old, new)
        self.tabs[which] = new
        self.recoveries.clear()  # broken again: an earlier fix's recovery bound no longer applies
        if which == "ledger":
            # Renamed again before any cycle saw it back: the alert raised for the last rename
            # still stands (never RECOVERED), so the merchant has it; no second one is due.
            stuck = Stuck(
                "ledger", "the Ledger tab renamed", self.clock(), "", alerted=self.ledger_alert_open
            )
            self.stuck.append(stuck)

        def back() -> None:
            if new in self._titles() and old not in self._titles():
                self.sheets.rename_sheet(self.sheet, new, old)
                self.tabs[which] = old
                self.note(f"merchant: tab {new!r} renamed back to {old!r}")
                self._fixed(f"tab {new!r} renamed back to {old!r}", new)
            elif new in self._titles():
                self.note(f"merchant: cannot rename {new!r} back: a tab {old!r} exists again")
                return
            for stuck in self.stuck:
                if stuck.kind == "ledger":
                    stuck.over = True

        self._later("tab " + which, back)
        return f"tab {old!r} renamed {new!r}"

    def _fixed(self, what: str, symptom: str) -> None:
        """The merchant undid a rename: the worker running now must sync again within a few cycles."""
        if self.primary is not None:
            self.recoveries.append((self.primary, self.primary.attempts, what, symptom))

    def _check_recovered(self, life: Incarnation) -> None:
        for item in list(self.recoveries):
            who, at, what, symptom = item
            if who is not life:
                continue
            if life.completed_attempt > at or life.failing == 0:
                self.recoveries.remove(item)
            elif life.attempts > at + RECOVER_WITHIN:
                failures = [line for line in self.log.getvalue().splitlines() if "cycle failed" in line]
                # failing for the rename still, not for something else (a dead worker's lease)
                if failures and symptom.split(" (")[0].split("'")[0] in failures[-1]:
                    self.recoveries.remove(item)
                    self.tally.add(
                        "unrecovered_after_fix",
                        f"{life.tag} still fails {life.attempts - at} cycles after the fix ({what}): "
                        f"{failures[-1].split(': ', 1)[-1][:220] if failures else ''}",
                        len(self.history),
                    )

    def _later(self, what: str, undo: Callable[[], None]) -> None:
        # counted across restarts: a worker killed meanwhile does not put the undo off for ever
        self.restore.append((self.primary_attempts + self.rng.randint(1, 6), what, undo))

    def _tick_restores(self, life: Incarnation) -> None:
        if life is not self.primary or self.busy:
            return
        due = [r for r in self.restore if r[0] <= self.primary_attempts]
        for item in due:
            self.restore.remove(item)
            self.busy = True
            try:
                item[2]()
            finally:
                self.busy = False

    # the platforms

    def platform(self) -> None:
        """A platform edits a quantity behind our back, lags, throttles, half-fails, loses an answer."""
        self.actions["platforms"] += 1
        name = self.rng.choice(("sheets", SHOPIFY, WOO))
        roll = self.rng.random()
        if roll < 0.3 and name != "sheets":
            sku = self.rng.choice(self.skus)
            quantity = self.rng.randint(0, 50)
            before = self.shown(name, sku)
            if name == SHOPIFY:
                self.shopify.admin_set_available(SHOP, sku, LOCATION, quantity)
            else:
                self.woo.set_stock(sku, quantity)
            self.tampered[name, sku] = max(0, self.tampered.get((name, sku), 0) + quantity - before)
            self.tampered_at[name, sku] = self.clock()
            self.note(f"platform: {name} staff set {sku} to {quantity}")
        elif roll < 0.45:
            lag = self.rng.uniform(2.0, 45.0)
            self.clock.sleep(lag)
            self.note(f"platform: {name} lags {lag:.0f}s")
        else:
            kinds: list[Kind] = ["throttle", "http_503", "lost_answer", "timeout", "half_batch", "truncated"]
            kind = self.rng.choice(kinds)
            if kind == "half_batch" and name != WOO:
                kind = "lost_answer"
            times = self.rng.randint(1, 3)
            self.chaos[name].force(kind, times)
            self.note(f"platform: {name} will answer {kind} x{times}")

    # the operator

    def operator(self, life: Incarnation) -> None:
        """Step the worker's wall clock, or start a second worker beside it."""
        self.actions["operator"] += 1
        if self.rng.random() < 0.4:
            step = self.rng.choice((-1, 1)) * self.rng.uniform(20.0, 240.0)
            self.skew += step
            self.note(f"operator: steps the worker's wall clock by {step:+.0f}s (now {self.skew:+.0f}s)")
            return
        if self.in_second or self.actions["second_workers"] >= 2:
            return
        self.second_worker()

    def second_worker(self) -> None:
        """Start another worker on the same sheet for a few cycles (from another host)."""
        life = Incarnation(f"host-b:{len(self.lives) + 100}", second=True)
        cycles = self.rng.randint(3, 6)
        self.note(f"operator: starts a second worker {life.tag} for {cycles} cycles")
        self.actions["second_workers"] += 1
        busy, self.busy, self.in_second = self.busy, False, True
        try:
            self.run_worker(life, cycles)
        finally:
            self.busy, self.in_second = busy, False
        self.note(
            f"operator: second worker {life.tag} stopped ({life.done} cycles completed, {life.writes} writes)"
        )

    # -- the checks --

    def check_shown(
        self,
        where: str,
        skip: Collection[str] = (),
        final: bool = False,
        refused: Collection[tuple[str, str]] = (),
        at_once: bool = False,
    ) -> None:
        """No channel shows more than the master allows, beyond what in-flight changes explain.

        The bound per SKU: the last count a completed cycle read, less the units sold since that
        read, plus every unit sold that the Ledger does not hold yet (in flight), plus the units put
        back before that read that the Ledger recorded only after it (the worker adds those to the
        count: README, "How Available is worked out").  Skipped: a channel or a row the merchant
        paused (and three minutes after), a push the platform refused this cycle.  Allowed on
        top: the units a platform added itself, until the worker sets that level again.  After
        the settle, all of it strictly, but for a platform's own change younger than the worker's
        full read of levels (``audit_every``, the promised DRIFT check) and a cycle.  ``at_once``:
        the cycle pushed nothing by its own choice (a hold), so no race excuses a first time over.
        """
        counted = self._ledger_units()
        now = self.clock()
        for sku in self.skus:
            seen = [v for v in self.versions[sku] if v.seen_at is not None]
            if not seen:
                continue
            version = max(seen, key=lambda v: (v.seen_at or 0.0, v.typed_at))
            since = sum(u for t, u in self.events[sku] if t >= (version.seen_at or 0.0))
            truth = sum(u for _, u in self.events[sku])
            in_flight = max(0, truth - counted.get(sku, 0))
            bound = max(0, version.value + version.restocked_after - since) + in_flight
            for channel in (SHOPIFY, WOO):
                paused = max(self.paused.get(channel, 0.0), self.row_paused.get(sku, 0.0)) > now
                if self.row_paused.get(sku) == float("inf") or (
                    not final and (paused or channel in skip or (channel, sku) in refused)
                ):
                    self.over.pop((channel, sku), None)
                    continue
                level = self.shown(channel, sku)
                if level <= bound:
                    self.over.pop((channel, sku), None)
                    continue
                if level <= bound + self.tampered.get((channel, sku), 0) and (
                    not final or self._audit_due(channel, sku) > now
                ):
                    continue
                # Over the bound at two completed cycles in a row, with the channel pushed to
                # without error in both: no race with a sale or a count explains it.
                again = self.over.get((channel, sku)) == level
                self.over[channel, sku] = level
                if again or final or at_once:
                    self.tally.add(
                        "oversold_by_us",
                        f"{where}: {channel} shows {level} of {sku}; the count read was {version.value}, "
                        f"{version.restocked_after} put back before that read and recorded after it, "
                        f"{since} sold since, {in_flight} in flight: at most {bound}",
                        len(self.history),
                    )

    def _audit_due(self, channel: str, sku: str) -> float:
        """By when the worker must have read back (and set back) a level the platform changed itself:
        its full read of every level comes every ``audit_every`` seconds, and one cycle more."""
        spec = next(c for c in self.settings.channels if str(c.name) == channel)
        return self.tampered_at.get((channel, sku), 0.0) + spec.audit_every_s + 2 * spec.interval_s

    def _ledger_rows(self) -> list[dict[str, str]]:
        tab = self.tabs["ledger"]
        if tab not in self._titles():
            return []
        values = self.sheets.get_values(self.sheet, f"'{tab}'")
        if not values:
            return []
        header = [str(h) for h in values[0]]
        return [dict(zip(header, (str(v) for v in row), strict=False)) for row in values[1:]]

    def _ledger_units(self) -> dict[str, int]:
        units: Counter[str] = Counter()
        for row in self._ledger_rows():
            if row.get("Movement") in ("SALE", "EDIT", "RESTOCK") and row.get("Channel") in (SHOPIFY, WOO):
                units[row.get("SKU", "")] -= int(row.get("Delta") or 0)
        return dict(units)

    def expected(self) -> dict[tuple[str, str, str], int]:
        """(channel, order, SKU) → units sold, from the platforms' own order records."""
        truth: dict[tuple[str, str, str], int] = {}
        for order in self.orders:
            short = order.id.rsplit("/", 1)[-1]
            if order.channel == SHOPIFY:
                for line in self.shopify.order_lines(order.id):
                    units = line.current_quantity + order.no_restock[line.line_id]
                    k = (SHOPIFY, short, line.sku)
                    truth[k] = truth.get(k, 0) + units
            else:
                data = self.woo.order(int(order.id))
                for item in data["line_items"]:
                    units = 0 if data["status"] == "cancelled" else int(item["quantity"])
                    k = (WOO, short, str(item["sku"]))
                    truth[k] = truth.get(k, 0) + units
        return truth

    def check_ledger(self) -> None:
        """Every order line counted exactly once, as the platform states it now."""
        rows = self._ledger_rows()
        keys = Counter(r.get("Key", "") for r in rows if r.get("Key") and not r["Key"].startswith("count/"))
        for ledger_key, seen in keys.items():
            if seen > 1:
                self.tally.add("doubled", f"ledger key {ledger_key} is there {seen} times", len(self.history))
        counted: Counter[tuple[str, str, str]] = Counter()
        for row in rows:
            if row.get("Movement") in ("SALE", "EDIT", "RESTOCK") and row.get("Channel") in (SHOPIFY, WOO):
                k = (row["Channel"], row.get("Order", "").rsplit("/", 1)[-1], row.get("SKU", ""))
                counted[k] -= int(row.get("Delta") or 0)
        truth = self.expected()
        early = {(o.channel, o.id.rsplit("/", 1)[-1]) for o in self.before_start}
        for k in sorted(set(truth) | set(counted)):
            want, got = truth.get(k, 0), counted.get(k, 0)
            if got < want:
                self.tally.add(
                    "lost", f"{k[0]} order {k[1]} {k[2]}: sold {want}, Ledger counts {got}", len(self.history)
                )
                self.tally.counts["lost"] += want - got - 1
            elif got > want:
                before = " before the first sync (the count holds it)" if k[:2] in early else ""
                self.tally.add(
                    "doubled",
                    f"{k[0]} order {k[1]} {k[2]}: sold {want}{before}, Ledger counts {got}",
                    len(self.history),
                )
                self.tally.counts["doubled"] += got - want - 1

    def check_merchant_cells(self) -> None:
        """Every merchant-column cell holds what the merchant typed (by row identity and header)."""
        values = self._inventory()
        header = self._header(values)
        for title in self.columns.values():
            if header.count(title) != 1:
                self.tally.add(
                    "merchant_cells_changed",
                    f"header {title!r} is there {header.count(title)} times",
                    len(self.history),
                )
        seen: set[str] = set()
        for n, row in enumerate(values[1:], start=2):
            row_id = self._row_id(row, header)
            if row_id is None:
                merchant = [
                    row[header.index(t)]
                    for t in self.columns.values()
                    if t in header and header.index(t) < len(row) and row[header.index(t)] != ""
                ]
                if merchant:
                    self.tally.add(
                        "merchant_cells_changed",
                        f"row {n}, no row of the merchant's, holds {merchant}",
                        len(self.history),
                    )
                continue
            seen.add(row_id)
            for column, title in self.columns.items():
                if title not in header:
                    continue
                at = header.index(title)
                value = row[at] if at < len(row) else ""
                want = self.cells.get((row_id, column), "")
                if value != want:
                    self.tally.add(
                        "merchant_cells_changed",
                        f"{row_id} {title} (row {n}) holds {value!r}, the merchant typed {want!r}",
                        len(self.history),
                    )
        missing = [r for r in {k[0] for k in self.cells} if r not in seen]
        for row_id in missing:
            self.tally.add("merchant_cells_changed", f"row {row_id} is gone", len(self.history))
        if STATUS_SHEET in self._titles():
            status = self.sheets.get_values(self.sheet, f"'{STATUS_SHEET}'")
            head = [str(h) for h in status[0]] if status else []
            if "Control" in head and "Channel" in head:
                for row in status[1:]:
                    title = str(row[head.index("Channel")]) if row else ""
                    if title in self.controls:
                        at = head.index("Control")
                        value = row[at] if at < len(row) else ""
                        if value != self.controls[title]:
                            self.tally.add(
                                "merchant_cells_changed",
                                f"Status Control of {title} holds {value!r}, "
                                f"the merchant typed {self.controls[title]!r}",
                                len(self.history),
                            )

    def check_formulas(self) -> None:
        """The merchant typed no formula here: any formula cell was written by the worker."""
        for cell in sorted(self.sheets.formula_cells(self.sheet)):
            self.tally.add("formulas_written", f"{cell} holds a formula", len(self.history))

    def check_secrets(self) -> None:
        """No configured secret in the log, an alert or any cell."""
        places: list[tuple[str, str]] = [("log", self.log.getvalue())]
        places += [(f"alert from {tag}", line) for tag, _, line in self.alerts]
        for tab in self._titles():
            options: tuple[Literal["FORMATTED_VALUE", "FORMULA"], ...] = ("FORMATTED_VALUE", "FORMULA")
            for option in options:
                values = self.sheets.get_values(self.sheet, f"'{tab}'", value_render_option=option)
                places.append((f"sheet {tab}", json.dumps(values, ensure_ascii=False)))
        for leak in find_secrets(places, self.secrets):
            self.tally.add("secrets_leaked", leak, len(self.history))

    # -- the run --

    def undo_everything(self) -> None:
        """The settle: every rename undone, every pause lifted, faults and actors off."""
        self.quiet = True
        for _, _, undo in list(self.restore):
            self.busy = True
            try:
                undo()
            finally:
                self.busy = False
        self.restore.clear()
        for chaos in self.chaos.values():
            chaos.rate = 0.0
            chaos._forced.clear()
        if self.plugin is not None:
            self.woo.break_saves(self.plugin[0], broken=False)
        for title in [t for t, v in self.controls.items() if v]:
            channel = next(c for c, t in TITLES.items() if t == title)
            values = self.sheets.get_values(self.sheet, f"'{STATUS_SHEET}'")
            header = [str(h) for h in values[0]]
            for n, row in enumerate(values[1:], start=2):
                if row and str(row[header.index("Channel")]) == title:
                    self.sheets.set_values(
                        self.sheet, f"'{STATUS_SHEET}'!{self._letter(header.index('Control'))}{n}", [[""]]
                    )
            self.controls[title] = ""
            self.paused[channel] = self.clock() + 600
        self.skew = 0.0
        self.note("settle: renames undone, pauses lifted, faults off, clock right")

    def run(self) -> None:
        """Install, attack for ``cycles`` completed cycles, settle, check."""
        self.target = self.cycles
        n = 0
        while self.completed < self.target and self.actions["restarts"] < 20:
            n += 1
            life = Incarnation(f"host-a:{n}")
            self.primary = life
            if n > 1 and self.rng.random() < RECOVERY_KILL_P:
                self.recovery_kill = self.rng.randint(1, 12)
            if self.run_worker(life) == "killed":
                self.kills += 1
                self.kill_uncounts(life)
                self.clock.sleep(self.rng.uniform(1.0, 30.0))  # the supervisor restarts it
        self.undo_everything()
        self.target = self.completed + SETTLE
        life = Incarnation(f"host-a:{n + 1}")
        self.primary = life
        self.run_worker(life)
        self.check_ledger()
        self.check_shown("after the settle", final=True)
        self.check_merchant_cells()
        self.check_formulas()
        self.check_secrets()
        for stuck in self.stuck:
            self._judge(stuck)


@contextlib.contextmanager
def captured(stream: io.StringIO) -> Iterator[None]:
    """Every log line of the run, at DEBUG, into ``stream`` (for the secrets scan)."""
    root = logging.getLogger()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    # The product's own logger too: the CLI sets its level (WARNING under `simulate`), and a level
    # left there by an earlier run in this process would hide the DEBUG lines the scan reads.
    loggers = [root, logging.getLogger("sheetsync")]
    levels = [logger.level for logger in loggers]
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def replayable(seed: int) -> Iterator[None]:
    """What the product draws from the process's randomness, drawn from the seed instead.

    The retry back-off's jitter (tenacity uses the ``random`` module) moves the clock by a
    different fraction of a second on every run otherwise, and with it every later action.
    """
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def _lagging_now(lines: Iterable[str]) -> dict[str, bool]:
    """Per channel, whether its "is lagging" incident is open after ``lines`` (the alerts, in order).

    One channel's recovery does not close another's: each incident is named by its channel.
    """
    open_: dict[str, bool] = {}
    for line in lines:
        if found := _LAGGING.search(line):
            open_[found.group(2)] = found.group(1) == "ALERT"
    return open_


_LAGGING = re.compile(r"\b(ALERT|RECOVERED) (.+?) is lagging")


def run_seed(seed: int, *, steps: int | None = None, cycles: int = CYCLES) -> tuple[dict[str, Any], World]:
    """One seeded run; its figures and the world (history, problems)."""
    with tempfile.TemporaryDirectory(prefix="sheetsync-adversary-") as directory:
        world = World(seed, Path(directory), steps=steps, cycles=cycles)
        with captured(world.log), replayable(seed):
            world.run()
    figures: dict[str, Any] = {
        "seed": seed,
        "actions": {
            k: world.actions[k] for k in ("buyers", "merchant", "platforms", "operator", "second_workers")
        },
        "kills": world.kills,
        "cycles": world.completed,
        "requests": world.requests,
        "orders": len(world.orders),
        "alerts": len(world.alerts),
        "stuck_states": len(world.stuck),
        "faults": sum(c.faults for c in world.chaos.values()),
    }
    figures |= {name: world.tally.counts[name] for name in FIGURES}
    return figures, world


def adversary_campaign(seed: int, cycles: int = CYCLES) -> dict[str, Any]:
    """The campaign as ``benchmarks/faults.py`` sums it: figures only (actions also flat, per actor)."""
    figures = run_seed(seed, cycles=cycles)[0]
    return figures | {f"actions_{actor}": n for actor, n in figures["actions"].items()}


def violations(figures: Mapping[str, Any]) -> list[str]:
    """The invariants a run broke."""
    return [name for name in FIGURES if figures.get(name)]
