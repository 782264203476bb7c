"""End to end on X: CRC, signed DM webhooks (Account Activity and X Activity API payloads) and the
mentions poller, with tweepy sending over HTTP to the local X API v2 stand-in."""
from __future__ import annotations

import base64
import json
import hashlib
import hmac
from datetime import timedelta

import pytest

from conftest import load_fixture


def dms(system):
    return system.x_api.sent("dm")


def test_crc_answers_with_the_consumer_secret_hmac(system):
    response = system.client.http.get("/webhooks/x?crc_token=challenge-123")
    assert response.status_code == 200
    expected = base64.b64encode(hmac.new(b"x-consumer-secret", b"challenge-123", hashlib.sha256).digest())
    assert response.json_body == {"response_token": "sha256=" + expected.decode()}


def test_crc_without_token_is_400(system):
    assert system.client.http.get("/webhooks/x").status_code == 400


def test_account_activity_dm_gets_a_turkish_ack_by_dm(system):
    payload = load_fixture("x", "aaa_dm")
    response = system.post_x(payload)
    assert response.status_code == 200 and response.json_body["accepted"] == 1
    system.pump.drain()
    [call] = dms(system)
    assert call.token.startswith("OAuth ")                      # user context, signed by tweepy
    assert call.path == "/2/dm_conversations/with/3001969357/messages"
    assert call.params["text"].startswith("Merhaba Mehmet!")    # name from the users map
    assert "Siparişim nerede? Kargo takip numarası çalışmıyor." in call.params["text"]
    assert "Delivery times: https://acme.example/faq/delivery" in call.params["text"]   # plain text
    assert "<" not in call.params["text"]
    event = system.store.get_event("x", "dm-954491830116155396")
    assert event["status"] == "done" and event["ack_message_id"]


def test_our_own_echoed_dm_is_ignored(system):
    response = system.post_x(load_fixture("x", "aaa_own_echo"))
    assert response.status_code == 200 and response.json_body["accepted"] == 0
    system.pump.drain()
    assert dms(system) == []


def test_x_activity_dm_received_in_persian(system):
    system.post_x(load_fixture("x", "xaa_dm_received"))
    system.pump.drain()
    [call] = dms(system)
    assert call.path == "/2/dm_conversations/with/1600000000000000001/messages"
    text = call.params["text"]
    assert text.startswith("سلام!")                              # no name in this payload shape
    assert "Payment options: https://acme.example/faq/payment" in text


def test_x_activity_wrapped_legacy_payload(system):
    system.post_x(load_fixture("x", "xaa_dm_wrapped"))
    system.pump.drain()
    [call] = dms(system)
    assert call.params["text"].startswith("Hi Dana, thanks")


@pytest.mark.parametrize("fixture", ["xaa_follow", "aaa_typing"])
def test_other_event_kinds_are_200_and_ignored(system, fixture):
    response = system.post_x(load_fixture("x", fixture))
    assert response.status_code == 200 and response.json_body["accepted"] == 0


def test_bad_signature_is_401_and_stores_nothing(system):
    payload = load_fixture("x", "aaa_dm")
    assert system.post_x(payload, secret="wrong").status_code == 401
    assert system.post_x(payload, signed=False).status_code == 401
    assert system.store.get_event("x", "dm-954491830116155396") is None


def test_signed_but_malformed_is_400(system):
    for raw in (b"not json", b'{"direct_message_events": "x"}',
                b'{"direct_message_events": [{"type": "message_create", "message_create": {}}]}'):
        assert system.post_x(None, raw=raw).status_code == 400


def test_redelivered_event_is_answered_once(system):
    payload = load_fixture("x", "aaa_dm")
    system.post_x(payload)
    system.pump.drain()
    again = system.post_x(payload)
    assert again.status_code == 200 and again.json_body["accepted"] == 0
    system.pump.drain()
    assert len(dms(system)) == 1


def test_dm_limit_defers_the_ack_instead_of_dropping_or_doubling_it(system):
    from functions.handlers.worker import X_DM_LIMIT
    from integrations.dynamodb import take_slot
    from datetime import datetime, timezone

    limit, window = X_DM_LIMIT
    now = datetime.now(timezone.utc)
    for _ in range(limit):   # fifteen DMs already went out in this window
        assert take_slot("x-dm#4337869213", limit, window, now) == 0
    system.post_x(load_fixture("x", "aaa_dm"))
    assert system.pump.pump_once() == 0                         # deferred to the next window
    assert dms(system) == []
    assert system.queue_depth(system.pump.url) == 1
    event = system.store.get_event("x", "dm-954491830116155396")
    assert event["decision"]["acknowledge"] is True and "ack_sent_at" not in event


def test_x_429_with_a_near_reset_waits_then_sends_once(system):
    system.x_api.rate_limit_next(reset_in=1, method="dm")
    system.post_x(load_fixture("x", "aaa_dm"))
    system.pump.drain()
    assert len(dms(system)) == 2
    assert len(system.clock.slept) == 1 and system.clock.slept[0] <= 2   # a longer wait goes back to the queue


def run_mentions(system):
    from functions.handlers import x_mentions

    return x_mentions.run()


def test_mentions_poller_replies_to_new_mentions_only(system):
    system.x_api.add_mention("1900000000000000101", "2244994945", "@acmesupport where is my delivery?",
                             lang="en", name="Dana Smith")
    system.x_api.add_mention("1900000000000000102", "3001969357", "@acmesupport iade nasıl yapılır?",
                             lang="tr", name="Mehmet Yılmaz")
    assert run_mentions(system) == 2
    system.pump.drain()
    tweets = system.x_api.sent("tweet")
    assert [t.params["reply"]["in_reply_to_tweet_id"] for t in tweets] == ["1900000000000000101",
                                                                           "1900000000000000102"]
    assert tweets[0].params["text"].startswith("Hi Dana, thanks for reaching out to Acme!")
    assert tweets[1].params["text"].startswith("Merhaba Mehmet,")
    assert all(len(t.params["text"]) <= 280 for t in tweets)
    # the next run asks from the newest seen id and finds nothing new
    assert run_mentions(system) == 0
    assert system.x_api.sent("mentions")[-1].params["since_id"] == "1900000000000000102"
    system.x_api.add_mention("1900000000000000103", "2244994945", "@acmesupport hello again", name="Dana Smith")
    system.clock.current += timedelta(hours=3)
    assert run_mentions(system) == 1
    system.pump.drain()
    assert len(system.x_api.sent("tweet")) == 3


def test_mentions_poller_twice_replies_once(system):
    system.x_api.add_mention("1900000000000000201", "2244994945", "@acmesupport help", name="Dana Smith")
    run_mentions(system)
    from integrations import dynamodb
    dynamodb.set_cursor("x-mentions", "1", system.clock.now())   # as if the cursor write was lost
    run_mentions(system)
    system.pump.drain()
    assert len(system.x_api.sent("tweet")) == 1


def test_mentions_job_is_registered_every_two_minutes_and_idle_without_credentials(system, monkeypatch):
    import app as app_module
    from cli.dev import scheduled_jobs

    assert ("x-mentions", 120) in [(name, every) for name, every, _ in scheduled_jobs(app_module.app)]
    monkeypatch.delenv("X_ACCESS_TOKEN")
    assert run_mentions(system) == 0
    assert system.x_api.sent("mentions") == []


def test_body_over_one_megabyte_is_413(system):
    payload = load_fixture("x", "aaa_dm")
    payload["direct_message_events"][0]["message_create"]["message_data"]["text"] = "x" * 1_100_000
    assert system.post_x(payload).status_code == 413


def test_first_run_does_not_answer_the_archive(system):
    system.x_api.add_mention("1900000000000000401", "2244994945", "@acmesupport old", age_seconds=3 * 86400)
    system.x_api.add_mention("1900000000000000402", "2244994946", "@acmesupport new", name="Lee Park")
    assert run_mentions(system) == 1
    system.pump.drain()
    [reply] = system.x_api.sent("tweet")
    assert reply.params["reply"]["in_reply_to_tweet_id"] == "1900000000000000402"


# -- 21.1: the CRC endpoint is not a signing oracle ------------------------------------------------
def forged_dm_body() -> bytes:
    """What an attacker wants signed: a DM event from a victim of their choosing."""
    return (b'{"for_user_id":"4337869213","direct_message_events":[{"type":"message_create",'
            b'"id":"999000111","created_timestamp":"1763805600557","message_create":{'
            b'"sender_id":"1234567890","message_data":{"text":"hi"}}}]}')


def test_crc_cannot_sign_a_forged_event_body(system):
    from urllib.parse import quote

    body = forged_dm_body()
    crc = system.client.http.get("/webhooks/x?crc_token=" + quote(body.decode()))
    # Before the fix this answered HMAC(consumer secret, body), a valid signature for the body,
    # and the forged event below was accepted and DMed user 1234567890 from the brand account.
    stolen = (crc.json_body or {}).get("response_token", "")
    response = system.client.http.post("/webhooks/x", body=body, headers={
        "Content-Type": "application/json", "x-twitter-webhooks-signature": stolen})
    system.pump.drain()
    assert dms(system) == []
    assert system.store.get_event("x", "dm-999000111") is None
    assert response.status_code == 401
    assert crc.status_code == 400 and not stolen


@pytest.mark.parametrize("token", [
    "challenge-123", "9b4507b3-9040-4669-9ca3-6b94edb50553", "NjM5NTAxNTk3NjU2MTc5NTEy",
    "RTT0O6vj7EIQdXBkNjY0MDQ3NzA3MjE2NjIwOTI_-w==", "a+b/c=",
])
def test_crc_answers_tokens_shaped_like_x(system, token):
    from urllib.parse import quote

    response = system.client.http.get("/webhooks/x?crc_token=" + quote(token, safe=""))
    assert response.status_code == 200
    assert response.json_body["response_token"].startswith("sha256=")


@pytest.mark.parametrize("token", [
    '{"a":1}', "[1]", '"quoted"', "with space", "x" * 200, "ünïcode", "a:b", "{", "a\nb",
])
def test_crc_refuses_tokens_x_never_sends(system, token):
    from urllib.parse import quote

    response = system.client.http.get("/webhooks/x?crc_token=" + quote(token, safe=""))
    assert response.status_code == 400
    assert "response_token" not in (response.json_body or {})


# -- 21.1: what we post in public cannot mention, tag or link anyone -------------------------------
TWITTER_ENTITY = __import__("re").compile(
    # A simplified twitter-text: a mention, hashtag or cashtag sigil followed by what X would link,
    # or a domain (a dot directly followed by letters) that X would turn into a link card.
    r"[@＠][A-Za-z0-9_]|[#＃][^\W_]|[$＄][A-Za-z]|[A-Za-z0-9][.。．｡][A-Za-z]|https?://")


def test_public_mention_reply_neutralises_names_and_links(system):
    system.x_api.add_mention("1900000000000000501", "2244994947", "@acmesupport help",
                             lang="en", name="@victim #scam $EVIL evil.example/x")
    run_mentions(system)
    system.pump.drain()
    [reply] = system.x_api.sent("tweet")
    text = reply.params["text"]
    assert text.startswith("Hi @\u2060victim, thanks for reaching out to Acme!")
    assert TWITTER_ENTITY.search(text) is None, text
    assert len(text) <= 280


def test_x_dm_neutralises_customer_text_but_keeps_our_links(system):
    payload = load_fixture("x", "aaa_dm")
    payload["users"]["3001969357"]["name"] = "＠victim Yılmaz"
    payload["direct_message_events"][0]["message_create"]["message_data"]["text"] = (
        "@victim look at https://evil.example/win #prize kargo")
    system.post_x(payload)
    system.pump.drain()
    [call] = dms(system)
    text = call.params["text"]
    ours = "https://acme.example/faq/delivery"
    assert ours in text                                  # our FAQ link stays a link
    assert TWITTER_ENTITY.search(text.replace(ours, "")) is None, text
    assert "evil\u2060.example" not in text and "evil.\u2060example" in text   # still readable


def test_an_edited_mention_template_cannot_reintroduce_customer_links(system):
    from functions.render import render

    context = {"customer": {"first_name": "@victim", "name": "@victim", "language": "en"},
               "topic": "see bit.ly/x and #win", "business": {"name": "Acme"}, "reference": "7K3-Q9X",
               "is_open": True, "expected_response": "within 2 hours", "next_opening": ""}
    source = "Hi {{ customer.name }}: “{{ topic }}” — follow @acme_support. Ref {{ reference }}"
    text = render("mention", "x", "en", context, overrides={"mention.x.en": source})
    assert "follow @acme_support" in text                # the business's own words are left alone
    assert TWITTER_ENTITY.search(text.replace("@acme_support", "")) is None, text


# -- 21.4: signed but malformed bodies are 400, never 500 ------------------------------------------
def aaa_with(**create_changes) -> dict:
    payload = load_fixture("x", "aaa_dm")
    payload["direct_message_events"][0].update(create_changes)
    return payload


@pytest.mark.parametrize("raw", [
    b"[" * 100_000 + b"]" * 100_000,                                     # deep nesting
    b'{"direct_message_events": [' * 5000 + b"]}" * 5000,
    "{\"direct_message_events\": []}".encode("utf-16"),                  # not UTF-8
    b'{"direct_message_events": [], "x": "\xff"}',
    b'{"direct_message_events": [{"type": "message_create", "id": "1", "message_create": "x"}]}',
    b'{"direct_message_events": [{"type": "message_create", "id": "1", "message_create": '
    b'{"sender_id": "5", "message_data": ["hi"]}}]}',
    b'{"direct_message_events": [{"type": "message_create", "id": {"a": 1}, "message_create": '
    b'{"sender_id": "5", "message_data": {"text": "hi"}}}]}',
    b'{"direct_message_events": [{"type": "message_create", "id": "1", "message_create": '
    b'{"sender_id": "5", "message_data": {"text": "\\ud800"}}}]}',    # a lone surrogate
    b'{"data": {"event_type": "dm.received", "filter": "x", "payload": {"id": "1", "sender_id": "5"}}}',
    b'{"data": {"event_type": "dm.received", "payload": {"id": "1", "sender_id": "5", '
    b'"created_at": "0001-01-01T00:00:00+01:00"}}}',
    b'{"data": {"event_type": "dm.received", "payload": {"id": "1", "sender_id": "5", '
    b'"created_at": "9999-12-31T23:59:59-23:59"}}}',
])
def test_malformed_signed_bodies_are_400_and_store_nothing(system, raw):
    response = system.post_x(None, raw=raw)
    assert response.status_code == 400, response.body
    assert system.queue_depth(system.pump.url) == 0


@pytest.mark.parametrize("created", ["1" + "0" * 30, "-99999999999999999", 1e300, "NaN", True])
def test_out_of_range_timestamps_are_400(system, created):
    payload = aaa_with(created_timestamp=created)
    response = system.post_x(payload)
    assert response.status_code == 400, response.body
    assert system.store.get_event("x", "dm-954491830116155396") is None


@pytest.mark.parametrize("signature", ["sha256=ü", "sha256=\u00ff\u00fe", "   "])
def test_odd_signature_headers_are_401(system, signature):
    body = json.dumps(load_fixture("x", "aaa_dm")).encode()
    response = system.client.http.post("/webhooks/x", body=body, headers={
        "Content-Type": "application/json", "x-twitter-webhooks-signature": signature})
    assert response.status_code == 401
