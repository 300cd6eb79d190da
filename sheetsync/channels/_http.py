"""The HTTP plumbing every channel adapter shares; what a status means stays with each adapter.

- :func:`send`: one request, a transport failure raised as TransientError that names only the
  error's type and what was being done: never the URL, the query or httpx's message, which may
  carry a key, and ``from None`` so the traceback does not bring them back.
- :func:`form`: a form body, byte for byte what ``urllib.parse.urlencode`` makes, faster.
- :func:`decoded`: the body as JSON, by orjson; :func:`json_or_none`: that, or None when it is not
  JSON (an HTML error page, a body cut short on the way).
- :func:`retry_after`: a ``Retry-After`` header in seconds, for :mod:`sheetsync.retry`.
- :func:`whole_number` and :func:`as_sent`: an order line's quantity as a whole number, or as the
  platform sent it for the merchant to read when it is not one (never ``int(...)``, which
  truncates 1.5 to 1 and raises on ``"1.5"``).

Each platform says "slow down" and "try again" in its own way (Shopify ``THROTTLED`` in a 200,
Meta error codes with a usage header, Google's 401 that a new token cures, WooCommerce's host
429), so the status → error mapping stays in the adapters.
"""

from __future__ import annotations

import codecs
import json
import math
import string
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
import orjson

from sheetsync.errors import TransientError


def send(
    client: httpx.Client, method: str, url: str, *, who: str, what: str, **kwargs: Any
) -> httpx.Response:
    """``client.request(method, url, **kwargs)``; a transport failure raises TransientError.

    Its message is ``"{who}: {error type} {what}"``, e.g. ``"WooCommerce site shop.example:
    ReadTimeout on GET products"``.
    """
    content_type = None
    if (body := kwargs.pop("json", None)) is not None:
        # What httpx's json= sends (compact UTF-8), by orjson: a full sync sends megabytes of it.
        kwargs["content"], content_type = orjson.dumps(body), "application/json"
    if (fields := kwargs.pop("data", None)) is not None:
        kwargs["content"], content_type = form(fields), "application/x-www-form-urlencoded"
    if content_type is not None:
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "Content-Type": content_type}
    if params := kwargs.pop("params", None):
        # Commas as they are (RFC 3986 lets a query hold them): httpx re-checks every %XX
        # escape of a query in Python, and a WooCommerce SKU list is mostly commas.
        url = f"{url}?{urlencode(params, safe=',')}"
    try:
        return client.request(method, url, **kwargs)
    except httpx.TransportError as error:
        raise TransientError(f"{who}: {type(error).__name__} {what}") from None


#: What ``quote_plus`` leaves as it is (its ``always_safe``), bar the space it turns into "+".
_UNESCAPED = frozenset(string.ascii_letters + string.digits + "_.-~ ")


def form(fields: Mapping[str, str]) -> bytes:
    """``urlencode(fields).encode()``, each value escaped one distinct character at a time.

    ``quote_plus`` escapes in a Python loop a byte at a time: about 35 ms for a Meta batch of
    5,000 updates (540 KB of JSON), against about 12 ms here. Text with characters beyond
    ASCII is left to ``quote_plus`` itself (its UTF-8 escapes).
    """
    return "&".join(f"{_escaped(key)}={_escaped(value)}" for key, value in fields.items()).encode()


def _escaped(text: str) -> str:
    if not text.isascii():
        return quote_plus(text)
    escaped = text.replace("%", "%25")
    for character in set(text) - _UNESCAPED - {"%"}:
        escaped = escaped.replace(character, f"%{ord(character):02X}")
    return escaped.replace(" ", "+")


def decoded(response: httpx.Response) -> Any:
    """The body as JSON; ValueError when it is not.

    orjson, not ``response.json()``: a full sync decodes tens of megabytes of answers (a
    WooCommerce batch answers with every product whole), in about a third of the stdlib's time.
    A UTF-8 byte order mark is dropped first, as the stdlib does with bytes: a WordPress file
    saved with one (wp-config.php, a plugin) puts it before every answer of the site
    (woocommerce/wc-api-python#40), and orjson refuses it.
    """
    return orjson.loads(response.content.removeprefix(codecs.BOM_UTF8))


def json_or_none(response: httpx.Response) -> Any:
    """The decoded body, or None when it does not parse as JSON."""
    try:
        return decoded(response)
    except ValueError:
        return None


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (never below 0), or None when absent or not a number.

    The HTTP-date form is not read: it counts as absent, so the caller backs off on its own.
    """
    header = response.headers.get("Retry-After")
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None


def whole_number(value: Any) -> int | None:
    """A JSON quantity as a whole number (``2``, ``2.0``, ``"2"``); None for ``1.5``, text, null, true."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return int(number) if number.is_finite() and number == number.to_integral_value() else None
    return None


def as_sent(value: Any) -> str:
    """A quantity as the platform sent it, as text: a string unchanged, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)
