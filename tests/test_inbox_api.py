"""The inbox API end to end: agents with personal tokens (stored hashed), the queue by state through
the inbox index, a conversation's history, and actions that go through the same path as a Slack
desk reply (stored as an event, queued, carried out by the worker's `Desk.act`), reaching the
Telegram Bot API stand-in once."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from conftest import load_fixture, update_from

ADMIN = {"Authorization": "Bearer admin-test-token", "X-Admin-Name": "Dana"}


def call(system, method, path, body=None, token=None, headers=None):
    head = {"Content-Type": "application/json", **(headers or {})}
    if token:
        head["Authorization"] = f"Bearer {token}"
    response = getattr(system.client.http, method.lower())(
        path, headers=head, **({"body": json.dumps(body)} if body is not None else {}))
    return response.status_code, json.loads(response.body) if response.body else None


@pytest.fixture
def inbox(system):
    from cli.agents import agent_id

    system.tokens = {}
    for name in ("Olena Koval", "Mykola Bondar"):
        token = f"fra_test-{agent_id(name)}-0123456789abcdef0123456789abcdef"
        assert system.store.add_agent(agent_id(name), name, "", token, system.clock.now())
        system.tokens[name.split()[0]] = token
    return system


def telegram_customer(system, update_id=852741001, **changes):
    system.deliver(update_from(load_fixture("telegram", "text_private"), update_id, **changes))
    return system.store.chat("telegram", "1111111")["conversation_id"]


def act(system, token, cid, verb, body=None, **kw):
    system.clock.current += timedelta(minutes=1)   # each action a minute later: the history's order
    status, answer = call(system, "POST", f"/admin/api/conversations/{cid}/{verb}", body or {}, token=token, **kw)
    system.pump.drain()
    return status, answer


# -- who may ------------------------------------------------------------------------------------------
def test_a_personal_token_signs_in_as_that_agent_and_is_stored_only_as_a_hash(inbox):
    olena = inbox.tokens["Olena"]
    assert call(inbox, "GET", "/admin/api/me", token=olena)[1] == {"id": "inbox:olena-koval", "name": "Olena Koval",
                                                                    "role": "agent"}
    # the admin token keeps working, as an admin
    status, me = call(inbox, "GET", "/admin/api/me", headers=ADMIN)
    assert status == 200 and me["role"] == "admin" and me["name"] == "Dana"
    stored = inbox.store._query("AGENTS")
    assert olena not in json.dumps(stored) and all(len(a["token_hash"]) == 64 for a in stored)
    # an agent's token opens the inbox, not the templates or settings
    assert call(inbox, "GET", "/admin/api/templates", token=olena)[0] == 403
    assert call(inbox, "GET", "/admin/api/settings", token=olena)[0] == 403
    for wrong in ("fra_nope", olena + "x", olena[:-1], ""):
        assert call(inbox, "GET", "/admin/api/conversations", token=wrong)[0] == 401


def test_a_revoked_token_stops_at_once_and_the_agent_stays_listed(inbox):
    assert inbox.store.revoke_agent("mykola-bondar", inbox.clock.now())
    assert call(inbox, "GET", "/admin/api/me", token=inbox.tokens["Mykola"])[0] == 401
    assert not inbox.store.revoke_agent("mykola-bondar", inbox.clock.now())   # twice: nothing to revoke
    assert {a["agent_id"]: a["status"] for a in inbox.store.agents()} == {"mykola-bondar": "revoked",
                                                                         "olena-koval": "active"}
    _, listed = call(inbox, "GET", "/admin/api/agents", token=inbox.tokens["Olena"])
    assert listed["agents"] == [{"id": "inbox:olena-koval", "name": "Olena Koval"}]


def test_agents_cli_prints_the_token_alone_on_its_last_line_and_refuses_a_taken_name(system, capsys):
    from cli.agents import run
    from cli.channels import UsageError

    assert run("add", "Ayşe Yılmaz", "ayse@acme.example") == 0
    token = capsys.readouterr().out.splitlines()[-1]
    assert token.startswith("fra_") and len(token) > 40 and " " not in token
    assert system.store.agent_by_token(token)["agent_id"] == "ayse-yilmaz"
    with pytest.raises(UsageError):
        run("add", "Ayse Yilmaz", None)          # the same id once folded
    with pytest.raises(UsageError):
        run("add", "Someone", "not-an-address")
    run("list", None, None)
    assert "ayse-yilmaz" in capsys.readouterr().out
    assert run("revoke", "Ayşe Yılmaz", None) == 0 and system.store.agent_by_token(token) is None


# -- the queue and a conversation -----------------------------------------------------------------------
def test_reply_note_close_and_assign_through_the_inbox(inbox):
    olena, mykola = inbox.tokens["Olena"], inbox.tokens["Mykola"]
    cid = telegram_customer(inbox)
    acks = len(inbox.sent())
    status, page = call(inbox, "GET", "/admin/api/conversations?state=waiting", token=olena)
    assert status == 200 and [r["conversation_id"] for r in page["conversations"]] == [cid]
    row = page["conversations"][0]
    assert row["name"] == "Olena Koval" and row["channel"] == "telegram" and row["state"] == "waiting"
    assert row["waiting_text"].startswith("waiting ") and row["waiting_text"].endswith("(business time)")

    # a reply is queued, then the worker sends it once through the Bot API stand-in
    status, queued = act(inbox, olena, cid, "reply", {"text": "Вже в дорозі, *завтра* буде у вас."})
    assert status == 202 and queued["queued"] is True
    replies = inbox.sent()[acks:]
    assert len(replies) == 1 and replies[0].params["text"] == "Вже в дорозі, <b>завтра</b> буде у вас."
    # a note reaches nobody
    assert act(inbox, olena, cid, "note", {"text": "asked the warehouse"})[0] == 202
    assert len(inbox.sent()) == acks + 1

    status, view = call(inbox, "GET", f"/admin/api/conversations/{cid}", token=mykola)
    assert status == 200 and view["conversation"]["state"] == "answered"
    kinds = [(h["direction"], h["kind"]) for h in view["history"]]
    assert kinds[:2] == [("in", "message"), ("out", "ack")] and kinds[2:] == [("out", "reply"), ("desk", "note")]
    reply = view["history"][2]
    assert reply["agent"] == "Olena Koval" and reply["delivery"] == "sent" and reply["surface"] == "inbox"
    assert view["history"][0]["local"] == "2026-11-23 10:00"   # our clock, in Kyiv time
    assert inbox.store.conversation(cid)["first_response_by"] == "inbox:olena-koval"

    # assigned to the second agent: their "mine" shows it, the first agent's does not
    assert act(inbox, olena, cid, "assign", {"agent": "Mykola Bondar"})[0] == 202
    mine = call(inbox, "GET", "/admin/api/conversations?state=answered&assignee=me", token=mykola)[1]
    assert [r["conversation_id"] for r in mine["conversations"]] == [cid]
    assert mine["conversations"][0]["assignee_name"] == "Mykola Bondar"
    assert call(inbox, "GET", "/admin/api/conversations?state=answered&assignee=me", token=olena)[1][
        "conversations"] == []

    assert act(inbox, mykola, cid, "close")[0] == 202
    closed = call(inbox, "GET", "/admin/api/conversations?state=closed", token=olena)[1]["conversations"]
    assert [r["conversation_id"] for r in closed] == [cid]
    assert call(inbox, "GET", "/admin/api/conversations?state=answered", token=olena)[1]["conversations"] == []
    history = call(inbox, "GET", f"/admin/api/conversations/{cid}", token=olena)[1]["history"]
    assert [(h["kind"], h["agent"]) for h in history[-2:]] == [("assign", "Olena Koval"), ("close", "Mykola Bondar")]

    # a reply to a closed conversation opens it again
    assert act(inbox, olena, cid, "reply", {"text": "One more thing: tracking is AB123."})[0] == 202
    conversation = inbox.store.conversation(cid)
    assert conversation["status"] == "open" and conversation["state"] == "answered"
    assert len(inbox.sent()) == acks + 2


def test_bad_actions_are_refused_with_the_reason_and_nothing_is_queued(inbox):
    from functions.desk import REPLY_LIMIT

    olena = inbox.tokens["Olena"]
    cid = telegram_customer(inbox)
    sent = len(inbox.sent())
    for body in ({"text": ""}, {"text": "   "}, {"text": "x" * (REPLY_LIMIT + 1)}, {}):
        status, answer = act(inbox, olena, cid, "reply", body)
        assert status == 400 and answer["limit"] == REPLY_LIMIT, body
    assert "10,000" in act(inbox, olena, cid, "reply", {"text": "x" * (REPLY_LIMIT + 1)})[1]["error"]
    assert act(inbox, olena, "NOSUCHCONV1", "reply", {"text": "hi"})[0] == 404
    assert act(inbox, olena, "x" * 300, "reply", {"text": "hi"})[0] == 404   # never a key we would form
    assert call(inbox, "GET", "/admin/api/conversations/NOSUCHCONV1", token=olena)[0] == 404
    assert act(inbox, olena, cid, "delete")[0] == 404
    assert act(inbox, olena, cid, "priority", {"priority": "critical"})[0] == 400
    assert act(inbox, olena, cid, "assign", {"agent": "Nobody Here"})[0] == 400
    assert act(inbox, olena, cid, "assign", {})[0] == 400
    assert call(inbox, "GET", "/admin/api/conversations?state=open", token=olena)[0] == 400
    assert call(inbox, "GET", "/admin/api/conversations?limit=1000", token=olena)[0] == 400
    assert call(inbox, "GET", "/admin/api/conversations?cursor=not-ours", token=olena)[0] == 400
    assert len(inbox.sent()) == sent
    assert act(inbox, olena, cid, "reply", {"text": "x" * REPLY_LIMIT})[0] == 202   # the limit itself is fine
    assert len(inbox.sent()) == sent + 3                                        # in Telegram-sized parts


def test_a_blocked_bot_shows_the_reply_as_undelivered_with_the_reason(inbox):
    olena = inbox.tokens["Olena"]
    cid = telegram_customer(inbox)
    inbox.telegram_api.fail_next(403, description="Forbidden: bot was blocked by the user")
    assert act(inbox, olena, cid, "reply", {"text": "Hello?"})[0] == 202
    reply = call(inbox, "GET", f"/admin/api/conversations/{cid}", token=olena)[1]["history"][-1]
    assert reply["delivery"] == "undeliverable" and "blocked" in reply["reason"]


def test_a_retried_post_with_the_same_idempotency_key_is_one_reply(inbox):
    olena = inbox.tokens["Olena"]
    cid = telegram_customer(inbox)
    sent = len(inbox.sent())
    first = act(inbox, olena, cid, "reply", {"text": "Once"}, headers={"Idempotency-Key": "k-1"})[1]
    second = act(inbox, olena, cid, "reply", {"text": "Once"}, headers={"Idempotency-Key": "k-1"})[1]
    assert first["action_id"] == second["action_id"] and len(inbox.sent()) == sent + 1


def test_priority_filter_and_search_by_reference_and_name(inbox, system):
    olena = inbox.tokens["Olena"]
    cid = telegram_customer(inbox)
    assert act(inbox, olena, cid, "priority", {"priority": "urgent"})[0] == 202
    urgent = call(inbox, "GET", "/admin/api/conversations?priority=urgent", token=olena)[1]["conversations"]
    assert [r["conversation_id"] for r in urgent] == [cid]
    assert call(inbox, "GET", "/admin/api/conversations?priority=low", token=olena)[1]["conversations"] == []
    assert call(inbox, "GET", "/admin/api/conversations?channel=email", token=olena)[1]["conversations"] == []
    reference = inbox.store.conversation(cid)["reference"]
    for q in (reference, reference.lower().replace("-", ""), "olena", "KOVAL", "Olena Koval"):
        found = call(inbox, "GET", f"/admin/api/conversations?q={q.replace(' ', '%20')}", token=olena)[1]
        assert [r["conversation_id"] for r in found["conversations"]] == [cid], q
    assert call(inbox, "GET", "/admin/api/conversations?q=nobody", token=olena)[1]["conversations"] == []


def test_an_email_conversation_is_in_the_queue_beside_telegram(inbox):
    telegram_customer(inbox)
    inbox.ingest("gmail")
    rows = call(inbox, "GET", "/admin/api/conversations", token=inbox.tokens["Olena"])[1]["conversations"]
    assert sorted(r["channel"] for r in rows) == ["email", "telegram"]
    assert next(r for r in rows if r["channel"] == "email")["subject"]


def test_results_give_the_charts_first_response_per_day_sla_attainment_and_per_agent(inbox):
    inbox.use_settings(sla={"first_response": {"normal": "8h", "urgent": "30m"}})
    olena = inbox.tokens["Olena"]
    cid = telegram_customer(inbox)
    assert inbox.store.conversation(cid)["sla_due_at"]
    act(inbox, olena, cid, "reply", {"text": "Here we are."})                 # a minute later: within 8 h
    status, stats = call(inbox, "GET", "/admin/api/stats?since=2026-11-01&until=2026-11-30", headers=ADMIN)
    assert status == 200
    [day] = stats["daily"]
    assert day["day"] == "2026-11-23" and day["answered"] == 1 and day["sla_attainment"] == 1.0
    assert day["first_response_p50"] == 1.0
    assert stats["agents"]["inbox:olena-koval"]["answered"] == 1
    assert call(inbox, "GET", "/admin/api/stats", token=olena)[0] == 403     # results are the admins'


def test_a_close_and_the_customers_next_message_in_one_batch_open_a_new_conversation(inbox):
    """The worker reads a batch's chats at its start; an agent's close queued ahead of the
    customer's next message changes only the chat's status, so the message, read as "open", would
    have joined the closed conversation (and gone unanswered). The decision is committed only on
    the chat as read, status included: it reads again and opens a new conversation."""
    olena = inbox.tokens["Olena"]
    cid = telegram_customer(inbox)
    inbox.clock.current += timedelta(minutes=1)
    assert call(inbox, "POST", f"/admin/api/conversations/{cid}/close", {}, token=olena)[0] == 202
    inbox.clock.current += timedelta(minutes=1)
    template = load_fixture("telegram", "text_private")
    again = update_from(template, 852741002, at=inbox.clock.now(), message_id=1500, text="One more question")
    other = update_from(template, 852741003, at=inbox.clock.now())
    other["message"]["chat"]["id"] = other["message"]["from"]["id"] = 2222222
    for update in (again, other):
        assert inbox.post_update(update).status_code == 200
    assert inbox.pump.pump_once() == 3   # one batch: the close, then both customers (read ahead)
    chat = inbox.store.chat("telegram", "1111111")
    assert chat["conversation_id"] != cid and chat["status"] == "open"
    closed = inbox.store.conversation(cid)
    assert closed["status"] == "closed" and closed["messages"] == 1
    assert inbox.store.conversation(chat["conversation_id"])["state"] == "waiting"


def test_csat_counts_for_the_assignee_else_the_first_responder_and_a_changed_answer_once(inbox):
    """A rating counts for the conversation's assignee, or else the agent who answered it first; a
    customer who changes their answer the next day moves the average, and is still one response."""
    from test_surveys import close_and_survey, telegram_press

    olena = inbox.tokens["Olena"]
    cid = telegram_customer(inbox)
    act(inbox, olena, cid, "reply", {"text": "Here we are."})
    other = update_from(load_fixture("telegram", "text_private"), 852741020, at=inbox.clock.now())
    other["message"]["chat"]["id"] = other["message"]["from"]["id"] = 2222222
    inbox.deliver(other)
    second = inbox.store.chat("telegram", "2222222")["conversation_id"]
    act(inbox, olena, second, "reply", {"text": "On it."})
    act(inbox, olena, second, "assign", {"agent": "Mykola Bondar"})
    close_and_survey(inbox, 30)
    telegram_press(inbox, cid, 4)
    telegram_press(inbox, second, 5, user=2222222, update_id=900000003)
    inbox.clock.current += timedelta(days=1)
    telegram_press(inbox, cid, 2, update_id=900000002)   # changed their mind the next day
    status, stats = call(inbox, "GET", "/admin/api/stats?since=2026-11-01&until=2026-11-30", headers=ADMIN)
    assert status == 200
    agents = stats["agents"]
    assert (agents["inbox:olena-koval"]["csat_average"], agents["inbox:olena-koval"]["csat_responses"]) == (2.0, 1)
    assert (agents["inbox:mykola-bondar"]["csat_average"], agents["inbox:mykola-bondar"]["csat_responses"]) == (5.0, 1)
    assert stats["channels"]["telegram"]["csat_responses"] == 2
