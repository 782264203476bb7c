"""Messages that answer something we asked, handled instead of being taken as new questions:
a survey rating (button or, on X, a number), the free-text comment after a survey, and the email
address a chat customer sends for their transcript."""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any, Callable

from functions import i18n, render, surveys
from functions.language import choose_language
from functions.models import Acknowledgement, Contact, InboundMessage
from functions.ports import SendError
from functions.settings import Settings
from functions.text import clean

log = logging.getLogger(__name__)
COMMENT_WINDOW = timedelta(hours=24)   # how long the next message counts as the survey comment
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def email_address(text: str) -> str:
    """The message, when it is nothing but a plausible email address (lower-cased)."""
    candidate = text.strip().strip("<>.,;").strip()
    if len(candidate) > 254 or not _ADDRESS.match(candidate) or "." not in candidate.rsplit("@", 1)[1]:
        return ""
    return candidate.lower()


def _language(inbound: InboundMessage, contact: Contact, settings: Settings) -> str:
    return choose_language(inbound.language_code or contact.language_code, settings.default_language,
                           render.available_languages("ack", inbound.channel))


def handle(inbound: InboundMessage, contact: Contact | None, store, settings: Settings, now: datetime,
           say: Callable[[Acknowledgement], Any], sender) -> str | None:
    """The outcome when `inbound` answered us, else None (an ordinary message). `contact` is the
    profile the worker already read for its decision."""
    contact = contact or Contact(inbound.channel, inbound.sender_id)
    rating = surveys.rating_of(inbound, contact, now)
    if rating is not None:
        return surveys.answer(inbound, rating, store, sender, settings, now)
    if inbound.chat_type == "answer":
        return "answer refused"
    if inbound.channel == "email":
        return None
    waiting, asked = contact.awaiting_comment, contact.awaiting_comment_since
    if waiting and asked and now - datetime.fromisoformat(asked) > COMMENT_WINDOW:
        waiting = ""   # they did not answer the question in time: this is a new message
    if waiting and inbound.text.strip():
        store.update_conversation(waiting, comment=clean(inbound.text, 2000, keep_lines=True),
                                  comment_at=now.isoformat())
        store.update_contact(inbound.channel, inbound.sender_id, awaiting_comment="")
        _courtesy(say, inbound, _language(inbound, contact, settings), i18n.word(
            _language(inbound, contact, settings), "comment_thanks"))
        return "comment recorded"
    address = email_address(inbound.text) if settings.transcripts else ""
    if address:
        store.update_contact(inbound.channel, inbound.sender_id, email=address)
        language = _language(inbound, contact, settings)
        _courtesy(say, inbound, language, i18n.word(language, "email_saved").format(address=address))
        return "address saved"
    return None


def _courtesy(say, inbound: InboundMessage, language: str, text: str) -> None:
    note = Acknowledgement(channel=inbound.channel, chat_id=inbound.chat_id, language=language, text=text,
                           thread_id=inbound.thread_id)
    try:
        say(note)
    except SendError as exc:   # what they told us is saved; the thank-you is a courtesy
        log.warning("could not confirm: %s", exc)
