"""The one DynamoDB table (single-table design) and the store the core uses.

Key design. `pk`/`sk` are strings; `gsi1pk`/`gsi1sk` form a sparse index that only due work carries.

| item          | pk                              | sk                         | access pattern                                   |
|---------------|---------------------------------|----------------------------|--------------------------------------------------|
| event         | EVENT#{channel}#{event_id}      | EVENT                      | webhook: conditional put = dedupe + store inbound; worker: get by key |
| chat          | CHAT#{channel}#{chat_id}        | CHAT                       | worker: the chat's current conversation (get)    |
| contact       | CONTACT#{channel}#{sender_id}   | PROFILE                    | worker: name, language, last ack (get)           |
| conversation  | CONV#{conversation_id}          | META                       | get by id; gsi1pk=OPEN#{channel}, gsi1sk=last activity while open: the close-idle job queries what went idle |
| message       | CONV#{conversation_id}          | MSG#{time}#{in/out}#{id}   | transcript: query pk, sk begins_with MSG#, in order; {time} is ours (the worker's clock when it stored or sent it), the channel's own time is kept as `channel_at` |
| task          | TASK#{kind}#{conversation_id}   | TASK                       | jobs: gsi1pk=DUE#{kind}, gsi1sk=due time while due (transcript, survey); claimed with a conditional update, the index keys removed when done |
| settings      | SETTINGS                        | CURRENT                    | every function: get with the templates (cached 30 s); admin: version check on save |
| settings hist.| SETTINGS                        | V#{version:06d}            | admin: who changed what when (query, newest first) |
| template      | TEMPLATES                       | {NAME.CHANNEL.LANGUAGE}    | every function: query the partition = all edited templates, loaded with the settings |
| template ver. | TEMPLATE#{id}                   | V#{version:06d}            | admin: history and rollback (query newest first; get one) |
| rate window   | RATE#{what}                     | WINDOW#{n}                 | sender: one conditional ADD per send (X DM limit) |
| stats         | STATS#{YYYY-MM-DD}              | {channel}                  | stats: one query per day; counters ADDed in the transaction of what they count |
| cursor        | CURSOR#{job}                    | CURSOR                     | pollers: where to resume (X mentions since_id)    |
| message id    | MSGID#{email Message-ID}        | MSGID                      | email: which chat a reply's In-Reply-To/References belong to (batch get) |

Rules: no Scan anywhere; writes that must happen once are conditional (the event put, the decision
transaction); every item a customer caused carries `expires_at` (TTL) from the retention setting.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
import time as _time
from datetime import datetime, timedelta
from typing import Any

from functions.clock import iso
from functions.models import ChatState, Contact, Decision, InboundMessage, SentMessage
from functions.settings import Settings, load_settings_file, parse_settings
from functions.stats import LATENCY_BUCKETS
from integrations.aws import client

log = logging.getLogger(__name__)

TABLE_NAME = os.environ.get("FIRSTREPLY_TABLE", "firstreply")
EVENT_TTL_DAYS = 30          # dedupe window and the raw inbound; the message copy follows retention
SETTINGS_TTL_SECONDS = 30    # settings and template changes reach running functions within a minute

TABLE_SPEC: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "gsi1pk", "AttributeType": "S"},
        {"AttributeName": "gsi1sk", "AttributeType": "S"},
    ],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "GlobalSecondaryIndexes": [{
        "IndexName": "gsi1",
        "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"},
                      {"AttributeName": "gsi1sk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }],
    "BillingMode": "PAY_PER_REQUEST",
}
TTL_ATTRIBUTE = "expires_at"


# -- (de)serialisation of plain values; the table only holds strings, numbers, maps, lists, bools --
def _av(value: Any) -> dict[str, Any]:
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


def event_key(channel: str, event_id: str) -> dict[str, Any]:
    return to_item({"pk": f"EVENT#{channel}#{event_id}", "sk": "EVENT"})


def chat_key(channel: str, chat_id: str) -> dict[str, Any]:
    return to_item({"pk": f"CHAT#{channel}#{chat_id}", "sk": "CHAT"})


def contact_key(channel: str, sender_id: str) -> dict[str, Any]:
    return to_item({"pk": f"CONTACT#{channel}#{sender_id}", "sk": "PROFILE"})


def conversation_key(conversation_id: str) -> dict[str, Any]:
    return to_item({"pk": f"CONV#{conversation_id}", "sk": "META"})




def latency_bucket(seconds: float) -> str:
    return f"ack_le_{next((b for b in LATENCY_BUCKETS if seconds <= b), 'more')}"


def stats_key(channel: str, day: str) -> dict[str, Any]:
    return to_item({"pk": f"STATS#{day}", "sk": channel})


def stats_update(table: str, channel: str, now: datetime, increments: dict[str, int]) -> dict[str, Any]:
    """A transaction item adding to the day's counters of a channel (written with the event it
    counts, so a retried event cannot count twice)."""
    names = {f"#c{i}": name for i, name in enumerate(increments)}
    values = {f":v{i}": value for i, value in enumerate(increments.values())}
    return {"Update": {"TableName": table, "Key": stats_key(channel, now.strftime("%Y-%m-%d")),
                       "UpdateExpression": "ADD " + ", ".join(f"#c{i} :v{i}" for i in range(len(increments))),
                       "ExpressionAttributeNames": names, "ExpressionAttributeValues": to_item(values)}}


def task_key(kind: str, conversation_id: str) -> dict[str, Any]:
    return to_item({"pk": f"TASK#{kind}#{conversation_id}", "sk": "TASK"})


SETTINGS_KEY = to_item({"pk": "SETTINGS", "sk": "CURRENT"})
TEMPLATES_PARTITION = "TEMPLATES"


class VersionConflict(Exception):
    """A save that expected another current version: someone saved in between."""

    def __init__(self, current: int):
        super().__init__(f"the current version is {current}")
        self.current = current


def version_key(partition: str, version: int) -> dict[str, Any]:
    return to_item({"pk": partition, "sk": f"V#{version:06d}"})


# -- the webhook side: one conditional put, no reads ---------------------------------------------
def store_event(inbound: InboundMessage, now: datetime) -> str:
    """Store what arrived, once. Returns "new", "pending" (seen before, not yet handled: enqueue
    again, the earlier enqueue may have failed) or "done" (a true duplicate)."""
    ddb = client("dynamodb")
    item = to_item({
        "pk": f"EVENT#{inbound.channel}#{inbound.event_id}", "sk": "EVENT",
        "inbound": inbound.to_dict(), "status": "received", "received_at": iso(now),
        TTL_ATTRIBUTE: expiry(now, EVENT_TTL_DAYS),
    })
    try:
        ddb.put_item(TableName=TABLE_NAME, Item=item, ConditionExpression="attribute_not_exists(pk)",
                     ReturnValuesOnConditionCheckFailure="ALL_OLD")
        return "new"
    except ddb.exceptions.ConditionalCheckFailedException as exc:
        old = from_item(exc.response.get("Item")) or from_item(
            ddb.get_item(TableName=TABLE_NAME, Key=event_key(inbound.channel, inbound.event_id),
                         ConsistentRead=True).get("Item")) or {}
        return "done" if old.get("status") == "done" else "pending"


# -- the worker side ------------------------------------------------------------------------------
class DynamoStore:
    """The `functions.ports.Store` the worker uses."""

    def __init__(self, table: str = TABLE_NAME, config_path: str | None = None):
        self.table = table
        self.config_path = config_path or os.environ.get("FIRSTREPLY_CONFIG", "firstreply.yaml")
        self._settings: tuple[float, Settings] | None = None
        self._lock = threading.Lock()

    @property
    def ddb(self):
        return client("dynamodb")

    def get_event(self, channel: str, event_id: str) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table, Key=event_key(channel, event_id),
                                           ConsistentRead=True).get("Item"))

    def load_context(self, inbound: InboundMessage) -> tuple[Contact | None, ChatState | None]:
        keys = [contact_key(inbound.channel, inbound.sender_id), chat_key(inbound.channel, inbound.chat_id)]
        request = {self.table: {"Keys": keys, "ConsistentRead": True}}
        found: list[dict[str, Any]] = []
        for _ in range(5):   # BatchGetItem may hand back unprocessed keys under load
            answer = self.ddb.batch_get_item(RequestItems=request)
            found += [from_item(i) for i in answer.get("Responses", {}).get(self.table, [])]
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
            _time.sleep(0.05)
        contact = chat = None
        for item in found:
            if item["pk"].startswith("CONTACT#"):
                known = {f.name for f in dataclasses.fields(Contact)} - {"channel", "sender_id"}
                contact = Contact(channel=inbound.channel, sender_id=inbound.sender_id,
                                  **{k: v for k, v in item.items() if k in known and isinstance(v, str)})
            else:
                chat = ChatState(conversation_id=item["conversation_id"], status=item["status"],
                                 opened_at=item["opened_at"], last_activity_at=item["last_activity_at"],
                                 reference=item["reference"])
        return contact, chat

    def commit_decision(self, inbound: InboundMessage, decision: Decision, previous: ChatState | None,
                        now: datetime, settings: Settings) -> bool:
        """One transaction: the decision on the event, the message in its conversation, the chat
        and conversation moved, the contact's profile (and last ack) updated. It fails, and the
        caller reads again, when the event was decided or the chat moved in the meantime."""
        at = iso(now)
        keep = expiry(now, settings.retention_days)
        event_expiry = expiry(now, min(EVENT_TTL_DAYS, settings.retention_days))
        cid = decision.conversation_id
        items: list[dict[str, Any]] = [{"Update": {
            "TableName": self.table, "Key": event_key(inbound.channel, inbound.event_id),
            "UpdateExpression": "SET decision = :d, decided_at = :t, #ttl = :e",
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(decision)",
            "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE},
            "ExpressionAttributeValues": to_item({":d": decision.to_dict(), ":t": at, ":e": event_expiry}),
        }}]
        chat_condition = ("attribute_not_exists(pk)" if previous is None
                          else "conversation_id = :old AND last_activity_at = :seen")
        chat_values = {} if previous is None else {":old": previous.conversation_id,
                                                   ":seen": previous.last_activity_at}
        if decision.new_conversation:
            items.append({"Put": {
                "TableName": self.table,
                "Item": to_item({
                    **_from_key(chat_key(inbound.channel, inbound.chat_id)),
                    "conversation_id": cid, "status": "open", "opened_at": at, "last_activity_at": at,
                    "reference": decision.reference, TTL_ATTRIBUTE: keep}),
                "ConditionExpression": chat_condition,
                **({"ExpressionAttributeValues": to_item(chat_values)} if chat_values else {}),
            }})
            items.append({"Put": {
                "TableName": self.table,
                "Item": to_item({
                    **_from_key(conversation_key(cid)),
                    "conversation_id": cid, "channel": inbound.channel, "chat_id": inbound.chat_id,
                    "contact": f"{inbound.channel}#{inbound.sender_id}", "status": "open",
                    "opened_at": at, "last_activity_at": at, "reference": decision.reference,
                    "messages": 1, "ack": "pending" if decision.acknowledge else decision.reason,
                    "gsi1pk": f"OPEN#{inbound.channel}", "gsi1sk": at, TTL_ATTRIBUTE: keep}),
                "ConditionExpression": "attribute_not_exists(pk)",
            }})
        else:
            items.append({"Update": {
                "TableName": self.table, "Key": chat_key(inbound.channel, inbound.chat_id),
                "UpdateExpression": "SET last_activity_at = :t, #ttl = :e",
                "ConditionExpression": chat_condition,
                "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE},
                "ExpressionAttributeValues": to_item({":t": at, ":e": keep, **chat_values}),
            }})
            items.append({"Update": {
                "TableName": self.table, "Key": conversation_key(cid),
                "UpdateExpression": "SET last_activity_at = :t, gsi1sk = :t, #ttl = :e ADD messages :one",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE},
                "ExpressionAttributeValues": to_item({":t": at, ":e": keep, ":one": 1}),
            }})
        items.append({"Put": {
            "TableName": self.table,
            "Item": to_item({
                "pk": f"CONV#{cid}", "sk": f"MSG#{at}#in#{inbound.event_id}",
                "direction": "in", "channel": inbound.channel, "message_id": inbound.message_id,
                "sender_id": inbound.sender_id, "text": inbound.text, "media": inbound.media,
                "subject": inbound.subject or None, "no_reply": inbound.no_reply or None,
                "details": inbound.details or None, "sent_at": at, "channel_at": inbound.received_at,
                TTL_ATTRIBUTE: keep}),
        }})
        # Only what the channel told us: Slack and X send ids, the names come from a lookup that
        # may have failed; an empty value must not erase a cached one.
        profile: dict[str, Any] = {":t": at, ":e": keep}
        sets = ["last_seen_at = :t", "#ttl = :e"]
        names = {"#ttl": TTL_ATTRIBUTE}
        for field_name, placeholder in (("first_name", ":f"), ("name", ":n"), ("language_code", ":l")):
            value = getattr(inbound, field_name)
            if value:
                names[f"#{field_name}"] = field_name
                sets.append(f"#{field_name} = {placeholder}")
                profile[placeholder] = value
        update = "SET " + ", ".join(sets)
        condition = None
        if decision.acknowledge:
            # the gap holds even if two chats of one contact race: only one can move last_ack_at
            update += ", last_ack_at = :t"
            condition = "attribute_not_exists(last_ack_at) OR last_ack_at < :gap"
            profile[":gap"] = iso(now - timedelta(minutes=settings.contact_gap_minutes))
        if decision.new_conversation:
            items.append(stats_update(self.table, inbound.channel, now, {"conversations": 1}))
        items.append({"Update": {
            "TableName": self.table, "Key": contact_key(inbound.channel, inbound.sender_id),
            "UpdateExpression": update,
            **({"ConditionExpression": condition} if condition else {}),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(profile),
        }})
        try:
            self.ddb.transact_write_items(TransactItems=items)
            return True
        except self.ddb.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if any(r not in (None, "None", "ConditionalCheckFailed") for r in reasons):
                raise   # a conflict or throttle: the queue retries the whole message
            log.info("decision not committed (%s), reading again", reasons)
            return False

    def record_ack_sent(self, inbound: InboundMessage, decision: Decision, sent: SentMessage,
                        language: str, settings: Settings, plain: str = "") -> None:
        """One transaction: the message, the event done, the conversation's ack, the day's counters.
        The worker retries it when it fails (`functions.pipeline.record_sent`). Every part is a SET
        or a Put of the same key, except the counters' ADD: a try that DynamoDB committed but whose
        answer was lost would count twice on the retry, so the request carries a
        ClientRequestToken made from its own content — DynamoDB applies a repeated identical
        transaction once (for ten minutes)."""
        now = datetime.fromisoformat(sent.sent_at.replace("Z", "+00:00"))
        keep = expiry(now, settings.retention_days)
        cid = decision.conversation_id
        received = datetime.fromisoformat(inbound.received_at.replace("Z", "+00:00"))
        latency = max((now - received).total_seconds(), 0.0)
        items = [
            stats_update(self.table, inbound.channel, now, {"acks": 1, latency_bucket(latency): 1}),
            {"Put": {"TableName": self.table, "Item": to_item({
                "pk": f"CONV#{cid}", "sk": f"MSG#{sent.sent_at}#out#{sent.message_id}",
                "direction": "out", "kind": "ack", "channel": sent.channel, "message_id": sent.message_id,
                "text": sent.text, "plain": plain or None, "language": language, "sent_at": sent.sent_at,
                "channel_at": sent.extra.get("channel_at"), TTL_ATTRIBUTE: keep})}},
            {"Update": {
                "TableName": self.table, "Key": event_key(inbound.channel, inbound.event_id),
                "UpdateExpression": "SET #s = :done, ack_sent_at = :t, ack_message_id = :m",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": to_item({":done": "done", ":t": sent.sent_at,
                                                      ":m": sent.message_id})}},
            {"Update": {
                "TableName": self.table, "Key": conversation_key(cid),
                "UpdateExpression": "SET ack = :sent, acked_at = :t, ack_message_id = :m, #lang = :l",
                "ExpressionAttributeNames": {"#lang": "language"},
                "ExpressionAttributeValues": to_item({":sent": "sent", ":t": sent.sent_at,
                                                      ":m": sent.message_id, ":l": language})}},
        ]
        token = hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:36]
        self.ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)

    def remember_ack_sent(self, inbound: InboundMessage, sent: SentMessage, language: str,
                          plain: str = "") -> None:
        """The fallback when the record above keeps failing: the one fact that must survive — the
        channel took this acknowledgement — on the event alone (one small item, one write), so
        the redelivered queue message completes the record instead of sending again."""
        self.ddb.update_item(
            TableName=self.table, Key=event_key(inbound.channel, inbound.event_id),
            UpdateExpression="SET #a = :a", ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#a": "ack_sent"},
            ExpressionAttributeValues=to_item({":a": {
                "sent": dataclasses.asdict(sent), "language": language, "plain": plain}}))

    def record_ack_failed(self, inbound: InboundMessage, decision: Decision, reason: str) -> None:
        self.ddb.transact_write_items(TransactItems=[
            {"Update": {
                "TableName": self.table, "Key": event_key(inbound.channel, inbound.event_id),
                "UpdateExpression": "SET #s = :done, ack_error = :r",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": to_item({":done": "done", ":r": reason[:500]})}},
            {"Update": {
                "TableName": self.table, "Key": conversation_key(decision.conversation_id),
                "UpdateExpression": "SET ack = :failed, ack_error = :r",
                "ExpressionAttributeValues": to_item({":failed": "failed", ":r": reason[:500]})}},
        ])

    def mark_done(self, inbound: InboundMessage) -> None:
        self.ddb.update_item(TableName=self.table, Key=event_key(inbound.channel, inbound.event_id),
                             UpdateExpression="SET #s = :done", ExpressionAttributeNames={"#s": "status"},
                             ExpressionAttributeValues=to_item({":done": "done"}))

    # -- settings -------------------------------------------------------------------------------
    def load_settings(self) -> Settings:
        """The settings with the admins' edited templates; read at most every 30 s per container."""
        with self._lock:
            cached = self._settings
            if cached and _time.monotonic() - cached[0] < SETTINGS_TTL_SECONDS:
                return cached[1]
            item = self.settings_record()
            if item:
                settings = parse_settings(json.loads(item["document"]))
            else:   # never seeded: the file that ships with the deployment
                settings = load_settings_file(self.config_path)
            settings = dataclasses.replace(settings, templates={
                identifier: t["source"] for identifier, t in self.edited_templates().items()})
            self._settings = (_time.monotonic(), settings)
            return settings

    def settings_record(self) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table, Key=SETTINGS_KEY,
                                           ConsistentRead=True).get("Item"))

    def save_settings(self, settings: Settings, by: str, now: datetime,
                      expected_version: int | None = None) -> int:
        """Store a validated settings document as a new version, with a history entry of who and
        when; `expected_version` (0: never saved) guards against overwriting someone's change."""
        record = self.settings_record()
        current = int(record.get("version", 0)) if record else 0
        document = json.dumps(settings.source, ensure_ascii=False)
        return self._save_version(SETTINGS_KEY, "SETTINGS", current, expected_version,
                                  {"document": document, "updated_at": iso(now), "updated_by": by})

    def settings_history(self, limit: int = 20) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.items() if k not in ("pk", "sk")}
                for item in self._query("SETTINGS", "V#", newest_first=True, limit=limit)]

    # -- templates edited by admins ---------------------------------------------------------------
    def template(self, identifier: str) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table, ConsistentRead=True, Key=to_item(
            {"pk": TEMPLATES_PARTITION, "sk": identifier})).get("Item"))

    def edited_templates(self) -> dict[str, dict[str, Any]]:
        return {t["sk"]: t for t in self._query(TEMPLATES_PARTITION)}

    def template_versions(self, identifier: str, limit: int = 50) -> list[dict[str, Any]]:
        return self._query(f"TEMPLATE#{identifier}", "V#", newest_first=True, limit=limit)

    def template_version(self, identifier: str, version: int) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table,
                                           Key=version_key(f"TEMPLATE#{identifier}", version)).get("Item"))

    def save_template(self, identifier: str, source: str, expected_version: int, by: str, now: datetime,
                      note: str = "") -> int:
        """Save a checked source as the template's next version (the shipped file is version 0)."""
        key = to_item({"pk": TEMPLATES_PARTITION, "sk": identifier})
        record = self.template(identifier)
        current = int(record["version"]) if record else 0
        return self._save_version(key, f"TEMPLATE#{identifier}", current, expected_version,
                                  {"source": source, "updated_at": iso(now), "updated_by": by, "note": note})

    def _save_version(self, key: dict[str, Any], history: str, current: int, expected: int | None,
                      fields: dict[str, Any]) -> int:
        """Put the current item and its history entry in one transaction, on the condition that
        the current version is still the one the writer saw; this container's cached settings
        (which carry the templates) are dropped."""
        if expected is not None and expected != current:
            raise VersionConflict(current)
        version = current + 1
        condition = ({"ConditionExpression": "attribute_not_exists(pk)"} if current == 0 else
                     {"ConditionExpression": "version = :seen",
                      "ExpressionAttributeValues": to_item({":seen": current})})
        try:
            self.ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "Item": {**key, **to_item({**fields, "version": version})},
                         **condition}},
                {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
                         "Item": {**version_key(history, version), **to_item({**fields, "version": version})}}},
            ])
        except self.ddb.exceptions.TransactionCanceledException:
            raise VersionConflict(current) from None
        with self._lock:
            self._settings = None
        return version

    def _query(self, partition: str, prefix: str = "", newest_first: bool = False, limit: int | None = None,
               consistent: bool = False) -> list[dict[str, Any]]:
        """The items of one partition (those whose sort key starts with `prefix`), every page of
        them or the first `limit`."""
        condition, values = "pk = :p", {":p": partition}
        if prefix:
            condition, values = condition + " AND begins_with(sk, :s)", {**values, ":s": prefix}
        pages = self.ddb.get_paginator("query").paginate(
            TableName=self.table, KeyConditionExpression=condition, ExpressionAttributeValues=to_item(values),
            ScanIndexForward=not newest_first, ConsistentRead=consistent,
            PaginationConfig={"MaxItems": limit, "PageSize": limit} if limit else {})
        return [from_item(i) for page in pages for i in page.get("Items", [])]

    # -- scheduled work: found through the sparse index, claimed with a conditional write ----------
    def _query_index(self, partition: str, until: str) -> list[dict[str, Any]]:
        """Items of one index partition whose sort key is at most `until`: only what is due is read."""
        pages = self.ddb.get_paginator("query").paginate(
            TableName=self.table, IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :p AND gsi1sk <= :until",
            ExpressionAttributeValues=to_item({":p": partition, ":until": until}))
        return [from_item(i) for page in pages for i in page.get("Items", [])]

    def idle_conversations(self, channel: str, idle_since: datetime) -> list[dict[str, Any]]:
        return self._query_index(f"OPEN#{channel}", iso(idle_since))

    def close_conversation(self, conversation: dict[str, Any], now: datetime,
                           tasks: list[tuple[str, datetime]]) -> bool:
        """Close a conversation that is still as idle as when it was read, and make its follow-up
        work (transcript, survey) due; False when a message arrived in between."""
        cid, at = conversation["conversation_id"], iso(now)
        items: list[dict[str, Any]] = [
            {"Update": {"TableName": self.table, "Key": conversation_key(cid),
                        "UpdateExpression": "SET #s = :closed, closed_at = :t REMOVE gsi1pk, gsi1sk",
                        "ConditionExpression": "#s = :open AND last_activity_at = :seen",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": to_item({":closed": "closed", ":open": "open", ":t": at,
                                                              ":seen": conversation["last_activity_at"]})}},
            {"Update": {"TableName": self.table,
                        "Key": chat_key(conversation["channel"], conversation["chat_id"]),
                        "UpdateExpression": "SET #s = :closed",
                        "ConditionExpression": "conversation_id = :cid",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": to_item({":closed": "closed", ":cid": cid})}},
        ]
        for kind, due in tasks:
            items.append({"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
                                  "Item": to_item({**_from_key(task_key(kind, cid)), "kind": kind,
                                                   "conversation_id": cid, "created_at": at,
                                                   "gsi1pk": f"DUE#{kind}", "gsi1sk": iso(due),
                                                   TTL_ATTRIBUTE: expiry(now, 60)})}})
        try:
            self.ddb.transact_write_items(TransactItems=items)
            return True
        except self.ddb.exceptions.TransactionCanceledException:
            return False

    def due_tasks(self, kind: str, now: datetime) -> list[dict[str, Any]]:
        return self._query_index(f"DUE#{kind}", iso(now))

    def claim_task(self, kind: str, conversation_id: str, now: datetime, stale_after: timedelta) -> bool:
        """One runner gets the task; a claim older than `stale_after` (a crashed run) may be taken."""
        try:
            self.ddb.update_item(
                TableName=self.table, Key=task_key(kind, conversation_id),
                UpdateExpression="SET claimed_at = :t",
                ConditionExpression="attribute_exists(gsi1pk) AND (attribute_not_exists(claimed_at) "
                                    "OR claimed_at < :stale)",
                ExpressionAttributeValues=to_item({":t": iso(now), ":stale": iso(now - stale_after)}))
            return True
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False

    def finish_task(self, kind: str, conversation_id: str, now: datetime, outcome: str) -> None:
        self.ddb.update_item(
            TableName=self.table, Key=task_key(kind, conversation_id),
            UpdateExpression="SET done_at = :t, outcome = :o REMOVE gsi1pk, gsi1sk, claimed_at",
            ExpressionAttributeValues=to_item({":t": iso(now), ":o": outcome[:300]}))

    def release_task(self, kind: str, conversation_id: str, error: str) -> None:
        """Give a failed task back to the next run."""
        self.ddb.update_item(
            TableName=self.table, Key=task_key(kind, conversation_id),
            UpdateExpression="SET last_error = :e REMOVE claimed_at ADD attempts :one",
            ExpressionAttributeValues=to_item({":e": error[:300], ":one": 1}))

    def reschedule_task(self, kind: str, conversation_id: str, due: datetime) -> None:
        self.ddb.update_item(
            TableName=self.table, Key=task_key(kind, conversation_id),
            UpdateExpression="SET gsi1pk = :p, gsi1sk = :due REMOVE claimed_at",
            ExpressionAttributeValues=to_item({":p": f"DUE#{kind}", ":due": iso(due)}))

    def update_conversation(self, conversation_id: str, **fields: Any) -> None:
        names = {f"#{k}": k for k in fields}
        self.ddb.update_item(
            TableName=self.table, Key=conversation_key(conversation_id),
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names, ExpressionAttributeValues=to_item({f":{k}": v for k, v in fields.items()}))

    def add_stats(self, channel: str, now: datetime, **increments: int) -> None:
        self.ddb.update_item(**stats_update(self.table, channel, now, increments)["Update"])

    def stats_days(self, days: list[str]) -> list[dict[str, Any]]:
        """The counter items of those days (a Query per day: one partition each, all channels)."""
        return [item for day in days for item in self._query(f"STATS#{day}")]

    def update_contact(self, channel: str, sender_id: str, **fields: Any) -> None:
        names = {f"#{k}": k for k in fields}
        self.ddb.update_item(
            TableName=self.table, Key=contact_key(channel, sender_id),
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            ExpressionAttributeNames=names, ExpressionAttributeValues=to_item({f":{k}": v for k, v in fields.items()}))

    # -- reading conversations (dev page, tests, transcripts) -------------------------------------
    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table, Key=conversation_key(conversation_id),
                                           ConsistentRead=True).get("Item"))

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        return self._query(f"CONV#{conversation_id}", "MSG#", consistent=True)

    def chat(self, channel: str, chat_id: str) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table, Key=chat_key(channel, chat_id),
                                           ConsistentRead=True).get("Item"))

    def contact(self, channel: str, sender_id: str) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table, Key=contact_key(channel, sender_id),
                                           ConsistentRead=True).get("Item"))


def take_slot(key: str, limit: int, window_seconds: int, now: datetime) -> float:
    """Take one of `limit` uses of `key` in the current fixed window (one conditional update);
    returns 0 when taken, else the seconds until the next window opens."""
    window = int(now.timestamp()) // window_seconds
    ddb = client("dynamodb")
    try:
        ddb.update_item(
            TableName=TABLE_NAME, Key=to_item({"pk": f"RATE#{key}", "sk": f"WINDOW#{window}"}),
            UpdateExpression="ADD used :one SET #ttl = :e",
            ConditionExpression="attribute_not_exists(used) OR used < :limit",
            ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues=to_item({":one": 1, ":limit": limit,
                                               ":e": (window + 2) * window_seconds}))
        return 0.0
    except ddb.exceptions.ConditionalCheckFailedException:
        return max((window + 1) * window_seconds - now.timestamp(), 1.0)


def message_id_key(message_id: str) -> str:
    """SES replaces the Message-ID of what we send with `<SES-ID@REGION.amazonses.com>` (the domain
    differs by region): such ids are keyed by the SES id alone."""
    inner = message_id.strip().strip("<>").lower()
    local, _, domain = inner.partition("@")
    key = local if domain.endswith("amazonses.com") else inner
    # a Message-ID has no length limit a sender must keep: a long one keys by its hash (both when
    # it is remembered and when a reply names it), within the partition key's 2,048 bytes
    if len(key.encode("utf-8", "surrogatepass")) > 512:
        key = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key


def remember_message_ids(message_ids: list[str], chat_id: str, now: datetime, days: int = 400) -> None:
    """Map Message-IDs of a thread to its chat, so a reply naming any of them joins it."""
    requests = [{"PutRequest": {"Item": to_item({
        "pk": f"MSGID#{message_id_key(m)}", "sk": "MSGID", "chat_id": chat_id,
        TTL_ATTRIBUTE: expiry(now, days)})}} for m in dict.fromkeys(message_ids) if m.strip("<> ")]
    ddb = client("dynamodb")
    for start in range(0, len(requests), 25):
        batch = {TABLE_NAME: requests[start:start + 25]}
        for _ in range(5):
            batch = ddb.batch_write_item(RequestItems=batch).get("UnprocessedItems") or {}
            if not batch:
                break
            _time.sleep(0.05)


def find_thread(message_ids: list[str]) -> str | None:
    """The chat of the first of `message_ids` we know (In-Reply-To first, then References)."""
    keys = list(dict.fromkeys(message_id_key(m) for m in message_ids if m.strip("<> ")))[:100]
    if not keys:
        return None
    answer = client("dynamodb").batch_get_item(RequestItems={TABLE_NAME: {
        "Keys": [to_item({"pk": f"MSGID#{k}", "sk": "MSGID"}) for k in keys]}})
    found = {from_item(i)["pk"][len("MSGID#"):]: from_item(i)["chat_id"]
             for i in answer.get("Responses", {}).get(TABLE_NAME, [])}
    return next((found[k] for k in keys if k in found), None)


def get_cursor(name: str) -> str | None:
    item = from_item(client("dynamodb").get_item(
        TableName=TABLE_NAME, Key=to_item({"pk": f"CURSOR#{name}", "sk": "CURSOR"}),
        ConsistentRead=True).get("Item"))
    return item.get("value") if item else None


def set_cursor(name: str, value: str, now: datetime) -> None:
    client("dynamodb").put_item(TableName=TABLE_NAME, Item=to_item({
        "pk": f"CURSOR#{name}", "sk": "CURSOR", "value": value, "updated_at": iso(now)}))


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
