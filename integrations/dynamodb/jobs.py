"""Scheduled work: conversations gone idle and due tasks (transcript, survey), found through the
sparse index and claimed with conditional writes."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from functions.clock import iso
from integrations.dynamodb.inbox import state_pk
from integrations.dynamodb.stats import close_fact
from concurrent.futures import ThreadPoolExecutor

from integrations.dynamodb import (TTL_ATTRIBUTE, _from_key, chat_key, conversation_key, due_partition,
                                   due_partitions, expiry, from_item, open_partitions, task_key, to_item)


def due_task_items(table: str, conversation_id: str, tasks: list[tuple[str, datetime]],
                   now: datetime) -> list[dict[str, Any]]:
    """Transaction items making a closed conversation's follow-up work due (transcript, survey),
    each once: whoever closes it, close-idle or an agent."""
    return [{"Put": {"TableName": table, "ConditionExpression": "attribute_not_exists(pk)",
                     "Item": to_item({**_from_key(task_key(kind, conversation_id)), "kind": kind,
                                      "conversation_id": conversation_id, "created_at": iso(now),
                                      "gsi1pk": due_partition(kind, conversation_id), "gsi1sk": iso(due),
                                      TTL_ATTRIBUTE: expiry(now, 60)})}} for kind, due in tasks]


class JobStore:
    """A mixin of `DynamoStore`."""

    def _query_index(self, partition: str, until: str) -> list[dict[str, Any]]:
        """Items of one index partition whose sort key is at most `until`: only what is due is read."""
        pages = self.ddb.get_paginator("query").paginate(
            TableName=self.table, IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :p AND gsi1sk <= :until",
            ExpressionAttributeValues=to_item({":p": partition, ":until": until}))
        return [from_item(i) for page in pages for i in page.get("Items", [])]

    def _query_shards(self, partitions: list[str], until: str) -> list[dict[str, Any]]:
        """`_query_index` over every shard of a key, a few at once: an empty shard costs one small
        query, so what is read still grows with what is due; oldest first across the shards."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            found = [i for items in pool.map(lambda p: self._query_index(p, until), partitions) for i in items]
        return sorted(found, key=lambda item: item.get("gsi1sk", ""))

    def idle_conversations(self, channel: str, idle_since: datetime) -> list[dict[str, Any]]:
        return self._query_shards(open_partitions(channel), iso(idle_since))

    def close_conversation(self, conversation: dict[str, Any], now: datetime,
                           tasks: list[tuple[str, datetime]]) -> bool:
        """Close a conversation that is still as idle as when it was read, and make its follow-up
        work (transcript, survey) due; False when a message arrived in between."""
        cid, at = conversation["conversation_id"], iso(now)
        items: list[dict[str, Any]] = [
            {"Update": {"TableName": self.table, "Key": conversation_key(cid),
                        # the inbox's closed queue (gsi2); an SLA timer left behind is dropped by the SLA job
                        "UpdateExpression": "SET #s = :closed, #state = :closed, closed_at = :t, "
                                            "gsi2pk = :pk, gsi2sk = :t "
                                            "REMOVE gsi1pk, gsi1sk, waiting_since, sla_due_at, sla_kind",
                        "ConditionExpression": "#s = :open AND last_activity_at = :seen",
                        "ExpressionAttributeNames": {"#s": "status", "#state": "state"},
                        "ExpressionAttributeValues": to_item({":closed": "closed", ":open": "open", ":t": at,
                                                              ":seen": conversation["last_activity_at"],
                                                              ":pk": state_pk("closed", cid)})}},
            {"Update": {"TableName": self.table,
                        "Key": chat_key(conversation["channel"], conversation["chat_id"]),
                        "UpdateExpression": "SET #s = :closed",
                        "ConditionExpression": "conversation_id = :cid",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": to_item({":closed": "closed", ":cid": cid})}},
        ]
        items.append(close_fact(self.table, conversation, now, "close-idle"))
        items += due_task_items(self.table, cid, tasks, now)
        try:
            self.ddb.transact_write_items(TransactItems=items)
            return True
        except self.ddb.exceptions.TransactionCanceledException:
            return False

    def due_tasks(self, kind: str, now: datetime) -> list[dict[str, Any]]:
        return self._query_shards(due_partitions(kind), iso(now))

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
            ExpressionAttributeValues=to_item({":p": due_partition(kind, conversation_id), ":due": iso(due)}))
