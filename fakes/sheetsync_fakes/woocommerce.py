"""An in-memory WooCommerce REST API v3 (one site), spoken to over the wire.

``FakeWooCommerce`` is a handler (``httpx.Request -> httpx.Response``, see :mod:`sheetsync_fakes.wire`)
answering ``https://{site}/wp-json/wc/v3/...``. What it reproduces (the REST API documentation,
https://woocommerce.github.io/woocommerce-rest-api-docs/, and
``sheetsync_fakes/reference/woocommerce/rest_v3_reference.json``):

- Authentication: the consumer key and secret as HTTP Basic (or the ``consumer_key`` /
  ``consumer_secret`` query parameters) over HTTPS, or over plain HTTP on a loopback host (the
  fake behind ``wire.serve``). A wrong key answers 401 ``woocommerce_rest_authentication_error``
  "Consumer key is invalid.", a wrong secret "Consumer secret is invalid."; no credentials (or
  Basic over plain HTTP to a public host, where WooCommerce wants OAuth 1.0a) answer 401
  ``woocommerce_rest_cannot_view`` (lists) or ``woocommerce_rest_cannot_batch`` (batches).
- Routes: ``GET products`` (``sku`` takes a comma-separated list and also finds variations, as
  WooCommerce core does when ``sku`` is given), ``POST products/batch``,
  ``GET products/{id}/variations``, ``POST products/{id}/variations/batch``, ``GET orders``
  (``modified_after`` / ``modified_before`` / ``after`` / ``before``, ``dates_are_gmt``, ``status``,
  ``orderby`` / ``order``), ``GET orders/{id}``, ``PUT orders/{id}`` (also ``POST`` / ``PATCH``,
  as WordPress registers it; only ``line_items`` is modelled, see Admin edits),
  ``GET orders/{id}/refunds``, ``GET settings/{group}/{id}``. Any other route answers WordPress's
  404 ``rest_no_route``.
- WordPress's global ``_fields`` on every route: an answer keeps only the named fields (``a.b``
  inside ``a``), item by item for a list; an error answer is left whole.
- Paging: ``per_page`` 1..100 (default 10), ``page``, ``offset``; ``X-WP-Total``,
  ``X-WP-TotalPages`` and a ``Link`` header with ``rel="next"`` / ``rel="prev"``.
- Validation as WordPress's REST server does it: a bad value answers 400 ``rest_invalid_param``
  "Invalid parameter(s): name" with ``data.params`` (name → reason) and ``data.details``. Enum
  values, booleans and integers are checked against the reference's property tables
  (``stock_status``, ``backorders``, ``manage_stock``, ``stock_quantity``), and order statuses
  against WooCommerce core's list. **Stricter than WordPress, on purpose:** WordPress silently
  ignores unknown query parameters and body fields, and the batch handler calls ``update_item``
  without schema validation; here an unknown name is a 400 ``rest_invalid_param`` (a batch item
  gets the error in place), so an adapter typo (``modifed_after``) fails a test instead of
  silently reading every order. Known parameters or writable fields this fake does not model
  answer 501 naming them, so no test passes against behaviour nobody wrote.
- Batches: at most 100 objects (create + update + delete) per request, else 413
  ``woocommerce_rest_request_entity_too_large`` "Unable to accept more than 100 items for this
  request."; only ``update`` is modelled (``create``/``delete`` answer 501). A refused item comes
  back in place as ``{"id", "error": {code, message, data: {status}}}`` with HTTP 200: an unknown
  id is ``woocommerce_rest_product_invalid_id`` / ``woocommerce_rest_product_variation_invalid_id``
  "Invalid ID." (400).
- Stock: ``stock_quantity`` is honoured only with ``manage_stock`` true; while stock is managed,
  ``stock_status`` follows the quantity (``outofstock`` at 0 or below, ``onbackorder`` if
  backorders are allowed). Orders move stock as WooCommerce does (wc-stock-functions.php): reduced
  when an order reaches ``processing`` / ``completed`` / ``on-hold``, restored when it becomes
  ``cancelled`` or ``pending``; a refund with ``restock`` puts its quantities back and lowers what
  a later cancellation restores; a refund without it leaves stock alone.
- Admin edits (:meth:`FakeWooCommerce.edit_order`, the order screen; or ``PUT orders/{id}`` with
  ``line_items``): a line's quantity changed, a line deleted, a line added. WooCommerce then runs
  ``wc_maybe_adjust_line_item_product_stock``: in ``processing`` / ``completed`` / ``on-hold`` a
  changed or added line moves stock by ``quantity - restocked by refunds - already reduced``;
  a deleted line gives back what it had reduced, in any status, and is gone from the order (no
  line of quantity 0 is kept); every edit moves ``date_modified``. Current WooCommerce does the
  same over REST (woocommerce#47784, #50606, #53618). Over REST a line item with ``id``
  updates that line (``quantity`` 0, or ``"0"`` as WordPress sanitises it, deletes it, as
  ``WC_REST_Orders_Controller`` does), one without ``id`` is added (by ``sku``, ``product_id`` or
  ``variation_id``; quantity 1 when not given), lines not sent are kept; a quantity that is not
  an integer answers 400 ``rest_invalid_param`` (core WooCommerce's schema says integer), an id
  not on the order 400 ``woocommerce_rest_invalid_item_id``. The whole request is checked before
  any change (WooCommerce may have saved earlier lines when a later one fails).
- Quantities a plugin or an import can store (0, -2, a decimal-quantity plugin's ``1.5`` or
  ``"1.5"``): :meth:`FakeWooCommerce.place_order` and :meth:`FakeWooCommerce.edit_order` take
  them and orders show them as stored. Stock is whole numbers here, so a quantity that is not a
  whole number moves no stock (WooCommerce with such a plugin keeps decimal stock).
- Prices: ``regular_price`` is a string in the reference tables; a value of another JSON type is
  refused in place (``rest_invalid_param`` "regular_price is not of type string.", WordPress's
  wording; like the stock fields this is the fake's strictness, since the batch handler skips
  schema validation). A string is stored as WooCommerce stores it, never refused:
  ``WC_Product::set_regular_price`` runs ``wc_format_decimal``, which turns the store's decimal
  separator into ``.`` and drops every character but digits, ``.`` and ``-`` (so ``"12,50"`` in
  a ``.`` store becomes ``"1250"`` and ``"abc"`` clears the price). Variable and grouped products
  hold no price: the products controller clears it whatever was sent. ``price`` (the active
  price) follows ``regular_price`` (sales are not modelled). The store currency is served at
  ``GET settings/general/woocommerce_currency`` (the setting-option shape of the docs; WooCommerce
  core's default is ``USD``).
- Host limits: core ``wc/v3`` has none; ``rate_limit=(requests, seconds)`` makes the fake answer
  429 with ``Retry-After`` past that many requests in the window, as a host or WAF would.
- Faults: :meth:`FakeWooCommerce.fail_next` per route; every request goes to :attr:`request_log`.

Not modelled: other settings (501), sale prices, OAuth 1.0a, product create/delete, single
product GET/PUT, orders create over the API and order fields other than ``line_items`` (501),
``search`` and the other list filters (501), HPOS
specifics, webhooks. Response objects carry the fields listed in the reference that sheetsync
reads or the fake keeps, not every field.
Error texts are WooCommerce core's; the 429 body is a host's and marked ``# unrecorded``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from sheetsync_fakes.wire import Fault, FaultScript

Json = Any
#: A line item quantity as stored: whole units, or what a plugin or an import left (1.5, "1.5").
Quantity = int | float | str

PREFIX = "/wp-json/wc/v3"
BATCH_LIMIT = 100
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 10

#: Order statuses of WooCommerce core (wc_get_order_statuses without the ``wc-`` prefix, plus the
#: block checkout's draft and the trash); the orders ``status`` filter also takes ``any``.
ORDER_STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "checkout-draft",
    "trash",
)
#: Statuses in which WooCommerce has reduced the stock of an order's items.
STOCK_REDUCING = frozenset({"processing", "completed", "on-hold"})
#: Statuses to which WooCommerce restores the stock it reduced.
STOCK_RESTORING = frozenset({"cancelled", "pending"})

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

#: WordPress's global parameters that this fake models, accepted on every route.
GLOBAL_PARAMS = frozenset({"_fields"})
#: List parameters WooCommerce core registers per collection; ``True`` where this fake models it.
_PRODUCT_PARAMS: Mapping[str, bool] = {
    "context": True,
    "page": True,
    "per_page": True,
    "offset": True,
    "sku": True,
    "type": True,
    "parent": True,
    "include": True,
    "order": True,
    "orderby": True,
    "status": True,
    "search": False,
    "after": False,
    "before": False,
    "modified_after": False,
    "modified_before": False,
    "dates_are_gmt": False,
    "exclude": False,
    "parent_exclude": False,
    "slug": False,
    "featured": False,
    "category": False,
    "tag": False,
    "shipping_class": False,
    "attribute": False,
    "attribute_term": False,
    "tax_class": False,
    "on_sale": False,
    "min_price": False,
    "max_price": False,
    "stock_status": False,
}
_VARIATION_PARAMS: Mapping[str, bool] = {
    "context": True,
    "page": True,
    "per_page": True,
    "offset": True,
    "sku": True,
    "include": True,
    "order": True,
    "orderby": True,
    "status": True,
    "search": False,
    "after": False,
    "before": False,
    "exclude": False,
    "parent": False,
    "parent_exclude": False,
    "slug": False,
    "tax_class": False,
    "on_sale": False,
    "min_price": False,
    "max_price": False,
    "stock_status": False,
}
_ORDER_PARAMS: Mapping[str, bool] = {
    "context": True,
    "page": True,
    "per_page": True,
    "offset": True,
    "after": True,
    "before": True,
    "modified_after": True,
    "modified_before": True,
    "dates_are_gmt": True,
    "include": True,
    "exclude": True,
    "order": True,
    "orderby": True,
    "status": True,
    "parent": False,
    "parent_exclude": False,
    "search": False,
    "customer": False,
    "product": False,
    "dp": False,
    "created_via": False,
}
_REFUND_PARAMS: Mapping[str, bool] = {
    "context": True,
    "page": True,
    "per_page": True,
    "offset": True,
    "order": True,
    "orderby": True,
    "search": False,
    "after": False,
    "before": False,
    "exclude": False,
    "include": False,
    "parent": False,
    "parent_exclude": False,
    "dp": False,
}
_ORDERBY = {
    "products": (
        "date",
        "id",
        "include",
        "title",
        "slug",
        "modified",
        "rand",
        "price",
        "popularity",
        "rating",
    ),
    "variations": ("date", "id", "include", "title", "slug", "modified"),
    # ``modified`` has historically been refused for orders: sort client-side
    # (https://woocommerce.github.io/woocommerce-rest-api-docs/#list-all-orders).
    "orders": ("date", "id", "include", "title", "slug"),
    "refunds": ("date", "id", "include", "title", "slug"),
}
#: Writable fields of an order (wc/v3 orders schema, on update); ``True`` where this fake models it.
_ORDER_FIELDS: Mapping[str, bool] = {
    "line_items": True,
    "parent_id": False,
    "status": False,
    "currency": False,
    "customer_id": False,
    "customer_note": False,
    "billing": False,
    "shipping": False,
    "payment_method": False,
    "payment_method_title": False,
    "transaction_id": False,
    "meta_data": False,
    "shipping_lines": False,
    "fee_lines": False,
    "coupon_lines": False,
    "set_paid": False,
    "created_via": False,
    "manual_update": False,
}
#: Properties of an order's line item: ``True`` modelled, ``False`` writable but not modelled (501),
#: ``None`` read-only (WooCommerce ignores them, and so does the fake).
_LINE_ITEM_FIELDS: Mapping[str, bool | None] = {
    "id": True,
    "product_id": True,
    "variation_id": True,
    "sku": True,
    "quantity": True,
    "name": False,
    "tax_class": False,
    "subtotal": False,
    "total": False,
    "meta_data": False,
    "subtotal_tax": None,
    "total_tax": None,
    "taxes": None,
    "price": None,
    "image": None,
    "parent_name": None,
}
#: Fields a batch update models; other writable fields of the reference answer 501.
_MODELLED_FIELDS = frozenset(
    {"id", "manage_stock", "stock_quantity", "stock_status", "backorders", "regular_price"}
)
#: Product types whose own price WooCommerce clears on every update (the variations carry it).
_PRICELESS_TYPES = frozenset({"variable", "grouped"})


def load_reference(source: Mapping[str, Json] | str | Path) -> Mapping[str, Json]:
    """The reference JSON (``sheetsync_fakes/reference/woocommerce/rest_v3_reference.json``) as a dict."""
    if isinstance(source, Mapping):
        return source
    loaded: Mapping[str, Json] = json.loads(Path(source).read_text())
    return loaded


@dataclass(frozen=True, slots=True)
class _Property:
    name: str
    type: str
    read_only: bool
    options: tuple[str, ...]


def _properties(reference: Mapping[str, Json], resource: str, table: str) -> dict[str, _Property]:
    rows = reference["resources"][resource]["property_tables"][table]
    return {
        row["name"]: _Property(
            row["name"], row["type"], bool(row["read_only"]), tuple(row.get("options") or ())
        )
        for row in rows
    }


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the fake received (never its credentials)."""

    method: str
    #: ``products``, ``products/batch``, ``variations``, ``variations/batch``, ``orders``, ``order``
    #: (GET one), ``order/edit`` (PUT/POST/PATCH one), ``refunds``, ``settings``, ""
    route: str
    path: str
    params: Mapping[str, str]  #: the query, without ``consumer_key`` / ``consumer_secret``
    status: int | None  #: None when the fake hung up (a scripted transport error)
    objects: int = 0  #: create + update + delete objects in a batch


@dataclass(slots=True)
class _Product:
    id: int
    sku: str
    type: str  #: simple, variable, grouped, external, or ``variation``
    parent_id: int
    manage_stock: bool | str  #: a variation may say "parent"
    stock_quantity: int | None
    stock_status: str
    backorders: str
    created: float
    modified: float
    variations: list[int] = field(default_factory=list)
    regular_price: str = ""
    name: str = ""  #: a product's name (a variation's is its parent's)
    #: a variation's attributes, (name, option): what tells it from its siblings
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class _LineItem:
    id: int
    product_id: int
    variation_id: int
    sku: str
    quantity: Quantity
    reduced: int = 0  #: WooCommerce's ``_reduced_stock`` line meta
    restocked: int = 0  #: WooCommerce's ``_restock_refunded_items`` line meta


@dataclass(slots=True)
class _RefundLine:
    id: int
    item: _LineItem
    quantity: int  #: positive here; WooCommerce shows it negative


@dataclass(slots=True)
class _Refund:
    id: int
    created: float
    lines: list[_RefundLine]
    restock: bool


@dataclass(frozen=True, slots=True)
class _LineEdit:
    """One posted line item, checked: update ``item`` (quantity 0 deletes it), or add ``product``."""

    item: _LineItem | None  #: None: a line to add
    quantity: int | None  #: None: not sent
    product: _Product | None = None  #: set: a line to add


@dataclass(slots=True)
class _Order:
    id: int
    status: str
    created: float
    modified: float
    paid: float | None
    lines: list[_LineItem]
    refunds: list[_Refund] = field(default_factory=list)
    stock_reduced: bool = False  #: WooCommerce's ``_order_stock_reduced``


class _Answer(Exception):
    """Raised to answer at once with ``response``."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _only_fields(answer: httpx.Response, spec: str) -> httpx.Response:
    """``_fields``, as WordPress's ``rest_filter_response_fields`` applies it to any answer.

    The names are split on commas and spaces; ``a.b`` keeps ``b`` inside ``a``. A list answer is
    filtered item by item. Nested names do not reach into lists (``_rest_array_intersect_key_
    recursive`` keeps a list's numeric keys only if named, so ``line_items.sku`` leaves ``[]``).
    """
    names = [name for name in re.split(r"[\s,]+", spec) if name]
    if not names:
        return answer
    wanted: dict[str, Any] = {}
    for name in names:
        level = wanted
        *outer, last = name.split(".")
        for part in outer:
            inner = level.get(part)
            if inner is True:
                break  # the whole of ``part`` is wanted already
            level = level.setdefault(part, {})
        else:
            level[last] = True

    def keep(value: Any, fields: dict[str, Any]) -> Any:
        if isinstance(value, list):
            return [keep(item, fields) for i, item in enumerate(value) if str(i) in fields]
        if not isinstance(value, dict):
            return value
        return {
            key: item if fields[key] is True else keep(item, fields[key])
            for key, item in value.items()
            if key in fields
        }

    body = answer.json()
    body = [keep(item, wanted) for item in body] if isinstance(body, list) else keep(body, wanted)
    headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-type")}
    return _json(body, answer.status_code, headers)


def _json(body: Json, status: int = 200, headers: Mapping[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=dict(headers or {}))


def wp_error(code: str, message: str, status: int, **data: Json) -> httpx.Response:
    """WordPress's REST error body ``{"code", "message", "data": {"status", ...}}``."""
    return _json({"code": code, "message": message, "data": {"status": status, **data}}, status)


def _invalid(params: Mapping[str, str], details: Mapping[str, Json] | None = None) -> httpx.Response:
    """WordPress's ``rest_invalid_param``: every bad parameter with its reason."""
    return wp_error(
        "rest_invalid_param",
        f"Invalid parameter(s): {', '.join(params)}",
        400,
        params=dict(params),
        details=dict(
            details or {name: {"code": "rest_invalid_param", "message": m} for name, m in params.items()}
        ),
    )


def _one_of(name: str, options: Sequence[str]) -> str:
    """WordPress's enum message: ``x is not one of a, b, and c.``."""
    listed = ", ".join(options[:-1]) + f", and {options[-1]}" if len(options) > 1 else options[0]
    return f"{name} is not one of {listed}."


def _iso(moment: float, offset_hours: float = 0.0) -> str:
    """WooCommerce's timestamps: seconds, no zone designator (the field name says GMT or site time)."""
    stamp = dt.datetime.fromtimestamp(moment, dt.UTC) + dt.timedelta(hours=offset_hours)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S")


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?$")


def _parse_date(text: str, offset_hours: float) -> float | None:
    """A request date as epoch seconds; a naive one is in ``offset_hours`` (0 when GMT)."""
    if not _DATE.match(text):
        return None
    moment = dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone(dt.timedelta(hours=offset_hours)))
    return moment.timestamp()


def _integer(value: Json) -> int | None:
    """WordPress's integer check: ints and integral numeric strings, never booleans."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def wc_format_decimal(value: str, decimal_separator: str = ".") -> str:
    """WooCommerce's ``wc_format_decimal`` without rounding, for a string: what a price is stored as.

    The store's decimal separator becomes ``.``, every ``.`` but the last goes, and so does every
    character other than digits, ``.`` and ``-`` (wc-formatting-functions.php).
    """
    text = value.strip().replace(decimal_separator, ".")
    return re.sub(r"\.(?![^.]+$)|[^0-9.-]", "", text)


def _units(quantity: Quantity) -> int | None:
    """The whole units a stored quantity moves; None for one that is not a whole number."""
    if isinstance(quantity, bool):
        return None
    if isinstance(quantity, int):
        return quantity
    if isinstance(quantity, float) and quantity.is_integer():
        return int(quantity)
    return None


def _boolean(value: Json) -> bool | None:
    """WordPress's boolean check: true/false, 1/0 and their strings."""
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return None


class FakeWooCommerce:
    """One WooCommerce site's REST API v3, in memory (module docstring).

    Args:
        reference: the reference JSON (a dict or its path): property tables and batch limit.
        consumer_key: the key the site accepts (``ck_…``).
        consumer_secret: its secret (``cs_…``).
        now: the clock, in seconds since the epoch: every timestamp and the rate-limit window.
        utc_offset_hours: the site's timezone, for the non-GMT date fields and for request dates
            sent without ``dates_are_gmt``.
        currency: the store currency (the ``woocommerce_currency`` setting).
        decimal_separator: the store's price decimal separator (``woocommerce_price_decimal_sep``).
        rate_limit: ``(requests, seconds)`` a host allows before answering 429; None: unlimited.

    Attributes:
        request_log: every request received, in order.
    """

    def __init__(
        self,
        reference: Mapping[str, Json] | str | Path,
        *,
        consumer_key: str,
        consumer_secret: str,
        now: Callable[[], float] = time.time,
        utc_offset_hours: float = 0.0,
        currency: str = "USD",
        decimal_separator: str = ".",
        rate_limit: tuple[int, float] | None = None,
    ) -> None:
        ref = load_reference(reference)
        self.currency = currency
        self.decimal_separator = decimal_separator
        self.product_properties = _properties(ref, "products", "Product properties")
        self.variation_properties = _properties(ref, "product_variations", "Product variation properties")
        self.batch_limit = int(ref["batch_limit"]["value"])
        self._key = consumer_key
        self._secret = consumer_secret
        self._now = now
        self._offset = utc_offset_hours
        self._rate_limit = rate_limit
        self._recent: deque[float] = deque()
        self._next_id = 100
        self._products: dict[int, _Product] = {}
        #: SKU → id, and case-folded SKU → ids (MySQL matches SKUs case-insensitively): lookups by
        #: key, so a catalogue of 100,000 products is not scanned once per SKU
        self._skus: dict[str, int] = {}
        self._folded: dict[str, set[int]] = {}
        self._orders: dict[int, _Order] = {}
        self._faults = FaultScript()
        self._broken_saves: set[int] = set()  #: products whose save a plugin fails (see break_saves)
        self._lock = threading.RLock()
        self.request_log: list[LoggedRequest] = []

    # -- the merchant's and the platform's side (no auth, not logged) --

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_product(
        self,
        sku: str,
        *,
        stock: int | None = None,
        product_type: str = "simple",
        backorders: str = "no",
        regular_price: str = "",
        name: str = "",
    ) -> int:
        """Create a product; ``stock`` None leaves stock unmanaged. Returns its id."""
        with self._lock:
            self._unique(sku)
            now = self._now()
            product = _Product(
                self._id(), sku, product_type, 0, stock is not None, stock, "instock", backorders, now, now
            )
            product.name = name
            if product_type not in _PRICELESS_TYPES:
                product.regular_price = wc_format_decimal(regular_price, self.decimal_separator)
            self._restatus(product)
            self._products[product.id] = product
            self._index(product)
            return product.id

    def add_variation(
        self,
        parent_id: int,
        sku: str,
        *,
        stock: int | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> int:
        """A new variation of variable product ``parent_id`` (``attributes``: name → option); its id."""
        with self._lock:
            parent = self._products[parent_id]
            if parent.type != "variable":
                raise ValueError(f"product {parent_id} is {parent.type}, not variable")
            self._unique(sku)
            now = self._now()
            managed: bool | str = stock is not None or ("parent" if parent.manage_stock else False)
            variation = _Product(
                self._id(), sku, "variation", parent_id, managed, stock, "instock", "no", now, now
            )
            variation.attributes = tuple((attributes or {}).items())
            self._restatus(variation)
            self._products[variation.id] = variation
            self._index(variation)
            parent.variations.append(variation.id)
            return variation.id

    def delete_product(self, product_id: int) -> None:
        """Remove a product or variation, as a merchant deleting it for good."""
        with self._lock:
            product = self._products.pop(product_id)
            if product.sku:
                self._skus.pop(product.sku, None)
                self._folded[product.sku.casefold()].discard(product_id)
            if product.parent_id:
                self._products[product.parent_id].variations.remove(product_id)

    def set_stock(self, sku: str, quantity: int) -> None:
        """The merchant types a quantity in wp-admin (stock becomes managed)."""
        with self._lock:
            product = self._by_sku(sku)
            product.manage_stock, product.stock_quantity = True, quantity
            product.modified = self._now()
            self._restatus(product)

    def stock(self, sku: str) -> int | None:
        """The stock quantity of ``sku`` now (None when unmanaged)."""
        with self._lock:
            return self._stocked(self._by_sku(sku)).stock_quantity

    def regular_price(self, sku: str) -> str:
        """The stored ``regular_price`` of ``sku`` ("" when it has none)."""
        with self._lock:
            return self._by_sku(sku).regular_price

    def product(self, sku: str) -> Json:
        """The product or variation with ``sku``, as the API shows it."""
        with self._lock:
            return self._product_json(self._by_sku(sku))

    def place_order(self, lines: Sequence[tuple[str, Quantity]], *, status: str = "processing") -> int:
        """A buyer checks out ``(sku, quantity)`` lines; the order starts in ``status``. Returns its id.

        A quantity that is not a whole number of at least 1 is kept as given (a plugin's or an
        import's; see the module docstring).
        """
        with self._lock:
            if status not in ORDER_STATUSES:
                raise ValueError(f"unknown order status {status!r}")
            now = self._now()
            items = [self._new_line(self._by_sku(sku), quantity) for sku, quantity in lines]
            order = _Order(self._id(), "checkout-draft", now, now, None, items)
            self._orders[order.id] = order
            self._transition(order, status)
            return order.id

    def set_status(self, order_id: int, status: str) -> None:
        """Move an order to ``status`` (merchant, gateway or cron), with WooCommerce's stock changes."""
        with self._lock:
            if status not in ORDER_STATUSES:
                raise ValueError(f"unknown order status {status!r}")
            self._transition(self._orders[order_id], status)

    def refund(self, order_id: int, lines: Sequence[tuple[str, int]], *, restock: bool = True) -> int:
        """Refund ``(sku, quantity)`` of an order; ``restock`` puts them back (WooCommerce's checkbox).

        Without ``restock`` the stock is left alone, as WooCommerce does.
        """
        with self._lock:
            order = self._orders[order_id]
            now = self._now()
            refund_lines = []
            for sku, quantity in lines:
                item = next(i for i in order.lines if i.sku == sku)
                refund_lines.append(_RefundLine(self._id(), item, quantity))
                if restock and item.reduced and self._managed(item):
                    # wc_restock_refunded_items: stock up, less left for a cancellation to restore,
                    # and a tally that later quantity edits subtract.
                    back = min(quantity, item.reduced)
                    self._move(item, back)
                    item.reduced -= back
                    item.restocked += back
            order.refunds.append(_Refund(self._id(), now, refund_lines, restock))
            order.modified = now
            refunded = sum(r.quantity for refund in order.refunds for r in refund.lines)
            if refunded >= sum(_units(i.quantity) or 0 for i in order.lines):
                order.status = "refunded"  # a full refund; stock is not touched by this status
            return order.refunds[-1].id

    def order(self, order_id: int) -> Json:
        """The order as the API shows it."""
        with self._lock:
            return self._order_json(self._orders[order_id])

    def edit_order(
        self,
        order_id: int,
        *,
        set_quantities: Mapping[int, Quantity] | None = None,
        remove: Iterable[int] = (),
        add: Sequence[tuple[str, Quantity]] = (),
    ) -> list[int]:
        """An admin edits an order's lines on the order screen; returns the new line item ids.

        ``set_quantities`` maps line item id to quantity (0 deletes the line, as the screen does);
        ``remove`` deletes lines; ``add`` adds ``(sku, quantity)`` lines. Stock moves as
        WooCommerce moves it (module docstring, Admin edits).

        Raises:
            ValueError: a line item id not on the order, or an unknown SKU; nothing is changed.
        """
        with self._lock:
            order = self._orders[order_id]
            by_id = {item.id: item for item in order.lines}
            wanted = {**(set_quantities or {})}
            gone = set(remove)
            unknown = sorted(i for i in (*wanted, *gone) if i not in by_id)
            if unknown:
                raise ValueError(f"line items {unknown} are not on order {order_id}")
            missing = [sku for sku, _ in add if sku not in self._skus]
            if missing:
                raise ValueError(f"unknown SKUs {missing}")
            for item_id, quantity in wanted.items():
                if quantity in (0, "0") and not isinstance(quantity, bool):  # the screen's "0" deletes
                    gone.add(item_id)
                elif item_id not in gone:
                    self._set_quantity(order, by_id[item_id], quantity)
            for item_id in sorted(gone):
                self._remove_line(order, by_id[item_id])
            added = [self._add_line(order, self._by_sku(sku), quantity) for sku, quantity in add]
            order.modified = self._now()
            return [item.id for item in added]

    def break_saves(self, sku: str, broken: bool = True) -> None:
        """A plugin fails with a PHP fatal error whenever the product with ``sku`` is saved.

        WordPress answers 500 (its critical-error page) to a batch saving it, having applied
        the items before it: it dies there, every time.  ``broken=False``: the plugin is fixed.
        """
        with self._lock:
            product = self._by_sku(sku).id
            if broken:
                self._broken_saves.add(product)
            else:
                self._broken_saves.discard(product)

    def fail_next(
        self,
        route: str,
        status: int = 503,
        *,
        response: httpx.Response | None = None,
        exception: Exception | None = None,
        times: int = 1,
        applied: bool = False,
    ) -> None:
        """Script the next ``times`` requests to ``route`` (see LoggedRequest.route) to fail, FIFO.

        The failure is ``response`` if given, else ``exception`` raised (transport errors reach the
        client as its own), else ``status`` with a WordPress-style body. With ``applied`` the
        request takes effect and only its answer is lost.
        """
        with self._lock:
            self._faults.add(
                route, status, response=response, exception=exception, times=times, applied=applied
            )

    def count(self, route: str) -> int:
        """How many requests went to ``route`` (refused and faulted ones included)."""
        with self._lock:
            return sum(1 for entry in self.request_log if entry.route == route)

    # -- stock rules --

    def _unique(self, sku: str) -> None:
        if sku and sku in self._skus:
            raise ValueError(f"SKU {sku!r} is already used (WooCommerce keeps SKUs unique)")

    def _index(self, product: _Product) -> None:
        if product.sku:
            self._skus[product.sku] = product.id
            self._folded.setdefault(product.sku.casefold(), set()).add(product.id)

    def _by_sku(self, sku: str) -> _Product:
        return self._products[self._skus[sku]]

    def _stocked(self, product: _Product) -> _Product:
        """Where ``product``'s stock lives: a variation managed by its parent uses the parent's."""
        if product.manage_stock == "parent":
            return self._products[product.parent_id]
        return product

    @staticmethod
    def _restatus(product: _Product) -> None:
        """While stock is managed, the status follows the quantity (wc_update_product_stock_status)."""
        if product.manage_stock is True and product.stock_quantity is not None:
            if product.stock_quantity > 0:
                product.stock_status = "instock"
            else:
                product.stock_status = "outofstock" if product.backorders == "no" else "onbackorder"

    def _managed(self, item: _LineItem) -> bool:
        """Whether WooCommerce manages the stock of the line's product (else nothing moves)."""
        product = self._products.get(item.variation_id or item.product_id)
        if product is None:
            return False
        stocked = self._stocked(product)
        return stocked.manage_stock is True and stocked.stock_quantity is not None

    def _move(self, item: _LineItem, delta: int) -> None:
        product = self._products.get(item.variation_id or item.product_id)
        if product is None:
            return
        stocked = self._stocked(product)
        if stocked.manage_stock is True and stocked.stock_quantity is not None:
            stocked.stock_quantity += delta
            stocked.modified = self._now()
            self._restatus(stocked)

    def _new_line(self, product: _Product, quantity: Quantity) -> _LineItem:
        variation = product.id if product.type == "variation" else 0
        parent = product.parent_id if variation else product.id
        return _LineItem(self._id(), parent, variation, product.sku, quantity)

    def _adjust(self, order: _Order, item: _LineItem, *, removing: bool = False) -> None:
        """wc_maybe_adjust_line_item_product_stock: the line's stock follows its quantity.

        What it should hold is its quantity less what refunds restocked; a removal gives back
        all it reduced. A quantity that is not whole moves nothing here (module docstring).
        """
        units = 0 if removing else _units(item.quantity)
        if units is None or not self._managed(item):
            return
        diff = -item.reduced if units == 0 else units - item.restocked - item.reduced
        if diff == 0:
            return
        self._move(item, -diff)
        item.reduced = units - item.restocked
        if units > 0:
            order.stock_reduced = True  # so a later cancellation restores it

    def _set_quantity(self, order: _Order, item: _LineItem, quantity: Quantity) -> None:
        item.quantity = quantity
        if order.status in STOCK_REDUCING:
            self._adjust(order, item)

    def _remove_line(self, order: _Order, item: _LineItem) -> None:
        self._adjust(order, item, removing=True)  # in any status: what it reduced comes back
        order.lines.remove(item)

    def _add_line(self, order: _Order, product: _Product, quantity: Quantity) -> _LineItem:
        item = self._new_line(product, quantity)
        order.lines.append(item)
        if order.status in STOCK_REDUCING:
            self._adjust(order, item)
        return item

    def _transition(self, order: _Order, status: str) -> None:
        """wc_maybe_reduce_stock_levels / wc_maybe_increase_stock_levels, then the new status."""
        now = self._now()
        if status in STOCK_REDUCING and not order.stock_reduced:
            for item in order.lines:
                units = _units(item.quantity)
                if units is None:
                    continue  # not whole: moves nothing here (module docstring)
                self._move(item, -units)
                item.reduced = units
            order.stock_reduced = True
        elif status in STOCK_RESTORING and order.stock_reduced:
            for item in order.lines:
                self._move(item, item.reduced)
                item.reduced = 0
            order.stock_reduced = False
        if status in ("processing", "completed") and order.paid is None:
            order.paid = now
        order.status = status
        order.modified = now

    # -- the wire --

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one HTTP request."""
        with self._lock:
            entry: dict[str, Any] = {"route": "", "objects": 0}
            params = {
                k: v for k, v in request.url.params.items() if k not in ("consumer_key", "consumer_secret")
            }
            answer: httpx.Response | None = None
            try:
                answer = self._answer(request, entry)
            except _Answer as early:
                answer = early.response
            finally:
                self.request_log.append(
                    LoggedRequest(
                        request.method,
                        entry["route"],
                        request.url.path,
                        params,
                        answer.status_code if answer is not None else None,
                        entry["objects"],
                    )
                )
            return answer

    _ROUTES = (
        ("GET", re.compile(r"/products/?"), "products"),
        ("POST", re.compile(r"/products/batch/?"), "products/batch"),
        ("GET", re.compile(r"/products/(?P<parent>\d+)/variations/?"), "variations"),
        ("POST", re.compile(r"/products/(?P<parent>\d+)/variations/batch/?"), "variations/batch"),
        ("GET", re.compile(r"/orders/?"), "orders"),
        ("GET", re.compile(r"/orders/(?P<order>\d+)/?"), "order"),
        ("PUT", re.compile(r"/orders/(?P<order>\d+)/?"), "order/edit"),
        ("POST", re.compile(r"/orders/(?P<order>\d+)/?"), "order/edit"),
        ("PATCH", re.compile(r"/orders/(?P<order>\d+)/?"), "order/edit"),
        ("GET", re.compile(r"/orders/(?P<order>\d+)/refunds/?"), "refunds"),
        ("GET", re.compile(r"/settings/(?P<group>[\w-]+)/(?P<setting>[\w-]+)/?"), "settings"),
    )

    def _answer(self, request: httpx.Request, entry: dict[str, Any]) -> httpx.Response:
        path = request.url.path
        if not path.startswith(PREFIX):
            raise _Answer(
                wp_error("rest_no_route", "No route was found matching the URL and request method", 404)
            )
        rest = path[len(PREFIX) :]
        for method, pattern, name in self._ROUTES:
            match = pattern.fullmatch(rest)
            if match and request.method == method:
                route = name
                break
        else:
            raise _Answer(
                wp_error("rest_no_route", "No route was found matching the URL and request method", 404)
            )
        entry["route"] = route
        self._throttle()
        self._authenticate(request, route)
        fault = self._take_fault(route)
        if fault is not None and not fault.applied:
            return self._fire(fault)
        query = dict(request.url.params.multi_items())
        query.pop("consumer_key", None)
        query.pop("consumer_secret", None)
        if route.endswith("batch"):
            parent = int(match.group("parent")) if route.startswith("variations") else None
            answer = self._batch(request, query, parent, entry)
        elif route == "products":
            answer = self._list_products(query)
        elif route == "variations":
            answer = self._list_variations(int(match.group("parent")), query)
        elif route == "orders":
            answer = self._list_orders(query)
        elif route == "settings":
            answer = self._setting(match.group("group"), match.group("setting"), query)
        elif route == "order":
            answer = self._get_order(int(match.group("order")), query)
        elif route == "order/edit":
            answer = self._edit_order(int(match.group("order")), request, query)
        else:
            answer = self._list_refunds(int(match.group("order")), query)
        if fault is not None:
            return self._fire(fault)
        if "_fields" in query and answer.status_code < 400:
            return _only_fields(answer, query["_fields"])
        return answer

    def _throttle(self) -> None:
        if self._rate_limit is None:
            return
        allowed, window = self._rate_limit
        now = self._now()
        while self._recent and self._recent[0] <= now - window:
            self._recent.popleft()
        if len(self._recent) >= allowed:
            wait = math.ceil(self._recent[0] + window - now)
            raise _Answer(  # unrecorded: hosts and WAFs answer 429 in their own words
                _json(
                    {
                        "code": "rest_too_many_requests",
                        "message": "Too many requests.",
                        "data": {"status": 429},
                    },
                    429,
                    {"Retry-After": str(max(1, wait))},
                )
            )
        self._recent.append(now)

    def _authenticate(self, request: httpx.Request, route: str) -> None:
        key, secret = None, None
        header = request.headers.get("Authorization", "")
        secure = request.url.scheme == "https" or request.url.host in _LOOPBACK
        if header.lower().startswith("basic ") and secure:
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            key, _, secret = decoded.partition(":")
        elif secure and "consumer_key" in request.url.params:
            key = request.url.params.get("consumer_key")
            secret = request.url.params.get("consumer_secret", "")
        if key is None:
            if route.endswith("batch"):
                raise _Answer(
                    wp_error(
                        "woocommerce_rest_cannot_batch",
                        "Sorry, you are not allowed to batch manipulate this resource.",
                        401,
                    )
                )
            if route == "order/edit":
                raise _Answer(
                    wp_error(
                        "woocommerce_rest_cannot_edit",
                        "Sorry, you are not allowed to edit this resource.",
                        401,
                    )
                )
            if route == "order":
                raise _Answer(
                    wp_error("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.", 401)
                )
            raise _Answer(wp_error("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401))
        if key != self._key:
            raise _Answer(wp_error("woocommerce_rest_authentication_error", "Consumer key is invalid.", 401))
        if secret != self._secret:
            raise _Answer(
                wp_error("woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401)
            )

    def _take_fault(self, route: str) -> Fault | None:
        return self._faults.next(route)

    @staticmethod
    def _fire(fault: Fault) -> httpx.Response:
        return fault.fire(
            lambda status: wp_error(
                "internal_server_error", "There has been a critical error on this website.", status
            )
        )

    # -- query validation --

    def _check_params(self, query: Mapping[str, str], known: Mapping[str, bool]) -> None:
        unknown = {
            name: f"{name} is not a parameter of this route."
            for name in query
            if name not in known and name not in GLOBAL_PARAMS
        }
        if unknown:  # WordPress would ignore them; see the module docstring
            raise _Answer(_invalid(unknown))
        unmodelled = [name for name in query if name not in GLOBAL_PARAMS and not known[name]]
        if unmodelled:
            raise _Answer(
                wp_error(
                    "sheetsync_fake_unmodelled", f"Not modelled by the fake: {', '.join(unmodelled)}", 501
                )
            )

    def _paging(self, query: Mapping[str, str], kind: str) -> tuple[int, int, int]:
        """(page, per_page, offset) after WordPress's checks."""
        problems: dict[str, str] = {}
        per_page = _integer(query.get("per_page", DEFAULT_PER_PAGE))
        if per_page is None or not 1 <= per_page <= MAX_PER_PAGE:
            problems["per_page"] = f"per_page must be between 1 (inclusive) and {MAX_PER_PAGE} (inclusive)"
        page = _integer(query.get("page", 1))
        if page is None or page < 1:
            problems["page"] = "page must be greater than or equal to 1"
        offset = _integer(query.get("offset", 0))
        if offset is None or offset < 0:
            problems["offset"] = "offset is not of type integer."
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            problems["order"] = _one_of("order", ("asc", "desc"))
        orderby = query.get("orderby", "date")
        if orderby not in _ORDERBY[kind]:
            problems["orderby"] = _one_of("orderby", _ORDERBY[kind])
        context = query.get("context", "view")
        if context not in ("view", "edit"):
            problems["context"] = _one_of("context", ("view", "edit"))
        if problems:
            raise _Answer(_invalid(problems))
        return page or 1, per_page or DEFAULT_PER_PAGE, offset or 0  # None was refused above

    @staticmethod
    def _ids(query: Mapping[str, str], name: str, problems: dict[str, str]) -> set[int] | None:
        if name not in query:
            return None
        ids = set()
        for part in query[name].split(","):
            number = _integer(part)
            if number is None:
                problems[name] = f"{name}[0] is not of type integer."
                return None
            ids.add(number)
        return ids

    def _page(
        self,
        items: list[Any],
        query: Mapping[str, str],
        kind: str,
        path: str,
        render: Callable[[Any], Json],
        sort_key: Callable[[Any], Any],
    ) -> httpx.Response:
        page, per_page, offset = self._paging(query, kind)
        items.sort(key=sort_key, reverse=query.get("order", "desc") == "desc")
        total = len(items)
        start = offset if "offset" in query else (page - 1) * per_page
        chunk = items[start : start + per_page]
        pages = math.ceil(total / per_page) if total else 0
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        links = []
        base = {k: v for k, v in query.items() if k != "page"}
        if page > 1:
            links.append(f'<{PREFIX}{path}?{urlencode({**base, "page": page - 1})}>; rel="prev"')
        if page < pages:
            links.append(f'<{PREFIX}{path}?{urlencode({**base, "page": page + 1})}>; rel="next"')
        if links:
            headers["Link"] = ", ".join(links)
        return _json([render(item) for item in chunk], 200, headers)

    def _product_sort(self, query: Mapping[str, str]) -> Callable[[_Product], Any]:
        orderby = query.get("orderby", "date")
        if orderby == "modified":
            return lambda p: (p.modified, p.id)
        if orderby in ("id", "include"):
            return lambda p: p.id
        if orderby in ("title", "slug"):
            return lambda p: (p.sku, p.id)
        if orderby == "date":
            return lambda p: (p.created, p.id)
        raise _Answer(
            wp_error("sheetsync_fake_unmodelled", f"Not modelled by the fake: orderby={orderby}", 501)
        )

    # -- products --

    def _list_products(self, query: Mapping[str, str]) -> httpx.Response:
        self._check_params(query, _PRODUCT_PARAMS)
        problems: dict[str, str] = {}
        types = ("simple", "grouped", "external", "variable")
        if "type" in query and query["type"] not in types:
            problems["type"] = _one_of("type", types)
        statuses = ("any", "future", "trash", "draft", "pending", "private", "publish")
        if query.get("status", "any") not in statuses:
            problems["status"] = _one_of("status", statuses)
        include = self._ids(query, "include", problems)
        parents = self._ids(query, "parent", problems)
        if problems:
            raise _Answer(_invalid(problems))
        if "sku" in query:
            skus = set(query["sku"].split(","))
            skus.add(query["sku"])  # the whole string is a SKU too, as WooCommerce does
            # With ``sku`` WooCommerce queries variations too; MySQL matches case-insensitively.
            ids = sorted({i for s in skus for i in self._folded.get(s.casefold(), ())})
            items = [self._products[i] for i in ids]
        else:
            items = [p for p in self._products.values() if p.type != "variation"]
        if "type" in query:
            items = [p for p in items if p.type == query["type"]]
        if include is not None:
            items = [p for p in items if p.id in include]
        if parents is not None:
            items = [p for p in items if p.parent_id in parents]
        return self._page(
            items, query, "products", "/products", self._product_json, self._product_sort(query)
        )

    def _list_variations(self, parent_id: int, query: Mapping[str, str]) -> httpx.Response:
        self._check_params(query, _VARIATION_PARAMS)
        parent = self._products.get(parent_id)
        if parent is None or parent.type == "variation":
            raise _Answer(
                wp_error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
            )  # unrecorded status
        problems: dict[str, str] = {}
        include = self._ids(query, "include", problems)
        if problems:
            raise _Answer(_invalid(problems))
        items = [self._products[i] for i in parent.variations]
        if "sku" in query:
            items = [p for p in items if p.sku.casefold() == query["sku"].casefold()]
        if include is not None:
            items = [p for p in items if p.id in include]
        path = f"/products/{parent_id}/variations"
        return self._page(items, query, "variations", path, self._product_json, self._product_sort(query))

    def _product_json(self, product: _Product) -> Json:
        body: dict[str, Json] = {
            "id": product.id,
            "date_created": _iso(product.created, self._offset),
            "date_created_gmt": _iso(product.created),
            "date_modified": _iso(product.modified, self._offset),
            "date_modified_gmt": _iso(product.modified),
            "sku": product.sku,
            "status": "publish",
            "manage_stock": product.manage_stock,
            "stock_quantity": product.stock_quantity,
            "stock_status": product.stock_status,
            "backorders": product.backorders,
            "backorders_allowed": product.backorders != "no",
            "backordered": bool(product.stock_quantity is not None and product.stock_quantity < 0),
            "price": product.regular_price,
            "regular_price": product.regular_price,
            "sale_price": "",
        }
        if product.type == "variation":
            body["type"] = "variation"  # what the products endpoint shows for a variation
            body["parent_id"] = product.parent_id
            # Product variation - Attributes properties: id (0 for a custom attribute), name, option.
            body["attributes"] = [{"id": 0, "name": n, "option": o} for n, o in product.attributes]
        else:
            body["name"] = product.name
            body["type"] = product.type
            body["parent_id"] = 0
            body["variations"] = list(product.variations)
        return body

    # -- batches --

    def _batch(
        self, request: httpx.Request, query: Mapping[str, str], parent_id: int | None, entry: dict[str, Any]
    ) -> httpx.Response:
        try:
            body = json.loads(request.content or b"{}")
        except ValueError:
            raise _Answer(wp_error("rest_invalid_json", "Invalid JSON body passed.", 400)) from None
        if not isinstance(body, dict):
            raise _Answer(wp_error("rest_invalid_json", "Invalid JSON body passed.", 400))
        unknown = {
            k: f"{k} is not a parameter of this route."
            for k in (*body, *query)
            if k not in ("create", "update", "delete")
        }
        bad = {
            k: f"{k} is not of type array."
            for k in ("create", "update", "delete")
            if k in body and not isinstance(body[k], list)
        }
        if unknown or bad:
            raise _Answer(_invalid({**unknown, **bad}))
        counted = sum(len(body.get(k) or []) for k in ("create", "update", "delete"))
        entry["objects"] = counted
        if counted > self.batch_limit:
            raise _Answer(
                wp_error(
                    "woocommerce_rest_request_entity_too_large",
                    f"Unable to accept more than {self.batch_limit} items for this request.",
                    413,
                )
            )
        if body.get("create") or body.get("delete"):
            raise _Answer(
                wp_error("sheetsync_fake_unmodelled", "Not modelled by the fake: create, delete", 501)
            )
        updated = []
        for item in body.get("update") or []:
            if isinstance(item, dict) and _integer(item.get("id")) in self._broken_saves:
                raise _Answer(self._fire(Fault(500)))  # the items before it stay saved
            updated.append(self._update_item(item, parent_id))
        return _json({"update": updated})

    def _update_item(self, item: Json, parent_id: int | None) -> Json:
        variation = parent_id is not None
        post_type = "product_variation" if variation else "product"
        properties = self.variation_properties if variation else self.product_properties
        if not isinstance(item, dict):
            return {
                "id": 0,
                "error": {
                    "code": "rest_invalid_param",
                    "message": "Invalid parameter(s): update",
                    "data": {"status": 400},
                },
            }
        item_id = _integer(item.get("id"))
        shown_id = item.get("id", 0)
        product = self._products.get(item_id) if item_id is not None else None
        if (
            product is None
            or (product.type == "variation") != variation
            or (variation and product.parent_id != parent_id)
        ):
            return _item_error(shown_id, f"woocommerce_rest_{post_type}_invalid_id", "Invalid ID.", 400)
        problems: dict[str, str] = {}
        unmodelled = []
        for name, value in item.items():
            prop = properties.get(name)
            if prop is None:
                problems[name] = f"{name} is not a property of {post_type}."
            elif name not in _MODELLED_FIELDS and not prop.read_only:
                unmodelled.append(name)
            elif name in ("stock_status", "backorders") and value not in prop.options:
                problems[name] = _one_of(name, prop.options)
            elif name == "manage_stock" and _boolean(value) is None and not (variation and value == "parent"):
                problems[name] = f"{name} is not of type boolean."
            elif name == "stock_quantity" and value is not None and _integer(value) is None:
                problems[name] = f"{name} is not of type integer."
            elif name == "regular_price" and not isinstance(value, str):
                problems[name] = f"{name} is not of type string."
        if problems:
            return {
                "id": shown_id,
                "error": {
                    "code": "rest_invalid_param",
                    "message": f"Invalid parameter(s): {', '.join(problems)}",
                    "data": {"status": 400, "params": problems},
                },
            }
        if unmodelled:
            raise _Answer(
                wp_error(
                    "sheetsync_fake_unmodelled", f"Not modelled by the fake: {', '.join(unmodelled)}", 501
                )
            )
        if "manage_stock" in item:
            product.manage_stock = (
                "parent" if item["manage_stock"] == "parent" else bool(_boolean(item["manage_stock"]))
            )
        if "backorders" in item:
            product.backorders = item["backorders"]
        if "stock_status" in item:
            product.stock_status = item["stock_status"]
        if "regular_price" in item:
            # wc_format_decimal in set_regular_price; the controller clears variable/grouped prices.
            priceless = product.type in _PRICELESS_TYPES
            product.regular_price = (
                "" if priceless else wc_format_decimal(item["regular_price"], self.decimal_separator)
            )
        if "stock_quantity" in item and product.manage_stock is True:
            # Only honoured while stock is managed (https://woocommerce.github.io/woocommerce-rest-api-docs/#product-properties).
            quantity = item["stock_quantity"]
            product.stock_quantity = None if quantity is None else _integer(quantity)
        self._restatus(product)
        product.modified = self._now()
        return self._product_json(product)

    # -- settings --

    def _setting(self, group: str, setting: str, query: Mapping[str, str]) -> httpx.Response:
        """One setting option; only the store currency is modelled."""
        self._check_params(query, {"context": True})
        if (group, setting) != ("general", "woocommerce_currency"):
            raise _Answer(
                wp_error(
                    "sheetsync_fake_unmodelled", f"Not modelled by the fake: setting {group}/{setting}", 501
                )
            )
        href = f"{PREFIX}/settings/general"
        return _json(
            {
                "id": "woocommerce_currency",
                "label": "Currency",
                "description": "This controls what currency prices are listed at in the catalog and which "
                "currency gateways will take payments in.",
                "type": "select",
                "default": "USD",
                "options": {self.currency: self.currency},  # trimmed: WooCommerce lists every currency
                "tip": "This controls what currency prices are listed at in the catalog and which currency "
                "gateways will take payments in.",
                "value": self.currency,
                "group_id": "general",
                "_links": {
                    "self": [{"href": f"{href}/woocommerce_currency"}],
                    "collection": [{"href": href}],
                },
            }
        )

    # -- orders --

    def _list_orders(self, query: Mapping[str, str]) -> httpx.Response:
        self._check_params(query, _ORDER_PARAMS)
        problems: dict[str, str] = {}
        gmt = _boolean(query.get("dates_are_gmt", "false"))
        if gmt is None:
            problems["dates_are_gmt"] = "dates_are_gmt is not of type boolean."
        offset = 0.0 if gmt else self._offset
        bounds: dict[str, float] = {}
        for name in ("after", "before", "modified_after", "modified_before"):
            if name in query:
                moment = _parse_date(query[name], offset)
                if moment is None:
                    problems[name] = "Invalid date."
                else:
                    bounds[name] = moment
        statuses = [s for s in query.get("status", "any").split(",") if s]
        allowed = ("any", *ORDER_STATUSES)
        for index, status in enumerate(statuses):
            if status not in allowed:
                problems["status"] = _one_of(f"status[{index}]", allowed)
        include = self._ids(query, "include", problems)
        exclude = self._ids(query, "exclude", problems)
        if problems:
            raise _Answer(_invalid(problems))
        items = list(self._orders.values())
        if "any" not in statuses:
            items = [o for o in items if o.status in statuses]
        else:
            items = [o for o in items if o.status not in ("trash", "checkout-draft")]
        # WordPress date queries: ``after`` / ``before`` are exclusive.
        if "after" in bounds:
            items = [o for o in items if o.created > bounds["after"]]
        if "before" in bounds:
            items = [o for o in items if o.created < bounds["before"]]
        if "modified_after" in bounds:
            items = [o for o in items if o.modified > bounds["modified_after"]]
        if "modified_before" in bounds:
            items = [o for o in items if o.modified < bounds["modified_before"]]
        if include is not None:
            items = [o for o in items if o.id in include]
        if exclude is not None:
            items = [o for o in items if o.id not in exclude]
        orderby = query.get("orderby", "date")
        sort_key: Callable[[_Order], Any] = (
            (lambda o: (o.created, o.id)) if orderby == "date" else (lambda o: o.id)
        )
        return self._page(items, query, "orders", "/orders", self._order_json, sort_key)

    def _line_json(self, item: _LineItem) -> Json:
        return {
            "id": item.id,
            "name": item.sku,
            "product_id": item.product_id,
            "variation_id": item.variation_id,
            "quantity": item.quantity,
            "sku": item.sku,
            "meta_data": [],
        }

    def _order_json(self, order: _Order) -> Json:
        return {
            "id": order.id,
            "parent_id": 0,
            "status": order.status,
            "date_created": _iso(order.created, self._offset),
            "date_created_gmt": _iso(order.created),
            "date_modified": _iso(order.modified, self._offset),
            "date_modified_gmt": _iso(order.modified),
            "date_paid": None if order.paid is None else _iso(order.paid, self._offset),
            "date_paid_gmt": None if order.paid is None else _iso(order.paid),
            "line_items": [self._line_json(item) for item in order.lines],
            "refunds": [{"id": r.id, "reason": "", "total": "0.00"} for r in order.refunds],
        }

    def _found_order(self, order_id: int, status: int) -> _Order:
        order = self._orders.get(order_id)
        if order is None:
            raise _Answer(wp_error("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", status))
        return order

    def _get_order(self, order_id: int, query: Mapping[str, str]) -> httpx.Response:
        self._check_params(query, {"context": True})
        return _json(self._order_json(self._found_order(order_id, 404)))

    def _edit_order(self, order_id: int, request: httpx.Request, query: Mapping[str, str]) -> httpx.Response:
        """``PUT orders/{id}``: only ``line_items`` is modelled (module docstring, Admin edits)."""
        self._check_params(query, {})
        order = self._found_order(order_id, 400)
        try:
            body = json.loads(request.content or b"{}")
        except ValueError:
            raise _Answer(wp_error("rest_invalid_json", "Invalid JSON body passed.", 400)) from None
        if not isinstance(body, dict):
            raise _Answer(wp_error("rest_invalid_json", "Invalid JSON body passed.", 400))
        unknown = {k: f"{k} is not a parameter of this route." for k in body if k not in _ORDER_FIELDS}
        if unknown:  # WordPress would ignore them; see the module docstring
            raise _Answer(_invalid(unknown))
        unmodelled = [k for k in body if not _ORDER_FIELDS[k]]
        if unmodelled:
            raise _Answer(
                wp_error(
                    "sheetsync_fake_unmodelled", f"Not modelled by the fake: {', '.join(unmodelled)}", 501
                )
            )
        posted = body.get("line_items", [])
        if not isinstance(posted, list):
            raise _Answer(_invalid({"line_items": "line_items is not of type array."}))
        for edit in self._plan_line_edits(order, posted):
            if edit.product is not None:
                self._add_line(order, edit.product, 1 if edit.quantity is None else edit.quantity)
            elif edit.item is not None and edit.quantity == 0:
                self._remove_line(order, edit.item)
            elif edit.item is not None:
                quantity = edit.item.quantity if edit.quantity is None else edit.quantity
                self._set_quantity(order, edit.item, quantity)
        order.modified = self._now()
        return _json(self._order_json(order))

    def _plan_line_edits(self, order: _Order, posted: Sequence[Json]) -> list[_LineEdit]:
        """Check every posted line item before anything changes; the edits, in order."""
        present = {item.id: item for item in order.lines}
        plan: list[_LineEdit] = []
        for index, data in enumerate(posted):
            where = f"line_items[{index}]"
            if not isinstance(data, dict):
                raise _Answer(_invalid({"line_items": f"{where} is not of type object."}))
            for name, value in data.items():
                if name not in _LINE_ITEM_FIELDS:  # WordPress would ignore it; module docstring
                    raise _Answer(_invalid({"line_items": f"{name} is not a valid property of Object."}))
                if name in ("id", "product_id", "variation_id", "quantity") and _integer(value) is None:
                    raise _Answer(_invalid({"line_items": f"{where}[{name}] is not of type integer."}))
                if name == "sku" and not isinstance(value, str):
                    raise _Answer(_invalid({"line_items": f"{where}[sku] is not of type string."}))
            unmodelled = [name for name in data if _LINE_ITEM_FIELDS[name] is False]
            if unmodelled:
                raise _Answer(
                    wp_error(
                        "sheetsync_fake_unmodelled",
                        f"Not modelled by the fake: line_items {', '.join(unmodelled)}",
                        501,
                    )
                )
            quantity = _integer(data["quantity"]) if "quantity" in data else None
            product = self._posted_product(data)
            item_id = _integer(data.get("id", 0)) or 0
            if item_id:
                item = present.get(item_id)
                if item is None:
                    raise _Answer(
                        wp_error(
                            "woocommerce_rest_invalid_item_id",
                            "Order item ID provided is not associated with order.",
                            400,
                        )
                    )
                if product is not None and product.id != (item.variation_id or item.product_id):
                    raise _Answer(
                        wp_error(
                            "sheetsync_fake_unmodelled",
                            "Not modelled by the fake: a line item's product changed",
                            501,
                        )
                    )
                if quantity == 0:
                    del present[item_id]  # deleted: a later mention is not on the order any more
                plan.append(_LineEdit(item, quantity))
                continue
            if not any(data.get(k) for k in ("sku", "product_id", "variation_id")):
                raise _Answer(
                    wp_error(
                        "woocommerce_rest_required_product_reference", "Product ID or SKU is required.", 400
                    )
                )
            if product is None:
                raise _Answer(
                    wp_error(
                        "sheetsync_fake_unmodelled",
                        "Not modelled by the fake: a line of an unknown product",
                        501,
                    )
                )
            if quantity == 0:
                raise _Answer(
                    wp_error(
                        "sheetsync_fake_unmodelled", "Not modelled by the fake: a new line of quantity 0", 501
                    )
                )
            plan.append(_LineEdit(None, quantity, product))
        return plan

    def _posted_product(self, data: Mapping[str, Json]) -> _Product | None:
        """The product a posted line item names, as WooCommerce picks it: SKU, variation, product."""
        if data.get("sku"):
            found = self._skus.get(data["sku"])
            return None if found is None else self._products[found]
        for name in ("variation_id", "product_id"):
            number = _integer(data.get(name))
            if number:
                return self._products.get(number)
        return None

    def _list_refunds(self, order_id: int, query: Mapping[str, str]) -> httpx.Response:
        self._check_params(query, _REFUND_PARAMS)
        order = self._orders.get(order_id)
        if order is None:
            raise _Answer(wp_error("woocommerce_rest_order_invalid_id", "Invalid order ID.", 404))
        path = f"/orders/{order_id}/refunds"
        return self._page(
            list(order.refunds), query, "refunds", path, self._refund_json, lambda r: (r.created, r.id)
        )

    def _refund_json(self, refund: _Refund) -> Json:
        return {
            "id": refund.id,
            "date_created": _iso(refund.created, self._offset),
            "date_created_gmt": _iso(refund.created),
            "amount": "0.00",
            "reason": "",
            "refunded_payment": False,
            "meta_data": [],
            "line_items": [
                {
                    **self._line_json(line.item),
                    "id": line.id,
                    "quantity": -line.quantity,  # refund lines count negative in WooCommerce
                    "meta_data": [{"id": line.id, "key": "_refunded_item_id", "value": str(line.item.id)}],
                }
                for line in refund.lines
            ],
        }


def _item_error(item_id: Json, code: str, message: str, status: int) -> Json:
    """A refused batch object, in place (HTTP 200 for the whole batch)."""
    return {"id": item_id, "error": {"code": code, "message": message, "data": {"status": status}}}
