"""``sheetsync import --from CHANNEL``: fill the master's Inventory from a channel's catalogue.

One read of the master, the channel's catalogue page by page (with progress), one pure merge
(``core.catalogue``) and one append below the merchant's rows: rows the merchant has are never
changed, and what cannot be added (no SKU, a SKU the sheet cannot hold, a SKU on two items) is
listed for the merchant to fix on the channel.  ``dry_run`` stops before the append.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from sheetsync.channels import CatalogueSource
from sheetsync.config import AmazonAccount, ChannelSettings, Settings
from sheetsync.core.catalogue import Clash, Merge, NewRow, merge
from sheetsync.errors import ConfigError, SheetsyncError
from sheetsync.model import INVENTORY_SHEET, CatalogueItem
from sheetsync.stores import AppendingStore, MasterStore
from sheetsync.worker import open_channels

#: A progress line every this many items read (a page of most channels' lists, or two).
PROGRESS_EVERY = 250
#: Why Amazon cannot be imported from, for the merchant.
AMAZON_UNSUPPORTED = (
    "Amazon cannot be imported from: listing every offer needs Amazon's Reports API (a report "
    "requested, waited for and downloaded), which sheetsync does not use; add its SKUs to the "
    "Inventory by hand, or from the inventory report Seller Central downloads"
)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did (or, in a dry run, would do), for the merchant."""

    channel: ChannelSettings
    read: int  #: items the catalogue listed
    merge: Merge
    appended: int  #: rows written (0 in a dry run)
    dry_run: bool
    location: str  #: the count column's location ("" for Quantity)

    def lines(self) -> list[str]:
        """The summary, then what the merchant should fix on the channel, line by line."""
        title, result = self.channel.title, self.merge
        lines = [f"read {self.read} items from {title}"]
        if self.dry_run:
            lines.append(
                f"dry run: would add {len(result.added)} rows to {INVENTORY_SHEET}; nothing was written"
            )
            lines += [f"  + {_row(row)}" for row in result.added]
        else:
            lines.append(f"added {self.appended} rows at the bottom of {INVENTORY_SHEET}")
        lines.append(f"kept {len(result.kept)} existing rows as they are (their quantities untouched)")
        lines.append(f"{len(result.no_sku)} without a SKU (not added)")
        lines += [f"  {_item(item)}: no SKU; give it one on {title}" for item in result.no_sku]
        lines.append(f"{len(result.clashes)} SKU clashes (not added)")
        lines += [f"  {_clash(clash, title)}" for clash in result.clashes]
        if result.refused:
            lines.append(f"{len(result.refused)} with a SKU the sheet cannot hold (not added)")
            lines += [f"  {_item(r.item)}: {r.reason}; change it on {title}" for r in result.refused]
        if result.added:
            column = f"Quantity {self.location}" if self.location else "Quantity"
            lines.append(
                f"{column} of each new row is what {title} has available now"
                + (f" at its location ({self.location})" if self.location else "")
                + ": it is your starting count, so check it before the first sync"
                + ("; the other Quantity columns start at 0" if self.location else "")
            )
        if result.untracked:
            lines.append(
                f"{len(result.untracked)} new rows have a blank {INVENTORY_SHEET} Quantity: {title} does not "
                "track their stock; type their counts (a row with a blank count is flagged, never pushed)"
            )
        return lines


@contextmanager
def open_source(
    settings: Settings, name: str, clock: Callable[[], datetime]
) -> Iterator[tuple[ChannelSettings, CatalogueSource]]:
    """The configured channel ``name`` opened alone (only its secrets are needed), closed after.

    Raises:
        ConfigError: no channel has that name, or its kind cannot list its catalogue.
    """
    chosen = next((c for c in settings.channels if c.name == name), None)
    if chosen is None:
        known = ", ".join(c.name for c in settings.channels) or "none"
        raise ConfigError(
            f"{settings.source}: no channel named {name!r} (channels: {known}); pass --from NAME"
        )
    if isinstance(chosen.platform, AmazonAccount):
        raise ConfigError(f"{settings.source}: channels.{name}: {AMAZON_UNSUPPORTED}")
    [channel] = open_channels(replace(settings, channels=(chosen,)), clock)
    if not isinstance(channel, CatalogueSource):
        raise ConfigError(
            f"{settings.source}: channels.{name} is a {chosen.kind} channel, which has no catalogue to "
            "import; import from a shop or marketplace channel"
        )
    try:
        yield chosen, channel
    finally:
        channel.close()


def import_catalogue(
    store: MasterStore,
    source: CatalogueSource,
    settings: Settings,
    channel: ChannelSettings,
    *,
    dry_run: bool = False,
    progress: Callable[[str], None] = lambda line: None,
) -> ImportReport:
    """Read the master and ``source``'s catalogue, and append the rows it lacks (unless ``dry_run``).

    The quantity of a new row goes to the count column of the channel's first location when the
    master has locations, else to Quantity.

    Raises:
        SheetsyncError: the store cannot append rows; or what reading or writing raises.
    """
    if not isinstance(store, AppendingStore):
        raise SheetsyncError(f"{settings.master.describe()} cannot take new rows")
    snapshot = store.read()
    items = list(_counted(source.catalogue(), source.catalogue_size(), channel.title, progress))
    location = channel.locations[0] if settings.locations else ""
    result = merge(snapshot.rows, items, settings.layout, channel.name, location)
    appended = 0 if dry_run else store.append_inventory([row.cells for row in result.added])
    return ImportReport(channel, len(items), result, appended, dry_run, location)


def _counted(
    items: Iterable[CatalogueItem], size: int | None, title: str, progress: Callable[[str], None]
) -> Iterable[CatalogueItem]:
    """``items`` as they come, with a progress line every ``PROGRESS_EVERY`` and one at the end."""
    count = 0
    of = f" of ~{size}" if size is not None else ""
    for count, item in enumerate(items, start=1):
        yield item
        if count % PROGRESS_EVERY == 0:
            progress(f"{title}: read {count}{of} items")
    if count % PROGRESS_EVERY or not count:
        progress(f"{title}: read {count}{of} items")


def _item(item: CatalogueItem) -> str:
    """An item as the merchant finds it on the channel: title, variant, and where it is."""
    name = " / ".join(part for part in (item.title, item.variant) if part) or "(untitled)"
    return f"{name} ({item.ref})" if item.ref else name


def _row(row: NewRow) -> str:
    quantity = "blank" if row.item.quantity is None else str(max(row.item.quantity, 0))
    return f"SKU {row.item.sku.strip()}: {_item(row.item)}, quantity {quantity}"


def _clash(clash: Clash, title: str) -> str:
    """A clash and its fix, naming the items (and the Inventory row, where one is involved)."""
    first = clash.items[0]
    if clash.row is not None:
        return (
            f'{_item(first)} has SKU "{first.sku}", which differs from "{clash.row_sku}" in '
            f"{INVENTORY_SHEET} row {clash.row}, column SKU, only by case or spaces: make the two the same "
            f"(on {title} or in the sheet), or clearly different"
        )
    skus = sorted({item.sku for item in clash.items})
    named = "; ".join(_item(item) for item in clash.items)
    if len(skus) == 1:
        return f'SKU "{skus[0]}" is on {len(clash.items)} items ({named}): give each its own SKU on {title}'
    listed = ", ".join(f'"{sku}"' for sku in skus)
    return (
        f"SKUs {listed} differ only by case or spaces ({named}): give each a clearly different SKU on {title}"
    )
