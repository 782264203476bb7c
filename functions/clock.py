"""The real clock; tests pass their own (functions.ports.Clock)."""
from __future__ import annotations

import time
from datetime import datetime, timezone


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def iso(moment: datetime) -> str:
    """UTC, milliseconds, "Z": the one timestamp format stored and compared as text."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_from_text(value: object) -> str:
    """A channel's ISO 8601 timestamp in our format; now when it is missing or unreadable."""
    try:
        return iso(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return iso(datetime.now(timezone.utc))
