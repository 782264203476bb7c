"""What every webhook does with a verified, parsed message: store it once, then enqueue it."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from functions.models import InboundMessage
from integrations import dynamodb, sqs

log = logging.getLogger(__name__)


def accept(inbound: InboundMessage) -> bool:
    """Store before answering the channel; False for a true duplicate (already handled)."""
    state = dynamodb.store_event(inbound, datetime.now(timezone.utc))
    if state == "done":
        log.info("duplicate delivery", extra={"channel": inbound.channel, "event_id": inbound.event_id})
        return False
    # "pending": stored before but maybe never enqueued (a failure after the put); the queue's
    # deduplication and the worker's idempotence make a second enqueue harmless.
    sqs.enqueue(inbound.channel, inbound.event_id, group=f"{inbound.channel}-{inbound.chat_id}")
    return True
