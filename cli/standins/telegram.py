"""A local stand-in of the Telegram Bot API (`/bot<token>/<method>`), for tests and for trying
`firstreply dev` with a token: `TELEGRAM_API_URL=http://127.0.0.1:PORT`."""
from __future__ import annotations

import itertools
import json
import time

from cli.standins.base import Call, Reply, StandIn


class TelegramStandIn(StandIn):
    def __init__(self, port: int = 0):
        super().__init__(port)
        self._ids = itertools.count(1000)
        self.webhook: dict = {}        # what setWebhook was last given
        self.rate: tuple[int, object] | None = None   # (sends a second, the clock that counts them)
        self.windows: dict[int, int] = {}
        self.throttled = 0             # sends answered 429 by `limit_rate`

    def limit_rate(self, per_second: int, clock=time.time) -> None:
        """Answer sends above `per_second` in a second of `clock` with 429 and retry_after 1, as
        Telegram does above ~30 messages a second a bot."""
        with self._lock:
            self.rate, self.windows, self.throttled = (per_second, clock), {}, 0

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.rate, self.windows, self.throttled = None, {}, 0

    def fail_next(self, status: int = 500, times: int = 1, description: str = "Internal Server Error"):
        super().fail_next(Reply(status, {"ok": False, "error_code": status, "description": description}), times)

    def rate_limit_next(self, retry_after: int = 1, times: int = 1):
        super().fail_next(Reply(429, {"ok": False, "error_code": 429,
                                      "description": f"Too Many Requests: retry after {retry_after}",
                                      "parameters": {"retry_after": retry_after}}), times)

    def sent(self, method: str = "sendMessage") -> list[Call]:
        return super().sent(method)

    def wait_for(self, count: int, method: str = "sendMessage", timeout: float = 10.0) -> list[Call]:
        return super().wait_for(count, method, timeout)

    def identify(self, http_method, path, headers):
        parts = path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith("bot") or ":" not in parts[0]:
            return None
        return parts[1], parts[0][3:]

    def answer(self, call: Call) -> Reply:
        if call.method == "getMe":
            # the bot's id is its token's numeric prefix, as on Telegram
            bot_id = int(call.token.split(":")[0]) if call.token.split(":")[0].isdigit() else 7000000001
            result = {"id": bot_id, "is_bot": True, "first_name": "Support", "username": "support_bot"}
        elif call.method == "sendMessage" and self.rate and self._over_rate():
            return Reply(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                               "parameters": {"retry_after": 1}})
        elif call.method in ("sendMessage", "editMessageText"):
            chat_id = call.params.get("chat_id", 0)
            result = {"message_id": next(self._ids), "date": int(time.time()),
                      "chat": {"id": int(chat_id) if str(chat_id).lstrip("-").isdigit() else chat_id,
                               "type": "private"},
                      "text": call.params.get("text", "")}
        elif call.method == "setWebhook":
            self.webhook = dict(call.params)
            result = True
        elif call.method == "getWebhookInfo":
            allowed = self.webhook.get("allowed_updates")
            result = {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0,
                      **({"allowed_updates": json.loads(allowed) if isinstance(allowed, str) else allowed}
                         if allowed else {})}
        else:
            result = True
        return Reply(200, {"ok": True, "result": result})

    def _over_rate(self) -> bool:
        per_second, clock = self.rate
        second = int(clock())
        with self._lock:
            self.windows[second] = self.windows.get(second, 0) + 1
            over = self.windows[second] > per_second
            self.throttled += over
        return over
