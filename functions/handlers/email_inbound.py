"""SES → SNS → here: read the stored raw mail from S3, parse, store once, enqueue.

Nothing raises out of this handler for bad mail: a notification that is not ours is logged and
dropped (raising would make SNS retry it forever), broken MIME is read as far as it can be. Only
an infrastructure failure (S3, DynamoDB, SQS) raises, so that SNS delivers again.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from functions.handlers.http import BadRequest, converted
from functions.handlers.intake import accept
from integrations import dynamodb, ses

log = logging.getLogger(__name__)


def handle(message: str, topic_arn: str) -> str:
    try:   # a pure check: whatever it trips over (a nesting past the parser's depth, a wrong type) is not SES's
        notification = converted(ses.read_notification, message, topic_arn)
    except (ses.NotForUs, BadRequest) as exc:
        log.warning("SNS notification ignored: %s", exc)
        return "ignored"
    raw = ses.fetch_raw(notification)
    if raw is None:
        # the mail was erased (or expired) since SES stored it: a late redelivery brings nobody back
        log.info("raw mail gone, notification dropped", extra={"event_id": notification["mail"]["messageId"][:200]})
        return "ignored"
    inbound = ses.to_inbound(notification, raw)
    # The customer's Message-ID now belongs to this thread: their next reply finds it.
    dynamodb.remember_message_ids([inbound.message_id], inbound.chat_id, datetime.now(timezone.utc))
    if inbound.no_reply:
        log.info("mail will get no automatic reply: %s", inbound.no_reply,
                 extra={"event_id": inbound.event_id})
    return "accepted" if accept(inbound) else "duplicate"
