"""SLA in business time: when a waiting conversation is due, its priority from the rules, and the
job that warns once at the warning share (80 %) and once at the breach.

The clock is `BusinessHours.business_minutes` and its inverse `add_business_minutes`: only time
inside the hours counts, never a holiday, DST and overnight intervals included. A conversation's
clock runs from the first customer message nobody has answered yet (`waiting_since`): the first
response target until the first reply reached the customer, the next response target after.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Protocol

from functions.clock import iso
from functions.faq import fold
from functions.hours import business_hours
from functions.settings import PRIORITY_ORDER, Settings

log = logging.getLogger(__name__)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def due(conversation: dict[str, Any], settings: Settings, priority: str | None = None) -> dict[str, Any] | None:
    """{kind, due_at, warn_at, target_minutes} of a waiting conversation; None when it is not
    waiting or its priority has no target."""
    since = conversation.get("waiting_since")
    if conversation.get("state", "waiting") != "waiting" or not since:
        return None
    kind = "next" if conversation.get("first_response_at") else "first"
    target = settings.sla.target(kind, priority or conversation.get("priority") or "normal")
    if target is None:
        return None
    hours = business_hours(settings)   # the default schedule's, kept with the settings
    start = parse_time(since)
    minutes = target.minutes + target.days * hours.working_day_minutes(start)
    due_at = hours.add_business_minutes(start, minutes)
    warn_at = hours.add_business_minutes(start, minutes * settings.sla.warn_at)
    if due_at is None or warn_at is None:   # no hours configured: nothing can be promised
        return None
    return {"kind": kind, "due_at": iso(due_at), "warn_at": iso(warn_at), "target_minutes": round(minutes, 2)}


def rule_priority(text: str, contact: str, settings: Settings) -> str | None:
    """The highest priority the rules give a customer's message: a VIP contact ("channel:id"), a
    keyword in any language (folded and matched as FAQ keywords are)."""
    rules = settings.priority_rules
    found = []
    channel, _, ident = contact.partition("#")
    if f"{channel}:{ident.lower() if channel == 'email' else ident}" in rules.vip:
        found.append(rules.vip_priority)
    words = fold(text) if rules.keywords else ""
    for priority, keywords in rules.keywords.items():
        if any(k and fold(k) in words for k in keywords):
            found.append(priority)
    return max(found, key=PRIORITY_ORDER.index) if found else None


def higher(a: str, b: str | None) -> str:
    return b if b and PRIORITY_ORDER.index(b) > PRIORITY_ORDER.index(a) else a


class SlaStore(Protocol):
    def conversation(self, conversation_id: str) -> dict[str, Any] | None: ...
    def set_sla(self, conversation: dict[str, Any], due: dict[str, Any] | None, priority: str, now: datetime) -> bool: ...
    def due_sla_timers(self, now: datetime) -> list[dict[str, Any]]: ...
    def advance_sla_timer(self, timer: dict[str, Any], stage: str, now: datetime) -> bool: ...
    def restore_sla_timer(self, timer: dict[str, Any]) -> None: ...
    def drop_sla_timer(self, timer: dict[str, Any]) -> None: ...


def customer_text(subject: str | None, text: str | None) -> str:
    """What the keyword rules read of a customer's message."""
    return " ".join(filter(None, (subject, text)))


def placement(conversation: dict[str, Any], settings: Settings, text: str) -> tuple[str, dict[str, Any] | None]:
    """The priority a waiting conversation gets from a customer's message (the rules raise it
    unless an agent set it) and its due time at that priority."""
    priority = conversation.get("priority") or "normal"
    if not conversation.get("priority_by"):   # an agent's choice outranks the rules
        priority = higher(priority, rule_priority(text, conversation.get("contact", ""), settings))
    return priority, due(conversation, settings, priority)


def opening(channel: str, sender_id: str, text: str, settings: Settings,
            now: datetime) -> tuple[str, dict[str, Any] | None]:
    """The placement of a conversation this message opens, known before it is written (waiting
    since now, nobody answered, no agent's priority): the decision's transaction puts it in place,
    so the worker neither reads the conversation back nor writes it again."""
    return placement({"state": "waiting", "waiting_since": iso(now), "contact": f"{channel}#{sender_id}"},
                     settings, text)


def after_customer_message(store: SlaStore, settings: Settings, conversation: dict[str, Any] | None, text: str,
                           now: datetime) -> dict[str, Any] | None:
    """A customer's message was committed in a conversation that was open already (`conversation`,
    read after that): raise the priority when a rule says so (unless an agent set it), and put the
    conversation's due time in place. Idempotent: a retried message computes the same due time and
    the timer keeps the warnings it gave."""
    if not conversation or conversation.get("state") != "waiting" or not conversation.get("waiting_since"):
        return None
    priority, when = placement(conversation, settings, text)
    if (conversation.get("priority") == priority and conversation.get("sla_due_at") == (when or {}).get("due_at")
            and conversation.get("gsi2sk") == (when["due_at"] if when else conversation["waiting_since"])):
        return when   # a follow-up while waiting since the same moment: all in place already, no write
    store.set_sla(conversation, when, priority, now)
    return when


@dataclass
class SlaReport:
    warned: int = 0
    breached: int = 0
    read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def run(store: SlaStore, settings: Settings, now: datetime,
        notify: Callable[[dict[str, Any], str, dict[str, Any]], None]) -> SlaReport:
    """Warn about every timer whose moment has come: once at the warning share, once at the
    breach. Each alarm is claimed with a conditional write before it is sent (two runs at once
    send it once) and given back when sending fails."""
    report = SlaReport()
    stamp = iso(now)
    for timer in store.due_sla_timers(now):
        report.read += 1
        conversation = store.conversation(timer["conversation_id"])
        if (not conversation or conversation.get("state") != "waiting"
                or conversation.get("sla_due_at") != timer["due_at"]):
            store.drop_sla_timer(timer)   # answered, closed or given another due time meanwhile
            report.skip("no longer due")
            continue
        # a run that comes after the due time says "breached" only: the 80 % warning is moot then
        stage = "breach" if timer["due_at"] <= stamp else timer.get("stage", "warn")
        if stage == "warn" and timer.get("stage") == "breach":
            continue
        if not store.advance_sla_timer(timer, stage, now):
            report.skip("claimed by another run")
            continue
        try:
            notify(conversation, stage, timer)
        except Exception as exc:   # noqa: BLE001 - one failed alarm must not stop the others
            log.warning("SLA alarm not sent: %s", exc, extra={"conversation_id": timer["conversation_id"]})
            store.restore_sla_timer(timer)
            report.skip("send failed")
            continue
        if stage == "warn":
            report.warned += 1
        else:
            report.breached += 1
    return report


def alarm_text(conversation: dict[str, Any], stage: str, timer: dict[str, Any], settings: Settings,
               now: datetime) -> str:
    """The line an agent reads in the desk thread and on the alarm topic."""
    due_local = parse_time(timer["due_at"]).astimezone(settings.zone).strftime("%a %d %b %H:%M")
    who = conversation.get("name") or "a customer"
    ref = conversation.get("reference", "")
    priority = conversation.get("priority", "normal")
    kind = "first response" if timer.get("kind") == "first" else "next response"
    if stage == "warn":
        left = business_hours(settings).business_minutes(now, parse_time(timer["due_at"]))
        return (f"SLA warning: {ref} ({priority}, {conversation.get('channel')}) from {who} is due for its {kind} "
                f"at {due_local} ({settings.timezone}), {round(left)} business min left")
    return (f"SLA breached: {ref} ({priority}, {conversation.get('channel')}) from {who} missed its {kind} "
            f"due at {due_local} ({settings.timezone})")
