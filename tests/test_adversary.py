"""The adversary campaign (issue 21): a short seed set, and proof that its checks see what they must."""

from __future__ import annotations

import tempfile
from pathlib import Path
from unittest import mock

import pytest
from campaigns import adversary
from campaigns.adversary import FIGURES, World, run_seed

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
