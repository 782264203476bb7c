"""What a message costs on AWS: the calls one Telegram message makes, counted, priced, and scaled.

The webhook and the worker run in-process (moto as AWS, the Bot API stand-in) for a first message
of a conversation (acknowledged) and a follow-up (stored, not acknowledged). Every AWS call is
tallied; DynamoDB capacity is worked out from the sizes of the items read and written (the same
rules DynamoDB bills by: writes per 1 KB, reads per 4 KB, half for eventually consistent reads,
double for transactions). Lambda time is estimated as this code's own time plus a typical
in-region latency per AWS call and the channel's API answer. Prices: AWS public on-demand
prices, us-east-1, no free tier (PRICES below; check https://aws.amazon.com/pricing/ for yours).

    .venv/bin/python bench/costs.py
"""
from __future__ import annotations

import json
import math
import os
from collections import Counter
from datetime import datetime, timezone

from local_aws import prepare

ROOT = prepare(TELEGRAM_WEBHOOK_SECRET="bench", TELEGRAM_BOT_TOKEN="1:BENCH", PTB_TIMEDELTA="1")

PRICES = {   # USD, us-east-1, on demand
    "api_request": 3.50 / 1e6,              # API Gateway REST API, first 333 million
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second_arm": 0.0000133334,   # Lambda on arm64
    "dynamodb_wru": 0.625 / 1e6,            # on-demand write request unit
    "dynamodb_rru": 0.125 / 1e6,            # on-demand read request unit
    "sqs_fifo_request": 0.50 / 1e6,
    "logs_gb": 0.50,                        # CloudWatch Logs ingestion
    "alarm_metric": 0.10,                   # per metric in an alarm, per month
    "ses_inbound_mail": 0.10 / 1000, "ses_inbound_chunk": 0.09 / 1000, "ses_outbound_mail": 0.10 / 1000,
    "s3_put": 0.005 / 1000, "s3_get": 0.0004 / 1000,
}
LATENCY_MS = {"dynamodb": 6, "sqs": 8, "ssm": 5, "channel": 150}   # typical in-region, and a channel API answer
OWN_MS = {"webhook": 7, "worker": 9}      # bench/warm_telegram.py, p50 of this code's own time
MEMORY_GB = {"webhook": 0.5, "worker": 0.5}
LOG_BYTES_PER_INVOCATION = 1200           # START/END/REPORT lines and our JSON lines
ALARM_METRICS = 1 + 7 + 7 + 1             # dead letters, errors and throttles of 7 functions, API 5xx


def item_size(item: dict) -> int:
    """DynamoDB's item size: attribute names plus values (numbers ~ their digits)."""
    def value_size(value: dict) -> int:
        (kind, inner), = value.items()
        if kind in ("S", "N", "B"):
            return len(str(inner).encode())
        if kind == "M":
            return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
        if kind == "L":
            return 3 + sum(value_size(v) + 1 for v in inner)
        return 1
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


class Tally:
    def __init__(self):
        self.calls = Counter()
        self.wru = 0.0
        self.rru = 0.0

    def install(self):
        import botocore.client

        original = botocore.client.BaseClient._make_api_call
        tally = self

        def counting(client, operation, params):
            result = original(client, operation, params)
            service = client.meta.service_model.service_name
            tally.calls[(service, operation)] += 1
            if service == "dynamodb":
                tally.capacity(client, original, operation, params, result)
            return result

        botocore.client.BaseClient._make_api_call = counting

    def _size_after(self, client, original, table, key) -> int:
        found = original(client, "GetItem", {"TableName": table, "Key": key}).get("Item")
        return item_size(found) if found else 100

    def capacity(self, client, original, operation, params, result):
        reads = lambda size, consistent: math.ceil(max(size, 1) / 4096) * (1 if consistent else 0.5)  # noqa: E731
        if operation == "PutItem":
            self.wru += math.ceil(item_size(params["Item"]) / 1024)
        elif operation == "UpdateItem":
            self.wru += math.ceil(self._size_after(client, original, params["TableName"], params["Key"]) / 1024)
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                (kind, body), = entry.items()
                size = (item_size(body["Item"]) if kind == "Put" else
                        self._size_after(client, original, body["TableName"], body["Key"]))
                self.wru += 2 * math.ceil(size / 1024)
        elif operation == "GetItem":
            self.rru += reads(item_size(result.get("Item") or {}), params.get("ConsistentRead"))
        elif operation == "BatchGetItem":
            for table, items in result.get("Responses", {}).items():
                consistent = params["RequestItems"][table].get("ConsistentRead")
                self.rru += sum(reads(item_size(i), consistent) for i in items)
        elif operation == "Query":
            self.rru += reads(sum(item_size(i) for i in result.get("Items", [])), params.get("ConsistentRead"))


def measure() -> dict[str, dict]:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from chalice.test import Client
    from moto import mock_aws

    from cli.dev import QueuePump
    from cli.standins.telegram import TelegramStandIn
    from functions.handlers import worker
    from functions.settings import load_settings_file
    from integrations import aws, dynamodb, sqs

    stand_in = TelegramStandIn().start()
    os.environ["TELEGRAM_API_URL"] = stand_in.url
    first = json.loads((ROOT / "tests/fixtures/telegram/text_private.json").read_text())
    follow_up = json.loads(json.dumps(first))
    follow_up["update_id"] += 1
    follow_up["message"]["message_id"] += 1
    follow_up["message"]["text"] = "And one more question about the same order"
    import app as app_module

    results = {}
    with mock_aws(), Client(app_module.app) as client:
        aws.reset_clients()
        worker.store.cache_clear()
        worker.sender_for.cache_clear()
        dynamodb.ensure_table()
        sqs.ensure_queues()
        dynamodb.DynamoStore().save_settings(load_settings_file(str(ROOT / "firstreply.yaml")), by="bench",
                                             now=datetime.now(timezone.utc))
        pump = QueuePump(app_module.app)
        worker.store().load_settings()       # a warm container: settings cached, as for most messages
        tally = Tally()
        tally.install()
        for name, update in (("first message (acknowledged)", first), ("follow-up (stored only)", follow_up)):
            tally.calls.clear()
            tally.wru = tally.rru = 0.0
            response = client.http.post("/webhooks/telegram", body=json.dumps(update).encode(), headers={
                "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "bench"})
            assert response.status_code == 200, response.body
            pump.drain()
            results[name] = {"calls": dict(tally.calls), "wru": tally.wru, "rru": tally.rru,
                             "sent": len(stand_in.sent("sendMessage"))}
    stand_in.stop()
    return results


def cost_per_message(measured: dict) -> tuple[float, dict[str, float]]:
    calls = measured["calls"]
    # what Lambda's event source and the webhook do; the local pump also asks GetQueueAttributes
    sqs_requests = sum(n for (service, op), n in calls.items() if service == "sqs" and op in (
        "SendMessage", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility"))
    dynamodb_calls = sum(n for (service, _), n in calls.items() if service == "dynamodb")
    worker_calls = dynamodb_calls + sqs_requests   # nearly all after the webhook's two
    acknowledged = measured["sent_now"]
    webhook_ms = OWN_MS["webhook"] + LATENCY_MS["dynamodb"] + LATENCY_MS["sqs"]
    worker_ms = OWN_MS["worker"] + (worker_calls - 2) * LATENCY_MS["dynamodb"] + acknowledged * LATENCY_MS["channel"]
    parts = {
        "API Gateway": PRICES["api_request"],
        "Lambda": 2 * PRICES["lambda_request"] + PRICES["lambda_gb_second_arm"] * (
            MEMORY_GB["webhook"] * webhook_ms + MEMORY_GB["worker"] * worker_ms) / 1000,
        "DynamoDB": measured["wru"] * PRICES["dynamodb_wru"] + measured["rru"] * PRICES["dynamodb_rru"],
        "SQS": sqs_requests * PRICES["sqs_fifo_request"],
        "CloudWatch Logs": 2 * LOG_BYTES_PER_INVOCATION / 1e9 * PRICES["logs_gb"],
    }
    return sum(parts.values()), parts


def fixed_monthly() -> dict[str, float]:
    minutes = 30 * 24 * 60
    invocations = minutes + 3 * minutes / 5          # x-mentions every minute, three jobs every 5 minutes
    return {
        "alarms": ALARM_METRICS * PRICES["alarm_metric"],
        "schedules (Lambda)": invocations * (PRICES["lambda_request"] + 0.25 * 0.05 * PRICES["lambda_gb_second_arm"]),
        "schedules (DynamoDB)": invocations * 2 * 0.5 * PRICES["dynamodb_rru"],
        # Lambda's SQS event source long-polls the work queue: about 5 pollers, 3 requests a minute each
        "SQS polling": 5 * 3 * minutes * PRICES["sqs_fifo_request"],
    }


def main() -> None:
    results = measure()
    first, follow = results["first message (acknowledged)"], results["follow-up (stored only)"]
    first["sent_now"], follow["sent_now"] = 1, 0
    print("per message, counted:")
    for name, found in results.items():
        calls = ", ".join(f"{s}.{op} {n}" for (s, op), n in sorted(found["calls"].items()))
        print(f"  {name}: {found['wru']:.0f} WRU, {found['rru']:.1f} RRU; {calls}")
    first_cost, first_parts = cost_per_message(first)
    follow_cost, _ = cost_per_message(follow)
    print("cost of a first message: " + ", ".join(f"{k} ${v * 1e6:.2f}" for k, v in first_parts.items())
          + f" per million = ${first_cost * 1e6:.2f} per million")
    print(f"cost of a follow-up: ${follow_cost * 1e6:.2f} per million")
    # a month's mix: conversations of three messages, the first acknowledged
    blended = (first_cost + 2 * follow_cost) / 3
    fixed = fixed_monthly()
    print(f"blended (1 in 3 messages acknowledged): ${blended * 1e6:.2f} per million messages")
    print("fixed per month: " + ", ".join(f"{k} ${v:.2f}" for k, v in fixed.items())
          + f" = ${sum(fixed.values()):.2f}")
    for volume in (1_000, 100_000, 1_000_000):
        print(f"  {volume:>9,} messages a month: ${sum(fixed.values()) + volume * blended:,.2f}")


if __name__ == "__main__":
    main()
