"""`sheetsync serve`: the dashboard, Shopify webhooks, ``/healthz`` and ``/metrics``.

The dashboard is one server-rendered page (refreshed every 5 s) built from a :class:`Board`, which
the worker tells about every cycle.  Its Pause and Resume buttons type into the channel's
Control cell through the inbox, exactly as a merchant would in the sheet, so the sheet stays the
one place a pause lives; so does Confirm, on a channel whose first live sync waits (CONFIRM).
``GET /preview`` is what the next sync would push (``sheetsync sync --dry-run``): JSON, or the
same text as the command for a browser; read-only, under the page's rules.

A webhook is verified (HMAC over the raw body), its order lines are queued for the worker, and
the worker runs a cycle at once.  The poll stays the source of truth: a webhook that never
arrives is picked up by the next poll.  The webhook route expects abuse (see
:class:`WebhookLimits`): a missing or malformed signature is 401 before a byte of body is read;
a body past the size limit is 413 (from Content-Length, else as it streams in); a body still
arriving after the read deadline is 408; a full inbox is 503 with Retry-After, so Shopify
delivers again later.  Shopify signs the body only, so its headers (the delivery id, the
trigger time) cannot be trusted against a replay: the ledger keys are what count each line once.

With a token, the page, its buttons and ``/metrics`` need ``Authorization: Bearer <token>`` or
the session cookie that ``GET /?token=<token>`` sets; ``/healthz`` and the webhooks (signed)
stay open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import anyio
from jinja2 import Environment, PackageLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from sheetsync.channels.shopify import verify_webhook, webhook_lines
from sheetsync.core.incidents import Alert
from sheetsync.core.preview import CONFIRM_WORD, FIRST_SYNC, Preview, preview_data, preview_lines
from sheetsync.errors import SheetsyncError
from sheetsync.model import ChannelName, ChannelStatus, Discrepancy
from sheetsync.worker import CycleReport, Inbox

log = logging.getLogger(__name__)

#: Topics whose orders move stock; others are acknowledged and ignored.
TOPICS = frozenset({"orders/create", "orders/updated", "orders/cancelled", "refunds/create"})
#: Channel states, as the Status sheet writes them (one series each in /metrics).
STATES = ("OK", "LAG", "DEGRADED", "PAUSED", "ERROR", "HOLD")
#: Row flags the dashboard lists (one series each in /metrics).
ROW_FLAGS = ("DRIFT", "LAG", "OVERSOLD", "ERROR")
#: Default for /healthz: a cycle older than this is a stuck worker (``sheetsync serve`` passes
#: max(3 times the shortest channel interval, this)).
STALE_AFTER_S = 120.0
#: Flagged rows listed on the page; the rest are counted (the sheet shows every one).
LISTED_ROWS = 200
#: The environment variable that holds the dashboard's token.
TOKEN_ENV = "SHEETSYNC_DASHBOARD_TOKEN"  # noqa: S105 - the variable's name, not a secret
#: The session cookie ``GET /?token=`` sets; it holds a digest of the token, never the token.
SESSION_COOKIE = "sheetsync_session"

#: Connections uvicorn serves at once before it answers 503 itself (``limit_concurrency``); with at
#: most ``WebhookLimits.max_bytes`` held per request, it bounds the bodies in memory (~100 MiB).
#: Shopify's 1,000 deliveries a minute, each answered in milliseconds, need a handful.
CONNECTIONS = 100

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True, slots=True)
class WebhookLimits:
    """What the webhook route accepts; the defaults are for Shopify (https://shopify.dev/docs/apps/build/webhooks)."""

    #: Body bytes read at most; past it, 413.  Shopify's largest order payloads (a few hundred
    #: line items with their refunds) are a few hundred KB, so 1 MiB leaves room while bounding
    #: what one request can make us hold (``CONNECTIONS`` bounds how many at once).
    max_bytes: int = 1024 * 1024
    #: Seconds the body may take to arrive; then 408 and the connection closes.  Shopify gives a
    #: delivery 5 s in all, so a body still trickling in after that is not Shopify's.
    read_s: float = 5.0
    #: How old X-Shopify-Triggered-At may be.  Shopify retries a failed delivery 8 times over
    #: 4 h, keeping the original trigger time (changelog 2024-09-10); an hour more covers the
    #: last attempt and clock skew.  An older delivery is acknowledged (200) and left to the
    #: poll: a 4xx would only make Shopify send it again, and delete the subscription after 8.
    max_age_s: float = 5 * 3600.0
    #: How far ahead of our clock X-Shopify-Triggered-At may be: NTP keeps hosts within
    #: seconds, so beyond this the header (or our clock) is wrong; acknowledged and ignored too.
    max_ahead_s: float = 300.0
    #: Order lines waiting for the worker past which deliveries are answered 503: minutes of a
    #: 1,000-a-minute peak.  At most this plus one delivery's lines are ever held.
    max_queued: int = 10_000
    #: Seconds in the Retry-After of that 503: a few cycles.  Shopify keeps its own retry
    #: schedule; the poll reads the orders regardless.
    retry_after_s: int = 30


@dataclass(frozen=True, slots=True)
class ChannelView:
    """One channel as the dashboard shows it."""

    name: ChannelName
    title: str
    status: ChannelStatus | None  #: None until a cycle has reported the channel
    pending: str | None  #: "pause" or "resume" while a button's request waits for a cycle
    pushed_total: int  #: quantities pushed since start-up
    errors_total: int

    @property
    def paused(self) -> bool:
        """Paused as of the latest cycle that reported it."""
        return self.status is not None and _paused(self.status)

    @property
    def confirmable(self) -> bool:
        """Held at its first live sync: the page offers Confirm."""
        return (
            self.status is not None
            and self.status.state == "HOLD"
            and self.status.message.startswith(FIRST_SYNC)
        )

    @property
    def button(self) -> str:
        """The button to offer: the opposite of where the channel is, or is heading."""
        heading = self.pending == "pause" if self.pending else self.paused
        return "resume" if heading else "pause"


@dataclass(frozen=True, slots=True)
class BoardView:
    """Everything the page and /metrics read, taken at one instant."""

    channels: tuple[ChannelView, ...]
    discrepancies: tuple[Discrepancy, ...]
    alerts: tuple[Alert, ...]  #: newest first
    last_cycle: datetime | None
    cycles: int


@dataclass(slots=True)
class _Request:
    action: str  #: "pause" or "resume"
    cycles_seen: int = 0


class Board:
    """What the latest cycles said, for the dashboard, /healthz and /metrics; thread-safe.

    A cycle reports only the channels it talked to, so each channel keeps its latest status.
    A Pause or Resume request shows as pending until a cycle reports the channel in that state,
    or until two cycles have passed (the first may have started before the request; after the
    second the sheet or the config has had its say).

    Args:
        channels: configured channel names → titles, shown before their first report.
        clock: monotonic seconds, to tell how long ago the last cycle finished.
    """

    #: Alerts kept for the page.
    ALERTS = 20

    def __init__(
        self, channels: Mapping[ChannelName, str] | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._started = clock()
        self._titles: dict[ChannelName, str] = dict(channels or {})
        self._statuses: dict[ChannelName, ChannelStatus] = {}
        self._pushed: dict[ChannelName, int] = {}
        self._errors: dict[ChannelName, int] = {}
        self._requests: dict[ChannelName, _Request] = {}
        self._discrepancies: tuple[Discrepancy, ...] = ()
        self._alerts: deque[Alert] = deque(maxlen=self.ALERTS)
        self._last_cycle: datetime | None = None
        self._recorded_at: float | None = None
        self._cycles = 0
        self._died = ""

    def follow(self, inbox: Inbox) -> None:
        """Record every cycle the worker reports to ``inbox``, keeping any hook already there."""
        previous = inbox.on_cycle

        def on_cycle(report: CycleReport) -> None:
            self.record(report)
            if previous is not None:
                previous(report)

        inbox.on_cycle = on_cycle

    def record(self, report: CycleReport) -> None:
        """Take in one finished cycle."""
        with self._lock:
            self._cycles += 1
            self._last_cycle = report.at
            self._recorded_at = self._clock()
            self._discrepancies = report.discrepancies
            self._alerts.extendleft(report.alerts)
            for status in report.statuses:
                name = status.channel
                self._titles.setdefault(name, status.title)
                self._statuses[name] = status
                self._pushed[name] = self._pushed.get(name, 0) + status.pushed
                self._errors[name] = self._errors.get(name, 0) + status.errors
            reported = {s.channel: _paused(s) for s in report.statuses}
            for name, request in list(self._requests.items()):
                request.cycles_seen += 1
                reached = reported.get(name) == (request.action == "pause")
                if reached or request.cycles_seen >= 2:
                    del self._requests[name]

    def knows(self, channel: ChannelName) -> bool:
        """Whether ``channel`` is configured or has been reported."""
        with self._lock:
            return channel in self._titles

    def requested(self, channel: ChannelName, action: str) -> None:
        """Note a Pause or Resume request (``action`` is "pause" or "resume") until a cycle acts on it."""
        with self._lock:
            self._requests[channel] = _Request(action)

    def view(self) -> BoardView:
        """A consistent copy of everything, for one page or one scrape."""
        with self._lock:
            channels = tuple(
                ChannelView(
                    name,
                    self._statuses[name].title if name in self._statuses else title,
                    self._statuses.get(name),
                    request.action if (request := self._requests.get(name)) else None,
                    self._pushed.get(name, 0),
                    self._errors.get(name, 0),
                )
                for name, title in self._titles.items()
            )
            return BoardView(
                channels, self._discrepancies, tuple(self._alerts), self._last_cycle, self._cycles
            )

    def died(self, reason: str) -> None:
        """The worker thread stopped for good: /healthz fails from now on, saying why."""
        with self._lock:
            self._died = reason

    def stale(self, limit_s: float, grace_s: float) -> str | None:
        """Why the worker looks stuck, in one line, or None while cycles keep coming.

        Before the first cycle, ``grace_s`` from start-up; after it, ``limit_s`` since the last.
        """
        with self._lock:
            if self._died:
                return f"the worker stopped: {self._died}"
            now = self._clock()
            if self._recorded_at is None:
                waited = now - self._started
                if waited <= grace_s:
                    return None
                return f"no cycle has finished in the {waited:.0f}s since start-up (limit {grace_s:.0f}s)"
            ago = now - self._recorded_at
            if ago <= limit_s:
                return None
            return f"the last cycle finished {ago:.0f}s ago (limit {limit_s:.0f}s)"


def _paused(status: ChannelStatus) -> bool:
    return status.paused or status.state == "PAUSED"


def _loopback_host(header: str) -> bool:
    """Whether a Host header names this machine by a loopback name or address (any port)."""
    host = urlsplit(f"//{header.strip()}").hostname or ""
    return loopback(host)


def loopback(host: str) -> bool:
    """Whether only this machine can reach ``host`` (127.0.0.0/8, ::1, localhost); others need the token."""
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def lag_seconds(text: str) -> float | None:
    """Seconds in a lag as the Status sheet writes it ("42s", "4m", "1h 5m"); None if unmeasured."""
    if not text.strip():
        return None
    total, position = 0.0, 0
    while position < len(text):
        match = _DURATION.match(text, position)
        if match is None or match.end() == position:
            return None
        total += float(match[1]) * _UNIT_S[match[2] or "s"]
        position = match.end()
    return total


class BoardCollector:
    """The Board's figures in Prometheus' terms, read at each scrape."""

    def __init__(self, board: Board) -> None:
        self._board = board

    def collect(self) -> Iterator[Metric]:
        """One family per figure; a channel appears once any cycle has reported it."""
        view = self._board.view()
        families = {
            "p50": GaugeMetricFamily(
                "sheetsync_channel_lag_p50_seconds", "Push-to-visible lag, median", labels=["channel"]
            ),
            "p95": GaugeMetricFamily(
                "sheetsync_channel_lag_p95_seconds",
                "Push-to-visible lag, 95th percentile",
                labels=["channel"],
            ),
        }
        paused = GaugeMetricFamily(
            "sheetsync_channel_paused", "1 while the channel is paused", labels=["channel"]
        )
        state = GaugeMetricFamily(
            "sheetsync_channel_state", "1 for the channel's current state", labels=["channel", "state"]
        )
        pushes = CounterMetricFamily(
            "sheetsync_channel_pushes", "Quantities the channel accepted", labels=["channel"]
        )
        errors = CounterMetricFamily(
            "sheetsync_channel_errors", "Refused items and failed calls", labels=["channel"]
        )
        for channel in view.channels:
            if (status := channel.status) is None:
                continue
            for key, text in (("p50", status.lag_p50), ("p95", status.lag_p95)):
                if (seconds := lag_seconds(text)) is not None:
                    families[key].add_metric([channel.name], seconds)
            paused.add_metric([channel.name], float(channel.paused))
            for name in STATES if status.state in STATES else (*STATES, status.state):
                state.add_metric([channel.name, name], float(status.state == name))
            pushes.add_metric([channel.name], channel.pushed_total)
            errors.add_metric([channel.name], channel.errors_total)
        flagged = GaugeMetricFamily(
            "sheetsync_rows_flagged", "Inventory rows flagged after the last cycle", labels=["state"]
        )
        for flag in ROW_FLAGS:
            flagged.add_metric([flag], sum(d.state == flag for d in view.discrepancies))
        yield from (*families.values(), paused, state, pushes, errors, flagged)
        if view.last_cycle is not None:
            yield GaugeMetricFamily(
                "sheetsync_last_cycle_timestamp_seconds",
                "When the last cycle ran (Unix time)",
                value=view.last_cycle.timestamp(),
            )
        yield CounterMetricFamily("sheetsync_cycles", "Cycles finished since start-up", value=view.cycles)


def templates() -> Environment:
    """The server-rendered pages (``sheetsync/templates/*.html``), autoescaped."""
    return Environment(
        loader=PackageLoader("sheetsync", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Gate:
    """Who may open the pages and /metrics (see the module docstring); the fleet's page too.

    With ``token``: its bearer, or the session cookie ``GET /?token=<token>`` sets. Without: only
    a request naming this machine by a loopback Host. ``/healthz`` and the webhooks never ask.
    """

    def __init__(self, token: str | None) -> None:
        self._token = token
        # The cookie holds a digest, so the token itself is never stored in the browser.
        self._session = (
            None
            if token is None
            else hmac.new(token.encode(), b"sheetsync dashboard", hashlib.sha256).hexdigest()
        )

    def allows(self, request: Request) -> bool:
        """Whether ``request`` may see the page or the figures."""
        if self._token is None or self._session is None:
            # No token: only this machine may ask, by a loopback name.  A page on any other name
            # that resolves here (DNS rebinding) sends its own Host, and is refused.
            return _loopback_host(request.headers.get("host", ""))
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._token.encode()):
            return True
        return hmac.compare_digest(request.cookies.get(SESSION_COOKIE, "").encode(), self._session.encode())

    def refusal(self) -> Response:
        """The answer to a request it does not allow."""
        if self._token is None:
            return PlainTextResponse(
                "refused: without a token the dashboard answers only at localhost or 127.0.0.1",
                status_code=403,
            )
        return PlainTextResponse(
            "unauthorised: send Authorization: Bearer <token>, or open /?token=<token> once in the browser",
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    def sign_in(self, request: Request) -> Response | None:
        """The answer to ``GET /?token=…``: the cookie, then the page without the token in its URL.

        None when the request carries no ``token=``.
        """
        if "token" not in request.query_params:
            return None
        if self._token is None or self._session is None:
            return RedirectResponse("/", status_code=303)  # no token needed; keep it out of the URL
        if not hmac.compare_digest(request.query_params["token"].encode(), self._token.encode()):
            return self.refusal()
        signed_in = RedirectResponse("/", status_code=303)
        signed_in.set_cookie(
            SESSION_COOKIE,
            self._session,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return signed_in


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _well_formed(signature: str) -> bool:
    """Whether ``signature`` could be an HMAC-SHA256 in base64: worth reading the body for."""
    try:
        return len(base64.b64decode(signature.strip(), validate=True)) == hashlib.sha256().digest_size
    except (binascii.Error, ValueError):
        return False


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None as soon as it passes ``limit`` bytes (the rest is never read).

    Bytes are only accumulated: the signature covers exactly what arrived.
    """
    body = bytearray()
    async with aclosing(request.stream()) as chunks:
        async for chunk in chunks:
            body += chunk
            if len(body) > limit:
                return None
    return bytes(body)


def _untimely(triggered_at: str | None, now: datetime, limits: WebhookLimits) -> str | None:
    """Why a delivery's trigger time is outside the window ("stale" or "ahead"), or None.

    A missing or unreadable header is None: the header is unsigned anyway, and the ledger keys
    still count each line once.
    """
    if not triggered_at:
        return None
    try:
        at = datetime.fromisoformat(triggered_at.strip())  # Python 3.11 reads "Z" and nanoseconds
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    age = (now - at).total_seconds()
    if age > limits.max_age_s:
        return "stale"
    if -age > limits.max_ahead_s:
        return "ahead"
    return None


def create_app(
    inbox: Inbox,
    webhook_secrets: Mapping[ChannelName, str],
    board: Board | None = None,
    token: str | None = None,
    stale_after_s: float = STALE_AFTER_S,
    grace_s: float | None = None,
    webhook_limits: WebhookLimits = WebhookLimits(),
    clock: Callable[[], datetime] = _utc_now,
    preview: Callable[[], Preview] | None = None,
) -> Starlette:
    """The web app: the dashboard, its buttons, Shopify webhooks, ``/healthz`` and ``/metrics``.

    Args:
        inbox: the worker's inbox; webhooks and the buttons go through it.
        webhook_secrets: each Shopify channel's app secret; a channel without one has no endpoint.
        board: what the page shows; without one, a Board that follows ``inbox``.
        token: when set, the page, buttons and /metrics need it (see the module docstring).
        stale_after_s: /healthz answers 503 once the last cycle is older than this.
        grace_s: before the first cycle, how long /healthz answers 200 (default ``stale_after_s``).
        webhook_limits: sizes, deadlines and windows the webhook route enforces.
        clock: the current time (aware), to judge X-Shopify-Triggered-At.
        preview: what the next cycle would push (``worker.preview_cycle``), for ``GET /preview``.
    """
    if board is None:
        board = Board()
        board.follow(inbox)
    shown = board
    grace = stale_after_s if grace_s is None else grace_s
    pages = templates()
    registry = CollectorRegistry(auto_describe=True)
    registry.register(BoardCollector(board))
    gate = Gate(token)

    async def dashboard(request: Request) -> Response:
        if (signed_in := gate.sign_in(request)) is not None:
            return signed_in
        if not gate.allows(request):
            return gate.refusal()
        view = shown.view()
        page = pages.get_template("dashboard.html").render(
            view=view, discrepancies=view.discrepancies[:LISTED_ROWS]
        )
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    def control(action: str, text: str) -> Callable[[Request], Awaitable[Response]]:
        async def act(request: Request) -> Response:
            if not gate.allows(request):
                return gate.refusal()
            origin = request.headers.get("origin")
            if origin and urlsplit(origin).netloc != request.headers.get("host"):
                return PlainTextResponse("cross-site request refused", status_code=403)
            channel = ChannelName(request.path_params["channel"])
            if not shown.knows(channel):
                return PlainTextResponse("no such channel", status_code=404)
            inbox.control(channel, text)
            shown.requested(channel, action)
            log.info("dashboard: %s requested for %s", action, channel)
            return RedirectResponse("/", status_code=303)

        return act

    async def preview_page(request: Request) -> Response:
        """The next cycle's preview, read-only: JSON, or the text ``--dry-run`` prints for a browser."""
        if not gate.allows(request):
            return gate.refusal()
        if preview is None:
            return PlainTextResponse("no preview here: `sheetsync serve` offers one", status_code=404)
        try:
            shown = await anyio.to_thread.run_sync(preview)
        except SheetsyncError as error:  # the master or a channel out of reach: its message names it
            return PlainTextResponse(f"preview not made: {error}", status_code=503)
        headers = {"Cache-Control": "no-store"}
        if "text/html" in request.headers.get("accept", ""):
            page = pages.get_template("preview.html").render(lines=preview_lines(shown))
            return HTMLResponse(page, headers=headers)
        return JSONResponse(preview_data(shown), headers=headers)

    async def metrics(request: Request) -> Response:
        if not gate.allows(request):
            return gate.refusal()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    limits = webhook_limits

    def unsigned(channel: ChannelName, request: Request, why: str) -> Response:
        # One line per refusal: the channel, why, and who; never the body, header or secret.
        client = request.client.host if request.client else "unknown"
        log.warning("%s webhook refused (401): %s signature, from %s", channel, why, client)
        return PlainTextResponse("bad signature", status_code=401)

    def too_large(channel: ChannelName) -> Response:
        log.warning("%s webhook refused (413): body over %d bytes", channel, limits.max_bytes)
        return PlainTextResponse(f"body over {limits.max_bytes} bytes", status_code=413)

    async def shopify_webhook(request: Request) -> Response:
        channel = ChannelName(request.path_params["channel"])
        secret = webhook_secrets.get(channel)
        if secret is None:
            return PlainTextResponse("no such Shopify channel", status_code=404)
        signature = request.headers.get("X-Shopify-Hmac-Sha256")
        if not signature:
            return unsigned(channel, request, "missing")
        if not _well_formed(signature):
            return unsigned(channel, request, "malformed")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_bytes:
            return too_large(channel)  # before reading: uvicorn drops the rest of the body
        try:
            with anyio.fail_after(limits.read_s):
                body = await _read_body(request, limits.max_bytes)  # the raw bytes the signature covers
        except TimeoutError:
            log.warning("%s webhook refused (408): body not in after %.1fs", channel, limits.read_s)
            return PlainTextResponse("body too slow", status_code=408, headers={"Connection": "close"})
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it
        if body is None:
            return too_large(channel)
        if not verify_webhook(body, signature, secret):
            return unsigned(channel, request, "bad")
        topic = request.headers.get("X-Shopify-Topic", "")
        delivery = request.headers.get("X-Shopify-Webhook-Id") or request.headers.get(
            "X-Shopify-Event-Id", ""
        )
        untimely = _untimely(request.headers.get("X-Shopify-Triggered-At"), clock(), limits)
        if untimely is not None:
            # Acknowledged, not refused: a 4xx would bring the same delivery back; the poll reads it.
            log.warning(
                "%s webhook %s triggered outside the window (%s), left to the poll", channel, topic, untimely
            )
            return JSONResponse({"ignored": untimely})
        if topic not in TOPICS:
            return JSONResponse({"ignored": topic})
        try:
            lines = webhook_lines(topic, json.loads(body), channel=channel)
        except (ValueError, KeyError, TypeError) as error:
            # Answering 4xx would make Shopify retry the same body; the poll will read the order.
            log.warning("%s webhook %s unreadable, left to the next poll: %s", channel, topic, error)
            return JSONResponse({"ignored": "unreadable"})
        if inbox.queued() >= limits.max_queued:
            # The worker is behind: Shopify delivers again later, and the poll reads the orders anyway.
            log.warning(
                "%s webhook %s refused (503): %d lines already wait", channel, topic, limits.max_queued
            )
            return PlainTextResponse(
                "busy: deliver again later",
                status_code=503,
                headers={"Retry-After": str(limits.retry_after_s)},
            )
        # Without an id a repeat cannot be told apart; the ledger still counts each line once.
        fresh = inbox.deliver(f"{channel}/{delivery or uuid.uuid4()}", lines)
        log.info("%s webhook %s: %d lines%s", channel, topic, len(lines), "" if fresh else " (repeat)")
        return JSONResponse({"queued": len(lines) if fresh else 0})

    async def healthz(_request: Request) -> Response:
        reason = shown.stale(stale_after_s, grace)
        if reason is None:
            return PlainTextResponse("ok")
        return PlainTextResponse(reason, status_code=503)

    return Starlette(
        routes=[
            Route("/", dashboard),
            Route("/channels/{channel}/pause", control("pause", "PAUSE"), methods=["POST"]),
            Route("/channels/{channel}/resume", control("resume", ""), methods=["POST"]),
            Route("/channels/{channel}/confirm", control("confirm", CONFIRM_WORD), methods=["POST"]),
            Route("/preview", preview_page),
            Route("/metrics", metrics),
            Route("/webhooks/shopify/{channel}", shopify_webhook, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )
