"""The work queue between the webhooks and the worker (SQS FIFO).

FIFO with the chat as message group keeps one chat's messages in order and handled one at a time,
so two quick messages cannot both open a conversation; the event id as deduplication id drops a
second enqueue of the same event within SQS's five-minute window (the worker is idempotent beyond).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from functools import lru_cache

from integrations.aws import client

QUEUE_NAME = os.environ.get("FIRSTREPLY_QUEUE", "firstreply-work.fifo")
DEAD_LETTER_QUEUE_NAME = os.environ.get("FIRSTREPLY_DEAD_LETTER_QUEUE", "firstreply-dead.fifo")
MAX_RECEIVES = 5   # worker invocations before a message is dead-lettered
# FIFO high-throughput mode (as in infra/resources.yaml): deduplication and the throughput quota per
# message group (a chat) instead of per queue, so the queue is not capped at 300 sends/s
# (3,000 batched) for all channels together; order stays per chat, which is all we need.
HIGH_THROUGHPUT = {"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}


@lru_cache(maxsize=8)
def queue_url(name: str = QUEUE_NAME) -> str:
    return client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


_QUEUE_TOKEN = re.compile(r"[!-~]{1,128}")


def queue_token(value: str) -> str:
    """A MessageGroupId / MessageDeduplicationId SQS accepts (1–128 printable ASCII characters):
    `value` itself when it is one, else its hash — cutting it instead could give two events one
    deduplication id, and SQS would drop the second."""
    if _QUEUE_TOKEN.fullmatch(value):
        return value
    return "sha256-" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def enqueue(channel: str, event_id: str, group: str) -> None:
    client("sqs").send_message(
        QueueUrl=queue_url(),
        MessageBody=json.dumps({"channel": channel, "event_id": event_id}),
        MessageGroupId=queue_token(group),
        MessageDeduplicationId=queue_token(f"{channel}-{event_id}"),
    )


def defer(receipt_handle: str, seconds: float) -> None:
    """Make a received message visible again only after `seconds` (a channel's Retry-After)."""
    client("sqs").change_message_visibility(
        QueueUrl=queue_url(), ReceiptHandle=receipt_handle,
        VisibilityTimeout=int(min(max(seconds, 1), 12 * 3600)))


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
    queue_url.cache_clear()
