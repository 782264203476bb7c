"""The acknowledgement rules, with no AWS and no channel."""
from datetime import datetime, timedelta, timezone

from functions.decide import decide, reference_of
from functions.models import ChatState, Contact, InboundMessage
from functions.settings import parse_settings

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
SETTINGS = parse_settings({"business": {"name": "Acme"}, "acknowledgement": {"contact_gap_minutes": 60},
                           "conversation_timeout_minutes": {"telegram": 30}})
MESSAGE = InboundMessage(channel="telegram", event_id="1", chat_id="10", sender_id="20", message_id="3",
                         received_at="2026-11-23T08:00:00.000Z", text="hi")


def at(minutes_ago):
    return (NOW - timedelta(minutes=minutes_ago)).isoformat()


def chat(status="open", idle_minutes=5):
    return ChatState("C0NV3RSAT1", status, at(120), at(idle_minutes), "C0N-V3R")


def contact(last_ack_minutes_ago=None):
    return Contact("telegram", "20", last_ack_at=at(last_ack_minutes_ago) if last_ack_minutes_ago is not None else "")


def test_first_message_ever_opens_a_conversation_and_is_acknowledged():
    d = decide(MESSAGE, None, None, SETTINGS, NOW)
    assert d.new_conversation and d.acknowledge and d.reason == "new-conversation"
    assert len(d.conversation_id) == 10 and d.reference == reference_of(d.conversation_id)


def test_follow_up_in_open_conversation_is_not_acknowledged():
    d = decide(MESSAGE, contact(5), chat(idle_minutes=5), SETTINGS, NOW)
    assert not d.new_conversation and not d.acknowledge and d.reason == "open-conversation"
    assert d.conversation_id == "C0NV3RSAT1"


def test_closed_conversation_reopens_with_an_ack():
    d = decide(MESSAGE, contact(90), chat(status="closed"), SETTINGS, NOW)
    assert d.new_conversation and d.acknowledge and d.reason == "reopened"
    assert d.conversation_id != "C0NV3RSAT1"


def test_idle_past_the_channel_timeout_counts_as_closed():
    d = decide(MESSAGE, contact(90), chat(idle_minutes=31), SETTINGS, NOW)
    assert d.new_conversation and d.acknowledge


def test_contact_gap_suppresses_a_second_ack():
    d = decide(MESSAGE, contact(59), chat(status="closed"), SETTINGS, NOW)
    assert d.new_conversation and not d.acknowledge and d.reason == "contact-gap"


def test_contact_gap_boundary():
    assert decide(MESSAGE, contact(60), None, SETTINGS, NOW).acknowledge
