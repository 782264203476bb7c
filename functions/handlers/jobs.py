"""Entry points of the scheduled functions: `now` is the schedule event's time."""
from __future__ import annotations

import logging
import os
from dataclasses import asdict
from datetime import datetime, timezone

from functions import jobs

log = logging.getLogger(__name__)


def event_time(event: dict) -> datetime:
    try:
        return datetime.fromisoformat(str(event.get("time")).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(timezone.utc)


def public_url() -> str:
    return os.environ.get("FIRSTREPLY_PUBLIC_URL", "http://127.0.0.1:8000")


def close_idle(event: dict) -> dict:
    from functions.handlers.worker import clock, retry_policy, sender_for, store
    from functions.pipeline import deliver

    settings = store().load_settings()
    # the closing message goes through the acknowledgement's retries; only when one is set, so a
    # deployment without one needs no channel credentials here
    send = (lambda message: deliver(sender_for(message.channel), message, clock, retry_policy()).message_id) \
        if settings.closing_message else None
    report = jobs.close_idle(store(), settings, event_time(event), send)
    log.info("close-idle: %d closed", report.done, extra={"skipped": report.skipped})
    return asdict(report)   # what the Lambda returns: plain JSON


def transcripts(event: dict) -> dict:
    from functions.handlers.worker import store
    from integrations.ses import TranscriptMailer, support_sender

    settings = store().load_settings()
    if not support_sender():
        log.info("transcripts: SUPPORT_EMAIL_FROM is not set, nothing can be sent")
        return asdict(jobs.JobReport())
    report = jobs.send_transcripts(store(), TranscriptMailer(support_sender()), settings, event_time(event),
                                   public_url())
    log.info("transcripts: %d sent, %d failed", report.done, report.failed, extra={"skipped": report.skipped})
    return asdict(report)


def surveys(event: dict) -> dict:
    from functions import surveys as core
    from functions.handlers.worker import store

    report = core.send_surveys(store(), survey_sender, store().load_settings(), event_time(event), public_url())
    log.info("surveys: %d sent, %d failed", report.done, report.failed, extra={"skipped": report.skipped})
    return asdict(report)


def survey_sender(channel: str):
    """Email surveys go out through SES like transcripts; chats through the channel's sender."""
    from functions.handlers.worker import sender_for

    if channel == "email":
        from integrations.ses import EmailSender, support_sender

        return EmailSender(support_sender())
    return sender_for(channel)
