"""The store the core uses: one class over the one table, made of one mixin per aggregate."""
from __future__ import annotations

import os
import threading
from typing import Any

from functions.settings import Settings
from integrations.aws import client
from integrations.dynamodb import TABLE_NAME, from_item, to_item
from integrations.dynamodb.admin import AdminStore
from integrations.dynamodb.audit import AuditStore
from integrations.dynamodb.conversations import ConversationStore
from integrations.dynamodb.customers import CustomerStore
from integrations.dynamodb.desk import DeskStore
from integrations.dynamodb.events import EventStore
from integrations.dynamodb.inbox import InboxStore
from integrations.dynamodb.jobs import JobStore
from integrations.dynamodb.stats import StatsStore


class DynamoStore(EventStore, ConversationStore, DeskStore, JobStore, AdminStore, StatsStore, CustomerStore,
                  AuditStore, InboxStore):
    """The `functions.ports.Store` the worker, the jobs and the admin API use."""

    def __init__(self, table: str = TABLE_NAME, config_path: str | None = None):
        self.table = table
        self.config_path = config_path or os.environ.get("FIRSTREPLY_CONFIG", "firstreply.yaml")
        self._settings: tuple[float, Settings] | None = None
        self._lock = threading.Lock()
        # (channel, event id, chat id, sender id, tombstone) → the items a batch's one read found
        # for it (ConversationStore.read_ahead), each used once
        self._read_ahead: dict[tuple, dict[tuple[str, str], dict[str, Any]]] = {}

    @property
    def ddb(self):
        return client("dynamodb")

    def _query(self, partition: str, prefix: str = "", newest_first: bool = False, limit: int | None = None,
               consistent: bool = False) -> list[dict[str, Any]]:
        """The items of one partition (those whose sort key starts with `prefix`), every page of
        them or the first `limit`."""
        condition, values = "pk = :p", {":p": partition}
        if prefix:
            condition, values = condition + " AND begins_with(sk, :s)", {**values, ":s": prefix}
        pages = self.ddb.get_paginator("query").paginate(
            TableName=self.table, KeyConditionExpression=condition, ExpressionAttributeValues=to_item(values),
            ScanIndexForward=not newest_first, ConsistentRead=consistent,
            PaginationConfig={"MaxItems": limit, "PageSize": limit} if limit else {})
        return [from_item(i) for page in pages for i in page.get("Items", [])]
