"""Shopify over the Admin GraphQL API: quantities out, order lines in, webhook helpers.

Everything goes through one ``POST https://{shop}/admin/api/{version}/graphql.json`` with the
``X-Shopify-Access-Token`` header (https://shopify.dev/docs/api/admin-graphql); the documents
are the constants below. What the adapter guarantees:

- **Mapping.** SKU → inventory item through ``productVariants`` searches (``sku:"A" OR sku:"B"``,
  paged), cached in :attr:`ShopifyChannel.known_items` and looked up again when a SKU is missing.
  A SKU Shopify does not have, has twice, or has on a bundle parent is refused in its own
  outcome; the rest of the batch goes on.
- **Compare-and-set.** Every quantity carries ``changeFromQuantity``: the level's ``expected``
  or, when that is None, what Shopify showed in a read made by the same push. A stale row is
  never overwritten; it comes back as ``DRIFT: Shopify shows N, we expected M``.
- **All or nothing, per row.** ``inventorySetQuantities`` applies a call whole or not at all, so
  the rows Shopify refuses are taken out and the rest sent again: one bad SKU never fails the
  others.
- **Idempotency.** Each call carries ``@idempotent(key:)``, a fresh uuid per batch reused by
  every retry of that same batch: a retry after a lost answer cannot apply twice, while a later
  push of the same numbers is a new batch and applies.
- **Cost.** Requests are paced on the ``throttleStatus`` Shopify returns, so ``THROTTLED`` stays
  rare; when it happens the wait it implies is honoured through :mod:`sheetsync.retry`.
- **Prices.** ``push_prices`` sets each variant's ``price`` with ``productVariantsBulkUpdate``,
  one call per product (the mutation takes one product's variants: its schema), after
  checking the shop's currency (``shop { currencyCode }``, read once): a price in another
  currency is refused, never pushed as a wrong amount. A call applies whole or not at all, so
  refused variants are taken out and the rest sent again, as for quantities.
- **Orders.** ``orders_since`` reads orders by ``updated_at`` with an overlap window and turns
  sales and restocking refunds (a cancellation is one) into order lines with stable ids, and
  each order read into an :class:`~sheetsync.model.OrderState`: per line item, the units it
  takes after order edits (``currentQuantity`` plus the units refunded, since refunds are
  their own lines). An edit bumps ``updatedAt``, so an edited order is read again. A line whose
  quantity is not a whole number of at least 1 is an :class:`~sheetsync.model.OddLine`, never
  dropped. :func:`webhook_batch` gives the same lines (no states) from a webhook's REST payload.

The access token is only ever put in the request header: messages, logs and exceptions name the
shop.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from sheetsync import retry
from sheetsync.channels import _http, refuse_oversized
from sheetsync.errors import PermanentError, TransientError
from sheetsync.model import (
    CatalogueItem,
    ChannelLimits,
    ChannelName,
    Movement,
    OddLine,
    OrderBatch,
    OrderLine,
    OrderState,
    PriceLevel,
    PushOutcome,
    Sku,
    StockLevel,
)
from sheetsync.pacing import Allowance, Spending

logger = logging.getLogger(__name__)

Json = Any  # a decoded JSON value; shapes are checked where they are read
_Keyed = TypeVar("_Keyed", OrderLine, OddLine)

DEFAULT_API_VERSION = "2026-10"
#: Rows per inventorySetQuantities call: any input list is capped at 250 (https://shopify.dev/docs/api/usage/limits).
MAX_SET_ITEMS = 250
#: The most one query may cost, in points (https://shopify.dev/docs/api/usage/rate-limits).
MAX_QUERY_COST = 1000
#: SKUs per productVariants search: as many as one query may cost. A variant read with its level
#: requests 4 points (the variant, its item, the level, the quantities) and the connection 2, so
#: 249 variants fit under the 1,000-point cap (and the 250-node page, API limits); the query string
#: (``sku:A OR sku:B …``, about 5 KB for 249 SKUs) carries no documented length cap. A full audit
#: of 10,000 SKUs is 41 searches, not the 100 a page of 100 took.
SEARCH_BATCH = (MAX_QUERY_COST - 2) // 4
#: Points a second the shop's bucket refills until Shopify says (its ``restoreRate``): the
#: Standard plan's 100 (https://shopify.dev/docs/api/usage/rate-limits).
STANDARD_RESTORE_RATE = 100.0
#: Points one SKU's level read asks for (above): SKUs a second the bucket allows is its rate / 4.
POINTS_PER_READ_SKU = 4
#: What a request is expected to cost before Shopify has said (pacing its first call, which
#: would otherwise meet THROTTLED when an audit has drained the bucket): a set with the lean
#: selection about 10 points (https://shopify.dev/docs/api/usage/rate-limits), a variant search
#: 2 + 4 per variant (above).
_FIRST_COST: dict[str, Callable[[int], int]] = {
    "SheetsyncSetQuantities": lambda _size: 10,
    "SheetsyncVariants": lambda size: 2 + 4 * size,
    # 10 for a mutation with its payload (rate limits, above), 1 of margin: how Shopify counts the
    # returned list of variants is unrecorded.
    "SheetsyncPrices": lambda _size: 11,
    "SheetsyncShop": lambda _size: 1,
    "SheetsyncCatalogue": lambda size: 2 + 5 * size,
    "SheetsyncVariantCount": lambda _size: 1,
}
#: Variants per productVariantsBulkUpdate call: any input list is capped at 250 (https://shopify.dev/docs/api/usage/limits).
MAX_PRICE_VARIANTS = 250
#: Orders per page: with the nested pages below a page stays under the 1,000-point cap (above).
ORDERS_PAGE = 10
#: Line items and refund lines read per order in the paged query; a bigger order is read alone.
ORDER_LINES_PAGE = 25
#: Line items read when an order is re-read alone (a connection page is at most 250, API limits).
SINGLE_ORDER_LINES = 250
#: How far before the cursor orders are read again: Shopify's search index lags
#: (https://shopify.dev/docs/api/admin-graphql/latest/queries/orders).
ORDERS_OVERLAP = timedelta(minutes=5)
#: Reason recorded in Shopify's inventory history for our sets (https://shopify.dev/docs/api/admin-graphql/latest/mutations/inventorySetQuantities).
SET_REASON = "correction"
#: Extra wait after a computed throttle wait: Shopify reports the bucket in whole points.
_THROTTLE_MARGIN_S = 0.05
#: Restock types that put units back into stock (https://shopify.dev/docs/api/admin-graphql/latest/enums/RefundLineItemRestockType).
RESTOCKING = frozenset({"CANCEL", "RETURN", "LEGACY_RESTOCK"})
#: Webhook topics whose payload is an order (the other topics carry no order lines; https://shopify.dev/docs/apps/build/webhooks).
ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/cancelled"})
REFUND_TOPIC = "refunds/create"

#: Whole-call userErrors worth another cycle rather than a permanent failure (https://shopify.dev/docs/api/usage/idempotent-requests).
_RETRY_LATER = frozenset({"IDEMPOTENCY_CONCURRENT_REQUEST", "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED"})
#: GraphQL error codes of a 200 answer that mean Shopify itself failed: retried like a 5xx.
_SERVER_CODES = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"})
#: The $location of a variant search that reads no level (the variable is non-null, never used).
_NO_LOCATION = "gid://shopify/Location/0"
#: productVariantsBulkUpdate codes that mean our cached product/variant ids are out of date.
_STALE_VARIANT = frozenset(
    {"PRODUCT_DOES_NOT_EXIST", "PRODUCT_VARIANT_DOES_NOT_EXIST", "MUST_BE_FOR_THIS_PRODUCT"}
)

#: The access scopes the adapter's calls need: productVariants (read_products), levels
#: (read_inventory), inventorySetQuantities (write_inventory), orders (read_orders), and a
#: location looked up by name (read_locations: Location fields other than id need it since 2024-07,
#: https://shopify.dev/changelog/the-location-object-requires-read_locations-scope).
NEEDED_SCOPES = ("read_products", "read_inventory", "write_inventory", "read_orders", "read_locations")
#: Needed too when prices are pushed: productVariantsBulkUpdate.
PRICE_SCOPES = ("write_products",)

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_ID_WIDTH = 20  #: order ids are zero-padded in cursors so that they sort as numbers

# --- documents ------------------------------------------------------------------------------------

LOCATIONS_QUERY = """
query SheetsyncLocations($after: String) {
  locations(first: 50, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id name }
  }
}
"""

# ``product { id }`` only for prices: it adds a point per variant, and a variant with its level
# (4 points) and its product would no longer fit SEARCH_BATCH under the 1,000-point cap.
VARIANTS_QUERY = """
query SheetsyncVariants(
  $query: String!, $first: Int!, $after: String, $location: ID!, $withLevel: Boolean!,
  $withProduct: Boolean!
) {
  productVariants(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      sku
      requiresComponents
      product @include(if: $withProduct) { id }
      inventoryItem {
        id
        inventoryLevel(locationId: $location) @include(if: $withLevel) {
          quantities(names: ["available"]) { name quantity }
        }
      }
    }
  }
}
"""

#: Variants per page of the catalogue: a variant with its product, item, level and quantities
#: requests 5 points and the connection 2, so 199 fit under the 1,000-point cap (as SEARCH_BATCH).
CATALOGUE_PAGE = (MAX_QUERY_COST - 2) // 5
#: The title Shopify gives the one variant of a product without options (not a variant's name).
DEFAULT_VARIANT_TITLE = "Default Title"

CATALOGUE_QUERY = """
query SheetsyncCatalogue($first: Int!, $after: String, $location: ID!) {
  productVariants(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      sku
      title
      requiresComponents
      product { title }
      inventoryItem {
        tracked
        inventoryLevel(locationId: $location) {
          quantities(names: ["available"]) { name quantity }
        }
      }
    }
  }
}
"""

VARIANT_COUNT_QUERY = """
query SheetsyncVariantCount {
  productVariantsCount { count precision }
}
"""

# Only the group id and userErrors: everything selected in the payload adds to the requested
# cost, and the quantities are known already (https://shopify.dev/docs/api/usage/rate-limits).
SET_QUANTITIES_MUTATION = """
mutation SheetsyncSetQuantities($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}
"""

#: What ``sheetsync doctor`` asks: the app's scopes and its webhook subscriptions (100 is plenty
#: for one app; a page costs 2 + 100 points, well under the 1,000-point cap).
SETUP_QUERY = """
query SheetsyncSetup {
  currentAppInstallation { accessScopes { handle } }
  webhookSubscriptions(first: 100) { nodes { topic uri } }
}
"""

SHOP_QUERY = """
query SheetsyncShop {
  shop { currencyCode }
}
"""

# Setting a price is idempotent by nature (the same price twice is the same state), so unlike the
# inventory mutations it takes no @idempotent key.
PRICES_MUTATION = """
mutation SheetsyncPrices($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants) {
    productVariants { id price }
    userErrors { field message code }
  }
}
"""

_ORDER_FIELDS = """
      id createdAt updatedAt
      lineItems(first: LINES) { pageInfo { hasNextPage } nodes { id sku quantity currentQuantity } }
      refunds {
        id createdAt
        refundLineItems(first: LINES) {
          pageInfo { hasNextPage }
          nodes { quantity restockType lineItem { id sku } }
        }
      }
"""

ORDERS_QUERY = """
query SheetsyncOrders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes {ORDER    }
  }
}
""".replace("ORDER", _ORDER_FIELDS.replace("LINES", str(ORDER_LINES_PAGE)))

ORDER_QUERY = """
query SheetsyncOrder($id: ID!) {
  order(id: $id) {ORDER  }
}
""".replace("ORDER", _ORDER_FIELDS.replace("LINES", str(SINGLE_ORDER_LINES)))


# --- webhooks (pure) ------------------------------------------------------------------------------


def verify_webhook(body: bytes, hmac_header: str | None, secret: str) -> bool:
    """Whether ``hmac_header`` is Shopify's signature of the raw ``body`` with the app ``secret``.

    The signature is base64(HMAC-SHA256(body, secret))
    (https://shopify.dev/docs/apps/build/webhooks/verify-deliveries). It is checked over the
    bytes as received, never re-serialised JSON, and compared in constant time. A missing,
    empty or undecodable header is False. After a secret rotation, call it with each secret.
    """
    if not hmac_header:
        return False
    try:
        presented = base64.b64decode(hmac_header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(presented, expected)


def webhook_batch(topic: str, payload: Mapping[str, Json], *, channel: ChannelName) -> OrderBatch:
    """The order lines a webhook carries, with the ids :meth:`ShopifyChannel.orders_since` gives.

    ``orders/create``, ``orders/updated`` and ``orders/cancelled`` carry the whole order (sales
    and restocking refunds); ``refunds/create`` carries one refund. A line whose quantity is not
    a whole number of at least 1 (``0``, ``1.5``, ``"1.5"``) is in ``odd``, not in ``lines``.
    ``states`` stay empty: a webhook may be older than what the poll has read. The cursors are
    empty on purpose: a webhook can arrive ahead of orders the poll has not read yet, and the
    ledger derives the poll's cursor from the entries it holds, so webhook lines must never
    move it (polling stays the source of truth: delivery is not guaranteed, https://shopify.dev/docs/apps/build/webhooks).

    Raises:
        ValueError: a topic that carries no order lines, or a payload with a garbled time.
        KeyError: a payload missing its ids or times.
    """
    if topic in ORDER_TOPICS:
        order = _rest_order(payload)
    elif topic == REFUND_TOPIC:
        order = _Order(str(payload["order_id"]), None, None, (), (_rest_refund(payload),))
    else:
        raise ValueError(f"Shopify webhook topic {topic!r} carries no order lines")
    lines, odd = _lines(channel, order, cursor="")
    return OrderBatch(tuple(lines), odd=tuple(odd))


def webhook_lines(topic: str, payload: Mapping[str, Json], *, channel: ChannelName) -> list[OrderLine]:
    """The countable lines of :func:`webhook_batch` (its odd lines are left out)."""
    return list(webhook_batch(topic, payload, channel=channel).lines)


def webhook_skus(topic: str, payload: Mapping[str, Json]) -> set[Sku]:
    """The SKUs whose stock a webhook says moved: the ones worth a cycle soon."""
    return {line.sku for line in webhook_lines(topic, payload, channel=ChannelName(""))}


# --- orders as plain data (pure) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    """A line item, or a refund's line: legacy numeric line item id."""

    line_id: str
    sku: str
    quantity: int | None  #: None when not a whole number of at least 1 (see ``sent``)
    sent: str  #: the quantity as Shopify sent it
    current: int | None = None  #: a line item's currentQuantity; None in REST payloads
    restock_type: str = ""  #: a refund line's RefundLineItemRestockType


@dataclass(frozen=True, slots=True)
class _Refund:
    refund_id: str
    at: datetime
    lines: tuple[_Line, ...]


@dataclass(frozen=True, slots=True)
class _Order:
    """An order as both the GraphQL and the REST shape describe it: legacy numeric ids."""

    order_id: str
    created_at: datetime | None
    updated_at: datetime | None
    lines: tuple[_Line, ...]  #: quantity is the quantity ordered, before edits and refunds
    refunds: tuple[_Refund, ...]


def _number(gid_or_id: Json) -> str:
    """The legacy numeric id of ``gid://shopify/Order/123`` or ``123``: the same in REST and GraphQL."""
    return str(gid_or_id).rsplit("/", 1)[-1].partition("?")[0]


def _time(text: str) -> datetime:
    """A Shopify timestamp (``…Z`` in GraphQL, the shop's offset in REST) as UTC."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _line(line_id: Json, sku: Json, quantity: Json, **extra: Any) -> _Line:
    whole = _http.whole_number(quantity)
    counted = whole if whole is not None and whole >= 1 else None  # a line sells at least 1
    return _Line(_number(line_id), sku or "", counted, _http.as_sent(quantity), **extra)


def _graphql_order(node: Mapping[str, Json]) -> _Order:
    refunds = tuple(
        _Refund(
            _number(refund["id"]),
            _time(refund["createdAt"]),
            tuple(
                _line(
                    line["lineItem"]["id"],
                    line["lineItem"]["sku"],
                    line["quantity"],
                    restock_type=str(line["restockType"]),
                )
                for line in refund["refundLineItems"]["nodes"]
            ),
        )
        for refund in node["refunds"]
    )
    return _Order(
        _number(node["id"]),
        _time(node["createdAt"]),
        _time(node["updatedAt"]),
        tuple(
            _line(line["id"], line["sku"], line["quantity"], current=int(line["currentQuantity"]))
            for line in node["lineItems"]["nodes"]
        ),
        refunds,
    )


def _rest_refund(refund: Mapping[str, Json]) -> _Refund:
    return _Refund(
        _number(refund["id"]),
        _time(refund["created_at"]),
        tuple(
            _line(
                line["line_item_id"],
                (line.get("line_item") or {}).get("sku"),
                line.get("quantity"),
                restock_type=str(line.get("restock_type") or "no_restock").upper(),
            )
            for line in refund.get("refund_line_items") or ()
        ),
    )


def _rest_order(payload: Mapping[str, Json]) -> _Order:
    # current_quantity is left out: webhooks carry no states (see webhook_batch).
    return _Order(
        _number(payload["id"]),
        _time(payload["created_at"]),
        _time(payload["updated_at"]) if payload.get("updated_at") else None,
        tuple(
            _line(line["id"], line.get("sku"), line.get("quantity"))
            for line in payload.get("line_items") or ()
        ),
        tuple(_rest_refund(refund) for refund in payload.get("refunds") or ()),
    )


def order_cursor(updated_at: datetime, order_id: str) -> str:
    """A cursor that sorts in time order, ties broken by order id: ``2026-03-01T10:00:00Z#000…123``."""
    return f"{updated_at.astimezone(UTC).strftime(_TIME_FORMAT)}#{order_id.zfill(_ID_WIDTH)}"


def _cursor_time(cursor: str) -> datetime:
    try:
        return _time(cursor.partition("#")[0])
    except ValueError:
        raise PermanentError(
            f"Shopify order cursor {cursor!r} is not a time like 2026-03-01T10:00:00Z"
        ) from None


def _lines(channel: ChannelName, order: _Order, cursor: str) -> tuple[list[OrderLine], list[OddLine]]:
    """Sales, then one restock per (refund, line item) that put units back; and the odd lines.

    Ids: a sale is the line item's id; a restock is ``<line item>-refund-<refund>``. Both are
    Shopify's own ids, so a re-read, a webhook and a poll agree. A sale keeps the quantity
    ordered (edits come through the order's state). Lines without a SKU skip; a line whose
    quantity is not a whole number of at least 1 is odd, with the same id.
    """
    lines: list[OrderLine] = []
    odd: list[OddLine] = []
    if order.created_at is not None:
        for line in order.lines:
            if not line.sku:
                continue
            if line.quantity is None:
                odd.append(
                    OddLine(
                        channel,
                        order.order_id,
                        line.line_id,
                        Sku(line.sku),
                        line.sent,
                        order.created_at,
                        cursor,
                    )
                )
            else:
                lines.append(
                    OrderLine(
                        channel,
                        order.order_id,
                        line.line_id,
                        Sku(line.sku),
                        line.quantity,
                        Movement.SALE,
                        order.created_at,
                        cursor,
                    )
                )
    for refund in order.refunds:
        restocked: dict[tuple[str, str], list[_Line]] = {}
        for part in refund.lines:
            if part.sku and part.restock_type in RESTOCKING:
                restocked.setdefault((part.line_id, part.sku), []).append(part)
        for (line_id, sku), parts in restocked.items():
            restock_id = f"{line_id}-refund-{refund.refund_id}"
            counted = [part.quantity for part in parts if part.quantity is not None]
            if len(counted) < len(parts):
                # One odd part makes the whole restock unknown: it is settled by hand, not guessed.
                sent = "+".join(part.sent for part in parts)
                odd.append(OddLine(channel, order.order_id, restock_id, Sku(sku), sent, refund.at, cursor))
                continue
            lines.append(
                OrderLine(
                    channel,
                    order.order_id,
                    restock_id,
                    Sku(sku),
                    sum(counted),
                    Movement.RESTOCK,
                    refund.at,
                    cursor,
                )
            )
    return lines, odd


def _state(channel: ChannelName, order: _Order, cursor: str) -> OrderState:
    """Per line item, the units it takes after edits, before refunds' restocks.

    ``currentQuantity`` leaves out the units edits removed and the units refunded (whatever the
    restock type), so the refunded units are added back: a restocking refund is its own RESTOCK
    line, and a refund without restock puts nothing back, so those units stay taken.
    """
    # Both are non-null in GraphQL; a REST order (a webhook) has no state to give.
    if order.updated_at is None or any(line.current is None for line in order.lines):
        raise PermanentError(f"Shopify order {order.order_id} came without its current quantities")
    refunded: dict[str, int] = {}
    for refund in order.refunds:
        for part in refund.lines:
            refunded[part.line_id] = refunded.get(part.line_id, 0) + (part.quantity or 0)
    units: dict[str, int] = {}
    for line in order.lines:
        units[line.line_id] = (line.current or 0) + refunded.get(line.line_id, 0)
    return OrderState(channel, order.order_id, units, order.updated_at, cursor)


# --- the wire -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Bucket:
    """Shopify's last word on our cost bucket, and when we heard it (on the injected clock)."""

    available: float
    maximum: float
    rate: float
    at: float

    def now(self, clock: float) -> float:
        return min(self.maximum, self.available + max(0.0, clock - self.at) * self.rate)


@dataclass(frozen=True, slots=True)
class _Item:
    """What a SKU search says about one SKU."""

    item_id: str | None  #: None when Shopify has no variant, or more than one, with this SKU
    hits: int
    bundle: bool
    available: int | None  #: at our location; None when not read or not stocked there


def _search(skus: Iterable[str]) -> str:
    """``sku:"A" OR sku:"B"``; quoting keeps SKUs with spaces or colons one term."""
    return " OR ".join('sku:"{}"'.format(sku.replace("\\", "\\\\").replace('"', '\\"')) for sku in skus)


def _row_index(field: Json, prefix: Sequence[str] = ("input", "quantities")) -> int | None:
    """The input row a userError's ``field`` path points at (``[*prefix, "3", …]``), if any."""
    size = len(prefix)
    if isinstance(field, list) and len(field) > size and field[:size] == list(prefix):
        try:
            return int(field[size])
        except (TypeError, ValueError):
            return None
    return None


class ShopifyChannel:
    """One Shopify shop and location, as a :class:`~sheetsync.channels.Channel` and an OrderSource.

    Args:
        name: the channel's name in the sheet and the ledger.
        shop: ``my-store`` or ``my-store.myshopify.com``.
        token: the Admin API access token; it is only ever sent, never shown.
        location: the location's name (resolved once) or its ``gid://shopify/Location/…`` id.
        base_url: where the API is, instead of ``https://{shop}`` (a fake on loopback).
        client: an httpx client to send with (its transport, timeouts, pool); else one is made
            with ``transport``. The adapter closes only a client it made.
        sleep: how to wait (pacing, retries); tests pass one that moves a fake clock.
        clock: seconds on a monotonic clock, for pacing; tests pass the fake's clock.

    Attributes:
        known_items: SKU → inventory item id for every SKU seen to be settable; plain data the
            worker may persist and hand back.
        known_variants: SKU → (product id, variant id) for every SKU seen on exactly one variant,
            for prices; filled by the searches prices make, plain data like ``known_items``.
    """

    def __init__(
        self,
        name: ChannelName,
        *,
        shop: str,
        token: str,
        location: str,
        api_version: str = DEFAULT_API_VERSION,
        base_url: str | None = None,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        known_items: Mapping[str, str] | None = None,
        known_variants: Mapping[str, tuple[str, str]] | None = None,
        overlap: timedelta = ORDERS_OVERLAP,
    ) -> None:
        self.name = name
        self.limits = ChannelLimits(
            max_batch=MAX_SET_ITEMS, read_skus_per_s=STANDARD_RESTORE_RATE / POINTS_PER_READ_SKU
        )
        self.shop = shop if "." in shop else f"{shop}.myshopify.com"
        self.known_items: dict[Sku, str] = {Sku(k): v for k, v in (known_items or {}).items()}
        self.known_variants: dict[Sku, tuple[str, str]] = {
            Sku(k): (v[0], v[1]) for k, v in (known_variants or {}).items()
        }
        self._currency: str | None = None  # the shop's currencyCode, read on the first price push
        self._token = token
        self._location = location
        self._location_id: str | None = location if location.startswith("gid://shopify/Location/") else None
        self._path = f"/admin/api/{api_version}/graphql.json"
        self._url = (base_url or f"https://{self.shop}").rstrip("/") + self._path
        self._owns_client = client is None
        self._client = client or httpx.Client(transport=transport, timeout=httpx.Timeout(30.0, connect=10.0))
        self._sleep = sleep
        self._clock = clock
        self._overlap = overlap
        self._bucket: _Bucket | None = None
        self._costs: dict[tuple[str, int], int] = {}  # (operation, page size) → requested cost
        self._spending = Spending()  # cost points, as each answer says it cost
        # line key → (line cursor, cursor of the first call that delivered it); see orders_since
        self._delivered: dict[str, tuple[str, str]] = {}

    def close(self) -> None:
        """Close the HTTP client if this adapter made it."""
        if self._owns_client:
            self._client.close()

    # -- Metered --

    def allowances(self) -> Sequence[Allowance]:
        """The shop's cost points: its plan's restore rate, once an answer has said it."""
        if self._bucket is None or self._bucket.rate <= 0:
            return ()
        rate = self._bucket.rate
        return (Allowance("points", "cost points", rate, f"{rate:,.0f} a second, the shop's plan"),)

    def take_spent(self) -> Mapping[str, int]:
        """Cost points spent since the last call (each answer's ``actualQueryCost``)."""
        return self._spending.take()

    # -- Channel --

    def push(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        """Set ``available`` at the location for each level, compare-and-set; one outcome per level.

        Raises:
            PermanentError: more than ``limits.max_batch`` levels, bad credentials, an unknown
                location, or Shopify refusing the call as a whole.
            TransientError: Shopify unreachable, failing or throttling after every retry.
        """
        refuse_oversized(self.name, self.limits, len(levels))
        if not levels:
            return []
        location = self.location_id()
        unread = [lv.sku for lv in levels if lv.expected is None]
        seen = self._lookup(unread, with_level=True)
        seen |= self._lookup(
            [lv.sku for lv in levels if lv.sku not in self.known_items and lv.sku not in seen]
        )
        outcomes: dict[int, PushOutcome] = {}
        rows: list[tuple[int, Json]] = []
        for index, level in enumerate(levels):
            refusal = self._refusal(level.sku, seen.get(level.sku))
            if refusal:
                outcomes[index] = PushOutcome(level.sku, False, refusal)
                continue
            current = level.expected
            if current is None:
                found = seen[level.sku]
                # Not stocked at the location yet: Shopify counts it as 0 and stocks it on the set.
                current = found.available if found.available is not None else 0
            rows.append(
                (
                    index,
                    {
                        "inventoryItemId": self.known_items[level.sku],
                        "locationId": location,
                        "quantity": level.quantity,
                        "changeFromQuantity": current,
                    },
                )
            )
        drift = self._set(levels, rows, outcomes)
        if drift:
            shown = self._lookup([levels[i].sku for i in drift], with_level=True)
            for index, believed in drift.items():
                after = shown.get(levels[index].sku)
                now = after.available if after and after.available is not None else "a different number"
                outcomes[index] = PushOutcome(
                    levels[index].sku,
                    False,
                    f"DRIFT: Shopify shows {now}, we expected {believed}; not overwritten",
                )
        result = [outcomes[i] for i in range(len(levels))]
        logger.info(
            "%s: set %d of %d quantities (%d drifted)",
            self.name,
            sum(o.ok for o in result),
            len(result),
            len(drift),
        )
        return result

    # -- PriceChannel --

    def push_prices(self, prices: Sequence[PriceLevel]) -> Sequence[PushOutcome]:
        """Set each SKU's variant price, one productVariantsBulkUpdate per product; one outcome each.

        A price in a currency other than the shop's, a SKU Shopify lacks or has on several
        variants, and a variant Shopify refuses are refused alone; the rest apply.

        Raises:
            PermanentError: more than ``limits.max_batch`` prices, bad credentials, or Shopify
                refusing a request as a whole.
            TransientError: Shopify unreachable, failing or throttling after every retry.
        """
        refuse_oversized(self.name, self.limits, len(prices), "prices")
        if not prices:
            return []
        currency = self.currency()
        outcomes: dict[int, PushOutcome] = {}
        wanted: list[int] = []
        for index, price in enumerate(prices):
            if price.currency.upper() != currency:
                outcomes[index] = PushOutcome(
                    price.sku,
                    False,
                    f"price in {price.currency.upper()} but Shopify shop {self.shop} sells in "
                    f"{currency}; not pushed",
                )
            else:
                wanted.append(index)
        seen = self._lookup(
            [prices[i].sku for i in wanted if prices[i].sku not in self.known_variants], with_product=True
        )
        # product id → variant id → the indices of the prices for it (a SKU twice: the last wins)
        groups: dict[str, dict[str, list[int]]] = {}
        for index in wanted:
            sku = prices[index].sku
            found = seen.get(sku)
            if found is not None and found.hits > 1:
                outcomes[index] = PushOutcome(
                    sku, False, f"SKU {sku} is on {found.hits} variants in Shopify; make it unique to sync it"
                )
            elif sku not in self.known_variants:
                outcomes[index] = PushOutcome(sku, False, f"SKU {sku} not found in Shopify")
            else:
                product, variant = self.known_variants[sku]
                groups.setdefault(product, {}).setdefault(variant, []).append(index)
        for product, variants in groups.items():
            rows = [
                (indices, {"id": variant, "price": prices[indices[-1]].text})
                for variant, indices in variants.items()
            ]
            for start in range(0, len(rows), MAX_PRICE_VARIANTS):
                self._set_prices(prices, product, rows[start : start + MAX_PRICE_VARIANTS], outcomes)
        result = [outcomes[i] for i in range(len(prices))]
        logger.info("%s: set %d of %d prices", self.name, sum(o.ok for o in result), len(result))
        return result

    def currency(self) -> str:
        """The shop's currency (``shop.currencyCode``), read once: every variant price is in it."""
        if self._currency is None:
            self._currency = str(self._call(SHOP_QUERY, {}, "SheetsyncShop")["shop"]["currencyCode"])
        return self._currency

    def _set_prices(
        self,
        prices: Sequence[PriceLevel],
        product: str,
        rows: list[tuple[list[int], Json]],
        outcomes: dict[int, PushOutcome],
    ) -> None:
        """Send one product's rows until Shopify takes what is left (a call applies all or none)."""
        pending = rows
        while pending:
            variables = {"productId": product, "variants": [row for _, row in pending]}
            payload = self._call(PRICES_MUTATION, variables, "SheetsyncPrices", size=len(pending))
            errors = payload["productVariantsBulkUpdate"]["userErrors"]
            if not errors:
                for indices, _ in pending:
                    outcomes.update((i, PushOutcome(prices[i].sku, True)) for i in indices)
                return
            refused: set[int] = set()
            for error in errors:
                code, text = error.get("code"), error.get("message")
                position = _row_index(error.get("field"), ("variants",))
                if position is None or not 0 <= position < len(pending):
                    # Not about one variant (the product is gone, say): none of its rows can apply.
                    for indices, _ in pending:
                        self._refuse_price(prices, indices, code, text, outcomes)
                    return
                refused.add(position)
                self._refuse_price(prices, pending[position][0], code, text, outcomes)
            pending = [entry for position, entry in enumerate(pending) if position not in refused]

    def _refuse_price(
        self,
        prices: Sequence[PriceLevel],
        indices: Sequence[int],
        code: Json,
        text: Json,
        outcomes: dict[int, PushOutcome],
    ) -> None:
        for index in indices:
            sku = prices[index].sku
            if code in _STALE_VARIANT:
                self.known_variants.pop(sku, None)  # deleted or moved meanwhile: look it up next time
                message = f"SKU {sku} not found in Shopify (its variant is gone)"
            else:
                message = f"Shopify refused the price of SKU {sku}: {code}: {text}"
            outcomes[index] = PushOutcome(sku, False, message)

    def read_levels(self, skus: Collection[Sku]) -> Mapping[Sku, int]:
        """``available`` at the location now; SKUs Shopify lacks, or does not stock there, are absent."""
        seen = self._lookup(list(skus), with_level=True)
        return {
            sku: found.available
            for sku, found in seen.items()
            if found.item_id is not None and not found.bundle and found.available is not None
        }

    def map_skus(self, skus: Collection[Sku]) -> Mapping[Sku, str]:
        """Look up every SKU not in :attr:`known_items` yet (a warm-up); returns the cache."""
        self._lookup([sku for sku in skus if sku not in self.known_items])
        return self.known_items

    def location_id(self) -> str:
        """The configured location's id, resolved by name on first use.

        Raises:
            PermanentError: the shop has no location of that name.
        """
        if self._location_id is None:
            names: dict[str, str] = {}
            after = None
            while True:
                page = self._call(LOCATIONS_QUERY, {"after": after}, "SheetsyncLocations")["locations"]
                names.update((node["name"], node["id"]) for node in page["nodes"])
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
            if self._location not in names:
                raise PermanentError(
                    f"Shopify shop {self.shop} has no location named {self._location!r}; "
                    f"it has {', '.join(sorted(names)) or 'none'}"
                )
            self._location_id = names[self._location]
        return self._location_id

    def installation(self) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
        """The app's access scopes and its webhook subscriptions, as (topic, address), in one call.

        Topics are spelled as in the webhook headers (``orders/create``). Only the app's own
        subscriptions are listed: one made under the admin's Settings > Notifications is not.
        """
        data = self._call(SETUP_QUERY, {}, "SheetsyncSetup")
        scopes = frozenset(str(scope["handle"]) for scope in data["currentAppInstallation"]["accessScopes"])
        hooks = tuple(
            (str(node["topic"]).lower().replace("_", "/", 1), str(node["uri"]))
            for node in data["webhookSubscriptions"]["nodes"]
        )
        return scopes, hooks

    # -- CatalogueSource --

    def catalogue_size(self) -> int | None:
        """How many variants the shop has (``productVariantsCount``: exact up to 10,000, else at least)."""
        return int(
            self._call(VARIANT_COUNT_QUERY, {}, "SheetsyncVariantCount")["productVariantsCount"]["count"]
        )

    def catalogue(self) -> Iterator[CatalogueItem]:
        """Every variant, 199 a page, with ``available`` at the location.

        The quantity is None for a variant whose stock is not tracked, or not stocked there.
        Bundle parents are left out: their stock follows their components (the Bundles tab's job).
        A product without options has one variant, titled "Default Title": its Variant is blank.
        """
        location = self.location_id()
        after = None
        while True:
            variables = {"first": CATALOGUE_PAGE, "after": after, "location": location}
            page = self._call(CATALOGUE_QUERY, variables, "SheetsyncCatalogue", size=CATALOGUE_PAGE)
            for node in page["productVariants"]["nodes"]:
                if node["requiresComponents"]:
                    continue
                item = node["inventoryItem"] or {}
                level = item.get("inventoryLevel") if item.get("tracked") else None
                quantities = {q["name"]: q["quantity"] for q in (level or {}).get("quantities", ())}
                title = str(node["title"] or "")
                yield CatalogueItem(
                    sku=str(node["sku"] or ""),
                    title=str(node["product"]["title"] or ""),
                    variant="" if title == DEFAULT_VARIANT_TITLE else title,
                    quantity=quantities.get("available"),
                    ref=f"variant {_number(node['id'])}",
                )
            info = page["productVariants"]["pageInfo"]
            if not info["hasNextPage"]:
                return
            after = info["endCursor"]

    # -- OrderSource --

    def orders_since(self, cursor: str | None) -> OrderBatch:
        """Order lines of orders updated at or after ``cursor`` minus the overlap, oldest first.

        With them, every order read as an OrderState (per line item, the units it takes after
        edits: ``currentQuantity`` plus the units refunded, whose restocks are their own lines),
        the overlap's orders included, and the lines that cannot be counted (``odd``).

        Shopify's search index lags, so orders updated shortly before the cursor are read again
        (https://shopify.dev/docs/api/admin-graphql/latest/queries/orders). A line from that
        overlap is returned unless this adapter already delivered it in a call whose cursor is
        older than ``cursor``: the cursor comes from the ledger, so its having moved past that
        call means the line was committed. A restarted worker forgets this and re-delivers the
        overlap once; the ledger drops repeats by key.
        """
        since = "" if cursor is None else cursor
        query = None
        if cursor is not None:
            start = _cursor_time(cursor) - self._overlap
            query = f"updated_at:>='{start.strftime(_TIME_FORMAT)}'"
        lines: list[OrderLine] = []
        odd: list[OddLine] = []
        states: dict[str, OrderState] = {}
        after = None
        while True:
            variables = {"first": ORDERS_PAGE, "after": after, "query": query}
            page = self._call(ORDERS_QUERY, variables, "SheetsyncOrders", size=ORDERS_PAGE)["orders"]
            for node in page["nodes"]:
                order, at = self._read_order(node)
                found, odd_found = _lines(self.name, order, at)
                lines += found
                odd += odd_found
                state = _state(self.name, order, at)
                held = states.get(order.order_id)
                # An order updated between two pages is read twice: its newer state wins.
                if held is None or held.cursor <= state.cursor:
                    states[order.order_id] = state
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        fresh = self._fresh(lines, lambda line: line.key, since)
        fresh_odd = self._fresh(odd, lambda line: f"odd/{line.channel}/{line.order_id}/{line.line_id}", since)
        horizon = "" if cursor is None else order_cursor(_cursor_time(cursor) - self._overlap, "")
        self._delivered = {k: v for k, v in self._delivered.items() if v[0] >= horizon}
        # Every order read has its state, the overlap's too: a state re-read changes nothing.
        ordered = tuple(sorted(states.values(), key=lambda state: state.cursor))
        return OrderBatch(tuple(fresh), ordered, tuple(fresh_odd))

    def _fresh(self, items: Sequence[_Keyed], key: Callable[[_Keyed], str], since: str) -> list[_Keyed]:
        """``items`` in cursor order (stable) less the overlap's repeats (see orders_since)."""
        fresh = []
        for item in sorted(items, key=lambda item_: item_.cursor):
            first = self._delivered.get(key(item))
            if first is not None and item.cursor < since and first[1] < since:
                continue
            fresh.append(item)
            self._delivered[key(item)] = (item.cursor, first[1] if first else since)
        return fresh

    def _read_order(self, node: Mapping[str, Json]) -> tuple[_Order, str]:
        """The order of a page's node, read again alone when a nested page was cut; its cursor."""
        nested = [node["lineItems"], *(refund["refundLineItems"] for refund in node["refunds"])]
        if any(part["pageInfo"]["hasNextPage"] for part in nested):
            node = self._call(ORDER_QUERY, {"id": node["id"]}, "SheetsyncOrder")["order"]
            nested = [node["lineItems"], *(refund["refundLineItems"] for refund in node["refunds"])]
            if any(part["pageInfo"]["hasNextPage"] for part in nested):
                raise PermanentError(
                    f"Shopify order {_number(node['id'])} in {self.shop} has more than "
                    f"{SINGLE_ORDER_LINES} lines; sheetsync cannot read it whole"
                )
        return _graphql_order(node), order_cursor(_time(node["updatedAt"]), _number(node["id"]))

    # -- mapping and levels --

    def _lookup(
        self, skus: Sequence[Sku], *, with_level: bool = False, with_product: bool = False
    ) -> dict[Sku, _Item]:
        """Search Shopify for ``skus``; refreshes the SKU caches for each one searched.

        :attr:`known_items` always; :attr:`known_variants` when ``with_product`` reads the
        product ids (a search without them can only drop a variant that is no longer there).
        """
        if with_level and with_product:
            raise ValueError("a level and a product per variant would overrun SEARCH_BATCH's cost")
        wanted = list(dict.fromkeys(skus))
        if not wanted:
            return {}
        # $location is ID! but only read under @include(if: $withLevel): a search for prices
        # need not resolve the location (one call fewer, and prices work whatever it is named).
        # Other searches still resolve it, as the warm-up (map_skus) always has.
        location = _NO_LOCATION if with_product else self.location_id()
        found: dict[Sku, _Item] = {}
        for start in range(0, len(wanted), SEARCH_BATCH):
            batch = wanted[start : start + SEARCH_BATCH]
            nodes: list[Json] = []
            after = None
            while True:
                variables = {
                    "query": _search(batch),
                    "first": len(batch),  # the requested cost grows with ``first``: ask for no more
                    "after": after,
                    "location": location,
                    "withLevel": with_level,
                    "withProduct": with_product,
                }
                page = self._call(VARIANTS_QUERY, variables, "SheetsyncVariants", size=len(batch))
                nodes += page["productVariants"]["nodes"]
                info = page["productVariants"]["pageInfo"]
                if not info["hasNextPage"]:
                    break
                after = info["endCursor"]
            found |= self._classify(batch, nodes, with_level)
        return found

    def _classify(self, batch: Sequence[Sku], nodes: Sequence[Json], with_level: bool) -> dict[Sku, _Item]:
        by_sku: dict[str, list[Json]] = {}
        for node in nodes:
            # The search matches loosely (case, tokens); SKUs are case-sensitive (schema).
            by_sku.setdefault(node["sku"] or "", []).append(node)
        result = {}
        for sku in batch:
            hits = by_sku.get(sku, [])
            item = None
            if len(hits) == 1 and not hits[0]["requiresComponents"]:
                item = hits[0]["inventoryItem"]["id"]
                self.known_items[sku] = item
            else:
                self.known_items.pop(sku, None)
            cached = self.known_variants.get(sku)
            if len(hits) == 1 and hits[0].get("product"):
                # A bundle parent has a price of its own: only its stock follows the components.
                self.known_variants[sku] = (hits[0]["product"]["id"], hits[0]["id"])
            elif cached is not None and (len(hits) != 1 or cached[1] != hits[0]["id"]):
                self.known_variants.pop(sku, None)
            available = None
            if with_level and len(hits) == 1:
                level = hits[0]["inventoryItem"].get("inventoryLevel")
                quantities = {q["name"]: q["quantity"] for q in (level or {}).get("quantities", ())}
                available = quantities.get("available")
            bundle = len(hits) == 1 and bool(hits[0]["requiresComponents"])
            result[sku] = _Item(item, len(hits), bundle, available)
        return result

    def _refusal(self, sku: Sku, found: _Item | None) -> str:
        """Why ``sku`` cannot be set, or "" when it can."""
        if found is not None and found.bundle:
            return f"SKU {sku} is a bundle parent in Shopify: its stock follows its components; skipped"
        if found is not None and found.hits > 1:
            return f"SKU {sku} is on {found.hits} variants in Shopify; make it unique to sync it"
        if sku not in self.known_items:
            return f"SKU {sku} not found in Shopify"
        return ""

    # -- setting quantities --

    def _set(
        self, levels: Sequence[StockLevel], rows: list[tuple[int, Json]], outcomes: dict[int, PushOutcome]
    ) -> dict[int, int]:
        """Send ``rows`` until Shopify takes what is left; returns level index → stale baseline."""
        drift: dict[int, int] = {}
        pending = rows
        while pending:
            # A new key per distinct batch: the same key with other rows is a mismatch (https://shopify.dev/docs/api/usage/idempotent-requests).
            key = str(uuid.uuid4())
            variables = {
                "input": {
                    "name": "available",
                    "reason": SET_REASON,
                    "referenceDocumentUri": f"gid://sheetsync/Push/{key}",
                    "quantities": [row for _, row in pending],
                },
                "key": key,
            }
            payload = self._call(SET_QUANTITIES_MUTATION, variables, "SheetsyncSetQuantities")
            errors = payload["inventorySetQuantities"]["userErrors"]
            if not errors:
                outcomes.update((index, PushOutcome(levels[index].sku, True)) for index, _ in pending)
                break
            refused: set[int] = set()
            for error in errors:
                position = _row_index(error.get("field"))
                if error.get("code") in _RETRY_LATER:
                    # Nothing of this batch applied under a settled key; CAS guards the next cycle.
                    raise TransientError(
                        f"Shopify shop {self.shop}: {error.get('code')} on the inventory update"
                    )
                if position is None or not 0 <= position < len(pending):
                    raise PermanentError(
                        f"Shopify shop {self.shop} refused the inventory update: "
                        f"{error.get('code')}: {error.get('message')}"
                    )
                refused.add(position)
                index, row = pending[position]
                sku = levels[index].sku
                code = error.get("code")
                if code == "CHANGE_FROM_QUANTITY_STALE":
                    drift[index] = row["changeFromQuantity"]
                    continue
                if code == "INVALID_INVENTORY_ITEM":
                    self.known_items.pop(sku, None)  # deleted meanwhile: look it up next time
                    message = f"SKU {sku} not found in Shopify (its inventory item is gone)"
                elif code == "NON_MUTABLE_INVENTORY_ITEM":
                    message = f"SKU {sku} cannot take inventory writes in Shopify (a bundle parent?); skipped"
                else:
                    message = f"Shopify refused SKU {sku}: {code}: {error.get('message')}"
                outcomes[index] = PushOutcome(sku, False, message)
            pending = [entry for position, entry in enumerate(pending) if position not in refused]
        return drift

    # -- one request --

    def _call(
        self,
        document: str,
        variables: Mapping[str, Json],
        operation: str,
        *,
        size: int = 0,
    ) -> Json:
        """POST one document and return its ``data``, pacing and retrying per retry.py.

        The variables (and so an idempotency key) are fixed before the first attempt, so every
        retry of a mutation is the same batch.
        """
        body = {"query": document, "variables": dict(variables), "operationName": operation}
        cost_key = (operation, size)
        return retry.call(lambda: self._attempt(body, cost_key), self._sleep)

    def _attempt(self, body: Mapping[str, Json], cost_key: tuple[str, int]) -> Json:
        self._pace(cost_key)
        response = _http.send(
            self._client,
            "POST",
            self._url,
            who=f"Shopify shop {self.shop}",
            what=f"on POST {self._path}",
            json=body,
            headers={"X-Shopify-Access-Token": self._token},
        )
        logger.debug("POST %s %s -> %d", self._path, cost_key[0], response.status_code)
        status = response.status_code
        if status in (401, 403):
            raise PermanentError(
                f"Shopify shop {self.shop} refused the access token (HTTP {status}); "
                "check the token and the app's access scopes"
            )
        if status == 404:
            raise PermanentError(
                f"Shopify shop {self.shop} or API version path {self._path} was not found (HTTP 404)"
            )
        answer = _http.json_or_none(response)
        if status == 429 or (status == 200 and _throttled(answer)):
            wait = self._throttle_wait(answer, response, cost_key)
            raise TransientError(f"Shopify shop {self.shop} throttled {cost_key[0]}", wait)
        if status >= 500:
            raise TransientError(f"Shopify shop {self.shop} answered HTTP {status}")
        if status == 200 and answer is None:  # cut short or garbled on the way: ask again
            raise TransientError(f"Shopify shop {self.shop} answered {cost_key[0]} with broken JSON")
        if status != 200 or not isinstance(answer, dict):
            raise PermanentError(f"Shopify shop {self.shop} answered HTTP {status} to {cost_key[0]}")
        self._note_cost(answer, cost_key)
        if answer.get("errors"):
            errors = [e for e in answer["errors"] if isinstance(e, dict)]
            messages = "; ".join(str(e.get("message")) for e in errors)
            if any((e.get("extensions") or {}).get("code") in _SERVER_CODES for e in errors):
                raise TransientError(f"Shopify shop {self.shop} failed {cost_key[0]}: {messages}")
            raise PermanentError(f"Shopify shop {self.shop} refused {cost_key[0]}: {messages}")
        return answer["data"]

    def _pace(self, cost_key: tuple[str, int]) -> None:
        """Wait until the bucket holds what this request is likely to ask for (its last cost)."""
        bucket = self._bucket
        cost = self._costs.get(cost_key)
        if cost is None and cost_key[0] in _FIRST_COST:
            cost = _FIRST_COST[cost_key[0]](cost_key[1])
        if bucket is None or cost is None or bucket.rate <= 0:
            return
        available = bucket.now(self._clock())
        if cost > available:
            wait = (cost - available) / bucket.rate + _THROTTLE_MARGIN_S
            logger.debug("pacing %s: %.2f s for %d points", cost_key[0], wait, cost)
            self._sleep(wait)

    def _note_cost(self, answer: Json, cost_key: tuple[str, int]) -> None:
        """Remember what this request asked for and what Shopify says is left in the bucket."""
        extensions = answer.get("extensions") if isinstance(answer, dict) else None
        cost = (extensions or {}).get("cost") or {}
        status = cost.get("throttleStatus")
        if isinstance(cost.get("actualQueryCost"), int | float):  # null when it did not run
            self._spending.count("points", int(cost["actualQueryCost"]))
        if isinstance(cost.get("requestedQueryCost"), int | float):
            self._costs[cost_key] = int(cost["requestedQueryCost"])
        if isinstance(status, dict) and status.get("restoreRate"):
            self._bucket = _Bucket(
                float(status["currentlyAvailable"]),
                float(status["maximumAvailable"]),
                float(status["restoreRate"]),
                self._clock(),
            )
            # The shop's plan sets the rate (Advanced 200, Plus 1,000): audits pace to it.
            self.limits = replace(self.limits, read_skus_per_s=self._bucket.rate / POINTS_PER_READ_SKU)

    def _throttle_wait(
        self, answer: Json, response: httpx.Response, cost_key: tuple[str, int]
    ) -> float | None:
        """Seconds until the bucket holds the requested cost: (requested - available) / rate.

        See https://shopify.dev/docs/api/usage/rate-limits.
        """
        self._note_cost(answer, cost_key)
        extensions = answer.get("extensions") if isinstance(answer, dict) else None
        cost = (extensions or {}).get("cost") or {}
        status = cost.get("throttleStatus")
        if isinstance(status, dict) and status.get("restoreRate") and cost.get("requestedQueryCost"):
            missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
            return max(0.0, missing) / float(status["restoreRate"]) + _THROTTLE_MARGIN_S
        return _http.retry_after(response)


def _throttled(answer: Json) -> bool:
    errors = answer.get("errors") if isinstance(answer, dict) else None
    return isinstance(errors, list) and any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors
    )
