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
    # THEN one read (event + chat + contact + the sender's erasure tombstone), the decision, the
    # record of the sent ack, the send's slot of Telegram's rate (one conditional update of the
    # second's window: the pacing shared by all workers); then the inbox's step (functions/sla.py)
    # reads the conversation and, with no SLA target set, finds its place in the inbox as the
    # decision wrote it: nothing to write
    assert calls == Counter({"BatchGetItem": 1, "TransactWriteItems": 2, "UpdateItem": 1, "GetItem": 1}), calls
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
