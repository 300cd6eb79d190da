"""Alert delivery: the one line per incident goes to the log and to each configured sink.

A sink is anything with ``describe`` and ``send(text)``: a Slack-compatible incoming webhook
(Slack, Mattermost and Rocket.Chat take the same ``{"text": ...}`` POST) or e-mail over SMTP.
:class:`Alerter` stands between the worker and the sinks: it logs every alert, takes secrets
out of the text, keeps each sink under an hourly budget and never lets a failing sink break the
sync cycle.

Errors reuse the tree in :mod:`sheetsync.errors`: a refusal that needs a human (a removed
webhook, a wrong password) is a ``PermanentError``, anything worth another try a
``TransientError``.  Neither message holds the webhook URL or a password.
"""

from __future__ import annotations

import logging
import math
import smtplib
import ssl
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import urlsplit

import httpx
from pyrate_limiter import Duration, InMemoryBucket, Rate, RateItem

from sheetsync import retry
from sheetsync.core.incidents import Alert
from sheetsync.errors import PermanentError, SyncError, TransientError

log = logging.getLogger(__name__)

REDACTED = "[redacted]"
#: Alerts per sink per hour by default: enough for a bad hour, too few to drown a channel.
MAX_PER_HOUR = 20
#: Attempts per webhook post, the first included: an alert is not worth a minute-long cycle.
WEBHOOK_ATTEMPTS = 3
#: The longest Retry-After we wait out; Slack asks for about 1 s, and the cycle must go on.
MAX_RETRY_AFTER_S = 30.0
WEBHOOK_TIMEOUT_S = 10.0
#: Subject lines longer than this are cut (mail clients show ~60-90 characters).
SUBJECT_CHARS = 90
#: At most this much of an error body goes into a message.
BODY_CHARS = 200

#: What to do about the webhook refusals Slack documents (body text → advice).
_WEBHOOK_ADVICE = {
    "invalid_payload": "the message was malformed (a sheetsync bug; please report it)",
    "no_text": "the message was empty (a sheetsync bug; please report it)",
    "action_prohibited": "a workspace admin restricts this webhook",
    "invalid_token": "the webhook URL is wrong or was revoked; create a new one",
    "no_service": "the webhook was removed or the URL is wrong; create a new one",
    "no_team": "the app was removed from the workspace; reinstall it",
    "team_disabled": "the workspace is disabled",
    "channel_not_found": "the webhook's channel no longer exists; create a new webhook",
    "channel_is_archived": "the webhook's channel is archived; unarchive it or use another channel",
}


class AlertSink(Protocol):
    """Somewhere alerts go: a chat webhook, a mailbox."""

    #: How messages name this sink; never a secret (no webhook URL, no password).
    describe: str

    def send(self, text: str) -> None:
        """Deliver ``text`` once; raise ``SyncError`` (or anything) when it did not arrive."""


class SlackWebhook:
    """A Slack-compatible incoming webhook: POST ``{"text": ...}``, answered 200 ``ok``.

    429 (honouring Retry-After, capped), 5xx and network failures are retried with the house
    policy; any other refusal raises ``PermanentError`` with the body text Slack sent
    (``no_service``, ``channel_is_archived``, ...) and what to do about it.  The URL is the
    secret: it never appears in ``describe``, a message or a log line.
    """

    def __init__(
        self,
        url: str,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
        self._client = client  # None: a client per post (alerts are rare; nothing left open)
        self._sleep = sleep
        # The host is public (hooks.slack.com, a company's Mattermost); the path is the key.
        host = urlsplit(url).hostname or "unknown host"
        self.describe = f"Slack webhook on {host}"
        parts = urlsplit(url).path.split("/")
        self._secret_parts = [part for part in parts if len(part) >= 8 and part != "services"]
        _HTTPX_LOG.hide(url, f"{urlsplit(url).scheme}://{host}/{REDACTED}")

    def send(self, text: str) -> None:
        """Post ``text`` to the channel, retrying what is worth retrying.

        Raises:
            TransientError: still rate-limited, failing or unreachable after the retries.
            PermanentError: the webhook refused the message (removed, archived, restricted).
        """
        retry.call(lambda: self._post(text), self._sleep, WEBHOOK_ATTEMPTS)

    def _post(self, text: str) -> None:
        try:
            if self._client is not None:
                response = self._client.post(self._url, json={"text": text})
            else:
                with httpx.Client(timeout=WEBHOOK_TIMEOUT_S) as client:
                    response = client.post(self._url, json={"text": text})
        except httpx.TransportError as error:
            # httpx's message may quote the URL; the class name says enough.
            raise TransientError(f"{self.describe} unreachable ({type(error).__name__})") from None
        if response.is_success:
            return
        body = self._scrub(response.text.strip()[:BODY_CHARS]) or "(no body)"
        status = response.status_code
        if status == 429:
            raise TransientError(f"{self.describe} rate limit (429 {body})", _retry_after(response))
        if status >= 500:
            raise TransientError(f"{self.describe} answered {status} {body}", _retry_after(response))
        advice = _WEBHOOK_ADVICE.get(body)
        raise PermanentError(
            f"{self.describe} refused the alert: {status} {body}" + (f"; {advice}" if advice else "")
        )

    def _scrub(self, text: str) -> str:
        """``text`` without any part of the URL's path (a relay might echo the request)."""
        for part in self._secret_parts:
            text = text.replace(part, REDACTED)
        return text


class _HideUrls(logging.Filter):
    """Rewrites webhook URLs in httpx's own log lines.

    httpx logs every request's full URL at INFO on the ``httpx`` logger, and a webhook's URL is
    its key: with the CLI's logging at INFO the key would land in the log.
    """

    def __init__(self) -> None:
        super().__init__()
        self._shown: dict[str, str] = {}  #: URL as httpx prints it → what the log shows instead

    def hide(self, url: str, shown: str) -> None:
        """Show ``shown`` wherever httpx would log ``url``; install the filter on first use."""
        self._shown[str(httpx.URL(url))] = shown
        logger = logging.getLogger("httpx")
        if self not in logger.filters:
            logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record, with every known webhook URL in its arguments replaced."""
        if isinstance(record.args, tuple) and self._shown:
            record.args = tuple(self._scrub(arg) for arg in record.args)
        return True

    def _scrub(self, arg: object) -> object:
        if not isinstance(arg, str | httpx.URL):
            return arg
        text = str(arg)
        for url, shown in self._shown.items():
            text = text.replace(url, shown)
        return text


_HTTPX_LOG = _HideUrls()


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (Slack sends whole seconds), capped; None when absent or a date."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class SmtpMail:
    """E-mail over SMTP (stdlib ``smtplib``): STARTTLS by default, then login if a user is given.

    The subject is ``sheetsync: `` and the text's first line, cut to ~90 characters; the body is
    the whole text.  With ``starttls`` a server that does not offer it is an error rather than a
    login in clear text.  For implicit TLS (port 465) put a local relay in front.
    """

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: float = 10.0,
    ) -> None:
        if not recipients:
            raise ValueError("SmtpMail needs at least one recipient")
        self.host, self.port, self.sender = host, port, sender
        self.recipients = tuple(recipients)
        self._username, self._password = username, password
        self._starttls, self._timeout = starttls, timeout
        count = len(self.recipients)
        self.describe = f"e-mail via {host}:{port} to {count} recipient{'s' if count != 1 else ''}"

    def send(self, text: str) -> None:
        """Send one message to every recipient.

        Raises:
            TransientError: the server is unreachable, timed out or answered 4xx.
            PermanentError: the server refused the login, the sender or the recipients (5xx),
                or offers no STARTTLS when it is required.
        """
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = subject(text)
        message.set_content(text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._username is not None:
                    smtp.login(self._username, self._password or "")
                smtp.send_message(message, self.sender, list(self.recipients))
        except smtplib.SMTPNotSupportedError:
            raise PermanentError(
                f"{self.describe}: the server does not offer STARTTLS; not sending in clear text "
                "(set starttls = false only for a relay on the same host)"
            ) from None
        except smtplib.SMTPResponseException as error:
            raise _smtp_error(self.describe, error.smtp_code, _decoded(error.smtp_error)) from None
        except smtplib.SMTPRecipientsRefused as error:
            codes = sorted({str(code) for code, _ in error.recipients.values()})
            raise PermanentError(
                f"{self.describe}: every recipient was refused ({', '.join(codes)})"
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            # OSError covers refused connections, DNS failures and timeouts (socket.timeout).
            raise TransientError(f"{self.describe}: {type(error).__name__}: {error}") from None


def subject(text: str) -> str:
    """``sheetsync: `` plus the first line of ``text``, cut to SUBJECT_CHARS with an ellipsis."""
    first = text.strip().splitlines()[0].strip() if text.strip() else "alert"
    if len(first) > SUBJECT_CHARS:
        first = first[: SUBJECT_CHARS - 1].rstrip() + "…"
    return f"sheetsync: {first}"


def _decoded(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _smtp_error(describe: str, code: int, text: str) -> SyncError:
    """An SMTP reply as our error: 4xx is worth another try later, 5xx needs a human."""
    message = f"{describe}: the server answered {code} {text[:BODY_CHARS]}"
    return TransientError(message) if 400 <= code < 500 else PermanentError(message)


@dataclass(slots=True)
class _Budget:
    """One sink's hourly allowance and the alerts it held back since the last one sent."""

    bucket: InMemoryBucket
    suppressed: int = 0


class Alerter:
    """Logs each alert's line and sends it to every sink, within each sink's hourly budget.

    - Every alert is logged at WARNING on ``sheetsync.alerts`` (the alert line), sinks or not.
    - Each value in ``secrets`` is replaced by ``[redacted]`` in what is logged and sent.
    - A sink gets at most ``max_per_hour`` alerts in any hour (a sliding window, on ``clock``);
      the ones held back are counted and the next one that goes out says how many.
    - A failing sink is logged at ERROR with its description and the (redacted) error; the
      other sinks still get the alert, and nothing is raised: alerting never breaks a cycle.
    """

    def __init__(
        self,
        sinks: Sequence[AlertSink],
        *,
        secrets: Collection[str] = (),
        max_per_hour: int = MAX_PER_HOUR,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if max_per_hour < 1:
            raise ValueError("max_per_hour must be at least 1")
        self.sinks = tuple(sinks)
        # Longest first, so a secret that contains another is hidden whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._clock = clock or time.monotonic
        self.max_per_hour = max_per_hour
        self._budgets = [_Budget(InMemoryBucket([Rate(max_per_hour, Duration.HOUR)])) for _ in self.sinks]

    def send(self, alerts: Sequence[Alert]) -> None:
        """Log and deliver ``alerts`` in order; never raises because of a sink."""
        for alert in alerts:
            line = self.redact(alert.line())
            log.warning("%s", line)
            for sink, budget in zip(self.sinks, self._budgets, strict=True):
                self._deliver(sink, budget, line)

    def redact(self, text: str) -> str:
        """``text`` with every secret value replaced by ``[redacted]``."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def _deliver(self, sink: AlertSink, budget: _Budget, line: str) -> None:
        now_ms = round(self._clock() * 1000)
        budget.bucket.leak(now_ms)  # drop what left the window, so the log stays an hour long
        if not budget.bucket.put(RateItem("alert", now_ms)):
            budget.suppressed += 1
            log.info("alert not sent to %s: over its %d alerts an hour", sink.describe, self.max_per_hour)
            return
        text = line
        if budget.suppressed:
            text += f" ({budget.suppressed} alerts suppressed by the rate limit)"
        failure = _attempt(sink, text)
        if failure is None:
            budget.suppressed = 0
            return
        log.error(
            "alert not delivered to %s: %s",
            sink.describe,
            self.redact(f"{type(failure).__name__}: {failure}"),
        )


def _attempt(sink: AlertSink, text: str) -> Exception | None:
    """Send, and hand back the failure rather than raise it: one sink must not stop the rest."""
    try:
        sink.send(text)
    except Exception as error:  # any sink, any bug: the sync cycle goes on regardless
        return error
    return None
