"""An in-memory Shopify Admin GraphQL API for one or more shops, spoken to over the wire.

``FakeShopify`` is a handler (``httpx.Request -> httpx.Response``, see :mod:`sheetsync_fakes.wire`)
that answers ``POST https://{shop}.myshopify.com/admin/api/{version}/graphql.json`` for every
version whose introspection schema it was given (``sheetsync_fakes/reference/shopify``). What it reproduces:

- Transport: ``X-Shopify-Access-Token`` (unknown or missing: 401 with Shopify's body), unsupported
  version or unknown shop: 404, malformed JSON or a missing ``query``: 400. Over loopback
  (``wire.serve``) the host is not ``*.myshopify.com``; the shop is then the one owning the token.
- Validation against the real schema of the requested version with graphql-core: syntax errors
  (``PARSE_ERROR``), unknown fields (``undefinedField``), missing or superfluous sub-selections
  (``selectionMismatch``), unknown arguments and input fields (``argumentNotAccepted``, so
  ``compareQuantity`` fails in 2026-04 and later), missing arguments (``missingRequiredArguments``)
  and variables (``INVALID_VARIABLE`` with ``value`` and ``problems``), in graphql-ruby's wording.
  Those answers carry no ``data`` and no cost, as recorded.
- Limits: an input list over 250 items (``MAX_INPUT_SIZE_EXCEEDED``), a connection page over 250,
  a requested cost over 1,000 (``MAX_COST_EXCEEDED`` with ``cost`` and ``maxCost``).
- Cost: scalars and enums 0, objects and lists of objects 1 plus their children (lists are not
  multiplied), connections 2 plus ``first`` (or ``last``) times the cost of one node, abstract
  types the dearest possible type, mutations 10 plus the children of the payload's fields (the
  payload and its direct objects are included in the 10). This reproduces every recorded
  inventory cost (6, 10, 12, 13). The actual cost counts what was returned: null objects cost 0,
  a connection ``2 + returned nodes``.
- Throttling: a leaky bucket per shop on the injected clock (Standard: 2,000 points, 100/s;
  ``create_shop`` takes others). A request whose requested cost exceeds what is available
  answers ``THROTTLED`` (HTTP 200, or 429 with ``throttle_status=429``) and is not run; otherwise
  the requested cost is taken, the request runs and the difference to the actual cost goes back.
- Execution with graphql-core against a root value built from the shop's state. Modelled roots:
  ``productVariants``, ``productVariantsCount`` (``count`` up to ``limit``, default 10,000, null
  none, then ``precision: AT_LEAST``), ``productVariant``, ``locations``, ``location``, ``inventoryItem``,
  ``inventoryItems``, ``orders``, ``order``, ``shop`` (``currencyCode``, set by ``create_shop``)
  ``currentAppInstallation`` (``accessScopes``: the scopes ``create_shop`` granted), and
  ``webhookSubscriptions`` (the ones :meth:`FakeShopify.subscribe` made, filtered by ``topics``
  and ``uri``), and the mutations ``inventorySetQuantities``, ``productVariantsBulkUpdate`` and the order
  edit (``orderEditBegin``, ``orderEditSetQuantity``, ``orderEditAddVariant``,
  ``orderEditCommit``). Search
  ``query`` strings: ``field:value`` terms (quoted values, ``*`` suffix, ``>``/``>=``/``<``/``<=``
  on dates), implicit AND, ``OR``; fields ``sku``, ``id``, ``product_id`` (variants),
  ``created_at``, ``updated_at``, ``name`` (orders). Connections page with ``first``/``after``,
  ``last``/``before``, ``reverse`` and opaque cursors.
- ``inventorySetQuantities``: every userError of ``InventorySetQuantitiesUserErrorCode`` that
  concerns one call (name, reason, reference document, unknown item or location, an item not
  stocked at the location where the version still has that code (later versions stock it there,
  as reported), bundle parents, bounds, negative ``on_hand``, duplicate pairs, stale
  ``changeFromQuantity``; in 2026-01 the ``compareQuantity`` rules too), all or nothing. Setting
  ``available`` moves ``on_hand`` by the same delta and the reverse, and both appear in
  ``changes`` (``quantityAfterChange`` is null, as recorded). From 2026-04 a missing
  ``changeFromQuantity`` key or a missing ``@idempotent`` directive on any inventory mutation
  fails at run time, as recorded. ``@idempotent(key:)``: the same key and input answer the stored
  payload without applying again; the same key with another input answers
  ``IDEMPOTENCY_KEY_PARAMETER_MISMATCH``.
- ``productVariantsBulkUpdate`` of ``price`` (the variant's price is state, read back by
  :meth:`FakeShopify.price`): an unknown product (``PRODUCT_DOES_NOT_EXIST``), an unknown variant
  (``PRODUCT_VARIANT_DOES_NOT_EXIST``), a variant of another product (``MUST_BE_FOR_THIS_PRODUCT``)
  and a negative price (``GREATER_THAN_OR_EQUAL_TO``) are userErrors at ``["variants", i, …]``, and
  any of them applies nothing (``allowPartialUpdates`` defaults to false). More than 250 variants
  is ``MAX_INPUT_SIZE_EXCEEDED`` like any input list. Other input fields, ``media`` and
  ``allowPartialUpdates: true`` answer 501.
- Order edits, as the admin makes them: ``orderEditBegin`` stages a ``CalculatedOrder`` whose
  line items are ``CalculatedLineItem/<line item number>`` at their current quantity;
  ``orderEditSetQuantity`` sets one (0 removes it, more than ordered adds units; ``restock``
  puts what a decrease removes back), ``orderEditAddVariant`` adds a variant (not one already
  on the order unless ``allowDuplicates``); ``orderEditCommit`` applies it all: ``currentQuantity``
  follows (``quantity`` stays what was ordered), an added variant becomes a new line item, the
  order's ``updatedAt`` moves, and ``available`` at the order's location moves (an increase or an
  added variant takes units, a restocked decrease puts them back). Refused as userErrors
  (``field``, ``message``; nothing applied): an unknown order or calculated order, a cancelled
  order, a negative quantity, an unknown line item or variant, an added quantity below 1, a
  duplicate variant. :meth:`FakeShopify.edit_order` goes through the same steps. A refund also
  lowers ``currentQuantity``, whatever its restock type.
- Webhooks: :meth:`FakeShopify.webhook` builds a signed ``orders/create``, ``orders/updated``,
  ``orders/cancelled`` or ``refunds/create`` delivery (REST payload, ``X-Shopify-*`` headers,
  HMAC of the raw body with the app secret) and :meth:`FakeShopify.deliver` posts it.

Not modelled (any query or mutation root, field, sort key, search field or quantity name outside
the list above answers HTTP 501 naming it, so a test can never pass against behaviour nobody
wrote): other mutations (``inventoryAdjustQuantities`` and ``inventoryMoveQuantities`` get their
run-time checks, then 501), bulk operations, fulfilment and the ``committed``/``reserved``/...
states, per-field cost debugging, the 60-day order window without ``read_all_orders``, the
eventual consistency of the search index, the other order-edit mutations, money and discounts
of a calculated order, an edit committed after the order changed since its begin (501),
``IDEMPOTENCY_CONCURRENT_REQUEST`` and
``IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED``, the enforcement of access scopes (they are only
reported), the webhook subscription mutations, webhook retries, and the Shopify plan's
own sublinear connection costs (recent measurements show ``first: 250`` costing about 11 nodes;
the linear rule here is an upper bound of the real cost, so what passes here passes there).

Error texts taken from recorded Shopify traffic (live captures of 2026-04 and 2026-07 published
in public repositories, quoted in each function): the 401 body, ``PARSE_ERROR`` at end of file,
``undefinedField``, ``selectionMismatch`` (missing selection), ``INVALID_VARIABLE``,
``MAX_INPUT_SIZE_EXCEEDED``, ``MAX_COST_EXCEEDED``, ``THROTTLED``, the missing-``@idempotent`` and
missing-``changeFromQuantity`` errors, and the userErrors ``INVALID_NAME``,
``INVALID_QUANTITY_NEGATIVE``, ``INVALID_QUANTITY_TOO_LOW``. Other userError messages are the code's
description in the version's schema. Texts built by analogy are marked ``# unrecorded`` beside them;
the order-edit userErrors follow airhorns/shopify-draft-proxy's model of them (none recorded).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import hmac
import http
import json
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    Lexer,
    Node,
    ObjectFieldNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    ValueNode,
    VariableNode,
    build_client_schema,
    execute,
    get_named_type,
    get_operation_ast,
    is_abstract_type,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
    parse,
    type_from_ast,
    validate,
    value_from_ast_untyped,
)
from graphql import ListValueNode as _ListValueNode

from sheetsync_fakes.wire import Fault, FaultScript

Json = Any  # a decoded JSON value; the API's shapes are checked where they are used
_T = TypeVar("_T")

WebhookTopic = Literal["orders/create", "orders/updated", "orders/cancelled", "refunds/create"]
RestockType = Literal["CANCEL", "RETURN", "NO_RESTOCK"]

MAX_QUERY_COST = 1000  #: single query max cost (shopify.dev rate limits; MAX_COST_EXCEEDED)
MAX_INPUT_ITEMS = 250  #: any input list (shopify.dev/docs/api/usage/limits)
MAX_PAGE_SIZE = 250  #: ``first``/``last`` of a connection (same page)
STANDARD_BUCKET = 2000.0  #: maximumAvailable on a Standard plan (recorded 2026-04 responses)
STANDARD_RESTORE_RATE = 100.0  #: points restored per second on a Standard plan (rate limits page)
MUTATION_COST = 10  #: a mutation root field, its payload included (recorded inventory costs)
CONNECTION_COST = 2  #: a connection besides its nodes (Shopify's cost article)
MAX_QUANTITY = 1_000_000_000  #: INVALID_QUANTITY_TOO_HIGH above this (schema enum description)
MIN_QUANTITY = -1_000_000_000  #: INVALID_QUANTITY_TOO_LOW below this (same)
STRICT_INVENTORY_FROM = "2026-04"  #: changeFromQuantity key and @idempotent mandatory (schema_notes)
#: productVariantsCount's default ``limit``; past it the count is ``AT_LEAST``
#: (https://shopify.dev/docs/api/admin-graphql/latest/queries/productVariantsCount).
VARIANTS_COUNT_LIMIT = 10_000
DEFAULT_PRICE = "0.00"  #: a new variant's price when none is given, as the admin creates it
DEFAULT_CURRENCY = "USD"  #: ``shop.currencyCode`` unless create_shop says otherwise
#: The scopes a shop's app holds unless create_shop says otherwise: all sheetsync asks for.
DEFAULT_SCOPES = (
    "read_inventory",
    "write_inventory",
    "read_locations",
    "read_orders",
    "read_products",
    "write_products",
)
#: The ProductVariantsBulkInput fields modelled; any other answers 501.
_BULK_VARIANT_FIELDS = frozenset({"id", "price"})
#: userError messages of productVariantsBulkUpdate: the code's description in the schema where it
#: reads like a message; none of them is recorded (no public capture of these refusals was found).
_BULK_MESSAGES = {
    "PRODUCT_DOES_NOT_EXIST": "Product does not exist",  # unrecorded
    "PRODUCT_VARIANT_DOES_NOT_EXIST": "Product variant does not exist",  # unrecorded
    "PRODUCT_VARIANT_ID_MISSING": "Product variant is missing ID attribute",  # unrecorded
    "MUST_BE_FOR_THIS_PRODUCT": "Input must be for this product",  # unrecorded
    "GREATER_THAN_OR_EQUAL_TO": "Price must be greater than or equal to 0",  # unrecorded
}

#: Order-edit userError messages: unrecorded, as airhorns/shopify-draft-proxy models them.
_EDIT_MESSAGES = {
    "no order": "The order does not exist.",
    "not editable": "The order cannot be edited.",
    "no edit": "The calculated order does not exist.",
    "no line": "The line item does not exist on the order.",
    "negative": "must be greater than or equal to 0",
    "below 1": "must be greater than 0",
    "no variant": "The variant does not exist in the shop.",
}

#: Mutations that need ``@idempotent`` from 2026-04 (schema_notes.json, every version listed).
IDEMPOTENT_MUTATIONS = frozenset(
    {"inventoryActivate", "inventoryAdjustQuantities", "inventoryMoveQuantities"}
    | {"inventorySetOnHandQuantities", "inventorySetQuantities", "inventorySetScheduledChanges"}
    | {"inventoryShipmentAddItems", "inventoryShipmentCreate", "inventoryShipmentCreateInTransit"}
    | {"inventoryShipmentReceive", "inventoryTransferCreate", "inventoryTransferCreateAsReadyToShip"}
    | {"inventoryTransferDuplicate", "inventoryTransferSetItems", "locationActivate"}
    | {"locationDeactivate", "refundCreate"}
)
#: Which input holds the rows that must carry ``changeFromQuantity`` (2026-04 captures).
_CAS_ROWS: Mapping[str, tuple[str, str]] = {
    "inventorySetQuantities": ("quantities", "InventoryQuantityInput"),
    "inventoryAdjustQuantities": ("changes", "InventoryChangeInput"),
}
QUANTITY_NAMES = ("available", "on_hand")  #: the names inventorySetQuantities accepts
#: Reasons Shopify documents for inventory changes (the newer ones medium/low;
#: https://shopify.dev/docs/api/admin-graphql/latest/mutations/inventorySetQuantities).
SET_REASONS = frozenset(
    {"correction", "cycle_count_available", "damaged", "movement_canceled", "movement_created"}
    | {"movement_received", "movement_updated", "other", "promotion", "quality_control", "received"}
    | {"reservation_created", "reservation_deleted", "reservation_updated", "restock"}
    | {"safety_stock", "shrinkage"}
)
#: Runtime messages that differ from the enum descriptions ("The total quantity ...").
_MESSAGE_OVERRIDES = {
    "INVALID_QUANTITY_TOO_LOW": "The quantity can't be lower than -1,000,000,000.",  # 2026-04 capture
    "INVALID_QUANTITY_TOO_HIGH": "The quantity can't be higher than 1,000,000,000.",  # unrecorded
}
_BAD_LOGIN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
_RATE_LIMITS_DOC = "https://shopify.dev/api/usage/rate-limits"
_JSON_TYPE = "application/json; charset=utf-8"
_PATH = re.compile(r"/admin/api/(?P<version>[^/]+)/graphql\.json")
_GID = re.compile(r"gid://shopify/(?P<kind>\w+)/(?P<number>\d+)")
_PUNCTUATORS = {
    "!": "BANG",
    "$": "VAR_SIGN",
    "&": "AMP",
    "(": "LPAREN",
    ")": "RPAREN",
    "...": "ELLIPSIS",
    ":": "COLON",
    "=": "EQUALS",
    "@": "DIR_SIGN",
    "[": "LBRACKET",
    "]": "RBRACKET",
    "{": "LCURLY",
    "|": "PIPE",
    "}": "RCURLY",
}


def load_schema(source: GraphQLSchema | Mapping[str, Json] | str | os.PathLike[str]) -> GraphQLSchema:
    """Build a schema from an introspection result (a dict, or a ``.json``/``.json.gz`` path).

    Building the 2026-10 schema takes a few tenths of a second: build it once and pass it on.
    """
    if isinstance(source, GraphQLSchema):
        return source
    if isinstance(source, Mapping):
        introspection = source
    else:
        path = Path(source)
        raw = path.read_bytes()
        introspection = json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)
    # Shopify's schema breaks a rule newer than the API itself (deprecated implementations of
    # non-deprecated interface fields), which graphql-core 3.3 would refuse; Shopify serves it.
    return build_client_schema(introspection.get("data", introspection), assume_valid=True)


def webhook_hmac(body: bytes, secret: str) -> str:
    """``X-Shopify-Hmac-Sha256``: base64 of HMAC-SHA256 over the raw body, keyed by the app secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# --- public records -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variant:
    """A variant :meth:`FakeShopify.add_product` created, with the ids a test needs."""

    sku: str
    product_id: str
    variant_id: str
    inventory_item_id: str


@dataclass(frozen=True, slots=True)
class OrderLineItem:
    """A line item of an order, as :meth:`FakeShopify.order_lines` shows it."""

    line_id: str  #: ``gid://shopify/LineItem/…``
    sku: str
    quantity: int  #: as ordered (or added by an edit)
    current_quantity: int  #: less the units edits removed and the units refunded


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the fake received, for counting calls and their cost."""

    shop: str | None  # the shop domain, once known
    version: str | None
    operation_name: str | None
    root_fields: tuple[str, ...]  # the selected operation's root fields, by schema name
    status: int | None  # None when the fake hung up (a scripted transport error)
    requested_cost: int | None
    actual_cost: int | None  # None when the request did not run
    throttled: bool


@dataclass(frozen=True, slots=True)
class ShopifyCall:
    """A valid request, handed to ``before_request`` just before it runs."""

    shop: str
    version: str
    operation_name: str | None
    root_fields: tuple[str, ...]
    variables: Mapping[str, Json]


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """A signed webhook: the headers and the exact bytes the HMAC covers."""

    headers: dict[str, str]
    body: bytes


# --- state --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Location:
    gid: str
    name: str


@dataclass(frozen=True, slots=True)
class _Subscription:
    gid: str
    topic: str  # the WebhookSubscriptionTopic value, ORDERS_CREATE
    uri: str
    api_version: str
    created_at: str


@dataclass(slots=True)
class _Product:
    gid: str
    title: str
    bundle_parent: bool
    variants: list[str]


@dataclass(slots=True)
class _Variant:
    gid: str
    sku: str
    title: str
    product: str
    item: str
    price: str = DEFAULT_PRICE  #: Money as Shopify answers it: two decimals, no currency


@dataclass(slots=True)
class _Item:
    gid: str
    sku: str
    tracked: bool
    variant: str


@dataclass(slots=True)
class _Level:
    available: int
    on_hand: int


@dataclass(slots=True)
class _LineItem:
    gid: str
    sku: str
    title: str
    quantity: int
    current_quantity: int
    variant: str | None


@dataclass(slots=True)
class _RefundLine:
    gid: str
    line_item: str
    quantity: int
    restock_type: RestockType
    location: str | None


@dataclass(slots=True)
class _Refund:
    gid: str
    created_at: str
    lines: list[_RefundLine]


@dataclass(slots=True)
class _Order:
    gid: str
    name: str
    created_at: str
    updated_at: str
    location: str
    lines: list[_LineItem]
    refunds: list[_Refund] = field(default_factory=list)
    cancelled_at: str | None = None
    cancel_reason: str | None = None
    revision: int = 0  #: bumped by every change after checkout (an edit begun earlier is stale)


@dataclass(slots=True)
class _CalculatedLine:
    gid: str
    line: str | None  #: the order's line item; None for a variant the edit adds
    variant: str | None
    sku: str
    title: str
    before: int  #: the line's current quantity when the edit began (0 for an added one)
    quantity: int  #: as staged
    restock: bool = False


@dataclass(slots=True)
class _Edit:
    gid: str  #: the CalculatedOrder
    session: str  #: the OrderEditSession: either id names the edit
    order: str
    revision: int  #: the order's revision at orderEditBegin
    lines: list[_CalculatedLine]


@dataclass(slots=True)
class _Replay:
    fingerprint: str
    payload: Json


@dataclass(slots=True)
class _Bucket:
    size: float
    rate: float
    available: float
    at: float

    def refill(self, now: float) -> None:
        self.available = min(self.size, self.available + max(0.0, now - self.at) * self.rate)
        self.at = now

    def status(self) -> Json:
        return {
            "maximumAvailable": self.size,
            "currentlyAvailable": int(self.available),
            "restoreRate": self.rate,
        }


@dataclass(slots=True)
class _Shop:
    domain: str
    token: str
    bucket: _Bucket
    currency: str = DEFAULT_CURRENCY
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    subscriptions: dict[str, _Subscription] = field(default_factory=dict)
    locations: dict[str, _Location] = field(default_factory=dict)
    products: dict[str, _Product] = field(default_factory=dict)
    variants: dict[str, _Variant] = field(default_factory=dict)
    items: dict[str, _Item] = field(default_factory=dict)
    levels: dict[tuple[str, str], _Level] = field(default_factory=dict)  # (item, location)
    orders: dict[str, _Order] = field(default_factory=dict)
    replays: dict[str, _Replay] = field(default_factory=dict)  # idempotency key -> first result
    edits: dict[str, _Edit] = field(default_factory=dict)  # open edits by calculated order and session id

    def location(self, ref: str) -> _Location:
        """A location by gid or by name."""
        found = self.locations.get(ref) or next(
            (loc for loc in self.locations.values() if loc.name == ref), None
        )
        if found is None:
            raise KeyError(f"{self.domain} has no location {ref!r}")
        return found

    def item_by_sku(self, sku: str) -> _Item:
        found = next((item for item in self.items.values() if item.sku == sku), None)
        if found is None:
            raise KeyError(f"{self.domain} has no SKU {sku!r}")
        return found


@dataclass(frozen=True, slots=True)
class _Version:
    """What one API version's schema says about the behaviour modelled here."""

    name: str
    schema: GraphQLSchema
    set_codes: Mapping[str, str]  # InventorySetQuantitiesUserErrorCode -> description
    legacy_compare: bool  # InventoryQuantityInput still has compareQuantity (2026-01)

    @property
    def strict(self) -> bool:
        return self.name >= STRICT_INVENTORY_FROM


class _Rejected(Exception):
    """Abandon the request with this answer (private: it never leaves this module)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class _Unmodelled(Exception):
    """The request reached behaviour this fake does not model; it answers 501."""


def _json_response(body: Json, status: int = 200, headers: Mapping[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        headers={"Content-Type": _JSON_TYPE, **(headers or {})},
        content=json.dumps(body, ensure_ascii=False).encode(),
    )


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _at(moment: dt.datetime | None, now: float) -> str:
    if moment is None:
        return _iso(now)
    if moment.tzinfo is None:
        raise ValueError("give an aware datetime: Shopify timestamps are UTC instants")
    return _iso(moment.timestamp())


def _number(gid: str) -> int:
    match = _GID.fullmatch(gid.partition("?")[0])
    return int(match.group("number")) if match else 0


def _rest_time(iso: str | None) -> str | None:
    """The REST (webhook) form of a timestamp: with an explicit offset."""
    return None if iso is None else iso.replace("Z", "+00:00")


# --- search queries -----------------------------------------------------------------------------

_TERM = re.compile(r"""(?P<field>\w+):(?P<op><=|>=|<|>)?(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<bare>\S+))""")


@dataclass(frozen=True, slots=True)
class _Term:
    field: str
    op: str
    value: str


def _parse_search(text: str | None, allowed: Iterable[str]) -> list[list[_Term]]:
    """``a:1 b:2 OR c:3`` as OR-groups of AND-ed terms; an unknown field is not modelled."""
    if not text or not text.strip():
        return []
    groups: list[list[_Term]] = [[]]
    pos, fields = 0, set(allowed)
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        if text.startswith("OR", pos) and (pos + 2 == len(text) or text[pos + 2].isspace()):
            groups.append([])
            pos += 2
            continue
        if text.startswith("AND", pos) and (pos + 3 == len(text) or text[pos + 3].isspace()):
            pos += 3
            continue
        match = _TERM.match(text, pos)
        if match is None or match.group("field") not in fields:
            raise _Unmodelled(f"FakeShopify does not model the search {text!r}")
        value = (
            match.group("sq") if match.group("sq") is not None else match.group("dq") or match.group("bare")
        )
        groups[-1].append(_Term(match.group("field"), match.group("op") or "", value or ""))
        pos = match.end()
    return [group for group in groups if group]


def _term_matches(term: _Term, actual: str | None) -> bool:
    if actual is None:
        return False
    if term.op:
        wanted, have = _parse_time(term.value), _parse_time(actual)
        return {
            ">": have > wanted,
            ">=": have >= wanted,
            "<": have < wanted,
            "<=": have <= wanted,
        }[term.op]
    if term.value.endswith("*"):
        return actual.lower().startswith(term.value[:-1].lower())
    return actual.lower() == term.value.lower()


def _parse_time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _sku_list(groups: list[list[_Term]]) -> set[str] | None:
    """The lower-cased SKUs of a search that is only exact ``sku:`` terms OR-ed; else None."""
    if not groups or any(len(g) != 1 or g[0].field != "sku" or g[0].op for g in groups):
        return None
    if any(g[0].value.endswith("*") for g in groups):
        return None
    return {g[0].value.lower() for g in groups}


def _search(groups: list[list[_Term]], values: Callable[[str], str | None]) -> bool:
    return not groups or any(all(_term_matches(t, values(t.field)) for t in group) for group in groups)


# --- connections --------------------------------------------------------------------------------


def _cursor(key: tuple[Json, int]) -> str:
    payload = {"last_id": key[1], "last_value": key[0]}
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _decode_cursor(text: str) -> tuple[Json, int]:
    try:
        decoded = json.loads(base64.b64decode(text, validate=True))
        return decoded["last_value"], int(decoded["last_id"])
    except (ValueError, KeyError, TypeError):
        raise GraphQLError(f"Invalid cursor for current pagination sort: {text}") from None  # unrecorded


def _connection(
    items: Iterable[_T],
    key: Callable[[_T], tuple[Json, int]],
    node: Callable[[_T], Json],
    args: Mapping[str, Json],
) -> Json:
    """A Relay connection over ``items`` sorted by ``key`` (sort value, legacy id)."""
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")  # graphql-ruby's text, unrecorded
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
            # unrecorded
            raise GraphQLError(f"The '{name}' argument must be between 0 and {MAX_PAGE_SIZE}, got {size}.")
    reverse = bool(args.get("reverse"))
    keyed = sorted(((key(item), item) for item in items), key=lambda entry: entry[0], reverse=reverse)

    def ahead(one: tuple[Json, int], other: tuple[Json, int]) -> bool:
        return one < other if reverse else one > other

    # Cursors carry the sort key, so a page boundary survives the item's deletion.
    low, high = 0, len(keyed)
    if args.get("after") is not None:
        mark = _decode_cursor(str(args["after"]))
        low = sum(1 for k, _ in keyed if not ahead(k, mark))
    if args.get("before") is not None:
        mark = _decode_cursor(str(args["before"]))
        high = max(low, sum(1 for k, _ in keyed if ahead(mark, k)))
    if first is not None:
        high = min(high, low + first)
    if last is not None:
        low = max(low, high - last)
    edges = [{"cursor": _cursor(k), "node": node(item)} for k, item in keyed[low:high]]
    return {
        "edges": edges,
        "nodes": [edge["node"] for edge in edges],
        "pageInfo": {
            "hasNextPage": high < len(keyed),
            "hasPreviousPage": low > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


# --- documents: paths, arguments, cost ----------------------------------------------------------

_REQUESTED = object()  # stands for "not run yet" where a cost walk would read response data


class _Document:
    """One parsed operation with its variables, as the cost walk and the run-time checks need it."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Json,
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables: dict[str, Json] = {}
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name in variables:
                self.variables[name] = variables[name]
            elif definition.default_value is not None:
                self.variables[name] = value_from_ast_untyped(definition.default_value)
        root = schema.mutation_type if operation.operation == OperationType.MUTATION else schema.query_type
        if root is None:
            raise _Unmodelled(f"FakeShopify does not model {operation.operation.value} operations")
        self.root = root

    def value(self, node: ValueNode) -> Json:
        return value_from_ast_untyped(node, self.variables)

    def argument(self, node: FieldNode, name: str) -> Json:
        found = next((arg for arg in node.arguments or () if arg.name.value == name), None)
        return None if found is None else self.value(found.value)

    def included(self, node: SelectionNode) -> bool:
        for directive in node.directives or ():
            condition = next((a for a in directive.arguments or () if a.name.value == "if"), None)
            test = bool(self.value(condition.value)) if condition else True
            if directive.name.value == "skip" and test:
                return False
            if directive.name.value == "include" and not test:
                return False
        return True

    def fields(self, parent: GraphQLObjectType, selections: SelectionSetNode | None) -> Iterator[FieldNode]:
        """The fields selected on an object type, through fragments whose condition applies."""
        for selection in selections.selections if selections else ():
            if not self.included(selection):
                continue
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if self._applies(condition.name.value if condition else None, parent):
                    yield from self.fields(parent, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment and self._applies(fragment.type_condition.name.value, parent):
                    yield from self.fields(parent, fragment.selection_set)

    def _applies(self, condition: str | None, parent: GraphQLObjectType) -> bool:
        if condition is None or condition == parent.name:
            return True
        target = self.schema.get_type(condition)
        return isinstance(target, GraphQLInterfaceType | GraphQLUnionType) and self.schema.is_sub_type(
            target, parent
        )

    def root_fields(self) -> list[FieldNode]:
        return [
            node
            for node in self.fields(self.root, self.operation.selection_set)
            if node.name.value != "__typename"
        ]

    # -- cost --

    def cost(self, data: Json = _REQUESTED) -> int:
        """The requested cost (before running) or, given the response data, the actual cost."""
        total = 0
        mutation = self.operation.operation == OperationType.MUTATION
        for node in self.root_fields():
            definition = self.root.fields[node.name.value]
            value = _REQUESTED if data is _REQUESTED else (data or {}).get(_key(node))
            if not mutation:
                total += self._field(definition.type, node, value)
                continue
            total += MUTATION_COST
            payload = get_named_type(definition.type)
            if value is None or not isinstance(payload, GraphQLObjectType):
                continue
            for child in self.fields(payload, node.selection_set):
                if child.name.value == "__typename":
                    continue
                inner = _REQUESTED if value is _REQUESTED else value.get(_key(child))
                named = get_named_type(payload.fields[child.name.value].type)
                if inner is not None and not is_leaf_type(named):
                    total += self._children(named, child.selection_set, inner)
        return total

    def _field(self, field_type: Any, node: FieldNode, value: Json) -> int:
        named = get_named_type(field_type)
        if is_leaf_type(named) or value is None:
            return 0
        if _is_connection(named):
            return CONNECTION_COST + self._connection(named, node, value)
        return 1 + self._children(named, node.selection_set, value)

    def _connection(self, connection: Any, node: FieldNode, value: Json) -> int:
        total = 0
        for part in self.fields(connection, node.selection_set):
            if part.name.value not in ("nodes", "edges"):
                continue  # pageInfo and __typename are part of the connection's own cost
            target = get_named_type(connection.fields[part.name.value].type)
            if part.name.value == "edges":
                edge_fields = [f for f in self.fields(target, part.selection_set) if f.name.value == "node"]
                if not edge_fields:
                    continue
                target, selection, inner_key = (
                    get_named_type(target.fields["node"].type),
                    edge_fields[0],
                    "node",
                )
            else:
                selection, inner_key = part, None
            if value is _REQUESTED:
                size = self.argument(node, "first") or self.argument(node, "last") or 0
                total += int(size) * (1 + self._children(target, selection.selection_set, _REQUESTED))
                continue
            for element in value.get(_key(part)) or ():
                inner = element.get(_key(selection)) if inner_key else element
                total += 1 + self._children(target, selection.selection_set, inner)
        return total

    def _children(self, parent: Any, selections: SelectionSetNode | None, value: Json) -> int:
        if isinstance(value, list):
            return max((self._children(parent, selections, element) for element in value), default=0)
        if is_abstract_type(parent):
            typename = value.get("__typename") if isinstance(value, dict) else None
            candidates = (
                [self.schema.get_type(typename)] if typename else self.schema.get_possible_types(parent)
            )
            return max((self._children(t, selections, value) for t in candidates), default=0)
        total = 0
        for node in self.fields(parent, selections):
            if node.name.value == "__typename":
                continue
            inner = value if value is _REQUESTED else value.get(_key(node))
            total += self._field(parent.fields[node.name.value].type, node, inner)
        return total


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _is_connection(named: Any) -> bool:
    return is_object_type(named) and named.name.endswith("Connection") and "pageInfo" in named.fields


def _location(node: Node) -> Json:
    loc = node.loc
    if loc is None:
        return {"line": 1, "column": 1}
    token = loc.start_token
    return {"line": token.line, "column": token.column}


def _error(
    message: str,
    nodes: Sequence[Node] = (),
    extensions: Json = None,
    path: Sequence[str | int] | None = None,
) -> Json:
    """A GraphQL error in the key order Shopify writes: message, locations, extensions, path."""
    error: Json = {"message": message}
    if nodes:
        error["locations"] = [_location(node) for node in nodes]
    if extensions is not None:
        error["extensions"] = extensions
    if path is not None:
        error["path"] = list(path)
    return error


class _Paths:
    """graphql-ruby's error path of every node: the operation's label, then field names."""

    def __init__(self, document: DocumentNode) -> None:
        self.paths: dict[int, list[str]] = {}
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                label = definition.operation.value
                if definition.name:
                    label += f" {definition.name.value}"
                self._walk(definition, [label])
            elif isinstance(definition, FragmentDefinitionNode):
                self._walk(definition, [f"fragment {definition.name.value}"])

    def _walk(self, node: Node, path: list[str]) -> None:
        self.paths[id(node)] = path
        for key in node.keys:
            child = getattr(node, key, None)
            for item in child if isinstance(child, tuple | list) else (child,):
                if not isinstance(item, Node):
                    continue
                if isinstance(item, FieldNode):
                    self._walk(item, [*path, item.name.value])
                elif isinstance(item, InlineFragmentNode) and item.type_condition:
                    self._walk(item, [*path, f"... on {item.type_condition.name.value}"])
                else:
                    self._walk(item, path)

    def __getitem__(self, node: Node) -> list[str]:
        return self.paths.get(id(node), [])


def _parse_error(error: GraphQLError, query: str) -> Json:
    """graphql-ruby's syntax error: the unexpected token, at the token before it for end of file."""
    offset = next(iter(error.positions or ()), 0)
    lexer, previous = Lexer(Source(query)), None
    try:
        token = lexer.advance()
        while token.kind != TokenKind.EOF and token.start < offset:
            previous, token = token, lexer.advance()
    except GraphQLError:
        token = None
    if token is None:
        location = error.locations[0] if error.locations else None
        line, column = (location.line, location.column) if location else (1, 1)
        return _error(
            f"syntax error, unexpected invalid token at [{line}, {column}]",  # unrecorded
            extensions={"code": "PARSE_ERROR"},
        ) | {"locations": [{"line": line, "column": column}]}
    if token.kind == TokenKind.EOF:
        anchor = previous or token
        what = "end of file"  # recorded: "syntax error, unexpected end of file at [3, 5]"
    else:
        anchor = token
        text = query[token.start : token.end]
        kind = _PUNCTUATORS.get(text) or {
            TokenKind.NAME: "IDENTIFIER",
            TokenKind.INT: "INT",
            TokenKind.FLOAT: "FLOAT",
            TokenKind.STRING: "STRING",
            TokenKind.BLOCK_STRING: "STRING",
        }.get(token.kind, token.kind.name)
        what = f"{kind} ({json.dumps(text)})"  # unrecorded
    return {
        "message": f"syntax error, unexpected {what} at [{anchor.line}, {anchor.column}]",
        "locations": [{"line": anchor.line, "column": anchor.column}],
        "extensions": {"code": "PARSE_ERROR"},
    }


def _validation_error(error: GraphQLError, paths: _Paths) -> Json:
    """A graphql-core validation error in graphql-ruby's words (recorded ones noted)."""
    nodes = list(error.nodes or ())
    node = nodes[0] if nodes else None
    path = paths[node] if node is not None else None
    text = error.message
    if match := re.match(r"Cannot query field '(\w+)' on type '(\w+)'", text):  # recorded
        field_name, type_name = match.groups()
        return _error(
            f"Field '{field_name}' doesn't exist on type '{type_name}'",
            nodes,
            {"code": "undefinedField", "typeName": type_name, "fieldName": field_name},
            path,
        )
    if match := re.match(r"Field '(\w+)' of type '([\w!\[\]]+)' must have a selection", text):  # recorded
        field_name, type_name = match.group(1), match.group(2).strip("[]!")
        return _error(
            f"Field must have selections (field '{field_name}' returns {type_name} but has no selections. "
            f"Did you mean '{field_name} {{ ... }}'?)",
            nodes,
            {"code": "selectionMismatch", "nodeName": f"field '{field_name}'", "typeName": type_name},
            path,
        )
    if match := re.match(r"Field '(\w+)' must not have a selection since type '([\w!\[\]]+)'", text):
        field_name, type_name = match.group(1), match.group(2).strip("[]!")
        return _error(  # unrecorded
            f"Selections can't be made on scalars (field '{field_name}' returns {type_name} "
            "but has selections)",
            nodes,
            {"code": "selectionMismatch", "nodeName": f"field '{field_name}'", "typeName": type_name},
            path,
        )
    if isinstance(node, ObjectFieldNode) and (match := re.search(r"type '(\w+)'", text)):
        type_name, argument = match.group(1), node.name.value
        return _error(  # unrecorded
            f"InputObject '{type_name}' doesn't accept argument '{argument}'",
            nodes,
            {
                "code": "argumentNotAccepted",
                "name": type_name,
                "typeName": "InputObject",
                "argumentName": argument,
            },
            path,
        )
    if match := re.match(r"Unknown argument '(\w+)' on field '\w+\.(\w+)'", text):
        argument, field_name = match.groups()
        return _error(  # unrecorded
            f"Field '{field_name}' doesn't accept argument '{argument}'",
            nodes,
            {
                "code": "argumentNotAccepted",
                "name": field_name,
                "typeName": "Field",
                "argumentName": argument,
            },
            path,
        )
    if isinstance(node, FieldNode) and (match := re.search(r"argument '(\w+)'|\((\w+):\)", text)):
        argument, field_name = match.group(1) or match.group(2), node.name.value
        return _error(  # unrecorded
            f"Field '{field_name}' is missing required arguments: {argument}",
            nodes,
            {
                "code": "missingRequiredArguments",
                "className": "Field",
                "name": field_name,
                "arguments": argument,
            },
            path,
        )
    return _error(text, nodes, {"code": "GRAPHQL_VALIDATION_FAILED"}, path)  # graphql-core's own words


def _variable_problems(input_type: GraphQLInputType, value: Json, path: list[str | int]) -> list[Json]:
    """What is wrong with a variable's value, as graphql-ruby lists ``problems``."""
    if isinstance(input_type, GraphQLNonNull):
        if value is None:
            return [{"path": path, "explanation": "Expected value to not be null"}]
        return _variable_problems(input_type.of_type, value, path)
    if value is None:
        return []
    if isinstance(input_type, GraphQLList):
        if not isinstance(value, list):  # GraphQL coerces a single value into a list of one
            return _variable_problems(input_type.of_type, value, path)
        return [
            problem
            for i, element in enumerate(value)
            for problem in _variable_problems(input_type.of_type, element, [*path, i])
        ]
    if isinstance(input_type, GraphQLInputObjectType):
        if not isinstance(value, dict):
            return [{"path": path, "explanation": f"Expected {json.dumps(value)} to be a key-value object."}]
        problems = [
            {"path": [*path, key], "explanation": f"Field is not defined on {input_type.name}"}
            for key in value
            if key not in input_type.fields
        ]
        for name, input_field in input_type.fields.items():
            if name in value or is_non_null_type(input_field.type):
                problems += _variable_problems(input_field.type, value.get(name), [*path, name])
        return problems
    if isinstance(input_type, GraphQLEnumType):
        if value not in input_type.values:
            expected = ", ".join(input_type.values)
            return [{"path": path, "explanation": f"Expected {json.dumps(value)} to be one of: {expected}"}]
        return []
    accepts = _SCALARS.get(input_type.name)
    if accepts is not None and not accepts(value):
        return [
            {"path": path, "explanation": f"Could not coerce value {json.dumps(value)} to {input_type.name}"}
        ]
    return []


#: The built-in scalars' accepted JSON values; Shopify's own scalars (DateTime, URL, ...) take any.
_SCALARS: Mapping[str, Callable[[Json], bool]] = {
    "Int": lambda v: type(v) is int and -(2**31) <= v < 2**31,
    "Float": lambda v: type(v) in (int, float),
    "String": lambda v: isinstance(v, str),
    "Boolean": lambda v: isinstance(v, bool),
    "ID": lambda v: isinstance(v, str) or type(v) is int,
}


def _oversized(value: Json, path: list[str]) -> Iterator[tuple[list[str], int]]:
    """Every input list longer than the limit, with its path of names."""
    if isinstance(value, list):
        if len(value) > MAX_INPUT_ITEMS:
            yield path, len(value)
        for element in value:
            yield from _oversized(element, path)
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _oversized(inner, [*path, key])


def _origin(document: _Document, node: FieldNode, argument: str) -> Node:
    """Where an argument's value was written: its variable's definition, or the literal."""
    found = next((arg for arg in node.arguments or () if arg.name.value == argument), None)
    if found is None:
        return node
    if isinstance(found.value, VariableNode):
        name = found.value.name.value
        for definition in document.operation.variable_definitions or ():
            if definition.variable.name.value == name:
                return definition
    return found.value if isinstance(found.value, ObjectValueNode | _ListValueNode) else found


# --- the fake -----------------------------------------------------------------------------------


class FakeShopify:
    """The Shopify Admin GraphQL API of several shops, in memory (module docstring).

    Args:
        schemas: the API versions served, each an introspection result (a dict), a path to one
            (``admin_2026-10.json.gz``) or a schema :func:`load_schema` already built.
        now: the clock, in seconds since the epoch: the cost buckets and every timestamp.
        app_secret: the app's client secret, which signs webhooks; by default one drawn from
            ``seed``.
        throttle_status: the HTTP status of a ``THROTTLED`` answer (200 as Shopify; 429 to test
            a client that also watches the status).
        seed: seeds webhook ids, so runs repeat.

    Attributes:
        request_log: every request received, in order.
        before_request: called with each valid request just before it runs, under the fake's
            lock: a test may change the shop there (a sale or a merchant edit between the
            worker's read and its write) through the merchant helpers.
    """

    def __init__(
        self,
        schemas: Mapping[str, GraphQLSchema | Mapping[str, Json] | str | os.PathLike[str]],
        *,
        now: Callable[[], float] = time.time,
        app_secret: str | None = None,
        throttle_status: Literal[200, 429] = 200,
        seed: int = 0,
    ) -> None:
        if not schemas:
            raise ValueError("give at least one API version's schema")
        self._versions = {name: _version(name, load_schema(source)) for name, source in schemas.items()}
        self._now = now
        self._throttle_status = throttle_status
        self._rng = random.Random(seed)  # noqa: S311 - ids and a secret for a test fake, not for real keys
        self.app_secret = app_secret or f"shpss_{self._rng.getrandbits(128):032x}"
        self._shops: dict[str, _Shop] = {}
        self._next_id = 1_000_001
        self._faults = FaultScript()
        self._lock = threading.RLock()
        self.request_log: list[LoggedRequest] = []
        self.before_request: Callable[[ShopifyCall], None] | None = None

    # -- the merchant's and the platform's side (no auth, no cost, not logged) --

    def create_shop(
        self,
        domain: str,
        token: str,
        *,
        locations: Sequence[str] = ("Shop location",),
        bucket_size: float = STANDARD_BUCKET,
        restore_rate: float = STANDARD_RESTORE_RATE,
        currency: str = DEFAULT_CURRENCY,
        scopes: Sequence[str] = DEFAULT_SCOPES,
    ) -> list[str]:
        """Open a shop (``name`` or ``name.myshopify.com``) and return its location ids in order.

        A Plus shop has ``bucket_size=20000, restore_rate=1000``
        (https://shopify.dev/docs/api/usage/rate-limits). ``currency`` is the shop's
        ``currencyCode``: every variant price is in it. ``scopes`` are the access scope handles
        the app was granted, as ``currentAppInstallation.accessScopes`` lists them.
        """
        domain = _domain(domain)
        with self._lock:
            if domain in self._shops or any(shop.token == token for shop in self._shops.values()):
                raise ValueError(f"{domain} or its token exists already")
            shop = _Shop(
                domain,
                token,
                _Bucket(bucket_size, restore_rate, bucket_size, self._now()),
                currency,
                tuple(scopes),
            )
            for name in locations:
                location = _Location(self._gid("Location"), name)
                shop.locations[location.gid] = location
            self._shops[domain] = shop
            return list(shop.locations)

    def add_product(
        self,
        domain: str,
        skus: str | Sequence[str],
        *,
        title: str | None = None,
        bundle_parent: bool = False,
        tracked: bool = True,
        stock: Mapping[str, int] | None = None,
        price: str | Decimal = DEFAULT_PRICE,
    ) -> list[Variant]:
        """Add a product with one variant per SKU, each priced ``price`` in the shop's currency.

        ``stock`` maps a location (name or id) to the ``available`` (and ``on_hand``) quantity of
        every variant there; the item is stocked at those locations only. Without it, every
        variant is stocked at every location with 0, as Shopify does for a new product.
        """
        sku_list = [skus] if isinstance(skus, str) else list(skus)
        with self._lock:
            shop = self._shop(domain)
            product = _Product(self._gid("Product"), title or sku_list[0], bundle_parent, [])
            shop.products[product.gid] = product
            stock = stock if stock is not None else dict.fromkeys(shop.locations, 0)
            made = []
            for sku in sku_list:
                variant = _Variant(
                    self._gid("ProductVariant"), sku, "Default Title", product.gid, "", _money(Decimal(price))
                )
                item = _Item(self._gid("InventoryItem"), sku, tracked, variant.gid)
                variant.item = item.gid
                product.variants.append(variant.gid)
                shop.variants[variant.gid], shop.items[item.gid] = variant, item
                for ref, quantity in stock.items():
                    shop.levels[item.gid, shop.location(ref).gid] = _Level(quantity, quantity)
                made.append(Variant(sku, product.gid, variant.gid, item.gid))
            return made

    def place_order(
        self,
        domain: str,
        lines: Sequence[tuple[str, int]],
        *,
        at: dt.datetime | None = None,
        location: str | None = None,
    ) -> str:
        """A buyer checks out ``(sku, quantity)`` lines; returns the order id.

        Each tracked item's ``available`` drops at ``location`` (default: the first), as
        Shopify commits stock to an open order; ``on_hand`` waits for fulfilment.
        """
        with self._lock:
            shop = self._shop(domain)
            stamp = _at(at, self._now())
            where = shop.location(location) if location else next(iter(shop.locations.values()))
            order = _Order(self._gid("Order"), f"#{1001 + len(shop.orders)}", stamp, stamp, where.gid, [])
            for sku, quantity in lines:
                item = shop.item_by_sku(sku)
                order.lines.append(
                    _LineItem(self._gid("LineItem"), sku, sku, quantity, quantity, item.variant)
                )
                if item.tracked:
                    shop.levels.setdefault((item.gid, where.gid), _Level(0, 0)).available -= quantity
            shop.orders[order.gid] = order
            return order.gid

    def cancel_order(
        self,
        order_id: str,
        *,
        reason: Literal["CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF"] = "CUSTOMER",
        restock: bool = True,
        at: dt.datetime | None = None,
    ) -> str:
        """Cancel an order; its open units are refunded (restocked with ``CANCEL`` if ``restock``).

        Returns the refund id.
        """
        with self._lock:
            shop, order = self._order(order_id)
            order.cancelled_at = _at(at, self._now())
            order.cancel_reason = reason
            open_lines = {line.gid: line.current_quantity for line in order.lines if line.current_quantity}
            return self._refund(
                shop, order, open_lines, "CANCEL" if restock else "NO_RESTOCK", order.cancelled_at
            )

    def refund(
        self,
        order_id: str,
        lines: Mapping[str, int],
        *,
        restock_type: RestockType = "RETURN",
        at: dt.datetime | None = None,
    ) -> str:
        """Refund ``{sku or line item id: quantity}`` of an order and return the refund id.

        ``RETURN`` puts the units back into ``available`` and ``on_hand``, ``CANCEL`` into
        ``available`` (they never left), ``NO_RESTOCK`` nowhere. Each lowers the line's
        ``currentQuantity``. A SKU on two lines (an edit added it again) means its first line
        with enough units left.
        """
        with self._lock:
            shop, order = self._order(order_id)
            return self._refund(shop, order, lines, restock_type, _at(at, self._now()))

    def edit_order(
        self,
        order_id: str,
        *,
        set_quantities: Mapping[str, int] | None = None,
        add: Sequence[tuple[str, int]] = (),
        restock: bool = True,
        allow_duplicates: bool = False,
        at: dt.datetime | None = None,
    ) -> list[str]:
        """The merchant edits an order in the admin; returns the ids of the line items it added.

        The same steps as orderEditBegin, orderEditSetQuantity (``set_quantities``: line item id
        → new quantity, each with ``restock``), orderEditAddVariant (``add``: ``(sku,
        quantity)``) and orderEditCommit, at ``at``.

        Raises:
            ValueError: the userErrors Shopify would answer; nothing is applied.
            KeyError: an unknown order, or a SKU no variant has.
        """
        with self._lock:
            shop, order = self._order(order_id)
            edit, errors = self._edit_begin(shop, order.gid)
            for line_id, quantity in (set_quantities or {}).items():
                if edit is None or errors:
                    break
                calculated = f"gid://shopify/CalculatedLineItem/{_number(line_id)}"
                errors = self._edit_set(shop, edit.gid, calculated, quantity, restock)[2]
            for sku, quantity in add:
                if edit is None or errors:
                    break
                variant = shop.variants[shop.item_by_sku(sku).variant]
                errors = self._edit_add(shop, edit.gid, variant.gid, quantity, allow_duplicates)[2]
            before = {line.gid for line in order.lines}
            if edit is not None and not errors:
                errors = self._edit_commit(shop, edit.gid, _at(at, self._now()))[1]
            if errors:
                if edit is not None:  # an edit never committed is simply dropped
                    shop.edits.pop(edit.gid, None)
                    shop.edits.pop(edit.session, None)
                raise ValueError("; ".join(f"{e['field']}: {e['message']}" for e in errors))
            return [line.gid for line in order.lines if line.gid not in before]

    def order_lines(self, order_id: str) -> list[OrderLineItem]:
        """An order's line items, in order, with their current quantities."""
        with self._lock:
            order = self._order(order_id)[1]
            return [OrderLineItem(li.gid, li.sku, li.quantity, li.current_quantity) for li in order.lines]

    def admin_set_available(self, domain: str, sku: str, location: str, quantity: int) -> None:
        """The merchant types a new ``available`` in the admin; ``on_hand`` moves with it."""
        with self._lock:
            shop = self._shop(domain)
            level = shop.levels.setdefault(
                (shop.item_by_sku(sku).gid, shop.location(location).gid), _Level(0, 0)
            )
            level.on_hand += quantity - level.available
            level.available = quantity

    def levels(
        self, domain: str, name: Literal["available", "on_hand"] = "available"
    ) -> dict[tuple[str, str], int]:
        """Every stocked ``(sku, location name)`` with its ``available`` (or ``on_hand``) quantity."""
        with self._lock:
            shop = self._shop(domain)
            return {
                (shop.items[item].sku, shop.locations[location].name): getattr(level, name)
                for (item, location), level in shop.levels.items()
            }

    def price(self, domain: str, sku: str) -> Decimal:
        """The price of the one variant with ``sku``, in the shop's currency.

        Raises:
            KeyError: no variant, or more than one, has this SKU.
        """
        with self._lock:
            shop = self._shop(domain)
            found = [v for v in shop.variants.values() if v.sku == sku]
            if len(found) != 1:
                raise KeyError(f"{shop.domain} has {len(found)} variants with SKU {sku!r}")
            return Decimal(found[0].price)

    def admin_set_price(self, domain: str, sku: str, price: str | Decimal) -> None:
        """The merchant types a new price for ``sku`` in the admin."""
        with self._lock:
            shop = self._shop(domain)
            shop.variants[shop.item_by_sku(sku).variant].price = _money(Decimal(price))

    def fail_next(
        self,
        root_field: str,
        status: int = 503,
        *,
        response: httpx.Response | None = None,
        exception: Exception | None = None,
        times: int = 1,
        applied: bool = False,
    ) -> None:
        """Script the next ``times`` requests that select ``root_field`` to fail, in FIFO order.

        The failure is ``response`` if given, else ``exception`` raised (``httpx.ReadTimeout``
        and other transport errors reach the client as its own), else ``status`` with a short
        Shopify-style body. With ``applied`` the request takes effect first and only its answer
        is lost, as when a connection drops late.
        """
        with self._lock:
            self._faults.add(
                root_field, status, response=response, exception=exception, times=times, applied=applied
            )

    def count(self, root_field: str) -> int:
        """How many requests selected ``root_field`` (refused, throttled and faulted ones included)."""
        with self._lock:
            return sum(1 for entry in self.request_log if root_field in entry.root_fields)

    # -- webhooks --

    def subscribe(self, domain: str, topic: str, uri: str) -> str:
        """Subscribe the app to ``topic`` (``ORDERS_CREATE``) at ``uri``, as webhookSubscriptionCreate does.

        Returns the subscription's gid. Only the app's own subscriptions are listed by
        ``webhookSubscriptions``: one made under the admin's Settings > Notifications is not.
        """
        with self._lock:
            shop = self._shop(domain)
            gid = self._gid("WebhookSubscription")
            created = _iso(self._now())
            shop.subscriptions[gid] = _Subscription(gid, topic, uri, max(self._versions), created)
            return gid

    def unsubscribe(self, domain: str, gid: str) -> None:
        """Delete a subscription, as webhookSubscriptionDelete does."""
        with self._lock:
            del self._shop(domain).subscriptions[gid]

    def webhook(
        self,
        topic: WebhookTopic,
        order_id: str,
        *,
        refund_id: str | None = None,
        api_version: str | None = None,
    ) -> WebhookDelivery:
        """The delivery Shopify would send for ``topic`` about an order (or its latest refund)."""
        with self._lock:
            shop, order = self._order(order_id)
            if topic == "refunds/create":
                refunds = [r for r in order.refunds if refund_id in (None, r.gid)]
                if not refunds:
                    raise KeyError(f"{order_id} has no refund {refund_id or ''}".rstrip())
                payload = self._rest_refund(shop, order, refunds[-1])
            else:
                payload = self._rest_order(shop, order)
            body = json.dumps(payload, separators=(",", ":")).encode()
            now = dt.datetime.fromtimestamp(self._now(), dt.UTC)
            headers = {
                "Content-Type": "application/json",
                "X-Shopify-Topic": topic,
                "X-Shopify-Hmac-Sha256": webhook_hmac(body, self.app_secret),
                "X-Shopify-Shop-Domain": shop.domain,
                "X-Shopify-API-Version": api_version or max(self._versions),
                "X-Shopify-Webhook-Id": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                "X-Shopify-Triggered-At": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            }
            return WebhookDelivery(headers, body)

    def deliver(
        self, url: str, topic: WebhookTopic, order_id: str, *, client: httpx.Client | None = None
    ) -> httpx.Response:
        """POST :meth:`webhook` to ``url`` (Shopify waits 1 s to connect and 5 s in all)."""
        delivery = self.webhook(topic, order_id)
        if client is not None:
            return client.post(url, content=delivery.body, headers=delivery.headers)
        return httpx.post(
            url, content=delivery.body, headers=delivery.headers, timeout=httpx.Timeout(5.0, connect=1.0)
        )

    # -- the wire --

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one HTTP request."""
        with self._lock:
            entry: dict[str, Any] = {"shop": None, "version": None, "operation": None, "fields": ()}
            entry.update(requested=None, actual=None, throttled=False)
            answer: httpx.Response | None = None
            try:
                answer = self._answer(request, entry)
            except _Rejected as rejected:
                answer = rejected.response
            finally:
                self.request_log.append(
                    LoggedRequest(
                        entry["shop"],
                        entry["version"],
                        entry["operation"],
                        entry["fields"],
                        answer.status_code if answer is not None else None,
                        entry["requested"],
                        entry["actual"],
                        entry["throttled"],
                    )
                )
            return answer

    def _answer(self, request: httpx.Request, entry: dict[str, Any]) -> httpx.Response:
        match = _PATH.fullmatch(request.url.path)
        if request.method != "POST" or match is None or match.group("version") not in self._versions:
            raise _Rejected(_json_response({"errors": "Not Found"}, 404))  # unrecorded body
        version = self._versions[match.group("version")]
        entry["version"] = version.name
        shop = self._authenticate(request)
        entry["shop"] = shop.domain
        try:
            body = json.loads(request.content)
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            # unrecorded body
            raise _Rejected(
                _json_response({"errors": {"query": "Required parameter missing or invalid"}}, 400)
            )
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            raise _Rejected(_json_response({"errors": {"variables": "must be an object"}}, 400))  # unrecorded
        operation_name = body.get("operationName") if isinstance(body.get("operationName"), str) else None
        return self._graphql(shop, version, body["query"], variables, operation_name, entry)

    def _authenticate(self, request: httpx.Request) -> _Shop:
        token = request.headers.get("X-Shopify-Access-Token", "")
        host = request.url.host
        if host.endswith(".myshopify.com"):
            shop = self._shops.get(host)
            if shop is None:
                raise _Rejected(_json_response({"errors": "Not Found"}, 404))  # unrecorded body
        else:  # loopback: the token names the shop
            shop = next((s for s in self._shops.values() if s.token == token), None)
        if shop is None or not hmac.compare_digest(shop.token, token):
            raise _Rejected(_json_response({"errors": _BAD_LOGIN}, 401))
        return shop

    def _graphql(
        self,
        shop: _Shop,
        version: _Version,
        query: str,
        variables: Json,
        operation_name: str | None,
        entry: dict[str, Any],
    ) -> httpx.Response:
        headers = {"X-Shopify-API-Version": version.name}
        try:
            document = parse(query)
        except GraphQLError as error:
            return _json_response({"errors": [_parse_error(error, query)]}, headers=headers)
        operation = get_operation_ast(document, operation_name)
        if operation is not None:
            entry["operation"] = operation_name or (operation.name.value if operation.name else None)
            entry["fields"] = tuple(
                s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)
            )
        fault = self._take_fault(entry["fields"])
        if fault is not None and not fault.applied:
            return self._fire(fault)
        answer = self._run(shop, version, document, operation, variables, operation_name, entry, headers)
        return self._fire(fault) if fault is not None else answer

    def _take_fault(self, fields: Iterable[str]) -> Fault | None:
        return next((fault for name in fields if (fault := self._faults.next(name))), None)

    def _fire(self, fault: Fault) -> httpx.Response:
        return fault.fire(lambda status: _json_response({"errors": _reason(status)}, status))  # unrecorded

    def _run(
        self,
        shop: _Shop,
        version: _Version,
        document: DocumentNode,
        operation: OperationDefinitionNode | None,
        variables: Json,
        operation_name: str | None,
        entry: dict[str, Any],
        headers: Mapping[str, str],
    ) -> httpx.Response:
        schema = version.schema
        errors = validate(schema, document)
        if errors:
            paths = _Paths(document)
            return _json_response({"errors": [_validation_error(e, paths) for e in errors]}, headers=headers)
        if operation is None:
            message = (
                f'No operation named "{operation_name}"'
                if operation_name
                else "An operation name is required"
            )
            return _json_response({"errors": [_error(message)]}, headers=headers)  # unrecorded
        if problems := self._variable_errors(schema, operation, variables):
            return _json_response({"errors": problems}, headers=headers)
        doc = _Document(schema, document, operation, variables)
        if oversized := self._input_size_errors(doc):
            return _json_response({"errors": oversized}, headers=headers)
        requested = doc.cost()
        entry["requested"] = requested
        if requested > MAX_QUERY_COST:
            return _json_response({"errors": [_max_cost(requested)]}, headers=headers)
        shop.bucket.refill(self._now())
        if requested > shop.bucket.available:
            entry["throttled"] = True
            throttled = {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {"code": "THROTTLED", "documentation": _RATE_LIMITS_DOC},
                    }
                ],
                "extensions": {"cost": self._cost(requested, None, shop)},
            }
            return _json_response(throttled, self._throttle_status, headers)
        shop.bucket.available -= requested
        if self.before_request is not None:
            fields = tuple(node.name.value for node in doc.root_fields())
            self.before_request(ShopifyCall(shop.domain, version.name, entry["operation"], fields, variables))
        result = execute(
            schema,
            document,
            root_value=self._root(shop, version, doc, operation.operation),
            variable_values=variables,
            operation_name=operation_name,
            field_resolver=_resolve,
        )
        if not isinstance(result, ExecutionResult):  # every resolver here is synchronous
            raise TypeError("graphql-core returned an awaitable")
        unmodelled = [e for e in result.errors or () if isinstance(e.original_error, _Unmodelled)]
        if unmodelled or (result.data is None and result.errors):
            shop.bucket.available = min(shop.bucket.size, shop.bucket.available + requested)
            if unmodelled:
                return _json_response(
                    {"errors": [{"message": str(unmodelled[0].original_error)}]}, 501, headers
                )
            return _json_response({"errors": [_error(e.message, e.nodes or ()) for e in result.errors or ()]})
        actual = doc.cost(result.data)
        entry["actual"] = actual
        shop.bucket.available = min(shop.bucket.size, shop.bucket.available + requested - actual)
        body: Json = {}
        if result.errors:
            body["errors"] = [
                _error(e.message, e.nodes or (), e.extensions or None, e.path) for e in result.errors
            ]
        body["data"] = result.data
        body["extensions"] = {"cost": self._cost(requested, actual, shop)}
        return _json_response(body, headers=headers)

    @staticmethod
    def _cost(requested: int, actual: int | None, shop: _Shop) -> Json:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": shop.bucket.status(),
        }

    @staticmethod
    def _variable_errors(
        schema: GraphQLSchema, operation: OperationDefinitionNode, variables: Json
    ) -> list[Json]:
        """Recorded shape: ``Variable $input of type T! was provided invalid value for a.b (why)``."""
        errors = []
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            input_type = type_from_ast(schema, definition.type)
            if input_type is None or (name not in variables and definition.default_value is not None):
                continue
            value = variables.get(name)
            problems = _variable_problems(input_type, value, [])  # type: ignore[arg-type]
            if not problems:
                continue
            where = ", ".join(
                f"{'.'.join(str(part) for part in p['path'])} ({p['explanation']})"
                for p in problems
                if p["path"]
            )
            message = f"Variable ${name} of type {input_type} was provided invalid value"
            errors.append(
                _error(
                    f"{message} for {where}" if where else message,
                    [definition],
                    {"code": "INVALID_VARIABLE", "value": value, "problems": problems},
                )
            )
        return errors

    @staticmethod
    def _input_size_errors(doc: _Document) -> list[Json]:
        """Every input list over the limit, in the recorded ``MAX_INPUT_SIZE_EXCEEDED`` shape."""
        errors = []
        for node in doc.root_fields():
            for argument in node.arguments or ():
                for path, size in _oversized(doc.value(argument.value), [_key(node), argument.name.value]):
                    errors.append(
                        _error(
                            f"The input array size of {size} is greater than the maximum allowed of "
                            f"{MAX_INPUT_ITEMS}.",
                            [node],
                            {"code": "MAX_INPUT_SIZE_EXCEEDED"},
                            path,
                        )
                    )
        return errors

    # -- execution --

    def _root(self, shop: _Shop, version: _Version, doc: _Document, kind: OperationType) -> Json:
        if kind == OperationType.MUTATION:
            return {
                "inventorySetQuantities": lambda info, **args: self._set_quantities(
                    shop, version, doc, info, args
                ),
                "inventoryAdjustQuantities": lambda info, **args: self._unmodelled_mutation(
                    version, doc, info, args
                ),
                "inventoryMoveQuantities": lambda info, **args: self._unmodelled_mutation(
                    version, doc, info, args
                ),
                "productVariantsBulkUpdate": lambda info, **args: self._bulk_update(shop, args),
                **self._edit_root(shop),
            }
        view = _View(self, shop)
        return {
            "productVariants": view.product_variants,
            "productVariantsCount": view.product_variants_count,
            "productVariant": lambda info, **args: view.by_id(shop.variants, args["id"], view.variant),
            "locations": view.locations,
            "location": lambda info, **args: view.location_root(args.get("id")),
            "inventoryItem": lambda info, **args: view.by_id(shop.items, args["id"], view.item),
            "inventoryItems": view.inventory_items,
            "orders": view.orders,
            "order": lambda info, **args: view.by_id(shop.orders, args["id"], view.order),
            "shop": lambda info: view.shop_root(),
            "currentAppInstallation": lambda info: view.installation(),
            "webhookSubscriptions": view.webhook_subscriptions,
        }

    def _runtime_checks(
        self, version: _Version, doc: _Document, info: GraphQLResolveInfo[Any], args: Json
    ) -> str | None:
        """The 2026-04 rules Shopify checks when the field runs; returns the idempotency key."""
        node = info.field_nodes[0]
        name = info.field_name
        if version.strict and name in _CAS_ROWS:
            rows_key, type_name = _CAS_ROWS[name]
            if any("changeFromQuantity" not in row for row in args["input"][rows_key]):
                raise GraphQLError(  # recorded (2026-04)
                    f"{type_name} must include the following argument: changeFromQuantity.",
                    [node, _origin(doc, node, "input")],
                    extensions={"code": "INVALID_FIELD_ARGUMENTS"},
                )
        directive = next((d for d in node.directives or () if d.name.value == "idempotent"), None)
        key_node = (
            next((a for a in directive.arguments or () if a.name.value == "key"), None) if directive else None
        )
        key = doc.value(key_node.value) if key_node else None
        if key is None and version.strict and name in IDEMPOTENT_MUTATIONS:
            raise GraphQLError(  # recorded (2026-04)
                "The @idempotent directive is required for this mutation but was not provided.",
                [node],
                extensions={"code": "BAD_REQUEST"},
            )
        if key is not None and not str(key).strip():
            raise GraphQLError(  # unrecorded; the directive's description states the rule
                "The idempotency key cannot be an empty string or whitespace only.",
                [node],
                extensions={"code": "BAD_REQUEST"},
            )
        return None if key is None else str(key)

    def _unmodelled_mutation(
        self, version: _Version, doc: _Document, info: GraphQLResolveInfo[Any], args: Json
    ) -> Json:
        self._runtime_checks(version, doc, info, args)
        raise _Unmodelled(f"FakeShopify does not model the mutation {info.field_name}")

    def _set_quantities(
        self, shop: _Shop, version: _Version, doc: _Document, info: GraphQLResolveInfo[Any], args: Json
    ) -> Json:
        key = self._runtime_checks(version, doc, info, args)
        fingerprint = json.dumps([info.field_name, args], sort_keys=True)
        if key is not None and key in shop.replays:
            replay = shop.replays[key]
            if replay.fingerprint == fingerprint:
                return replay.payload
            return {
                "inventoryAdjustmentGroup": None,
                "userErrors": [_user_error(version, "IDEMPOTENCY_KEY_PARAMETER_MISMATCH", None)],
            }
        payload = self._apply_set(shop, version, args["input"])
        if key is not None:
            shop.replays[key] = _Replay(fingerprint, payload)
        return payload

    def _apply_set(self, shop: _Shop, version: _Version, given: Json) -> Json:
        """Check every row, then apply all of them or none (https://shopify.dev/docs/api/admin-graphql/latest/mutations/inventorySetQuantities)."""
        errors: list[Json] = []
        name, reason, reference = given["name"], given["reason"], given.get("referenceDocumentUri")
        if name not in QUANTITY_NAMES:
            errors.append(_user_error(version, "INVALID_NAME", ["input", "name"]))
        if reason not in SET_REASONS:
            errors.append(_user_error(version, "INVALID_REASON", ["input", "reason"]))
        if reference is not None and not _valid_reference(reference):
            errors.append(
                _user_error(version, "INVALID_REFERENCE_DOCUMENT", ["input", "referenceDocumentUri"])
            )
        plan: list[tuple[_Item, _Location, int]] = []
        seen: set[tuple[str, str]] = set()
        for index, row in enumerate(given["quantities"]):
            problem = self._row_problem(shop, version, given, row, seen)
            if isinstance(problem, tuple):
                errors.append(
                    _user_error(version, problem[0], ["input", "quantities", str(index), *problem[1]])
                )
            else:
                plan.append((problem[0], problem[1], row["quantity"]))
        if errors:
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        other = "on_hand" if name == "available" else "available"
        changes = []
        for item, location, quantity in plan:
            level = shop.levels.setdefault((item.gid, location.gid), _Level(0, 0))
            delta = quantity - getattr(level, name)
            setattr(level, name, quantity)
            setattr(level, other, getattr(level, other) + delta)
            if delta:  # an unchanged level leaves no trace in the history
                changes += [(name, delta, item.gid, location.gid), (other, delta, item.gid, location.gid)]
        view = _View(self, shop)
        group = {
            "__typename": "InventoryAdjustmentGroup",
            "id": self._gid("InventoryAdjustmentGroup"),
            "createdAt": _iso(self._now()),
            "reason": reason,
            "referenceDocumentUri": reference,
            "changes": lambda info, **filters: view.changes(changes, filters),
        }
        return {"inventoryAdjustmentGroup": group, "userErrors": []}

    @staticmethod
    def _row_problem(
        shop: _Shop, version: _Version, given: Json, row: Json, seen: set[tuple[str, str]]
    ) -> tuple[str, list[str]] | list[Any]:
        """A row's first problem as ``(code, field suffix)``, or ``[item, location]`` to apply."""
        item = shop.items.get(row["inventoryItemId"])
        if item is None:
            return "INVALID_INVENTORY_ITEM", ["inventoryItemId"]
        location = shop.locations.get(row["locationId"])
        if location is None:
            return "INVALID_LOCATION", ["locationId"]
        if (item.gid, location.gid) in seen:
            return "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR", ["locationId"]  # field unrecorded
        seen.add((item.gid, location.gid))
        if shop.products[shop.variants[item.variant].product].bundle_parent:
            return "NON_MUTABLE_INVENTORY_ITEM", ["inventoryItemId"]
        level = shop.levels.get((item.gid, location.gid))
        if level is None and "ITEM_NOT_STOCKED_AT_LOCATION" in version.set_codes:
            return "ITEM_NOT_STOCKED_AT_LOCATION", ["locationId"]
        quantity = row["quantity"]
        if quantity > MAX_QUANTITY:
            return "INVALID_QUANTITY_TOO_HIGH", ["quantity"]
        if quantity < MIN_QUANTITY:
            return "INVALID_QUANTITY_TOO_LOW", ["quantity"]
        if quantity < 0 and given["name"] == "on_hand":  # recorded: a negative available is allowed
            return "INVALID_QUANTITY_NEGATIVE", ["quantity"]
        if given["name"] not in QUANTITY_NAMES:  # INVALID_NAME already: there is nothing to compare
            return [item, location]
        current = getattr(level, given["name"]) if level else 0
        if "changeFromQuantity" in row:
            if row["changeFromQuantity"] is not None and row["changeFromQuantity"] != current:
                return "CHANGE_FROM_QUANTITY_STALE", ["changeFromQuantity"]
        elif version.legacy_compare:
            if row.get("compareQuantity") is not None:
                if row["compareQuantity"] != current:
                    return "COMPARE_QUANTITY_STALE", ["compareQuantity"]
            elif not given.get("ignoreCompareQuantity"):
                return "COMPARE_QUANTITY_REQUIRED", ["compareQuantity"]
        return [item, location]

    def _bulk_update(self, shop: _Shop, args: Json) -> Json:
        """Set prices (productVariantsBulkUpdate): every row checked, then all applied or none.

        Without ``allowPartialUpdates`` any error prevents all variants from updating (the
        argument's schema description); the payload still carries the product and its variants
        as they are (2023-04 release notes: data is returned along with errors).
        """
        for name in ("media", "allowPartialUpdates"):
            if args.get(name):
                raise _Unmodelled(f"FakeShopify does not model productVariantsBulkUpdate({name}:)")
        product = shop.products.get(args["productId"])
        rows: list[Json] = args["variants"]
        errors: list[Json] = []
        plan: list[tuple[_Variant, str]] = []
        if product is None:
            errors.append(_bulk_error("PRODUCT_DOES_NOT_EXIST", ["productId"]))
        seen: set[str] = set()
        for index, row in enumerate(rows):
            unmodelled = sorted(set(row) - _BULK_VARIANT_FIELDS)
            if unmodelled:
                raise _Unmodelled(f"FakeShopify does not model ProductVariantsBulkInput.{unmodelled[0]}")
            where = ["variants", str(index)]
            if row.get("id") is None:
                errors.append(_bulk_error("PRODUCT_VARIANT_ID_MISSING", [*where, "id"]))
                continue
            variant = shop.variants.get(row["id"])
            if variant is None:
                errors.append(_bulk_error("PRODUCT_VARIANT_DOES_NOT_EXIST", [*where, "id"]))
                continue
            if product is not None and variant.product != product.gid:
                errors.append(_bulk_error("MUST_BE_FOR_THIS_PRODUCT", [*where, "id"]))
                continue
            if variant.gid in seen:
                raise _Unmodelled("FakeShopify does not model a variant updated twice in one call")
            seen.add(variant.gid)
            if row.get("price") is None:
                continue  # nothing to change on this row
            amount = _parse_money(row["price"])
            if amount < 0:
                errors.append(_bulk_error("GREATER_THAN_OR_EQUAL_TO", [*where, "price"]))
                continue
            plan.append((variant, _money(amount)))
        if not errors:
            for variant, price in plan:
                variant.price = price
        view = _View(self, shop)
        return {
            "product": (lambda info: view.product(product)) if product else None,
            "productVariants": (
                [view.variant(shop.variants[gid]) for gid in product.variants if gid in seen]
                if product
                else None
            ),
            "userErrors": errors,
        }

    # -- helpers --

    def _gid(self, kind: str) -> str:
        number, self._next_id = self._next_id, self._next_id + 1
        return f"gid://shopify/{kind}/{number}"

    def _shop(self, domain: str) -> _Shop:
        return self._shops[_domain(domain)]

    def _order(self, order_id: str) -> tuple[_Shop, _Order]:
        for shop in self._shops.values():
            if order_id in shop.orders:
                return shop, shop.orders[order_id]
        raise KeyError(f"no shop has the order {order_id}")

    def _refund(
        self, shop: _Shop, order: _Order, lines: Mapping[str, int], restock: RestockType, at: str
    ) -> str:
        refund = _Refund(self._gid("Refund"), at, [])
        for key, quantity in lines.items():
            line = next((li for li in order.lines if li.gid == key), None) or next(
                (li for li in order.lines if li.sku == key and li.current_quantity >= quantity), None
            )
            if line is None or not 0 < quantity <= line.current_quantity:
                raise ValueError(f"{order.name} has no {quantity} refundable unit(s) of {key}")
            line.current_quantity -= quantity
            location = order.location if restock != "NO_RESTOCK" else None
            refund.lines.append(
                _RefundLine(self._gid("RefundLineItem"), line.gid, quantity, restock, location)
            )
            item = self._tracked(shop, line.variant)
            if location is not None and item is not None:
                level = shop.levels.setdefault((item.gid, location), _Level(0, 0))
                level.available += quantity
                level.on_hand += quantity if restock == "RETURN" else 0
        order.refunds.append(refund)
        order.updated_at = at
        order.revision += 1
        return refund.gid

    @staticmethod
    def _tracked(shop: _Shop, variant: str | None) -> _Item | None:
        """The inventory item of a line's variant when Shopify tracks it; else None."""
        found = shop.variants.get(variant or "")
        item = shop.items[found.item] if found else None
        return item if item is not None and item.tracked else None

    # -- order edits: one implementation for the GraphQL mutations and edit_order --

    def _edit_begin(self, shop: _Shop, order_id: str) -> tuple[_Edit | None, list[Json]]:
        order = shop.orders.get(order_id)
        if order is None:
            return None, [_edit_error(["id"], "no order")]
        if order.cancelled_at is not None:
            return None, [_edit_error(None, "not editable")]
        gid = self._gid("CalculatedOrder")
        lines = [
            _CalculatedLine(
                f"gid://shopify/CalculatedLineItem/{_number(li.gid)}",  # recorded: the line's number
                li.gid,
                li.variant,
                li.sku,
                li.title,
                li.current_quantity,
                li.current_quantity,
            )
            for li in order.lines
        ]
        edit = _Edit(
            gid, gid.replace("CalculatedOrder", "OrderEditSession"), order.gid, order.revision, lines
        )
        shop.edits[edit.gid] = shop.edits[edit.session] = edit
        return edit, []

    @staticmethod
    def _edit_set(
        shop: _Shop, edit_id: str, line_id: str, quantity: int, restock: bool
    ) -> tuple[_Edit | None, _CalculatedLine | None, list[Json]]:
        edit = shop.edits.get(edit_id)
        if edit is None:
            return None, None, [_edit_error(["id"], "no edit")]
        if quantity < 0:
            return None, None, [_edit_error(["quantity"], "negative")]
        line = next((cl for cl in edit.lines if cl.gid == line_id), None)
        if line is None:
            return None, None, [_edit_error(["lineItemId"], "no line")]
        line.quantity, line.restock = quantity, restock
        return edit, line, []

    def _edit_add(
        self, shop: _Shop, edit_id: str, variant_id: str, quantity: int, allow_duplicates: bool
    ) -> tuple[_Edit | None, _CalculatedLine | None, list[Json]]:
        edit = shop.edits.get(edit_id)
        if edit is None:
            return None, None, [_edit_error(["id"], "no edit")]
        if quantity < 1:
            return None, None, [_edit_error(["quantity"], "below 1")]
        variant = shop.variants.get(variant_id)
        if variant is None:
            return None, None, [_edit_error(["variantId"], "no variant")]
        there = next((cl for cl in edit.lines if cl.variant == variant.gid), None)
        if there is not None and not allow_duplicates:
            # unrecorded, as airhorns/shopify-draft-proxy models it
            message = f"{there.title} was not added because it's already on the order."
            return None, None, [_edit_error(["id"], message)]
        # Added lines have no line item yet: Shopify names them by a uuid (recorded).
        gid = f"gid://shopify/CalculatedLineItem/{uuid.UUID(int=self._rng.getrandbits(128), version=4)}"
        line = _CalculatedLine(gid, None, variant.gid, variant.sku, variant.sku, 0, quantity)
        edit.lines.append(line)
        return edit, line, []

    def _edit_commit(self, shop: _Shop, edit_id: str, at: str) -> tuple[_Order | None, list[Json]]:
        edit = shop.edits.get(edit_id)
        if edit is None:
            return None, [_edit_error(["id"], "no edit")]
        order = shop.orders[edit.order]
        if order.cancelled_at is not None:
            return None, [_edit_error(None, "not editable")]
        if order.revision != edit.revision:
            raise _Unmodelled("FakeShopify does not model committing an edit begun before the order changed")
        lines = {li.gid: li for li in order.lines}
        for staged in edit.lines:
            if staged.line is None:
                if staged.quantity < 1:
                    continue  # added, then set to 0: nothing to add
                line = _LineItem(
                    self._gid("LineItem"),
                    staged.sku,
                    staged.title,
                    staged.quantity,
                    staged.quantity,
                    staged.variant,
                )
                order.lines.append(line)
                self._commit_units(shop, order, staged.variant, staged.quantity)
                continue
            line = lines[staged.line]
            change = staged.quantity - line.current_quantity
            line.current_quantity = staged.quantity
            # Units taken by the order are committed, not yet shipped: only ``available`` moves.
            if change > 0 or staged.restock:
                self._commit_units(shop, order, line.variant, change)
        del shop.edits[edit.gid], shop.edits[edit.session]
        order.updated_at = at
        order.revision += 1
        return order, []

    def _commit_units(self, shop: _Shop, order: _Order, variant: str | None, units: int) -> None:
        item = self._tracked(shop, variant)
        if item is not None and units:
            shop.levels.setdefault((item.gid, order.location), _Level(0, 0)).available -= units

    def _edit_root(self, shop: _Shop) -> dict[str, Callable[..., Json]]:
        """The order-edit mutations' resolvers: payloads as the schema shapes them."""
        view = _View(self, shop)

        def session(edit: _Edit | None) -> Json:
            return {"__typename": "OrderEditSession", "id": edit.session} if edit else None

        def calculated(edit: _Edit | None) -> Json:
            return (lambda info: view.calculated_order(edit)) if edit else None

        def begin(info: GraphQLResolveInfo[Any], **args: Json) -> Json:
            edit, errors = self._edit_begin(shop, args["id"])
            return {
                "calculatedOrder": calculated(edit),
                "orderEditSession": session(edit),
                "userErrors": errors,
            }

        def set_quantity(info: GraphQLResolveInfo[Any], **args: Json) -> Json:
            _refuse(args, "locationId")
            edit, line, errors = self._edit_set(
                shop, args["id"], args["lineItemId"], args["quantity"], bool(args.get("restock"))
            )
            return {
                "calculatedLineItem": view.calculated_line(line) if line else None,
                "calculatedOrder": calculated(edit),
                "orderEditSession": session(edit),
                "userErrors": errors,
            }

        def add_variant(info: GraphQLResolveInfo[Any], **args: Json) -> Json:
            _refuse(args, "locationId")
            edit, line, errors = self._edit_add(
                shop, args["id"], args["variantId"], args["quantity"], bool(args.get("allowDuplicates"))
            )
            return {
                "calculatedLineItem": view.calculated_line(line) if line else None,
                "calculatedOrder": calculated(edit),
                "orderEditSession": session(edit),
                "userErrors": errors,
            }

        def commit(info: GraphQLResolveInfo[Any], **args: Json) -> Json:
            # notifyCustomer and staffNote change nothing this fake shows.
            order, errors = self._edit_commit(shop, args["id"], _iso(self._now()))
            return {
                "order": (lambda info: view.order(order)) if order else None,
                "successMessages": ["Order updated"] if order else None,  # unrecorded
                "userErrors": errors,
            }

        return {
            "orderEditBegin": begin,
            "orderEditSetQuantity": set_quantity,
            "orderEditAddVariant": add_variant,
            "orderEditCommit": commit,
        }

    def _rest_line(self, line: _LineItem, shop: _Shop) -> Json:
        variant = shop.variants.get(line.variant or "")
        return {
            "id": _number(line.gid),
            "admin_graphql_api_id": line.gid,
            "sku": line.sku,
            "name": line.title,
            "title": line.title,
            "quantity": line.quantity,
            "current_quantity": line.current_quantity,
            "fulfillable_quantity": line.current_quantity,
            "variant_id": _number(variant.gid) if variant else None,
            "product_id": _number(variant.product) if variant else None,
        }

    def _rest_refund(self, shop: _Shop, order: _Order, refund: _Refund) -> Json:
        lines = {line.gid: line for line in order.lines}
        return {
            "id": _number(refund.gid),
            "admin_graphql_api_id": refund.gid,
            "order_id": _number(order.gid),
            "created_at": _rest_time(refund.created_at),
            "restock": any(line.restock_type != "NO_RESTOCK" for line in refund.lines),
            "refund_line_items": [
                {
                    "id": _number(line.gid),
                    "line_item_id": _number(line.line_item),
                    "quantity": line.quantity,
                    "restock_type": line.restock_type.lower(),
                    "location_id": _number(line.location) if line.location else None,
                    "line_item": self._rest_line(lines[line.line_item], shop),
                }
                for line in refund.lines
            ],
        }

    def _rest_order(self, shop: _Shop, order: _Order) -> Json:
        return {
            "id": _number(order.gid),
            "admin_graphql_api_id": order.gid,
            "name": order.name,
            "created_at": _rest_time(order.created_at),
            "updated_at": _rest_time(order.updated_at),
            "cancelled_at": _rest_time(order.cancelled_at),
            "cancel_reason": order.cancel_reason.lower() if order.cancel_reason else None,
            "line_items": [self._rest_line(line, shop) for line in order.lines],
            "refunds": [self._rest_refund(shop, order, refund) for refund in order.refunds],
        }


def _version(name: str, schema: GraphQLSchema) -> _Version:
    codes = schema.get_type("InventorySetQuantitiesUserErrorCode")
    quantity_input = schema.get_type("InventoryQuantityInput")
    return _Version(
        name,
        schema,
        {code: value.description or "" for code, value in getattr(codes, "values", {}).items()},
        "compareQuantity" in getattr(quantity_input, "fields", {}),
    )


def _domain(domain: str) -> str:
    return domain if domain.endswith(".myshopify.com") else f"{domain}.myshopify.com"


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _max_cost(cost: int) -> Json:
    """Recorded (2026-08): no ``extensions.cost`` beside it, the cost inside the error."""
    return {
        "message": (
            f"Query cost is {cost}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).\n\n"
            "See https://shopify.dev/docs/api/usage/rate-limits for more information on how the\n"
            "cost of a query is calculated.\n\n"
            "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
            "See https://shopify.dev/docs/api/usage/bulk-operations/queries for usage details.\n"
        ),
        "extensions": {
            "code": "MAX_COST_EXCEEDED",
            "cost": cost,
            "maxCost": MAX_QUERY_COST,
            "documentation": _RATE_LIMITS_DOC,
        },
    }


def _user_error(version: _Version, code: str, path: list[str] | None) -> Json:
    message = _MESSAGE_OVERRIDES.get(code) or version.set_codes.get(code, code)
    return {"__typename": "InventorySetQuantitiesUserError", "code": code, "field": path, "message": message}


def _edit_error(path: list[str] | None, reason: str) -> Json:
    """An order-edit userError: a plain ``UserError``, no code (schema)."""
    return {"__typename": "UserError", "field": path, "message": _EDIT_MESSAGES.get(reason, reason)}


def _bulk_error(code: str, path: list[str]) -> Json:
    return {
        "__typename": "ProductVariantsBulkUpdateUserError",
        "code": code,
        "field": path,
        "message": _BULK_MESSAGES[code],
    }


def _money(amount: Decimal) -> str:
    """Money as Shopify writes it back: ``"24.00"`` for ``24`` (recorded 2025-01 capture)."""
    return f"{amount:.2f}"


def _parse_money(value: Json) -> Decimal:
    """A Money input: a decimal string with at most two places; anything else is not modelled."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = Decimal("NaN")
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or not isinstance(exponent, int) or exponent < -2:
        raise _Unmodelled(f"FakeShopify does not model the Money value {value!r}")
    return amount


def _valid_reference(uri: str) -> bool:
    """A URI with a scheme and content; a ``gid://`` one needs app, entity and id (schema text)."""
    match = re.fullmatch(r"([A-Za-z][A-Za-z0-9+.-]*):(.+)", uri)
    if match is None:
        return False
    if match.group(1).lower() == "gid":
        return re.fullmatch(r"//[^/\s]+/[^/\s]+/[^/\s]+", match.group(2)) is not None
    return not any(c.isspace() for c in uri)


def _resolve(source: Json, info: GraphQLResolveInfo[Any], **args: Json) -> Json:
    """Read a field from the dicts the views build; a field they lack is not modelled."""
    if not isinstance(source, Mapping) or info.field_name not in source:
        raise _Unmodelled(f"FakeShopify does not model {info.parent_type.name}.{info.field_name}")
    value = source[info.field_name]
    return value(info, **args) if callable(value) else value


# --- read views: the shop's state as GraphQL objects (dicts, with callables for arguments) ------


class _View:
    """Builds the objects graphql-core resolves from, lazily, so cycles cost nothing."""

    def __init__(self, fake: FakeShopify, shop: _Shop) -> None:
        self.fake = fake
        self.shop = shop

    def by_id(self, table: Mapping[str, _T], gid: str, build: Callable[[_T], Json]) -> Json:
        found = table.get(gid)
        return None if found is None else build(found)

    def shop_root(self) -> Json:
        return {
            "__typename": "Shop",
            "id": f"gid://shopify/Shop/{1 + list(self.fake._shops).index(self.shop.domain)}",
            "name": self.shop.domain.split(".")[0],
            "myshopifyDomain": self.shop.domain,
            "currencyCode": self.shop.currency,
        }

    def installation(self) -> Json:
        return {
            "__typename": "AppInstallation",
            "id": f"gid://shopify/AppInstallation/{1 + list(self.fake._shops).index(self.shop.domain)}",
            "accessScopes": [
                {"__typename": "AccessScope", "handle": handle, "description": handle.replace("_", " ")}
                for handle in self.shop.scopes
            ],
        }

    def webhook_subscriptions(self, info: GraphQLResolveInfo[Any], **args: Json) -> Json:
        for name in ("query", "format", "callbackUrl"):
            _refuse(args, name)
        if (args.get("sortKey") or "CREATED_AT") not in ("CREATED_AT", "ID"):
            raise _Unmodelled(f"FakeShopify does not model webhookSubscriptions(sortKey: {args['sortKey']})")
        topics, uri = args.get("topics"), args.get("uri")
        chosen = [
            sub
            for sub in self.shop.subscriptions.values()
            if (not topics or sub.topic in topics) and (uri is None or sub.uri == uri)
        ]
        return _connection(chosen, lambda sub: (_number(sub.gid), _number(sub.gid)), self.subscription, args)

    def subscription(self, sub: _Subscription) -> Json:
        return {
            "__typename": "WebhookSubscription",
            "id": sub.gid,
            "legacyResourceId": str(_number(sub.gid)),
            "topic": sub.topic,
            "uri": sub.uri,
            "callbackUrl": sub.uri,
            "endpoint": {"__typename": "WebhookHttpEndpoint", "callbackUrl": sub.uri},
            "format": "JSON",
            "apiVersion": {"__typename": "ApiVersion", "handle": sub.api_version},
            "includeFields": [],
            "metafieldNamespaces": [],
            "metafields": [],
            "filter": None,
            "name": None,
            "createdAt": sub.created_at,
            "updatedAt": sub.created_at,
        }

    def location_root(self, gid: str | None) -> Json:
        if gid is None:  # the shop's primary location
            return self.location(next(iter(self.shop.locations.values())))
        return self.by_id(self.shop.locations, gid, self.location)

    # -- connections --

    def product_variants(self, info: GraphQLResolveInfo[Any], **args: Json) -> Json:
        _refuse(args, "savedSearchId")
        sort = args.get("sortKey") or "ID"
        if sort not in ("ID", "SKU"):
            raise _Unmodelled(f"FakeShopify does not model productVariants(sortKey: {sort})")
        chosen = self._variants(args.get("query"))
        return _connection(
            chosen,
            lambda v: (v.sku if sort == "SKU" else _number(v.gid), _number(v.gid)),
            self.variant,
            args,
        )

    def product_variants_count(self, info: GraphQLResolveInfo[Any], **args: Json) -> Json:
        limit = args.get("limit", VARIANTS_COUNT_LIMIT)  # null: no limit
        found = len(self._variants(args.get("query")))
        capped = limit is not None and found > limit
        return {
            "__typename": "Count",
            "count": limit if capped else found,
            "precision": "AT_LEAST" if capped else "EXACT",
        }

    def _variants(self, query: str | None) -> list[_Variant]:
        """The shop's variants a productVariants search ``query`` matches (every one without)."""
        groups = _parse_search(query, ("sku", "id", "product_id"))
        skus = _sku_list(groups)
        if skus is not None:  # ``sku:A OR sku:B …``: one set lookup per variant, not one per term
            return [v for v in self.shop.variants.values() if v.sku.lower() in skus]
        return [
            v
            for v in self.shop.variants.values()
            if _search(
                groups,
                {"sku": v.sku, "id": str(_number(v.gid)), "product_id": str(_number(v.product))}.get,
            )
        ]

    def locations(self, info: GraphQLResolveInfo[Any], **args: Json) -> Json:
        _refuse(args, "query")
        sort = args.get("sortKey") or "NAME"
        if sort not in ("NAME", "ID"):
            raise _Unmodelled(f"FakeShopify does not model locations(sortKey: {sort})")
        return _connection(
            self.shop.locations.values(),
            lambda loc: (loc.name if sort == "NAME" else _number(loc.gid), _number(loc.gid)),
            self.location,
            args,
        )

    def inventory_items(self, info: GraphQLResolveInfo[Any], **args: Json) -> Json:
        groups = _parse_search(args.get("query"), ("sku", "id"))
        chosen = [
            item
            for item in self.shop.items.values()
            if _search(groups, {"sku": item.sku, "id": str(_number(item.gid))}.get)
        ]
        return _connection(chosen, lambda i: (_number(i.gid), _number(i.gid)), self.item, args)

    def orders(self, info: GraphQLResolveInfo[Any], **args: Json) -> Json:
        _refuse(args, "savedSearchId")
        sort = args.get("sortKey") or "PROCESSED_AT"
        fields = {
            "UPDATED_AT": "updated_at",
            "CREATED_AT": "created_at",
            "PROCESSED_AT": "created_at",
            "ID": "id",
        }
        if sort not in fields:
            raise _Unmodelled(f"FakeShopify does not model orders(sortKey: {sort})")
        groups = _parse_search(args.get("query"), ("updated_at", "created_at", "name", "id"))

        def values(o: _Order) -> dict[str, str]:
            return {
                "updated_at": o.updated_at,
                "created_at": o.created_at,
                "name": o.name,
                "id": str(_number(o.gid)),
            }

        chosen = [o for o in self.shop.orders.values() if _search(groups, values(o).get)]
        return _connection(
            chosen,
            lambda o: (_number(o.gid) if sort == "ID" else values(o)[fields[sort]], _number(o.gid)),
            self.order,
            args,
        )

    # -- objects --

    def location(self, loc: _Location) -> Json:
        return {
            "__typename": "Location",
            "id": loc.gid,
            "legacyResourceId": str(_number(loc.gid)),
            "name": loc.name,
            "isActive": True,
            "fulfillsOnlineOrders": True,
        }

    def product(self, product: _Product) -> Json:
        shop = self.shop
        return {
            "__typename": "Product",
            "id": product.gid,
            "legacyResourceId": str(_number(product.gid)),
            "title": product.title,
            "hasVariantsThatRequiresComponents": product.bundle_parent,
            "tracksInventory": any(shop.items[shop.variants[v].item].tracked for v in product.variants),
            "totalInventory": sum(self._available(shop.variants[v].item) for v in product.variants),
        }

    def variant(self, variant: _Variant) -> Json:
        shop = self.shop
        product = shop.products[variant.product]
        return {
            "__typename": "ProductVariant",
            "id": variant.gid,
            "legacyResourceId": str(_number(variant.gid)),
            "sku": variant.sku,
            "title": variant.title,
            "displayName": f"{product.title} - {variant.title}",
            "inventoryQuantity": self._available(variant.item),
            "requiresComponents": product.bundle_parent,
            "price": variant.price,
            "inventoryItem": lambda info: self.item(shop.items[variant.item]),
            "product": lambda info: self.product(product),
        }

    def item(self, item: _Item) -> Json:
        shop = self.shop

        def levels(info: GraphQLResolveInfo[Any], **args: Json) -> Json:
            _refuse(args, "query")
            stocked = [loc for (i, loc) in shop.levels if i == item.gid]
            return _connection(
                stocked,
                lambda loc: (_number(loc), _number(loc)),
                lambda loc: self.level(item.gid, loc),
                args,
            )

        def one_level(info: GraphQLResolveInfo[Any], **args: Json) -> Json:
            location = args["locationId"]
            return self.level(item.gid, location) if (item.gid, location) in shop.levels else None

        return {
            "__typename": "InventoryItem",
            "id": item.gid,
            "legacyResourceId": str(_number(item.gid)),
            "sku": item.sku,
            "tracked": item.tracked,
            "requiresShipping": True,
            "inventoryLevels": levels,
            "inventoryLevel": one_level,
            "variant": lambda info: self.variant(shop.variants[item.variant]),
        }

    def level(self, item: str, location: str) -> Json:
        shop = self.shop

        def quantities(info: GraphQLResolveInfo[Any], names: list[str]) -> Json:
            level = shop.levels[item, location]
            for name in names:
                if name not in QUANTITY_NAMES:
                    raise _Unmodelled(f"FakeShopify does not model the quantity name {name!r}")
            return [
                {"__typename": "InventoryQuantity", "name": n, "quantity": getattr(level, n)} for n in names
            ]

        return {
            "__typename": "InventoryLevel",
            "id": f"gid://shopify/InventoryLevel/{_number(location)}?inventory_item_id={_number(item)}",
            "isActive": True,
            "item": lambda info: self.item(shop.items[item]),
            "location": lambda info: self.location(shop.locations[location]),
            "quantities": quantities,
        }

    def changes(self, changes: Sequence[tuple[str, int, str, str]], filters: Mapping[str, Json]) -> Json:
        shop = self.shop
        wanted = (filters.get("quantityNames"), filters.get("inventoryItemIds"), filters.get("locationIds"))
        return [
            {
                "__typename": "InventoryChange",
                "name": name,
                "delta": delta,
                "quantityAfterChange": None,  # recorded null (2026-04)
                "ledgerDocumentUri": None,
                "item": lambda info, i=item: self.item(shop.items[i]),
                "location": lambda info, loc=location: self.location(shop.locations[loc]),
            }
            for name, delta, item, location in changes
            if all(w is None or v in w for w, v in zip(wanted, (name, item, location), strict=True))
        ]

    def order(self, order: _Order) -> Json:
        lines = {line.gid: line for line in order.lines}

        def line_items(info: GraphQLResolveInfo[Any], **args: Json) -> Json:
            return _connection(
                order.lines, lambda li: (_number(li.gid), _number(li.gid)), self.line_item, args
            )

        def refunds(info: GraphQLResolveInfo[Any], first: int | None = None) -> Json:
            chosen = order.refunds if first is None else order.refunds[:first]
            return [self.refund(refund, lines) for refund in chosen]

        return {
            "__typename": "Order",
            "id": order.gid,
            "legacyResourceId": str(_number(order.gid)),
            "name": order.name,
            "createdAt": order.created_at,
            "updatedAt": order.updated_at,
            "cancelledAt": order.cancelled_at,
            "cancelReason": order.cancel_reason,
            "closed": False,
            "test": False,
            "lineItems": line_items,
            "refunds": refunds,
        }

    def line_item(self, line: _LineItem) -> Json:
        shop = self.shop
        variant = shop.variants.get(line.variant or "")
        return {
            "__typename": "LineItem",
            "id": line.gid,
            "sku": line.sku,
            "name": line.title,
            "title": line.title,
            "quantity": line.quantity,
            "currentQuantity": line.current_quantity,
            "refundableQuantity": line.current_quantity,
            "unfulfilledQuantity": line.current_quantity,
            "nonFulfillableQuantity": max(0, line.quantity - line.current_quantity),
            "variant": lambda info: self.variant(variant) if variant else None,
            "product": lambda info: self.product(shop.products[variant.product]) if variant else None,
        }

    def calculated_order(self, edit: _Edit) -> Json:
        order = self.shop.orders[edit.order]

        def lines(chosen: list[_CalculatedLine]) -> Callable[..., Json]:
            def connection(info: GraphQLResolveInfo[Any], **args: Json) -> Json:
                _refuse(args, "query")
                # Staged order: added lines have uuid ids, which carry no number to sort by.
                return _connection(
                    enumerate(chosen),
                    lambda pair: (pair[0], pair[0]),
                    lambda pair: self.calculated_line(pair[1]),
                    args,
                )

            return connection

        return {
            "__typename": "CalculatedOrder",
            "id": edit.gid,
            "committed": False,
            "originalOrder": lambda info: self.order(order),
            "lineItems": lines(edit.lines),
            "addedLineItems": lines([line for line in edit.lines if line.line is None]),
            "subtotalLineItemsQuantity": sum(line.quantity for line in edit.lines),
        }

    def calculated_line(self, line: _CalculatedLine) -> Json:
        variant = self.shop.variants.get(line.variant or "")
        return {
            "__typename": "CalculatedLineItem",
            "id": line.gid,
            "sku": line.sku,
            "title": line.title,
            "quantity": line.quantity,
            "editableQuantity": line.quantity,
            "editableQuantityBeforeChanges": line.before,
            "restockable": line.line is not None
            and FakeShopify._tracked(self.shop, line.variant) is not None,
            "restocking": line.restock and line.quantity < line.before,
            "variant": lambda info: self.variant(variant) if variant else None,
        }

    def refund(self, refund: _Refund, lines: Mapping[str, _LineItem]) -> Json:
        shop = self.shop

        def refund_lines(info: GraphQLResolveInfo[Any], **args: Json) -> Json:
            return _connection(
                refund.lines,
                lambda rl: (_number(rl.gid), _number(rl.gid)),
                lambda rl: {
                    "__typename": "RefundLineItem",
                    "id": rl.gid,
                    "quantity": rl.quantity,
                    "restockType": rl.restock_type,
                    "restocked": rl.restock_type != "NO_RESTOCK",
                    "location": lambda info: (
                        self.location(shop.locations[rl.location]) if rl.location else None
                    ),
                    "lineItem": lambda info: self.line_item(lines[rl.line_item]),
                },
                args,
            )

        return {
            "__typename": "Refund",
            "id": refund.gid,
            "legacyResourceId": str(_number(refund.gid)),
            "createdAt": refund.created_at,
            "updatedAt": refund.created_at,
            "refundLineItems": refund_lines,
        }

    def _available(self, item: str) -> int:
        levels = (self.shop.levels.get((item, location)) for location in self.shop.locations)
        return sum(level.available for level in levels if level is not None)


def _refuse(args: Mapping[str, Json], name: str) -> None:
    if args.get(name) is not None:
        raise _Unmodelled(f"FakeShopify does not model the argument {name}")
