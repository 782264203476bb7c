"""`firstreply dead-letters [--replay]`: what the worker gave up on, and sending it back.

A message lands in the dead-letter queue after 5 failed receives (a channel down for long, a bug).
The inbound message itself is safe in the table; the queue message only names it. Listing shows
each with what the customer wrote and how far it got, and leaves the queue as it was. `--replay`
puts each back on the work queue (same chat group, so order holds) and then deletes it from the
dead-letter queue; the worker is idempotent, so a message that was half done is finished, not
doubled.

Delayed acknowledgements (`acknowledgement.delay_seconds`) wait in their own standard queue,
`firstreply-delay`, whose dead-letter queue is `firstreply-delay-dead`: listed the same way, and
`--replay` puts each back on the delay queue (to be handled at once; the worker still checks
whether the acknowledgement is due, so one the team has answered meanwhile is not sent).

The asynchronously invoked functions (email_inbound through SNS, the schedules) have no queue of
their own: after Lambda's 2 retries a failed event goes to the on-failure destination,
`firstreply-failed-events`, as Lambda's invocation record (the event, the function, the error).
They are listed too; `--replay` invokes the function again with the original event (asynchronously,
in AWS; in-process against a local stand-in) and deletes the record.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone

from cli.channels import UsageError

RECEIVE_BATCH = 10
HOLD_SECONDS = 30    # how long a listed message stays hidden while we read the rest
FAILED_EVENTS_QUEUE = os.environ.get("FIRSTREPLY_FAILED_EVENTS_QUEUE", "firstreply-failed-events")


def _receive_all(sqs, url: str, limit: int) -> list[dict]:
    seen: dict[str, dict] = {}
    while len(seen) < limit:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(RECEIVE_BATCH, limit - len(seen)),
                                    VisibilityTimeout=HOLD_SECONDS, WaitTimeSeconds=1,
                                    AttributeNames=["All"]).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        seen.update((m["MessageId"], m) for m in fresh)
    return list(seen.values())


def _describe(message: dict, store) -> str:
    attributes = message.get("Attributes", {})
    sent = datetime.fromtimestamp(int(attributes.get("SentTimestamp", "0")) / 1000, timezone.utc)
    try:
        body = json.loads(message["Body"])
        channel, event_id = body["channel"], body["event_id"]
    except (ValueError, KeyError, TypeError):
        return f"{sent:%Y-%m-%d %H:%M} unreadable body {message['Body'][:80]!r}"
    event = store.get_event(channel, event_id) or {}
    inbound = event.get("inbound") or {}
    text = (inbound.get("text") or inbound.get("subject") or inbound.get("media") or "").replace("\n", " ")
    return (f"{sent:%Y-%m-%d %H:%M} {channel} {event_id} from {inbound.get('name') or inbound.get('sender_id', '?')}: "
            f"{text[:60]!r} (status {event.get('status', 'not stored')})")


def _failed_event(message: dict) -> tuple[str, dict, str]:
    """(function name, original event, one line) of a Lambda on-failure record."""
    try:
        record = json.loads(message["Body"])
        function = record["requestContext"]["functionArn"].split(":")[6]
        event = record["requestPayload"]
    except (ValueError, KeyError, TypeError, IndexError):
        return "", {}, f"unreadable record {message['Body'][:80]!r}"
    context, response = record["requestContext"], record.get("responsePayload") or {}
    what = "event"
    for item in event.get("Records", [])[:1]:             # SNS: the SES notification of a mail
        try:
            mail = json.loads(item["Sns"]["Message"])["mail"]
            what = f"mail {mail.get('commonHeaders', {}).get('subject', '')!r} from {mail.get('source', '?')}"
        except (ValueError, KeyError, TypeError):
            what = "SNS message"
    if event.get("detail-type") == "Scheduled Event":
        what = f"schedule at {event.get('time', '?')}"
    error = f"{response.get('errorType', '')}: {response.get('errorMessage', '')}".strip(": ")
    return function, event, (f"{record.get('timestamp', '')[:16].replace('T', ' ')} {function}: {what}, "
                             f"{context.get('condition', '')} after {context.get('approximateInvokeCount', '?')} "
                             f"tries ({error[:100] or 'no error given'})")


def _invoke_again(function: str, event: dict) -> None:
    """In AWS, an asynchronous invocation (retried and dead-lettered like the first); against a
    local stand-in, the app's handler of that function, here."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        import app as app_module

        for source in app_module.app.event_sources:
            logical = "".join(part.capitalize() for part in source.name.replace("_", "-").split("-"))
            if logical in function or source.name in function:
                app_module.app.handler_map[source.name](event, None)
                return
        raise UsageError(f"no function of this app is named like {function!r}")
    from integrations.aws import client

    client("lambda").invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(event).encode())


def _go_through(queue, url: str, name: str, noun: str, read, replay: bool, limit: int) -> int:
    """One dead-letter queue, listed: a line a message (`read` gives it, and what sends the message
    back, or None when it cannot go back), each left as it was, visible again at once. With `replay`
    each that can go back is sent back, then deleted here. Returns how many were sent back."""
    messages = _receive_all(queue, url, limit)
    print(f"{len(messages)} {noun} in {name}" + (":" if messages else ""))
    replayed = 0
    for message in messages:
        line, send_back = read(message)
        print("  " + line)
        if replay and send_back:
            send_back()
            queue.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            replayed += 1
        else:   # listing changes nothing
            queue.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return replayed


def _work_dead_letters(queue, store, replay: bool, limit: int) -> None:
    """Back onto the work queue, in the message's own chat group."""
    from integrations import sqs

    try:
        dead_url = sqs.queue_url(sqs.DEAD_LETTER_QUEUE_NAME)
    except queue.exceptions.QueueDoesNotExist:
        raise UsageError(f"no queue {sqs.DEAD_LETTER_QUEUE_NAME} in this account and region") from None
    work_url = sqs.queue_url() if replay else ""

    def read(message: dict):
        def send_back():
            group = message.get("Attributes", {}).get("MessageGroupId") or "replay"
            queue.send_message(QueueUrl=work_url, MessageBody=message["Body"], MessageGroupId=group,
                               # a new deduplication id: the original's may still be in SQS's 5-minute window
                               MessageDeduplicationId=f"replay-{message['MessageId']}"[:128])
        return _describe(message, store), send_back

    replayed = _go_through(queue, dead_url, sqs.DEAD_LETTER_QUEUE_NAME, "dead letter(s)", read, replay, limit)
    if replay:
        print(f"replayed {replayed} onto {sqs.QUEUE_NAME}")


def _delayed_dead_letters(queue, store, replay: bool, limit: int) -> None:
    """Back onto the delay queue, to be handled at once."""
    from integrations import sqs

    try:
        dead_url = sqs.queue_url(sqs.DELAY_DEAD_LETTER_QUEUE_NAME)
    except queue.exceptions.QueueDoesNotExist:
        return
    delay_url = sqs.queue_url(sqs.DELAY_QUEUE_NAME) if replay else ""

    def read(message: dict):
        return _describe(message, store), lambda: queue.send_message(QueueUrl=delay_url, MessageBody=message["Body"])

    replayed = _go_through(queue, dead_url, sqs.DELAY_DEAD_LETTER_QUEUE_NAME, "delayed acknowledgement(s)", read,
                           replay, limit)
    if replayed:
        print(f"replayed {replayed} onto {sqs.DELAY_QUEUE_NAME}")


def _failed_events(queue, replay: bool, limit: int) -> None:
    """Back to the function that failed them (an unreadable record cannot go back)."""
    try:
        url = queue.get_queue_url(QueueName=FAILED_EVENTS_QUEUE)["QueueUrl"]
    except queue.exceptions.QueueDoesNotExist:
        return

    def read(message: dict):
        function, event, line = _failed_event(message)
        return line, (lambda: _invoke_again(function, event)) if function else None

    replayed = _go_through(queue, url, FAILED_EVENTS_QUEUE, "failed event(s)", read, replay, limit)
    if replay:
        print(f"replayed {replayed} failed event(s)")


def run(replay: bool, limit: int) -> int:
    from cli.dev import local_aws_environment
    from integrations.aws import client
    from integrations.dynamodb import DynamoStore

    if limit < 1:
        raise UsageError("--limit must be at least 1")
    local_aws_environment()
    queue, store = client("sqs"), DynamoStore()
    _work_dead_letters(queue, store, replay, limit)
    _delayed_dead_letters(queue, store, replay, limit)
    _failed_events(queue, replay, limit)
    return 0
