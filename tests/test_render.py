"""The shipped acknowledgement templates, rendered for each language and situation."""
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from functions import render
from functions.acknowledge import acknowledgement
from functions.models import Decision, InboundMessage
from functions.settings import load_settings_file

SETTINGS = load_settings_file("firstreply.yaml")
OPEN = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)     # Monday 10:00 Kyiv
CLOSED = datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc)  # Friday 18:00 Kyiv, after closing
DECISION = Decision("ABC123XYZ0", "ABC-123", True, True, "new-conversation")


def inbound(language="en", text="Where is my delivery?", first_name="Olena", media=""):
    return InboundMessage(channel="telegram", event_id="1", chat_id="10", sender_id="20",
                          message_id="3", received_at="2026-11-23T08:00:00.000Z", text=text,
                          media=media, first_name=first_name, language_code=language)


def test_five_languages_ship_for_telegram():
    assert render.available_languages("ack", "telegram") == ["en", "fa", "ru", "tr", "uk"]


@pytest.mark.parametrize("language, closed_line", [
    ("en", "We're closed right now. We'll be back Monday at 9:00\u202fAM"),
    ("ru", "Сейчас мы не работаем. Снова будем на связи: понедельник, 09:00."),
    ("uk", "Зараз ми не працюємо. Знову будемо на зв’язку: понеділок, 09:00."),
    ("tr", "Şu anda mesai saatleri dışındayız; Pazartesi saat 09:00 yeniden hizmetinizdeyiz"),
    ("fa", "در حال حاضر خارج از ساعت کاری هستیم. از دوشنبه ساعت ۹:۰۰ دوباره در خدمت شما هستیم"),
])
def test_closed_hours_in_each_language(language, closed_line):
    ack = acknowledgement(inbound(language), None, DECISION, SETTINGS, CLOSED)
    assert ack.language == language
    assert closed_line in ack.text
    assert "ABC-123" in ack.text


@pytest.mark.parametrize("language", ["en", "ru", "uk", "tr", "fa"])
def test_neutral_greeting_without_a_name(language):
    named = acknowledgement(inbound(language), None, DECISION, SETTINGS, OPEN).text
    anonymous = acknowledgement(inbound(language, first_name=""), None, DECISION, SETTINGS, OPEN).text
    assert "Olena" in named and "Olena" not in anonymous
    assert "None" not in anonymous and "  " not in anonymous.splitlines()[0]


def test_persian_lines_that_start_neutral_carry_a_right_to_left_mark():
    text = acknowledgement(inbound("fa"), None, DECISION, SETTINGS, OPEN).text
    bullet_lines = [line for line in text.splitlines() if "•" in line]
    assert bullet_lines and all(line.startswith("\u200f") for line in bullet_lines)
    assert text.splitlines()[-1].startswith("\u200f")


def test_long_topic_is_shortened():
    text = acknowledgement(inbound(text="word " * 100), None, DECISION, SETTINGS, OPEN).text
    quoted = text.split("“<i>")[1].split("</i>”")[0]
    assert len(quoted) <= 80 and quoted.endswith("…")


def test_template_sandbox_blocks_unsafe_attribute_access(tmp_path, monkeypatch):
    from jinja2.exceptions import SecurityError

    (tmp_path / "ack.telegram.en.j2").write_text("{{ customer.__class__.__mro__ }}")
    monkeypatch.setattr(render, "TEMPLATE_DIR", tmp_path)
    render.environment.cache_clear()
    try:
        with pytest.raises(SecurityError):
            render.render("ack", "telegram", "en", {"customer": {"first_name": "x"}})
    finally:
        monkeypatch.undo()
        render.environment.cache_clear()


def slack_inbound(text, first_name="Ana"):
    return InboundMessage(channel="slack", event_id="Ev1", chat_id="D1", sender_id="U1", message_id="1.2",
                          received_at="2026-11-23T08:00:00.000Z", text=text, first_name=first_name,
                          language_code="en", chat_type="im", thread_id="1.2")


def test_slack_mrkdwn_escapes_what_the_customer_wrote_and_keeps_our_links():
    hostile = slack_inbound("<!channel> <https://evil.example|click> & *bold*", first_name="<@U0ADMIN>")
    ack = acknowledgement(hostile, None, DECISION, SETTINGS, OPEN)
    assert "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; *bold*" in ack.text
    assert "Hi &lt;@U0ADMIN&gt;, thanks" in ack.text
    assert "<https://acme.example/faq/delivery|Delivery times>" in ack.text
    assert "*ABC-123*" in ack.text and ack.parse_mode == ""
    # the plain-text fallback has no markup and no escaping
    assert "<!channel> <https://evil.example|click> & *bold*" in ack.fallback
    assert "Delivery times: https://acme.example/faq/delivery" in ack.fallback


def test_slack_links_with_a_pipe_cannot_break_out():
    from functions import render

    env = render.environment("mrkdwn")
    out = env.from_string("{{ link(url, title) }}").render(url="https://a.example/?q=a|b", title="A|B <x>")
    assert out == "<https://a.example/?q=a%7Cb|A¦B &lt;x&gt;>"


def test_x_mention_reply_fits_in_280_characters():
    long_name = InboundMessage(channel="x", event_id="m1", chat_id="mention-1", sender_id="1",
                               message_id="190", received_at="2026-11-23T08:00:00.000Z",
                               text="help " * 200, first_name="A" * 64, language_code="uk",
                               chat_type="mention")
    ack = acknowledgement(long_name, None, DECISION, SETTINGS, CLOSED)
    assert len(ack.text) <= 280 and ack.reply_to_message_id == "190"
    assert ack.text.startswith("A" * 10) and "Знову на зв’язку: понеділок, 09:00." in ack.text


def test_x_counts_by_weight_and_the_mention_reply_fits_as_x_counts_it():
    """X counts CJK and emoji twice and a link as 23 (twitter-text): a Japanese customer's words
    quoted in the reply to a mention must not take it past X's 280 as X counts it."""
    from functions.text import shorten, x_length

    assert x_length("hello") == 5 and x_length("Вітаємо") == 7           # Latin, Cyrillic: 1 each
    assert x_length("配達はいつですか") == 16 and x_length("ok 👍") == 5      # CJK, emoji: 2 each
    assert x_length("see https://acme.example/faq/delivery-times-and-costs") == 4 + 23   # a link: 23
    assert x_length("see a.co") == 4 + 23 and x_length("see acme.example/faq/delivery-times") == 4 + 31
    assert x_length("e\u0301") == 1                                     # NFC first, as X does
    cut = shorten("配達" * 200, 280, x_length)
    assert x_length(cut) <= 280 and cut.endswith("…") and x_length(cut) >= 276
    japanese = InboundMessage(channel="x", event_id="m2", chat_id="mention-2", sender_id="2",
                              message_id="191", received_at="2026-11-23T08:00:00.000Z",
                              text="配達はいつになりますか。" * 30, first_name="花子", language_code="ja",
                              chat_type="mention")
    # an admin's mention reply that quotes the question (the shipped one quotes only the name)
    edited = replace(SETTINGS, templates={**SETTINGS.templates, "mention.x.en": (
        "@{{ customer.first_name }} 🙏 «{{ topic }}»: we read it. «{{ topic }}» — {{ reference }}")})
    ack = acknowledgement(japanese, None, DECISION, edited, CLOSED)
    assert x_length(ack.text) <= 280 and ack.text.endswith("…") and ack.reply_to_message_id == "191"


def test_shipped_files_render_the_same_with_their_includes_read_in_place():
    """The environment reads a channel file with its language's shared text in place of the
    include (one template a render): byte for byte what Jinja's include renders, for every shipped
    template, markup and preview sample (open, closed, special days, media, no name, long text)."""
    from jinja2 import FileSystemLoader

    from functions import previews

    for identifier in render.shipped_ids():
        name, channel, language = identifier.split(".")
        for markup in {render.MARKUP.get(channel, "text"), "text"}:
            env = render.environment(markup)
            included = env.overlay(loader=FileSystemLoader(str(render.TEMPLATE_DIR)))
            for moment in (OPEN, CLOSED):
                for sample in previews.samples(name, channel, language, SETTINGS, moment):
                    assert env.get_template(identifier + ".j2").render(**sample.context) == \
                        included.get_template(identifier + ".j2").render(**sample.context), (identifier, markup)
