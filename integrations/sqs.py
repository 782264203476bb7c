"""The work queue between the webhooks and the worker (SQS FIFO).

FIFO with the chat as message group keeps one chat's messages in order and handled one at a time,
so two quick messages cannot both open a conversation; the event id as deduplication id drops a
second enqueue of the same event within SQS's five-minute window (the worker is idempotent beyond).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from functools import lru_cache

from integrations.aws import client

log = logging.getLogger(__name__)

QUEUE_NAME = os.environ.get("FIRSTREPLY_QUEUE", "firstreply-work.fifo")
DEAD_LETTER_QUEUE_NAME = os.environ.get("FIRSTREPLY_DEAD_LETTER_QUEUE", "firstreply-dead.fifo")
MAX_RECEIVES = 5   # worker invocations before a message is dead-lettered
# FIFO high-throughput mode (as in infra/resources.yaml): deduplication and the throughput quota per
# message group (a chat) instead of per queue, so the queue is not capped at 300 sends/s
# (3,000 batched) for all channels together; order stays per chat, which is all we need.
HIGH_THROUGHPUT = {"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}
# Delayed acknowledgements (issue 15: `acknowledgement.delay_seconds`). A standard queue, because
# FIFO queues refuse a per-message DelaySeconds; order does not matter here (one message per
# conversation, and the worker claims the acknowledgement with a conditional write).
DELAY_QUEUE_NAME = os.environ.get("FIRSTREPLY_DELAY_QUEUE", "firstreply-delay")
DELAY_DEAD_LETTER_QUEUE_NAME = os.environ.get("FIRSTREPLY_DELAY_DEAD_LETTER_QUEUE", "firstreply-delay-dead")
MAX_DELAY_SECONDS = 900   # SQS's ceiling for DelaySeconds


@lru_cache(maxsize=8)
def queue_url(name: str = QUEUE_NAME) -> str:
    # In AWS the template hands the queues' URLs to every function: a webhook's cold start then
    # enqueues (and the worker delays or defers) without a GetQueueUrl round trip first. Locally
    # the stand-in is asked.
    given = {QUEUE_NAME: "FIRSTREPLY_QUEUE_URL", DELAY_QUEUE_NAME: "FIRSTREPLY_DELAY_QUEUE_URL"}.get(name)
    if given and os.environ.get(given):
        return os.environ[given]
    return client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


_QUEUE_TOKEN = re.compile(r"[!-~]{1,128}")


def queue_token(value: str) -> str:
    """A MessageGroupId / MessageDeduplicationId SQS accepts (1–128 printable ASCII characters):
    `value` itself when it is one, else its hash — cutting it instead could give two events one
    deduplication id, and SQS would drop the second."""
    if _QUEUE_TOKEN.fullmatch(value):
        return value
    return "sha256-" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def enqueue(channel: str, event_id: str, group: str, chat_id: str = "", sender_id: str = "") -> None:
    """`chat_id` and `sender_id` travel with the event id so the worker reads the event, the chat
    and the contact in one BatchGetItem."""
    body = {"channel": channel, "event_id": event_id}
    if chat_id and sender_id:
        body.update(chat_id=chat_id, sender_id=sender_id)
    client("sqs").send_message(
        QueueUrl=queue_url(),
        MessageBody=json.dumps(body),
        MessageGroupId=queue_token(group),
        MessageDeduplicationId=queue_token(f"{channel}-{event_id}"),
    )


def enqueue_delayed_ack(channel: str, event_id: str, seconds: int) -> None:
    """The worker sees this event again after `seconds`, to acknowledge it then (or not): the
    queue waits, no function sleeps."""
    client("sqs").send_message(
        QueueUrl=queue_url(DELAY_QUEUE_NAME),
        MessageBody=json.dumps({"channel": channel, "event_id": event_id, "kind": "delayed-ack"}),
        DelaySeconds=int(min(max(seconds, 0), MAX_DELAY_SECONDS)),
    )


def defer(messages: list[tuple[str, float]], queue: str = QUEUE_NAME) -> None:
    """Make received messages (receipt handle, seconds) visible again only after their seconds (a
    send slot ahead, a channel's Retry-After; 0: now): one ChangeMessageVisibilityBatch per ten.
    SQS takes whole seconds; rounding down brings a message back just before its slot, which the
    worker then waits out inline, never after it."""
    sqs = client("sqs")
    for start in range(0, len(messages), 10):
        entries = [{"Id": str(n), "ReceiptHandle": handle,
                    "VisibilityTimeout": int(min(max(seconds, 0), 12 * 3600))}
                   for n, (handle, seconds) in enumerate(messages[start:start + 10])]
        failed = sqs.change_message_visibility_batch(QueueUrl=queue_url(queue), Entries=entries).get("Failed")
        if failed:   # those come back when the queue's visibility timeout ends: late, not lost
            log.warning("could not defer %d messages: %s", len(failed), failed[0].get("Message", ""))


def ensure_queues() -> None:
    """Create the work queue and its dead-letter queue when missing (local stand-ins; in AWS the
    infrastructure template declares them)."""
    sqs = client("sqs")
    dead = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE_NAME, Attributes={
        "FifoQueue": "true", "MessageRetentionPeriod": str(14 * 24 * 3600)})["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.create_queue(QueueName=QUEUE_NAME, Attributes={
        "FifoQueue": "true", **HIGH_THROUGHPUT,
        "VisibilityTimeout": "360",   # as in infra/resources.yaml: 6 x the worker timeout
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": MAX_RECEIVES}),
    })
    delay_dead = sqs.create_queue(QueueName=DELAY_DEAD_LETTER_QUEUE_NAME, Attributes={
        "MessageRetentionPeriod": str(14 * 24 * 3600)})["QueueUrl"]
    delay_dead_arn = sqs.get_queue_attributes(QueueUrl=delay_dead,
                                              AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.create_queue(QueueName=DELAY_QUEUE_NAME, Attributes={
        "VisibilityTimeout": "360",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": delay_dead_arn, "maxReceiveCount": MAX_RECEIVES}),
    })
    queue_url.cache_clear()
