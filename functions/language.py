"""Which language to answer in.

The chain is the customer's exact tag, then its base language, then the business default, then
English: `pt-BR` → `pt` → default → `en`. Only languages that have a template for the channel count.
"""
from __future__ import annotations

from typing import Iterable

FALLBACK = "en"


def normalise(tag: str) -> str:
    """`pt_br`, `PT-br` → `pt-BR`; anything that is not a plausible tag → ""."""
    tag = (tag or "").strip().replace("_", "-")
    if not tag or len(tag) > 35 or not all(p.isascii() and p.isalnum() for p in tag.split("-")):
        return ""
    base, *rest = tag.split("-")
    parts = [base.lower()]
    for part in rest:
        parts.append(part.upper() if len(part) == 2 else part.lower() if len(part) != 4 else part.title())
    return "-".join(parts)


def candidates(requested: str, default: str) -> list[str]:
    tag = normalise(requested)
    chain: list[str] = []
    if tag:
        chain.append(tag)
        chain.append(tag.split("-")[0])
    chain += [normalise(default), FALLBACK]
    return list(dict.fromkeys(c for c in chain if c))


def choose_language(requested: str, default: str, available: Iterable[str]) -> str:
    """The first language of the fallback chain that has a template; English as the last resort."""
    have = {normalise(a) for a in available}
    for candidate in candidates(requested, default):
        if candidate in have:
            return candidate
    return FALLBACK
