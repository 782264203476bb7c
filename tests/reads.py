"""Counting what DynamoDB reads while a block runs: items returned or scanned by Query, GetItem and
BatchGetItem, and every operation's calls (a Scan shows up as `reads["Scan"]`)."""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from typing import Iterator
from unittest import mock

import botocore.client


@contextmanager
def counted_reads(index: str | None = None) -> Iterator[Counter]:
    """`index`: count only the items of queries on that index (what a list page reads)."""
    reads, original = Counter(), botocore.client.BaseClient._make_api_call

    def counting(self, operation, params):
        answer = original(self, operation, params)
        reads[operation] += 1
        if index is None or params.get("IndexName") == index:
            if operation in ("Query", "Scan"):
                reads["items"] += answer.get("ScannedCount", 0)
            elif index is None and operation == "GetItem":
                reads["items"] += 1 if answer.get("Item") else 0
            elif index is None and operation == "BatchGetItem":
                reads["items"] += sum(len(v) for v in answer.get("Responses", {}).values())
        return answer

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", counting):
        yield reads
