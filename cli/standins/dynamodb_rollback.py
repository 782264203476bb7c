"""moto's DynamoDB without its rollback copies, for long in-process replays (tests and benches).

moto deep-copies every table a TransactWriteItems touches before running it, to roll a cancelled
one back (and an item before each conditional write). Over a long replay, or a table of tens of
thousands of items, that copying is what gets measured (minutes; moto's time, not ours) and its
garbage what the process holds in memory (gigabytes for a few hundred paced messages). Here the
copy hands back the same object: for runs where nothing cancels a transaction on purpose, since a
cancelled one then keeps the writes made before the failing condition (a test sees it as a worker
failure). Not for `firstreply dev` or a test of exactly-once handling, whose transactions do cancel.
"""
from __future__ import annotations

from typing import Callable


class _NoCopy:
    @staticmethod
    def deepcopy(value):
        return value


def apply() -> Callable[[], None]:
    """Turn the copies off; returns what turns them back on (a test's fixture undoes it after)."""
    import moto.dynamodb.models as models

    before = models.copy
    models.copy = _NoCopy
    return lambda: setattr(models, "copy", before)
