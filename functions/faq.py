"""FAQ links that fit what the customer wrote.

Matching is by keyword occurrence after folding case and the differences people do not type
consistently: accents and diacritics, Turkish dotted/dotless i, Arabic vs Persian forms of yeh and
kaf. That makes "İADE" find "iade" and "كتاب" find "کتاب", in any script.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache

from functions.settings import FaqEntry

_FOLD = str.maketrans({
    "ı": "i",      # Turkish dotless i (casefold maps İ to i + combining dot, removed below)
    "ي": "ی", "ى": "ی",   # Arabic yeh and alef maksura → Persian yeh
    "ك": "ک",      # Arabic kaf → Persian keheh
    "ة": "ه",      # teh marbuta → heh
    "\u200c": "",  # zero-width non-joiner, common inside Persian words
})


def fold(text: str) -> str:
    if text.isascii():   # nothing to decompose or map: case and spaces only
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.translate(_FOLD).split())


@lru_cache(maxsize=2048)
def _folded_keyword(keyword: str) -> str:
    """The settings' keywords are the same from message to message: folded once each."""
    return fold(keyword)


def match_faq(text: str, faq: tuple[FaqEntry, ...] | list[FaqEntry], fallback_count: int = 3
              ) -> list[dict[str, str]]:
    """The entries whose keywords occur in `text`, in settings order; else the first few."""
    haystack = fold(text)
    matched = [e for e in faq if any(k and _folded_keyword(k) in haystack for k in e.keywords)]
    chosen = matched or list(faq)[:fallback_count]
    return [{"title": e.title, "url": e.url} for e in chosen]
