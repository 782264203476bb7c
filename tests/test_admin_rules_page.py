"""Issue 15 on the admin page, in Debian's Chromium (Playwright) against `firstreply dev`:

GIVEN the settings form
WHEN an admin sets the acknowledgement policy per channel, a delay, a schedule for email, a
     vacation with its message, a closing message and the surveys' daytime — first with wrong values
THEN each wrong value is refused with its field named and marked, and the right ones are saved and
     shown again after a reload.
"""
from __future__ import annotations

import json
import urllib.request

from playwright.sync_api import expect

import test_admin_page
from test_admin_page import TOKEN, screenshot, signed_in
from test_dev_server import stop

browser = test_admin_page.browser   # the same Chromium fixture, for this module


def saved_settings(port: int) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/admin/api/settings",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def refused(page, field: str, locator) -> None:
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings-status")).to_contain_text(field)
    expect(locator).to_have_attribute("aria-invalid", "true")
    expect(locator).to_be_focused()


def test_admin_edits_the_auto_reply_rules_with_field_named_errors(browser):
    port, process, page = signed_in(browser)
    try:
        page.get_by_role("button", name="Settings").click()
        expect(page.get_by_label("Acknowledge telegram messages")).to_have_value("always")

        page.get_by_label("Acknowledge telegram messages").select_option("off")
        page.get_by_label("Acknowledge email messages").select_option("outside-hours")
        delay = page.get_by_label("Wait before acknowledging", exact=False)
        delay.fill("1200")
        refused(page, "acknowledgement.delay_seconds", delay)
        delay.fill("45")

        page.get_by_role("button", name="Add a schedule").click()
        page.get_by_label("schedule name", exact=True).fill("email")
        page.get_by_label("schedule new mon").fill("10:00-16:00, 25:00-26:00")
        refused(page, "schedules.email.mon[1]", page.get_by_label("schedule new mon"))
        page.get_by_label("schedule new mon").fill("10:00-16:00")
        page.get_by_label("schedule new tue").fill("10:00-16:00")
        email_hours = page.get_by_label("Hours for email (schedule name)")
        email_hours.fill("emial")
        refused(page, "channel_schedules.email", email_hours)
        email_hours.fill("email")

        page.get_by_role("button", name="Add a special day").click()
        page.get_by_label("special day from").fill("2026-12-31")
        page.get_by_label("special day to").fill("2026-12-30")
        page.get_by_label("special day closed").check()
        page.get_by_label("special day message").fill("en: Winter break until January 3.\nuk: Зимові канікули до 3 січня.")
        refused(page, "special_days[0].to", page.get_by_label("special day to"))
        page.get_by_label("special day to").fill("2027-01-02")

        page.get_by_label("Sent when an idle chat conversation is closed", exact=False).fill("en: Bye for now!\nuk: До зустрічі!")
        daytime = page.get_by_label("Surveys arrive between", exact=False)
        daytime.fill("20:00-09:00")
        refused(page, "surveys.daytime", daytime)
        daytime.fill("10:00-19:00")
        screenshot(page, "rules")

        page.get_by_role("button", name="Save settings").click()
        expect(page.locator("#settings-status")).to_contain_text("Saved as version 2")

        doc = saved_settings(port)["settings"]
        assert doc["acknowledgement"]["policy"] == {"telegram": "off", "slack": "always", "x": "always",
                                                    "email": "outside-hours"}
        assert doc["acknowledgement"]["delay_seconds"] == 45
        assert doc["schedules"]["email"]["mon"] == ["10:00-16:00"] and doc["channel_schedules"] == {"email": "email"}
        assert doc["special_days"] == [{"from": "2026-12-31", "to": "2027-01-02", "closed": True,
                                        "message": {"en": "Winter break until January 3.",
                                                    "uk": "Зимові канікули до 3 січня."}}]
        assert doc["closing_message"] == {"en": "Bye for now!", "uk": "До зустрічі!"}
        assert doc["surveys"]["daytime"] == "10:00-19:00"

        # what was saved is what the form shows after a reload
        page.reload()
        page.get_by_role("button", name="Settings").click()
        expect(page.get_by_label("Acknowledge telegram messages")).to_have_value("off")
        expect(page.get_by_label("schedule email tue")).to_have_value("10:00-16:00")
        expect(page.get_by_label("special day to")).to_have_value("2027-01-02")
        expect(page.get_by_label("special day message")).to_have_value(
            "en: Winter break until January 3.\nuk: Зимові канікули до 3 січня.")
        expect(page.get_by_label("Wait before acknowledging", exact=False)).to_have_value("45")
    finally:
        page.close()
        stop(process)
