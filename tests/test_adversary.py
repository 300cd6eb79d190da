"""The adversary campaign (issue 21): a short seed set, and proof that its checks see what they must."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from campaigns import adversary
from campaigns.adversary import FIGURES, World, run_seed

#: Invariants every seed holds on the current code.  The others (oversold_by_us,
#: unrecovered_after_fix, unalerted_stuck_states) are broken on some seeds by open findings
#: (docs/fault-suite.md, "What the adversary found"); they are asserted once those are fixed.
HELD = ("lost", "doubled", "merchant_cells_changed", "formulas_written", "secrets_leaked", "lease_violations")


@pytest.mark.parametrize("seed", [1, 3])
def test_a_short_schedule_loses_doubles_overwrites_and_leaks_nothing(seed: int) -> None:
    figures, world = run_seed(seed, cycles=20)
    assert figures["cycles"] >= 20
    assert sum(figures["actions"].values()) > 5  # the world really moved
    assert figures["orders"] >= 1
    broken = {name: figures[name] for name in HELD if figures[name]}
    assert not broken, world.tally.problems
    assert set(HELD) <= set(FIGURES)


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
