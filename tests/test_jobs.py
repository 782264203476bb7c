"""Scheduled functions on moto: close-idle and transcripts, run with a later `now`."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from conftest import load_fixture, update_from


def later(system, minutes):
    return system.clock.now() + timedelta(minutes=minutes)


def test_close_idle_closes_only_what_went_idle_and_makes_follow_ups_due(system):
    first = load_fixture("telegram", "text_private")
    system.deliver(first)
    cid = system.store.chat("telegram", "1111111")["conversation_id"]
    system.run_job("close-idle", later(system, 20))                  # 20 minutes: still open
    assert system.store.conversation(cid)["status"] == "open"
    system.run_job("close-idle", later(system, 31))                  # past the 30-minute timeout
    conversation = system.store.conversation(cid)
    assert conversation["status"] == "closed" and "gsi1pk" not in conversation
    assert system.store.chat("telegram", "1111111")["status"] == "closed"
    kinds = {t["kind"] for t in system.store.due_tasks("transcript", later(system, 31))}
    assert kinds == {"transcript"}
    assert system.store.due_tasks("survey", later(system, 40)) == []          # 60-minute delay
    assert len(system.store.due_tasks("survey", later(system, 92))) == 1
    # the next message opens a new conversation (acknowledged after the contact gap)
    system.clock.current = later(system, 120)
    system.deliver(update_from(first, first["update_id"] + 1, at=system.clock.now(), message_id=1500))
    assert system.store.chat("telegram", "1111111")["conversation_id"] != cid
    assert len(system.sent()) == 2


def test_email_transcript_is_sent_once_with_unsubscribe_headers(system):
    system.ingest("gmail")
    system.run_job("close-idle", later(system, 3 * 24 * 60 + 1))       # email: 3 days
    system.run_job("transcripts", later(system, 3 * 24 * 60 + 2))
    system.run_job("transcripts", later(system, 3 * 24 * 60 + 3))      # a second run sends nothing
    ack, transcript = system.sent_mail()
    assert transcript["To"] == "Olena Koval <olena.koval@gmail.com>"
    assert transcript["Subject"] == "Ваше листування з Acme"
    assert transcript["Auto-Submitted"] == "auto-generated"
    assert transcript["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = transcript["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://support.acme.example/api/unsubscribe/")
    text = transcript.get_body(preferencelist=("plain",)).get_content()
    assert text.startswith("Вітаємо, Olena!")
    assert "Ви\nДобрий день!" in text.replace("\r\n", "\n").split("· ", 1)[1]
    assert "Acme (автовідповідь)\nВітаємо, Olena!" in text.replace("\r\n", "\n")
    assert "відписатися: " + url in text
    html = transcript.get_body(preferencelist=("html",)).get_content()
    assert f'<a href="{url}">відписатися</a>' in html


def test_chat_conversation_without_an_address_gets_no_transcript(system):
    system.deliver(load_fixture("telegram", "text_private"))
    system.run_job("close-idle", later(system, 31))
    report = system.run_job("transcripts", later(system, 32))
    assert report["skipped"] == {"no address": 1}
    assert system.sent_mail() == []


def test_unsubscribe_get_changes_nothing_post_unsubscribes(system):
    system.ingest("outlook")
    system.run_job("close-idle", later(system, 3 * 24 * 60 + 1))
    system.run_job("transcripts", later(system, 3 * 24 * 60 + 2))
    url = system.sent_mail()[-1]["List-Unsubscribe"].strip("<>")
    path = urlsplit(url).path.removeprefix("/api")
    page = system.client.http.get(path)
    assert page.status_code == 200 and b"<form method=\"post\"" in page.body
    assert "unsubscribed_at" not in system.store.contact("email", "j.smith@contoso.com")
    done = system.client.http.post(path, headers={"Content-Type": "application/x-www-form-urlencoded"},
                                   body=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200
    assert system.store.contact("email", "j.smith@contoso.com")["unsubscribed_at"]
    # the next conversation's transcript is not sent
    other = (load_fixture and __import__("conftest").FIXTURES / "email" / "outlook.eml").read_bytes().replace(
        b"Message-ID: <DB9", b"Message-ID: <LATER")
    system.clock.current = later(system, 5 * 24 * 60)
    system.ingest(other)
    sent_before = len(system.sent_mail())
    system.run_job("close-idle", later(system, 3 * 24 * 60 + 1))
    report = system.run_job("transcripts", later(system, 3 * 24 * 60 + 2))
    assert report["skipped"] == {"unsubscribed": 1} and len(system.sent_mail()) == sent_before


@pytest.mark.parametrize("token, status", [("forged.token", 404), ("", 404)])
def test_forged_unsubscribe_tokens_are_refused(system, token, status):
    assert system.client.http.get(f"/unsubscribe/{token or 'x'}").status_code == status


def test_expired_unsubscribe_token_is_410(system):
    from datetime import datetime, timezone

    from functions import tokens

    old = tokens.make("unsubscribe", "email#a@b.c", datetime(2020, 1, 1, tzinfo=timezone.utc), timedelta(days=1))
    assert system.client.http.get(f"/unsubscribe/{old}").status_code == 410
    survey = tokens.make("survey", "email#a@b.c", datetime.now(timezone.utc), timedelta(days=1))
    assert system.client.http.get(f"/unsubscribe/{survey}").status_code == 404   # wrong kind


def test_two_runs_at_once_send_each_transcript_once(system, monkeypatch):
    for fixture in ("gmail", "outlook", "windows1251_russian", "koi8r_russian"):
        system.ingest(fixture)
    system.run_job("close-idle", later(system, 3 * 24 * 60 + 1))
    acks = len(system.sent_mail())
    first, second = system.run_job_racing("transcripts", later(system, 3 * 24 * 60 + 2), monkeypatch)
    assert (second["done"], first["done"]) == (4, 0)
    transcripts = system.sent_mail()[acks:]
    assert sorted(m["To"].addresses[0].addr_spec for m in transcripts) == [
        "ivan@mail.example.ru", "j.smith@contoso.com", "olena.koval@gmail.com", "petr@old.example.ru"]


def test_a_failing_item_does_not_stop_the_others_and_is_retried(system, monkeypatch):
    from integrations import ses

    for fixture in ("gmail", "outlook"):
        system.ingest(fixture)
    system.run_job("close-idle", later(system, 3 * 24 * 60 + 1))
    real = ses.TranscriptMailer.send_transcript

    def flaky(self, to, *args):
        if to == "olena.koval@gmail.com":
            raise RuntimeError("SES hiccup")
        return real(self, to, *args)

    monkeypatch.setattr(ses.TranscriptMailer, "send_transcript", flaky)
    report = system.run_job("transcripts", later(system, 3 * 24 * 60 + 2))
    assert (report["done"], report["failed"]) == (1, 1)
    monkeypatch.setattr(ses.TranscriptMailer, "send_transcript", real)
    report = system.run_job("transcripts", later(system, 3 * 24 * 60 + 3))
    assert (report["done"], report["failed"]) == (1, 0)
    assert len(system.sent_mail()) == 4   # two acks, two transcripts


def test_chat_customer_gives_an_address_and_gets_the_transcript(system):
    first = load_fixture("telegram", "text_private")
    system.deliver(first)
    assert "Бажаєте отримати копію листування" in system.sent()[0].params["text"]   # the offer
    system.deliver(update_from(first, first["update_id"] + 1, at=later(system, 2), message_id=1401,
                               text=" Olena.Koval@Example.org "))
    confirmation = system.sent()[-1].params["text"]
    assert confirmation == "Дякуємо! Коли листування завершиться, ми надішлемо його копію на olena.koval@example.org."
    assert system.store.contact("telegram", "1111111")["email"] == "olena.koval@example.org"
    cid = system.store.chat("telegram", "1111111")["conversation_id"]
    assert system.store.conversation(cid)["messages"] == 1       # not a new question
    system.run_job("close-idle", later(system, 40))
    system.run_job("transcripts", later(system, 41))
    [transcript] = system.sent_mail()
    assert transcript["To"] == "Olena Koval <olena.koval@example.org>"
    text = transcript.get_body(preferencelist=("plain",)).get_content()
    assert "Коли буде доставка мого замовлення?" in text
    assert "<i>" not in text                                        # the ack's plain text, not its HTML
    # once the address is known, the next acknowledgement no longer offers a copy
    system.clock.current = later(system, 180)
    system.deliver(update_from(first, first["update_id"] + 2, at=system.clock.now(), message_id=1402, text="Ще питання"))
    assert "Бажаєте отримати копію" not in system.sent()[-1].params["text"]


@pytest.mark.parametrize("text", ["me@localhost", "not an address", "a@b.c and more", "@example.org"])
def test_only_a_plain_address_counts(text):
    from functions.followups import email_address

    assert email_address(text) == ""
