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


# The worker's and the jobs' models live in functions/worker_models.py and are loaded on first use
# (`from functions.models import Decision` works as before): Python compiles a dataclass's methods
# when the class is made, ~0.7 ms each, and a webhook's cold start needs InboundMessage alone.
WORKER_MODELS = ("Contact", "ChatState", "Decision", "Acknowledgement", "SentMessage")


def __getattr__(name: str) -> Any:
    if name in WORKER_MODELS:
        from functions import worker_models

        globals().update({n: getattr(worker_models, n) for n in WORKER_MODELS})   # once
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
