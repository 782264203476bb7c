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
    # 21.8: Slackbot, apps, workflows, deletions, joins and other channel events, edited mentions
    ("slackbot", "Slackbot"),
    ("app_message", "app message"),
    ("workflow_post", "bot message"),
    ("message_deleted", "subtype message_deleted"),
    ("channel_join", "subtype channel_join"),
    ("member_joined_channel", "event type member_joined_channel"),
    ("app_mention_edited", "edited message"),
])
def test_machines_subtypes_self_and_plain_channel_messages_are_never_acknowledged(slack, fixture, reason):
    payload = load_fixture("slack", fixture)
    response = slack.post_slack(payload)
    assert response.status_code == 200 and response.json_body["ignored"] == reason
    assert slack.store.get_event("slack", payload["event_id"]) is None
    slack.pump.drain()
    assert posted(slack) == []


def test_own_bot_user_without_authorizations_is_caught_by_auth_test(slack):
    payload = load_fixture("slack", "own_bot_user")
    del payload["authorizations"]
    slack.post_slack(payload)
    slack.pump.drain()
    assert posted(slack) == []
    assert len(slack.slack_api.sent("auth.test")) == 1
    assert slack.store.get_event("slack", payload["event_id"])["status"] == "done"


def test_rate_limited_post_message_honours_retry_after(slack):
    slack.slack_api.rate_limit_next(retry_after=2)
    slack.post_slack(load_fixture("slack", "message_im"))
    slack.pump.drain()
    assert len(posted(slack)) == 2
    assert slack.clock.slept == [2.0]


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


# -- 21.8: files are people writing (what is not: test_machines_subtypes_self_and_plain_…) -------
def test_dm_with_a_file_is_a_customer_message(slack):
    payload = load_fixture("slack", "file_share_im")
    response = slack.post_slack(payload)
    assert response.status_code == 200 and "ignored" not in response.json_body
    slack.pump.drain()
    [call] = posted(slack)
    assert call.params["thread_ts"] == "1763806400.001100"
    text = call.params["blocks"][0]["text"]["text"]
    assert "We've received a file with your note: “_Here is the invoice that failed_”" in text
    event = slack.store.get_event("slack", "Ev0FILESHARE1")
    assert event["inbound"]["media"] == "document"
    assert event["inbound"]["details"]["files"] == ["invoice-1042.pdf"]


def test_file_over_slack_connect_without_file_details_is_still_answered(slack):
    slack.slack_api.add_user("W0PARTNER01", "Lee Park", first_name="Lee")
    slack.post_slack(load_fixture("slack", "file_share_connect"))
    slack.pump.drain()
    [call] = posted(slack)
    assert call.params["channel"] == "D0CONNECT1"
    assert "Hi Lee, thanks" in call.params["text"] and "We've received a file." in call.params["text"]


# -- 21.1: nothing a customer wrote is live Slack markup, in blocks or in the notification text --
LIVE_SLACK_MARKUP = __import__("re").compile(r"<[!@#]|<https?:|<mailto:")


def test_customer_text_and_profile_name_are_escaped_in_every_rendered_field(slack):
    slack.slack_api.add_user("U2147483697", "<!channel> <@U0BOSS0001> <https://evil.example|Boss>",
                             first_name="<!here>", locale="en-US")
    payload = load_fixture("slack", "message_im")
    # what a customer typing these literally sends: Slack escapes them, our reader decodes them
    payload["event"]["text"] = ("&lt;!channel&gt; refund &lt;@U0BOSS0001&gt; "
                                "&lt;https://evil.example|click here&gt; <!everyone>")
    slack.post_slack(payload)
    slack.pump.drain()
    [call] = posted(slack)
    fallback, mrkdwn = call.params["text"], call.params["blocks"][0]["text"]["text"]
    for field in (fallback, mrkdwn):
        assert LIVE_SLACK_MARKUP.search(field.replace("<https://acme.example/faq/", "")) is None, field
    assert fallback.startswith("Hi &lt;!here&gt;, thanks")
    assert "&lt;https://evil.example|click here&gt;" in fallback


# -- 21.4: signed but malformed requests are 400/401, never 500, and store nothing ------------------
@pytest.mark.parametrize("headers", [
    {"X-Slack-Request-Timestamp": "¹²"},
    {"X-Slack-Request-Timestamp": "١٧٦٣٨٠٥٦٠٠"},        # Arabic-Indic digits: isdigit() but not a time
    {"X-Slack-Request-Timestamp": "9" * 40},
    {"X-Slack-Signature": "v0=ü"},
    {"X-Slack-Signature": "v0=\u00e9" * 32},
    {"X-Slack-Signature": ""},
])
@pytest.mark.parametrize("path", ["/webhooks/slack/events", "/webhooks/slack/interactions"])
def test_odd_header_values_are_401(slack, headers, path):
    payload = load_fixture("slack", "message_im")
    response = slack.post_slack(payload, path=path, headers=headers)
    assert response.status_code == 401, response.body
    assert slack.store.get_event("slack", payload["event_id"]) is None


def test_odd_content_length_is_not_a_500(slack):
    response = slack.post_slack(load_fixture("slack", "message_im"), headers={"Content-Length": "¹²"})
    assert response.status_code in (200, 400)


def signed(body: bytes) -> dict:
    """Slack's v0 signature over any bytes (slack-sdk's helper only signs UTF-8 text)."""
    import hashlib
    import hmac
    import os

    timestamp = str(int(time.time()))
    digest = hmac.new(os.environ["SLACK_SIGNING_SECRET"].encode(), b"v0:" + timestamp.encode() + b":" + body,
                      hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=" + digest}


def event_with(**changes) -> dict:
    payload = load_fixture("slack", "message_im")
    payload["event"].update(changes)
    return payload


@pytest.mark.parametrize("raw", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"type": "event_callback", "event": ' * 3000 + b"{}" + b"}" * 3000,
    '{"type": "event_callback"}'.encode("utf-16"),
    b'{"type": "event_callback", "event_id": "Ev1", "x": "\xc3"}',
    json.dumps(event_with(text="\ud800 lone")).encode("utf-8", "surrogatepass"),
    json.dumps(event_with(ts="1e400")).encode(),
    json.dumps(event_with(ts="nan")).encode(),
    json.dumps(event_with(ts="99999999999999999999.000000")).encode(),
    json.dumps(event_with(ts=1763805600.0002)).encode(),
    json.dumps(event_with(thread_ts={"a": 1})).encode(),
    json.dumps(event_with(files="x", subtype="file_share")).encode(),
    json.dumps(event_with(files=[["x"]], subtype="file_share")).encode(),
    json.dumps(event_with(user=["U1"])).encode(),
    json.dumps({**load_fixture("slack", "message_im"), "authorizations": 7}).encode(),
    json.dumps({**load_fixture("slack", "message_im"), "event": ["message"]}).encode(),
])
def test_malformed_signed_events_are_400_and_store_nothing(slack, raw):
    response = slack.post_slack(None, raw=raw, headers=signed(raw), signed=False)
    assert response.status_code == 400, response.body
    assert slack.queue_depth(slack.pump.url) == 0


def interaction_body(**changes) -> bytes:
    payload = load_fixture("slack", "block_actions")
    payload["actions"][0]["value"] = "csat:c0ffee:5"
    payload.update(changes)
    return urlencode({"payload": json.dumps(payload)}).encode()


@pytest.mark.parametrize("raw", [
    b"payload=" + b"%5B" * 5000,
    b"payload=%7B%22type%22%3A%22block_actions%22%2C%22x%22%3A%22%C3%22%7D",
    "payload={}".encode("utf-16"),
    interaction_body(user=["U2147483697"]),
    interaction_body(actions=7),
    interaction_body(container="D024BE91L"),
    interaction_body(channel=[1]),
    interaction_body(actions=[{"value": "csat:c0ffee:5", "action_ts": "1e400"}]),
    interaction_body(container={"message_ts": {"a": 1}, "channel_id": "D024BE91L"}),
])
def test_malformed_signed_interactions_are_400_and_store_nothing(slack, raw):
    response = slack.post_slack(None, path="/webhooks/slack/interactions", raw=raw, headers=signed(raw),
                                signed=False)
    assert response.status_code == 400, response.body
    assert slack.queue_depth(slack.pump.url) == 0


def test_events_webhook_verifies_without_importing_slack_sdk(slack):
    import subprocess
    import sys

    body = json.dumps(load_fixture("slack", "message_im")).encode()
    code = ("import sys, json; from integrations import slack; "
            f"assert slack.verify({{k.lower(): v for k, v in {signed(body)!r}.items()}}, {body!r}, "
            f"{__import__('os').environ['SLACK_SIGNING_SECRET']!r}); "
            "from functions.handlers import slack_webhook; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('slack_sdk', 'jinja2', 'tweepy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
