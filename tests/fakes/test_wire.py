"""One handler, three ways in: requests through HandlerAdapter, loopback HTTP, httpx MockTransport."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
import requests
from sheetsync_fakes.wire import HandlerAdapter, RewriteAdapter, serve

HOST = "https://api.example.test"


def echo(request: httpx.Request) -> httpx.Response:
    """Describe the request back, with a status and a header the clients must keep."""
    if request.url.path == "/timeout":
        raise httpx.ReadTimeout("scripted", request=request)
    if request.url.path == "/refused":
        raise httpx.ConnectError("scripted", request=request)
    if request.url.path == "/bug":
        raise RuntimeError("a fake with a bug")
    described = {
        "method": request.method,
        "path": request.url.path,
        "raw_query": request.url.query.decode(),
        "params": request.url.params.multi_items(),
        "content_type": request.headers.get("Content-Type"),
        "custom": request.headers.get("X-Custom"),
        "body": base64.b64encode(request.content).decode(),
    }
    return httpx.Response(
        201,
        headers={"X-Echo": "yes", "Content-Type": "application/json; charset=UTF-8"},
        content=json.dumps(described, ensure_ascii=False).encode(),
    )


def check_round_trip(response: requests.Response | httpx.Response) -> None:
    assert response.status_code == 201
    assert response.headers["X-Echo"] == "yes"
    described = response.json()
    assert described["method"] == "POST"
    assert described["path"] == "/v1/items:batch"
    assert described["params"] == [["ranges", "A1:B2"], ["ranges", "'D3'!A:A"], ["q", "café"]]
    assert described["content_type"] == "application/json"
    assert described["custom"] == "kept"
    assert json.loads(base64.b64decode(described["body"])) == {"values": [["🌵", 1]]}


def post(session: requests.Session, base: str) -> requests.Response:
    return session.post(
        f"{base}/v1/items:batch",
        params=[("ranges", "A1:B2"), ("ranges", "'D3'!A:A"), ("q", "café")],
        json={"values": [["🌵", 1]]},
        headers={"X-Custom": "kept"},
    )


def test_handler_adapter_round_trip() -> None:
    session = requests.Session()
    session.mount(f"{HOST}/", HandlerAdapter(echo))
    response = post(session, HOST)
    check_round_trip(response)
    assert response.reason == "Created"
    assert response.url.startswith(f"{HOST}/v1/items:batch?ranges=")
    assert response.request.method == "POST"


def test_handler_adapter_streams_and_sends_bytes() -> None:
    session = requests.Session()
    session.mount(f"{HOST}/", HandlerAdapter(echo))
    response = session.put(f"{HOST}/raw", data=b"\x00\xffbytes", stream=True)
    described = json.loads(b"".join(response.iter_content(7)))
    assert (described["method"], base64.b64decode(described["body"])) == ("PUT", b"\x00\xffbytes")
    assert session.get(f"{HOST}/empty").json()["body"] == ""


@pytest.mark.parametrize(
    ("path", "raised"),
    [("/timeout", requests.exceptions.ReadTimeout), ("/refused", requests.exceptions.ConnectionError)],
)
def test_handler_adapter_turns_transport_errors_into_requests_errors(
    path: str, raised: type[Exception]
) -> None:
    session = requests.Session()
    session.mount(f"{HOST}/", HandlerAdapter(echo))
    with pytest.raises(raised):
        session.get(f"{HOST}{path}")


def test_mock_transport_fits_the_same_handler() -> None:
    with httpx.Client(transport=httpx.MockTransport(echo), base_url=HOST) as client:
        response = client.post(
            "/v1/items:batch",
            params=[("ranges", "A1:B2"), ("ranges", "'D3'!A:A"), ("q", "café")],
            json={"values": [["🌵", 1]]},
            headers={"X-Custom": "kept"},
        )
    check_round_trip(response)


def test_serve_over_loopback_with_requests_and_httpx() -> None:
    with serve(echo) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        with requests.Session() as session:
            check_round_trip(post(session, base_url))
            check_round_trip(post(session, base_url))  # the kept-alive connection still works
        with httpx.Client(base_url=base_url) as client:
            response = client.post(
                "/v1/items:batch",
                params=[("ranges", "A1:B2"), ("ranges", "'D3'!A:A"), ("q", "café")],
                json={"values": [["🌵", 1]]},
                headers={"X-Custom": "kept"},
            )
            check_round_trip(response)
            assert response.json()["raw_query"] == "ranges=A1%3AB2&ranges=%27D3%27%21A%3AA&q=caf%C3%A9"
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(base_url, timeout=2)  # shut down and closed on exit


def test_serve_hangs_up_on_transport_errors_and_reports_bugs() -> None:
    with serve(echo) as base_url:
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"{base_url}/timeout", timeout=5)
        response = requests.get(f"{base_url}/bug", timeout=5)
    assert response.status_code == 500
    assert "a fake with a bug" in response.text


def test_rewrite_adapter_points_a_fixed_host_at_the_served_fake() -> None:
    with serve(echo) as base_url, requests.Session() as session:
        session.mount(f"{HOST}/", RewriteAdapter(base_url))
        response = post(session, HOST)
    check_round_trip(response)
    assert response.url.startswith(f"{base_url}/v1/items:batch?")


def test_rewrite_adapter_keeps_a_base_path() -> None:
    with serve(echo) as base_url, requests.Session() as session:
        session.mount(f"{HOST}/", RewriteAdapter(f"{base_url}/prefix/"))
        assert session.get(f"{HOST}/v1/x?a=1").json()["path"] == "/prefix/v1/x"
