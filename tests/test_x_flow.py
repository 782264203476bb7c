"""End to end on X: CRC, signed DM webhooks (Account Activity and X Activity API payloads) and the
mentions poller, with tweepy sending over HTTP to the local X API v2 stand-in."""
from __future__ import annotations

import base64
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
    system.x_api.rate_limit_next(reset_in=5, method="dm")
    system.post_x(load_fixture("x", "aaa_dm"))
    system.pump.drain()
    assert len(dms(system)) == 2
    assert len(system.clock.slept) == 1 and 1 <= system.clock.slept[0] <= 6


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
