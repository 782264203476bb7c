"""Issue 15, auto-reply rules end to end: the per-channel acknowledgement policy and the delay that
waits in the queue (SQS DelaySeconds) and gives way to an agent who answered first."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import yaml

from conftest import CLOSED_TIME, OPEN_TIME, load_fixture, update_from
from functions.settings import SettingsError, parse_settings

BASE = {"business": {"name": "Acme", "timezone": "Europe/Kyiv"}}


# -- settings -------------------------------------------------------------------------------------
def test_unquoted_off_in_yaml_means_off_and_the_default_is_always():
    doc = yaml.safe_load("acknowledgement:\n  policy: {telegram: off, email: outside-hours}\n  delay_seconds: 90\n")
    assert doc["acknowledgement"]["policy"]["telegram"] is False   # what YAML 1.1 makes of it
    settings = parse_settings({**BASE, **doc})
    assert settings.ack_policy == {"telegram": "off", "slack": "always", "x": "always", "email": "outside-hours",
                                   "whatsapp": "always", "messenger": "always", "instagram": "always"}
    assert settings.ack_delay_seconds == 90
    assert parse_settings({**BASE, "acknowledgement": {"policy": "off"}}).ack_policy["x"] == "off"


@pytest.mark.parametrize("ack, field", [
    ({"policy": {"telegram": "sometimes"}}, "acknowledgement.policy.telegram"),
    ({"policy": {"telegram": True}}, "acknowledgement.policy.telegram"),   # `on`: not a policy
    ({"policy": {"fax": "always"}}, "acknowledgement.policy.fax"),
    ({"policy": ["always"]}, "acknowledgement.policy"),
    ({"delay_seconds": 901}, "acknowledgement.delay_seconds"),             # beyond SQS's DelaySeconds
    ({"delay_seconds": -1}, "acknowledgement.delay_seconds"),
    ({"delay_seconds": "60"}, "acknowledgement.delay_seconds"),
])
def test_wrong_policy_or_delay_names_the_field(ack, field):
    with pytest.raises(SettingsError) as error:
        parse_settings({**BASE, "acknowledgement": ack})
    assert error.value.field == field


# -- policy, end to end ---------------------------------------------------------------------------
def policy(system, **channels):
    system.use_settings(acknowledgement={**system.settings_doc.get("acknowledgement", {}), "policy": channels})


def test_outside_hours_acknowledges_only_while_closed(system):
    policy(system, telegram="outside-hours")
    first = load_fixture("telegram", "text_private")
    system.deliver(first)   # OPEN_TIME: Monday 10:00 in Kyiv
    assert system.sent() == []
    conversation = system.store.conversation(system.store.chat("telegram", "1111111")["conversation_id"])
    assert conversation["ack"] == "policy: open now" and conversation["status"] == "open"   # stored anyway

    system.clock.current = CLOSED_TIME   # a new conversation on Sunday: closed, so acknowledged
    system.run_job("close-idle", OPEN_TIME + timedelta(hours=1))
    system.deliver(update_from(first, first["update_id"] + 1, at=CLOSED_TIME + timedelta(days=7)))
    [ack] = system.sent()
    assert "Зараз ми не працюємо" in ack.params["text"]


def test_off_for_one_channel_while_the_others_acknowledge(system):
    system.slack_api.add_user("U2147483697", "Ana Lima", first_name="Ana", locale="pt-BR")
    policy(system, telegram="off")
    system.deliver(load_fixture("telegram", "text_private"))
    assert system.sent() == []
    assert system.post_slack(load_fixture("slack", "message_im")).status_code == 200
    system.pump.drain()
    [slack_ack] = system.slack_api.sent("chat.postMessage")
    assert slack_ack.params["text"].startswith("Hi Ana")


def test_a_policy_that_skips_the_ack_does_not_use_up_the_contact_gap(system):
    policy(system, telegram="outside-hours")
    first = load_fixture("telegram", "text_private")
    system.deliver(first)
    assert not system.store.contact("telegram", str(first["message"]["from"]["id"])).get("last_ack_at")


# -- the delay ------------------------------------------------------------------------------------
def delay_queue(system):
    from integrations import sqs

    return sqs.queue_url(sqs.DELAY_QUEUE_NAME)


def delayed_messages(system) -> list:
    """moto's copies of what waits in the delay queue (to check the delay and to let it pass)."""
    from moto.sqs.models import sqs_backends

    queue = sqs_backends["123456789012"]["us-east-1"].queues["firstreply-delay"]
    return list(queue._messages)


def let_the_delay_pass(system) -> int:
    """What the queue does when DelaySeconds are over: the message becomes receivable. The test
    does not wait them out; it moves moto's clock for these messages only."""
    from cli.dev import QueuePump

    import app as app_module

    for message in delayed_messages(system):
        message.delayed_until = 0
    return QueuePump(app_module.app, queue="firstreply-delay").drain()


@pytest.fixture
def delayed(system):
    system.use_settings(acknowledgement={**system.settings_doc.get("acknowledgement", {}), "delay_seconds": 120})
    return system


def test_the_delay_waits_in_the_queue_then_acknowledges_once(delayed):
    system = delayed
    system.deliver(load_fixture("telegram", "text_private"))
    assert system.sent() == []   # nothing yet, and no worker is sleeping: the queue holds it
    [waiting] = delayed_messages(system)
    assert json.loads(waiting.body)["kind"] == "delayed-ack" and waiting.delayed
    assert waiting.delayed_until - waiting.sent_timestamp >= 119_000   # DelaySeconds=120 on the enqueue
    assert system.pump.sqs.receive_message(QueueUrl=delay_queue(system)).get("Messages") is None
    cid = system.store.chat("telegram", "1111111")["conversation_id"]
    assert system.store.conversation(cid)["ack"] == "delayed"

    system.clock.current = OPEN_TIME + timedelta(seconds=120)
    assert let_the_delay_pass(system) == 1
    [ack] = system.sent()
    assert "Olena" in ack.params["text"] or "Олена" in ack.params["text"]
    assert system.store.conversation(cid)["ack"] == "sent"
    # the queue delivers at least once: the same delayed message again sends nothing
    from integrations import sqs

    sqs.enqueue_delayed_ack("telegram", str(load_fixture("telegram", "text_private")["update_id"]), 0)
    let_the_delay_pass(system)
    assert len(system.sent()) == 1


def agent_replies(system, cid: str, at):
    """An agent's reply as the desk stores it (the Slack desk, the inbox: one desk core)."""
    from functions.desk import Agent, DeskAction

    action = DeskAction(action_id=f"inbox-{cid}-1", conversation_id=cid, kind="reply",
                        agent=Agent("inbox:olena", "Olena"), text="Hi! Looking at it now.",
                        origin={"surface": "inbox"})
    system.store.record_action(action, system.store.conversation(cid), at,
                               parse_settings(system.settings_doc), [])


def test_the_delay_skips_the_ack_when_an_agent_answered_first(delayed):
    system = delayed
    system.deliver(load_fixture("telegram", "text_private"))
    cid = system.store.chat("telegram", "1111111")["conversation_id"]
    agent_replies(system, cid, OPEN_TIME + timedelta(seconds=40))
    assert system.store.conversation(cid)["state"] == "answered"

    system.clock.current = OPEN_TIME + timedelta(seconds=120)
    let_the_delay_pass(system)
    assert system.sent() == []
    assert system.store.conversation(cid)["ack"] == "skipped: agent replied"
    event = system.store.get_event("telegram", str(load_fixture("telegram", "text_private")["update_id"]))
    assert event["ack_skipped"] == "agent replied" and "ack_sent_at" not in event


def test_a_failing_delayed_ack_is_retried_by_the_queue_and_sent_once(delayed):
    system = delayed
    system.deliver(load_fixture("telegram", "text_private"))
    system.telegram_api.fail_next(502, times=4)   # one receive's four tries
    from cli.dev import QueuePump

    import app as app_module

    for message in delayed_messages(system):
        message.delayed_until = 0
    pump = QueuePump(app_module.app, queue="firstreply-delay")
    pump.backoff = lambda receives: 0
    assert pump.pump_once() == 0           # failed: the claim is released, SQS keeps the message
    assert pump.pump_once() == 1
    assert len(system.sent()) == 4 + 1    # the stand-in records the four failed tries, then one ack
    assert pump.pump_once() == 0 and len(system.sent()) == 5


def test_without_a_delay_nothing_goes_through_the_delay_queue(system):
    system.deliver(load_fixture("telegram", "text_private"))
    assert len(system.sent()) == 1 and delayed_messages(system) == []
