"""Parsing mail: trimming replies and signatures, names, and the RFC 3834 rules."""
import pytest

from integrations.email_message import html_to_text, parse_mail, trim_reply


@pytest.mark.parametrize("text, expected", [
    ("Thanks!\n\nOn Mon, 23 Nov 2026 at 10:00, Acme <s@a.example> wrote:\n> old", "Thanks!"),
    ("Дякую\n\nпн, 23 лист. 2026 р. о 10:00 Acme <s@a.example> пише:\n> старе", "Дякую"),
    ("Спасибо\n\n23.11.2026, 10:00, Acme написал(а):\n> старое", "Спасибо"),
    ("Teşekkürler ederim\n\n23 Kas 2026 Pzt, 10:00 tarihinde Acme şunu yazdı:", "Teşekkürler ederim"),
    ("Fine\n\n-----Original Message-----\nFrom: Acme", "Fine"),
    ("Fine\n\nFrom: Acme Support <s@a.example>\nSent: Monday", "Fine"),
    ("Question?\n-- \nJohn\nACME Corp", "Question?"),
    ("Question?\n\nKind regards,\nJohn", "Question?"),
    ("Question?\n\nС уважением,\nИван", "Question?"),
    ("Question?\n\nSent from my iPhone", "Question?"),
    ("> quoted only\nnew line", "new line"),
    ("Thanks", "Thanks"),    # a one-line "thanks" is the message, not a signature
])
def test_trim_reply(text, expected):
    assert trim_reply(text) == expected


def test_html_to_text_drops_scripts_styles_and_quotes():
    html = ("<html><head><style>p{}</style></head><body><p>Hello&nbsp;there</p><br><div>Line 2</div>"
            "<script>evil()</script><div class=\"gmail_quote\">On Mon … wrote:<blockquote>old</blockquote></div>"
            "</body></html>")
    assert html_to_text(html).split() == ["Hello", "there", "Line", "2"]


def headers(extra: str) -> bytes:
    return (f"From: Ana <ana@example.org>\r\nTo: support@acme.example\r\nSubject: Hi\r\n"
            f"Message-ID: <1@example.org>\r\n{extra}\r\nhello\r\n").encode()


@pytest.mark.parametrize("extra, reason", [
    ("Auto-Submitted: auto-replied; owner-email=ana@example.org\r\n", "auto-submitted"),
    ("Auto-Submitted: No\r\n", ""),
    ("Precedence: bulk\r\n", "precedence-bulk"),
    ("Precedence: first-class\r\n", ""),
    ("List-Id: <news.example.org>\r\n", "list-id"),
    ("X-Auto-Response-Suppress: All\r\n", "x-auto-response-suppress"),
    ("X-Autorespond: yes\r\n", "x-autoreply"),
    ("Return-Path: <>\r\n", "empty-return-path"),
    ("", ""),
])
def test_no_reply_reasons(extra, reason):
    assert parse_mail(headers(extra), "support@acme.example").no_reply == reason


@pytest.mark.parametrize("sender, reason", [
    ("MAILER-DAEMON@mx.example.org", "mailer-daemon"),
    ("postmaster@example.org", "postmaster"),
    ("noreply-alerts@example.org", "noreply"),
    ("do-not-reply@example.org", "noreply"),
    ("Support@Acme.Example", "own-address"),
])
def test_automated_and_own_senders(sender, reason):
    raw = headers("").replace(b"Ana <ana@example.org>", sender.encode())
    assert parse_mail(raw, "support@acme.example").no_reply == reason


def test_envelope_sender_empty_means_a_bounce():
    assert parse_mail(headers(""), "", envelope_sender="").no_reply == "empty-return-path"


def test_names_and_ids():
    parsed = parse_mail(headers("In-Reply-To: <a@x> \r\nReferences: <r1@x>\r\n <a@x>\r\n")
                        .replace(b"Ana <ana@example.org>", b'"Koval, Olena" <Olena.Koval@Example.org>'))
    assert parsed.display_name == "Olena Koval" and parsed.address == "olena.koval@example.org"
    assert parsed.in_reply_to == ("<a@x>",) and parsed.references == ("<r1@x>", "<a@x>")
    bare = parse_mail(headers("").replace(b"Ana <ana@example.org>", b"ana.lima@example.org"))
    assert bare.display_name == "ana.lima"


def test_garbage_never_raises():
    for raw in (b"", b"\x00\xff\xfe", b"Subject: =?utf-8?B?@@@?=\r\n\r\n", b"From: <<<>>>\r\n\r\nx"):
        parse_mail(raw)


# -- charsets that lie (issue 21.7): the declared charset strictly, then UTF-8, then its superset,
# then a detector; never U+FFFD where the bytes can be read
CHARSETS = [
    ("ascii_declared_utf8", "Jürgen Müller", "Bestellung überfällig", "Grüße, wo bleibt meine Bestellung 7120?"),
    ("gb2312_is_gb18030", "朱镕", "订单查询", "您好，我是朱镕，我的订单8830什么时候到？"),
    ("big5_is_big5hkscs", "Wing Chan", "訂單幾時到㗎", "你好，我張訂單4410幾時到㗎？"),
    ("latin1_is_windows1252", "Céline Dupont", "Commande « 6610 » – rembourser 49 €",
     "Bonjour, j’ai payé 49 € pour la commande « 6610 »."),
    ("no_content_type_utf8", "Lucía Gómez", "¿Dónde está mi pedido?", "¿Dónde está mi pedido 5502? Gracias."),
    ("raw_8bit_headers_cp1251", "Иван Петров", "Возврат денег за заказ 3301",
     "Здравствуйте! Когда вернут деньги за заказ 3301?"),
    ("unknown_charset_detected", "Olga", "Order 4001",
     "Здравствуйте! Я заказала у вас пальто две недели назад, заказ номер 4001, но до сих пор не получила "
     "никакого письма о доставке. Подскажите, пожалуйста, когда его отправят?"),
]


@pytest.mark.parametrize("fixture, name, subject, text", CHARSETS)
def test_lying_charsets_are_read_right(fixture, name, subject, text):
    from conftest import FIXTURES

    parsed = parse_mail((FIXTURES / "email" / "charsets" / f"{fixture}.eml").read_bytes())
    assert (parsed.display_name, parsed.subject, parsed.text) == (name, subject, text)
    assert "\ufffd" not in parsed.display_name + parsed.subject + parsed.text


def test_a_charset_fallback_is_recorded_as_a_problem():
    from conftest import FIXTURES

    parsed = parse_mail((FIXTURES / "email" / "charsets" / "gb2312_is_gb18030.eml").read_bytes())
    assert "text/plain: declared gb2312, read as gb18030" in parsed.problems


def test_bytes_no_charset_reads_are_replaced_only_as_a_last_resort():
    from integrations.email_message import decode_bytes

    problems: list[str] = []
    assert decode_bytes("naïve".encode("utf-8"), "utf-8", problems, "t") == "naïve" and problems == []
    assert decode_bytes(b"caf\xe9", "utf-8", problems, "t") == "café"   # UTF-8 declared, Latin-1 sent
    assert decode_bytes(b"\x81", "nonsense\x00", problems, "t")            # never raises
    assert any("unknown charset" in p for p in problems)
