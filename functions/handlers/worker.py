"""The queue worker: batches of queued events, each through `functions.pipeline.process`."""
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
# Sends a second each channel takes (Telegram: ~30 a bot; Slack: ~1 a channel; SES: the account's
# send rate, 14/s out of the sandbox unless raised): paced through one-second windows in the table.
CHANNEL_PACE = {"telegram": 30, "slack": 1,
                "email": int(os.environ.get("FIRSTREPLY_SES_SEND_RATE", "14"))}


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

    def pace(self, ack, now) -> float:
        """Seconds until this channel may take another message (0: now, and the slot is taken)."""
        limit = CHANNEL_PACE.get(self.channel)
        if limit is None:
            return 0.0
        from integrations.dynamodb import take_slot

        # Telegram's limit is the bot's (one per stack), Slack's each channel's
        key = f"pace#{self.channel}" + (f"#{ack.chat_id}" if self.channel == "slack" else "")
        return take_slot(key, limit, 1, now=now)

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


deferred: set[str] = set()   # ids of messages the last batch deferred (the dev queue pump leaves them be)


def handle_record(body: dict, receipt_handle: str, message_id: str = "") -> None:
    """One queued event; raises to have SQS retry it (and, after the last receive, dead-letter)."""
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
        sqs.defer(receipt_handle, exc.seconds, sqs.DELAY_QUEUE_NAME if delayed else sqs.QUEUE_NAME)
        deferred.add(message_id)
        raise
    log.info("processed", extra={"channel": body["channel"], "event_id": body["event_id"],
                                 "outcome": outcome.status})


def handle(event) -> dict:
    """A Chalice SQS event of up to 10 messages: each handled in the order SQS gave them, and the
    failed ones reported back (ReportBatchItemFailures) so SQS retries only those, not the whole
    batch. On the FIFO work queue a failure must also hand back the rest of its chat's messages
    (else a later one would be handled before the failed one is retried); Powertools' FIFO processor
    does that, and with skip_group_on_error the other chats of the batch still go through. The
    delay queue is a standard queue (no groups, no order): its failures are reported one by one."""
    from aws_lambda_powertools.utilities.batch import (BatchProcessor, EventType, SqsFifoPartialProcessor,
                                                       process_partial_response)

    deferred.clear()
    raw = event.to_dict()
    fifo = any(r.get("eventSourceARN", "").endswith(".fifo") for r in raw.get("Records", []))

    def one(record) -> None:
        handle_record(json.loads(record.body), record.receipt_handle, record.message_id)

    processor = SqsFifoPartialProcessor(skip_group_on_error=True) if fifo else BatchProcessor(EventType.SQS)
    # a batch whose every message failed (a lone deferred one, typically, at a paced burst) is
    # reported like any partial failure, not raised: raising would count as a function error and
    # fire the errors alarm on every burst
    processor.raise_on_entire_batch_failure = False
    return process_partial_response(event=raw, record_handler=one, processor=processor)
