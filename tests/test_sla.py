"""SLA in business time: due times across a weekend, a holiday, DST and overnight hours; priority
from the rules; the SLA job warns once at 80 % and once at the breach (desk thread and alarm topic),
reading only the timers that are due."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from conftest import OPEN_TIME, load_fixture, update_from
from reads import counted_reads

KYIV = ZoneInfo("Europe/Kyiv")
SLA = {"first_response": {"urgent": "30m", "high": "2h", "normal": "8h", "low": "24h"},
       "next_response": {"urgent": "1h", "high": "4h", "normal": "1d", "low": "3d"}, "warn_at": 0.8}


def settings_with(hours, holidays=(), timezone_="Europe/Kyiv", **extra):
    from functions.settings import parse_settings

    return parse_settings({"business": {"name": "Acme", "timezone": timezone_}, "hours": hours,
                           "holidays": {"dates": list(holidays)}, "sla": SLA, **extra})


WEEKDAYS_9_18 = {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def local(*args) -> datetime:
    return datetime(*args, tzinfo=KYIV)


def due_of(settings, since: datetime, priority="normal", answered=False):
    from functions import sla
    from functions.clock import iso

    conversation = {"state": "waiting", "waiting_since": iso(since), "priority": priority,
                    **({"first_response_at": "2026-01-01T00:00:00.000Z"} if answered else {})}
    found = sla.due(conversation, settings)
    return None if found is None else {k: (sla.parse_time(v).astimezone(KYIV) if k.endswith("_at") else v)
                                       for k, v in found.items()}


# -- due times ---------------------------------------------------------------------------------------
def test_friday_1730_normal_is_due_on_the_next_working_day_at_the_right_minute_past_a_holiday():
    from functions.hours import BusinessHours

    settings = settings_with(WEEKDAYS_9_18, holidays=["2026-12-07"])    # Monday the 7th is a holiday
    found = due_of(settings, local(2026, 12, 4, 17, 30))                  # Friday 17:30
    # 30 min on Friday, the weekend and the holiday count nothing, 7 h 30 min on Tuesday
    assert found["due_at"] == local(2026, 12, 8, 16, 30)
    assert found["kind"] == "first" and found["target_minutes"] == 480
    assert found["warn_at"] == local(2026, 12, 8, 14, 54)                 # 80 % = 384 business minutes
    hours = BusinessHours(settings)
    assert hours.business_minutes(local(2026, 12, 4, 17, 30), found["due_at"]) == 480
    # a business day is the day's hours: the next response "1d" from Friday 17:30 is Tuesday 17:30
    assert due_of(settings, local(2026, 12, 4, 17, 30), answered=True)["due_at"] == local(2026, 12, 8, 17, 30)
    assert due_of(settings, local(2026, 12, 4, 17, 30), "urgent")["due_at"] == local(2026, 12, 4, 18, 0)


def test_due_across_the_autumn_dst_change_keeps_wall_clock_hours():
    settings = settings_with(WEEKDAYS_9_18)
    # Kyiv leaves summer time on Sunday 25 October 2026: Friday is UTC+3, Monday UTC+2
    found = due_of(settings, local(2026, 10, 23, 17, 0), "high")          # 2 h: 1 h Friday, 1 h Monday
    assert found["due_at"] == local(2026, 10, 26, 10, 0)
    assert found["due_at"].astimezone(timezone.utc).hour == 8
    # spring: 29 March 2026 is a Sunday; a Saturday shift is in the day the clocks jump
    spring = settings_with({"sat": ["00:00-24:00"], "sun": ["00:00-24:00"]})
    found = due_of(spring, local(2026, 3, 29, 1, 0), "high")             # 03:00-04:00 never happens
    assert found["due_at"] == datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)   # 04:00 EEST, 2 real hours


def test_overnight_hours_carry_the_clock_past_midnight_and_into_the_next_shift():
    settings = settings_with({d: ["22:00-02:00"] for d in ("mon", "tue", "wed", "thu", "fri")})
    assert due_of(settings, local(2026, 11, 23, 23, 30), "high")["due_at"] == local(2026, 11, 24, 1, 30)
    # 8 h normal: 2 h 30 min left of Monday's shift, Tuesday's 4 h, then 1 h 30 min of Wednesday's
    assert due_of(settings, local(2026, 11, 23, 23, 30))["due_at"] == local(2026, 11, 25, 23, 30)
    # a message at 12:00 waits for the 22:00 shift
    assert due_of(settings, local(2026, 11, 24, 12, 0), "urgent")["due_at"] == local(2026, 11, 24, 22, 30)


def test_no_target_or_no_hours_promises_nothing_and_bad_sla_settings_name_the_field():
    from functions.settings import SettingsError, parse_settings

    settings = settings_with(WEEKDAYS_9_18)
    assert due_of(settings_with({}), local(2026, 11, 23, 10, 0)) is None
    assert due_of(settings_with(WEEKDAYS_9_18, sla={}), local(2026, 11, 23, 10, 0)) is None
    assert due_of(settings, local(2026, 11, 23, 10, 0), "normal") is not None
    base = {"business": {"name": "Acme"}}
    for bad, field in (({"first_response": {"normal": "8 hours"}}, "sla.first_response.normal"),
                       ({"first_response": {"critical": "1h"}}, "sla.first_response.critical"),
                       ({"warn_at": 1.5}, "sla.warn_at"), ({"next_response": {"low": 3}}, "sla.next_response.low")):
        with pytest.raises(SettingsError) as error:
            parse_settings({**base, "sla": bad})
        assert error.value.field == field
    with pytest.raises(SettingsError) as error:
        parse_settings({**base, "priority_rules": {"vip": ["123456"]}})
    assert error.value.field == "priority_rules.vip[0]"


def test_rules_give_priority_by_keyword_in_any_language_and_by_vip():
    from functions import sla

    settings = settings_with(WEEKDAYS_9_18, priority_rules={
        "keywords": {"urgent": ["urgent", "срочно", "терміново", "acil", "فوری"], "low": ["newsletter"]},
        "vip": ["telegram:123456789", "email:CEO@bigcustomer.example"]})
    assert sla.rule_priority("Це ТЕРМІНОВО!", "telegram#1", settings) == "urgent"
    assert sla.rule_priority("Çok ACİL lütfen", "telegram#1", settings) == "urgent"
    assert sla.rule_priority("لطفا فوری", "telegram#1", settings) == "urgent"
    assert sla.rule_priority("hello", "telegram#123456789", settings) == "high"
    assert sla.rule_priority("hello", "email#ceo@bigcustomer.example", settings) == "high"
    assert sla.rule_priority("hello", "telegram#1", settings) is None


# -- in the system ---------------------------------------------------------------------------------------
@pytest.fixture
def alarms(system, monkeypatch):
    """The alarm topic, with a queue subscribed to read what was published."""
    from integrations.aws import client

    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name="firstreply-alarms")["TopicArn"]
    queue = sqs.create_queue(QueueName="alarm-reader")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    monkeypatch.setenv("FIRSTREPLY_ALARM_TOPIC_ARN", topic)

    def read():
        found = []
        while True:
            batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])

    system.use_settings(sla=SLA, desk={"slack_channel": "C0DESK0001"}, priority_rules={
        "keywords": {"urgent": ["терміново"]}})
    return read


def test_the_job_warns_once_at_80_percent_and_once_at_breach_in_the_thread_and_on_the_topic(system, alarms):
    system.deliver(load_fixture("telegram", "text_private"))      # Monday 10:00 Kyiv, normal: 8 h
    cid = system.store.chat("telegram", "1111111")["conversation_id"]
    conversation = system.store.conversation(cid)
    # Mon 10-13, 14-18 is 7 h; one more hour on Tuesday
    assert conversation["sla_due_at"] == "2026-11-24T08:00:00.000Z" and conversation["sla_kind"] == "first"
    thread = conversation["desk_slack"]["ts"]

    def thread_posts():
        return [c.params["text"] for c in system.slack_api.sent("chat.postMessage")
                if c.params.get("thread_ts") == thread]

    before = system.run_job("sla", OPEN_TIME + timedelta(hours=5))    # 15:00: not yet 80 %
    assert before["warned"] == 0 and before["read"] == 0 and alarms() == []
    warn_time = datetime(2026, 11, 23, 15, 24, tzinfo=timezone.utc)   # 17:24 Kyiv = 384 business minutes
    assert system.run_job("sla", warn_time - timedelta(minutes=1))["warned"] == 0
    assert system.run_job("sla", warn_time)["warned"] == 1
    assert system.run_job("sla", warn_time + timedelta(minutes=1)) == {"warned": 0, "breached": 0, "read": 0,
                                                                       "skipped": {}}
    published = alarms()
    assert [p["alarm"] for p in published] == ["sla-warn"]
    assert "SLA warning" in published[0]["text"] and published[0]["conversation_id"] == cid
    assert len([t for t in thread_posts() if "SLA warning" in t]) == 1

    breach = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)
    assert system.run_job("sla", breach)["breached"] == 1
    assert system.run_job("sla", breach + timedelta(hours=1))["breached"] == 0     # run twice: nothing new
    assert [p["alarm"] for p in alarms()] == ["sla-breach"]
    assert len([t for t in thread_posts() if "SLA breached" in t]) == 1


def test_an_answer_before_the_warning_stops_the_timer_and_a_keyword_makes_it_urgent(system, alarms):
    update = update_from(load_fixture("telegram", "text_private"), 852741002, text="Це терміново!")
    system.deliver(update)
    cid = system.store.chat("telegram", "1111111")["conversation_id"]
    conversation = system.store.conversation(cid)
    assert conversation["priority"] == "urgent" and conversation["sla_due_at"] == "2026-11-23T08:30:00.000Z"
    from functions.desk import Agent, DeskAction
    from functions.handlers import desk as desk_handler
    from functions.handlers.worker import retry_policy

    work = desk_handler.desk(system.store, system.store.load_settings(), system.clock, retry_policy())
    work.act(DeskAction("inbox-test-1", cid, "reply", Agent("inbox:olena", "Olena"), text="On it",
                        origin={"surface": "inbox"}))
    conversation = system.store.conversation(cid)
    assert conversation["state"] == "answered" and "sla_due_at" not in conversation
    report = system.run_job("sla", OPEN_TIME + timedelta(hours=3))
    assert report["warned"] == report["breached"] == 0 and report["skipped"] == {"no longer due": 1}
    assert system.run_job("sla", OPEN_TIME + timedelta(hours=4))["read"] == 0   # the timer left the index
    assert alarms() == []
    # the customer writes again: the next-response clock (urgent: 1 h) starts from that message
    system.clock.current = OPEN_TIME + timedelta(minutes=20)
    system.deliver(update_from(load_fixture("telegram", "text_private"), 852741003, text="And?"))
    conversation = system.store.conversation(cid)
    assert conversation["sla_kind"] == "next" and conversation["sla_due_at"] == "2026-11-23T09:20:00.000Z"


def test_an_sla_run_reads_only_the_due_timers_whatever_the_table_holds(system):
    from functions.clock import iso
    from integrations.aws import client
    from integrations.dynamodb import TABLE_NAME, to_item
    from integrations.dynamodb.inbox import sla_timer

    system.use_settings(sla=SLA)
    now = OPEN_TIME + timedelta(days=2)
    items = []
    for i in range(400):   # 390 timers still far away, 10 due now
        cid = f"S{i:09d}"
        due = now - timedelta(minutes=5) if i < 10 else now + timedelta(days=3)
        conversation = {"pk": f"CONV#{cid}", "sk": "META", "conversation_id": cid, "channel": "telegram",
                        "chat_id": f"c{i}", "state": "waiting", "waiting_since": iso(now - timedelta(hours=9)),
                        "sla_due_at": iso(due), "priority": "normal", "reference": f"S{i:02d}-000"}
        items += [conversation, sla_timer(conversation, {"due_at": iso(due), "warn_at": iso(due - timedelta(hours=1)),
                                                         "kind": "first"}, now)]
    for start in range(0, len(items), 25):
        client("dynamodb").batch_write_item(RequestItems={TABLE_NAME: [
            {"PutRequest": {"Item": to_item(item)}} for item in items[start:start + 25]]})
    with counted_reads() as reads:
        report = system.run_job("sla", now)
    assert report["breached"] == 10 and report["read"] == 10
    # the due timers and their conversations (and the settings once): ∝ due, not the 400 in the table
    assert reads["Scan"] == 0 and reads["items"] <= 2 * 10 + 2
    print(f"\nSLA run: {reads['items']} items read for 10 due timers among 400 (queries: {reads['Query']})")


def test_the_breach_is_said_in_the_telegram_desk_topic_too(system, alarms):
    """The SLA job posts in every desk surface of the conversation: the Telegram topic needs the bot
    token, read by the SLA function (its role grants it; the grant test sees the read here)."""
    from integrations import telegram_desk

    group = -1001234567890
    telegram_desk._admins.clear()
    system.telegram_api.add_forum(group)
    system.use_settings(sla=SLA, desk={"telegram_group": group})
    system.deliver(load_fixture("telegram", "text_private"))      # Monday 10:00 Kyiv, normal: 8 h
    conversation = system.store.conversation(system.store.chat("telegram", "1111111")["conversation_id"])
    topic = conversation["desk_telegram"]["topic"]

    assert system.run_job("sla", datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc))["breached"] == 1
    said = [c.params["text"] for c in system.telegram_api.sent("sendMessage")
            if str(c.params.get("chat_id")) == str(group) and str(c.params.get("message_thread_id")) == str(topic)]
    assert len([t for t in said if "SLA breached" in t]) == 1
    assert [p["alarm"] for p in alarms()] == ["sla-breach"]
