"""The acknowledgement: the template variables for one customer, rendered in their language."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from functions import i18n, render
from functions.faq import match_faq
from functions.hours import BusinessHours
from functions.language import choose_language
from functions.models import Acknowledgement, Contact, Decision, InboundMessage
from functions.settings import Settings
from functions.text import clean

log = logging.getLogger(__name__)
TOPIC_LENGTH = 80
NAME_LENGTH = 64


def build_context(inbound: InboundMessage, contact: Contact | None, decision: Decision,
                  settings: Settings, language: str, now: datetime) -> dict[str, Any]:
    hours = BusinessHours(settings)
    local_now = now.astimezone(settings.zone)
    is_open = hours.is_open(now)
    opening = None if is_open else hours.next_opening(now)
    first_name = clean(inbound.first_name or (contact.first_name if contact else ""), NAME_LENGTH)
    name = clean(inbound.name or (contact.name if contact else ""), NAME_LENGTH * 2)
    return {
        "customer": {"first_name": first_name, "name": name or first_name, "language": language},
        "channel": inbound.channel,
        "topic": clean(inbound.text, TOPIC_LENGTH),
        "media": i18n.word(language, inbound.media) if inbound.media else "",
        "business": {"name": settings.business_name},
        "is_open": is_open,
        "next_opening": i18n.format_opening(opening, local_now.date(), language) if opening else "",
        "hours_today": i18n.format_hours(hours.hours_on(local_now.date()), language),
        "expected_response": settings.expected_response_for(language),
        "faq_links": match_faq(inbound.text, settings.faq, settings.faq_links),
        "reference": decision.reference,
    }


def acknowledgement(inbound: InboundMessage, contact: Contact | None, decision: Decision,
                    settings: Settings, now: datetime) -> Acknowledgement:
    requested = inbound.language_code or (contact.language_code if contact else "")
    language = choose_language(requested, settings.default_language,
                               render.available_languages("ack", inbound.channel))
    context = build_context(inbound, contact, decision, settings, language, now)
    text = render.render("ack", inbound.channel, language, context)
    reply_to = inbound.message_id if inbound.chat_type != "private" else ""
    return Acknowledgement(channel=inbound.channel, chat_id=inbound.chat_id, text=text,
                           language=language, reply_to_message_id=reply_to,
                           thread_id=inbound.thread_id)
