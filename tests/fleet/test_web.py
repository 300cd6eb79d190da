"""One webhook address for every merchant: a Shopify delivery goes to its merchant by shop domain."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import redis
from sheetsync_fakes import REFERENCE
from sheetsync_fakes.shopify import FakeShopify
from sheetsync_fakes.wire import serve_app

from sheetsync.fleet.registry import Registry
from sheetsync.fleet.runner import Fleet
from sheetsync.fleet.tasks import make_app
from sheetsync.fleet.web import fleet_app

SECRET = "shpss_fleet_app_secret"
CONFIG = """
[master]
kind = "workbook"
path = "{workbook}"

[channels.shopify]
kind = "shopify"
shop = "{shop}"
location = "Warehouse"

[channels.facebook]
kind = "sandbox"
"""


def test_deliveries_reach_their_own_merchant_once_and_ask_for_its_cycle(
    tmp_path: Path, client: redis.Redis, prefix: str, redis_url: str
) -> None:
    folder = tmp_path / "merchants"
    folder.mkdir()
    fake = FakeShopify({"2026-10": REFERENCE / "shopify" / "admin_2026-10.json.gz"}, app_secret=SECRET)
    environ = {"SHEETSYNC_REDIS_URL": redis_url, "SHEETSYNC_FLEET_PREFIX": prefix}
    for name in ("acme", "bolt"):
        fake.create_shop(f"{name}-shop.myshopify.com", f"shpat_{name}", locations=["Warehouse"])
        fake.add_product(f"{name}-shop.myshopify.com", ["TEE-M"])
        text = CONFIG.format(workbook=(tmp_path / f"{name}.xlsx").as_posix(), shop=f"{name}-shop")
        (folder / f"{name}.toml").write_text(text)
        environ[f"{name.upper()}__SHEETSYNC__SHOPIFY__WEBHOOK_SECRET"] = SECRET
    fleet = Fleet(client, Registry(folder, environ), prefix=prefix)
    order = fake.place_order("bolt-shop.myshopify.com", [("TEE-M", 2)])
    delivery = fake.webhook("orders/create", order)
    queue = prefix + "sales"  # the fast path: ahead of the scheduled cycles
    with serve_app(fleet_app(make_app(environ), fleet)) as url, httpx.Client(base_url=url) as web:

        def post(**changes: str) -> httpx.Response:
            headers = {**delivery.headers, **changes}
            return web.post("/webhooks/shopify/shopify", content=delivery.body, headers=headers)

        assert post().json() == {"queued": 1}
        assert post().json() == {"queued": 0}  # Shopify delivers again: counted once
        assert post(**{"X-Shopify-Hmac-Sha256": "bm90IGl0"}).status_code == 401
        assert post(**{"X-Shopify-Shop-Domain": "zed-shop.myshopify.com"}).status_code == 404
        assert web.get("/healthz").text == "ok"
    assert [(x.sku, x.quantity) for x in fleet._take("bolt")] == [("TEE-M", 2)]
    assert fleet._take("acme") == []
    assert client.llen(queue) == 1  # one cycle asked for, bolt's
    message = json.loads(client.lindex(queue, 0))  # type: ignore[arg-type]
    assert json.loads(base64.b64decode(message["body"]))[0] == ["bolt"]  # the task's arguments
