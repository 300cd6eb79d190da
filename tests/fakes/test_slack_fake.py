"""FakeSlack refuses what Slack's incoming webhooks refuse, and keeps what they accept."""

from __future__ import annotations

import json

import httpx
import pytest
from sheetsync_fakes.clock import ManualClock
from sheetsync_fakes.slack import FakeSlack
from sheetsync_fakes.wire import serve


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> FakeSlack:
    return FakeSlack(now=clock, secret="s3cretHookKey0123456789")


@pytest.fixture
def client(fake: FakeSlack) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(fake))


def test_a_good_message_is_answered_ok_and_kept(fake: FakeSlack, client: httpx.Client) -> None:
    answer = client.post(fake.url(), json={"text": "Hello, world"})

    assert (answer.status_code, answer.text) == (200, "ok")
    assert fake.texts == ["Hello, world"]
    assert fake.messages == [{"text": "Hello, world"}]


def test_the_form_encoded_payload_field_is_accepted(fake: FakeSlack, client: httpx.Client) -> None:
    answer = client.post(fake.url(), data={"payload": json.dumps({"text": "legacy"})})

    assert (answer.status_code, answer.text) == (200, "ok")
    assert fake.texts == ["legacy"]


@pytest.mark.parametrize(
    "path",
    [
        "/services/T0FAKETEAM/B0FAKEHOOK/wrong",
        "/services/T0FAKETEAM/B0FAKEHOOK",
        "/services/OTHER/B0FAKEHOOK/s3cretHookKey0123456789",
        "/",
    ],
)
def test_an_unknown_path_is_no_service(fake: FakeSlack, client: httpx.Client, path: str) -> None:
    answer = client.post(f"https://hooks.slack.com{path}", json={"text": "hi"})

    assert (answer.status_code, answer.text) == (404, "no_service")
    assert fake.messages == []


def test_a_removed_hook_is_no_service(fake: FakeSlack, client: httpx.Client) -> None:
    fake.remove()

    answer = client.post(fake.url(), json={"text": "hi"})

    assert (answer.status_code, answer.text) == (404, "no_service")


def test_an_archived_channel_is_gone(fake: FakeSlack, client: httpx.Client) -> None:
    fake.archive()

    answer = client.post(fake.url(), json={"text": "hi"})

    assert (answer.status_code, answer.text) == (410, "channel_is_archived")


def test_only_post_is_accepted(fake: FakeSlack, client: httpx.Client) -> None:
    assert client.get(fake.url()).status_code == 405
    assert fake.messages == []


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'["text"]', "application/json"),
        (b'{"text": 5}', "application/json"),
        (b'{"text": "hi"}', "text/plain"),
        (b'{"text": "hi"}', ""),
        (b"text=hi", "application/x-www-form-urlencoded"),
        (b"payload=%7Bnope", "application/x-www-form-urlencoded"),
    ],
    ids=[
        "broken-json",
        "not-an-object",
        "text-not-a-string",
        "text-plain",
        "no-type",
        "no-payload",
        "bad-form",
    ],
)
def test_a_payload_slack_cannot_read_is_invalid_payload(
    fake: FakeSlack, client: httpx.Client, content: bytes, content_type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}

    answer = client.post(fake.url(), content=content, headers=headers)

    assert (answer.status_code, answer.text) == (400, "invalid_payload")
    assert fake.messages == []


@pytest.mark.parametrize("payload", [{}, {"text": ""}, {"text": "   "}, {"username": "bot"}])
def test_a_message_without_text_is_no_text(
    fake: FakeSlack, client: httpx.Client, payload: dict[str, str]
) -> None:
    answer = client.post(fake.url(), json=payload)

    assert (answer.status_code, answer.text) == (400, "no_text")
    assert fake.messages == []


def test_more_than_one_message_a_second_is_rate_limited(
    fake: FakeSlack, client: httpx.Client, clock: ManualClock
) -> None:
    assert client.post(fake.url(), json={"text": "one"}).status_code == 200

    refused = client.post(fake.url(), json={"text": "two"})
    clock.sleep(float(refused.headers["Retry-After"]))
    retried = client.post(fake.url(), json={"text": "two"})

    assert (refused.status_code, refused.text, refused.headers["Retry-After"]) == (429, "rate_limited", "1")
    assert retried.status_code == 200
    assert fake.texts == ["one", "two"]


def test_scripted_faults_come_first_and_in_order(fake: FakeSlack, client: httpx.Client) -> None:
    fake.fail_next(status=500)
    fake.fail_next(status=429)

    answers = [client.post(fake.url(), json={"text": "hi"}) for _ in range(3)]

    assert [(a.status_code, a.text) for a in answers] == [
        (500, "rollup_error"),
        (429, "rate_limited"),
        (200, "ok"),
    ]
    assert answers[1].headers["Retry-After"] == "1"
    assert fake.texts == ["hi"]


def test_a_scripted_timeout_is_raised(fake: FakeSlack, client: httpx.Client) -> None:
    fake.fail_next(exception=httpx.ReadTimeout("scripted"))

    with pytest.raises(httpx.ReadTimeout):
        client.post(fake.url(), json={"text": "hi"})
    assert fake.messages == []


def test_the_log_keeps_no_secret(fake: FakeSlack, client: httpx.Client) -> None:
    client.post(fake.url(), json={"text": "hi"})
    client.post("https://hooks.slack.com/services/x/y/z", json={"text": "hi"})

    assert [(r.known_hook, r.status, r.body) for r in fake.request_log] == [
        (True, 200, "ok"),
        (False, 404, "no_service"),
    ]
    assert fake.secret not in repr(fake.request_log)


def test_served_on_loopback(fake: FakeSlack) -> None:
    with serve(fake) as base_url, httpx.Client() as client:
        good = client.post(fake.url(base_url), json={"text": "over the wire"})
        bad = client.post(f"{base_url}/services/nope/nope/nope", json={"text": "x"})

    assert (good.status_code, good.text) == (200, "ok")
    assert (bad.status_code, bad.text) == (404, "no_service")
    assert fake.texts == ["over the wire"]
