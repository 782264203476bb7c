"""The inbox against a big table: page load time and items read per page with 20,000 conversations,
and what an SLA run reads (prints figures, asserts nothing).

The page is `GET /admin/api/conversations` through Chalice's test client (auth, the index query of
the state's 4 shards, the merge, the rows with their business-time wait); moto runs in-process, so
the times are moto's plus ours, not DynamoDB's: moto answers a GSI Query by walking every item of
the table (seconds at 20,000 conversations), where DynamoDB reads only the partition's page (a few
ms); the bench prints our own share beside it. Reads are counted
from DynamoDB's answers (ScannedCount). Target: a page reads ≤ 4 × page size index items whatever
the table holds; an SLA run ≤ 2 items per due timer.

    .venv/bin/python bench/inbox_page.py [--conversations 20000] [--pages 40] [--due 50]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from local_aws import count_reads, prepare

ROOT = prepare(FIRSTREPLY_ADMIN_TOKEN="bench-token", SUPPORT_EMAIL_FROM="Support <support@example.com>")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--due", type=int, default=50)
    args = parser.parse_args()

    import logging

    logging.basicConfig(level=logging.WARNING)
    from chalice.test import Client
    from moto import mock_aws

    from functions.clock import iso
    from functions.settings import load_settings_file
    from integrations import aws, dynamodb
    from integrations.dynamodb import TABLE_NAME, to_item
    from integrations.dynamodb.inbox import sla_timer, state_pk

    reads: Counter = Counter()

    now = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    settings = load_settings_file(str(ROOT / "firstreply.yaml"))
    with mock_aws():
        aws.reset_clients()
        dynamodb.ensure_table()
        store = dynamodb.DynamoStore()
        store.save_settings(settings, by="bench", now=now)
        ddb = aws.client("dynamodb")
        started = time.perf_counter()
        items = []
        for i in range(args.conversations):
            cid = f"B{i:09d}"
            state = "closed" if i % 10 < 8 else ("waiting" if i % 2 else "answered")   # 80 % closed
            at = iso(now - timedelta(minutes=i))
            conversation = {"pk": f"CONV#{cid}", "sk": "META", "conversation_id": cid, "channel": ("telegram", "email",
                            "slack", "x")[i % 4], "chat_id": f"c{i}", "contact": f"telegram#{i}", "state": state,
                            "status": "closed" if state == "closed" else "open", "name": f"Customer {i}",
                            "reference": f"{cid[:3]}-{cid[3:6]}", "priority": "normal", "opened_at": at,
                            "last_activity_at": at, "gsi2pk": state_pk(state, cid), "gsi2sk": at}
            if state == "waiting":
                due = now - timedelta(minutes=1) if i < args.due * 10 else now + timedelta(days=2)
                conversation.update(waiting_since=at, sla_due_at=iso(due), gsi2sk=iso(due))
                items.append(sla_timer(conversation, {"due_at": iso(due), "warn_at": iso(due - timedelta(hours=1)),
                                                      "kind": "first"}, now))
            items.append(conversation)
        for chunk in range(0, len(items), 25):
            ddb.batch_write_item(RequestItems={TABLE_NAME: [{"PutRequest": {"Item": to_item(item)}}
                                                            for item in items[chunk:chunk + 25]]})
        print(f"table: {args.conversations:,} conversations (80 % closed), {len(items):,} items, "
              f"loaded in {time.perf_counter() - started:.0f} s")

        import app as app_module
        from functions.handlers import worker

        worker.store.cache_clear()
        headers = {"Authorization": "Bearer bench-token"}
        count_reads(reads)
        with Client(app_module.app) as client:
            for state in ("waiting", "closed"):
                times, ours, per_page, cursor = [], [], [], None
                for _ in range(args.pages):
                    reads.clear()
                    query = f"/admin/api/conversations?state={state}&limit=25" + (f"&cursor={cursor}" if cursor else "")
                    began = time.perf_counter()
                    response = client.http.get(query, headers=headers)
                    times.append((time.perf_counter() - began) * 1000)
                    ours.append(times[-1] - reads["aws_ms"])
                    per_page.append(reads["items"])
                    assert response.status_code == 200, response.body
                    cursor = response.json_body["cursor"]
                times.sort()
                print(f"  inbox page ({state:<7}, 25 rows): p50 {statistics.median(times):6.1f} ms  "
                      f"p90 {times[int(len(times) * 0.9) - 1]:6.1f} ms  items read per page "
                      f"max {max(per_page)} (the index, plus the settings when the 30 s cache lapses)  "
                      f"scans {reads['Scan']}; without the time inside moto: p50 {statistics.median(ours):.1f} ms")
        from functions import sla

        reads.clear()
        began = time.perf_counter()
        report = sla.run(store, settings, now, lambda conversation, stage, timer: None)
        print(f"  sla run: {report.breached} breached of {args.conversations:,} conversations, items read "
              f"{reads['items']} ({reads['items'] / max(report.breached, 1):.1f} per due timer), queries "
              f"{reads['Query']}, gets {reads['GetItem']}, scans {reads['Scan']} "
              f"({(time.perf_counter() - began) * 1000:.0f} ms on moto)")


if __name__ == "__main__":
    main()
