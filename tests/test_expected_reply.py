"""The acknowledgement's expected reply time, measured: the median business-time first response of
the last 14 days per channel, rounded as a person says it, in the customer's language; the
settings' text while fewer than 20 conversations were answered."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from conftest import CLOSED_TIME, OPEN_TIME, load_fixture, update_from

LANGUAGES = {"en": "in about 40 minutes", "ru": "примерно за 40 минут", "uk": "приблизно за 40 хвилин",
             "tr": "yaklaşık 40 dakika içinde", "fa": "ظرف حدود ۴۰ دقیقه"}
CONFIGURED = {"en": "within 2 hours", "ru": "в течение 2 часов", "uk": "протягом 2 годин", "tr": "2 saat içinde",
              "fa": "ظرف ۲ ساعت"}


def answered(system, count: int, channel="telegram", days_ago=1, start=10.0, step=2.0):
    """`count` answered conversations with known business-minute first responses (10, 12, 14, …)."""
    from integrations.dynamodb import to_item

    day = (OPEN_TIME - timedelta(days=days_ago)).date().isoformat()
    for i in range(count):
        system.store.ddb.put_item(TableName=system.store.table, Item=to_item({
            "pk": f"FACTS#{day}", "sk": f"first_response#{channel}#M{days_ago}{i:08d}", "channel": channel,
            "agent": "inbox:olena", "conversation_id": f"M{i:09d}", "wall_minutes": 999.0,
            "business_minutes": start + step * i}))


def ack_for(system, language: str, user: int) -> str:
    update = update_from(load_fixture("telegram", "text_private"), 852700000 + user)
    update["message"]["from"].update(id=user, language_code=language)
    update["message"]["chat"]["id"] = user
    before = len(system.sent())
    system.deliver(update)
    sent = system.sent()[before:]
    assert len(sent) == 1
    return sent[0].params["text"]


def test_30_answered_conversations_give_the_rounded_median_in_each_language(system):
    answered(system, 30)                              # 10 … 68 minutes: the median is 38
    answered(system, 30, days_ago=15, start=500)      # outside the 14 days: not counted
    answered(system, 25, channel="email", start=200)  # another channel's own median
    report = system.run_job("expected-reply", OPEN_TIME)
    assert report["channels"]["telegram"]["answered"] == 30
    assert report["channels"]["telegram"]["median_business_minutes"] == 38
    assert report["channels"]["email"]["median_business_minutes"] == 224
    from functions.handlers import worker

    worker.store.cache_clear()
    for n, (language, phrase) in enumerate(LANGUAGES.items()):
        text = ack_for(system, language, 5000 + n)
        assert phrase in text, (language, text)
        assert CONFIGURED[language] not in text


def test_10_answered_conversations_keep_the_configured_text(system):
    answered(system, 10)
    assert system.run_job("expected-reply", OPEN_TIME)["channels"]["telegram"]["answered"] == 10
    from functions.handlers import worker

    worker.store.cache_clear()
    for n, (language, phrase) in enumerate(CONFIGURED.items()):
        text = ack_for(system, language, 6000 + n)
        assert phrase in text and LANGUAGES[language] not in text, (language, text)


def test_when_closed_it_says_when_the_answer_will_likely_come(system):
    answered(system, 30)
    system.run_job("expected-reply", OPEN_TIME)
    from functions.handlers import worker

    worker.store.cache_clear()
    system.clock.current = CLOSED_TIME          # Sunday 12:00; opens Monday 09:00, + 38 min ≈ 09:45
    assert "in about 40 minutes (likely tomorrow around 09:45)" in ack_for(system, "en", 7001)
    assert "(найімовірніше, завтра близько 09:45)" in ack_for(system, "uk", 7002)
    assert "(скорее всего, завтра около 09:45)" in ack_for(system, "ru", 7003)


def test_a_settings_save_keeps_the_measurement_and_the_page_shows_both(system):
    answered(system, 30)
    system.run_job("expected-reply", OPEN_TIME)
    system.use_settings(retention_days=300)
    response = system.client.http.get("/admin/api/settings", headers={"Authorization": "Bearer admin-test-token"})
    body = json.loads(response.body)
    assert body["measured_response"]["telegram"]["median_business_minutes"] == 38
    assert body["settings"]["expected_response"]["en"] == "within 2 hours"


@pytest.mark.parametrize("minutes, en, ru", [
    (3, "within a few minutes", "в течение нескольких минут"), (12, "in about 10 minutes", "примерно за 10 минут"),
    (23, "in about 25 minutes", "примерно за 25 минут"), (44, "in about 40 minutes", "примерно за 40 минут"),
    (65, "within about an hour", "примерно в течение часа"), (125, "within 2 hours", "в течение 2 часов"),
    (200, "within 4 hours", "в течение 4 часов"), (470, "within 8 hours", "в течение 8 часов"),
    (900, "within 2 business days", "в течение 2 рабочих дней")])
def test_rounding_the_way_a_person_would(minutes, en, ru):
    from functions.expected import duration_phrase

    assert duration_phrase(minutes, "en") == en and duration_phrase(minutes, "ru") == ru
    assert duration_phrase(minutes, "fa").isascii() is False   # Persian digits and words
