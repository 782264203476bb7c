"""The queue worker: batches of queued events, each through `functions.pipeline.process`."""
from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from functools import lru_cache

from functions.clock import SystemClock
from functions.handlers import desk
from functions.pipeline import DeferDelivery, RetryPolicy, delayed_ack, process, tombstone_digest
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
    for messages that get no acknowledgement. `event_id` is the queue message's event, which a
    reserved send slot is held for while the message waits in the queue; `held`: the moment held
    for it by an earlier receive (`handle` reads the batch's holds in one call)."""

    def __init__(self, channel: str, event_id: str = "", held: float | None = None):
        self.channel, self.event_id, self.held = channel, event_id, held

    def send(self, ack):
        return sender_for(self.channel).send(ack)

    def pace(self, ack, now, keep_beyond: float, delay: float = 0.0) -> float:
        """Seconds until this message's send slot of the channel, `delay` seconds from `now` or
        later (0: now). A slot is reserved once (`reserve_slot`); one further than `keep_beyond`
        is held for the event (`hold_slot`), for the receive after the queue's wait."""
        limit = CHANNEL_PACE.get(self.channel)
        if limit is None:
            return 0.0
        from integrations.dynamodb import hold_slot, reserve_slot, take_spare

        # Telegram's limit is the bot's (one per stack), Slack's each channel's
        key = f"pace#{self.channel}" + (f"#{ack.chat_id}" if self.channel == "slack" else "")
        held, self.held = self.held, None   # a hold is used once: a later send of this event reserves anew
        if held is not None and not delay:
            if int(held) >= int(now.timestamp()):   # its window has not passed: wait for it
                if held - now.timestamp() > keep_beyond:   # this invocation cannot: still held
                    hold_slot(self.channel, self.event_id, held)
                return max(held - now.timestamp(), 0.0)
            if take_spare(key, limit, 1, now.timestamp()):   # back late: a spare send of this window
                return 0.0
        at = reserve_slot(key, limit, 1, now.timestamp() + delay)
        wait = at - now.timestamp()
        if wait > keep_beyond and self.event_id:
            hold_slot(self.channel, self.event_id, at)
        return max(wait, 0.0)

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


class InvocationClock:
    """The clock of one worker invocation, counting what it slept: the batch's messages share one
    inline wait (`RetryPolicy.max_inline_wait`), so ten paced messages cannot sleep ten times it."""

    def __init__(self, clock):
        self.clock, self.slept = clock, 0.0

    def now(self):
        return self.clock.now()

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.clock.sleep(seconds)


deferred: set[str] = set()   # ids of messages the last batch deferred (the dev queue pump leaves them be)


def handle_record(body: dict, message_id: str = "", held: float | None = None,
                  timer: InvocationClock | None = None, deferrals: dict | None = None) -> None:
    """One queued event; raises to have SQS retry it (and, after the last receive, dead-letter).
    A message the channel's pace (or its "retry after") sends later is noted in `deferrals`, for
    `handle` to hand back to the queue for that long."""
    timer = timer or InvocationClock(clock)
    policy = retry_policy()
    policy = replace(policy, max_inline_wait=max(policy.max_inline_wait - timer.slept, 0.0))
    delayed = body.get("kind") == "delayed-ack"   # from the delay queue (issue 15)
    sender = LazySender(body["channel"], body["event_id"], held)
    try:
        if delayed:
            outcome = delayed_ack(body["channel"], body["event_id"], store(), sender, timer, policy)
        else:
            outcome = process(body["channel"], body["event_id"], store(), sender,
                              timer, policy, desk=lambda inbound, settings: desk.handle(
                                  inbound, store(), settings, timer, policy),
                              delay_ack=lambda inbound, seconds: sqs.enqueue_delayed_ack(
                                  inbound.channel, inbound.event_id, seconds),
                              keys=(body["chat_id"], body["sender_id"]) if body.get("sender_id") else None)
            cid = outcome.decision.conversation_id if outcome.decision else ""
            # a customer's message in a conversation open already: its SLA step reads the conversation
            # (a new one's due time went in with the decision), and the desk's mirror uses that read
            conversation = store().conversation(cid) if cid and not outcome.placed else None
            desk.mirror(store(), store().load_settings(), timer, policy, body["channel"], body["event_id"],
                        outcome.event, cid, conversation)
            if cid and not outcome.placed:   # the SLA due time and the rules' priority
                desk.after_customer_message(store(), store().load_settings(), timer, outcome.inbound, conversation)
    except DeferDelivery as exc:
        log.warning("deferring %s/%s by %.0fs", body["channel"], body["event_id"], exc.seconds)
        if deferrals is not None:
            deferrals[message_id] = exc
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
    from aws_lambda_powertools.utilities.batch import process_partial_response

    deferred.clear()
    raw = event.to_dict()
    records = raw.get("Records", [])
    fifo = any(r.get("eventSourceARN", "").endswith(".fifo") for r in records)
    bodies = read_bodies(records)
    held = holds(records, bodies)
    if held:
        raw = {**raw, "Records": by_held_slot(records, held)}
    timer, deferrals = InvocationClock(clock), {}

    def one(record) -> None:
        body = bodies.get(record.message_id) or json.loads(record.body)   # unreadable: fails here, alone
        handle_record(body, record.message_id, held.get(record.message_id), timer, deferrals)

    try:
        read_ahead(raw.get("Records", []), bodies)   # in the order they are handled (held slots first)
    except Exception:   # throttled, a secret unreadable: each message reads on its own, and fails alone
        log.warning("reading the batch ahead failed; each message reads its own", exc_info=True)
        store().forget_read_ahead()
    try:
        response = process_partial_response(event=raw, record_handler=one, processor=batch_processor(fifo))
    finally:   # what the batch did not use is not the next batch's: the table moves on
        store().forget_read_ahead()
    if deferrals:
        hand_back(records, deferrals, {f["itemIdentifier"] for f in response.get("batchItemFailures", [])},
                  sqs.QUEUE_NAME if fifo else sqs.DELAY_QUEUE_NAME)
    return response


@lru_cache(maxsize=2)
def batch_processor(fifo: bool):
    """One processor per queue kind and container, as Powertools intends (each batch resets it):
    building one per invocation cost ~0.1 ms a message (bench/compare.py)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, SqsFifoPartialProcessor

    processor = SqsFifoPartialProcessor(skip_group_on_error=True) if fifo else BatchProcessor(EventType.SQS)
    # a batch whose every message failed (a lone deferred one, typically, at a paced burst) is
    # reported like any partial failure, not raised: raising would count as a function error and
    # fire the errors alarm on every burst
    processor.raise_on_entire_batch_failure = False
    return processor


def read_bodies(records: list[dict]) -> dict[str, dict]:
    """The batch's queue messages (message id → body), parsed once for the batch's reads and its
    handling; one that is not a queued event is left out, to fail on its own when handled."""
    bodies = {}
    for r in records:
        try:
            body = json.loads(r["body"])
            if (isinstance(body, dict) and isinstance(body.get("channel"), str)
                    and isinstance(body.get("event_id"), (str, int))):
                bodies[r["messageId"]] = body
        except (ValueError, KeyError, TypeError):
            continue
    return bodies


def holds(records: list[dict], bodies: dict[str, dict]) -> dict[str, float]:
    """The send moments held for the batch's redelivered messages (message id → moment), one read."""
    again = {}
    for r in records:
        body = bodies.get(r["messageId"])
        if (body and body["channel"] in CHANNEL_PACE
                and int((r.get("attributes") or {}).get("ApproximateReceiveCount", 1)) > 1):
            again[r["messageId"]] = (body["channel"], str(body["event_id"]))
    if not again:
        return {}
    from integrations.dynamodb import held_slots

    found = held_slots(list(again.values()))
    return {m: found[e] for m, e in again.items() if e in found}


def read_ahead(records: list[dict], bodies: dict[str, dict]) -> None:
    """The batch's messages' events, chats and contacts in one read (`DynamoStore.read_ahead`),
    not one a message: all but those whose chat or sender an earlier message of the batch has
    (it writes them before they are handled; they read on their own, then)."""
    wanted, seen = [], set()
    for r in records:
        body = bodies.get(r["messageId"])
        if (not body or body.get("kind") == "delayed-ack" or not body.get("sender_id")
                or not all(isinstance(body.get(k), (str, int)) for k in ("chat_id", "sender_id"))):
            continue
        chat, sender = ("chat", body["channel"], body["chat_id"]), ("sender", body["channel"], body["sender_id"])
        keys = (body["channel"], body["event_id"], body["chat_id"], body["sender_id"])
        if not {chat, sender} & seen:
            wanted.append((*keys, tombstone_digest(store(), body["channel"], body["sender_id"])))
        seen |= {chat, sender}
    if len(wanted) > 1:   # a batch of one reads as it always did
        store().read_ahead(wanted)


def group_of(record: dict) -> str:
    """The record's chat (its FIFO message group); a standard queue's record is a group of one."""
    return (record.get("attributes") or {}).get("MessageGroupId") or record["messageId"]


def by_held_slot(records: list[dict], held: dict[str, float]) -> list[dict]:
    """The batch in the order of its held moments, each chat's messages kept in their order: one
    invocation sleeps to each moment in turn, so a later moment handled first would make an
    earlier one late. A chat goes where its first held message says; chats with none go first."""
    first: dict[str, float] = {}
    for r in records:
        if r["messageId"] in held:
            first.setdefault(group_of(r), held[r["messageId"]])
    return sorted(records, key=lambda r: first.get(group_of(r), float("-inf")))


def hand_back(records: list[dict], deferrals: dict[str, DeferDelivery], failed: set[str], queue: str) -> None:
    """Deferred messages become visible again when their wait is over (in one call); one with a
    send slot held comes back a second or two before it and waits the rest inline, so it is not
    late for its slot (back late, it would have to find a spare send or a new slot). The messages
    of a deferred one's chat that the batch skipped become visible at once: left alone they would
    stay invisible for the queue's whole visibility timeout (six minutes), and hold the chat, the
    deferred one included, as long (a FIFO group waits for all its messages in flight); visible,
    they still wait behind the deferred one, in flight, in order."""
    def seconds(deferral: DeferDelivery) -> float:
        # held: a second or two early (SQS counts whole seconds), at once for a slot less than two
        # seconds away that this invocation had no time left to wait for (another one will)
        return max(int(deferral.seconds) - 1, 0) if deferral.held else max(deferral.seconds, 1)

    waiting = {group_of(r) for r in records if r["messageId"] in deferrals}
    back = [r for r in records if r["messageId"] in failed and group_of(r) in waiting]
    sqs.defer([(r["receiptHandle"], seconds(deferrals[r["messageId"]]) if r["messageId"] in deferrals else 0)
               for r in back], queue)
    deferred.update(r["messageId"] for r in back)
