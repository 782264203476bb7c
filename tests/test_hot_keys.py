"""No hot key (DESIGN.md section 3, issue 18): a busy channel spreads its writes over many partition
key values, in the table and in its index, and no transaction writes an item another customer's
transaction also writes (concurrent transactions on one item cancel each other).

Telegram messages, ten per chat, go through the webhook handler (parse, store once,
enqueue) and the worker (the queue pump, the pipeline, the store) on moto. Every write is recorded
from the requests themselves and from the items before and after it (what the index holds), so the
count covers what DynamoDB would write: a table write per item, an index write per item whose index
key it carries or carried (two when the index key changes: out of one partition, into another).
"""
from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from datetime import timedelta

import pytest

from conftest import SECRET, load_fixture

# moto takes ~50-100 ms a message on a shared machine, so `make test` replays 400 messages over 40
# chats (the same shape: ten messages a conversation, more conversations than index shards would
# only spread further); HOT_MESSAGES=10000 HOT_CHATS=1000 runs the full replay (minutes).
MESSAGES = int(os.environ.get("HOT_MESSAGES", 400))
CHATS = int(os.environ.get("HOT_CHATS", 40))
INDEXES = ("gsi1", "gsi2")   # integrations/dynamodb TABLE_SPEC: jobs and SLA timers; the inbox by state


class Request:
    """What the webhook handler reads of Chalice's request (the HTTP routing is not under test)."""

    def __init__(self, body: bytes):
        self.raw_body = body
        self.headers = {"x-telegram-bot-api-secret-token": SECRET, "content-type": "application/json",
                        "content-length": str(len(body))}


class Sender:
    """The channel's side, in memory: the Bot API stand-in over HTTP would only slow the replay."""

    def __init__(self):
        self.sent = []

    def send(self, ack):
        from functions.models import SentMessage

        self.sent.append(ack.chat_id)
        return SentMessage(channel="telegram", chat_id=ack.chat_id, message_id=str(len(self.sent)),
                           text=ack.text, sent_at="2026-11-23T08:00:00Z")

    def is_own(self, sender_id):
        return False

    def profile(self, sender_id):
        return {}


class WriteRecorder:
    """Partition key values written, per table and index, read from moto's own table (not through
    the API, so the recording adds no call), and the customers each transaction's items belong to."""

    def __init__(self, table_name: str):
        from moto.dynamodb.models import dynamodb_backends

        self.table = dynamodb_backends["123456789012"]["us-east-1"].tables[table_name]
        self.writes = {"table": Counter(), **{index: Counter() for index in INDEXES}}
        self.transaction_customers: dict[str, set[str]] = defaultdict(set)
        self.customer = ""

    def _item(self, key: dict) -> dict:
        from moto.dynamodb.models.dynamo_type import DynamoType

        found = self.table.get_item(DynamoType(key["pk"]), DynamoType(key["sk"]))
        return found.to_json()["Attributes"] if found else {}

    def around(self, operation: str, params: dict, call):
        keys = []
        if operation in ("PutItem",):
            keys = [{"pk": params["Item"]["pk"], "sk": params["Item"]["sk"]}]
        elif operation in ("UpdateItem", "DeleteItem"):
            keys = [params["Key"]]
        elif operation == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for request in requests:
                    body = request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"]
                    keys.append({"pk": body["pk"], "sk": body["sk"]})
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                (kind, body), = entry.items()
                if kind == "ConditionCheck":
                    continue
                key = body.get("Key") or {"pk": body["Item"]["pk"], "sk": body["Item"]["sk"]}
                keys.append(key)
                self.transaction_customers[f"{key['pk']['S']}|{key['sk']['S']}"].add(self.customer)
        if not keys:
            return call()
        before = [self._item(k) for k in keys]
        try:
            return call()
        finally:
            for key, old in zip(keys, before):
                new = self._item(key)
                if new == old:   # a failed condition or transaction writes nothing
                    continue
                self.writes["table"][key["pk"]["S"]] += 1
                for index in INDEXES:   # both project every attribute: any change of the item writes them
                    old_index, new_index = ((i.get(f"{index}pk", {}).get("S"), i.get(f"{index}sk", {}).get("S"))
                                            for i in (old, new))
                    if old_index[0] and new_index[0] and old_index != new_index:
                        # an index key that changes is a delete and a put in the index
                        self.writes[index][old_index[0]] += 1
                        self.writes[index][new_index[0]] += 1
                    elif old_index[0] or new_index[0]:
                        self.writes[index][old_index[0] or new_index[0]] += 1

    def busiest(self) -> tuple[str, str, int, int]:
        total = sum(sum(c.values()) for c in self.writes.values())
        where, (key, count) = max(((w, c.most_common(1)[0]) for w, c in self.writes.items() if c),
                                  key=lambda found: found[1][1])
        return where, key, count, total


@pytest.fixture
def recorded(system, monkeypatch):
    import botocore.client

    recorder = WriteRecorder(system.store.table)
    original = botocore.client.BaseClient._make_api_call

    def recording(self, operation, params):
        if self.meta.service_model.service_name != "dynamodb":
            return original(self, operation, params)
        return recorder.around(operation, params, lambda: original(self, operation, params))

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    return recorder


def test_a_busy_channel_has_no_hot_key_and_no_transaction_shares_an_item(system, recorded, monkeypatch,
                                                                        no_rollback_copies):
    from functions.handlers import telegram_webhook, worker

    sender = Sender()
    monkeypatch.setattr(worker, "sender_for", lambda channel: sender)
    failures = system.worker_failures()
    chat_of: dict[str, int] = {}
    handle_record = worker.handle_record

    def as_customer(body, *args):   # whose message the worker handles: whose writes follow
        recorded.customer = f"telegram#{chat_of[body['event_id']]}"
        return handle_record(body, *args)

    monkeypatch.setattr(worker, "handle_record", as_customer)
    template = load_fixture("telegram", "text_private")
    for i in range(MESSAGES):
        chat = 5_000_000 + i % CHATS
        update = json.loads(json.dumps(template))
        update["update_id"] = 900_000_000 + i
        update["message"].update(message_id=10 + i, date=int(system.clock.current.timestamp()),
                                 text=f"question {i}")
        update["message"]["from"]["id"] = update["message"]["chat"]["id"] = chat
        recorded.customer = f"telegram#{chat}"
        chat_of[str(update["update_id"])] = chat
        response = telegram_webhook.handle(Request(json.dumps(update).encode()))
        assert response.status_code == 200, response.body
        if i % 50 == 49:   # the worker keeps up with the webhook, ten messages a receive
            while system.pump.pump_once():
                pass
        system.clock.current += timedelta(milliseconds=100)
    system.pump.drain()

    assert failures == []
    assert len(sender.sent) == CHATS           # one acknowledgement per new conversation
    where, key, count, total = recorded.busiest()
    print(f"busiest: {where} {key}: {count} of {total} writes")
    assert count <= 0.05 * total, f"{where} key {key} takes {count} of {total} writes"
    shared = {item: sorted(who) for item, who in recorded.transaction_customers.items() if len(who) > 1}
    assert not shared, f"items written in transactions of several customers: {list(shared.items())[:3]}"
