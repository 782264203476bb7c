"""Send slots (issue 18): a channel's rate reserved in order, a place held while its message waits in
the queue, a late message using a window's spare, the channel's own "retry after" held the same way."""
from __future__ import annotations

import json
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


def test_a_batch_reads_its_holds_at_once(system, slots):
    slots.hold_slot("telegram", "7", T + 12.5)
    slots.hold_slot("slack", "Ev1", T + 3)
    assert slots.held_slots([("telegram", "7"), ("slack", "Ev1"), ("telegram", "8")]) == {
        ("telegram", "7"): T + 12.5, ("slack", "Ev1"): T + 3}
    assert slots.held_slots([]) == {}


def test_a_batch_is_handled_in_the_order_of_its_held_slots_each_chat_in_its_own_order():
    from functions.handlers.worker import by_held_slot

    def record(message_id, group):
        return {"messageId": message_id, "attributes": {"MessageGroupId": group}}

    batch = [record("a1", "A"), record("b1", "B"), record("a2", "A"), record("c1", "C"), record("d1", "D")]
    ordered = by_held_slot(batch, {"a1": T + 5, "b1": T + 1, "d1": T + 3})
    assert [r["messageId"] for r in ordered] == ["c1", "b1", "d1", "a1", "a2"]


class Ack:
    chat_id = "42"


def test_a_message_told_to_wait_sends_at_its_held_slot_when_it_comes_back(system, slots):
    from functions.handlers.worker import LazySender

    now = system.clock.current
    for _ in range(27 * 3):   # three seconds of Telegram's room already taken
        slots.reserve_slot("pace#telegram", 30, 1, now.timestamp())
    assert LazySender("telegram", "e1").pace(Ack(), now, 2.0) == pytest.approx(3.0)   # the fourth second
    later = now + timedelta(seconds=2.5)                # the queue brought it back early
    for _ in range(27):                                 # and others filled the seconds after
        slots.reserve_slot("pace#telegram", 30, 1, later.timestamp())
    held = slots.held_slots([("telegram", "e1")])[("telegram", "e1")]
    back = LazySender("telegram", "e1", held)
    assert back.pace(Ack(), later, 2.0) == pytest.approx(0.5)   # its own place, not a new contest
    # a second send of the event takes a new place, behind the ones taken meanwhile
    assert back.pace(Ack(), later, 2.0) == pytest.approx(1.5 + 1 / 27, abs=1e-6)
    # an invocation that has no time left for it keeps it held, for the next receive
    again = LazySender("telegram", "e1", held)
    assert again.pace(Ack(), later, 0.2) == pytest.approx(0.5)
    assert slots.held_slots([("telegram", "e1")]) == {("telegram", "e1"): held}


def test_a_message_back_after_its_window_uses_a_spare(system, slots):
    from functions.handlers.worker import LazySender

    now = system.clock.current
    for _ in range(27):
        slots.reserve_slot("pace#telegram", 30, 1, now.timestamp())   # this second is reserved
    late = [LazySender("telegram", f"e{n}", now.timestamp() - 3).pace(Ack(), now, 2.0) for n in range(4)]
    assert late[:3] == [0.0, 0.0, 0.0] and late[3] > 0.5    # three spares, then a place like anyone's


def test_the_channels_own_retry_after_is_held_too(system, monkeypatch):
    """Telegram says "retry after 5" to an acknowledgement: the message goes back to the queue with
    a slot held after those 5 s (it comes back a second early and waits the rest), and when it
    comes back it is sent at that slot, not paced again."""
    from integrations import sqs
    from integrations.dynamodb import channels

    deferred, defer = [], sqs.defer
    monkeypatch.setattr(sqs, "defer", lambda messages, *queue: (deferred.extend(s for _, s in messages),
                                                                 defer([(h, 0) for h, _ in messages], *queue)))
    system.telegram_api.rate_limit_next(5)
    update = load_fixture("telegram", "text_private")
    system.post_update(update)
    assert system.pump.pump_once() == 0
    assert deferred == [4]
    held = channels.held_slots([("telegram", str(update["update_id"]))])
    assert list(held.values()) == [pytest.approx(system.clock.current.timestamp() + 5, abs=0.01)]
    system.clock.current += timedelta(seconds=5)     # the queue's wait (moto's runs on the wall clock)
    reserved = []
    monkeypatch.setattr(channels, "reserve_slot", lambda *a: reserved.append(a) or a[-1])
    assert system.pump.pump_once() == 1
    assert reserved == []                                          # its held slot, no new contest
    assert len([c for c in system.sent() if c.params.get("text")]) == 2   # refused once, then sent


def test_an_unreadable_redelivered_message_fails_alone(system):
    """The batch's holds are read before its messages are handled: a body that is not an event
    must still fail on its own, not take the batch with it."""
    from chalice.app import SQSEvent

    from functions.handlers import worker

    def record(body, message_id, receives):
        return {"messageId": message_id, "receiptHandle": message_id, "body": body, "md5OfBody": "",
                "attributes": {"ApproximateReceiveCount": str(receives), "MessageGroupId": message_id},
                "messageAttributes": {}, "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:firstreply-work.fifo"}

    answer = worker.handle(SQSEvent({"Records": [
        record("not json", "bad", 2),
        record('{"channel": "telegram", "event_id": "404", "chat_id": "1", "sender_id": "1"}', "good", 2)]}, None))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "bad"}]}

    # bodies that are JSON but no event (odd types where the reads ahead look): each fails or is
    # skipped alone; the batch's one read and its holds still serve the good ones
    hostile = {"list-channel": '{"channel": ["telegram"], "event_id": "1"}', "array": "[]",
               "dict-chat": '{"channel": "telegram", "event_id": "405", "chat_id": {"a": 1}, "sender_id": "9"}',
               "null-event": '{"channel": "telegram", "event_id": null, "chat_id": "2", "sender_id": "2"}'}
    good = [record(json.dumps({"channel": "telegram", "event_id": str(n), "chat_id": str(n), "sender_id": str(n)}),
                   f"good-{n}", 2) for n in (406, 407)]
    answer = worker.handle(SQSEvent({"Records": [record(body, name, 2) for name, body in hostile.items()] + good},
                                    None))
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    assert failed <= set(hostile) and not failed & {"good-406", "good-407"}, failed
