"""Reading a customer's email: the standard `email` package (policy `default`), made robust.

Everything here is pure: bytes in, a `ParsedMail` out, never an exception. Mail is hostile and
often broken: lying or unknown charsets, CR/LF or NUL inside encoded-words, group syntax, broken
angle addresses, raw 8-bit headers, truncated MIME. What cannot be read is skipped, what can is kept
and the problem is recorded (`problems`), so the mail is stored and the customer still answered.

Headers are read from their raw text (`raw_items`) and decoded here rather than through the
policy's header objects: those raise on the first odd byte (`ValueError: address parts cannot
contain CR or LF`), which would cost the whole mail.
"""
from __future__ import annotations

import binascii
import codecs
import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses
from html.parser import HTMLParser

from integrations import automatic_mail

TEXT_LIMIT = 20_000   # characters of body kept in the table; the raw mail stays in S3
# Bounds on what forms DynamoDB keys or fills items (partition key 2048 bytes, sort key 1024, item
# 400 KB): what intake accepts, the worker must always be able to store.
ADDRESS_LIMIT = 254        # RFC 5321's longest deliverable path; longer is no address we can answer
ID_LIMIT = 250             # bytes of a Message-ID kept as sent; longer ones are replaced by a hash
REFERENCES_KEPT = 20       # the first (thread root) and the latest of a References chain
SUBJECT_LIMIT = 998        # RFC 5322's line length
NAME_LIMIT = 200
ATTACHMENTS_KEPT = 100
PROBLEMS_KEPT = 20
_MSGID = re.compile(r"<[^<>\s]+>")
_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[^\s<>()\[\]\\,;:\"@]+")
_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([QqBb])\?([^?\s]*)\?=")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class ParsedMail:
    address: str                  # the sender's address, lower-case ("" when unreadable)
    display_name: str
    subject: str
    message_id: str               # "<…>" as sent (a hash of it when longer than ID_LIMIT)
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text: str                     # the new part of the body: quotes and signature trimmed
    language: str                 # Content-Language, when the sender declared one
    attachments: tuple[dict, ...] = ()
    no_reply: str = ""            # the automatic-mail rule that matched (`automatic_mail.RULES`), or ""
    defects: tuple[str, ...] = field(default=())    # what the standard parser noticed
    problems: tuple[str, ...] = field(default=())   # what we could not read, and how we read it


# -- charsets -------------------------------------------------------------------------------------
# A declared charset's common superset: what the sender's software most likely really used.
SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "big5": "big5hkscs", "iso8859-1": "cp1252",
             "ascii": "cp1252", "iso8859-9": "cp1254", "iso8859-11": "cp874", "tis-620": "cp874",
             "euc_kr": "cp949", "shift_jis": "cp932", "euc_jp": "euc_jis_2004", "iso8859-8": "cp1255",
             "iso2022_jp": "iso2022_jp_ext"}


def _codec(name: str | None) -> str | None:
    """The codec a declared charset names, or None (unknown, empty, or NUL and other junk)."""
    name = (name or "").strip().strip("\"'").lower()
    if not name or _CONTROLS.search(name) or len(name) > 40:
        return None
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def _strict(data: bytes, codec: str) -> str | None:
    try:
        text = data.decode(codec)
    except (UnicodeDecodeError, LookupError, ValueError):
        return None
    # ISO-8859-1 "decodes" everything: C1 controls mean the bytes were really Windows-1252 (or other)
    if codec in ("iso8859-1", "ascii") and re.search(r"[\x80-\x9f]", text):
        return None
    return text


def decode_bytes(data: bytes, declared: str | None, problems: list[str], where: str,
                 hint: str | None = None) -> str:
    """Bytes in a declared (maybe lying) charset as text: the declared charset strictly, then UTF-8,
    then the declared charset's superset, then a detector; U+FFFD only when nothing reads them."""
    codec = _codec(declared)
    if declared and codec is None:
        problems.append(f"{where}: unknown charset {_printable(declared)!r}")
    tried = [c for c in dict.fromkeys((codec, "utf-8", SUPERSETS.get(codec or ""), _codec(hint),
                                       SUPERSETS.get(_codec(hint) or ""))) if c]
    for candidate in tried:
        text = _strict(data, candidate)
        if text is not None:
            if codec and candidate != codec:
                problems.append(f"{where}: declared {codec}, read as {candidate}")
            return text
    if len(data) >= 32:   # a detector guesses wildly on a few bytes (a name, a subject word)
        try:
            from charset_normalizer import from_bytes   # only for the rare mail the above cannot read

            best = from_bytes(data).best()
            # UTF-16/32 without a byte-order mark is never what a mail part holds
            if best is not None and not best.encoding.startswith(("utf_16", "utf_32")):
                problems.append(f"{where}: read as {best.encoding} (detected)")
                return str(best)
        except Exception:   # the detector is a last resort; its failure must not cost the mail
            pass
    text = _strict(data, "cp1252")   # the most common undeclared 8-bit charset in the West
    if text is not None:
        problems.append(f"{where}: read as cp1252 (guessed)")
        return text
    problems.append(f"{where}: undecodable bytes replaced")
    return data.decode(codec or "utf-8", "replace")


def _printable(value: str) -> str:
    return _CONTROLS.sub("?", value)[:60]


def clean(text: str, limit: int | None = None) -> str:
    """One line of text: CR, LF, NUL and other controls as spaces, whitespace collapsed."""
    text = " ".join(_CONTROLS.sub(" ", text).split())
    return text[:limit] if limit else text


# -- headers --------------------------------------------------------------------------------------
def _raw_bytes(value: str) -> bytes:
    # the parser keeps raw 8-bit header bytes as surrogate escapes
    return value.encode("ascii", "surrogateescape") if isinstance(value, str) else bytes(value)


def _encoded_word(match: re.Match, problems: list[str], name: str) -> str:
    charset, kind, payload = match.group(1).split("*")[0], match.group(2).upper(), match.group(3)
    try:
        if kind == "B":
            data = binascii.a2b_base64(payload + "=" * (-len(payload) % 4))
        else:
            data = binascii.a2b_qp(payload.replace("_", " ").encode("ascii", "surrogateescape"), header=True)
    except (binascii.Error, ValueError):
        problems.append(f"{name}: broken encoded-word kept as text")
        return match.group(0)
    return decode_bytes(data, charset or None, problems, name)


def decode_header(raw: str, problems: list[str], name: str, hint: str | None = None) -> str:
    """A header's raw value as text: encoded-words (RFC 2047) and raw 8-bit bytes through the
    charset fallbacks; whitespace between adjacent encoded-words dropped, as RFC 2047 says."""
    raw = re.sub(r"\r?\n[ \t]", " ", str(raw))
    out, position, previous_word = [], 0, False
    for match in _ENCODED_WORD.finditer(raw):
        between = raw[position:match.start()]
        if not (previous_word and between.strip() == ""):
            out.append(_plain(between, problems, name, hint))
        out.append(_encoded_word(match, problems, name))
        position, previous_word = match.end(), True
    out.append(_plain(raw[position:], problems, name, hint))
    return "".join(out)


def _plain(text: str, problems: list[str], name: str, hint: str | None) -> str:
    data = _raw_bytes(text)
    if data.isascii():
        return data.decode("ascii")
    return decode_bytes(data, None, problems, f"{name} (8-bit)", hint)


class Headers:
    """A message's headers, read from their raw text: never raises, decodes each value once."""

    def __init__(self, msg: Message, problems: list[str], hint: str | None):
        self.raw: dict[str, list[str]] = {}
        try:
            items = list(msg.raw_items()) if hasattr(msg, "raw_items") else list(msg.items())
        except Exception:
            items = []
        for key, value in items:
            self.raw.setdefault(clean(str(key)).lower(), []).append(str(value))
        self.problems, self.hint, self._decoded = problems, hint, {}

    def all(self, name: str) -> tuple[str, ...]:
        name = name.lower()
        if name not in self._decoded:
            self._decoded[name] = tuple(clean(decode_header(v, self.problems, name, self.hint))
                                        for v in self.raw.get(name, []))
        return self._decoded[name]

    def get(self, name: str) -> str:
        return next(iter(self.all(name)), "")

    def raw_one(self, name: str) -> str:
        """The first raw value, unfolded, controls as spaces (for addresses and Message-IDs)."""
        value = re.sub(r"[\r\n\t]", " ", next(iter(self.raw.get(name.lower(), [])), ""))
        if _CONTROLS.search(value):   # NUL and friends: dropped, so the rest still parses
            self.problems.append(f"{name.lower()}: control characters removed")
            value = _CONTROLS.sub("", value)
        return value

    def decoded_all(self) -> dict[str, tuple[str, ...]]:
        return {name: self.all(name) for name in self.raw}


def bounded_id(message_id: str) -> str:
    """A Message-ID short enough for a DynamoDB key: long ones become a stable hash (the same on
    every mail that names it, so threading still finds it)."""
    if len(message_id.encode("utf-8", "surrogatepass")) <= ID_LIMIT:
        return message_id
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"<{digest}@long-id.firstreply.invalid>"


def _message_ids(value: str) -> tuple[str, ...]:
    ids = [bounded_id(m) for m in _MSGID.findall(value or "")]
    ids = list(dict.fromkeys(i.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for i in ids))
    if len(ids) > REFERENCES_KEPT:   # RFC 5322 §3.6.4: the first and the most recent matter
        ids = ids[:1] + ids[-(REFERENCES_KEPT - 1):]
    return tuple(ids)


def _sender(headers: Headers, problems: list[str]) -> tuple[str, str]:
    """(address, display name) of From, as far as it can be read: group syntax, broken angles,
    encoded-words with CR/LF or NUL in them, junk around the address."""
    raw = headers.raw_one("From")
    pairs: list[tuple[str, str]] = []
    try:
        pairs = [(n, a) for n, a in getaddresses([raw]) if "@" in a]
    except Exception:
        pass
    if pairs:
        name, address = pairs[0]
    else:
        found = _ADDRESS.search(raw)
        name, address = ("", found.group(0)) if found else ("", "")
        if raw.strip():
            problems.append("From: " + ("address recovered from a malformed header" if found
                                        else "no readable address"))
    address = decode_header(address, problems, "from").strip().strip("<>").lower()
    if address and (len(address.encode("utf-8", "surrogatepass")) > ADDRESS_LIMIT
                    or _CONTROLS.search(address) or " " in address or address.count("@") != 1
                    or address.startswith("@") or address.endswith("@")):
        problems.append("From: address unusable (too long or malformed)")
        address = ""
    name = clean(decode_header(name, problems, "from", headers.hint), NAME_LIMIT).replace('"', "")
    return address, " ".join(name.split())


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


_CHARSET_PARAM = re.compile(r"""charset\s*=\s*(?:"([^"]*)"|'([^']*)'|([^;\s]+))""", re.IGNORECASE)


def _declared_charset(part: Message) -> tuple[bool, str | None]:
    """(has a Content-Type, its charset as written): read raw, so a NUL or an unknown name in it is
    seen here and recorded rather than raising later inside the parser."""
    raws = [str(v) for k, v in (part.raw_items() if hasattr(part, "raw_items") else part.items())
            if str(k).lower() == "content-type"]
    if not raws:
        return False, None
    found = _CHARSET_PARAM.search(raws[0])
    return True, next((g for g in found.groups() if g is not None), None) if found else None


def _decode(part: Message, problems: list[str], where: str) -> str:
    """A text part's content: its declared charset strictly, then the fallbacks (`decode_bytes`).
    A part without any Content-Type is read as UTF-8 first (not RFC 2045's US-ASCII: what real
    software sends unlabelled today is UTF-8)."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        problems.append(f"{where}: unreadable transfer encoding")
        return ""
    if payload is None:
        return ""
    if isinstance(payload, str):
        payload = _raw_bytes(payload)
    _, declared = _declared_charset(part)
    return decode_bytes(payload, declared, problems, where)


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "text/plain"


def _walk(msg: Message) -> list[Message]:
    try:
        return list(msg.walk())
    except Exception:   # a part the parser built but cannot iterate
        return [msg]


def _body_and_attachments(msg: Message, problems: list[str]) -> tuple[str, tuple[dict, ...], tuple[str, ...]]:
    plain = html = ""
    attachments: list[dict] = []
    kinds: list[str] = []
    for index, part in enumerate(_walk(msg)):
        kind = _content_type(part)
        kinds.append(kind)
        if index == 0 and kind != "text/plain" and not _declared_charset(part)[0] and not part.is_multipart():
            kind = "text/plain"   # no Content-Type at all (the default may have been bent by a defect)
        if part.is_multipart():
            continue
        try:
            disposition = part.get_content_disposition()
            filename = part.get_filename()
        except Exception:
            disposition, filename = None, None
        if disposition == "attachment" or (filename and kind not in ("text/plain", "text/html")):
            if len(attachments) >= ATTACHMENTS_KEPT:
                continue
            try:
                size = len(part.get_payload(decode=True) or b"")
            except Exception:
                size = 0
            name = clean(decode_header(str(filename), problems, "filename")) if filename else ""
            attachments.append({"name": name[:255] or "unnamed", "type": kind[:100], "size": size})
        elif kind == "text/plain" and not plain:
            plain = _decode(part, problems, "text/plain")
        elif kind == "text/html" and not html:
            html = _decode(part, problems, "text/html")
    text = plain if plain.strip() else html_to_text(html)
    return trim_reply(text)[:TEXT_LIMIT], tuple(attachments), tuple(dict.fromkeys(kinds))


def _turned_round(display: str) -> str:
    if display.count(",") == 1 and "@" not in display:   # Outlook's "Last, First"
        last, first = (p.strip() for p in display.split(","))
        return f"{first} {last}".strip()
    return display


def parse_mail(raw: bytes, own_address: str = "", envelope_sender: str | None = None,
               verdicts: dict[str, str] | None = None) -> ParsedMail:
    """Read a raw mail; never raises (a mail nobody can read is still stored, with the problem)."""
    try:
        return _parse(raw, own_address, envelope_sender, verdicts or {})
    except Exception as exc:   # a bug or an input nobody foresaw: keep the mail, say why
        facts = automatic_mail.Facts(envelope_sender=envelope_sender, verdicts=verdicts or {})
        return ParsedMail(address="", display_name="", subject="", message_id="", in_reply_to=(),
                          references=(), text="", language="", no_reply=automatic_mail.reason(facts),
                          problems=(f"unreadable mail: {type(exc).__name__}",))


def _parse(raw: bytes, own_address: str, envelope_sender: str | None, verdicts: dict[str, str]) -> ParsedMail:
    problems: list[str] = []
    try:
        msg: Message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception:   # the parser is lenient; this is a last resort
        msg = EmailMessage()
        problems.append("MIME structure unreadable")
    hint = next((c for c in (_declared_charset(p)[1] for p in _walk(msg)) if _codec(c)), None)
    headers = Headers(msg, problems, hint)
    address, name = _sender(headers, problems)
    display = _turned_round(name) or (address.split("@")[0] if address else "")
    text, attachments, kinds = _body_and_attachments(msg, problems)
    subject = clean(headers.get("Subject"), SUBJECT_LIMIT)
    language = headers.get("Content-Language").split(",")[0].strip()[:35]
    facts = automatic_mail.Facts(
        headers=headers.decoded_all(), content_types=kinds, address=address, display_name=name,
        envelope_sender=envelope_sender, own_address=own_address, subject=subject, verdicts=verdicts)
    try:
        defects = tuple(type(d).__name__ for d in getattr(msg, "defects", []))
    except Exception:
        defects = ()
    return ParsedMail(
        address=address, display_name=display, subject=subject,
        message_id=(_message_ids(headers.raw_one("Message-ID")) or ("",))[0],
        in_reply_to=_message_ids(headers.raw_one("In-Reply-To")),
        references=_message_ids(" ".join(headers.raw.get("references", []))),
        text=text, language=language if re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", language) else "",
        attachments=attachments, no_reply=automatic_mail.reason(facts),
        defects=defects, problems=tuple(dict.fromkeys(problems))[:PROBLEMS_KEPT],
    )
