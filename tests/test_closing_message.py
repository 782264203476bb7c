"""Issue 15: the closing message close-idle sends to a chat conversation: once, in the customer's
language, never by email, never where the first message was automatic."""
from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import OPEN_TIME, load_fixture

CLOSING = {"en": "We're closing this chat for now. Write any time to start again.",
           "uk": "Ми поки що закриваємо цей чат. Напишіть будь-коли, щоб почати знову.",
           "ru": "Мы пока закрываем этот чат. Напишите в любое время, чтобы начать снова."}


def test_close_idle_sends_the_closing_message_once_in_the_customers_language(system):
    system.use_settings(closing_message=CLOSING)
    system.deliver(load_fixture("telegram", "text_private"))   # a Ukrainian customer
    assert len(system.sent()) == 1
    report = system.run_job("close-idle", OPEN_TIME + timedelta(minutes=31))
    assert report["done"] == 1 and report["skipped"] == {}
    closing = system.sent()[-1]
    assert closing.params["text"] == CLOSING["uk"] and closing.params["chat_id"] == "1111111"
    system.run_job("close-idle", OPEN_TIME + timedelta(minutes=40))   # a second run: nothing to close
    system.run_job("close-idle", OPEN_TIME + timedelta(minutes=31))   # the same moment again
    assert len(system.sent()) == 2
    cid = system.store.chat("telegram", "1111111")["conversation_id"]
    conversation = system.store.conversation(cid)
    assert conversation["closing_message"] == "sent" and conversation["status"] == "closed"


def test_no_closing_message_unless_one_is_set(system):
    system.deliver(load_fixture("telegram", "text_private"))
    system.run_job("close-idle", OPEN_TIME + timedelta(minutes=31))
    assert len(system.sent()) == 1


def test_email_conversations_get_no_closing_message(system):
    system.use_settings(closing_message=CLOSING)
    system.ingest("gmail")
    acks = len(system.sent_mail())
    report = system.run_job("close-idle", OPEN_TIME + timedelta(days=4))
    assert report["done"] == 1 and report["skipped"] == {"closing message: not for email": 1}
    assert len(system.sent_mail()) == acks


class FakeStore:
    def __init__(self):
        self.flags, self.updates = set(), {}

    def set_conversation_flag(self, cid, flag):
        if (cid, flag) in self.flags:
            return False
        self.flags.add((cid, flag))
        return True

    def update_conversation(self, cid, **fields):
        self.updates.setdefault(cid, {}).update(fields)


def conversation(ack="sent", channel="telegram"):
    return {"conversation_id": "C1", "channel": channel, "chat_id": "42", "contact": f"{channel}#42",
            "ack": ack, "language": "ru", "last_in": {}}


def test_never_to_a_conversation_that_got_no_ack_for_a_loop_reason():
    from functions.jobs import send_closing_message
    from functions.settings import parse_settings

    settings = parse_settings({"business": {"name": "Acme"}, "closing_message": CLOSING})
    sent = []
    store = FakeStore()
    assert send_closing_message(store, conversation("suppressed: auto-submitted"), settings, OPEN_TIME,
                                sent.append) == "automatic sender"
    assert sent == []
    # a policy reason is no loop: the customer is a person and gets the closing message
    assert send_closing_message(store, conversation("policy: off"), settings, OPEN_TIME, sent.append) == "sent"
    assert [m.text for m in sent] == [CLOSING["ru"]]
    assert send_closing_message(store, conversation(), settings, OPEN_TIME, sent.append) == "already sent"
    assert len(sent) == 1


def test_a_failed_closing_message_is_recorded_and_not_retried():
    from functions.jobs import send_closing_message
    from functions.settings import parse_settings

    settings = parse_settings({"business": {"name": "Acme"}, "closing_message": "Bye for now"})
    store = FakeStore()

    def refuse(message):
        raise RuntimeError("bot was blocked by the user")

    assert send_closing_message(store, conversation(), settings, OPEN_TIME, refuse) == "failed"
    assert store.updates["C1"]["closing_message"] == "failed"
    assert send_closing_message(store, conversation(), settings, OPEN_TIME, refuse) == "already sent"


# Each chat channel's closing message goes out through that channel's sender, with its credentials:
# the close-idle function reads them (its role grants them; the grant test sees the reads here).
def _slack_dm(system):
    system.slack_api.add_user("U2147483697", "Ana Lima", first_name="Ana", locale="pt-BR")
    system.post_slack(load_fixture("slack", "message_im"))
    return lambda: [c.params["text"] for c in system.slack_api.sent("chat.postMessage")]


def _x_dm(system):
    system.post_x(load_fixture("x", "aaa_dm"))
    return lambda: [c.params["text"] for c in system.x_api.sent("dm")]


def _meta(channel):
    def start(system):
        from conftest import post_meta

        system.meta_api = system.request.getfixturevalue("meta_api")
        system.meta_api.reset()
        post_meta(system, load_fixture(channel, "text"),
                  path="/webhooks/whatsapp" if channel == "whatsapp" else "/webhooks/meta")

        def said():
            if channel == "whatsapp":
                return [c.params["text"]["body"] for c in system.meta_api.sent() if c.params.get("type") == "text"]
            return [c.params["message"]["text"] for c in system.meta_api.sent("page.send")]
        return said
    return start


@pytest.mark.parametrize("start", [_slack_dm, _x_dm, _meta("whatsapp"), _meta("messenger")],
                         ids=["slack", "x", "whatsapp", "messenger"])
def test_every_chat_channel_gets_its_closing_message(system, request, start):
    system.request = request
    system.use_settings(closing_message={"en": "Closing now.", "uk": "Закриваємо.", "pt": "Encerrando.",
                                         "tr": "Kapatıyoruz.", "ru": "Закрываем."})
    said = start(system)
    system.pump.drain()
    assert len(said()) == 1                                   # the acknowledgement
    report = system.run_job("close-idle", OPEN_TIME + timedelta(minutes=31))
    assert report["done"] == 1, report
    assert len(said()) == 2 and said()[-1] in {"Closing now.", "Закриваємо.", "Encerrando.", "Kapatıyoruz.",
                                                "Закрываем."}
