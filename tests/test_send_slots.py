"""Send slots (issue 18): a channel's rate reserved in order, a place held while its message waits in
the queue, a late message using a window's spare, the channel's own "retry after" held the same way."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from conftest import load_fixture

T = 1_795_420_800.0   # a whole second


@pytest.fixture
def slots(system):
    from integrations.dynamodb import channels

    return channels


def test_a_burst_reserves_the_windows_in_order_each_to_its_room(system, slots):
    at = [slots.reserve_slot("pace#test", 30, 1, T) for _ in range(100)]
    room = 30 - slots.spare(30)                       # 27: three a second kept for late comers
    windows = Counter(int(a) for a in at)
    assert windows == {T: room, T + 1: room, T + 2: room, T + 3: 100 - 3 * room}
    assert at == sorted(at) and at[0] == T              # in order, the first at once
    assert at[1] - at[0] == pytest.approx(1 / room, abs=1e-6)   # spread over the second, not all at its start
    assert slots.reserve_slot("pace#other", 30, 1, T + 0.5) == T + 0.5   # never before it was asked for


def test_each_window_is_its_own_key_and_a_try_jumps_instead_of_probing(system, slots, monkeypatch):
    keys, update = [], slots.client("dynamodb").update_item

    class Counting:
        def update_item(self, **kwargs):
            keys.append(kwargs["Key"]["pk"]["S"])
            return update(**kwargs)

    monkeypatch.setattr(slots, "client", lambda service: Counting())
    slots._frontier.clear()
    for _ in range(270):   # ten seconds' worth at once
        slots.reserve_slot("pace#test", 30, 1, T)
    assert len(set(keys)) == 10 and all(k.startswith("RATE#pace#test#") for k in keys)
    assert len(keys) <= 2 * 270                         # a try or two each, not one per full window
    assert max(Counter(keys).values()) <= 27 + 27       # no window's key takes the whole burst


def test_the_frontier_is_not_trusted_past_an_hour(system, slots):
    for _ in range(27):
        slots.reserve_slot("pace#test", 30, 1, T + 7200)   # a clock that was ahead, or another table
    assert int(slots.reserve_slot("pace#test", 30, 1, T)) == T


def test_spares_are_a_tenth_and_none_for_a_send_a_second(slots):
    assert [slots.spare(n) for n in (1, 2, 5, 14, 30)] == [0, 1, 1, 2, 3]


def test_a_late_message_takes_a_spare_then_there_is_none(system, slots):
    assert [slots.take_spare("pace#test", 30, 1, T) for _ in range(4)] == [True, True, True, False]


def test_a_hold_is_taken_once(system, slots):
    slots.hold_slot("telegram", "7", T + 12.5)
    assert slots.release_hold("telegram", "7") == T + 12.5
    assert slots.release_hold("telegram", "7") is None


class Ack:
    chat_id = "42"


def test_a_message_told_to_wait_sends_at_its_held_slot_when_it_comes_back(system, slots):
    from functions.handlers.worker import LazySender

    now = system.clock.current
    for _ in range(27 * 3):   # three seconds of Telegram's room already taken
        slots.reserve_slot("pace#telegram", 30, 1, now.timestamp())
    wait = LazySender("telegram", "e1").pace(Ack(), now, 2.0)
    assert wait == pytest.approx(3.0)                   # its place: the fourth second
    later = now + timedelta(seconds=2.5)                # the queue brought it back early
    for _ in range(27):                                 # and others filled the seconds after
        slots.reserve_slot("pace#telegram", 30, 1, later.timestamp())
    back = LazySender("telegram", "e1", redelivered=True)
    assert back.pace(Ack(), later, 2.0) == pytest.approx(0.5)   # its own place, not a new contest
    # a second send of the event takes a new place, behind the ones taken meanwhile
    assert back.pace(Ack(), later, 2.0) == pytest.approx(1.5 + 1 / 27, abs=1e-6)


def test_a_message_back_after_its_window_uses_a_spare(system, slots):
    from functions.handlers.worker import LazySender

    now = system.clock.current
    slots.hold_slot("telegram", "e2", now.timestamp() - 3)   # its second passed while it queued
    for _ in range(27):
        slots.reserve_slot("pace#telegram", 30, 1, now.timestamp())   # this second is reserved
    assert LazySender("telegram", "e2", redelivered=True).pace(Ack(), now, 2.0) == 0.0


def test_the_channels_own_retry_after_is_held_too(system, monkeypatch):
    """Telegram says "retry after 5" to an acknowledgement: the message goes back to the queue with
    a slot held after those 5 s, and when it comes back it is sent then, not paced again."""
    from functions.handlers import worker
    from integrations import dynamodb, sqs
    from integrations.dynamodb import channels

    deferred = []
    monkeypatch.setattr(sqs, "defer", lambda messages, *queue: deferred.extend(s for _, s in messages))
    system.telegram_api.rate_limit_next(5)
    update = load_fixture("telegram", "text_private")
    system.post_update(update)
    system.pump.pump_once()
    assert deferred == [pytest.approx(5.0, abs=0.01)]
    event_id = str(update["update_id"])
    held = channels.client("dynamodb").get_item(TableName=dynamodb.TABLE_NAME, Key=dynamodb.to_item(
        {"pk": f"EVENT#telegram#{event_id}", "sk": "PACE"}))["Item"]
    assert float(dynamodb.from_item(held)["at"]) == pytest.approx(system.clock.current.timestamp() + 5, abs=0.01)
    system.clock.current += timedelta(seconds=5)     # the queue's wait (on the wall clock in moto: not waited here)
    reserved = []
    monkeypatch.setattr(channels, "reserve_slot", lambda *a: reserved.append(a) or a[-1])
    worker.handle_record({"channel": "telegram", "event_id": event_id}, "m", receives=2)
    assert reserved == []                                         # its held slot, no new contest
    assert len([c for c in system.sent() if c.params.get("text")]) == 2   # refused once, then sent
