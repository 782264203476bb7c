"""A local stand-in of the X API v2 routes firstreply uses: sending DMs, replying with a post, and
reading mentions. `X_API_URL=http://127.0.0.1:PORT`."""
from __future__ import annotations

import itertools
import re
import time

from cli.standins.base import Call, Reply, StandIn

_DM = re.compile(r"^/2/dm_conversations/with/(\d+)/messages$")
_MENTIONS = re.compile(r"^/2/users/(\d+)/mentions$")
_SUBSCRIBE = re.compile(r"^/2/account_activity/webhooks/(\d+)/subscriptions/all$")


class XStandIn(StandIn):
    def __init__(self, port: int = 0):
        super().__init__(port)
        self.mentions: list[dict] = []     # newest last, like a timeline being written
        self.users: dict[str, dict] = {}
        self._ids = itertools.count(1900000000000000000)
        self.webhooks: list[dict] = []           # registered with POST /2/webhooks
        self.subscriptions: set[str] = set()     # webhook ids the support account subscribed to

    def reset(self) -> None:
        super().reset()
        self.webhooks.clear()
        self.subscriptions.clear()

    def add_mention(self, tweet_id: str, author_id: str, text: str, lang: str = "en", name: str = "",
                    age_seconds: int = 0):
        posted = time.gmtime(time.time() - age_seconds)
        self.mentions.append({"id": tweet_id, "author_id": author_id, "text": text, "lang": lang,
                              "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", posted),
                              "conversation_id": tweet_id, "edit_history_tweet_ids": [tweet_id]})
        self.users[author_id] = {"id": author_id, "name": name or f"User {author_id}",
                                 "username": f"user{author_id}"}

    def rate_limit_next(self, reset_in: int = 60, times: int = 1, method: str | None = None):
        self.fail_next(Reply(429, {"title": "Too Many Requests", "status": 429, "detail": "Too Many Requests"},
                             {"x-rate-limit-reset": str(int(time.time()) + reset_in)}), times, method)

    def identify(self, http_method, path, headers):
        auth = headers.get("Authorization") or ""
        if _DM.match(path):
            return ("dm", auth) if http_method == "POST" else None
        if path == "/2/tweets" and http_method == "POST":
            return "tweet", auth
        if _MENTIONS.match(path) and http_method == "GET":
            return "mentions", auth
        if path == "/2/webhooks" and http_method in ("GET", "POST"):
            return f"webhooks.{http_method.lower()}", auth
        if _SUBSCRIBE.match(path) and http_method == "POST":
            return "subscribe", auth
        return None

    def answer(self, call: Call) -> Reply:
        if call.method.startswith("webhooks."):   # app-only: the bearer token
            if not call.token.startswith("Bearer "):
                return Reply(401, {"title": "Unauthorized", "status": 401, "detail": "Unauthorized"})
            if call.method == "webhooks.get":
                return Reply(200, {"data": self.webhooks} if self.webhooks else {"meta": {"result_count": 0}})
            webhook = {"id": str(next(self._ids)), "url": call.params.get("url", ""), "valid": True,
                       "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
            self.webhooks.append(webhook)
            return Reply(200, {"data": webhook})
        if not call.token.startswith("OAuth "):
            return Reply(401, {"title": "Unauthorized", "status": 401, "detail": "Unauthorized"})
        if call.method == "dm":
            return Reply(201, {"data": {"dm_conversation_id": "1-2", "dm_event_id": str(next(self._ids))}})
        if call.method == "subscribe":
            webhook_id = _SUBSCRIBE.match(call.path).group(1)
            if not any(w["id"] == webhook_id for w in self.webhooks):
                return Reply(404, {"title": "Not Found", "status": 404, "detail": "webhook not found"})
            self.subscriptions.add(webhook_id)
            return Reply(200, {"data": {"subscribed": True}})
        if call.method == "tweet":
            return Reply(201, {"data": {"id": str(next(self._ids)), "text": call.params.get("text", ""),
                                        "edit_history_tweet_ids": []}})
        since = int(call.params.get("since_id") or 0)
        found = [t for t in reversed(self.mentions) if int(t["id"]) > since]
        if not found:
            return Reply(200, {"meta": {"result_count": 0}})
        authors = [self.users[a] for a in dict.fromkeys(t["author_id"] for t in found)]
        return Reply(200, {"data": found, "includes": {"users": authors},
                           "meta": {"result_count": len(found), "newest_id": found[0]["id"],
                                    "oldest_id": found[-1]["id"]}})
