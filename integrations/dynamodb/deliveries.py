"""Deliveries: what Meta's status callbacks say became of a message we sent (sent, delivered, read,
failed with its error codes), one item per outbound message id.

Key design: `DELIVERY#{channel}#{message_id}` / `DELIVERY` — the id is the one stored as
`message_id` on our outbound message item (the ack, an agent reply, a survey), so any outbound
message's fate is one GetItem away. Written by the webhook with one UpdateItem per status: each
status keeps the time it was first reported, so a redelivered callback changes nothing and callbacks
arriving out of order (read before delivered) still leave the full picture.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from integrations.aws import client
from integrations.dynamodb import EVENT_TTL_DAYS, TABLE_NAME, TTL_ATTRIBUTE, expiry, from_item, to_item

ORDER = ("sent", "delivered", "read", "failed")   # later wins, failed above all


def delivery_key(channel: str, message_id: str) -> dict[str, Any]:
    return to_item({"pk": f"DELIVERY#{channel}#{message_id}", "sk": "DELIVERY"})


def record_status(update, now: datetime) -> None:
    status = update.status if update.status in ORDER else "other"
    values: dict[str, Any] = {":at": update.at, ":r": update.recipient or None, ":e": expiry(now, EVENT_TTL_DAYS)}
    sets = ["#at = if_not_exists(#at, :at)", "#ttl = :e"]
    names = {"#at": f"{status}_at", "#ttl": TTL_ATTRIBUTE}
    if update.recipient:
        sets.append("recipient = :r")
    else:
        values.pop(":r")
    if update.errors:
        sets.append("errors = :errors")
        values[":errors"] = [{k: v for k, v in e.items() if v not in (None, "")} for e in update.errors]
    client("dynamodb").update_item(
        TableName=TABLE_NAME, Key=delivery_key(update.channel, update.message_id),
        UpdateExpression="SET " + ", ".join(sets), ExpressionAttributeNames=names,
        ExpressionAttributeValues=to_item(values))


def delivery(channel: str, message_id: str) -> dict[str, Any] | None:
    """The recorded statuses of one outbound message, with `status` the furthest it got."""
    item = from_item(client("dynamodb").get_item(TableName=TABLE_NAME, Key=delivery_key(channel, message_id),
                                                 ConsistentRead=True).get("Item"))
    if item is not None:
        item["status"] = next((s for s in reversed(ORDER) if f"{s}_at" in item), "other")
    return item
