"""Issue 15: the customer's clock. Slack's users.info `tz` is stored on the contact; an email's
Date: offset is kept for the survey's daytime only; nothing is guessed from the language. The
survey window is a setting, applied in the customer's zone when known."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest

from conftest import FIXTURES, OPEN_TIME, load_fixture

UTC = timezone.utc


def surveys_on(system, **survey):
    system.use_settings(surveys={"enabled": True, "delay_minutes": 60, "cooldown_days": 0, **survey})


def test_a_slack_customers_tz_is_stored_and_their_survey_waits_for_their_morning(system):
    system.slack_api.add_user("U2147483697", "Ana Lima", first_name="Ana", locale="pt-BR",
                              tz="America/Los_Angeles")
    surveys_on(system)
    assert system.post_slack(load_fixture("slack", "message_im")).status_code == 200
    system.pump.drain()
    contact = system.store.contact("slack", "U2147483697")
    assert contact["timezone"] == "America/Los_Angeles"
    system.run_job("close-idle", OPEN_TIME + timedelta(minutes=31))
    # 09:31 UTC: 11:31 in Kyiv (the business's daytime), 01:31 in Los Angeles: not now
    report = system.run_job("surveys", OPEN_TIME + timedelta(minutes=91))
    assert report["skipped"] == {"postponed": 1}
    # 09:05 in Los Angeles (19:05 in Kyiv)
    report = system.run_job("surveys", datetime(2026, 11, 23, 17, 5, tzinfo=UTC))
    assert report["done"] == 1
    assert len(system.slack_api.sent("chat.postMessage")) == 2   # the ack, then the survey


def mail_with_date(date_header: str) -> bytes:
    raw = (FIXTURES / "email" / "gmail.eml").read_bytes()
    return raw.replace(b"Date: Mon, 23 Nov 2026 10:00:01 +0200", f"Date: {date_header}".encode())


def test_an_email_customer_at_plus_0330_is_surveyed_in_their_daytime(system):
    surveys_on(system)
    system.ingest(mail_with_date("Mon, 23 Nov 2026 11:30:01 +0330"))
    contact = system.store.contact("email", "olena.koval@gmail.com")
    assert contact["utc_offset_minutes"] == 210 and "timezone" not in contact   # an offset, not a zone
    closed = OPEN_TIME + timedelta(days=3, minutes=1)
    system.run_job("close-idle", closed)
    mails = len(system.sent_mail())
    # 16:45 UTC: 18:45 in Kyiv, but 20:15 for the customer: after their daytime
    assert system.run_job("surveys", datetime(2026, 11, 26, 16, 45, tzinfo=UTC))["skipped"] == {"postponed": 1}
    # 05:35 UTC: 07:35 in Kyiv, 09:05 for the customer
    assert system.run_job("surveys", datetime(2026, 11, 27, 5, 35, tzinfo=UTC))["done"] == 1
    assert len(system.sent_mail()) == mails + 1


def test_the_daytime_window_is_a_setting_in_the_business_zone_when_the_customer_has_none(system):
    surveys_on(system, daytime="12:00-14:00")
    system.deliver(load_fixture("telegram", "text_private"))   # Telegram says no zone
    assert "timezone" not in system.store.contact("telegram", "1111111")
    system.run_job("close-idle", OPEN_TIME + timedelta(minutes=31))
    # 11:31 in Kyiv: before the window that the settings set
    assert system.run_job("surveys", OPEN_TIME + timedelta(minutes=91))["skipped"] == {"postponed": 1}
    assert system.run_job("surveys", OPEN_TIME + timedelta(hours=2, minutes=5))["done"] == 1   # 12:05


@pytest.mark.parametrize("header, minutes", [
    ("Mon, 23 Nov 2026 11:30:01 +0330", 210), ("Mon, 23 Nov 2026 03:00:00 -0500", -300),
    ("Mon, 23 Nov 2026 08:00:00 +0000", 0), ("Mon, 23 Nov 2026 08:00:00 -0000", None),   # -0000: unknown
    ("yesterday, after lunch", None), ("Mon, 23 Nov 2026 08:00:00 +2500", None),
])
def test_the_date_offset(header, minutes):
    from integrations.ses import date_offset

    raw = mail_with_date(header)
    assert date_offset(raw) == ({} if minutes is None else {"utc_offset_minutes": minutes})
    assert date_offset(b"From: a@b.example\r\n\r\nno date") == {}


def test_daytime_start_in_a_zone_or_an_offset():
    from functions.hours import customer_zone
    from functions.surveys import daytime_start
    from functions.settings import parse_settings

    business = parse_settings({"business": {"name": "A", "timezone": "Europe/Kyiv"}}).zone
    window = (time(9, 30), time(20, 0))
    now = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    assert customer_zone({}, business) is business
    assert customer_zone({"timezone": "Not/AZone"}, business) is business   # unknown: not a crash
    tehran = customer_zone({"utc_offset_minutes": 210}, business)
    assert daytime_start(now, tehran, window) == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    assert daytime_start(now + timedelta(hours=2), tehran, window) is None
    # a zone wins over an offset; a transcript uses zones only
    assert str(customer_zone({"timezone": "Asia/Tokyo", "utc_offset_minutes": 210}, business)) == "Asia/Tokyo"
    assert customer_zone({"utc_offset_minutes": 210}, business, offsets=False) is business


def test_transcripts_show_times_in_the_customers_zone_when_known():
    from functions.jobs import build_transcript
    from functions.settings import parse_settings

    settings = parse_settings({"business": {"name": "A", "timezone": "Europe/Kyiv"}})
    messages = [{"direction": "in", "sent_at": "2026-11-23T08:00:00+00:00", "text": "Hi"}]
    in_tokyo = build_transcript({}, messages, {"timezone": "Asia/Tokyo"}, settings, "en")
    assert in_tokyo["messages"][0]["time"].endswith("5:00\u202fPM")
    by_offset = build_transcript({}, messages, {"utc_offset_minutes": 210}, settings, "en")
    assert by_offset["messages"][0]["time"].endswith("10:00\u202fAM")   # Kyiv: an offset is not a zone


def test_nothing_is_guessed_from_the_language(system):
    system.deliver(load_fixture("telegram", "text_private"))   # Ukrainian, Telegram gives no zone
    contact = system.store.contact("telegram", "1111111")
    assert contact["language_code"] == "uk" and "timezone" not in contact and "utc_offset_minutes" not in contact

