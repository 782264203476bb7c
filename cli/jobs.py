"""`firstreply run-job NAME [--now ISO8601]`: one scheduled function, once, as EventBridge would
invoke it (the event's `time` is the job's now).

With `firstreply dev` running (at --url, default http://127.0.0.1:8000), the job runs in the dev
server, through its /dev/jobs route: with its dev secrets, sender, AWS stand-in and outbox, so a
second terminal needs nothing exported and the chat surveys it sends show on /dev/outbox. Without
one, it runs in this process: against AWS_ENDPOINT_URL's stand-in (with the dev server's defaults)
or, with neither, the AWS of your credentials."""
from __future__ import annotations

import json
import os
import urllib.request
from datetime import datetime, timezone

from cli.channels import UsageError, send

DEV_URL = "http://127.0.0.1:8000"


def dev_url(url: str | None) -> str:
    """The dev server a command of a second terminal asks: --url, else FIRSTREPLY_DEV_URL, else make dev's."""
    return url or os.environ.get("FIRSTREPLY_DEV_URL") or DEV_URL


def parse_now(now: str | None) -> datetime:
    if not now:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(now.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--now must be an ISO 8601 time, got {now!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def dev_server(url: str, path: str, body: bytes, content_type: str, timeout: float = 300) -> dict | None:
    """POST to a running dev server's /dev/ route: its JSON answer, or None when nothing listens
    there or what answers is not `firstreply dev` (no such route). What the dev server refused, its
    error (and for an unknown job the jobs there are), is a UsageError."""
    request = urllib.request.Request(url.rstrip("/") + path, data=body, method="POST",
                                     headers={"Content-Type": content_type, "User-Agent": "firstreply"})
    try:
        status, text = send(request, timeout=timeout)
    except OSError:   # refused: no server
        return None
    try:
        answer = json.loads(text)
    except ValueError:
        return None
    if not isinstance(answer, dict) or (status in (403, 404) and "error" not in answer):
        return None    # a server without the dev routes (Chalice: Missing Authentication Token)
    if status != 200:
        listed = f"; jobs: {', '.join(answer['jobs'])}" if answer.get("jobs") else ""
        raise UsageError(f"{answer.get('error', f'the dev server answered {status}')}{listed}")
    return answer


def run(name: str, now: str | None, url: str | None) -> int:
    try:
        parse_now(now)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    base = dev_url(url)
    answer = dev_server(base, f"/dev/jobs/{name}", json.dumps({"now": now}).encode(), "application/json")
    if answer is None:
        if url:
            raise UsageError(f"no `firstreply dev` answers at {url}")
        return run_job(name, now)
    print(f"firstreply run-job: {name} ran in the dev server at {base} (its outbox: {base}/dev/outbox)")
    if answer.get("report") is not None:
        print(json.dumps(answer["report"], ensure_ascii=False))
    return 0


def run_job(name: str, now: str | None) -> int:
    """The job in this process."""
    from cli.dev import configure_text_logging, dev_defaults, local_aws_environment, scheduled_event, scheduled_jobs

    configure_text_logging()
    if os.environ.get("AWS_ENDPOINT_URL"):   # a stand-in: the secrets and sender `firstreply dev` uses
        dev_defaults()
    local_aws_environment()
    try:
        moment = parse_now(now)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    import app as app_module

    jobs = {job: handler for job, _, handler in scheduled_jobs(app_module.app)}
    if name not in jobs:
        raise UsageError(f"no job {name!r}; jobs: {', '.join(sorted(jobs)) or 'none'}")
    report = jobs[name](scheduled_event(moment, source="firstreply.cli"), None)
    if report is not None:
        print(json.dumps(report, ensure_ascii=False))
    return 0
