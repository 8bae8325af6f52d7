"""Real receivers on 127.0.0.1 for the notification tests and the benchmark: an HTTP server that takes
Apprise's `json://` posts (and mimics the WeCom API for `wechat://…?base=`), and an aiosmtpd server for
`mailto://`. They record what arrived; the tests assert on that."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session


@dataclass
class Arrival:
    path: str
    body: dict
    at: float  # time.time() on arrival


@dataclass
class HttpReceiver:
    """Takes JSON posts. `fail_next(n)` answers the next n posts with 503; `down=True` answers every post so."""

    port: int = 0
    arrivals: list[Arrival] = field(default_factory=list)
    refused: int = 0
    down: bool = False
    _failures_left: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}"

    def fail_next(self, n: int) -> None:
        with self._lock:
            self._failures_left = n

    def bodies(self, path: str | None = None) -> list[dict]:
        with self._lock:
            return [a.body for a in self.arrivals if path is None or a.path == path]

    def _take(self, path: str, body: dict) -> bool:
        with self._lock:
            if self.down or self._failures_left > 0:
                self._failures_left = max(0, self._failures_left - 1)
                self.refused += 1
                return False
            self.arrivals.append(Arrival(path, body, time.time()))
            return True


def _handler(receiver: HttpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # the WeCom token endpoint
            if self.path.startswith("/cgi-bin/gettoken"):
                self._answer(200, {"errcode": 0, "errmsg": "ok", "access_token": "test-token", "expires_in": 7200})
            else:
                self._answer(404, {})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"raw": raw.decode(errors="replace")}
            if not receiver._take(self.path.split("?", 1)[0], body):
                self._answer(503, {"error": "unavailable"})
            else:
                self._answer(200, {"errcode": 0, "errmsg": "ok"})

        def _answer(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SmtpReceiver:
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)

    def url(self, to: str = "leader@example.cn") -> str:
        return f"mailto://taishan:secret@127.0.0.1:{self.port}?from=taishan@example.cn&to={to}&mode=insecure"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@contextmanager
def smtp_receiver() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(port=free_port())
    controller = Controller(receiver, hostname="127.0.0.1", port=receiver.port, auth_require_tls=False,
                            authenticator=lambda *args: AuthResult(success=True))
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def wait_for(condition: object, timeout: float = 20.0) -> None:
    """Poll `condition()` until it holds; fail with the timeout."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("等待超时")
        await asyncio.sleep(0.05)
