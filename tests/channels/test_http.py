"""The channels' shared HTTP plumbing: transport failures, bodies that are not JSON, Retry-After."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sheetsync.channels import _http
from sheetsync.errors import TransientError


def _client(handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(transport=handler, base_url="https://shop.example")


def test_send_returns_whatever_status_the_server_answers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503, text="<html>down</html>")

    with _client(httpx.MockTransport(handler)) as client:
        response = _http.send(client, "PUT", "/x", who="W", what="on PUT x", json={"a": 1})
    assert response.status_code == 503
    assert seen[0].method == "PUT"
    assert seen[0].content == b'{"a":1}'


@given(st.dictionaries(st.text(), st.text(), max_size=3))
@example({"requests": '[{"method":"UPDATE","data":{"id":"A 1+%/é"}}]', "item_type": "PRODUCT_ITEM"})
def test_a_form_is_byte_for_byte_what_urlencode_makes(fields: dict[str, str]) -> None:
    assert _http.form(fields) == urlencode(fields).encode()


def test_send_posts_a_form_and_keeps_the_commas_of_a_query_as_they_are() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    params = {"sku": "A 1,B&2,C%3", "_fields": "id,sku"}
    with _client(httpx.MockTransport(handler)) as client:
        _http.send(client, "GET", "/products", who="W", what="on GET products", params=params)
        _http.send(client, "POST", "/batch", who="W", what="on POST batch", data={"requests": '["a b"]'})
    assert seen[0].url.query == b"sku=A+1,B%262,C%253&_fields=id,sku"
    assert dict(parse_qsl(seen[0].url.query.decode())) == params
    assert seen[1].content == b"requests=%5B%22a+b%22%5D"
    assert seen[1].headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_send_raises_a_transport_failure_as_transient_without_the_url_or_its_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    with (
        _client(httpx.MockTransport(handler)) as client,
        pytest.raises(TransientError) as raised,
    ):
        _http.send(client, "GET", "/x?consumer_secret=cs_123", who="WooCommerce site s", what="on GET x")
    assert str(raised.value) == "WooCommerce site s: ConnectError on GET x"
    assert raised.value.retry_after is None
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(200, json={"a": [1]}), {"a": [1]}),
        (httpx.Response(200, json=[]), []),
        (httpx.Response(502, text="<html><body>Bad Gateway</body></html>"), None),
        (httpx.Response(200, text='{"data": {"cut'), None),
        (httpx.Response(204), None),
        # a WordPress file saved with a byte order mark puts it before every answer
        (httpx.Response(200, content=b'\xef\xbb\xbf{"id": 7}'), {"id": 7}),
        (httpx.Response(200, content=b"\xef\xbb\xbf<html>"), None),
    ],
)
def test_json_or_none(response: httpx.Response, expected: object) -> None:
    assert _http.json_or_none(response) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("soon", None),
        ("Wed, 21 Oct 2026 07:28:00 GMT", None),  # the HTTP-date form is not read
    ],
)
def test_retry_after(header: str | None, expected: float | None) -> None:
    headers = {} if header is None else {"Retry-After": header}
    assert _http.retry_after(httpx.Response(429, headers=headers)) == expected
