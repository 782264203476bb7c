"""End to end on Slack: signed Events API requests through Chalice's test client → moto → worker →
slack-sdk's WebClient over HTTP to the local Slack Web API stand-in."""
from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from conftest import load_fixture


@pytest.fixture
def slack(system):
    system.slack_api.add_user("U2147483697", "Ana Lima", first_name="Ana", locale="pt-BR")
    system.slack_api.add_user("U0UKRAINE1", "Олена Коваль", first_name="Олена", locale="uk-UA")
    system.slack_api.add_user("U0TURKEY01", "Mehmet Yılmaz", first_name="Mehmet", locale="tr-TR")
    return system


def posted(system):
    return system.slack_api.sent("chat.postMessage")


def test_dm_gets_one_ack_in_the_thread_with_name_blocks_and_fallback(slack):
    response = slack.post_slack(load_fixture("slack", "message_im"))
    assert response.status_code == 200
    slack.pump.drain()
    [call] = posted(slack)
    assert call.token == "xoxb-test-token"
    assert call.params["channel"] == "D024BE91L"
    assert call.params["thread_ts"] == "1763805600.000200"
    # pt-BR has no template: English; the name came from users.info
    fallback = call.params["text"]
    assert fallback.startswith("Hi Ana, thanks for writing to Acme!")
    [block] = call.params["blocks"]
    assert block["type"] == "section" and block["text"]["type"] == "mrkdwn"
    mrkdwn = block["text"]["text"]
    # the customer's text is quoted with Slack's escaping, the bot mention stripped
    assert "“_Hello, my payment failed twice &amp; I'm stuck_”" in mrkdwn
    assert "<https://acme.example/faq/payment|Payment options>" in mrkdwn
    assert "Payment options: https://acme.example/faq/payment" in fallback
    assert [c.params["user"] for c in slack.slack_api.sent("users.info")] == ["U2147483697"]
    contact = slack.store.contact("slack", "U2147483697")
    assert contact["first_name"] == "Ana" and contact["language_code"] == "pt-BR"


def test_mention_in_a_thread_is_answered_in_that_thread_in_ukrainian(slack):
    slack.post_slack(load_fixture("slack", "app_mention_thread"))
    slack.pump.drain()
    [call] = posted(slack)
    assert call.params["channel"] == "C0SHARED01"
    assert call.params["thread_ts"] == "1763805650.000100"
    text = call.params["blocks"][0]["text"]["text"]
    assert text.startswith("Вітаємо, Олена!")
    assert "«_коли буде повернення коштів?_»" in text
    assert "<https://acme.example/faq/returns|Returns and refunds>" in text
    chat = slack.store.chat("slack", "C0SHARED01:1763805650.000100")
    assert chat["status"] == "open"


def test_top_level_mention_starts_a_thread_in_turkish(slack):
    slack.post_slack(load_fixture("slack", "app_mention_top"))
    slack.pump.drain()
    [call] = posted(slack)
    assert call.params["thread_ts"] == "1763805800.000400"
    text = call.params["blocks"][0]["text"]["text"]
    assert text.startswith("Merhaba Mehmet!")
    assert "Delivery times" in text   # "kargo" matches


def test_profile_is_cached_on_the_contact(slack):
    first = load_fixture("slack", "message_im")
    slack.post_slack(first)
    slack.pump.drain()
    second = json.loads(json.dumps(first))
    second["event_id"], second["event"]["ts"] = "Ev0SECOND1", "1763809600.000100"
    slack.clock.current = slack.clock.current.replace(hour=20)   # long after: new conversation
    slack.post_slack(second)
    slack.pump.drain()
    assert len(posted(slack)) == 2
    assert len(slack.slack_api.sent("users.info")) == 1


def test_url_verification_echoes_the_challenge(slack):
    payload = load_fixture("slack", "url_verification")
    response = slack.post_slack(payload)
    assert response.status_code == 200
    assert response.json_body == {"challenge": payload["challenge"]}


@pytest.mark.parametrize("sign", [
    lambda: {"secret": "not-the-signing-secret"},
    # outside Slack's five minutes, counted when the test runs (not when it was collected)
    lambda: {"timestamp": int(time.time()) - 6 * 60},
    lambda: {"timestamp": int(time.time()) + 6 * 60},
])
def test_bad_or_stale_signature_is_401_and_stores_nothing(slack, sign):
    payload = load_fixture("slack", "message_im")
    response = slack.post_slack(payload, **sign())
    assert response.status_code == 401
    assert slack.store.get_event("slack", payload["event_id"]) is None


def test_missing_signature_is_401(slack):
    response = slack.post_slack(load_fixture("slack", "url_verification"), signed=False)
    assert response.status_code == 401


def test_tampered_body_is_401(slack):
    body = json.dumps(load_fixture("slack", "message_im")).encode()
    headers = __import__("conftest").slack_headers(body)
    response = slack.post_slack(None, raw=body.replace(b"payment", b"paymenT"), headers=headers, signed=False)
    assert response.status_code == 401


def test_retries_and_duplicates_send_once(slack):
    payload = load_fixture("slack", "message_im")
    assert slack.post_slack(payload).status_code == 200
    # Slack retries at once when it did not see our 200 in time, with X-Slack-Retry-Num
    retry = slack.post_slack(payload, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200
    slack.pump.drain()
    again = slack.post_slack(payload, headers={"X-Slack-Retry-Num": "2"})
    assert again.json_body.get("duplicate") is True
    slack.pump.drain()
    assert len(posted(slack)) == 1


@pytest.mark.parametrize("fixture, reason", [
    ("bot_message", "bot message"),
    ("message_changed", "subtype message_changed"),
    ("own_bot_user", "our own bot user"),
    ("channel_message", "channel message without a mention"),
])
def test_bots_subtypes_self_and_plain_channel_messages_are_ignored(slack, fixture, reason):
    payload = load_fixture("slack", fixture)
    response = slack.post_slack(payload)
    assert response.status_code == 200 and response.json_body["ignored"] == reason
    assert slack.store.get_event("slack", payload["event_id"]) is None


def test_own_bot_user_without_authorizations_is_caught_by_auth_test(slack):
    payload = load_fixture("slack", "own_bot_user")
    del payload["authorizations"]
    slack.post_slack(payload)
    slack.pump.drain()
    assert posted(slack) == []
    assert len(slack.slack_api.sent("auth.test")) == 1
    assert slack.store.get_event("slack", payload["event_id"])["status"] == "done"


def test_rate_limited_post_message_honours_retry_after(slack):
    slack.slack_api.rate_limit_next(retry_after=3)
    slack.post_slack(load_fixture("slack", "message_im"))
    slack.pump.drain()
    assert len(posted(slack)) == 2
    assert slack.clock.slept == [3.0]


def test_long_retry_after_goes_back_to_the_queue(slack):
    slack.slack_api.rate_limit_next(retry_after=120)
    payload = load_fixture("slack", "message_im")
    response = slack.post_slack(payload)
    assert response.status_code == 200                  # the webhook never waits
    assert slack.pump.pump_once() == 0
    assert slack.clock.slept == []
    assert slack.queue_depth(slack.pump.url) == 1       # deferred, not dropped


def test_malformed_signed_bodies_are_400(slack):
    for raw in (b"{oops", b'{"type": "event_callback"}', b'{"type": "event_callback", "event_id": "Ev1", '
                b'"event": {"type": "message", "channel_type": "im"}}'):
        assert slack.post_slack(None, raw=raw).status_code == 400


def test_interactions_accept_signed_form_payloads(slack):
    body = urlencode({"payload": json.dumps(load_fixture("slack", "block_actions"))}).encode()
    response = slack.post_slack(None, path="/webhooks/slack/interactions", raw=body)
    assert response.status_code == 200
    forged = slack.post_slack(None, path="/webhooks/slack/interactions", raw=body, secret="nope")
    assert forged.status_code == 401
    broken = slack.post_slack(None, path="/webhooks/slack/interactions", raw=b"payload=%7Bnot-json")
    assert broken.status_code == 400


def test_body_over_one_megabyte_is_413(slack):
    payload = load_fixture("slack", "message_im")
    payload["event"]["text"] = "x" * 1_100_000
    assert slack.post_slack(payload).status_code == 413
    assert slack.store.get_event("slack", payload["event_id"]) is None
