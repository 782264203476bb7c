"""Stats: per-conversation facts and sharded survey counters, per day and channel.

Conversations and acknowledgements are counted from facts (one item per opened or acknowledged
conversation, written in the transaction of what it counts) rather than from a day counter ADDed in
that transaction: a counter every conversation touches is a hot item, and in concurrent transactions
a shared item cancels them. A fact is the conversation's own item, so it is written exactly once
without being shared; the stats read adds them up (a query per shard and day: reads grow with a
day's conversations, and the stats are read by an admin now and then, written by every message).
"""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from functions.stats import LATENCY_BUCKETS
from functions.clock import iso
from integrations.dynamodb import (STATS_SHARDS, TTL_ATTRIBUTE, expiry, facts_partition, facts_partitions,
                                   stats_partitions, to_item)

FACTS_DAYS = 800    # per-conversation facts feed the stats and the measured reply time


def latency_bucket(seconds: float) -> str:
    return f"ack_le_{next((b for b in LATENCY_BUCKETS if seconds <= b), 'more')}"


def stats_key(channel: str, day: str, shard: int) -> dict[str, Any]:
    return to_item({"pk": f"STATS#{day}#{shard}", "sk": channel})


def stats_update(table: str, channel: str, now: datetime, increments: dict[str, int]) -> dict[str, Any]:
    """An update adding to the day's counters of a channel, on a random shard (summed when read).
    Not for a transaction: the shard is shared by every customer."""
    names = {f"#c{i}": name for i, name in enumerate(increments)}
    values = {f":v{i}": value for i, value in enumerate(increments.values())}
    shard = random.randrange(STATS_SHARDS)
    return {"Update": {"TableName": table, "Key": stats_key(channel, now.strftime("%Y-%m-%d"), shard),
                       "UpdateExpression": "ADD " + ", ".join(f"#c{i} :v{i}" for i in range(len(increments))),
                       "ExpressionAttributeNames": names, "ExpressionAttributeValues": to_item(values)}}


def count_fact(table: str, kind: str, channel: str, conversation_id: str, now: datetime, key: str = "",
               **fields: Any) -> dict[str, Any]:
    """A transaction item: the fact that a conversation opened (`open`) or got its acknowledgement
    (`ack`, with `bucket`, its latency bucket) on this day; a Put of the same key on a retry."""
    at = iso(now)
    return {"Put": {"TableName": table, "Item": to_item({
        "pk": facts_partition(at[:10], conversation_id),
        "sk": f"{kind}#{channel}#{conversation_id}" + (f"#{key}" if key else ""),
        "channel": channel, **fields, TTL_ATTRIBUTE: expiry(now, FACTS_DAYS)})}}


def counted(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Facts of opened and acknowledged conversations as counter items (`summarise` adds them up)."""
    found = []
    for fact in facts:
        kind = fact["sk"].split("#", 1)[0]
        if kind == "open":
            found.append({"pk": fact["pk"], "sk": fact["channel"], "conversations": 1})
        elif kind == "ack":
            found.append({"pk": fact["pk"], "sk": fact["channel"], "acks": 1, fact["bucket"]: 1})
    return found


def close_fact(table: str, conversation: dict[str, Any], now: datetime, by: str) -> dict[str, Any]:
    """A transaction item: the facts of a closed conversation (how long it took, how many agent
    replies), under the day it closed, written with the close itself."""
    opened = datetime.fromisoformat(conversation["opened_at"].replace("Z", "+00:00"))
    at = iso(now)
    return {"Put": {"TableName": table, "Item": to_item({
        "pk": facts_partition(at[:10], conversation["conversation_id"]), "sk": f"close#{conversation['channel']}#{conversation['conversation_id']}",
        "channel": conversation["channel"], "conversation_id": conversation["conversation_id"], "by": by,
        "minutes_to_close": round(max((now - opened).total_seconds(), 0) / 60, 2),
        "agent_replies": int(conversation.get("agent_replies", 0)), TTL_ATTRIBUTE: expiry(now, FACTS_DAYS)})}}


class StatsStore:
    """A mixin of `DynamoStore`."""

    def add_stats(self, channel: str, now: datetime, **increments: int) -> None:
        self.ddb.update_item(**stats_update(self.table, channel, now, increments)["Update"])

    def put_rating_fact(self, conversation: dict[str, Any], score: int, agent: str | None, day: datetime) -> None:
        """A conversation's CSAT answer with the agent it counts for, in the facts of `day` (the
        first answer's: a changed answer replaces it there instead of counting twice)."""
        fact = count_fact(self.table, "csat", conversation["channel"], conversation["conversation_id"], day,
                          score=score, agent=agent)
        self.ddb.put_item(**fact["Put"])

    def _partitions(self, partitions: list[str]) -> list[dict[str, Any]]:
        """Every item of these partitions, a query each, a few at a time (one day is 25 of them)."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            return [item for items in pool.map(self._query, partitions) for item in items]

    def stats_days(self, days: list[str]) -> list[dict[str, Any]]:
        """The day counters of those days (every shard, all channels) and the counts of the days'
        open and ack facts, as counter items keyed by channel (`functions.stats.summarise`)."""
        counters = self._partitions([p for day in days for p in stats_partitions(day)])
        return counters + counted(self.facts_days(days))

    def facts_days(self, days: list[str]) -> list[dict[str, Any]]:
        """Per-conversation facts of those days (opened, acknowledged, first responses, closes)."""
        return self._partitions([p for day in days for p in facts_partitions(day)])
