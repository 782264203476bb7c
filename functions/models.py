"""The things the core talks about: what arrived, who sent it, what we decided, what we sent.

Frozen dataclasses so a value that crossed the queue cannot be changed by accident; every one of
them round-trips through plain JSON-able dicts (the queue body and DynamoDB items are built from
`to_dict`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class InboundMessage:
    """One message a customer sent, normalised from any channel."""

    channel: str              # telegram | slack | x | email
    event_id: str             # the channel's own id of the delivery (dedupe key)
    chat_id: str              # where to answer; one conversation per chat
    sender_id: str            # the person (one contact per channel user)
    message_id: str           # the channel's id of the message (threading, replies)
    received_at: str          # ISO 8601 UTC, when the channel says it was sent
    text: str = ""
    media: str = ""           # photo, sticker, voice, … when the message is not (only) text
    first_name: str = ""
    name: str = ""
    language_code: str = ""   # as the channel reports it, e.g. "pt-br"
    chat_type: str = "private"
    thread_id: str = ""       # channel thread to answer in (Slack thread_ts, email Message-ID)
    subject: str = ""         # email: the Subject, which is also the topic
    references: str = ""      # email: the Message-IDs of the thread, space-separated, for our reply
    no_reply: str = ""        # why this message must get no automatic answer (auto-reply, list, …)
    details: dict[str, Any] = field(default_factory=dict)   # channel extras kept with the message
    timezone: str = ""        # the sender's IANA zone where the channel tells it (Slack users.info `tz`)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "InboundMessage":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Contact:
    channel: str
    sender_id: str
    first_name: str = ""
    name: str = ""
    language_code: str = ""
    last_ack_at: str = ""     # ISO 8601 UTC of the last acknowledgement we committed to send
    email: str = ""           # where transcripts go (email contacts: their address; chats: if they gave one)
    # What we asked and may be answered next (a survey on X, the comment after a survey)
    last_survey_at: str = ""
    awaiting_survey: str = ""          # X: "<conversation>" for the rating, "nps:<conversation>" for NPS
    awaiting_comment: str = ""         # the conversation whose "anything to add?" is open
    awaiting_comment_since: str = ""
    timezone: str = ""                 # IANA zone the channel told us (Slack `tz`); never guessed


@dataclass(frozen=True)
class ChatState:
    """The current conversation of one chat, as the worker needs it to decide."""

    conversation_id: str
    status: str               # open | closed
    opened_at: str
    last_activity_at: str
    reference: str


@dataclass(frozen=True)
class Decision:
    """What the worker decided for one inbound message; stored so a retry never re-decides."""

    conversation_id: str
    reference: str
    new_conversation: bool
    acknowledge: bool
    reason: str               # why (new-conversation, open-conversation, contact-gap, …)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Decision":
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class Acknowledgement:
    """A rendered acknowledgement, ready for a channel sender."""

    channel: str
    chat_id: str
    text: str
    language: str
    reply_to_message_id: str = ""
    thread_id: str = ""
    parse_mode: str = ""      # "HTML" on Telegram
    fallback: str = ""        # plain text where the channel shows rich content (Slack blocks, email HTML)
    details: dict[str, Any] = field(default_factory=dict)   # channel extras: email's to, subject, references


@dataclass(frozen=True)
class SentMessage:
    channel: str
    chat_id: str
    message_id: str
    sent_at: str
    text: str
    extra: dict[str, Any] = field(default_factory=dict)
