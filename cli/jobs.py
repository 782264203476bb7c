"""`firstreply run-job NAME [--now ISO8601]`: one scheduled function, once, as EventBridge would
invoke it (the event's `time` is the job's now)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from cli.channels import UsageError


def run_job(name: str, now: str | None) -> int:
    from cli.dev import configure_text_logging, local_aws_environment, scheduled_event, scheduled_jobs

    configure_text_logging()
    local_aws_environment()
    try:
        moment = datetime.fromisoformat(now.replace("Z", "+00:00")) if now else datetime.now(timezone.utc)
    except ValueError:
        raise UsageError(f"--now must be an ISO 8601 time, got {now!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    import app as app_module

    jobs = {job: handler for job, _, handler in scheduled_jobs(app_module.app)}
    if name not in jobs:
        raise UsageError(f"no job {name!r}; jobs: {', '.join(sorted(jobs)) or 'none'}")
    report = jobs[name](scheduled_event(moment, source="firstreply.cli"), None)
    if report is not None:
        print(json.dumps(report, ensure_ascii=False))
    return 0
