"""The audit trail: one item per admin or agent action, under the day it happened.

| item  | pk                 | sk                   | access pattern |
|-------|--------------------|----------------------|----------------|
| audit | AUDIT#{YYYY-MM-DD} | {time}#{entry id}    | `firstreply audit --since`, GET /admin/api/audit: a query per day, in order |

A day's partition takes the team's actions only (a few thousand a day at most), far below one
key's write limit. Items expire after `audit_retention_days`.
"""
from __future__ import annotations

from typing import Any

from integrations.dynamodb import TTL_ATTRIBUTE, to_item


def audit_item(table: str, entry: dict[str, Any], expires_at: int) -> dict[str, Any]:
    """A transaction item: the entry, written once (its id is the action's own id where there is
    one, so a retried action cannot be audited twice)."""
    return {"Put": {"TableName": table, "Item": to_item({
        "pk": f"AUDIT#{entry['at'][:10]}", "sk": f"{entry['at']}#{entry['id']}", **entry,
        TTL_ATTRIBUTE: expires_at})}}


class AuditStore:
    """A mixin of `DynamoStore`."""

    def put_audit(self, entry: dict[str, Any], expires_at: int) -> None:
        self.ddb.put_item(**audit_item(self.table, entry, expires_at)["Put"])

    def audit_days(self, days: list[str]) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.items() if k not in ("pk", "sk", TTL_ATTRIBUTE)}
                for day in days for item in self._query(f"AUDIT#{day}", consistent=True)]
