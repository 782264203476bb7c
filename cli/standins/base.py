"""What every local stand-in of a channel API shares: an HTTP server on loopback that records each
call, answers from the subclass, and can be told to fail the next calls (status, body, headers).
`GET /_calls` lists what it received, for a person trying `firstreply dev` against it."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Call:
    method: str            # the API method or route, as the subclass names it
    params: dict[str, Any]
    token: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    path: str = ""


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class StandIn:
    host = "127.0.0.1"

    def __init__(self, port: int = 0):
        self.port = port
        self.calls: list[Call] = []
        self.connections = 0   # TCP connections accepted: a client that reuses one keeps this at 1
        self._failures: list[tuple[str | None, Reply]] = []
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    # -- what a subclass provides ------------------------------------------------------------------
    def identify(self, http_method: str, path: str, headers) -> tuple[str, str] | None:
        """(API method name, token) for a request path, or None for 404."""
        raise NotImplementedError

    def answer(self, call: Call) -> Reply:
        raise NotImplementedError

    # -- scripting ---------------------------------------------------------------------------------
    def fail_next(self, reply: Reply, times: int = 1, method: str | None = None) -> None:
        """Answer the next `times` calls (of `method`, or of any method) with `reply`."""
        with self._lock:
            self._failures += [(method, reply)] * times

    def sent(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, count: int, method: str, timeout: float = 10.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.sent(method)) < count:
            time.sleep(0.02)
        return self.sent(method)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._failures.clear()
            self.connections = 0

    # -- serving -----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            # keep-alive, as the real APIs: a client's connection reuse is visible (and counted)
            protocol_version = "HTTP/1.1"

            def setup(self):   # once per accepted connection
                super().setup()
                with stand_in._lock:
                    stand_in.connections += 1

            def log_message(self, *args):   # quiet: tests read `calls`, people read /_calls
                pass

            def do_GET(self):
                if self.path.rstrip("/") == "/_calls":
                    with stand_in._lock:
                        return self._send(Reply(200, [c.__dict__ for c in stand_in.calls]))
                return self._api("GET")

            def do_POST(self):
                return self._api("POST")

            def _api(self, http_method: str):
                url = urlsplit(self.path)
                found = stand_in.identify(http_method, url.path, self.headers)
                if found is None:
                    return self._send(Reply(404, {"error": "not found"}))
                method, token = found
                params = dict(parse_qsl(url.query))
                params.update(self._body())
                call = Call(method, params, token, {k.lower(): v for k, v in self.headers.items()}, url.path)
                with stand_in._lock:
                    stand_in.calls.append(call)
                    failure = next((f for f in stand_in._failures if f[0] in (None, method)), None)
                    if failure:
                        stand_in._failures.remove(failure)
                        failure = failure[1]
                self._send(failure or stand_in.answer(call))

            def _body(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if "json" in self.headers.get("Content-Type", ""):
                    return json.loads(raw or b"{}")
                params: dict[str, Any] = {}
                for key, value in parse_qsl(raw.decode("utf-8"), keep_blank_values=True):
                    try:   # SDKs send objects as JSON inside form fields
                        params[key] = json.loads(value) if value[:1] in "{[" else value
                    except ValueError:
                        params[key] = value
                return params

            def _send(self, reply: Reply):
                data = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
