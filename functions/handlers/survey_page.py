"""/surveys/{token}: the emailed survey. GET shows the question with the chosen score and records
nothing (mail scanners open every link); POST records it; answering again replaces the answer."""
from __future__ import annotations

import html
from urllib.parse import parse_qs

from functions import surveys, tokens
from functions.handlers.unsubscribe import page
from functions.i18n import RTL_LANGUAGES, localise_digits, word
from functions.text import clean

TEXT = {
    "en": ("How did we do?", "Send", "Thank you!"),
    "ru": ("Как мы справились?", "Отправить", "Спасибо!"),
    "uk": ("Як ми впоралися?", "Надіслати", "Дякуємо!"),
    "tr": ("Nasıl yardımcı olduk?", "Gönder", "Teşekkürler!"),
    "fa": ("چطور بودیم؟", "ارسال", "سپاسگزاریم!"),
}


def _radios(name: str, scale: range, chosen: int | None, language: str) -> str:
    return "".join(f'<label style="margin-right:.8rem"><input type="radio" name="{name}" value="{n}"'
                   f'{" checked" if n == chosen else ""}{" required" if name == "score" else ""}> '
                   f'{localise_digits(str(n), language)}</label>' for n in scale)


def handle(request, token: str):
    from functions.handlers import worker
    from functions.handlers.worker import store

    now = worker.clock.now()   # the process's one clock: what signed the link reads it
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
    settings = store().load_settings()
    if request.method == "GET":
        chosen = surveys.parse_score((request.query_params or {}).get("score"))
        parts = [f"<p>{_radios('score', surveys.SCALES['csat'], chosen, language)}</p>"]
        if settings.survey.nps:
            question = word(language, "nps_question").format(business=settings.business_name)
            parts.append(f"<p>{html.escape(localise_digits(question, language))}</p>"
                         f"<p>{_radios('nps', surveys.SCALES['nps'], None, language)}</p>")
        if settings.survey.comment:
            parts.append(f'<p><label>{html.escape(word(language, "comment_question"))}<br>'
                         f'<textarea name="comment" rows="4" cols="40" maxlength="2000"></textarea></label></p>')
        direction = "rtl" if language.split("-")[0] in RTL_LANGUAGES else "ltr"
        form = (f'<form method="post" action="{html.escape(token)}" dir="{direction}">{"".join(parts)}'
                f'<button type="submit">{html.escape(confirm)}</button></form>')
        return page(200, title, f"{conversation['reference']}", form)
    fields = parse_qs((request.raw_body or b"").decode("utf-8", "replace"))
    score = surveys.parse_score((fields.get("score") or [None])[0])
    if score is None:
        return page(400, title, "Please choose a score from 1 to 5.")
    surveys.record_answer(store(), conversation_id, conversation["contact"], score, now)
    nps = surveys.parse_score((fields.get("nps") or [None])[0], "nps")
    if settings.survey.nps and nps is not None:
        surveys.record_answer(store(), conversation_id, conversation["contact"], nps, now, "nps")
    comment = clean((fields.get("comment") or [""])[0], 2000, keep_lines=True)
    if settings.survey.comment and comment:
        store().update_conversation(conversation_id, comment=comment, comment_at=now.isoformat())
    return page(200, thanks, surveys.thanks(conversation, score))
