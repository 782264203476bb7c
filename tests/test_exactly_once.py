"""Exactly once, also when our own bookkeeping fails: the channel took the acknowledgement and
recording that fails (a DynamoDB error in the transaction that marks it sent). Retrying the queue
message must not send it again."""
from __future__ import annotations

from botocore.exceptions import ClientError

from conftest import load_fixture


def fail_ack_record(monkeypatch, times: int, also_marker: int = 0) -> dict:
    """Make the transaction that records a sent acknowledgement fail `times` times (and the
    fallback marker on the event `also_marker` times), as a throttled or failing DynamoDB would."""
    from integrations import aws

    ddb = aws.client("dynamodb")
    real_transact, real_update = ddb.transact_write_items, ddb.update_item
    left = {"record": times, "marker": also_marker, "record_calls": 0}

    def injected(operation):
        return ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, operation)

    def transact(**kwargs):
        if any("ack_sent_at" in str(item) for item in kwargs["TransactItems"]):
            left["record_calls"] += 1
            if left["record"] > 0:
                left["record"] -= 1
                raise injected("TransactWriteItems")
        return real_transact(**kwargs)

    def update(**kwargs):
        if "ack_sent" in str(kwargs.get("ExpressionAttributeNames", "")) and left["marker"] > 0:
            left["marker"] -= 1
            raise injected("UpdateItem")
        return real_update(**kwargs)

    monkeypatch.setattr(ddb, "transact_write_items", transact)
    monkeypatch.setattr(ddb, "update_item", update)
    return left


def assert_recorded_once(system, channel: str, event_id: str):
    event = system.store.get_event(channel, event_id)
    assert event["status"] == "done" and event["ack_sent_at"]
    cid = event["decision"]["conversation_id"]
    assert system.store.conversation(cid)["ack"] == "sent"
    assert [m["direction"] for m in system.store.messages(cid)] == ["in", "out"]
    counted = [d for d in system.store.stats_days([event["ack_sent_at"][:10]]) if d["sk"] == channel]
    assert sum(d.get("acks", 0) for d in counted) == 1


def test_telegram_ack_is_sent_once_when_recording_it_fails_once(system, monkeypatch):
    fail_ack_record(monkeypatch, times=1)
    system.pump.backoff = lambda receives: 0     # a redelivery comes back at once
    update = load_fixture("telegram", "text_private")
    system.deliver(update)
    assert len(system.sent()) == 1
    assert_recorded_once(system, "telegram", str(update["update_id"]))


def test_email_ack_is_sent_once_when_recording_it_fails_once(system, monkeypatch):
    fail_ack_record(monkeypatch, times=1)
    system.pump.backoff = lambda receives: 0
    event_id = system.ingest("gmail")
    assert len(system.sent_mail()) == 1
    assert_recorded_once(system, "email", event_id)


def test_a_record_that_keeps_failing_leaves_a_marker_and_the_redelivery_completes_it(system, monkeypatch):
    from functions.pipeline import RetryPolicy

    left = fail_ack_record(monkeypatch, times=RetryPolicy().attempts)   # every try of one receive
    update = load_fixture("telegram", "text_private")
    system.post_update(update)
    system.pump.backoff = lambda receives: 0
    system.pump.drain()
    assert len(system.sent()) == 1          # the redelivered message completed the record instead
    assert left["record"] == 0 and left["record_calls"] == RetryPolicy().attempts + 1
    assert_recorded_once(system, "telegram", str(update["update_id"]))


def test_send_failures_still_retry_through_the_queue(system):
    """The marker is written only for a send the channel took: a failed send is sent again."""
    system.telegram_api.fail_next(502, times=4)     # every try of the first receive
    update = load_fixture("telegram", "text_private")
    system.post_update(update)
    system.pump.backoff = lambda receives: 0
    system.pump.drain()
    assert len(system.sent()) == 5                  # four failed tries, then the one that went out
    assert system.store.get_event("telegram", str(update["update_id"])).get("ack_sent") is None
    assert_recorded_once(system, "telegram", str(update["update_id"]))


def test_email_reply_is_sent_once_when_the_message_id_write_after_the_send_fails_once(system, monkeypatch):
    """Issue 14: after SES took the reply, the sender remembers SES's Message-ID (BatchWriteItem), so
    the customer's answer threads. In AWS that write failed (the worker's role lacked the action);
    the worker raised, SQS redelivered, and the customer got the same reply five times. A failing
    write after the send must not send again."""
    from integrations import aws

    ddb = aws.client("dynamodb")
    real, left = ddb.batch_write_item, {"fail": 1, "calls": 0}

    def batch_write(**kwargs):
        import traceback

        if left["fail"] and any("ses.py" in frame.filename and frame.name == "send"
                                for frame in traceback.extract_stack()):
            left["fail"] -= 1
            left["calls"] += 1
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "injected"}}, "BatchWriteItem")
        return real(**kwargs)

    monkeypatch.setattr(ddb, "batch_write_item", batch_write)
    system.pump.backoff = lambda receives: 0     # a redelivery would come back at once
    event_id = system.ingest("gmail")
    assert left["calls"] == 1                    # the write after the send did fail
    assert len(system.sent_mail()) == 1          # and the reply went out once
    assert_recorded_once(system, "email", event_id)
    conversation = system.store.get_event("email", event_id)["decision"]["conversation_id"]
    answer = system.sent_mail()[0]
    # the customer's answer to it still joins the conversation, through its References
    reply = (f"From: Olena Koval <olena.koval@gmail.com>\r\nTo: support@acme.example\r\nSubject: Re: x\r\n"
             f"Message-ID: <answer-1@contoso.com>\r\nIn-Reply-To: {answer['Message-ID'] or '<unknown@x>'}\r\n"
             f"References: {answer['References']} {answer['Message-ID'] or ''}\r\n\r\nThanks!\r\n").encode()
    second = system.ingest(reply)
    assert system.store.get_event("email", second)["decision"]["conversation_id"] == conversation
