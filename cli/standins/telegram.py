"""A local stand-in of the Telegram Bot API (`/bot<token>/<method>`), for tests and for trying
`firstreply dev` with a token: `TELEGRAM_API_URL=http://127.0.0.1:PORT`."""
from __future__ import annotations

import itertools
import json
import time

from cli.standins.base import Call, Reply, StandIn


# What Telegram accepts, as its Bot API documents it: createForumTopic's six icon colours and
# setMessageReaction's emoji (anything else is a 400 there, so it is one here).
ICON_COLORS = {7322096, 16766590, 13338331, 9367192, 16749490, 16478047}
REACTION_EMOJI = set("👍 👎 ❤ 🔥 🥰 👏 😁 🤔 🤯 😱 🤬 😢 🎉 🤩 🤮 💩 🙏 👌 🕊 🤡 🥱 🥴 😍 🐳 ❤‍🔥 🌚 🌭 💯 🤣 ⚡ 🍌 🏆 💔 "
                     "🤨 😐 🍓 🍾 💋 🖕 😈 😴 😭 🤓 👻 👨‍💻 👀 🎃 🙈 😇 😨 🤝 ✍ 🤗 🫡 🎅 🎄 ☃ 💅 🤪 🗿 🆒 💘 🙉 🦄 😘 "
                     "💊 🙊 😎 👾 🤷‍♂ 🤷 🤷‍♀ 😡".split())
# `firstreply post telegram --thread …` writes as this user: an administrator of every group here,
# so the desk of `make dev` can be answered by hand
DEV_AGENT = 7000000777
# the rights an administrator here has unless told otherwise: what the README asks for the desk's bot
ADMIN_DEFAULTS = ("can_manage_chat", "can_manage_topics", "can_delete_messages")
RIGHTS = ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
          "can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users",
          "can_post_stories", "can_edit_stories", "can_delete_stories", "can_pin_messages", "can_manage_topics")


def bot_id(call: Call) -> int:
    """The calling bot's id: its token's numeric prefix, as on Telegram."""
    prefix = call.token.split(":")[0]
    return int(prefix) if prefix.isdigit() else 7000000001


class TelegramStandIn(StandIn):
    def __init__(self, port: int = 0):
        super().__init__(port)
        self._ids = itertools.count(1000)
        self.webhook: dict = {}        # what setWebhook was last given
        self.rate: tuple[int, object] | None = None   # (sends a second, the clock that counts them)
        self.windows: dict[int, int] = {}
        self.refused: list = []        # sends answered 429 by `limit_rate` (not delivered)
        self._forget()

    @property
    def throttled(self) -> int:
        """How many sends `limit_rate` answered with 429."""
        return len(self.refused)

    def _forget(self) -> None:
        self.members: dict[tuple[str, str], dict] = {}   # (chat, user) → ChatMember; default: a member
        self.chats: dict[str, dict] = {}                 # getChat answers; unknown: chat not found
        self.topics: dict[tuple[str, int], dict] = {}    # (chat, topic) → {"name", "closed"}

    def limit_rate(self, per_second: int, clock=time.time) -> None:
        """Answer sends above `per_second` in a second of `clock` with 429 and retry_after 1, as
        Telegram does above ~30 messages a second a bot."""
        with self._lock:
            self.rate, self.windows, self.refused = (per_second, clock), {}, []

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.rate, self.windows, self.refused = None, {}, []
        self._forget()

    def add_forum(self, chat_id, title: str = "Support desk", forum: bool = True, bot_rights: dict | None = None):
        """A supergroup with topics on, the bot an administrator who may manage topics and delete
        messages (unless `bot_rights` says otherwise; `{"status": "member"}` makes it a plain member)."""
        self.chats[str(chat_id)] = {"id": int(chat_id), "type": "supergroup", "title": title, "is_forum": forum,
                                    "accent_color_id": 0, "max_reaction_count": 11,
                                    "accepted_gift_types": {"unlimited_gifts": False, "limited_gifts": False,
                                                            "unique_gifts": False, "premium_subscription": False,
                                                            "gifts_from_channels": False}}
        rights = dict(bot_rights or {})
        self.set_member(chat_id, "bot", rights.pop("status", "administrator"), **rights)

    def set_member(self, chat_id, user_id, status: str = "administrator", **rights) -> None:
        self.members[(str(chat_id), str(user_id))] = {"status": status, **rights}

    def _member(self, chat_id, user_id, own: int) -> dict:
        key = (str(chat_id), "bot" if str(user_id) == str(own) else str(user_id))
        found = dict(self.members.get(key) or {"status": "administrator" if str(user_id) == str(DEV_AGENT)
                                               else "member"})
        user = {"id": int(user_id), "is_bot": key[1] == "bot", "first_name": "Support" if key[1] == "bot" else "User"}
        if found["status"] == "administrator":
            return {"user": user, **{r: found.get(r, r in ADMIN_DEFAULTS) for r in RIGHTS}, "status": "administrator"}
        return {"user": user, "status": found["status"]}

    def _bad(self, description: str) -> Reply:
        return Reply(400, {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"})

    def topic_names(self, chat_id) -> list[str]:
        return [t["name"] for (chat, _), t in self.topics.items() if chat == str(chat_id)]

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
            result = {"id": bot_id(call), "is_bot": True, "first_name": "Support", "username": "support_bot"}
        elif call.method == "sendMessage" and self.rate and self._over_rate():
            self.refused.append(call)
            return Reply(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                               "parameters": {"retry_after": 1}})
        elif call.method in ("sendMessage", "editMessageText"):
            chat_id = call.params.get("chat_id", 0)
            result = {"message_id": next(self._ids), "date": int(time.time()),
                      "chat": {"id": int(chat_id) if str(chat_id).lstrip("-").isdigit() else chat_id,
                               "type": "private"},
                      "text": call.params.get("text", "")}
        elif call.method == "createForumTopic":
            name, color = str(call.params.get("name", "")), int(call.params.get("icon_color") or 7322096)
            if not 1 <= len(name) <= 128:
                return self._bad("TOPIC_TITLE_EMPTY" if not name else "topic name is too long")
            if color not in ICON_COLORS:
                return self._bad("TOPIC_ICON_COLOR_INVALID")
            topic = next(self._ids)
            self.topics[(str(call.params.get("chat_id")), topic)] = {"name": name, "closed": False}
            result = {"message_thread_id": topic, "name": name, "icon_color": color}
        elif call.method in ("closeForumTopic", "reopenForumTopic", "deleteForumTopic"):
            key = (str(call.params.get("chat_id")), int(call.params.get("message_thread_id", 0)))
            if key not in self.topics:
                return self._bad("TOPIC_ID_INVALID")
            if call.method == "deleteForumTopic":
                if not self._member(key[0], bot_id(call), bot_id(call)).get("can_delete_messages"):
                    # the Bot API: "must have the can_delete_messages administrator rights"
                    return self._bad("not enough rights to delete the topic")
                del self.topics[key]
            else:
                closing = call.method == "closeForumTopic"
                if self.topics[key]["closed"] == closing:
                    return self._bad("TOPIC_NOT_MODIFIED")
                self.topics[key]["closed"] = closing
            result = True
        elif call.method == "copyMessage":
            result = {"message_id": next(self._ids)}
        elif call.method == "setMessageReaction":
            reactions = call.params.get("reaction") or []
            if isinstance(reactions, str):
                reactions = json.loads(reactions)
            if any(r.get("type") == "emoji" and r.get("emoji") not in REACTION_EMOJI for r in reactions):
                return self._bad("REACTION_INVALID")
            result = True
        elif call.method == "getChat":
            chat = self.chats.get(str(call.params.get("chat_id")))
            if chat is None:
                return self._bad("chat not found")
            result = chat
        elif call.method == "getChatMember":
            result = self._member(call.params.get("chat_id"), call.params.get("user_id"), bot_id(call))
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
        return over
