"""An in-memory Slack incoming webhook, spoken to over the wire.

``FakeSlack`` is a handler (``httpx.Request -> httpx.Response``, see :mod:`sheetsync_fakes.wire`)
for one webhook at ``/services/T…/B…/<secret>``.  What it reproduces, from Slack's incoming
webhook docs and its 2016 changelog on webhook errors:

- ``POST`` a JSON body with ``Content-Type: application/json`` (the preferred way), or a form
  (``application/x-www-form-urlencoded``) whose ``payload`` field holds that JSON (the older
  way).  Success is HTTP 200 with the plain-text body ``ok``.
- Errors are plain-text bodies, not JSON: 400 ``invalid_payload`` (the body does not parse as
  its content type says, or is not a JSON object), 400 ``no_text`` (no ``text``, ``blocks`` or
  ``attachments``), 404 ``no_service`` (no webhook at that path, or it was removed), 410
  ``channel_is_archived``, 500 ``rollup_error`` (the scripted server failure).
- About one message per second per webhook: a message within ``window_s`` of the last
  ``per_window`` accepted ones is answered 429 ``rate_limited`` with ``Retry-After`` in whole
  seconds, on the injected clock.  Slack's rate-limit page says the 429 body is "a JSON object";
  the webhook clients we read see ``rate_limited`` as text.  Nobody should read this body.

Not modelled: message formatting, ``blocks`` validation, ``channel`` / ``username`` overrides
(app webhooks ignore them).  Texts marked ``# unrecorded`` are written by analogy.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx

from sheetsync_fakes.wire import Fault, FaultScript

Json = Any

#: Slack's guidance: about one message per second per webhook (rate-limits page).
PER_WINDOW = 1
WINDOW_S = 1.0
#: The FaultScript operation for posting a message (the webhook's only operation).
POST = "post"
_TEXT = {"Content-Type": "text/html"}  # Slack labels its plain-text answers text/html  # unrecorded


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as the fake saw it; the hook's secret is never kept."""

    method: str
    known_hook: bool
    status: int
    body: str  #: the answer's body (``ok``, ``no_text``, ...)


def _answer(status: int, body: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, text=body, headers={**_TEXT, **(headers or {})})


class _Refused(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class FakeSlack:
    """One Slack incoming webhook, with the messages it accepted.

    Args:
        now: seconds; tests pass a ``ManualClock`` whose ``sleep`` the client under test uses.
        per_window: messages accepted within any ``window_s`` (Slack: about 1 per second).
        window_s: the rate window in seconds.
        secret: the last path segment (a random one by default).

    Attributes:
        path: the hook's path, ``/services/T…/B…/<secret>``.
        messages: every accepted payload, in order.
        request_log: every request received, in order.
    """

    def __init__(
        self,
        *,
        now: Callable[[], float] = time.time,
        per_window: int = PER_WINDOW,
        window_s: float = WINDOW_S,
        team: str = "T0FAKETEAM",
        bot: str = "B0FAKEHOOK",
        secret: str | None = None,
    ) -> None:
        self.secret = secret or secrets.token_urlsafe(18)
        self.path = f"/services/{team}/{bot}/{self.secret}"
        self.per_window, self.window_s = per_window, window_s
        self._now = now
        self._sent: deque[float] = deque()
        self._faults = FaultScript()
        self._lock = threading.RLock()
        self._archived = self._removed = False
        self.messages: list[Json] = []
        self.request_log: list[LoggedRequest] = []

    # -- the workspace side ---------------------------------------------------------------------

    def url(self, base_url: str = "https://hooks.slack.com") -> str:
        """The full webhook URL under ``base_url`` (the one to configure; it is the secret)."""
        return base_url.rstrip("/") + self.path

    @property
    def texts(self) -> list[str]:
        """The ``text`` of every accepted message, in order."""
        with self._lock:
            return [str(message.get("text", "")) for message in self.messages]

    def archive(self) -> None:
        """Archive the webhook's channel: posts are refused with 410 ``channel_is_archived``."""
        with self._lock:
            self._archived = True

    def remove(self) -> None:
        """Remove the webhook (an admin revoked it): posts get 404 ``no_service``."""
        with self._lock:
            self._removed = True

    def fail_next(
        self,
        *,
        status: int = 500,
        response: httpx.Response | None = None,
        exception: Exception | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` posts fail: ``status`` with Slack's body for it, or as given.

        A 500 answers ``rollup_error``, a 429 ``rate_limited`` with ``Retry-After: 1``.
        """
        with self._lock:
            self._faults.add(POST, status, response=response, exception=exception, times=times)

    # -- the wire -------------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one request to the webhook host."""
        with self._lock:
            known = request.url.path == self.path and not self._removed
            try:
                answer = self._handle(request, known)
            except _Refused as refused:
                answer = refused.response
            except httpx.TransportError:
                self.request_log.append(LoggedRequest(request.method, known, 0, ""))
                raise
            self.request_log.append(
                LoggedRequest(request.method, known, answer.status_code, answer.content.decode())
            )
            return answer

    def _handle(self, request: httpx.Request, known: bool) -> httpx.Response:
        if not known:
            raise _Refused(_answer(404, "no_service"))
        if request.method != "POST":
            raise _Refused(_answer(405, "invalid_method"))  # unrecorded
        fault = self._faults.next(POST)
        if fault is not None:
            return self._fire(fault)
        if self._archived:
            raise _Refused(_answer(410, "channel_is_archived"))
        payload = _payload(request)
        now = self._now()
        while self._sent and self._sent[0] <= now - self.window_s:
            self._sent.popleft()
        if len(self._sent) >= self.per_window:
            wait = max(1, math.ceil(self._sent[0] + self.window_s - now))
            raise _Refused(_answer(429, "rate_limited", {"Retry-After": str(wait)}))
        self._sent.append(now)
        self.messages.append(payload)
        return _answer(200, "ok")

    @staticmethod
    def _fire(fault: Fault) -> httpx.Response:
        def body(status: int) -> httpx.Response:
            if status == 429:
                return _answer(429, "rate_limited", {"Retry-After": "1"})
            return _answer(status, "rollup_error" if status >= 500 else "invalid_payload")

        return fault.fire(body)


def _payload(request: httpx.Request) -> Json:
    """The message as Slack reads it, or the 400 it answers."""
    kind = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if kind not in ("application/json", "application/x-www-form-urlencoded"):
        raise _Refused(_answer(400, "invalid_payload"))
    try:
        if kind == "application/json":
            payload = json.loads(request.content)
        else:
            form = parse_qs(request.content.decode(), keep_blank_values=True)
            payload = json.loads(form["payload"][0])
    except (ValueError, KeyError, UnicodeDecodeError):
        raise _Refused(_answer(400, "invalid_payload")) from None
    if not isinstance(payload, dict):
        raise _Refused(_answer(400, "invalid_payload"))
    text = payload.get("text")
    if text is not None and not isinstance(text, str):
        raise _Refused(_answer(400, "invalid_payload"))
    if not (text or "").strip() and not payload.get("blocks") and not payload.get("attachments"):
        raise _Refused(_answer(400, "no_text"))
    return payload
