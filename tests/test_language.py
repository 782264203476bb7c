import pytest

from functions.language import candidates, choose_language, normalise

SHIPPED = ["en", "fa", "ru", "tr", "uk"]


@pytest.mark.parametrize("tag, expected", [
    ("pt-br", "pt-BR"), ("PT_br", "pt-BR"), ("uk", "uk"), ("zh-hans", "zh-Hans"), ("", ""),
    ("<script>", ""), ("en--", ""), ("x" * 40, ""),
])
def test_normalise(tag, expected):
    assert normalise(tag) == expected


def test_fallback_chain_is_exact_then_base_then_default_then_english():
    assert candidates("pt-BR", "uk") == ["pt-BR", "pt", "uk", "en"]
    assert candidates("", "tr") == ["tr", "en"]


@pytest.mark.parametrize("requested, default, available, expected", [
    ("uk", "en", SHIPPED, "uk"),
    ("ru-UA", "en", SHIPPED, "ru"),            # regional variant → base language
    ("pt-br", "en", SHIPPED + ["pt"], "pt"),
    ("pt-br", "en", SHIPPED + ["pt-BR"], "pt-BR"),
    ("pt-br", "tr", SHIPPED, "tr"),            # no Portuguese → business default
    ("de", "xx", SHIPPED, "en"),               # default without a template → English
    ("", "fa", SHIPPED, "fa"),
    ("de", "de", [], "en"),
])
def test_choose_language(requested, default, available, expected):
    assert choose_language(requested, default, available) == expected


@pytest.mark.parametrize("text, expected", [
    ("Коли буде доставка?", "uk"), ("Привіт, де моє замовлення", "uk"),
    ("Когда будет доставка заказа?", "ru"), ("Где мой заказ", "ru"), ("Объясните, пожалуйста", "ru"),
    ("سفارش من کجاست؟", "fa"), ("Siparişim nerede?", "tr"),
    ("Where is my order?", ""), ("Привет", ""), ("", ""), ("12345 😀", ""), ("مرحبا", ""),
])
def test_detect_language_from_script_and_distinctive_letters(text, expected):
    from functions.language import detect_language

    assert detect_language(text) == expected
