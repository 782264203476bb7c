from functions.faq import fold, match_faq
from functions.settings import FaqEntry

FAQ = (
    FaqEntry("Delivery", "https://a.example/delivery", ("delivery", "доставка", "kargo", "ارسال")),
    FaqEntry("Returns", "https://a.example/returns", ("refund", "повернення", "iade", "مرجوع")),
    FaqEntry("Payment", "https://a.example/payment", ("payment", "ödeme", "پرداخت", "كارت")),
    FaqEntry("Warranty", "https://a.example/warranty", ("warranty", "گارانتی")),
)


def titles(text, count=2):
    return [link["title"] for link in match_faq(text, FAQ, count)]


def test_matches_case_insensitively_in_latin():
    assert titles("Where is my DELIVERY?") == ["Delivery"]


def test_matches_cyrillic_in_any_case():
    assert titles("ДОСТАВКА ще не прийшла") == ["Delivery"]
    assert titles("Хочу оформити повернення") == ["Returns"]


def test_matches_turkish_dotted_and_dotless_i():
    assert titles("İADE istiyorum") == ["Returns"]
    assert titles("IADE") == ["Returns"]
    assert titles("Ödeme yapamıyorum") == ["Payment"]
    assert titles("odeme") == ["Payment"]   # typed without the umlaut


def test_matches_persian_with_arabic_letter_forms():
    assert titles("ارسال سفارش من کی است؟") == ["Delivery"]
    assert titles("پرداخت با کارت") == ["Payment"]          # keyword "كارت" written with Arabic kaf
    assert titles("گارانتي دارد؟") == ["Warranty"]          # typed with Arabic yeh


def test_several_matches_keep_settings_order():
    assert titles("refund after delivery") == ["Delivery", "Returns"]


def test_no_match_gives_the_first_few():
    assert titles("hello there", count=2) == ["Delivery", "Returns"]
    assert titles("hello", count=0) == []


def test_links_carry_title_and_url():
    assert match_faq("warranty", FAQ) == [{"title": "Warranty", "url": "https://a.example/warranty"}]


def test_fold():
    assert fold("  Café\u200cİ  ") == "cafei"
