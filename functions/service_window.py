"""Meta's customer service window: WhatsApp, Messenger and Instagram let a business send free-form
messages only within 24 hours of the customer's last message. Outside it, WhatsApp takes only an
approved template, and Messenger/Instagram only a message tagged HUMAN_AGENT (within 7 days, for
apps granted that permission). Pure functions: the survey job, the desk and the senders share them.
"""
from __future__ import annotations

from datetime import datetime, timedelta

WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
WINDOWED_CHANNELS = ("whatsapp", "messenger", "instagram")


def parse(moment: str) -> datetime | None:
    try:
        return datetime.fromisoformat(moment.replace("Z", "+00:00")) if moment else None
    except ValueError:
        return None


def last_customer_message(conversation: dict) -> str:
    """When the customer last wrote in this conversation (our clock's time of storing it: only a
    customer message moves `last_activity_at`)."""
    return conversation.get("last_activity_at") or conversation.get("opened_at") or ""


def outside(channel: str, customer_at: str, now: datetime, window: timedelta = WINDOW) -> str:
    """Why a free-form message may not go out now ("" when it may): the reason is what an agent
    or the job report reads, so it says what happened and what would help."""
    if channel not in WINDOWED_CHANNELS:
        return ""
    last = parse(customer_at)
    if last is None:
        return ""   # nothing known to measure from: let the channel decide (it answers with a code)
    if now - last <= window:
        return ""
    hours = int((now - last).total_seconds() // 3600)
    return (f"outside the {int(window.total_seconds() // 3600)}-hour customer service window of {channel} "
            f"(the customer last wrote {hours} hours ago)")
