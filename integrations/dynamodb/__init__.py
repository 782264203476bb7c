"""The one DynamoDB table (single-table design): its keys, serialisation and the store, one module
per aggregate (events, conversations, desk, jobs, admin, stats, channels) sharing one client.

Key design. `pk`/`sk` are strings; `gsi1pk`/`gsi1sk` form a sparse index that only due work carries;
`gsi2pk`/`gsi2sk` index conversations by state for the inbox.

| item          | pk                              | sk                         | access pattern                                   |
|---------------|---------------------------------|----------------------------|--------------------------------------------------|
| event         | EVENT#{channel}#{event_id}      | EVENT                      | webhook: conditional put = dedupe + store inbound; worker: get by key |
|               |                                 |                            | delayed ack (delay queue): conditional claim `ack_claimed_at` unless `ack_sent_at`/`ack_skipped` |
| chat          | CHAT#{channel}#{chat_id}        | CHAT                       | worker: the chat's current conversation (get)    |
| contact       | CONTACT#{channel}#{sender_id}   | PROFILE                    | worker: name, language, last ack (get)           |
| conversation  | CONV#{conversation_id}          | META                       | get by id; gsi1pk=OPEN#{channel}#{n} (n = shard_of(id) of 32: every message rewrites gsi1sk, one key per channel would take all its writes), gsi1sk=last activity while open: the close-idle job queries every shard for what went idle |
| message       | CONV#{conversation_id}          | MSG#{time}#{in/out/desk}#{id} | history (transcript, desk, inbox): query pk, sk begins_with MSG#, in order: customer messages, acks, agent replies (out, kind reply), notes and status changes (desk); {time} is ours (the worker's clock when it stored or sent it), the channel's own time is kept as `channel_at` |
| desk action   | DESK#{surface's action id}      | DESK                       | desk: conditional put = an agent's action once (with its history line and what it changes, one transaction); delivery and confirmation recorded on it |
| desk thread   | THREAD#{surface}#{thread}       | THREAD                     | desk: which conversation a surface thread shows (get; an agent's message names only its thread); the conversation holds `desk_{surface}` the other way |
| task          | TASK#{kind}#{conversation_id}   | TASK                       | jobs: gsi1pk=DUE#{kind}#{n} (n = shard_of(id) of 8), gsi1sk=due time while due; the jobs query every shard (transcript, survey); claimed with a conditional update, the index keys removed when done |
| settings      | SETTINGS                        | CURRENT                    | every function: get with the templates (cached 30 s); admin: version check on save |
| settings hist.| SETTINGS                        | V#{version:06d}            | admin: who changed what when (query, newest first) |
| template      | TEMPLATES                       | {NAME.CHANNEL.LANGUAGE}    | every function: query the partition = all edited templates, loaded with the settings |
| template ver. | TEMPLATE#{id}                   | V#{version:06d}            | admin: history and rollback (query newest first; get one) |
| rate window   | RATE#{what}                     | WINDOW#{n}                 | sender: one conditional ADD per send (X DM limit) |
| send slots    | RATE#pace#{channel}[#{chat}]#{second} | WINDOW               | worker: a paced send reserves its slot with one unconditional ADD (`used`, or `late` for a spare); each second its own key, so a backlog spreads over as many keys as it has seconds |
| held slot     | EVENT#{channel}#{event_id}      | PACE                       | worker: the slot reserved for a message handed back to the queue (put); read for a batch's redelivered messages (batch get); TTL a day |
| stats         | STATS#{YYYY-MM-DD}#{n}          | {channel}                  | stats: survey counters (surveys, CSAT, NPS) ADDed outside any transaction on a random one of 2 shards, summed when read (a query per shard) |
| facts         | FACTS#{YYYY-MM-DD}#{n}          | {open|ack|first_response|close|csat}#{channel}#{conversation_id}[#{event}] | stats: one item per opened, acknowledged, answered or closed conversation (n = shard_of(id) of 4), Put inside the transaction of what it counts: the conversation's own item, so exactly once without a shared item in any transaction; conversations and acks (with their latency bucket) are counted from these when read, the rest feeds medians and percentiles; `csat` (score and the agent it counts for) is Put when a rating comes, on the day of the first answer, so a changed answer replaces it |
| cursor        | CURSOR#{job}                    | CURSOR                     | pollers: where to resume (X mentions since_id)    |
| message id    | MSGID#{email Message-ID}        | MSGID                      | email: which chat a reply's In-Reply-To/References belong to (batch get) |
| customer conv.| CUSTOMER#{channel}#{sender_id}  | CONV#{conversation_id}     | export/forget: every conversation the person wrote in (query the partition; put in the decision transaction on each message) |
| customer event| CUSTOMER#{channel}#{sender_id}  | EVENT#{event_id}           | export/forget: events that joined no conversation (an address given, a rating, a comment) |
| customer link | CUSTOMER#{channel}#{sender_id}  | LINK#{channel}#{id}        | export/forget: the same person's other identity (the email a chat customer gave), both ways |
| tombstone     | GONE#{keyed hash of the id}     | GONE                       | worker: a sender without a contact was erased after this message was written? (get); TTL = dedupe window |
| audit         | AUDIT#{YYYY-MM-DD}              | {time}#{entry id}          | `firstreply audit`, GET /admin/api/audit: a query per day; TTL = audit_retention_days |
| delivery      | DELIVERY#{channel}#{message_id} | DELIVERY                   | Meta status callbacks on an outbound message (update per status; get by our message id); `deliveries.py` |

| conv. (inbox) | CONV#{conversation_id}          | META                       | inbox: gsi2pk=STATE#{state}#{n} (n = shard_of(id) of 32: every customer message of a waiting conversation rewrites the item, and the index projects it all), gsi2sk=SLA due time (waiting; else waiting since) / last agent reply (answered) / closed at (closed); a page merges the shards, reading each a little at a time |
| reference     | REF#{reference}                 | {conversation_id}          | inbox search and export/forget by the reference a customer quotes (query; written with the new conversation) |
| name word     | NAME#{folded word of the name}  | {opened_at}#{conversation_id} | inbox search by customer name, newest first (query); found from the conversation's name |
| SLA timer     | SLA#{conversation_id}           | SLA                        | SLA job: gsi1pk=SLADUE#{n} (n = shard_of(id) of 32; the job queries every shard), gsi1sk=next alarm (80 % moment, then the due time), removed after the breach alarm; rewritten when the due time changes |
| agent         | AGENTS                          | {agent id}                 | `firstreply agents list` (query: one partition per team); revoke (get, update) |
| agent token   | AGENTTOKEN#{sha256 of token}    | TOKEN                      | every inbox request: get by key; deleted on revoke. The token itself is never stored |
| measured      | SETTINGS                        | CURRENT (`measured_response`) | expected-reply job writes the median per channel; read with the settings |
Customers' data (integrations/dynamodb/customers.py): from the `CUSTOMER#` partition, each
conversation's partition leads to the rest: events (an inbound line's sort key ends in its event id),
desk records (`DESK#{action id}`, a desk line's sort key ends in it), tasks, the chat, desk threads,
Message-ID links and the raw mails' S3 keys (on the inbound lines).

No hot key (DESIGN.md section 3): no item in a transaction is shared between customers (a shared
item in concurrent transactions cancels them), and index or counter keys that every message or
every conversation touches are sharded (`shard_of`); items written before the sharding keep their
unsharded keys, which the readers still query.

Rules: no Scan anywhere; writes that must happen once are conditional (the event put, the decision
transaction); every item a customer caused carries `expires_at` (TTL) from the retention setting.
"""
from __future__ import annotations

import hashlib
import os
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from integrations.aws import client

TABLE_NAME = os.environ.get("FIRSTREPLY_TABLE", "firstreply")
EVENT_TTL_DAYS = 30          # dedupe window and the raw inbound; the message copy follows retention
SETTINGS_TTL_SECONDS = 30    # settings and template changes reach running functions within a minute

TABLE_SPEC: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "gsi1pk", "AttributeType": "S"},
        {"AttributeName": "gsi1sk", "AttributeType": "S"},
        {"AttributeName": "gsi2pk", "AttributeType": "S"},
        {"AttributeName": "gsi2sk", "AttributeType": "S"},
    ],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "GlobalSecondaryIndexes": [{
        "IndexName": "gsi1",
        "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"},
                      {"AttributeName": "gsi1sk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }, {
        "IndexName": "gsi2",
        "KeySchema": [{"AttributeName": "gsi2pk", "KeyType": "HASH"},
                      {"AttributeName": "gsi2sk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }],
    "BillingMode": "PAY_PER_REQUEST",
}
TTL_ATTRIBUTE = "expires_at"


# -- (de)serialisation of plain values; the table only holds strings, numbers, maps, lists, bools --
def _av(value: Any) -> dict[str, Any]:
    # the exact types first (what the table mostly holds), by identity of type: one check each
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is dict:
        return {"M": {str(k): _av(v) for k, v in value.items()}}
    if kind is int:
        return {"N": str(value)}
    return _av_any(value)


def _av_any(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float)):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, dict):
        return {"M": {str(k): _av(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [_av(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__}")


def _py(av: dict[str, Any]) -> Any:
    (kind, value), = av.items()
    if kind == "S":
        return value
    if kind == "M":
        return {k: _py(v) for k, v in value.items()}
    if kind == "N":
        return int(value) if value.lstrip("-").isdigit() else float(value)
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: _py(v) for k, v in value.items()}
    if kind == "L":
        return [_py(v) for v in value]
    raise TypeError(f"unexpected attribute type {kind}")


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _av(v) for k, v in data.items() if v is not None}


def from_item(item: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if item is None else {k: _py(v) for k, v in item.items()}


def expiry(moment: datetime, days: int) -> int:
    return int((moment + timedelta(days=days)).timestamp())


# -- write sharding (DESIGN.md section 3: one key takes at most 1,000 writes/s) --
# Index partitions that group many items carry a shard suffix chosen from the item's own id, so an
# item keeps its shard for life (a later update of its sort key lands where it already is) and the
# writes of many conversations spread over the shards. Readers query every shard (and the unsharded
# key items written before the change still carry, so no backfill is needed).
OPEN_SHARDS = 32    # every customer message rewrites gsi1sk: 10,000 msg/s on one channel = ~625 writes/s a shard
DUE_SHARDS = 8      # one task per closed conversation and kind: ~1/10 of the message rate
# The stats read every shard of every day asked (a month: 30 × (1 + FACT_SHARDS + 1 + STATS_SHARDS)
# queries), so these are as few as the write rate allows: facts are ~2 writes per new conversation
# (~0.2 per message), 4 shards keep one under 1,000 writes/s up to ~20,000 messages/s; the survey
# counters take one ADD per survey sent or answered (a few a minute even on a busy day).
FACT_SHARDS = 4
STATS_SHARDS = 2


def shard_of(value: str, shards: int) -> int:
    """A stable shard for `value` (Python's hash() is salted per process, sha256 is not)."""
    return int(hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8], 16) % shards


def open_partition(channel: str, conversation_id: str) -> str:
    return f"OPEN#{channel}#{shard_of(conversation_id, OPEN_SHARDS)}"


def open_partitions(channel: str) -> list[str]:
    """Every partition the close-idle job reads for a channel: the shards and the key used before them."""
    return [f"OPEN#{channel}"] + [f"OPEN#{channel}#{n}" for n in range(OPEN_SHARDS)]


def due_partition(kind: str, conversation_id: str) -> str:
    return f"DUE#{kind}#{shard_of(conversation_id, DUE_SHARDS)}"


def due_partitions(kind: str) -> list[str]:
    return [f"DUE#{kind}"] + [f"DUE#{kind}#{n}" for n in range(DUE_SHARDS)]


def facts_partition(day: str, conversation_id: str) -> str:
    return f"FACTS#{day}#{shard_of(conversation_id, FACT_SHARDS)}"


def facts_partitions(day: str) -> list[str]:
    return [f"FACTS#{day}"] + [f"FACTS#{day}#{n}" for n in range(FACT_SHARDS)]


def stats_partitions(day: str) -> list[str]:
    return [f"STATS#{day}"] + [f"STATS#{day}#{n}" for n in range(STATS_SHARDS)]


# keys written out as attribute values (what to_item makes of them): built for every item a
# message touches
def event_key(channel: str, event_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"EVENT#{channel}#{event_id}"}, "sk": {"S": "EVENT"}}


def chat_key(channel: str, chat_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"CHAT#{channel}#{chat_id}"}, "sk": {"S": "CHAT"}}


def contact_key(channel: str, sender_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"CONTACT#{channel}#{sender_id}"}, "sk": {"S": "PROFILE"}}


def conversation_key(conversation_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"CONV#{conversation_id}"}, "sk": {"S": "META"}}


def task_key(kind: str, conversation_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"TASK#{kind}#{conversation_id}"}, "sk": {"S": "TASK"}}


def key_of(item: dict[str, Any]) -> tuple[str, str]:
    """(pk, sk) of a key as DynamoDB takes it, or of an item or key as `from_item` gives it."""
    pk, sk = item["pk"], item["sk"]
    return (pk["S"], sk["S"]) if isinstance(pk, dict) else (pk, sk)


def unique_keys(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each (pk, sk) once, in the order first given: BatchGetItem refuses a request that names a
    key twice."""
    return list({key_of(k): k for k in keys}.values())


SETTINGS_KEY = to_item({"pk": "SETTINGS", "sk": "CURRENT"})
TEMPLATES_PARTITION = "TEMPLATES"


def version_key(partition: str, version: int) -> dict[str, Any]:
    return to_item({"pk": partition, "sk": f"V#{version:06d}"})



def _from_key(key: dict[str, Any]) -> dict[str, Any]:
    return {k: _py(v) for k, v in key.items()}


def ensure_table(table: str = TABLE_NAME) -> None:
    """Create the table when missing, with TTL and point-in-time recovery (local stand-ins; in AWS
    the infrastructure template declares it)."""
    ddb = client("dynamodb")
    try:
        ddb.describe_table(TableName=table)
        return
    except ddb.exceptions.ResourceNotFoundException:
        pass
    ddb.create_table(TableName=table, **TABLE_SPEC)
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": TTL_ATTRIBUTE})
    ddb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})


# What callers import from the package, loaded on first use: the webhook's put must not pull in the
# worker's store, the admin code or the settings parser.
_LAZY = {
    "DynamoStore": "store", "store_event": "events", "VersionConflict": "admin",
    "take_slot": "channels", "reserve_slot": "channels", "take_spare": "channels", "hold_slot": "channels",
    "held_slots": "channels", "message_id_key": "channels", "remember_message_ids": "channels",
    "find_thread": "channels", "get_cursor": "channels", "set_cursor": "channels",
    "latency_bucket": "stats", "stats_update": "stats",
}



def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
