"""What every in-process bench sets up first: the repository on the path, moto's fake credentials,
no stand-in endpoint from the caller's shell (moto runs in-process), and the bench's own variables.
Imported before anything reads the environment (the app reads some at import)."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def prepare(**variables: str) -> Path:
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    os.environ.update({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
                       "FIRSTREPLY_LOG_FORMAT": "text", **variables})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    return ROOT


def count_reads(reads) -> None:
    """Count what DynamoDB returns into `reads` (a Counter) from now on: `items` read by Query
    (ScannedCount), GetItem and BatchGetItem, `scans`, each operation's calls, and `aws_ms`, the
    time spent inside the calls (moto's share of a measurement)."""
    import time

    import botocore.client

    original = botocore.client.BaseClient._make_api_call

    def counting(self, operation, params):
        began = time.perf_counter()
        answer = original(self, operation, params)
        reads["aws_ms"] += (time.perf_counter() - began) * 1000
        if operation == "Query":
            reads["items"] += answer.get("ScannedCount", answer.get("Count", 0))
        elif operation == "GetItem":
            reads["items"] += 1 if answer.get("Item") else 0
        elif operation == "BatchGetItem":
            reads["items"] += sum(len(v) for v in answer.get("Responses", {}).values())
        elif operation == "Scan":
            reads["scans"] += 1
        reads[operation] += 1
        return answer

    botocore.client.BaseClient._make_api_call = counting


def time_aws_calls(client_side_is_own: bool = False) -> list[float]:
    """Add the time every AWS call takes to the returned one-item list, so a bench can print its
    own time apart from AWS's: the whole call (botocore's and moto's work), or with
    `client_side_is_own` only moto's answering it, so that botocore building the request and
    reading the answer, which a function pays in Lambda too, counts as the caller's own."""
    import time

    if client_side_is_own:
        from moto.core.botocore_stubber import BotocoreStubber as owner

        name = "__call__"
    else:
        import botocore.client

        owner, name = botocore.client.BaseClient, "_make_api_call"
    spent = [0.0]
    original = getattr(owner, name)

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    setattr(owner, name, timed)
    return spent


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) of a bench's timings, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


@contextmanager
def fresh_app(settings_file: Path):
    """One batch of a warm bench: a fresh moto account (its cost grows with the table) with the table,
    the queues and the settings, the app's test client, and a queue pump standing in for Lambda's event
    source mapping. Yields (client, pump)."""
    from datetime import datetime, timezone

    from chalice.test import Client
    from moto import mock_aws

    import app as app_module
    from cli.dev import QueuePump
    from functions.handlers import worker
    from functions.settings import load_settings_file
    from cli.standins import sqs_fifo
    from integrations import aws, dynamodb, sqs

    sqs_fifo.apply()
    with mock_aws(), Client(app_module.app) as client:
        aws.reset_clients()
        dynamodb.ensure_table()
        sqs.ensure_queues()
        dynamodb.DynamoStore().save_settings(load_settings_file(str(settings_file)), by="bench",
                                             now=datetime.now(timezone.utc))
        worker.store.cache_clear()
        yield client, QueuePump(app_module.app)
