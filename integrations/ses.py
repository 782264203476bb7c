"""Amazon SES: inbound mail (receipt rule → S3 object + SNS notification) and replies (sesv2).

The SNS notification alone would carry the mail only up to 150 KB, so the receipt rule stores the
raw message in S3 and the notification names the object; we read it from there.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from datetime import datetime, timezone
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate, parseaddr
from typing import TYPE_CHECKING, Any

from functions.language import detect_language
from functions.clock import iso, iso_from_text
from functions import models
from functions.models import InboundMessage
from functions.ports import SendError
from integrations import dynamodb
from integrations.aws import client, region
from integrations.email_message import clean, parse_mail

if TYPE_CHECKING:   # annotations only: the worker's models load when a sender makes one
    from functions.models import Acknowledgement, SentMessage

CHANNEL = "email"
MAIL_BUCKET = os.environ.get("FIRSTREPLY_MAIL_BUCKET", "firstreply-inbound-mail")
MAIL_TOPIC = os.environ.get("FIRSTREPLY_MAIL_TOPIC", "firstreply-inbound-mail")
RETRYABLE = {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException",
             "ServiceUnavailable", "InternalFailure", "InternalServiceError", "SendingPausedException",
             "AccountSuspendedException"}
log = logging.getLogger(__name__)
_RE = re.compile(r"^\s*(re|aw|sv|ynt|ответ|відповідь)\s*:", re.IGNORECASE)


class NotForUs(ValueError):
    """A notification that is not an SES receipt for our bucket and topic."""


def support_sender() -> str:
    """SUPPORT_EMAIL_FROM as configured, display name included ("Acme Support <support@acme.example>")."""
    return os.environ.get("SUPPORT_EMAIL_FROM", "")


def support_address() -> str:
    return parseaddr(support_sender())[1].lower()


def read_notification(message: str, topic_arn: str) -> dict[str, Any]:
    """Check an SNS message is an SES receipt notification for our topic and bucket."""
    if not topic_arn.endswith(f":{MAIL_TOPIC}"):
        raise NotForUs(f"topic {topic_arn!r} is not {MAIL_TOPIC!r}")
    try:
        notification = json.loads(message)
    except ValueError:
        raise NotForUs("SNS message is not JSON") from None
    if not isinstance(notification, dict) or notification.get("notificationType") != "Received":
        raise NotForUs("not an SES receipt notification")
    action = (notification.get("receipt") or {}).get("action") or {}
    if action.get("type") != "S3" or action.get("bucketName") != MAIL_BUCKET or not action.get("objectKey"):
        raise NotForUs(f"mail stored in {action.get('bucketName')!r}, not {MAIL_BUCKET!r}")
    if not (notification.get("mail") or {}).get("messageId"):
        raise NotForUs("notification without mail.messageId")
    return notification


def fetch_raw(notification: dict[str, Any]) -> bytes | None:
    """The raw mail, or None when it is no longer there (erased, or expired by the lifecycle rule)."""
    action = notification["receipt"]["action"]
    s3 = client("s3")
    try:
        return s3.get_object(Bucket=action["bucketName"], Key=action["objectKey"])["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


VERDICTS = ("spam", "virus", "spf", "dkim", "dmarc")


def _event_id(mail: dict[str, Any]) -> str:
    """SES's id of the mail (the dedupe key): its ids are short, but whatever forms a key is bounded."""
    value = str(mail["messageId"])
    return value if len(value.encode()) <= 200 else "h-" + hashlib.sha256(value.encode()).hexdigest()


def to_inbound(notification: dict[str, Any], raw: bytes) -> InboundMessage:
    mail, receipt = notification["mail"], notification.get("receipt") or {}
    # SES's authenticity and content checks (14.10): recorded on every mail, and a DMARC, spam or
    # virus FAIL means no acknowledgement (`automatic_mail`'s first rules)
    verdicts = {name: str((receipt.get(f"{name}Verdict") or {}).get("status", ""))[:40] for name in VERDICTS}
    source = mail.get("source")
    parsed = parse_mail(raw, support_address(), source if isinstance(source, str) else None, verdicts)
    thread = list(parsed.in_reply_to) + list(parsed.references)
    known_chat = dynamodb.find_thread(thread) if thread else None
    event_id = _event_id(mail)
    message_id = parsed.message_id or f"<{event_id}@ses.inbound>"
    first = parsed.display_name.split()[0] if parsed.display_name else ""
    return InboundMessage(
        channel=CHANNEL, event_id=event_id, chat_id=known_chat or f"{parsed.address}#{message_id}",
        sender_id=parsed.address or "unknown", message_id=message_id,
        received_at=iso_from_text(mail.get("timestamp")), text=parsed.text,
        media="document" if parsed.attachments and not parsed.text else "",
        first_name=first, name=parsed.display_name,
        language_code=parsed.language or detect_language(f"{parsed.subject} {parsed.text}"),
        chat_type="email", thread_id=message_id, subject=parsed.subject,
        references=" ".join(dict.fromkeys([*parsed.references, message_id])),
        no_reply=parsed.no_reply,
        details={"attachments": list(parsed.attachments), "verdicts": verdicts, "in_thread": bool(known_chat),
                 **date_offset(raw),
                 "s3_key": str(receipt["action"]["objectKey"])[:1024], "defects": list(parsed.defects)[:10],
                 "problems": list(parsed.problems)},
    )


def date_offset(raw: bytes) -> dict[str, int]:
    """`{"utc_offset_minutes": n}` from the mail's Date: header ("… +0330" → 210): the sender's
    clock when they wrote, which is all a mail says about where its customer is. Nothing when the
    header is missing, unparsable, "-0000" (RFC 5322: the zone is unknown) or beyond ±14 h."""
    from email.parser import BytesHeaderParser
    from email.policy import compat32
    from email.utils import parsedate_tz

    try:
        value = BytesHeaderParser(policy=compat32).parsebytes(raw[:65536]).get("Date")
        parsed = parsedate_tz(str(value)) if value else None
    except Exception:   # a header we cannot read says nothing about the clock
        return {}
    if not parsed or parsed[9] is None or (parsed[9] == 0 and "-0000" in str(value)):
        return {}
    minutes = parsed[9] // 60
    return {"utc_offset_minutes": minutes} if abs(minutes) <= 14 * 60 else {}


def reply_subject(subject: str) -> str:
    subject = " ".join((subject or "").split())
    return subject if _RE.match(subject) else f"Re: {subject}" if subject else "Re: your message"


def html_document(body_html: str, language: str) -> str:
    direction = "rtl" if language.split("-")[0] in ("fa", "ar", "he", "ur") else "ltr"
    paragraphs = body_html.replace("\n", "<br>\n")
    return (f'<!doctype html><html lang="{language}" dir="{direction}"><head><meta charset="utf-8"></head>'
            f'<body><div style="font-family:-apple-system,Segoe UI,Roboto,Arial,sans-serif;font-size:15px;'
            f'line-height:1.5">{paragraphs}</div></body></html>')


def deliverable_address(address: str) -> str:
    """The address as SES v2 takes it. SES does not support SMTPUTF8 (RFC 6531): every address must
    be 7-bit ASCII, an internationalised domain in its IDNA (punycode) form, and a non-ASCII local
    part cannot be sent to at all: that is a permanent `SendError`, so the reply is recorded as
    undeliverable once instead of failing on every receive."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise SendError(f"not an email address: {address[:100]!r}", retryable=False)
    if not local.isascii():
        raise SendError("SES does not support SMTPUTF8: non-ASCII local part "
                        f"in {address[:100]!r}", retryable=False)
    if not domain.isascii():
        import idna

        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise SendError(f"domain of {address[:100]!r} has no IDNA form: {exc}", retryable=False) from None
    address = f"{local}@{domain}"
    if len(address) > 254 or any(c.isspace() or ord(c) < 32 for c in address):
        raise SendError(f"not a deliverable address: {address[:100]!r}", retryable=False)
    return address


def compose(sender: str, to: str, name: str, subject: str, text: str, html_body: str, language: str,
            headers: dict[str, str]) -> EmailMessage:
    """A text + HTML message in the customer's language, with the given extra headers."""
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = formataddr((clean(name, 200), deliverable_address(to)))
    message["Subject"] = clean(subject, 998)   # a stored value with CR/LF must not raise or inject
    message["Date"] = formatdate(usegmt=True)
    for header, value in headers.items():
        if value:
            message[header] = value
    # quoted-printable keeps every line 7-bit and short, whatever the language
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html_document(html_body, language), subtype="html", cte="quoted-printable")
    message["Content-Language"] = language   # after set_content, which clears Content-*
    return message


def send_raw(sender: str, to: str, raw: bytes) -> str:
    """Send through SES v2; returns SES's message id. Errors as `SendError` (retryable or not)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return client("sesv2").send_email(FromEmailAddress=sender,
                                          Destination={"ToAddresses": [deliverable_address(to)]},
                                          Content={"Raw": {"Data": raw}})["MessageId"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "MessageRejected":
            # Not the customer's doing and never fixed by retrying: in the SES sandbox the recipient
            # is not verified, or the sender identity is not. An error, counted by a metric filter on
            # `ses_error` and alarmed (infra/resources.yaml, MailRejectedAlarm).
            log.error("SES rejected mail to %s: %s", to, exc, extra={"ses_error": code})
        raise SendError(f"SES {code}: {exc}", retryable=code in RETRYABLE) from exc
    except BotoCoreError as exc:   # endpoint unreachable, timeouts
        raise SendError(f"SES unreachable: {exc}", retryable=True) from exc


class EmailSender:
    """Replies through SES v2 with raw content: threaded, marked auto-replied (RFC 3834)."""

    def __init__(self, sender: str):
        self.sender = sender

    def build(self, ack: Acknowledgement) -> EmailMessage:
        headers = {"In-Reply-To": ack.thread_id, "References": ack.details.get("references", "")}
        sender = self.sender
        if ack.details.get("human"):
            # An agent wrote it: not Auto-Submitted (the customer's auto-replies may answer it, as
            # they would any person), from the support address under the agent's name.
            sender = formataddr((ack.details.get("agent", ""), parseaddr(self.sender)[1]))
        else:
            headers |= {"Auto-Submitted": "auto-replied",
                        "X-Auto-Response-Suppress": "All"}   # asks Exchange not to auto-answer us back
        return compose(sender, ack.details["to"], ack.details.get("name", ""),
                       reply_subject(ack.details.get("subject", "")), ack.fallback or ack.text, ack.text,
                       ack.language, headers)

    def send(self, ack: Acknowledgement) -> SentMessage:
        raw = self.build(ack).as_bytes()
        ses_id = send_raw(self.sender, ack.details["to"], raw)
        now = datetime.now(timezone.utc)
        # SES gave our reply its own Message-ID: remember it, so the customer's answer threads. The
        # reply is out whatever happens here: a failure must not fail the send (SQS would redeliver
        # and the customer get the same reply again, up to five times). Without it an answer still
        # threads through its References, which name the customer's own first message.
        try:
            dynamodb.remember_message_ids([f"<{ses_id}@{region()}.amazonses.com>"], ack.chat_id, now)
        except Exception as exc:
            log.error("reply sent, but its Message-ID was not remembered: %s", exc,
                      extra={"ses_message_id": ses_id, "bookkeeping_error": exc.__class__.__name__})
        sent_at = iso(now)
        if os.environ.get("FIRSTREPLY_OUTBOX") == "1":   # the dev server shows it as well
            from integrations import outbox

            outbox.record(ack, ses_id, sent_at)
        return models.SentMessage(channel=CHANNEL, chat_id=ack.chat_id, message_id=ses_id, sent_at=sent_at,
                                  text=ack.fallback or ack.text, extra={"raw_size": len(raw)})

    def send_survey(self, request) -> str:
        """The question with five signed links; an automatic message, not a reply."""
        headers = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}
        raw = compose(self.sender, request.details["to"], request.details.get("name", ""),
                      request.details.get("subject", ""), request.plain, request.text, request.language,
                      headers).as_bytes()
        return send_raw(self.sender, request.details["to"], raw)

    def is_own(self, sender_id: str) -> bool:
        return sender_id == parseaddr(self.sender)[1].lower()

    def profile(self, sender_id: str) -> dict[str, str]:
        return {}


class TranscriptMailer:
    """Transcripts: automatic, not a reply (RFC 3834 auto-generated), one-click unsubscribe (RFC 8058)."""

    def __init__(self, sender: str):
        self.sender = sender

    def send_transcript(self, to: str, name: str, subject: str, text: str, html: str, language: str,
                        unsubscribe_url: str) -> str:
        headers = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All",
                   "List-Unsubscribe": f"<{unsubscribe_url}>",
                   "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        raw = compose(self.sender, to, name, subject, text, html, language, headers).as_bytes()
        return send_raw(self.sender, to, raw)


def ensure_mail_resources() -> None:
    """Bucket, topic and verified sender on a local stand-in (in AWS the template declares them)."""
    s3 = client("s3")
    try:
        s3.head_bucket(Bucket=MAIL_BUCKET)
    except Exception:
        # S3 wants the region named everywhere but us-east-1 (IllegalLocationConstraintException)
        where = region()
        location = {} if where == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": where}}
        s3.create_bucket(Bucket=MAIL_BUCKET, **location)
    client("sns").create_topic(Name=MAIL_TOPIC)
    if support_address():
        client("ses").verify_email_identity(EmailAddress=support_address())
