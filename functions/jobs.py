"""Scheduled work after a conversation: closing what went idle, and emailing transcripts.

Each job finds its work through the sparse due index (never a Scan), claims each item with a
conditional write so two runs at once do it once, and gives a failed item back for the next run
without stopping the others. `now` comes from the caller (the schedule's event time, or `--now`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from functions import agent_text, i18n, render, tokens
from functions.desk import Agent, closing_tasks
from functions.language import choose_language
from functions.settings import CHANNELS, Settings
from functions.text import clean

log = logging.getLogger(__name__)
CLAIM_STALE = timedelta(minutes=15)   # a claim older than this belongs to a run that died
UNSUBSCRIBE_VALID = timedelta(days=365 * 2)


@dataclass
class JobReport:
    done: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    failed: int = 0

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


class JobStore(Protocol):
    def idle_conversations(self, channel: str, idle_since: datetime) -> list[dict[str, Any]]: ...
    def close_conversation(self, conversation: dict[str, Any], now: datetime,
                           tasks: list[tuple[str, datetime]]) -> bool: ...
    def due_tasks(self, kind: str, now: datetime) -> list[dict[str, Any]]: ...
    def claim_task(self, kind: str, conversation_id: str, now: datetime, stale_after: timedelta) -> bool: ...
    def finish_task(self, kind: str, conversation_id: str, now: datetime, outcome: str) -> None: ...
    def release_task(self, kind: str, conversation_id: str, error: str) -> None: ...
    def conversation(self, conversation_id: str) -> dict[str, Any] | None: ...
    def messages(self, conversation_id: str) -> list[dict[str, Any]]: ...
    def contact(self, channel: str, sender_id: str) -> dict[str, Any] | None: ...


class Mailer(Protocol):
    def send_transcript(self, to: str, name: str, subject: str, text: str, html: str, language: str,
                        unsubscribe_url: str) -> str: ...


def close_idle(store: JobStore, settings: Settings, now: datetime, send=None) -> JobReport:
    """`send(acknowledgement) -> message id` delivers the closing message (issue 15) on the
    conversation's channel; without it, or without `closing_message` set, none is sent."""
    report = JobReport()
    for channel in CHANNELS:
        idle_since = now - timedelta(minutes=settings.timeouts_minutes[channel])
        for conversation in store.idle_conversations(channel, idle_since):
            if store.close_conversation(conversation, now, closing_tasks(settings, now)):
                report.done += 1
                if send is not None:
                    outcome = send_closing_message(store, conversation, settings, now, send)
                    if outcome != "sent":
                        report.skip(f"closing message: {outcome}")
            else:   # a message arrived since the query: the conversation goes on
                report.skip("active again")
    return report


def send_closing_message(store, conversation: dict[str, Any], settings: Settings, now: datetime, send) -> str:
    """The closing message of a chat conversation that close-idle closed: once (a flag claimed
    before sending: a crash after the claim loses it rather than sending it twice), never by email
    (a mail thread has no "end"), never where the first message got no acknowledgement because
    it was automatic (`suppressed: …`: two auto-responders would loop)."""
    from functions.desk import Agent, reply_messages

    if conversation["channel"] == "email":
        return "not for email"
    if not settings.closing_message:
        return "none set"
    if str(conversation.get("ack", "")).startswith("suppressed"):
        return "automatic sender"
    cid = conversation["conversation_id"]
    if not store.set_conversation_flag(cid, "closing_message_claimed"):
        return "already sent"
    language = conversation.get("language") or conversation.get("customer_language") or settings.default_language
    text = settings.closing_message_for(language)
    sent_ids = []
    try:
        # formatted as an agent's reply is on each channel (HTML on Telegram, the Slack thread, …)
        for message in reply_messages(text, Agent("auto:closing", settings.business_name), conversation, settings):
            sent_ids.append(send(message))
    except Exception as exc:   # the conversation is closed either way; the job goes on
        log.warning("closing message not delivered: %s", exc, extra={"conversation_id": cid})
        store.update_conversation(cid, closing_message="failed", closing_message_error=str(exc)[:300])
        return "failed"
    store.update_conversation(cid, closing_message="sent", closing_message_at=now.isoformat(),
                              closing_message_ids=sent_ids)
    return "sent"


def run_due(kind: str, store: JobStore, now: datetime, work) -> JobReport:
    """Claim each due task of `kind` and run `work(conversation_id) -> outcome`; a failure is
    logged and released for the next run, and the loop goes on."""
    report = JobReport()
    for task in store.due_tasks(kind, now):
        cid = task["conversation_id"]
        if not store.claim_task(kind, cid, now, CLAIM_STALE):
            report.skip("claimed by another run")
            continue
        try:
            outcome = work(cid)
        except Exception as exc:   # one bad item must not stop the others
            log.exception("%s for %s failed", kind, cid, extra={"conversation_id": cid})
            store.release_task(kind, cid, f"{type(exc).__name__}: {exc}")
            report.failed += 1
            continue
        if outcome == "postponed":   # rescheduled by `work`: still due, later
            report.skip(outcome)
            continue
        store.finish_task(kind, cid, now, outcome)
        if outcome == "sent":
            report.done += 1
        else:
            report.skip(outcome)
    return report


def transcript_address(conversation: dict[str, Any], contact: dict[str, Any] | None) -> str:
    if conversation["channel"] == "email":
        return conversation["contact"].split("#", 1)[1]
    return (contact or {}).get("email", "")


def build_transcript(conversation: dict[str, Any], messages: list[dict[str, Any]],
                     contact: dict[str, Any] | None, settings: Settings, language: str) -> dict[str, Any]:
    from functions.hours import customer_zone

    # the customer's own zone when their channel told us (an email's Date offset is not a zone)
    zone = customer_zone(contact or {}, settings.zone, offsets=False)
    lines = []
    for message in messages:
        if message["direction"] not in ("in", "out") or message.get("delivery") == "undeliverable":
            continue   # notes and status changes are the team's, never the customer's
        moment = datetime.fromisoformat(message["sent_at"].replace("Z", "+00:00")).astimezone(zone)
        agent = ""
        if message["direction"] == "in":
            sender, text = "customer", message.get("text") or i18n.word(language, message.get("media") or "message")
        elif message.get("kind") == "reply":
            sender, text = "agent", agent_text.to_plain(message.get("text", ""))
            agent = Agent(message.get("agent", ""), message.get("agent_name", "")).first_name
        else:
            sender = "auto-reply" if message.get("kind") in ("ack", "survey") else "agent"
            text = message.get("plain") or message.get("text", "")
        lines.append({"time": i18n.format_moment(moment, language), "sender": sender, "agent": agent,
                      "text": clean(text, 5000, keep_lines=True) if sender == "customer" else text.strip()})
    return {"messages": lines}


def send_transcripts(store: JobStore, mailer: Mailer, settings: Settings, now: datetime,
                     public_url: str) -> JobReport:
    def work(cid: str) -> str:
        conversation = store.conversation(cid)
        if conversation is None:
            return "conversation expired"
        channel, sender_id = conversation["contact"].split("#", 1)
        contact = store.contact(channel, sender_id)
        if (contact or {}).get("unsubscribed_at"):
            return "unsubscribed"
        address = transcript_address(conversation, contact)
        if not address:
            return "no address"
        language = choose_language(conversation.get("language") or (contact or {}).get("language_code", ""),
                                   settings.default_language, render.available_languages("transcript", "email"))
        context = {
            "customer": {"first_name": (contact or {}).get("first_name", ""), "name": (contact or {}).get("name", ""),
                         "language": language},
            "business": {"name": settings.business_name}, "reference": conversation["reference"],
            "channel": channel,
            "transcript": build_transcript(conversation, store.messages(cid), contact, settings, language),
            "unsubscribe_url": f"{public_url.rstrip('/')}/unsubscribe/"
                               + tokens.make("unsubscribe", conversation["contact"], now, UNSUBSCRIBE_VALID),
        }
        edited = settings.templates
        subject, _, text = render.render("transcript", "email", language, context, markup="text",
                                         overrides=edited).partition("\n")
        html = render.render("transcript", "email", language, context, overrides=edited).partition("\n")[2]
        mailer.send_transcript(address, (contact or {}).get("name", ""), subject.strip(), text.strip(),
                               html.strip(), language, context["unsubscribe_url"])
        return "sent"

    return run_due("transcript", store, now, work)
