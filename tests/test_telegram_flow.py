"""End to end on Telegram: webhook (Chalice test client) → moto DynamoDB + SQS → worker → 
python-telegram-bot sending over HTTP to the local Bot API stand-in."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from conftest import CLOSED_TIME, load_fixture, update_from


def test_text_message_gets_one_personal_ack_in_ukrainian(system):
    # GIVEN a Ukrainian customer asking about delivery, during opening hours
    update = load_fixture("telegram", "text_private")
    # WHEN Telegram delivers the update
    response = system.deliver(update)
    # THEN the webhook answered 200 and the bot sent exactly one acknowledgement to the chat
    assert response.status_code == 200
    [call] = system.sent()
    assert call.token == "123456:TEST-token"
    assert str(call.params["chat_id"]) == "1111111"
    assert call.params["parse_mode"] == "HTML"
    text = call.params["text"]
    assert text.startswith("Вітаємо, Olena!")
    assert "«<i>Коли буде доставка мого замовлення?</i>»" in text
    assert "Зараз ми на зв’язку" in text and "протягом 2 годин" in text
    assert '<a href="https://acme.example/faq/delivery">Delivery times</a>' in text
    assert "faq/returns" not in text   # only the matching FAQ entry
    # AND the conversation, both messages and the contact are stored
    chat = system.store.chat("telegram", "1111111")
    conversation = system.store.conversation(chat["conversation_id"])
    assert conversation["status"] == "open" and conversation["ack"] == "sent"
    assert conversation["reference"] in text
    messages = system.store.messages(chat["conversation_id"])
    assert [m["direction"] for m in messages] == ["in", "out"]
    assert messages[0]["text"] == "Коли буде доставка мого замовлення?"
    assert messages[1]["text"] == text and messages[1]["language"] == "uk"
    contact = system.store.contact("telegram", "1111111")
    assert contact["first_name"] == "Olena" and contact["language_code"] == "uk"
    assert contact["expires_at"] > 0


def test_inbound_is_stored_before_the_webhook_answers(system):
    update = load_fixture("telegram", "text_private")
    response = system.post_update(update)   # no worker run
    assert response.status_code == 200
    event = system.store.get_event("telegram", str(update["update_id"]))
    assert event["status"] == "received"
    assert event["inbound"]["text"] == update["message"]["text"]
    assert system.sent() == []


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", "s3cr3t-token_AB"])
def test_wrong_or_missing_secret_is_401_and_stores_nothing(system, secret):
    update = load_fixture("telegram", "text_private")
    response = system.post_update(update, secret=secret)
    assert response.status_code == 401
    assert system.store.get_event("telegram", str(update["update_id"])) is None
    assert system.queue_depth(system.pump.url) == 0


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400),
    (b"\xff\xfe\x00", 400),
    (b"[1, 2, 3]", 400),
    (b'{"message": {"text": "hi"}}', 400),                           # no update_id
    (b'{"update_id": "7", "message": {}}', 400),                      # update_id not an integer
    (b'{"update_id": 7, "message": {"text": "no chat"}}', 400),
    (b'{"update_id": 7, "message": {"message_id": 1, "chat": {"id": "x", "type": "private"}, '
     b'"from": {"id": 1, "is_bot": false}, "text": "hi"}}', 400),     # chat id not an integer
    (b"", 400),
])
def test_malformed_body_is_400_never_500(system, body, status):
    response = system.post_update(None, raw=body)
    assert response.status_code == status
    assert system.queue_depth(system.pump.url) == 0


def test_body_over_one_megabyte_is_413(system):
    update = load_fixture("telegram", "text_private")
    update["message"]["text"] = "x" * 1_100_000
    response = system.post_update(update)
    assert response.status_code == 413
    assert system.store.get_event("telegram", str(update["update_id"])) is None


def test_duplicate_update_changes_nothing(system):
    update = load_fixture("telegram", "text_private")
    system.deliver(update)
    chat = system.store.chat("telegram", "1111111")
    # WHEN Telegram redelivers the same update (it does on any non-2xx or timeout)
    response = system.deliver(update)
    # THEN it is answered 200, flagged duplicate, and nothing more is sent or stored
    assert response.status_code == 200 and response.json_body.get("duplicate") is True
    assert len(system.sent()) == 1
    assert len(system.store.messages(chat["conversation_id"])) == 2


def test_redelivery_before_the_worker_ran_sends_once(system):
    update = load_fixture("telegram", "text_private")
    system.post_update(update)
    system.post_update(update)   # the second arrives while the first is still queued
    system.pump.drain()
    assert len(system.sent()) == 1


def test_follow_up_in_open_conversation_gets_no_new_ack(system):
    first = load_fixture("telegram", "text_private")
    system.deliver(first)
    system.clock.current += timedelta(minutes=5)
    system.deliver(update_from(first, first["update_id"] + 1, at=system.clock.now(), message_id=1400, text="І ще питання"))
    assert len(system.sent()) == 1
    chat = system.store.chat("telegram", "1111111")
    conversation = system.store.conversation(chat["conversation_id"])
    assert conversation["messages"] == 2
    assert [m["direction"] for m in system.store.messages(chat["conversation_id"])] == ["in", "out", "in"]


def test_idle_conversation_reopens_with_a_new_ack_after_the_contact_gap(system):
    first = load_fixture("telegram", "text_private")
    system.deliver(first)
    old = system.store.chat("telegram", "1111111")["conversation_id"]
    # 45 minutes later the conversation is idle (timeout 30) but the contact gap (60) holds
    system.clock.current += timedelta(minutes=45)
    system.deliver(update_from(first, first["update_id"] + 1, at=system.clock.now(), message_id=1401, text="Ви тут?"))
    assert len(system.sent()) == 1
    middle = system.store.chat("telegram", "1111111")["conversation_id"]
    assert middle != old
    assert system.store.conversation(middle)["ack"] == "contact-gap"
    # two hours later: a new conversation, and a new ack with a new reference
    system.clock.current += timedelta(hours=2)
    system.deliver(update_from(first, first["update_id"] + 2, at=system.clock.now(), message_id=1402, text="Доброго ранку"))
    assert len(system.sent()) == 2
    latest = system.store.chat("telegram", "1111111")
    assert latest["conversation_id"] not in (old, middle)
    assert latest["reference"] in system.sent()[1].params["text"]


def test_contact_gap_is_configurable(system):
    system.use_settings(acknowledgement={"contact_gap_minutes": 0, "faq_links": 3})
    first = load_fixture("telegram", "text_private")
    system.deliver(first)
    system.clock.current += timedelta(minutes=31)
    system.deliver(update_from(first, first["update_id"] + 1, at=system.clock.now(), message_id=1401, text="Ви тут?"))
    assert len(system.sent()) == 2


@pytest.mark.parametrize("fixture, reason", [
    ("bot_sender", "sender is a bot"),
    ("edited_message", "edited_message"),
    ("channel_post", "channel_post"),
    ("new_chat_members", "service message"),
    ("callback_query", "callback_query"),
])
def test_ignored_updates_are_200_and_change_nothing(system, fixture, reason):
    update = load_fixture("telegram", fixture)
    response = system.post_update(update)
    assert response.status_code == 200
    assert response.json_body["ignored"] == reason
    assert system.store.get_event("telegram", str(update["update_id"])) is None
    system.pump.drain()
    assert system.sent() == []


@pytest.mark.parametrize("fixture, expected", [
    ("photo_caption", "We've received a photo with your note: “<i>The box arrived &lt;b&gt;crushed&lt;/b&gt; &amp; wet</i>”"),
    ("sticker", "Gönderdiğiniz çıkartmayı aldık."),
    ("voice", "Мы получили голосовое сообщение."),
    ("document", "فایل شما را دریافت کردیم."),
])
def test_media_without_text_is_acknowledged_and_says_what_was_sent(system, fixture, expected):
    system.deliver(load_fixture("telegram", fixture))
    [call] = system.sent()
    assert expected in call.params["text"]


def test_customer_markup_is_escaped_in_html_parse_mode(system):
    update = load_fixture("telegram", "text_private")
    update["message"]["from"]["first_name"] = '<a href="https://evil.example">Click</a>'
    update["message"]["text"] = "<b>bold</b> & <script>alert(1)</script>"
    system.deliver(update)
    text = system.sent()[0].params["text"]
    assert "evil.example" not in text.replace("&#34;https://evil.example&#34;", "")
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "&lt;a href=" in text


LANGUAGE_CASES = {
    "en": ("Hi Olena, thanks for writing to Acme!", "Our team is online now"),
    "ru": ("Здравствуйте, Olena! Спасибо, что написали в Acme.", "Сейчас мы на связи"),
    "uk": ("Вітаємо, Olena! Дякуємо, що звернулися до Acme.", "Зараз ми на зв’язку"),
    "tr": ("Merhaba Olena! Acme ile iletişime geçtiğiniz için teşekkür ederiz.", "Ekibimiz şu anda çevrim içi"),
    "fa": ("سلام Olena! از اینکه به Acme پیام دادید سپاسگزاریم.", "همکاران ما هم‌اکنون پاسخگو هستند"),
}


@pytest.mark.parametrize("language", sorted(LANGUAGE_CASES))
def test_each_shipped_language(system, language):
    update = load_fixture("telegram", "text_private")
    update["message"]["from"]["language_code"] = language
    system.deliver(update)
    text = system.sent()[0].params["text"]
    greeting, open_now = LANGUAGE_CASES[language]
    assert text.startswith(greeting)
    assert open_now in text


def test_regional_and_unknown_languages_fall_back(system):
    update = load_fixture("telegram", "group_mention")   # pt-br: no Portuguese template
    system.deliver(update)
    [call] = system.sent()
    assert call.params["text"].startswith("Hi Ana, thanks")
    # in a group, the ack replies to the customer's message
    assert call.params["reply_parameters"]["message_id"] == 1380
    assert "faq/payment" in call.params["text"]   # "pagamento" does not match; falls back to first few


def test_closed_hours_name_the_next_opening(system):
    system.clock.current = CLOSED_TIME   # Sunday noon in Kyiv
    system.deliver(load_fixture("telegram", "text_private"))
    text = system.sent()[0].params["text"]
    assert "Зараз ми не працюємо. Знову будемо на зв’язку: завтра, 09:00." in text


def test_closed_over_holidays_names_the_day_after(system):
    system.use_settings(holidays={"dates": ["2026-11-23", "2026-11-24"]})
    system.clock.current = CLOSED_TIME
    update = load_fixture("telegram", "text_private")
    update["message"]["from"]["language_code"] = "en"
    system.deliver(update)
    text = system.sent()[0].params["text"]
    assert "We'll be back Wednesday at 9:00\u202fAM" in text, text


def test_telegram_500_twice_then_200_sends_exactly_one_ack(system):
    system.telegram_api.fail_next(500, times=2)
    system.deliver(load_fixture("telegram", "text_private"))
    calls = system.sent()
    assert len(calls) == 3                       # two failures, one success
    assert len({c.params["text"] for c in calls}) == 1
    assert len(system.clock.slept) == 2          # backed off between attempts
    chat = system.store.chat("telegram", "1111111")
    assert [m["direction"] for m in system.store.messages(chat["conversation_id"])] == ["in", "out"]
    # the queue message was deleted: running the worker again sends nothing
    system.pump.drain()
    assert len(system.sent()) == 3


def test_429_waits_as_long_as_telegram_says(system):
    system.telegram_api.rate_limit_next(retry_after=2)
    system.deliver(load_fixture("telegram", "text_private"))
    assert len(system.sent()) == 2
    assert system.clock.slept == [2.0]
    assert system.store.conversation(system.store.chat("telegram", "1111111")["conversation_id"])["ack"] == "sent"


def test_long_retry_after_defers_through_the_queue_without_a_second_ack(system):
    system.telegram_api.rate_limit_next(retry_after=300)
    update = load_fixture("telegram", "text_private")
    system.post_update(update)
    assert system.pump.pump_once() == 0          # deferred: message stays in the queue, invisible
    assert system.queue_depth(system.pump.url) == 1
    assert system.clock.slept == []              # the worker did not sleep 5 minutes
    # when it comes back, the stored decision is replayed and the ack goes out once
    receipt = system.pump.sqs.receive_message(QueueUrl=system.pump.url, VisibilityTimeout=0)
    assert "Messages" not in receipt             # still invisible
    event = system.store.get_event("telegram", str(update["update_id"]))
    assert event["decision"]["acknowledge"] is True and "ack_sent_at" not in event


def test_failures_after_all_retries_end_in_the_dead_letter_queue(system):
    from integrations import sqs

    update = load_fixture("telegram", "text_private")
    system.dead_letter(update)
    assert len(system.sent()) == sqs.MAX_RECEIVES * 4   # four tries per receive, then SQS gave up
    dead_url = sqs.queue_url(sqs.DEAD_LETTER_QUEUE_NAME)
    dead = system.pump.sqs.receive_message(QueueUrl=dead_url, MaxNumberOfMessages=10)["Messages"]
    chat = str(update["message"]["chat"]["id"])   # the keys of the worker's one read travel along
    assert [json.loads(m["Body"]) for m in dead] == [{"channel": "telegram", "event_id": str(update["update_id"]),
                                                     "chat_id": chat, "sender_id": str(update["message"]["from"]["id"])}]
    # nothing was lost: the inbound message and the decision are stored, no ack marked sent
    event = system.store.get_event("telegram", str(update["update_id"]))
    assert event["inbound"]["text"] and "ack_sent_at" not in event


def test_blocked_bot_is_recorded_not_retried(system):
    system.telegram_api.fail_next(403, description="Forbidden: bot was blocked by the user")
    system.deliver(load_fixture("telegram", "text_private"))
    assert len(system.sent()) == 1
    conversation = system.store.conversation(system.store.chat("telegram", "1111111")["conversation_id"])
    assert conversation["ack"] == "failed" and "blocked" in conversation["ack_error"]
    assert system.queue_depth(system.pump.url) == 0


def test_webhook_never_imports_channel_sdk_or_jinja(system):
    import subprocess
    import sys

    code = ("import sys, app; app.app; "
            "from functions.handlers import telegram_webhook; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('telegram', 'jinja2', 'babel', 'holidays', 'yaml', 'slack_sdk', 'tweepy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- 21.8: in groups the bot answers only where it is addressed -------------------------------------
@pytest.mark.parametrize("fixture, message_id", [
    ("group_mention", 1380),          # @support_bot
    ("group_command", 1381),          # /help@support_bot
    ("group_reply_to_bot", 1383),     # a reply to one of the bot's messages
])
def test_group_message_addressed_to_the_bot_is_answered_in_reply(system, fixture, message_id):
    system.deliver(load_fixture("telegram", fixture))
    [call] = system.sent()
    assert call.params["reply_parameters"]["message_id"] == message_id


def group_update(update_id: int, text: str, entities=None, **message_changes) -> dict:
    update = update_from(load_fixture("telegram", "group_text"), update_id, text=text, **message_changes)
    if entities is not None:
        update["message"]["entities"] = entities
    return update


@pytest.mark.parametrize("text, entities, extra", [
    ("Olá, meu pagamento não foi aprovado", None, {}),                                   # chatter
    ("@maria did yours arrive?", [{"offset": 0, "length": 6, "type": "mention"}], {}),     # someone else
    ("/start@other_bot", [{"offset": 0, "length": 16, "type": "bot_command"}], {}),        # another bot
    ("thanks /help", [{"offset": 7, "length": 5, "type": "bot_command"}], {}),             # not a command
    ("me too", None, {"reply_to_message": {"message_id": 9, "date": 1763806000, "chat": {"id": -1001234567890, "type": "supergroup"},
                                           "from": {"id": 999, "is_bot": False, "first_name": "Maria"}}}),
    ("support_bot is great", None, {}),                                                   # a name, not a mention
])
def test_group_chatter_not_addressed_to_the_bot_is_ignored(system, text, entities, extra):
    update = group_update(852741030, text, entities, **extra)
    response = system.post_update(update)
    assert response.status_code == 200 and response.json_body["ignored"] == "group message not addressed to the bot"
    assert system.store.get_event("telegram", "852741030") is None
    system.pump.drain()
    assert system.sent() == []


def test_group_mention_in_a_caption_and_after_emoji_counts(system):
    # offsets are in UTF-16 code units: the emoji before the mention takes two
    update = group_update(852741031, "", None, caption="📦 @Support_Bot box is crushed",
                          caption_entities=[{"offset": 3, "length": 12, "type": "mention"}],
                          photo=[{"file_id": "AgAD", "file_unique_id": "AQAD", "width": 90, "height": 67}])
    del update["message"]["text"]
    system.deliver(update)
    assert len(system.sent()) == 1


def test_private_chats_need_no_mention(system):
    system.deliver(load_fixture("telegram", "text_private"))
    assert len(system.sent()) == 1


# -- 21.4: signed but malformed updates are 400, never 500, and store nothing -----------------------
@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"update_id": 1, "message": ' * 3000 + b"{}" + b"}" * 3000,
    '{"update_id": 1}'.encode("utf-16"),
    b'{"update_id": 1, "message": {"text": "\\ud800"}}',
    b'{"update_id": 10000000000000000000000000, "message": {}}',
    b'{"update_id": 5, "callback_query": {"id": "q", "data": "csat:c0ffee:5", "message": [1], "from": {"id": 1}}}',
    b'{"update_id": 5, "callback_query": {"id": "q", "data": "csat:c0ffee:5", "message": {"message_id": 1, '
    b'"chat": "x"}, "from": {"id": 1}}}',
    b'{"update_id": 5, "callback_query": {"id": "q", "data": "csat:c0ffee:5", "from": [1]}}',
])
def test_malformed_updates_are_400_never_500(system, body):
    response = system.post_update(None, raw=body)
    assert response.status_code == 400, response.body
    assert system.queue_depth(system.pump.url) == 0


@pytest.mark.parametrize("changes", [
    {"date": 10 ** 20}, {"date": -10 ** 20}, {"date": 1e300}, {"date": "yesterday"},
    {"entities": "x"}, {"entities": [7]}, {"entities": [{"type": "mention", "offset": "0", "length": 12}]},
    {"reply_to_message": "x"}, {"reply_to_message": {"from": [1]}},
    {"chat": {"id": 10 ** 30, "type": "private"}},
])
def test_wrong_types_and_out_of_range_values_are_400(system, changes):
    update = load_fixture("telegram", "group_mention")
    update["message"].update(changes)
    response = system.post_update(update)
    assert response.status_code == 400, response.body
    assert system.store.get_event("telegram", str(update["update_id"])) is None


@pytest.mark.parametrize("secret", ["¹²", "s3cr3t-token_ABCé", "ÿ" * 16])
def test_odd_secret_header_values_are_401(system, secret):
    response = system.post_update(load_fixture("telegram", "text_private"), secret=secret)
    assert response.status_code == 401


def test_when_getme_fails_a_group_mention_is_503_so_telegram_redelivers(system, monkeypatch):
    from integrations import telegram

    monkeypatch.setattr(telegram, "_usernames", {})
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:9")   # nothing listens there
    update = load_fixture("telegram", "group_mention")
    response = system.post_update(update)
    assert response.status_code == 503
    assert system.store.get_event("telegram", str(update["update_id"])) is None
    # a reply to the bot or a plain command needs no getMe
    assert system.post_update(load_fixture("telegram", "group_reply_to_bot")).status_code == 200


def test_bot_username_is_asked_once_per_container(system, monkeypatch):
    from integrations import telegram

    monkeypatch.setattr(telegram, "_usernames", {})
    system.deliver(load_fixture("telegram", "group_mention"))
    system.deliver(group_update(852741040, "@support_bot again?",
                                [{"offset": 0, "length": 12, "type": "mention"}], message_id=1390))
    assert len(system.telegram_api.sent("getMe")) == 1
