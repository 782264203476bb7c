"""A customer's data end to end on moto: one person on Telegram and by email (linked by the address
they gave for the transcript) is exported as one document, then erased; afterwards a scan of the
table, every version in the bucket and the Slack desk finds none of their strings, redeliveries do
not bring them back, a new message starts afresh, stats keep the counts, and the audit trail lists
who exported and erased (never message text)."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from conftest import FIXTURES, load_fixture, update_from

DESK = "C0DESK0001"
AGENT = "U0AGENT042"
ADMIN = {"Authorization": "Bearer admin-test-token", "X-Admin-Name": "Dana Admin",
         "User-Agent": "pytest-admin/1.0"}
# everything that identifies the customer in the fixtures (text_private.json, gmail.eml)
PERSONAL = ["Olena", "Koval", "olena_k", "1111111", "olena.koval", "gmail.com", "Коли буде доставка",
            "CAJ8x7Yw1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZ", "мого замовлення"]


@pytest.fixture
def customer(system):
    """Olena writes on Telegram, gives her address, writes by email; an agent answers her in the
    Slack desk; the raw mail has a second version in the versioned bucket."""
    from integrations import ses
    from integrations.aws import client

    client("s3").put_bucket_versioning(Bucket=ses.MAIL_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    system.slack_api.add_user(AGENT, "Ivan Shevchenko", first_name="Ivan", locale="uk-UA")
    system.use_settings(desk={"slack_channel": DESK}, transcripts={"enabled": True})
    system.deliver(load_fixture("telegram", "text_private"))
    system.deliver(update_from(load_fixture("telegram", "text_private"), 852741002, text="olena.koval@gmail.com"))
    system.ingest("gmail")
    key = next(o["Key"] for o in client("s3").list_objects_v2(Bucket=ses.MAIL_BUCKET)["Contents"])
    raw = client("s3").get_object(Bucket=ses.MAIL_BUCKET, Key=key)["Body"].read()
    client("s3").put_object(Bucket=ses.MAIL_BUCKET, Key=key, Body=raw + b"\n")   # a second version
    telegram = system.store.conversation(system.store.chat("telegram", "1111111")["conversation_id"])
    thread = telegram["desk_slack"]["ts"]
    for text, event_id, ts in (("Доставка завтра", "Ev0ERASE1", "1763806200.000300"),
                               ("note: VIP customer", "Ev0ERASE2", "1763806260.000300")):
        payload = load_fixture("slack", "desk_thread_reply")
        payload["event"].update(thread_ts=thread, text=text, ts=ts, event_ts=ts, user=AGENT)
        payload["event_id"] = event_id
        assert system.post_slack(payload).status_code == 200
        system.pump.drain()
    system.key = key
    return system


def scan_table(system) -> list[dict]:
    from integrations.dynamodb import from_item

    pages = system.store.ddb.get_paginator("scan").paginate(TableName=system.store.table)
    return [from_item(i) for page in pages for i in page.get("Items", [])]


def leaks(items, strings=PERSONAL) -> list[tuple[str, str]]:
    found = []
    for item in items:
        text = json.dumps(item, ensure_ascii=False).lower()
        found += [(s, f"{item.get('pk')}/{item.get('sk')}") for s in strings if s.lower() in text]
    return found


def bucket_versions():
    from integrations import ses
    from integrations.aws import client

    answer = client("s3").list_object_versions(Bucket=ses.MAIL_BUCKET)
    return answer.get("Versions", []) + answer.get("DeleteMarkers", [])


def stats_counts(system):
    days = [(system.clock.now() + timedelta(days=d)).strftime("%Y-%m-%d") for d in (-1, 0, 1)]
    return sorted((i["pk"], i["sk"], tuple(sorted((k, v) for k, v in i.items() if isinstance(v, int))))
                  for i in system.store.stats_days(days))


def test_export_then_forget_a_customer_on_two_channels(customer):
    system = customer
    assert leaks(scan_table(system)), "the fixture should have stored the customer's data"

    # GIVEN the person, named by their Telegram id, WHEN the admin exports them
    response = system.client.http.get("/admin/api/contacts/telegram:1111111/export", headers=ADMIN)
    assert response.status_code == 200
    document = json.loads(response.body)
    # THEN one document: both identities, both conversations with their messages, the raw mail
    assert {(i["channel"], i["id"]) for i in document["identities"]} == {
        ("telegram", "1111111"), ("email", "olena.koval@gmail.com")}
    assert {c["channel"] for c in document["conversations"]} == {"telegram", "email"}
    telegram = next(c for c in document["conversations"] if c["channel"] == "telegram")
    texts = [m.get("text") or "" for m in telegram["messages"]]
    assert "Коли буде доставка мого замовлення?" in texts
    assert any("Доставка завтра" in t for t in texts)                  # the agent's reply
    assert not any("VIP customer" in t for t in texts)                  # notes only on request
    email = next(c for c in document["conversations"] if c["channel"] == "email")
    assert any(m["direction"] == "in" for m in email["messages"])
    assert any(m["direction"] == "out" and m.get("kind") == "ack" for m in email["messages"])
    assert document["raw_mails"] and "olena.koval@gmail.com" in document["raw_mails"][0]["raw"]
    by_address = json.loads(system.client.http.get(
        "/admin/api/contacts/olena.koval@gmail.com/export?with_notes=1", headers=ADMIN).body)
    assert {c["conversation_id"] for c in by_address["conversations"]} == {
        c["conversation_id"] for c in document["conversations"]}
    assert any("VIP customer" in (m.get("text") or "") for c in by_address["conversations"] for m in c["messages"])
    reference = telegram["reference"]
    by_reference = json.loads(system.client.http.get(
        f"/admin/api/contacts/{reference}/export", headers=ADMIN).body)
    assert len(by_reference["conversations"]) == 2

    counts = stats_counts(system)
    desk_texts = [m["text"] for m in system.slack_api.messages.values()]
    assert any("Коли буде доставка" in (t or "") for t in desk_texts)

    # WHEN the admin erases them
    response = system.client.http.delete("/admin/api/contacts/telegram:1111111", headers=ADMIN)
    assert response.status_code == 200, response.body
    removed = json.loads(response.body)["removed"]
    assert removed["conversations"] == 2 and removed["contacts"] == 2
    assert removed["raw_mails"] == 2                                    # both versions of the mail
    assert removed["events"] >= 3 and removed["desk_records"] == 2 and removed["desk_posts"] >= 2
    assert removed["message_ids"] >= 1 and removed["chats"] == 2

    # THEN no table item, index entry or S3 object holds their name, address, ids or text
    assert leaks(scan_table(system)) == []
    assert bucket_versions() == []
    assert not any(any(s in (m["text"] or "") for s in PERSONAL) for m in system.slack_api.messages.values())
    # stats keep their counts
    assert stats_counts(system) == counts
    # and a second erasure is harmless
    again = json.loads(system.client.http.delete("/admin/api/contacts/telegram:1111111", headers=ADMIN).body)
    assert set(again["removed"].values()) == {0}
    assert system.client.http.get("/admin/api/contacts/telegram:1111111/export", headers=ADMIN).status_code == 404

    # a redelivered old webhook (and the same mail's SNS notification again) does not bring them back
    sent_before = len(system.sent())
    system.deliver(load_fixture("telegram", "text_private"))
    redeliver_mail(system)
    system.pump.drain()
    assert leaks(scan_table(system)) == []
    assert len(system.sent()) == sent_before

    # the audit trail lists the export and the erasure with the admin's identity, without text
    entries = json.loads(system.client.http.get("/admin/api/audit", headers=ADMIN).body)["entries"]
    actions = [(e["action"], e["who"]) for e in entries]
    assert ("contact.export", "Dana Admin") in actions and ("contact.erase", "Dana Admin") in actions
    erase = next(e for e in entries if e["action"] == "contact.erase")
    assert erase["origin"]["user_agent"] == "pytest-admin/1.0"
    assert erase["target"].startswith("contact:") and "1111111" not in erase["target"]
    assert {"desk.reply", "desk.note"} <= {e["action"] for e in entries}
    assert not leaks(entries, PERSONAL + ["Доставка завтра", "VIP customer"])

    # a new message after the erasure starts afresh
    system.deliver(update_from(load_fixture("telegram", "text_private"), 852741099,
                               at=system.clock.now() + timedelta(minutes=5)))
    assert len(system.sent()) == sent_before + 1
    assert system.store.contact("telegram", "1111111")


def redeliver_mail(system):
    import app as app_module
    from cli.email import ses_notification, sns_event
    from integrations import ses
    from integrations.aws import client

    raw = (FIXTURES / "email" / "gmail.eml").read_bytes()
    topic = client("sns").create_topic(Name=ses.MAIL_TOPIC)["TopicArn"]
    notification = ses_notification(raw, ses.MAIL_BUCKET, system.key, topic, "support@acme.example",
                                    system.clock.now())
    app_module.app.handler_map["email_inbound"](sns_event(notification, topic), None)


def test_a_message_queued_before_the_erasure_is_dropped_by_the_worker(customer):
    system = customer
    # GIVEN a message stored by the webhook but not yet worked on
    later = update_from(load_fixture("telegram", "text_private"), 852741050, text="Ще одне питання")
    assert system.post_update(later).status_code == 200
    # WHEN the person is erased, and then the worker gets to the message
    system.client.http.delete("/admin/api/contacts/email:olena.koval@gmail.com", headers=ADMIN)
    system.pump.drain()
    # THEN it neither recreates them nor stays stored
    assert leaks(scan_table(system), PERSONAL + ["Ще одне питання"]) == []


def test_admin_routes_refuse_without_the_admin_token(customer):
    for method, path in (("get", "/admin/api/contacts/telegram:1111111/export"),
                         ("delete", "/admin/api/contacts/telegram:1111111"), ("get", "/admin/api/audit")):
        response = getattr(customer.client.http, method)(path, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401
    assert customer.store.contact("telegram", "1111111")


def test_unknown_contacts_and_bad_audit_days(customer):
    assert customer.client.http.get("/admin/api/contacts/NO-SUCH-REF/export", headers=ADMIN).status_code == 404
    assert customer.client.http.delete("/admin/api/contacts/NO-SUCH-REF", headers=ADMIN).status_code == 404
    assert customer.client.http.get("/admin/api/audit?since=yesterday", headers=ADMIN).status_code == 400


def test_the_commands_export_erase_and_list_the_audit(customer, capsys, tmp_path):
    from cli import main
    from cli.channels import UsageError

    out = tmp_path / "olena.json"
    assert main(["contact", "export", "email:Olena.Koval@gmail.com", "--out", str(out)]) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    assert len(document["conversations"]) == 2 and document["raw_mails"]
    with pytest.raises(UsageError, match="--yes"):   # no terminal to confirm on: nothing erased
        main(["contact", "forget", "telegram:1111111"])
    assert customer.store.contact("telegram", "1111111")
    with pytest.raises(UsageError, match="nothing is held"):
        main(["contact", "export", "telegram:999"])
    capsys.readouterr()
    assert main(["contact", "forget", "olena.koval@gmail.com", "--yes"]) == 0
    printed = capsys.readouterr().out
    assert "conversations" in printed and "raw_mails" in printed
    assert leaks(scan_table(customer)) == []
    assert main(["audit", "--json", "--since", customer.clock.now().strftime("%Y-%m-%d")]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert {"contact.export", "contact.erase"} <= {e["action"] for e in entries}
    assert all(e["who"].startswith("cli:") for e in entries if e["action"].startswith("contact."))
    with pytest.raises(UsageError):
        main(["audit", "--since", "last week"])


def test_contacts_are_named_as_the_stores_name_them_or_by_address_or_reference():
    from functions.customer_data import NotFound, contact_hash, parse

    assert parse("telegram:42") == parse("telegram#42") == ("identity", "telegram#42")
    assert parse("Olena.Koval@Gmail.com") == parse("email:olena.koval@gmail.com") == (
        "identity", "email#olena.koval@gmail.com")
    assert parse("AC-7Q2K") == ("reference", "AC-7Q2K")
    assert contact_hash(b"k", "telegram:42") == contact_hash(b"k", "telegram#42") != contact_hash(b"j", "telegram:42")
    with pytest.raises(NotFound):
        parse("  ")


def test_a_customer_who_came_back_to_the_same_chat_is_erased(system):
    """Two conversations of one chat both name the chat's item: the erasure's one read named it
    twice, and BatchGetItem refuses a request with a key in it twice (moto as DynamoDB): a returning
    customer could not be erased at all."""
    from conftest import OPEN_TIME

    system.deliver(load_fixture("telegram", "text_private"))
    first = system.store.chat("telegram", "1111111")["conversation_id"]
    system.run_job("close-idle", OPEN_TIME + timedelta(days=2))
    system.clock.current = OPEN_TIME + timedelta(days=2, minutes=1)
    system.deliver(update_from(load_fixture("telegram", "text_private"), 852741050, at=system.clock.now()))
    assert system.store.chat("telegram", "1111111")["conversation_id"] != first
    response = system.client.http.delete("/admin/api/contacts/telegram:1111111", headers=ADMIN)
    assert response.status_code == 200, response.body
    removed = json.loads(response.body)["removed"]
    assert removed["conversations"] == 2 and removed["chats"] == 1, removed
    assert leaks(scan_table(system)) == []


def test_an_erasure_while_the_worker_decides_is_not_undone_by_its_retry(customer, monkeypatch):
    """The worker read the person (a batch reads its messages' contexts at its start); the erasure
    comes before its decision is written: the decision's commit fails on the chat the erasure
    deleted, and the retry, finding no contact, checks the tombstone again instead of deciding as
    for a new customer (which would bring the person back and answer them)."""
    from functions.handlers import worker

    system = customer
    later = update_from(load_fixture("telegram", "text_private"), 852741051, text="Ще одне питання")
    assert system.post_update(later).status_code == 200
    commit = worker.store().commit_decision
    erased = []

    def erasure_first(*args, **kwargs):
        if not erased:   # through the admin API, as in AWS (its calls are the API function's, not the worker's)
            response = system.client.http.delete("/admin/api/contacts/telegram:1111111", headers=ADMIN)
            erased.append(json.loads(response.body)["removed"])
        return commit(*args, **kwargs)

    monkeypatch.setattr(worker.store(), "commit_decision", erasure_first)
    sent_before = len(system.sent())
    system.pump.drain()
    assert erased and erased[0]["conversations"] == 2
    assert leaks(scan_table(system), PERSONAL + ["Ще одне питання"]) == []
    assert len(system.sent()) == sent_before


def test_an_erasure_goes_on_when_the_slack_desk_channel_is_gone(customer):
    """The desk channel deleted (or the bot taken out of it) can never be cleaned up by us: the
    erasure of everything stored goes on and says the thread was unreachable."""
    from cli.standins.base import Reply

    system = customer
    system.slack_api.fail_next(Reply(200, {"ok": False, "error": "channel_not_found"}), times=5,
                               method="conversations.replies")
    response = system.client.http.delete("/admin/api/contacts/telegram:1111111", headers=ADMIN)
    assert response.status_code == 200, response.body
    removed = json.loads(response.body)["removed"]
    assert removed["desk_unreachable"] == 2 and removed["conversations"] == 2, removed   # both threads
    assert leaks(scan_table(system)) == []
