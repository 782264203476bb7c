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


# Sends a channel takes in one window, reserved in order: each window is its own partition key
# (`RATE#{key}#{window}`), so a long backlog spreads over as many keys as it has seconds, and one
# second's key takes its slots plus the tries that found it full, not the whole backlog's writes.
RESERVE_HOPS = 8
# Per container, the window where a key's room was last seen to begin: at a burst, tries start
# there instead of all hitting the full current window's key. Only trusted an hour ahead (a clock
# set back, a table made anew, must not send a container's messages hours late).
_frontier: dict[str, int] = {}
FRONTIER_HORIZON = 3600


def spare(limit: int) -> int:
    """Sends of a window kept back from reservations, for held messages that came back after
    their own window had passed (a queue or a batch ahead of them was slow): a tenth, none at 1."""
    return min(-(-limit // 10), limit - 1)


def reserve_slot(key: str, limit: int, window_seconds: int, at: float) -> float:
    """Reserve one of the `limit` sends of `key` per window (less its `spare`), at `at` (epoch
    seconds) or in the first window after it with room; returns the reserved moment (a window's
    sends spread evenly over it, as the channels count them over any second, not the calendar's).

    Unlike `take_slot` this never answers "try again": a message that is told to wait holds its
    place, so under contention nobody waits twice (issue 18). An ADD with no condition counts every
    try, the ones past the room included: a count of `room + k` says k tries overflowed the window,
    so the k-th jumps k/room windows ahead instead of probing each in turn."""
    ddb = client("dynamodb")
    room = limit - spare(limit)
    window = int(at // window_seconds)
    if 0 < _frontier.get(key, 0) - window <= FRONTIER_HORIZON // window_seconds:
        window = _frontier[key]
    for _ in range(RESERVE_HOPS):
        used = _count(ddb, key, window, window_seconds, "used")
        if used <= room:
            if used == room:
                _frontier[key] = window + 1
            return max(at, window * window_seconds + (used - 1) * window_seconds / room)
        window += -(-(used - room) // room)
        _frontier[key] = window
    # every window tried was full (a backlog growing faster than the hops): go after the last, a
    # window without a counted place; rarer than the channel's own "retry after", which we also obey
    return float(window * window_seconds)


def take_spare(key: str, limit: int, window_seconds: int, at: float) -> bool:
    """One of the window's spare sends, for a held message that came back late: True if taken."""
    return _count(client("dynamodb"), key, int(at // window_seconds), window_seconds, "late") <= spare(limit)


def _count(ddb, key: str, window: int, window_seconds: int, counter: str) -> int:
    return int(ddb.update_item(
        TableName=TABLE_NAME, Key=to_item({"pk": f"RATE#{key}#{window}", "sk": "WINDOW"}),
        UpdateExpression="ADD #n :one SET #ttl = if_not_exists(#ttl, :e)",
        ExpressionAttributeNames={"#n": counter, "#ttl": TTL_ATTRIBUTE},
        ExpressionAttributeValues=to_item({":one": 1, ":e": (window + 2) * window_seconds + 3600}),
        ReturnValues="UPDATED_NEW")["Attributes"][counter]["N"])


def hold_slot(channel: str, event_id: str, at: float) -> None:
    """Keep a reserved send moment with the event while its queue message waits for it, so the
    message's next receive sends then instead of reserving (and maybe waiting) again."""
    client("dynamodb").put_item(TableName=TABLE_NAME, Item=to_item({
        "pk": f"EVENT#{channel}#{event_id}", "sk": "PACE", "at": str(at),
        TTL_ATTRIBUTE: int(at) + 24 * 3600}))


def held_slots(events: list[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """The send moments held for these (channel, event id)s, in one read (a batch's redelivered
    messages). A hold is not deleted when used: one whose moment has passed is a late comer's
    (`take_spare`), and a send after the first in the same receive reserves anew. Keys the read
    leaves unprocessed count as not held: such a message reserves again, later, never twice."""
    keys = list(dict.fromkeys(events))[:100]
    if not keys:
        return {}
    answer = client("dynamodb").batch_get_item(RequestItems={TABLE_NAME: {
        "Keys": [to_item({"pk": f"EVENT#{channel}#{event_id}", "sk": "PACE"}) for channel, event_id in keys],
        "ConsistentRead": True}})
    found = {}
    for item in map(from_item, answer.get("Responses", {}).get(TABLE_NAME, [])):
        channel, _, event_id = item["pk"][len("EVENT#"):].partition("#")
        found[(channel, event_id)] = float(item["at"])
    return found


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
