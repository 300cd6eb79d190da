"""The dashboard in real headless Chromium, against a running worker on sandbox channels.

A channel whose pushes take 600 s to show, with ``max_lag = 60``, goes LAG once the clock moves
past the limit; Pause on the page types PAUSE into its Control cell on the Status tab, and the
next cycle shows it PAUSED.  ``SHEETSYNC_SCREENSHOT=docs/dashboard.png`` saves the page (the
README's screenshot) while the channel lags.

Debian's chromium is driven through Playwright with its executable path; Playwright's own
browser download is never used.  Without /usr/bin/chromium the test is skipped, except under CI
(CI=true), where it fails: `.ci/run` installs it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.wire import serve_app

from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.config import load
from sheetsync.demo import seed_inventory
from sheetsync.model import ChannelName
from sheetsync.stores.workbook import WorkbookStore, create_workbook
from sheetsync.web import Board, create_app
from sheetsync.worker import CycleReport, Inbox, run_forever

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SLOW, FAST = ChannelName("google"), ChannelName("shopify")
START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
#: Cycles run every real second (the scheduler's clock); the channels' time is the ManualClock.
CONFIG = """
[master]
kind = "workbook"
path = "inventory.xlsx"

[channels.shopify]
kind = "sandbox"
title = "Shopify"
interval = 1

[channels.google]
kind = "sandbox"
title = "Google"
interval = 1
lag = 600
max_lag = 60
"""
CATALOGUE = (("TEE-BLK-M", 24), ("MUG-LOGO", 40), ("CAP-RED", 8), ("POSTER-A2", "1,000"))
#: Upper bound for one expected cycle; they come every second, so this is never waited out.
CYCLE_TIMEOUT_S = 30.0


def _chromium_or_skip() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing under CI: .ci/run installs Debian's chromium")
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (Debian's), or run .ci/run")


class Cycles:
    """Every cycle report, and a way to wait for one that matches (told by the Board's hook)."""

    def __init__(self, worker: threading.Thread) -> None:
        self._changed = threading.Condition()
        self._worker = worker
        self.reports: list[CycleReport] = []

    def record(self, report: CycleReport) -> None:
        with self._changed:
            self.reports.append(report)
            self._changed.notify_all()

    def wait_for(self, what: str, matches: Callable[[CycleReport], bool]) -> CycleReport:
        """The newest report that ``matches``, waiting for the worker's next ones if need be."""
        deadline = time.monotonic() + CYCLE_TIMEOUT_S
        with self._changed:
            while (found := next((r for r in reversed(self.reports) if matches(r)), None)) is None:
                left = deadline - time.monotonic()
                if left <= 0 or not self._worker.is_alive():
                    break
                self._changed.wait(min(left, 0.5))  # wakes at each report; the slice notices a dead worker
        if found is None:
            last = self.reports[-1] if self.reports else None
            seen = [] if last is None else [(s.channel, s.state, s.message) for s in last.statuses]
            stopped = "" if self._worker.is_alive() else " (the worker died)"
            pytest.fail(f"no cycle {what} within {CYCLE_TIMEOUT_S:g}s{stopped}; the last one reported {seen}")
        return found


def state_of(report: CycleReport, channel: ChannelName) -> str | None:
    return next((s.state for s in report.statuses if s.channel == channel), None)


def row(channel: ChannelName) -> str:
    """The dashboard's table row for ``channel``, as a CSS selector."""
    return f"#channel-{channel}"


def test_a_lagging_channel_shows_lag_and_pause_on_the_page_pauses_it_in_the_sheet(tmp_path: Path) -> None:
    _chromium_or_skip()
    config = tmp_path / "sheetsync.toml"
    config.write_text(CONFIG)
    settings = load(config)
    workbook = tmp_path / "inventory.xlsx"
    create_workbook(workbook, settings.layout)
    seed_inventory(workbook, CATALOGUE)
    clock = ManualClock(START.timestamp())

    def now() -> datetime:
        return datetime.fromtimestamp(clock(), UTC)

    lags = {c.name: c.lag_s for c in settings.channels}
    channels = [SandboxChannel(name, now, lag_s=lags[name]) for name in (FAST, SLOW)]
    store = WorkbookStore(workbook, settings.layout)
    inbox, stop = Inbox(), threading.Event()
    worker = threading.Thread(target=run_forever, args=(store, channels, settings, now, stop, inbox))
    cycles = Cycles(worker)
    inbox.on_cycle = cycles.record
    board = Board({c.name: c.title for c in settings.channels})
    board.follow(inbox)  # the Board records first, then tells `cycles`: the page is ready by then
    worker.start()
    try:
        with (
            serve_app(create_app(inbox, {}, board=board)) as url,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 480})
                # The second cycle sees Shopify show the first pushes at once: its lag is measured as 0s.
                cycles.wait_for("after the first", lambda _: len(cycles.reports) >= 2)
                page.goto(url)
                expect(page.locator(row(SLOW))).to_contain_text("Google")
                expect(page.locator(row(FAST))).to_contain_text("OK")

                clock.sleep(120)  # the slow channel still shows nothing of its first push
                late = now()
                inbox.wake()
                cycles.wait_for("after the lag limit", lambda r: r.at >= late)
                page.reload()
                slow_state = page.locator(f"{row(SLOW)} .channel-state")
                expect(slow_state).to_contain_text("LAG", timeout=2000)
                discrepancies = page.locator("#discrepancies")
                expect(discrepancies).to_contain_text("TEE-BLK-M")
                expect(discrepancies).to_contain_text('Quantity "1,000" has a thousands separator')
                expect(page.locator("#alerts")).to_contain_text("ALERT Google")
                if screenshot := os.environ.get("SHEETSYNC_SCREENSHOT"):
                    page.screenshot(path=screenshot, full_page=True)

                page.locator(f"{row(SLOW)} button").click()
                cycles.wait_for("with Google paused", lambda r: state_of(r, SLOW) == "PAUSED")
                page.reload()
                expect(slow_state).to_contain_text("PAUSED", timeout=2000)
                expect(page.locator(f"{row(SLOW)} button")).to_have_text("Resume")
                expect(page.locator(f"{row(FAST)} .channel-state")).not_to_contain_text("PAUSED")
            finally:
                browser.close()
    finally:
        stop.set()
        inbox.wake()
        worker.join(30)
    assert WorkbookStore(workbook, settings.layout).read().control.channels[SLOW] == "PAUSE"
