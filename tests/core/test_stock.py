"""What each channel can sell: its own locations, and bundles made from their components."""

from __future__ import annotations

from sheetsync.core.cells import MasterRow
from sheetsync.core.stock import stock_levels
from sheetsync.model import ChannelName, Sku

ONLINE, POS = ChannelName("online"), ChannelName("pos")


def row(sku: str, counts: dict[str, int], parts: dict[str, int] | None = None) -> MasterRow:
    return MasterRow(
        2,
        Sku(sku),
        counts,
        None,
        {},
        {},
        {},
        parts=None if parts is None else {Sku(k): v for k, v in parts.items()},
    )


def test_without_locations_or_bundles_every_channel_sells_the_total() -> None:
    levels = stock_levels([row("A", {"": 5})], {(Sku("A"), ""): 3}, {ONLINE: (), POS: ()})
    assert (levels.total, levels.reach) == ({"A": 3}, {})


def test_a_channel_on_some_locations_sells_only_theirs() -> None:
    available = {(Sku("A"), "Shop"): 2, (Sku("A"), "Warehouse"): 7}
    places = {ONLINE: ("Warehouse", "Shop"), POS: ("Shop",)}
    levels = stock_levels([row("A", {"Shop": 2, "Warehouse": 7})], available, places)
    assert levels.total == {"A": 9}
    assert levels.reach == {(POS, "A"): 2}  # online sells from both: the total


def test_a_bundle_is_made_from_what_each_channel_can_sell_of_its_parts() -> None:
    available = {(Sku("CUP"), "Shop"): 4, (Sku("CUP"), "Warehouse"): 6, (Sku("LID"), "Shop"): 1}
    available[(Sku("LID"), "Warehouse")] = -2  # oversold: counts as none
    rows = [
        row("KIT", {}, {"CUP": 2, "LID": 1}),
        row("CUP", {"Shop": 4, "Warehouse": 6}),
        row("LID", {"Shop": 1, "Warehouse": -2}),
    ]
    levels = stock_levels(rows, available, {ONLINE: ("Warehouse", "Shop"), POS: ("Shop",)})
    assert levels.total["KIT"] == 0  # LID in all: -1
    assert levels.reach[(POS, "KIT")] == 1  # the Shop alone: 4 cups, 1 lid
    assert (ONLINE, "KIT") not in levels.reach
