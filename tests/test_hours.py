"""Business hours: several intervals, overnight, all day, DST, holidays, next opening."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from functions.hours import BusinessHours
from functions.settings import parse_settings

UTC = timezone.utc


def hours(timezone_name="Europe/Kyiv", **overrides):
    doc = {"business": {"name": "Acme", "timezone": timezone_name},
           "hours": {"mon": ["09:00-13:00", "14:00-18:00"], "tue": ["09:00-13:00", "14:00-18:00"],
                     "wed": ["09:00-18:00"], "thu": ["09:00-18:00"], "fri": ["09:00-17:00"]}}
    doc.update(overrides)
    return BusinessHours(parse_settings(doc))


def local(text, zone="Europe/Kyiv"):
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


@pytest.mark.parametrize("moment, is_open", [
    ("2026-11-23 08:59", False), ("2026-11-23 09:00", True), ("2026-11-23 12:59", True),
    ("2026-11-23 13:00", False),   # lunch break between two intervals
    ("2026-11-23 14:00", True), ("2026-11-23 18:00", False), ("2026-11-22 12:00", False),
])
def test_several_intervals_a_day(moment, is_open):
    assert hours().is_open(local(moment)) is is_open


def test_next_opening_after_lunch_and_after_the_weekend():
    h = hours()
    assert h.next_opening(local("2026-11-23 13:30")) == local("2026-11-23 14:00")
    assert h.next_opening(local("2026-11-27 17:30")) == local("2026-11-30 09:00")   # Fri evening → Mon
    assert h.next_opening(local("2026-11-23 10:00")) is None                         # open now


def test_overnight_interval_runs_into_the_next_morning():
    h = hours(hours={"fri": ["22:00-02:00"]})
    assert h.is_open(local("2026-11-27 23:30"))
    assert h.is_open(local("2026-11-28 01:59"))        # Saturday small hours belong to Friday
    assert not h.is_open(local("2026-11-28 02:00"))
    assert not h.is_open(local("2026-11-26 01:00"))    # Thursday has no Wednesday overnight
    assert h.next_opening(local("2026-11-28 03:00")) == local("2026-12-04 22:00")


def test_all_day():
    h = hours(hours={"sat": ["00:00-24:00"], "sun": ["00:00-24:00"]})
    assert h.is_open(local("2026-11-28 00:00"))
    assert h.is_open(local("2026-11-28 23:59"))
    assert h.is_open(local("2026-11-29 12:00"))
    assert not h.is_open(local("2026-11-30 00:00"))


def test_dst_spring_forward_day():
    # Europe/Kyiv: 2026-03-29 03:00 EET → 04:00 EEST. Opening 09:00 local is 06:00 UTC that day.
    h = hours(hours={"sun": ["09:00-17:00"], "sat": ["09:00-17:00"]})
    assert h.next_opening(local("2026-03-29 05:00")) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    assert h.next_opening(local("2026-03-28 05:00")) == datetime(2026, 3, 28, 7, 0, tzinfo=UTC)
    assert h.next_opening(local("2026-03-29 05:00")).astimezone(h.zone).hour == 9


def test_dst_opening_inside_the_skipped_hour_opens_at_the_jump():
    # 03:30 does not exist on 2026-03-29 in Kyiv: the clock goes from 03:00 straight to 04:00
    h = hours(hours={"sun": ["03:30-10:00"]})
    opening = h.next_opening(local("2026-03-29 00:00"))
    assert opening == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert opening.astimezone(h.zone).strftime("%H:%M") == "04:00"


def test_dst_fall_back_day_overnight_interval_is_an_hour_longer():
    # 2026-10-25 04:00 EEST → 03:00 EET: "22:00-06:00" from Saturday lasts nine hours
    h = hours(hours={"sat": ["22:00-06:00"]})
    start = local("2026-10-24 22:00")
    assert h.is_open(start)
    assert h.is_open(datetime(2026, 10, 25, 3, 59, tzinfo=UTC))     # 05:59 EET
    assert not h.is_open(datetime(2026, 10, 25, 4, 0, tzinfo=UTC))  # 06:00 EET


def test_holiday_dates_close_the_whole_day_and_the_next_opening_skips_them():
    h = hours(holidays={"dates": ["2026-12-25", "2026-12-28"]})
    assert not h.is_open(local("2026-12-25 10:00"))
    # Thu 24th evening → Fri 25th holiday → weekend → Mon 28th holiday → Tue 29th
    assert h.next_opening(local("2026-12-24 19:00")) == local("2026-12-29 09:00")


def test_holiday_cuts_the_overnight_part_that_falls_on_it():
    h = hours(hours={"thu": ["22:00-02:00"]}, holidays={"dates": ["2026-12-25"]})
    assert h.is_open(local("2026-12-24 23:00"))
    assert not h.is_open(local("2026-12-25 01:00"))


def test_country_calendar_from_the_holidays_package():
    h = hours("Europe/London", holidays={"country": "GB"})
    assert h.is_holiday(datetime(2026, 12, 25).date())          # Christmas Day
    assert h.is_holiday(datetime(2026, 12, 28).date())          # Boxing Day (observed)
    assert h.next_opening(local("2026-12-24 18:00", "Europe/London")) == local("2026-12-29 09:00", "Europe/London")


def test_next_opening_a_week_away():
    h = hours(hours={"wed": ["10:00-11:00"]})
    assert h.next_opening(local("2026-11-25 11:00")) == local("2026-12-02 10:00")


def test_no_hours_means_no_opening():
    assert hours(hours={}).next_opening(local("2026-11-25 11:00")) is None


def test_hours_on_a_day():
    h = hours(holidays={"dates": ["2026-11-24"]})
    assert h.hours_on(datetime(2026, 11, 23).date()) == ["09:00-13:00", "14:00-18:00"]
    assert h.hours_on(datetime(2026, 11, 24).date()) == []
