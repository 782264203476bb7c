"""Events: what arrived from a channel, stored once by the webhook (the dedupe key and the raw
inbound), then decided on and marked done by the worker."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.clock import iso
from functions.models import InboundMessage
from integrations.aws import client
from integrations.dynamodb import EVENT_TTL_DAYS, TABLE_NAME, TTL_ATTRIBUTE, event_key, expiry, from_item, to_item


# the webhook side: one conditional put, no reads
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


class EventStore:
    """The worker's reads and writes of events (a mixin of `DynamoStore`)."""

    def get_event(self, channel: str, event_id: str) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table, Key=event_key(channel, event_id),
                                           ConsistentRead=True).get("Item"))

    def mark_done(self, inbound: InboundMessage) -> None:
        self.ddb.update_item(TableName=self.table, Key=event_key(inbound.channel, inbound.event_id),
                             UpdateExpression="SET #s = :done", ExpressionAttributeNames={"#s": "status"},
                             ExpressionAttributeValues=to_item({":done": "done"}))
