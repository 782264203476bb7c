"""The Slack desk: a thread per conversation in the business's own support channel, through the same
Slack app as the Slack channel. Pure converters for what agents do there (thread replies, edits,
buttons), and a surface on slack-sdk that posts, updates and confirms.

The webhook imports only the converters; slack-sdk is loaded by the surface, in the worker.
"""
from __future__ import annotations

from typing import Any

from functions.models import InboundMessage
from functions.ports import SendError, SurfaceGone

SURFACE = "slack"
ACTIONS = {"desk_assign": "assign", "desk_priority": "priority", "desk_close": "close", "desk_reopen": "reopen"}
CHANNEL_EMOJI = {"telegram": ":airplane:", "slack": ":speech_balloon:", "x": ":bird:", "email": ":email:",
                 "whatsapp": ":iphone:", "messenger": ":speech_balloon:", "instagram": ":camera:"}
TEXT_LIMIT = 40_000   # Slack's own limit on a message's text
PRIORITY_LABELS = {"low": "Low", "normal": "Normal", "high": "High", "urgent": "Urgent"}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def escape(text: str) -> str:
    """Customer text shown in Slack: `<!channel>`, `<@U…>` and `<url|label>` are never live."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ts(event: dict[str, Any]) -> str:
    from integrations.slack import _ts_to_iso

    return _ts_to_iso(event.get("ts"))


def desk_message(payload: Any) -> InboundMessage | None:
    """A person's reply in a channel thread (what agents write in desk threads), or an edit or
    deletion of one; None for everything else. Whether the channel is the desk and the thread one of
    its conversations is the worker's question: the webhook stays free of settings reads."""
    if not isinstance(payload, dict) or payload.get("type") != "event_callback":
        return None
    event = payload.get("event")
    if not isinstance(event, dict) or event.get("type") != "message":
        return None
    if event.get("channel_type") not in ("channel", "group"):
        return None
    channel, subtype = _str(event.get("channel")), event.get("subtype")
    if subtype in ("message_changed", "message_deleted"):
        inner = event.get("message") if subtype == "message_changed" else event.get("previous_message")
        if not isinstance(inner, dict) or inner.get("bot_id") or inner.get("app_id") or inner.get("subtype"):
            return None   # our own parent updated in place, a bot's message, a tombstone
        user, ts, thread = _str(inner.get("user")), _str(inner.get("ts")), _str(inner.get("thread_ts"))
        kind, event_id = "desk-edit", f"desk-edit-{channel}-{_str(event.get('ts'))}"
    elif subtype in (None, "file_share", "thread_broadcast"):
        if event.get("bot_id") or event.get("app_id") or event.get("bot_profile"):
            return None
        user, ts, thread = _str(event.get("user")), _str(event.get("ts")), _str(event.get("thread_ts"))
        kind, event_id = "desk", f"desk-{channel}-{ts}"
        inner = event
    else:
        return None
    own = {a.get("user_id") for a in payload.get("authorizations") or [] if isinstance(a, dict)}
    if not channel or not user or not ts or not thread or thread == ts or user in own or user == "USLACKBOT":
        return None   # top-level posts are not desk actions; only replies in a thread are
    files = [f for f in inner.get("files") or [] if isinstance(f, dict)]
    return InboundMessage(
        channel=SURFACE, event_id=event_id[:200], chat_id=f"{channel}:{thread}", sender_id=user, message_id=ts,
        received_at=_ts(inner), text=_str(inner.get("text"))[:TEXT_LIMIT], chat_type=kind, thread_id=thread,
        details={"files": [_str(f.get("name")) for f in files]} if files else {})


def desk_action(payload: dict[str, Any]) -> InboundMessage | None:
    """A click on a desk parent's button or menu, as an event for the worker; None otherwise."""
    if payload.get("type") != "block_actions":
        return None
    action = next((a for a in payload.get("actions") or [] if isinstance(a, dict)
                   and a.get("action_id") in ACTIONS), None)
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    container = payload.get("container") if isinstance(payload.get("container"), dict) else {}
    channel, message_ts = _str(container.get("channel_id")), _str(container.get("message_ts"))
    if not action or not _str(user.get("id")) or not channel or not message_ts:
        return None
    selected = action.get("selected_option") if isinstance(action.get("selected_option"), dict) else {}
    value = _str(selected.get("value")) or _str(action.get("value"))
    stamp = _str(action.get("action_ts")) or message_ts
    return InboundMessage(
        channel=SURFACE, event_id=f"desk-action-{user['id']}-{stamp}"[:200], chat_id=f"{channel}:{message_ts}",
        sender_id=user["id"], message_id=message_ts, received_at=_ts({"ts": stamp}),
        text=ACTIONS[action["action_id"]], chat_type="desk-action", thread_id=message_ts,
        name=_str(user.get("name")) or _str(user.get("username")),
        details={"value": value.rsplit(":", 1)[-1] if action["action_id"] == "desk_priority" else value})


def parent_blocks(view: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The conversation's parent message: who, where, what they wrote, what we answered, and the
    buttons. Every customer-supplied string is escaped."""
    channel = view["channel"]
    who = escape(view.get("name") or "A customer")
    language = f" · {escape(view['language'])}" if view.get("language") else ""
    head = (f"{CHANNEL_EMOJI.get(channel, '')} *{who}* on {channel.capitalize()}{language} · "
            f"ref `{escape(view['reference'])}`")
    said = view.get("text") or ""
    if view.get("media"):
        said = f"{view['media']}: {said}" if said else view["media"]
    if view.get("subject") and view.get("subject") not in said:
        said = f"{view['subject']}\n{said}"
    quote = "\n".join(f">{line}" for line in escape(said[:2500] or "(no text)").splitlines())
    if view.get("ack"):
        ack = f"_Auto-reply sent:_ {escape(view['ack'][:600])}"
    else:
        ack = f"_No auto-reply:_ {escape(str(view.get('ack_status') or 'pending'))}"
    state = {"waiting": ":hourglass: waiting on us", "answered": ":white_check_mark: answered",
             "closed": ":lock: closed"}.get(view.get("state", "waiting"), view.get("state", ""))
    assignee = escape(view.get("assignee_name") or view.get("assignee") or "nobody")
    facts = (f"{'Open' if view.get('open_now') else 'Closed'} when it arrived · {state} · "
             f"priority *{view.get('priority', 'normal')}* · assigned to {assignee}")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{head}\n{quote}"[:3000]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": ack[:3000]},
                                         {"type": "mrkdwn", "text": facts}]},
    ]
    previous = view.get("previous") or {}
    if previous.get("reference"):
        link = (f"<{previous['permalink']}|{escape(previous['reference'])}>" if previous.get("permalink")
                else f"`{escape(previous['reference'])}`")
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn",
                                                        "text": f"Previous conversation: {link}"}]})
    cid = view["conversation_id"]
    closed = view.get("status") == "closed"
    blocks.append({"type": "actions", "block_id": "desk", "elements": [
        {"type": "button", "action_id": "desk_assign", "value": cid,
         "text": {"type": "plain_text", "text": "Assign to me"}},
        {"type": "static_select", "action_id": "desk_priority",
         "placeholder": {"type": "plain_text", "text": "Priority"},
         "options": [{"text": {"type": "plain_text", "text": label}, "value": f"{cid}:{p}"}
                     for p, label in PRIORITY_LABELS.items()]},
        {"type": "button", "action_id": "desk_reopen" if closed else "desk_close", "value": cid,
         "text": {"type": "plain_text", "text": "Reopen" if closed else "Close"},
         **({} if closed else {"style": "danger"})},
    ]})
    fallback = f"{view.get('name') or 'A customer'} on {channel}: {said[:200]}"
    return blocks, fallback


class SlackDesk:
    """The desk surface in a Slack channel (`desk.slack_channel`)."""

    name = SURFACE

    def __init__(self, sender, channel: str):
        self.sender = sender            # integrations.slack.SlackSender: its client and error mapping
        self.channel = channel

    def open_thread(self, view: dict[str, Any]) -> dict[str, Any]:
        previous = view.get("previous") or {}
        if previous.get("ts") and not previous.get("permalink"):
            answer = self.sender._call("chat_getPermalink", channel=previous["channel"], message_ts=previous["ts"])
            view = {**view, "previous": {**previous, "permalink": answer.get("permalink", "")}}
        blocks, fallback = parent_blocks(view)
        response = self.sender._call("chat_postMessage", channel=self.channel, text=escape(fallback),
                                     blocks=blocks, unfurl_links=False, unfurl_media=False)
        return {"channel": self.channel, "ts": response["ts"], "thread": f"{self.channel}:{response['ts']}"}

    def update_parent(self, ref: dict[str, Any], view: dict[str, Any]) -> None:
        blocks, fallback = parent_blocks(view)
        self.sender._call("chat_update", channel=ref["channel"], ts=ref["ts"], text=escape(fallback), blocks=blocks)

    def post(self, ref: dict[str, Any], text: str) -> None:
        self.sender._call("chat_postMessage", channel=ref["channel"], thread_ts=ref["ts"],
                          text=escape(text[:TEXT_LIMIT]), unfurl_links=False, unfurl_media=False)

    def confirm(self, origin: dict[str, Any], outcome: str, reason: str = "") -> None:
        """✅ on an agent's delivered reply, 📝 on a note kept internal, the reason in the thread
        when a reply could not be delivered. Button actions show in the parent instead."""
        if not origin.get("ts"):
            return
        if outcome in ("sent", "noted"):
            self.sender._call("reactions_add", channel=origin["channel"], timestamp=origin["ts"],
                              name="white_check_mark" if outcome == "sent" else "memo")
        elif outcome == "undeliverable":
            self.sender._call("chat_postMessage", channel=origin["channel"], thread_ts=origin["thread_ts"],
                              text=escape(f"Not delivered to the customer: {reason}"))

    def erase_thread(self, ref: dict[str, Any]) -> int:
        """Erasure: delete our own posts of a conversation's thread (the replies we posted, then the
        parent). A bot may delete only its own messages: what agents typed stays theirs to delete."""
        own = self.sender._call("auth_test").get("user_id", "")
        removed, cursor = 0, None
        replies: list[str] = []
        while True:
            try:
                answer = self.sender._call("conversations_replies", channel=ref["channel"], ts=ref["ts"],
                                           limit=200, **({"cursor": cursor} if cursor else {}))
            except SendError as exc:   # the channel deleted, or the bot out of it
                if any(gone in str(exc) for gone in ("channel_not_found", "not_in_channel")):
                    raise SurfaceGone(str(exc)) from exc
                raise
            replies += [m["ts"] for m in answer.get("messages", [])
                        if m.get("ts") != ref["ts"] and (m.get("bot_id") or m.get("user") == own)]
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        for ts in [*replies, ref["ts"]]:
            try:
                self.sender._call("chat_delete", channel=ref["channel"], ts=ts)
                removed += 1
            except SendError as exc:
                if "message_not_found" not in str(exc):
                    raise
        return removed
