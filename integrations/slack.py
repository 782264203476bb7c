"""Slack: signature check and pure converters for the Events API, and a sender on slack-sdk.

The webhook side imports only `slack_sdk.signature`; the Web API client is imported when the
worker sends or looks a user up.
"""
from __future__ import annotations

import json
import os
import re
import threading
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

from functions.clock import iso
from functions.models import Acknowledgement, InboundMessage, SentMessage
from functions.ports import SendError

CHANNEL = "slack"
DEFAULT_API_URL = "https://slack.com/api/"
SECTION_LIMIT = 3000   # characters of mrkdwn in one section block


class MalformedEvent(ValueError):
    """Signed, but not an Events API payload we can read."""


class Ignored(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def verify(headers: Any, raw_body: bytes, signing_secret: str | None, clock=None) -> bool:
    """`X-Slack-Signature` over the raw body with the signing secret, within Slack's 5 minutes."""
    from slack_sdk.signature import Clock, SignatureVerifier

    if not signing_secret:
        return False
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    verifier = SignatureVerifier(signing_secret, clock=clock or Clock())
    return verifier.is_valid(body=raw_body, timestamp=timestamp, signature=signature)


def _ts_to_iso(ts: Any) -> str:
    try:
        moment = datetime.fromtimestamp(float(ts), timezone.utc)
    except (TypeError, ValueError):
        moment = datetime.now(timezone.utc)
    return iso(moment)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


_MARKUP = re.compile(r"<([@#!])?([^<>|]*)(?:\|([^<>]*))?>")


def plain(text: str) -> str:
    """Slack's message markup as a person reads it: user mentions dropped (the bot's own, usually),
    `<#C1|general>` → "#general", `<https://x|label>` → "label", entities decoded."""
    def readable(m: re.Match) -> str:
        sigil, target, label = m.group(1), m.group(2), m.group(3)
        if sigil == "@":
            return ""
        if sigil == "#":
            return f"#{label or target}"
        if sigil == "!":
            return f"@{label or target.split('^')[0]}"
        return label or target
    text = _MARKUP.sub(readable, text)
    return " ".join(text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").split())


def to_inbound(payload: Any) -> InboundMessage:
    """An `event_callback` payload → `InboundMessage`; `Ignored` for what gets no answer."""
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise MalformedEvent("not an Events API payload")
    if payload["type"] != "event_callback":
        raise Ignored(f"payload type {payload['type']}")
    event = payload.get("event")
    event_id = payload.get("event_id")
    if not isinstance(event, dict) or not isinstance(event_id, str) or not event_id:
        raise MalformedEvent("event_callback without event or event_id")
    kind = _str(event.get("type"))
    if kind not in ("message", "app_mention"):
        raise Ignored(f"event type {kind or 'missing'}")
    if event.get("bot_id") or event.get("bot_profile"):
        raise Ignored("bot message")
    if event.get("subtype"):
        raise Ignored(f"subtype {event['subtype']}")
    user, channel, ts = _str(event.get("user")), _str(event.get("channel")), _str(event.get("ts"))
    if not user or not channel or not ts:
        raise MalformedEvent("event without user, channel or ts")
    own = {a.get("user_id") for a in payload.get("authorizations") or [] if isinstance(a, dict)}
    if user in own:
        raise Ignored("our own bot user")
    if kind == "message" and event.get("channel_type") != "im":
        raise Ignored("channel message without a mention")   # mentions arrive as app_mention
    thread_ts = _str(event.get("thread_ts")) or ts
    # A DM channel is one conversation; in shared channels each mention's thread is one.
    chat_id = channel if kind == "message" else f"{channel}:{thread_ts}"
    return InboundMessage(
        channel=CHANNEL, event_id=event_id, chat_id=chat_id, sender_id=user, message_id=ts,
        received_at=_ts_to_iso(ts), text=plain(_str(event.get("text"))),
        chat_type="im" if kind == "message" else "mention", thread_id=thread_ts,
    )


def parse_interaction(raw_body: bytes) -> dict[str, Any]:
    """The form-encoded `payload` of an interactivity request, as a dict."""
    try:
        fields = parse_qs(raw_body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(fields["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, IndexError):
        raise MalformedEvent("interactivity body without a JSON payload field") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise MalformedEvent("interactivity payload without a type")
    return payload


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def survey_answer(payload: dict[str, Any]) -> InboundMessage | None:
    """A click on one of our rating buttons, as an inbound event for the worker; None otherwise."""
    if payload.get("type") != "block_actions":
        return None
    action = next((a for a in payload.get("actions") or [] if isinstance(a, dict)
                   and str(a.get("value", "")).startswith(("csat:", "nps:"))), None)
    user = (payload.get("user") or {}).get("id")
    container = payload.get("container") or {}
    channel = container.get("channel_id") or (payload.get("channel") or {}).get("id")
    if not action or not user or not channel or not container.get("message_ts"):
        return None
    return InboundMessage(
        channel=CHANNEL, event_id=f"action-{user}-{action.get('action_ts') or container['message_ts']}",
        chat_id=channel, sender_id=user, message_id=container["message_ts"],
        received_at=_ts_to_iso(action.get("action_ts")), text=str(action["value"]), chat_type="answer")


def api_url() -> str:
    url = os.environ.get("SLACK_API_URL") or DEFAULT_API_URL
    return url if url.endswith("/") else url + "/"


_own_user: dict[str, str] = {}
_own_lock = threading.Lock()


class SlackSender:
    def __init__(self, token: str, base_url: str | None = None, timeout: int = 10):
        from slack_sdk import WebClient

        self.token = token
        self.client = WebClient(token=token, base_url=base_url or api_url(), timeout=timeout)

    def _call(self, method: str, **kwargs) -> Any:
        from slack_sdk.errors import SlackApiError

        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            if status == 429:
                retry_after = float(exc.response.headers.get("Retry-After", "1") or 1)
                raise SendError(f"rate limited on {method}", retryable=True, retry_after=retry_after) from exc
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            raise SendError(f"{method}: {error or status}", retryable=status >= 500) from exc
        except OSError as exc:   # connection refused, reset, timeout (urllib)
            raise SendError(f"{method}: {exc}", retryable=True) from exc

    def send(self, ack: Acknowledgement) -> SentMessage:
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": ack.text[:SECTION_LIMIT]}}]
        channel = ack.chat_id.split(":")[0]
        response = self._call("chat_postMessage", channel=channel, text=ack.fallback or ack.text,
                              blocks=blocks, thread_ts=ack.thread_id or None,
                              unfurl_links=False, unfurl_media=False)
        return SentMessage(channel=CHANNEL, chat_id=ack.chat_id, message_id=response["ts"],
                           sent_at=_ts_to_iso(response["ts"]), text=ack.text)

    def send_survey(self, request) -> str:
        """The question with a button per score; each button's value is `<kind>:<conversation>:<score>`."""
        buttons = [{"type": "button", "action_id": f"{request.kind}-{n}",
                    "value": f"{request.kind}:{request.conversation_id}:{n}",
                    "text": {"type": "plain_text", "text": str(n)}} for n in request.scale]
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": request.text[:SECTION_LIMIT]}}]
        if buttons:
            blocks.append({"type": "actions", "block_id": request.kind, "elements": buttons})
        response = self._call("chat_postMessage", channel=request.chat_id.split(":")[0], text=request.plain,
                              blocks=blocks, thread_ts=request.thread_id or None)
        return response["ts"]

    def answer_survey(self, inbound: InboundMessage, text: str) -> None:
        """Replace the buttons with the answer, so the question cannot look unanswered."""
        self._call("chat_update", channel=inbound.chat_id, ts=inbound.message_id, text=text,
                   blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": _escape(text)}}])

    def is_own(self, user_id: str) -> bool:
        """Our own bot user (auth.test, cached per token and container)."""
        with _own_lock:
            own = _own_user.get(self.token)
        if own is None:
            own = self._call("auth_test").get("user_id", "")
            with _own_lock:
                _own_user[self.token] = own
        return user_id == own

    def profile(self, user_id: str) -> dict[str, str]:
        """Name and locale from users.info (include_locale)."""
        user = self._call("users_info", user=user_id, include_locale=True).get("user") or {}
        profile = user.get("profile") or {}
        name = _str(profile.get("real_name")) or _str(user.get("real_name")) or _str(user.get("name"))
        first = _str(profile.get("first_name")) or (name.split()[0] if name.strip() else "")
        # `tz` is the user's own IANA zone (issue 15: the customer's clock for surveys, transcripts)
        return {"first_name": first, "name": name, "language_code": _str(user.get("locale")),
                "timezone": _str(user.get("tz"))[:64]}
