"""Test helpers: a clock the test moves, and an HTTP proxy on loopback that passes
requests to the real server unless told to misbehave (5xx, garbage, slowness)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

CARD_KEY = b"test-card-key-0123456789abcdef"
HOP_BY_HOP = {"connection", "transfer-encoding", "content-length", "keep-alive", "date", "server"}


class FakeClock:
    """A monotonic clock that only moves when told."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Fault:
    method: str
    path_prefix: str
    status: int = 500
    body: bytes = b'{"code": "internal_error", "message": "Something broke."}'
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    delay_s: float = 0.0
    forward_first: bool = False  # pass the request on, then answer with the fault


class FaultyProxy:
    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.faults: list[Fault] = []
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status answered)
        self._lock = threading.Lock()
        self._http = requests.Session()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()

    def fail(self, method: str, path_prefix: str, **kw: Any) -> Fault:
        fault = Fault(method, path_prefix, **kw)
        with self._lock:
            self.faults.append(fault)
        return fault

    def requests_to(self, method: str, path_prefix: str) -> list[int]:
        """Statuses answered to matching requests, in order."""
        with self._lock:
            return [s for m, p, s in self.seen if m == method and p.startswith(path_prefix)]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and path.startswith(fault.path_prefix):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        method, path = handler.command, handler.path
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        fault = self._take_fault(method, path)
        if fault is None or fault.forward_first:
            headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}
            answer = self._http.request(
                method, self.target + path, data=body or None, headers=headers, timeout=30
            )
            status, data = answer.status_code, answer.content
            out_headers = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        if fault is not None:
            status, data, out_headers = fault.status, fault.body, dict(fault.headers)
        with self._lock:  # noted on arrival: a client may give up before a slow answer
            self.seen.append((method, path, status))
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
        try:
            handler.send_response(status)
            for key, value in out_headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up (a timeout test)
