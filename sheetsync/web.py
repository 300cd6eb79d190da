"""`sheetsync serve`: the worker plus an HTTP endpoint for what platforms push to us.

Shopify's webhooks (orders/create, orders/cancelled, refunds/create) are checked against the
app's secret over the raw body, queued in the worker's inbox, and answered at once; the worker
wakes and runs a cycle for every channel, so a sale reaches the others without waiting for a
poll.  Polling stays the source of truth: a webhook that never arrives is read on the next poll.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sheetsync.channels.shopify import verify_webhook, webhook_lines
from sheetsync.model import ChannelName
from sheetsync.worker import Inbox

log = logging.getLogger(__name__)

#: Topics whose orders move stock; others are acknowledged and ignored.
TOPICS = frozenset({"orders/create", "orders/updated", "orders/cancelled", "refunds/create"})


def create_app(inbox: Inbox, webhook_secrets: Mapping[ChannelName, str]) -> Starlette:
    """The web app: ``POST /webhooks/shopify/{channel}`` and ``GET /healthz``.

    ``webhook_secrets`` holds each Shopify channel's app secret; a channel without one has no
    endpoint.
    """

    async def shopify_webhook(request: Request) -> Response:
        channel = ChannelName(request.path_params["channel"])
        secret = webhook_secrets.get(channel)
        if secret is None:
            return PlainTextResponse("no such Shopify channel", status_code=404)
        body = await request.body()  # the raw bytes: the signature covers exactly these
        if not verify_webhook(body, request.headers.get("X-Shopify-Hmac-Sha256"), secret):
            log.warning("%s webhook refused: bad or missing signature", channel)
            return PlainTextResponse("bad signature", status_code=401)
        topic = request.headers.get("X-Shopify-Topic", "")
        delivery = request.headers.get("X-Shopify-Webhook-Id") or request.headers.get(
            "X-Shopify-Event-Id", ""
        )
        if topic not in TOPICS:
            return JSONResponse({"ignored": topic})
        try:
            lines = webhook_lines(topic, json.loads(body), channel=channel)
        except (ValueError, KeyError, TypeError) as error:
            # Answering 4xx would make Shopify retry the same body; the poll will read the order.
            log.warning("%s webhook %s unreadable, left to the next poll: %s", channel, topic, error)
            return JSONResponse({"ignored": "unreadable"})
        # Without an id a repeat cannot be told apart; the ledger still counts each line once.
        fresh = inbox.deliver(f"{channel}/{delivery or uuid.uuid4()}", lines)
        log.info("%s webhook %s: %d lines%s", channel, topic, len(lines), "" if fresh else " (repeat)")
        return JSONResponse({"queued": len(lines) if fresh else 0})

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/webhooks/shopify/{channel}", shopify_webhook, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )
