"""What every webhook does with a verified, parsed message: bound it, store it once, enqueue it."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from datetime import datetime, timezone

from functions.models import InboundMessage
from integrations import dynamodb, sqs

log = logging.getLogger(__name__)

# Every id below ends up in a key: `EVENT#…`, `CHAT#…`, `CONTACT#…` partition keys (2,048 bytes at
# most) and the message's sort key `MSG#{time}#in#{event_id}` (1,024). A value intake stored but
# the worker could not would fail on every receive and be dead-lettered, so the bound is here.
# 512 bytes keeps every real id (and every email address, 254 characters) as it is. An email's
# Message-ID keys the thread map through `dynamodb.message_id_key`, which bounds it there: a
# reply names the original id, and both sides must hash it the same way.
KEY_FIELDS = ("event_id", "chat_id", "sender_id")
MAX_KEY_BYTES = 512
# An item is at most 400 KB and the inbound travels in two (the event and the message)
TEXT_LIMITS = {"text": 100_000, "references": 20_000, "message_id": 20_000, "thread_id": 20_000}
OTHER_TEXT_BYTES = 2_000
MAX_DETAILS_BYTES = 50_000


def bounded_key(value: str) -> str:
    """`value` when it fits a key, else a readable prefix and a hash of all of it: the same long
    id always gives the same key (a redelivery is still a duplicate), two long ids never one."""
    if len(value.encode("utf-8", "surrogatepass")) <= MAX_KEY_BYTES:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{_clip(value, 64)}~sha256:{digest}"


def _clip(text: str, limit_bytes: int) -> str:
    return text.encode("utf-8", "surrogatepass")[:limit_bytes].decode("utf-8", "ignore")


def _storable(value: str) -> str:
    """Text DynamoDB and SQS accept: JSON lets a sender write lone surrogates ("\\ud800"), which no
    UTF-8 encoder takes — boto3 would fail on every try."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")


def _numbers(value):
    """DynamoDB refuses NaN, infinities and numbers past 38 digits or 1E+125: those are kept as
    text (a sender's odd value, not ours to lose the message over)."""
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10 ** 38 else str(value)
    return value if value == 0 or 1e-120 < abs(value) < 1e120 else str(value)


def bounded(inbound: InboundMessage) -> InboundMessage:
    """`inbound` with every key-forming id and every text within what the table stores."""
    changes: dict = {}
    for item in dataclasses.fields(inbound):
        value = getattr(inbound, item.name)
        if not isinstance(value, str):
            continue
        value = _storable(value)
        if item.name in KEY_FIELDS:
            fitted = bounded_key(value)
        else:
            fitted = _clip(value, TEXT_LIMITS.get(item.name, OTHER_TEXT_BYTES))
        if fitted != getattr(inbound, item.name):
            changes[item.name] = fitted
    if inbound.details:
        # plain JSON values in storable text (what the adapter put there came from the sender)
        text = json.dumps(inbound.details, default=str, ensure_ascii=False)
        details = _numbers(json.loads(_storable(text))) if len(text) <= MAX_DETAILS_BYTES else {
            "dropped": f"details over {MAX_DETAILS_BYTES} bytes"}
        if details != inbound.details:
            changes["details"] = details
    if changes:
        log.warning("inbound bounded: %s", ", ".join(sorted(changes)),
                    extra={"channel": inbound.channel})
        return dataclasses.replace(inbound, **changes)
    return inbound


def accept(inbound: InboundMessage) -> bool:
    """Store before answering the channel; False for a true duplicate (already handled)."""
    inbound = bounded(inbound)
    state = dynamodb.store_event(inbound, datetime.now(timezone.utc))
    if state == "done":
        log.info("duplicate delivery", extra={"channel": inbound.channel, "event_id": inbound.event_id})
        return False
    # "pending": stored before but maybe never enqueued (a failure after the put); the queue's
    # deduplication and the worker's idempotence make a second enqueue harmless.
    sqs.enqueue(inbound.channel, inbound.event_id, group=f"{inbound.channel}-{inbound.chat_id}",
                chat_id=inbound.chat_id, sender_id=inbound.sender_id)
    return True
