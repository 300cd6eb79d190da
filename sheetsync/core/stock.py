"""What each channel can sell.

A SKU's stock summed over the channel's own locations, and a bundle's made from its components;
and what the ledger alone says of a SKU (its last count, the orders since) when its row cannot
be read or it oversold.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sheetsync.core.cells import MasterRow
from sheetsync.core.ledger import Place, available
from sheetsync.core.memo import Prefixes, Same
from sheetsync.model import ChannelName, LedgerEntry, Movement, Sku


@dataclass(frozen=True, slots=True)
class StockLevels:
    """Available stock per SKU over every location, and per channel where that differs."""

    total: Mapping[Sku, int]
    #: (channel, SKU) → what the channel may sell, only where it is not ``total`` (a channel
    #: that sells from some locations; a bundle); empty in the plain case
    reach: Mapping[tuple[ChannelName, Sku], int]


def counted(rows: Sequence[MasterRow]) -> dict[Place, int]:
    """The merchant's count per SKU and location; the very same rows give the very same answer."""
    return _COUNTED.answer(
        rows, None, lambda: {(row.sku, place): count for row in rows for place, count in row.counts.items()}
    )


#: ``counted``'s last answer.
_COUNTED: Same[dict[Place, int]] = Same()


def stock_levels(
    rows: Sequence[MasterRow],
    available: Mapping[Place, int],
    places: Mapping[ChannelName, tuple[str, ...]],
) -> StockLevels:
    """Sum each SKU's locations, per channel over its own; then make each bundle from its parts.

    ``places`` holds every channel's locations (empty tuples without locations).  The very same
    rows with equal stock give the last answer: a quiet cycle's (a pass over every row).
    """
    return _LEVELS.answer(rows, (available, places), lambda: _levels(rows, available, places))


#: ``stock_levels``' last answer.
_LEVELS: Same[StockLevels] = Same()


def _levels(
    rows: Sequence[MasterRow],
    available: Mapping[Place, int],
    places: Mapping[ChannelName, tuple[str, ...]],
) -> StockLevels:
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
        total[row.sku] = made(row.parts, total)
        for name in places:
            sells = {sku: reach.get((name, sku), total.get(sku, 0)) for sku in row.parts}
            if (bundles := made(row.parts, sells)) != total[row.sku]:
                reach[(name, row.sku)] = bundles
    return StockLevels(total, reach)


def made(parts: Mapping[Sku, int], stock: Mapping[Sku, int]) -> int:
    """Bundles that can be made: the fewest over components of floor(stock / units in one)."""
    return min((max(stock.get(sku, 0), 0) // per for sku, per in parts.items()), default=0)


def last_counts(entries: Iterable[LedgerEntry]) -> dict[Place, int]:
    """The latest COUNT the ledger holds per SKU and location (places never counted are absent).

    A left fold that goes on from a recent one over the entries these begin with (the Ledger
    mostly grows at its end).
    """
    given = tuple(entries)
    start, base = _COUNTS.longest(given)
    latest = dict(base or {})
    latest.update(
        ((e.sku, e.location), e.delta) for e in given[start:] if e.movement is Movement.COUNT and e.sku
    )
    _COUNTS.keep(given, latest)
    return dict(latest)  # a copy: the kept one is what the next fold goes on from


#: The last few folds ``last_counts`` made.
_COUNTS: Prefixes[dict[Place, int]] = Prefixes(2)


def last_good(entries: Sequence[LedgerEntry]) -> dict[Sku, int]:
    """Per SKU the ledger counted: its last counts less the movements since, over its locations.

    What the SKU has by the ledger alone, for a row whose Quantity cannot be read now: the
    ledger's latest COUNT plus what moved after it (``ledger.available`` fed that count).
    """
    latest = last_counts(entries)
    good: dict[Sku, int] = {}
    for (sku, _), left in available(latest, entries).items():
        good[sku] = good.get(sku, 0) + left
    return good


#: Entries that are orders taking stock (a component's included): those an oversell names.
ORDER_MOVEMENTS = frozenset({Movement.SALE, Movement.EDIT, Movement.BUNDLE})


def orders_since_count(entries: Iterable[LedgerEntry], skus: Collection[Sku]) -> dict[Sku, list[str]]:
    """Per SKU of ``skus``: the orders that count against its count (``channel order``), in order.

    As in the ledger's own sum, the first COUNT covers every order before it, and each later
    COUNT (a recount) starts afresh.  An order named twice (a line, then its edit) is one.
    """
    counts: dict[Place, int] = {}
    orders: dict[Place, dict[str, None]] = {}
    for entry in entries:
        if entry.sku not in skus:
            continue
        place = (entry.sku, entry.location)
        if entry.movement is Movement.COUNT:
            counts[place] = counts.get(place, 0) + 1
            if counts[place] > 1:
                orders[place] = {}
        elif entry.movement in ORDER_MOVEMENTS and entry.channel is not None and entry.order_id:
            orders.setdefault(place, {})[f"{entry.channel} {entry.order_id}"] = None
    found: dict[Sku, dict[str, None]] = {}
    for (sku, _), named in orders.items():
        found.setdefault(sku, {}).update(named)
    return {sku: list(named) for sku, named in found.items()}
