"""`sheetsync serve`: the dashboard, its buttons, /healthz, /metrics and the token; Shopify webhooks
wake the worker, and bad signatures and repeats change nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from sheetsync_fakes import REFERENCE as REFERENCE_ROOT
from sheetsync_fakes.shopify import FakeShopify, WebhookTopic
from sheetsync_fakes.wire import serve, serve_app

from sheetsync.channels import Channel
from sheetsync.channels.sandbox import SandboxChannel
from sheetsync.channels.shopify import ShopifyChannel
from sheetsync.cli import main
from sheetsync.config import Settings, load
from sheetsync.core.incidents import Alert
from sheetsync.core.plan import GuardVerdict, Plan
from sheetsync.model import (
    INVENTORY_SHEET,
    LEDGER_SHEET,
    ChannelName,
    ChannelStatus,
    Discrepancy,
    OrderLine,
    Sku,
)
from sheetsync.stores import MasterStore
from sheetsync.stores.workbook import create_workbook
from sheetsync.web import SESSION_COOKIE, TOKEN_ENV, Board, create_app, lag_seconds, loopback
from sheetsync.worker import CycleReport, Inbox, open_channels, open_store, run_cycle, run_forever

SCHEMA = REFERENCE_ROOT / "shopify" / "admin_2026-10.json.gz"
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
max_lag = 7200

[channels.facebook]
kind = "sandbox"
interval = 3600
max_lag = 7200
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
                serve_app(create_app(inbox, {SHOPIFY: SECRET})) as url,
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


def _now() -> datetime:
    return datetime.now(UTC)


def post(served: Served, topic: WebhookTopic, order_id: str, **changes: str) -> int:
    delivery = served.fake.webhook(topic, order_id)
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


# --- the dashboard, /healthz, /metrics and the token, against a Board fed by hand ----------------

FACEBOOK, GOOGLE = ChannelName("facebook"), ChannelName("google")
AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
DASHBOARD_TOKEN = "dashboard-token-7f3a9c1e"


class Ticks:
    """A monotonic clock for the Board that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def status(channel: ChannelName, state: str = "OK", **fields: object) -> ChannelStatus:
    values: dict[str, object] = {
        "title": channel.title(),
        "last_sync": "2026-11-27T09:30:00Z",
        "pushed": 3,
        "errors": 0,
        "message": "pushed 3",
        **fields,
    }
    return ChannelStatus(channel, state=state, **values)  # type: ignore[arg-type]  # the test's overrides, checked by the call


def report(
    *statuses: ChannelStatus,
    discrepancies: tuple[Discrepancy, ...] = (),
    alerts: tuple[Alert, ...] = (),
    at: datetime = AT,
) -> CycleReport:
    empty = Plan((), (), GuardVerdict(held=False, message="", accepted=False, rows=0, total=0))
    return CycleReport(
        at=at,
        ingested=0,
        pushed={s.channel: s.pushed for s in statuses},
        refused=0,
        errors={},
        held=False,
        flagged_rows=len(discrepancies),
        plan=empty,
        statuses=statuses,
        discrepancies=discrepancies,
        alerts=alerts,
    )


@dataclass
class Dashboard:
    board: Board
    inbox: Inbox
    ticks: Ticks
    client: httpx.Client
    url: str


@contextmanager
def dashboard(token: str | None = None, stale_after_s: float = 120.0) -> Iterator[Dashboard]:
    ticks = Ticks()
    board = Board({FACEBOOK: "Facebook", GOOGLE: "Google"}, clock=ticks)
    inbox = Inbox()
    board.follow(inbox)
    app = create_app(inbox, {SHOPIFY: SECRET}, board=board, token=token, stale_after_s=stale_after_s)
    with serve_app(app) as url, httpx.Client(base_url=url, follow_redirects=False) as client:
        yield Dashboard(board, inbox, ticks, client, url)


@pytest.fixture
def board() -> Iterator[Dashboard]:
    with dashboard() as served:
        yield served


def lagging() -> CycleReport:
    return report(
        status(FACEBOOK, "LAG", lag_p50="240s", lag_p95="6m", message="lag 6m > 60s", pushed=5, errors=1),
        discrepancies=(Discrepancy(4, "TEE-M", "DRIFT", "Facebook shows 3, we expected 5"),),
        alerts=(Alert("lag:facebook", "Facebook lags 6m (limit 60s)", AT),),
    )


def test_the_page_shows_channels_lags_discrepancies_and_alerts(board: Dashboard) -> None:
    board.inbox.done(lagging())  # as the worker reports a cycle

    page = board.client.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<meta http-equiv="refresh" content="5">' in html
    facebook = html.split('id="channel-facebook"')[1].split("</tr>")[0]
    for text in ("Facebook", "state-LAG", ">LAG<", "240s", "6m", "2026-11-27T09:30:00Z", "lag 6m &gt; 60s"):
        assert text in facebook
    assert 'action="/channels/facebook/pause"' in facebook
    google = html.split('id="channel-google"')[1].split("</tr>")[0]
    assert "not reported yet" in google
    for text in ("TEE-M", "DRIFT", "Facebook shows 3, we expected 5", "Open discrepancies (1)"):
        assert text in html
    assert "[sheetsync] ALERT Facebook lags 6m (limit 60s)" in html
    assert "Last cycle 2026-11-27 09:30:00 UTC" in html


def test_a_cycle_that_skips_a_channel_keeps_its_last_status_and_text_is_escaped(board: Dashboard) -> None:
    board.board.record(lagging())
    board.board.record(report(status(GOOGLE, "ERROR", message="<script>alert(1)</script> 503")))

    html = board.client.get("/").text

    assert ">LAG<" in html.split('id="channel-facebook"')[1].split("</tr>")[0]
    assert ">ERROR<" in html.split('id="channel-google"')[1].split("</tr>")[0]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 503" in html
    assert "Open discrepancies (0)" in html  # the latest cycle's, not the union


def test_pause_and_resume_queue_the_control_edit_and_show_pending_until_a_cycle_reports_it(
    board: Dashboard,
) -> None:
    board.board.record(report(status(FACEBOOK)))

    answer = board.client.post("/channels/facebook/pause")

    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    assert board.inbox.take_controls() == {FACEBOOK: "PAUSE"}
    row = board.client.get("/").text.split('id="channel-facebook"')[1].split("</tr>")[0]
    assert "pause requested…" in row
    assert 'action="/channels/facebook/resume"' in row

    board.board.record(report(status(FACEBOOK, "PAUSED", paused=True)))
    row = board.client.get("/").text.split('id="channel-facebook"')[1].split("</tr>")[0]
    assert "requested" not in row
    assert ">PAUSED<" in row
    assert 'action="/channels/facebook/resume"' in row

    assert board.client.post("/channels/facebook/resume").status_code == 303
    assert board.inbox.take_controls() == {FACEBOOK: ""}
    assert "resume requested…" in board.client.get("/").text


def test_a_request_the_sheet_overrules_stops_showing_after_two_cycles(board: Dashboard) -> None:
    board.client.post("/channels/google/resume")
    board.board.record(report(status(GOOGLE, "PAUSED")))  # maybe started before the request
    assert "resume requested…" in board.client.get("/").text
    board.board.record(report(status(GOOGLE, "PAUSED")))  # paused in the config: it stays paused
    assert "requested…" not in board.client.get("/").text


def test_an_unknown_channel_is_404_and_queues_nothing(board: Dashboard) -> None:
    assert board.client.post("/channels/etsy/pause").status_code == 404
    assert board.client.get("/channels/facebook/pause").status_code == 405
    assert board.inbox.take_controls() == {}


def test_a_pause_posted_from_another_site_is_refused(board: Dashboard) -> None:
    answer = board.client.post("/channels/facebook/pause", headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert board.inbox.take_controls() == {}
    same = board.client.post("/channels/facebook/pause", headers={"Origin": board.url})
    assert same.status_code == 303


def test_healthz_is_ok_while_cycles_keep_coming_and_503_once_they_stop(board: Dashboard) -> None:
    assert board.client.get("/healthz").text == "ok"  # start-up grace
    board.ticks.now += 121
    stuck = board.client.get("/healthz")
    assert stuck.status_code == 503
    assert stuck.text == "no cycle has finished in the 121s since start-up (limit 120s)"

    board.board.record(report(status(FACEBOOK)))
    assert board.client.get("/healthz").status_code == 200
    board.ticks.now += 120
    assert board.client.get("/healthz").status_code == 200
    board.ticks.now += 10
    stale = board.client.get("/healthz")
    assert (stale.status_code, stale.text) == (503, "the last cycle finished 130s ago (limit 120s)")


def test_metrics_expose_lag_state_pauses_pushes_errors_flags_and_cycles(board: Dashboard) -> None:
    board.board.record(report(status(FACEBOOK, pushed=2)))
    board.board.record(lagging())
    board.board.record(report(status(GOOGLE, "PAUSED", paused=True, pushed=0), at=AT.replace(minute=31)))

    answer = board.client.get("/metrics")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    lines = set(answer.text.splitlines())
    expected = {
        'sheetsync_channel_lag_p50_seconds{channel="facebook"} 240.0',
        'sheetsync_channel_lag_p95_seconds{channel="facebook"} 360.0',
        'sheetsync_channel_paused{channel="facebook"} 0.0',
        'sheetsync_channel_paused{channel="google"} 1.0',
        'sheetsync_channel_state{channel="facebook",state="LAG"} 1.0',
        'sheetsync_channel_state{channel="facebook",state="OK"} 0.0',
        'sheetsync_channel_state{channel="google",state="PAUSED"} 1.0',
        'sheetsync_channel_pushes_total{channel="facebook"} 7.0',
        'sheetsync_channel_errors_total{channel="facebook"} 1.0',
        'sheetsync_rows_flagged{state="DRIFT"} 0.0',  # the latest cycle flagged none
        'sheetsync_rows_flagged{state="LAG"} 0.0',
        "sheetsync_cycles_total 3.0",
        "# TYPE sheetsync_channel_pushes_total counter",
    }
    assert expected <= lines, sorted(expected - lines)
    stamp = next(line for line in lines if line.startswith("sheetsync_last_cycle_timestamp_seconds "))
    assert float(stamp.split()[1]) == AT.replace(minute=31).timestamp()
    assert not any(line.startswith('sheetsync_channel_lag_p50_seconds{channel="google"}') for line in lines)
    assert "python_gc" not in answer.text  # its own registry, not the process-wide one


def test_rows_flagged_counts_the_latest_discrepancies_by_state(board: Dashboard) -> None:
    board.board.record(
        report(
            discrepancies=(
                Discrepancy(2, "A", "DRIFT", "x"),
                Discrepancy(3, "B", "DRIFT", "y"),
                Discrepancy(5, "C", "OVERSOLD", "z"),
            )
        )
    )
    lines = set(board.client.get("/metrics").text.splitlines())
    assert {
        'sheetsync_rows_flagged{state="DRIFT"} 2.0',
        'sheetsync_rows_flagged{state="OVERSOLD"} 1.0',
    } <= lines


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("42s", 42.0), ("4m", 240.0), ("1h 5m", 3900.0), ("90", 90.0), ("1.5s", 1.5), ("", None), ("n/a", None)],
)
def test_lag_text_in_seconds(text: str, seconds: float | None) -> None:
    assert lag_seconds(text) == seconds


def test_with_a_token_everything_but_healthz_and_webhooks_needs_it() -> None:
    with dashboard(token=DASHBOARD_TOKEN) as served:
        served.board.record(lagging())
        for method, path in (("GET", "/"), ("POST", "/channels/facebook/pause"), ("GET", "/metrics")):
            refused = served.client.request(method, path)
            assert refused.status_code == 401, path
            assert refused.headers["www-authenticate"] == "Bearer"
            wrong = served.client.request(method, path, headers={"Authorization": "Bearer not-it"})
            assert wrong.status_code == 401, path
        assert served.inbox.take_controls() == {}

        bearer = {"Authorization": f"Bearer {DASHBOARD_TOKEN}"}
        assert served.client.get("/", headers=bearer).status_code == 200
        assert served.client.get("/metrics", headers=bearer).status_code == 200
        assert served.client.post("/channels/facebook/pause", headers=bearer).status_code == 303
        assert served.inbox.take_controls() == {FACEBOOK: "PAUSE"}

        assert served.client.get("/healthz").text == "ok"
        body = b'{"id": 1}'
        signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        headers = {"X-Shopify-Hmac-Sha256": signature, "X-Shopify-Topic": "products/update"}
        hook = served.client.post("/webhooks/shopify/shopify", content=body, headers=headers)
        assert (hook.status_code, hook.json()) == (200, {"ignored": "products/update"})


def test_the_token_link_sets_a_strict_http_only_session_cookie_and_drops_the_token_from_the_url() -> None:
    with dashboard(token=DASHBOARD_TOKEN) as served:
        assert served.client.get("/", params={"token": "guess"}).status_code == 401
        assert not served.client.cookies

        signed_in = served.client.get("/", params={"token": DASHBOARD_TOKEN})

        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/"
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert DASHBOARD_TOKEN not in cookie
        page = served.client.get("/")  # the client sends the cookie back, as a browser would
        assert page.status_code == 200
        assert DASHBOARD_TOKEN not in page.text
        assert served.client.post("/channels/google/pause").status_code == 303
        assert served.inbox.take_controls() == {GOOGLE: "PAUSE"}
        served.client.cookies.set(SESSION_COOKIE, "forged")
        assert served.client.get("/").status_code == 401


def test_without_a_token_a_token_link_just_goes_to_the_page(board: Dashboard) -> None:
    answer = board.client.get("/", params={"token": "anything"})
    assert (answer.status_code, answer.headers["location"]) == (303, "/")
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20"])  # noqa: S104 - what serve refuses
def test_serve_refuses_a_public_host_without_the_token(
    host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)

    code = main(["serve", "--config", str(tmp_path / "sheetsync.toml"), "--host", host, "--port", "9"])

    assert code == 2
    message = capsys.readouterr().err.splitlines()
    assert len(message) == 1
    assert message[0].startswith(
        f"sheetsync: configuration error: serve --host {host} is reachable from other machines: "
        f"set {TOKEN_ENV}"
    )


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),  # noqa: S104 - what serve refuses
        ("::", False),
        ("10.0.0.5", False),
        ("dashboard.example.com", False),
    ],
)
def test_loopback_hosts(host: str, local: bool) -> None:
    assert loopback(host) is local


def test_serve_on_all_interfaces_with_the_token_asks_for_it_and_never_logs_it(tmp_path: Path) -> None:
    assert main(["init", "--dir", str(tmp_path)]) == 0
    with socket.socket() as probe:  # a free port for the server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        "serve",
        "--config",
        str(tmp_path / "sheetsync.toml"),
        "--host",
        "0.0.0.0",  # noqa: S104 - served with the token, and only for the test's duration
        "--port",
        str(port),
    ]
    server = subprocess.Popen(
        [sys.executable, "-m", "sheetsync", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", TOKEN_ENV: DASHBOARD_TOKEN},
    )
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while not any("cycle: ingested" in line for line in lines) and time.monotonic() < deadline:
            lines.append(server.stdout.readline())
        # Connection attempts are retried with backoff until uvicorn has bound the port.
        transport = httpx.HTTPTransport(retries=8)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, transport=transport, follow_redirects=True) as client:
            assert client.get("/healthz").text == "ok"
            assert client.get("/").status_code == 401
            assert client.get("/metrics").status_code == 401
            page = client.get("/", headers={"Authorization": f"Bearer {DASHBOARD_TOKEN}"})
            assert page.status_code == 200
            assert "Facebook" in page.text
            assert client.get("/", params={"token": DASHBOARD_TOKEN}).status_code == 200  # via the cookie
        server.send_signal(signal.SIGTERM)
        rest, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    output = "".join(lines) + rest
    assert server.returncode == 0
    assert "(token required)" in output
    assert DASHBOARD_TOKEN not in output


def test_without_a_token_only_a_loopback_host_may_use_the_dashboard(board: Dashboard) -> None:
    # DNS rebinding: a page on evil.example, resolved to 127.0.0.1, posts with its own Host and Origin
    rebound = {"Host": "evil.example:8080", "Origin": "http://evil.example:8080"}
    pause = board.client.post("/channels/facebook/pause", headers=rebound)
    assert pause.status_code == 403
    assert "localhost or 127.0.0.1" in pause.text
    assert board.inbox.take_controls() == {}
    assert board.client.get("/", headers={"Host": "evil.example"}).status_code == 403
    assert board.client.get("/metrics", headers={"Host": "evil.example"}).status_code == 403
    assert board.client.get("/", headers={"Host": "localhost:8080"}).status_code == 200
    assert (
        board.client.get("/healthz", headers={"Host": "evil.example"}).status_code == 200
    )  # no secrets there
    ok = board.client.post("/channels/facebook/pause")  # the test client's Host is 127.0.0.1:<port>
    assert ok.status_code == 303
    assert board.inbox.take_controls() == {FACEBOOK: "PAUSE"}


def test_healthz_fails_at_once_when_the_worker_has_died(board: Dashboard) -> None:
    board.board.record(report(status(FACEBOOK)))
    assert board.client.get("/healthz").status_code == 200
    board.board.died("SystemExit: killed")
    dead = board.client.get("/healthz")
    assert (dead.status_code, dead.text) == (503, "the worker stopped: SystemExit: killed")
