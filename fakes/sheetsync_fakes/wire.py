"""The one seam every fake plugs into: a handler ``httpx.Request -> httpx.Response``.

One handler serves every client and both modes:

- httpx clients: ``httpx.Client(transport=httpx.MockTransport(fake))`` needs nothing from here;
- requests clients (gspread, google-auth's token refresh, pyairtable):
  ``session.mount("https://sheets.googleapis.com/", HandlerAdapter(fake))``;
- other processes (the demo, benchmarks, crash tests): ``with serve(fake) as base_url: ...`` and,
  for clients whose host is fixed (gspread), ``session.mount(host, RewriteAdapter(base_url))``.

A handler simulates a network failure by raising an ``httpx.TransportError`` (for instance
``httpx.ReadTimeout``): ``HandlerAdapter`` turns it into the matching ``requests`` exception,
``serve`` drops the connection without answering.
"""

from __future__ import annotations

import http
import io
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, urlunsplit

import httpx
import requests
import requests.adapters
import requests.exceptions
import uvicorn
from requests.utils import get_encoding_from_headers
from starlette.types import ASGIApp
from urllib3 import HTTPResponse

logger = logging.getLogger(__name__)

#: A fake: any callable from an httpx request to an httpx response.
Handler = Callable[[httpx.Request], httpx.Response]

#: Headers a relay must not copy: they describe one hop, and we re-frame the body ourselves.
_HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})

_POLL_INTERVAL_S = 0.02

_Timeout = float | tuple[float, float] | tuple[float, None] | None
_Cert = bytes | str | tuple[bytes | str, bytes | str] | None


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


class HandlerAdapter(requests.adapters.BaseAdapter):
    """A ``requests`` transport adapter that answers from a handler instead of the network."""

    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self.handler = handler

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: _Timeout = None,
        verify: bool | str = True,
        cert: _Cert = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Convert ``request``, call the handler and convert its answer back.

        Raises:
            requests.exceptions.ConnectTimeout: the handler raised ``httpx.ConnectTimeout``.
            requests.exceptions.ReadTimeout: the handler raised another ``httpx.TimeoutException``.
            requests.exceptions.ConnectionError: the handler raised another transport error.
        """
        body = request.body
        content = body.encode() if isinstance(body, str) else body
        outgoing = httpx.Request(
            request.method or "GET",
            request.url or "",
            headers=dict(request.headers),
            content=content or b"",
        )
        try:
            answer = self.handler(outgoing)
        except httpx.ConnectTimeout as exc:
            raise requests.exceptions.ConnectTimeout(str(exc), request=request) from exc
        except httpx.TimeoutException as exc:
            raise requests.exceptions.ReadTimeout(str(exc), request=request) from exc
        except httpx.TransportError as exc:
            raise requests.exceptions.ConnectionError(str(exc), request=request) from exc
        return _to_requests_response(answer, request)

    def close(self) -> None:
        """Nothing to release: there is no connection pool."""


def _to_requests_response(answer: httpx.Response, request: requests.PreparedRequest) -> requests.Response:
    content = answer.read()
    headers = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS}
    headers["Content-Length"] = str(len(content))
    reason = answer.reason_phrase or _reason(answer.status_code)
    response = requests.Response()
    response.status_code = answer.status_code
    response.reason = reason
    response.headers = requests.structures.CaseInsensitiveDict(headers)
    response.encoding = get_encoding_from_headers(response.headers)
    # A urllib3 response as ``raw`` keeps requests' own reading path (stream=True, iter_content).
    response.raw = HTTPResponse(
        body=io.BytesIO(content),
        headers=headers,
        status=answer.status_code,
        reason=reason,
        preload_content=False,
    )
    response.url = request.url or ""
    response.request = request
    return response


class RewriteAdapter(requests.adapters.HTTPAdapter):
    """An ``HTTPAdapter`` that sends every request to ``base_url`` instead of its own host.

    Mount it on a fixed host (``https://sheets.googleapis.com/``) to reach a fake served by
    :func:`serve`; the path and query string travel unchanged, after ``base_url``'s own path.
    """

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base = urlsplit(base_url.rstrip("/"))

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: _Timeout = None,
        verify: bool | str = True,
        cert: _Cert = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send a copy of ``request`` addressed to ``base_url``."""
        original = urlsplit(request.url or "")
        rewritten = request.copy()
        rewritten.url = urlunsplit(
            (
                self.base.scheme,
                self.base.netloc,
                self.base.path + original.path,
                original.query,
                original.fragment,
            )
        )
        return super().send(rewritten, stream, timeout, verify, cert, proxies)


@contextmanager
def serve(handler: Handler) -> Iterator[str]:
    """Serve ``handler`` over HTTP/1.1 on 127.0.0.1, on a free port, in a daemon thread.

    Yields the base URL (``http://127.0.0.1:<port>``). The server is shut down and its socket
    closed when the block exits. Request bodies are read by Content-Length (no chunked uploads).
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(handler))
    server.daemon_threads = True
    # A short poll keeps shutdown() quick: it waits for the serving loop's next look.
    thread = threading.Thread(
        target=server.serve_forever, args=(_POLL_INTERVAL_S,), name="sheetsync-fake", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def serve_app(app: ASGIApp, limit_concurrency: int | None = None) -> Iterator[str]:
    """Serve an ASGI app (the web dashboard) with uvicorn on 127.0.0.1, as `sheetsync serve` does.

    Yields the base URL; the server stops when the block exits. ``limit_concurrency`` is
    uvicorn's: past that many connections, it answers 503 itself.
    """
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", limit_concurrency=limit_concurrency
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="sheetsync-web")  # off the main thread: no signals
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            threading.Event().wait(0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def _handler_class(handler: Handler) -> type[BaseHTTPRequestHandler]:
    class _Relay(BaseHTTPRequestHandler):
        # Keep-alive, like the real services; every answer carries a Content-Length.
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the body waits for the
        # client's delayed ACK and every request costs ~40 ms.
        disable_nagle_algorithm = True

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            host = self.headers.get("Host") or "127.0.0.1"
            request = httpx.Request(
                self.command,
                f"http://{host}{self.path}",
                headers=list(self.headers.items()),
                content=body,
            )
            path = urlsplit(self.path).path  # logs name the path only: queries may carry keys
            try:
                answer = handler(request)
            except httpx.TransportError:
                # The fake asked for a network failure: hang up without answering.
                logger.debug("%s %s -> hung up", self.command, path)
                self.close_connection = True
                return
            except Exception as exc:
                logger.exception("fake handler failed on %s %s", self.command, path)
                answer = httpx.Response(500, text=f"fake handler failed: {exc!r}")
            logger.debug("%s %s -> %d", self.command, path, answer.status_code)
            content = answer.read()
            self.send_response(answer.status_code, answer.reason_phrase or None)
            for key, value in answer.headers.multi_items():
                if key.lower() not in _HOP_HEADERS:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

        def log_message(self, format: str, *args: object) -> None:
            """Stay quiet: the stdlib line holds the query string, and ``_relay`` logs already."""

    return _Relay


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted failure: a canned ``response``, a raised ``exception``, else ``status``.

    With ``applied`` the request takes effect first and only its answer is lost, as when a
    connection drops late.
    """

    status: int
    response: httpx.Response | None = None
    exception: Exception | None = None
    applied: bool = False

    def fire(self, body: Callable[[int], httpx.Response]) -> httpx.Response:
        """The failure: the canned response, the exception raised, or ``body(status)``."""
        if self.response is not None:
            return self.response
        if self.exception is not None:
            raise self.exception
        return body(self.status)


class FaultScript:
    """Failures scripted per operation, taken in FIFO order; the fake's lock guards it."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}

    def add(
        self,
        operation: str,
        status: int,
        *,
        response: httpx.Response | None = None,
        exception: Exception | None = None,
        times: int = 1,
        applied: bool = False,
    ) -> None:
        """Fail the next ``times`` requests of ``operation`` (see :class:`Fault`)."""
        if response is not None and exception is not None:
            raise ValueError("give a response or an exception, not both")
        fault = Fault(status, response, exception, applied)
        self._queues.setdefault(operation, deque()).extend([fault] * times)

    def next(self, operation: str) -> Fault | None:
        """The failure scripted for this request of ``operation``, if any (it is used up)."""
        queue = self._queues.get(operation)
        return queue.popleft() if queue else None
