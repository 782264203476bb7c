"""Stats: counters per day and channel."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.stats import LATENCY_BUCKETS
from functions.clock import iso
from integrations.dynamodb import TTL_ATTRIBUTE, expiry, to_item

FACTS_DAYS = 800    # per-conversation facts feed the stats and the measured reply time


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


def close_fact(table: str, conversation: dict[str, Any], now: datetime, by: str) -> dict[str, Any]:
    """A transaction item: the facts of a closed conversation (how long it took, how many agent
    replies), under the day it closed, written with the close itself."""
    opened = datetime.fromisoformat(conversation["opened_at"].replace("Z", "+00:00"))
    at = iso(now)
    return {"Put": {"TableName": table, "Item": to_item({
        "pk": f"FACTS#{at[:10]}", "sk": f"close#{conversation['channel']}#{conversation['conversation_id']}",
        "channel": conversation["channel"], "conversation_id": conversation["conversation_id"], "by": by,
        "minutes_to_close": round(max((now - opened).total_seconds(), 0) / 60, 2),
        "agent_replies": int(conversation.get("agent_replies", 0)), TTL_ATTRIBUTE: expiry(now, FACTS_DAYS)})}}


class StatsStore:
    """A mixin of `DynamoStore`."""

    def add_stats(self, channel: str, now: datetime, **increments: int) -> None:
        self.ddb.update_item(**stats_update(self.table, channel, now, increments)["Update"])

    def stats_days(self, days: list[str]) -> list[dict[str, Any]]:
        """The counter items of those days (a Query per day: one partition each, all channels)."""
        return [item for day in days for item in self._query(f"STATS#{day}")]

    def facts_days(self, days: list[str]) -> list[dict[str, Any]]:
        """Per-conversation facts of those days (first responses, closes): a Query per day."""
        return [item for day in days for item in self._query(f"FACTS#{day}")]
