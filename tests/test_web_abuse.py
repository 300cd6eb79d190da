"""The Shopify webhook route under abuse: bad signatures, oversized bodies, replays, stale trigger
times, a full inbox and a client that trickles its body (issue 11)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sheetsync_fakes import REFERENCE as REFERENCE_ROOT
from sheetsync_fakes.shopify import FakeShopify, WebhookDelivery, webhook_hmac
from sheetsync_fakes.wire import serve_app
from starlette.applications import Starlette

from sheetsync.model import ChannelName
from sheetsync.web import WebhookLimits, create_app
from sheetsync.worker import Inbox

SCHEMA = REFERENCE_ROOT / "shopify" / "admin_2026-10.json.gz"
SHOP, SECRET = "abuse-test.myshopify.com", "shpss_abuse_test"
SHOPIFY = ChannelName("shopify")
URL = "/webhooks/shopify/shopify"
AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)  #: the fake's clock and the app's
CHUNK = 16 * 1024


@pytest.fixture(scope="module")
def fake() -> FakeShopify:
    shopify = FakeShopify({"2026-10": SCHEMA}, now=AT.timestamp, app_secret=SECRET)
    shopify.create_shop(SHOP, "shpat_abuse_test", locations=["Warehouse"])
    shopify.add_product(SHOP, ["TEE-M", "MUG"])
    return shopify


def order(fake: FakeShopify) -> WebhookDelivery:
    """A fresh order's orders/create delivery: two lines, signed, triggered at AT."""
    return fake.webhook("orders/create", fake.place_order(SHOP, [("TEE-M", 2), ("MUG", 1)]))


@dataclass
class Sent:
    answer: httpx.Response
    chunks_read: int  #: body chunks the app pulled (for streamed bodies)


class Body:
    """A streamed request body that counts the chunks pulled from it."""

    def __init__(self, data: bytes, chunk: int = CHUNK) -> None:
        self.parts = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            self.pulled += 1
            yield part


def send(
    app: Starlette, headers: dict[str, str], content: bytes | Body, *, drop: tuple[str, ...] = ()
) -> Sent:
    """POST to the route in-process (httpx's ASGI transport streams a Body chunk by chunk)."""

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            request = client.build_request("POST", URL, headers=headers, content=content)
            for name in drop:
                del request.headers[name]
            return await client.send(request)

    answer = asyncio.run(post())
    return Sent(answer, content.pulled if isinstance(content, Body) else 0)


def app_for(inbox: Inbox, limits: WebhookLimits | None = None) -> Starlette:
    return create_app(inbox, {SHOPIFY: SECRET}, webhook_limits=limits or WebhookLimits(), clock=lambda: AT)


def test_a_good_delivery_is_queued(fake: FakeShopify) -> None:
    inbox, delivery = Inbox(), order(fake)
    sent = send(app_for(inbox), delivery.headers, delivery.body)
    assert (sent.answer.status_code, sent.answer.json()) == (200, {"queued": 2})
    assert inbox.queued() == 2


def test_a_bad_signature_is_401_queues_nothing_and_logs_one_line_without_body_or_secret(
    fake: FakeShopify, caplog: pytest.LogCaptureFixture
) -> None:
    inbox, delivery = Inbox(), order(fake)
    forged = {**delivery.headers, "X-Shopify-Hmac-Sha256": webhook_hmac(delivery.body, "not-the-secret")}

    with caplog.at_level(logging.INFO, logger="sheetsync.web"):
        sent = send(app_for(inbox), forged, delivery.body)

    assert sent.answer.status_code == 401
    assert inbox.queued() == 0
    assert [r.getMessage() for r in caplog.records] == [
        "shopify webhook refused (401): bad signature, from 127.0.0.1"
    ]
    assert SECRET not in caplog.text
    assert "TEE-M" not in caplog.text


@pytest.mark.parametrize(
    ("signature", "why"),
    [(None, "missing"), ("", "missing"), ("bm90IGl0", "malformed"), ("%%%", "malformed")],
)
def test_a_missing_or_malformed_signature_is_401_before_a_byte_of_body_is_read(
    fake: FakeShopify, caplog: pytest.LogCaptureFixture, signature: str | None, why: str
) -> None:
    inbox, delivery = Inbox(), order(fake)
    headers = {k: v for k, v in delivery.headers.items() if k != "X-Shopify-Hmac-Sha256"}
    if signature is not None:
        headers["X-Shopify-Hmac-Sha256"] = signature
    body = Body(delivery.body, chunk=64)

    with caplog.at_level(logging.WARNING, logger="sheetsync.web"):
        sent = send(app_for(inbox), headers, body)

    assert sent.answer.status_code == 401
    assert sent.chunks_read == 0
    assert inbox.queued() == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"shopify webhook refused (401): {why} signature, from 127.0.0.1"
    ]


def padded(delivery: WebhookDelivery, size: int) -> WebhookDelivery:
    """The same order, padded with JSON whitespace to ``size`` bytes and signed again."""
    body = delivery.body + b" " * (size - len(delivery.body))
    return WebhookDelivery({**delivery.headers, "X-Shopify-Hmac-Sha256": webhook_hmac(body, SECRET)}, body)


def test_a_body_over_the_limit_with_content_length_is_413_without_reading_it(fake: FakeShopify) -> None:
    inbox, limits = Inbox(), WebhookLimits(max_bytes=4096)
    big = padded(order(fake), 4097)  # validly signed: the size alone refuses it
    body = Body(big.body)

    sent = send(app_for(inbox, limits), {**big.headers, "Content-Length": str(len(big.body))}, body)

    assert sent.answer.status_code == 413
    assert sent.chunks_read == 0
    assert inbox.queued() == 0


def test_a_chunked_body_over_the_limit_is_413_and_reading_stops_at_the_limit(fake: FakeShopify) -> None:
    inbox, limits = Inbox(), WebhookLimits(max_bytes=4 * CHUNK)
    big = padded(order(fake), 64 * CHUNK)
    body = Body(big.body)

    sent = send(app_for(inbox, limits), big.headers, body)

    assert "content-length" not in sent.answer.request.headers  # chunked: no size announced
    assert sent.answer.status_code == 413
    assert sent.chunks_read == 5  # the chunk that crossed the limit was the last one read
    assert inbox.queued() == 0


@pytest.mark.parametrize("streamed", [False, True])
def test_a_body_of_exactly_the_limit_is_accepted(fake: FakeShopify, streamed: bool) -> None:
    inbox = Inbox()
    exact = padded(order(fake), 8 * CHUNK)
    content: bytes | Body = Body(exact.body) if streamed else exact.body

    sent = send(app_for(inbox, WebhookLimits(max_bytes=8 * CHUNK)), exact.headers, content)

    assert (sent.answer.status_code, sent.answer.json()) == (200, {"queued": 2})


@pytest.mark.parametrize(
    ("offset", "answer"),
    [
        (timedelta(hours=-4), {"queued": 2}),  # Shopify's last retry, 4 h on: still counted
        (timedelta(hours=-5, seconds=-1), {"ignored": "stale"}),
        (timedelta(minutes=4), {"queued": 2}),  # clock skew
        (timedelta(minutes=5, seconds=1), {"ignored": "ahead"}),
    ],
)
def test_a_delivery_triggered_outside_the_window_is_acknowledged_and_ignored(
    fake: FakeShopify, offset: timedelta, answer: dict[str, object]
) -> None:
    inbox, delivery = Inbox(), order(fake)
    triggered = (AT + offset).isoformat().replace("+00:00", "Z")
    headers = {**delivery.headers, "X-Shopify-Triggered-At": triggered}  # unsigned: any value verifies

    sent = send(app_for(inbox), headers, delivery.body)

    assert (sent.answer.status_code, sent.answer.json()) == (200, answer)
    assert inbox.queued() == answer.get("queued", 0)


def test_shopifys_nanosecond_trigger_time_is_read(fake: FakeShopify) -> None:
    inbox, delivery = Inbox(), order(fake)
    headers = {**delivery.headers, "X-Shopify-Triggered-At": "2026-11-27T03:00:27.877041743Z"}  # 6.5 h old
    assert send(app_for(inbox), headers, delivery.body).answer.json() == {"ignored": "stale"}


def test_a_replay_with_the_same_webhook_id_queues_nothing(fake: FakeShopify) -> None:
    inbox, delivery = Inbox(), order(fake)
    app = app_for(inbox)

    first = send(app, delivery.headers, delivery.body)
    again = send(app, delivery.headers, delivery.body)

    assert first.answer.json() == {"queued": 2}
    assert (again.answer.status_code, again.answer.json()) == (200, {"queued": 0})
    assert len(inbox.take()) == 2


def test_a_full_inbox_is_503_with_retry_after_and_the_retry_is_taken_once_there_is_room(
    fake: FakeShopify,
) -> None:
    inbox, limits = Inbox(), WebhookLimits(max_queued=2, retry_after_s=30)
    app = app_for(inbox, limits)
    assert send(app, *astuple(order(fake))).answer.json() == {"queued": 2}
    later = order(fake)

    busy = send(app, later.headers, later.body)

    assert busy.answer.status_code == 503
    assert busy.answer.headers["retry-after"] == "30"
    assert inbox.queued() == 2
    assert len(inbox.take()) == 2  # the worker catches up
    retried = send(app, later.headers, later.body)  # Shopify's retry: the same webhook id
    assert (retried.answer.status_code, retried.answer.json()) == (200, {"queued": 2})


def astuple(delivery: WebhookDelivery) -> tuple[dict[str, str], bytes]:
    return delivery.headers, delivery.body


# --- a slow client, over a real socket ----------------------------------------------------------


@pytest.fixture
def served(fake: FakeShopify) -> Iterator[tuple[Inbox, str]]:
    inbox = Inbox()
    app = create_app(inbox, {SHOPIFY: SECRET}, webhook_limits=WebhookLimits(read_s=0.5), clock=lambda: AT)
    with serve_app(app) as url:
        yield inbox, url


def test_a_client_that_trickles_its_body_gets_408_and_the_endpoint_keeps_serving(
    fake: FakeShopify, served: tuple[Inbox, str]
) -> None:
    inbox, url = served
    stalled, good = order(fake), order(fake)
    address = urlsplit(url)
    head = "".join(f"{k}: {v}\r\n" for k, v in stalled.headers.items())
    request = (
        f"POST {URL} HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Length: {len(stalled.body)}\r\n{head}\r\n"
    ).encode()
    with socket.create_connection((address.hostname or "127.0.0.1", address.port or 80)) as slow:
        slow.settimeout(30)  # a guard against a hang, not a measurement: the deadline is 0.5 s
        slow.sendall(request + stalled.body[:10])  # then nothing more

        with httpx.Client(base_url=url) as client:
            answer = client.post(URL, content=good.body, headers=good.headers)
        assert (answer.status_code, answer.json()) == (200, {"queued": 2})

        received = b""
        while chunk := slow.recv(4096):  # the server answers, then closes
            received += chunk

    assert received.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in received.lower()
    assert inbox.queued() == 2  # the good delivery's lines only
