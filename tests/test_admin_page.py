"""The admin page in a real browser: Playwright driving Debian's Chromium against `firstreply dev`.

GIVEN `firstreply dev` with python-telegram-bot sending to the local Bot API stand-in
WHEN an admin signs in, edits the Telegram acknowledgement (first with a syntax error, which the
     page shows at its line, then fixed), watches the preview and saves
THEN the next Telegram update is acknowledged with the new text.
Set FIRSTREPLY_SCREENSHOTS=docs to refresh the README's screenshots.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from conftest import ROOT, load_fixture
from test_dev_server import dev_env, free_port, post, start, stop

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium on a machine without internet: no background connections, no sandbox as root
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "browser-test-token"


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs Debian's chromium package"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def signed_in(browser):
    """`firstreply dev` on a free port and a page signed in to its admin: (port, process, page)."""
    port = free_port()
    process = start(port, dev_env(FIRSTREPLY_ADMIN_TOKEN=TOKEN))
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"http://127.0.0.1:{port}/admin")
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    return port, process, page


def screenshot(page, name: str) -> None:
    folder = os.environ.get("FIRSTREPLY_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(ROOT / folder / f"admin-{name}.png"), full_page=False)


def test_admin_edits_the_telegram_ack_in_the_browser_and_the_next_update_carries_it(browser, telegram_api):
    telegram_api.reset()
    port = free_port()
    process = start(port, dev_env(TELEGRAM_BOT_TOKEN="42:DEV", TELEGRAM_API_URL=telegram_api.url,
                                  TELEGRAM_WEBHOOK_SECRET="local-secret", FIRSTREPLY_ADMIN_TOKEN=TOKEN))
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(f"http://127.0.0.1:{port}/admin")
        # a wrong token is refused
        page.get_by_label("Admin token").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("not accepted")

        page.get_by_label("Admin token").fill(TOKEN)
        page.get_by_label("Your name").fill("Dana")
        page.keyboard.press("Enter")
        expect(page.get_by_text("signed in as Dana")).to_be_visible()

        # the list filters by name, channel and language
        page.get_by_label("Channel", exact=True).select_option("telegram")
        page.get_by_label("Language", exact=True).select_option("en")
        page.get_by_role("listitem").filter(has_text="ack.telegram.en").click()
        editor = page.get_by_label("Template source")
        expect(editor).to_have_value(re.compile(r"Hi \{\{ customer\.first_name \}\}"))
        preview = page.frame_locator("iframe").first
        expect(preview.locator("body")).to_contain_text("Hi Emma, thanks for writing to Acme!")
        screenshot(page, "editor")

        # a deliberate syntax error on line 2 is shown at its line, and Save refuses it
        editor.fill("Hello {{ customer.first_name }} from the new template!\n{% if is_open %}We are in.{% endfi %}\n"
                    "Ref {{ reference|strong }}")
        expect(page.locator("#problems")).to_contain_text("Line 2")
        expect(page.locator("#gutter .bad")).to_have_text("2")
        expect(page.locator("#previews")).to_have_class(re.compile("stale"))
        expect(page.locator(".stale-note")).to_contain_text("last version without errors")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator("#save-status")).to_contain_text("unknown tag 'endfi'")
        screenshot(page, "error")

        # fixed: the preview shows the new text, rendered as Telegram shows it, and it saves
        editor.fill("Hello {{ customer.first_name }} from the new template!\n{% if is_open %}We are in.{% endif %}\n"
                    "Ref {{ reference|strong }}")
        expect(page.locator("#problems")).to_be_empty()
        expect(page.locator(".stale-note")).to_have_count(0)
        expect(preview.locator("body")).to_contain_text("Hello Emma from the new template!")
        expect(preview.locator("b")).to_have_text("7K3-Q9X")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator("#save-status")).to_contain_text("Saved as version 1")
        expect(page.get_by_role("listitem").filter(has_text="ack.telegram.en")).to_contain_text("edited v1")

        update = load_fixture("telegram", "text_private")
        update["message"]["from"]["language_code"] = "en"
        assert post(port, update, "local-secret") == 200
        [call] = telegram_api.wait_for(1)
        assert call.params["text"].startswith("Hello Olena from the new template!")
        assert call.params["parse_mode"] == "HTML"

        # history lists both versions; rolling back to the shipped text works from the page
        page.get_by_role("button", name="History").click()
        expect(page.locator("#history")).to_contain_text("Dana")
        page.get_by_role("button", name="Roll back to 0").click()
        expect(page.locator("#save-status")).to_contain_text("Rolled back to version 0")
        expect(editor).to_have_value(re.compile(r"Hi \{\{ customer\.first_name \}\}"))
    finally:
        page.close()
        stop(process)


def test_admin_edits_settings_persian_preview_and_results_in_the_browser(browser):
    port, process, page = signed_in(browser)
    try:

        # Persian previews are right to left
        page.get_by_label("Language", exact=True).select_option("fa")
        page.get_by_role("listitem").filter(has_text="ack.x.fa").click()
        expect(page.frame_locator("iframe").first.locator(".m")).to_have_attribute("dir", "rtl")

        page.get_by_role("button", name="Settings").click()
        expect(page.get_by_label("Name", exact=True)).to_have_value("Acme")
        # a second interval on Saturday, one of them wrong: the error names it and focuses it
        page.get_by_role("button", name="add an interval on sat").click()
        page.get_by_role("button", name="add an interval on sat").click()
        saturday = page.get_by_label("sat interval", exact=True)
        saturday.nth(0).fill("10:00-12:00")
        saturday.nth(1).fill("9-5")
        page.get_by_role("button", name="Save settings").click()
        expect(page.locator("#settings-status")).to_contain_text("hours.sat[1]")
        expect(saturday.nth(1)).to_have_attribute("aria-invalid", "true")
        expect(saturday.nth(1)).to_be_focused()
        screenshot(page, "settings")

        saturday.nth(1).fill("13:00-15:00")
        page.get_by_label("Name", exact=True).fill("Acme Ltd")
        page.get_by_role("button", name="Save settings").click()
        expect(page.locator("#settings-status")).to_contain_text("Saved as version 2")
        expect(page.locator("#settings-history")).to_contain_text("admin")

        page.get_by_role("button", name="Results").click()
        expect(page.locator("#stats-rows")).to_contain_text("telegram")
        screenshot(page, "results")
    finally:
        page.close()
        stop(process)
