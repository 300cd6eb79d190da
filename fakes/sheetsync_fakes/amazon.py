"""An in-memory Amazon Selling Partner API for one seller in one region, spoken to over the wire.

``FakeAmazon`` is a handler (``httpx.Request -> httpx.Response``, see :mod:`sheetsync_fakes.wire`)
answering LWA's token endpoint, the SP-API operations below, and the presigned URLs of feed
documents, whatever the host (over ``httpx.MockTransport`` or ``wire.serve``). What it
reproduces (``sheetsync_fakes/reference/marketplaces/amazon-sp-api/``: the models and feed
schemas without their descriptions, the models' sandbox examples, the usage plans):

- **LWA** ``POST /auth/o2/token``: form fields ``grant_type=refresh_token``, ``refresh_token``,
  ``client_id``, ``client_secret``; answers ``{access_token, token_type, expires_in,
  refresh_token}``. Refusals use LWA's error codes (``invalid_client``, ``invalid_grant``,
  ``invalid_request``, ``unsupported_grant_type`` is ``invalid_request`` here); their HTTP status
  and wording are ``# unrecorded``. Access tokens live ``token_ttl_s`` (3600 s, commonly cited,
  not verified).
- **Auth**: every SP-API call needs a live token in ``x-amz-access-token``; else 403 with the
  ErrorList body (code ``Unauthorized``, ``# unrecorded`` wording).
- **Errors**: the ErrorList ``{"errors": [{"code", "message", "details"}]}`` of the models; a
  request the documented sandbox examples refuse is refused with their ``Invalid input``.
  **Stricter than Amazon, on purpose**: an unknown query parameter is a 400, so a typo in the
  adapter fails a test.
- **Requests** are checked against the models: query parameters (required, enums, ``maxItems``,
  ``maximum``; arrays comma-separated) and bodies against their definitions
  (``CreateFeedDocumentSpecification``, ``CreateFeedSpecification``, ``ListingsItemPatchRequest``);
  feed documents against ``listings-feed-schema-v2`` (at most 25,000 messages).
- **Rate limits**: one token bucket per operation with the models' rate and burst, counted per
  seller and application; JSON_LISTINGS_FEED submissions at most 5 in any 5 minutes. Past a
  limit: 429 ``QuotaExceeded`` with the body of facts #6 and only ``x-amzn-RequestId`` (no
  ``x-amzn-RateLimit-Limit`` promised on 429). Refused requests count too.
- **Listings** (2021-08-01): ``searchListingsItems`` (by ``identifiers`` with
  ``identifiersType=SKU``, or every listing in ``pageSize`` pages), ``getListingsItem``,
  ``patchListingsItem`` (``mode=VALIDATION_PREVIEW`` answers VALID/INVALID and changes nothing).
  A listing is merchant-fulfilled (``DEFAULT``) or FBA (``AMAZON_NA`` …). A patch that a listing
  cannot take answers **200 with status INVALID** and ERROR issues (codes ``# unrecorded``).
  ``fulfillment_availability`` is the only attribute modelled; a patch of another attribute is
  accepted and stored without effect.
- **Feeds** (2021-06-30): createFeedDocument (201, a presigned URL valid 5 minutes, whose
  Content-Type must be the one declared), the upload, createFeed (202), getFeed, getFeedDocument
  (optionally GZIP), cancelFeed (IN_QUEUE only). Feeds are processed on the fake clock: IN_QUEUE,
  IN_PROGRESS, then DONE after ``processing_delay_s`` (an assumption; Amazon states no time),
  with a processing report (schema v2) whose per-message ERROR issues name ``messageId`` and
  ``sku``. A document that is not a valid listings feed ends FATAL, and so does any other feed
  type (the legacy feeds return FATAL since 2025-07-31).
- **Orders** (2026-01-01): ``searchOrders`` with the documented parameter rules (exactly one of
  ``createdAfter`` / ``lastUpdatedAfter``, a ``...Before`` at least 2 minutes before now,
  ``maxResultsPerPage`` 1..100, ``paginationToken`` valid 24 hours and only with the same other
  parameters). Orders carry ``orderItems`` always; ``fulfillment`` and item ``cancellation`` only
  when ``includedData`` asks for FULFILLMENT / CANCELLATION. getOrder and v0 are not modelled (501).
- **Stock** (assumptions): an order takes its units from the listing's DEFAULT quantity when
  placed; cancelling the order or an item puts them back. FBA quantities move only by
  :meth:`FakeAmazon.set_fba`.
- Helpers for tests (no auth, not logged): listings, FBA, orders, cancellations, feed failures;
  every request goes to :attr:`request_log`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx

from sheetsync_fakes import REFERENCE

Json = Any
HERE = REFERENCE / "marketplaces" / "amazon-sp-api"

MAX_FEED_MESSAGES = 25_000
FEED_SUBMISSIONS = (5, 300.0)
URL_TTL_S = 300.0
PAGINATION_TTL_S = 24 * 3600.0
QUOTA_EXCEEDED = {
    "code": "QuotaExceeded",
    "message": "You exceeded your quota for the requested resource.",
    "details": "",
}
INVALID_INPUT = "Invalid input"
#: Fulfilment channel codes of FBA stock, per region (the listings feed example uses AMAZON_NA).
FBA_CODES = frozenset({"AMAZON_NA", "AMAZON_EU", "AMAZON_FE", "AMAZON_JP"})
STATUSES = (
    "PENDING_AVAILABILITY",
    "PENDING",
    "UNSHIPPED",
    "PARTIALLY_SHIPPED",
    "SHIPPED",
    "CANCELLED",
    "UNFULFILLABLE",
)


@cache
def reference(name: str) -> Json:
    """One JSON file of the Amazon reference material, by name."""
    return json.loads((HERE / name).read_text(encoding="utf-8"))


def usage_plans() -> dict[str, tuple[float, int]]:
    """Operation → (rate a second, burst), from the reference's usage-plan table."""
    plans = reference("usage_plans_and_auth.json")["operations"]
    return {key.partition(":")[2]: (float(v["rate_per_s"]), int(v["burst"])) for key, v in plans.items()}


# -- a small validator for the models' (Swagger 2) and the feed schemas' (draft-07) subset --


def validate(value: Json, schema: Json, root: Json, where: str = "$") -> list[str]:
    """Problems of ``value`` against ``schema`` (``$ref`` resolved in ``root``); [] when it fits."""
    if schema is False:
        return [f"{where} is not allowed"]
    if schema is True or not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return validate(value, node, root, where)
    problems: list[str] = []
    kind = schema.get("type")
    checks: Mapping[str, Callable[[Json], bool]] = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    if isinstance(kind, str) and kind in checks and not checks[kind](value):
        return [f"{where} must be of type {kind}"]
    if "const" in schema and value != schema["const"]:
        problems.append(f"{where} must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where} must be one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        problems.append(f"{where} is too short")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{where} must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{where} must be at most {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{where} needs at least {schema['minItems']} item(s)")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{where} takes at most {schema['maxItems']} items")
            return problems
        for index, item in enumerate(value):
            problems += validate(item, schema.get("items", True), root, f"{where}[{index}]")
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                problems.append(f"{where}.{name} is required")
        if len(value) < schema.get("minProperties", 0):
            problems.append(f"{where} needs at least {schema['minProperties']} propert(ies)")
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                problems += validate(item, properties[name], root, f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"{where}.{name} is not a known field")
    if "oneOf" in schema:
        fits = [not validate(value, option, root, where) for option in schema["oneOf"]]
        if fits.count(True) != 1:
            problems.append(f"{where} matches {fits.count(True)} of the allowed shapes, not exactly one")
    return problems


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the fake received (never its credentials)."""

    method: str
    operation: str  #: ``searchOrders``, ``createFeed``, ``lwaToken``, ``documentUpload`` …; "" unknown
    status: int
    throttled: bool = False


@dataclass(slots=True)
class Listing:
    """One listing of the seller in the marketplace."""

    sku: str
    product_type: str
    asin: str
    channel: str  #: DEFAULT (merchant-fulfilled) or an FBA code (AMAZON_NA …)
    quantity: int | None  #: None: never stocked (no fulfillmentAvailability)
    attributes: dict[str, Json] = field(default_factory=dict)
    created: float = 0.0
    updated: float = 0.0


@dataclass(slots=True)
class _Item:
    id: str
    sku: str
    quantity: Json  #: as Amazon would send it (tests may plant odd values)
    cancelled_by: str | None = None
    taken: int = 0  #: units this item took from the listing's DEFAULT quantity


@dataclass(slots=True)
class _Order:
    id: str
    created: float
    updated: float
    status: str
    fulfilled_by: str
    items: list[_Item]


@dataclass(slots=True)
class _Document:
    id: str
    content_type: str
    url_until: float
    content: bytes | None = None
    result: bool = False
    compression: str | None = None


@dataclass(slots=True)
class _Feed:
    id: str
    feed_type: str
    marketplaces: list[str]
    document: str
    created: float
    status: str = "IN_QUEUE"
    started: float | None = None
    ended: float | None = None
    result: str | None = None
    fail_with: str | None = None  #: a planted FATAL or CANCELLED


class _Answer(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _error_list(code: str, message: str, details: str = "") -> Json:
    return {"errors": [{"code": code, "message": message, "details": details}]}


class FakeAmazon:
    """One seller's SP-API (listings, feeds, orders) in one region, in memory (module docstring).

    Args:
        seller_id: the seller's id (merchant token).
        client_id: the app's LWA client id.
        client_secret: its secret.
        refresh_token: the refresh token the seller's authorization gave the app.
        marketplace_ids: the marketplaces the seller sells in (the first is the default).
        now: the clock, in seconds since the epoch (timestamps, limits, feed processing).
        processing_delay_s: how long a feed takes from createFeed to DONE.
        token_ttl_s: an access token's life.
        gzip_reports: processing reports are stored GZIP-compressed.
        limits: apply the usage plans (False: unlimited, for setting up big scenarios).

    Attributes:
        request_log: every request received, in order.
    """

    def __init__(
        self,
        *,
        seller_id: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        marketplace_ids: Sequence[str] = ("ATVPDKIKX0DER",),
        now: Callable[[], float] = time.time,
        processing_delay_s: float = 30.0,
        token_ttl_s: float = 3600.0,
        gzip_reports: bool = False,
        limits: bool = True,
    ) -> None:
        self.seller_id = seller_id
        self._client = (client_id, client_secret)
        self._refresh_tokens = {refresh_token}
        self.marketplace_ids = list(marketplace_ids)
        self._now = now
        self.processing_delay_s = processing_delay_s
        self.token_ttl_s = token_ttl_s
        self.gzip_reports = gzip_reports
        self.limits = limits
        self._plans = usage_plans()
        self._buckets: dict[str, tuple[float, float]] = {}  # operation → (tokens, at)
        self._submissions: list[float] = []
        self._tokens: dict[str, float] = {}
        self._listings: dict[str, Listing] = {}
        self._orders: dict[str, _Order] = {}
        self._documents: dict[str, _Document] = {}
        self._feeds: dict[str, _Feed] = {}
        self._pages: dict[str, tuple[str, float, int]] = {}  # token → (query key, expiry, offset)
        self._next_feed = 50_001
        self._next_order = 1
        self._lock = threading.RLock()
        self.request_log: list[LoggedRequest] = []

    # -- the seller's and the platform's side (no auth, not logged) --

    def add_listing(
        self,
        sku: str,
        *,
        quantity: int | None = None,
        product_type: str = "PRODUCT",
        fba: bool = False,
        asin: str | None = None,
    ) -> None:
        """A listing in the default marketplace; ``quantity`` None: never stocked."""
        with self._lock:
            moment = self._now()
            self._listings[sku] = Listing(
                sku,
                product_type,
                asin or f"B0{len(self._listings) + 1:08d}",
                "AMAZON_NA" if fba else "DEFAULT",
                quantity,
                created=moment,
                updated=moment,
            )

    def set_fba(self, sku: str, quantity: int, code: str = "AMAZON_NA") -> None:
        """The listing is fulfilled by Amazon from now on, with Amazon's count of ``quantity``."""
        with self._lock:
            listing = self._listings[sku]
            listing.channel, listing.quantity, listing.updated = code, quantity, self._now()

    def listing(self, sku: str) -> Listing:
        """The listing as stored (after processing any due feeds)."""
        with self._lock:
            self._advance()
            return self._listings[sku]

    def quantity(self, sku: str) -> int | None:
        """The listing's quantity now (DEFAULT or FBA), after processing any due feeds."""
        return self.listing(sku).quantity

    def place_order(
        self, lines: Sequence[tuple[str, Json]], *, status: str = "UNSHIPPED", fulfilled_by: str = "MERCHANT"
    ) -> str:
        """A buyer's order; its merchant-fulfilled units leave the listings' DEFAULT quantity."""
        with self._lock:
            if status not in STATUSES:
                raise ValueError(f"unknown status {status}")
            number = self._next_order
            self._next_order += 1
            order_id = f"{100 + number % 900:03d}-{number:07d}-{(number * 7919) % 10_000_000:07d}"
            moment = self._now()
            items = [
                _Item(f"{number:06d}{index:08d}", sku, quantity)
                for index, (sku, quantity) in enumerate(lines, 1)
            ]
            order = _Order(order_id, moment, moment, status, fulfilled_by, items)
            if fulfilled_by == "MERCHANT" and status != "CANCELLED":
                for item in items:
                    self._take(item)
            self._orders[order_id] = order
            return order_id

    def _take(self, item: _Item) -> None:
        listing = self._listings.get(item.sku)
        units = item.quantity if isinstance(item.quantity, int) and not isinstance(item.quantity, bool) else 0
        if listing is not None and listing.channel == "DEFAULT" and units > 0:
            listing.quantity = max(0, (listing.quantity or 0) - units)
            item.taken = units

    def _give_back(self, item: _Item) -> None:
        listing = self._listings.get(item.sku)
        if listing is not None and item.taken:
            listing.quantity = (listing.quantity or 0) + item.taken
            item.taken = 0

    def cancel(self, order_id: str, by: str = "BUYER") -> None:
        """Cancel the whole order: every item's units go back."""
        with self._lock:
            order = self._orders[order_id]
            order.status, order.updated = "CANCELLED", self._now()
            for item in order.items:
                item.cancelled_by = item.cancelled_by or by
                self._give_back(item)

    def cancel_item(self, order_id: str, item_id: str, by: str = "MERCHANT") -> None:
        """Cancel one item of a live order (its units go back; the order stays as it is)."""
        with self._lock:
            order = self._orders[order_id]
            item = next(i for i in order.items if i.id == item_id)
            item.cancelled_by = by
            self._give_back(item)
            order.updated = self._now()

    def set_status(self, order_id: str, status: str) -> None:
        """Move an order on (UNSHIPPED → SHIPPED …)."""
        with self._lock:
            if status not in STATUSES:
                raise ValueError(f"unknown status {status}")
            order = self._orders[order_id]
            order.status, order.updated = status, self._now()

    def order_items(self, order_id: str) -> list[str]:
        """The order's item ids."""
        return [item.id for item in self._orders[order_id].items]

    def fail_next_feed(self, status: str = "FATAL") -> None:
        """The next feed created ends FATAL (or CANCELLED) instead of being processed."""
        self._plant = status

    _plant: str | None = None

    def revoke(self) -> None:
        """The seller revokes the app: refresh and access tokens stop working."""
        with self._lock:
            self._refresh_tokens.clear()
            self._tokens.clear()

    def feeds(self) -> list[Json]:
        """Every feed as getFeed shows it."""
        with self._lock:
            self._advance()
            return [self._feed_json(feed) for feed in self._feeds.values()]

    # -- time --

    @staticmethod
    def stamp(moment: float) -> str:
        """ISO 8601 UTC, as the models' date-time fields."""
        return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @staticmethod
    def _parse_time(text: str) -> float | None:
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            return None
        return moment.timestamp()

    # -- the wire --

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (the handler :mod:`sheetsync_fakes.wire` and MockTransport call)."""
        with self._lock:
            entry: dict[str, Any] = {"operation": "", "throttled": False}
            try:
                self._advance()
                response = self._route(request, entry)
            except _Answer as answer:
                response = answer.response
            self.request_log.append(
                LoggedRequest(request.method, entry["operation"], response.status_code, entry["throttled"])
            )
            return response

    def _json(self, body: Json, status: int = 200) -> httpx.Response:
        return httpx.Response(status, json=body, headers={"x-amzn-RequestId": str(uuid.uuid4())})

    def _refuse(self, status: int, code: str, message: str, details: str = "") -> _Answer:
        return _Answer(self._json(_error_list(code, message, details), status))

    def _invalid(self, details: str) -> _Answer:
        return self._refuse(400, "InvalidInput", INVALID_INPUT, details)

    def _route(self, request: httpx.Request, entry: dict[str, Any]) -> httpx.Response:
        path = request.url.path
        method = request.method
        if path == "/auth/o2/token" and method == "POST":
            entry["operation"] = "lwaToken"
            return self._token(request)
        if match := re.fullmatch(r"/_documents/([^/]+)", path):
            entry["operation"] = "documentUpload" if method == "PUT" else "documentDownload"
            return self._document_transfer(method, match.group(1), request)
        operation, args = self._operation(method, path)
        entry["operation"] = operation
        self._authenticate(request)
        self._throttle(operation, entry)
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            return self._json(_error_list("NotImplemented", f"{operation} is not modelled by this fake"), 501)
        return handler(request, *args)  # type: ignore[no-any-return]

    _ROUTES: tuple[tuple[str, str, str], ...] = (
        ("GET", r"/listings/2021-08-01/items/([^/]+)", "searchListingsItems"),
        ("GET", r"/listings/2021-08-01/items/([^/]+)/([^/]+)", "getListingsItem"),
        ("PATCH", r"/listings/2021-08-01/items/([^/]+)/([^/]+)", "patchListingsItem"),
        ("PUT", r"/listings/2021-08-01/items/([^/]+)/([^/]+)", "putListingsItem"),
        ("DELETE", r"/listings/2021-08-01/items/([^/]+)/([^/]+)", "deleteListingsItem"),
        ("POST", r"/feeds/2021-06-30/documents", "createFeedDocument"),
        ("GET", r"/feeds/2021-06-30/documents/([^/]+)", "getFeedDocument"),
        ("POST", r"/feeds/2021-06-30/feeds", "createFeed"),
        ("GET", r"/feeds/2021-06-30/feeds", "getFeeds"),
        ("GET", r"/feeds/2021-06-30/feeds/([^/]+)", "getFeed"),
        ("DELETE", r"/feeds/2021-06-30/feeds/([^/]+)", "cancelFeed"),
        ("GET", r"/orders/2026-01-01/orders", "searchOrders"),
        ("GET", r"/orders/2026-01-01/orders/([^/]+)", "getOrder"),
        ("GET", r"/orders/v0/orders", "getOrders"),
        ("GET", r"/orders/v0/orders/([^/]+)", "getOrder"),
        ("GET", r"/orders/v0/orders/([^/]+)/orderItems", "getOrderItems"),
    )

    def _operation(self, method: str, path: str) -> tuple[str, tuple[str, ...]]:
        raw = path
        for verb, pattern, operation in self._ROUTES:
            match = re.fullmatch(pattern, raw)
            if match and verb == method:
                return operation, tuple(unquote(part) for part in match.groups())
        raise self._refuse(404, "NotFound", "Resource not found")  # unrecorded

    # -- LWA --

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[-1] for k, v in parse_qs(request.content.decode("utf-8", "replace")).items()}
        if (form.get("client_id"), form.get("client_secret")) != self._client:
            return httpx.Response(  # unrecorded wording
                401, json={"error": "invalid_client", "error_description": "Client authentication failed"}
            )
        if form.get("grant_type") != "refresh_token" or "refresh_token" not in form:
            return httpx.Response(
                400,
                json={"error": "invalid_request", "error_description": "grant_type refresh_token needs one"},
            )
        if form["refresh_token"] not in self._refresh_tokens:
            return httpx.Response(
                400,
                json={
                    "error": "invalid_grant",
                    "error_description": "The request has an invalid grant parameter : refresh_token",
                },
            )
        token = f"Atza|{uuid.uuid4().hex}"
        self._tokens[token] = self._now() + self.token_ttl_s
        body = {
            "access_token": token,
            "refresh_token": form["refresh_token"],
            "token_type": "bearer",
            "expires_in": int(self.token_ttl_s),
        }
        return httpx.Response(200, json=body)

    def _authenticate(self, request: httpx.Request) -> None:
        token = request.headers.get("x-amz-access-token", "")
        until = self._tokens.get(token)
        if until is None or until <= self._now():
            raise self._refuse(  # unrecorded wording
                403,
                "Unauthorized",
                "Access to requested resource is denied.",
                "The access token you provided has expired." if until is not None else "",
            )

    def _throttle(self, operation: str, entry: dict[str, Any]) -> None:
        if not self.limits or operation not in self._plans:
            return
        rate, burst = self._plans[operation]
        now = self._now()
        tokens, at = self._buckets.get(operation, (float(burst), now))
        tokens = min(float(burst), tokens + (now - at) * rate)
        if tokens < 1.0:
            self._buckets[operation] = (tokens, now)
            entry["throttled"] = True
            raise _Answer(self._json({"errors": [dict(QUOTA_EXCEEDED)]}, 429))
        self._buckets[operation] = (tokens - 1.0, now)

    # -- request checks against the models --

    def _query(self, request: httpx.Request, model: str, path: str, method: str) -> dict[str, Json]:
        """The query parameters, typed and checked against the operation's model entry."""
        spec = reference(model)["paths"][path][method.lower()]
        declared = {p["name"]: p for p in spec.get("parameters", []) if p.get("in") == "query"}
        raw = parse_qs(request.url.query.decode(), keep_blank_values=True)
        unknown = [name for name in raw if name not in declared]
        if unknown:
            raise self._invalid(f"unknown parameter(s): {', '.join(unknown)}")  # stricter than Amazon
        values: dict[str, Json] = {}
        for name, param in declared.items():
            if name not in raw:
                if param.get("required"):
                    raise self._invalid(f"{name} is required")
                continue
            text = raw[name][-1]
            value: Json = text
            if param.get("type") == "array":
                value = [part for part in text.split(",") if part]
                if param.get("maxItems") is not None and len(value) > param["maxItems"]:
                    raise self._invalid(f"{name} takes at most {param['maxItems']} values")
                allowed = (param.get("items") or {}).get("enum")
                if allowed and any(v not in allowed for v in value):
                    raise self._invalid(f"{name} takes {', '.join(allowed)}")
            elif param.get("type") == "integer":
                if not re.fullmatch(r"-?\d+", text):
                    raise self._invalid(f"{name} must be a whole number")
                value = int(text)
                if "maximum" in param and value > param["maximum"]:
                    raise self._invalid(f"{name} must be at most {param['maximum']}")
                if "minimum" in param and value < param["minimum"]:
                    raise self._invalid(f"{name} must be at least {param['minimum']}")
            elif param.get("enum") and text not in param["enum"]:
                raise self._invalid(f"{name} takes {', '.join(param['enum'])}")
            values[name] = value
        return values

    def _body(self, request: httpx.Request, model: str, definition: str) -> Json:
        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            raise self._invalid("the body is not JSON") from None
        root = reference(model)
        problems = validate(body, root["definitions"][definition], root)
        if problems:
            raise self._invalid("; ".join(problems[:5]))
        return body

    def _marketplaces(self, ids: Sequence[str]) -> None:
        unknown = [m for m in ids if m not in self.marketplace_ids]
        if unknown:
            raise self._refuse(
                400, "BAD_REQUEST", INVALID_INPUT, f"not the seller's marketplace: {unknown[0]}"
            )

    def _seller(self, seller_id: str) -> None:
        if seller_id != self.seller_id:
            raise self._refuse(403, "Unauthorized", "Access to requested resource is denied.")  # unrecorded

    # -- listings --

    _LISTINGS = "model_listingsItems_2021-08-01.json"

    def _item_json(self, listing: Listing, included: Sequence[str], marketplace: str) -> Json:
        item: dict[str, Json] = {"sku": listing.sku}
        if "summaries" in included:
            item["summaries"] = [
                {
                    "marketplaceId": marketplace,
                    "asin": listing.asin,
                    "productType": listing.product_type,
                    "conditionType": "new_new",
                    "status": ["BUYABLE", "DISCOVERABLE"] if listing.quantity else ["DISCOVERABLE"],
                    "itemName": listing.sku,
                    "createdDate": self.stamp(listing.created),
                    "lastUpdatedDate": self.stamp(listing.updated),
                }
            ]
        if "attributes" in included:
            item["attributes"] = dict(listing.attributes)
        if "issues" in included:
            item["issues"] = []
        if "fulfillmentAvailability" in included:
            item["fulfillmentAvailability"] = (
                []
                if listing.quantity is None
                else [{"fulfillmentChannelCode": listing.channel, "quantity": listing.quantity}]
            )
        return item

    def _op_searchListingsItems(self, request: httpx.Request, seller_id: str) -> httpx.Response:
        query = self._query(request, self._LISTINGS, "/listings/2021-08-01/items/{sellerId}", "GET")
        self._marketplaces(query["marketplaceIds"])
        self._seller(seller_id)
        included = query.get("includedData", ["summaries"])
        listings = sorted(self._listings.values(), key=lambda entry: entry.sku)
        if "identifiers" in query:
            if query.get("identifiersType") != "SKU":
                if "identifiersType" not in query:
                    raise self._refuse(400, "BAD_REQUEST", INVALID_INPUT, "identifiers need identifiersType")
                return self._json(
                    {"errors": [{"code": "NotImplemented", "message": "only SKU identifiers"}]}, 501
                )
            wanted = set(query["identifiers"])
            listings = [entry for entry in listings if entry.sku in wanted]
        size = query.get("pageSize", 10)
        offset = int(query["pageToken"]) if str(query.get("pageToken", "")).isdigit() else 0
        chunk = listings[offset : offset + size]
        body: dict[str, Json] = {
            "numberOfResults": len(listings),
            "items": [self._item_json(entry, included, query["marketplaceIds"][0]) for entry in chunk],
        }
        if offset + size < len(listings):
            body["pagination"] = {"nextToken": str(offset + size)}
        return self._json(body)

    def _op_getListingsItem(self, request: httpx.Request, seller_id: str, sku: str) -> httpx.Response:
        query = self._query(request, self._LISTINGS, "/listings/2021-08-01/items/{sellerId}/{sku}", "GET")
        self._marketplaces(query["marketplaceIds"])
        self._seller(seller_id)
        listing = self._listings.get(sku)
        if listing is None:
            raise self._refuse(
                404, "NOT_FOUND", f"SKU '{sku}' not found in marketplace {query['marketplaceIds'][0]}"
            )
        return self._json(
            self._item_json(listing, query.get("includedData", ["summaries"]), query["marketplaceIds"][0])
        )

    def _op_patchListingsItem(self, request: httpx.Request, seller_id: str, sku: str) -> httpx.Response:
        query = self._query(request, self._LISTINGS, "/listings/2021-08-01/items/{sellerId}/{sku}", "PATCH")
        self._marketplaces(query["marketplaceIds"])
        self._seller(seller_id)
        body = self._body(request, self._LISTINGS, "ListingsItemPatchRequest")
        preview = query.get("mode") == "VALIDATION_PREVIEW"
        issues = self._apply(sku, body["productType"], body["patches"], apply=not preview)
        status = "INVALID" if issues else ("VALID" if preview else "ACCEPTED")
        answer: dict[str, Json] = {"sku": sku, "status": status, "submissionId": uuid.uuid4().hex}
        if "issues" in query.get("includedData", ["issues"]):
            answer["issues"] = [
                {"code": code, "message": message, "severity": "ERROR", "categories": [category]}
                for code, message, category in issues
            ]
        return self._json(answer)

    def _apply(
        self, sku: str, product_type: str, patches: Sequence[Json], *, apply: bool
    ) -> list[tuple[str, str, str]]:
        """Check (and with ``apply`` make) a listing's patches; its issues (code, message, category)."""
        listing = self._listings.get(sku)
        if listing is None:  # unrecorded code and wording
            return [
                ("NOT_FOUND", f"SKU {sku} has no listing; a patch cannot create one", "INVALID_ATTRIBUTE")
            ]
        if product_type != listing.product_type:  # unrecorded
            return [
                (
                    "PRODUCT_TYPE_MISMATCH",
                    f"productType {product_type} is not the listing's ({listing.product_type})",
                    "INVALID_ATTRIBUTE",
                )
            ]
        quantity: int | None = None
        for patch in patches:
            if patch.get("path") != "/attributes/fulfillment_availability":
                continue
            values = patch.get("value") or []
            if patch.get("op") == "delete" or len(values) != 1 or not isinstance(values[0], dict):
                return [
                    (
                        "INVALID_VALUE",
                        "fulfillment_availability takes one channel's quantity",
                        "INVALID_ATTRIBUTE",
                    )
                ]
            entry = values[0]
            units = entry.get("quantity")
            code = entry.get("fulfillment_channel_code")
            if not isinstance(units, int) or isinstance(units, bool) or units < 0:
                return [
                    ("INVALID_VALUE", "quantity must be a whole number of 0 or more", "INVALID_ATTRIBUTE")
                ]
            if code != listing.channel:
                return [  # unrecorded: Amazon counts FBA stock itself
                    (
                        "FULFILLMENT_CHANNEL_MISMATCH",
                        f"SKU {sku} is fulfilled through {listing.channel}; {code} quantity cannot be set",
                        "INVALID_ATTRIBUTE",
                    )
                ]
            quantity = units
        if apply:
            for patch in patches:
                name = str(patch.get("path", "")).removeprefix("/attributes/")
                if name != "fulfillment_availability":
                    listing.attributes[name] = patch.get("value")
            if quantity is not None:
                listing.quantity = quantity
            listing.updated = self._now()
        return []

    # -- feeds --

    _FEEDS = "model_feeds_2021-06-30.json"

    def _op_createFeedDocument(self, request: httpx.Request) -> httpx.Response:
        self._query(request, self._FEEDS, "/feeds/2021-06-30/documents", "POST")
        body = self._body(request, self._FEEDS, "CreateFeedDocumentSpecification")
        document = _Document(uuid.uuid4().hex, body["contentType"], self._now() + URL_TTL_S)
        self._documents[document.id] = document
        return self._json({"feedDocumentId": document.id, "url": self._url(request, document.id)}, 201)

    @staticmethod
    def _url(request: httpx.Request, document_id: str) -> str:
        return (
            f"{request.url.scheme}://{request.url.netloc.decode()}/_documents/{document_id}?X-Amz-Expires=300"
        )

    def _document_transfer(self, method: str, document_id: str, request: httpx.Request) -> httpx.Response:
        document = self._documents.get(document_id)
        xml = {"Content-Type": "application/xml"}
        if document is None:
            return httpx.Response(
                404, text="<Error><Code>NoSuchKey</Code></Error>", headers=xml
            )  # unrecorded
        if self._now() > document.url_until:
            return httpx.Response(
                403,
                text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                headers=xml,
            )
        if method == "PUT" and not document.result:
            if request.headers.get("Content-Type") != document.content_type:
                return httpx.Response(
                    403, text="<Error><Code>SignatureDoesNotMatch</Code></Error>", headers=xml
                )
            document.content = request.content
            return httpx.Response(200)
        if method == "GET" and document.content is not None:
            return httpx.Response(200, content=document.content)
        return httpx.Response(403, text="<Error><Code>AccessDenied</Code></Error>", headers=xml)

    def _op_createFeed(self, request: httpx.Request) -> httpx.Response:
        self._query(request, self._FEEDS, "/feeds/2021-06-30/feeds", "POST")
        body = self._body(request, self._FEEDS, "CreateFeedSpecification")
        document = self._documents.get(body["inputFeedDocumentId"])
        if document is None or document.result:
            raise self._invalid("inputFeedDocumentId is not a feed document of this seller")
        self._marketplaces(body["marketplaceIds"])
        if body["feedType"] == "JSON_LISTINGS_FEED" and self.limits:
            count, window = FEED_SUBMISSIONS
            now = self._now()
            self._submissions = [t for t in self._submissions if t > now - window]
            if len(self._submissions) >= count:
                raise _Answer(self._json({"errors": [dict(QUOTA_EXCEEDED)]}, 429))
            self._submissions.append(now)
        feed = _Feed(
            str(self._next_feed), body["feedType"], list(body["marketplaceIds"]), document.id, self._now()
        )
        self._next_feed += 1
        feed.fail_with, self._plant = self._plant, None
        self._feeds[feed.id] = feed
        return self._json({"feedId": feed.id}, 202)

    def _known_feed(self, feed_id: str) -> _Feed:
        feed = self._feeds.get(feed_id)
        if feed is None:
            raise self._invalid(f"no feed {feed_id}")
        return feed

    def _op_getFeed(self, request: httpx.Request, feed_id: str) -> httpx.Response:
        self._query(request, self._FEEDS, "/feeds/2021-06-30/feeds/{feedId}", "GET")
        return self._json(self._feed_json(self._known_feed(feed_id)))

    def _op_cancelFeed(self, request: httpx.Request, feed_id: str) -> httpx.Response:
        feed = self._known_feed(feed_id)
        if feed.status != "IN_QUEUE":  # unrecorded wording
            raise self._invalid(f"feed {feed_id} is {feed.status}; only IN_QUEUE feeds can be cancelled")
        feed.status, feed.ended = "CANCELLED", self._now()
        return httpx.Response(200, headers={"x-amzn-RequestId": str(uuid.uuid4())})

    def _feed_json(self, feed: _Feed) -> Json:
        body: dict[str, Json] = {
            "feedId": feed.id,
            "feedType": feed.feed_type,
            "marketplaceIds": feed.marketplaces,
            "createdTime": self.stamp(feed.created),
            "processingStatus": feed.status,
        }
        if feed.started is not None:
            body["processingStartTime"] = self.stamp(feed.started)
        if feed.ended is not None:
            body["processingEndTime"] = self.stamp(feed.ended)
        if feed.result is not None:
            body["resultFeedDocumentId"] = feed.result
        return body

    def _op_getFeedDocument(self, request: httpx.Request, document_id: str) -> httpx.Response:
        self._query(request, self._FEEDS, "/feeds/2021-06-30/documents/{feedDocumentId}", "GET")
        document = self._documents.get(document_id)
        if document is None:
            raise self._invalid(f"no feed document {document_id}")
        document.url_until = self._now() + URL_TTL_S
        body: dict[str, Json] = {"feedDocumentId": document.id, "url": self._url(request, document.id)}
        if document.compression:
            body["compressionAlgorithm"] = document.compression
        return self._json(body)

    def _advance(self) -> None:
        """Move every feed on to where the clock says it is."""
        now = self._now()
        queue_s = min(5.0, self.processing_delay_s / 2)
        for feed in self._feeds.values():
            if feed.status in ("DONE", "FATAL", "CANCELLED"):
                continue
            age = now - feed.created
            if age >= queue_s and feed.started is None:
                feed.status, feed.started = "IN_PROGRESS", feed.created + queue_s
            if age >= self.processing_delay_s:
                self._process(feed)

    def _process(self, feed: _Feed) -> None:
        feed.ended = feed.created + self.processing_delay_s
        if feed.fail_with == "CANCELLED":
            feed.status = "CANCELLED"
            return
        content = self._documents[feed.document].content
        report_issues: list[Json] = []
        accepted = invalid = 0
        fatal = feed.fail_with == "FATAL"
        messages: list[Json] = []
        if feed.feed_type != "JSON_LISTINGS_FEED":
            fatal = True
            report_issues.append(
                {"code": "FATAL", "severity": "ERROR", "message": f"{feed.feed_type} is not accepted"}
            )
        elif content is None:
            fatal = True
            report_issues.append(
                {"code": "FATAL", "severity": "ERROR", "message": "the feed document was never uploaded"}
            )
        else:
            try:
                document = json.loads(content)
            except ValueError:
                document = None
            schema = reference("schema_listings-feed-v2.json")
            header_problems = validate(
                document,
                {k: v for k, v in schema.items() if k != "properties"}
                | {"properties": {"header": schema["properties"]["header"]}},
                schema,
            )
            raw = document.get("messages") if isinstance(document, dict) else None
            if (
                document is None
                or header_problems
                or not isinstance(raw, list)
                or not raw
                or len(raw) > MAX_FEED_MESSAGES
            ):
                fatal = True
                report_issues.append(
                    {
                        "code": "FATAL",
                        "severity": "ERROR",
                        "message": "; ".join(header_problems[:3])
                        or "not a listings feed (or 1..25000 messages)",
                    }
                )
            elif document["header"]["sellerId"] != self.seller_id:
                fatal = True
                report_issues.append(
                    {"code": "FATAL", "severity": "ERROR", "message": "sellerId is not the feed's seller"}
                )
            else:
                messages = raw
        if not fatal:
            item_schema = reference("schema_listings-feed-v2.json")["properties"]["messages"]["items"]
            seen: set[int] = set()
            for message in messages:
                message_id = message.get("messageId") if isinstance(message, dict) else None
                sku = str(message.get("sku")) if isinstance(message, dict) else ""
                problems = validate(message, item_schema, {}, "message")
                if isinstance(message_id, int) and message_id in seen:
                    problems.append(f"messageId {message_id} is used twice")
                found: list[tuple[str, str, str]] = []
                if problems:
                    found = [("4000001", "; ".join(problems[:3]), "INVALID_ATTRIBUTE")]  # unrecorded code
                elif message["operationType"] == "PATCH":
                    found = self._apply(sku, message["productType"], message["patches"], apply=True)
                elif message["operationType"] == "PARTIAL_UPDATE":
                    patches = [
                        {"op": "replace", "path": f"/attributes/{name}", "value": value}
                        for name, value in message["attributes"].items()
                    ]
                    found = self._apply(sku, message["productType"], patches, apply=True)
                else:
                    found = [
                        (
                            "NOT_MODELLED",
                            f"{message['operationType']} is not modelled by this fake",
                            "INVALID_ATTRIBUTE",
                        )
                    ]
                if isinstance(message_id, int):
                    seen.add(message_id)
                if found:
                    invalid += 1
                    for code, text, _category in found:
                        issue: dict[str, Json] = {"code": code, "severity": "ERROR", "message": text}
                        if isinstance(message_id, int):
                            issue["messageId"] = message_id
                        if sku and sku != "None":
                            issue["sku"] = sku
                        report_issues.append(issue)
                else:
                    accepted += 1
        errors = sum(1 for issue in report_issues if issue["severity"] == "ERROR")
        report = {
            "header": {"sellerId": self.seller_id, "version": "2.0", "feedId": feed.id},
            "issues": report_issues,
            "summary": {
                "errors": errors,
                "warnings": 0,
                "messagesProcessed": 0 if fatal else len(messages),
                "messagesAccepted": accepted,
                "messagesInvalid": invalid,
            },
        }
        data = json.dumps(report).encode()
        result = _Document(uuid.uuid4().hex, "application/json", 0.0, result=True)
        if self.gzip_reports:
            data, result.compression = gzip.compress(data), "GZIP"
        result.content = data
        self._documents[result.id] = result
        feed.result = result.id
        feed.status = "FATAL" if fatal else "DONE"

    # -- orders --

    _ORDERS = "model_orders_2026-01-01.json"

    def _op_searchOrders(self, request: httpx.Request) -> httpx.Response:
        query = self._query(request, self._ORDERS, "/orders/2026-01-01/orders", "GET")
        now = self._now()
        created_after, updated_after = query.get("createdAfter"), query.get("lastUpdatedAfter")
        if (created_after is None) == (updated_after is None):
            raise self._invalid("exactly one of createdAfter and lastUpdatedAfter is required")
        if created_after is not None and ("lastUpdatedBefore" in query):
            raise self._invalid("createdAfter cannot go with lastUpdatedBefore")
        if updated_after is not None and ("createdBefore" in query):
            raise self._invalid("lastUpdatedAfter cannot go with createdBefore")
        bounds: dict[str, float] = {}
        for name in ("createdAfter", "createdBefore", "lastUpdatedAfter", "lastUpdatedBefore"):
            if name in query:
                moment = self._parse_time(query[name])
                if moment is None:
                    raise self._invalid(f"{name} must be an ISO 8601 time")
                bounds[name] = moment
        for after, before in (("createdAfter", "createdBefore"), ("lastUpdatedAfter", "lastUpdatedBefore")):
            if before in bounds:
                if bounds[before] < bounds.get(after, bounds[before]):
                    raise self._invalid(f"{before} must be at or after {after}")
                if bounds[before] > now - 120:
                    raise self._invalid(f"{before} must be at least 2 minutes before the time of the request")
        size = query.get("maxResultsPerPage", 100)
        if not 1 <= size <= 100:
            raise self._invalid("maxResultsPerPage must be between 1 and 100")
        key = json.dumps({k: v for k, v in sorted(query.items()) if k != "paginationToken"})
        offset = 0
        if "paginationToken" in query:
            held = self._pages.get(query["paginationToken"])
            if held is None or held[0] != key or held[1] < now:
                raise self._invalid("paginationToken is not valid for these parameters (or expired)")
            offset = held[2]
        if "marketplaceIds" in query:
            self._marketplaces(query["marketplaceIds"])
        orders = sorted(
            self._orders.values(), key=lambda o: (o.updated if updated_after else o.created, o.id)
        )
        attr = "updated" if updated_after is not None else "created"
        start = bounds.get("lastUpdatedAfter", bounds.get("createdAfter", 0.0))
        end = bounds.get("lastUpdatedBefore", bounds.get("createdBefore", now))
        orders = [o for o in orders if start <= getattr(o, attr) <= end]
        if "fulfilledBy" in query:
            orders = [o for o in orders if o.fulfilled_by in query["fulfilledBy"]]
        if "fulfillmentStatuses" in query:
            orders = [o for o in orders if o.status in query["fulfillmentStatuses"]]
        included = set(query.get("includedData", []))
        chunk = orders[offset : offset + size]
        body: dict[str, Json] = {"orders": [self._order_json(o, included) for o in chunk]}
        if offset + size < len(orders):
            token = uuid.uuid4().hex
            self._pages[token] = (key, now + PAGINATION_TTL_S, offset + size)
            body["pagination"] = {"nextToken": token}
        body["lastUpdatedBefore" if updated_after is not None else "createdBefore"] = self.stamp(end)
        return self._json(body)

    def _order_json(self, order: _Order, included: set[str]) -> Json:
        body: dict[str, Json] = {
            "orderId": order.id,
            "createdTime": self.stamp(order.created),
            "lastUpdatedTime": self.stamp(order.updated),
            "salesChannel": {
                "channelName": "AMAZON",
                "marketplaceId": self.marketplace_ids[0],
            },
            "orderItems": [],
        }
        if "FULFILLMENT" in included:
            body["fulfillment"] = {"fulfillmentStatus": order.status, "fulfilledBy": order.fulfilled_by}
        for item in order.items:
            listing = self._listings.get(item.sku)
            entry: dict[str, Json] = {
                "orderItemId": item.id,
                "quantityOrdered": item.quantity,
                "product": {"asin": listing.asin if listing else "B000000000", "sellerSku": item.sku},
            }
            if "CANCELLATION" in included and item.cancelled_by:
                entry["cancellation"] = {
                    "cancellationExecution": {"cancelledBy": item.cancelled_by, "cancelReason": "cancelled"}
                }
            if "FULFILLMENT" in included:
                shipped = order.status == "SHIPPED"
                units = item.quantity if isinstance(item.quantity, int) else 0
                entry["fulfillment"] = {
                    "quantityFulfilled": units if shipped else 0,
                    "quantityUnfulfilled": 0 if shipped else units,
                }
            body["orderItems"].append(entry)
        return body


def example(name: str) -> Json:
    """A documented sandbox example (``sandbox_<operation>_<status>.json``)."""
    return reference(f"sandbox_{name}.json")


def model_path(name: str) -> Path:
    """Where a reference file is (for tests that read it whole)."""
    return HERE / name
