"""What intake accepts, the worker can always store: every key-forming value from outside (event,
chat, sender and message ids, on every channel) is bounded at the edge, so a huge id is accepted,
stored and answered, never crash-looped into the dead-letter queue by DynamoDB's key limits."""
from __future__ import annotations


import json

from conftest import FIXTURES, load_fixture


def dead_letters(system) -> int:
    from integrations import sqs

    return system.queue_depth(sqs.queue_url(sqs.DEAD_LETTER_QUEUE_NAME))


def test_bounded_keeps_short_ids_and_hashes_long_ones_stably():
    from functions.handlers.intake import MAX_KEY_BYTES, bounded
    from functions.models import InboundMessage

    short = InboundMessage(channel="slack", event_id="Ev1", chat_id="D1", sender_id="U1", message_id="1.2",
                           received_at="2026-11-23T08:00:00Z", text="hi")
    assert bounded(short) == short
    huge = InboundMessage(channel="slack", event_id="E" * 5000, chat_id="D" * 5000, sender_id="ü" * 3000,
                          message_id="m" * 5000, received_at="2026-11-23T08:00:00Z", text="x" * 2_000_000)
    once = bounded(huge)
    for name in ("event_id", "chat_id", "sender_id"):
        assert len(getattr(once, name).encode()) <= MAX_KEY_BYTES
    assert once.message_id == huge.message_id     # not a key (email's thread map bounds its own)
    assert bounded(huge) == once and bounded(once) == once        # stable: dedupe still works
    assert once.event_id != bounded(InboundMessage(**{**huge.to_dict(), "event_id": "E" * 5001})).event_id
    assert len(once.text.encode()) <= 100_000


def test_huge_slack_ids_are_refused_at_the_edge_with_nothing_stored(system):
    """Slack's ids are short alphanumerics: the adapter refuses anything else with 400 before
    intake, so nothing is stored that the worker could not (intake's own bound is the second line,
    for channels whose ids have no documented shape; `bounded` above)."""
    from integrations import sqs

    failures = system.worker_failures()
    event = load_fixture("slack", "message_im")
    event["event_id"] = "Ev" + "9" * 1500
    event["event"]["user"] = "U" + "7" * 3000
    event["event"]["channel"] = "D" + "5" * 3000
    assert system.post_slack(event).status_code == 400
    assert system.queue_depth(sqs.queue_url()) == 0
    system.pump.drain()
    assert failures == [] and dead_letters(system) == 0
    assert not system.slack_api.sent("chat.postMessage")


def test_a_huge_telegram_chat_id_is_refused_at_the_edge(system):
    """Telegram's ids fit in 52 bits: a 3,000-digit one is a 400, stored nowhere, queued nowhere."""
    from integrations import sqs

    failures = system.worker_failures()
    update = load_fixture("telegram", "text_private")
    update["message"]["chat"]["id"] = int("9" * 3000)
    update["message"]["from"]["id"] = int("8" * 3000)
    assert system.post_update(update).status_code == 400
    assert system.queue_depth(sqs.queue_url()) == 0
    system.pump.drain()
    assert failures == [] and dead_letters(system) == 0
    assert system.store.get_event("telegram", str(update["update_id"])) is None


def test_a_mail_with_a_huge_message_id_is_stored_and_answered(system):
    failures = system.worker_failures()
    raw = (FIXTURES / "email" / "gmail.eml").read_bytes()
    huge = b"<" + b"a" * 3000 + b"@mail.gmail.com>"
    raw = raw.replace(b"<CAJ8x7Yw1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZ@mail.gmail.com>", huge, 1)
    assert huge in raw
    event_id = system.ingest(raw)
    assert failures == [] and dead_letters(system) == 0
    assert system.store.get_event("email", event_id)["status"] == "done"
    [reply] = system.sent_mail()
    assert reply["Subject"].startswith("Re: ")


def test_lone_surrogates_are_refused_by_the_one_json_reader(system):
    """JSON lets a sender write "\\ud800"; boto3 cannot encode it, so intake failed on every try.
    Every webhook reads its body through `http.read_json`, which answers 400 and stores nothing."""
    failures = system.worker_failures()
    body = json.dumps(load_fixture("telegram", "text_private")).replace(
        '"Olena"', '"Ol\\ud800na"').encode()
    assert system.post_update(None, raw=body).status_code == 400
    system.pump.drain()
    assert failures == [] and dead_letters(system) == 0
    assert system.store.contact("telegram", "1111111") is None
