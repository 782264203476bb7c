"""Customers' data: from a person to every item they caused, and the tombstone erasure leaves.

Key design (rows also in the table at the top of the package):

| item            | pk                              | sk                     | access pattern |
|-----------------|---------------------------------|------------------------|----------------|
| customer conv.  | CUSTOMER#{channel}#{sender_id}  | CONV#{conversation_id} | export/forget: query the partition = every conversation the person wrote in (their own, or a group chat's) |
| customer link   | CUSTOMER#{channel}#{sender_id}  | LINK#{channel}#{id}    | export/forget: the person's other identities (the email a chat customer gave for transcripts), written both ways |
| customer event  | CUSTOMER#{channel}#{sender_id}  | EVENT#{event_id}       | export/forget: events that joined no conversation (an address given for transcripts, a survey rating or comment) |
| tombstone       | GONE#{keyed hash}               | GONE                   | worker: was this sender erased, and when (get, only for a sender without a contact) |

Why a partition of pointers and not an index: each pointer is written in the transaction that
stores the message (so nothing a customer causes can exist without one), a partition query lists
them in one call, and the key holds no value that grows without bound (one per conversation).
The conversation's own partition (`CONV#…`) then leads to everything else: its messages, the events
(an inbound message's sort key ends in its event id), the desk records (a desk line's sort key ends
in its action id), the tasks (one per kind), the chat, the desk threads and the raw mails (S3 keys
on the inbound messages).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.clock import iso
from integrations.dynamodb import EVENT_TTL_DAYS, TTL_ATTRIBUTE, expiry, from_item, to_item, unique_keys

TOMBSTONE_DAYS = EVENT_TTL_DAYS + 1   # the dedupe window: a redelivery older than this is refused anyway
LINK_DAYS = 400


def customer_partition(channel: str, sender_id: str) -> str:
    return f"CUSTOMER#{channel}#{sender_id}"


def tombstone_key(digest: str) -> dict[str, Any]:
    return to_item({"pk": f"GONE#{digest}", "sk": "GONE"})


def pointer_items(table: str, channel: str, sender_id: str, conversation_id: str, keep: int,
                  now: datetime) -> list[dict[str, Any]]:
    """Transaction items of the decision: the sender's pointer to the conversation (an idempotent
    put, on every message: a group chat's conversation holds other people's messages too). A new
    conversation's reference is found through the inbox's `REF#{reference}` item (`inbox.lookup_items`)."""
    return [{"Put": {"TableName": table, "Item": to_item({
        "pk": customer_partition(channel, sender_id), "sk": f"CONV#{conversation_id}",
        "conversation_id": conversation_id, "at": iso(now), TTL_ATTRIBUTE: keep})}}]


class CustomerStore:
    """A mixin of `DynamoStore`: the reads and writes of export and erasure."""

    def link_identities(self, one: tuple[str, str], other: tuple[str, str], now: datetime) -> None:
        """The same person on two channels (a chat customer gave their email address)."""
        keep = expiry(now, LINK_DAYS)
        for (channel, sender_id), (to_channel, to_id) in ((one, other), (other, one)):
            self.ddb.put_item(TableName=self.table, Item=to_item({
                "pk": customer_partition(channel, sender_id), "sk": f"LINK#{to_channel}#{to_id}",
                "channel": to_channel, "sender_id": to_id, "at": iso(now), TTL_ATTRIBUTE: keep}))

    def remember_event(self, channel: str, sender_id: str, event_id: str, now: datetime) -> None:
        """A message handled outside any conversation (an answer to something we asked) is still
        the customer's: its stored event must be reachable from them until it expires."""
        self.ddb.put_item(TableName=self.table, Item=to_item({
            "pk": customer_partition(channel, sender_id), "sk": f"EVENT#{event_id}", "channel": channel,
            "event_id": event_id, "at": iso(now), TTL_ATTRIBUTE: expiry(now, EVENT_TTL_DAYS)}))

    def customer_pointers(self, channel: str, sender_id: str) -> list[dict[str, Any]]:
        return self._query(customer_partition(channel, sender_id), consistent=True)

    def conversation_by_reference(self, reference: str) -> str | None:
        """The conversation a customer's quoted reference names (the inbox's search item)."""
        found = self._query(f"REF#{reference}", limit=1, consistent=True)
        return found[0]["conversation_id"] if found else None

    def conversation_items(self, conversation_id: str) -> list[dict[str, Any]]:
        """The whole partition of a conversation: its record and every line of its history."""
        return self._query(f"CONV#{conversation_id}", consistent=True)

    def get_items(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items of those keys that exist (BatchGetItem, 100 at a time, unprocessed retried).
        A key given twice is read once: BatchGetItem refuses a request that names a key twice (two
        conversations of one chat both name the chat)."""
        keys = unique_keys(keys)
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            request = {self.table: {"Keys": [to_item(k) for k in keys[start:start + 100]], "ConsistentRead": True}}
            for _ in range(8):
                answer = self.ddb.batch_get_item(RequestItems=request)
                found += [from_item(i) for i in answer.get("Responses", {}).get(self.table, [])]
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
        return found

    def delete_keys(self, keys: list[dict[str, Any]]) -> None:
        """Delete items by key, 25 at a time; deleting what is already gone is no error (erasure
        is idempotent: a second run, or a run after a crash, finishes the first)."""
        unique = unique_keys(keys)
        for start in range(0, len(unique), 25):
            request = {self.table: [{"DeleteRequest": {"Key": to_item({"pk": k["pk"], "sk": k["sk"]})}}
                                    for k in unique[start:start + 25]]}
            for _ in range(8):
                request = self.ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not request:
                    break
            if request:
                raise RuntimeError("DynamoDB kept items unprocessed; run the erasure again")

    def put_tombstone(self, digest: str, now: datetime) -> None:
        self.ddb.put_item(TableName=self.table, Item=to_item({
            **from_item(tombstone_key(digest)), "erased_at": iso(now),
            TTL_ATTRIBUTE: expiry(now, TOMBSTONE_DAYS)}))

    def tombstone(self, digest: str) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table, Key=tombstone_key(digest),
                                           ConsistentRead=True).get("Item"))

    def message_id_keys(self, message_ids: set[str]) -> list[dict[str, Any]]:
        """The keys of the Message-ID links of those ids (formed as `remember_message_ids` forms them)."""
        from integrations.dynamodb.channels import message_id_key

        return [{"pk": f"MSGID#{message_id_key(m)}", "sk": "MSGID"} for m in message_ids if m.strip("<> ")]

    def delete_event(self, channel: str, event_id: str) -> None:
        # through BatchWriteItem like every erasure delete: no function is granted DeleteItem
        self.delete_keys([{"pk": f"EVENT#{channel}#{event_id}", "sk": "EVENT"}])
