"""The adversary campaign (issue 21): a short seed set, and proof that its checks see what they must."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from campaigns import adversary
from campaigns.adversary import FIGURES, World, run_seed

from sheetsync.channels.woocommerce import WooCommerceChannel
from sheetsync.core import monitor
from sheetsync.core.monitor import Finding, FindingKind, Pending
from sheetsync.errors import SyncError
from sheetsync.stores.google_sheets import GoogleSheetsStore


@pytest.mark.parametrize("seed", [1, 3])
def test_a_short_schedule_holds_every_invariant(seed: int) -> None:
    figures, world = run_seed(seed, cycles=20)
    assert figures["cycles"] >= 20
    assert sum(figures["actions"].values()) > 5  # the world really moved
    assert figures["orders"] >= 1
    broken = {name: figures[name] for name in FIGURES if figures[name]}
    assert not broken, world.tally.problems


def test_a_seed_replays_byte_for_byte() -> None:
    """The reproduction a violation prints is only worth something if the same seed does the same."""
    first, one = run_seed(7, cycles=8)  # a kill, a restart, orders, recounts: about a second
    again, other = run_seed(7, cycles=8)
    assert one.history == other.history
    assert first == again
    assert len(one.history) > 10  # a run with something in it
    assert first["requests"] > 50


def test_the_campaign_catches_a_ledger_append_that_does_not_look_first() -> None:
    """Planted: the store appends without reading the Ledger's Key column (before the fix for a
    worker resuming with an old read, and for a lost answer).  Seed 2 at 16 cycles then counts
    an order line twice; with the store as it is, it holds (the test above, docs/fault-suite.md)."""
    with mock.patch.object(GoogleSheetsStore, "_tail_keys", return_value=set()):
        figures, world = run_seed(2, cycles=16)
    assert figures["doubled"] >= 1, world.tally.problems
    assert any("is there 2 times" in problem for problem in world.tally.problems)


def test_the_campaign_catches_a_first_sync_that_reads_the_history() -> None:
    """Planted: no start line (before the fix), so the first sync counts the orders placed before
    it, which the merchant's counts already hold (the stock wiped).  Seed 3 at 4 cycles counts
    them; with the start line it holds (the short seeds above)."""
    with mock.patch.object(adversary.worker_module, "_start_line", return_value=(None, "")):
        figures, world = run_seed(3, cycles=4)
    assert figures["doubled"] >= 1, world.tally.problems
    assert any("before the first sync" in problem for problem in world.tally.problems)


def test_the_campaign_catches_a_push_overtaken_by_a_platform_edit_left_lag() -> None:
    """Planted: a push the platform's own edit overtook stays LAG for ever (before the fix, which
    makes it DRIFT and sets it back).  Seed 10 (36 cycles): AD-007 stays LAG 28 cycles, the
    staff's level is never set back, and after the settle Shopify shows 32 where the count allows 19."""

    def stuck(push: Pending, shown: int | None, believed: int | None, age: float, max_lag: float) -> Finding:
        return Finding(FindingKind.LAG, shown, f"pushed {push.quantity}, still shows {shown}")

    with mock.patch.object(monitor, "_overdue", stuck):
        figures, world = run_seed(10)
    assert figures["oversold_by_us"] >= 1, world.tally.problems
    assert any("of AD-007" in problem for problem in world.tally.problems)


def _world(tmp: str) -> World:
    return World(5, Path(tmp), cycles=1)


def test_the_checks_see_a_merchant_cell_changed_a_formula_and_a_secret() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = _world(tmp)
        world.check_merchant_cells()
        world.check_formulas()
        world.check_secrets()
        assert not world.tally.counts, world.tally.problems
        # what a buggy worker would do: write into a merchant column, a formula, a token
        world.sheets.set_values(world.sheet, "Inventory!C2", [["7"]])
        world.sheets.set_values(world.sheet, "Inventory!H2", [["=1+1"]])
        world.sheets.set_values(
            world.sheet, "Inventory!I2", [[world.secrets["woo_secret"]]], value_input_option="RAW"
        )
        world.check_merchant_cells()
        world.check_formulas()
        world.check_secrets()
        assert world.tally.counts["merchant_cells_changed"] == 1
        assert world.tally.counts["formulas_written"] == 1
        assert world.tally.counts["secrets_leaked"] >= 1


def test_the_ledger_check_counts_a_line_lost_and_a_line_doubled() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = _world(tmp)
        world.shopify.admin_set_available(adversary.SHOP, "AD-001", adversary.LOCATION, 10)
        order = world.shopify.place_order(adversary.SHOP, [("AD-001", 2)])
        world.orders.append(adversary.Order(adversary.SHOPIFY, order, world.clock()))
        world.check_ledger()
        assert world.tally.counts["lost"] == 2  # sold 2, the Ledger (absent) counts none
        short = order.rsplit("/", 1)[-1]
        header = ["Key", "Time", "Channel", "Order", "Line", "SKU", "Delta", "Movement"]
        row = [f"shopify/{short}/1", "t", "shopify", short, "1", "AD-001", "-2", "SALE"]
        world.sheets.add_sheet(world.sheet, adversary.SheetSpec("Ledger"))
        world.sheets.set_values(world.sheet, "Ledger!A1", [header, row, row], value_input_option="RAW")
        world.tally = adversary.Tally()
        world.check_ledger()
        assert world.tally.counts["doubled"] == 3  # the key twice, and 4 units counted for 2 sold
        assert world.tally.counts["lost"] == 0


def test_the_campaign_catches_a_key_printed_by_an_adapter() -> None:
    """Planted: the WooCommerce adapter names each request with query-string credentials, as its
    log line and its errors did before the fix (the key printed).  Seed 3 at 4 cycles: the secrets
    scan finds the key in the log.  (An error alone would not show: no WooCommerce call in seeds
    1-6 at 36 cycles exhausts its retries, so no adapter error reaches the log or the sheet.)"""
    init, attempt = WooCommerceChannel.__init__, WooCommerceChannel._attempt
    keys: dict[int, str] = {}

    def keeping(self: WooCommerceChannel, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        keys[id(self)] = f"consumer_key={kwargs['consumer_key']}&consumer_secret={kwargs['consumer_secret']}"

    def leaky(self: WooCommerceChannel, method: str, path: str, params: Any, body: Any) -> httpx.Response:
        request = f"{method} {path}?{keys[id(self)]}"
        logging.getLogger("sheetsync.channels.woocommerce").debug("%s", request)
        try:
            return attempt(self, method, path, params, body)
        except SyncError as error:
            raise type(error)(f"{error} ({request})") from None

    with (
        mock.patch.object(WooCommerceChannel, "__init__", keeping),
        mock.patch.object(WooCommerceChannel, "_attempt", leaky),
    ):
        figures, world = run_seed(3, cycles=4)
    assert figures["secrets_leaked"] >= 1, world.tally.problems
    assert any(problem.startswith("secrets_leaked") and "log" in problem for problem in world.tally.problems)
