"""A local stand-in of the Telegram Bot API, for tests and for trying `firstreply dev` with a token.

It answers the methods firstreply calls the way Telegram does (`{"ok": true, "result": …}`), records
every call, and can be told to fail: `fail_next(500, times=2)` or `rate_limit_next(retry_after=3)`.
Point the app at it with `TELEGRAM_API_URL=http://127.0.0.1:PORT`. `GET /_calls` lists what it got.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Call:
    token: str
    method: str
    params: dict[str, Any]


@dataclass
class _Failure:
    status: int
    body: dict[str, Any]


@dataclass
class TelegramStandIn:
    host: str = "127.0.0.1"
    port: int = 0
    calls: list[Call] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Any = field(default_factory=lambda: itertools.count(1000))

    # -- scripting --------------------------------------------------------------------------------
    def fail_next(self, status: int = 500, times: int = 1, description: str = "Internal Server Error"):
        with self._lock:
            self._failures += [_Failure(status, {"ok": False, "error_code": status,
                                                 "description": description})] * times

    def rate_limit_next(self, retry_after: int = 1, times: int = 1):
        with self._lock:
            self._failures += [_Failure(429, {
                "ok": False, "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after}})] * times

    def sent(self, method: str = "sendMessage") -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, count: int, method: str = "sendMessage", timeout: float = 10.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.sent(method)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        return self.sent(method)

    def reset(self):
        with self._lock:
            self.calls.clear()
            self._failures.clear()

    # -- serving ----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> "TelegramStandIn":
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):   # quiet: tests read `calls`, humans read /_calls
                pass

            def do_GET(self):
                if self.path.rstrip("/") == "/_calls":
                    with stand_in._lock:
                        body = [c.__dict__ for c in stand_in.calls]
                    return self._json(200, body)
                return self._api()

            def do_POST(self):
                return self._api()

            def _api(self):
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) != 2 or not parts[0].startswith("bot") or ":" not in parts[0]:
                    return self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                token, method = parts[0][3:], parts[1]
                params = self._params()
                with stand_in._lock:
                    stand_in.calls.append(Call(token, method, params))
                    failure = stand_in._failures.pop(0) if stand_in._failures else None
                if failure:
                    return self._json(failure.status, failure.body)
                return self._json(200, {"ok": True, "result": stand_in._result(method, params)})

            def _params(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                kind = self.headers.get("Content-Type", "")
                if "json" in kind:
                    return json.loads(raw or b"{}")
                params: dict[str, Any] = {}
                for key, value in parse_qsl(raw.decode("utf-8"), keep_blank_values=True):
                    try:   # python-telegram-bot sends objects as JSON inside form fields
                        params[key] = json.loads(value) if value[:1] in "{[" else value
                    except ValueError:
                        params[key] = value
                return params

            def _json(self, status: int, body: Any):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        now = int(time.time())
        if method == "getMe":
            return {"id": 7000000001, "is_bot": True, "first_name": "Support", "username": "support_bot"}
        if method in ("sendMessage", "editMessageText"):
            chat_id = params.get("chat_id", 0)
            return {"message_id": next(self._ids), "date": now,
                    "chat": {"id": int(chat_id) if str(chat_id).lstrip("-").isdigit() else chat_id,
                             "type": "private"},
                    "text": params.get("text", "")}
        return True
