"""The Telegram desk: a forum topic per conversation in the team's own supergroup
(`desk.telegram_group`), through the same bot as the Telegram channel.

Pure converters for what agents do there (topic messages, edits, button presses), used by the
webhook before the customer parse; signed button data; and a surface on python-telegram-bot (through
`TelegramSender.call`, imported in the worker only) that opens, updates, closes and confirms.

Whether a chat is the desk group and a topic one of its conversations is the worker's question:
the webhook stays free of settings reads. A topic message in another forum group that addresses
the bot is a customer's: the candidate carries the customer parse, and the worker takes the
customer path with it (`functions.desk.customer_message`).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
from datetime import datetime, timedelta
from typing import Any

from functions.clock import iso
from functions.models import InboundMessage
from functions.ports import SendError, SurfaceGone
from integrations import telegram
from integrations.telegram import CHANNEL, MEDIA_KINDS, MalformedUpdate, _date, _int, _object, _str

log = logging.getLogger(__name__)

SURFACE = CHANNEL
TEXT_LIMIT = 4096            # a Telegram message's text
TOPIC_NAME_LIMIT = 128       # createForumTopic's name
CALLBACK_PREFIX = "fd"       # our desk buttons' callback data: fd|<kind>|<conversation>|<value>|<signature>
CALLBACK_LIMIT = 64          # bytes of callback_data Telegram keeps
KINDS = {"a": "assign", "p": "priority", "c": "close", "r": "reopen"}
PRIORITY_ORDER = ("normal", "high", "urgent", "low")   # the Priority button steps through these
# The six colours createForumTopic accepts (Bot API, ForumIconColor); one per channel so a phone's
# topic list shows where each conversation came from.
ICON_COLORS = {"telegram": 0x6FB9F0, "x": 0xFFD67E, "slack": 0xCB86DB, "email": 0x8EEE98,
               "whatsapp": 0xFF93B2}
OTHER_COLOR = 0xFB6F5F
# setMessageReaction takes only Telegram's fixed emoji list (no ✅): 👍 for delivered, ✍ for a note
REACTIONS = {"sent": "👍", "noted": "✍"}
ADMIN_CACHE = timedelta(minutes=5)    # getChatMember answers kept per container
ADMIN_STATUSES = ("creator", "administrator")


# -- signed button data ---------------------------------------------------------------------------

def _signature(group: str, body: str) -> str:
    from integrations import secrets

    key = secrets.get("FIRSTREPLY_SIGNING_SECRET").encode()
    digest = hmac.new(key, f"telegram-desk|{group}|{body}".encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def callback_data(group: str, kind: str, conversation_id: str, value: str = "") -> str:
    """A button's data, signed for this group: a client can send any callback data for a message
    with buttons, so what it says is believed only with our signature."""
    letter = next(k for k, v in KINDS.items() if v == kind)
    body = f"{CALLBACK_PREFIX}|{letter}|{conversation_id}|{value[:1]}"
    data = f"{body}|{_signature(group, body)}"
    if len(data.encode()) > CALLBACK_LIMIT:
        raise ValueError(f"callback data longer than {CALLBACK_LIMIT} bytes")
    return data


def read_callback(data: Any, group: str) -> tuple[str, str, str] | None:
    """(kind, conversation id, value) of a button we signed for `group`; None for anything else."""
    from integrations import secrets

    if not isinstance(data, str) or not secrets.get("FIRSTREPLY_SIGNING_SECRET"):
        return None
    body, _, signature = data.rpartition("|")
    parts = body.split("|")
    if len(parts) != 4 or parts[0] != CALLBACK_PREFIX or parts[1] not in KINDS:
        return None
    if not hmac.compare_digest(signature.encode(), _signature(group, body).encode()):
        return None
    kind = KINDS[parts[1]]
    value = next((p for p in PRIORITY_ORDER if p[0] == parts[3]), "") if kind == "priority" else ""
    if kind == "priority" and not value:
        return None
    return kind, parts[2], value


# -- converters (the webhook's) -------------------------------------------------------------------

def _person(message: dict, what: str) -> dict | None:
    sender = _object(message.get("from"), f"{what}.from")
    if not sender or sender.get("is_bot"):
        return None   # our own posts, other bots, an anonymous admin (GroupAnonymousBot)
    _int(sender.get("id"), "from.id")
    return sender


def _names(sender: dict) -> tuple[str, str]:
    first = _str(sender.get("first_name"))
    return first, " ".join(p for p in (first, _str(sender.get("last_name"))) if p)


def desk_message(update: Any, bot: telegram.BotIdentity | None = None) -> InboundMessage | None:
    """A person's message (or edit) in a forum topic of a supergroup: what agents write in desk
    topics. None for everything else: private chats, the General topic (no topic id), service
    messages (topic created or closed, pins, joins), bots."""
    if not isinstance(update, dict):
        return None
    edited = "edited_message" in update
    message = update.get("edited_message") if edited else update.get("message")
    if not isinstance(message, dict):
        return None
    chat = _object(message.get("chat"), "chat")
    if chat.get("type") != "supergroup" or message.get("is_topic_message") is not True:
        return None
    update_id = _int(update.get("update_id"), "update_id")
    topic = _int(message.get("message_thread_id"), "message_thread_id")
    group, message_id = _int(chat.get("id"), "chat.id"), _int(message.get("message_id"), "message_id")
    sender = _person(message, "message")
    if sender is None:
        return None
    text = _str(message.get("text")) or _str(message.get("caption"))
    media = next((k for k in MEDIA_KINDS if k in message), "")
    if not text and not media:
        return None   # forum_topic_created/closed/reopened, pinned_message, new_chat_members …
    # the desk's dedupe key names the message itself: however often Telegram delivers it
    details: dict[str, Any] = {"action_id": f"telegram-{group}-{message_id}"}
    if not edited:
        # the same message may address the bot in a customer's forum group: keep that reading
        try:
            details["customer"] = telegram.to_inbound(update, bot).to_dict()
        except telegram.Ignored:
            pass
    first, name = _names(sender)
    return InboundMessage(
        channel=SURFACE, event_id=str(update_id), chat_id=f"{group}:{topic}", sender_id=str(sender["id"]),
        message_id=str(message_id), received_at=iso(_date(message.get("date"))),
        text=text[:TEXT_LIMIT * 4], media=media, first_name=first, name=name,
        chat_type="desk-edit" if edited else "desk", thread_id=str(topic), details=details)


def desk_action(update: Any) -> InboundMessage | None:
    """A press on one of our desk buttons, as an event for the worker (which checks the
    signature, the group and the agent, and always answers it); None for other callbacks."""
    if not isinstance(update, dict) or not isinstance(update.get("callback_query"), dict):
        return None
    query = update["callback_query"]
    data = query.get("data")
    if not isinstance(data, str) or not data.startswith(f"{CALLBACK_PREFIX}|"):
        return None
    if not isinstance(query.get("id"), str) or not query["id"] or len(query["id"]) > 200:
        raise MalformedUpdate("callback_query without id")
    update_id = _int(update.get("update_id"), "update_id")
    sender = _object(query.get("from"), "callback_query.from")
    sender_id = _int(sender.get("id"), "callback_query.from.id")
    message = _object(query.get("message"), "callback_query.message")
    chat = _object(message.get("chat"), "callback_query.message.chat")
    group = _int(chat.get("id"), "chat.id") if chat else 0
    message_id = _int(message.get("message_id"), "message_id") if message else 0
    topic = message.get("message_thread_id")
    where = f"{group}:{_int(topic, 'message_thread_id')}" if topic is not None else str(group)
    first, name = _names(sender)
    return InboundMessage(
        channel=SURFACE, event_id=str(update_id), chat_id=where, sender_id=str(sender_id),
        message_id=str(message_id), received_at=iso(_date(message.get("date"))),
        first_name=first, name=name, chat_type="desk-action", thread_id=str(topic or ""),
        details={"callback_id": query["id"], "data": data[:CALLBACK_LIMIT * 2],
                 "action_id": f"telegram-cb-{query['id']}"})


# -- the surface (the worker's) -------------------------------------------------------------------

def topic_name(view: dict[str, Any]) -> str:
    """Reads well in a phone's topic list: who, where, which conversation."""
    who = (view.get("name") or "Customer").strip() or "Customer"
    tail = f" · {view['channel'].capitalize()} · {view['reference']}"
    return who[:TOPIC_NAME_LIMIT - len(tail)] + tail


def topic_link(group: str, topic: Any) -> str:
    """t.me/c link to a topic of a supergroup (its id without the -100 prefix)."""
    internal = group[4:] if group.startswith("-100") else group.lstrip("-")
    return f"https://t.me/c/{internal}/{topic}"


def first_post(view: dict[str, Any]) -> str:
    """The topic's first message, like the Slack parent: channel, name, language, what they wrote,
    what the acknowledgement said or why none was sent, state. Customer text is escaped."""
    e = html.escape
    channel = view["channel"]
    language = f" · {e(view['language'])}" if view.get("language") else ""
    said = view.get("text") or ""
    if view.get("media"):
        said = f"{view['media']}: {said}" if said else view["media"]
    if view.get("subject") and view["subject"] not in said:
        said = f"{view['subject']}\n{said}"
    lines = [f"<b>{e(view.get('name') or 'A customer')}</b> on {e(channel.capitalize())}{language} · "
             f"ref <code>{e(view['reference'])}</code>",
             f"<blockquote>{e(said[:2500] or '(no text)')}</blockquote>"]
    if view.get("ack"):
        lines.append(f"<i>Auto-reply sent:</i> {e(view['ack'][:600])}")
    else:
        lines.append(f"<i>No auto-reply:</i> {e(str(view.get('ack_status') or 'pending'))}")
    state = {"waiting": "⏳ waiting on us", "answered": "✅ answered", "closed": "🔒 closed"}.get(
        view.get("state", "waiting"), e(str(view.get("state", ""))))
    assignee = e(view.get("assignee_name") or view.get("assignee") or "nobody")
    lines.append(f"{'Open' if view.get('open_now') else 'Closed'} when it arrived · {state} · "
                 f"priority <b>{e(view.get('priority', 'normal'))}</b> · assigned to {assignee}")
    previous = view.get("previous") or {}
    if previous.get("reference"):
        label = e(previous["reference"])
        link = (f'<a href="{e(previous["link"])}">{label}</a>' if previous.get("link") else f"<code>{label}</code>")
        lines.append(f"Previous conversation: {link}")
    lines.append("Reply in this topic to answer the customer; <code>/note …</code> stays internal.")
    return "\n".join(lines)[:TEXT_LIMIT]


def buttons(view: dict[str, Any], group: str):
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    cid = view["conversation_id"]
    current = view.get("priority", "normal")
    following = PRIORITY_ORDER[(PRIORITY_ORDER.index(current) + 1) % len(PRIORITY_ORDER)] \
        if current in PRIORITY_ORDER else "normal"
    closed = view.get("status") == "closed"
    return InlineKeyboardMarkup([[
        InlineKeyboardButton("Assign to me", callback_data=callback_data(group, "assign", cid)),
        InlineKeyboardButton(f"Priority → {following}", callback_data=callback_data(group, "priority", cid, following)),
        InlineKeyboardButton("Reopen" if closed else "Close",
                             callback_data=callback_data(group, "reopen" if closed else "close", cid)),
    ]])


def _unchanged(exc: SendError) -> bool:
    """Telegram's answer to a change that changes nothing (a topic closed twice, the same text)."""
    text = str(exc).lower()
    return "not modified" in text or "topic_not_modified" in text


class TelegramDesk:
    """The desk surface in a forum supergroup (`desk.telegram_group`)."""

    name = SURFACE

    def __init__(self, sender, group: str):
        self.sender = sender    # integrations.telegram.TelegramSender: its sessions and error mapping
        self.group = group

    def open_thread(self, view: dict[str, Any]) -> dict[str, Any]:
        from telegram import LinkPreviewOptions

        previous = view.get("previous") or {}
        if previous.get("topic") and not previous.get("link"):
            view = {**view, "previous": {**previous, "link": topic_link(self.group, previous["topic"])}}

        async def run(bot):
            topic = await bot.create_forum_topic(int(self.group), topic_name(view),
                                                 icon_color=ICON_COLORS.get(view["channel"], OTHER_COLOR))
            try:
                post = await bot.send_message(int(self.group), first_post(view), parse_mode="HTML",
                                              message_thread_id=topic.message_thread_id,
                                              reply_markup=buttons(view, self.group),
                                              link_preview_options=LinkPreviewOptions(is_disabled=True))
            except Exception:
                # no topic without its first post: the retry opens one whole topic, not a second
                await bot.delete_forum_topic(int(self.group), topic.message_thread_id)
                raise
            return topic.message_thread_id, post.message_id

        topic, message_id = self.sender.call(run)
        return {"chat": self.group, "topic": topic, "message_id": message_id, "thread": f"{self.group}:{topic}"}

    def update_parent(self, ref: dict[str, Any], view: dict[str, Any]) -> None:
        """Redraw the first post; Close and Reopen also close and reopen the topic."""
        async def run(bot):
            await bot.edit_message_text(first_post(view), chat_id=int(ref["chat"]), message_id=ref["message_id"],
                                        parse_mode="HTML", reply_markup=buttons(view, self.group))

        self._tolerant(run)
        changed = view.get("changed")
        if changed in ("close", "reopen"):
            async def topic(bot):
                method = bot.close_forum_topic if changed == "close" else bot.reopen_forum_topic
                await method(int(ref["chat"]), ref["topic"])

            self._tolerant(topic)

    def erase_thread(self, ref: dict[str, Any]) -> int:
        """Erasure: delete the conversation's topic, and with it every message in it (the customer's
        copied messages, our posts and the agents' replies: the conversation they belong to is
        erased with them). Returns the topics deleted: 1, or 0 when it was gone already (deleted
        by hand, or by an erasure before). Needs the bot's Delete Messages right (`check_group`)."""
        async def run(bot):
            await bot.delete_forum_topic(int(ref["chat"]), int(ref["topic"]))

        try:
            self.sender.call(run)
        except SendError as exc:
            text = str(exc).lower()
            if any(gone in text for gone in ("topic_id_invalid", "thread not found")):
                return 0
            if any(gone in text for gone in ("chat not found", "bot was kicked", "bot is not a member")):
                raise SurfaceGone(str(exc)) from exc   # the group deleted, or the bot out of it
            raise
        return 1

    def _tolerant(self, work) -> None:
        try:
            self.sender.call(work)
        except SendError as exc:
            if not _unchanged(exc):
                raise

    def post(self, ref: dict[str, Any], text: str) -> None:
        async def run(bot):
            await bot.send_message(int(ref["chat"]), text[:TEXT_LIMIT] or "(empty message)",
                                   message_thread_id=ref["topic"])

        self.sender.call(run)

    def post_customer(self, ref: dict[str, Any], inbound: dict[str, Any]) -> bool:
        """A Telegram customer's message copied into the topic, so photos, voice and documents
        arrive as they are; False (the desk posts it as text) for other channels, or when
        Telegram refuses the copy (a protected chat, a deleted message)."""
        if inbound.get("channel") != CHANNEL or not str(inbound.get("message_id", "")).isdigit():
            return False

        async def run(bot):
            await bot.copy_message(int(ref["chat"]), int(inbound["chat_id"]), int(inbound["message_id"]),
                                   message_thread_id=ref["topic"])
        try:
            self.sender.call(run)
            return True
        except SendError as exc:
            if exc.retryable:
                raise
            log.info("customer message not copied into the desk topic: %s", exc)
            return False

    def confirm(self, origin: dict[str, Any], outcome: str, reason: str = "") -> None:
        """👍 on an agent's delivered reply, ✍ on a note kept internal, the reason as a reply in
        the topic when it could not be delivered. Buttons are answered with answerCallbackQuery."""
        if origin.get("callback_id") or not str(origin.get("ts", "")).isdigit():
            return
        chat, message_id = int(origin["channel"]), int(origin["ts"])
        if outcome in REACTIONS:
            async def run(bot):
                await bot.set_message_reaction(chat, message_id, REACTIONS[outcome])
        elif outcome == "undeliverable":
            async def run(bot):
                from telegram import ReplyParameters

                await bot.send_message(chat, f"Not delivered to the customer: {reason}"[:TEXT_LIMIT],
                                       message_thread_id=int(origin["thread_ts"]),
                                       reply_parameters=ReplyParameters(message_id, allow_sending_without_reply=True))
        else:
            return
        self.sender.call(run)


def answer_click(sender, callback_id: str, text: str) -> None:
    """Every press gets its answer (the button stops spinning), whatever became of it."""
    if not callback_id or not hasattr(sender, "call"):
        return   # `firstreply dev` without a bot: no button was pressed on Telegram
    async def run(bot):
        await bot.answer_callback_query(callback_id, text=text[:200])
    try:
        sender.call(run)
    except SendError as exc:   # too old, already answered: the action itself stands
        log.info("callback not answered: %s", exc)


_admins: dict[tuple[str, str], tuple[bool, datetime]] = {}


def is_admin(sender, group: str, user_id: str, now: datetime) -> bool:
    """Whether a member is an administrator of the desk group (getChatMember), kept for a few
    minutes per container: every agent message would otherwise cost a call."""
    known = _admins.get((group, user_id))
    if known and known[1] > now:
        return known[0]

    async def run(bot):
        return (await bot.get_chat_member(int(group), int(user_id))).status

    try:
        admin = sender.call(run) in ADMIN_STATUSES
    except SendError as exc:
        if exc.retryable:
            raise   # not known now: the queue asks again, rather than refusing an agent
        admin = False
    _admins[(group, user_id)] = (admin, now + ADMIN_CACHE)
    return admin


def check_group(sender, group: str, bot_id: int | None) -> list[str]:
    """What the desk group lacks, in words an operator can act on; [] when it is ready."""
    async def run(bot):
        from telegram.error import BadRequest, Forbidden

        try:
            chat = await bot.get_chat(int(group))
        except (BadRequest, Forbidden) as exc:
            return None, f"{exc}"
        member = await bot.get_chat_member(int(group), bot_id) if bot_id else None
        return chat, member

    chat, member = sender.call(run)
    if chat is None:
        return [f"the bot cannot see the group {group} ({member}): add the bot to the group"]
    problems = []
    if chat.type != "supergroup" or not chat.is_forum:
        problems.append("topics are off: in the group's settings turn on Topics")
    if member is None or member.status not in ADMIN_STATUSES:
        problems.append("the bot is not an administrator of the group: promote it")
    elif member.status == "administrator":
        if not getattr(member, "can_manage_topics", False):
            problems.append("the bot may not manage topics: give it the Manage Topics right")
        if not getattr(member, "can_delete_messages", False):
            problems.append("the bot may not delete messages: give it the Delete Messages right "
                            "(erasing a customer deletes their topics)")
    return problems
