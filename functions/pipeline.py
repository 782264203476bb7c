"""The worker's core: one stored inbound message in, at most one acknowledgement out.

Every step can be repeated safely. The decision is stored on the event in the same transaction that
writes the message and moves the conversation, so a redelivered queue message replays the stored
decision instead of deciding again; the acknowledgement is marked sent once the channel took it, so
a retry after that sends nothing.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Callable

from functions import followups, sla
from functions.acknowledge import acknowledgement
from functions.clock import iso
from functions.decide import decide
from functions.desk import customer_message, is_desk_chat
from functions.models import Acknowledgement, Decision, InboundMessage, SentMessage
from functions.ports import Clock, Sender, SendError, Store
from functions.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4              # tries per worker invocation before the queue takes over
    base_delay: float = 0.5        # seconds, doubled each time, with jitter
    # A longer Retry-After (or wait for a send slot) is waited out by the queue, not in here: at a
    # burst, hundreds of invocations sleeping 20 s each are paid for and hold concurrency.
    max_inline_wait: float = 2.0


class DeferDelivery(Exception):
    """The channel asked us to wait longer than a worker should sleep: retry after `seconds`.
    `held`: a send slot is held for then, so the message may come back a little early and wait
    for it inline (coming back late would cost it its place)."""

    def __init__(self, seconds: float, held: bool = False):
        super().__init__(f"channel asked to retry after {seconds:.0f}s")
        self.seconds, self.held = seconds, held


class DeliveryFailed(Exception):
    """Transient failures outlasted the retries: let the queue retry, then dead-letter."""


@dataclass(frozen=True)
class Outcome:
    status: str            # duplicate | ignored-… | acknowledged | no-ack | undeliverable | a desk action's outcome
    decision: Decision | None = None
    sent: SentMessage | None = None
    placed: bool = False   # the conversation's priority and SLA due time went in with the decision
    inbound: InboundMessage | None = None   # the customer's message decided on
    event: dict | None = None   # the stored event as this receive read it (before its own writes)


def stamped(sent: SentMessage, clock: Clock) -> SentMessage:
    """One clock orders a conversation: what we store carries our time (the injected clock's),
    in and out alike; the channel's own time (its server's, a sender's Date header) is kept beside
    it as `channel_at`, never used for order."""
    return replace(sent, sent_at=iso(clock.now()), extra={**sent.extra, "channel_at": sent.sent_at})


def paced(sender: Sender, ack: Acknowledgement, clock: Clock, policy: RetryPolicy) -> None:
    """Wait for this message's send slot of the channel (`Sender.pace`: a rate shared by every
    worker through the table, so a burst above a channel's limit goes out at that limit instead of
    into 429s). The slot is reserved once: a wait longer than `max_inline_wait` goes back to the
    queue (the chat's order is kept there) with the slot held, and the next receive sends then."""
    pace = getattr(sender, "pace", None)
    wait = pace(ack, clock.now(), policy.max_inline_wait) if pace is not None else 0.0
    if wait > policy.max_inline_wait:
        raise DeferDelivery(wait, held=True)
    if wait > 0:
        clock.sleep(wait)


def held_after(sender: Sender, ack: Acknowledgement, clock: Clock, seconds: float) -> DeferDelivery:
    """The channel said "retry after `seconds`": a paced sender reserves (and holds) a slot after
    that, so the next receive sends at it."""
    pace = getattr(sender, "pace", None)
    wait = pace(ack, clock.now(), 0.0, seconds) if pace is not None else 0.0   # 0: held, whatever the wait
    return DeferDelivery(max(wait, seconds), held=wait > 0)


def deliver(sender: Sender, ack: Acknowledgement, clock: Clock, policy: RetryPolicy) -> SentMessage:
    attempt = 0
    paced(sender, ack, clock, policy)
    while True:
        attempt += 1
        try:
            return stamped(sender.send(ack), clock)
        except SendError as exc:
            if exc.retry_after:
                if exc.retry_after > policy.max_inline_wait or attempt >= policy.attempts * 2:
                    # a long wait, or a channel that keeps asking: the queue waits, not this function
                    raise held_after(sender, ack, clock, exc.retry_after) from exc
                log.warning("rate limited, waiting %.1fs", exc.retry_after)
                clock.sleep(exc.retry_after)
                continue
            if not exc.retryable:
                raise
            if attempt >= policy.attempts:
                raise DeliveryFailed(str(exc)) from exc
            delay = policy.base_delay * 2 ** (attempt - 1)
            log.warning("send failed (%s), attempt %d, retrying in %.2fs", exc, attempt, delay)
            clock.sleep(delay * random.uniform(0.8, 1.2))


def record_sent(store: Store, inbound: InboundMessage, decision: Decision, sent: SentMessage,
                language: str, settings, plain: str, clock: Clock, policy: RetryPolicy) -> None:
    """Record an acknowledgement the channel has taken, so that no retry sends it again.

    Once the channel took it, this record is all that stands between a redelivered queue message
    and a second acknowledgement. So the (idempotent) record is retried with backoff, and if it
    still fails, the bare fact is written on the event alone (`remember_ack_sent`: one small
    item) for the redelivery to complete the record from, without sending.

    Why not write "about to send" before sending instead? None of the channels (Telegram's Bot
    API, SES, Slack's chat.postMessage, X's DM endpoint) accepts an idempotency key or can be asked
    whether a message went out, so a redelivery that finds such a mark cannot tell a send that
    happened from one that never did: it could only stay silent — trading a possible duplicate
    for a customer who never hears from us. The mark after the send records a certainty instead.
    What is left: the worker dying between the send and these writes, or DynamoDB refusing every
    write for the length of the retries — then the queue sends again (at least once, never lost).
    """
    error: Exception | None = None
    for attempt in range(1, policy.attempts + 1):
        try:
            store.record_ack_sent(inbound, decision, sent, language, settings, plain=plain)
            return
        except Exception as exc:   # the store's own failures: throttling, 5xx, a lost connection
            error = exc
            if attempt < policy.attempts:
                delay = policy.base_delay * 2 ** (attempt - 1)
                log.warning("recording the sent ack failed (%s), attempt %d", exc, attempt,
                            extra={"conversation_id": decision.conversation_id})
                clock.sleep(delay * random.uniform(0.8, 1.2))
    try:
        store.remember_ack_sent(inbound, sent, language, plain)
        log.error("ack sent but not recorded; the redelivery completes the record",
                  extra={"conversation_id": decision.conversation_id})
    except Exception:
        log.exception("ack sent and not even marked: a redelivery will send it again",
                      extra={"conversation_id": decision.conversation_id})
    raise error


def replay_sent(event: dict) -> tuple[SentMessage, str, str]:
    """The acknowledgement a previous receive sent but could not record (`remember_ack_sent`)."""
    marker = event["ack_sent"]
    return SentMessage(**marker["sent"]), marker.get("language", ""), marker.get("plain") or ""


PROFILE_FIELDS = ("first_name", "name", "language_code", "timezone")

def is_own(sender: Sender, inbound: InboundMessage) -> bool:
    """A second line behind the webhook's own checks (bot flags, the payload's bot user): when the
    channel cannot be asked right now, answering beats losing the customer's message."""
    try:
        return sender.is_own(inbound.sender_id)
    except SendError as exc:
        log.warning("own-account check failed: %s", exc)
        return False


def with_profile(inbound: InboundMessage, contact, sender: Sender) -> InboundMessage:
    """Channels that send only a user id (Slack) get name and locale from the contact's cached
    profile, or from the channel once; channels that send them (Telegram) are left alone."""
    if inbound.first_name or inbound.name:
        return inbound
    known = {f: getattr(contact, f) for f in PROFILE_FIELDS} if contact else {}
    if not any(known.values()):
        try:
            known = sender.profile(inbound.sender_id) or {}
        except SendError as exc:   # the ack still goes out, with a neutral greeting
            log.warning("profile lookup failed: %s", exc)
            known = {}
    changes = {f: known[f] for f in PROFILE_FIELDS if known.get(f) and not getattr(inbound, f)}
    return replace(inbound, **changes) if changes else inbound


def _forgotten(store: Store, inbound: InboundMessage, preloaded: tuple | None) -> bool:
    """`preloaded`: (contact, chat, tombstone, digest) of the one read; its tombstone answers when a
    digest was asked for with it."""
    if not hasattr(store, "tombstone"):   # stores without erasure (test fakes)
        return False
    from functions import customer_data, tokens

    if preloaded and preloaded[3]:
        return customer_data.erased_after(preloaded[2], inbound)
    return customer_data.forgotten(store, tokens.secret, inbound)


def _erased(store: Store, inbound: InboundMessage, contact, preloaded: tuple | None) -> bool:
    """No contact, and the person was erased after this message was written: a redelivery or an
    old queued message must not bring them back, so it is dropped, and the event the webhook
    stored again goes too."""
    if contact is not None or not _forgotten(store, inbound, preloaded):
        return False
    store.delete_event(inbound.channel, inbound.event_id)
    log.info("message of an erased contact dropped", extra={"event_id": inbound.event_id})
    return True


def tombstone_digest(store: Store, channel: str, sender_id: str) -> str | None:
    if not hasattr(store, "tombstone"):
        return None
    from functions import customer_data, tokens

    return customer_data.tombstone_digest(tokens.secret, channel, sender_id)


def _opening(inbound: InboundMessage, settings: Settings, now) -> tuple | None:
    """A new conversation's priority and SLA due time, for the decision to write. Never the reason
    a customer goes unanswered: if working it out fails, the decision goes without it and the
    worker's SLA step after the acknowledgement tries again (and logs what failed)."""
    try:
        return sla.opening(inbound.channel, inbound.sender_id, sla.customer_text(inbound.subject, inbound.text),
                           settings, now)
    except Exception:
        log.exception("SLA placement failed; left to the step after the acknowledgement")
        return None


def process(channel: str, event_id: str, store: Store, sender: Sender, clock: Clock,
            policy: RetryPolicy = RetryPolicy(),
            desk: Callable[[InboundMessage, Settings], str] | None = None,
            delay_ack: Callable[[InboundMessage, int], None] | None = None,
            keys: tuple[str, str] | None = None) -> Outcome:
    """`delay_ack(inbound, seconds)` puts the event on the delay queue (issue 15: with
    `acknowledgement.delay_seconds`, the acknowledgement waits there, see `delayed_ack`).
    `keys` (chat id, sender id), when the queue message names them, let the event, the contact
    and the chat come in one read; without them (a message queued by an older version) the event
    is read first and the context after."""
    preloaded = None
    if keys:   # the sender's tombstone comes with them: a new sender is checked against it
        digest = tombstone_digest(store, channel, keys[1])
        event, contact, chat, gone = store.load_event_context(channel, event_id, *keys, tombstone=digest)
        if event and (event["inbound"].get("chat_id"), event["inbound"].get("sender_id")) == tuple(keys):
            preloaded = (contact, chat, gone, digest)
    else:
        event = store.get_event(channel, event_id)
    if event is None:
        # The webhook stores before it enqueues, so this is a message from a different table or a
        # hand-made queue entry: nothing to answer.
        log.error("queued event %s/%s is not stored", channel, event_id)
        return Outcome("ignored-unknown")
    if event.get("status") == "done":
        return Outcome("duplicate")
    settings = store.load_settings()
    inbound = customer_message(InboundMessage.from_dict(event["inbound"]), settings)
    if inbound.chat_type.startswith("desk"):   # an agent's message or click in a desk surface
        result = desk(inbound, settings) if desk else "ignored: no desk"
        store.mark_done(inbound)
        return Outcome(result)
    if is_desk_chat(inbound, settings):   # the desk is never a customer: no ack, no loop
        store.mark_done(inbound)
        return Outcome("ignored-desk-chat")
    decision = Decision.from_dict(event["decision"]) if event.get("decision") else None
    replayed = decision is not None   # decided by an earlier receive of this queue message
    if decision is not None and event.get("ack_sent"):
        # the channel took the ack in an earlier receive, whose record failed: complete it, send nothing
        sent, language, plain = replay_sent(event)
        record_sent(store, inbound, decision, sent, language, settings, plain, clock, policy)
        log.info("acknowledgement record completed", extra={"conversation_id": decision.conversation_id})
        return Outcome("acknowledged", decision, sent, inbound=inbound, event=event)
    contact = chat = None
    if decision is None:
        if is_own(sender, inbound):
            store.mark_done(inbound)   # our own bot's message, which the payload did not mark as such
            return Outcome("ignored-own")
        contact, chat = preloaded[:2] if preloaded else store.load_context(inbound)
        if _erased(store, inbound, contact, preloaded):
            return Outcome("forgotten")
        # An answer to something we asked (a rating, a comment, an address) is not a new question.
        handled = followups.handle(inbound, contact, store, settings, clock.now(),
                                   lambda note: deliver(sender, note, clock, policy), sender)
        if handled:
            if hasattr(store, "remember_event"):   # export and erasure find it from the customer
                store.remember_event(inbound.channel, inbound.sender_id, inbound.event_id, clock.now())
            store.mark_done(inbound)
            return Outcome(handled)

    placed = False
    for attempt in range(3):
        if decision is not None:
            break
        if attempt:   # the previous commit lost a race: read the chat and contact again
            contact, chat = store.load_context(inbound)
            if _erased(store, inbound, contact, None):   # the race lost was to an erasure
                return Outcome("forgotten")
        inbound = with_profile(inbound, contact, sender)
        now = clock.now()
        candidate = decide(inbound, contact, chat, settings, now)
        opening = _opening(inbound, settings, now) if candidate.new_conversation else None
        if store.commit_decision(inbound, candidate, chat, now, settings, opening):
            decision, placed = candidate, opening is not None
        else:   # someone moved the chat or decided this event first: read again
            event = store.get_event(channel, event_id) or event
            if event.get("decision"):
                decision = Decision.from_dict(event["decision"])
    if decision is None:
        raise RuntimeError(f"could not commit a decision for {channel}/{event_id}")
    log.info("decided", extra={"conversation_id": decision.conversation_id,
                                "acknowledge": decision.acknowledge, "reason": decision.reason})

    outcome = _after_decision(inbound, contact, decision, event, replayed, preloaded, settings, store, sender,
                              clock, policy, delay_ack)
    return replace(outcome, placed=placed, inbound=inbound, event=event)


def _after_decision(inbound: InboundMessage, contact, decision: Decision, event: dict, replayed: bool,
                    preloaded: tuple | None, settings: Settings, store: Store, sender: Sender, clock: Clock,
                    policy: RetryPolicy, delay_ack: Callable[[InboundMessage, int], None] | None) -> Outcome:
    if not decision.acknowledge or event.get("ack_sent_at"):
        if replayed or decision.acknowledge:   # a fresh no-ack decision marked the event done already
            store.mark_done(inbound)
        return Outcome("no-ack", decision)

    if settings.ack_delay_seconds and delay_ack is not None and not event.get("ack_due_at"):
        # Enqueued before it is recorded: a crash in between enqueues twice, and `delayed_ack`
        # claims the acknowledgement, so it still goes out once.
        delay_ack(inbound, settings.ack_delay_seconds)
        store.record_ack_delayed(inbound, decision, clock.now() + timedelta(seconds=settings.ack_delay_seconds))
        log.info("acknowledgement delayed", extra={"conversation_id": decision.conversation_id,
                                                   "seconds": settings.ack_delay_seconds})
        return Outcome("ack-delayed", decision)
    if replayed and preloaded:   # decided by an earlier receive; the profile may know what this message did not say
        contact = preloaded[0]
        inbound = with_profile(inbound, contact, sender)
    return _acknowledge(inbound, contact, decision, settings, store, sender, clock, policy,
                        contact_read=not replayed or bool(preloaded))


def _acknowledge(inbound: InboundMessage, contact, decision: Decision, settings: Settings, store: Store,
                 sender: Sender, clock: Clock, policy: RetryPolicy, contact_read: bool = False) -> Outcome:
    """`contact_read`: `contact` is what the store holds (None for a new sender), not yet to be read."""
    if not contact_read:   # a replayed decision: the profile may know what this message did not say
        contact, _ = store.load_context(inbound)
        inbound = with_profile(inbound, contact, sender)
    ack = acknowledgement(inbound, contact, decision, settings, clock.now())
    try:
        sent = deliver(sender, ack, clock, policy)
    except SendError as exc:   # permanent: blocked bot, chat gone; retrying cannot help
        log.warning("acknowledgement undeliverable: %s", exc,
                    extra={"conversation_id": decision.conversation_id})
        store.record_ack_failed(inbound, decision, str(exc))
        return Outcome("undeliverable", decision)
    record_sent(store, inbound, decision, sent, ack.language, settings, ack.fallback, clock, policy)
    log.info("acknowledged", extra={"conversation_id": decision.conversation_id,
                                     "language": ack.language})
    return Outcome("acknowledged", decision, sent)


ACK_CLAIM_STALE = timedelta(minutes=10)   # longer than a worker invocation may run


def agent_answered(conversation: dict | None) -> str:
    """Why a delayed acknowledgement is no longer wanted ("" when it still is): an agent replied
    (the desk stores `last_agent_at` and the `answered` state), or closed the conversation."""
    if conversation is None:
        return "conversation expired"
    if conversation.get("last_agent_at") or conversation.get("state") == "answered":
        return "agent replied"
    if conversation.get("status") == "closed":
        return "closed"
    return ""


def delayed_ack(channel: str, event_id: str, store, sender: Sender, clock: Clock,
                policy: RetryPolicy = RetryPolicy()) -> Outcome:
    """The delay queue gave an event back: acknowledge it now, unless an agent answered first.
    Redelivered or duplicated queue messages send nothing twice (`claim_ack`)."""
    event = store.get_event(channel, event_id)
    if event is None or not event.get("decision"):
        log.error("delayed acknowledgement for %s/%s: no decided event", channel, event_id)
        return Outcome("ignored-unknown")
    decision = Decision.from_dict(event["decision"])
    if event.get("ack_sent_at") or event.get("ack_skipped") or not decision.acknowledge:
        return Outcome("duplicate", decision)
    inbound = InboundMessage.from_dict(event["inbound"])
    settings = store.load_settings()
    reason = agent_answered(store.conversation(decision.conversation_id))
    if reason:
        store.record_ack_skipped(inbound, decision, reason)
        log.info("delayed acknowledgement skipped: %s", reason, extra={"conversation_id": decision.conversation_id})
        return Outcome("ack-skipped", decision)
    if not store.claim_ack(inbound, clock.now(), ACK_CLAIM_STALE):
        return Outcome("duplicate", decision)
    try:
        return _acknowledge(inbound, None, decision, settings, store, sender, clock, policy)
    except Exception:   # the queue retries: the next delivery may claim it again
        store.release_ack(inbound)
        raise
