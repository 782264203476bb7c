"""The Telegram desk end to end: customers on every channel open a forum topic in the desk group;
agents' topic messages and button presses, as Telegram posts them to the webhook, reach the
customer once through python-telegram-bot, the channel stand-ins and moto; notes, strangers,
the General topic, forged buttons and other groups reach nobody."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from conftest import load_fixture, update_from

GROUP = "-1009876543210"
AGENT = 5550001
MEMBER = 5550002          # in the group, not an administrator
CUSTOMER_CHAT = "1111111"


@pytest.fixture
def desk(system):
    from integrations import telegram_desk

    telegram_desk._admins.clear()   # the per-container cache of getChatMember answers
    system.telegram_api.add_forum(GROUP)
    system.telegram_api.set_member(GROUP, AGENT, "administrator")
    system.use_settings(desk={"telegram_group": GROUP})
    return system


def calls(system, method, **match):
    return [c for c in system.telegram_api.sent(method)
            if all(str(c.params.get(k)) == str(v) for k, v in match.items())]


def conversation_of(system, channel, chat_id):
    return system.store.conversation(system.store.chat(channel, chat_id)["conversation_id"])


def topic_of(system, channel, chat_id) -> int:
    return conversation_of(system, channel, chat_id)["desk_telegram"]["topic"]


def telegram_customer(system) -> int:
    system.deliver(load_fixture("telegram", "text_private"))
    return topic_of(system, "telegram", CUSTOMER_CHAT)


def agent_update(topic, text=None, update_id=852742001, message_id=2001, user=AGENT, fixture="desk_topic_message",
                 chat=GROUP, **changes):
    update = load_fixture("telegram", fixture)
    message = update["message"]
    update["update_id"] = update_id
    message.update(message_thread_id=topic, message_id=message_id, **changes)
    message["chat"]["id"] = int(chat)
    message["from"]["id"] = user
    if text is not None:
        message["text"] = text
    return update


def agent_says(system, topic, text=None, times=1, **kwargs):
    """Post an agent's topic message as Telegram does, `times` times (a redelivery is the same
    update again), and run the worker."""
    update = agent_update(topic, text, **kwargs)
    for _ in range(times):
        assert system.post_update(update).status_code == 200
    system.pump.drain()
    return update


def press(system, topic, data, update_id=852742003, query_id="5617219440298417213", user=AGENT, chat=GROUP):
    update = load_fixture("telegram", "desk_callback")
    update["update_id"] = update_id
    query = update["callback_query"]
    query.update(id=query_id, data=data)
    query["from"]["id"] = user
    query["message"].update(message_thread_id=topic)
    query["message"]["chat"]["id"] = int(chat)
    assert system.post_update(update).status_code == 200
    system.pump.drain()


def button(system, topic, label) -> str:
    """The callback data of a button on the topic's first post, as last drawn."""
    posts = [c for c in system.telegram_api.calls if c.method in ("sendMessage", "editMessageText")
             and str(c.params.get("chat_id")) == GROUP and c.params.get("reply_markup")
             and (c.method == "editMessageText" or str(c.params.get("message_thread_id")) == str(topic))]
    markup = posts[-1].params["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    return next(b["callback_data"] for row in markup["inline_keyboard"] for b in row if b["text"].startswith(label))


def to_customer(system):
    return calls(system, "sendMessage", chat_id=CUSTOMER_CHAT)


def test_a_telegram_customer_opens_a_topic_and_the_agent_reply_reaches_them_once(desk):
    topic = telegram_customer(desk)
    [created] = desk.telegram_api.sent("createForumTopic")
    name = created.params["name"]
    conversation = conversation_of(desk, "telegram", CUSTOMER_CHAT)
    assert name == f"Olena Koval · Telegram · {conversation['reference']}"   # what a phone's topic list shows
    assert int(created.params["icon_color"]) == 0x6FB9F0 and str(created.params["chat_id"]) == GROUP
    [first] = calls(desk, "sendMessage", chat_id=GROUP, message_thread_id=topic)
    assert "Коли буде доставка" in first.params["text"] and "Auto-reply sent" in first.params["text"]
    markup = first.params["reply_markup"]
    labels = [b["text"] for row in markup["inline_keyboard"] for b in row]
    assert labels[0] == "Assign to me" and labels[1].startswith("Priority") and labels[2] == "Close"
    assert all(len(b["callback_data"].encode()) <= 64 for row in markup["inline_keyboard"] for b in row)

    agent_says(desk, topic, "Hi! Your parcel left today: *Friday* <b>", times=2)   # Telegram delivers it twice
    ack, reply = to_customer(desk)
    assert reply.params["text"] == "Hi! Your parcel left today: <b>Friday</b> &lt;b&gt;"
    assert reply.params["parse_mode"] == "HTML"
    [reaction] = desk.telegram_api.sent("setMessageReaction")
    assert str(reaction.params["chat_id"]) == GROUP and int(reaction.params["message_id"]) == 2001
    assert reaction.params["reaction"] == [{"type": "emoji", "emoji": "👍"}]
    conversation = conversation_of(desk, "telegram", CUSTOMER_CHAT)
    assert conversation["state"] == "answered" and conversation["first_response_by"] == f"telegram:{AGENT}"
    reply_line = [m for m in desk.store.messages(conversation["conversation_id"]) if m.get("kind") == "reply"]
    assert [(m["agent"], m["agent_name"], m["delivery"]) for m in reply_line] == \
        [(f"telegram:{AGENT}", "Olena Petrenko", "sent")]
