"""Channel set-up helpers of the `firstreply` command: the Slack manifest, and posting a signed
payload to a running server as the channel would (for trying `firstreply dev` by hand)."""
from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

MANIFEST = Path(__file__).resolve().parent.parent / "infra" / "slack-manifest.yml"
PLACEHOLDER = "https://YOUR-API.example.com"
DEV_SECRETS = {"TELEGRAM_WEBHOOK_SECRET": "dev-secret", "SLACK_SIGNING_SECRET": "dev-signing-secret",
               "X_CONSUMER_SECRET": "dev-consumer-secret", "FIRSTREPLY_SIGNING_SECRET": "dev-signing-key"}


class UsageError(SystemExit):
    def __init__(self, message: str):
        super().__init__(f"firstreply: {message}")


def https_base_url(url: str) -> str:
    """The deployed API's base URL without a trailing slash; channels only call https."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        raise UsageError(f"--url must be the https base URL of the deployed API (channels only call https), "
                         f"got {url!r}")
    return url.rstrip("/")


def slack_manifest(url: str) -> str:
    return MANIFEST.read_text(encoding="utf-8").replace(PLACEHOLDER, https_base_url(url))


def send(request: urllib.request.Request, timeout: float = 10) -> tuple[int, str]:
    """Status and body of an HTTP request, error statuses included (network errors raise OSError)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def secret(name: str) -> str:
    return os.environ.get(name) or DEV_SECRETS[name]


def signed_request(channel: str, body: bytes, secret=secret) -> tuple[str, dict[str, str]]:
    """The route and the headers the channel itself would send with `body` (`secret(name)` gives
    the secrets: by default yours from the environment, else the dev server's)."""
    if channel == "telegram":
        return "/webhooks/telegram", {"X-Telegram-Bot-Api-Secret-Token": secret("TELEGRAM_WEBHOOK_SECRET")}
    if channel == "slack":
        from slack_sdk.signature import SignatureVerifier

        timestamp = str(int(time.time()))
        signature = SignatureVerifier(secret("SLACK_SIGNING_SECRET")).generate_signature(
            timestamp=timestamp, body=body)
        return "/webhooks/slack/events", {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    from integrations.x import SIGNATURE_HEADER, signature as x_signature

    return "/webhooks/x", {SIGNATURE_HEADER: x_signature(secret("X_CONSUMER_SECRET"), body)}


def post(channel: str, path: str, base_url: str) -> int:
    try:
        body = (sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes())
        json.loads(body)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read a JSON payload from {path}: {exc}") from None
    route, headers = signed_request(channel, body)
    request = urllib.request.Request(base_url.rstrip("/") + route, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        status, answer = send(request)
    except OSError as exc:
        raise UsageError(f"cannot reach {base_url}: {exc}") from None
    print(f"{status} {answer}")
    return 0 if status < 400 else 1
