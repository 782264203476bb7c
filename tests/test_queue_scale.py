"""The queue at scale (issue 18): high-throughput FIFO, the worker taking batches of 10 and reporting
the failed messages only, a failed message's chat held back behind it, a cap on concurrency."""
from __future__ import annotations

import json

import yaml

from conftest import ROOT, load_fixture, update_from


def test_work_queue_is_high_throughput_fifo_here_and_in_the_template(system):
    from integrations import sqs

    attributes = system.pump.sqs.get_queue_attributes(QueueUrl=sqs.queue_url(),
                                                      AttributeNames=["All"])["Attributes"]
    assert attributes["DeduplicationScope"] == "messageGroup"
    assert attributes["FifoThroughputLimit"] == "perMessageGroupId"

    class Tagged(yaml.SafeLoader):
        pass

    Tagged.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "infra" / "resources.yaml").read_text(), Loader=Tagged)
    queue = template["Resources"]["WorkQueue"]["Properties"]
    assert (queue["DeduplicationScope"], queue["FifoThroughputLimit"]) == ("messageGroup", "perMessageGroupId")
    events = template["Resources"]["Worker"]["Properties"]["Events"]
    source = events["WorkerSqsEventSource"]["Properties"]
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # the delayed acknowledgements' queue feeds the same worker the same way, under the same cap
    import app as app_module

    delayed = events["DelayedAckSqsEventSource"]["Properties"]
    assert delayed["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and delayed["BatchSize"] == 10
    assert delayed["ScalingConfig"]["MaximumConcurrency"] == app_module.WORKER_MAX_CONCURRENCY


def test_a_failed_delayed_acknowledgement_is_reported_alone(monkeypatch):
    """The delay queue is a standard queue: a batch's failures are reported one by one (no chat
    order to hold others back), and a batch where every message failed is reported, not raised."""
    from functions.handlers import worker

    def record(body, message_id):
        return {"messageId": message_id, "receiptHandle": f"r-{message_id}", "body": json.dumps(body),
                "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:firstreply-delay", "awsRegion": "us-east-1"}

    handled = []

    def failing(body, *args):
        handled.append(body["event_id"])
        if body["event_id"] == "bad":
            raise RuntimeError("injected")

    monkeypatch.setattr(worker, "handle_record", failing)
    from chalice.app import SQSEvent

    bodies = [{"channel": "telegram", "event_id": e, "kind": "delayed-ack"} for e in ("bad", "good")]
    answer = worker.handle(SQSEvent({"Records": [record(b, f"m{i}") for i, b in enumerate(bodies)]}, None))
    assert handled == ["bad", "good"] and answer["batchItemFailures"] == [{"itemIdentifier": "m0"}]
    answer = worker.handle(SQSEvent({"Records": [record(bodies[0], "m2")]}, None))
    assert answer["batchItemFailures"] == [{"itemIdentifier": "m2"}]


def test_worker_takes_batches_of_ten_with_a_concurrency_cap():
    import app as app_module

    [source] = [s for s in app_module.app.event_sources if s.name == "worker"]
    assert source.batch_size == 10 and source.maximum_concurrency == app_module.WORKER_MAX_CONCURRENCY


def test_a_failed_message_returns_with_the_rest_of_its_chat_only(system, monkeypatch):
    """One batch: chat A's two messages and chat B's one. A's first fails once: B is acknowledged and
    deleted, A's second is not handled before A's first (it comes back with it), then both go in
    order, each acknowledged or not exactly once."""
    from functions.handlers import worker

    template = load_fixture("telegram", "text_private")
    a1 = update_from(template, 7001, text="first from A")
    a2 = update_from(template, 7002, text="second from A")
    b1 = update_from(template, 7003, text="from B")
    b1["message"]["chat"]["id"] = b1["message"]["from"]["id"] = 2222222
    for update in (a1, a2, b1):
        assert system.post_update(update).status_code == 200
    real, calls = worker.handle_record, []

    def failing_once(body, *args):
        calls.append(body["event_id"])
        if body["event_id"] == "7001" and calls.count("7001") == 1:
            raise RuntimeError("injected: DynamoDB unavailable")
        return real(body, *args)

    monkeypatch.setattr(worker, "handle_record", failing_once)
    system.pump.backoff = lambda receives: 0
    assert system.pump.pump_once() == 1                       # B only
    assert calls == ["7001", "7003"]                          # A's second was never tried
    assert system.store.get_event("telegram", "7002").get("decision") is None
    system.pump.drain()
    assert calls == ["7001", "7003", "7001", "7002"]          # A again, in order
    chats = [str(m.params["chat_id"]) for m in system.sent()]
    assert sorted(chats) == ["1111111", "2222222"]             # one ack each: A's second is in A's conversation
    for event_id in ("7001", "7002", "7003"):
        assert system.store.get_event("telegram", event_id)["status"] == "done"


def test_a_chats_messages_visible_again_together_come_in_order(system):
    """The stand-in keeps FIFO groups as SQS does (cli/standins/sqs_fifo.py): a deferred message and
    its chat's next one, both visible again at once, come back first one first (moto alone gives
    the second, as the first still "blocks" the group)."""
    from integrations import sqs

    sqs_client = system.pump.sqs
    url = sqs.queue_url()
    for n in (1, 2):
        sqs_client.send_message(QueueUrl=url, MessageBody=f"m{n}", MessageGroupId="chat", MessageDeduplicationId=f"m{n}")
    first = sqs_client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in first] == ["m1", "m2"]
    sqs_client.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for n, m in enumerate(first)])
    again = sqs_client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in again][:1] == ["m1"]
