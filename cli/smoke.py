"""`firstreply smoke --url URL`: does the deployed API answer as it must?

Signed requests are ones no customer would notice: a Telegram update from a bot, Slack's
`url_verification`, X's CRC and an echo of our own DM (all verified, then ignored or answered
without a message). Forged ones (wrong secret, wrong or stale signature) must get 401, bad input
400, the admin API 401 without its token. Secrets come from the environment or, with
`--secrets-path`, from SSM; a channel whose secret is unknown has its signed checks skipped.
Exits 1 on any surprise.
"""
from __future__ import annotations

import json
import os
import time
import urllib.request
from dataclasses import dataclass
from typing import Callable

from cli.channels import UsageError, send, signed_request


@dataclass
class Check:
    name: str
    method: str
    path: str
    expect: int
    body: bytes | None = None
    headers: dict[str, str] | None = None
    verify: Callable[[str], bool] | None = None    # the answer's body, when the status matched


def _request(base: str, check: Check) -> tuple[int, str]:
    return send(urllib.request.Request(base + check.path, data=check.body, method=check.method, headers={
        "Content-Type": "application/json", "User-Agent": "firstreply-smoke", **(check.headers or {})}), timeout=15)


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def checks(secret: Callable[[str], str]) -> tuple[list[Check], list[str]]:
    from integrations.x import SIGNATURE_HEADER, crc_response

    found: list[Check] = [
        Check("admin page", "GET", "/admin", 200, verify=lambda b: "<title>firstreply admin</title>" in b),
        Check("admin API without a token", "GET", "/admin/api/templates", 401),
        Check("admin API with a wrong token", "GET", "/admin/api/templates", 401,
              headers={"Authorization": "Bearer not-the-token"}),
        Check("survey link forged", "GET", "/surveys/forged.token", 404),
        Check("telegram without the secret header", "POST", "/webhooks/telegram", 401, body=b"{}"),
        Check("telegram with a wrong secret", "POST", "/webhooks/telegram", 401, body=b"{}",
              headers={"X-Telegram-Bot-Api-Secret-Token": "forged"}),
        Check("slack with a forged signature", "POST", "/webhooks/slack/events", 401, body=b'{"type":"event_callback"}',
              headers={"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64}),
        Check("x with a forged signature", "POST", "/webhooks/x", 401, body=b"{}",
              headers={SIGNATURE_HEADER: "sha256=Zm9yZ2Vk"}),
    ]
    skipped = []
    token = secret("FIRSTREPLY_ADMIN_TOKEN")
    if token:
        found.append(Check("admin API with the token", "GET", "/admin/api/templates", 200,
                           headers={"Authorization": f"Bearer {token}"},
                           verify=lambda b: len(_json(b).get("templates", [])) > 0))
    else:
        skipped.append("admin API with the token (FIRSTREPLY_ADMIN_TOKEN unknown)")

    if secret("TELEGRAM_WEBHOOK_SECRET"):
        bot_update = json.dumps({"update_id": 1, "message": {
            "message_id": 1, "date": int(time.time()), "chat": {"id": 1, "type": "private"},
            "from": {"id": 1, "is_bot": True, "first_name": "firstreply smoke"}, "text": "smoke test"}}).encode()
        route, headers = signed_request("telegram", bot_update, secret)
        found += [Check("telegram update from a bot (verified, ignored)", "POST", route, 200, bot_update, headers),
                  Check("telegram malformed body", "POST", route, 400, b"[1, 2", headers)]
    else:
        skipped.append("telegram signed checks (TELEGRAM_WEBHOOK_SECRET unknown)")

    if secret("SLACK_SIGNING_SECRET"):
        challenge = json.dumps({"token": "smoke", "challenge": "firstreply-smoke", "type": "url_verification"}).encode()
        route, headers = signed_request("slack", challenge, secret)
        found.append(Check("slack url_verification (signed)", "POST", route, 200, challenge, headers,
                           verify=lambda b: _json(b).get("challenge") == "firstreply-smoke"))
        stale = {**headers, "X-Slack-Request-Timestamp": str(int(headers["X-Slack-Request-Timestamp"]) - 600)}
        found.append(Check("slack signed ten minutes ago", "POST", route, 401, challenge, stale))
    else:
        skipped.append("slack signed checks (SLACK_SIGNING_SECRET unknown)")

    consumer_secret = secret("X_CONSUMER_SECRET")
    if consumer_secret:
        expected = crc_response("firstreply-smoke", consumer_secret)["response_token"]
        found.append(Check("x CRC", "GET", "/webhooks/x?crc_token=firstreply-smoke", 200,
                           verify=lambda b: _json(b).get("response_token") == expected))
        echo = json.dumps({"for_user_id": "1", "direct_message_events": [{
            "type": "message_create", "id": "1", "created_timestamp": str(int(time.time() * 1000)),
            "message_create": {"sender_id": "1", "target": {"recipient_id": "2"},
                               "message_data": {"text": "smoke test"}}}]}).encode()
        route, headers = signed_request("x", echo, secret)
        found.append(Check("x echo of our own DM (verified, ignored)", "POST", route, 200, echo, headers))
    else:
        skipped.append("x signed checks (X_CONSUMER_SECRET unknown)")
    return found, skipped


def run(url: str, secrets_path: str | None) -> int:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise UsageError(f"--url must be the API's base URL, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/api, "
                         f"got {url!r}")
    if secrets_path:
        os.environ["FIRSTREPLY_SECRETS_PATH"] = secrets_path
    from integrations import secrets

    base = url.rstrip("/")
    found, skipped = checks(secrets.get)
    surprises = 0
    print(f"firstreply smoke: {base}")
    for check in found:
        try:
            status, body = _request(base, check)
        except OSError as exc:
            status, body = 0, str(exc)
        ok = status == check.expect and (check.verify is None or check.verify(body))
        surprises += not ok
        detail = "" if ok else f"   got {status}: {body[:160]!r}"
        print(f"  {'ok  ' if ok else 'FAIL'} {check.name}: expected {check.expect}{detail}")
    for what in skipped:
        print(f"  skip {what}")
    print(f"{len(found) - surprises} of {len(found)} as expected" + (f", {surprises} surprises" if surprises else ""))
    return 1 if surprises else 0
