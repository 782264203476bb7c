"""The models only the worker and the jobs use: who sent it, what we decided, what we sent.

Frozen dataclasses like `functions.models.InboundMessage`, and imported from there
(`from functions.models import Decision`): `functions.models` loads this module on first use, so a
webhook's cold start does not make these classes (see `functions.models.WORKER_MODELS`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


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
        # what dataclasses.asdict gives, without its deep copy: every field is a str or a bool
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

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
