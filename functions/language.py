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


# Letters that only some of the shipped languages use; enough to tell them apart in a short message.
_UKRAINIAN = set("іїєґІЇЄҐ")
_RUSSIAN = set("ыэъёЫЭЪЁ")
_TURKISH = set("ğşıİĞŞ")
_PERSIAN = set("پچژگکی")
# Frequent short words that differ between the two, for messages without a distinctive letter.
_UKRAINIAN_WORDS = {"коли", "що", "як", "де", "чи", "будь", "ласка", "дякую", "вітаю", "добрий", "день",
                    "мене", "мені", "вже", "ще", "або", "щоб", "буде", "немає", "замовлення"}
_RUSSIAN_WORDS = {"когда", "что", "как", "где", "пожалуйста", "спасибо", "здравствуйте", "добрый",
                  "меня", "мне", "уже", "ещё", "или", "чтобы", "будет", "нет", "заказ", "мой", "мою"}


def detect_language(text: str) -> str:
    """A guess from the script for channels that do not say (X DMs): Cyrillic is Ukrainian or
    Russian by their distinctive letters, Arabic script with Persian letters is Persian, Latin with
    Turkish letters is Turkish; "" when unsure, so the business default applies."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return ""
    cyrillic = sum("\u0400" <= ch <= "\u04ff" for ch in letters)
    arabic = sum("\u0600" <= ch <= "\u06ff" for ch in letters)
    if cyrillic > len(letters) / 2:
        if _UKRAINIAN & set(text):
            return "uk"
        if _RUSSIAN & set(text):
            return "ru"
        words = {w.strip(".,!?;:()«»\"'").lower() for w in text.split()}
        uk, ru = len(words & _UKRAINIAN_WORDS), len(words & _RUSSIAN_WORDS)
        return "uk" if uk > ru else "ru" if ru > uk else ""
    if arabic > len(letters) / 2:
        return "fa" if _PERSIAN & set(text) else ""
    if _TURKISH & set(text):
        return "tr"
    return ""
