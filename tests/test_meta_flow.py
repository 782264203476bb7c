"""Messenger and Instagram end to end on /webhooks/meta: signed webhook → moto → worker → the Send
API of the Graph API stand-in (profile lookups cached on the contact, quick-reply surveys, echoes
and receipts ignored, the 24-hour window)."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from conftest import load_fixture, post_meta

PSID, IGSID = "6987654321012345", "17841405309211844"


@pytest.fixture
def meta(system, meta_api):
    meta_api.reset()
    meta_api.profiles[PSID] = {"first_name": "Ana", "last_name": "Lima", "locale": "pt_BR"}
    meta_api.profiles[IGSID] = {"name": "Elif Yılmaz", "username": "elif.y"}
    system.meta_api = meta_api
    return system


def deliver(system, payload, **kwargs):
    response = post_meta(system, payload, path="/webhooks/meta", **kwargs)
    assert response.status_code == 200, response.body
    system.pump.drain()
    return response


def sends(system):
    return system.meta_api.sent("page.send")


def conversation(system, channel, chat_id):
    return system.store.conversation(system.store.chat(channel, chat_id)["conversation_id"])


def test_a_messenger_text_gets_one_ack_with_the_name_from_the_profile_lookup(meta):
    deliver(meta, load_fixture("messenger", "text"))
    [call] = sends(meta)
    assert call.token == "" and call.params["access_token"] == "page-test-token"
    assert call.path == "/v23.0/me/messages"
    assert call.params["recipient"] == {"id": PSID} and call.params["messaging_type"] == "RESPONSE"
    assert call.params["message"]["text"].startswith("Hi Ana, thanks for writing to Acme!")
    contact = meta.store.contact("messenger", PSID)
    assert contact["first_name"] == "Ana" and contact["name"] == "Ana Lima" and contact["language_code"] == "pt-BR"
    # a later conversation finds the profile cached on the contact: no second lookup
    later = load_fixture("messenger", "text")
    later["entry"][0]["messaging"][0]["message"]["mid"] = "m_LATER"
    meta.clock.current += timedelta(days=2)
    deliver(meta, later)
    assert len(sends(meta)) == 2 and len(meta.meta_api.sent("profile")) == 1


def test_an_instagram_text_is_answered_in_turkish_with_the_instagram_name(meta):
    deliver(meta, load_fixture("instagram", "text"))
    [call] = sends(meta)
    assert call.params["recipient"] == {"id": IGSID}
    assert call.params["message"]["text"].startswith("Merhaba Elif")
    assert conversation(meta, "instagram", IGSID)["ack"] == "sent"


def test_an_instagram_story_mention_is_acknowledged_as_media(meta):
    deliver(meta, load_fixture("instagram", "story_mention"))
    cid = meta.store.chat("instagram", IGSID)["conversation_id"]
    [message] = [m for m in meta.store.messages(cid) if m["direction"] == "in"]
    assert message["media"] == "message" and message["details"]["story_mention"] is True
    assert len(sends(meta)) == 1


def test_a_messenger_image_is_acknowledged_as_a_photo(meta):
    deliver(meta, load_fixture("messenger", "image"))
    [call] = sends(meta)
    assert "a photo" in call.params["message"]["text"]


@pytest.mark.parametrize("channel, fixture", [("messenger", "echo"), ("instagram", "echo"),
                                              ("messenger", "read"), ("messenger", "reaction")])
def test_echoes_receipts_and_reactions_are_not_customer_messages(meta, channel, fixture):
    response = deliver(meta, load_fixture(channel, fixture))
    assert response.json_body["stored"] == 0
    assert sends(meta) == [] and meta.queue_depth(meta.pump.url) == 0


def test_a_delivery_receipt_is_recorded_on_our_message(meta):
    from integrations.dynamodb import deliveries

    deliver(meta, load_fixture("messenger", "text"))
    ours = next(m for m in meta.store.messages(conversation(meta, "messenger", PSID)["conversation_id"])
                if m["direction"] == "out")["message_id"]
    receipt = load_fixture("messenger", "delivery")
    receipt["entry"][0]["messaging"][0]["delivery"]["mids"] = [ours]
    assert deliver(meta, receipt).json_body["statuses"] == 1
    assert deliveries.delivery("messenger", ours)["status"] == "delivered"
    assert len(sends(meta)) == 1


def test_forged_signature_on_the_meta_route_is_401(meta):
    payload = load_fixture("messenger", "text")
    assert post_meta(meta, payload, path="/webhooks/meta", secret="wrong").status_code == 401
    assert post_meta(meta, payload, path="/webhooks/meta", signed=False).status_code == 401
    assert meta.store.chat("messenger", PSID) is None and meta.queue_depth(meta.pump.url) == 0


@pytest.mark.parametrize("body", [b"[]", b'{"object": "page", "entry": "x"}', b'{"object": "page", "entry": [7]}',
                                  b'{"object": "page", "entry": [{"messaging": {}}]}',
                                  b'{"object": "page", "entry": [{"messaging": [1]}]}'])
def test_malformed_meta_bodies_are_400(meta, body):
    assert post_meta(meta, None, path="/webhooks/meta", raw=body).status_code == 400


def test_a_quick_reply_survey_and_its_answer(meta):
    deliver(meta, load_fixture("messenger", "text"))
    cid = conversation(meta, "messenger", PSID)["conversation_id"]
    meta.run_job("close-idle", meta.clock.now() + timedelta(minutes=31))
    assert meta.run_job("surveys", meta.clock.now() + timedelta(minutes=95))["done"] == 1
    question = sends(meta)[-1].params["message"]
    assert [q["payload"] for q in question["quick_replies"]] == [f"csat:{cid}:{n}" for n in range(1, 6)]
    answer = load_fixture("messenger", "quick_reply")
    answer["entry"][0]["messaging"][0]["message"]["quick_reply"]["payload"] = f"csat:{cid}:5"
    deliver(meta, answer)
    assert meta.store.conversation(cid)["csat"] == 5
    assert sends(meta)[-1].params["message"]["text"] == "Thank you! You rated us 5 out of 5."


def test_an_agent_reply_after_24_hours_is_refused_on_messenger(meta):
    from test_desk_slack import agent_says

    meta.slack_api.add_user("U0AGENT001", "Olena Petrenko", first_name="Olena", locale="uk-UA")
    meta.use_settings(desk={"slack_channel": "C0DESK0001"})
    deliver(meta, load_fixture("messenger", "text"))
    thread = conversation(meta, "messenger", PSID)["desk_slack"]["ts"]
    agent_says(meta, thread, "Hello Ana", ts="1795424400.000100", event_id="EvM1")
    assert sends(meta)[-1].params["message"] == {"text": "Hello Ana"}
    meta.clock.current += timedelta(hours=25)
    agent_says(meta, thread, "Still there?", ts="1795514400.000100", event_id="EvM2")
    assert len(sends(meta)) == 2
    record = [m for m in meta.store.messages(conversation(meta, "messenger", PSID)["conversation_id"])
              if m.get("kind") == "reply"][-1]
    assert record["delivery"] == "undeliverable" and "HUMAN_AGENT" in record["reason"]


def test_send_api_errors_map_to_retry_or_not():
    from integrations.meta import send_error

    assert send_error(400, {"code": 10, "error_subcode": 2018278, "message": "outside window"}).retryable is False
    limited = send_error(400, {"code": 613, "message": "Calls to this api have exceeded the rate limit."})
    assert limited.retryable and limited.retry_after > 0
    assert send_error(500, {"code": 1200, "message": "Temporary send message failure"}).retryable
    assert send_error(400, {"code": 551, "message": "This person isn't available right now."}).retryable is False


def test_the_sender_reports_a_refused_token_as_permanent(meta):
    from functions.ports import SendError
    from integrations.meta import MessengerSender
    from functions.models import Acknowledgement

    sender = MessengerSender("messenger", "wrong-token")
    with pytest.raises(SendError) as refused:
        sender.send(Acknowledgement(channel="messenger", chat_id=PSID, text="hi", language="en"))
    assert refused.value.retryable is False and "190" in str(refused.value)
    assert json.loads(json.dumps(sends(meta)[-1].params))["recipient"] == {"id": PSID}
