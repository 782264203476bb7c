"""Where moto's SQS differs from SQS in a way the worker depends on, made to agree (issue 18).

A FIFO group is blocked while one of its messages is *in flight*: received, not deleted, its
visibility timeout not yet over. moto counts a received message as blocking its group until a
receive happens to look at it again, even when its visibility is over. So when a deferred message
and a later message of its chat are both visible again, moto skips the first (the second still
"blocks" the group) and delivers the second: the chat out of order, which SQS never does. Here a
message whose visibility is over no longer blocks its group, as in SQS.
"""
from __future__ import annotations


def apply() -> None:
    from moto.sqs.models import Queue

    if getattr(Queue, "_firstreply_fifo", False):
        return

    def pending_message_groups(self) -> set[str]:
        return {m.group_id for m in self._pending_messages if m.group_id is not None and not m.visible}

    Queue.pending_message_groups = property(pending_message_groups)
    Queue._firstreply_fifo = True
