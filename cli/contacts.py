"""`firstreply contact export|forget CONTACT` and `firstreply audit [--since]`.

CONTACT is `channel:id` as the stores name it (`telegram:42`, `email:olena@example.com`), an email
address, or a conversation reference. Both commands are audited as the local user on this host
(the admin API audits the signed-in admin instead).
"""
from __future__ import annotations

import getpass
import json
import socket
import sys
from datetime import datetime, timedelta, timezone

from cli.channels import UsageError


def _who() -> tuple[str, dict[str, str]]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}", {"surface": "cli", "host": socket.gethostname()}


def export(contact: str, out: str | None, with_notes: bool) -> int:
    from cli.dev import local_aws_environment
    from functions import customer_data
    from functions.handlers import customers

    local_aws_environment()
    who, origin = _who()
    try:
        document = customers.export(contact, who, origin, with_notes=with_notes)
    except customer_data.NotFound as exc:
        raise UsageError(str(exc)) from None
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if out and out != "-":
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        print(f"wrote {out}: {len(document['identities'])} identities, {len(document['conversations'])} "
              f"conversations, {len(document['raw_mails'])} raw mails", file=sys.stderr)
    else:
        print(text)
    return 0


def forget(contact: str, yes: bool) -> int:
    from cli.dev import local_aws_environment
    from functions import customer_data
    from functions.handlers import customers

    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("erasure cannot be undone: pass --yes to confirm")
        if input(f"Erase everything held about {contact}? This cannot be undone. Type 'yes': ").strip() != "yes":
            print("nothing erased")
            return 1
    local_aws_environment()
    who, origin = _who()
    try:
        removed = customers.forget(contact, who, origin)
    except (customer_data.NotFound, customer_data.DeskRefused) as exc:
        raise UsageError(str(exc)) from None
    print("removed:")
    for kind, count in removed.items():
        print(f"  {kind:<14}{count:>6}")
    return 0


def audit(since: str | None, until: str | None, as_json: bool) -> int:
    from cli.dev import local_aws_environment
    from functions.handlers import customers

    local_aws_environment()
    today = datetime.now(timezone.utc)
    try:
        start = datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=timezone.utc) if since else today - timedelta(days=7)
        end = datetime.strptime(until, "%Y-%m-%d").replace(tzinfo=timezone.utc) if until else today
    except ValueError:
        raise UsageError("--since and --until are days, YYYY-MM-DD") from None
    entries = customers.audit_listing(start, end)
    if as_json:
        print(json.dumps(entries, indent=2, ensure_ascii=False))
        return 0
    for e in entries:
        where = " ".join(f"{k}={v}" for k, v in (e.get("origin") or {}).items())
        print(f"{e['at']}  {e['who']:<24} {e['action']:<18} {e['target']:<40} {where}")
    return 0
