"""The queue worker: one queued event at a time through `functions.pipeline.process`."""
from __future__ import annotations

import json
import logging
import os
from functools import lru_cache

from functions.clock import SystemClock
from functions.pipeline import DeferDelivery, RetryPolicy, process
from functions.ports import Sender
from integrations import sqs
from integrations.dynamodb import DynamoStore

log = logging.getLogger(__name__)


clock = SystemClock()   # module-level so tests and `--now` runs can put another clock in


class ChannelNotConfigured(RuntimeError):
    pass


@lru_cache(maxsize=1)
def store() -> DynamoStore:
    return DynamoStore()


def use_outbox() -> bool:
    """The dev server sets this when a channel has no token: replies go to the local outbox."""
    return os.environ.get("FIRSTREPLY_OUTBOX") == "1"


def sender_for(channel: str) -> Sender:
    if channel == "telegram":
        token = os.environ.get("TELEGRAM_BOT_TOKEN")
        if token:
            from integrations.telegram import TelegramSender

            return TelegramSender(token)
    if use_outbox():
        from integrations.outbox import OutboxSender

        return OutboxSender()
    raise ChannelNotConfigured(f"no credentials for {channel}: set its token (see README)")


class LazySender:
    """Resolves the channel's sender on the first send: no SDK import, and no credentials needed,
    for messages that get no acknowledgement."""

    def __init__(self, channel: str):
        self.channel = channel

    def send(self, ack):
        return sender_for(self.channel).send(ack)


def retry_policy() -> RetryPolicy:
    return RetryPolicy(base_delay=float(os.environ.get("FIRSTREPLY_RETRY_BASE_SECONDS", "0.5")))


def handle(event) -> None:
    """Chalice SQS event: raise to have SQS retry (and, after the last receive, dead-letter)."""
    for record in event:
        body = json.loads(record.body)
        try:
            outcome = process(body["channel"], body["event_id"], store(), LazySender(body["channel"]),
                              clock, retry_policy())
        except DeferDelivery as exc:
            log.warning("deferring %s/%s by %.0fs", body["channel"], body["event_id"], exc.seconds)
            sqs.defer(record.receipt_handle, exc.seconds)
            raise
        log.info("processed", extra={"channel": body["channel"], "event_id": body["event_id"],
                                     "outcome": outcome.status})
