"""The queue worker: one queued event at a time through `functions.pipeline.process`."""
from __future__ import annotations

import json
import logging
import os
from functools import lru_cache

from functions.clock import SystemClock
from functions.handlers import desk
from functions.pipeline import DeferDelivery, RetryPolicy, delayed_ack, process
from functions.ports import Sender
from integrations import secrets, sqs
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


def now():
    """The process's one clock, read when called: senders that check Meta's 24-hour window get
    this, so a clock a test or `--now` puts in later still counts."""
    return clock.now()


@lru_cache(maxsize=8)
def sender_for(channel: str) -> Sender:
    """One sender per channel and container, and with it one connection per channel (Telegram's
    Bot lives in the container's one event loop, Slack's client keeps its connection alive)."""
    if channel == "telegram" and secrets.get("TELEGRAM_BOT_TOKEN"):
        from integrations.telegram import TelegramSender

        return TelegramSender(secrets.get("TELEGRAM_BOT_TOKEN"))
    if channel == "slack" and secrets.get("SLACK_BOT_TOKEN"):
        from integrations.slack import SlackSender

        return SlackSender(secrets.get("SLACK_BOT_TOKEN"))
    if channel == "x":
        from integrations import x

        creds = x.credentials()
        if creds:
            return x.XSender(creds, limiter=x_dm_budget(x.own_user_id(creds["access_token"])))
    if channel == "email":
        from integrations.ses import EmailSender, support_sender

        if support_sender():
            return EmailSender(support_sender())
    if channel == "whatsapp":
        from integrations import whatsapp

        token, phone_number_id = whatsapp.configured()
        if token and phone_number_id:
            return whatsapp.WhatsAppSender(token, phone_number_id, now=now)
    if channel in ("messenger", "instagram") and secrets.get("META_PAGE_TOKEN"):
        from integrations.meta import MessengerSender

        return MessengerSender(channel, secrets.get("META_PAGE_TOKEN"), now=now)
    if use_outbox():
        from integrations.outbox import OutboxSender

        return OutboxSender()
    raise ChannelNotConfigured(f"no credentials for {channel}: set its token (see README)")


X_DM_LIMIT = (15, 15 * 60)   # X: 15 DMs per 15 minutes for the sending account


def x_dm_budget(account: str):
    """Shared across every worker instance through the table, so concurrent functions cannot
    overrun X's DM limit between them; returns seconds to wait, 0 when a DM may go now."""
    from datetime import datetime, timezone

    from integrations.dynamodb import take_slot

    return lambda: take_slot(f"x-dm#{account}", *X_DM_LIMIT, now=datetime.now(timezone.utc))


class LazySender:
    """Resolves the channel's sender on first use: no SDK import, and no credentials needed,
    for messages that get no acknowledgement."""

    def __init__(self, channel: str):
        self.channel = channel

    def send(self, ack):
        return sender_for(self.channel).send(ack)

    def is_own(self, sender_id: str) -> bool:
        return sender_for(self.channel).is_own(sender_id)

    def profile(self, sender_id: str) -> dict[str, str]:
        return sender_for(self.channel).profile(sender_id)

    def answer_survey(self, inbound, text: str) -> None:
        sender_for(self.channel).answer_survey(inbound, text)

    def send_survey(self, request) -> str:
        return sender_for(self.channel).send_survey(request)


def retry_policy() -> RetryPolicy:
    return RetryPolicy(base_delay=float(os.environ.get("FIRSTREPLY_RETRY_BASE_SECONDS", "0.5")))


def handle(event) -> None:
    """Chalice SQS event: raise to have SQS retry (and, after the last receive, dead-letter)."""
    for record in event:
        body = json.loads(record.body)
        policy = retry_policy()
        delayed = body.get("kind") == "delayed-ack"   # from the delay queue (issue 15)
        try:
            if delayed:
                outcome = delayed_ack(body["channel"], body["event_id"], store(), LazySender(body["channel"]),
                                      clock, policy)
            else:
                outcome = process(body["channel"], body["event_id"], store(), LazySender(body["channel"]),
                                  clock, policy, desk=lambda inbound, settings: desk.handle(
                                      inbound, store(), settings, clock, policy),
                                  delay_ack=lambda inbound, seconds: sqs.enqueue_delayed_ack(
                                      inbound.channel, inbound.event_id, seconds),
                                  keys=(body["chat_id"], body["sender_id"]) if body.get("sender_id") else None)
                desk.mirror(store(), store().load_settings(), clock, policy, body["channel"], body["event_id"])
                if outcome.decision:   # a customer's message: the SLA due time and the rules' priority
                    desk.after_customer_message(store(), store().load_settings(), clock, body["channel"],
                                                body["event_id"], outcome.decision.conversation_id)
        except DeferDelivery as exc:
            log.warning("deferring %s/%s by %.0fs", body["channel"], body["event_id"], exc.seconds)
            sqs.defer(record.receipt_handle, exc.seconds, sqs.DELAY_QUEUE_NAME if delayed else sqs.QUEUE_NAME)
            raise
        log.info("processed", extra={"channel": body["channel"], "event_id": body["event_id"],
                                     "outcome": outcome.status})
