"""The `x-mentions` job: for businesses without DM webhooks, read new mentions of the account since
the last one seen and queue each like a webhook message; the worker replies in public, once.

X limits the mentions timeline per user and 15 minutes (Basic: 10 requests), so the schedule's
cadence is a setting (`FIRSTREPLY_X_MENTIONS_MINUTES`, app.py). When X answers 429 anyway, the
reset time it gives is stored and the runs until then do not call X: a rate limit is a wait, not a
function error (which would alarm and, for an asynchronous invocation, retry at once).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from functions.clock import iso
from functions.handlers.intake import accept
from integrations import dynamodb, x

log = logging.getLogger(__name__)
CURSOR = "x-mentions"
WAIT = "x-mentions#rate-limited-until"
FIRST_RUN_WINDOW = timedelta(hours=1)   # a first run answers only recent mentions, not the archive
DEFAULT_WAIT = timedelta(minutes=15)    # X's window, when a 429 names no reset time


def rate_limit_reset(exc: Exception, now: datetime) -> datetime:
    """When X's 429 says the window resets (`x-rate-limit-reset`, epoch seconds)."""
    reset = str(getattr(getattr(exc, "response", None), "headers", {}).get("x-rate-limit-reset", ""))
    return datetime.fromtimestamp(int(reset), timezone.utc) if reset.isdigit() else now + DEFAULT_WAIT


def run(sender=None) -> int:
    creds = x.credentials()
    if sender is None and not creds:
        log.info("x-mentions: no X credentials configured, nothing to read")
        return 0
    now = datetime.now(timezone.utc)
    waiting = dynamodb.get_cursor(WAIT)
    if waiting and datetime.fromisoformat(waiting.replace("Z", "+00:00")) > now:
        log.info("x-mentions: rate-limited by X until %s, not asking before", waiting)
        return 0
    import tweepy

    sender = sender or x.XSender(creds)
    since = dynamodb.get_cursor(CURSOR)
    try:
        mentions = sender.mentions(since)
    except tweepy.TooManyRequests as exc:
        until = rate_limit_reset(exc, now)
        dynamodb.set_cursor(WAIT, iso(until), now)
        log.warning("x-mentions: X answered 429; next read after %s (raise FIRSTREPLY_X_MENTIONS_MINUTES "
                    "if this repeats)", iso(until))
        return 0
    answered = 0
    for mention in mentions:   # oldest first: a failure part-way resumes after the last stored
        posted = datetime.fromisoformat(mention.received_at.replace("Z", "+00:00"))
        if since is not None or now - posted <= FIRST_RUN_WINDOW:
            accept(mention)
            answered += 1
        dynamodb.set_cursor(CURSOR, mention.message_id, now)
    log.info("x-mentions: %d new since %s, %d queued", len(mentions), since, answered)
    return answered
