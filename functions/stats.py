"""Results per channel: conversations, acknowledgements, median time to acknowledge, CSAT average
and response rate. Read from day counters (one query per day), never by scanning conversations."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from functions.settings import CHANNELS

LATENCY_BUCKETS = (1, 2, 5, 10, 30, 60, 300, 3600)


MAX_PERIOD_DAYS = 366


def period(since: str | None, until: str | None, today: date) -> tuple[date, date]:
    """The days asked for (YYYY-MM-DD each; default the last 30 days); ValueError says what is wrong."""
    try:
        start = date.fromisoformat(since) if since else today - timedelta(days=29)
        end = date.fromisoformat(until) if until else today
    except ValueError:
        raise ValueError("since and until take dates as YYYY-MM-DD") from None
    if end < start or (end - start).days > MAX_PERIOD_DAYS:
        raise ValueError("the period must run forwards and span at most a year")
    return start, end


def days_between(since: date, until: date) -> list[str]:
    return [(since + timedelta(days=i)).isoformat() for i in range((until - since).days + 1)]


def median_ack_seconds(counters: dict[str, int]) -> float | None:
    """The histogram bucket (upper bound, seconds) that holds the median acknowledgement."""
    total = counters.get("acks", 0)
    if not total:
        return None
    seen = 0
    for bound in (*LATENCY_BUCKETS, "more"):
        seen += counters.get(f"ack_le_{bound}", 0)
        if seen * 2 >= total:
            return None if bound == "more" else float(bound)
    return None


def summarise(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    totals: dict[str, dict[str, int]] = {c: {} for c in CHANNELS}
    for item in items:
        channel = totals.setdefault(item["sk"], {})
        for key, value in item.items():
            if key not in ("pk", "sk") and isinstance(value, int):
                channel[key] = channel.get(key, 0) + value
    result = {}
    for channel, counters in totals.items():
        answered = counters.get("csat_count", 0)
        surveys = counters.get("surveys", 0)
        result[channel] = {
            "conversations": counters.get("conversations", 0),
            "acks": counters.get("acks", 0),
            "median_ack_seconds_at_most": median_ack_seconds(counters),
            "surveys": surveys,
            "csat_average": round(counters.get("csat_sum", 0) / answered, 2) if answered else None,
            "csat_responses": answered,
            "response_rate": round(answered / surveys, 3) if surveys else None,
            "nps": (round(100 * (counters.get("nps_promoters", 0) - counters.get("nps_detractors", 0))
                          / counters["nps_count"]) if counters.get("nps_count") else None),
            "nps_responses": counters.get("nps_count", 0),
        }
    return result


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (share 0.5 = median) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))   # ceil, at least the first
    return ordered[int(rank) - 1]


def _response_times(facts: list[dict[str, Any]]) -> dict[str, Any]:
    wall = [float(f["wall_minutes"]) for f in facts]
    business = [float(f["business_minutes"]) for f in facts]
    return {"answered": len(facts),
            "first_response_minutes": {"median": percentile(wall, 0.5), "p90": percentile(wall, 0.9)},
            "first_response_business_minutes": {"median": percentile(business, 0.5),
                                                "p90": percentile(business, 0.9)}}


def summarise_responses(facts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """First response (wall and business minutes, median and p90) per channel and per agent;
    replies per conversation and time to close per channel; CSAT per agent (`surveys.rated_agent`):
    all from the per-conversation facts."""
    first = [f for f in facts if f["sk"].startswith("first_response#")]
    closes = [f for f in facts if f["sk"].startswith("close#")]
    channels: dict[str, Any] = {}
    for channel in CHANNELS:
        mine = [f for f in closes if f["channel"] == channel]
        replies = [int(f.get("agent_replies", 0)) for f in mine]
        channels[channel] = {
            **_response_times([f for f in first if f["channel"] == channel]),
            "closed": len(mine),
            "replies_per_conversation": round(sum(replies) / len(replies), 2) if replies else None,
            "minutes_to_close": {"median": percentile([float(f["minutes_to_close"]) for f in mine], 0.5),
                                 "p90": percentile([float(f["minutes_to_close"]) for f in mine], 0.9)},
        }
    ratings = [f for f in facts if f["sk"].startswith("csat#") and f.get("agent")]
    agents = {}
    for agent in sorted({f["agent"] for f in first} | {f["agent"] for f in ratings}):
        scores = [int(f["score"]) for f in ratings if f["agent"] == agent]
        agents[agent] = {**_response_times([f for f in first if f["agent"] == agent]),
                         "csat_average": round(sum(scores) / len(scores), 2) if scores else None,
                         "csat_responses": len(scores)}
    return {"channels": channels, "agents": agents}


def daily_responses(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per day (the facts' partition): first response p50/p90 in business minutes and the share of
    first responses within their SLA (of those that had a target) — what the results charts draw."""
    days: dict[str, list[dict[str, Any]]] = {}
    for fact in facts:
        if fact["sk"].startswith("first_response#"):
            days.setdefault(fact["pk"].split("#")[1], []).append(fact)   # FACTS#{day}[#{shard}]
    series = []
    for day in sorted(days):
        minutes = [float(f["business_minutes"]) for f in days[day]]
        judged = [f["sla_met"] for f in days[day] if isinstance(f.get("sla_met"), bool)]
        series.append({"day": day, "answered": len(minutes), "first_response_p50": percentile(minutes, 0.5),
                       "first_response_p90": percentile(minutes, 0.9), "sla_targets": len(judged),
                       "sla_attainment": round(sum(judged) / len(judged), 3) if judged else None})
    return series
