"""Issue 15: named schedules per channel, special days (a shortened day, an extra Saturday, a
vacation range across a year end and across a DST change) and what the acknowledgement says."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from functions.acknowledge import acknowledgement, build_context
from functions.hours import BusinessHours, hours_for
from functions.models import Decision, InboundMessage
from functions.settings import SettingsError, parse_settings

UTC = timezone.utc
KYIV = ZoneInfo("Europe/Kyiv")
WEEK = {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
VACATION = {"en": "We're on our winter break until January 3.", "ru": "У нас зимние каникулы до 3 января.",
            "uk": "У нас зимові канікули до 3 січня.", "tr": "3 Ocak'a kadar kış tatilindeyiz.",
            "fa": "تا ۳ ژانویه در تعطیلات زمستانی هستیم."}


def settings(**extra):
    return parse_settings({"business": {"name": "Acme", "timezone": "Europe/Kyiv"}, "hours": WEEK,
                           "expected_response": "within 2 hours", **extra})


def local(text):
    return datetime.fromisoformat(text).replace(tzinfo=KYIV).astimezone(UTC)


# -- named schedules ------------------------------------------------------------------------------
def test_a_channel_keeps_its_schedule_and_the_others_the_default():
    s = settings(schedules={"email": {"mon": ["10:00-16:00"], "tue": ["10:00-16:00"]}},
                 channel_schedules={"email": "email"})
    monday_9_30 = local("2026-11-23 09:30")
    assert hours_for(s, "telegram").is_open(monday_9_30) is True
    assert hours_for(s, "email").is_open(monday_9_30) is False
    assert hours_for(s, "email").next_opening(monday_9_30) == local("2026-11-23 10:00")
    assert BusinessHours(s).schedule == "default" and BusinessHours(s).is_open(monday_9_30)   # old call
    # business minutes (the desk's first response, the SLA) in the conversation's own schedule
    assert BusinessHours(s, "email").business_minutes(local("2026-11-23 09:00"), local("2026-11-23 11:00")) == 60
    assert BusinessHours(s).business_minutes(local("2026-11-23 09:00"), local("2026-11-23 11:00")) == 120


def test_the_desk_measures_first_response_in_the_conversations_schedule():
    from functions.desk import Agent, first_response

    s = settings(schedules={"vip": {d: ["00:00-24:00"] for d in ("mon", "sat", "sun")}},
                 channel_schedules={"slack": "vip"})
    opened = local("2026-11-22 10:00")   # Sunday: closed by default, open for the vip schedule
    fact = first_response({"opened_at": opened.isoformat(), "channel": "slack"}, s, local("2026-11-22 11:00"),
                          Agent("inbox:sam"))
    assert fact["business_minutes"] == 60
    fact = first_response({"opened_at": opened.isoformat(), "channel": "telegram"}, s, local("2026-11-22 11:00"),
                          Agent("inbox:sam"))
    assert fact["business_minutes"] == 0


@pytest.mark.parametrize("extra, field", [
    ({"schedules": {"Email!": {"mon": ["10:00-16:00"]}}}, "schedules.Email!"),
    ({"schedules": {"email": {"monday": ["10:00-16:00"]}}}, "schedules.email.monday"),
    ({"schedules": {"email": {"mon": ["10-16"]}}}, "schedules.email.mon[0]"),
    ({"channel_schedules": {"email": "vip"}}, "channel_schedules.email"),
    ({"channel_schedules": {"fax": "default"}}, "channel_schedules.fax"),
    ({"special_days": [{"date": "2026-12-32", "hours": ["09:00-13:00"]}]}, "special_days[0].date"),
    ({"special_days": [{"from": "2026-12-31", "to": "2026-12-30", "closed": True}]}, "special_days[0].to"),
    ({"special_days": [{"date": "2026-12-24"}]}, "special_days[0].hours"),
    ({"special_days": [{"date": "2026-12-24", "closed": True, "hours": ["09:00-13:00"]}]}, "special_days[0].hours"),
    ({"special_days": [{"date": "2026-12-24", "hours": ["9-13"]}]}, "special_days[0].hours[0]"),
    ({"special_days": [{"date": "2026-12-24", "closed": "yes"}]}, "special_days[0].closed"),
    ({"special_days": [{"hours": ["09:00-13:00"]}]}, "special_days[0].date"),
    ({"special_days": [{"date": "2026-12-24", "closed": True, "message": {"english": "x"}}]},
     "special_days[0].message.english"),
    ({"special_days": [{"date": "2026-12-24", "closed": True, "schedules": ["vip"]}]}, "special_days[0].schedules[0]"),
    ({"closing_message": {"en": ""}}, "closing_message.en"),
    ({"surveys": {"daytime": "20:00-09:00"}}, "surveys.daytime"),
    ({"surveys": {"daytime": "9 to 5"}}, "surveys.daytime"),
])
def test_wrong_rules_name_the_field(extra, field):
    with pytest.raises(SettingsError) as error:
        settings(**extra)
    assert error.value.field == field


# -- special days ---------------------------------------------------------------------------------
def test_a_shortened_christmas_eve_and_an_extra_saturday():
    s = settings(special_days=[{"date": "2026-12-24", "hours": ["09:00-13:00"]},
                               {"date": "2026-12-26", "hours": ["10:00-14:00"]}],   # a Saturday
                 holidays={"dates": ["2026-12-26"]})
    h = BusinessHours(s)
    assert h.is_open(local("2026-12-24 12:59")) and not h.is_open(local("2026-12-24 13:00"))
    assert h.next_opening(local("2026-12-24 14:00")) == local("2026-12-25 09:00")
    assert h.hours_on(local("2026-12-24 12:00").astimezone(KYIV).date()) == ["09:00-13:00"]
    # a special day wins over a holiday on the same date: the extra Saturday opens
    assert h.is_open(local("2026-12-26 11:00"))
    assert h.business_minutes(local("2026-12-24 00:00"), local("2026-12-24 23:59")) == 4 * 60


def test_a_vacation_across_the_year_end():
    s = settings(special_days=[{"from": "2026-12-31", "to": "2027-01-02", "closed": True, "message": VACATION}])
    h = BusinessHours(s)
    assert not h.is_open(local("2026-12-31 10:00")) and not h.is_open(local("2027-01-01 10:00"))
    assert h.vacation(local("2027-01-01 10:00")).message_for("uk", "en") == VACATION["uk"]
    # Saturday 2 January is in the range, Sunday the 3rd is closed anyway: Monday 4th opens
    assert h.next_opening(local("2026-12-31 10:00")) == local("2027-01-04 09:00")
    assert h.vacation(local("2027-01-04 10:00")) is None


def test_a_vacation_across_a_dst_change():
    # Kyiv moves its clocks forward on Sunday 28 March 2027: the range and the opening after it
    # are wall times, whatever the offset
    s = settings(hours={**WEEK, "sun": ["02:00-05:00"]},
                 special_days=[{"from": "2027-03-26", "to": "2027-03-29", "closed": True, "message": "Back soon"}])
    h = BusinessHours(s)
    assert not h.is_open(local("2027-03-28 04:00"))   # a Sunday in the range (after the jump)
    opening = h.next_opening(local("2027-03-26 10:00"))
    assert opening == local("2027-03-30 09:00") and opening.utcoffset().total_seconds() == 3 * 3600
    assert h.vacation(local("2027-03-29 23:30")).message_for("tr", "en") == "Back soon"
    # the overnight spill of a day before the range is cut at midnight, like a holiday's
    s = settings(hours={"thu": ["22:00-02:00"]}, special_days=[{"date": "2027-03-26", "closed": True}])
    assert not BusinessHours(s).is_open(local("2027-03-26 01:00"))
    assert BusinessHours(s).is_open(local("2027-03-25 23:00"))


def test_special_days_for_one_schedule_only():
    s = settings(schedules={"email": WEEK}, channel_schedules={"email": "email"},
                 special_days=[{"date": "2026-11-23", "closed": True, "schedules": ["email"]}])
    monday = local("2026-11-23 10:00")
    assert hours_for(s, "telegram").is_open(monday) and not hours_for(s, "email").is_open(monday)


# -- what the acknowledgement says ----------------------------------------------------------------
def inbound(language, channel="telegram"):
    return InboundMessage(channel=channel, event_id="1", chat_id="1", sender_id="1", message_id="1",
                          received_at="", text="Where is my order?", first_name="Sam", language_code=language,
                          chat_type="private" if channel == "telegram" else "email",
                          subject="Order" if channel == "email" else "")


DECISION = Decision("ABCDEFGHJK", "ABC-DEF", True, True, "new-conversation")
SHORT_DAY = {"en": "Today we keep special hours: 09:00–13:00.", "ru": "Сегодня у нас особый график: 09:00–13:00.",
             "uk": "Сьогодні в нас особливий графік: 09:00–13:00.",
             "tr": "Bugün özel çalışma saatlerimiz geçerli: 09:00–13:00.",
             "fa": "امروز ساعات کاری ویژه داریم: ۰۹:۰۰–۱۳:۰۰."}
BACK = {"en": "back Monday at 9:00", "ru": "понедельник, 09:00", "uk": "понеділок, 09:00",
        "tr": "Pazartesi saat 09:00", "fa": "دوشنبه ساعت ۹:۰۰"}
SPECIALS = [{"date": "2026-12-24", "hours": ["09:00-13:00"]},
            {"from": "2026-12-31", "to": "2027-01-02", "closed": True, "message": VACATION}]


@pytest.mark.parametrize("language", ["en", "ru", "uk", "tr", "fa"])
def test_the_shortened_day_and_the_vacation_in_each_language(language):
    s = settings(special_days=SPECIALS)
    def text(at):   # the plain text of the acknowledgement (what the transcript keeps)
        return acknowledgement(inbound(language), None, DECISION, s, local(at)).fallback

    assert SHORT_DAY[language] in text("2026-12-24 10:00")
    assert SHORT_DAY[language] in text("2026-12-24 14:00")   # closed early: still today's hours
    new_year = text("2026-12-31 11:00")
    assert VACATION[language] in new_year and SHORT_DAY[language] not in new_year
    assert BACK[language] in new_year   # the next opening is after the vacation


def test_template_variables_follow_the_conversations_schedule():
    s = settings(schedules={"email": {"mon": ["10:00-16:00"]}}, channel_schedules={"email": "email"},
                 special_days=SPECIALS)
    at = local("2026-11-23 09:30")
    email = build_context(inbound("en", "email"), None, DECISION, s, "en", at)
    chat = build_context(inbound("en"), None, DECISION, s, "en", at)
    assert (email["schedule"], email["is_open"], chat["schedule"], chat["is_open"]) == ("email", False, "default", True)
    assert email["special_day"] is None and email["vacation_message"] == ""
    eve = build_context(inbound("uk"), None, DECISION, s, "uk", local("2026-12-24 10:00"))
    assert eve["special_day"] == {"date": "2026-12-24", "until": "2026-12-24", "closed": False,
                                  "hours": "09:00–13:00"}
    vacation = build_context(inbound("ru"), None, DECISION, s, "ru", local("2027-01-01 10:00"))
    assert vacation["special_day"]["closed"] is True and vacation["vacation_message"] == VACATION["ru"]
    # a language without its own text gets the default language's
    assert build_context(inbound("de"), None, DECISION, s, "de", local("2027-01-01 10:00"))["vacation_message"] \
        == VACATION["en"]


def test_kept_schedule_words_follow_the_clock_forward_backward_and_across_dst():
    """The words the acknowledgement keeps per settings object (`schedule_context`) are those a
    fresh settings object gives at every moment: around an opening, a closing, midnight, the
    DST change of 2027-03-28 and with the clock moved back."""
    from datetime import timedelta

    extra = {"hours": {**WEEK, "sat": ["22:00-02:00"], "sun": ["02:30-04:00"]}, "special_days": SPECIALS}
    kept = settings(**extra)
    moments = []
    for start in ("2026-11-23 08:58", "2026-11-23 17:58", "2026-11-23 23:58", "2026-12-24 12:58",
                  "2027-03-27 21:58", "2027-03-28 01:58", "2027-03-28 03:58"):
        first = local(start)
        moments += [first + timedelta(minutes=m) for m in range(0, 5)]
    moments += list(reversed(moments))   # the clock moved back
    for at in moments:
        for language in ("en", "uk"):
            assert build_context(inbound(language), None, DECISION, kept, language, at) == \
                build_context(inbound(language), None, DECISION, settings(**extra), language, at), at


# -- admin previews -------------------------------------------------------------------------------
def test_previews_show_open_closed_a_special_day_and_a_vacation():
    from functions import previews

    s = settings(special_days=SPECIALS)
    samples = previews.samples("ack", "telegram", "uk", s, local("2026-12-20 10:00"))
    assert [x.label.split(" · ", 1)[1] for x in samples] == [
        "open · FAQ matched", "closed · no FAQ match", "closed · a photo with a caption",
        "special day (its own hours)", "vacation"]
    special, vacation = samples[3].context, samples[4].context
    assert special["special_day"]["hours"] == "09:00–13:00" and special["is_open"] is True
    assert vacation["vacation_message"] == VACATION["uk"] and vacation["is_open"] is False
    # without special days in the settings, sample ones show what they would look like
    plain = previews.samples("ack", "telegram", "tr", settings(), local("2026-12-20 10:00"))
    assert plain[3].context["special_day"]["hours"] == "10:00–14:00"
    assert plain[4].context["vacation_message"] == previews.SAMPLE_VACATION["tr"]
