"""/surveys/{token}: the emailed survey. GET shows the question with the chosen score and records
nothing (mail scanners open every link); POST records it; answering again replaces the answer."""
from __future__ import annotations

import html
from datetime import datetime, timezone
from urllib.parse import parse_qs

from functions import surveys, tokens
from functions.handlers.unsubscribe import page
from functions.i18n import RTL_LANGUAGES, localise_digits

TEXT = {
    "en": ("How did we do?", "Confirm your score", "Thank you!"),
    "ru": ("Как мы справились?", "Подтвердить оценку", "Спасибо!"),
    "uk": ("Як ми впоралися?", "Підтвердити оцінку", "Дякуємо!"),
    "tr": ("Nasıl yardımcı olduk?", "Puanı onayla", "Teşekkürler!"),
    "fa": ("چطور بودیم؟", "تأیید امتیاز", "سپاسگزاریم!"),
}


def _score(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and int(value) in surveys.SCORES else None


def handle(request, token: str):
    from functions.handlers.worker import store

    now = datetime.now(timezone.utc)
    try:
        conversation_id = tokens.read(token, "survey", now)
    except tokens.BadToken as exc:
        return page(410 if exc.reason == "expired" else 404, "Link not valid",
                    "This survey link has expired or is not valid. Thank you all the same.")
    conversation = store().conversation(conversation_id)
    if conversation is None:
        return page(404, "Link not valid", "This conversation is no longer kept.")
    language = conversation.get("survey_language") or conversation.get("language") or "en"
    title, confirm, thanks = TEXT.get(language.split("-")[0], TEXT["en"])
    if request.method == "GET":
        chosen = _score((request.query_params or {}).get("score"))
        options = "".join(
            f'<label style="margin-right:1rem"><input type="radio" name="score" value="{n}"'
            f'{" checked" if n == chosen else ""} required> {localise_digits(str(n), language)}</label>'
            for n in surveys.SCORES)
        direction = "rtl" if language.split("-")[0] in RTL_LANGUAGES else "ltr"
        form = (f'<form method="post" action="{html.escape(token)}" dir="{direction}"><p>{options}</p>'
                f'<button type="submit">{html.escape(confirm)}</button></form>')
        return page(200, title, f"{conversation['reference']}", form)
    fields = parse_qs((request.raw_body or b"").decode("utf-8", "replace"))
    score = _score((fields.get("score") or [None])[0])
    if score is None:
        return page(400, title, "Please choose a score from 1 to 5.")
    surveys.record_answer(store(), conversation_id, conversation["contact"], score, now)
    return page(200, thanks, surveys.thanks(conversation, score))
