"""Alert delivery: the Slack webhook against FakeSlack, e-mail against a real SMTP server on
127.0.0.1 (aiosmtpd), and the Alerter's logging, redaction, hourly budget and isolation."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.slack import FakeSlack
from sheetsync_fakes.wire import serve

from sheetsync.alerts import Alerter, SlackWebhook, SmtpMail, subject
from sheetsync.core.incidents import Alert
from sheetsync.errors import PermanentError, SyncError, TransientError

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
HOOK_SECRET = "xoxHookSecretValue0123456789"


def alert(text: str, key: str = "lag:google", recovered: bool = False) -> Alert:
    return Alert(key, text, AT, recovered)


# -- SlackWebhook -------------------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> FakeSlack:
    return FakeSlack(now=clock, secret=HOOK_SECRET)


@pytest.fixture
def webhook(fake: FakeSlack, clock: ManualClock) -> SlackWebhook:
    client = httpx.Client(transport=httpx.MockTransport(fake))
    return SlackWebhook(fake.url(), client=client, sleep=clock.sleep)


def test_webhook_posts_the_text(webhook: SlackWebhook, fake: FakeSlack, clock: ManualClock) -> None:
    webhook.send("[sheetsync] ALERT google is 12 min behind")

    assert fake.messages == [{"text": "[sheetsync] ALERT google is 12 min behind"}]
    assert clock.slept == []


def test_webhook_describes_itself_without_the_secret(webhook: SlackWebhook) -> None:
    assert webhook.describe == "Slack webhook on hooks.slack.com"
    assert HOOK_SECRET not in webhook.describe


def test_webhook_waits_out_a_429_for_its_retry_after(
    webhook: SlackWebhook, fake: FakeSlack, clock: ManualClock
) -> None:
    fake.fail_next(status=429)

    webhook.send("hello")

    assert clock.slept == [1.0]
    assert fake.texts == ["hello"]


def test_webhook_keeps_to_slacks_one_message_a_second(
    webhook: SlackWebhook, fake: FakeSlack, clock: ManualClock
) -> None:
    webhook.send("first")
    webhook.send("second")  # the fake's own rate limit answers 429, Retry-After: 1

    assert fake.texts == ["first", "second"]
    assert clock.slept == [1.0]
    assert [r.status for r in fake.request_log] == [200, 429, 200]


def test_webhook_retries_a_500(webhook: SlackWebhook, fake: FakeSlack, clock: ManualClock) -> None:
    fake.fail_next(status=500)

    webhook.send("hello")

    assert [r.status for r in fake.request_log] == [500, 200]
    assert len(clock.slept) == 1
    assert fake.texts == ["hello"]


def test_webhook_retries_a_timeout(webhook: SlackWebhook, fake: FakeSlack) -> None:
    fake.fail_next(exception=httpx.ReadTimeout("scripted"))

    webhook.send("hello")

    assert fake.texts == ["hello"]


def test_webhook_gives_up_after_its_attempts(webhook: SlackWebhook, fake: FakeSlack) -> None:
    fake.fail_next(status=500, times=10)

    with pytest.raises(TransientError, match="500 rollup_error") as raised:
        webhook.send("hello")

    assert len(fake.request_log) == 3
    assert HOOK_SECRET not in str(raised.value)


def test_webhook_404_names_slacks_reason_but_not_the_url(
    webhook: SlackWebhook, fake: FakeSlack, clock: ManualClock
) -> None:
    fake.remove()

    with pytest.raises(PermanentError) as raised:
        webhook.send("hello")

    message = str(raised.value)
    assert "no_service" in message
    assert HOOK_SECRET not in message
    assert "/services/" not in message
    assert len(fake.request_log) == 1  # a refusal is not retried
    assert clock.slept == []


def test_webhook_archived_channel_says_what_to_do(webhook: SlackWebhook, fake: FakeSlack) -> None:
    fake.archive()

    with pytest.raises(PermanentError, match=r"410 channel_is_archived; .*unarchive"):
        webhook.send("hello")


def test_webhook_over_loopback(fake: FakeSlack, clock: ManualClock) -> None:
    with serve(fake) as base_url, httpx.Client() as client:
        SlackWebhook(fake.url(base_url), client=client, sleep=clock.sleep).send("over the wire")

    assert fake.texts == ["over the wire"]


def test_webhook_unreachable_names_no_url(clock: ManualClock) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    hook = SlackWebhook(
        f"https://hooks.slack.com/services/T1/B2/{HOOK_SECRET}", client=client, sleep=clock.sleep
    )

    with pytest.raises(TransientError, match="unreachable") as raised:
        hook.send("hello")

    assert HOOK_SECRET not in str(raised.value)


# -- SmtpMail against aiosmtpd on loopback --------------------------------------------------------


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every envelope."""

    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def check_login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"alerts",
        b"right-password",
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=check_login, auth_require_tls=False
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_mail_delivers_sender_recipients_subject_and_body(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    mail = SmtpMail(
        "127.0.0.1",
        port,
        "sheetsync@shop.example",
        ["ops@shop.example", "owner@shop.example"],
        starttls=False,
    )
    text = "[sheetsync] ALERT google is 12 min behind\nlast success 09:18"

    mail.send(text)

    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "sheetsync@shop.example"
    assert envelope.rcpt_tos == ["ops@shop.example", "owner@shop.example"]
    assert isinstance(envelope.content, bytes)
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Subject"] == "sheetsync: [sheetsync] ALERT google is 12 min behind"
    assert message["From"] == "sheetsync@shop.example"
    assert message["To"] == "ops@shop.example, owner@shop.example"
    assert message.get_content().replace("\r\n", "\n").strip() == text
    assert mail.describe == f"e-mail via 127.0.0.1:{port} to 2 recipients"


def plain_login(port: int, password: str) -> SmtpMail:
    """A sink that logs in as ``alerts`` without STARTTLS (the test server has no certificate)."""
    return SmtpMail(
        "127.0.0.1",
        port,
        "a@shop.example",
        ["b@shop.example"],
        username="alerts",
        password=password,
        starttls=False,
    )


def test_mail_logs_in_when_given_a_user(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    mail = plain_login(port, "right-password")

    mail.send("hello")

    assert len(inbox.envelopes) == 1


def test_mail_wrong_password_is_permanent_and_secret_free(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    mail = plain_login(port, "wrong-password")

    with pytest.raises(PermanentError, match="535") as raised:
        mail.send("hello")

    assert "wrong-password" not in str(raised.value)
    assert inbox.envelopes == []


def test_mail_refuses_to_go_on_without_starttls(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    mail = SmtpMail("127.0.0.1", port, "a@shop.example", ["b@shop.example"], password="pw", username="u")

    with pytest.raises(PermanentError, match="STARTTLS"):
        mail.send("hello")

    assert inbox.envelopes == []


def test_mail_unreachable_names_host_and_port_only() -> None:
    with socket.socket() as taken:  # bound but not listening: connections are refused
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        mail = SmtpMail("127.0.0.1", port, "a@shop.example", ["b@shop.example"], password="pw-123", timeout=2)

        with pytest.raises(SyncError, match=f"127.0.0.1:{port}") as raised:
            mail.send("hello")

    assert isinstance(raised.value, TransientError)
    assert "pw-123" not in str(raised.value)


def test_subject_is_the_first_line_cut_short() -> None:
    assert subject("one\ntwo") == "sheetsync: one"
    long = subject("x" * 200)
    assert len(long) == len("sheetsync: ") + 90
    assert long.endswith("…")


# -- Alerter ------------------------------------------------------------------------------------


@dataclass
class Recorder:
    """A sink that keeps what it was sent."""

    describe: str = "recorder"
    sent: list[str] = field(default_factory=list)

    def send(self, text: str) -> None:
        self.sent.append(text)


@dataclass
class Broken:
    """A sink that always fails, quoting a secret in its error as careless libraries do."""

    secret: str
    describe: str = "broken sink"

    def send(self, text: str) -> None:
        raise RuntimeError(f"connection to https://user:{self.secret}@mail.example failed")


def test_alerter_logs_the_line_even_without_sinks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="sheetsync.alerts")

    Alerter([]).send([alert("google is 12 min behind"), alert("google is back", recovered=True)])

    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("sheetsync.alerts", logging.WARNING, "[sheetsync] ALERT google is 12 min behind"),
        ("sheetsync.alerts", logging.WARNING, "[sheetsync] RECOVERED google is back"),
    ]


def test_alerter_sends_the_line_to_every_sink() -> None:
    first, second = Recorder(), Recorder()

    Alerter([first, second]).send([alert("google is 12 min behind")])

    assert first.sent == second.sent == ["[sheetsync] ALERT google is 12 min behind"]


def test_alerter_redacts_secrets_in_log_and_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sheetsync.alerts")
    sink = Recorder()

    Alerter([sink], secrets=["shpat_abc123", ""]).send([alert("shopify refused token shpat_abc123")])

    assert sink.sent == ["[sheetsync] ALERT shopify refused token [redacted]"]
    assert "shpat_abc123" not in caplog.text
    assert "[redacted]" in caplog.text


def test_alerter_rate_limit_suppresses_then_counts(clock: ManualClock) -> None:
    sink = Recorder()
    alerter = Alerter([sink], max_per_hour=3, clock=clock)

    alerter.send([alert(f"alert {n}") for n in range(5)])
    clock.sleep(1800)
    alerter.send([alert("still inside the hour")])
    clock.sleep(1801)  # the first three are now more than an hour old
    alerter.send([alert("after the window")])

    assert sink.sent == [
        "[sheetsync] ALERT alert 0",
        "[sheetsync] ALERT alert 1",
        "[sheetsync] ALERT alert 2",
        "[sheetsync] ALERT after the window (3 alerts suppressed by the rate limit)",
    ]
    alerter.send([alert("next")])
    assert sink.sent[-1] == "[sheetsync] ALERT next"


def test_alerter_limits_each_sink_on_its_own(clock: ManualClock) -> None:
    fine, broken = Recorder(), Broken("pw")
    alerter = Alerter([broken, fine], max_per_hour=1, clock=clock)

    alerter.send([alert("one"), alert("two")])

    assert fine.sent == ["[sheetsync] ALERT one"]


def test_a_failing_sink_neither_raises_nor_stops_the_others(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="sheetsync.alerts")
    good = Recorder()

    Alerter([Broken("hunter2"), good], secrets=["hunter2"]).send([alert("google is 12 min behind")])

    assert good.sent == ["[sheetsync] ALERT google is 12 min behind"]
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "broken sink" in error.getMessage()
    assert "RuntimeError" in error.getMessage()
    assert "hunter2" not in caplog.text


def test_alerter_with_a_removed_slack_hook_logs_why_and_no_url(
    fake: FakeSlack, webhook: SlackWebhook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake.remove()
    mail = Recorder("e-mail")

    Alerter([webhook, mail], secrets=[fake.url()]).send([alert("google is 12 min behind")])

    assert mail.sent == ["[sheetsync] ALERT google is 12 min behind"]
    assert "Slack webhook on hooks.slack.com refused the alert: 404 no_service" in caplog.text
    assert HOOK_SECRET not in caplog.text


def test_alerter_delivers_through_slack(fake: FakeSlack, webhook: SlackWebhook, clock: ManualClock) -> None:
    Alerter([webhook], clock=clock).send([alert("one"), alert("two")])

    assert fake.texts == ["[sheetsync] ALERT one", "[sheetsync] ALERT two"]
    assert clock.slept == [1.0]  # Slack's one message a second, waited out on the fake's clock
