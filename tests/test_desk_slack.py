"""The Slack desk end to end: customers on every channel open a thread in the desk channel; agents'
thread replies, signed Events API requests through Chalice's test client, reach the customer once
through the real SDKs and the channel stand-ins; notes and alerts-only mode reach nobody."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest

from conftest import load_fixture

FAR_FUTURE = datetime(9999, 1, 1, tzinfo=timezone.utc)   # every open conversation counts as idle by then

DESK = "C0DESK0001"
AGENT = "U0AGENT001"


@pytest.fixture
def desk(system):
    system.slack_api.add_user(AGENT, "Olena Petrenko", first_name="Olena", locale="uk-UA")
    system.slack_api.add_user("U2147483697", "Ana Lima", first_name="Ana", locale="pt-BR")
    system.use_settings(desk={"slack_channel": DESK})
    return system


def desk_posts(system):
    return [c for c in system.slack_api.sent("chat.postMessage") if c.params.get("channel") == DESK]


def conversation_of(system, channel, chat_id):
    return system.store.conversation(system.store.chat(channel, chat_id)["conversation_id"])


def thread_of(system, channel, chat_id) -> str:
    return conversation_of(system, channel, chat_id)["desk_slack"]["ts"]


def agent_says(system, thread_ts, text, ts="1763806200.000300", event_id="Ev0DESKREPLY1", user=AGENT,
               headers=None, **sign):
    payload = load_fixture("slack", "desk_thread_reply")
    payload["event"].update(thread_ts=thread_ts, text=text, ts=ts, event_ts=ts, user=user)
    payload["event_id"] = event_id
    response = system.post_slack(payload, headers=headers, **sign)
    system.pump.drain()
    return response


def click(system, action_id, thread_ts, value, action_ts="1763806400.002000", **action):
    payload = load_fixture("slack", "desk_block_actions")
    payload["container"]["message_ts"] = thread_ts
    payload["actions"][0].update(action_id=action_id, value=value, action_ts=action_ts, **action)
    body = urlencode({"payload": json.dumps(payload)}).encode()
    response = system.post_slack(None, path="/webhooks/slack/interactions", raw=body)
    system.pump.drain()
    return response


def telegram_customer(system):
    system.deliver(load_fixture("telegram", "text_private"))
    return thread_of(system, "telegram", "1111111")


def test_a_telegram_customer_opens_a_thread_and_the_agent_reply_reaches_them_once(desk):
    thread = telegram_customer(desk)
    [parent] = desk_posts(desk)
    blocks = json.dumps(parent.params["blocks"], ensure_ascii=False)
    assert "Olena" in blocks and "Telegram" in blocks and "uk" in blocks
    assert "Коли буде доставка" in blocks                     # what she wrote
    assert "Auto-reply sent" in blocks and "ref `" in blocks  # what we answered, the reference
    assert "desk_assign" in blocks and "desk_priority" in blocks and "desk_close" in blocks
    # (Slack sends what the agent typed as "<b> &" with its own escaping) and delivers the event
    # three times (twice as its own retries): one reply reaches her
    for retry in (None, "1", "2"):
        response = agent_says(desk, thread, "Hi! Your parcel left today: <https://acme.example/track/42|tracking> "
                                            "*Friday* &lt;b&gt; &amp;",
                              headers={"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"}
                              if retry else None)
        assert response.status_code == 200
    ack, reply = desk.sent()
    assert reply.params["chat_id"] == "1111111"
    assert reply.params["parse_mode"] == "HTML"
    assert reply.params["text"] == ('Hi! Your parcel left today: <a href="https://acme.example/track/42">tracking</a> '
                                    "<b>Friday</b> &lt;b&gt; &amp;")
    [reaction] = desk.slack_api.sent("reactions.add")
    assert reaction.params == {"channel": DESK, "timestamp": "1763806200.000300", "name": "white_check_mark"}
    conversation = conversation_of(desk, "telegram", "1111111")
    assert conversation["state"] == "answered" and conversation["agent_replies"] == 1
    assert conversation["first_response_by"] == f"slack:{AGENT}"
    history = desk.store.messages(conversation["conversation_id"])
    assert [(m["direction"], m.get("kind")) for m in history] == [("in", None), ("out", "ack"), ("out", "reply")]
    assert history[-1]["agent_name"] == "Olena Petrenko" and history[-1]["delivery"] == "sent"


def test_a_later_customer_message_goes_into_the_thread_and_puts_it_back_on_us(desk):
    from conftest import update_from

    thread = telegram_customer(desk)
    agent_says(desk, thread, "We are on it")
    first = load_fixture("telegram", "text_private")
    desk.clock.current += timedelta(minutes=3)
    desk.deliver(update_from(first, first["update_id"] + 1, at=desk.clock.now(), message_id=1400, text="Дякую!"))
    in_thread = [c for c in desk_posts(desk) if c.params.get("thread_ts") == thread]
    assert [c.params["text"] for c in in_thread] == ["Дякую!"]
    assert conversation_of(desk, "telegram", "1111111")["state"] == "waiting"


def test_a_note_reaches_nobody_and_alerts_only_relays_nothing(desk):
    thread = telegram_customer(desk)
    agent_says(desk, thread, "note: she wrote last week too", ts="1763806201.000001", event_id="Ev1")
    assert len(desk.sent()) == 1   # the acknowledgement only
    [reaction] = desk.slack_api.sent("reactions.add")
    assert reaction.params["name"] == "memo"
    desk.use_settings(desk={"slack_channel": DESK, "mode": "alerts-only"})
    agent_says(desk, thread, "Hi, it's on its way", ts="1763806202.000002", event_id="Ev2")
    assert len(desk.sent()) == 1
    history = desk.store.messages(conversation_of(desk, "telegram", "1111111")["conversation_id"])
    assert [m.get("kind") for m in history if m["direction"] == "desk"] == ["note", "note"]


def test_an_email_customer_gets_a_threaded_reply_from_a_person(desk):
    from conftest import FIXTURES

    desk.ingest("gmail")
    message_id = "<CAJ8x7Yw1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZ@mail.gmail.com>"
    assert message_id in (FIXTURES / "email" / "gmail.eml").read_text()
    conversation = next(iter(desk.store.idle_conversations("email", FAR_FUTURE)))
    thread = conversation["desk_slack"]["ts"]
    before = len(desk.sent_mail())
    agent_says(desk, thread, "Hello, *your refund* is on its way.")
    [mail] = desk.sent_mail()[before:]
    assert mail["In-Reply-To"] == message_id
    assert message_id in mail["References"]
    assert mail["Auto-Submitted"] is None and mail["X-Auto-Response-Suppress"] is None
    assert mail["From"].addresses[0].display_name == "Olena Petrenko"
    assert mail["From"].addresses[0].addr_spec == "support@acme.example"
    assert mail["Subject"].startswith("Re: ")
    assert "your refund is on its way" in mail.get_body(("plain",)).get_content()
    assert "<b>your refund</b>" in mail.get_body(("html",)).get_content()


def test_an_x_customer_gets_a_dm_and_a_refused_dm_is_shown_in_the_thread(desk):
    from cli.standins.base import Reply

    desk.post_x(load_fixture("x", "aaa_dm"))
    desk.pump.drain()
    conversation = next(iter(desk.store.idle_conversations("x", FAR_FUTURE)))
    thread = conversation["desk_slack"]["ts"]
    dms_before = len(desk.x_api.sent("dm"))
    agent_says(desk, thread, "Thanks, we'll check", ts="1763806210.000001", event_id="EvX1")
    assert len(desk.x_api.sent("dm")) == dms_before + 1
    assert desk.x_api.sent("dm")[-1].params["text"] == "Thanks, we'll check"
    desk.x_api.fail_next(Reply(403, {"title": "Forbidden", "status": 403,
                                     "detail": "You cannot send messages to this user."}), method="dm")
    agent_says(desk, thread, "One more thing", ts="1763806211.000001", event_id="EvX2")
    notice = [c for c in desk_posts(desk) if c.params.get("thread_ts") == thread][-1]
    assert notice.params["text"].startswith("Not delivered to the customer:")
    record = [m for m in desk.store.messages(conversation["conversation_id"]) if m.get("kind") == "reply"][-1]
    assert record["delivery"] == "undeliverable" and record["reason"]


def test_a_slack_customer_is_answered_in_their_dm(desk):
    desk.post_slack(load_fixture("slack", "message_im"))
    desk.pump.drain()
    thread = thread_of(desk, "slack", "D024BE91L")
    agent_says(desk, thread, "Hi Ana, the payment went through now")
    to_customer = [c for c in desk.slack_api.sent("chat.postMessage") if c.params.get("channel") == "D024BE91L"]
    assert [c.params["text"] for c in to_customer][-1] == "Hi Ana, the payment went through now"


def test_blocked_bot_is_reported_once_and_a_flaky_channel_delivers_once(desk):
    thread = telegram_customer(desk)
    desk.telegram_api.fail_next(500, times=2)
    agent_says(desk, thread, "First answer", ts="1763806220.000001", event_id="EvB1")
    assert [c.params["text"] for c in desk.sent()][1:] == ["First answer"] * 3   # two failures, one success
    [reaction] = desk.slack_api.sent("reactions.add")
    assert reaction.params["timestamp"] == "1763806220.000001"
    desk.pump.drain()
    assert len(desk.sent()) == 4
    desk.telegram_api.fail_next(403, description="Forbidden: bot was blocked by the user")
    agent_says(desk, thread, "Second answer", ts="1763806221.000001", event_id="EvB2")
    assert len(desk.sent()) == 5   # one refused try, nothing retried
    notices = [c.params["text"] for c in desk_posts(desk) if c.params.get("thread_ts") == thread]
    assert notices == ["Not delivered to the customer: Forbidden: Forbidden: bot was blocked by the user"]
    assert desk.queue_depth(desk.pump.url) == 0


def test_the_close_button_closes_and_the_transcript_lists_the_reply_not_the_note(desk):
    desk.use_settings(desk={"slack_channel": DESK}, transcripts={"enabled": True})
    desk.ingest("gmail")
    conversation = next(iter(desk.store.idle_conversations("email", FAR_FUTURE)))
    cid, thread = conversation["conversation_id"], conversation["desk_slack"]["ts"]
    agent_says(desk, thread, "Your refund was sent today.", ts="1763806230.000001", event_id="EvC1")
    agent_says(desk, thread, "note: refund id 5521, internal", ts="1763806231.000001", event_id="EvC2")
    click(desk, "desk_close", thread, cid)
    click(desk, "desk_close", thread, cid)   # Slack may deliver the click twice
    closed = desk.store.conversation(cid)
    assert closed["status"] == "closed" and closed["state"] == "closed" and closed["closed_by"] == f"slack:{AGENT}"
    [update, *_] = desk.slack_api.sent("chat.update")
    assert "desk_reopen" in json.dumps(update.params["blocks"])
    before = len(desk.sent_mail())
    desk.run_job("transcripts", desk.clock.now() + timedelta(minutes=1))
    [transcript] = desk.sent_mail()[before:]
    text = transcript.get_body(("plain",)).get_content()
    assert "Your refund was sent today." in text and "Olena" in text
    assert "5521" not in text and "internal" not in text


def test_forged_stale_and_own_desk_events_change_nothing(desk):
    import time

    thread = telegram_customer(desk)
    assert agent_says(desk, thread, "forged", secret="wrong").status_code == 401
    assert agent_says(desk, thread, "stale", timestamp=int(time.time()) - 600).status_code == 401
    own = load_fixture("slack", "desk_thread_reply")
    own["event"].update(thread_ts=thread, bot_id="B0BOT", user="U0BOTUSER1", ts="1763806240.000001")
    desk.post_slack(own)
    top = load_fixture("slack", "desk_thread_reply")
    top["event"].pop("thread_ts")
    desk.post_slack(top)
    mention = load_fixture("slack", "app_mention_top")
    mention["event"]["channel"] = DESK
    desk.post_slack(mention)            # an @mention in the desk channel is no customer
    desk.pump.drain()
    assert len(desk.sent()) == 1        # the acknowledgement only
    assert len(desk_posts(desk)) == 1   # the parent only: no ack, no loop into the desk


def test_a_thread_outside_the_desk_is_not_a_desk_thread(desk):
    thread = telegram_customer(desk)
    elsewhere = load_fixture("slack", "desk_thread_reply")
    elsewhere["event"].update(channel="C0OTHER001", thread_ts=thread)
    desk.post_slack(elsewhere)
    desk.pump.drain()
    assert len(desk.sent()) == 1


def test_edits_are_not_relayed_and_the_thread_says_so_once(desk):
    thread = telegram_customer(desk)
    agent_says(desk, thread, "Hi! Your parcel left today")
    for n in range(2):
        edit = load_fixture("slack", "desk_message_changed")
        edit["event"]["message"]["thread_ts"] = edit["event"]["previous_message"]["thread_ts"] = thread
        edit["event"]["ts"] = f"1763806260.00050{n}"
        edit["event_id"] = f"Ev0DESKEDIT{n}"
        desk.post_slack(edit)
        desk.pump.drain()
    assert len(desk.sent()) == 2
    notices = [c.params["text"] for c in desk_posts(desk) if c.params.get("thread_ts") == thread]
    assert len(notices) == 1 and notices[0].startswith("Edits and deletions are not sent")


def test_buttons_assign_and_set_priority_and_update_the_parent(desk):
    thread = telegram_customer(desk)
    cid = conversation_of(desk, "telegram", "1111111")["conversation_id"]
    click(desk, "desk_assign", thread, cid, action_ts="1763806500.000001")
    click(desk, "desk_priority", thread, "", action_ts="1763806501.000001",
          type="static_select", selected_option={"value": f"{cid}:urgent", "text": {"type": "plain_text",
                                                                                     "text": "Urgent"}})
    conversation = desk.store.conversation(cid)
    assert conversation["assignee"] == f"slack:{AGENT}" and conversation["priority"] == "urgent"
    last = json.dumps(desk.slack_api.sent("chat.update")[-1].params["blocks"], ensure_ascii=False)
    assert "urgent" in last and "olena.agent" in last
    assert "Коли буде доставка" in last   # the parent keeps what she wrote when it is redrawn


def test_a_new_conversation_of_the_same_customer_links_the_previous_thread(desk):
    from conftest import update_from

    first_thread = telegram_customer(desk)
    first = load_fixture("telegram", "text_private")
    desk.clock.current += timedelta(hours=3)
    desk.deliver(update_from(first, first["update_id"] + 5, at=desk.clock.now(), message_id=1500, text="Ще питання"))
    parents = [c for c in desk_posts(desk) if not c.params.get("thread_ts")]
    assert len(parents) == 2
    assert f"p{first_thread.replace('.', '')}" in json.dumps(parents[1].params["blocks"])


def test_first_response_in_business_minutes_across_a_night_and_a_holiday(desk, capsys):
    """Hours Mon–Fri 09:00–18:00 Kyiv, Monday 30 November a holiday. A customer writes Friday
    27 November at 17:30; the agent answers Tuesday 1 December at 09:30: 3 days 16 hours on the wall
    (5,280 minutes), 60 business minutes (17:30–18:00 Friday, 09:00–09:30 Tuesday)."""
    from datetime import datetime, timezone

    from cli.stats import run
    from conftest import update_from

    weekdays = {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
    desk.use_settings(desk={"slack_channel": DESK}, hours={**weekdays, "sat": [], "sun": []},
                      holidays={"dates": ["2026-11-30"]})
    friday = datetime(2026, 11, 27, 15, 30, tzinfo=timezone.utc)
    desk.clock.current = friday
    desk.deliver(update_from(load_fixture("telegram", "text_private"), 880001, at=friday))
    thread = thread_of(desk, "telegram", "1111111")
    desk.clock.current = datetime(2026, 12, 1, 7, 30, tzinfo=timezone.utc)
    agent_says(desk, thread, "Good morning, here is your answer")
    agent_says(desk, thread, "And one more detail", ts="1763806300.000001", event_id="Ev2")
    conversation = conversation_of(desk, "telegram", "1111111")
    assert conversation["first_response_minutes"] == 5280
    assert conversation["first_response_business_minutes"] == 60
    click(desk, "desk_close", thread, conversation["conversation_id"])
    assert run("2026-11-27", "2026-12-01", True) == 0
    report = json.loads(capsys.readouterr().out)
    telegram = report["channels"]["telegram"]
    assert telegram["answered"] == 1 and telegram["closed"] == 1
    assert telegram["first_response_minutes"] == {"median": 5280, "p90": 5280}
    assert telegram["first_response_business_minutes"] == {"median": 60, "p90": 60}
    assert telegram["replies_per_conversation"] == 2
    assert report["agents"][f"slack:{AGENT}"]["first_response_business_minutes"]["median"] == 60
    assert run("2026-11-27", "2026-12-01", False) == 0
    assert f"slack:{AGENT}" in capsys.readouterr().out


def test_the_desk_in_make_dev_with_a_reply_posted_by_hand(tmp_path):
    """`firstreply dev` without a Slack token shows the desk on /dev/outbox; `firstreply post slack
    --thread … --text …` answers as an agent, and the reply reaches the customer's outbox."""
    import subprocess
    import time
    import urllib.request

    import yaml

    from conftest import ROOT
    from test_dev_server import FIRSTREPLY, dev_env, free_port, post, start, stop

    settings = yaml.safe_load((ROOT / "firstreply.yaml").read_text(encoding="utf-8"))
    settings["desk"] = {"slack_channel": DESK}
    config = tmp_path / "desk.yaml"
    config.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")

    def outbox(port, key, count):
        deadline, items = time.monotonic() + 20, []
        while time.monotonic() < deadline and len(items) < count:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/dev/outbox") as response:
                items = json.load(response)[key]
            time.sleep(0.2)
        return items

    port = free_port()
    process = start(port, dev_env(), "--config", str(config))
    try:
        assert post(port, load_fixture("telegram", "text_private"), "dev-secret") == 200
        [parent] = outbox(port, "desk", 1)
        assert parent["what"] == "conversation" and "Olena" in parent["text"]
        posted = subprocess.run([FIRSTREPLY, "post", "slack", "--thread", parent["thread"], "--text",
                                 "Hello from the desk", "--url", f"http://127.0.0.1:{port}"],
                                env=dev_env(), capture_output=True, text=True, timeout=30)
        assert posted.returncode == 0 and posted.stdout.startswith("200 "), posted.stdout + posted.stderr
        messages = outbox(port, "messages", 2)
        assert [m["text"] for m in messages][0] == "Hello from the desk"
        assert any(d["what"] == "confirmed" and d["text"] == "sent" for d in outbox(port, "desk", 2))
        page = urllib.request.Request(f"http://127.0.0.1:{port}/dev/outbox", headers={"Accept": "text/html"})
        with urllib.request.urlopen(page) as response:
            assert parent["thread"] in response.read().decode()
    finally:
        stop(process)
