"""`firstreply agents add NAME [--email]`, `agents list`, `agents revoke NAME`: people who answer in
the inbox, each with a personal token. The token is printed once, alone on the last line (scripts
take `tail -1`); the table keeps only its SHA-256."""
from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone

from cli.channels import UsageError

TOKEN_PREFIX = "fra_"   # recognisable in a leaked log or a secret scanner


def agent_id(name: str) -> str:
    """"Olena Koval" → "olena-koval": the id the inbox records and `assign` accepts."""
    from functions.faq import fold   # accents and the Turkish dotless i folded, as the FAQ matches

    plain = fold(name)
    slug = re.sub(r"[^\w]+", "-", plain, flags=re.UNICODE).strip("-")[:40]
    if not slug:
        raise UsageError(f"not a usable name: {name!r}")
    return slug


def run(action: str, name: str | None, email: str | None) -> int:
    from cli.dev import local_aws_environment
    from integrations.dynamodb import DynamoStore

    local_aws_environment()
    store, now = DynamoStore(), datetime.now(timezone.utc)
    if action == "list":
        rows = store.agents()
        if not rows:
            print("no agents yet: firstreply agents add NAME")
        for row in rows:
            print(f"{row['agent_id']:<24}{row.get('name', ''):<28}{row.get('email') or '':<32}{row.get('status'):<8}"
                  f"{row.get('created_at', '')[:10]}")
        return 0
    if not name or not name.strip():
        raise UsageError(f"agents {action} needs a NAME")
    name = " ".join(name.split())[:64]
    if email is not None and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
        raise UsageError(f"--email: not an address: {email!r}")
    if action == "add":
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        if not store.add_agent(agent_id(name), name, email or "", token, now):
            raise UsageError(f"an agent {agent_id(name)!r} exists already (revoke it, or choose another name)")
        print(f"agent {agent_id(name)} ({name}) added. Their token, shown this once (sign in at /admin):")
        print(token)
        return 0
    if not store.revoke_agent(agent_id(name), now):
        raise UsageError(f"no active agent {agent_id(name)!r}")
    print(f"agent {agent_id(name)} revoked: the token no longer signs in")
    return 0
