"""One address for every merchant: a Shopify delivery goes to its merchant by shop domain; the fleet's
dashboard and /metrics show each merchant's last cycle from Redis."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from sheetsync_fakes import REFERENCE
from sheetsync_fakes.shopify import FakeShopify
from sheetsync_fakes.wire import serve_app

from sheetsync.cli import main
from sheetsync.fleet.registry import Merchant, Registry
from sheetsync.fleet.runner import Fleet, merchant_cycle
from sheetsync.fleet.tasks import make_app
from sheetsync.fleet.web import fleet_app
from sheetsync.model import ChannelName, Movement, OrderLine, Sku
from sheetsync.pacing import Quotas
from sheetsync.web import TOKEN_ENV
from sheetsync.worker import FIRST_BACKOFF_S, CycleReport

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
    queued = client.lindex(queue, 0)
    assert queued is not None
    message = json.loads(queued)
    assert json.loads(base64.b64decode(message["body"]))[0] == ["bolt"]  # the task's arguments


# --- the fleet's dashboard and /metrics, read from each merchant's last outcome in Redis ------------

LEAKED = "shpat_never_shown_9c1e7f3a"
FLEET_TOKEN = "fleet-dashboard-token-3b8d"


@contextmanager
def fleet_web(
    fleet: Fleet, redis_url: str, now: list[float], token: str | None = None
) -> Iterator[httpx.Client]:
    """The fleet's app served on loopback (as `serve --merchants` serves it), its clock ``now``."""
    celery = make_app({"SHEETSYNC_REDIS_URL": redis_url, "SHEETSYNC_FLEET_PREFIX": fleet.prefix})
    with (
        serve_app(fleet_app(celery, fleet, token, clock=lambda: now[0])) as url,
        httpx.Client(base_url=url) as web,
    ):
        yield web


def sale(order: str) -> OrderLine:
    at = datetime(2026, 12, 5, 9, tzinfo=UTC)
    return OrderLine(ChannelName("shopify"), order, "1", Sku("A-1"), 1, Movement.SALE, at, "")


def row(page: str, name: str) -> str:
    found = re.search(rf'<tr id="merchant-{name}".*?</tr>', page, re.DOTALL)
    assert found is not None, name
    return re.sub(r"\s+", " ", found[0])


def samples(text: str) -> dict[tuple[str, str], float]:
    return {
        (sample.name, sample.labels["merchant"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_dashboard_and_metrics_show_each_merchant_and_a_failing_ones_backoff_without_its_secret(
    client: redis.Redis, prefix: str, redis_url: str, merchants: Callable[..., Path]
) -> None:
    folder = merchants("acme", "bolt", "broken")
    (folder / "bad.toml").write_text('[master]\nkind = "nowhere"\n', encoding="utf-8")
    environ = {"BROKEN__SHEETSYNC__SHOPIFY__ACCESS_TOKEN": LEAKED}
    healed = [False]

    def cycle(merchant: Merchant, delivered: Sequence[OrderLine], quotas: Quotas) -> CycleReport:
        if merchant.name == "broken" and not healed[0]:
            raise PermissionError(f"Shopify refused the token {LEAKED}")
        return merchant_cycle(merchant, delivered, quotas)

    now = [float(int(time.time()))]  # whole seconds: exact in the page and in Prometheus' text
    fleet = Fleet(client, Registry(folder, environ), prefix=prefix, cycle=cycle, clock=lambda: now[0])
    assert fleet.cycle("acme").status == "ran"
    assert fleet.cycle("broken").status == "failed"
    now[0] += FIRST_BACKOFF_S
    assert fleet.cycle("broken").status == "failed"  # two in a row: backing off twice as long
    failed_at, retry_at = now[0], now[0] + 2 * FIRST_BACKOFF_S
    assert fleet.cycle("bad").status == "failed"
    assert fleet.deliver("bolt", "d-1", [sale("1001"), sale("1002")])

    with fleet_web(fleet, redis_url, now) as web:
        page = web.get("/")
        figures = web.get("/metrics")
        healed[0] = True
        now[0] += 2 * FIRST_BACKOFF_S
        assert fleet.cycle("broken").status == "ran"
        recovered = web.get("/").text
        recovered_figures = web.get("/metrics").text

    assert page.status_code == 200
    html = page.text
    assert re.findall(r'data-merchant="([^"]+)"', html) == ["broken", "bad", "acme", "bolt"]  # failing first
    acme = row(html, "acme")
    assert "workbook " in acme
    assert "facebook (sandbox)" in acme
    assert "state-ran" in acme
    assert "ingested 0 order lines" in acme
    assert '<td class="num failures">0</td>' in acme
    broken = row(html, "broken")
    assert "state-failed" in broken
    assert '<td class="num failures">2</td>' in broken
    shown = datetime.fromtimestamp(retry_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert f'<td class="when backoff">{shown}</td>' in broken
    assert "PermissionError: Shopify refused the token [redacted]" in broken
    assert "config does not load" in row(html, "bad")
    assert "state-failed" in row(html, "bad")
    assert "no cycle yet" in row(html, "bolt")

    assert figures.status_code == 200
    got = samples(figures.text)
    assert got[("sheetsync_merchant_up", "acme")] == 1.0
    assert got[("sheetsync_merchant_up", "broken")] == 0.0
    assert got[("sheetsync_merchant_up", "bolt")] == 0.0
    assert got[("sheetsync_merchant_failures_in_a_row", "broken")] == 2.0
    assert got[("sheetsync_merchant_failures_in_a_row", "acme")] == 0.0
    assert got[("sheetsync_merchant_backoff_until_timestamp_seconds", "broken")] == retry_at
    assert ("sheetsync_merchant_backoff_until_timestamp_seconds", "acme") not in got
    assert got[("sheetsync_merchant_last_cycle_timestamp_seconds", "broken")] == failed_at
    assert ("sheetsync_merchant_last_cycle_timestamp_seconds", "bolt") not in got
    assert got[("sheetsync_merchant_inbox_lines", "bolt")] == 2.0
    stored = client.hget(fleet.key("health", "broken"), "detail")
    for text in (html, figures.text, str(stored)):
        assert LEAKED not in text

    broken = row(recovered, "broken")
    assert "state-ran" in broken
    assert '<td class="num failures">0</td>' in broken
    assert '<td class="when backoff"></td>' in broken
    assert samples(recovered_figures)[("sheetsync_merchant_up", "broken")] == 1.0


def test_the_fleet_dashboard_is_guarded_as_the_single_merchant_one(
    client: redis.Redis, prefix: str, redis_url: str, merchants: Callable[..., Path]
) -> None:
    fleet = Fleet(client, Registry(merchants("acme")), prefix=prefix)
    now = [time.time()]
    with fleet_web(fleet, redis_url, now) as web:
        for path in ("/", "/metrics"):
            assert web.get(path).status_code == 200  # the client's Host is 127.0.0.1:<port>
            assert web.get(path, headers={"Host": "evil.example"}).status_code == 403  # DNS rebinding
        assert web.get("/healthz", headers={"Host": "evil.example"}).text == "ok"

    with fleet_web(fleet, redis_url, now, token=FLEET_TOKEN) as web:
        for path in ("/", "/metrics"):
            refused = web.get(path)
            assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Bearer")
            assert web.get(path, headers={"Authorization": f"Bearer {FLEET_TOKEN}"}).status_code == 200
        assert web.get("/healthz").text == "ok"
        signed_in = web.get("/", params={"token": FLEET_TOKEN})
        assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/")
        assert FLEET_TOKEN not in signed_in.headers["set-cookie"]
        page = web.get("/")  # the cookie sent back, as a browser does
        assert page.status_code == 200
        assert FLEET_TOKEN not in page.text


def test_serve_for_the_fleet_refuses_a_public_host_without_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    public = "0.0.0.0"  # noqa: S104 - what serve refuses

    assert main(["serve", "--merchants", str(tmp_path), "--host", public, "--port", "9"]) == 2
    assert capsys.readouterr().err.startswith(
        f"sheetsync: configuration error: serve --host {public} is reachable from other machines: "
        f"set {TOKEN_ENV}"
    )
