"""A local stand-in of the Slack Web API (`/api/<method>`): auth.test, users.info,
chat.postMessage, chat.update, chat.getPermalink, reactions.add, conversations.replies and
chat.delete as slack-sdk calls them (it remembers what was posted, per channel, to list and delete).
`SLACK_API_URL=http://127.0.0.1:PORT/api/`."""
from __future__ import annotations

import itertools
import time

from cli.standins.base import Call, Reply, StandIn

BOT_USER = "U0BOTUSER1"


class SlackStandIn(StandIn):
    def __init__(self, port: int = 0):
        super().__init__(port)
        self.users: dict[str, dict] = {}
        self._ts = itertools.count(1)
        self.messages: dict[tuple[str, str], dict] = {}   # (channel, ts) -> what was posted there

    def add_user(self, user_id: str, real_name: str, first_name: str = "", locale: str = "en-US",
                 tz: str = ""):
        self.users[user_id] = {"id": user_id, "name": real_name.lower().replace(" ", "."),
                               "real_name": real_name, "locale": locale,
                               "profile": {"real_name": real_name, "first_name": first_name,
                                           "display_name": first_name}}
        if tz:   # users.info's IANA zone of the user, as Slack's clients set it
            self.users[user_id]["tz"] = tz

    def reset(self) -> None:
        super().reset()
        self.messages.clear()

    def rate_limit_next(self, retry_after: int = 1, times: int = 1, method: str = "chat.postMessage"):
        self.fail_next(Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}),
                       times, method)

    def identify(self, http_method, path, headers):
        if not path.startswith("/api/"):
            return None
        token = (headers.get("Authorization") or "").removeprefix("Bearer ")
        return path[len("/api/"):], token

    def answer(self, call: Call) -> Reply:
        if not call.token.startswith("xoxb-"):
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        if call.method == "auth.test":
            return Reply(200, {"ok": True, "user_id": BOT_USER, "bot_id": "B0BOT", "team_id": "T0TEAM"})
        if call.method == "users.info":
            user = self.users.get(call.params.get("user", ""))
            return Reply(200, {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"})
        if call.method == "chat.postMessage":
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            self.messages[(call.params.get("channel", ""), ts)] = {
                "ts": ts, "text": call.params.get("text"), "bot_id": "B0BOT",
                "thread_ts": call.params.get("thread_ts") or ts}
            return Reply(200, {"ok": True, "channel": call.params.get("channel"), "ts": ts,
                               "message": {"text": call.params.get("text"), "ts": ts, "bot_id": "B0BOT"}})
        if call.method == "chat.update":
            return Reply(200, {"ok": True, "channel": call.params.get("channel"), "ts": call.params.get("ts"),
                               "text": call.params.get("text")})
        if call.method == "reactions.add":
            return Reply(200, {"ok": True})
        if call.method == "chat.getPermalink":
            channel, ts = call.params.get("channel", ""), call.params.get("message_ts", "")
            return Reply(200, {"ok": True, "channel": channel,
                               "permalink": f"https://acme.slack.com/archives/{channel}/p{ts.replace('.', '')}"})
        if call.method == "conversations.replies":
            channel, ts = call.params.get("channel", ""), call.params.get("ts", "")
            thread = sorted((m for (c, _), m in self.messages.items() if c == channel and m["thread_ts"] == ts),
                            key=lambda m: m["ts"])
            return Reply(200, {"ok": True, "messages": thread, "has_more": False})
        if call.method == "chat.delete":
            key = (call.params.get("channel", ""), call.params.get("ts", ""))
            if self.messages.pop(key, None) is None:
                return Reply(200, {"ok": False, "error": "message_not_found"})
            return Reply(200, {"ok": True, "channel": key[0], "ts": key[1]})
        return Reply(200, {"ok": False, "error": "unknown_method"})
