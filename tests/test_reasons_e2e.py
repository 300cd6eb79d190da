"""Issue 23, end to end: the Reason a merchant of one-off items reads, through `sheetsync init` and `sync`.

The config is the template `init` writes; the master is its workbook; the channels its sandboxes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sheetsync.cli import main
from sheetsync.config import load
from sheetsync.errors import ConfigError
from sheetsync.model import INVENTORY_SHEET


def type_cell(workbook: Path, row: int, header: str, value: str | int) -> None:
    """The merchant types into the Inventory (by header) and saves."""
    book = load_workbook(workbook)
    sheet = book[INVENTORY_SHEET]
    column = next(c.column for c in sheet[1] if c.value == header)
    sheet.cell(row, column).value = value
    book.save(workbook)


def cell(workbook: Path, row: int, header: str) -> object:
    sheet = load_workbook(workbook)[INVENTORY_SHEET]
    column = next(c.column for c in sheet[1] if c.value == header)
    return sheet.cell(row, column).value


def one_off(config: Path) -> None:
    """Turn the preset on as the template's comment says: delete the channels' tiers, uncomment it."""
    text = re.sub(r"^tiers = \[\n(?:  .*\n)+\]\n", "", config.read_text(encoding="utf-8"), flags=re.M)
    text = text.replace('# [buffers]\n# preset = "one-off"', '[buffers]\npreset = "one-off"')
    config.write_text(text, encoding="utf-8")


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """`sheetsync init`, then one vase (a one-off) and ten mugs typed in."""
    assert main(["init", "--dir", str(tmp_path)]) == 0
    workbook = tmp_path / "inventory.xlsx"
    for row, (sku, quantity) in enumerate((("VASE-1", 1), ("MUG", 10)), start=2):
        type_cell(workbook, row, "SKU", sku)
        type_cell(workbook, row, "Quantity", quantity)
    return tmp_path


def sync(shop: Path) -> None:
    assert main(["sync", "--once", "--config", str(shop / "sheetsync.toml")]) == 0


def test_one_unit_under_the_default_tiers_is_held_and_the_row_says_why(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sync(shop)
    workbook = shop / "inventory.xlsx"
    assert [cell(workbook, 2, h) for h in ("Shopify", "Facebook", "Google", "Status")] == [0, 0, 0, "HELD"]
    assert cell(workbook, 2, "Reason") == (
        "1 on the shelf; Shopify, Facebook, Google show 0: tier 0-2 holds all; "
        'to sell it, lower that tier or use preset "one-off"'
    )
    assert cell(workbook, 3, "Status") == "OK"
    assert cell(workbook, 3, "Reason") == (
        "10 on the shelf; Shopify shows 8: tier 3-10 holds 2; Facebook shows 7: tier 3-10 holds 3; "
        "Google shows 6: tier 3-10 holds 4"
    )
    capsys.readouterr()
    assert main(["status", "--config", str(shop / "sheetsync.toml")]) == 0
    out = capsys.readouterr().out
    assert "2 rows: 1 HELD, 1 OK" in out
    assert "VASE-1" in out  # listed under the rows that need attention, with its reason
    assert "Rows that need attention" in out


def test_the_one_off_preset_sells_the_single_unit_everywhere(shop: Path) -> None:
    config = shop / "sheetsync.toml"
    one_off(config)
    settings = load(config)
    assert all(channel.policy.tiers[-1].hold.amount == 0 for channel in settings.channels)
    sync(shop)
    workbook = shop / "inventory.xlsx"
    assert [cell(workbook, 2, h) for h in ("Shopify", "Facebook", "Google", "Status")] == [1, 1, 1, "OK"]
    assert cell(workbook, 2, "Reason") == "1 on the shelf; Shopify, Facebook, Google show all 1"
    assert (
        cell(workbook, 3, "Reason") == "10 on the shelf; Shopify, Facebook, Google show 9: tier 10+ holds 10%"
    )


def test_a_paused_row_says_its_channels_keep_selling_their_last_figure(shop: Path) -> None:
    one_off(shop / "sheetsync.toml")
    sync(shop)
    workbook = shop / "inventory.xlsx"
    type_cell(workbook, 3, "Override", "PAUSE")
    type_cell(workbook, 3, "Quantity", 2)  # a recount while paused: nothing is pushed
    sync(shop)
    assert [cell(workbook, 3, h) for h in ("Shopify", "Facebook", "Google", "Status")] == [9, 9, 9, "PAUSED"]
    assert cell(workbook, 3, "Reason") == (
        "paused: Shopify, Facebook, Google keep showing 9; "
        "type a number in Override to set it, or clear PAUSE"
    )


def test_a_preset_name_that_does_not_exist_is_named_in_plain_words(shop: Path) -> None:
    config = shop / "sheetsync.toml"
    one_off(config)
    config.write_text(config.read_text(encoding="utf-8").replace('"one-off"', '"one off"'), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load(config)
    assert str(error.value) == (
        f'{config}: [buffers] preset: "one off" is not a preset; write one of "one-off" (or leave preset out)'
    )


def test_a_preset_beside_a_channels_own_tiers_says_which_to_delete(shop: Path) -> None:
    config = shop / "sheetsync.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('# [buffers]\n# preset = "one-off"', '[buffers]\npreset = "one-off"'))
    with pytest.raises(ConfigError) as error:
        load(config)
    assert str(error.value) == (
        f'{config}: [channels.shopify] tiers: [buffers] preset = "one-off" sets the tiers of every channel; '
        "delete these tiers, or the preset"
    )
