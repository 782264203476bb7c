"""Whether a message opens a conversation and whether it gets an acknowledgement.

- A chat has one current conversation. It stays open until it is closed or idle longer than the
  channel's timeout; a message after that opens a new one (a reopening).
- Only the first message of a conversation is acknowledged; follow-ups in an open one are not.
- No contact gets two acknowledgements closer together than the contact gap, even across chats or
  after a quick close and reopen.
- The channel's policy (`acknowledgement.policy`): `always`, `outside-hours` (only while the
  conversation's schedule is closed) or `off`. The conversation is opened and stored either way.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from functions.hours import hours_for
from functions.models import ChatState, Contact, Decision, InboundMessage
from functions.settings import Settings

# Crockford's base32 without I, L, O, U: easy to read aloud and to type back
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# a random byte's low five bits pick the letter: 256 is a multiple of 32, so each of the 32 is as
# likely as with secrets.choice, from one call to the system's random source instead of ten
_LETTER_OF_BYTE = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) for b in range(256))


def new_conversation_id() -> str:
    return secrets.token_bytes(10).translate(_LETTER_OF_BYTE).decode("ascii")


def reference_of(conversation_id: str) -> str:
    """A short reference the customer can quote: the first six characters, grouped."""
    return f"{conversation_id[:3]}-{conversation_id[3:6]}"


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def is_conversation_open(chat: ChatState | None, channel: str, settings: Settings, now: datetime) -> bool:
    if chat is None or chat.status != "open":
        return False
    idle = now - parse_time(chat.last_activity_at)
    return idle < timedelta(minutes=settings.timeouts_minutes.get(channel, 30))


def within_contact_gap(contact: Contact | None, settings: Settings, now: datetime) -> bool:
    if contact is None or not contact.last_ack_at:
        return False
    return now - parse_time(contact.last_ack_at) < timedelta(minutes=settings.contact_gap_minutes)


def decide(inbound: InboundMessage, contact: Contact | None, chat: ChatState | None,
           settings: Settings, now: datetime, conversation_id: str | None = None) -> Decision:
    if is_conversation_open(chat, inbound.channel, settings, now) or (
            inbound.channel == "email" and chat is not None and chat.status == "open"
            and inbound.details.get("in_thread")):
        assert chat is not None
        return Decision(chat.conversation_id, chat.reference, new_conversation=False,
                        acknowledge=False, reason="open-conversation")
    cid = conversation_id or new_conversation_id()
    reason = "reopened" if chat is not None else "new-conversation"
    if inbound.no_reply:   # never answer automatic mail: two auto-responders would loop
        return Decision(cid, reference_of(cid), True, acknowledge=False, reason=f"suppressed: {inbound.no_reply}")
    policy = settings.ack_policy.get(inbound.channel, "always")
    if policy == "off":
        return Decision(cid, reference_of(cid), True, acknowledge=False, reason="policy: off")
    if policy == "outside-hours" and hours_for(settings, inbound.channel).is_open(now):
        return Decision(cid, reference_of(cid), True, acknowledge=False, reason="policy: open now")
    if within_contact_gap(contact, settings, now):
        return Decision(cid, reference_of(cid), True, acknowledge=False, reason="contact-gap")
    return Decision(cid, reference_of(cid), True, acknowledge=True, reason=reason)
