"""The `x-mentions` job: for businesses without DM webhooks, read new mentions of the account since
the last one seen and queue each like a webhook message; the worker replies in public, once."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from functions.handlers.intake import accept
from integrations import dynamodb, x

log = logging.getLogger(__name__)
CURSOR = "x-mentions"
FIRST_RUN_WINDOW = timedelta(hours=1)   # a first run answers only recent mentions, not the archive


def run(sender=None) -> int:
    creds = x.credentials()
    if sender is None and not creds:
        log.info("x-mentions: no X credentials configured, nothing to read")
        return 0
    sender = sender or x.XSender(creds)
    since = dynamodb.get_cursor(CURSOR)
    now = datetime.now(timezone.utc)
    mentions = sender.mentions(since)
    answered = 0
    for mention in mentions:   # oldest first: a failure part-way resumes after the last stored
        posted = datetime.fromisoformat(mention.received_at.replace("Z", "+00:00"))
        if since is not None or now - posted <= FIRST_RUN_WINDOW:
            accept(mention)
            answered += 1
        dynamodb.set_cursor(CURSOR, mention.message_id, now)
    log.info("x-mentions: %d new since %s, %d queued", len(mentions), since, answered)
    return answered
