"""A local stand-in of the Graph API routes firstreply uses, for WhatsApp (Cloud API), Messenger
and Instagram (Send API, user profiles) and webhook subscriptions: `META_API_URL=http://127.0.0.1:PORT`.

Tokens are checked the way Meta does (a bearer header or an `access_token` parameter; a wrong one is
error 190), so a sender that lost its token fails here as it would there.
"""
from __future__ import annotations

import itertools
import re

from cli.standins.base import Call, Reply, StandIn

_VERSIONED = re.compile(r"^/v\d+(?:\.\d+)?/(.+)$")
WHATSAPP_TOKEN = "wa-test-token"
PAGE_TOKEN = "page-test-token"


def graph_error(code: int, message: str, status: int = 400, subcode: int | None = None) -> Reply:
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AStandIn"}
    if subcode:
        error["error_subcode"] = subcode
    return Reply(status, {"error": error})


class MetaStandIn(StandIn):
    def __init__(self, port: int = 0, whatsapp_token: str = WHATSAPP_TOKEN, page_token: str = PAGE_TOKEN):
        super().__init__(port)
        self.whatsapp_token, self.page_token = whatsapp_token, page_token
        self.profiles: dict[str, dict] = {}       # Messenger PSID / Instagram IGSID -> profile fields
        self.subscriptions: list[dict] = []
        self._ids = itertools.count(1)

    def reset(self) -> None:
        super().reset()
        self.profiles.clear()
        self.subscriptions.clear()

    def identify(self, http_method, path, headers):
        found = _VERSIONED.match(path)
        if not found:
            return None
        rest = found.group(1).strip("/")
        token = (headers.get("Authorization") or "").removeprefix("Bearer ")
        if rest == "me/messages" and http_method == "POST":
            return "page.send", token
        if rest.endswith("/messages") and http_method == "POST":
            return "whatsapp.send", token
        if rest.endswith(("/subscriptions", "/subscribed_apps")) and http_method == "POST":
            return "subscribe", token
        if "/" not in rest and http_method == "GET":
            return "profile", token
        return None

    def fail_whatsapp(self, code: int, message: str = "error", times: int = 1, status: int = 400) -> None:
        """The next WhatsApp sends fail with a Cloud API error code (131047, 130429, …)."""
        self.fail_next(graph_error(code, message, status), times, "whatsapp.send")

    def fail_page(self, code: int, message: str = "error", times: int = 1, subcode: int | None = None) -> None:
        self.fail_next(graph_error(code, message, 400, subcode), times, "page.send")

    def sent(self, method: str = "whatsapp.send") -> list[Call]:
        return super().sent(method)

    def answer(self, call: Call) -> Reply:
        token = call.token or call.params.get("access_token", "")
        if call.method == "whatsapp.send":
            if token != self.whatsapp_token:
                return graph_error(190, "Invalid OAuth access token.", 401)
            if call.params.get("messaging_product") != "whatsapp" or not call.params.get("to"):
                return graph_error(100, "Invalid parameter", 400)
            to = str(call.params["to"])
            return Reply(200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                               "messages": [{"id": f"wamid.STANDIN{next(self._ids):06d}"}]})
        if call.method == "subscribe":
            # the app's subscriptions take the app token (app-id|app-secret), a business account's
            # the WhatsApp token, a page's its page token
            if token not in (self.page_token, self.whatsapp_token) and "|" not in token:
                return graph_error(190, "Invalid OAuth access token.", 401)
            self.subscriptions.append({"path": call.path, **call.params})
            return Reply(200, {"success": True})
        if token != self.page_token:
            return graph_error(190, "Invalid OAuth access token.", 401)
        if call.method == "page.send":
            recipient = (call.params.get("recipient") or {}).get("id")
            if not recipient or not isinstance(call.params.get("message"), dict):
                return graph_error(100, "Invalid parameter", 400)
            return Reply(200, {"recipient_id": recipient, "message_id": f"m_STANDIN{next(self._ids):06d}"})
        user = call.path.rstrip("/").rsplit("/", 1)[-1]
        if user not in self.profiles:
            return graph_error(100, "Unsupported get request.", 400, 33)
        return Reply(200, {"id": user, **self.profiles[user]})
