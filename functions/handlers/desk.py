"""The worker's desk work: customers' messages mirrored into the desk surfaces, and what agents did
there (stored by the webhook as events of type `desk…`) carried out through `functions.desk`."""
from __future__ import annotations

import logging
from typing import Any

from functions import agent_text
from functions.desk import Agent, Desk, DeskAction, InvalidAction
from functions.models import InboundMessage
from functions.settings import Settings

log = logging.getLogger(__name__)


def surfaces(settings: Settings) -> list:
    """The desk surfaces the settings turn on, with credentials to reach them."""
    from functions.handlers.worker import sender_for, use_outbox
    from integrations import secrets

    found = []
    if settings.desk.slack_channel:
        if secrets.get("SLACK_BOT_TOKEN"):
            from integrations.slack_desk import SlackDesk

            found.append(SlackDesk(sender_for("slack"), settings.desk.slack_channel))
        elif use_outbox():
            from integrations.outbox import OutboxDesk

            found.append(OutboxDesk("slack", settings.desk.slack_channel))
        else:
            log.warning("desk.slack_channel is set but SLACK_BOT_TOKEN is not: no Slack desk")
    return found


def desk(store, settings: Settings, clock, policy) -> Desk:
    from functions.handlers.worker import sender_for
    from functions.pipeline import deliver

    return Desk(store, settings, clock, surfaces(settings), sender_for,
                lambda sender, message: deliver(sender, message, clock, policy))


def mirror(store, settings: Settings, clock, policy, channel: str, event_id: str) -> int:
    """After the pipeline handled a customer's message: show it in the desk (once)."""
    if not settings.desk.enabled:
        return 0
    event = store.get_event(channel, event_id) or {}
    decision = event.get("decision")
    if not decision:
        return 0
    return desk(store, settings, clock, policy).mirror(channel, event_id, event, decision["conversation_id"])


def after_customer_message(store, settings: Settings, clock, channel: str, event_id: str, conversation_id: str):
    """The SLA due time of a conversation a customer wrote in (and the priority the rules give)."""
    from functions import sla

    text = ""
    if settings.priority_rules.keywords:   # only the keyword rules need what the customer wrote
        event = store.get_event(channel, event_id) or {}
        inbound = event.get("inbound") or {}
        text = " ".join(filter(None, (inbound.get("subject"), inbound.get("text"))))
    return sla.after_customer_message(store, settings, conversation_id, text, clock.now())


def handle(inbound: InboundMessage, store, settings: Settings, clock, policy) -> str:
    """An agent's message, edit or click in a desk surface; returns what became of it."""
    if inbound.channel == INBOX:   # the web inbox works with or without a Slack desk
        return inbox_action(inbound, store, settings, clock, policy)
    if not settings.desk.enabled:
        return "ignored: no desk"
    surface = inbound.channel
    channel, _, thread = inbound.chat_id.partition(":")
    if surface == "slack" and channel != settings.desk.slack_channel:
        return "ignored: not the desk channel"
    conversation_id = store.thread_conversation(surface, inbound.chat_id)
    if not conversation_id:
        return "ignored: not a desk thread"
    agent_id = f"{surface}:{inbound.sender_id}"
    if settings.desk.agents and agent_id not in settings.desk.agents:
        return "ignored: not an agent"
    work = desk(store, settings, clock, policy)
    origin = {"surface": surface, "channel": channel, "ts": inbound.message_id, "thread_ts": thread}
    if inbound.chat_type == "desk-edit":
        # What reached the customer cannot be taken back: say so once per conversation.
        if store.set_conversation_flag(conversation_id, "desk_edit_notice"):
            for s in work.surfaces:
                if s.name == surface:
                    s.post({"channel": channel, "ts": thread},
                           "Edits and deletions are not sent to the customer: what was sent stays as it was. "
                           "Write a new reply to correct it.")
        return "edit not relayed"
    agent = Agent(id=agent_id, name=_agent_name(inbound, work))
    try:
        action = _action(inbound, conversation_id, agent, settings, origin)
        return work.act(action)
    except InvalidAction as exc:
        log.info("desk action refused: %s", exc, extra={"conversation_id": conversation_id})
        for s in work.surfaces:
            if s.name == surface:
                s.confirm(origin, "undeliverable", str(exc))
        return f"refused: {exc}"


INBOX = "inbox"


def inbox_action(inbound: InboundMessage, store, settings: Settings, clock, policy) -> str:
    """An action an agent took in the web inbox: stored by the API as an event carrying the
    `DeskAction`, carried out here exactly as a Slack desk reply is (stored once, sent through the
    channel's sender with its retries, marked sent or undeliverable with the reason)."""
    try:
        action = DeskAction.from_dict(inbound.details["action"])
        return desk(store, settings, clock, policy).act(action)
    except (KeyError, TypeError) as exc:
        log.error("inbox event without an action: %s", exc, extra={"event_id": inbound.event_id})
        return "refused: malformed inbox event"
    except InvalidAction as exc:   # the API checked; the conversation may have gone since (erased)
        log.info("inbox action refused: %s", exc, extra={"conversation_id": inbound.chat_id})
        return f"refused: {exc}"


def _agent_name(inbound: InboundMessage, work: Desk) -> str:
    if inbound.name:
        return inbound.name
    from functions.handlers.worker import sender_for
    from functions.ports import SendError

    try:
        return (sender_for(inbound.channel).profile(inbound.sender_id) or {}).get("name", "")
    except SendError as exc:
        log.warning("agent profile lookup failed: %s", exc)
        return ""


def _action(inbound: InboundMessage, conversation_id: str, agent: Agent, settings: Settings,
            origin: dict[str, Any]) -> DeskAction:
    action_id = inbound.event_id
    if inbound.chat_type == "desk-action":
        kind, value = inbound.text, inbound.details.get("value", "")
        if kind == "assign":   # "Assign to me": the one who clicked
            return DeskAction(action_id, conversation_id, "assign", agent, text=agent.name, value=agent.id,
                               origin=origin)
        return DeskAction(action_id, conversation_id, kind, agent, value=value, origin=origin)
    text = agent_text.from_slack(inbound.text) if inbound.channel == "slack" else inbound.text
    files = inbound.details.get("files") or []
    prefix = settings.desk.note_prefix.lower()
    for marker in (prefix, "/note"):
        if marker and text.lower().startswith(marker):
            return DeskAction(action_id, conversation_id, "note", agent, text=text[len(marker):].strip() or text,
                              origin=origin)
    if files and not text:
        raise InvalidAction("files are not sent to customers from the Slack desk: write the text")
    return DeskAction(action_id, conversation_id, "reply", agent, text=text, origin=origin)
