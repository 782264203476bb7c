"""Reads per inbox page grow with the page size, not with the table: the queue is a Query of the
state's shards in the inbox index, merged; the cursor walks every conversation exactly once."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

from conftest import OPEN_TIME
from reads import counted_reads

ADMIN = {"Authorization": "Bearer admin-test-token"}


def fill(system, count: int, offset: int = 0) -> None:
    from functions.clock import iso
    from integrations.aws import client
    from integrations.dynamodb import TABLE_NAME, to_item
    from integrations.dynamodb.inbox import state_pk

    items = []
    for i in range(offset, offset + count):
        cid = f"P{i:09d}"
        state = ("waiting", "answered", "closed")[i % 3]
        at = iso(OPEN_TIME - timedelta(minutes=i))
        items.append({"pk": f"CONV#{cid}", "sk": "META", "conversation_id": cid, "reference": f"P{i:05d}"[:3] + "-000",
                      "channel": ("telegram", "email")[i % 2], "chat_id": f"c{i}", "state": state,
                      "priority": "urgent" if i % 10 == 0 else "normal", "opened_at": at, "last_activity_at": at,
                      "gsi2pk": state_pk(state, cid), "gsi2sk": at,
                      **({"waiting_since": at} if state == "waiting" else {})})
    for start in range(0, len(items), 25):
        client("dynamodb").batch_write_item(RequestItems={TABLE_NAME: [
            {"PutRequest": {"Item": to_item(item)}} for item in items[start:start + 25]]})


def page_reads(system, query: str) -> tuple[dict, Counter]:
    import json

    with counted_reads(index="gsi2") as reads:
        response = system.client.http.get(f"/admin/api/conversations?{query}", headers=ADMIN)
    assert response.status_code == 200, response.body
    return json.loads(response.body), reads


def test_a_page_reads_at_most_shards_times_page_size_whatever_the_table_holds(system):
    from integrations.dynamodb.inbox import STATE_SHARDS

    fill(system, 300)
    _, small = page_reads(system, "state=waiting&limit=20")
    fill(system, 1200, offset=300)
    body, large = page_reads(system, "state=waiting&limit=20")
    assert len(body["conversations"]) == 20 and body["cursor"]
    # the merge reads a small share of the page from each shard, then more only where the page
    # keeps taking: at most twice the page plus two items a shard, however large the table is
    bound = 2 * 20 + STATE_SHARDS * 2
    assert large["Scan"] == 0 and large["items"] <= bound and small["items"] <= bound
    # waiting: soonest due (here: longest waiting) first
    dues = [r["waiting_since"] for r in body["conversations"]]
    assert dues == sorted(dues)
    print(f"\ninbox page of 20: {large['items']} index items read (table of 1,500 conversations)")


def test_the_cursor_walks_every_conversation_once_in_order_and_filters_stay_bounded(system):
    from integrations.dynamodb.inbox import FILTER_BUDGET, STATE_SHARDS

    fill(system, 150)
    seen, cursor = [], None
    while True:
        body, reads = page_reads(system, "state=closed&limit=7" + (f"&cursor={cursor}" if cursor else ""))
        assert reads["items"] <= 2 * 7 + STATE_SHARDS * 2
        seen += [r["last_activity_at"] for r in body["conversations"]]
        cursor = body["cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 50 and seen == sorted(seen, reverse=True)   # closed: latest first
    body, reads = page_reads(system, "state=waiting&priority=urgent&limit=5")
    assert {r["priority"] for r in body["conversations"]} == {"urgent"}
    assert reads["items"] <= STATE_SHARDS * FILTER_BUDGET * 5
