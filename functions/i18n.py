"""Words the acknowledgement needs outside the templates: media kinds, today/tomorrow, and dates
and times in the customer's language (weekday and month names come from Babel's CLDR data).

Media kinds are in the form the templates use them, as the object of "we received …": Russian and
Ukrainian accusative, Turkish accusative with the possessive left to the template, Persian bare.

Languages without an entry here still get CLDR weekday names and times; only the few words below
fall back to English.
"""
from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

WORDS = {
    "en": {"today": "today", "tomorrow": "tomorrow", "at": "{day} at {time}",
           "photo": "a photo", "sticker": "a sticker", "voice": "a voice message", "video": "a video",
           "video_note": "a video message", "audio": "an audio file", "document": "a file",
           "animation": "a GIF", "location": "a location", "contact": "a contact", "poll": "a poll",
           "message": "your message", "closed": "closed",
           "rated": "Thank you! You rated us {score} out of 5.",
           "email_saved": "Thank you! We'll email a copy of this conversation to {address} when it ends.",
           "nps_question": "How likely are you to recommend {business} to a friend? 0 = not at all, 10 = extremely likely.",
           "comment_question": "Is there anything you would like to add? Just reply to this message.",
           "comment_thanks": "Thank you for your feedback!"},
    "ru": {"today": "сегодня", "tomorrow": "завтра", "at": "{day}, {time}",
           "photo": "фото", "sticker": "стикер", "voice": "голосовое сообщение", "video": "видео",
           "video_note": "видеосообщение", "audio": "аудиофайл", "document": "файл",
           "animation": "GIF", "location": "геопозицию", "contact": "контакт", "poll": "опрос",
           "message": "ваше сообщение", "closed": "выходной",
           "rated": "Спасибо! Ваша оценка: {score} из 5.",
           "email_saved": "Спасибо! Когда переписка завершится, мы пришлём её копию на {address}.",
           "nps_question": "Насколько вероятно, что вы порекомендуете {business} друзьям? 0 — точно нет, 10 — обязательно.",
           "comment_question": "Хотите что-нибудь добавить? Просто ответьте на это сообщение.",
           "comment_thanks": "Спасибо за отзыв!"},
    "uk": {"today": "сьогодні", "tomorrow": "завтра", "at": "{day}, {time}",
           "photo": "фото", "sticker": "стікер", "voice": "голосове повідомлення", "video": "відео",
           "video_note": "відеоповідомлення", "audio": "аудіофайл", "document": "файл",
           "animation": "GIF", "location": "геопозицію", "contact": "контакт", "poll": "опитування",
           "message": "ваше повідомлення", "closed": "вихідний",
           "rated": "Дякуємо! Ваша оцінка: {score} з 5.",
           "email_saved": "Дякуємо! Коли листування завершиться, ми надішлемо його копію на {address}.",
           "nps_question": "Наскільки ймовірно, що ви порекомендуєте {business} друзям? 0 — точно ні, 10 — обов’язково.",
           "comment_question": "Бажаєте щось додати? Просто дайте відповідь на це повідомлення.",
           "comment_thanks": "Дякуємо за відгук!"},
    "tr": {"today": "bugün", "tomorrow": "yarın", "at": "{day} saat {time}",
           "photo": "fotoğrafı", "sticker": "çıkartmayı", "voice": "sesli mesajı",
           "video": "videoyu", "video_note": "görüntülü mesajı", "audio": "ses dosyasını",
           "document": "dosyayı", "animation": "GIF'i", "location": "konumu",
           "contact": "kişi kartını", "poll": "anketi", "message": "mesajınız", "closed": "kapalı",
           "rated": "Teşekkürler! Puanınız: 5 üzerinden {score}.",
           "email_saved": "Teşekkürler! Yazışma bittiğinde bir kopyasını {address} adresine göndereceğiz.",
           "nps_question": "{business} markasını bir arkadaşınıza tavsiye etme olasılığınız nedir? 0 = hiç, 10 = kesinlikle.",
           "comment_question": "Eklemek istediğiniz bir şey var mı? Bu mesajı yanıtlamanız yeterli.",
           "comment_thanks": "Geri bildiriminiz için teşekkürler!"},
    "fa": {"today": "امروز", "tomorrow": "فردا", "at": "{day} ساعت {time}",
           "photo": "عکس", "sticker": "استیکر", "voice": "پیام صوتی", "video": "ویدیو",
           "video_note": "پیام ویدیویی", "audio": "فایل صوتی", "document": "فایل",
           "animation": "گیف", "location": "موقعیت مکانی", "contact": "مخاطب",
           "poll": "نظرسنجی", "message": "پیام شما", "closed": "تعطیل",
           "rated": "سپاسگزاریم! امتیاز شما: {score} از ۵.",
           "email_saved": "سپاسگزاریم! پس از پایان گفتگو، رونوشت آن را به {address} می‌فرستیم.",
           "nps_question": "چقدر احتمال دارد {business} را به دوستانتان پیشنهاد کنید؟ ۰ = اصلاً، ۱۰ = حتماً.",
           "comment_question": "مایلید چیزی اضافه کنید؟ کافی است به همین پیام پاسخ دهید.",
           "comment_thanks": "از بازخورد شما سپاسگزاریم!"},
}
_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
RTL_LANGUAGES = {"fa", "ar", "he", "ur"}


def _words(language: str) -> dict[str, str] | None:
    return WORDS.get(language) or WORDS.get(language.split("-")[0])


def word(language: str, key: str) -> str:
    return (_words(language) or WORDS["en"]).get(key) or WORDS["en"][key]


def localise_digits(text: str, language: str) -> str:
    return text.translate(_PERSIAN_DIGITS) if language.split("-")[0] == "fa" else text


@lru_cache(maxsize=64)
def _babel_locale(language: str) -> str:
    from babel import Locale, UnknownLocaleError

    try:
        return str(Locale.parse(language.replace("-", "_")))
    except (UnknownLocaleError, ValueError):
        return "en"


def format_time(moment: datetime, language: str) -> str:
    from babel.dates import format_time as babel_time

    return localise_digits(babel_time(moment, "short", locale=_babel_locale(language)), language)


def format_opening(opening: datetime, today: date, language: str) -> str:
    """"tomorrow at 9:00 AM", "понеділок, 09:00", "Pazartesi 23 Kasım saat 09:00" — the day is
    named relative to `today` (business zone) when close, by weekday within a week, else by date.
    Kept per (opening, its zone and offset, today, language): the words depend on nothing else
    (an aware datetime equals one of another zone at the same instant, hence the zone in the key)."""
    return _format_opening(opening, opening.tzinfo, opening.utcoffset(), today, language)


@lru_cache(maxsize=256)
def _format_opening(opening: datetime, zone, offset, today: date, language: str) -> str:
    from babel.dates import format_date, format_skeleton

    locale = _babel_locale(language)
    days = (opening.date() - today).days
    known = _words(language) is not None   # otherwise CLDR names only, no English in between
    if days == 0 and known:
        day = word(language, "today")
    elif days == 1 and known:
        day = word(language, "tomorrow")
    elif days < 7:
        day = format_date(opening.date(), "EEEE", locale=locale)
    else:
        day = format_skeleton("MMMMEEEEd", opening, locale=locale)
    pattern = word(language, "at") if known else "{day}, {time}"
    return localise_digits(pattern.format(day=day, time=format_time(opening, language)), language)


def format_hours(intervals: list[str], language: str) -> str:
    """["09:00-13:00", "14:00-18:00"] → "09:00–13:00, 14:00–18:00"; [] → the word for closed."""
    if not intervals:
        return word(language, "closed")
    return localise_digits(", ".join(i.replace("-", "–") for i in intervals), language)


def format_moment(moment: datetime, language: str) -> str:
    """A date and time as people write them in `language` ("Nov 23, 2026, 10:00 AM", "23.11.2026, 10:00")."""
    from babel.dates import format_date

    day = format_date(moment.date(), "medium", locale=_babel_locale(language))
    return localise_digits(f"{day}, {format_time(moment, language)}", language)
