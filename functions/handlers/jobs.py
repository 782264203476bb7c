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


def sla(event: dict) -> dict:
    """Warn once at the warning share and once at the breach, in the desk thread and on the alarm topic."""
    from functions import sla as core
    from functions.handlers.worker import store

    settings, now = store().load_settings(), event_time(event)
    report = core.run(store(), settings, now, lambda conversation, stage, timer: sla_alarm(
        conversation, stage, timer, settings, now))
    log.info("sla: %d warned, %d breached", report.warned, report.breached,
             extra={"skipped": report.skipped, "read": report.read})
    return asdict(report)


def sla_alarm(conversation: dict, stage: str, timer: dict, settings, now: datetime) -> None:
    """One SLA alarm: a line in each desk thread of the conversation, and a message on the alarm
    topic (`FIRSTREPLY_ALARM_TOPIC_ARN`, the stack's AlarmTopic) for whoever is subscribed."""
    import json

    from functions import sla as core
    from functions.desk import desk_refs
    from functions.handlers.desk import surfaces
    from integrations.aws import client

    text = core.alarm_text(conversation, stage, timer, settings, now)
    refs = desk_refs(conversation)
    for surface in surfaces(settings):
        if surface.name in refs:
            surface.post(refs[surface.name], (":rotating_light: " if stage == "breach" else ":warning: ") + text)
    topic = os.environ.get("FIRSTREPLY_ALARM_TOPIC_ARN", "")
    if topic:
        client("sns").publish(TopicArn=topic, Subject=text[:99], Message=json.dumps({
            "alarm": f"sla-{stage}", "text": text, "conversation_id": conversation["conversation_id"],
            "reference": conversation.get("reference"), "channel": conversation.get("channel"),
            "priority": conversation.get("priority"), "due_at": timer["due_at"]}, ensure_ascii=False))
    else:
        log.warning("sla alarm: FIRSTREPLY_ALARM_TOPIC_ARN is not set: %s", text)


def expected_reply(event: dict) -> dict:
    """Measure the median business-time first response per channel (14 days) and store it."""
    from functions import expected
    from functions.handlers.worker import store

    now = event_time(event)
    measured = expected.measure(store().facts_days(expected.window(now)), now)
    store().set_measured_response(measured)
    log.info("expected-reply: measured", extra={"measured": measured})
    return {"channels": measured}
