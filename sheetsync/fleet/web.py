"""One webhook address for every merchant: `sheetsync serve --merchants DIR`.

Shopify names the shop a delivery is about in ``X-Shopify-Shop-Domain``; that shop's merchant's
own webhook app (``web.create_app``, the single-merchant route with its signature check, limits
and deadlines) answers it, with an inbox that hands the lines to Redis and asks for that
merchant's cycle at once (the sale fast path). Nothing else is served but ``/healthz``; the
dashboard stays a single-merchant page.
"""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery
from starlette.types import ASGIApp, Receive, Scope, Send

from sheetsync.config import ShopifyShop, channel_secret
from sheetsync.fleet.runner import Fleet
from sheetsync.fleet.tasks import deliver
from sheetsync.model import ChannelName, OrderLine
from sheetsync.web import Board, create_app
from sheetsync.worker import Inbox


class FleetInbox(Inbox):
    """A merchant's inbox whose deliveries go to Redis and start its cycle on a worker."""

    def __init__(self, app: Celery, fleet: Fleet, merchant: str) -> None:
        super().__init__()
        self._app, self._fleet, self._merchant = app, fleet, merchant

    def deliver(self, delivery_id: str, lines: Sequence[OrderLine]) -> bool:
        """Queue ``lines`` in Redis and ask for the merchant's cycle; False for a repeat delivery."""
        return deliver(self._app, self._fleet, self._merchant, delivery_id, lines)

    def queued(self) -> int:
        """Order lines waiting in Redis for the merchant's next cycle."""
        return int(self._fleet.redis.llen(self._fleet.key("inbox", self._merchant)))


def fleet_app(app: Celery, fleet: Fleet) -> ASGIApp:
    """The ASGI app routing each Shopify delivery to its merchant by shop domain."""
    shops: dict[str, ASGIApp] = {}
    for merchant in fleet.registry.merchants():
        shopify = [(c, c.platform) for c in merchant.settings.channels if isinstance(c.platform, ShopifyShop)]
        secrets = {
            ChannelName(c.name): channel_secret(merchant.settings, c, "WEBHOOK_SECRET", merchant.environ)
            for c, _ in shopify
        }
        inbox = FleetInbox(app, fleet, merchant.name)
        routed = create_app(inbox, secrets, board=Board({c.name: c.title for c, _ in shopify}))
        shops.update((shop.shop, routed) for _, shop in shopify)

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # nothing to start or stop
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope.get("path", "") if scope["type"] == "http" else ""
        target: ASGIApp | None = None
        if path.startswith("/webhooks/shopify/"):
            headers = dict(scope.get("headers", ()))
            target = shops.get(headers.get(b"x-shopify-shop-domain", b"").decode("latin-1").lower())
        if target is not None:
            await target(scope, receive, send)
            return
        found = path == "/healthz"
        body = b"ok" if found else b"no merchant has this shop"
        await send(
            {
                "type": "http.response.start",
                "status": 200 if found else 404,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return route
