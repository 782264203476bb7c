"""Sample customers for the admin's live preview and for checking a template before it is saved.

The contexts are built by the same code that builds real ones (`acknowledge.build_context`,
`jobs.build_transcript`, `surveys.survey_links`) from the current settings, at moments when support
is really open and really closed, so a preview shows exactly what a customer would get.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from functions import render
from functions.hours import BusinessHours
from functions.models import Decision, InboundMessage
from functions.settings import Settings

NAMES = {"en": "Emma", "ru": "Анна", "uk": "Олена", "tr": "Elif", "fa": "سارا"}
SAMPLE_REFERENCE = "7K3-Q9X"


# the chat a sample customer writes in, as each channel's adapter names it (limits depend on it)
CHAT_TYPES = {"telegram": "private", "slack": "im", "x": "dm", "email": "email",
              "whatsapp": "private", "messenger": "private", "instagram": "private"}
SAMPLE_DECISION = Decision(conversation_id="preview", reference=SAMPLE_REFERENCE, new_conversation=True,
                           acknowledge=True, reason="new-conversation")


@dataclass(frozen=True)
class Sample:
    label: str
    context: dict[str, Any]
    chat_type: str = ""


def open_and_closed(settings: Settings, now: datetime) -> tuple[datetime | None, datetime | None]:
    """A moment from `now` on when support is open, and one when it is closed (None: never)."""
    hours = BusinessHours(settings)
    if hours.is_open(now):
        opened = now
        local_day = now.astimezone(settings.zone).date()
        ends = sorted(e for s, e in hours.segments(local_day, 14) if e > now)
        closed = next((e + timedelta(minutes=1) for e in ends if not hours.is_open(e + timedelta(minutes=1))), None)
    else:
        closed = now
        opening = hours.next_opening(now)
        opened = opening + timedelta(minutes=1) if opening else None
    return opened, closed


def _ack_sample(label: str, inbound: InboundMessage, settings: Settings, language: str,
                moment: datetime) -> Sample:
    from functions.acknowledge import build_context

    return Sample(label, build_context(inbound, None, SAMPLE_DECISION, settings, language, moment), inbound.chat_type)


def _inbound(name: str, channel: str, text: str, first_name: str = "", media: str = "", language: str = "",
             subject: str = "") -> InboundMessage:
    return InboundMessage(channel=channel, event_id="preview", chat_id="preview", sender_id="preview",
                          message_id="preview", received_at="", text=text, media=media, first_name=first_name,
                          name=first_name, language_code=language, subject=subject,
                          chat_type="mention" if name == "mention" else CHAT_TYPES[channel])


def _ack_samples(name: str, channel: str, language: str, settings: Settings, now: datetime) -> list[Sample]:
    opened, closed = open_and_closed(settings, now)
    keyword = next((k for entry in settings.faq for k in entry.keywords), "")
    first_name = NAMES.get(language, "Alex")
    cases = [
        (f"{first_name} · open · FAQ matched", opened,
         _inbound(name, channel, f"Order #1042: {keyword}?".strip(), first_name, language=language,
                  subject=f"Order #1042 {keyword}".strip() if channel == "email" else "")),
        ("no name · closed · no FAQ match", closed,
         _inbound(name, channel, "Is <b>anyone</b> there? Tom & Jerry's order", language=language,
                  subject="Is anyone there?" if channel == "email" else "")),
        (f"{first_name} · closed · a photo with a caption", closed,
         _inbound(name, channel, "It arrived broken", first_name, media="photo", language=language)),
    ]
    samples = []
    for label, moment, inbound in cases:
        if moment is None:   # always open, or never: show what is possible
            moment, label = now, label.replace("open", "closed (never open)") if "open" in label else label
        samples.append(_ack_sample(label, inbound, settings, language, moment))
    customer = _inbound(name, channel, "Where is my order #1042?", first_name, language=language,
                        subject="Order #1042" if channel == "email" else "")
    for label, sample_settings, moment in special_moments(settings, channel, now):
        samples.append(_ack_sample(f"{first_name} · {label}", customer, sample_settings, language, moment))
    return samples


SAMPLE_VACATION = {"en": "Our team is on a short break; we read every message when we are back.",
                   "ru": "Наша команда ненадолго ушла на отдых; мы прочитаем все сообщения, когда вернёмся.",
                   "uk": "Наша команда ненадовго пішла на відпочинок; ми прочитаємо всі повідомлення, коли повернемося.",
                   "tr": "Ekibimiz kısa bir aradadır; döndüğümüzde tüm mesajları okuyacağız.",
                   "fa": "تیم ما برای مدت کوتاهی در تعطیلات است؛ پس از بازگشت همهٔ پیام‌ها را می‌خوانیم."}


def special_moments(settings: Settings, channel: str, now: datetime) -> list[tuple[str, Settings, datetime]]:
    """A moment on a special day with its own hours and one in a vacation (issue 15): the settings'
    own next ones when they have them, else a sample one starting tomorrow (shown, never saved)."""
    import dataclasses

    from functions.hours import hours_for
    from functions.settings import SpecialDay, parse_interval

    schedule = settings.schedule_for(channel)
    today = now.astimezone(settings.zone).date()
    upcoming = [s for s in settings.special_days if s.last >= today and (not s.schedules or schedule in s.schedules)]
    moments = []
    short = next((s for s in upcoming if not s.closed), None)
    short_settings = settings
    if short is None:
        short = SpecialDay(first=today + timedelta(days=1), last=today + timedelta(days=1),
                           hours=(parse_interval("10:00-14:00", "sample"),))
        short_settings = dataclasses.replace(settings, special_days=(short, *settings.special_days))
    day = max(short.first, today)
    hours = hours_for(short_settings, channel)
    opening = next((s for s, e in hours.segments(day, 1) if s.astimezone(settings.zone).date() == day), None)
    moments.append(("special day (its own hours)", short_settings,
                    opening + timedelta(minutes=1) if opening else hours._local(day, time(12, 0))))
    vacation = next((s for s in upcoming if s.closed and s.message), None)
    vacation_settings = settings
    if vacation is None:
        vacation = SpecialDay(first=today + timedelta(days=1), last=today + timedelta(days=3), closed=True,
                              message=SAMPLE_VACATION)
        vacation_settings = dataclasses.replace(settings, special_days=(vacation, *settings.special_days))
    first = max(vacation.first, today)
    moments.append(("vacation", vacation_settings,
                    hours_for(vacation_settings, channel)._local(first, time(12, 0))))
    return moments


def _transcript_samples(language: str, settings: Settings, now: datetime) -> list[Sample]:
    from functions.jobs import build_transcript

    start = now - timedelta(hours=1)
    messages = [
        {"direction": "in", "sent_at": start.isoformat(), "text": "Hello, where is my order #1042?"},
        {"direction": "out", "kind": "ack", "sent_at": (start + timedelta(seconds=1)).isoformat(),
         "plain": "Thanks for writing, we'll be right with you."},
        {"direction": "out", "kind": "reply", "sent_at": (start + timedelta(minutes=20)).isoformat(),
         "agent": "inbox:sam", "agent_name": "Sam Reed", "delivery": "sent",
         "text": "It left our warehouse today; here is the tracking link."},
        {"direction": "desk", "kind": "note", "sent_at": (start + timedelta(minutes=21)).isoformat(),
         "text": "(an internal note: never in a transcript)"},
    ]
    name = NAMES.get(language, "Alex")
    transcript = build_transcript({}, messages, None, settings, language)
    return [Sample(f"{name} · three messages", {
        "customer": {"first_name": name, "name": name, "language": language},
        "business": {"name": settings.business_name}, "reference": SAMPLE_REFERENCE, "channel": "email",
        "transcript": transcript, "unsubscribe_url": "https://support.example/unsubscribe/sample"})]


def _survey_samples(channel: str, language: str, settings: Settings) -> list[Sample]:
    from functions.surveys import survey_links

    name = NAMES.get(language, "Alex")
    base = {"business": {"name": settings.business_name}, "reference": SAMPLE_REFERENCE, "channel": channel,
            "survey": {"links": survey_links("https://support.example", "sample")}}
    return [Sample(name, {**base, "customer": {"first_name": name, "language": language}}),
            Sample("no name", {**base, "customer": {"first_name": "", "language": language}})]


def custom_sample(name: str, channel: str, language: str, settings: Settings, now: datetime,
                  spec: dict[str, Any]) -> Sample:
    """A sample the admin describes: `first_name`, `text` (what the customer wrote) and `open`."""
    from functions.text import clean

    first_name = clean(spec.get("first_name", ""), 64)
    text = clean(spec.get("text", ""), 1000) or "Hello"
    if name not in ("ack", "mention"):
        base = samples(name, channel, language, settings, now)[0].context
        return Sample(first_name or "no name", {**base, "customer": {**base["customer"], "first_name": first_name,
                                                                       "name": first_name}})
    opened, closed = open_and_closed(settings, now)
    moment = (opened if spec.get("open", True) else closed) or now
    inbound = _inbound(name, channel, text, first_name, language=language, subject=text if channel == "email" else "")
    label = f"{first_name or 'no name'} · {'open' if moment == opened else 'closed'}"
    return _ack_sample(label, inbound, settings, language, moment)


def samples(name: str, channel: str, language: str, settings: Settings, now: datetime) -> list[Sample]:
    if name in ("ack", "mention"):
        return _ack_samples(name, channel, language, settings, now)
    if name == "transcript":
        return _transcript_samples(language, settings, now)
    return _survey_samples(channel, language, settings)


def present(identifier: str, rendered) -> list[dict[str, Any]]:
    """The renderings of `template_check.render_samples` as the channel shows them: shortened to
    what the channel takes, like real acknowledgements, and for email the subject line apart, as
    the sender splits it."""
    from functions.acknowledge import fit
    from functions.i18n import RTL_LANGUAGES

    name, channel, language = render.parse_id(identifier)
    results = []
    for found in rendered:
        output, text = found.output, found.text
        if name in ("ack", "mention"):
            output = fit(output, channel, found.sample.chat_type)
        shortened = output != found.output
        subject = ""
        if channel == "email" and name in ("transcript", "survey"):
            subject, _, output = output.partition("\n")
            text = text.partition("\n")[2]
        results.append({"label": found.sample.label, "output": output.strip(), "text": text.strip(),
                        "subject": subject.strip(), "shortened": shortened, "markup": render.MARKUP[channel],
                        "direction": "rtl" if language in RTL_LANGUAGES else "ltr"})
    return results
