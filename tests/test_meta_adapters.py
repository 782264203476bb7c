"""The Meta converters alone (pure functions, no AWS): every documented fixture reads as expected,
and no mutation of one makes them raise anything but `Malformed` (a 400), never a 500."""
from __future__ import annotations

import copy
import json

import pytest

from conftest import FIXTURES, load_fixture
from integrations import meta, whatsapp

ALL = sorted(p.relative_to(FIXTURES).with_suffix("").as_posix() for product in ("whatsapp", "messenger", "instagram")
             for p in (FIXTURES / product).glob("*.json"))


def convert(product: str, payload):
    return whatsapp.to_batch(payload) if product == "whatsapp" else meta.to_batch(payload)


def paths(value, prefix=()):
    """Every place in a JSON document where a value sits."""
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths(inner, prefix + (key,))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from paths(inner, prefix + (index,))


def replaced(document, path, value):
    if not path:
        return value
    changed = copy.deepcopy(document)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


@pytest.mark.parametrize("name", ALL)
def test_no_mutation_of_a_fixture_raises_anything_but_malformed(name):
    product = name.split("/")[0]
    document = load_fixture(*name.split("/"))
    for path in paths(document):
        for value in ("x", "", 7, -1, 1e308, True, None, [], {}, ["x"], [{}], {"x": 1}, "A" * 5000):
            try:
                convert(product, replaced(document, path, value))
            except meta.Malformed:
                pass


def test_each_fixture_reads_as_meta_documents_it():
    kinds = {}
    for name in ALL:
        batch = convert(name.split("/")[0], load_fixture(*name.split("/")))
        kinds[name] = (len(batch.messages), len(batch.statuses), len(batch.ignored))
    assert kinds == {
        "instagram/echo": (0, 0, 1), "instagram/image": (1, 0, 0), "instagram/story_mention": (1, 0, 0),
        "instagram/text": (1, 0, 0),
        "messenger/delivery": (0, 1, 0), "messenger/echo": (0, 0, 1), "messenger/image": (1, 0, 0),
        "messenger/quick_reply": (1, 0, 0), "messenger/reaction": (0, 0, 1), "messenger/read": (0, 0, 1),
        "messenger/text": (1, 0, 0),
        "whatsapp/audio": (1, 0, 0), "whatsapp/batch": (3, 0, 0), "whatsapp/button_reply": (1, 0, 0),
        "whatsapp/echo": (0, 0, 1), "whatsapp/image_caption": (1, 0, 0), "whatsapp/location": (1, 0, 0),
        "whatsapp/reaction": (0, 0, 1), "whatsapp/status_delivered": (0, 1, 0), "whatsapp/status_failed": (0, 1, 0),
        "whatsapp/text": (1, 0, 0),
    }


def test_a_messenger_quick_reply_that_is_not_ours_is_the_text_they_tapped():
    [message] = meta.to_batch(load_fixture("messenger", "quick_reply")).messages
    assert message.text == "Shipping" and message.chat_type == "private"


def test_an_unknown_whatsapp_type_is_still_a_customer_writing():
    payload = load_fixture("whatsapp", "text")
    payload["entry"][0]["changes"][0]["value"]["messages"][0].update(type="some_future_type", some_future_type={})
    [message] = whatsapp.to_batch(payload).messages
    assert message.media == "message" and message.name == "Olena Kovalenko"


def test_language_comes_from_the_text_then_the_country_code():
    payload = load_fixture("whatsapp", "audio")
    [voice] = whatsapp.to_batch(payload).messages
    assert voice.media == "voice" and voice.language_code == "uk"            # +380, nothing to read
    [text] = whatsapp.to_batch(load_fixture("whatsapp", "text")).messages
    assert text.language_code == "uk"


def test_signature_and_handshake_are_strict():
    body = json.dumps(load_fixture("whatsapp", "text")).encode()
    good = {"X-Hub-Signature-256": meta.signature("s", body)}
    assert meta.verify_signature(good, body, "s")
    assert not meta.verify_signature(good, body, "")                   # no secret configured: nobody
    assert not meta.verify_signature({"X-Hub-Signature-256": good["X-Hub-Signature-256"].upper()}, body, "s")
    assert not meta.verify_signature({"X-Hub-Signature-256": "sha256=é"}, body, "s")
    assert meta.handshake({"hub.mode": "subscribe", "hub.verify_token": "t", "hub.challenge": "42"}, "t") == "42"
    assert meta.handshake({"hub.mode": "subscribe", "hub.verify_token": "t", "hub.challenge": "42"}, "") is None
    assert meta.handshake(None, "t") is None


def test_key_forming_ids_are_bounded_at_the_edge():
    payload = load_fixture("messenger", "text")
    payload["entry"][0]["messaging"][0]["sender"]["id"] = "9" * 500
    assert meta.to_batch(payload).messages == []
    payload = load_fixture("instagram", "text")
    payload["entry"][0]["messaging"][0]["message"]["mid"] = "m" * 5000
    [message] = meta.to_batch(payload).messages
    assert len(message.event_id) <= 200 and message.event_id == meta.to_batch(payload).messages[0].event_id
