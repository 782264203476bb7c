"""The `x-mentions` job: for businesses without DM webhooks, read new mentions of the account since
the last one seen and queue each like a webhook message; the worker replies in public, once."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from functions.handlers.intake import accept
from integrations import dynamodb, x

log = logging.getLogger(__name__)
CURSOR = "x-mentions"


def run(sender=None) -> int:
    creds = x.credentials()
    if sender is None and not creds:
        log.info("x-mentions: no X credentials configured, nothing to read")
        return 0
    sender = sender or x.XSender(creds)
    since = dynamodb.get_cursor(CURSOR)
    mentions = sender.mentions(since)
    for mention in mentions:   # oldest first: a failure part-way resumes after the last stored
        accept(mention)
        dynamodb.set_cursor(CURSOR, mention.message_id, datetime.now(timezone.utc))
    log.info("x-mentions: %d new since %s", len(mentions), since)
    return len(mentions)
