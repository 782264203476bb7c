"""The worker reads once per message: the event, the chat and the contact in one BatchGetItem, then
decides, sends and commits. AWS calls are counted inside the worker only (not the webhook's put or
the pump's receive), with the settings already cached (they are read at most every 30 s)."""
from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager
from unittest.mock import patch

import botocore.client

from conftest import load_fixture, update_from


@contextmanager
def counting_calls():
    calls: Counter = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counting(self, operation, params):
        calls[operation] += 1
        return original(self, operation, params)

    with patch.object(botocore.client.BaseClient, "_make_api_call", counting):
        yield calls


def _worker_calls(system, update) -> Counter:
    """Post the update, then count what the worker alone asks of AWS to handle it."""
    from functions.handlers import worker

    assert system.post_update(update).status_code == 200
    messages = system.pump.sqs.receive_message(QueueUrl=system.pump.url, MaxNumberOfMessages=10)["Messages"]
    with counting_calls() as calls:
        for message in messages:
            # one message of the batch, as the batch handler hands it on (its own AWS calls only)
            worker.handle_record(json.loads(message["Body"]), message["MessageId"])
    for message in messages:
        system.pump.sqs.delete_message(QueueUrl=system.pump.url, ReceiptHandle=message["ReceiptHandle"])
    return calls, messages


def test_first_message_follow_up_and_replay_cost_one_read_each(system):
    from functions.handlers import worker

    worker.store().load_settings()   # cached for 30 s: not part of one message's cost
    first = update_from(load_fixture("telegram", "text_private"), 700001)
    # GIVEN a new customer WHEN the first message is handled
    calls, messages = _worker_calls(system, first)
    # THEN one read (event + chat + contact + the sender's erasure tombstone), the decision (which
    # puts the new conversation in its place in the inbox: nothing read back after), the record of
    # the sent ack, the send's slot of Telegram's rate (one update of the second's window: the
    # pacing shared by all workers)
    assert calls == Counter({"BatchGetItem": 1, "TransactWriteItems": 2, "UpdateItem": 1}), calls
    assert len(system.telegram_api.sent("sendMessage")) == 1

    # WHEN the customer writes again in the open conversation
    follow_up = update_from(first, 700002, message_id=first["message"]["message_id"] + 1)
    calls, _ = _worker_calls(system, follow_up)
    # THEN one read and one transaction that also closes the event; nothing is sent; the inbox's
    # step reads the conversation and finds its due time in place (waiting since the first message)
    assert calls == Counter({"BatchGetItem": 1, "TransactWriteItems": 1, "GetItem": 1}), calls
    assert len(system.telegram_api.sent("sendMessage")) == 1

    # WHEN SQS delivers the first queue message again
    with counting_calls() as replay:
        worker.handle_record(json.loads(messages[0]["Body"]), messages[0]["MessageId"])
    # THEN one read finds it done
    assert replay == Counter({"BatchGetItem": 1}), replay
    assert json.loads(messages[0]["Body"])["sender_id"] == str(first["message"]["from"]["id"])


def test_a_new_conversations_priority_and_sla_go_in_with_the_decision(system):
    """With SLA targets and a keyword rule, the first message's conversation is urgent and due in
    30 business minutes, with its timer in the SLA index, all written by the decision's transaction:
    no read of the conversation after it, no second write (it used to be a GetItem, an UpdateItem
    and a PutItem more)."""
    from datetime import timedelta

    from conftest import OPEN_TIME
    from functions.clock import iso
    from functions.handlers import worker

    system.use_settings(sla={"first_response": {"urgent": "30m", "normal": "8h"}},
                        priority_rules={"keywords": {"urgent": ["терміново"]}})
    worker.store().load_settings()
    first = update_from(load_fixture("telegram", "text_private"), 700101, text="Це терміново, будь ласка")
    calls, _ = _worker_calls(system, first)
    assert calls == Counter({"BatchGetItem": 1, "TransactWriteItems": 2, "UpdateItem": 1}), calls
    cid = system.store.chat("telegram", str(first["message"]["chat"]["id"]))["conversation_id"]
    conversation = system.store.conversation(cid)
    due = iso(OPEN_TIME + timedelta(minutes=30))   # Monday 10:00 Kyiv, inside the hours
    assert (conversation["priority"], conversation["sla_due_at"], conversation["sla_kind"]) == ("urgent", due, "first")
    assert conversation["gsi2sk"] == due   # the inbox's waiting queue sorts it by its due time
    timer = system.run_job("sla", OPEN_TIME + timedelta(minutes=25))   # 80 % of 30 min: the warning
    assert timer["warned"] == 1

    # a second message in the same conversation still finds the due time in place: one read, no write
    follow_up = update_from(first, 700102, message_id=first["message"]["message_id"] + 1, text="?")
    calls, _ = _worker_calls(system, follow_up)
    assert calls == Counter({"BatchGetItem": 1, "TransactWriteItems": 1, "GetItem": 1}), calls
    assert system.store.conversation(cid)["sla_due_at"] == due


def test_a_placement_that_fails_never_keeps_the_acknowledgement_back(system, monkeypatch, caplog):
    """Working out the new conversation's SLA runs before the decision is written now: if it
    raises, the customer is still answered and the step after the acknowledgement places it."""
    from functions import sla
    from functions.handlers import worker

    system.use_settings(sla={"first_response": {"normal": "8h"}})
    worker.store().load_settings()
    monkeypatch.setattr(sla, "opening", lambda *args: 1 / 0)
    first = update_from(load_fixture("telegram", "text_private"), 700201)
    calls, _ = _worker_calls(system, first)
    assert len(system.telegram_api.sent("sendMessage")) == 1
    assert "SLA placement failed" in caplog.text
    cid = system.store.chat("telegram", str(first["message"]["chat"]["id"]))["conversation_id"]
    assert system.store.conversation(cid)["sla_kind"] == "first"   # placed by the step after
    assert calls["GetItem"] == 1 and calls["UpdateItem"] == 2 and calls["PutItem"] == 1, calls


def test_a_batch_reads_its_messages_contexts_at_once_but_a_chats_second_message_after_its_first(system):
    """Four customers write, one of them twice: the worker's batch reads the four first messages'
    events, chats and contacts in one BatchGetItem; the second message of a chat reads on its own,
    after the first wrote its conversation (read ahead, it would not see it)."""
    from functions.handlers import worker

    worker.store().load_settings()
    template = load_fixture("telegram", "text_private")
    firsts = []
    for n in range(4):
        update = update_from(template, 710000 + n)
        update["message"]["chat"]["id"] = update["message"]["from"]["id"] = 8100000 + n
        firsts.append(update)
        assert system.post_update(update).status_code == 200
    again = update_from(firsts[0], 710010, message_id=firsts[0]["message"]["message_id"] + 1, text="Also this")
    assert system.post_update(again).status_code == 200
    with counting_calls() as calls:
        assert system.pump.pump_once() == 5
    assert calls["BatchGetItem"] == 2, calls   # one a message before: 5
    assert len(system.telegram_api.sent("sendMessage")) == 4
    conversation = system.store.chat("telegram", "8100000")["conversation_id"]
    assert system.store.conversation(conversation)["messages"] == 2   # the second joined the first's
    assert worker.store()._read_ahead == {}   # nothing left for the next batch


def test_the_desk_shows_a_message_without_reading_its_event_or_conversation_again(system):
    """With a Slack desk, the worker's mirror step read the event it had just read again (GetItem)
    to show the message in the thread, and the SLA step read the conversation the mirror had read;
    now the mirror uses the pipeline's read of the event and shares the SLA step's read of the
    conversation. A redelivery of a message already done still reads the event (to mirror what an
    earlier receive could not)."""
    from functions.handlers import worker

    system.use_settings(desk={"slack_channel": "C0DESK0001"})
    worker.store().load_settings()
    reads: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def recording(self, operation, params):
        if operation == "GetItem":
            reads.append(params["Key"]["pk"]["S"].split("#")[0])
        return original(self, operation, params)

    first = update_from(load_fixture("telegram", "text_private"), 700301)
    follow_up = update_from(first, 700302, message_id=first["message"]["message_id"] + 1, text="And?")
    with patch.object(botocore.client.BaseClient, "_make_api_call", recording):
        for update in (first, follow_up):
            _worker_calls(system, update)
    # one read of the conversation a message: the mirror's (the first, whose due time went in with
    # the decision), shared with the SLA step (the follow-up); before, each also read the event again
    # and the conversation once or twice more (the SLA step; the thread's key, for its expiry)
    assert reads == ["CONV", "CONV"], reads
    threads = [c for c in system.slack_api.sent("chat.postMessage") if c.params.get("channel") == "C0DESK0001"]
    assert len(threads) == 2 and threads[1].params.get("thread_ts")   # the follow-up went into the thread


def test_a_batch_whose_read_ahead_fails_is_handled_message_by_message(system, monkeypatch):
    """The batch's one read failing (DynamoDB throttling it past botocore's retries, say) must not
    fail the batch: each message reads on its own, as before the read ahead, and fails alone."""
    from functions.handlers import worker

    worker.store().load_settings()

    def throttled(requests):
        raise RuntimeError("BatchGetItem left keys unprocessed five times")

    monkeypatch.setattr(worker.store(), "read_ahead", throttled)
    template = load_fixture("telegram", "text_private")
    for n in range(3):
        update = update_from(template, 720000 + n)
        update["message"]["chat"]["id"] = update["message"]["from"]["id"] = 8200000 + n
        assert system.post_update(update).status_code == 200
    assert system.pump.pump_once() == 3
    assert len(system.telegram_api.sent("sendMessage")) == 3
