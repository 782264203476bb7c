"""`firstreply smoke --url URL`: does the deployed API answer as it must?

Signed requests are ones no customer would notice: a Telegram update from a bot, Slack's
`url_verification`, X's CRC and an echo of our own DM (all verified, then ignored or answered
without a message). Forged ones (wrong secret, wrong or stale signature) must get 401, bad input
400, the admin API 401 without its token. Secrets come from the environment or, with
`--secrets-path`, from SSM; a channel whose secret is unknown has its signed checks skipped.
Exits 1 on any surprise.

Then the email path: a mail from the support sender to SES's mailbox simulator
(`success@simulator.amazonses.com`: accepted, delivered nowhere, allowed in the sandbox), composed
and sent as replies are. Against AWS it is sent with your credentials, in the API's region, from
`--email-from`, `SUPPORT_EMAIL_FROM` or the stack's `SupportEmailFrom`; an unverified sender is a
failure, an account still in the SES sandbox a warning (replies to customers would be rejected).
Against `firstreply dev` (an http://127.0.0.1 URL) the dev server sends it through SES on its AWS
stand-in.
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


SIMULATOR = "success@simulator.amazonses.com"


def send_smoke_mail(sender: str | None = None) -> dict[str, str]:
    """A plain automatic mail to the SES simulator from the support sender, through the replies'
    own composing and sending (SendError when SES refuses it)."""
    from integrations import ses

    sender = sender or ses.support_sender()
    if not sender:
        raise ValueError("no sender: SUPPORT_EMAIL_FROM is not set")
    raw = ses.compose(sender, SIMULATOR, "", "firstreply smoke test",
                      "firstreply smoke test: the email path works.", "firstreply smoke test: the email path works.",
                      "en", {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}).as_bytes()
    return {"message_id": ses.send_raw(sender, SIMULATOR, raw), "from": sender, "to": SIMULATOR}


def stack_sender(stack: str) -> str:
    """The SupportEmailFrom the stack was deployed with ("" when none, or no such stack)."""
    from integrations import aws

    cloudformation = aws.client("cloudformation")
    try:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except cloudformation.exceptions.ClientError:
        return ""
    return next((p.get("ParameterValue", "") for p in described.get("Parameters", [])
                 if p["ParameterKey"] == "SupportEmailFrom"), "")


def email_check(sender: str) -> tuple[bool, str, list[str]]:
    """(ok, what happened, warnings) for the smoke mail sent to SES in AWS."""
    from integrations import aws

    warnings = []
    try:
        account = aws.client("sesv2").get_account()
    except Exception:   # not allowed to ask, or a stand-in that cannot answer: send anyway
        account = {}
    if account and not account.get("SendingEnabled", True):
        return False, "SES sending is paused for this account in this region", warnings
    if account and not account.get("ProductionAccessEnabled", True):
        warnings.append("the SES account is in the sandbox: replies to customers are rejected (MessageRejected, "
                        "alarm firstreply-mail-rejected) until you request production access")
    try:
        sent = send_smoke_mail(sender)
    except Exception as exc:   # SendError: MessageRejected for an unverified sender, say
        return False, f"{sender} → {SIMULATOR}: {exc}", warnings
    return True, f"{sender} → {SIMULATOR}, SES message {sent['message_id']}", warnings


def local(parts) -> bool:
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def api_region(host: str) -> str | None:
    """eu-west-1 of abc123.execute-api.eu-west-1.amazonaws.com."""
    import re

    found = re.match(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$", host or "")
    return found.group(1) if found else None


def run(url: str, secrets_path: str | None, email: bool = True, email_from: str | None = None,
        stack: str = "firstreply") -> int:
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
    checked = len(found)
    warnings: list[str] = []
    if email:
        outcome = smoke_email(base, parts, email_from, stack, skipped)
        if outcome is not None:
            ok, detail, warnings = outcome
            checked += 1
            surprises += not ok
            print(f"  {'ok  ' if ok else 'FAIL'} email to the SES simulator: {detail}")
    else:
        skipped.append("email (--no-email)")
    for what in skipped:
        print(f"  skip {what}")
    for what in warnings:
        print(f"  warn {what}")
    print(f"{checked - surprises} of {checked} as expected" + (f", {surprises} surprises" if surprises else ""))
    return 1 if surprises else 0


def smoke_email(base: str, parts, email_from: str | None, stack: str,
                skipped: list[str]) -> tuple[bool, str, list[str]] | None:
    if local(parts):   # the dev server sends it, through its stand-in
        from cli.jobs import dev_server

        try:
            answer = dev_server(base, "/dev/smoke-email", b"{}", "application/json", timeout=30)
        except UsageError as refused:   # a failed check here, not a mistake in the command
            return False, str(refused), []
        if answer is None:
            skipped.append("email (not a `firstreply dev` server: no /dev/smoke-email)")
            return None
        return True, (f"{answer['from']} → {answer['to']} through SES on the dev server's AWS stand-in, "
                      f"message {answer['message_id']}"), []
    region = api_region(parts.hostname)
    if region:   # the API's region is the stack's, where its replies are sent from
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = region
    try:
        sender = email_from or os.environ.get("SUPPORT_EMAIL_FROM") or stack_sender(stack)
    except Exception as exc:   # no credentials: nothing can be sent either
        skipped.append(f"email (no usable AWS credentials: {exc.__class__.__name__})")
        return None
    if not sender:
        skipped.append(f"email (no sender: --email-from, SUPPORT_EMAIL_FROM or the stack {stack}'s SupportEmailFrom)")
        return None
    return email_check(sender)
