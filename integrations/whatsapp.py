"""WhatsApp (Cloud API): pure converters for its webhook, and a sender on pywa.

The webhook side uses only the standard library (and `integrations.meta` for the shared signature);
pywa (~250 ms to import) is imported by the sender alone, in the worker. pywa builds its Graph URL
itself (`https://graph.facebook.com/v…`): `_GraphAPI` points it at `META_API_URL` instead, so the
local stand-in and the tests run the real library.
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from functions.clock import iso
from functions import models
from functions.models import InboundMessage
from functions.ports import SendError
from integrations.meta import Batch, Malformed, StatusUpdate, api_url, api_version, bounded

if TYPE_CHECKING:   # annotations only: the worker's models load when a sender makes one
    from functions.models import Acknowledgement, SentMessage

CHANNEL = "whatsapp"
OBJECT = "whatsapp_business_account"
TEXT_LIMIT = 4096
# Message types a customer sends, as the acknowledgement names them ("" = plain text).
MEDIA = {"image": "photo", "video": "video", "audio": "audio", "document": "document", "sticker": "sticker",
         "location": "location", "contacts": "contact", "order": "message", "unsupported": "message"}
IGNORED_TYPES = ("reaction", "system", "request_welcome", "ephemeral", "revoke")
# Country calling codes of the languages we ship, for a customer whose text says nothing (a photo):
# a weak hint, used only when the text cannot be recognised.
PHONE_LANGUAGES = (("380", "uk"), ("98", "fa"), ("90", "tr"), ("7", "ru"))


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _seconds(value: Any) -> str:
    try:
        return iso(datetime.fromtimestamp(int(value), timezone.utc))
    except (TypeError, ValueError, OverflowError, OSError):
        return iso(datetime.now(timezone.utc))


def _language(text: str, wa_id: str) -> str:
    from functions.language import detect_language

    guessed = detect_language(text)
    if guessed or text.strip():
        return guessed
    return next((lang for prefix, lang in PHONE_LANGUAGES if wa_id.startswith(prefix)), "")


def _content(message: dict[str, Any]) -> tuple[str, str, str]:
    """(text, media, survey answer) of one message."""
    kind = _str(message.get("type"))
    body = message.get(kind) if isinstance(message.get(kind), dict) else {}
    if kind == "text":
        return _str(body.get("body")), "", ""
    if kind == "interactive":   # a row of our survey list, or another reply button
        reply = body.get("list_reply") or body.get("button_reply") or {}
        choice = _str(reply.get("id")) if isinstance(reply, dict) else ""
        if choice.startswith(("csat:", "nps:")):
            return "", "", choice[:200]
        return _str(reply.get("title")) if isinstance(reply, dict) else "", "", ""
    if kind == "button":        # a quick-reply button of a template
        payload = _str(body.get("payload"))
        if payload.startswith(("csat:", "nps:")):
            return "", "", payload[:200]
        return _str(body.get("text")), "", ""
    if kind == "location":
        place = ", ".join(p for p in (_str(body.get("name")), _str(body.get("address"))) if p)
        return place, "location", ""
    if kind == "audio":
        return "", "voice" if body.get("voice") else "audio", ""
    if kind in MEDIA:
        return _str(body.get("caption")), MEDIA[kind], ""
    return "", "message", ""   # a type newer than this code: still a customer writing


def _message(message: Any, value: dict[str, Any], names: dict[str, str]) -> InboundMessage | str:
    if not isinstance(message, dict):
        return "malformed: message is not an object"
    kind, wa_id, mid = _str(message.get("type")), _str(message.get("from")), _str(message.get("id"))
    if not wa_id or not mid or len(wa_id) > 64:
        return "malformed: message without sender or id"
    if kind in IGNORED_TYPES:
        return kind
    metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    own = _str(metadata.get("display_phone_number")).lstrip("+").replace(" ", "")
    if own and wa_id == own:
        return "echo of our own number"
    text, media, answer = _content(message)
    details = {"phone_number_id": _str(metadata.get("phone_number_id"))}
    context = message.get("context")
    if isinstance(context, dict) and _str(context.get("id")):
        details["reply_to"] = bounded(_str(context["id"]))
    name = names.get(wa_id, "")[:200]
    common = dict(channel=CHANNEL, event_id=bounded(mid), chat_id=wa_id, sender_id=wa_id,
                  message_id=bounded(mid), received_at=_seconds(message.get("timestamp")),
                  first_name=(name.split() or [""])[0], name=name, details=details)
    if answer:
        return InboundMessage(text=answer, chat_type="answer", **common)
    if not text and not media:
        return "message without content"
    return InboundMessage(text=text, media=media, language_code=_language(text, wa_id), **common)


def _status(status: Any) -> StatusUpdate | str:
    if not isinstance(status, dict) or not _str(status.get("id")) or not _str(status.get("status")):
        return "malformed: status without id"
    errors = status.get("errors") if isinstance(status.get("errors"), list) else []
    errors = tuple({"code": e.get("code") if isinstance(e.get("code"), int) else None,
                    "title": _str(e.get("title"))[:200],
                    "details": _str((e.get("error_data") or {}).get("details"))[:300]
                    if isinstance(e.get("error_data"), dict) else ""}
                   for e in errors if isinstance(e, dict))[:5]
    return StatusUpdate(CHANNEL, bounded(status["id"]), _str(status["status"])[:20],
                        _seconds(status.get("timestamp")), _str(status.get("recipient_id"))[:64], errors)


def to_batch(payload: Any) -> Batch:
    """A WhatsApp Business Account webhook payload: every message and status of every change."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise Malformed("not a Meta webhook payload (an object with an entry list)")
    batch = Batch()
    if payload.get("object") != OBJECT:
        batch.ignored.append(f"object {_str(payload.get('object')) or 'missing'}")
        return batch
    for entry in payload["entry"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("changes", []), list):
            raise Malformed("entry is not an object with a changes list")
        for change in entry.get("changes", []):
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                raise Malformed("change without a value object")
            if change.get("field") != "messages":   # smb_message_echoes, template updates, …
                batch.ignored.append(f"field {_str(change.get('field')) or 'missing'}")
                continue
            value = change["value"]
            for key in ("messages", "statuses", "contacts"):
                if not isinstance(value.get(key, []), list):
                    raise Malformed(f"{key} is not a list")
            names = {_str(c.get("wa_id")): _str((c.get("profile") or {}).get("name"))
                     for c in value.get("contacts", []) if isinstance(c, dict) and isinstance(c.get("profile"), dict)}
            for message in value.get("messages", []):
                result = _message(message, value, names)
                (batch.messages.append if isinstance(result, InboundMessage) else batch.ignored.append)(result)
            for status in value.get("statuses", []):
                result = _status(status)
                (batch.statuses.append if isinstance(result, StatusUpdate) else batch.ignored.append)(result)
            if value.get("errors"):
                batch.ignored.append("webhook errors")
    return batch


# -- sending ----------------------------------------------------------------------------------------
# Cloud API error codes (developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
WAIT = {130429: 5.0,       # throughput of the phone number reached: back off briefly
        131056: 60.0,      # too many messages to this one customer
        131048: 300.0,     # spam rate limit
        80007: 60.0, 4: 60.0}
TRANSIENT = {1, 2, 131000, 131016, 131057, 133004}
REASONS = {131047: "outside WhatsApp's 24-hour customer service window (the customer has not written "
                   "in the last 24 hours; only an approved template may be sent)",
           131026: "undeliverable: the number is not on WhatsApp, has not accepted the terms, or runs an old app",
           131050: "the customer stopped marketing messages from this business",
           131049: "WhatsApp chose not to deliver this message (ecosystem engagement); do not resend at once"}


def send_error(code: Any, message: str, status: int | None = None) -> SendError:
    """A Cloud API error as retry-after (rate limits), retry (transient) or don't retry (the rest)."""
    what = f"{REASONS.get(code, message)} (code {code})"
    if code in WAIT:
        return SendError(f"rate limited: {what}", retryable=True, retry_after=WAIT[code])
    if code in TRANSIENT or (status or 0) >= 500:
        return SendError(what, retryable=True)
    return SendError(what, retryable=False)


# The list's button (at most 20 characters) in the survey's language.
RATE = {"en": "Rate us", "ru": "Оценить", "uk": "Оцінити", "tr": "Puan ver", "fa": "امتیاز دهید"}


def template_text(text: str) -> str:
    """A template parameter may not hold line breaks, tabs or runs of spaces, and at most 1,024
    characters: the agent's text, folded to one line."""
    return " ".join(text.split())[:1024]


@lru_cache(maxsize=2)
def _client(token: str, phone_id: str, base_url: str, version: str):
    """One pywa client per container and configuration (its httpx client keeps the connection)."""
    import httpx
    from pywa import WhatsApp
    from pywa.api import GraphAPI

    class _GraphAPI(GraphAPI):
        def __init__(self, token, session, api_version):
            super().__init__(token=token, session=session, api_version=api_version)
            session.base_url = f"{base_url}/v{version}"   # META_API_URL, not graph.facebook.com

    class _WhatsApp(WhatsApp):
        _api_cls = _GraphAPI

    return _WhatsApp(phone_id=phone_id, token=token, api_version=version,
                     session=httpx.Client(timeout=10.0), validate_updates=False)


class WhatsAppSender:
    """Text, the survey's list message, and the configured template after the 24-hour window."""

    def __init__(self, token: str, phone_id: str, now=None):
        self.token, self.phone_id = token, phone_id
        self.now = now or (lambda: datetime.now(timezone.utc))

    @property
    def client(self):
        return _client(self.token, self.phone_id, api_url(), api_version())

    def _call(self, method: str, *args, **kwargs) -> str:
        import httpx
        from pywa.errors import WhatsAppError

        try:
            return getattr(self.client, method)(*args, **kwargs).id
        except WhatsAppError as exc:
            raise send_error(exc.code, exc.message, exc.status_code) from exc
        except httpx.HTTPError as exc:   # connection refused, reset, timeout
            raise SendError(f"WhatsApp {method}: {type(exc).__name__}", retryable=True) from exc

    def send(self, ack: Acknowledgement) -> SentMessage:
        from functions.service_window import outside

        text = ack.fallback or ack.text
        reason = outside(CHANNEL, ack.details.get("customer_at", ""), self.now())
        if reason and ack.details.get("template"):
            message_id = self._template(ack.chat_id, ack.details["template"],
                                        ack.details.get("template_language") or "en", text)
        elif reason:
            raise SendError(f"not sent: {reason}; WhatsApp then takes only an approved template "
                            f"(set whatsapp.reply_template in the settings to send one)", retryable=False)
        else:
            message_id = self._call("send_message", to=ack.chat_id, text=text[:TEXT_LIMIT], preview_url=False)
        return models.SentMessage(channel=CHANNEL, chat_id=ack.chat_id, message_id=message_id,
                                  sent_at=iso(self.now()), text=ack.text)

    def _template(self, to: str, name: str, language: str, text: str) -> str:
        from pywa.types.templates import BodyText, TemplateLanguage

        try:
            code = TemplateLanguage(language)
        except Exception as exc:   # pywa's enum lists the languages WhatsApp takes
            raise SendError(f"template language {language!r} is not one WhatsApp knows", retryable=False) from exc
        return self._call("send_template", to=to, name=name, language=code,
                          params=[BodyText.params(template_text(text))])

    def send_survey(self, request) -> str:
        """An interactive list message: reply buttons hold at most 3 choices, a list 10 rows, so a
        5-point rating is one list; NPS's 0–10 is two lists (0–5, 6–10). Each row's id is
        `<kind>:<conversation>:<score>`, as the webhook reads it back."""
        from pywa.types import Section, SectionList, SectionRow

        scale = list(request.scale)
        text = (request.plain or request.text)[:1024]
        if not scale:
            return self._call("send_message", to=request.chat_id, text=text)
        parts = [scale] if len(scale) <= 10 else [scale[:6], scale[6:]]
        first = ""
        for part in parts:
            rows = [SectionRow(title=("★" * n if request.kind == "csat" else str(n)) or "0",
                               callback_data=f"{request.kind}:{request.conversation_id}:{n}") for n in part]
            label = f"{part[0]}–{part[-1]}"
            button = label if len(parts) > 1 else RATE.get(request.language.split("-")[0], RATE["en"])
            message_id = self._call("send_message", to=request.chat_id, text=text, buttons=SectionList(
                button_title=button, sections=[Section(title=label, rows=rows)]))
            first = first or message_id
        return first

    def answer_survey(self, inbound: InboundMessage, text: str) -> None:
        self._call("send_message", to=inbound.chat_id, text=text)

    def is_own(self, sender_id: str) -> bool:
        return False   # the webhook drops our own number's messages and echo fields

    def profile(self, sender_id: str) -> dict[str, str]:
        return {}      # every message carries the contact's profile name


def configured() -> tuple[str, str]:
    from integrations import secrets

    return secrets.get("WHATSAPP_TOKEN"), secrets.get("WHATSAPP_PHONE_NUMBER_ID")
