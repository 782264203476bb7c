"""The expected reply time the acknowledgement promises, from measurement rather than a sentence.

A scheduled function takes, per channel, the median business-time first response of the last 14
days (only conversations an agent answered: the first-response facts) and stores it with the
settings. The acknowledgement then says it in the customer's language, rounded the way a person
would ("a few minutes", "about 20 minutes", "within 2 hours"); while support is closed it adds when
the answer will likely come: the next opening plus that median ("tomorrow around 10:00"). With
fewer than `MIN_ANSWERED` answered conversations in the window, the settings' text is used.
"""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

from functions import i18n
from functions.clock import iso
from functions.hours import BusinessHours
from functions.settings import Settings
from functions.stats import percentile

WINDOW_DAYS = 14
MIN_ANSWERED = 20
BUSINESS_DAY = 8 * 60   # minutes: past this, a person says "business days"

# {n} is the rounded number; every phrase fits "we usually reply ___" of the shipped templates
PHRASES = {
    "en": {"minutes_few": "within a few minutes", "minutes": "in about {n} minutes", "hour": "within about an hour",
           "hours": "within {n} hours", "day": "within a business day", "days": "within {n} business days",
           "likely": "{duration} (likely {day} around {time})"},
    "ru": {"minutes_few": "в течение нескольких минут", "minutes": "примерно за {n} минут",
           "hour": "примерно в течение часа", "hours": "в течение {n} {hours_word}", "day": "в течение рабочего дня",
           "days": "в течение {n} рабочих дней", "likely": "{duration} (скорее всего, {day} около {time})"},
    "uk": {"minutes_few": "протягом кількох хвилин", "minutes": "приблизно за {n} хвилин",
           "hour": "приблизно протягом години", "hours": "протягом {n} годин", "day": "протягом робочого дня",
           "days": "протягом {n} робочих днів", "likely": "{duration} (найімовірніше, {day} близько {time})"},
    "tr": {"minutes_few": "birkaç dakika içinde", "minutes": "yaklaşık {n} dakika içinde",
           "hour": "yaklaşık bir saat içinde", "hours": "{n} saat içinde", "day": "bir iş günü içinde",
           "days": "{n} iş günü içinde", "likely": "{duration} (muhtemelen {day} saat {time} civarında)"},
    "fa": {"minutes_few": "ظرف چند دقیقه", "minutes": "ظرف حدود {n} دقیقه", "hour": "ظرف حدود یک ساعت",
           "hours": "ظرف {n} ساعت", "day": "ظرف یک روز کاری", "days": "ظرف {n} روز کاری",
           "likely": "{duration} (احتمالاً {day} حدود ساعت {time})"},
}


def measure(facts: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """Per channel: the median business-minute first response and how many answered conversations
    it is taken from."""
    by_channel: dict[str, list[float]] = {}
    for fact in facts:
        if fact.get("sk", "").startswith("first_response#"):
            by_channel.setdefault(fact["channel"], []).append(float(fact["business_minutes"]))
    return {channel: {"median_business_minutes": percentile(values, 0.5), "answered": len(values),
                      "window_days": WINDOW_DAYS, "measured_at": iso(now)}
            for channel, values in sorted(by_channel.items())}


def window(now: datetime) -> list[str]:
    today = now.date()
    return [(today - timedelta(days=i)).isoformat() for i in range(WINDOW_DAYS - 1, -1, -1)]


def measured_minutes(settings: Settings, channel: str) -> float | None:
    found = settings.measured_response.get(channel) or {}
    if int(found.get("answered", 0)) < MIN_ANSWERED or found.get("median_business_minutes") is None:
        return None
    return float(found["median_business_minutes"])


def _phrases(language: str) -> dict[str, str] | None:
    return PHRASES.get(language) or PHRASES.get(language.split("-")[0])


def duration_phrase(minutes: float, language: str) -> str:
    """Rounded as a person says it: under 10 min "a few minutes"; then to 5 min (under half an
    hour) or 10 min; about an hour; whole hours rounded up; past a working day, business days."""
    words = _phrases(language) or PHRASES["en"]
    if minutes < 10:
        text = words["minutes_few"]
    elif minutes < 50:
        step = 5 if minutes < 30 else 10
        text = words["minutes"].format(n=int(step * round(minutes / step)))
    elif minutes < 90:
        text = words["hour"]
    elif minutes <= BUSINESS_DAY:
        hours = max(2, math.ceil(minutes / 60 - 0.25))   # 2 h 10 min is "within 2 hours"
        text = words["hours"].format(n=hours, hours_word="часа" if hours % 10 == 1 and hours % 100 != 11 else "часов")
    else:
        days = math.ceil(minutes / BUSINESS_DAY - 0.1)
        text = words["day"] if days <= 1 else words["days"].format(n=days)
    return i18n.localise_digits(text, language)


def likely_phrase(opening: datetime, minutes: float, settings: Settings, today: date, language: str) -> str:
    """When support is closed: the next opening plus the median, as "tomorrow around 10:00"."""
    answer = BusinessHours(settings).add_business_minutes(opening, minutes) or opening
    local = answer.astimezone(settings.zone)
    # rounded to the quarter hour: "around 10:15", never "around 10:07"
    quarter = local.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=15 * round(local.minute / 15))
    days = (quarter.date() - today).days
    known = _phrases(language) is not None and i18n._words(language) is not None
    if days == 0 and known:
        day = i18n.word(language, "today")
    elif days == 1 and known:
        day = i18n.word(language, "tomorrow")
    else:
        from babel.dates import format_date

        day = format_date(quarter.date(), "EEEE", locale=i18n._babel_locale(language))
    words = _phrases(language) or PHRASES["en"]
    return i18n.localise_digits(words["likely"].format(
        duration=duration_phrase(minutes, language), day=day, time=quarter.strftime("%H:%M")), language)


def expected_response(settings: Settings, channel: str, language: str, opening: datetime | None,
                      today: date) -> str:
    """What the acknowledgement's `expected_response` says: measured when there are enough
    answered conversations on the channel, else the settings' text."""
    minutes = measured_minutes(settings, channel)
    if minutes is None or _phrases(language) is None:   # no phrase of ours in their language: the admin's text
        return settings.expected_response_for(language)
    if opening is not None:
        return likely_phrase(opening, minutes, settings, today, language)
    return duration_phrase(minutes, language)
