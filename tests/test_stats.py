"""Results per channel, from the day counters the pipeline and the surveys write."""
from __future__ import annotations

import json
from datetime import timedelta

from conftest import load_fixture
from functions.stats import median_ack_seconds, summarise


def test_median_from_the_latency_histogram():
    assert median_ack_seconds({"acks": 3, "ack_le_1": 1, "ack_le_2": 1, "ack_le_30": 1}) == 2.0
    assert median_ack_seconds({"acks": 0}) is None
    assert median_ack_seconds({"acks": 1, "ack_le_more": 1}) is None


def test_summary_adds_days_and_channels():
    items = [{"pk": "STATS#2026-11-22", "sk": "telegram", "conversations": 2, "acks": 2, "ack_le_1": 2,
              "surveys": 2, "csat_sum": 9, "csat_count": 2},
             {"pk": "STATS#2026-11-23", "sk": "telegram", "conversations": 1, "acks": 1, "ack_le_5": 1,
              "surveys": 2}]
    row = summarise(items)["telegram"]
    assert row == {"conversations": 3, "acks": 3, "median_ack_seconds_at_most": 1.0, "surveys": 4,
                   "csat_average": 4.5, "csat_responses": 2, "response_rate": 0.5, "nps": None,
                   "nps_responses": 0}
    assert summarise(items)["email"]["conversations"] == 0


def test_stats_command_after_a_conversation_and_an_answer(system, capsys):
    from cli.stats import run
    from test_surveys import telegram_press

    update = load_fixture("telegram", "text_private")
    update["message"]["date"] = int(system.clock.now().timestamp())
    system.deliver(update)
    system.deliver(update)   # a redelivery counts nothing
    cid = system.store.chat("telegram", "1111111")["conversation_id"]
    system.run_job("close-idle", system.clock.now() + timedelta(minutes=31))
    system.run_job("surveys", system.clock.now() + timedelta(minutes=92))
    telegram_press(system, cid, 4)
    telegram_press(system, cid, 2, update_id=900000009)   # changed their mind: average moves
    assert run("2020-01-01", "2020-01-02", True) == 0     # an empty period
    assert json.loads(capsys.readouterr().out)["channels"]["telegram"]["conversations"] == 0
    assert run("2026-11-01", "2026-11-30", True) == 0   # the test clock runs a day ahead
    telegram = json.loads(capsys.readouterr().out)["channels"]["telegram"]
    assert telegram["conversations"] == 1 and telegram["acks"] == 1
    assert telegram["surveys"] == 1 and telegram["csat_responses"] == 1 and telegram["csat_average"] == 2.0
    assert telegram["response_rate"] == 1.0
    assert run("2026-11-01", "2026-11-30", False) == 0
    assert "telegram" in capsys.readouterr().out
