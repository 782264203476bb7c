"""`firstreply stats [--since DATE] [--until DATE] [--json]`: results per channel."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from cli.channels import UsageError


def run(since: str | None, until: str | None, as_json: bool) -> int:
    from cli.dev import local_aws_environment
    from functions.stats import days_between, period, summarise
    from integrations.dynamodb import DynamoStore

    local_aws_environment()
    try:
        start, end = period(since, until, datetime.now(timezone.utc).date())
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    summary = summarise(DynamoStore().stats_days(days_between(start, end)))
    if as_json:
        print(json.dumps({"since": start.isoformat(), "until": end.isoformat(), "channels": summary}, indent=2))
        return 0
    print(f"firstreply results {start} … {end}")
    print(f"{'channel':<9}{'convs':>7}{'acks':>7}{'median ack':>12}{'surveys':>9}{'CSAT':>6}{'answered':>10}")
    for channel, row in summary.items():
        median = row["median_ack_seconds_at_most"]
        print(f"{channel:<9}{row['conversations']:>7}{row['acks']:>7}"
              f"{('≤ %gs' % median) if median else '–':>12}{row['surveys']:>9}"
              f"{row['csat_average'] if row['csat_average'] is not None else '–':>6}"
              f"{('%d%%' % round(100 * row['response_rate'])) if row['response_rate'] is not None else '–':>10}")
    return 0
