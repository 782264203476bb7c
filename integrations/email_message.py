"""Reading a customer's email: the standard `email` package (policy `default`), made robust.

Everything here is pure: bytes in, a `ParsedMail` out, never an exception. Mail is hostile and
often broken: unknown or wrong charsets, undecodable encoded-words, truncated MIME. What cannot be
read is skipped and what can is kept, so the customer is still answered.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

TEXT_LIMIT = 20_000   # characters of body kept in the table; the raw mail stays in S3
AUTOMATED_LOCAL_PARTS = {"mailer-daemon", "postmaster", "noreply", "no-reply", "no_reply", "donotreply",
                         "do-not-reply", "do_not_reply", "bounce", "bounces", "notifications", "notification"}
_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class ParsedMail:
    address: str                  # the sender's address, lower-case ("" when unreadable)
    display_name: str
    subject: str
    message_id: str               # "<…>" as sent
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text: str                     # the new part of the body: quotes and signature trimmed
    language: str                 # Content-Language, when the sender declared one
    attachments: tuple[dict, ...] = ()
    no_reply: str = ""            # why no automatic answer may be sent (RFC 3834 and practice)
    defects: tuple[str, ...] = field(default=())


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
        return str(value).strip() if value is not None else ""
    except Exception:   # an undecodable encoded-word or a header the parser chokes on
        raw = msg.get_all(name, failobj=[""])[0] if hasattr(msg, "get_all") else ""
        return str(raw).strip()


def _message_ids(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_MSGID.findall(value or "")))


def _decode(part: Message) -> str:
    """A text part's content with its declared charset, else UTF-8, else Windows-1252."""
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except Exception:   # LookupError for an unknown charset, or a broken transfer encoding
        pass
    try:
        payload = part.get_payload(decode=True) or b""
    except Exception:
        return ""
    if isinstance(payload, str):
        return payload
    for charset in (part.get_content_charset(), "utf-8", "cp1252"):
        if not charset:
            continue
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("utf-8", "replace")


class _HtmlText(HTMLParser):
    """HTML to readable text: block elements become line breaks; scripts, styles and quoted
    replies (blockquote, Gmail's quote, Outlook's reply header) are dropped."""

    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr"}
    SKIP = {"script", "style", "head", "title", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.stopped = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("class") in ("gmail_quote", "gmail_signature") or attributes.get("id") in (
                "divRplyFwdMsg", "appendonsend", "Signature"):
            self.stopped = True
        if tag in self.SKIP:
            self.skipping += 1
        if tag in self.BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        if tag in self.BLOCKS:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skipping and not self.stopped:
            self.out.append(data)


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        pass
    lines = [" ".join(line.split()) for line in "".join(parser.out).splitlines()]
    return "\n".join(lines)


# Lines that start the quoted previous message in common clients and languages.
_QUOTE_HEADERS = re.compile(
    r"^(On .{4,200} wrote:|Le .{4,200} a écrit :|Am .{4,200} schrieb .{0,100}:"
    r"|.{4,200} (пише|написал\(а\)|написала|написал|yazdı|نوشت):"
    r"|-{2,} ?(Original Message|Исходное сообщение|Вихідне повідомлення|Orijinal Mesaj|Forwarded message) ?-{2,}"
    r"|From: .+|От: .+|Від: .+|Kimden: .+|Sent from my .+|Отправлено с .+|Надіслано з .+)$",
    re.IGNORECASE)


# A line that is only a closing formula starts the signature.
_CLOSINGS = re.compile(
    r"^(kind regards|best regards|regards|best|cheers|thanks|thank you|many thanks|sincerely|"
    r"с уважением|с наилучшими пожеланиями|спасибо|з повагою|дякую|щиро|"
    r"saygılarımla|saygılar|teşekkürler|iyi çalışmalar|با احترام|با سپاس|ممنون)[,.!]?$", re.IGNORECASE)


def trim_reply(text: str) -> str:
    """The new part of a message: stop at the quoted previous message or the signature."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if (stripped == "--" or line.rstrip("\n") == "-- " or _QUOTE_HEADERS.match(stripped)
                or (kept and _CLOSINGS.match(stripped))):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def _body_and_attachments(msg: Message) -> tuple[str, tuple[dict, ...]]:
    plain = html = ""
    attachments: list[dict] = []
    parts = msg.walk() if msg.is_multipart() else [msg]
    for part in parts:
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        try:
            disposition = part.get_content_disposition()
            filename = part.get_filename()
        except Exception:
            disposition, filename = None, None
        if disposition == "attachment" or (filename and kind not in ("text/plain", "text/html")):
            try:
                size = len(part.get_payload(decode=True) or b"")
            except Exception:
                size = 0
            attachments.append({"name": filename or "unnamed", "type": kind, "size": size})
        elif kind == "text/plain" and not plain:
            plain = _decode(part)
        elif kind == "text/html" and not html:
            html = _decode(part)
    text = plain if plain.strip() else html_to_text(html)
    return trim_reply(text)[:TEXT_LIMIT], tuple(attachments)


def no_reply_reason(msg: Message, address: str, own_address: str, envelope_sender: str | None) -> str:
    """Why an automatic reply must not be sent, or "" (RFC 3834 §2 and what mail systems do)."""
    auto = _header(msg, "Auto-Submitted").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = _header(msg, "Precedence").lower()
    if precedence in ("bulk", "list", "junk"):
        return f"Precedence: {precedence}"
    listed = sorted({k for k in msg.keys() if k.lower().startswith("list-")})
    if listed:
        return f"mailing list ({listed[0]})"
    if msg.get("X-Auto-Response-Suppress") is not None:
        return "X-Auto-Response-Suppress"
    for header in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if msg.get(header) is not None:
            return header
    if msg.get_content_type() == "multipart/report":
        return "delivery report"
    return_path = _header(msg, "Return-Path")
    if (msg.get("Return-Path") is not None and return_path.strip("<> ") == "") or envelope_sender == "":
        return "empty Return-Path"
    if not address:
        return "no sender address"
    local = address.split("@")[0]
    if local in AUTOMATED_LOCAL_PARTS or local.startswith(("noreply", "no-reply", "donotreply")):
        return f"automated sender {local}"
    if own_address and address == own_address.lower():
        return "our own address"
    return ""


def parse_mail(raw: bytes, own_address: str = "", envelope_sender: str | None = None) -> ParsedMail:
    try:
        msg: Message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception:   # the parser is lenient; this is a last resort
        msg = EmailMessage()
    from_header = _header(msg, "From")
    try:
        name, address = getaddresses([from_header])[0]
    except Exception:
        name, address = parseaddr(from_header)
    address = address.strip().lower() if "@" in address else ""
    display = " ".join(name.replace('"', "").split())
    if display.count(",") == 1 and "@" not in display:   # Outlook's "Last, First"
        last, first = (p.strip() for p in display.split(","))
        display = f"{first} {last}".strip()
    display = display or (address.split("@")[0] if address else "")
    text, attachments = _body_and_attachments(msg)
    language = _header(msg, "Content-Language").split(",")[0].strip()
    return ParsedMail(
        address=address, display_name=display, subject=" ".join(_header(msg, "Subject").split()),
        message_id=(_message_ids(_header(msg, "Message-ID")) or ("",))[0],
        in_reply_to=_message_ids(_header(msg, "In-Reply-To")),
        references=_message_ids(_header(msg, "References")),
        text=text, language=language if re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", language) else "",
        attachments=attachments,
        no_reply=no_reply_reason(msg, address, own_address, envelope_sender),
        defects=tuple(type(d).__name__ for d in getattr(msg, "defects", [])),
    )
