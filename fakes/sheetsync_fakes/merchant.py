"""An in-memory Google Merchant API v1 (products, local inventories, quotas) plus Google's token endpoint.

``FakeMerchant`` is a handler (``httpx.Request -> httpx.Response``, see :mod:`sheetsync_fakes.wire`)
built from the real discovery documents (``sheetsync_fakes/reference/discovery``: merchantapi products_v1,
inventories_v1, quota_v1 and datasources_v1). What it reproduces:

- Routing from each method's ``flatPath`` and ``httpMethod``; a method the documents have but this
  fake does not model answers 501 naming it, a path no document has answers 404.
- Validation against the documents: a query parameter the method does not declare (nor the global
  ``$.xgafv``, ``alt``, ``fields`` … ones) answers Google's "Cannot bind query parameter" 400; a body
  field its schema lacks answers "Unknown name … Cannot find field."; an enum value outside the
  schema's ``enum`` and a value of the wrong JSON type answer "Invalid value at …". All are
  ``INVALID_ARGUMENT`` in the ``google.rpc`` envelope with a ``BadRequest`` detail, as the Sheets
  recordings show for the same Google front end.
- Product names: ``contentLanguage~feedLabel~offerId`` (plain, when the segment holds a ``~``) or
  its unpadded base64url encoding (the documents' name description); see :func:`product_segment`.
- ``productInputs.insert`` replaces the input of (language, label, offerId) in an API data source;
  ``productInputs.patch`` with ``updateMask`` sets the named ``productAttributes.<field>`` and
  deletes a named field missing from the body; without a mask the body's populated fields merge.
  A mask entry that is not a top-level attribute (or ``*``) is refused, as documented.
- Prices: every ``Price`` attribute of ``productAttributes`` (``price``, ``salePrice`` …) in an
  insert or a patch needs ``amountMicros`` (an int64 string, checked against the documents like
  any field) that is not negative and a three-letter ``currencyCode``; else 400
  ``INVALID_ARGUMENT`` naming the field. A currency other than the feed's target country's is
  accepted: Merchant Center reports that later as an item issue, not on the request.
- ``products.get`` / ``products.list``: the processed view lags the inputs by ``processing_delay_s``
  on the injected clock ("several minutes",
  https://developers.google.com/merchant/api/reference/rest/products_v1/accounts.products/get); a
  product whose first input has not been processed yet is 404. Merchant-side helpers add item
  issues and Google's own availability override (a crawl mismatch) to the processed view.
- ``localInventories.insert`` replaces the store's resource whole; ``list`` answers at once.
- ``accounts.quotas.list`` and per-minute counters per method group (fixed calendar minutes on the
  injected clock); past a group's minute limit: 429 ``RESOURCE_EXHAUSTED`` with reason
  ``quota/request_rate_too_high`` (daily: ``quota/daily_limit_exceeded``).
- Auth: ``POST /token`` with the service-account JWT-bearer grant; the RS256 signature is verified
  against the key registered by :meth:`FakeMerchant.add_service_account`, and the claims (``aud``,
  lifetime ≤ 1 h, the ``content`` scope) are checked. Every API call needs a live bearer token of
  a user of the account (else 401 / 403 in Google's shapes).

Assumed, not recorded (no Merchant traffic was found, reference/README.md): the wording of the
404, 429, data-source and price errors, that a missing currency or a negative amount is refused
on the request rather than reported as an item issue, the quota group names and default limits,
and that a local inventory for a product that does not exist is 404. Not modelled: HTTP batch, regional
inventories, data sources beyond their ids, deletes, supplemental sources, the daily reset at
12:00 UTC (the day counter resets with :meth:`FakeMerchant.reset_daily`).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sheetsync_fakes.wire import FaultScript

Json = Any  # a decoded JSON value

CONTENT_SCOPE = "https://www.googleapis.com/auth/content"
OAUTH_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME_S = 3599
#: "several minutes" before products.get shows a change (https://developers.google.com/merchant/api/reference/rest/products_v1/accounts.products/get)
PROCESSING_DELAY_S = 300.0
DISCOVERY_FILES = (
    "merchantapi.products_v1.json",
    "merchantapi.inventories_v1.json",
    "merchantapi.quota_v1.json",
    "merchantapi.datasources_v1.json",
)
_JWT_MAX_LIFETIME_S = 3600
_JSON_TYPE = "application/json; charset=UTF-8"
_PLAIN_UNSAFE = re.compile(r"[^A-Za-z0-9._\-]")

#: Method group → (methods, minute limit, daily limit). Google's groups and limits are per account
#: and dynamic; these defaults are assumptions a test can override
#: (https://developers.google.com/merchant/api/guides/quotas-limits/quotas).
DEFAULT_QUOTA_GROUPS: Mapping[str, tuple[tuple[str, ...], int, int]] = {
    "products-write": (
        (
            "merchantapi.accounts.productInputs.insert",
            "merchantapi.accounts.productInputs.patch",
            "merchantapi.accounts.productInputs.delete",
        ),
        600,
        1_000_000,
    ),
    "products-read": (
        ("merchantapi.accounts.products.get", "merchantapi.accounts.products.list"),
        600,
        1_000_000,
    ),
    "local-inventories": (
        (
            "merchantapi.accounts.products.localInventories.insert",
            "merchantapi.accounts.products.localInventories.list",
            "merchantapi.accounts.products.localInventories.delete",
        ),
        600,
        1_000_000,
    ),
    "quota": (("merchantapi.accounts.quotas.list",), 60, 10_000),
}

_RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}


def load_discovery(directory: str | Path) -> dict[str, Json]:
    """The Merchant discovery documents in ``directory``, keyed by file name."""
    return {name: json.loads((Path(directory) / name).read_text()) for name in DISCOVERY_FILES}


def product_segment(content_language: str, feed_label: str, offer_id: str) -> str:
    """The ``{product}`` URL segment: plain ``en~US~sku`` when safe, else unpadded base64url.

    The documents demand the encoded form when any part holds ``/``, ``%`` or ``~``; anything
    outside ``[A-Za-z0-9._-]`` is encoded here too, so spaces and non-ASCII never need escaping.
    """
    plain = f"{content_language}~{feed_label}~{offer_id}"
    if any(_PLAIN_UNSAFE.search(part) for part in (content_language, feed_label, offer_id)):
        return base64.urlsafe_b64encode(plain.encode()).decode().rstrip("=")
    return plain


def decode_segment(segment: str) -> tuple[str, str, str] | None:
    """(language, label, offerId) of a URL segment in either format; None when malformed."""
    text = segment
    if "~" not in segment:
        try:
            text = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode()
        except (binascii.Error, ValueError):
            return None
    parts = text.split("~", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


# --- errors -------------------------------------------------------------------------------------


class _Rejected(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _json_response(body: Json, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status, headers={"Content-Type": _JSON_TYPE}, content=json.dumps(body, indent=2).encode()
    )


def rpc_error(status: int, message: str, details: list[Json] | None = None) -> httpx.Response:
    """Google's error envelope: ``{"error": {code, message, status[, details]}}``."""
    error: Json = {"code": status, "message": message, "status": _RPC_STATUS.get(status, "UNKNOWN")}
    if details:
        error["details"] = details
    return _json_response({"error": error}, status)


def _bad_request(field_name: str, message: str) -> _Rejected:
    violation = {"field": field_name, "description": message} if field_name else {"description": message}
    details = [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}]
    return _Rejected(rpc_error(400, message, details))


def _error_info(reason: str, metadata: Mapping[str, str] | None = None) -> list[Json]:
    return [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "merchantapi.googleapis.com", **(metadata or {})},
        }
    ]


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


# --- state --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the fake received; ``method_id`` is the discovery id, or oauth2.token / unknown."""

    method_id: str
    http_method: str
    path: str
    query: tuple[tuple[str, str], ...]
    status: int


@dataclass(slots=True)
class _Input:
    data_source: str
    body: Json
    #: (time, processed attributes) per change, oldest first; the processed view picks by time
    history: list[tuple[float, Json]] = field(default_factory=list)


@dataclass(slots=True)
class _Account:
    users: set[str]
    data_sources: dict[str, str]  #: id → input type ("API", "FILE", …)
    inputs: dict[tuple[str, str, str], _Input] = field(default_factory=dict)
    issues: dict[str, list[Json]] = field(default_factory=dict)  #: offerId → item-level issues
    overrides: dict[str, str] = field(default_factory=dict)  #: offerId → availability Google shows
    local: dict[tuple[str, str, str], dict[str, Json]] = field(default_factory=dict)  #: → store → res.
    minute: dict[tuple[str, int], int] = field(default_factory=dict)  #: (group, minute) → calls
    day: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Method:
    method_id: str
    http_method: str
    pattern: re.Pattern[str]
    spec: Json
    doc: Json


class FakeMerchant:
    """Google Merchant API v1 in memory (module docstring).

    Args:
        discovery: the documents from :func:`load_discovery`.
        now: the clock in epoch seconds (processing delay, quotas, token expiry).
        processing_delay_s: how long an input takes to show in the processed product.
        quota_groups: group → (method ids, minute limit, daily limit).
        seed: seeds issued tokens so runs repeat.

    Attributes:
        request_log: every request received, in order.
    """

    def __init__(
        self,
        discovery: Mapping[str, Json],
        *,
        now: Callable[[], float] = time.time,
        processing_delay_s: float = PROCESSING_DELAY_S,
        quota_groups: Mapping[str, tuple[tuple[str, ...], int, int]] = DEFAULT_QUOTA_GROUPS,
        seed: int = 0,
    ) -> None:
        self._now = now
        self.processing_delay_s = processing_delay_s
        self.quota_groups = dict(quota_groups)
        self._rng = random.Random(seed)  # noqa: S311 - fake tokens, not secrets
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._grants: dict[str, tuple[str, float]] = {}  #: token → (e-mail, expiry)
        self._accounts: dict[str, _Account] = {}
        self._faults = FaultScript()
        self._lock = threading.RLock()
        self.request_log: list[LoggedRequest] = []
        self._methods: list[_Method] = []
        for doc in discovery.values():
            self._methods += _methods(doc)

    # -- the merchant's side (no auth, no quota, not logged) --

    def add_service_account(self, info: Mapping[str, str]) -> None:
        """Trust the key of a service-account JSON key file (the public half of its private key)."""
        key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("service-account keys are RSA")
        with self._lock:
            self._keys[info["client_email"]] = key.public_key()

    def create_account(
        self, account: str, *, users: Iterable[str], data_sources: Mapping[str, str] | None = None
    ) -> None:
        """A Merchant Center account, its users (e-mails) and data sources (id → input type)."""
        with self._lock:
            self._accounts[account] = _Account(set(users), dict(data_sources or {"1": "API"}))

    def add_product(
        self,
        account: str,
        offer_id: str,
        *,
        data_source: str = "1",
        content_language: str = "en",
        feed_label: str = "US",
        attributes: Mapping[str, Json] | None = None,
        processed: bool = True,
    ) -> None:
        """Put a product input in place as the merchant's feed did; ``processed``: already visible."""
        with self._lock:
            state = self._accounts[account]
            body = {
                "offerId": offer_id,
                "contentLanguage": content_language,
                "feedLabel": feed_label,
                "productAttributes": dict(attributes or {"availability": "IN_STOCK"}),
            }
            entry = _Input(data_source, body)
            at = self._now() - (self.processing_delay_s if processed else 0.0)
            entry.history.append((at, copy.deepcopy(body["productAttributes"])))
            state.inputs[content_language, feed_label, offer_id] = entry

    def set_issues(self, account: str, offer_id: str, issues: list[Json]) -> None:
        """Item-level issues Google reports on the processed product (``ItemLevelIssue`` shapes)."""
        with self._lock:
            self._accounts[account].issues[offer_id] = copy.deepcopy(issues)

    def override_availability(self, account: str, offer_id: str, availability: str | None) -> None:
        """Google's own correction of availability in the processed view (e.g. a crawl mismatch)."""
        with self._lock:
            overrides = self._accounts[account].overrides
            if availability is None:
                overrides.pop(offer_id, None)
            else:
                overrides[offer_id] = availability

    def product_input(
        self, account: str, offer_id: str, content_language: str = "en", feed_label: str = "US"
    ) -> Json:
        """The stored input, as the latest write left it (None when absent)."""
        with self._lock:
            entry = self._accounts[account].inputs.get((content_language, feed_label, offer_id))
            return copy.deepcopy(entry.body) if entry else None

    def processed_product(
        self, account: str, offer_id: str, content_language: str = "en", feed_label: str = "US"
    ) -> Json:
        """The processed product as ``products.get`` shows it now (None while absent or unprocessed)."""
        with self._lock:
            return self._processed(self._accounts[account], account, (content_language, feed_label, offer_id))

    def local_quantity(
        self, account: str, offer_id: str, store: str, content_language: str = "en", feed_label: str = "US"
    ) -> int | None:
        """The quantity of the store's local inventory, None when there is none."""
        with self._lock:
            stores = self._accounts[account].local.get((content_language, feed_label, offer_id), {})
            attrs = stores.get(store, {}).get("localInventoryAttributes", {})
            return int(attrs["quantity"]) if "quantity" in attrs else None

    def fail_next(self, method_id: str, answer: httpx.Response | Exception | int, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method_id`` with ``answer`` instead of serving them.

        ``answer`` is a status, a response, or an ``httpx.TransportError`` to raise.
        """
        with self._lock:
            if isinstance(answer, int):
                self._faults.add(method_id, answer, times=times)
            elif isinstance(answer, httpx.Response):
                self._faults.add(method_id, answer.status_code, response=answer, times=times)
            else:
                self._faults.add(method_id, 0, exception=answer, times=times)

    def reset_daily(self) -> None:
        """Start a new quota day."""
        with self._lock:
            for state in self._accounts.values():
                state.day.clear()

    def count(self, method_id: str) -> int:
        """How many requests of ``method_id`` were received."""
        with self._lock:
            return sum(1 for entry in self.request_log if entry.method_id == method_id)

    # -- the wire --

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one HTTP request."""
        with self._lock:
            raw_path = request.url.raw_path.decode("ascii").partition("?")[0]
            query = tuple(request.url.params.multi_items())
            method = self._route(request.method, raw_path)
            method_id = "oauth2.token" if raw_path == "/token" else method.method_id if method else "unknown"
            fault = self._faults.next(method_id)
            if fault is not None:
                self.request_log.append(
                    LoggedRequest(method_id, request.method, raw_path, query, fault.status)
                )
                return fault.fire(lambda status: rpc_error(status, "Injected fault."))
            try:
                if method_id == "oauth2.token" and request.method == "POST":
                    answer = self._issue_token(request)
                elif method is None:
                    answer = rpc_error(404, f"The requested URL {unquote(raw_path)} was not found.")
                else:
                    answer = self._serve(request, method, raw_path)
            except _Rejected as rejected:
                answer = rejected.response
            self.request_log.append(
                LoggedRequest(method_id, request.method, raw_path, query, answer.status_code)
            )
            return answer

    def _route(self, http_method: str, raw_path: str) -> _Method | None:
        path = raw_path.lstrip("/")
        for method in self._methods:
            if method.http_method == http_method and method.pattern.fullmatch(path):
                return method
        return None

    def _issue_token(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        if form.get("grant_type", [""])[-1] != JWT_BEARER:
            raise _oauth_error("unsupported_grant_type", "Invalid grant_type.")
        assertion = form.get("assertion", [""])[-1]
        try:
            head, payload, signature = assertion.split(".")
            claims = json.loads(_b64(payload))
            header = json.loads(_b64(head))
            signed = _b64(signature)
        except (ValueError, binascii.Error):
            raise _oauth_error("invalid_grant", "Invalid JWT Signature.") from None
        key = self._keys.get(str(claims.get("iss")))
        if key is None or header.get("alg") != "RS256":
            raise _oauth_error("invalid_grant", "Invalid JWT Signature.")
        try:
            key.verify(signed, f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise _oauth_error("invalid_grant", "Invalid JWT Signature.") from None
        if claims.get("aud") != OAUTH_AUDIENCE:
            raise _oauth_error("invalid_grant", "Invalid JWT: Failed audience check.")
        lifetime = claims.get("exp", 0) - claims.get("iat", 0)
        if not 0 < lifetime <= _JWT_MAX_LIFETIME_S:
            raise _oauth_error(
                "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes)."
            )
        if CONTENT_SCOPE not in str(claims.get("scope", "")).split():
            raise _oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token = f"ya29.fake-{self._rng.getrandbits(96):024x}"
        self._grants[token] = (str(claims["iss"]), self._now() + TOKEN_LIFETIME_S)
        return _json_response({"access_token": token, "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"})

    def _caller(self, request: httpx.Request) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        grant = self._grants.get(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None or self._now() >= grant[1]:
            reason = "CREDENTIALS_MISSING" if not token else "ACCESS_TOKEN_EXPIRED"
            response = rpc_error(401, "Request had invalid authentication credentials.", _error_info(reason))
            response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
            raise _Rejected(response)
        return grant[0]

    def _serve(self, request: httpx.Request, method: _Method, raw_path: str) -> httpx.Response:
        caller = self._caller(request)
        params = parse_qs(request.url.query.decode(), keep_blank_values=True)
        allowed = set(method.spec.get("parameters", {})) | set(method.doc.get("parameters", {}))
        for name in params:
            if (
                name not in allowed
                or method.spec.get("parameters", {}).get(name, {}).get("location") == "path"
            ):
                raise _bad_request(
                    "",
                    f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
                    f"Field '{name}' could not be found in request message.",
                )
        body: Json = None
        if "request" in method.spec:
            try:
                body = json.loads(request.content or b"{}")
            except ValueError:
                raise _bad_request("", "Invalid JSON payload received.") from None
            ref = method.spec["request"]["$ref"]
            _validate(body, {"$ref": ref}, method.doc["schemas"], _snake(ref).lstrip("_"))
        parts = [unquote(p) for p in raw_path.lstrip("/").split("/")]
        account = parts[3].split(":")[0]
        state = self._accounts.get(account)
        if state is None or caller not in state.users:
            raise _Rejected(rpc_error(403, f"The caller does not have access to the accounts: [{account}]"))
        self._charge(state, method.method_id, account)
        single = {k: v[-1] for k, v in params.items()}
        handler = _HANDLERS.get(method.method_id)
        if handler is None:
            return rpc_error(501, f"FakeMerchant does not model {method.method_id}")
        return handler(self, state, account, parts, single, body)

    def _charge(self, state: _Account, method_id: str, account: str) -> None:
        for group, (methods, per_minute, per_day) in self.quota_groups.items():
            if method_id not in methods:
                continue
            minute = int(self._now() // 60)
            if state.day.get(group, 0) >= per_day:
                reason, limit = "quota/daily_limit_exceeded", "per day"
            elif state.minute.get((group, minute), 0) >= per_minute:
                reason, limit = "quota/request_rate_too_high", "per minute"
            else:
                state.minute[group, minute] = state.minute.get((group, minute), 0) + 1
                state.day[group] = state.day.get(group, 0) + 1
                return
            message = (
                f"[{reason}] Quota exceeded for quota group '{group}' and limit '{limit}' "
                f"for account {account}."
            )
            raise _Rejected(rpc_error(429, message, _error_info(reason, {"quota_group": group})))

    # -- handlers --

    def _input_key(self, state: _Account, segment: str) -> tuple[str, str, str]:
        key = decode_segment(segment)
        if key is None:
            raise _bad_request("name", f"Invalid product name: {segment}")
        return key

    def _data_source(self, state: _Account, account: str, params: Mapping[str, str]) -> str:
        name = params.get("dataSource", "")
        prefix = f"accounts/{account}/dataSources/"
        if not name:
            raise _bad_request("data_source", "Required field data_source is not set.")
        source = name.removeprefix(prefix)
        if not name.startswith(prefix) or source not in state.data_sources:
            raise _Rejected(rpc_error(404, f"Data source {name} not found."))
        if state.data_sources[source] != "API":
            raise _bad_request("data_source", "Only API data sources are supported.")
        return source

    def _input_view(self, account: str, entry: _Input) -> Json:
        body = copy.deepcopy(entry.body)
        segment = product_segment(body["contentLanguage"], body["feedLabel"], body["offerId"])
        encoded = (
            base64.urlsafe_b64encode(
                f"{body['contentLanguage']}~{body['feedLabel']}~{body['offerId']}".encode()
            )
            .decode()
            .rstrip("=")
        )
        body["name"] = f"accounts/{account}/productInputs/{segment}"
        body["product"] = f"accounts/{account}/products/{segment}"
        body["base64EncodedName"] = f"accounts/{account}/productInputs/{encoded}"
        body["base64EncodedProduct"] = f"accounts/{account}/products/{encoded}"
        return body

    def _record(self, entry: _Input) -> None:
        now = self._now()
        entry.history.append((now, copy.deepcopy(entry.body.get("productAttributes", {}))))
        # Keep the newest version already processed and everything after it.
        cut = now - self.processing_delay_s
        while len(entry.history) > 1 and entry.history[1][0] <= cut:
            entry.history.pop(0)

    def _processed(self, state: _Account, account: str, key: tuple[str, str, str]) -> Json:
        entry = state.inputs.get(key)
        cut = self._now() - self.processing_delay_s
        seen = [attrs for at, attrs in entry.history if at <= cut] if entry else []
        if entry is None or not seen:
            return None
        language, label, offer = key
        attributes = copy.deepcopy(seen[-1])
        if offer in state.overrides:
            attributes["availability"] = state.overrides[offer]
        segment = product_segment(language, label, offer)
        return {
            "name": f"accounts/{account}/products/{segment}",
            "offerId": offer,
            "contentLanguage": language,
            "feedLabel": label,
            "dataSource": f"accounts/{account}/dataSources/{entry.data_source}",
            "productAttributes": attributes,
            "productStatus": {"itemLevelIssues": copy.deepcopy(state.issues.get(offer, []))},
        }

    def _insert_input(
        self, state: _Account, account: str, parts: list[str], params: Mapping[str, str], body: Json
    ) -> httpx.Response:
        source = self._data_source(state, account, params)
        for required in ("offerId", "contentLanguage", "feedLabel"):
            if not body.get(required):
                raise _bad_request(_snake(required), f"Required field {_snake(required)} is not set.")
        self._check_prices(body.get("productAttributes"))
        key = (body["contentLanguage"], body["feedLabel"], body["offerId"])
        stored = {k: copy.deepcopy(body[k]) for k in ("offerId", "contentLanguage", "feedLabel")}
        stored["productAttributes"] = copy.deepcopy(body.get("productAttributes", {}))
        if body.get("customAttributes"):
            stored["customAttributes"] = copy.deepcopy(body["customAttributes"])
        entry = state.inputs.get(key)
        if entry is None:
            entry = state.inputs[key] = _Input(source, stored)
        else:
            entry.body, entry.data_source = stored, source
        self._record(entry)
        return _json_response(self._input_view(account, entry))

    def _patch_input(
        self, state: _Account, account: str, parts: list[str], params: Mapping[str, str], body: Json
    ) -> httpx.Response:
        source = self._data_source(state, account, params)
        key = self._input_key(state, parts[5])
        entry = state.inputs.get(key)
        if entry is None or entry.data_source != source:
            raise _Rejected(
                rpc_error(404, f"Product input accounts/{account}/productInputs/{parts[5]} not found.")
            )
        given = body.get("productAttributes") or {}
        self._check_prices(given)
        attributes = entry.body.setdefault("productAttributes", {})
        mask = params.get("updateMask")
        if mask is None:
            attributes.update({k: copy.deepcopy(v) for k, v in given.items() if v not in (None, "", [], {})})
        else:
            known = _properties(self._doc_of("merchantapi.accounts.productInputs.patch"), "ProductAttributes")
            for path in filter(None, (p.strip() for p in mask.split(","))):
                head, _, attribute = path.partition(".")
                if head not in ("productAttributes", "product_attributes") or attribute not in known:
                    raise _bad_request("update_mask", f"Invalid update mask path: {path}")
                if attribute in given:
                    attributes[attribute] = copy.deepcopy(given[attribute])
                else:
                    attributes.pop(attribute, None)
        self._record(entry)
        return _json_response(self._input_view(account, entry))

    def _check_prices(self, attributes: Json) -> None:
        """Refuse a ``Price`` attribute without a currency, or with a missing or negative amount."""
        known = _properties(self._doc_of("merchantapi.accounts.productInputs.patch"), "ProductAttributes")
        for name, value in (attributes or {}).items():
            if known.get(name, {}).get("$ref") != "Price" or value is None:
                continue
            where = f"product_input.product_attributes.{_snake(name)}"
            amount = value.get("amountMicros")
            currency = value.get("currencyCode")
            # unrecorded: the wording of these three refusals
            if amount is None:
                raise _bad_request(
                    f"{where}.amount_micros", f"Required field {where}.amount_micros is not set."
                )
            if int(amount) < 0:
                raise _bad_request(
                    f"{where}.amount_micros",
                    f"Invalid value at '{where}.amount_micros': must not be negative.",
                )
            if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
                raise _bad_request(
                    f"{where}.currency_code",
                    f"Invalid value at '{where}.currency_code': a three-letter ISO 4217 code is required.",
                )

    def _doc_of(self, method_id: str) -> Json:
        return next(m.doc for m in self._methods if m.method_id == method_id)

    def _get_product(
        self, state: _Account, account: str, parts: list[str], params: Mapping[str, str], body: Json
    ) -> httpx.Response:
        product = self._processed(state, account, self._input_key(state, parts[5]))
        if product is None:
            raise _Rejected(rpc_error(404, f"Product accounts/{account}/products/{parts[5]} not found."))
        return _json_response(product)

    def _list_products(
        self, state: _Account, account: str, parts: list[str], params: Mapping[str, str], body: Json
    ) -> httpx.Response:
        size = _page_size(params, 25, 1000)
        start = _page_token(params)
        # Which products are visible is cheap to tell; only the page's are built (each is a deep
        # copy), so paging through 100,000 products is not 100 times 100,000 copies.
        cut = self._now() - self.processing_delay_s
        visible = [key for key in sorted(state.inputs) if state.inputs[key].history[0][0] <= cut]
        products = [self._processed(state, account, key) for key in visible[start : start + size]]
        page: Json = {"products": products} if products else {}
        if start + size < len(visible):
            page["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return _json_response(page)

    def _local_product(self, state: _Account, account: str, segment: str) -> tuple[str, str, str]:
        key = self._input_key(state, segment)
        if key not in state.inputs:
            raise _Rejected(rpc_error(404, f"Product accounts/{account}/products/{segment} not found."))
        return key

    def _insert_local(
        self, state: _Account, account: str, parts: list[str], params: Mapping[str, str], body: Json
    ) -> httpx.Response:
        segment = parts[5]
        key = self._local_product(state, account, segment)
        store = body.get("storeCode")
        if not store:
            raise _bad_request("local_inventory.store_code", "Required field store_code is not set.")
        attrs = copy.deepcopy(body.get("localInventoryAttributes", {}))
        if "quantity" in attrs and int(attrs["quantity"]) < 0:
            raise _bad_request("local_inventory.local_inventory_attributes.quantity", "quantity must be >= 0")
        if "quantity" in attrs:
            attrs["quantity"] = str(int(attrs["quantity"]))  # int64 answers as a string
        resource = {
            "name": f"accounts/{account}/products/{segment}/localInventories/{store}",
            "account": account,
            "storeCode": store,
            "localInventoryAttributes": attrs,
        }
        state.local.setdefault(key, {})[store] = resource
        return _json_response(copy.deepcopy(resource))

    def _list_local(
        self, state: _Account, account: str, parts: list[str], params: Mapping[str, str], body: Json
    ) -> httpx.Response:
        key = self._local_product(state, account, parts[5])
        size = _page_size(params, 25000, 25000)
        start = _page_token(params)
        resources = [state.local.get(key, {})[s] for s in sorted(state.local.get(key, {}))]
        chunk = copy.deepcopy(resources[start : start + size])
        page: Json = {"localInventories": chunk} if chunk else {}
        if start + size < len(resources):
            page["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return _json_response(page)

    def _list_quotas(
        self, state: _Account, account: str, parts: list[str], params: Mapping[str, str], body: Json
    ) -> httpx.Response:
        groups = []
        for group, (methods, per_minute, per_day) in self.quota_groups.items():
            details = []
            for method_id in methods:
                _, _, resource = method_id.partition("merchantapi.accounts.")
                subapi = (
                    "inventories"
                    if "Inventories" in resource
                    else "quota"
                    if "quotas" in resource
                    else "products"
                )
                details.append(
                    {
                        "method": resource.split(".", 1)[-1] if "Inventories" in resource else resource,
                        "version": "v1",
                        "subapi": subapi,
                        "path": f"{subapi}/v1/{resource}",
                    }
                )
            groups.append(
                {
                    "name": f"accounts/{account}/quotas/{group}",
                    "quotaUsage": str(state.day.get(group, 0)),
                    "quotaLimit": str(per_day),
                    "quotaMinuteLimit": str(per_minute),
                    "methodDetails": details,
                }
            )
        groups.sort(key=lambda g: -int(str(g["quotaUsage"])))
        return _json_response({"quotaGroups": groups})


_Handler = Callable[[FakeMerchant, _Account, str, list[str], Mapping[str, str], Json], httpx.Response]

_HANDLERS: dict[str, _Handler] = {
    "merchantapi.accounts.productInputs.insert": FakeMerchant._insert_input,
    "merchantapi.accounts.productInputs.patch": FakeMerchant._patch_input,
    "merchantapi.accounts.products.get": FakeMerchant._get_product,
    "merchantapi.accounts.products.list": FakeMerchant._list_products,
    "merchantapi.accounts.products.localInventories.insert": FakeMerchant._insert_local,
    "merchantapi.accounts.products.localInventories.list": FakeMerchant._list_local,
    "merchantapi.accounts.quotas.list": FakeMerchant._list_quotas,
}


def _oauth_error(error: str, description: str) -> _Rejected:
    return _Rejected(_json_response({"error": error, "error_description": description}, 400))


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _page_size(params: Mapping[str, str], default: int, maximum: int) -> int:
    text = params.get("pageSize")
    if text is None:
        return default
    try:
        size = int(text)
    except ValueError:
        raise _bad_request("page_size", f"Invalid value at 'page_size' (TYPE_INT32), \"{text}\"") from None
    return min(size, maximum) if size > 0 else default


def _page_token(params: Mapping[str, str]) -> int:
    token = params.get("pageToken")
    if not token:
        return 0
    try:
        return int(_b64(token).decode())
    except (ValueError, binascii.Error):
        raise _bad_request("page_token", "Invalid page token.") from None


def _methods(doc: Json) -> list[_Method]:
    found: list[_Method] = []

    def walk(resources: Mapping[str, Json]) -> None:
        for resource in resources.values():
            for spec in resource.get("methods", {}).values():
                pattern = re.sub(
                    r"\{[^}]+\}", "[^/]+", re.escape(spec["flatPath"]).replace(r"\{", "{").replace(r"\}", "}")
                )
                found.append(_Method(spec["id"], spec["httpMethod"], re.compile(pattern), spec, doc))
            walk(resource.get("resources", {}))

    walk(doc.get("resources", {}))
    return found


def _properties(doc: Json, schema: str) -> Mapping[str, Json]:
    return doc["schemas"][schema].get("properties", {})  # type: ignore[no-any-return]


def _validate(value: Json, spec: Json, schemas: Mapping[str, Json], where: str) -> None:
    """Refuse what the discovery schema does not allow: unknown fields, wrong types, bad enums."""
    if "$ref" in spec:
        schema = schemas[spec["$ref"]]
        if not isinstance(value, dict):
            raise _bad_request(where, f"Invalid value at '{where}', {json.dumps(value)}")
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name not in properties:
                at = f" at '{where}'" if where else ""
                raise _bad_request(
                    where, f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'
                )
            _validate(item, properties[name], schemas, f"{where}.{_snake(name)}")
        return
    kind = spec.get("type")
    if value is None:
        return
    invalid = _bad_request(where, f"Invalid value at '{where}' ({kind}), {json.dumps(value)}")
    if kind == "string":
        int64 = spec.get("format") in ("int64", "uint64")
        if int64 and isinstance(value, int) and not isinstance(value, bool):
            return
        if not isinstance(value, str):
            raise invalid
        if int64 and not re.fullmatch(r"-?\d+", value):
            raise invalid
        if "enum" in spec and value not in spec["enum"]:
            raise invalid
    elif kind == "integer":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | str)
            or not re.fullmatch(r"-?\d+", str(value))
        ):
            raise invalid
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise invalid
    elif kind == "array":
        if not isinstance(value, list):
            raise invalid
        for position, item in enumerate(value):
            _validate(item, spec.get("items", {}), schemas, f"{where}[{position}]")
    elif kind == "object" and "additionalProperties" in spec:
        if not isinstance(value, dict):
            raise invalid
        for name, item in value.items():
            _validate(item, spec["additionalProperties"], schemas, f"{where}.{name}")
