"""Sales channels: where buffered quantities are published and orders come from."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

from sheetsync.errors import PermanentError
from sheetsync.model import (
    CatalogueItem,
    ChannelLimits,
    ChannelName,
    OrderBatch,
    PriceLevel,
    PushOutcome,
    Sku,
    StockLevel,
)
from sheetsync.pacing import Allowance


class Channel(Protocol):
    """Anything we publish quantities to."""

    name: ChannelName
    limits: ChannelLimits

    def push(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        """Set absolute quantities; at most ``limits.max_batch`` levels per call.

        Returns one outcome per level. Raises TransientError or PermanentError when the call
        as a whole fails.
        """
        ...

    def read_levels(self, skus: Collection[Sku]) -> Mapping[Sku, int]:
        """What the channel shows buyers now, for the SKUs it lists (unknown SKUs are absent)."""
        ...


@runtime_checkable
class OrderSource(Protocol):
    """A channel with checkout: its orders are ingested into the ledger (the worker checks for it)."""

    def orders_since(self, cursor: str | None) -> OrderBatch:
        """Order lines at or after ``cursor`` (None: from the start), oldest first.

        Cursors are strings that sort in time order; re-delivered lines are expected and are
        dropped by their ledger key.  The worker never asks a channel for its history: on a
        channel's first sync it records a start line instead (``core.ledger.start_cursor``,
        ``2026-03-01T10:00:00Z#00000000000000000000``, the form of Shopify's and WooCommerce's
        cursors) and later passes that as ``cursor``; lines of orders placed before it are
        dropped.  A channel whose cursors are not such times gets a start line without a cursor
        (None here) and is kept to its start by the lines' times alone.
        """
        ...


@runtime_checkable
class PriceChannel(Protocol):
    """A channel that takes prices (the worker checks for it); only changed prices are sent."""

    def push_prices(self, prices: Sequence[PriceLevel]) -> Sequence[PushOutcome]:
        """Set prices; at most ``limits.max_batch`` per call (the adapter may need several requests).

        Returns one outcome per price; an unknown SKU is a refusal of that price only.  Raises
        TransientError or PermanentError when the call as a whole fails.
        """
        ...


@runtime_checkable
class QuickPush(Protocol):
    """A channel whose batch path is slow or scarce, with a per-item path for a sale's few SKUs.

    The sale fast path uses it where a channel has it: Meta's ``items_batch`` is processed
    minutes later and allows 200 calls an hour, so a sale there goes item by item instead.
    """

    def push_now(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        """Set a few quantities at once, without waiting for any asynchronous processing.

        Returns one outcome per level, like ``Channel.push``; raises TransientError or
        PermanentError when the call as a whole fails.
        """
        ...


@runtime_checkable
class Metered(Protocol):
    """A channel that counts what it spends of its platform's quotas (the worker checks for it).

    The worker adds each cycle's spending to the month's count in the State and the channel's
    Status row says where the month is heading (``sheetsync.pacing.pace``).
    """

    def allowances(self) -> Sequence[Allowance]:
        """The quotas the spending counts against, as known now (a plan's rate may come with an answer)."""
        ...

    def take_spent(self) -> Mapping[str, int]:
        """Units spent since the last call, by ``Allowance.name``; the count starts again at 0."""
        ...


@runtime_checkable
class CatalogueSource(Protocol):
    """A channel that can list what it sells, for ``sheetsync import`` (the CLI checks for it)."""

    def catalogue_size(self) -> int | None:
        """About how many items ``catalogue`` yields, for progress; None when it cannot say cheaply."""
        ...

    def catalogue(self) -> Iterator[CatalogueItem]:
        """Every sellable product or variant, page by page as they are read.

        A variable product's variants are items, never the product that holds them.  Raises
        TransientError or PermanentError when a page cannot be read.
        """
        ...

    def close(self) -> None:
        """Let go of the HTTP client the channel made (an import opens the channel for one read)."""
        ...


def refuse_oversized(name: ChannelName, limits: ChannelLimits, count: int, what: str = "items") -> None:
    """Refuse a call carrying more than the channel's batch limit (a caller's bug, never retried).

    Raises:
        PermanentError: ``count`` is over ``limits.max_batch``.
    """
    if count > limits.max_batch:
        raise PermanentError(f"{name}: {count} {what} in one push; the limit is {limits.max_batch}")
