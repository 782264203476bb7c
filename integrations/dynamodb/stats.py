"""Stats: counters per day and channel."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.stats import LATENCY_BUCKETS
from integrations.dynamodb import to_item


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


class StatsStore:
    """A mixin of `DynamoStore`."""

    def add_stats(self, channel: str, now: datetime, **increments: int) -> None:
        self.ddb.update_item(**stats_update(self.table, channel, now, increments)["Update"])

    def stats_days(self, days: list[str]) -> list[dict[str, Any]]:
        """The counter items of those days (a Query per day: one partition each, all channels)."""
        return [item for day in days for item in self._query(f"STATS#{day}")]
