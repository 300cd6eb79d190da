"""One address for every merchant: `sheetsync serve --merchants DIR`.

Shopify names the shop a delivery is about in ``X-Shopify-Shop-Domain``; that shop's merchant's
own webhook app (``web.create_app``, the single-merchant route with its signature check, limits
and deadlines) answers it, with an inbox that hands the lines to Redis and asks for that
merchant's cycle at once, ahead of the scheduled ones.

``/`` is the fleet's dashboard, one row per merchant of the registry: its master and channels,
its last cycle (when, ran or failed, what it said), failures in a row and how long it backs off;
``/metrics`` has the same per merchant in Prometheus' text format (label ``merchant``). Both read
each merchant's last outcome from Redis (``Fleet.health``), whichever worker ran it, and are
guarded as the single-merchant page is (``web.Gate``); ``/healthz`` and the webhooks are open.
The registry is read at start-up, as beat reads it: restart after adding a merchant.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from celery import Celery
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sheetsync.config import ShopifyShop, channel_secret
from sheetsync.errors import ConfigError
from sheetsync.fleet.runner import Fleet, Health
from sheetsync.fleet.tasks import deliver
from sheetsync.model import ChannelName, OrderLine
from sheetsync.web import Board, Gate, create_app, templates
from sheetsync.worker import Inbox

log = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class Listed:
    """A merchant of the registry as read at start-up."""

    name: str
    master: str  #: the master's description, or why its config does not load
    channels: str  #: "shopify (shopify), facebook (sandbox)"; empty when the config does not load


@dataclass(frozen=True, slots=True)
class MerchantRow:
    """One row of the fleet's dashboard."""

    merchant: Listed
    health: Health
    backing_off: bool  #: its retry time is still ahead


def merchant_rows(fleet: Fleet, listed: Sequence[Listed], now: float) -> list[MerchantRow]:
    """Every listed merchant with its last outcome: failing ones first (most failures), then by name."""
    health = fleet.health([m.name for m in listed])
    rows = []
    for merchant in listed:
        mine = health[merchant.name]
        backing_off = mine.retry_at is not None and mine.retry_at.timestamp() > now
        rows.append(MerchantRow(merchant, mine, backing_off))
    return sorted(rows, key=lambda row: (-row.health.failures, row.merchant.name))


class FleetCollector:
    """Each merchant's last cycle in Prometheus' terms, read from Redis at each scrape."""

    def __init__(self, fleet: Fleet, names: Sequence[str]) -> None:
        self._fleet, self._names = fleet, names

    def collect(self) -> Iterator[Metric]:
        """One family per figure, one series per merchant (``merchant`` label)."""
        labels = ["merchant"]
        up = GaugeMetricFamily(
            "sheetsync_merchant_up",
            "1 when the merchant's last cycle ran, 0 when it failed or none has run yet",
            labels=labels,
        )
        last = GaugeMetricFamily(
            "sheetsync_merchant_last_cycle_timestamp_seconds",
            "When the merchant's last cycle ended, ran or failed (Unix time)",
            labels=labels,
        )
        failures = GaugeMetricFamily(
            "sheetsync_merchant_failures_in_a_row",
            "Failed cycles in a row (0 after a success)",
            labels=labels,
        )
        retry = GaugeMetricFamily(
            "sheetsync_merchant_backoff_until_timestamp_seconds",
            "A failing merchant's next try (Unix time)",
            labels=labels,
        )
        inbox = GaugeMetricFamily(
            "sheetsync_merchant_inbox_lines", "Webhook order lines waiting for its next cycle", labels=labels
        )
        for name, health in self._fleet.health(self._names).items():
            up.add_metric([name], float(health.status == "ran"))
            if health.at is not None:
                last.add_metric([name], health.at.timestamp())
            failures.add_metric([name], health.failures)
            if health.retry_at is not None:
                retry.add_metric([name], health.retry_at.timestamp())
            inbox.add_metric([name], health.inbox)
        yield from (up, last, failures, retry, inbox)


def fleet_app(
    app: Celery, fleet: Fleet, token: str | None = None, clock: Callable[[], float] = time.time
) -> ASGIApp:
    """The ASGI app: webhooks routed by shop domain, the fleet's dashboard and ``/metrics``.

    Args:
        app: the Celery app a delivery asks for its merchant's cycle on.
        fleet: the registry and the Redis the workers share.
        token: when set, the page and /metrics need it (``web.Gate``).
        clock: wall seconds, to tell whether a merchant still backs off.
    """
    shops: dict[str, ASGIApp] = {}
    listed: list[Listed] = []
    for name in fleet.registry.names():
        try:
            merchant = fleet.registry.load(name)
        except ConfigError as error:  # its cycles fail and back off; the page says why
            log.warning("merchant %s: no webhooks, its config does not load: %s", name, error)
            listed.append(Listed(name, f"config does not load: {error}", ""))
            continue
        channels = merchant.settings.channels
        kinds = ", ".join(f"{c.name} ({c.kind})" for c in channels)
        listed.append(Listed(name, merchant.settings.master.describe(), kinds))
        shopify = [(c, c.platform) for c in channels if isinstance(c.platform, ShopifyShop)]
        secrets = {
            ChannelName(c.name): channel_secret(merchant.settings, c, "WEBHOOK_SECRET", merchant.environ)
            for c, _ in shopify
        }
        inbox = FleetInbox(app, fleet, name)
        routed = create_app(inbox, secrets, board=Board({c.name: c.title for c, _ in shopify}))
        shops.update((shop.shop, routed) for _, shop in shopify)

    gate, pages = Gate(token), templates()
    registry = CollectorRegistry(auto_describe=True)
    registry.register(FleetCollector(fleet, [m.name for m in listed]))

    def dashboard(request: Request) -> Response:
        if (signed_in := gate.sign_in(request)) is not None:
            return signed_in
        if not gate.allows(request):
            return gate.refusal()
        rows = merchant_rows(fleet, listed, clock())
        page = pages.get_template("fleet.html").render(
            rows=rows,
            failing=sum(row.health.status == "failed" for row in rows),
            now=datetime.fromtimestamp(clock(), UTC),
        )
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    def metrics(request: Request) -> Response:
        if not gate.allows(request):
            return gate.refusal()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def unknown_shop(_request: Request) -> Response:
        return PlainTextResponse("no merchant has this shop", status_code=404)

    def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    # Plain (not async) endpoints: Starlette runs them in its thread pool, off the event loop,
    # since the Redis client blocks.
    site = Starlette(
        routes=[
            Route("/", dashboard),
            Route("/metrics", metrics),
            Route("/healthz", healthz),
            Route("/webhooks/shopify/{channel}", unknown_shop, methods=["POST"]),
        ]
    )

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/webhooks/shopify/"):
            headers = dict(scope["headers"])
            target = shops.get(headers.get(b"x-shopify-shop-domain", b"").decode("latin-1").lower())
            if target is not None:
                await target(scope, receive, send)
                return
        await site(scope, receive, send)

    return route
