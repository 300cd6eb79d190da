"""Filling the Inventory from a channel's catalogue (``sheetsync import``): what to add, and why not.

A merge never changes a row the merchant has: an item whose SKU (or whose code on the channel,
``SKU <Channel>``) a row already has is kept as it is, whatever its quantity.  Items the channel
lists without a SKU, with a SKU the sheet cannot hold, or under one SKU with another item (SKUs
equal, or equal but for case and spaces) are listed for the merchant to fix on the channel, and
never added: which of two variants sharing a SKU is meant cannot be told from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sheetsync.core.cells import sku_problem
from sheetsync.model import SKU, CatalogueItem, ChannelName, Layout, RawRow, code_column, stock_column

#: Headers of the two columns an import adds for the merchant's eyes; the worker never reads them.
TITLE_HEADER = "Title"
VARIANT_HEADER = "Variant"


@dataclass(frozen=True, slots=True)
class NewRow:
    """An Inventory row to append: the item, and the text of each cell by header."""

    item: CatalogueItem
    cells: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Kept:
    """An item a merchant's row has already (by SKU, or by the row's code on the channel)."""

    item: CatalogueItem
    row: int


@dataclass(frozen=True, slots=True)
class Clash:
    """Items that cannot each have their own row.

    Either several items the channel lists under one SKU (or SKUs equal but for case and
    spaces), or one item whose SKU differs from the SKU of the merchant's ``row`` only so.
    """

    items: tuple[CatalogueItem, ...]
    row: int | None = None
    row_sku: str = ""


@dataclass(frozen=True, slots=True)
class Refused:
    """An item whose SKU cannot be a row's SKU (``reason`` says why, as the sheet would flag it)."""

    item: CatalogueItem
    reason: str


@dataclass(frozen=True, slots=True)
class Merge:
    """What an import does: rows to add (in catalogue order), and every item it leaves out."""

    added: tuple[NewRow, ...]
    kept: tuple[Kept, ...]
    no_sku: tuple[CatalogueItem, ...]
    clashes: tuple[Clash, ...]
    refused: tuple[Refused, ...]

    @property
    def untracked(self) -> tuple[NewRow, ...]:
        """Rows added with a blank count: the channel does not track their stock."""
        return tuple(row for row in self.added if row.item.quantity is None)


def loose(text: str) -> str:
    """A SKU as two SKUs that differ only by case or spaces compare equal."""
    return "".join(text.split()).casefold()


def merge(
    rows: Sequence[RawRow],
    items: Iterable[CatalogueItem],
    layout: Layout,
    channel: ChannelName,
    location: str = "",
) -> Merge:
    """The rows to add for ``items`` below ``rows`` (the Inventory as read), and what is left out.

    ``location`` is the stock location whose count column takes each item's quantity when the
    layout has locations (the other count columns get 0); "" without locations (Quantity).
    An item listed twice (the same ``ref``) counts once.

    Raises:
        ValueError: ``location`` is not one of the layout's locations (or given without any).
    """
    if (location or layout.locations) and location not in layout.locations:
        raise ValueError(f"location {location!r} is not one of {list(layout.locations)}")
    by_sku: dict[str, int] = {}
    by_code: dict[str, int] = {}
    by_loose: dict[str, tuple[int, str]] = {}
    for row in rows:
        sku = row.cells.get(SKU, "").strip()
        if not sku:
            continue
        code = row.cells.get(code_column(channel), "").strip() or sku
        by_sku.setdefault(sku, row.row)
        by_code.setdefault(code, row.row)
        for text in (sku, code):
            by_loose.setdefault(loose(text), (row.row, sku))

    seen: set[str] = set()
    no_sku: list[CatalogueItem] = []
    refused: list[Refused] = []
    groups: dict[str, list[CatalogueItem]] = {}
    for item in items:
        if item.ref and item.ref in seen:
            continue
        seen.add(item.ref)
        sku = item.sku.strip()
        if not sku:
            no_sku.append(item)
        elif (reason := sku_problem(sku)) is not None:
            refused.append(Refused(item, reason))
        else:
            groups.setdefault(loose(sku), []).append(item)

    added: list[NewRow] = []
    kept: list[Kept] = []
    clashes: list[Clash] = []
    for group in groups.values():
        if len(group) > 1:
            clashes.append(Clash(tuple(group)))
            continue
        item = group[0]
        sku = item.sku.strip()
        key = item.code.strip() or sku
        row_number = by_sku.get(sku, by_code.get(key))
        if row_number is not None:
            kept.append(Kept(item, row_number))
        elif (near := by_loose.get(loose(sku), by_loose.get(loose(key)))) is not None:
            clashes.append(Clash((item,), near[0], near[1]))
        else:
            added.append(NewRow(item, _cells(item, layout, channel, location)))
    return Merge(tuple(added), tuple(kept), tuple(no_sku), tuple(clashes), tuple(refused))


def _cells(item: CatalogueItem, layout: Layout, channel: ChannelName, location: str) -> dict[str, str]:
    """The new row's cells by header: SKU, Title, Variant, the counts, and the channel's code."""
    headers = layout.merchant_headers()
    sku = item.sku.strip()
    quantity = "" if item.quantity is None else str(max(item.quantity, 0))
    cells = {headers[SKU]: sku, TITLE_HEADER: item.title.strip(), VARIANT_HEADER: item.variant.strip()}
    for column in layout.count_columns():
        at_location = not location or column == stock_column(location)
        cells[headers[column]] = quantity if at_location else "0"
    code = item.code.strip()
    if code and code != sku:
        cells[headers[code_column(channel)]] = code
    return cells
