"""How much a scheduled job reads: a table with 20,000 finished conversations and 50 due ones
(prints figures, asserts nothing).

The jobs find work through the sparse index (`gsi1`: OPEN#channel#n while open, DUE#kind#n while due, each over its shards),
so what they read should grow with the due items, not with the table. Counted from DynamoDB's own
answers: items returned by Query, GetItem and BatchGetItem (ScannedCount for queries). moto runs
in-process. Target: close-idle at most 2 items read per due item.

moto backs up every table it touches before each TransactWriteItems (a deep copy per item of the
transaction, to roll back); at 80,000 items that takes minutes and measures moto, not us. The bench
turns that copy off: it counts reads, and none of its transactions fails.

    .venv/bin/python bench/jobs_index.py [--finished 20000] [--due 50]
"""
from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from local_aws import count_reads, prepare

ROOT = prepare(FIRSTREPLY_SIGNING_SECRET="bench", SUPPORT_EMAIL_FROM="Support <support@example.com>")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--finished", type=int, default=20_000)
    parser.add_argument("--due", type=int, default=50)
    args = parser.parse_args()

    import logging

    logging.basicConfig(level=logging.WARNING)
    from moto import mock_aws

    from cli.standins import dynamodb_rollback

    dynamodb_rollback.apply()   # see the module docstring

    from functions import jobs
    from functions.settings import load_settings_file
    from integrations import aws, dynamodb, ses
    from functions.clock import iso
    from integrations.dynamodb import TABLE_NAME, open_partition, to_item

    reads: Counter = Counter()

    now = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    settings = load_settings_file(str(ROOT / "firstreply.yaml"))
    with mock_aws():
        aws.reset_clients()
        dynamodb.ensure_table()
        ses.ensure_mail_resources()
        ddb = aws.client("dynamodb")
        start = time.perf_counter()
        items = []
        for i in range(args.finished + args.due):
            cid = f"C{i:09d}"
            due = i >= args.finished
            address = f"customer{i}@example.org"
            conversation = {"pk": f"CONV#{cid}", "sk": "META", "conversation_id": cid, "channel": "email",
                            "chat_id": f"{address}#<{i}@example.org>", "contact": f"email#{address}",
                            "status": "open" if due else "closed", "reference": f"{cid[:3]}-{cid[3:6]}",
                            "opened_at": iso(now - timedelta(days=10)),
                            "last_activity_at": iso(now - timedelta(days=4 if due else 9)), "language": "en"}
            if due:
                conversation.update({"gsi1pk": open_partition("email", conversation["conversation_id"]),
                                     "gsi1sk": conversation["last_activity_at"]})
            items += [conversation,
                      {"pk": f"CHAT#email#{conversation['chat_id']}", "sk": "CHAT", "conversation_id": cid,
                       "status": conversation["status"]},
                      {"pk": f"CONTACT#email#{address}", "sk": "PROFILE", "first_name": "Sam"},
                      {"pk": f"CONV#{cid}", "sk": f"MSG#{conversation['last_activity_at']}#in#{i}",
                       "direction": "in", "text": "Where is my order?", "sent_at": conversation["last_activity_at"]}]
        for chunk in range(0, len(items), 25):
            ddb.batch_write_item(RequestItems={TABLE_NAME: [{"PutRequest": {"Item": to_item(item)}}
                                                            for item in items[chunk:chunk + 25]]})
        print(f"table: {len(items):,} items ({args.finished:,} finished conversations, {args.due} due), "
              f"loaded in {time.perf_counter() - start:.0f} s")
        store = dynamodb.DynamoStore()
        count_reads(reads)

        class CountingMailer:
            sent = 0

            def send_transcript(self, *args):
                CountingMailer.sent += 1
                return "id"

        class CountingSurveys:
            def send_survey(self, request):
                return "id"

        from functions import surveys

        later = now + timedelta(minutes=settings.survey.delay_minutes + 1)
        for name, run in (("close-idle", lambda: jobs.close_idle(store, settings, now)),
                          ("transcripts", lambda: jobs.send_transcripts(store, CountingMailer(), settings,
                                                                        now, "https://x.example")),
                          ("surveys", lambda: surveys.send_surveys(store, lambda channel: CountingSurveys(),
                                                                   settings, later, "https://x.example"))):
            reads.clear()
            started = time.perf_counter()
            report = run()
            elapsed = time.perf_counter() - started
            per_due = reads["items"] / max(report.done, 1)
            print(f"  {name:<12} done {report.done:>3}  items read {reads['items']:>4}  "
                  f"per due item {per_due:4.1f}  queries {reads['Query']}  gets {reads['GetItem']}  "
                  f"scans {reads['scans']}  ({elapsed:.1f} s on moto)")
        print("  target: ≤ 2 items read per due item to find and claim work; transcripts and surveys then "
              "read what they need (the conversation, the contact, and for transcripts the messages)")


if __name__ == "__main__":
    main()
