"""The worker's desk work: customers' messages mirrored into the desk surfaces, and what agents did
there (stored by the webhook as events of type `desk…`) carried out through `functions.desk`."""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

from functions import agent_text
from functions.desk import Agent, Desk, DeskAction, InvalidAction, desk_refs
from functions.models import InboundMessage
from functions.settings import Settings

log = logging.getLogger(__name__)


def surfaces(settings: Settings) -> list:
    """The desk surfaces the settings turn on, with credentials to reach them."""
    from functions.handlers.worker import sender_for, use_outbox
    from integrations import secrets

    def slack(chat: str):
        from integrations.slack_desk import SlackDesk

        return SlackDesk(sender_for("slack"), chat)

    def telegram(chat: str):
        from integrations.telegram_desk import TelegramDesk

        return TelegramDesk(sender_for("telegram"), chat)

    found = []
    for name, chat, token, make in (("slack", settings.desk.slack_channel, "SLACK_BOT_TOKEN", slack),
                                    ("telegram", settings.desk.telegram_group, "TELEGRAM_BOT_TOKEN", telegram)):
        if not chat:
            continue
        if secrets.get(token):
            found.append(make(chat))
        elif use_outbox():   # `firstreply dev` without the token: the desk on /dev/outbox
            from integrations.outbox import OutboxDesk

            found.append(OutboxDesk(name, chat))
        else:
            log.warning("the %s desk is set but %s is not: no %s desk", name, token, name)
    return found


def desk(store, settings: Settings, clock, policy) -> Desk:
    from functions.handlers.worker import sender_for
    from functions.pipeline import deliver

    return Desk(store, settings, clock, surfaces(settings), sender_for,
                lambda sender, message: deliver(sender, message, clock, policy))


def mirror(store, settings: Settings, clock, policy, channel: str, event_id: str,
           event: dict | None = None, conversation_id: str = "", conversation: dict | None = None) -> int:
    """After the pipeline handled a customer's message: show it in the desk (once). `event` and
    `conversation_id`: the event as the pipeline read it and the conversation it decided, when it
    decided in this receive (else, a redelivery of a message already done, the event is read: a
    receive that failed to mirror it is made good); `conversation`: that conversation, when the
    worker read it already."""
    if not settings.desk.enabled:
        return 0
    if event is None or not conversation_id:
        event = store.get_event(channel, event_id) or {}
        conversation_id = (event.get("decision") or {}).get("conversation_id", "")
        if not conversation_id:
            return 0
    return desk(store, settings, clock, policy).mirror(channel, event_id, event, conversation_id, conversation)


def after_customer_message(store, settings: Settings, clock, inbound: InboundMessage, conversation: dict | None):
    """The SLA due time of a conversation a customer wrote in (and the priority the rules give)."""
    from functions import sla

    return sla.after_customer_message(store, settings, conversation,
                                      sla.customer_text(inbound.subject, inbound.text), clock.now())


def handle(inbound: InboundMessage, store, settings: Settings, clock, policy) -> str:
    """An agent's message, edit or click in a desk surface; returns what became of it."""
    if inbound.channel == INBOX:   # the web inbox works with or without a Slack desk
        return inbox_action(inbound, store, settings, clock, policy)
    outcome = _handle(inbound, store, settings, clock, policy)
    if inbound.channel == "telegram" and inbound.chat_type == "desk-action":
        # Telegram keeps a pressed button spinning until it is answered: every press, even a
        # forged or refused one, gets its answer (and nothing else)
        from functions.handlers.worker import sender_for
        from integrations.telegram_desk import answer_click

        answer_click(sender_for("telegram"), inbound.details.get("callback_id", ""), outcome)
    return outcome


def _desk_chat(surface: str, settings: Settings) -> str:
    return {"slack": settings.desk.slack_channel, "telegram": settings.desk.telegram_group}.get(surface, "")


def _handle(inbound: InboundMessage, store, settings: Settings, clock, policy) -> str:
    if not settings.desk.enabled:
        return "ignored: no desk"
    surface = inbound.channel
    channel, _, thread = inbound.chat_id.partition(":")
    if channel != _desk_chat(surface, settings):
        return "ignored: not the desk channel"
    conversation_id = store.thread_conversation(surface, inbound.chat_id)
    if not conversation_id:
        return "ignored: not a desk thread"   # the General topic, a topic people opened themselves
    if surface == "telegram" and inbound.chat_type == "desk-action":
        inbound = _signed_click(inbound, channel, conversation_id)
        if inbound is None:
            return "ignored: not a valid button"
    agent_id = f"{surface}:{inbound.sender_id}"
    if not _may_act(surface, agent_id, inbound, settings, channel, clock):
        return "ignored: not an agent"
    work = desk(store, settings, clock, policy)
    origin = {"surface": surface, "channel": channel, "ts": inbound.message_id, "thread_ts": thread}
    if inbound.details.get("callback_id"):
        origin["callback_id"] = inbound.details["callback_id"]
    if inbound.chat_type == "desk-edit":
        # What reached the customer cannot be taken back: say so once per conversation and surface.
        if store.set_conversation_flag(conversation_id, f"desk_edit_notice_{surface}"):
            ref = desk_refs(store.conversation(conversation_id) or {}).get(surface)
            for s in work.surfaces:
                if s.name == surface and ref:
                    s.post(ref, "Edits and deletions are not sent to the customer: what was sent stays as it was. "
                                "Write a new reply to correct it.")
        return "edit not relayed"
    agent = Agent(id=agent_id, name=_agent_name(inbound, work))
    try:
        if surface == "telegram" and inbound.media and inbound.chat_type == "desk":
            origin = _media_origin(inbound, store.conversation(conversation_id) or {}, origin, settings)
        action = _action(inbound, conversation_id, agent, settings, origin)
        return work.act(action)
    except InvalidAction as exc:
        log.info("desk action refused: %s", exc, extra={"conversation_id": conversation_id})
        for s in work.surfaces:
            if s.name == surface:
                s.confirm(origin, "undeliverable", str(exc))
        return f"refused: {exc}"


def _signed_click(inbound: InboundMessage, group: str, conversation_id: str) -> InboundMessage | None:
    """A Telegram desk button's press as the action it names, when we signed it for this group
    and this topic's conversation; None for anything a client made up."""
    from integrations.telegram_desk import read_callback

    found = read_callback(inbound.details.get("data"), group)
    if found is None or found[1] != conversation_id:
        log.warning("telegram desk button refused", extra={"conversation_id": conversation_id})
        return None
    kind, _, value = found
    return dataclasses.replace(inbound, text=kind, details={**inbound.details, "value": value})


def _may_act(surface: str, agent_id: str, inbound: InboundMessage, settings: Settings, group: str, clock) -> bool:
    """Slack: anyone in the desk channel, or only `desk.agents` when it is set. Telegram: the
    group's administrators, and `desk.agents` ("telegram:<user id>"): a group has members who are
    not agents (a customer invited by mistake, an intern reading along)."""
    if agent_id in settings.desk.agents:
        return True
    if surface != "telegram":
        return not settings.desk.agents
    from functions.handlers.worker import sender_for, use_outbox
    from integrations import secrets
    from integrations.telegram_desk import is_admin

    if use_outbox() and not secrets.get("TELEGRAM_BOT_TOKEN"):
        return True   # `firstreply dev` without a bot: nobody to ask, and no customer reachable
    return is_admin(sender_for("telegram"), group, inbound.sender_id, clock.now())


def _media_origin(inbound: InboundMessage, conversation: dict[str, Any], origin: dict[str, Any],
                  settings: Settings) -> dict[str, Any]:
    """A photo, voice or document an agent sent in a topic: copied to a Telegram customer; no
    other channel takes it from here, which the topic is told (a note stays a note)."""
    lowered = inbound.text.lower()
    if any(m and lowered.startswith(m) for m in (settings.desk.note_prefix.lower(), "/note")):
        return origin
    if conversation.get("channel") != "telegram":
        raise InvalidAction(f"a {inbound.media} from the Telegram desk reaches Telegram customers only; "
                            f"this customer is on {conversation.get('channel', '?')}: write the text instead")
    return {**origin, "copy": {"chat_id": origin["channel"], "message_id": inbound.message_id}}


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
    action_id = inbound.details.get("action_id") or inbound.event_id
    if inbound.chat_type == "desk-action":
        kind, value = inbound.text, inbound.details.get("value", "")
        if kind == "assign":   # "Assign to me": the one who clicked
            return DeskAction(action_id, conversation_id, "assign", agent, text=agent.name, value=agent.id,
                               origin=origin)
        return DeskAction(action_id, conversation_id, kind, agent, value=value, origin=origin)
    text = agent_text.from_slack(inbound.text) if inbound.channel == "slack" else inbound.text
    if not text.strip() and inbound.media:
        text = f"[{inbound.media}]"   # a photo without caption: its line in the history and transcript
    files = inbound.details.get("files") or []
    prefix = settings.desk.note_prefix.lower()
    for marker in (prefix, "/note"):
        if marker and text.lower().startswith(marker):
            return DeskAction(action_id, conversation_id, "note", agent, text=text[len(marker):].strip() or text,
                              origin=origin)
    if files and not text:
        raise InvalidAction("files are not sent to customers from the Slack desk: write the text")
    return DeskAction(action_id, conversation_id, "reply", agent, text=text, origin=origin)
