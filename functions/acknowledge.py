"""The acknowledgement: the template variables for one customer, rendered in their language."""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from functions import expected, i18n, render
from functions.faq import match_faq
from functions.hours import BusinessHours, hours_for
from functions.language import choose_language, detect_language
from functions.models import Acknowledgement, Contact, Decision, InboundMessage
from functions.settings import Settings
from functions.text import clean, shorten, x_length

TOPIC_LENGTH = 80
NAME_LENGTH = 64


def build_context(inbound: InboundMessage, contact: Contact | None, decision: Decision,
                  settings: Settings, language: str, now: datetime) -> dict[str, Any]:
    hours = hours_for(settings, inbound.channel)   # the conversation's schedule, special days included
    timed = schedule_context(hours, inbound.channel, language, now)
    first_name = clean(inbound.first_name or (contact.first_name if contact else ""), NAME_LENGTH)
    name = clean(inbound.name or (contact.name if contact else ""), NAME_LENGTH * 2)
    return {
        "customer": {"first_name": first_name, "name": name or first_name, "language": language},
        "channel": inbound.channel,
        "topic": clean(inbound.subject or inbound.text, TOPIC_LENGTH),
        "media": i18n.word(language, inbound.media) if inbound.media else "",
        "business": {"name": settings.business_name},
        "is_open": timed["is_open"],
        "next_opening": timed["next_opening"],
        "hours_today": timed["hours_today"],
        "expected_response": timed["expected_response"],
        "faq_links": match_faq(inbound.text, settings.faq, settings.faq_links),
        "reference": decision.reference,
        # chat customers without an address on file are offered a copy (email has one already)
        "offer_transcript": settings.transcripts and inbound.channel != "email"
                            and not (contact and contact.email),
        **timed["rules"],
    }


SCHEDULE_CONTEXTS_KEPT = 64   # (channel, language) pairs one BusinessHours keeps


def schedule_context(hours: BusinessHours, channel: str, language: str, now: datetime) -> dict[str, Any]:
    """The variables that follow from the schedule and the moment, not from the message: open now,
    the next opening and today's hours in words, the expected reply, today's special day. They stay
    the same until a segment of the schedule opens or closes or the business's day ends, so they
    are kept per BusinessHours (one settings object and schedule), channel and language for that
    window, [moment worked out, next change): a clock outside it (later, or moved back) works them
    out again."""
    kept = hours.contexts
    found = kept.get((channel, language))
    if found is not None and found[0] <= now < found[1]:
        return found[2]
    settings = hours.settings
    today = now.astimezone(settings.zone).date()
    is_open = hours.is_open(now)
    opening = None if is_open else hours.next_opening(now)
    values = {
        "is_open": is_open,
        "next_opening": i18n.format_opening(opening, today, language) if opening else "",
        "hours_today": i18n.format_hours(hours.hours_on(today), language),
        "expected_response": expected.expected_response(settings, channel, language, opening, today),
        "rules": rule_variables(hours, hours.special_day(today), hours.vacation(now), language),
    }
    if len(kept) >= SCHEDULE_CONTEXTS_KEPT:
        kept.clear()
    kept[(channel, language)] = (now, unchanged_until(hours, now, today), values)
    return values


def unchanged_until(hours: BusinessHours, now: datetime, today) -> datetime:
    """The next instant after `now` at which a segment opens or closes, or the business's day
    (`today`, in its zone) ends, whichever comes first."""
    from datetime import time, timedelta

    day_end = hours._local(today + timedelta(days=1), time(0, 0))
    edges = [t for s, e in hours.segments(today, 1) for t in (s, e) if now < t < day_end]
    return min(edges, default=day_end)


def rule_variables(hours: BusinessHours, special, vacation, language: str) -> dict[str, Any]:
    """`schedule`, `special_day` and `vacation_message` (issue 15): which hours this conversation
    keeps, and what today has that the weekly hours do not."""
    return {
        "schedule": hours.schedule,
        # today's special day: its hours, formatted like hours_today, or closed
        "special_day": {"date": special.first.isoformat(), "until": special.last.isoformat(),
                        "closed": special.closed,
                        "hours": i18n.format_hours([str(i) for i in special.hours], language)}
                       if special is not None else None,
        "vacation_message": vacation.message_for(language, hours.settings.default_language) if vacation else "",
    }


# Channel conversations whose acknowledgement replies to the customer's message rather than
# starting a line of its own: Telegram groups, X mentions (a public reply).
REPLIES_TO_MESSAGE = {("telegram", "group"), ("telegram", "supergroup"), ("x", "mention")}
TEXT_LIMITS = {("x", "mention"): 280, ("x", "dm"): 10_000, ("telegram", ""): 4096}


def text_limit(channel: str, chat_type: str) -> int | None:
    """The longest message the channel takes in this kind of chat (None: no limit we enforce)."""
    return TEXT_LIMITS.get((channel, chat_type)) or TEXT_LIMITS.get((channel, ""))


def fit(text: str, channel: str, chat_type: str) -> str:
    """`text` cut to what the channel takes in this kind of chat, counted as the channel counts
    (X by weight, the others by character); unchanged when it fits."""
    limit = text_limit(channel, chat_type)
    return shorten(text, limit, x_length if channel == "x" else len) if limit else text


def template_name(inbound: InboundMessage) -> str:
    return "mention" if (inbound.channel, inbound.chat_type) == ("x", "mention") else "ack"


@lru_cache(maxsize=512)
def _language(requested: str, default: str, name: str, channel: str, folder) -> str:
    """`choose_language` over the shipped templates of `name` and `channel` (listed once per
    container and folder): the same few answers for every message."""
    return choose_language(requested, default, render.available_languages(name, channel))


def acknowledgement(inbound: InboundMessage, contact: Contact | None, decision: Decision,
                    settings: Settings, now: datetime) -> Acknowledgement:
    name = template_name(inbound)
    requested = (inbound.language_code or (contact.language_code if contact else "")
                 or detect_language(inbound.text))
    language = _language(requested, settings.default_language, name, inbound.channel, render.TEMPLATE_DIR)
    context = build_context(inbound, contact, decision, settings, language, now)
    text = render.render(name, inbound.channel, language, context, overrides=settings.templates)
    text = fit(text, inbound.channel, inbound.chat_type)
    # Plain text of every ack: Slack's fallback, email's text part, and the transcript's copy.
    fallback = render.render(name, inbound.channel, language, context, markup="text",
                             overrides=settings.templates)
    replies = (inbound.channel, inbound.chat_type) in REPLIES_TO_MESSAGE
    details = ({"to": inbound.sender_id, "name": inbound.name, "subject": inbound.subject,
                "references": inbound.references} if inbound.channel == "email" else {})
    return Acknowledgement(channel=inbound.channel, chat_id=inbound.chat_id, text=text,
                           language=language, reply_to_message_id=inbound.message_id if replies else "",
                           thread_id=inbound.thread_id, fallback=fallback, details=details,
                           parse_mode="HTML" if inbound.channel == "telegram" else "")
