"""WooCommerce over its REST API v3: quantities out, order lines in.

Every call goes to ``https://{site}/wp-json/wc/v3/...`` with the consumer key and secret as
HTTP Basic (https://woocommerce.github.io/woocommerce-rest-api-docs/#authentication-over-https).
What the adapter guarantees:

- **Transport security.** WooCommerce accepts Basic credentials only over HTTPS (plain HTTP needs
  an OAuth 1.0a signature), and Basic over HTTP would send the key and secret in clear text, so a
  ``http://`` site is refused at construction; the one exception is a loopback host, where the
  fake runs in tests and benchmarks and nothing leaves the machine.
- **Mapping.** SKU → product id (``"123"``) or parent and variation id (``"45/123"``) through
  ``GET /products?sku=A,B,…`` (WooCommerce also searches variations when ``sku`` is given; up to
  100 SKUs a request, paged), cached in :attr:`WooCommerceChannel.known_items` and looked up again
  when a SKU is missing. A SKU WooCommerce does not have is refused in its own outcome.
- **Batches.** Simple (and variable-parent) products go in one ``POST /products/batch``;
  variations in one ``POST /products/{parent}/variations/batch`` per parent (WooCommerce batches
  variations per parent). A push holds at most 100 levels (``limits.max_batch``, WooCommerce's
  batch limit), so it costs ``1 + number of distinct parents`` calls at most, and exactly one when
  every SKU is a simple product. A refused object comes back in place with HTTP 200 and fails
  only its row.
- **Prices.** :meth:`WooCommerceChannel.push_prices` sets ``regular_price`` (a string, ``"12.50"``)
  through the same batches. WooCommerce refuses nothing there: it stores what ``wc_format_decimal``
  makes of the text and clears the price of variable and grouped products, so each answer's
  ``regular_price`` is compared with what was sent and a difference is a refusal. The currency
  is a store setting, read once (``GET settings/general/woocommerce_currency``) and cached; a
  price in another currency is refused in its row, naming both.
- **No compare-and-set.** WooCommerce has no conditional write: a stock update overwrites
  whatever the shop shows. ``StockLevel.expected`` is therefore not enforced; a sale that lands
  between our read and our write is still counted, because it reaches the ledger through
  :meth:`WooCommerceChannel.orders_since` and the next push subtracts it.
- **No double counting.** WooCommerce lowers its own stock when an order reaches ``processing``,
  ``completed`` or ``on-hold`` and raises it back on ``cancelled`` / ``pending`` or a restocking
  refund. Our push is an absolute number computed from the master count and the ledger (which
  already holds those order lines), so WooCommerce's own moves are overwritten, never added to.
- **Admin edits.** An admin can change a line's quantity, delete a line or add one on an order
  that already took its stock; WooCommerce moves the stock by the difference
  (``wc_maybe_adjust_line_item_product_stock``) and the order's ``date_modified`` moves, so it is
  read again. Every order read in a stock-holding status also gives an
  :class:`~sheetsync.model.OrderState`: each line's quantity now, keyed by line item id (a deleted
  line is simply absent), from which the core corrects what the ledger holds.
- **Odd quantities.** A line quantity that is not a whole number of at least 1 (0, -2, or a
  decimal-quantity plugin's ``1.5`` / ``"1.5"``) is never counted, rounded or dropped: it becomes
  an :class:`~sheetsync.model.OddLine` carrying the quantity as sent, for the merchant to settle.
- **Refunds.** WooCommerce's refund object does not say whether "Restock refunded items" was
  ticked, so refunds count as restocked only when the channel is set to (``restock_refunds``);
  by default they are not, which can show too little stock but never sells what is not there.
  Cancellations always restock: WooCommerce restores the stock of a cancelled order.
- **Errors.** 401/403 (``woocommerce_rest_cannot_view``, ``woocommerce_rest_authentication_error``)
  are permanent and name the site; 429, 5xx and timeouts are transient and retried through
  :mod:`sheetsync.retry`, honouring ``Retry-After``. The key and secret appear only in the
  Authorization header: messages, logs and exceptions name the site and the path.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from sheetsync import retry
from sheetsync.channels import _http, refuse_oversized
from sheetsync.errors import ConfigError, PermanentError, TransientError
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

logger = logging.getLogger(__name__)

Json = Any  # a decoded JSON value; shapes are checked where they are read

API_PATH = "/wp-json/wc/v3"
#: Objects per batch request, create + update + delete together (https://woocommerce.github.io/woocommerce-rest-api-docs/#batch-update-products).
MAX_BATCH = 100
#: Objects per list page: WordPress caps ``per_page`` at 100.
PER_PAGE = 100
#: What a lookup reads of each product (WordPress's global ``_fields``): a real store's product is
#: kilobytes of descriptions, images and meta data, a hundred a page, read back every audit.
LOOKUP_FIELDS = "id,sku,type,parent_id,manage_stock,stock_quantity"
#: Characters of SKUs per lookup request, so the URL stays well under common 8 KB limits.
_SKU_QUERY_CHARS = 2000
#: How far before the cursor orders are read again: equal timestamps, and orders committed late.
ORDERS_OVERLAP = timedelta(minutes=10)
#: Order statuses in which WooCommerce has reduced stock: their lines are sales.
SALE_STATUSES = frozenset({"processing", "completed", "on-hold"})
#: Statuses of orders that were sold before: ``refunded`` (paid, then refunded) and ``cancelled``
#: (see _order_lines for why a cancellation gives its sale too).
_SOLD_BEFORE = frozenset({"refunded", "cancelled"})

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_ID_WIDTH = 20  #: order ids are zero-padded in cursors so that they sort as numbers


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _gmt(text: str) -> datetime:
    """A WooCommerce ``*_gmt`` field (no zone designator) as an aware UTC time."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def order_cursor(modified: datetime, order_id: str) -> str:
    """A cursor that sorts in time order, ties broken by order id: ``2026-03-01T10:00:00Z#000…123``."""
    return f"{modified.astimezone(UTC).strftime(_TIME_FORMAT)}#{order_id.zfill(_ID_WIDTH)}"


def _cursor_time(cursor: str) -> datetime:
    try:
        return _gmt(cursor.partition("#")[0])
    except ValueError:
        raise PermanentError(
            f"WooCommerce order cursor {cursor!r} is not a time like 2026-03-01T10:00:00Z"
        ) from None


@dataclass(frozen=True, slots=True)
class _Found:
    """What a SKU lookup says about one SKU."""

    ref: str  #: ``"id"`` or ``"parent/id"``
    quantity: int | None  #: None when WooCommerce does not manage the stock of this object


def _sku_groups(skus: Sequence[str]) -> Iterable[list[str]]:
    """SKUs per lookup request: at most 100, and short enough for a URL.

    WooCommerce splits ``sku`` on commas (and also tries the whole string), so a SKU holding a
    comma is looked up alone.
    """
    group: list[str] = []
    size = 0
    for sku in skus:
        if "," in sku:
            yield [sku]
            continue
        if group and (len(group) == PER_PAGE or size + len(sku) + 1 > _SKU_QUERY_CHARS):
            yield group
            group, size = [], 0
        group.append(sku)
        size += len(sku) + 1
    if group:
        yield group


class WooCommerceChannel:
    """One WooCommerce site, as a :class:`~sheetsync.channels.Channel` and an OrderSource.

    Args:
        name: the channel's name in the sheet and the ledger.
        site: the shop's address, ``shop.example.com`` or ``https://shop.example.com/store``
            (WordPress in a sub-folder); plain ``http://`` is refused except on loopback.
        consumer_key: the REST API key (``ck_…``), Read/Write; only ever sent, never shown.
        consumer_secret: its secret (``cs_…``); only ever sent, never shown.
        base_url: where the API is, instead of ``site`` (a fake on loopback).
        client: an httpx client to send with; else one is made with ``transport``. The adapter
            closes only a client it made.
        sleep: how to wait (retries); tests pass one that moves a fake clock.
        clock: seconds on a monotonic clock (kept for symmetry with the other channels; WooCommerce
            core has no rate limit to pace against, so only ``Retry-After`` waits).
        known_items: a SKU cache handed back from an earlier run (see the attribute).
        overlap: how far before the cursor orders are read again.
        restock_refunds: whether refunded line items count as put back in stock. WooCommerce's
            refund object does not say whether the merchant ticked "Restock refunded items"
            (``api_restock`` is write-only), so this is the shop's policy. False by default: a
            restock we assume but that did not happen would show units that are not there.

    Attributes:
        known_items: SKU → ``"product id"`` or ``"parent id/variation id"``; plain data the worker
            may persist and hand back.

    Raises:
        ConfigError: ``site`` (or ``base_url``) is plain HTTP to a host other than loopback.
    """

    def __init__(
        self,
        name: ChannelName,
        *,
        site: str,
        consumer_key: str,
        consumer_secret: str,
        base_url: str | None = None,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        known_items: Mapping[str, str] | None = None,
        overlap: timedelta = ORDERS_OVERLAP,
        restock_refunds: bool = False,
    ) -> None:
        self.name = name
        self.limits = ChannelLimits(max_batch=MAX_BATCH)
        address = site if "://" in site else f"https://{site}"
        self.site = address.split("://", 1)[1].rstrip("/")
        root = (base_url or address).rstrip("/")
        parts = urlsplit(root)
        if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname or "")):
            raise ConfigError(
                f"WooCommerce site {root} is not HTTPS: the consumer key and secret would travel in "
                "clear text; use the https:// address of the shop"
            )
        self._root = root + API_PATH
        self._auth = httpx.BasicAuth(consumer_key, consumer_secret)
        self._owns_client = client is None
        self._client = client or httpx.Client(transport=transport, timeout=httpx.Timeout(30.0, connect=10.0))
        self._sleep = sleep
        self._clock = clock
        self._overlap = overlap
        self._restock_refunds = restock_refunds
        self.known_items: dict[Sku, str] = {Sku(k): v for k, v in (known_items or {}).items()}
        # line key → (line cursor, cursor of the first call that delivered it); see orders_since
        self._delivered: dict[str, tuple[str, str]] = {}
        self._currency: str | None = None  #: the store currency, read on the first price push

    def close(self) -> None:
        """Close the HTTP client if this adapter made it."""
        if self._owns_client:
            self._client.close()

    # -- Channel --

    def push(self, levels: Sequence[StockLevel]) -> Sequence[PushOutcome]:
        """Set ``stock_quantity`` (and ``manage_stock``) for each level; one outcome per level.

        ``expected`` is not enforced: WooCommerce has no compare-and-set (module docstring).

        Raises:
            PermanentError: more than ``limits.max_batch`` levels, bad credentials, or WooCommerce
                refusing a call as a whole.
            TransientError: WooCommerce unreachable, failing or rate-limited after every retry.
        """
        refuse_oversized(self.name, self.limits, len(levels))
        if not levels:
            return []
        updates = [(level.sku, {"manage_stock": True, "stock_quantity": level.quantity}) for level in levels]
        outcomes = self._update(
            updates, lambda index, object_id, result: self._outcome(levels[index], object_id, result)
        )
        logger.info("%s: set %d of %d quantities", self.name, sum(o.ok for o in outcomes), len(outcomes))
        return outcomes

    def push_prices(self, prices: Sequence[PriceLevel]) -> Sequence[PushOutcome]:
        """Set ``regular_price`` for each SKU; one outcome per price.

        A price in a currency other than the store's is refused in its row without being sent.

        Raises:
            PermanentError: more than ``limits.max_batch`` prices, bad credentials, or WooCommerce
                refusing a call (the currency setting included) as a whole.
            TransientError: WooCommerce unreachable, failing or rate-limited after every retry.
        """
        refuse_oversized(self.name, self.limits, len(prices))
        if not prices:
            return []
        currency = self.store_currency()
        outcomes: dict[int, PushOutcome] = {}
        sendable: list[int] = []
        for index, price in enumerate(prices):
            if price.currency != currency:
                outcomes[index] = PushOutcome(
                    price.sku,
                    False,
                    f"price {price.text} {price.currency} for SKU {price.sku} not sent: WooCommerce site "
                    f"{self.site} sells in {currency}",
                )
            else:
                sendable.append(index)
        sent = self._update(
            [(prices[i].sku, {"regular_price": prices[i].text}) for i in sendable],
            lambda index, object_id, result: self._price_outcome(prices[sendable[index]], object_id, result),
        )
        outcomes.update(zip(sendable, sent, strict=True))
        result = [outcomes[i] for i in range(len(prices))]
        logger.info("%s: set %d of %d prices", self.name, sum(o.ok for o in result), len(result))
        return result

    def store_currency(self) -> str:
        """The store currency (``woocommerce_currency``), read once and cached."""
        if self._currency is None:
            answer = self._request("GET", "/settings/general/woocommerce_currency")
            value = answer.get("value") if isinstance(answer, dict) else None
            if not isinstance(value, str) or not value:
                raise PermanentError(f"WooCommerce site {self.site} did not say its store currency")
            self._currency = value
        return self._currency

    def _update(
        self,
        updates: Sequence[tuple[Sku, Mapping[str, Json]]],
        judge: Callable[[int, int, Json], PushOutcome],
    ) -> list[PushOutcome]:
        """Send ``(SKU, fields)`` updates in as few batches as WooCommerce allows; one outcome each.

        Simple products share one ``products/batch``; variations go per parent. ``judge`` turns
        (update index, object id, WooCommerce's answer for it) into the outcome.
        """
        self._lookup([sku for sku, _ in updates if sku not in self.known_items])
        outcomes: dict[int, PushOutcome] = {}
        groups: dict[str, list[tuple[int, int]]] = {}  # batch path → [(update index, object id)]
        for index, (sku, _) in enumerate(updates):
            ref = self.known_items.get(sku)
            if ref is None:
                outcomes[index] = PushOutcome(sku, False, f"SKU {sku} not found in WooCommerce")
                continue
            parent, _, own = ref.rpartition("/")
            path = f"/products/{parent}/variations/batch" if parent else "/products/batch"
            groups.setdefault(path, []).append((index, int(own)))
        for path, rows in groups.items():
            update = [{"id": object_id, **updates[index][1]} for index, object_id in rows]
            answer = self._request("POST", path, body={"update": update})
            results = answer.get("update") if isinstance(answer, dict) else None
            if not isinstance(results, list) or len(results) != len(rows):
                raise PermanentError(f"WooCommerce site {self.site} answered {path} with an unexpected body")
            for (index, object_id), result in zip(rows, results, strict=True):
                outcomes[index] = judge(index, object_id, result)
        logger.debug("%s: %d updates in %d batch calls", self.name, len(updates), len(groups))
        return [outcomes[i] for i in range(len(updates))]

    def _refusal(self, sku: Sku, object_id: int, result: Json) -> PushOutcome | None:
        """The outcome of an answer WooCommerce refused or left empty; None when it took the update."""
        if not isinstance(result, dict):
            return PushOutcome(sku, False, f"WooCommerce gave no answer for SKU {sku}")
        error = result.get("error")
        if isinstance(error, dict):
            code = str(error.get("code"))
            if code.endswith("_invalid_id"):
                self.known_items.pop(sku, None)  # deleted meanwhile: look it up next time
                return PushOutcome(
                    sku, False, f"SKU {sku} not found in WooCommerce (its id {object_id} is gone)"
                )
            return PushOutcome(sku, False, f"WooCommerce refused SKU {sku}: {code}: {error.get('message')}")
        return None

    def _price_outcome(self, price: PriceLevel, object_id: int, result: Json) -> PushOutcome:
        refusal = self._refusal(price.sku, object_id, result)
        if refusal is not None:
            return refusal
        kept = result.get("regular_price")
        if kept != price.text:
            # WooCommerce stores wc_format_decimal(text), and no price at all on a variable or
            # grouped product (its variations carry the prices): what it kept is what buyers see.
            kind = result.get("type")
            hint = f" (a {kind} product has no price of its own)" if kind in ("variable", "grouped") else ""
            return PushOutcome(
                price.sku,
                False,
                f"WooCommerce kept price {kept!r} for SKU {price.sku}, not {price.text}{hint}",
            )
        return PushOutcome(price.sku, True)

    def _outcome(self, level: StockLevel, object_id: int, result: Json) -> PushOutcome:
        refusal = self._refusal(level.sku, object_id, result)
        if refusal is not None:
            return refusal
        if result.get("stock_quantity") != level.quantity:
            shown = result.get("stock_quantity")
            return PushOutcome(
                level.sku, False, f"WooCommerce kept {shown} for SKU {level.sku}, not {level.quantity}"
            )
        return PushOutcome(level.sku, True)

    def read_levels(self, skus: Collection[Sku]) -> Mapping[Sku, int]:
        """``stock_quantity`` now; SKUs WooCommerce lacks, or whose stock it does not manage, are absent."""
        found = self._lookup(list(skus))
        return {sku: item.quantity for sku, item in found.items() if item.quantity is not None}

    def map_skus(self, skus: Collection[Sku]) -> Mapping[Sku, str]:
        """Look up every SKU not in :attr:`known_items` yet (a warm-up); returns the cache."""
        self._lookup([sku for sku in skus if sku not in self.known_items])
        return self.known_items

    def _lookup(self, skus: Sequence[Sku]) -> dict[Sku, _Found]:
        """Find ``skus`` in WooCommerce; refreshes :attr:`known_items` for each one searched."""
        wanted = list(dict.fromkeys(skus))
        found: dict[Sku, _Found] = {}
        for group in _sku_groups(wanted):
            objects = self._pages("/products", {"sku": ",".join(group), "_fields": LOOKUP_FIELDS})
            # MySQL matches SKUs case-insensitively; ours are case-sensitive, so match exactly.
            by_sku = {str(o.get("sku")): o for o in objects if isinstance(o, dict)}
            for sku in group:
                hit = by_sku.get(sku)
                if hit is None:
                    self.known_items.pop(Sku(sku), None)
                    continue
                parent = hit.get("parent_id") if hit.get("type") == "variation" else 0
                ref = f"{parent}/{hit['id']}" if parent else str(hit["id"])
                self.known_items[Sku(sku)] = ref
                quantity = hit.get("stock_quantity")
                managed = hit.get("manage_stock") is True and isinstance(quantity, int)
                found[Sku(sku)] = _Found(ref, quantity if managed else None)
        return found

    # -- CatalogueSource --

    def catalogue_size(self) -> int | None:
        """None: WooCommerce counts products (``X-WP-Total``), not the variations among the items."""
        return None

    def catalogue(self) -> Iterator[CatalogueItem]:
        """Every simple product and every variation of a variable product, 100 a page, oldest first.

        Grouped and external products hold no stock of their own and are left out.  The quantity is
        ``stock_quantity`` where WooCommerce manages the item's own stock, else None (a variation
        whose parent manages it shows the parent's shared count, which is not its own).
        """
        ordered = {"orderby": "id", "order": "asc"}
        for products in self._each_page("/products", ordered):
            for product in products:
                if not isinstance(product, dict):
                    continue
                name = str(product.get("name") or "")
                if product.get("type") == "simple":
                    yield _catalogue_item(product, name, "", f"product {product.get('id')}")
                elif product.get("type") == "variable":
                    path = f"/products/{product.get('id')}/variations"
                    for variations in self._each_page(path, ordered):
                        for variation in variations:
                            if isinstance(variation, dict):
                                options = ", ".join(
                                    str(a.get("option") or "")
                                    for a in variation.get("attributes") or ()
                                    if isinstance(a, dict)
                                )
                                ref = f"product {product.get('id')} variation {variation.get('id')}"
                                yield _catalogue_item(variation, name, options, ref)

    # -- OrderSource --

    def orders_since(self, cursor: str | None) -> OrderBatch:
        """Order lines of orders modified at or after ``cursor`` minus the overlap, oldest first.

        With them, the state of every order read in a stock-holding status (overlap included: a
        state is the order's truth now, so repeating it is harmless) and its odd lines.

        Orders are read by ``modified_after`` (GMT) in id order, which new orders cannot reshuffle
        while we page, and sorted here by ``date_modified_gmt`` (WooCommerce does not sort orders
        by modification). A line from the overlap is returned unless this adapter already
        delivered it in a call whose cursor is older than ``cursor``: the cursor comes from the
        ledger, so its having moved past that call means the line was committed. A restarted
        worker re-delivers the overlap once; the ledger drops repeats by key.
        """
        since = "" if cursor is None else cursor
        params: dict[str, str] = {"orderby": "id", "order": "asc"}
        if cursor is not None:
            start = _cursor_time(cursor) - self._overlap
            params |= {"modified_after": start.strftime("%Y-%m-%dT%H:%M:%S"), "dates_are_gmt": "true"}
        lines: list[OrderLine] = []
        states: list[OrderState] = []
        odd: list[OddLine] = []
        for order in self._pages("/orders", params):
            read = self._read_order(order)
            if read is not None:
                lines += read[0]
                states.append(read[1])
                odd += read[2]
        fresh = []
        for line in sorted(
            lines, key=lambda line_: line_.cursor
        ):  # stable: an order's lines keep their order
            first = self._delivered.get(line.key)
            if first is not None and line.cursor < since and first[1] < since:
                continue
            fresh.append(line)
            self._delivered[line.key] = (line.cursor, first[1] if first else since)
        horizon = "" if cursor is None else order_cursor(_cursor_time(cursor) - self._overlap, "")
        self._delivered = {k: v for k, v in self._delivered.items() if v[0] >= horizon}
        return OrderBatch(
            tuple(fresh),
            tuple(sorted(states, key=lambda state: state.cursor)),
            tuple(sorted(odd, key=lambda line_: line_.cursor)),
        )

    def _read_order(
        self, order: Mapping[str, Json]
    ) -> tuple[list[OrderLine], OrderState, list[OddLine]] | None:
        """The ledger lines, the state and the odd lines of one order; None when it holds no stock.

        The same order state gives the same lines:

        - ``processing`` / ``completed`` / ``on-hold`` / ``refunded``: one SALE per line item
          (line id = WooCommerce's line item id) whose quantity is a whole number of at least 1,
          plus one RESTOCK per refunded line of each refund (``<line item>-refund-<refund>``)
          when refunds restock.
        - ``cancelled``: the SALE lines too, and a RESTOCK ``<line item>-cancel`` of what the
          refunds did not already put back. The order's history is not in the API, so an order
          cancelled while still ``pending`` (it never moved stock) also gets the pair; they net
          to zero, and the same keys keep a re-read from counting either twice.
        - ``pending``, ``failed``, ``checkout-draft``, ``trash``: nothing; a pending order that
          is paid later turns up again (its modification time moves) and gives its sale then.

        The state's ``units`` hold every line with a whole quantity of at least 1, with a SKU or
        not (a product that lost its SKU still took its stock). A line with a SKU and any other
        quantity is an odd line, neither a SALE nor in ``units``; so is a refunded line whose
        quantity is not whole.
        """
        status = str(order.get("status"))
        if status not in SALE_STATUSES and status not in _SOLD_BEFORE:
            return None
        order_id = str(order["id"])
        modified = _gmt(order["date_modified_gmt"])
        cursor = order_cursor(modified, order_id)
        created = _gmt(order["date_created_gmt"])
        units: dict[str, int] = {}
        items: list[tuple[Mapping[str, Json], int]] = []  # counted line items and their units
        odd: list[OddLine] = []
        for item in order.get("line_items") or ():
            sent = item.get("quantity")
            quantity = _http.whole_number(sent)
            if quantity is not None and quantity >= 1:
                units[str(item["id"])] = quantity
                if item.get("sku"):
                    items.append((item, quantity))
            elif item.get("sku"):
                odd.append(
                    OddLine(
                        self.name,
                        order_id,
                        str(item["id"]),
                        Sku(item["sku"]),
                        _http.as_sent(sent),
                        created,
                        cursor,
                    )
                )
        lines = [
            OrderLine(
                self.name,
                order_id,
                str(item["id"]),
                Sku(item["sku"]),
                quantity,
                Movement.SALE,
                created,
                cursor,
            )
            for item, quantity in items
        ]
        restocked: dict[str, int] = {}  # line item id → quantity already put back by refunds
        if self._restock_refunds and order.get("refunds"):
            for refund in self._pages(f"/orders/{order_id}/refunds", {}):
                at = _gmt(refund["date_created_gmt"])
                for refunded in refund.get("line_items") or ():
                    sku = refunded.get("sku")
                    if not sku:
                        continue
                    item_id = _refunded_item(refunded, [item for item, _ in items])
                    line_id = f"{item_id}-refund-{refund['id']}"
                    sent = refunded.get("quantity")
                    whole = _http.whole_number(sent)
                    if whole is None:
                        odd.append(
                            OddLine(self.name, order_id, line_id, Sku(sku), _http.as_sent(sent), at, cursor)
                        )
                        continue
                    quantity = abs(whole)  # WooCommerce shows refunded units negative
                    if not quantity:
                        continue  # a refund of money only on this line
                    restocked[item_id] = restocked.get(item_id, 0) + quantity
                    lines.append(
                        OrderLine(
                            self.name,
                            order_id,
                            line_id,
                            Sku(sku),
                            quantity,
                            Movement.RESTOCK,
                            at,
                            cursor,
                        )
                    )
        if status == "cancelled":
            for item, quantity in items:
                left = quantity - restocked.get(str(item["id"]), 0)
                if left > 0:
                    lines.append(
                        OrderLine(
                            self.name,
                            order_id,
                            f"{item['id']}-cancel",
                            Sku(item["sku"]),
                            left,
                            Movement.RESTOCK,
                            modified,
                            cursor,
                        )
                    )
        return lines, OrderState(self.name, order_id, units, modified, cursor), odd

    # -- the wire --

    def _pages(self, path: str, params: Mapping[str, str]) -> list[Json]:
        """Every object of a list endpoint, page by page until ``X-WP-TotalPages``."""
        return [found for objects in self._each_page(path, params) for found in objects]

    def _each_page(self, path: str, params: Mapping[str, str]) -> Iterator[list[Json]]:
        """A list endpoint's pages of objects, each as it is read, until ``X-WP-TotalPages``."""
        page = 1
        while True:
            answer, pages = self._request_paged(
                path, {**params, "per_page": str(PER_PAGE), "page": str(page)}
            )
            if not isinstance(answer, list):
                raise PermanentError(f"WooCommerce site {self.site} answered {path} with an unexpected body")
            yield answer
            if page >= pages or not answer:
                return
            page += 1

    def _request_paged(self, path: str, params: Mapping[str, str]) -> tuple[Json, int]:
        response, answer = retry.call(lambda: self._attempt("GET", path, params, None), self._sleep)
        try:
            pages = int(response.headers.get("X-WP-TotalPages", "1"))
        except ValueError:
            pages = 1
        return answer, pages

    def _request(self, method: str, path: str, *, body: Json = None) -> Json:
        """One call, retried per retry.py; returns the decoded body."""
        return retry.call(lambda: self._attempt(method, path, {}, body), self._sleep)[1]

    def _attempt(
        self, method: str, path: str, params: Mapping[str, str], body: Json
    ) -> tuple[httpx.Response, Json]:
        """One call: the response and its body decoded, or the error its status or body means."""
        response = _http.send(
            self._client,
            method,
            self._root + path,
            who=f"WooCommerce site {self.site}",
            what=f"on {method} {path}",
            params=dict(params),
            json=body,
            auth=self._auth,
        )
        logger.debug("%s %s -> %d", method, path, response.status_code)  # the path only: no query, no key
        status = response.status_code
        code, message = _wp_error(response)
        if status in (401, 403):
            raise PermanentError(
                f"WooCommerce site {self.site} refused the API key (HTTP {status} {code}); "
                "check the consumer key, its secret and its Read/Write permission"
            )
        if status == 429 or status >= 500:
            raise TransientError(
                f"WooCommerce site {self.site} answered HTTP {status} to {method} {path}",
                _http.retry_after(response),
                status,
            )
        if status == 413:
            raise PermanentError(
                f"WooCommerce site {self.site} refused {method} {path}: {message} (the batch limit)"
            )
        if status == 404:
            raise PermanentError(
                f"WooCommerce site {self.site} has no {API_PATH}{path} (HTTP 404 {code}); check the site "
                "address and that WooCommerce and pretty permalinks are on"
            )
        if status != 200:
            raise PermanentError(
                f"WooCommerce site {self.site} refused {method} {path}: HTTP {status} {code}: {message}"
            )
        try:
            answer = _http.decoded(response)
        except ValueError:
            if "json" in response.headers.get("Content-Type", ""):
                # JSON cut short or garbled on the way; an HTML page is the site's answer, below.
                raise TransientError(
                    f"WooCommerce site {self.site} answered {method} {path} with broken JSON"
                ) from None
            raise PermanentError(
                f"WooCommerce site {self.site} answered {method} {path} with something other than JSON"
            ) from None
        return response, answer


def _refunded_item(refunded: Mapping[str, Json], items: Sequence[Mapping[str, Json]]) -> str:
    """The order line item a refund line refunds: ``_refunded_item_id`` meta, else the first with its SKU."""
    for meta in refunded.get("meta_data") or ():
        if isinstance(meta, dict) and meta.get("key") == "_refunded_item_id" and meta.get("value"):
            return str(meta["value"])
    for item in items:
        if item.get("sku") == refunded.get("sku"):
            return str(item["id"])
    return f"r{refunded.get('id')}"


def _catalogue_item(found: Mapping[str, Json], title: str, variant: str, ref: str) -> CatalogueItem:
    """A product or variation as a catalogue item: its own managed stock, else no quantity."""
    quantity = found.get("stock_quantity")
    managed = (
        found.get("manage_stock") is True and isinstance(quantity, int) and not isinstance(quantity, bool)
    )
    return CatalogueItem(str(found.get("sku") or ""), title, variant, quantity if managed else None, ref=ref)


def _wp_error(response: httpx.Response) -> tuple[str, str]:
    """WordPress's ``{"code", "message"}`` of an error answer, or ("", "")."""
    if response.status_code < 400:
        return "", ""
    body = _http.json_or_none(response)
    if isinstance(body, dict):
        return str(body.get("code", "")), str(body.get("message", ""))
    return "", ""
