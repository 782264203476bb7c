"""What the core needs from the outside world, as protocols: tests pass fakes, handlers pass the
DynamoDB store and the channel senders. The core never imports boto3 or a channel SDK."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from functions.models import InboundMessage

if TYPE_CHECKING:   # annotations only: the webhooks import SendError from here, not the settings parser
    from functions.models import Acknowledgement, ChatState, Contact, Decision, SentMessage   # nor the worker's models
    from functions.settings import Settings


class SendError(Exception):
    """A channel refused or failed to take a message.

    `retryable`: a later attempt may work (5xx, network). `retry_after`: the channel asked us to wait
    this many seconds (rate limit). Neither: the message can never be delivered (blocked bot, chat
    gone), so retrying would only delay the dead-letter queue.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float = 0.0):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class SurfaceGone(SendError):
    """A desk surface that cannot be reached any more: its group or channel deleted, the bot
    removed from it. Nothing there can be changed by us again (erasure says so and goes on)."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


class Sender(Protocol):
    def send(self, ack: Acknowledgement) -> SentMessage: ...

    def is_own(self, sender_id: str) -> bool:
        """The message came from our own account (echoes the payload did not flag)."""
        ...

    def profile(self, sender_id: str) -> dict[str, str]:
        """first_name, name, language_code for a user id, where the channel needs a lookup."""
        ...

    def answer_survey(self, inbound: InboundMessage, text: str) -> None:
        """Thank the customer for a rating where they gave it (and retire the buttons)."""
        ...


class Store(Protocol):
    def get_event(self, channel: str, event_id: str) -> dict[str, Any] | None: ...

    def load_context(self, inbound: InboundMessage) -> tuple[Contact | None, ChatState | None]: ...

    def load_event_context(self, channel: str, event_id: str, chat_id: str, sender_id: str,
                           tombstone: str | None = None
                           ) -> tuple[dict[str, Any] | None, Contact | None, ChatState | None, dict[str, Any] | None]: ...

    def commit_decision(self, inbound: InboundMessage, decision: Decision, previous: ChatState | None,
                        now: datetime, settings: Settings,
                        placed: tuple[str, dict[str, Any] | None] | None = None) -> bool: ...

    def record_ack_sent(self, inbound: InboundMessage, decision: Decision, sent: SentMessage,
                        language: str, settings: Settings, plain: str = "") -> None: ...

    def remember_ack_sent(self, inbound: InboundMessage, sent: SentMessage, language: str,
                          plain: str = "") -> None: ...

    def record_ack_failed(self, inbound: InboundMessage, decision: Decision, reason: str) -> None: ...

    def mark_done(self, inbound: InboundMessage) -> None: ...

    def conversation(self, conversation_id: str) -> dict[str, Any] | None: ...

    def update_contact(self, channel: str, sender_id: str, **fields: Any) -> None: ...

    def update_conversation(self, conversation_id: str, **fields: Any) -> None: ...

    def load_settings(self) -> Settings: ...


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...
