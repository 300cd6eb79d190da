"""What each channel can sell.

A SKU's stock summed over the channel's own locations, and a bundle's made from its components.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sheetsync.core.cells import MasterRow
from sheetsync.core.ledger import Place
from sheetsync.model import ChannelName, Sku


@dataclass(frozen=True, slots=True)
class StockLevels:
    """Available stock per SKU over every location, and per channel where that differs."""

    total: Mapping[Sku, int]
    #: (channel, SKU) → what the channel may sell, only where it is not ``total`` (a channel
    #: that sells from some locations; a bundle); empty in the plain case
    reach: Mapping[tuple[ChannelName, Sku], int]


def stock_levels(
    rows: Sequence[MasterRow],
    available: Mapping[Place, int],
    places: Mapping[ChannelName, tuple[str, ...]],
) -> StockLevels:
    """Sum each SKU's locations, per channel over its own; then make each bundle from its parts.

    ``places`` holds every channel's locations (empty tuples without locations).
    """
    everywhere = {place for row in rows for place in row.counts}
    partial = {name: own for name, own in places.items() if own and set(own) != everywhere}
    total: dict[Sku, int] = {}
    reach: dict[tuple[ChannelName, Sku], int] = {}
    for row in rows:
        if row.parts is not None:
            continue
        total[row.sku] = sum(available[(row.sku, place)] for place in row.counts)
        for name, own in partial.items():
            reach[(name, row.sku)] = sum(available.get((row.sku, place), 0) for place in own)
    for row in rows:
        if row.parts is None:
            continue
        total[row.sku] = _made(row.parts, total)
        for name in places:
            sells = {sku: reach.get((name, sku), total.get(sku, 0)) for sku in row.parts}
            if (made := _made(row.parts, sells)) != total[row.sku]:
                reach[(name, row.sku)] = made
    return StockLevels(total, reach)


def _made(parts: Mapping[Sku, int], stock: Mapping[Sku, int]) -> int:
    """Bundles that can be made: the fewest over components of floor(stock / units in one)."""
    return min((max(stock.get(sku, 0), 0) // per for sku, per in parts.items()), default=0)
