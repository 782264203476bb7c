"""The desk: what agents do with a conversation, whatever surface they use (a Slack thread, a
Telegram topic, the inbox). No SDK here: surfaces and senders come in through ports.

Every action — reply, note, close, reopen, assign, priority — is stored once, keyed by the surface's
own id of it (a redelivered event finds it stored and only finishes what is left), with who and
when, in the conversation's history beside the customer's messages. A reply is a message like any
other: stored before it is sent, sent once through the channel's sender (the acknowledgement's
retries and Retry-After), marked sent or undeliverable with the reason, and confirmed where the
agent wrote it. Notes are never sent anywhere; in alerts-only mode nothing typed in a desk is.

States: waiting (on us) → answered (waiting on the customer) → closed; a customer message moves a
conversation back to waiting. The first reply that reaches the customer records the first response
in wall-clock and in business minutes (`BusinessHours.business_minutes`).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Protocol

from functions import agent_text
from functions.clock import iso
from functions.hours import BusinessHours
from functions.models import Acknowledgement
from functions.ports import Clock, Sender, SendError
from functions.service_window import WINDOWED_CHANNELS, last_customer_message
from functions.settings import Settings

log = logging.getLogger(__name__)

KINDS = ("reply", "note", "close", "reopen", "assign", "priority")
PRIORITIES = ("low", "normal", "high", "urgent")
STATES = ("waiting", "answered", "closed")
REPLY_LIMIT = 10_000          # characters an agent reply may have (the inbox answers 400 above)
EMAIL_REPLY_LIMIT = 100_000


@dataclass(frozen=True)
class Agent:
    id: str                   # surface:user, e.g. "slack:U0AGENT1", "telegram:42", "inbox:olena"
    name: str = ""

    @property
    def first_name(self) -> str:
        return (self.name.split() or [self.id.split(":", 1)[-1]])[0]


@dataclass(frozen=True)
class DeskAction:
    """One thing an agent did, as a surface read it."""

    action_id: str            # the surface's own id (dedupe key): "slack-C0DESK-1700000000.000200"
    conversation_id: str
    kind: str                 # one of KINDS
    agent: Agent
    text: str = ""            # reply and note, in the desk's markup (functions.agent_text)
    value: str = ""           # assign: the agent id ("" = nobody); priority: one of PRIORITIES
    origin: dict[str, Any] = field(default_factory=dict)   # the surface and where to confirm

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DeskAction":
        return cls(action_id=data["action_id"], conversation_id=data["conversation_id"], kind=data["kind"],
                   agent=Agent(**data["agent"]), text=data.get("text", ""), value=data.get("value", ""),
                   origin=data.get("origin") or {})


class InvalidAction(ValueError):
    """An action that can never be carried out (unknown kind, empty reply, …): a 400, not a retry."""


def validate(action: DeskAction) -> None:
    if action.kind not in KINDS:
        raise InvalidAction(f"unknown action {action.kind!r}")
    if action.kind in ("reply", "note"):
        if not action.text.strip():
            raise InvalidAction("the text is empty")
        if len(action.text) > REPLY_LIMIT:
            raise InvalidAction(f"the text is longer than {REPLY_LIMIT:,} characters")
    if action.kind == "priority" and action.value not in PRIORITIES:
        raise InvalidAction(f"priority must be one of {', '.join(PRIORITIES)}")


class DeskSurface(Protocol):
    """Where agents see conversations (a Slack channel, a Telegram forum group)."""

    name: str

    def open_thread(self, view: dict[str, Any]) -> dict[str, Any]:
        """Post the conversation's first message; returns the reference stored on the conversation."""
        ...

    def update_parent(self, ref: dict[str, Any], view: dict[str, Any]) -> None: ...

    def post(self, ref: dict[str, Any], text: str) -> None:
        """A line in the conversation's thread (a customer's later message, another surface's reply)."""
        ...

    def confirm(self, origin: dict[str, Any], outcome: str, reason: str = "") -> None:
        """Tell the agent where they acted: delivered, kept internal, or why it failed."""
        ...


class DeskStore(Protocol):
    def conversation(self, conversation_id: str) -> dict[str, Any] | None: ...
    def messages(self, conversation_id: str) -> list[dict[str, Any]]: ...
    def record_action(self, action: DeskAction, conversation: dict[str, Any], now: datetime,
                      settings: Settings, tasks: list[tuple[str, datetime]]) -> dict[str, Any]: ...
    def record_delivery(self, record: dict[str, Any], outcome: str, now: datetime, message_ids: list[str],
                        reason: str = "", first_response: dict[str, Any] | None = None) -> None: ...
    def set_desk_ref(self, conversation: dict[str, Any], surface: str, ref: dict[str, Any]) -> bool: ...
    def mark_mirrored(self, channel: str, event_id: str, now: datetime) -> bool: ...
    def mark_confirmed(self, action_id: str) -> None: ...


def is_desk_chat(inbound, settings: Settings) -> bool:
    """A message from the desk's own Slack channel or Telegram group (an @mention there, say)."""
    desk = settings.desk
    if inbound.channel == "slack" and desk.slack_channel:
        return inbound.chat_id.split(":")[0] == desk.slack_channel
    if inbound.channel == "telegram" and desk.telegram_group:
        return inbound.chat_id.split(":")[0] == desk.telegram_group   # a desk candidate names group:topic
    return False


def customer_message(inbound, settings: Settings):
    """A desk candidate from a chat that is not the desk's (a topic of a customer's own forum
    group that addresses the bot) is the customer's message it carries; anything else as it is."""
    customer = inbound.details.get("customer") if inbound.chat_type.startswith("desk") else None
    if customer and not is_desk_chat(inbound, settings):
        return type(inbound).from_dict(customer)
    return inbound


def closing_tasks(settings: Settings, now: datetime) -> list[tuple[str, datetime]]:
    """What a closed conversation makes due, whoever closed it (close-idle or an agent)."""
    tasks = []
    if settings.transcripts:
        tasks.append(("transcript", now))
    if settings.survey.enabled:
        tasks.append(("survey", now + timedelta(minutes=settings.survey.delay_minutes)))
    return tasks


def first_response(conversation: dict[str, Any], settings: Settings, now: datetime,
                   agent: Agent) -> dict[str, Any] | None:
    """The first response of a conversation, measured from its first message, once."""
    if conversation.get("first_response_at"):
        return None
    opened = datetime.fromisoformat(conversation["opened_at"].replace("Z", "+00:00"))
    due = conversation.get("sla_due_at")   # as it was before the reply (the reply clears it)
    return {"at": iso(now), "agent": agent.id,
            "wall_minutes": round(max((now - opened).total_seconds(), 0) / 60, 2),
            # in the hours of the conversation's own schedule (issue 15), special days included
            "business_minutes": round(BusinessHours(settings, settings.schedule_for(conversation.get("channel", "")))
                                      .business_minutes(opened, now), 2),
            "sla_met": (iso(now) <= due) if due else None}


def reply_messages(text: str, agent: Agent, conversation: dict[str, Any], settings: Settings) -> list[Acknowledgement]:
    """An agent's reply as the customer's channel takes it: one message, or several on Telegram
    when it is longer than a message may be."""
    channel = conversation["channel"]
    last = conversation.get("last_in") or {}
    language = conversation.get("language", "")
    base = {"channel": channel, "chat_id": conversation["chat_id"], "language": language,
            "details": {"agent": agent.name or agent.first_name}}
    if channel == "telegram":
        return [Acknowledgement(text=agent_text.to_html(part), parse_mode="HTML", **base)
                for part in agent_text.chunks(text)]
    if channel == "slack":
        return [Acknowledgement(text=agent_text.to_slack(text), fallback=agent_text.to_plain(text),
                                thread_id=last.get("thread_id", "") if last.get("chat_type") == "mention" else "",
                                **base)]
    if channel == "x":
        mention = last.get("chat_type") == "mention"
        return [Acknowledgement(text=agent_text.to_plain(text), **base,
                                reply_to_message_id=last.get("message_id", "") if mention else "")]
    if channel == "email":
        to = conversation["contact"].split("#", 1)[1]
        references = " ".join(r for r in (last.get("references", ""), last.get("message_id", "")) if r)
        details = {**base["details"], "to": to, "name": conversation.get("name", ""), "human": True,
                   "subject": last.get("subject", ""), "references": references.strip()}
        return [Acknowledgement(channel=channel, chat_id=conversation["chat_id"], language=language,
                                text=agent_text.to_html(text), fallback=agent_text.to_plain(text),
                                thread_id=last.get("message_id", ""), details=details)]
    if channel in WINDOWED_CHANNELS:   # the sender enforces Meta's 24-hour window from `customer_at`
        details = {**base["details"], "customer_at": last_customer_message(conversation)}
        if channel == "whatsapp" and settings.whatsapp.reply_template:
            details.update(template=settings.whatsapp.reply_template,
                           template_language=settings.whatsapp.reply_template_language)
        return [Acknowledgement(text=agent_text.to_plain(text), **{**base, "details": details})]
    return [Acknowledgement(text=agent_text.to_plain(text), **base)]


def view(conversation: dict[str, Any], messages: list[dict[str, Any]], settings: Settings,
         now: datetime) -> dict[str, Any]:
    """What a desk shows of a conversation at its top: who, where, what they wrote, what we answered."""
    first_in = next((m for m in messages if m.get("direction") == "in"), {})
    ack = next((m for m in messages if m.get("kind") == "ack"), None)
    return {
        "conversation_id": conversation["conversation_id"], "reference": conversation["reference"],
        "channel": conversation["channel"], "name": conversation.get("name", ""),
        "language": conversation.get("language") or conversation.get("customer_language", ""),
        "text": first_in.get("text", ""), "media": first_in.get("media", ""),
        "subject": first_in.get("subject", ""),
        "ack": (ack.get("plain") or ack.get("text", "")) if ack else "",
        "ack_status": conversation.get("ack", ""),
        "open_now": BusinessHours(settings, settings.schedule_for(conversation["channel"])).is_open(now),
        "state": conversation.get("state", "waiting"), "status": conversation.get("status", "open"),
        "priority": conversation.get("priority", "normal"), "assignee": conversation.get("assignee", ""),
        "assignee_name": conversation.get("assignee_name", ""),
        "previous": conversation.get("previous_desk") or {},
    }


class Desk:
    """The desk's work for one container: mirror customer messages into the surfaces, carry out
    agents' actions. `sender_for(channel)` gives the customer channel's sender."""

    def __init__(self, store: DeskStore, settings: Settings, clock: Clock,
                 surfaces: list[DeskSurface], sender_for: Callable[[str], Sender], deliver):
        self.store, self.settings, self.clock = store, settings, clock
        self.surfaces = surfaces
        self.sender_for = sender_for
        self.deliver = deliver   # pipeline.deliver with its retry policy bound

    # -- customers' messages into the desk ----------------------------------------------------
    def mirror(self, channel: str, event_id: str, event: dict[str, Any], conversation_id: str,
               conversation: dict[str, Any] | None = None) -> int:
        """Show a customer's message in every surface: a new conversation opens a thread, a later
        message goes into it. Returns how many surfaces were written to. `conversation`: as read
        after the message was committed, when the caller has it."""
        if not self.surfaces or event.get("desk_mirrored_at"):
            return 0
        conversation = conversation or self.store.conversation(conversation_id)
        if conversation is None:
            return 0
        refs = desk_refs(conversation)
        inbound = event["inbound"]
        inbound = (inbound.get("details") or {}).get("customer") or inbound   # a customer's forum-topic message
        written = 0
        for surface in self.surfaces:
            ref = refs.get(surface.name)
            # a surface that can show the message as it is (Telegram copies a Telegram customer's
            # photo, voice, document); the others get it as a line, media named
            copy = getattr(surface, "post_customer", None)
            if ref is None:
                view_ = view(conversation, self.store.messages(conversation_id), self.settings, self.clock.now())
                view_["previous"] = self._previous_ref(conversation, surface.name)
                ref = surface.open_thread(view_)
                self.store.set_desk_ref(conversation, surface.name, ref)
                if copy and inbound.get("media"):   # the first post names it; the copy shows it
                    copy(ref, inbound)
            elif not (copy and copy(ref, inbound)):
                surface.post(ref, customer_line(inbound))
            written += 1
        self.store.mark_mirrored(channel, event_id, self.clock.now())
        return written

    def _previous_ref(self, conversation: dict[str, Any], surface: str) -> dict[str, Any]:
        previous_id = conversation.get("previous_conversation_id")
        previous = self.store.conversation(previous_id) if previous_id else None
        if not previous:
            return {}
        return {"reference": previous["reference"], **(desk_refs(previous).get(surface) or {})}

    # -- agents' actions ----------------------------------------------------------------------
    def act(self, action: DeskAction) -> str:
        """Carry out an action once; returns its outcome (sent, undeliverable, noted, closed, …)."""
        validate(action)
        conversation = self.store.conversation(action.conversation_id)
        if conversation is None:
            raise InvalidAction("unknown conversation")
        if action.kind == "reply" and not self.settings.desk.relays and action.origin.get("surface") != "inbox":
            action = dataclasses.replace(action, kind="note")   # alerts-only: a desk thread never reaches a customer
        now = self.clock.now()
        tasks = closing_tasks(self.settings, now) if action.kind == "close" else []
        record = self.store.record_action(action, conversation, now, self.settings, tasks)
        if action.kind == "reply":
            outcome, reason = self._deliver_reply(record, conversation)
        else:
            outcome, reason = record.get("outcome", action.kind), ""
        if not record.get("confirmed"):
            # a reply to a closed conversation opened it again: every surface shows it open
            self._show(action, outcome, reason, reopened=action.kind == "reply" and record.get("outcome") == "reopened")
        return outcome

    def _deliver_reply(self, record: dict[str, Any], conversation: dict[str, Any]) -> tuple[str, str]:
        if record.get("delivery") in ("sent", "undeliverable"):
            return record["delivery"], record.get("reason", "")
        action = DeskAction.from_dict(record["action"])
        messages = reply_messages(action.text, action.agent, conversation, self.settings)
        if action.origin.get("copy") and conversation["channel"] == "telegram":
            # an agent's photo or document from the Telegram desk: copied as it is, caption and all
            messages = [dataclasses.replace(messages[0], text=agent_text.to_plain(action.text), parse_mode="",
                                            details={**messages[0].details, "copy_from": action.origin["copy"]})]
        sender = self.sender_for(conversation["channel"])
        sent_ids = []
        try:
            for message in messages:
                sent_ids.append(self.deliver(sender, message).message_id)
        except SendError as exc:   # permanent: blocked bot, DM refused, address rejected
            log.warning("agent reply undeliverable: %s", exc, extra={"conversation_id": action.conversation_id})
            self.store.record_delivery(record, "undeliverable", self.clock.now(), sent_ids, reason=str(exc)[:300])
            return "undeliverable", str(exc)[:300]
        now = self.clock.now()
        self.store.record_delivery(record, "sent", now, sent_ids,
                                   first_response=first_response(conversation, self.settings, now, action.agent))
        return "sent", ""

    def _show(self, action: DeskAction, outcome: str, reason: str, reopened: bool = False) -> None:
        """Confirm where the agent acted; show the action in the other surfaces; refresh the parent
        (`reopened`: a reply opened a closed conversation, which reopens its Telegram topic too)."""
        conversation = self.store.conversation(action.conversation_id) or {}
        refs = desk_refs(conversation)
        changed = "reopen" if reopened else action.kind
        for surface in self.surfaces:
            ref = refs.get(surface.name)
            redraw = ref and changed in ("close", "reopen", "assign", "priority")
            if redraw and reopened:   # opened before the reply is shown in it: a closed topic takes no posts
                self._redraw(surface, ref, conversation, changed)
            if surface.name == action.origin.get("surface"):
                surface.confirm(action.origin, outcome, reason)
            elif ref and action.kind in ("reply", "note"):
                surface.post(ref, agent_line(action, outcome, reason))
            if redraw and not reopened:   # after the line: a close shows the agent's last word first
                self._redraw(surface, ref, conversation, changed)
        self.store.mark_confirmed(action.action_id)

    def _redraw(self, surface, ref: dict[str, Any], conversation: dict[str, Any], changed: str) -> None:
        surface.update_parent(ref, view(conversation, [], self.settings, self.clock.now())
                              | self._first_in(conversation) | {"changed": changed})

    def _first_in(self, conversation: dict[str, Any]) -> dict[str, Any]:
        """The parent keeps what the customer first wrote and what we answered when it is redrawn."""
        return {k: v for k, v in view(conversation, self.store.messages(conversation["conversation_id"]),
                                      self.settings, self.clock.now()).items()
                if k in ("text", "media", "subject", "ack", "ack_status")}


def desk_refs(conversation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each surface's thread of a conversation (`desk_slack`, `desk_telegram` on the item)."""
    return {k[len("desk_"):]: v for k, v in conversation.items() if k.startswith("desk_") and isinstance(v, dict)}


def customer_line(inbound: dict[str, Any]) -> str:
    """A customer's later message as a desk line (media named: "a photo: caption")."""
    text = inbound.get("text") or ""
    media = inbound.get("media") or ""
    if media:
        return f"[{media}] {text}".strip()
    return text or "(empty message)"


def agent_line(action: DeskAction, outcome: str, reason: str) -> str:
    who = action.agent.name or action.agent.id
    where = action.origin.get("surface", "")
    if action.kind == "note":
        return f"note by {who} ({where}): {agent_text.to_plain(action.text)}"
    status = "sent" if outcome == "sent" else f"not delivered: {reason}"
    return f"reply by {who} ({where}), {status}: {agent_text.to_plain(action.text)}"
