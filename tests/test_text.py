from functions.text import clean, shorten


def test_bidi_overrides_and_control_characters_are_removed():
    assert clean("evil\u202eTXT.exe\x00\x07 name", 100) == "evilTXT.exe name"


def test_whitespace_is_folded():
    assert clean("  a \n\n b\t c ", 100) == "a b c"


def test_persian_zero_width_non_joiner_is_kept():
    assert clean("می\u200cخواهم", 100) == "می\u200cخواهم"


def test_non_text_is_empty():
    assert clean(None, 10) == "" and clean(123, 10) == ""


def test_shorten_at_a_word_boundary():
    assert shorten("Where is my order number 12345 from last week?", 30) == "Where is my order number…"
    assert shorten("short", 30) == "short"
    assert len(shorten("x" * 200, 80)) == 80
