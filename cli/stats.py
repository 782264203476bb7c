"""`firstreply stats [--since DATE] [--until DATE] [--json]`: results per channel."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from cli.channels import UsageError


def run(since: str | None, until: str | None, as_json: bool) -> int:
    from cli.dev import local_aws_environment
    from functions.stats import daily_responses, days_between, period, summarise, summarise_responses
    from integrations.dynamodb import DynamoStore

    local_aws_environment()
    try:
        start, end = period(since, until, datetime.now(timezone.utc).date())
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    store, days = DynamoStore(), days_between(start, end)
    summary = summarise(store.stats_days(days))
    facts = store.facts_days(days)
    responses = summarise_responses(facts)
    for channel, row in responses["channels"].items():
        summary.setdefault(channel, {}).update(row)
    if as_json:
        print(json.dumps({"since": start.isoformat(), "until": end.isoformat(), "channels": summary,
                          "agents": responses["agents"], "daily": daily_responses(facts)},
                         indent=2, ensure_ascii=False))
        return 0
    print(f"firstreply results {start} … {end}")
    print(f"{'channel':<9}{'convs':>7}{'acks':>7}{'median ack':>12}{'surveys':>9}{'CSAT':>6}{'answered':>10}")
    for channel, row in summary.items():
        median = row["median_ack_seconds_at_most"]
        print(f"{channel:<9}{row['conversations']:>7}{row['acks']:>7}"
              f"{('≤ %gs' % median) if median else '–':>12}{row['surveys']:>9}"
              f"{row['csat_average'] if row['csat_average'] is not None else '–':>6}"
              f"{('%d%%' % round(100 * row['response_rate'])) if row['response_rate'] is not None else '–':>10}")
    print()
    print("first response (minutes: median / p90, wall clock and business time); CSAT per agent: the")
    print("ratings of the conversations assigned to them (else they answered first)")
    print(f"{'':<22}{'answered':>9}{'wall':>16}{'business':>16}{'replies/conv':>14}{'to close':>10}{'CSAT':>6}")
    rows = [(c, r) for c, r in summary.items()] + [(a, r) for a, r in responses["agents"].items()]
    for name, row in rows:
        print(f"{name[:22]:<22}{row.get('answered', 0):>9}{_pair(row['first_response_minutes']):>16}"
              f"{_pair(row['first_response_business_minutes']):>16}"
              f"{_number(row.get('replies_per_conversation')):>14}"
              f"{_number((row.get('minutes_to_close') or {}).get('median')):>10}"
              f"{_number(row.get('csat_average')):>6}")
    return 0


def _number(value) -> str:
    return "–" if value is None else f"{value:g}"


def _pair(times: dict) -> str:
    return "–" if times["median"] is None else f"{times['median']:g} / {times['p90']:g}"

