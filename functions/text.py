"""Cleaning what customers send before it is stored or quoted back to them.

Every inbound field is hostile: control characters, bidi overrides that flip the rest of our
message, and names or texts long enough to push the acknowledgement past a channel's limit.
"""
from __future__ import annotations

import re
import unicodedata

_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
_SPACES = re.compile(r"\s+")


def clean(text: object, limit: int, keep_lines: bool = False) -> str:
    """Printable text without bidi overrides, whitespace folded (line breaks kept when asked; at
    most one empty line in a row), at most `limit` characters."""
    if not isinstance(text, str):
        return ""
    text = text.translate(_BIDI_CONTROLS)
    if not text.isprintable():   # printable text has no control or format character (category C)
        text = "".join(ch if unicodedata.category(ch)[0] != "C" or ch in "\n\t" or ch == "\u200c"
                       or ch == "\u200d" else " " for ch in text)
    if keep_lines:
        lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
        return shorten(text, limit)
    return shorten(_SPACES.sub(" ", text).strip(), limit)


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary when there is one near the limit, and say so with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,.;:!?-") + "…"
