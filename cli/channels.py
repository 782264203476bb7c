"""Channel set-up helpers of the `firstreply` command: the Slack manifest, and posting a signed
payload to a running server as the channel would (for trying `firstreply dev` by hand): Telegram's
secret header, Slack's v0 signature, X's HMAC, Meta's X-Hub-Signature-256."""
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
               "X_CONSUMER_SECRET": "dev-consumer-secret", "FIRSTREPLY_SIGNING_SECRET": "dev-signing-key",
               "META_APP_SECRET": "dev-meta-app-secret", "META_VERIFY_TOKEN": "dev-verify-token"}
META_CHANNELS = ("whatsapp", "messenger", "instagram")


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
    if channel in META_CHANNELS:   # Messenger and Instagram share a route; the payload's object tells them apart
        from integrations.meta import SIGNATURE_HEADER as META_HEADER, signature as meta_signature

        route = "/webhooks/whatsapp" if channel == "whatsapp" else "/webhooks/meta"
        return route, {META_HEADER: meta_signature(secret("META_APP_SECRET"), body)}
    from integrations.x import SIGNATURE_HEADER, signature as x_signature

    return "/webhooks/x", {SIGNATURE_HEADER: x_signature(secret("X_CONSUMER_SECRET"), body)}


def agent_reply(thread: str, text: str, user: str = "U0DEVAGENT") -> bytes:
    """An Events API `message` event as Slack sends it when a person replies in a desk thread
    (`thread` is `CHANNEL:THREAD_TS`, as the dev outbox page lists it)."""
    channel, _, thread_ts = thread.partition(":")
    if not channel or not thread_ts:
        raise UsageError(f"--thread takes CHANNEL:THREAD_TS as /dev/outbox lists it, got {thread!r}")
    ts = f"{time.time():.6f}"
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return json.dumps({
        "type": "event_callback", "event_id": f"EvDEV{ts.replace('.', '')}", "event_time": int(time.time()),
        "team_id": "T0DEV", "api_app_id": "A0DEV",
        "event": {"type": "message", "channel": channel, "channel_type": "channel", "user": user,
                  "text": escaped, "ts": ts, "event_ts": ts, "thread_ts": thread_ts},
    }).encode()


def agent_topic_message(thread: str, text: str, user: int = 7000000777) -> bytes:
    """An Update as Telegram sends it when a person writes in a desk topic (`thread` is
    `GROUP:TOPIC`, as /dev/outbox lists it). The user is the Telegram stand-in's administrator."""
    group, _, topic = thread.partition(":")
    if not group.lstrip("-").isdigit() or not topic.isdigit():
        raise UsageError(f"--thread takes GROUP:TOPIC as /dev/outbox lists it, got {thread!r}")
    now = int(time.time())
    chat = {"id": int(group), "title": "Support desk", "is_forum": True, "type": "supergroup"}
    return json.dumps({"update_id": now * 1000 + time.time_ns() % 1000, "message": {
        "message_id": now % 10_000_000, "from": {"id": user, "is_bot": False, "first_name": "Dev", "last_name": "Agent"},
        "chat": chat, "date": now, "message_thread_id": int(topic), "is_topic_message": True, "text": text}}).encode()


def post(channel: str, path: str | None, base_url: str, thread: str = "", text: str = "") -> int:
    if thread:
        if channel not in ("slack", "telegram") or not text:
            raise UsageError("--thread goes with `post slack` or `post telegram` and --text "
                             "(an agent's reply in a desk thread or topic)")
        body = agent_reply(thread, text) if channel == "slack" else agent_topic_message(thread, text)
    else:
        if not path:
            raise UsageError("post needs a payload FILE (or - for standard input), or --thread and --text")
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
