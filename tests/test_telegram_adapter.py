"""Telegram's pure converters, on recorded Update shapes."""
import pytest

from conftest import load_fixture
from integrations import telegram


def test_private_text_message():
    m = telegram.to_inbound(load_fixture("telegram", "text_private"))
    assert (m.channel, m.event_id, m.chat_id, m.sender_id, m.message_id) == (
        "telegram", "852741001", "1111111", "1111111", "1365")
    assert m.first_name == "Olena" and m.name == "Olena Koval" and m.language_code == "uk"
    assert m.text == "Коли буде доставка мого замовлення?" and m.media == ""
    assert m.received_at == "2025-11-22T10:00:00.000Z" and m.chat_type == "private"


@pytest.mark.parametrize("fixture, media, text", [
    ("photo_caption", "photo", "The box arrived <b>crushed</b> & wet"),
    ("sticker", "sticker", ""), ("voice", "voice", ""), ("document", "document", ""),
])
def test_media(fixture, media, text):
    m = telegram.to_inbound(load_fixture("telegram", fixture))
    assert (m.media, m.text) == (media, text)


@pytest.mark.parametrize("fixture, reason", [
    ("edited_message", "edited_message"), ("channel_post", "channel_post"),
    ("bot_sender", "sender is a bot"), ("new_chat_members", "service message"),
    ("callback_query", "callback_query"),
])
def test_ignored(fixture, reason):
    with pytest.raises(telegram.Ignored) as ignored:
        telegram.to_inbound(load_fixture("telegram", fixture))
    assert ignored.value.reason == reason


def test_unknown_update_kind_is_ignored_not_malformed():
    with pytest.raises(telegram.Ignored):
        telegram.to_inbound({"update_id": 1, "message_reaction": {"chat": {"id": 1}}})


@pytest.mark.parametrize("update", [
    None, [], "x", {"update_id": True}, {"update_id": 1.5},
    {"update_id": 1, "message": "hi"},
    {"update_id": 1, "message": {"message_id": 1, "chat": {"id": 1}, "from": {"id": "1"}, "text": "x"}},
])
def test_malformed(update):
    with pytest.raises(telegram.MalformedUpdate):
        telegram.to_inbound(update)


@pytest.mark.parametrize("headers, expected, ok", [
    ({"X-Telegram-Bot-Api-Secret-Token": "abc"}, "abc", True),
    ({"x-telegram-bot-api-secret-token": "abc"}, "abc", True),
    ({"X-Telegram-Bot-Api-Secret-Token": "abd"}, "abc", False),
    ({"X-Telegram-Bot-Api-Secret-Token": "ab"}, "abc", False),
    ({"X-Telegram-Bot-Api-Secret-Token": "ü"}, "abc", False),
    ({}, "abc", False),
    ({"X-Telegram-Bot-Api-Secret-Token": ""}, "", False),   # no secret configured: nobody gets in
])
def test_verify_secret(headers, expected, ok):
    assert telegram.verify_secret(headers, expected) is ok


class FakeBot(telegram.BotIdentity):
    def __init__(self, bot_id=123456, username="support_bot"):
        self.id, self.asked, self._username = bot_id, 0, username

    def username(self):
        self.asked += 1
        return self._username


def test_group_addressing_without_a_token_accepts_only_plain_commands():
    group = load_fixture("telegram", "group_command")
    assert telegram.BotIdentity("").id is None
    with pytest.raises(telegram.Ignored):       # /help@support_bot: we cannot know it is us
        telegram.to_inbound(group, telegram.BotIdentity(""))
    group["message"]["text"] = "/help де моє замовлення?"
    group["message"]["entities"][0]["length"] = 5
    assert telegram.to_inbound(group, telegram.BotIdentity("")).text.startswith("/help")


def test_username_is_only_asked_for_when_a_message_names_a_bot():
    bot = FakeBot()
    telegram.to_inbound(load_fixture("telegram", "group_reply_to_bot"), bot)
    with pytest.raises(telegram.Ignored):
        telegram.to_inbound(load_fixture("telegram", "group_text"), bot)
    assert bot.asked == 0
    assert telegram.to_inbound(load_fixture("telegram", "group_mention"), bot).chat_type == "supergroup"
    assert bot.asked == 1


def test_text_mention_of_the_bot_by_id():
    update = load_fixture("telegram", "group_text")
    update["message"]["text"] = "Support, help please"
    update["message"]["entities"] = [{"offset": 0, "length": 7, "type": "text_mention",
                                      "user": {"id": 123456, "is_bot": True, "first_name": "Support"}}]
    assert telegram.to_inbound(update, FakeBot()).text == "Support, help please"
    update["message"]["entities"][0]["user"]["id"] = 42
    with pytest.raises(telegram.Ignored):
        telegram.to_inbound(update, FakeBot())
