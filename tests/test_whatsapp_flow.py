"""WhatsApp end to end: signed webhook (Chalice test client) → moto DynamoDB + SQS → worker → pywa
sending over HTTP to the Graph API stand-in (META_API_URL), as the Cloud API would receive it."""
from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from conftest import OPEN_TIME, load_fixture, post_meta

WA_ID = "380501234567"


@pytest.fixture
def wa(system, meta_api):
    meta_api.reset()
    system.meta_api = meta_api
    return system


def deliver(system, payload, **kwargs):
    response = post_meta(system, payload, **kwargs)
    assert response.status_code == 200, response.body
    system.pump.drain()
    return response


def texts(system):
    return [c.params["text"]["body"] for c in system.meta_api.sent() if c.params.get("type") == "text"]


def conversation(system, chat_id=WA_ID):
    return system.store.conversation(system.store.chat("whatsapp", chat_id)["conversation_id"])


def with_message(payload, **changes):
    """A copy of a fixture whose first message has other fields (id, timestamp, …)."""
    copy = json.loads(json.dumps(payload))
    copy["entry"][0]["changes"][0]["value"]["messages"][0].update(changes)
    return copy


def test_a_text_gets_one_ack_in_the_customers_language_with_name_and_faq(wa):
    # GIVEN a Ukrainian customer asking about delivery on WhatsApp, during opening hours
    response = deliver(wa, load_fixture("whatsapp", "text"))
    assert response.json_body["stored"] == 1
    # THEN pywa sent exactly one text message to her number, through the stand-in
    [call] = wa.meta_api.sent()
    assert call.token == "wa-test-token" and call.path == "/v23.0/106540352242922/messages"
    assert call.params["to"] == WA_ID and call.params["type"] == "text"
    text = call.params["text"]["body"]
    assert text.startswith("Вітаємо, Olena!")                      # profile.name, in her language
    assert "Коли буде доставка мого замовлення?" in text
    assert "https://acme.example/faq/delivery" in text and "faq/returns" not in text
    assert "<" not in text                                          # plain text, no HTML
    stored = conversation(wa)
    assert stored["ack"] == "sent" and stored["reference"] in text
    assert [m["direction"] for m in wa.store.messages(stored["conversation_id"])] == ["in", "out"]
    contact = wa.store.contact("whatsapp", WA_ID)
    assert contact["name"] == "Olena Kovalenko" and contact["first_name"] == "Olena"


def test_a_batch_of_three_is_stored_three_times_and_acked_once_and_a_redelivery_changes_nothing(wa):
    batch = load_fixture("whatsapp", "batch")
    response = deliver(wa, batch)
    assert response.json_body == {"ok": True, "stored": 3, "duplicates": 0, "statuses": 0, "ignored": 0}
    assert len(wa.meta_api.sent()) == 1
    cid = conversation(wa)["conversation_id"]
    inbound = [m for m in wa.store.messages(cid) if m["direction"] == "in"]
    assert [m["text"] for m in inbound] == ["Hello!", "My order 1234 has not arrived", ""]
    assert inbound[2]["media"] == "photo"
    # WHEN Meta delivers the same batch again (it retries anything not answered 200 in time)
    again = deliver(wa, batch)
    assert again.json_body["stored"] == 0 and again.json_body["duplicates"] == 3
    assert len(wa.meta_api.sent()) == 1
    assert len(wa.store.messages(cid)) == 4


def test_status_callbacks_are_recorded_on_our_message_and_never_answered(wa):
    from integrations.dynamodb import deliveries

    deliver(wa, load_fixture("whatsapp", "text"))
    [ack] = wa.meta_api.sent()
    ack_id = next(m for m in wa.store.messages(conversation(wa)["conversation_id"]) if m["direction"] == "out")["message_id"]
    assert ack_id.startswith("wamid.STANDIN")
    status = load_fixture("whatsapp", "status_delivered")
    status["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = ack_id
    response = deliver(wa, status)
    assert response.json_body["statuses"] == 1 and response.json_body["stored"] == 0
    read = json.loads(json.dumps(status))
    read["entry"][0]["changes"][0]["value"]["statuses"][0].update(status="read", timestamp="1795420900")
    deliver(wa, read)
    deliver(wa, status)   # a late redelivery of "delivered" does not move it back
    record = deliveries.delivery("whatsapp", ack_id)
    assert record["status"] == "read" and record["recipient"] == WA_ID
    assert record["delivered_at"] < record["read_at"]
    assert len(wa.meta_api.sent()) == 1                                  # nothing answered
    assert len(wa.store.messages(conversation(wa)["conversation_id"])) == 2
    assert wa.queue_depth(wa.pump.url) == 0


def test_a_failed_status_keeps_its_error_codes(wa):
    from integrations.dynamodb import deliveries

    deliver(wa, load_fixture("whatsapp", "status_failed"))
    record = deliveries.delivery("whatsapp", "wamid.HBgMMzgwNTAxMjM0NTY3FQIAERgSQUNLMg")
    assert record["status"] == "failed" and record["errors"][0]["code"] == 131047
    assert wa.store.chat("whatsapp", WA_ID) is None


@pytest.mark.parametrize("fixture, reason", [("echo", "field smb_message_echoes"), ("reaction", "reaction")])
def test_echoes_and_reactions_are_ignored(wa, fixture, reason):
    response = deliver(wa, load_fixture("whatsapp", fixture))
    assert response.json_body["ignored"] == 1 and response.json_body["stored"] == 0
    assert wa.meta_api.sent() == [] and wa.store.chat("whatsapp", WA_ID) is None


def test_our_own_number_writing_is_not_a_customer(wa):
    own = with_message(load_fixture("whatsapp", "text"), **{"from": "15550783881"})
    assert deliver(wa, own).json_body["stored"] == 0
    assert wa.meta_api.sent() == []


@pytest.mark.parametrize("fixture, media, quoted", [
    ("image_caption", "photo", "Where is this parcel?"),
    ("audio", "voice", ""),
    ("location", "location", "Kyiv Central Post Office, Khreshchatyk St, 22, Kyiv"),
    ("button_reply", "", "Track my order"),
])
def test_media_and_buttons_are_acknowledged(wa, fixture, media, quoted):
    payload = load_fixture("whatsapp", fixture)
    wa_id = payload["entry"][0]["changes"][0]["value"]["messages"][0]["from"]
    deliver(wa, payload)
    [message] = [m for m in wa.store.messages(conversation(wa, wa_id)["conversation_id"]) if m["direction"] == "in"]
    assert message["media"] == media and message["text"] == quoted
    [ack] = texts(wa)
    if quoted:
        assert quoted in ack


@pytest.mark.parametrize("signature", [None, "", "sha256=", "sha256=" + "0" * 64, "sha1=abc", "forged"])
def test_missing_or_forged_signature_is_401_and_stores_nothing(wa, signature):
    payload = load_fixture("whatsapp", "text")
    headers = {} if signature is None else {"X-Hub-Signature-256": signature}
    response = post_meta(wa, payload, signed=False, headers=headers)
    assert response.status_code == 401
    assert wa.store.get_event("whatsapp", payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]) is None
    assert wa.queue_depth(wa.pump.url) == 0


def test_signed_with_another_secret_or_tampered_is_401(wa):
    payload = load_fixture("whatsapp", "text")
    assert post_meta(wa, payload, secret="not-our-app-secret").status_code == 401
    body = json.dumps(payload).encode()
    from conftest import meta_headers

    tampered = body.replace(b"380501234567", b"380509999999")
    response = wa.client.http.post("/webhooks/whatsapp", body=tampered,
                                   headers={"Content-Type": "application/json", **meta_headers(body)})
    assert response.status_code == 401
    assert wa.queue_depth(wa.pump.url) == 0


@pytest.mark.parametrize("body", [
    b"{not json", b"\xff\xfe", b"[1, 2]", b"{}", b'{"object": "whatsapp_business_account", "entry": {}}',
    b'{"object": "whatsapp_business_account", "entry": [1]}',
    b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": []}]}]}',
    b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", '
    b'"value": {"messages": {"id": "x"}}}]}]}',
])
def test_malformed_signed_bodies_are_400_never_500(wa, body):
    response = post_meta(wa, None, raw=body)
    assert response.status_code == 400
    assert wa.queue_depth(wa.pump.url) == 0


def test_broken_items_in_a_readable_batch_are_skipped_not_retried_forever(wa):
    payload = load_fixture("whatsapp", "text")
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"] += [{"type": "text"}, "junk", {"from": "1" * 200, "id": "wamid.X", "type": "text"}]
    response = deliver(wa, payload)
    assert response.json_body["stored"] == 1 and response.json_body["ignored"] == 3


def test_a_body_over_one_megabyte_is_413(wa):
    payload = with_message(load_fixture("whatsapp", "text"), text={"body": "x" * 1_100_000})
    assert post_meta(wa, payload).status_code == 413
    assert wa.queue_depth(wa.pump.url) == 0


def test_a_very_long_message_id_is_bounded_and_still_deduplicated(wa):
    payload = with_message(load_fixture("whatsapp", "text"), id="wamid." + "A" * 5000)
    assert deliver(wa, payload).json_body["stored"] == 1
    assert deliver(wa, payload).json_body["duplicates"] == 1
    assert len(wa.meta_api.sent()) == 1


@pytest.mark.parametrize("path", ["/webhooks/whatsapp", "/webhooks/meta"])
def test_the_verification_handshake_answers_the_challenge_only_with_our_token(wa, path):
    good = {"hub.mode": "subscribe", "hub.verify_token": "meta-verify-token-42", "hub.challenge": "1158201444"}
    from urllib.parse import urlencode

    response = wa.client.http.get(f"{path}?{urlencode(good)}")
    assert response.status_code == 200 and response.body == b"1158201444"
    for bad in ({**good, "hub.verify_token": "guess"}, {**good, "hub.mode": "unsubscribe"},
                {k: v for k, v in good.items() if k != "hub.verify_token"},
                {**good, "hub.challenge": "<script>alert(1)</script>"}, {}):
        response = wa.client.http.get(f"{path}?{urlencode(bad)}" if bad else path)
        assert response.status_code == 403, bad
        assert b"1158201444" not in response.body


# -- surveys and the 24-hour window ---------------------------------------------------------------
def close_and_survey(system, survey_at):
    system.run_job("close-idle", system.clock.now() + timedelta(minutes=31))
    return system.run_job("surveys", survey_at)


def answer_list(system, cid, score, message_id="wamid.ANSWER1"):
    payload = load_fixture("whatsapp", "button_reply")
    payload["entry"][0]["changes"][0]["value"]["messages"][0].update(
        id=message_id, interactive={"type": "list_reply", "list_reply": {
            "id": f"csat:{cid}:{score}", "title": "★" * score}})
    deliver(system, payload)


def test_the_survey_is_a_list_message_inside_the_window_and_the_answer_is_recorded(wa):
    deliver(wa, load_fixture("whatsapp", "text"))
    cid = conversation(wa)["conversation_id"]
    report = close_and_survey(wa, wa.clock.now() + timedelta(minutes=95))
    assert report["done"] == 1
    survey = wa.meta_api.sent()[-1]
    assert survey.params["type"] == "interactive"
    interactive = survey.params["interactive"]
    assert interactive["type"] == "list" and interactive["body"]["text"].startswith("Olena, як ми впоралися")
    assert interactive["action"]["button"] == "Оцінити"
    rows = interactive["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows] == [f"csat:{cid}:{n}" for n in range(1, 6)]
    assert all(len(r["title"]) <= 24 for r in rows)
    answer_list(wa, cid, 4)
    assert wa.store.conversation(cid)["csat"] == 4
    assert texts(wa)[-1] == "Дякуємо! Ваша оцінка: 4 з 5."
    assert not [t for t in texts(wa)[1:] if t.startswith("Вітаємо")]   # the answer is no new question


def test_an_answer_from_someone_else_is_refused(wa):
    deliver(wa, load_fixture("whatsapp", "text"))
    cid = conversation(wa)["conversation_id"]
    close_and_survey(wa, wa.clock.now() + timedelta(minutes=95))
    other = load_fixture("whatsapp", "button_reply")
    message = other["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update({"from": "16505550000", "id": "wamid.OTHER", "interactive": {
        "type": "list_reply", "list_reply": {"id": f"csat:{cid}:1", "title": "★"}}})
    deliver(wa, other)
    assert "csat" not in wa.store.conversation(cid)


def test_the_survey_is_skipped_with_the_reason_outside_the_window(wa):
    deliver(wa, load_fixture("whatsapp", "text"))
    cid = conversation(wa)["conversation_id"]
    wa.use_settings(surveys={"enabled": True, "delay_minutes": 25 * 60})
    sends = len(wa.meta_api.sent())
    report = close_and_survey(wa, wa.clock.now() + timedelta(hours=26))
    assert report["done"] == 0
    [(reason, count)] = report["skipped"].items()
    assert count == 1
    assert reason.startswith("skipped: outside the 24-hour customer service window of whatsapp")
    assert len(wa.meta_api.sent()) == sends
    assert "survey_sent_at" not in wa.store.conversation(cid)


# -- agent replies --------------------------------------------------------------------------------
DESK = "C0DESK0001"


@pytest.fixture
def desk(wa):
    wa.slack_api.add_user("U0AGENT001", "Olena Petrenko", first_name="Olena", locale="uk-UA")
    wa.use_settings(desk={"slack_channel": DESK})
    return wa


def agent_says(system, text, ts, event_id):
    from test_desk_slack import agent_says as say

    thread = conversation(system)["desk_slack"]["ts"]
    return say(system, thread, text, ts=ts, event_id=event_id)


def test_an_agent_reply_inside_the_window_reaches_the_customer(desk):
    deliver(desk, load_fixture("whatsapp", "text"))
    desk.clock.current += timedelta(hours=3)
    agent_says(desk, "Hi Olena! *It left today*", ts="1795431600.000100", event_id="EvWA1")
    assert texts(desk)[-1] == "Hi Olena! It left today"
    [reaction] = desk.slack_api.sent("reactions.add")
    assert reaction.params["timestamp"] == "1795431600.000100"


def test_an_agent_reply_after_24_hours_fails_with_the_reason_shown(desk):
    deliver(desk, load_fixture("whatsapp", "text"))
    desk.clock.current += timedelta(hours=25)
    sends = len(desk.meta_api.sent())
    agent_says(desk, "Sorry for the wait", ts="1795514400.000100", event_id="EvWA2")
    assert len(desk.meta_api.sent()) == sends                       # nothing reached WhatsApp
    notice = [c for c in desk.slack_api.sent("chat.postMessage") if c.params.get("channel") == DESK][-1]
    assert notice.params["text"].startswith("Not delivered to the customer:")
    assert "24-hour customer service window" in notice.params["text"] and "template" in notice.params["text"]
    record = [m for m in desk.store.messages(conversation(desk)["conversation_id"]) if m.get("kind") == "reply"][-1]
    assert record["delivery"] == "undeliverable" and "24-hour" in record["reason"]
    desk.pump.drain()
    assert len(desk.meta_api.sent()) == sends                       # and nothing retries it


def test_an_agent_reply_after_24_hours_uses_the_configured_template(desk):
    deliver(desk, load_fixture("whatsapp", "text"))
    desk.use_settings(whatsapp={"reply_template": "support_reply", "reply_template_language": "uk"})
    desk.clock.current += timedelta(hours=30)
    agent_says(desk, "Sorry for the wait.\n\nIt left today.", ts="1795536000.000100", event_id="EvWA3")
    template = desk.meta_api.sent()[-1].params
    assert template["type"] == "template" and template["to"] == WA_ID
    assert template["template"]["name"] == "support_reply"
    assert template["template"]["language"] == {"code": "uk"}
    assert template["template"]["components"] == [
        {"type": "BODY", "parameters": [{"type": "text", "text": "Sorry for the wait. It left today."}]}]
    assert desk.slack_api.sent("reactions.add")


def test_whatsapp_refusing_outside_the_window_is_not_retried(desk):
    # the window as WhatsApp counts it can differ from ours (a message we never saw): its 131047 is final
    deliver(desk, load_fixture("whatsapp", "text"))
    desk.meta_api.fail_whatsapp(131047, "Re-engagement message")
    agent_says(desk, "Any news?", ts="1795424400.000100", event_id="EvWA4")
    record = [m for m in desk.store.messages(conversation(desk)["conversation_id"]) if m.get("kind") == "reply"][-1]
    assert record["delivery"] == "undeliverable" and "131047" in record["reason"]
    assert len(desk.meta_api.sent()) == 2


def test_throughput_limits_are_retried_and_sent_once(wa, monkeypatch):
    from integrations import sqs

    # WhatsApp's "retry in 5 s" is longer than the worker waits inline (issue 18: no invocation
    # sleeps more than a second or two): the message goes back to the queue for 5 s; here for the
    # shortest time SQS allows (its visibility runs on the wall clock, also in moto)
    deferred, defer = [], sqs.defer
    monkeypatch.setattr(sqs, "defer", lambda messages, *queue: (deferred.extend(s for _, s in messages),
                                                                 defer([(h, 0) for h, _ in messages], *queue)))
    wa.meta_api.fail_whatsapp(130429, "Rate limit hit", times=2)
    deliver(wa, load_fixture("whatsapp", "text"))
    for _ in range(30):   # each deferral: a second on the wall clock, then the next receive
        if wa.queue_depth(sqs.queue_url()) == 0:
            break
        time.sleep(1)
        wa.pump.drain()
    assert len(wa.meta_api.sent()) == 3 and len(texts(wa)) == 3      # two refused, one taken
    assert deferred == [5.0, 5.0] and max(wa.clock.slept, default=0) <= 2
    assert conversation(wa)["ack"] == "sent"


def test_an_undeliverable_number_fails_the_ack_once(wa):
    wa.meta_api.fail_whatsapp(131026, "Message undeliverable")
    deliver(wa, load_fixture("whatsapp", "text"))
    stored = conversation(wa)
    assert stored["ack"] == "failed" and "131026" in stored["ack_error"]
    assert len(wa.meta_api.sent()) == 1


def test_the_window_helper_counts_from_the_customers_last_message():
    from functions.service_window import outside

    last = OPEN_TIME.isoformat()
    assert outside("whatsapp", last, OPEN_TIME + timedelta(hours=23, minutes=59)) == ""
    assert "24-hour" in outside("whatsapp", last, OPEN_TIME + timedelta(hours=24, minutes=1))
    assert outside("telegram", last, OPEN_TIME + timedelta(days=9)) == ""
