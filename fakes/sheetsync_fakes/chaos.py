"""Seeded API faults in front of any fake, and a campaign that runs the worker through them.

:class:`Chaos` wraps a fake's handler (``httpx.Request -> httpx.Response``), so it plugs into
both seams of :mod:`sheetsync_fakes.wire`: ``httpx.MockTransport(Chaos(fake, ...))`` for the
httpx channels and ``HandlerAdapter(Chaos(fake, ...))`` for gspread and pyairtable (a raised
``httpx`` transport error reaches a requests client as its own exception). Each request draws
from ``random.Random(seed)``, so a run repeats exactly; :meth:`Chaos.force` scripts the next
fault instead (unit tests). The fault kinds (:data:`KINDS`):

- ``throttle``: the platform's own: Shopify ``THROTTLED`` (HTTP 200, sometimes 429) with its
  throttleStatus; Meta codes 80014 (batch calls), 4 or 17 with HTTP 400 and the usage header;
  Google 429 ``RESOURCE_EXHAUSTED``; Airtable 429, after which every request to the base gets
  429 for 30 s (its penalty, on ``clock``); WooCommerce's host 429 with ``Retry-After``.
- ``http_500``, ``http_502``, ``http_503``: the platform's error body for 500 and 503, a load
  balancer's HTML page for 502 (WordPress answers 503 with its maintenance page and
  ``Retry-After: 600``).
- ``timeout``, ``reset``: the transport raises ``httpx.ReadTimeout`` / ``ConnectTimeout``, or
  ``ConnectError`` / ``RemoteProtocolError``, before the fake sees the request.
- ``truncated``: the fake applies the request and its JSON answer is cut short.
- ``malformed``: HTTP 200 whose JSON does not parse (a proxy's double gzip, a stray notice).
- ``lost_answer``: the fake applies the request, then the connection drops (reset or read
  timeout): the nastiest real case, since a retry repeats a write that already happened.
- ``half_batch``: where the API answers per item (Meta ``items_batch``'s ``validation_status``,
  WooCommerce ``…/batch``'s per-object errors), half the items fail in that API's own shape and
  only the other half reach the fake. On other requests it is never drawn.

OAuth token requests pass untouched: google-auth retries its token endpoint itself, with real
sleeps this module cannot inject.

The campaign that runs the worker through these faults is :func:`campaigns.api.api_fault_campaign`
(it needs the worker, which nothing under ``sheetsync_fakes`` may import).
"""

from __future__ import annotations

import json
import random
from collections import Counter, deque
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, urlencode

import httpx

from sheetsync_fakes.wire import Handler

Platform = Literal["shopify", "meta", "google_merchant", "woocommerce", "google_sheets", "airtable"]
Kind = Literal[
    "throttle",
    "http_500",
    "http_502",
    "http_503",
    "timeout",
    "reset",
    "truncated",
    "malformed",
    "lost_answer",
    "half_batch",
]
KINDS: tuple[Kind, ...] = get_args(Kind)
#: The kinds after which the fake has applied the request although the client saw a failure.
APPLIED_KINDS = frozenset({"truncated", "lost_answer"})

AIRTABLE_PENALTY_S = 30.0  #: after a 429 Airtable refuses the base this long (its API docs)
#: The share of a batch write's faults that are ``half_batch``.
_HALF_BATCH_SHARE = 1 / 3
#: Meta's throttling codes; 80014 is the catalog batch limit
#: (https://developers.facebook.com/docs/graph-api/overview/rate-limiting#catalog).
META_THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80001, 80015)})

_JSON = {"Content-Type": "application/json; charset=utf-8"}
_HTML = {"Content-Type": "text/html; charset=UTF-8"}

#: Google's front end, in its own words.
_GOOGLE_502 = (
    "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 502 (Server Error)!!1</title>\n"
    "  <p><b>502.</b> <ins>That\u2019s an error.</ins>\n  <p>The server encountered a temporary error and "
    "could not complete your request.<p>Please try again in 30 seconds.  "
    "<ins>That\u2019s all we know.</ins>\n"
)
_NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_CLOUDFLARE_502 = (
    '<!DOCTYPE html>\n<html class="no-js" lang="en-US">\n<head>\n<title>502 Bad gateway</title>\n</head>\n'
    "<body><h1>Bad gateway</h1><p>Error code 502</p><p>Visit cloudflare.com for more information.</p>"
    "</body></html>\n"
)
_WP_MAINTENANCE = (
    "<!DOCTYPE html>\n<html><head><title>Maintenance</title></head><body>"
    "Briefly unavailable for scheduled maintenance. Check back in a minute.</body></html>"
)
_WP_CRITICAL = (
    '<p>There has been a critical error on this website.</p><p><a href="https://wordpress.org/'
    'documentation/article/faq-troubleshooting/">Learn more about troubleshooting WordPress.</a></p>'
)
#: Bodies that claim JSON and are not: a body gzipped twice, a PHP notice before the JSON, a
#: proxy's cached fragment.
_MALFORMED = (
    b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xabV*I-.Q\xb2R\xcaH\xcd\xc9\xc9W\xaa\x05\x00",
    b'<br />\n<b>Warning</b>:  Undefined array key "sku" in <b>/var/www/html/wp-content/plugins/'
    b'x/x.php</b> on line <b>42</b><br />\n{"ok":true}',
    b'{"data":{"ok":true},"extensions":{"cost":NaN,}}',
)


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers={**_JSON, **(headers or {})}, content=json.dumps(body).encode())


def _html(status: int, text: str, headers: Mapping[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers={**_HTML, **(headers or {})}, content=text.encode())


def _google_error(status: int, message: str, rpc: str, details: list[Any] | None = None) -> httpx.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": rpc}
    if details:
        error["details"] = details
    return _json(status, {"error": error})


def _meta_error(status: int, code: int, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "OAuthException", "code": code, **extra, "fbtrace_id": "AbCdEf"}
    }


def is_throttle(platform: Platform, response: httpx.Response) -> bool:
    """Whether ``response`` is ``platform`` refusing a request for its rate limit."""
    if response.status_code == 429:
        return True
    if platform == "shopify" and response.status_code == 200:
        try:
            errors = json.loads(response.content).get("errors")
        except (ValueError, AttributeError):
            return False
        return isinstance(errors, list) and any(
            isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors
        )
    if platform == "meta" and response.status_code in (400, 403):
        try:
            code = json.loads(response.content)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return False
        return code in META_THROTTLE_CODES
    return False


def _batch_items(platform: Platform, request: httpx.Request) -> list[Any] | None:
    """The per-item list of a batch write that answers per item, else None."""
    if request.method != "POST":
        return None
    try:
        if platform == "woocommerce" and request.url.path.endswith("/batch"):
            update = json.loads(request.content).get("update")
            return update if isinstance(update, list) and update else None
        if platform == "meta" and request.url.path.endswith("/items_batch"):
            form = dict(parse_qsl(request.content.decode()))
            records = json.loads(form.get("requests", "null"))
            return records if isinstance(records, list) and records else None
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return None


class Chaos:
    """A fake's handler with seeded faults in front of it (module docstring).

    Attributes:
        rate: the share of requests that get a fault (0 turns faults off; forced ones still fire).
        injected: faults injected, per kind.
        requests: requests seen (token requests excluded).
        violations: throttles the fake itself answered: rate limits our own traffic broke.
        log: (kind or "", method, path) per request seen, in order.
    """

    def __init__(
        self,
        fake: Handler,
        platform: Platform,
        *,
        seed: int = 0,
        rate: float = 0.0,
        kinds: Collection[Kind] = KINDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.fake, self.platform, self.rate = fake, platform, rate
        self.kinds = tuple(k for k in KINDS if k in kinds)
        self._rng = random.Random(seed)  # noqa: S311 - fault draws for a test, not secrets
        self._clock = clock
        self._forced: deque[Kind] = deque()
        self._penalty_until = float("-inf")
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self.violations = 0
        self.log: list[tuple[str, str, str]] = []

    def force(self, kind: Kind, times: int = 1) -> None:
        """Give the next ``times`` requests this fault (``half_batch``: the next batch writes)."""
        self._forced.extend([kind] * times)

    @property
    def faults(self) -> int:
        """Faults injected in all."""
        return sum(self.injected.values())

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request``: from the fake, or with a fault."""
        if request.url.path.endswith("/token"):
            return self.fake(request)
        request.read()
        self.requests += 1
        kind = self._draw(request)
        self.log.append((kind or "", request.method, request.url.path))
        if kind is None:
            return self._pass(request)
        self.injected[kind] += 1
        return self._inject(kind, request)

    # -- drawing --

    def _draw(self, request: httpx.Request) -> str | None:
        if self._clock is not None and self._clock() < self._penalty_until:
            return "penalty"
        batch = _batch_items(self.platform, request) is not None
        if self._forced and (self._forced[0] != "half_batch" or batch):
            return self._forced.popleft()
        if self.rate <= 0 or self._rng.random() >= self.rate:
            return None
        if batch and "half_batch" in self.kinds and self._rng.random() < _HALF_BATCH_SHARE:
            return "half_batch"  # batch writes are few: give their own fault a fair share
        kinds = [k for k in self.kinds if k != "half_batch"]
        return self._rng.choice(kinds) if kinds else None

    # -- answering --

    def _pass(self, request: httpx.Request) -> httpx.Response:
        answer = self.fake(request)
        answer.read()
        if is_throttle(self.platform, answer):
            self.violations += 1
        return answer

    def _inject(self, kind: str, request: httpx.Request) -> httpx.Response:
        rng = self._rng
        if kind == "penalty":
            return self._throttle(request)
        if kind == "throttle":
            if self.platform == "airtable" and self._clock is not None:
                self._penalty_until = self._clock() + AIRTABLE_PENALTY_S
            return self._throttle(request)
        if kind in ("http_500", "http_502", "http_503"):
            return self._server_error(int(kind[-3:]))
        if kind == "timeout":
            if rng.random() < 0.5:
                raise httpx.ConnectTimeout("timed out", request=request)
            raise httpx.ReadTimeout("The read operation timed out", request=request)
        if kind == "reset":
            raise httpx.ConnectError("[Errno 104] Connection reset by peer", request=request)
        if kind == "malformed":
            return httpx.Response(200, headers=_JSON, content=rng.choice(_MALFORMED))
        if kind == "half_batch":
            return self._half_batch(request)
        answer = self._pass(request)  # applied: only the answer goes wrong
        body = answer.content.rstrip()
        if kind == "truncated" and len(body) > 1:
            cut = rng.randrange(1, len(body))
            headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
            return httpx.Response(answer.status_code, headers=headers, content=body[:cut])
        if rng.random() < 0.5:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        raise httpx.ReadTimeout("The read operation timed out", request=request)

    def _throttle(self, request: httpx.Request) -> httpx.Response:
        rng, platform = self._rng, self.platform
        if platform == "shopify":
            requested = rng.randint(10, 400)
            body = {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": {
                    "cost": {
                        "requestedQueryCost": requested,
                        "actualQueryCost": None,
                        "throttleStatus": {
                            "maximumAvailable": 2000.0,
                            "currentlyAvailable": rng.randint(0, requested - 1),
                            "restoreRate": 100.0,
                        },
                    }
                },
            }
            return _json(rng.choice((200, 429)), body)
        if platform == "meta":
            batch = request.url.path.endswith("/items_batch")
            code = rng.choice((80014, 4, 17) if batch else (4, 17))
            message = {
                80014: "There have been too many calls for the batch uploads to this catalog account. "
                "Wait a bit and try again.",
                4: "(#4) Application request limit reached",
                17: "(#17) User request limit reached",
            }[code]
            usage = {
                "1234567890": [
                    {
                        "type": "catalog_batch" if batch else "catalog_management",
                        "call_count": 100,
                        "total_cputime": 1,
                        "total_time": 1,
                        "estimated_time_to_regain_access": rng.randint(1, 5),
                    }
                ]
            }
            headers = {"X-Business-Use-Case-Usage": json.dumps(usage, separators=(",", ":"))}
            return _json(400, _meta_error(400, code, message, is_transient=True), headers)
        if platform in ("google_sheets", "google_merchant"):
            if platform == "google_sheets":
                message = (
                    "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute "
                    "per user' of service 'sheets.googleapis.com' for consumer 'project_number:1'."
                )
                reason = "RATE_LIMIT_EXCEEDED"
            else:
                message = "[quota/request_rate_too_high] Quota exceeded for quota group 'products'."
                reason = "quota/request_rate_too_high"
            details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}]
            return _google_error(429, message, "RESOURCE_EXHAUSTED", details)
        if platform == "airtable":
            return _json(
                429,
                {
                    "errors": [
                        {
                            "error": "RATE_LIMIT_REACHED",
                            "message": "Rate limit exceeded. Please try again later",
                        }
                    ]
                },
            )
        body = {"code": "rest_too_many_requests", "message": "Too many requests.", "data": {"status": 429}}
        return _json(429, body, {"Retry-After": str(rng.randint(1, 20))})

    def _server_error(self, status: int) -> httpx.Response:
        platform = self.platform
        if status == 502:
            page = {
                "google_sheets": _GOOGLE_502,
                "google_merchant": _GOOGLE_502,
                "shopify": _CLOUDFLARE_502,
            }.get(platform, _NGINX_502)
            return _html(502, page)
        if platform == "shopify":
            if status == 500:
                return _json(500, {"errors": "Internal Server Error"})
            return _html(503, "<html><body><h1>Service Unavailable</h1></body></html>")
        if platform == "meta":
            code, message = (
                (1, "An unknown error occurred") if status == 500 else (2, "Service temporarily unavailable")
            )
            return _json(status, _meta_error(status, code, message, is_transient=True))
        if platform in ("google_sheets", "google_merchant"):
            if status == 500:
                return _google_error(500, "Internal error encountered.", "INTERNAL")
            return _google_error(503, "The service is currently unavailable.", "UNAVAILABLE")
        if platform == "airtable":
            if status == 500:
                return _json(500, {"error": {"type": "SERVER_ERROR", "message": "Try again."}})
            kind = "RETRIABLE_ERROR"
            message = "The server could not process the request in time. Please try again."
            return _json(503, {"error": {"type": kind, "message": message}})
        if status == 500:
            body = {"code": "internal_server_error", "message": _WP_CRITICAL, "data": {"status": 500}}
            return _json(500, body)
        return _html(503, _WP_MAINTENANCE, {"Retry-After": "600"})

    def _half_batch(self, request: httpx.Request) -> httpx.Response:
        """Half the items fail in the API's per-item shape; only the rest reach the fake."""
        items = _batch_items(self.platform, request)
        assert items is not None  # noqa: S101 - _draw only picks half_batch for a batch
        failing = set(self._rng.sample(range(len(items)), max(1, len(items) // 2)))
        kept = [item for n, item in enumerate(items) if n not in failing]
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"]
        if self.platform == "woocommerce":
            results: list[Any] = []
            if kept:
                content = json.dumps({"update": kept}).encode()
                answer = self._pass(
                    httpx.Request(request.method, request.url, headers=headers, content=content)
                )
                if answer.status_code != 200:
                    return answer
                results = list(json.loads(answer.content).get("update") or [])
            merged = []
            for n, item in enumerate(items):
                if n in failing:
                    error = {
                        "code": "db_update_error",
                        "message": "Could not update post in the database.",
                        "data": {"status": 500},
                    }
                    merged.append({"id": item.get("id") if isinstance(item, dict) else None, "error": error})
                else:
                    merged.append(results.pop(0))
            return _json(200, {"update": merged})
        form = dict(parse_qsl(request.content.decode()))
        answer_body: dict[str, Any] = {"handles": [], "validation_status": []}
        if kept:
            form["requests"] = json.dumps(kept, separators=(",", ":"))
            content = urlencode(form).encode()
            answer = self._pass(httpx.Request(request.method, request.url, headers=headers, content=content))
            if answer.status_code != 200:
                return answer
            answer_body = json.loads(answer.content)
        for n in sorted(failing):
            data = items[n].get("data") if isinstance(items[n], dict) else None
            answer_body.setdefault("validation_status", []).append(
                {
                    "retailer_id": str((data or {}).get("id", "")),
                    "errors": [
                        {"message": "An unexpected error has occurred. Please retry your request later."}
                    ],
                    "warnings": [],
                }
            )
        return _json(200, answer_body)
