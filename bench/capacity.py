"""A capacity model you can run (issue 18): replays a sample of a day's Telegram traffic through the
real webhook handler and worker in-process (moto), records every AWS call and every write's
partition key value (table and index: tests/test_hot_keys.py's recorder), and scales what one
message costs to a target rate. Prints the busiest keys against DynamoDB's per-partition limits,
queue calls against the quota, Lambda invocations and concurrency, the channel's send rate against
its limit, transactions that share an item between customers, the monthly cost, and which limit is
reached first and at what rate. Prints figures, asserts nothing.

    .venv/bin/python bench/capacity.py --rate 1000 [--messages 2000 --chats 200]

Sharded keys keep their share (1/shards) as traffic grows; keys per chat or conversation get more
values, not more writes each, so scaling the sample's busiest share to the target rate is
conservative. Only Telegram is replayed (the other channels make the same store calls); the burst
of the issue is the rate given.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone

from local_aws import fresh_app, prepare

ROOT = prepare(TELEGRAM_WEBHOOK_SECRET="bench-s3cr3t", TELEGRAM_BOT_TOKEN="1:BENCH",
               FIRSTREPLY_SIGNING_SECRET="bench", SUPPORT_EMAIL_FROM="Support <support@example.com>")
sys.path.insert(0, str(ROOT / "tests"))

PARTITION_WCU, PARTITION_RCU = 1000, 3000
# High-throughput FIFO: per API action, us-east-1/us-west-2/eu-west-1 (lower elsewhere); 300/s per group
QUEUE_TPS = 70_000
LAMBDA_CONCURRENCY = 1000          # account default, raised on request
TELEGRAM_PER_SECOND = 30           # per bot
SECONDS_WEBHOOK, SECONDS_WORKER = 0.03, 0.04   # typical warm durations (bench/warm_telegram.py), + channel
CHANNEL_SECONDS = 0.15
PER_CUSTOMER = ("CONV#", "CHAT#", "CONTACT#", "EVENT#", "TASK#", "CUSTOMER#", "REF#")
PACED = ("RATE#pace#",)
# Customers' names: the inbox's name lookup (NAME#{word}) takes a write per new conversation and
# word, so a name many customers share is a key that grows with traffic. The sample draws first and
# last names from 50 each: the most common first name is then ~2 % of customers (as the most
# common ones are in large populations), not the fixture's one name for everybody.
FIRST_NAMES = [f"First{n:02d}" for n in range(50)]
LAST_NAMES = [f"Last{n:02d}" for n in range(50)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=1000, help="messages a second to model")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--chats", type=int, default=200)
    args = parser.parse_args()

    import logging

    logging.basicConfig(level=logging.ERROR)
    import botocore.client

    from cli.standins import dynamodb_rollback

    dynamodb_rollback.apply()   # moto's per-transaction table copy would be what the replay measures
    with fresh_app(ROOT / "firstreply.yaml") as (_, pump):
        from integrations import dynamodb

        store = dynamodb.DynamoStore()
        start = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
        from functions.handlers import telegram_webhook, worker
        from test_hot_keys import Request, Sender, WriteRecorder

        import conftest   # the secret the test Request carries
        import os

        os.environ["TELEGRAM_WEBHOOK_SECRET"] = conftest.SECRET

        class Clock:
            current = start

            def now(self):
                return self.current

            def sleep(self, seconds):
                self.current += timedelta(seconds=seconds)

        worker.clock = clock = Clock()
        sender = Sender()
        worker.sender_for = lambda channel: sender
        recorder = WriteRecorder(store.table)
        calls, reads = Counter(), Counter()
        original = botocore.client.BaseClient._make_api_call

        def recording(self, operation, params):
            service = self.meta.service_model.service_name
            calls[f"{service}.{operation}"] += 1
            if service != "dynamodb":
                return original(self, operation, params)
            if operation == "GetItem":
                reads[params["Key"]["pk"]["S"]] += 1
            elif operation == "BatchGetItem":
                for request in params["RequestItems"].values():
                    for key in request["Keys"]:
                        reads[key["pk"]["S"]] += 1
            elif operation == "Query":
                reads[json.dumps(params.get("ExpressionAttributeValues", {}).get(":p", {}).get("S", "?"))] += 1
            return recorder.around(operation, params, lambda: original(self, operation, params))

        botocore.client.BaseClient._make_api_call = recording
        template = json.loads((ROOT / "tests" / "fixtures" / "telegram" / "text_private.json").read_text())
        chat_of = {}
        real_record = worker.handle_record

        def as_customer(body, *rest):
            recorder.customer = f"telegram#{chat_of[body['event_id']]}"
            return real_record(body, *rest)

        worker.handle_record = as_customer
        for i in range(args.messages):
            chat = 5_000_000 + i % args.chats
            update = json.loads(json.dumps(template))
            update["update_id"] = 900_000_000 + i
            update["message"].update(message_id=10 + i, date=int(clock.current.timestamp()), text=f"q {i}")
            update["message"]["from"]["id"] = update["message"]["chat"]["id"] = chat
            for who in (update["message"]["from"], update["message"]["chat"]):
                who.update(first_name=FIRST_NAMES[chat % 50], last_name=LAST_NAMES[chat // 3 % 50])
            recorder.customer, chat_of[str(update["update_id"])] = f"telegram#{chat}", chat
            telegram_webhook.handle(Request(json.dumps(update).encode()))
            if i % 50 == 49:
                while pump.pump_once():
                    pass
            clock.current += timedelta(milliseconds=100)
        pump.drain()
        report(args, calls, reads, recorder, len(sender.sent))


def sharded() -> dict[str, int]:
    """Key families written to a shard of N, N from the code (integrations/dynamodb, its inbox)."""
    from integrations import dynamodb
    from integrations.dynamodb import inbox

    return {"OPEN#": dynamodb.OPEN_SHARDS, "DUE#": dynamodb.DUE_SHARDS, "FACTS#": dynamodb.FACT_SHARDS,
            "STATS#": dynamodb.STATS_SHARDS, "STATE#": inbox.STATE_SHARDS, "SLADUE#": inbox.SLA_SHARDS}


def report(args, calls: Counter, reads: Counter, recorder, acks: int) -> None:
    from app import WORKER_MAX_CONCURRENCY   # the worker's ScalingConfig
    shards_of = sharded()
    n, rate = args.messages, args.rate
    per_message = {name: count / n for name, count in calls.items()}
    print(f"sample: {n} Telegram messages over {args.chats} chats, {acks} acknowledgements; model at {rate:,.0f} msg/s\n")
    limits = []   # (what, per-message load, limit a second)
    print("busiest partition key values that grow with traffic (writes; table and index; a sharded key\n"
          "at its expected share, 1/shards of its family, which a sample of few conversations cannot show):")
    for where, counter in recorder.writes.items():
        grows = Counter()
        for key, count in counter.items():
            if key.startswith(PER_CUSTOMER):   # bounded by one chat's own pace, not by the rate
                continue
            if key.startswith(PACED):          # bounded by the channel's rate and the waiting workers
                continue
            family = re.sub(r"#\d+$", "", key)
            shards = shards_of.get(family.split("#", 1)[0] + "#", 1) if family != key else 1
            grows[f"{family}#(1 of {shards})" if shards > 1 else key] += count / shards
        for key, count in grows.most_common(3):
            print(f"  {where:<6} {key:<40} {count / n * rate:>9,.1f} writes/s  of {PARTITION_WCU} WCU "
                  f"({count / n * rate / PARTITION_WCU:.1%})")
        if grows:
            key, count = grows.most_common(1)[0]
            limits.append((f"{where} key {key} (writes)", count / n, PARTITION_WCU))
    print(f"  send slots (RATE#pace#…#{{second}}): each second its own key, taking its {TELEGRAM_PER_SECOND} slots and "
          f"the tries that found it full (one per worker container at most, each then starts past it): "
          f"≤ {TELEGRAM_PER_SECOND + WORKER_MAX_CONCURRENCY}/s whatever the rate "
          f"({(TELEGRAM_PER_SECOND + WORKER_MAX_CONCURRENCY) / PARTITION_WCU:.0%})")
    per_chat = max((c for counter in recorder.writes.values() for k, c in counter.items()
                    if k.startswith(PER_CUSTOMER)), default=0)
    print(f"  per-customer keys (CONV#, CHAT#, CONTACT#, EVENT#): the busiest took {per_chat / (n / args.chats):.1f} "
          f"writes per message of its chat, whatever the total rate")
    print("busiest partition key values (reads):")
    grows_reads = Counter({k: c for k, c in reads.items() if not k.strip('"').startswith(PER_CUSTOMER)})
    for key, count in grows_reads.most_common(3):
        print(f"  {key:<41} {count / n * rate:>9,.1f} reads/s  of {PARTITION_RCU} RCU")
    if grows_reads:
        key, count = grows_reads.most_common(1)[0]
        limits.append((f"table key {key} (reads)", count / n, PARTITION_RCU))
    shared = {k: v for k, v in recorder.transaction_customers.items() if len(v) > 1}
    print(f"transactions writing an item shared between customers: {len(shared)} items"
          + (f" (e.g. {next(iter(shared))})" if shared else " (no expected conflicts)"))
    queue = {k: v for k, v in per_message.items() if k.startswith("sqs.")}
    print("queue API calls:")
    for name, value in sorted(queue.items()):
        print(f"  {name:<34} {value * rate:>9,.1f}/s of {QUEUE_TPS:,} per action ({value * rate / QUEUE_TPS:.1%})")
        limits.append((f"queue {name}", value, QUEUE_TPS))
    invocations = rate + per_message.get("sqs.ReceiveMessage", 0.1) * rate
    concurrency = rate * SECONDS_WEBHOOK + rate * (SECONDS_WORKER + acks / n * CHANNEL_SECONDS)
    print(f"Lambda: ~{invocations:,.0f} invocations/s (webhook one a message, worker one a batch of 10), "
          f"~{concurrency:,.0f} concurrent; account quota {LAMBDA_CONCURRENCY} (raise on request) needed above "
          f"{LAMBDA_CONCURRENCY / (concurrency / rate):,.0f} msg/s")
    sends = acks / n * rate
    print(f"Telegram sends: {sends:,.1f}/s of {TELEGRAM_PER_SECOND}/s a bot"
          + (f": paced, a backlog growing {sends - TELEGRAM_PER_SECOND:,.0f} acks/s (each second of such a burst "
             f"delays later acks by {sends / TELEGRAM_PER_SECOND - 1:.1f} s)" if sends > TELEGRAM_PER_SECOND else ""))
    print("\nour own design's limits, % used at this rate, and the rate that reaches each:")
    first = None
    for what, load, limit in sorted(limits, key=lambda found: -found[1] / found[2]):
        reached = limit / load if load else float("inf")
        print(f"  {what:<60} {load * rate / limit:>7.1%}   reached at {reached:>11,.0f} msg/s")
        first = first or (what, reached)
    print(f"\nfirst own limit: {first[0]} at {first[1]:,.0f} msg/s; first channel limit: Telegram's "
          f"{TELEGRAM_PER_SECOND}/s at {TELEGRAM_PER_SECOND / (acks / n):,.0f} msg/s (at this sample's "
          f"{acks / n:.0%} new conversations)")
    from costs import PRICES

    ddb_writes = sum(sum(c.values()) for c in recorder.writes.values()) / n
    ddb_reads = sum(reads.values()) / n
    sqs_calls = sum(queue.values())
    per = (PRICES["api_request"] + 2 * PRICES["lambda_request"] + ddb_writes * PRICES["dynamodb_wru"]
           + ddb_reads * PRICES["dynamodb_rru"] + sqs_calls * PRICES["sqs_fifo_request"]
           + (SECONDS_WEBHOOK + SECONDS_WORKER) * 0.5 * PRICES["lambda_gb_second_arm"])
    print(f"\nmonthly cost (API Gateway, Lambda requests and time, DynamoDB {ddb_writes:.1f} writes and "
          f"{ddb_reads:.1f} reads a message with the index and facts, SQS): "
          + ", ".join(f"{m:,} msgs ${per * m:,.0f}" for m in (1_000_000, 10_000_000, 100_000_000)))


if __name__ == "__main__":
    main()
