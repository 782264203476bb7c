"""Telegram: pure converters around the Bot API, and a sender built on python-telegram-bot.

The webhook side (`verify_secret`, `to_inbound`) uses only the standard library, so the webhook's
cold start does not pay for importing python-telegram-bot, nor asyncio (~12 ms): the sender
imports both when it sends.
"""
from __future__ import annotations

import hmac
import html
import os
import re
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from functions import jsonbody, models
from functions.clock import iso
from functions.models import InboundMessage
from functions.ports import SendError

if TYPE_CHECKING:   # annotations only: the worker's models load when a sender makes one
    from functions.models import Acknowledgement, SentMessage

# python-telegram-bot 22 gives RetryAfter.retry_after as a timedelta with this set, and warns without
os.environ.setdefault("PTB_TIMEDELTA", "1")

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_API_URL = "https://api.telegram.org"
# Message kinds a customer sends that deserve an answer even without text.
MEDIA_KINDS = ("photo", "sticker", "voice", "video", "video_note", "audio", "document", "animation",
               "location", "contact", "poll")


class MalformedUpdate(ValueError):
    """The body is JSON but not a Telegram Update."""


class Ignored(Exception):
    """A valid update we deliberately do not answer; `reason` is logged."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def verify_secret(headers: Any, expected: str | None) -> bool:
    """Constant-time comparison of the secret token header; no secret configured means no access."""
    if not expected:
        return False
    supplied = headers.get(SECRET_HEADER) or headers.get(SECRET_HEADER.lower()) or ""
    return hmac.compare_digest(supplied.encode("utf-8", "replace"), expected.encode("utf-8"))


class Unavailable(Exception):
    """The Bot API could not tell us who we are (getMe failed): the webhook answers 503 and
    Telegram delivers the update again."""


# Telegram's integers (update, chat, user and message ids, dates) fit in 52 bits; a bigger one is
# not Telegram's, and would overflow a datetime or DynamoDB's number type.
_INT_LIMIT = 2 ** 53
_LATEST_DATE = 253402300799   # 9999-12-31T23:59:59Z, the last second a datetime can hold


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -_INT_LIMIT < value < _INT_LIMIT:
        raise MalformedUpdate(f"{what} is not an integer")
    return value


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _object(value: Any, what: str) -> dict:
    return jsonbody.optional_object(value, what, MalformedUpdate)


def _date(value: Any) -> datetime:
    if value is None:
        return datetime.now(timezone.utc)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _LATEST_DATE:
        raise MalformedUpdate("date is not a Unix time")
    return datetime.fromtimestamp(value, timezone.utc) if value > 0 else datetime.now(timezone.utc)


class BotIdentity:
    """Who the bot is, to tell whether a group message addresses it: the id is the numeric
    prefix of the token (no call needed); the username takes a getMe, made only when a message
    names some bot, once per container and token."""

    def __init__(self, token: str):
        prefix = (token or "").split(":", 1)[0]
        self.token = token
        self.id = int(prefix) if prefix.isascii() and prefix.isdigit() and len(prefix) < 16 else None

    def username(self) -> str:
        if self.id is None:
            return ""
        if self.token not in _usernames:
            _usernames[self.token] = _get_me_username(self.token)
        return _usernames[self.token]


_usernames: dict[str, str] = {}


def _get_me_username(token: str) -> str:
    """getMe over the standard library: python-telegram-bot stays off the webhook's cold path."""
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{api_url()}/bot{token}/getMe", timeout=3) as response:
            result = json.loads(response.read()).get("result") or {}
    except (OSError, ValueError, AttributeError) as exc:   # URLError is an OSError
        raise Unavailable(f"getMe failed: {exc}") from exc
    username = result.get("username") if isinstance(result, dict) else None
    if not isinstance(username, str) or not username:
        raise Unavailable("getMe returned no username")
    return username


def _entities(message: dict, key: str) -> list[dict]:
    entities = message.get(key)
    if entities is None:
        return []
    if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
        raise MalformedUpdate(f"{key} is not a list of objects")
    for entity in entities:
        _int(entity.get("offset"), "entity offset"), _int(entity.get("length"), "entity length")
        if not isinstance(entity.get("type"), str):
            raise MalformedUpdate("entity type is not a string")
    return entities


def _utf16_slice(text: str, offset: int, length: int) -> str:
    """Entity offsets count UTF-16 code units (an emoji before a mention counts two)."""
    units = text.encode("utf-16-le")
    return units[2 * max(offset, 0):2 * max(offset + length, 0)].decode("utf-16-le", "replace")


def _addressed(message: dict, text: str, entities: list[dict], bot: BotIdentity | None) -> bool:
    """In a group, a message is for the bot when it is a command (for no bot in particular, or for
    ours: `/help@our_bot`), mentions the bot (`@our_bot`, or a text mention of its id) or replies
    to one of the bot's messages. Everything else is the group talking among themselves."""
    bot_id = bot.id if bot else None
    replied = _object(message.get("reply_to_message"), "reply_to_message")
    if "forum_topic_created" in replied:
        replied = {}   # in a forum topic every message "replies" to the topic's creation: no reply to us
    if bot_id is not None and _object(replied.get("from"), "reply_to_message.from").get("id") == bot_id:
        return True

    def ours(name: str) -> bool:
        username = bot.username() if bot else ""
        return bool(username) and name.casefold() == username.casefold()

    for entity in entities:
        kind, piece = entity["type"], _utf16_slice(text, entity["offset"], entity["length"])
        if kind == "bot_command" and entity["offset"] == 0:
            _, _, target = piece.partition("@")
            if not target or ours(target):
                return True
        elif kind == "text_mention" and bot_id is not None:
            if _object(entity.get("user"), "entity user").get("id") == bot_id:
                return True
        elif kind == "mention" and piece.startswith("@") and ours(piece[1:]):
            return True
    return False


def survey_answer(update: dict, query: Any) -> InboundMessage:
    """A press on one of our rating buttons; other callbacks are not ours to answer."""
    if not isinstance(query, dict) or not isinstance(query.get("data"), str) \
            or not query["data"].startswith(("csat:", "nps:")):
        raise Ignored("callback_query")
    message = _object(query.get("message"), "callback_query.message")
    sender = _object(query.get("from"), "callback_query.from")
    chat = _object(message.get("chat"), "callback_query.message.chat")
    if not isinstance(query.get("id"), str) or not query["id"]:
        raise MalformedUpdate("callback_query without id")
    chat_id = _int(chat.get("id"), "chat.id")
    sender_id = _int(sender.get("id"), "from.id")
    message_id = _int(message.get("message_id"), "message_id")
    return InboundMessage(channel=CHANNEL, event_id=str(update["update_id"]), chat_id=str(chat_id),
                          sender_id=str(sender_id), message_id=str(message_id),
                          received_at=iso(datetime.now(timezone.utc)), text=query["data"][:64],
                          chat_type="answer", details={"callback_id": query["id"]})


GROUPS = ("group", "supergroup")


def to_inbound(update: Any, bot: BotIdentity | None = None) -> InboundMessage:
    """Convert an Update to an `InboundMessage`; raise `Ignored` for what we don't answer and
    `MalformedUpdate` for what is not an Update at all. `bot` tells which group messages are
    addressed to us (without it, only commands for no bot in particular are)."""
    if not isinstance(update, dict):
        raise MalformedUpdate("an Update is a JSON object")
    update_id = _int(update.get("update_id"), "update_id")
    if "callback_query" in update:
        return survey_answer(update, update["callback_query"])
    for kind in ("edited_message", "channel_post", "edited_channel_post", "business_message",
                 "edited_business_message", "my_chat_member", "chat_member"):
        if kind in update:
            raise Ignored(kind)
    message = update.get("message")
    if message is None:
        other = next((k for k in update if k != "update_id"), "empty")
        raise Ignored(f"update type {other}")
    if not isinstance(message, dict):
        raise MalformedUpdate("message is not an object")
    chat = message.get("chat")
    sender = message.get("from")
    if not isinstance(chat, dict) or not isinstance(sender, dict):
        if isinstance(chat, dict) and chat.get("type") == "channel":
            raise Ignored("channel post")
        raise MalformedUpdate("message without chat or sender")
    chat_id = _int(chat.get("id"), "chat.id")
    sender_id = _int(sender.get("id"), "from.id")
    message_id = _int(message.get("message_id"), "message_id")
    when = _date(message.get("date"))
    if sender.get("is_bot"):
        raise Ignored("sender is a bot")
    if chat.get("type") == "channel":
        raise Ignored("channel post")

    text, entities = _str(message.get("text")), _entities(message, "entities")
    if not text:
        text, entities = _str(message.get("caption")), _entities(message, "caption_entities")
    media = next((k for k in MEDIA_KINDS if k in message), "")
    if not text and not media:
        raise Ignored("service message")   # joins, pins, titles, payments …
    if chat.get("type") in GROUPS and not _addressed(message, text, entities, bot):
        raise Ignored("group message not addressed to the bot")

    first_name = _str(sender.get("first_name"))
    name = " ".join(p for p in (first_name, _str(sender.get("last_name"))) if p)
    return InboundMessage(
        channel=CHANNEL,
        event_id=str(update_id),
        chat_id=str(chat_id),
        sender_id=str(sender_id),
        message_id=str(message_id),
        received_at=iso(when),
        text=text,
        media=media,
        first_name=first_name,
        name=name,
        language_code=_str(sender.get("language_code")),
        chat_type=_str(chat.get("type")) or "private",
    )


# what the webhook handles: messages, button presses on surveys and on the Telegram desk's topics,
# and edits (customers' are ignored; an agent's edit in a desk topic gets the "not relayed" notice)
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


def api_url() -> str:
    return (os.environ.get("TELEGRAM_API_URL") or DEFAULT_API_URL).rstrip("/")


class TelegramSender:
    """Sends through python-telegram-bot's `Bot`: one initialised Bot per container, in the one
    event loop that runs every call (`_run`). A Bot per message would cost a TCP (and TLS) connection
    per message; one Bot reused across `asyncio.run` calls breaks (its HTTP client is bound to a
    closed loop). So the loop lives as long as the container, and the Bot's connection with it."""

    def __init__(self, token: str, base_url: str | None = None, timeout: float = 10.0):
        self.token = token
        self.base_url = (base_url or api_url()).rstrip("/")
        self.timeout = timeout

    def send(self, ack: Acknowledgement) -> SentMessage:
        if ack.details.get("copy_from"):   # an agent's media from the desk: copied through the Bot
            return _run(self._send(ack))
        return self._send_text(ack)

    def _send_text(self, ack: Acknowledgement) -> SentMessage:
        """sendMessage on the container's one pooled HTTP client, in the calling thread: a text is
        one POST, so no event loop, thread hop or Bot objects around it (they were most of a warm
        message's own time). Telegram's error answers map to SendError as the Bot's errors do."""
        payload: dict[str, Any] = {"chat_id": ack.chat_id, "text": ack.text,
                                   "link_preview_options": {"is_disabled": True}}
        if ack.reply_to_message_id:
            payload["reply_parameters"] = {"message_id": int(ack.reply_to_message_id),
                                           "allow_sending_without_reply": True}
        if ack.parse_mode:
            payload["parse_mode"] = ack.parse_mode
        try:
            message = _api_call(self.token, self.base_url, self.timeout, "sendMessage", payload)
        except SendError as exc:
            if not (ack.parse_mode and str(exc).startswith("BadRequest:") and "parse entities" in str(exc).lower()):
                raise
            # A template produced markup Telegram rejects: the words still matter more.
            payload.pop("parse_mode")
            payload["text"] = _strip_tags(ack.text)
            message = _api_call(self.token, self.base_url, self.timeout, "sendMessage", payload)
        sent_at = datetime.fromtimestamp(message["date"], timezone.utc) if message.get("date") else datetime.now(
            timezone.utc)
        return models.SentMessage(channel=CHANNEL, chat_id=ack.chat_id, message_id=str(message["message_id"]),
                                  sent_at=iso(sent_at), text=ack.text)

    def call(self, work):
        """Run `await work(bot)` in one session (several Bot API calls, one connection), with
        Telegram's errors as SendError like a send's: the desk surface's way in."""
        async def run():
            with _send_errors():
                async with self._bot() as bot:
                    return await work(bot)
        return _run(run())

    def send_survey(self, request) -> str:
        """The question with a button per score; callback_data `<kind>:<conversation>:<score>` (≤ 64 bytes)."""
        return _run(self._survey(request))

    async def _survey(self, request) -> str:
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup

        buttons = [InlineKeyboardButton(str(n), callback_data=f"{request.kind}:{request.conversation_id}:{n}")
                   for n in request.scale]
        rows = [buttons[i:i + 6] for i in range(0, len(buttons), 6)]   # 0–10 fits on two rows
        async with self._bot() as bot:
            message = await bot.send_message(request.chat_id, request.text, parse_mode="HTML",
                                             reply_markup=InlineKeyboardMarkup(rows) if rows else None)
        return str(message.message_id)

    def answer_survey(self, inbound: InboundMessage, text: str) -> None:
        """Always answer the callback (the button stops spinning), then replace the buttons with thanks."""
        _run(self._answer(inbound.details["callback_id"], inbound.chat_id, inbound.message_id, text))

    async def _answer(self, callback_id: str, chat_id: str, message_id: str, text: str) -> None:
        async with self._bot() as bot:
            await bot.answer_callback_query(callback_id, text=text)
            await bot.edit_message_reply_markup(chat_id, int(message_id), reply_markup=None)
            await bot.send_message(chat_id, text)

    def _bot(self):
        return _BotSession(self.token, self.base_url, self.timeout)

    def register_webhook(self, url: str, secret: str) -> dict[str, Any]:
        """setWebhook with the secret Telegram will send back in every request, and only the
        updates we handle; returns getWebhookInfo."""
        return _run(self._register(url, secret))

    async def _register(self, url: str, secret: str) -> dict[str, Any]:
        async with self._bot() as bot:
            await bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
            info = await bot.get_webhook_info()
        return {"url": info.url, "pending_update_count": info.pending_update_count,
                "allowed_updates": list(info.allowed_updates or ()), "last_error_message": info.last_error_message}

    def is_own(self, sender_id: str) -> bool:
        return False   # Telegram marks bots, ours included, with from.is_bot: the webhook drops them

    def profile(self, sender_id: str) -> dict[str, str]:
        return {}      # every Update carries the sender's name and language

    async def _send(self, ack: Acknowledgement) -> SentMessage:
        from telegram import LinkPreviewOptions, ReplyParameters
        from telegram.error import BadRequest

        kwargs: dict[str, Any] = {"link_preview_options": LinkPreviewOptions(is_disabled=True)}
        if ack.reply_to_message_id:
            kwargs["reply_parameters"] = ReplyParameters(int(ack.reply_to_message_id),
                                                         allow_sending_without_reply=True)
        copy = ack.details.get("copy_from") or {}
        with _send_errors():
            async with self._bot() as bot:
                if copy:
                    # an agent's photo, voice or document from the desk: copied, so it arrives as it is
                    copied = await bot.copy_message(ack.chat_id, int(copy["chat_id"]), int(copy["message_id"]))
                    return models.SentMessage(channel=CHANNEL, chat_id=ack.chat_id, message_id=str(copied.message_id),
                                              sent_at=iso(datetime.now(timezone.utc)), text=ack.text)
                try:
                    message = await bot.send_message(ack.chat_id, ack.text, parse_mode=ack.parse_mode or None,
                                                     **kwargs)
                except BadRequest as exc:
                    if "parse entities" not in str(exc).lower() or not ack.parse_mode:
                        raise
                    # A template produced markup Telegram rejects: the words still matter more.
                    message = await bot.send_message(ack.chat_id, _strip_tags(ack.text), **kwargs)
        sent_at = message.date.astimezone(timezone.utc) if message.date else datetime.now(timezone.utc)
        return models.SentMessage(channel=CHANNEL, chat_id=ack.chat_id, message_id=str(message.message_id),
                                  sent_at=iso(sent_at), text=ack.text)


@contextmanager
def _send_errors():
    """Telegram's errors as SendError: 429 waits (Retry-After), a refusal is permanent, the rest
    (5xx, timeouts, connection errors) is worth another try."""
    from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError

    try:
        yield
    except RetryAfter as exc:
        raise SendError(str(exc), retryable=True, retry_after=_seconds(exc)) from exc
    except (Forbidden, BadRequest, InvalidToken) as exc:
        raise SendError(f"{type(exc).__name__}: {exc}", retryable=False) from exc
    except (NetworkError, TelegramError) as exc:
        raise SendError(f"{type(exc).__name__}: {exc}", retryable=True) from exc


class _BotSession:
    """`async with` the container's Bot for this token and API: created (without getMe) on first
    use inside the shared loop, with its HTTP client, and kept open afterwards: leaving the block
    does not close it, so the next message reuses the connection. (httpx closes a connection idle
    for 5 s, so one a frozen Lambda kept is not trusted after a thaw.)"""

    def __init__(self, token: str, base_url: str, timeout: float):
        self.key = (token, base_url, timeout)

    async def __aenter__(self):
        bot = _bots.get(self.key)
        if bot is None:
            from telegram import Bot
            from telegram.request import HTTPXRequest

            token, base_url, timeout = self.key
            # a small pool: one connection for a worker's sequential sends, a few for the dev
            # server's threads sending at once (a pool of one would make them time out waiting)
            request = HTTPXRequest(connection_pool_size=4, connect_timeout=timeout, read_timeout=timeout,
                                   httpx_kwargs={"verify": _tls_context()})
            await request.initialize()
            bot = _bots[self.key] = Bot(token, base_url=f"{base_url}/bot", request=request,
                                        get_updates_request=request)
        return bot

    async def __aexit__(self, *exc):
        return None


_clients: dict[tuple[str, str, float], Any] = {}
_clients_lock = threading.Lock()
# Telegram's error codes as python-telegram-bot names them (telegram/request/_baserequest.py), and
# the prefixes it drops from a description; refusals are permanent, the rest worth another try
_REFUSED = {400: "BadRequest", 401: "InvalidToken", 403: "Forbidden", 404: "InvalidToken"}
_PREFIXES = ("Error: ", "[Error]: ", "Bad Request: ")


def _http_client(token: str, base_url: str, timeout: float):
    """One httpx client per bot, API and timeout for the container (as one Bot per token was): its
    kept-alive connection carries every send (httpx's pool is safe for the dev server's threads
    sending at once)."""
    key = (token, base_url, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            import httpx

            client = _clients[key] = httpx.Client(
                timeout=timeout, verify=_tls_context(), limits=httpx.Limits(max_connections=4))
        return client


@lru_cache(maxsize=64)
def _method_url(base_url: str, token: str, method: str):
    """A method's URL parsed once (httpx parses a string URL twice a request)."""
    import httpx

    return httpx.URL(f"{base_url}/bot{token}/{method}")


def _api_call(token: str, base_url: str, timeout: float, method: str, payload: dict[str, Any]) -> Any:
    """POST one Bot API method as JSON; its `result`, or SendError as `_send_errors` would raise it."""
    import httpx

    try:
        response = _http_client(token, base_url, timeout).post(_method_url(base_url, token, method), json=payload)
        answer = response.json()
    except (httpx.HTTPError, ValueError) as exc:   # timeouts, connection errors, a proxy's HTML page
        raise SendError(f"NetworkError: {exc}", retryable=True) from exc
    if answer.get("ok"):
        return answer["result"]
    code = answer.get("error_code") or response.status_code
    description = answer.get("description") or f"HTTP {response.status_code}"
    for prefix in _PREFIXES:
        description = description.removeprefix(prefix)
    parameters = answer.get("parameters") or {}
    if parameters.get("retry_after") is not None:
        error = SendError(f"Flood control exceeded. Retry in {parameters['retry_after']} seconds", retryable=True,
                          retry_after=float(parameters["retry_after"]))
    elif code in _REFUSED and not parameters.get("migrate_to_chat_id"):
        error = SendError(f"{_REFUSED[code]}: {description}", retryable=False)
    else:
        error = SendError(f"NetworkError: {description}", retryable=True)
    raise error


_bots: dict[tuple[str, str, float], Any] = {}   # touched only inside the loop's thread
_loop_lock = threading.Lock()
_loop: Any = None


def _run(coroutine):
    """Run `coroutine` in the container's one event loop and wait for its result. The loop runs in
    a daemon thread of its own, so any thread may call this (the dev server's pump, a job, the CLI),
    including one inside another running loop, and the Bots and their connections outlive the call."""
    import asyncio

    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="telegram-loop", daemon=True).start()
        loop = _loop
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result()


@lru_cache(maxsize=1)
def _tls_context():
    """Loading the CA bundle takes ~25 ms: once per container, not once per Bot."""
    import ssl

    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _seconds(exc: Any) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _strip_tags(html_text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))
