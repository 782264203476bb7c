"""Who on the team did what, when, and from where: settings and template changes, agents' replies,
notes, assignments, priorities, closes and reopens, exports and erasures, agent tokens issued and
revoked. Never message text: an entry names the action and its target (a conversation id, a
template id, a hashed contact), not what was written.

Other modules call `entry(...)` and hand it to the store (`record`), or put `store_item(...)` into
the transaction of what they audit.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from functions.clock import iso

DEFAULT_DAYS = 730
ORIGIN_FIELDS = ("surface", "ip", "user_agent", "host")
# What a desk action keeps of its origin: where it happened, never what was typed
_ORIGIN_LIMIT = 200


def entry(who: str, action: str, target: str, now: datetime, origin: dict[str, Any] | None = None,
          entry_id: str = "", **details: Any) -> dict[str, Any]:
    origin = {k: str(v)[:_ORIGIN_LIMIT] for k, v in (origin or {}).items() if k in ORIGIN_FIELDS and v}
    safe = {k: v for k, v in details.items() if k not in ("text", "body", "source", "message") and v is not None}
    return {"id": entry_id or uuid.uuid4().hex, "at": iso(now), "who": who or "unknown", "action": action,
            "target": target, "origin": origin, **({"details": safe} if safe else {})}


def expires(now: datetime, days: int | None) -> int:
    return int((now + timedelta(days=days or DEFAULT_DAYS)).timestamp())


def record(store, who: str, action: str, target: str, now: datetime, origin: dict[str, Any] | None = None,
           days: int | None = None, **details: Any) -> dict[str, Any]:
    item = entry(who, action, target, now, origin, **details)
    store.put_audit(item, expires(now, days))
    return item


def days_between(since: datetime, until: datetime) -> list[str]:
    day, days = since.date(), []
    while day <= until.date() and len(days) < 3660:
        days.append(day.isoformat())
        day += timedelta(days=1)
    return days


def listing(store, since: datetime, until: datetime) -> list[dict[str, Any]]:
    return store.audit_days(days_between(since, until))


def request_origin(request) -> dict[str, str]:
    """From where an admin API call came: API Gateway's source IP and the User-Agent."""
    identity = ((getattr(request, "context", None) or {}).get("identity") or {})
    headers = getattr(request, "headers", None) or {}
    return {"ip": identity.get("sourceIp") or "", "user_agent": headers.get("user-agent") or ""}
