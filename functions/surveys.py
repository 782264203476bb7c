"""The satisfaction survey: one question (1 to 5) per closed conversation, in the channel it used.

Sent by the `surveys` job when due (the delay after closing), only in the customer's daytime, at
most once per cooldown per contact and to the sampled share of conversations. Answers come back as
a Telegram button, a Slack button, an X DM with a number, or a form behind an emailed signed link;
answering again replaces the answer.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from typing import Any, Callable, Protocol

from functions import i18n, render, tokens
from functions.hours import customer_zone
from functions.jobs import JobStore, run_due
from functions.language import choose_language
from functions.service_window import last_customer_message, outside
from functions.settings import Settings

TOKEN_VALID = timedelta(days=14)
SCORES = range(1, 6)


@dataclass(frozen=True)
class SurveyRequest:
    channel: str
    chat_id: str
    conversation_id: str
    text: str                 # in the channel's markup
    plain: str
    language: str
    thread_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)   # email: to, name, subject
    kind: str = "csat"        # csat (1–5 buttons), nps (0–10 buttons) or comment (no buttons)

    @property
    def scale(self) -> range:
        return SCALES.get(self.kind, range(0))


class SurveySender(Protocol):
    def send_survey(self, request: SurveyRequest) -> str: ...


class Postpone(Exception):
    def __init__(self, until: datetime):
        super().__init__(f"postponed until {until.isoformat()}")
        self.until = until


class SurveyStore(JobStore, Protocol):
    def add_stats(self, channel: str, now: datetime, **increments: int) -> None: ...
    def put_rating_fact(self, conversation: dict[str, Any], score: int, agent: str | None, day: datetime) -> None: ...
    def reschedule_task(self, kind: str, conversation_id: str, due: datetime) -> None: ...
    def update_contact(self, channel: str, sender_id: str, **fields: Any) -> None: ...
    def update_conversation(self, conversation_id: str, **fields: Any) -> None: ...


def daytime_start(now: datetime, zone: tzinfo, window: tuple[time, time]) -> datetime | None:
    """None when `now` is inside the local daytime window, else when the next one starts."""
    local = now.astimezone(zone)
    start, end = window
    if start <= local.time() < end:
        return None
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return datetime.combine(day, start, tzinfo=zone)


def survey_links(public_url: str, token: str) -> list[dict[str, str]]:
    return [{"url": f"{public_url.rstrip('/')}/surveys/{token}?score={n}", "label": "★" * n}
            for n in SCORES]


def send_surveys(store: SurveyStore, sender_for: Callable[[str], SurveySender], settings: Settings,
                 now: datetime, public_url: str, rng: random.Random | None = None):
    rng = rng or random.Random()
    survey = settings.survey

    def work(cid: str) -> str:
        if not survey.enabled:
            return "surveys off"
        conversation = store.conversation(cid)
        if conversation is None:
            return "conversation expired"
        closed_window = outside(conversation["channel"], last_customer_message(conversation), now)
        if closed_window:   # Meta's channels: no free-form message 24 h after the customer's last
            return f"skipped: {closed_window}"
        channel, sender_id = conversation["contact"].split("#", 1)
        contact = store.contact(channel, sender_id) or {}
        later = daytime_start(now, customer_zone(contact, settings.zone), survey.daytime)
        if later is not None:
            raise Postpone(later)
        last = contact.get("last_survey_at")
        if last and now - datetime.fromisoformat(last.replace("Z", "+00:00")) < timedelta(days=survey.cooldown_days):
            return "cooldown"
        if rng.random() >= survey.sampling:
            return "not sampled"
        language = choose_language(conversation.get("language") or contact.get("language_code", ""),
                                   settings.default_language, render.available_languages("survey", channel))
        token = tokens.make("survey", cid, now, TOKEN_VALID)
        context = {"customer": {"first_name": contact.get("first_name", ""), "language": language},
                   "business": {"name": settings.business_name}, "reference": conversation["reference"],
                   "channel": channel, "survey": {"links": survey_links(public_url, token)}}
        text = render.render("survey", channel, language, context, overrides=settings.templates)
        plain = render.render("survey", channel, language, context, markup="text", overrides=settings.templates)
        details = {}
        if channel == "email":
            subject, _, text = text.partition("\n")
            plain = plain.partition("\n")[2]
            details = {"to": sender_id, "name": contact.get("name", ""), "subject": subject.strip()}
        thread = conversation["chat_id"].split(":", 1)[1] if channel == "slack" and ":" in conversation["chat_id"] else ""
        message_id = sender_for(channel).send_survey(SurveyRequest(
            channel=channel, chat_id=conversation["chat_id"], conversation_id=cid, text=text.strip(),
            plain=plain.strip(), language=language, thread_id=thread, details=details))
        store.update_contact(channel, sender_id, last_survey_at=now.isoformat(),
                             **({"awaiting_survey": cid} if channel == "x" else {}))
        store.update_conversation(cid, survey_sent_at=now.isoformat(), survey_message_id=message_id,
                                  survey_language=language)
        store.add_stats(channel, now, surveys=1)
        return "sent"

    def postponing(cid: str) -> str:
        try:
            return work(cid)
        except Postpone as later:
            store.reschedule_task("survey", cid, later.until)
            return "postponed"

    return run_due("survey", store, now, postponing)


SCALES = {"csat": range(1, 6), "nps": range(0, 11)}


def parse_score(value, kind: str = "csat") -> int | None:
    """The score `value` names on the `kind` scale, else None: the one parse every answer goes
    through (a button's value, an X DM, the survey page's form and links). Only decimal digits
    count — `str.isdigit()` also takes "²" and "⑤", which `int()` then refuses, and a value of
    thousands of digits is over `int()`'s own limit — so the length is checked before converting.
    Other scripts' decimal digits ("۵") are digits customers really type."""
    if not isinstance(value, str) or kind not in SCALES:
        return None
    text = value.strip()
    if not 1 <= len(text) <= 2 or not text.isdecimal():
        return None
    score = int(text)
    return score if score in SCALES[kind] else None


def record_answer(store: SurveyStore, conversation_id: str, respondent: str, score: int,
                  now: datetime, kind: str = "csat") -> dict[str, Any] | None:
    """Record (or replace) an answer from the conversation's own customer; None when the
    conversation is unknown, the respondent is someone else or the score is out of range."""
    if kind not in SCALES or score not in SCALES[kind]:
        return None
    conversation = store.conversation(conversation_id)
    if conversation is None or conversation["contact"] != respondent:
        return None
    store.update_conversation(conversation_id, **{kind: score, f"{kind}_at": now.isoformat()})
    previous = conversation.get(kind)
    if kind == "nps":   # promoters 9–10, passives 7–8, detractors 0–6: the score is promoters − detractors
        group = "nps_promoters" if score >= 9 else "nps_detractors" if score <= 6 else "nps_passives"
        if previous is None:
            store.add_stats(conversation["channel"], now, nps_count=1, **{group: 1})
        elif previous != score:
            old = "nps_promoters" if previous >= 9 else "nps_detractors" if previous <= 6 else "nps_passives"
            if old != group:
                store.add_stats(conversation["channel"], now, **{group: 1, old: -1})
    else:
        if previous is None:
            store.add_stats(conversation["channel"], now, csat_sum=score, csat_count=1)
        elif previous != score:   # a changed answer moves the average, not the response count
            store.add_stats(conversation["channel"], now, csat_sum=score - previous)
        first = conversation.get("csat_at") if previous is not None else None
        store.put_rating_fact(conversation, score, rated_agent(conversation),
                              datetime.fromisoformat(first) if first else now)
    return conversation


def rated_agent(conversation: dict[str, Any]) -> str | None:
    """Whom a conversation's rating counts for: its assignee, else the agent who answered it first
    (None when no agent did: the acknowledgement alone)."""
    return conversation.get("assignee") or conversation.get("first_response_by") or None


def thanks(conversation: dict[str, Any], score: int, kind: str = "csat") -> str:
    language = conversation.get("survey_language") or conversation.get("language") or "en"
    text = i18n.word(language, "rated").format(score=score) if kind == "csat" else i18n.word(language, "comment_thanks")
    return i18n.localise_digits(text, language)


def rating_of(inbound, contact, now: datetime) -> tuple[str, str, int] | None:
    """(kind, conversation, score) when a message answers a survey: a button's `csat|nps:<id>:<n>`,
    or on X a DM that is just a number in the scale while the contact owes us an answer."""
    text = inbound.text.strip()
    if inbound.chat_type == "answer":
        parts = text.split(":")
        score = parse_score(parts[2], parts[0]) if len(parts) == 3 and parts[1] else None
        return None if score is None else (parts[0], parts[1], score)
    if inbound.channel == "x" and contact.awaiting_survey:
        asked = contact.last_survey_at
        if asked and now - datetime.fromisoformat(asked) > TOKEN_VALID:
            return None   # the question expired like its links do
        kind, _, cid = contact.awaiting_survey.rpartition(":")
        score = parse_score(text, kind or "csat")   # "12345" is an order number, not a rating
        if cid and score is not None:
            return kind or "csat", cid, score
    return None


def answer(inbound, rating: tuple[str, str, int], store, sender, settings: Settings, now: datetime) -> str:
    """Record the answer, thank them, and ask the next optional question (NPS, then a comment)."""
    kind, conversation_id, score = rating
    conversation = record_answer(store, conversation_id, f"{inbound.channel}#{inbound.sender_id}", score, now, kind)
    if conversation is None:
        return "answer refused"
    follow_up = ("nps" if kind == "csat" and settings.survey.nps and "nps" not in conversation
                 else "comment" if settings.survey.comment and "comment" not in conversation
                 and kind in ("csat", "nps") and not (kind == "csat" and settings.survey.nps) else "")
    waiting = {}
    if inbound.channel == "x":
        waiting["awaiting_survey"] = f"nps:{conversation_id}" if follow_up == "nps" else ""
    if follow_up == "comment":
        waiting.update(awaiting_comment=conversation_id, awaiting_comment_since=now.isoformat())
    if waiting:
        store.update_contact(inbound.channel, inbound.sender_id, **waiting)
    sender.answer_survey(inbound, thanks(conversation, score, "csat" if kind == "csat" else "nps"))
    if follow_up:
        language = conversation.get("survey_language") or conversation.get("language") or "en"
        question = i18n.word(language, f"{follow_up}_question").format(business=settings.business_name)
        question = i18n.localise_digits(question, language) if follow_up == "nps" else question
        sender.send_survey(SurveyRequest(
            channel=inbound.channel, chat_id=conversation["chat_id"], conversation_id=conversation_id,
            text=question, plain=question, language=language, kind=follow_up,
            thread_id=inbound.thread_id if inbound.channel == "slack" else ""))
    return "answer recorded"
