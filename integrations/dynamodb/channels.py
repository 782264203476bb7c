"""What channels need beside conversations: send windows (X's DM limit), pollers' cursors, and the
email Message-IDs that thread a reply into its chat."""
from __future__ import annotations

import hashlib
import time as _time
from datetime import datetime

from functions.clock import iso
from integrations.aws import client
from integrations.dynamodb import TABLE_NAME, TTL_ATTRIBUTE, expiry, from_item, to_item


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
