"""Meta's webhooks (WhatsApp, Messenger, Instagram): the signature, the verification handshake, pure
converters for Messenger and Instagram, and their sender over the Graph API Send API.

All three products sign the raw body the same way (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256
with the app secret>`) and verify a webhook URL with the same GET handshake. The webhook side uses
only the standard library; the sender imports httpx when it sends. WhatsApp's own converters and
its sender (pywa) are in `integrations/whatsapp.py`.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from functions.clock import iso
from functions import models
from functions.models import InboundMessage
from functions.ports import SendError

if TYPE_CHECKING:   # annotations only: the worker's models load when a sender makes one
    from functions.models import Acknowledgement, SentMessage

SIGNATURE_HEADER = "X-Hub-Signature-256"
DEFAULT_API_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "23.0"
OBJECTS = {"page": "messenger", "instagram": "instagram"}   # the `object` of /webhooks/meta payloads
ID_LIMIT = 200                 # ids become table keys: longer ones are hashed (the same on redelivery)
# What Meta sends as hub.challenge is a number; answering only such tokens keeps the handshake from
# reflecting arbitrary text back to whoever knows the verify token.
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class Malformed(ValueError):
    """Signed, but not a webhook payload of this product."""


@dataclass(frozen=True)
class StatusUpdate:
    """What became of a message we sent (sent, delivered, read, failed): never a customer's message."""

    channel: str
    message_id: str
    status: str
    at: str
    recipient: str = ""
    errors: tuple[dict[str, Any], ...] = ()


@dataclass
class Batch:
    """One POST: Meta batches several entries, each with several messages and statuses."""

    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(headers: Any, raw_body: bytes, app_secret: str | None) -> bool:
    """Constant-time check of the body's HMAC; no app secret configured means no access."""
    if not app_secret:
        return False
    supplied = headers.get(SIGNATURE_HEADER) or headers.get(SIGNATURE_HEADER.lower()) or ""
    return hmac.compare_digest(supplied.encode("utf-8", "replace"),
                               signature(app_secret, raw_body or b"").encode("ascii"))


def handshake(query: dict[str, str] | None, verify_token: str | None) -> str | None:
    """The challenge to echo when Meta verifies the callback URL with our token; None otherwise."""
    query = query or {}
    supplied = query.get("hub.verify_token") or ""
    challenge = query.get("hub.challenge") or ""
    if not verify_token or query.get("hub.mode") != "subscribe" or not _CHALLENGE.match(challenge):
        return None
    if not hmac.compare_digest(supplied.encode("utf-8", "replace"), verify_token.encode("utf-8")):
        return None
    return challenge


def bounded(value: str) -> str:
    if len(value) <= ID_LIMIT:
        return value
    return "h-" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _ms(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        try:
            return iso(datetime.fromtimestamp(value / 1000, timezone.utc))
        except (OverflowError, OSError, ValueError):
            pass
    return iso(datetime.now(timezone.utc))


# Attachment types a Messenger or Instagram customer sends, as the acknowledgement names them.
ATTACHMENT_MEDIA = {"image": "photo", "video": "video", "audio": "voice", "file": "document",
                    "location": "location", "sticker": "sticker", "ig_reel": "video", "reel": "video",
                    "story_mention": "message", "share": "message", "template": "message",
                    "fallback": "message", "animated_image": "animation"}


def _messaging(item: dict[str, Any], channel: str, page_id: str) -> InboundMessage | StatusUpdate | str:
    """One `messaging` item: a customer's message, a delivery/read receipt, or why it is ignored."""
    sender = item.get("sender") or {}
    sender_id = _str(sender.get("id")) if isinstance(sender, dict) else ""
    if "delivery" in item or "read" in item:
        receipt = item.get("delivery") or item.get("read") or {}
        kind = "delivered" if "delivery" in item else "read"
        mids = receipt.get("mids") if isinstance(receipt, dict) else None
        if isinstance(mids, list) and mids and isinstance(mids[0], str):
            return StatusUpdate(channel, bounded(mids[0]), kind, _ms(item.get("timestamp")), sender_id)
        if isinstance(receipt, dict) and isinstance(receipt.get("mid"), str):   # Instagram's read receipt
            return StatusUpdate(channel, bounded(receipt["mid"]), kind, _ms(item.get("timestamp")), sender_id)
        return f"{kind} receipt without message ids"
    for kind in ("reaction", "message_edit", "optin", "referral", "account_linking", "policy_enforcement",
                 "game_play", "pass_thread_control", "take_thread_control", "request_thread_control"):
        if kind in item:
            return kind
    if not sender_id or len(sender_id) > 64:   # PSIDs and IGSIDs are short numbers; they become keys
        return "malformed: no sender"
    if page_id and sender_id == page_id:
        return "our own page"
    message, postback = item.get("message"), item.get("postback")
    if isinstance(postback, dict):   # a tapped button: its payload is what they chose
        payload = _str(postback.get("payload"))
        mid = _str(postback.get("mid")) or f"postback-{sender_id}-{item.get('timestamp')}"
        return InboundMessage(channel=channel, event_id=bounded(mid), chat_id=sender_id, sender_id=sender_id,
                              message_id=bounded(mid), received_at=_ms(item.get("timestamp")),
                              text=payload[:200] if payload.startswith(("csat:", "nps:")) else _str(postback.get("title")),
                              chat_type="answer" if payload.startswith(("csat:", "nps:")) else "private")
    if not isinstance(message, dict):
        return "no message"
    if message.get("is_echo"):
        return "echo of our own message"
    if message.get("is_deleted"):
        return "deleted message"
    mid = _str(message.get("mid"))
    if not mid:
        return "malformed: message without mid"
    quick = message.get("quick_reply") or {}
    payload = _str(quick.get("payload")) if isinstance(quick, dict) else ""
    if payload.startswith(("csat:", "nps:")):   # a survey answer, tapped from our quick replies
        return InboundMessage(channel=channel, event_id=bounded(mid), chat_id=sender_id, sender_id=sender_id,
                              message_id=bounded(mid), received_at=_ms(item.get("timestamp")),
                              text=payload[:200], chat_type="answer")
    attachments = message.get("attachments")
    attachments = [a for a in attachments if isinstance(a, dict)] if isinstance(attachments, list) else []
    kinds = [_str(a.get("type")) for a in attachments]
    media = next((ATTACHMENT_MEDIA.get(k, "message") for k in kinds), "")
    text = _str(message.get("text"))
    if not text and not media:
        return "message without text or attachment"
    details = {"attachments": kinds[:10]} if kinds else {}
    if "story_mention" in kinds:
        details["story_mention"] = True
    reply_to = message.get("reply_to")
    if isinstance(reply_to, dict):
        story = reply_to.get("story") if isinstance(reply_to.get("story"), dict) else {}
        details["reply_to"] = bounded(_str(reply_to.get("mid")) or _str(story.get("id")))
    return InboundMessage(channel=channel, event_id=bounded(mid), chat_id=sender_id, sender_id=sender_id,
                          message_id=bounded(mid), received_at=_ms(item.get("timestamp")), text=text,
                          media=media, details=details)


def to_batch(payload: Any) -> Batch:
    """A Messenger (`object: page`) or Instagram (`object: instagram`) webhook payload."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise Malformed("not a Meta webhook payload (an object with an entry list)")
    batch = Batch()
    channel = OBJECTS.get(_str(payload.get("object")))
    if channel is None:
        batch.ignored.append(f"object {_str(payload.get('object')) or 'missing'}")
        return batch
    for entry in payload["entry"]:
        if not isinstance(entry, dict):
            raise Malformed("entry is not an object")
        page_id = _str(entry.get("id"))
        items = entry.get("messaging")
        if items is None:
            # changes-style fields (comments, mentions in posts) are not conversations we answer
            changes = entry.get("changes")
            batch.ignored.extend(f"field {_str(c.get('field'))}" for c in changes if isinstance(c, dict)) \
                if isinstance(changes, list) else batch.ignored.append("entry without messaging")
            continue
        if not isinstance(items, list):
            raise Malformed("messaging is not a list")
        for item in items:
            if not isinstance(item, dict):
                raise Malformed("messaging item is not an object")
            result = _messaging(item, channel, page_id)
            if isinstance(result, InboundMessage):
                batch.messages.append(result)
            elif isinstance(result, StatusUpdate):
                batch.statuses.append(result)
            else:
                batch.ignored.append(result)
    return batch


# -- sending ----------------------------------------------------------------------------------------
def api_url() -> str:
    return (os.environ.get("META_API_URL") or DEFAULT_API_URL).rstrip("/")


def api_version() -> str:
    return (os.environ.get("META_API_VERSION") or DEFAULT_API_VERSION).lstrip("v")


# Send API error codes (developers.facebook.com/docs/messenger-platform/error-codes): what waiting helps.
RATE_LIMITS = {4, 17, 32, 613, 80006}
TRANSIENT = {1, 2, 1200}
WINDOW_SUBCODES = {2018278, 2534022}      # outside the allowed window


def send_error(status: int, error: dict[str, Any]) -> SendError:
    """A Graph API error as retry (rate limits, transient) or don't retry (everything else)."""
    code, subcode = error.get("code"), error.get("error_subcode")
    message = _str(error.get("message")) or f"HTTP {status}"
    what = f"{message} (code {code}{f', subcode {subcode}' if subcode else ''})"
    if subcode in WINDOW_SUBCODES:
        return SendError(f"outside the customer service window: {what}", retryable=False)
    if code in RATE_LIMITS or status == 429:
        return SendError(f"rate limited: {what}", retryable=True, retry_after=60.0)
    if code in TRANSIENT or error.get("is_transient") or status >= 500:
        return SendError(what, retryable=True)
    return SendError(what, retryable=False)


class MessengerSender:
    """Messenger and Instagram through the Send API (`POST /{version}/me/messages` with the page
    token; Instagram messaging goes through the linked Facebook page). A reply after the 24-hour
    window is sent tagged HUMAN_AGENT (7 days) when the app has that permission
    (`META_HUMAN_AGENT_TAG=1`), otherwise refused with the reason."""

    def __init__(self, channel: str, token: str, now=None, timeout: float = 10.0):
        import httpx

        self.channel, self.token = channel, token
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.http = httpx.Client(base_url=f"{api_url()}/v{api_version()}", timeout=timeout)
        self.human_agent = os.environ.get("META_HUMAN_AGENT_TAG") == "1"

    def _call(self, method: str, path: str, **kwargs) -> dict[str, Any]:
        import httpx

        try:
            response = self.http.request(method, path, params={"access_token": self.token,
                                                                **kwargs.pop("params", {})}, **kwargs)
        except httpx.HTTPError as exc:   # connection refused, reset, timeout
            raise SendError(f"{path}: {type(exc).__name__}", retryable=True) from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400 or "error" in body:
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            raise send_error(response.status_code, error)
        return body

    def _send(self, recipient: str, message: dict[str, Any], customer_at: str = "") -> str:
        from functions.service_window import HUMAN_AGENT_WINDOW, outside

        body: dict[str, Any] = {"recipient": {"id": recipient}, "messaging_type": "RESPONSE", "message": message}
        reason = outside(self.channel, customer_at, self.now())
        if reason:
            if not self.human_agent or outside(self.channel, customer_at, self.now(), HUMAN_AGENT_WINDOW):
                raise SendError(f"not sent: {reason}; Messenger and Instagram allow a person's reply "
                                f"up to 7 days later only with the HUMAN_AGENT tag (META_HUMAN_AGENT_TAG=1, "
                                f"after Meta grants the permission)", retryable=False)
            body.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
        answer = self._call("POST", "/me/messages", json=body)
        return _str(answer.get("message_id"))

    def send(self, ack: Acknowledgement) -> SentMessage:
        text = ack.fallback or ack.text
        message_id = self._send(ack.chat_id, {"text": text[:2000]}, ack.details.get("customer_at", ""))
        return models.SentMessage(channel=self.channel, chat_id=ack.chat_id, message_id=message_id,
                                  sent_at=iso(self.now()), text=ack.text)

    def send_survey(self, request) -> str:
        """The question with a quick reply per score (up to 13: NPS's 0–10 fits); each payload is
        `<kind>:<conversation>:<score>`, as the webhook reads it back."""
        replies = [{"content_type": "text", "title": str(n), "payload": f"{request.kind}:{request.conversation_id}:{n}"}
                   for n in request.scale]
        message: dict[str, Any] = {"text": (request.plain or request.text)[:2000]}
        if replies:
            message["quick_replies"] = replies
        return self._send(request.chat_id, message)

    def answer_survey(self, inbound: InboundMessage, text: str) -> None:
        self._send(inbound.chat_id, {"text": text})

    def is_own(self, sender_id: str) -> bool:
        return False   # echoes carry is_echo and our page's id: the webhook drops them

    def profile(self, sender_id: str) -> dict[str, str]:
        """Messenger's User Profile API (first_name, last_name, locale); Instagram's user profile
        (name, username). Cached on the contact by the worker, asked once per customer."""
        fields = "first_name,last_name,locale" if self.channel == "messenger" else "name,username"
        found = self._call("GET", f"/{sender_id}", params={"fields": fields})
        name = (" ".join(p for p in (_str(found.get("first_name")), _str(found.get("last_name"))) if p)
                or _str(found.get("name")) or _str(found.get("username")))
        first = _str(found.get("first_name")) or (name.split()[0] if name.strip() else "")
        return {"first_name": first, "name": name, "language_code": _str(found.get("locale")).replace("_", "-")}
