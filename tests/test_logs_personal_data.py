"""Logs carry ids and hashes, never message text, names, email addresses or tokens: the flows run
under log capture (at the level the functions log in AWS) and every captured line, with its
structured fields, is searched for the fixtures' personal strings and the configured secrets."""
from __future__ import annotations

import json
import logging
import os

from conftest import load_fixture, update_from
from test_customer_data import ADMIN, AGENT, DESK, PERSONAL

STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
SECRETS = ["TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET",
           "X_CONSUMER_SECRET", "X_ACCESS_TOKEN", "FIRSTREPLY_SIGNING_SECRET", "FIRSTREPLY_ADMIN_TOKEN"]


def line(record: logging.LogRecord) -> str:
    """What a log line carries: the message, its structured fields, an exception's text."""
    fields = {k: v for k, v in vars(record).items() if k not in STANDARD}
    return " ".join([record.getMessage(), json.dumps(fields, ensure_ascii=False, default=str),
                     record.exc_text or ""])


def test_no_personal_data_in_any_log_line(system, caplog):
    from functions.handlers.logs import quiet_libraries

    caplog.set_level(logging.INFO)
    quiet_libraries()   # as the functions run in AWS
    system.slack_api.add_user(AGENT, "Ivan Shevchenko", first_name="Ivan", locale="uk-UA")
    system.slack_api.add_user("U2147483697", "Ana Lima", first_name="Ana", locale="pt-BR")
    system.use_settings(desk={"slack_channel": DESK}, transcripts={"enabled": True})
    # customers on each channel, an address for the transcript, a mail, an agent's reply and note
    system.deliver(load_fixture("telegram", "text_private"))
    system.deliver(update_from(load_fixture("telegram", "text_private"), 852741002, text="olena.koval@gmail.com"))
    system.ingest("gmail")
    system.ingest("gmail_vacation")   # automatic mail: logged as getting no reply, without its sender
    assert system.post_slack(load_fixture("slack", "message_im")).status_code == 200
    system.pump.drain()
    thread = system.store.conversation(system.store.chat("telegram", "1111111")["conversation_id"])["desk_slack"]["ts"]
    payload = load_fixture("slack", "desk_thread_reply")
    payload["event"].update(thread_ts=thread, text="Доставка завтра, Olena", user=AGENT)
    system.post_slack(payload)
    system.pump.drain()
    # a rejected webhook, the admin's export and erasure, a redelivery after it
    system.post_update(load_fixture("telegram", "text_private"), secret="wrong")
    system.client.http.get("/admin/api/contacts/telegram:1111111/export", headers=ADMIN)
    system.client.http.delete("/admin/api/contacts/telegram:1111111", headers=ADMIN)
    system.deliver(load_fixture("telegram", "text_private"))

    lines = [line(r) for r in caplog.records]
    assert any("erased" in text for text in lines), "the flows should have logged"
    secrets = [os.environ[name] for name in SECRETS if os.environ.get(name)]
    ana = load_fixture("slack", "message_im")["event"]["text"]
    forbidden = PERSONAL + ["Доставка завтра", "Ana Lima", ana[:30]] + secrets
    found = [(s, text[:200]) for text in lines for s in forbidden if s.lower() in text.lower()]
    assert found == []
