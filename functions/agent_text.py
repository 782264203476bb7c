"""What an agent wrote, as each customer channel shows it.

Agents write in the desk's markup, the small subset of Slack's that people type anywhere:
`*bold*`, `_italic_`, `` `code` ``, ```` ```block``` ```` and links `<https://url|label>` (or a bare
`https://url`). Each channel gets it in its own form: Telegram HTML (everything else escaped), Slack
mrkdwn, HTML for email, and plain text for X and the email's text part. Nothing here trusts the text:
an agent's `<b>` is shown as written, never as markup.
"""
from __future__ import annotations

import html
import re

# one token at a time, so markers inside code or a link are left alone
_TOKEN = re.compile(r"```(?P<pre>.+?)```|`(?P<code>[^`\n]+)`"
                    r"|(?<![\w*])\*(?P<bold>[^*\n]+)\*(?![\w*])|(?<![\w_])_(?P<italic>[^_\n]+)_(?![\w_])"
                    r"|<(?P<url>https?://[^\s<>|]+)(?:\|(?P<label>[^<>]*))?>", re.DOTALL)

TELEGRAM_LIMIT = 4096
TELEGRAM_CHUNK = 3500   # source characters per Telegram message: room for the tags and escapes


def _render(text: str, tag) -> str:
    out, pos = [], 0
    for m in _TOKEN.finditer(text):
        out.append(tag("text", text[pos:m.start()], None))
        kind = next(k for k in ("pre", "code", "bold", "italic", "url") if m.group(k) is not None)
        out.append(tag(kind, m.group(kind), m.group("label") if kind == "url" else None))
        pos = m.end()
    out.append(tag("text", text[pos:], None))
    return "".join(out)


def _html_tag(kind: str, value: str, label: str | None) -> str:
    escaped = html.escape(value, quote=False)
    if kind == "text":
        return escaped
    if kind == "url":
        return f'<a href="{html.escape(value, quote=True)}">{html.escape(label or value, quote=False)}</a>'
    return {"pre": f"<pre>{escaped}</pre>", "code": f"<code>{escaped}</code>",
            "bold": f"<b>{escaped}</b>", "italic": f"<i>{escaped}</i>"}[kind]


def _plain_tag(kind: str, value: str, label: str | None) -> str:
    if kind == "url":
        return f"{label} ({value})" if label and label != value else value
    return value


def _slack_tag(kind: str, value: str, label: str | None) -> str:
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if kind == "text":
        return escaped
    if kind == "url":
        return f"<{value}|{_slack_tag('text', label, None) if label else escaped}>"
    return {"pre": f"```{escaped}```", "code": f"`{escaped}`", "bold": f"*{escaped}*",
            "italic": f"_{escaped}_"}[kind]


def to_html(text: str) -> str:
    """Telegram's HTML parse mode and an email's HTML part."""
    return _render(text, _html_tag)


def to_plain(text: str) -> str:
    return _render(text, _plain_tag)


def to_slack(text: str) -> str:
    return _render(text, _slack_tag)


def from_slack(text: str) -> str:
    """An agent's Slack message in the desk's markup: entities decoded, user and channel mentions
    and special commands (`<!channel>`) made plain words, links kept."""
    def readable(m: re.Match) -> str:
        sigil, target, label = m.group(1), m.group(2), m.group(3)
        if sigil in ("@", "#"):
            return label or ""
        if sigil == "!":
            return label or target.split("^")[0]
        if target.startswith(("http://", "https://")):
            return f"<{target}|{label}>" if label else f"<{target}>"
        return label or target
    text = re.sub(r"<([@#!])?([^<>|]*)(?:\|([^<>]*))?>", readable, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def chunks(text: str, size: int = TELEGRAM_CHUNK) -> list[str]:
    """Split a long reply at paragraph, line or word boundaries into parts of at most `size`."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > size:
        cut = max(rest.rfind("\n\n", 0, size), rest.rfind("\n", 0, size), rest.rfind(" ", 0, size))
        if cut < size // 2:
            cut = size
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts
