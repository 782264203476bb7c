"""The Telegram desk end to end: customers on every channel open a forum topic in the desk group;
agents' topic messages and button presses, as Telegram posts them to the webhook, reach the
customer once through python-telegram-bot, the channel stand-ins and moto; notes, strangers,
the General topic, forged buttons and other groups reach nobody."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from conftest import load_fixture, update_from

GROUP = "-1009876543210"
AGENT = 5550001
MEMBER = 5550002          # in the group, not an administrator
CUSTOMER_CHAT = "1111111"
FAR_FUTURE = datetime(2999, 1, 1, tzinfo=timezone.utc)   # idle since then: every open conversation


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


def test_slack_and_email_customers_open_topics_and_get_the_reply_once(desk):
    desk.slack_api.add_user("U2147483697", "Ana Lima", first_name="Ana", locale="pt-BR")
    desk.post_slack(load_fixture("slack", "message_im"))
    desk.pump.drain()
    slack_topic = topic_of(desk, "slack", "D024BE91L")
    desk.ingest("gmail")
    email = next(iter(desk.store.idle_conversations("email", FAR_FUTURE)))
    email_topic = email["desk_telegram"]["topic"]
    created = desk.telegram_api.sent("createForumTopic")
    assert [int(c.params["icon_color"]) for c in created] == [0xCB86DB, 0x8EEE98]   # a colour per channel
    assert " · Slack · " in created[0].params["name"] and " · Email · " in created[1].params["name"]
    assert len({slack_topic, email_topic}) == 2

    agent_says(desk, slack_topic, "Hi Ana, the payment went through now", times=2)
    in_dm = [c for c in desk.slack_api.sent("chat.postMessage") if c.params.get("channel") == "D024BE91L"]
    assert [c.params["text"] for c in in_dm][1:] == ["Hi Ana, the payment went through now"]
    before = len(desk.sent_mail())
    agent_says(desk, email_topic, "Hello, your refund is on its way.", times=2, update_id=852742011, message_id=2011)
    [mail] = desk.sent_mail()[before:]
    assert mail["From"].addresses[0].display_name == "Olena Petrenko" and mail["Subject"].startswith("Re: ")
    assert "your refund is on its way" in mail.get_body(("plain",)).get_content()
    assert len(desk.telegram_api.sent("setMessageReaction")) == 2


def test_a_note_reaches_nobody(desk):
    topic = telegram_customer(desk)
    agent_says(desk, topic, "/note she wrote last week too")
    agent_says(desk, topic, "note: and the week before", update_id=852742021, message_id=2021)
    assert len(to_customer(desk)) == 1   # the acknowledgement only
    assert desk.telegram_api.sent("copyMessage") == []
    assert [r.params["reaction"][0]["emoji"] for r in desk.telegram_api.sent("setMessageReaction")] == ["✍", "✍"]
    history = desk.store.messages(conversation_of(desk, "telegram", CUSTOMER_CHAT)["conversation_id"])
    assert [m.get("kind") for m in history if m["direction"] == "desk"] == ["note", "note"]


def test_a_photo_from_the_agent_reaches_a_telegram_customer_as_a_photo_and_others_hear_why_not(desk):
    topic = telegram_customer(desk)
    agent_says(desk, topic, fixture="desk_topic_photo", message_id=2002, update_id=852742002, times=2)
    [copy] = desk.telegram_api.sent("copyMessage")
    assert (str(copy.params["chat_id"]), str(copy.params["from_chat_id"]), int(copy.params["message_id"])) == \
        (CUSTOMER_CHAT, GROUP, 2002)
    assert len(to_customer(desk)) == 1   # no text sent beside the copy
    [reaction] = desk.telegram_api.sent("setMessageReaction")
    assert int(reaction.params["message_id"]) == 2002

    desk.ingest("gmail")
    email_topic = next(iter(desk.store.idle_conversations("email", FAR_FUTURE)))["desk_telegram"]["topic"]
    before = len(desk.sent_mail())
    agent_says(desk, email_topic, fixture="desk_topic_photo", message_id=2003, update_id=852742031)
    assert len(desk.sent_mail()) == before and len(desk.telegram_api.sent("copyMessage")) == 1
    [notice] = calls(desk, "sendMessage", chat_id=GROUP, message_thread_id=email_topic)[1:]
    assert notice.params["text"].startswith("Not delivered to the customer: a photo from the Telegram desk")
    assert notice.params["reply_parameters"]["message_id"] == 2003


def test_close_closes_the_conversation_and_the_topic_and_the_transcript_names_the_agent(desk):
    desk.use_settings(desk={"telegram_group": GROUP}, transcripts={"enabled": True})
    desk.ingest("gmail")
    conversation = next(iter(desk.store.idle_conversations("email", FAR_FUTURE)))
    cid, topic = conversation["conversation_id"], conversation["desk_telegram"]["topic"]
    agent_says(desk, topic, "Your refund was sent today.")
    agent_says(desk, topic, "/note refund id 5521, internal", update_id=852742041, message_id=2041)
    close = button(desk, topic, "Close")
    press(desk, topic, close)
    press(desk, topic, close)   # the same press delivered again
    press(desk, topic, close, update_id=852742043, query_id="5617219440298417243")   # pressed again
    closed = desk.store.conversation(cid)
    assert closed["status"] == "closed" and closed["closed_by"] == f"telegram:{AGENT}"
    closing = desk.telegram_api.sent("closeForumTopic")
    assert {(str(c.params["chat_id"]), int(c.params["message_thread_id"])) for c in closing} == {(GROUP, topic)}
    assert desk.telegram_api.topics[(GROUP, topic)]["closed"] is True
    assert button(desk, topic, "Reopen")   # the first post is redrawn with Reopen
    assert len(desk.telegram_api.sent("answerCallbackQuery")) == 2   # every press is answered, once
    assert [m["kind"] for m in desk.store.messages(cid) if m.get("kind") == "close"] == ["close", "close"]
    before = len(desk.sent_mail())
    desk.run_job("transcripts", desk.clock.now() + timedelta(minutes=1))
    [transcript] = desk.sent_mail()[before:]
    text = transcript.get_body(("plain",)).get_content()
    assert "Your refund was sent today." in text and "Olena" in text and "5521" not in text

    press(desk, topic, button(desk, topic, "Reopen"), update_id=852742042, query_id="5617219440298417299")
    assert desk.store.conversation(cid)["status"] == "open"
    assert desk.telegram_api.topics[(GROUP, topic)]["closed"] is False


def test_the_customers_next_message_after_close_opens_a_topic_linking_the_previous(desk):
    topic = telegram_customer(desk)
    press(desk, topic, button(desk, topic, "Close"))
    first = load_fixture("telegram", "text_private")
    desk.clock.current += timedelta(minutes=5)
    desk.deliver(update_from(first, first["update_id"] + 7, at=desk.clock.now(), message_id=1500, text="Ще питання"))
    new_topic = topic_of(desk, "telegram", CUSTOMER_CHAT)
    assert new_topic != topic and len(desk.telegram_api.sent("createForumTopic")) == 2
    [post] = calls(desk, "sendMessage", chat_id=GROUP, message_thread_id=new_topic)
    assert f'href="https://t.me/c/9876543210/{topic}"' in post.params["text"]
    assert "Ще питання" in post.params["text"]


def test_later_customer_messages_are_copied_into_the_topic(desk):
    topic = telegram_customer(desk)
    photo = load_fixture("telegram", "photo_caption")
    photo = json.loads(json.dumps(photo).replace("2222222", CUSTOMER_CHAT))
    desk.clock.current += timedelta(minutes=2)
    desk.deliver(update_from(photo, photo["update_id"] + 100, at=desk.clock.now()))
    [copy] = desk.telegram_api.sent("copyMessage")
    assert (str(copy.params["chat_id"]), str(copy.params["from_chat_id"]), int(copy.params["message_thread_id"])) \
        == (GROUP, CUSTOMER_CHAT, topic)


def test_buttons_assign_and_set_priority_and_redraw_the_first_post(desk):
    topic = telegram_customer(desk)
    cid = conversation_of(desk, "telegram", CUSTOMER_CHAT)["conversation_id"]
    press(desk, topic, button(desk, topic, "Assign"))
    press(desk, topic, button(desk, topic, "Priority"), update_id=852742051, query_id="5617219440298417251")
    conversation = desk.store.conversation(cid)
    assert conversation["assignee"] == f"telegram:{AGENT}" and conversation["priority"] == "high"
    last = desk.telegram_api.sent("editMessageText")[-1].params["text"]
    assert "Olena Petrenko" in last and "<b>high</b>" in last and "Коли буде доставка" in last
    assert desk.telegram_api.sent("closeForumTopic") == []


def test_strangers_general_forged_buttons_and_other_groups_change_nothing(desk):
    from integrations.telegram_desk import callback_data

    topic = telegram_customer(desk)
    cid = conversation_of(desk, "telegram", CUSTOMER_CHAT)["conversation_id"]
    history = desk.store.messages(cid)
    desk.telegram_api.set_member(GROUP, MEMBER, "member")
    desk.telegram_api.add_forum("-1005555555555", title="Another team")
    desk.telegram_api.set_member("-1005555555555", AGENT, "administrator")
    before = len(desk.telegram_api.calls)
    agent_says(desk, topic, "I am not an agent", user=MEMBER, update_id=852742061, message_id=2061)
    general = agent_update(topic, "In General", update_id=852742062, message_id=2062)
    for key in ("message_thread_id", "is_topic_message", "reply_to_message"):
        general["message"].pop(key)
    desk.deliver(general)
    agent_says(desk, topic, "Elsewhere", chat="-1005555555555", update_id=852742063, message_id=2063)
    desk.deliver(load_fixture("telegram", "desk_topic_closed"))   # a service message
    bot_post = agent_update(topic, "our own post", update_id=852742064, message_id=2064)
    bot_post["message"]["from"] = {"id": 123456, "is_bot": True, "first_name": "Support"}
    desk.deliver(bot_post)
    forged = callback_data(GROUP, "close", cid)[:-4] + "AAAA"
    press(desk, topic, forged, update_id=852742065, query_id="q-forged")
    other_conversation = callback_data(GROUP, "close", "ZZZZZZZZZZ")
    press(desk, topic, other_conversation, update_id=852742066, query_id="q-other")
    other_group = callback_data("-1005555555555", "close", cid)
    press(desk, topic, other_group, update_id=852742067, query_id="q-group")
    press(desk, topic, callback_data(GROUP, "close", cid), user=MEMBER, update_id=852742068, query_id="q-member")
    made = [c.method for c in desk.telegram_api.calls[before:]]
    # only questions (is this person an administrator?) and the answers to the presses
    assert set(made) <= {"getChatMember", "answerCallbackQuery"}, made
    assert made.count("answerCallbackQuery") == 4
    assert desk.store.messages(cid) == history
    assert desk.store.conversation(cid)["status"] == "open"


def test_edits_are_not_relayed_and_the_topic_says_so_once(desk):
    topic = telegram_customer(desk)
    agent_says(desk, topic, "Hi! Your parcel left today.")
    for n in range(2):
        edit = load_fixture("telegram", "desk_edited")
        edit["update_id"] += n
        edit["edited_message"]["message_thread_id"] = topic
        desk.deliver(edit)
    assert len(to_customer(desk)) == 2
    notices = calls(desk, "sendMessage", chat_id=GROUP, message_thread_id=topic)[1:]
    assert [n.params["text"][:35] for n in notices] == ["Edits and deletions are not sent to"]


def test_a_topic_message_in_a_customers_forum_group_that_addresses_the_bot_is_a_customer_message(desk):
    """A customer's own forum group is no desk: a command there is answered like any group's."""
    update = agent_update(7, "/help", chat="-1001234567890", user=7777777, update_id=852742071, message_id=2071,
                          entities=[{"offset": 0, "length": 5, "type": "bot_command"}])
    desk.deliver(update)
    [ack] = calls(desk, "sendMessage", chat_id="-1001234567890")
    assert ack.params["text"]
    assert len(desk.telegram_api.sent("createForumTopic")) == 1   # its conversation opened a desk topic
    # not addressed to the bot: the group talking among themselves
    desk.deliver(agent_update(7, "just chatting", chat="-1001234567890", user=7777777, update_id=852742072,
                              message_id=2072))
    assert len(calls(desk, "sendMessage", chat_id="-1001234567890")) == 1


def test_with_both_desks_a_reply_in_one_shows_in_the_other(desk):
    from test_desk_slack import DESK as SLACK_DESK, agent_says as slack_agent_says, desk_posts

    desk.slack_api.add_user("U0AGENT001", "Mykola Shevchuk", first_name="Mykola", locale="uk-UA")
    desk.use_settings(desk={"telegram_group": GROUP, "slack_channel": SLACK_DESK})
    desk.deliver(load_fixture("telegram", "text_private"))
    conversation = conversation_of(desk, "telegram", CUSTOMER_CHAT)
    topic, thread = conversation["desk_telegram"]["topic"], conversation["desk_slack"]["ts"]
    agent_says(desk, topic, "Answered from Telegram")
    in_thread = [c.params["text"] for c in desk_posts(desk) if c.params.get("thread_ts") == thread]
    assert in_thread == ["reply by Olena Petrenko (telegram), sent: Answered from Telegram"]
    slack_agent_says(desk, thread, "Answered from Slack")
    in_topic = [c.params["text"] for c in calls(desk, "sendMessage", chat_id=GROUP, message_thread_id=topic)][1:]
    assert in_topic == ["reply by Mykola Shevchuk (slack), sent: Answered from Slack"]
    assert [c.params["text"] for c in to_customer(desk)][1:] == ["Answered from Telegram", "Answered from Slack"]


@pytest.mark.parametrize("setup, expected", [
    ({}, "forum and the bot may manage its topics and delete them"),
    ({"forum": False}, "topics are off: in the group's settings turn on Topics"),
    ({"bot_rights": {"status": "member"}}, "the bot is not an administrator of the group: promote it"),
    ({"bot_rights": {"can_manage_topics": False}}, "the bot may not manage topics: give it the Manage Topics right"),
    ({"bot_rights": {"can_delete_messages": False}}, "the bot may not delete messages: give it the Delete Messages right"),
    (None, "the bot cannot see the group"),
])
def test_register_webhooks_checks_the_desk_group_and_says_what_is_missing(telegram_api, meta_api, monkeypatch,
                                                                         capsys, setup, expected):
    from cli import main

    telegram_api.reset()
    meta_api.reset()
    monkeypatch.setenv("META_API_URL", meta_api.url)   # register-webhooks subscribes Meta's page there too
    monkeypatch.setenv("TELEGRAM_API_URL", telegram_api.url)
    monkeypatch.delenv("X_CONSUMER_KEY")
    if setup is not None:
        telegram_api.add_forum(GROUP, **setup)
    status = main(["register-webhooks", "--url", "https://abc.example/api", "--telegram-group", GROUP])
    out = capsys.readouterr().out
    assert expected in out, out[:600]
    assert status == (0 if setup == {} else 1)
    [webhook] = telegram_api.sent("setWebhook")
    # what the desk needs: button presses, and agents' edits for the "not relayed" notice
    assert {"callback_query", "edited_message", "message"} <= set(webhook.params["allowed_updates"])


def test_an_agent_topic_message_posted_by_hand_reaches_the_customer(desk):
    """`firstreply post telegram --thread GROUP:TOPIC --text …` sends what a person in the topic
    would; here through the app's test client, as the dev server would receive it."""
    from cli.channels import agent_topic_message
    from cli.standins.telegram import DEV_AGENT

    topic = telegram_customer(desk)
    assert DEV_AGENT != AGENT   # the stand-in makes the dev agent an administrator of every group
    response = desk.post_update(None, raw=agent_topic_message(f"{GROUP}:{topic}", "Hello from the desk"))
    assert response.status_code == 200
    desk.pump.drain()
    assert [c.params["text"] for c in to_customer(desk)][1:] == ["Hello from the desk"]


def test_erasing_a_customer_deletes_their_topics_with_every_message_in_them(desk):
    """The Telegram desk copies the customer's messages into a topic; erasure deletes the topic (and
    so everything in it: the customer's copies, our posts, the agents' replies), as the
    conversation it shows is erased. A topic deleted already (by hand) does not stop the erasure."""
    topic = telegram_customer(desk)
    agent_says(desk, topic, "Your order left today")
    press(desk, topic, button(desk, topic, "Close"))
    desk.clock.current += timedelta(minutes=5)   # the customer writes again: a second conversation and topic
    first = load_fixture("telegram", "text_private")
    desk.deliver(update_from(first, first["update_id"] + 7, at=desk.clock.now(), message_id=1500, text="Thanks!"))
    second = topic_of(desk, "telegram", CUSTOMER_CHAT)
    assert second != topic and {(GROUP, topic), (GROUP, second)} <= set(desk.telegram_api.topics)
    desk.telegram_api.topics.pop((GROUP, second))   # an agent deleted this one by hand

    from functions.handlers import customers

    removed = customers.forget("telegram:1111111", "Dana Admin", {"surface": "test"})
    assert removed["desk_posts"] == 1 and removed["conversations"] == 2, removed
    assert not [key for key in desk.telegram_api.topics if key[0] == GROUP]
    [deleted] = calls(desk, "deleteForumTopic", chat_id=GROUP, message_thread_id=topic)


def test_an_erasure_the_bot_has_no_right_for_says_why_and_can_be_run_again(desk):
    """Without the Delete Messages right Telegram refuses: the admin's erasure answers 502 with
    why, before anything stored is erased (the customer is not reported gone with their topic left
    in the group); once the right is given, the same erasure goes through."""
    from test_customer_data import ADMIN

    topic = telegram_customer(desk)
    desk.telegram_api.add_forum(GROUP, bot_rights={"can_delete_messages": False})
    response = desk.client.http.delete("/admin/api/contacts/telegram:1111111", headers=ADMIN)
    assert response.status_code == 502, response.body
    error = json.loads(response.body)["error"]
    assert "telegram desk would not delete" in error and "not enough rights" in error.lower(), error
    assert (GROUP, topic) in desk.telegram_api.topics and desk.store.contact("telegram", CUSTOMER_CHAT)
    entries = json.loads(desk.client.http.get("/admin/api/audit", headers=ADMIN).body)["entries"]
    [refused] = [e for e in entries if e["action"] == "contact.erase-refused"]   # on record, with why
    assert "not enough rights" in refused["details"]["reason"].lower() and "1111111" not in json.dumps(refused)
    desk.telegram_api.add_forum(GROUP)   # the right given, the erasure again
    response = desk.client.http.delete("/admin/api/contacts/telegram:1111111", headers=ADMIN)
    assert response.status_code == 200 and json.loads(response.body)["removed"]["desk_posts"] == 1
    assert (GROUP, topic) not in desk.telegram_api.topics


def test_an_erasure_goes_on_when_the_desk_group_is_gone_and_asks_to_try_again_when_telegram_fails(desk):
    """A desk group deleted (or the bot removed from it) can never be reached again: the erasure
    goes on and counts the topic as unreachable, instead of refusing for good. Telegram failing
    for now (5xx) stops it before anything stored is erased, and says to try again."""
    from test_customer_data import ADMIN

    topic = telegram_customer(desk)
    desk.telegram_api.fail_next(status=500, times=10)
    response = desk.client.http.delete("/admin/api/contacts/telegram:1111111", headers=ADMIN)
    assert response.status_code == 502 and "try again" in json.loads(response.body)["error"]
    assert desk.store.contact("telegram", CUSTOMER_CHAT)
    desk.telegram_api.reset()   # the group deleted: Telegram no longer knows the chat
    desk.telegram_api.fail_next(status=400, description="Bad Request: chat not found", times=10)
    response = desk.client.http.delete("/admin/api/contacts/telegram:1111111", headers=ADMIN)
    assert response.status_code == 200, response.body
    removed = json.loads(response.body)["removed"]
    assert removed["desk_unreachable"] == 1 and removed["desk_posts"] == 0 and removed["conversations"] == 1
    assert not desk.store.contact("telegram", CUSTOMER_CHAT) and topic


def test_a_slack_reply_to_a_closed_conversation_reopens_its_telegram_topic(desk):
    """Closed in Telegram, answered from the Slack thread: the reply opens the conversation again
    (the inbox shows it open), so the topic is reopened too, before the reply is shown in it."""
    from test_desk_slack import DESK as SLACK_DESK, agent_says as slack_agent_says

    desk.slack_api.add_user("U0AGENT001", "Mykola Shevchuk", first_name="Mykola", locale="uk-UA")
    desk.use_settings(desk={"telegram_group": GROUP, "slack_channel": SLACK_DESK})
    desk.deliver(load_fixture("telegram", "text_private"))
    conversation = conversation_of(desk, "telegram", CUSTOMER_CHAT)
    topic, thread = conversation["desk_telegram"]["topic"], conversation["desk_slack"]["ts"]
    press(desk, topic, button(desk, topic, "Close"))
    assert desk.telegram_api.topics[(GROUP, topic)]["closed"]
    slack_agent_says(desk, thread, "One more thing: it ships tomorrow")
    assert conversation_of(desk, "telegram", CUSTOMER_CHAT)["status"] == "open"
    assert not desk.telegram_api.topics[(GROUP, topic)]["closed"]
    order = [c.method for c in desk.telegram_api.calls
             if c.method in ("reopenForumTopic", "sendMessage") and str(c.params.get("chat_id")) == GROUP]
    assert order[-2:] == ["reopenForumTopic", "sendMessage"]   # open, then the reply's line in it
    assert button(desk, topic, "Close")   # the first post offers Close again, not Reopen
