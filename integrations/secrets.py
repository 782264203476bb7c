"""Secrets: from the environment locally, from SSM Parameter Store in AWS.

In AWS the stage sets `FIRSTREPLY_SECRETS_PATH` (e.g. `/firstreply/prod`); a secret `NAME` is then
the SecureString parameter `/firstreply/prod/NAME`. The first secret a container needs fetches its
whole group in one `GetParameters` call (≤ 10 names, what SSM takes in one call): a webhook's cold
start verifies with one SSM round trip, not one per secret, and without Powertools' parameters
utility (its import alone is ~15 ms). The group is cached per container for five minutes (a
rotated secret takes effect within that). An environment variable of the same name wins, so local
runs and tests need no SSM.
"""
from __future__ import annotations

import logging
import os
import threading
import time

log = logging.getLogger(__name__)

CACHE_SECONDS = 300
# every secret the functions read, so deployment, docs and tests agree on the names
NAMES = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET",
         "X_CONSUMER_KEY", "X_CONSUMER_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET", "X_BEARER_TOKEN",
         "FIRSTREPLY_SIGNING_SECRET", "FIRSTREPLY_ADMIN_TOKEN",
         "META_APP_SECRET", "META_VERIFY_TOKEN", "WHATSAPP_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "META_PAGE_TOKEN")
# The names this function's role may read, set per function by `firstreply package` from the role's
# grant: they are fetched together. A name outside them (or without the variable) is fetched alone:
# GetParameters fails as a whole when one name is not granted.
GRANTED_VARIABLE = "FIRSTREPLY_SECRET_NAMES"
BATCH = 10   # the most names SSM takes in one GetParameters call

_cache: dict[str, tuple[float, dict[str, str]]] = {}   # "path|group" -> (fetched at, values)
_lock = threading.Lock()


def get(name: str) -> str:
    """The secret's value, or "" when it is not configured anywhere."""
    value = os.environ.get(name)
    if value:
        return value
    path = os.environ.get("FIRSTREPLY_SECRETS_PATH", "").rstrip("/")
    if not path:
        return ""
    granted = [n for n in os.environ.get(GRANTED_VARIABLE, "").split(",") if n]
    group = tuple(granted) if name in granted else (name,)
    key = f"{path}|{','.join(group)}"
    with _lock:   # two threads of one container: one call
        cached = _cache.get(key)
        if cached is None or time.monotonic() - cached[0] > CACHE_SECONDS:
            values = _fetch(path, group)
            if values is None:   # SSM failed: ask again next time rather than cache the failure
                return ""
            cached = _cache[key] = (time.monotonic(), values)
    return cached[1].get(name, "")


def _fetch(path: str, names: tuple[str, ...]) -> dict[str, str] | None:
    from integrations.aws import client

    try:
        answers = [client("ssm").get_parameters(Names=[f"{path}/{n}" for n in names[i:i + BATCH]],
                                                 WithDecryption=True) for i in range(0, len(names), BATCH)]
    except Exception as exc:   # not readable (permissions, throttling): the channels stay unconfigured
        log.warning("secrets not available from SSM: %s", exc)
        return None
    values = {}
    for answer in answers:
        for missing in answer.get("InvalidParameters", []):   # not created: a channel that is not used
            log.info("secret %s not in SSM", missing.rsplit("/", 1)[-1])
        values.update({p["Name"].rsplit("/", 1)[-1]: p.get("Value", "") for p in answer.get("Parameters", [])})
    return values


def clear_cache() -> None:
    """Forget what SSM said (tests; a container's cache otherwise lasts CACHE_SECONDS)."""
    with _lock:
        _cache.clear()
