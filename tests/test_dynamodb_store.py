"""The DynamoDB store on moto: table shape, conditional writes, races, settings, no Scan."""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import OPEN_TIME, ROOT
from functions.decide import decide
from functions.models import InboundMessage
from functions.settings import load_settings_file

SETTINGS = load_settings_file(str(ROOT / "firstreply.yaml"))


def message(event_id: str, chat_id="10", sender_id="20") -> InboundMessage:
    return InboundMessage(channel="telegram", event_id=event_id, chat_id=chat_id, sender_id=sender_id,
                          message_id=event_id, received_at="2026-11-23T08:00:00.000Z", text="hi",
                          first_name="Ana")


@pytest.fixture
def store():
    from moto import mock_aws

    from integrations import aws, dynamodb

    with mock_aws():
        aws.reset_clients()
        dynamodb.ensure_table()
        yield dynamodb.DynamoStore(config_path=str(ROOT / "firstreply.yaml"))
        aws.reset_clients()


def test_table_has_ttl_point_in_time_recovery_and_the_sparse_index(store):
    ddb = store.ddb
    table = ddb.describe_table(TableName=store.table)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["gsi1", "gsi2"]   # due work; the inbox
    ttl = ddb.describe_time_to_live(TableName=store.table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    backups = ddb.describe_continuous_backups(TableName=store.table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_store_event_is_once(store):
    from integrations.dynamodb import store_event

    assert store_event(message("1"), OPEN_TIME) == "new"
    assert store_event(message("1"), OPEN_TIME) == "pending"
    store.mark_done(message("1"))
    assert store_event(message("1"), OPEN_TIME) == "done"


def test_two_first_messages_racing_open_one_conversation(store):
    from integrations.dynamodb import store_event

    first, second = message("1"), message("2")
    for m in (first, second):
        store_event(m, OPEN_TIME)
    # both workers read "no chat yet" and both decide to open a conversation
    contact, chat = store.load_context(first)
    d1 = decide(first, contact, chat, SETTINGS, OPEN_TIME)
    d2 = decide(second, contact, chat, SETTINGS, OPEN_TIME)
    assert store.commit_decision(first, d1, chat, OPEN_TIME, SETTINGS) is True
    assert store.commit_decision(second, d2, chat, OPEN_TIME, SETTINGS) is False
    # the loser reads again and joins the open conversation without an ack
    contact, chat = store.load_context(second)
    d2 = decide(second, contact, chat, SETTINGS, OPEN_TIME)
    assert store.commit_decision(second, d2, chat, OPEN_TIME, SETTINGS) is True
    assert (d2.conversation_id, d2.acknowledge) == (d1.conversation_id, False)
    assert store.conversation(d1.conversation_id)["messages"] == 2


def test_contact_gap_holds_across_two_chats_racing(store):
    from integrations.dynamodb import store_event

    a, b = message("1", chat_id="10"), message("2", chat_id="11")   # one person, two chats
    for m in (a, b):
        store_event(m, OPEN_TIME)
    contact, _ = store.load_context(a)
    da = decide(a, contact, None, SETTINGS, OPEN_TIME)
    db = decide(b, contact, None, SETTINGS, OPEN_TIME)
    assert da.acknowledge and db.acknowledge            # each saw no previous ack
    assert store.commit_decision(a, da, None, OPEN_TIME, SETTINGS)
    assert not store.commit_decision(b, db, None, OPEN_TIME, SETTINGS)   # last_ack_at moved
    contact, chat = store.load_context(b)
    db = decide(b, contact, chat, SETTINGS, OPEN_TIME)
    assert db.new_conversation and not db.acknowledge and db.reason == "contact-gap"


def test_a_decided_event_cannot_be_decided_again(store):
    from integrations.dynamodb import store_event

    m = message("1")
    store_event(m, OPEN_TIME)
    d = decide(m, None, None, SETTINGS, OPEN_TIME)
    assert store.commit_decision(m, d, None, OPEN_TIME, SETTINGS)
    again = decide(m, None, None, SETTINGS, OPEN_TIME + timedelta(seconds=1))
    assert not store.commit_decision(m, again, None, OPEN_TIME, SETTINGS)
    assert store.get_event("telegram", "1")["decision"]["conversation_id"] == d.conversation_id


def test_retention_sets_expiry(store):
    from integrations.dynamodb import store_event

    m = message("1")
    store_event(m, OPEN_TIME)
    d = decide(m, None, None, SETTINGS, OPEN_TIME)
    store.commit_decision(m, d, None, OPEN_TIME, SETTINGS)
    expected = int((OPEN_TIME + timedelta(days=400)).timestamp())
    assert store.conversation(d.conversation_id)["expires_at"] == expected
    assert store.contact("telegram", "20")["expires_at"] == expected
    assert all(item["expires_at"] == expected for item in store.messages(d.conversation_id))
    assert store.get_event("telegram", "1")["expires_at"] == int((OPEN_TIME + timedelta(days=30)).timestamp())


def test_settings_fall_back_to_the_file_until_stored(store):
    assert store.load_settings().business_name == "Acme"
    changed = load_settings_file(str(ROOT / "firstreply.yaml"))
    changed.source["business"] = {**changed.source["business"], "name": "Globex"}
    from functions.settings import parse_settings

    store.save_settings(parse_settings(changed.source), by="test", now=OPEN_TIME)
    assert store.load_settings().business_name == "Globex"


def test_no_scan_anywhere_in_the_code():
    sources = [p for folder in ("functions", "integrations", "cli") for p in (ROOT / folder).rglob("*.py")]
    sources.append(ROOT / "app.py")
    offenders = [str(p.relative_to(ROOT)) for p in sources
                 if re.search(r"\.scan\(|\"Scan\"|paginator\(\"scan\"\)", Path(p).read_text())]
    assert offenders == []
