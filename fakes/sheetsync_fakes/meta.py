"""An in-memory Meta Graph API product catalog, spoken to over the wire.

``FakeMeta`` is a handler (``httpx.Request -> httpx.Response``, see :mod:`sheetsync_fakes.wire`)
for one or more catalogs. Its names and enums come from the SDK summary it is given
(``sheetsync_fakes/reference/meta/catalog_sdk_summary.json``, built from facebook-python-business-sdk
v25.0.2), so it accepts exactly what that reference lists. What it reproduces (https://developers.facebook.com/docs/marketing-api/catalog-batch/reference):

- ``POST /{version}/{catalog_id}/items_batch`` with form or JSON parameters ``item_type``
  (required; only ``PRODUCT_ITEM`` is modelled), ``requests`` (a JSON array of
  ``{method, data}``, at most 5,000), ``allow_upsert`` (default true: an UPDATE of an unknown id
  creates it; false: the id is reported invalid), ``item_sub_type`` (enum) and ``version``.
  ``method`` must be CREATE, UPDATE or DELETE; ``data`` keys must be ProductItem update
  parameters (plus ``id``, the retailer id). An unknown parameter, field, method or enum value
  fails the whole call with code 100, as a Graph parameter error does. A bad value of a known
  field (an availability outside the enum, a negative quantity, a malformed price) is an item
  error in ``validation_status`` and the item is not ingested.
- Prices in a batch: ``price`` and ``sale_price`` take the feed format, a number with ``.`` as
  the decimal point, one space, and a three-letter upper-case currency code (``"12.50 EUR"``;
  Meta's own Magento extension sends ``"9.99 USD"``, facebookarchive/facebook-for-magento2
  ``Model/Product/Feed/Builder/Tools.php``). The SDK types ``price`` as integer cents, but that
  is the single-item endpoint's parameter, not a batch field. Anything else (a comma decimal, a
  symbol, no currency, a negative amount) is refused in ``validation_status`` with the message
  Meta gave for a bad price (facebookarchive/facebook-for-magento2#86). The code is checked for
  shape only: no ISO 4217 list is at hand. The answer is ``{handles,
  validation_status}``; ``handles`` is empty when nothing was ingested.
- Asynchronous processing: a batch applies ``processing_delay_s`` after it was accepted, on the
  injected clock. Until then ``check_batch_request_status`` says ``started`` (Meta's documented
  values are scheduled, dispatched, started, finished, canceled, error); afterwards ``finished``
  with ``errors`` (a sample of at most ``error_sample`` entries ``{line, id, message}``, as the
  docs say the list "does not include all errors"), ``errors_total_count`` and, only with
  ``load_ids_of_invalid_requests=true``, every failed retailer id in ``ids_of_invalid_requests``.
- ``POST /{version}/{product_item_id}`` (SDK ``ProductItem.api_update``): every item has a stable
  numeric-string ``id`` (the one ``GET products`` shows). Parameters are the ProductItem update
  parameters, as form fields or JSON; an unknown one, a value outside an enum or a bad value (a
  negative quantity; ``price`` and ``sale_price`` are the SDK's integer cents here, not the feed
  format) fails the call with code 100. The update applies at once, and the answer is
  ``{"success": true}``, Graph's answer to a node update (# unrecorded: not confirmed for
  ProductItem in the stored references). An id none of the token's catalogs holds is code 100
  subcode 33 "Unsupported post request". Changing ``retailer_id`` is not modelled.
- ``GET /{version}/{catalog_id}/products`` with ``fields`` (ProductItem fields; an unknown one
  is code 100 "Tried accessing nonexisting field"), ``filter`` on ``retailer_id`` with ``eq`` or
  ``is_any``, ``limit`` and ``after`` cursors; ``paging.next`` only while more remain. A field
  that is not set is absent from the item, as in Graph answers.
- The Catalog Batch business-use-case limit: ``batch_calls_per_hour`` (200 for one user) per
  catalog over a sliding hour. Every items_batch answer carries ``X-Business-Use-Case-Usage``
  (keyed by the business id: ``type``, ``call_count``, ``total_cputime``, ``total_time`` in
  percent and ``estimated_time_to_regain_access`` in minutes); the call over the limit answers
  HTTP 400 code 80014.
- The Catalog Management limit: ``management_calls_per_hour`` (20,000 for one user) per catalog
  over a sliding hour, counting products reads and item updates, with the same header; the call
  over it answers HTTP 400 code 80009 (# unrecorded: the code and text are not in the stored
  references; 80009 is within the throttling codes 80001 to 80014 the error-handling guide lists).
- Auth: ``access_token`` parameter or ``Authorization: Bearer``; an unknown token is HTTP 400
  code 190 ``OAuthException``; a catalog the token cannot see is code 100 subcode 33.
- Errors in Graph's envelope ``{"error": {message, type, code, error_subcode, fbtrace_id}}``.

Not modelled (answer HTTP 501 naming it): other item types, other filter fields or operators,
other edges and node methods, the formatted price Graph shows when a product is read (the fake returns the
stored ``"12.50 EUR"``). Texts marked ``# unrecorded`` are written by analogy: the reference gives codes and
shapes, not every message.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from sheetsync_fakes.wire import Fault, FaultScript

Json = Any

MAX_BATCH_ITEMS = 5000  #: records per items_batch call (docs_facts.items_batch.limits)
BATCH_CALLS_PER_HOUR = 200  #: Catalog Batch BUC for one user: 200 + 200·log2(1)
MANAGEMENT_CALLS_PER_HOUR = 20_000  #: Catalog Management BUC for one user: 20,000 + 20,000·log2(1)
ITEM_TYPE = "PRODUCT_ITEM"
#: Record methods (https://developers.facebook.com/docs/marketing-api/catalog-batch/reference).
METHODS = ("CREATE", "UPDATE", "DELETE")
THROTTLE_CODE = 80014
MANAGEMENT_THROTTLE_CODE = 80009  # unrecorded, see the module docstring
#: The edge a request to a product item node is logged and faulted under.
ITEM_EDGE = "product_item"
#: Batch fields that take a price in the feed format rather than the SDK's integer cents.
PRICE_FIELDS = frozenset({"price", "sale_price"})
#: The feed price format: amount (``.`` decimal point), one space, ISO 4217 code.
_PRICE = re.compile(r"(?P<amount>\d+(?:\.\d+)?) (?P<currency>[A-Z]{3})")
#: Graph's own parameters, accepted on every edge besides the endpoint's.
_GRAPH_PARAMS = frozenset(
    {"access_token", "appsecret_proof", "format", "method", "pretty", "suppress_http_code"}
)
_PATH = re.compile(r"^/(?P<version>v\d+\.\d+)/(?P<catalog>[^/]+)/(?P<edge>[^/]+)/?$")
_NODE = re.compile(r"^/(?P<version>v\d+\.\d+)/(?P<node>[^/]+)/?$")
_JSON_TYPE = "application/json; charset=UTF-8"


def load_reference(source: Mapping[str, Json] | str | os.PathLike[str]) -> Mapping[str, Json]:
    """The SDK summary as a dict, from a path or as given."""
    if isinstance(source, Mapping):
        return source
    loaded: Mapping[str, Json] = json.loads(Path(source).read_text())
    return loaded


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as the fake saw it; the token is never kept."""

    method: str
    edge: str  #: items_batch, check_batch_request_status, products, product_item, … ("" when not Graph's)
    catalog_id: str  #: for a product item, the catalog holding it ("" when none does)
    params: Mapping[str, str]
    status: int
    code: int | None = None  #: the Graph error code of the answer, if it was an error


@dataclass(slots=True)
class _Batch:
    handle: str
    accepted_at: float
    allow_upsert: bool
    records: list[tuple[int, str, Json]]  #: (line, method, data) of the ingested records
    status: str = "started"
    errors: list[Json] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Limit:
    """A business-use-case limit: its type in the usage header, and its throttling answer."""

    type: str
    code: int
    message: str


_BATCH_LIMIT = _Limit(
    "catalog_batch",  # unrecorded: the BUC type name for this limit
    THROTTLE_CODE,
    "There have been too many calls for the batch uploads to this catalog account. "
    "Wait a bit and try again. For more info, please refer to "
    "https://developers.facebook.com/docs/graph-api/overview/rate-limiting#catalog.",
)
_MANAGEMENT_LIMIT = _Limit(
    "catalog_management",  # unrecorded
    MANAGEMENT_THROTTLE_CODE,
    "There have been too many calls to this catalog account. Wait a bit and try again. "  # unrecorded
    "For more info, please refer to "
    "https://developers.facebook.com/docs/graph-api/overview/rate-limiting#catalog.",
)


@dataclass(slots=True)
class _Catalog:
    catalog_id: str
    business_id: str
    products: dict[str, dict[str, Json]] = field(default_factory=dict)  #: retailer id -> fields
    batches: dict[str, _Batch] = field(default_factory=dict)
    batch_calls: deque[float] = field(default_factory=deque)
    management_calls: deque[float] = field(default_factory=deque)


class _Refused(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _trace() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(9)).decode()


def graph_error(
    message: str,
    code: int,
    *,
    status: int = 400,
    type_: str = "OAuthException",
    subcode: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """A Graph error answer: ``{"error": {message, type, code, error_subcode, fbtrace_id}}``."""
    error: dict[str, Json] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = _trace()
    return httpx.Response(
        status, content=json.dumps({"error": error}), headers={"Content-Type": _JSON_TYPE, **(headers or {})}
    )


def _ok(body: Json, headers: Mapping[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        200, content=json.dumps(body), headers={"Content-Type": _JSON_TYPE, **(headers or {})}
    )


def _enum_message(param: str, allowed: Iterable[str], got: Json) -> str:
    """Graph's wording for a value outside an enum."""
    return f'(#100) param {param} must be one of {{{", ".join(allowed)}}} - got "{got}"'


def _param_error(message: str) -> _Refused:
    return _Refused(graph_error(message, 100))


def _no_object(object_id: str, wording: str) -> _Refused:
    """Graph's answer for an id that does not exist or that the token may not use."""
    return _Refused(
        graph_error(
            f"{wording} Object with ID '{object_id}' does not exist, cannot be loaded due to missing "
            "permissions, or does not support this operation.",
            100,
            type_="GraphMethodException",
            subcode=33,
        )
    )


def _form_value(kind: str | None, text: str) -> Json:
    """A node update parameter as the SDK types it: integers are told apart, the rest stay text."""
    if kind == "unsigned int" and re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


class FakeMeta:
    """Meta product catalogs behind the Graph API, on an injected clock.

    Args:
        reference: the SDK summary (``catalog_sdk_summary.json``), as a path or a dict.
        now: seconds since the epoch; tests pass a clock that the adapter's sleep moves.
        processing_delay_s: how long a batch takes to apply after it was accepted.
        batch_calls_per_hour: the Catalog Batch limit per catalog (200 for one user).
        management_calls_per_hour: the Catalog Management limit per catalog (20,000 for one
            user), counting products reads and item updates.
        error_sample: at most this many ``errors`` in a status answer (all ids still listed).

    Attributes:
        request_log: every request received, in order.
    """

    def __init__(
        self,
        reference: Mapping[str, Json] | str | os.PathLike[str],
        *,
        now: Callable[[], float] = time.time,
        processing_delay_s: float = 2.0,
        batch_calls_per_hour: int = BATCH_CALLS_PER_HOUR,
        management_calls_per_hour: int = MANAGEMENT_CALLS_PER_HOUR,
        error_sample: int = 100,
    ) -> None:
        summary = load_reference(reference)
        endpoints = summary["endpoints"]
        self._batch_params = frozenset(endpoints["ProductCatalog.create_items_batch"]["param_types"])
        self._sub_types = frozenset(
            endpoints["ProductCatalog.create_items_batch"]["enums"]["item_sub_type_enum"]
        )
        status = endpoints["ProductCatalog.get_check_batch_request_status"]
        self._status_params = frozenset(status["param_types"])
        self._priorities = frozenset(status["enums"]["error_priority_enum"])
        self._products_params = frozenset(endpoints["ProductCatalog.get_products"]["param_types"]) | {
            "fields",
            "limit",
            "after",
            "before",
            "summary",
        }
        update = summary["ProductItem_endpoints"]["api_update"]
        self._item_fields: Mapping[str, str] = update["param_types"]
        self._item_enums: Mapping[str, frozenset[str]] = {
            name: frozenset(values) for name, values in update["enums"].items()
        }
        self._readable = frozenset(summary["ProductItem"]["all_field_types"])
        self._now = now
        self.processing_delay_s = processing_delay_s
        self.batch_calls_per_hour = batch_calls_per_hour
        self.management_calls_per_hour = management_calls_per_hour
        self.error_sample = error_sample
        self._catalogs: dict[str, _Catalog] = {}
        self._tokens: dict[str, set[str]] = {}
        self._next_item = 0
        self._faults = FaultScript()
        self._lock = threading.RLock()
        self.request_log: list[LoggedRequest] = []

    # -- merchant side ------------------------------------------------------------------------

    def create_catalog(self, catalog_id: str, token: str, *, business_id: str = "1000000001") -> None:
        """A catalog owned by ``business_id`` that ``token`` (a system user's) may manage."""
        with self._lock:
            self._catalogs[catalog_id] = _Catalog(catalog_id, business_id)
            self._tokens.setdefault(token, set()).add(catalog_id)

    def add_product(self, catalog_id: str, retailer_id: str, **fields: Json) -> None:
        """A product the merchant listed (in Commerce Manager or a feed), with any fields set."""
        with self._lock:
            catalog = self._catalogs[catalog_id]
            self._create(catalog, retailer_id, dict(fields))

    def product(self, catalog_id: str, retailer_id: str) -> Mapping[str, Json] | None:
        """The product's fields as Meta stores them now (processed batches only)."""
        with self._lock:
            catalog = self._catalogs[catalog_id]
            self._process(catalog)
            found = catalog.products.get(retailer_id)
            return dict(found) if found is not None else None

    def price(self, catalog_id: str, retailer_id: str) -> tuple[Decimal, str] | None:
        """(amount, currency) of the product's ``price`` as processed; None when it has none."""
        with self._lock:
            catalog = self._catalogs[catalog_id]
            self._process(catalog)
            found = catalog.products.get(retailer_id) or {}
            match = _PRICE.fullmatch(str(found.get("price", "")))
            return (Decimal(match["amount"]), match["currency"]) if match else None

    def quantities(self, catalog_id: str) -> dict[str, int | None]:
        """Retailer id → ``quantity_to_sell_on_facebook`` (None when unset), processed batches only."""
        with self._lock:
            catalog = self._catalogs[catalog_id]
            self._process(catalog)
            return {rid: item.get("quantity_to_sell_on_facebook") for rid, item in catalog.products.items()}

    def fail_next(
        self,
        edge: str,
        *,
        status: int = 500,
        response: httpx.Response | None = None,
        exception: Exception | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` requests to ``edge`` fail (a status, an answer, or a raised error)."""
        with self._lock:
            self._faults.add(edge, status, response=response, exception=exception, times=times)

    def count(self, edge: str) -> int:
        """How many requests reached ``edge`` (refused and faulted ones included)."""
        with self._lock:
            return sum(1 for entry in self.request_log if entry.edge == edge)

    # -- the wire -----------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one Graph API request."""
        with self._lock:
            params = self._params(request)
            match = _PATH.match(request.url.path)
            node = _NODE.match(request.url.path)
            edge = match["edge"] if match else ITEM_EDGE if node else ""
            catalog_id = match["catalog"] if match else self._holder(node["node"]) if node else ""
            code = None
            try:
                fault = self._faults.next(edge)
                if fault:
                    answer = self._fire(fault)
                elif node:
                    answer = self._node(request, node["node"], params)
                else:
                    answer = self._answer(request, match, params)
            except _Refused as refused:
                answer = refused.response
            except httpx.TransportError:
                self._log(request.method, edge, catalog_id, params, 0, None)
                raise
            if answer.status_code >= 400:
                try:
                    code = json.loads(answer.content)["error"]["code"]
                except (ValueError, KeyError, TypeError):
                    code = None
            self._log(request.method, edge, catalog_id, params, answer.status_code, code)
            return answer

    def _log(
        self, method: str, edge: str, catalog: str, params: Mapping[str, str], status: int, code: int | None
    ) -> None:
        kept = {k: v for k, v in params.items() if k != "access_token"}
        self.request_log.append(LoggedRequest(method, edge, catalog, kept, status, code))

    @staticmethod
    def _fire(fault: Fault) -> httpx.Response:
        # Graph's "unknown error" envelope for a server-side failure.  # unrecorded
        return fault.fire(lambda status: graph_error("An unknown error has occurred.", 1, status=status))

    @staticmethod
    def _params(request: httpx.Request) -> dict[str, str]:
        params = dict(request.url.params)
        if request.method == "POST" and request.content:
            kind = request.headers.get("Content-Type", "")
            if kind.startswith("application/json"):
                try:
                    body = json.loads(request.content)
                except ValueError:
                    body = {}
                if isinstance(body, dict):
                    params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
            else:
                params.update(parse_qsl(request.content.decode(), keep_blank_values=True))
        return params

    def _answer(
        self, request: httpx.Request, match: re.Match[str] | None, params: dict[str, str]
    ) -> httpx.Response:
        if match is None:
            # Graph's answer to a path it cannot route.  # unrecorded
            raise _param_error("Unknown path components: " + request.url.path)
        catalog = self._authorise(request, params, match["catalog"])
        self._process(catalog)
        route = (request.method, match["edge"])
        if route == ("POST", "items_batch"):
            return self._items_batch(catalog, params)
        if route == ("GET", "check_batch_request_status"):
            return self._batch_status(catalog, params)
        if route == ("GET", "products"):
            return self._products(catalog, params, request)
        return httpx.Response(
            501, text=f"FakeMeta does not model {request.method} /{{catalog}}/{match['edge']}"
        )

    def _authorise(self, request: httpx.Request, params: Mapping[str, str], catalog_id: str) -> _Catalog:
        if catalog_id not in self._allowed(request, params) or catalog_id not in self._catalogs:
            raise _no_object(catalog_id, "Unsupported request - method type: get.")
        return self._catalogs[catalog_id]

    def _allowed(self, request: httpx.Request, params: Mapping[str, str]) -> set[str]:
        """The catalogs the request's token may manage; a missing or unknown token is refused."""
        token = params.get("access_token")
        header = request.headers.get("Authorization", "")
        if token is None and header.lower().startswith("bearer "):
            token = header[7:].strip()
        if not token:
            # Graph's wording for a call without a token (error-handling guide).
            raise _Refused(
                graph_error(
                    "An active access token must be used to query information about the current user.", 2500
                )
            )
        if token not in self._tokens:
            raise _Refused(graph_error("Invalid OAuth access token - Cannot parse access token", 190))
        return self._tokens[token]

    # -- limits --------------------------------------------------------------------------------

    def _spend(self, catalog: _Catalog, calls: deque[float], per_hour: int, limit: _Limit) -> dict[str, str]:
        """Count one call against ``limit`` over a sliding hour: the usage header, or the throttling error."""
        now = self._now()
        while calls and calls[0] <= now - 3600:
            calls.popleft()
        if len(calls) >= per_hour:
            regain = max(1, int(-(-(calls[0] + 3600 - now) // 60)))  # whole minutes, rounded up
            usage = self._usage(catalog, limit, len(calls), per_hour, regain)
            raise _Refused(graph_error(limit.message, limit.code, headers=usage))
        calls.append(now)
        return self._usage(catalog, limit, len(calls), per_hour, 0)

    @staticmethod
    def _usage(catalog: _Catalog, limit: _Limit, used: int, per_hour: int, regain_min: int) -> dict[str, str]:
        percent = min(100, round(100 * used / max(1, per_hour)))
        usage = {
            catalog.business_id: [
                {
                    "type": limit.type,
                    "call_count": percent,
                    "total_cputime": min(percent, 1),
                    "total_time": min(percent, 1),
                    "estimated_time_to_regain_access": regain_min,
                }
            ]
        }
        return {"X-Business-Use-Case-Usage": json.dumps(usage, separators=(",", ":"))}

    # -- items_batch ---------------------------------------------------------------------------

    def _items_batch(self, catalog: _Catalog, params: Mapping[str, str]) -> httpx.Response:
        now = self._now()
        headers = self._spend(catalog, catalog.batch_calls, self.batch_calls_per_hour, _BATCH_LIMIT)
        unknown = sorted(set(params) - self._batch_params - _GRAPH_PARAMS)
        if unknown:
            raise _param_error(f"(#100) Param {unknown[0]} is not a valid parameter")  # unrecorded
        item_type = params.get("item_type")
        if not item_type:
            raise _param_error("(#100) The parameter item_type is required")
        if item_type != ITEM_TYPE:
            return httpx.Response(501, text=f"FakeMeta models item_type {ITEM_TYPE} only, not {item_type!r}")
        sub_type = params.get("item_sub_type")
        if sub_type is not None and sub_type not in self._sub_types:
            raise _param_error(_enum_message("item_sub_type", sorted(self._sub_types), sub_type))
        upsert = params.get("allow_upsert", "true").lower()
        if upsert not in ("true", "false", "1", "0"):
            raise _param_error("(#100) param allow_upsert must be a boolean")  # unrecorded
        if "requests" not in params:
            raise _param_error("(#100) The parameter requests is required")
        try:
            records = json.loads(params["requests"])
        except ValueError:
            raise _param_error("(#100) param requests must be a JSON array") from None  # unrecorded
        if not isinstance(records, list):
            raise _param_error("(#100) param requests must be a JSON array")  # unrecorded
        if len(records) > MAX_BATCH_ITEMS:
            raise _param_error(
                f"(#100) The number of requests ({len(records)}) exceeds the maximum of {MAX_BATCH_ITEMS}"
            )  # unrecorded
        ingested: list[tuple[int, str, Json]] = []
        validation: list[Json] = []
        for line, record in enumerate(records):
            method, data = self._check_record(line, record)
            problems = self._check_values(method, data)
            retailer_id = str(data.get("id", ""))
            if problems:
                validation.append(
                    {"retailer_id": retailer_id, "errors": [{"message": p} for p in problems], "warnings": []}
                )
            else:
                ingested.append((line, method, data))
        handles: list[str] = []
        if ingested:
            handle = _trace()
            catalog.batches[handle] = _Batch(handle, now, upsert in ("true", "1"), ingested)
            handles.append(handle)
        return _ok({"handles": handles, "validation_status": validation}, headers)

    def _check_record(self, line: int, record: Json) -> tuple[str, dict[str, Json]]:
        if not isinstance(record, dict) or set(record) - {"method", "data"}:
            raise _param_error(
                f"(#100) requests[{line}] must be an object with method and data"
            )  # unrecorded
        method = record.get("method")
        if method not in METHODS:
            raise _param_error(_enum_message(f"requests[{line}][method]", METHODS, method))
        data = record.get("data")
        if not isinstance(data, dict) or "id" not in data:
            raise _param_error(f"(#100) requests[{line}][data] must be an object with an id")  # unrecorded
        unknown = sorted(set(data) - set(self._item_fields) - {"id"})
        if unknown:
            raise _param_error(
                f"(#100) requests[{line}][data] has an unknown field: {unknown[0]}"
            )  # unrecorded
        return method, data

    def _check_values(self, method: str, data: Mapping[str, Json], *, feed_prices: bool = True) -> list[str]:
        """What is wrong with the values of ``data`` (batch prices take the feed format, a node's cents)."""
        problems = []
        for name, value in data.items():
            kind = self._item_fields.get(name)
            if feed_prices and name in PRICE_FIELDS:
                if not isinstance(value, str) or not _PRICE.fullmatch(value):
                    # Meta's wording for a bad price (facebookarchive/facebook-for-magento2#86).
                    problems.append(f"The {name} information under is invalid. Review for more details")
            elif kind == "unsigned int" and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                problems.append(
                    f"Invalid value for {name}: {value!r} is not a non-negative integer"
                )  # unrecorded
            elif kind and kind.endswith("_enum") and value not in self._item_enums.get(kind, ()):
                problems.append(f"Invalid value for {name}: {value!r}")  # unrecorded
        if method == "CREATE" and "availability" not in data:
            # The documented example error of check_batch_request_status.
            problems.append("You cannot create a EntProductItem without required field Availability")
        return problems

    def _process(self, catalog: _Catalog) -> None:
        """Apply every batch whose processing time has come, oldest first."""
        now = self._now()
        for batch in catalog.batches.values():
            if batch.status != "started" or now < batch.accepted_at + self.processing_delay_s:
                continue
            for line, method, data in batch.records:
                retailer_id = str(data["id"])
                fields = {k: v for k, v in data.items() if k != "id"}
                exists = retailer_id in catalog.products
                if method == "DELETE":
                    catalog.products.pop(retailer_id, None)
                elif method == "CREATE" or exists or batch.allow_upsert:
                    if exists:
                        catalog.products[retailer_id].update(fields)
                    else:
                        self._create(catalog, retailer_id, fields)
                else:
                    batch.invalid.append(retailer_id)
                    batch.errors.append(
                        {
                            "line": line,
                            "id": retailer_id,
                            # unrecorded: the docs say allow_upsert=false makes an update of a
                            # missing item "throw the error", not with which text.
                            "message": f"Invalid value: Value passed at position {line} (id={retailer_id}) "
                            'is invalid: "Item does not exist; it was not created because '
                            'allow_upsert is false"',
                        }
                    )
            batch.status = "finished"

    def _create(self, catalog: _Catalog, retailer_id: str, fields: dict[str, Json]) -> None:
        # Graph ids are global: item ids never repeat across catalogs, so a node names one item.
        self._next_item += 1
        item_id = f"{7_000_000_000_000_000 + self._next_item}"
        catalog.products[retailer_id] = {"id": item_id, "retailer_id": retailer_id, **fields}

    # -- product item nodes --------------------------------------------------------------------

    def _find_item(self, item_id: str, catalog_ids: Iterable[str]) -> tuple[_Catalog, dict[str, Json]] | None:
        """The catalog among ``catalog_ids`` holding the item with ``id`` ``item_id``, and the item."""
        for catalog_id in catalog_ids:
            catalog = self._catalogs.get(catalog_id)
            if catalog is None:
                continue
            self._process(catalog)
            for item in catalog.products.values():
                if item["id"] == item_id:
                    return catalog, item
        return None

    def _holder(self, item_id: str) -> str:
        """The id of the catalog holding the item, for the request log ("" when none does)."""
        found = self._find_item(item_id, list(self._catalogs))
        return found[0].catalog_id if found else ""

    def _node(self, request: httpx.Request, node_id: str, params: Mapping[str, str]) -> httpx.Response:
        allowed = self._allowed(request, params)
        if request.method != "POST" or node_id in self._catalogs:
            return httpx.Response(
                501, text=f"FakeMeta models POST on product items only, not {request.method} /{node_id}"
            )
        found = self._find_item(node_id, allowed)
        if found is None:
            raise _no_object(node_id, "Unsupported post request.")
        catalog, item = found
        headers = self._spend(
            catalog, catalog.management_calls, self.management_calls_per_hour, _MANAGEMENT_LIMIT
        )
        unknown = sorted(set(params) - set(self._item_fields) - _GRAPH_PARAMS)
        if unknown:
            raise _param_error(f"(#100) Param {unknown[0]} is not a valid parameter")  # unrecorded
        data = {
            name: _form_value(self._item_fields[name], value)
            for name, value in params.items()
            if name in self._item_fields
        }
        problems = self._check_values("UPDATE", data, feed_prices=False)
        if problems:
            raise _param_error(f"(#100) {problems[0]}")  # unrecorded: a node update's wording
        if data.get("retailer_id", item["retailer_id"]) != item["retailer_id"]:
            return httpx.Response(501, text="FakeMeta does not model changing an item's retailer_id")
        item.update(data)
        return _ok({"success": True}, headers)

    # -- check_batch_request_status ------------------------------------------------------------

    def _batch_status(self, catalog: _Catalog, params: Mapping[str, str]) -> httpx.Response:
        unknown = sorted(set(params) - self._status_params - _GRAPH_PARAMS)
        if unknown:
            raise _param_error(f"(#100) Param {unknown[0]} is not a valid parameter")  # unrecorded
        priority = params.get("error_priority")
        if priority is not None and priority not in self._priorities:
            raise _param_error(_enum_message("error_priority", sorted(self._priorities), priority))
        handle = params.get("handle")
        if not handle:
            raise _param_error("(#100) The parameter handle is required")
        batch = catalog.batches.get(handle)
        if batch is None:
            raise _param_error("(#100) Invalid handle")  # unrecorded
        load_ids = params.get("load_ids_of_invalid_requests", "false").lower() in ("true", "1")
        status = {
            "handle": handle,
            "status": batch.status,
            "errors": batch.errors[: self.error_sample],
            "errors_total_count": len(batch.errors),
            "warnings": [],
            "warnings_total_count": 0,
            "ids_of_invalid_requests": list(batch.invalid) if load_ids else [],
        }
        return _ok({"data": [status]})

    # -- products ------------------------------------------------------------------------------

    def _products(
        self, catalog: _Catalog, params: Mapping[str, str], request: httpx.Request
    ) -> httpx.Response:
        headers = self._spend(
            catalog, catalog.management_calls, self.management_calls_per_hour, _MANAGEMENT_LIMIT
        )
        unknown = sorted(set(params) - self._products_params - _GRAPH_PARAMS)
        if unknown:
            raise _param_error(f"(#100) Param {unknown[0]} is not a valid parameter")  # unrecorded
        fields = self._fields(params.get("fields"))
        wanted = self._filter(params.get("filter"))
        try:
            limit = int(params.get("limit", "25"))
        except ValueError:
            raise _param_error("(#100) param limit must be a number") from None  # unrecorded
        items = [item for rid, item in catalog.products.items() if wanted is None or rid in wanted]
        start = 0
        if params.get("after"):
            try:
                start = int(base64.b64decode(params["after"]).decode())
            except ValueError:
                raise _param_error("(#100) Invalid cursor") from None  # unrecorded
        page = items[start : start + limit]
        body: dict[str, Json] = {
            "data": [{name: item[name] for name in (*fields, "id") if name in item} for item in page]
        }
        if page:
            cursors = {
                "before": base64.b64encode(str(start).encode()).decode(),
                "after": base64.b64encode(str(start + len(page)).encode()).decode(),
            }
            body["paging"] = {"cursors": cursors}
            if start + len(page) < len(items):
                query = {k: v for k, v in params.items() if k != "access_token"} | {"after": cursors["after"]}
                body["paging"]["next"] = str(request.url.copy_with(query=urlencode(query).encode()))
        return _ok(body, headers)

    def _fields(self, text: str | None) -> list[str]:
        if not text:
            return ["id"]
        try:
            parsed = json.loads(text)
            names = [str(n) for n in parsed] if isinstance(parsed, list) else text.split(",")
        except ValueError:
            names = [n.strip() for n in text.split(",") if n.strip()]
        for name in names:
            if name not in self._readable:
                raise _param_error(
                    f"(#100) Tried accessing nonexisting field ({name}) on node type (ProductItem)"
                )
        return names

    @staticmethod
    def _filter(text: str | None) -> set[str] | None:
        if text is None:
            return None
        try:
            rule = json.loads(text)
        except ValueError:
            raise _param_error("(#100) param filter must be a JSON-encoded rule") from None  # unrecorded
        if (
            not isinstance(rule, dict)
            or set(rule) != {"retailer_id"}
            or not isinstance(rule["retailer_id"], dict)
        ):
            raise _Refused(httpx.Response(501, text=f"FakeMeta models filters on retailer_id only: {text}"))
        ((operator, value),) = rule["retailer_id"].items()
        if operator == "eq":
            return {str(value)}
        if operator == "is_any" and isinstance(value, list):
            return {str(v) for v in value}
        raise _Refused(httpx.Response(501, text=f"FakeMeta models eq and is_any only: {operator}"))
