"""``sheetsync demo``: the whole loop on the embedded default, in simulated time.

A local workbook is the master; four sandbox channels lag by seconds, minutes and a quarter of
an hour, one of them a marketplace kept to eMAG's limits; seeded buyers arrive in a Black
Friday burst.  The real worker runs every cycle.  An
oversell is a sale of a unit that did not exist, counted against the true stock on the shelf.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from openpyxl import load_workbook
from rich.console import Console
from rich.live import Live
from rich.table import Table

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.config import SERVICE_ACCOUNT_ENV, GoogleSheetsMaster, Settings, WorkbookMaster, load
from sheetsync.core.buffers import NO_BUFFER
from sheetsync.core.incidents import Alert
from sheetsync.errors import SheetsyncError
from sheetsync.model import BUNDLE_HEADERS, BUNDLES_SHEET, INVENTORY_SHEET, ChannelName, Sku, header_key
from sheetsync.stores import MasterStore
from sheetsync.stores.workbook import WorkbookStore, create_workbook
from sheetsync.worker import CycleReport, open_store, run_cycle

#: The demo catalogue: SKU and the merchant's count.
CATALOGUE: tuple[tuple[str, int], ...] = (
    ("TEE-BLK-M", 24),
    ("TEE-BLK-L", 18),
    ("HOODIE-GRY-M", 10),
    ("MUG-LOGO", 40),
    ("CAP-RED", 8),
    ("SOCKS-3PK", 30),
    ("TOTE-NAT", 12),
    ("POSTER-A2", 6),
    ("BEANIE-NAVY", 9),
    ("SCARF-WOOL", 5),
)
#: A gift set sold as one SKU: the Bundles sheet lists its components (bundle, component, units).
BUNDLES: tuple[tuple[str, str, int], ...] = (("GIFT-SET", "TEE-BLK-M", 1), ("GIFT-SET", "MUG-LOGO", 1))
START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  #: Black Friday morning
DURATION = timedelta(hours=3)
STEP = timedelta(seconds=10)
#: At the peak, Google's backlog grows from a quarter of an hour to three quarters.
SLOWED, SLOWED_AT, SLOWED_LAG_S = ChannelName("google"), START + timedelta(minutes=50), 2700.0
DEMO_ACCOUNT = "sheetsync-demo@demo.iam.gserviceaccount.com"
#: Share of the web shop's buyers per channel.
CHANNEL_WEIGHTS = {"shopify": 0.5, "facebook": 0.3, "google": 0.2}
#: The marketplace brings buyers of its own, as many as this share of the others, drawn apart
#: (the same seed gives the web channels the same buyers with or without it).
MARKETPLACE, MARKETPLACE_SHARE = ChannelName("emag"), 0.15
#: The marketplace's documented limits, which its sandbox keeps: offers a call, calls a second.
MARKETPLACE_BATCH, MARKETPLACE_PACE = 50, 3.0
#: One buyer takes a gift set on Shopify early on, so the demo shows its components drop.
GIFT_SALE = (START + timedelta(minutes=5), ChannelName("shopify"), "GIFT-SET")


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo measured."""

    orders: int  #: sales the channels accepted
    pushes: int  #: quantities pushed to channels
    oversells: int  #: sales of units that did not exist
    turned_away: int  #: buyers who found a channel at 0 while units were on the shelf
    cycles: int
    alerts: tuple[str, ...] = ()  #: the alert lines, stamped with simulated time
    #: on the channel that slows down: its first LAG flag, first alert and first oversell
    first_lag: datetime | None = None
    first_alert: datetime | None = None
    first_oversell: datetime | None = None
    bundle: str = ""  #: what the gift set's sale did to its components, channel by channel

    def line(self) -> str:
        """The demo's last line."""
        return f"orders={self.orders} pushes={self.pushes} oversells={self.oversells}"

    def slowdown(self) -> str:
        """What monitoring saw of the channel that slowed down, and when."""

        def at(moment: datetime | None) -> str:
            return "none" if moment is None else f"{moment:%H:%M}"

        return (
            f"{SLOWED} slowed to {SLOWED_LAG_S / 60:.0f} min lag at {SLOWED_AT:%H:%M}: "
            f"LAG flagged {at(self.first_lag)}, alert {at(self.first_alert)}, "
            f"first oversell on {SLOWED}: {at(self.first_oversell)}"
        )


def demo_settings(workbook: Path, *, buffers: bool) -> Settings:
    """The packaged demo configuration, writing to ``workbook``."""
    with resources.as_file(resources.files("sheetsync") / "templates" / "demo.toml") as path:
        settings = load(path)
    if buffers:
        return dataclasses.replace(settings, master=WorkbookMaster(workbook))
    channels = tuple(dataclasses.replace(c, policy=NO_BUFFER) for c in settings.channels)
    rule = dataclasses.replace(settings.auto_pause, enabled=False)  # a buffer too
    return dataclasses.replace(settings, master=WorkbookMaster(workbook), channels=channels, auto_pause=rule)


def run_demo(
    workbook: Path,
    *,
    buffers: bool = True,
    seed: int = 7,
    console: Console | None = None,
    sheets_fake: bool = False,
) -> DemoResult:
    """Run the demo to the end and leave ``workbook`` to open.

    With ``sheets_fake`` the master is a Google Sheet on the local Sheets fake, served on
    127.0.0.1 and reached through gspread and a service-account sign-in, as in production.
    """
    console = console or Console()
    settings = demo_settings(workbook, buffers=buffers)
    clock = _Clock()
    if not sheets_fake:
        workbook.unlink(missing_ok=True)
        create_workbook(workbook, settings.layout)
        seed_inventory(workbook, CATALOGUE, BUNDLES)
        return _simulate(WorkbookStore(workbook, settings.layout), settings, seed, console, clock)
    try:  # the API fakes are a separate distribution (./fakes): the product never imports them
        from sheetsync_fakes.google_sheets import FakeSheets, SheetSpec
        from sheetsync_fakes.keys import service_account_key
        from sheetsync_fakes.wire import serve
    except ImportError as exc:
        raise SheetsyncError(
            "the Google Sheets demo runs on the API fakes, which are not installed: "
            "run `pip install ./fakes` in a checkout (or `make demo`), or drop --master sheets-fake"
        ) from exc
    # The fake's per-minute quotas run on simulated time: ten-second cycles stay within them.
    fake = FakeSheets(now=lambda: (clock.now - START).total_seconds())
    sheet = fake.create_spreadsheet(
        "sheetsync demo", sheets=(SheetSpec(INVENTORY_SHEET),), shared_with=[DEMO_ACCOUNT]
    )
    fake.set_values(
        sheet, f"{INVENTORY_SHEET}!A1", [["SKU", "Quantity"], *map(list, CATALOGUE), [BUNDLES[0][0], ""]]
    )
    fake.add_sheet(sheet, SheetSpec(BUNDLES_SHEET))
    fake.set_values(sheet, f"{BUNDLES_SHEET}!A1", [list(BUNDLE_HEADERS.values()), *map(list, BUNDLES)])
    with serve(fake) as base_url:
        master = GoogleSheetsMaster(sheet, None, base_url)
        google = dataclasses.replace(settings, master=master)
        # A throwaway key: the sign-in to the fake is signed for real.
        key = json.dumps(service_account_key(DEMO_ACCOUNT, f"{base_url}/token"))
        result = _simulate(open_store(google, {SERVICE_ACCOUNT_ENV: key}), google, seed, console, clock)
    console.print(
        f"Google Sheets fake: {fake.count('spreadsheets.values.batchGet')} reads of the whole sheet"
    )
    return result


@dataclasses.dataclass
class _Clock:
    """Simulated time, shared by the channels and the Sheets fake."""

    now: datetime = START


def _simulate(
    store: MasterStore, settings: Settings, seed: int, console: Console, clock: _Clock
) -> DemoResult:
    channels = [
        SandboxChannel(c.name, lambda: clock.now, lag_s=c.lag_s)
        if c.name != MARKETPLACE
        else SandboxChannel(
            c.name, lambda: clock.now, lag_s=c.lag_s, max_batch=MARKETPLACE_BATCH, pace=MARKETPLACE_PACE
        )
        for c in settings.channels
    ]
    by_name = {c.name: c for c in channels}
    shelf = dict(CATALOGUE)
    skus = [sku for sku, _ in CATALOGUE]
    arrivals = _buyers(random.Random(seed), skus, CHANNEL_WEIGHTS)  # noqa: S311 - simulated buyers
    if MARKETPLACE in by_name:
        others = random.Random(seed + 1)  # noqa: S311 - simulated buyers, not secrets
        arrivals = sorted(arrivals + _buyers(others, skus, {MARKETPLACE: 1.0}, MARKETPLACE_SHARE))
    orders = pushes = oversells = turned_away = cycles = 0
    shown: dict[str, tuple[int, list[int]]] = {}  # per SKU: available, and each channel's target
    gift: dict[str, tuple[int, list[int]]] = {}  # the components' figures when the gift set sold
    bundle_line = ""
    alerts: list[str] = []
    first: dict[str, datetime] = {}  # "lag", "alert", "oversell" on the slowed channel

    def alert(sent: Sequence[Alert]) -> None:
        for one in sent:
            alerts.append(f"{one.at:%H:%M} {one.line()}")
            console.print(alerts[-1])
            if one.key == f"lag:{SLOWED}" and not one.recovered:
                first.setdefault("alert", one.at)

    next_cycle = START
    pace = 4.0 / (DURATION / STEP) if console.is_terminal else 0.0  # about 4 s to watch
    with Live(_table(shelf, channels), console=console, auto_refresh=False) as live:
        while clock.now <= START + DURATION:
            now = clock.now
            if now >= SLOWED_AT and by_name[SLOWED].limits.typical_lag_s < SLOWED_LAG_S:
                by_name[SLOWED].slow_down(SLOWED_LAG_S)
            if now >= next_cycle:
                report = run_cycle(store, channels, settings, now, alert=alert)
                pushes += sum(report.pushed.values())
                cycles += 1
                after = _figures(report)
                if gift and not bundle_line:
                    bundle_line = _bundle_line(GIFT_SALE, gift, after, now)
                    console.print(bundle_line, soft_wrap=True)
                shown = after
                if any(s.channel == SLOWED and s.state in ("LAG", "DEGRADED") for s in report.statuses):
                    first.setdefault("lag", now)
                next_cycle = now + timedelta(seconds=min(c.interval_s for c in settings.channels))
                live.update(_table(shelf, channels, now, oversells), refresh=True)
            if not gift and now >= GIFT_SALE[0] and by_name[GIFT_SALE[1]].sell(Sku(GIFT_SALE[2])):
                gift = {component: shown[component] for _, component, _ in BUNDLES}
                orders += 1
                for _, component, units in BUNDLES:
                    shelf[component] -= units
            while arrivals and arrivals[0][0] <= now:
                _, channel_name, sku = arrivals.pop(0)
                if by_name[ChannelName(channel_name)].sell(Sku(sku)):
                    orders += 1
                    if shelf[sku] <= 0:
                        oversells += 1
                        if channel_name == SLOWED:
                            first.setdefault("oversell", now)
                    shelf[sku] -= 1
                elif shelf[sku] > 0:
                    turned_away += 1
            clock.now += STEP
            time.sleep(pace)
    console.print()
    return DemoResult(
        orders,
        pushes,
        oversells,
        turned_away,
        cycles,
        tuple(alerts),
        first.get("lag"),
        first.get("alert"),
        first.get("oversell"),
        bundle_line,
    )


def _figures(report: CycleReport) -> dict[str, tuple[int, list[int]]]:
    """Each SKU's available stock and what each channel is set to show, after a cycle."""
    return {
        row.row.sku: (row.available, [d.target for d in row.decisions.values()]) for row in report.plan.rows
    }


def _bundle_line(
    sale: tuple[datetime, ChannelName, str],
    before: dict[str, tuple[int, list[int]]],
    after: dict[str, tuple[int, list[int]]],
    now: datetime,
) -> str:
    """The gift set's sale as one line: each component's stock and channel figures, before → after."""
    at, channel, bundle = sale
    changes = []
    for component, (stock, targets) in before.items():
        new_stock, new_targets = after[component]
        moves = " ".join(f"{b}→{a}" for b, a in zip(targets, new_targets, strict=True))
        changes.append(f"{component} {stock}→{new_stock} (channels {moves})")
    return (
        f"{at:%H:%M} bundle {bundle} sold on {channel}; the {now:%H:%M} cycle took its components: "
        + ", ".join(changes)
    )


def _buyers(
    rng: random.Random, skus: Sequence[str], shares: Mapping[str, float], scale: float = 1.0
) -> list[tuple[datetime, str, str]]:
    """Buyer arrivals: a steady trickle with a burst in the middle hour, popular SKUs first.

    ``scale`` scales the rate (buyers a minute: 0.35, 1.6 at the height of the burst).
    """
    popularity = [1 / (rank + 1) for rank in range(len(skus))]
    names, weights = list(shares), list(shares.values())
    arrivals = []
    at = 0.0
    trickle, peak = 0.35, 1.6
    while at < DURATION.total_seconds():
        at += rng.expovariate(scale * peak / 60)
        hour = at / 3600
        rate = trickle + (peak - trickle) * max(0.0, 1 - abs(hour - 1.5) * 2)
        if rng.random() < rate / peak:
            when = START + timedelta(seconds=at)
            arrivals.append(
                (
                    when,
                    rng.choices(names, weights)[0],
                    rng.choices(list(skus), popularity)[0],
                )
            )
    return arrivals


def seed_inventory(
    workbook: Path, rows: Sequence[tuple[str, int | str]], bundles: Sequence[tuple[str, str, int]] = ()
) -> None:
    """Type the catalogue (and a Bundles sheet with a row for each bundle) as a merchant would."""
    book = load_workbook(workbook)
    sheet = book[INVENTORY_SHEET]
    columns = {header_key(str(cell.value)): cell.column for cell in sheet[1] if cell.value}
    named = list(dict.fromkeys(bundle for bundle, _, _ in bundles))
    for offset, (sku, count) in enumerate([*rows, *((name, "") for name in named)], start=2):
        sheet.cell(offset, columns["sku"], sku)
        sheet.cell(offset, columns["quantity"], count)
    if bundles:
        listed = book.create_sheet(BUNDLES_SHEET)
        listed.append(list(BUNDLE_HEADERS.values()))
        for line in bundles:
            listed.append(list(line))
    book.save(workbook)


def _table(
    shelf: dict[str, int],
    channels: Sequence[SandboxChannel],
    now: datetime = START,
    oversells: int = 0,
) -> Table:
    table = Table(title=f"sheetsync demo  {now:%H:%M} UTC  oversells={oversells}")
    table.add_column("SKU")
    table.add_column("On shelf", justify="right")
    for channel in channels:
        table.add_column(f"{channel.name} (lag {channel.limits.typical_lag_s:.0f}s)", justify="right")
    shown = [channel.read_levels([Sku(s) for s in shelf]) for channel in channels]
    for sku, units in shelf.items():
        cells = [str(levels.get(Sku(sku), 0)) for levels in shown]
        table.add_row(sku, str(units), *cells, style="red" if units < 0 else None)
    return table
