"""FAQ links that fit what the customer wrote.

Matching is by keyword occurrence after folding case and the differences people do not type
consistently: accents and diacritics, Turkish dotted/dotless i, Arabic vs Persian forms of yeh and
kaf. That makes "İADE" find "iade" and "كتاب" find "کتاب", in any script.
"""
from __future__ import annotations

import unicodedata

from functions.settings import FaqEntry

_FOLD = str.maketrans({
    "ı": "i",      # Turkish dotless i (casefold maps İ to i + combining dot, removed below)
    "ي": "ی", "ى": "ی",   # Arabic yeh and alef maksura → Persian yeh
    "ك": "ک",      # Arabic kaf → Persian keheh
    "ة": "ه",      # teh marbuta → heh
    "\u200c": "",  # zero-width non-joiner, common inside Persian words
})


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.translate(_FOLD).split())


def match_faq(text: str, faq: tuple[FaqEntry, ...] | list[FaqEntry], fallback_count: int = 3
              ) -> list[dict[str, str]]:
    """The entries whose keywords occur in `text`, in settings order; else the first few."""
    haystack = fold(text)
    matched = [e for e in faq if any(k and fold(k) in haystack for k in e.keywords)]
    chosen = matched or list(faq)[:fallback_count]
    return [{"title": e.title, "url": e.url} for e in chosen]
