"""Warm path: N Telegram updates through the webhook and the worker, in one process (prints figures).

moto runs in-process as AWS, the Bot API stand-in answers python-telegram-bot over local HTTP, the
webhook is driven through Chalice's test client and the worker through the same queue pump
`firstreply dev` uses. Every update comes from a different customer, so every one is acknowledged:
the worst case for the worker. Times are per update; the first 20 are warm-up and not counted.

moto's in-process DynamoDB copies every table on each TransactWriteItems (to roll back), so its cost
grows with the table; real DynamoDB's does not. The time spent inside AWS calls is therefore also
printed on its own, and "own" is the worker's time without it: what this code costs. To keep that
artefact from swamping the run, the updates go through in batches of --batch on a fresh table.

    .venv/bin/python bench/warm_telegram.py [--updates 1000]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from local_aws import fresh_app, percentile, prepare, time_aws_calls

ROOT = prepare(TELEGRAM_WEBHOOK_SECRET="bench", TELEGRAM_BOT_TOKEN="1:BENCH", PTB_TIMEDELTA="1")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=25)
    args = parser.parse_args()
    count, batch = args.updates, args.batch
    warmup = 20

    import logging

    logging.basicConfig(level=logging.WARNING)
    from cli.standins.telegram import TelegramStandIn

    in_aws = time_aws_calls()
    stand_in = TelegramStandIn().start()
    os.environ["TELEGRAM_API_URL"] = stand_in.url
    template = json.loads((ROOT / "tests/fixtures/telegram/text_private.json").read_text())
    webhook_ms, worker_ms, worker_own_ms, worker_aws_ms = [], [], [], []

    done = 0
    while done < count + warmup:
        with fresh_app(ROOT / "firstreply.yaml") as (client, pump):
            for i in range(done, min(done + batch, count + warmup)):
                update = json.loads(json.dumps(template))
                update["update_id"] = 900000000 + i
                update["message"]["from"]["id"] = update["message"]["chat"]["id"] = 5000000 + i
                body = json.dumps(update).encode()
                start = time.perf_counter()
                response = client.http.post("/webhooks/telegram", body=body, headers={
                    "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "bench"})
                middle = time.perf_counter()
                aws_before = in_aws[0]
                handled = pump.pump_once()
                end = time.perf_counter()
                aws_spent = in_aws[0] - aws_before
                assert response.status_code == 200 and handled == 1
                if i >= warmup:
                    webhook_ms.append((middle - start) * 1000)
                    worker_ms.append((end - middle) * 1000)
                    worker_aws_ms.append(aws_spent * 1000)
                    worker_own_ms.append((end - middle - aws_spent) * 1000)
                done += 1
    acks = len(stand_in.sent())
    stand_in.stop()
    total = [a + b for a, b in zip(webhook_ms, worker_ms)]
    print(f"warm Telegram path, {count} updates in batches of {batch} "
          f"(moto in-process, Bot API stand-in on loopback):")
    for name, values in (("webhook", webhook_ms), ("worker", worker_ms), ("  in AWS", worker_aws_ms),
                         ("  own", worker_own_ms), ("both", total)):
        print(f"  {name:<9} p50 {statistics.median(values):6.1f} ms   p99 {percentile(values, 99):6.1f} ms"
              f"   max {max(values):6.1f} ms")
    print(f"  acknowledgements the stand-in received: {acks} (expected {count + warmup})")


if __name__ == "__main__":
    main()
