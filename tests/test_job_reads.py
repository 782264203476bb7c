"""The jobs' reads grow with the due work, not with the table (the bench prints the full figures)."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import botocore.client

from conftest import ROOT


def test_close_idle_reads_one_item_per_due_conversation_whatever_the_table_holds(system, monkeypatch):
    from functions import jobs
    from functions.settings import load_settings_file
    from integrations.aws import client
    from functions.clock import iso
    from integrations.dynamodb import TABLE_NAME, open_partition, to_item

    now = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    items = []
    for i in range(300):   # 290 long closed, 10 idle and open
        due = i >= 290
        cid, when = f"R{i:09d}", iso(now - timedelta(days=4 if due else 9))
        conversation = {"pk": f"CONV#{cid}", "sk": "META", "conversation_id": cid, "channel": "email",
                        "chat_id": f"c{i}", "contact": f"email#c{i}@example.org", "reference": "R00-000",
                        "status": "open" if due else "closed", "opened_at": when, "last_activity_at": when}
        if due:
            conversation.update(gsi1pk=open_partition("email", cid), gsi1sk=when)
        items += [conversation, {"pk": f"CHAT#email#c{i}", "sk": "CHAT", "conversation_id": cid, "status": "open"}]
    for start in range(0, len(items), 25):
        client("dynamodb").batch_write_item(RequestItems={TABLE_NAME: [
            {"PutRequest": {"Item": to_item(item)}} for item in items[start:start + 25]]})

    reads, original = Counter(), botocore.client.BaseClient._make_api_call

    def counting(self, operation, params):
        answer = original(self, operation, params)
        reads[operation] += 1
        reads["items"] += answer.get("ScannedCount", 0) + (1 if answer.get("Item") else 0)
        return answer

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    report = jobs.close_idle(system.store, load_settings_file(str(ROOT / "firstreply.yaml")), now)
    assert report.done == 10
    assert reads["Scan"] == 0 and reads["items"] <= 2 * report.done
