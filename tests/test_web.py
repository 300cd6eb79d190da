"""`sheetsync serve`: Shopify webhooks wake the worker; bad signatures and repeats change nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from openpyxl import load_workbook
from starlette.applications import Starlette

from sheetsync.channels import Channel
from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.channels.shopify import ShopifyChannel
from sheetsync.config import Settings, load
from sheetsync.model import INVENTORY_SHEET, LEDGER_SHEET, ChannelName, OrderLine, Sku
from sheetsync.stores import MasterStore
from sheetsync.stores.workbook import create_workbook
from sheetsync.testing.shopify import FakeShopify
from sheetsync.testing.wire import serve
from sheetsync.web import create_app
from sheetsync.worker import CycleReport, Inbox, open_channels, open_store, run_cycle, run_forever

SCHEMA = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "shopify" / "admin_2026-10.json.gz"
)
SHOP, TOKEN, SECRET = "web-test.myshopify.com", "shpat_web_test", "shpss_web_test"
SHOPIFY = ChannelName("shopify")
CONFIG = """
[master]
kind = "workbook"
path = "inventory.xlsx"

[channels.shopify]
kind = "shopify"
shop = "web-test"
location = "Warehouse"
base_url = "{base_url}"
interval = 3600

[channels.facebook]
kind = "sandbox"
interval = 3600
"""


@dataclass
class Served:
    fake: FakeShopify
    settings: Settings
    store: MasterStore
    channels: list[Channel]
    inbox: Inbox
    cycles: list[CycleReport]
    cycled: threading.Event
    client: httpx.Client
    workbook: Path

    @property
    def facebook(self) -> SandboxChannel:
        channel = self.channels[1]
        assert isinstance(channel, SandboxChannel)
        return channel


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A worker on a workbook with a Shopify channel (the fake, on loopback) and a sandbox one."""
    fake = FakeShopify({"2026-10": SCHEMA}, app_secret=SECRET)
    fake.create_shop(SHOP, TOKEN, locations=["Warehouse"])
    fake.add_product(SHOP, ["TEE-M", "MUG"])
    with serve(fake) as base_url:
        config = tmp_path / "sheetsync.toml"
        config.write_text(CONFIG.format(base_url=base_url))
        settings = load(config)
        workbook = tmp_path / "inventory.xlsx"
        create_workbook(workbook, settings.layout)
        book = load_workbook(workbook)
        for row in (("TEE-M", 10), ("MUG", 4)):
            book[INVENTORY_SHEET].append(row)
        book.save(workbook)
        environ = {"SHEETSYNC__SHOPIFY__TOKEN": TOKEN}
        store, channels = open_store(settings, environ), open_channels(settings, _now, environ)
        inbox, cycles, cycled = Inbox(), [], threading.Event()

        def after_cycle(report: CycleReport) -> None:
            cycles.append(report)
            cycled.set()

        inbox.on_cycle = after_cycle
        stop = threading.Event()
        worker = threading.Thread(target=run_forever, args=(store, channels, settings, _now, stop, inbox))
        worker.start()
        try:
            assert cycled.wait(30), "the first cycle never finished"
            with (
                on_loopback(create_app(inbox, {SHOPIFY: SECRET})) as url,
                httpx.Client(base_url=url) as client,
            ):
                yield Served(fake, settings, store, channels, inbox, cycles, cycled, client, workbook)
        finally:
            stop.set()
            inbox.wake()
            worker.join(30)
            for channel in channels:
                if isinstance(channel, ShopifyChannel):
                    channel.close()


@contextmanager
def on_loopback(app: Starlette) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1, as `sheetsync serve` serves it."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # not the main thread
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "uvicorn did not start"
            threading.Event().wait(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _now() -> datetime:
    return datetime.now(UTC)


def post(served: Served, topic: str, order_id: str, **changes: str) -> int:
    delivery = served.fake.webhook(topic, order_id)  # type: ignore[arg-type]
    headers = {**delivery.headers, **changes}
    return served.client.post("/webhooks/shopify/shopify", content=delivery.body, headers=headers).status_code


def test_a_sale_on_shopify_reaches_the_other_channel_within_a_second_without_a_poll(served: Served) -> None:
    assert served.facebook.read_levels([Sku("TEE-M")]) == {"TEE-M": 10}
    order = served.fake.place_order(SHOP, [("TEE-M", 3)])
    served.cycled.clear()

    assert post(served, "orders/create", order) == 200

    assert served.cycled.wait(1.0), "no cycle within a second of the webhook"
    assert served.facebook.read_levels([Sku("TEE-M")]) == {"TEE-M": 7}
    assert served.cycles[-1].ingested == 1


def test_the_poll_after_a_webhook_counts_the_sale_once(served: Served) -> None:
    order = served.fake.place_order(SHOP, [("MUG", 1)])
    served.cycled.clear()
    assert post(served, "orders/create", order) == 200
    assert served.cycled.wait(5)

    run_cycle(served.store, served.channels, served.settings, _now())  # every channel polls

    ledger = [row for row in load_workbook(served.workbook)[LEDGER_SHEET].iter_rows(values_only=True)]
    sales = [row for row in ledger[1:] if row[5] == "MUG" and row[7] == "SALE"]
    assert len(sales) == 1
    assert served.facebook.read_levels([Sku("MUG")]) == {"MUG": 3}


def test_a_repeated_delivery_queues_nothing() -> None:
    inbox = Inbox()
    line: list[OrderLine] = []
    assert inbox.deliver("shopify/abc", line)
    assert not inbox.deliver("shopify/abc", line)


def test_a_bad_or_missing_signature_is_refused_without_touching_state(served: Served) -> None:
    order = served.fake.place_order(SHOP, [("TEE-M", 1)])
    served.cycled.clear()

    assert post(served, "orders/create", order, **{"X-Shopify-Hmac-Sha256": "bm90IGl0"}) == 401
    delivery = served.fake.webhook("orders/create", order)
    headers = {k: v for k, v in delivery.headers.items() if k != "X-Shopify-Hmac-Sha256"}
    answer = served.client.post("/webhooks/shopify/shopify", content=delivery.body, headers=headers)

    assert answer.status_code == 401
    assert served.inbox.take() == []
    assert not served.cycled.is_set()


def test_an_unknown_channel_or_topic(served: Served) -> None:
    order = served.fake.place_order(SHOP, [("TEE-M", 1)])
    delivery = served.fake.webhook("orders/create", order)
    assert (
        served.client.post(
            "/webhooks/shopify/etsy", content=delivery.body, headers=delivery.headers
        ).status_code
        == 404
    )
    headers = {**delivery.headers, "X-Shopify-Topic": "products/update"}
    answer = served.client.post("/webhooks/shopify/shopify", content=delivery.body, headers=headers)
    assert answer.json() == {"ignored": "products/update"}
    assert served.client.get("/healthz").text == "ok"
