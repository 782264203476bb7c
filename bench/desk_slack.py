"""The Slack desk's reply path: an agent's thread reply (a signed Events API request) through the
webhook and the worker to the customer's channel (Telegram), in one process (prints figures).

moto runs in-process as AWS; the Slack Web API and Bot API stand-ins answer slack-sdk and
python-telegram-bot over local HTTP. Each conversation is opened by a Telegram customer first (not
timed), then agents reply in its thread. "in AWS" is the worker's time inside AWS calls (moto's own
cost, which grows with the table; real DynamoDB's does not), "own" the worker's time without it:
the desk's code plus the two HTTP calls (the reply to Telegram, the ✅ to Slack). The first 20
replies are warm-up and not counted.

    .venv/bin/python bench/desk_slack.py [--replies 500] [--per-conversation 5]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import datetime, timezone

from local_aws import percentile, prepare, time_aws_calls

ROOT = prepare(TELEGRAM_WEBHOOK_SECRET="bench", TELEGRAM_BOT_TOKEN="1:BENCH", PTB_TIMEDELTA="1",
               SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET="bench-signing")
DESK = "C0DESKBENCH"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replies", type=int, default=500)
    parser.add_argument("--per-conversation", type=int, default=5)
    parser.add_argument("--batch", type=int, default=10, help="conversations per fresh table")
    args = parser.parse_args()
    warmup = 20

    import logging

    logging.basicConfig(level=logging.ERROR)
    from chalice.test import Client
    from moto import mock_aws

    from cli.channels import signed_request
    from cli.dev import QueuePump
    from cli.standins.slack import SlackStandIn
    from cli.standins.telegram import TelegramStandIn
    from functions.settings import load_settings_file, parse_settings
    from integrations import aws, dynamodb, sqs

    in_aws = time_aws_calls()
    telegram, slack = TelegramStandIn().start(), SlackStandIn().start()
    slack.add_user("U0AGENTBENCH", "Bench Agent", first_name="Bench")
    os.environ.update(TELEGRAM_API_URL=telegram.url, SLACK_API_URL=slack.url + "/api/")
    template = json.loads((ROOT / "tests/fixtures/telegram/text_private.json").read_text())
    reply = json.loads((ROOT / "tests/fixtures/slack/desk_thread_reply.json").read_text())
    settings = load_settings_file(str(ROOT / "firstreply.yaml"))
    settings = parse_settings({**settings.source, "desk": {"slack_channel": DESK}})
    webhook_ms, worker_ms, own_ms, aws_ms = [], [], [], []
    import app as app_module
    from functions.handlers import worker

    conversation = seen = 0
    while len(webhook_ms) < args.replies:
        with mock_aws(), Client(app_module.app) as client:
            aws.reset_clients()
            dynamodb.ensure_table()
            sqs.ensure_queues()
            store = dynamodb.DynamoStore()
            store.save_settings(settings, by="bench", now=datetime.now(timezone.utc))
            worker.store.cache_clear()
            worker.sender_for.cache_clear()
            pump = QueuePump(app_module.app)
            for _ in range(args.batch):
                conversation += 1
                update = json.loads(json.dumps(template))
                update["update_id"] = 800000000 + conversation
                update["message"]["from"]["id"] = update["message"]["chat"]["id"] = 6000000 + conversation
                client.http.post("/webhooks/telegram", body=json.dumps(update).encode(), headers={
                    "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "bench"})
                pump.drain()
                chat = store.chat("telegram", str(6000000 + conversation))
                thread = store.conversation(chat["conversation_id"])["desk_slack"]["ts"]
                for n in range(args.per_conversation):
                    payload = json.loads(json.dumps(reply))
                    ts = f"{1763806200 + conversation}.{n:06d}"
                    payload["event"].update(thread_ts=thread, ts=ts, event_ts=ts, channel=DESK,
                                            user="U0AGENTBENCH", text=f"Reply {n}: *on its way*")
                    payload["event_id"] = f"EvBENCH{conversation}x{n}"
                    body = json.dumps(payload).encode()
                    route, headers = signed_request("slack", body,
                                                    secret=lambda name: os.environ[name])
                    start = time.perf_counter()
                    response = client.http.post(route, body=body,
                                                headers={"Content-Type": "application/json", **headers})
                    middle = time.perf_counter()
                    aws_before = in_aws[0]
                    handled = pump.pump_once()
                    end = time.perf_counter()
                    spent = in_aws[0] - aws_before
                    assert response.status_code == 200 and handled == 1, response.body
                    seen += 1
                    if seen > warmup:
                        webhook_ms.append((middle - start) * 1000)
                        worker_ms.append((end - middle) * 1000)
                        aws_ms.append(spent * 1000)
                        own_ms.append((end - middle - spent) * 1000)
                    if len(webhook_ms) >= args.replies:
                        break
                if len(webhook_ms) >= args.replies:
                    break
    replies = [c for c in telegram.sent() if c.params["text"].startswith("Reply ")]
    reactions = len(slack.sent("reactions.add"))
    telegram.stop()
    slack.stop()
    print(f"Slack desk reply path, {len(webhook_ms)} agent replies "
          f"(moto in-process, Slack and Bot API stand-ins on loopback):")
    for name, values in (("webhook", webhook_ms), ("worker", worker_ms), ("  in AWS", aws_ms),
                         ("  own", own_ms)):
        print(f"  {name:<9} p50 {statistics.median(values):6.1f} ms   p99 {percentile(values, 99):6.1f} ms"
              f"   max {max(values):6.1f} ms")
    print(f"  replies the Bot API stand-in received: {len(replies)}, ✅ reactions: {reactions}")


if __name__ == "__main__":
    main()
