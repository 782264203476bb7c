"""The local outbox: where acknowledgements go in `firstreply dev` when a channel has no token.

It lets a new user see exactly what a customer would receive without any account. Process-local on
purpose: it exists only in the dev server, which runs the webhooks and the worker in one process.
"""
from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from dataclasses import asdict
from datetime import datetime, timezone

from functions.clock import iso
from functions.models import Acknowledgement, SentMessage

log = logging.getLogger(__name__)
_messages: deque[dict] = deque(maxlen=500)
_desk: deque[dict] = deque(maxlen=500)     # what a desk surface would show agents
_ids = itertools.count(1)
_lock = threading.Lock()


def record(ack: Acknowledgement, message_id: str, sent_at: str) -> None:
    """Show a message in the dev outbox (also used for email that went to SES on the stand-in)."""
    with _lock:
        _messages.append({"message_id": message_id, "sent_at": sent_at, **asdict(ack)})
    log.info("outbox %s → %s:\n%s", ack.channel, ack.chat_id, ack.fallback or ack.text)


class OutboxSender:
    def send(self, ack: Acknowledgement) -> SentMessage:
        sent_at = iso(datetime.now(timezone.utc))
        with _lock:
            message_id = f"outbox-{next(_ids)}"
        record(ack, message_id, sent_at)
        return SentMessage(channel=ack.channel, chat_id=ack.chat_id, message_id=message_id,
                           sent_at=sent_at, text=ack.text)

    def send_survey(self, request) -> str:
        ack = Acknowledgement(channel=request.channel, chat_id=request.chat_id, text=request.text,
                              language=request.language, fallback=request.plain, details=request.details)
        return self.send(ack).message_id

    def answer_survey(self, *args) -> None:
        log.info("outbox survey answer: %s", args[-1])

    def is_own(self, sender_id: str) -> bool:
        return False

    def profile(self, sender_id: str) -> dict[str, str]:
        return {}   # without a token there is nobody to ask; the greeting stays neutral


class OutboxDesk:
    """A desk surface in the dev server without a Slack or Telegram token: threads listed on
    /dev/outbox, with their ids, so an agent's reply can be posted by hand (`firstreply post slack
    --thread`, `firstreply post telegram --thread`)."""

    def __init__(self, name: str, channel: str):
        self.name, self.channel = name, channel

    def _record(self, what: str, thread: str, text: str, **extra) -> None:
        with _lock:
            _desk.append({"surface": self.name, "what": what, "thread": thread,
                          "text": text, "at": iso(datetime.now(timezone.utc)), **extra})
        log.info("desk %s %s in %s:\n%s", self.name, what, thread, text)

    def open_thread(self, view: dict) -> dict:
        with _lock:
            ts = f"{datetime.now(timezone.utc).timestamp():.6f}"[:-3] + f"{next(_ids) % 1000:03d}"
            if self.name == "telegram":   # a forum topic's id is a number
                ts = str(next(_ids))
        self._record("conversation", f"{self.channel}:{ts}", f"{view.get('name') or 'A customer'} on {view['channel']} "
                     f"({view.get('language') or '?'}) · ref {view['reference']}: {view.get('text') or view.get('media')}"
                     f"\nauto-reply: {view.get('ack') or view.get('ack_status')}", view=view)
        return {"channel": self.channel, "ts": ts, "thread": f"{self.channel}:{ts}"}

    def update_parent(self, ref: dict, view: dict) -> None:
        self._record("updated", ref["thread"], f"{view.get('state')} · priority {view.get('priority')} · "
                     f"assigned to {view.get('assignee_name') or 'nobody'}")

    def post(self, ref: dict, text: str) -> None:
        self._record("in thread", f"{ref['channel']}:{ref['ts']}", text)

    def confirm(self, origin: dict, outcome: str, reason: str = "") -> None:
        self._record("confirmed", f"{origin.get('channel')}:{origin.get('thread_ts')}",
                     f"{outcome} {reason}".strip())


def desk_posts() -> list[dict]:
    with _lock:
        return list(reversed(_desk))


def messages() -> list[dict]:
    with _lock:
        return list(reversed(_messages))


def clear() -> None:
    with _lock:
        _messages.clear()
        _desk.clear()
