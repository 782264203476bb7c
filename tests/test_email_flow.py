"""End to end on email: a raw mail in the S3 bucket and the SNS notification SES would publish →
the `email_inbound` handler → worker → SES v2 (moto), whose recorded messages are read back."""
from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import FIXTURES


def body(message, subtype="plain") -> str:
    return message.get_body(preferencelist=(subtype,)).get_content()


def test_gmail_message_gets_a_threaded_ukrainian_reply(system):
    system.ingest("gmail")
    [reply] = system.sent_mail()
    assert reply["To"] == "Olena Koval <olena.koval@gmail.com>"
    assert reply["From"] == "Acme Support <support@acme.example>"
    assert reply["Subject"] == "Re: Доставка замовлення #1234"
    original = "<CAJ8x7Yw1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZ@mail.gmail.com>"
    assert reply["In-Reply-To"] == original and original in reply["References"]
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["Content-Language"] == "uk"
    text, html = body(reply), body(reply, "html")
    assert text.startswith("Вітаємо, Olena!")
    assert "«Доставка замовлення #1234»" in text
    assert "Delivery times: https://acme.example/faq/delivery" in text
    assert '<a href="https://acme.example/faq/delivery">Delivery times</a>' in html
    assert "«<i>Доставка замовлення #1234</i>»" in html
    # stored: the trimmed body, not the signature
    chat = system.store.chat("email", "olena.koval@gmail.com#" + original)
    [inbound, outbound] = system.store.messages(chat["conversation_id"])
    assert inbound["text"] == "Добрий день!\n\nКоли буде доставка мого замовлення #1234? Чекаю вже тиждень."
    assert inbound["subject"] == "Доставка замовлення #1234"
    assert outbound["direction"] == "out"


def test_reply_to_our_ack_joins_the_conversation_without_a_new_ack(system):
    system.ingest("gmail")
    [ack] = system.sent_mail()
    from moto.ses.models import ses_backends

    ses_id = ses_backends["123456789012"]["us-east-1"].sent_messages[0].id
    # the customer answers our reply: their client names the Message-ID SES gave it
    raw = (FIXTURES / "email" / "reply_in_thread.eml").read_bytes().replace(
        b"{OUR_REPLY_ID}", f"<{ses_id}@us-east-1.amazonses.com>".encode())
    system.clock.current = system.clock.current.replace(hour=23)   # hours later: idle, but in thread
    system.ingest(raw)
    assert len(system.sent_mail()) == 1
    chat = system.store.chat("email", "olena.koval@gmail.com#<CAJ8x7Yw1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZ@mail.gmail.com>")
    messages = system.store.messages(chat["conversation_id"])
    texts = [m["text"] for m in messages if m["direction"] == "in"]
    assert len(texts) == 2, messages
    assert texts[-1] == "Дякую! Номер відстеження 59000123456789."   # quote trimmed


@pytest.mark.parametrize("fixture, reason", [
    ("outlook_automatic_reply", "auto-submitted"),
    ("gmail_vacation", "auto-submitted"),
    ("bounce_dsn", "auto-submitted"),
    ("list_digest", "precedence-list"),
    ("noreply_notification", "noreply"),
])
def test_automatic_mail_is_stored_never_answered_and_the_reason_recorded(system, fixture, reason):
    message_id = system.ingest(fixture)
    assert system.sent_mail() == []
    event = system.store.get_event("email", message_id)
    assert event["status"] == "done" and event["decision"]["acknowledge"] is False
    conversation = system.store.conversation(event["decision"]["conversation_id"])
    assert conversation["ack"] == f"suppressed: {reason}"


def test_list_headers_alone_suppress(system):
    raw = (FIXTURES / "email" / "outlook.eml").read_bytes().replace(
        b"Thread-Topic:", b"List-Unsubscribe: <mailto:leave@contoso.com>\r\nThread-Topic:")
    message_id = system.ingest(raw)
    assert system.sent_mail() == []
    event = system.store.get_event("email", message_id)
    assert event["decision"]["reason"] == "suppressed: list-unsubscribe"


@pytest.mark.parametrize("header, reason", [
    (b"Precedence: junk", "suppressed: precedence-junk"),
    (b"X-Auto-Response-Suppress: OOF", "suppressed: x-auto-response-suppress"),
    (b"Auto-Submitted: no", None),   # explicitly not automatic: answered
])
def test_rfc3834_headers(system, header, reason):
    raw = (FIXTURES / "email" / "outlook.eml").read_bytes().replace(b"Thread-Topic:", header + b"\r\nThread-Topic:")
    message_id = system.ingest(raw)
    event = system.store.get_event("email", message_id)
    if reason:
        assert system.sent_mail() == [] and event["decision"]["reason"] == reason
    else:
        assert len(system.sent_mail()) == 1


def test_empty_return_path_and_our_own_address_are_never_answered(system):
    base = (FIXTURES / "email" / "outlook.eml").read_bytes()
    system.ingest(base.replace(b"Return-Path: <j.smith@contoso.com>", b"Return-Path: <>"))
    system.ingest(base.replace(b'From: "Smith, John" <J.Smith@contoso.com>', b"From: Acme <support@acme.example>")
                  .replace(b"Message-ID: <DB9", b"Message-ID: <OWN"))
    assert system.sent_mail() == []


def test_spam_verdict_is_stored_as_such_and_never_answered(system):
    import json

    import app as app_module
    from cli.email import ses_notification, sns_event
    from integrations import ses
    from integrations.aws import client

    raw = (FIXTURES / "email" / "outlook.eml").read_bytes()
    client("s3").put_object(Bucket=ses.MAIL_BUCKET, Key="inbound/spam", Body=raw)
    topic = client("sns").create_topic(Name=ses.MAIL_TOPIC)["TopicArn"]
    notification = ses_notification(raw, ses.MAIL_BUCKET, "inbound/spam", topic, "support@acme.example",
                                    system.clock.now(), verdict="FAIL")
    app_module.app.handler_map["email_inbound"](sns_event(notification, topic), None)
    system.pump.drain()
    assert system.sent_mail() == []
    event = system.store.get_event("email", notification["mail"]["messageId"])
    assert event["decision"]["reason"] == "suppressed: ses-spam"
    assert event["inbound"]["details"]["verdicts"]["spam"] == "FAIL"
    assert json.dumps(event)   # stored as plain data


def test_notifications_for_other_buckets_or_topics_are_rejected(system):
    import app as app_module
    from cli.email import ses_notification, sns_event

    raw = (FIXTURES / "email" / "outlook.eml").read_bytes()
    other_bucket = ses_notification(raw, "someone-elses-bucket", "k", "arn:aws:sns:us-east-1:1:firstreply-inbound-mail",
                                    "support@acme.example", system.clock.now())
    app_module.app.handler_map["email_inbound"](sns_event(other_bucket, "arn:aws:sns:us-east-1:1:firstreply-inbound-mail"), None)
    other_topic = ses_notification(raw, "firstreply-inbound-mail", "k", "arn:aws:sns:us-east-1:1:other", "x@y.z",
                                   system.clock.now())
    app_module.app.handler_map["email_inbound"](sns_event(other_topic, "arn:aws:sns:us-east-1:1:other"), None)
    assert system.store.get_event("email", other_bucket["mail"]["messageId"]) is None
    assert system.queue_depth(system.pump.url) == 0


@pytest.mark.parametrize("fixture, language, start, quote", [
    ("windows1251_russian", "ru", "Здравствуйте, Иван!", "«Оплата заказа»"),
    ("koi8r_russian", "ru", "Здравствуйте, Пётр!", "«Где заказ?»"),
    ("iso88599_turkish", "tr", "Merhaba Ayşe!", "“İade talebi”"),
    ("html_only", "fa", "سلام Sara!", "«پرداخت ناموفق»"),
    ("outlook", "en", "Hi John, thanks", "“Refund for order 5521”"),
])
def test_any_charset_and_html_only_mail_is_answered_in_the_customers_language(system, fixture, language,
                                                                                start, quote):
    system.ingest(fixture)
    [reply] = system.sent_mail()
    text = body(reply)
    assert reply["Content-Language"] == language
    assert text.startswith(start) and quote in text


def test_html_only_mail_is_stored_as_text_without_scripts_or_quotes(system):
    message_id = system.ingest("html_only")
    event = system.store.get_event("email", message_id)
    assert event["inbound"]["text"] == "سلام،\n\nپرداخت من با کارت انجام نشد."
    [reply] = system.sent_mail()
    assert 'dir="rtl"' in body(reply, "html")


def test_attachments_are_recorded_by_name_type_and_size(system):
    message_id = system.ingest("outlook")
    details = system.store.get_event("email", message_id)["inbound"]["details"]
    assert details["attachments"] == [{"name": "receipt-5521.pdf", "type": "application/pdf", "size": 23}]


def test_twenty_megabyte_mail_is_read_from_s3_and_answered(system, tmp_path):
    mail = EmailMessage()
    mail["From"] = "Big Sender <big@example.org>"
    mail["To"] = "support@acme.example"
    mail["Subject"] = "Photos of the damaged delivery"
    mail["Message-ID"] = "<big-1@example.org>"
    mail.set_content("Hello, photos attached. The delivery box was crushed.")
    for i in range(4):
        mail.add_attachment(bytes(range(256)) * (5 * 1024 * 4), maintype="image", subtype="jpeg",
                            filename=f"photo-{i}.jpg")
    raw = mail.as_bytes()
    assert len(raw) > 20 * 1024 * 1024 * 4 // 3 - 1   # base64: 20 MB of photos
    message_id = system.ingest(raw)
    [reply] = system.sent_mail()
    assert reply["Subject"] == "Re: Photos of the damaged delivery"
    details = system.store.get_event("email", message_id)["inbound"]["details"]
    assert [a["size"] for a in details["attachments"]] == [5 * 1024 * 1024] * 4


def test_broken_mime_is_stored_and_answered_as_far_as_it_can_be_read(system):
    message_id = system.ingest("broken_mime")
    event = system.store.get_event("email", message_id)
    assert event["inbound"]["text"] == "Hello, where is my delivery?"
    assert event["inbound"]["details"]["defects"]
    [reply] = system.sent_mail()
    assert "Delivery times" in body(reply)


def test_redelivered_notification_changes_nothing(system):
    first = system.ingest("gmail")
    again = system.ingest("gmail")
    assert first == again
    assert len(system.sent_mail()) == 1


def test_at_most_one_ack_per_sender_within_the_contact_gap(system):
    system.ingest("outlook")
    other = (FIXTURES / "email" / "outlook.eml").read_bytes().replace(b"Message-ID: <DB9", b"Message-ID: <NEW").replace(
        b"Subject: Refund for order 5521", b"Subject: Another question")
    system.ingest(other)
    assert len(system.sent_mail()) == 1


def test_ses_throttling_is_retried_later_not_lost_not_doubled(system, monkeypatch):
    from botocore.exceptions import ClientError

    from integrations import ses

    calls = []
    real_send = ses.EmailSender.send

    def throttled_twice(self, ack):
        calls.append(1)
        if len(calls) <= 2:
            import integrations.ses as module
            error = ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}},
                                "SendEmail")
            raise module.SendError(f"SES {error}", retryable=True) from error
        return real_send(self, ack)

    monkeypatch.setattr(ses.EmailSender, "send", throttled_twice)
    system.ingest("outlook")
    assert len(calls) == 3 and len(system.sent_mail()) == 1


def test_ses_client_errors_classified(system, monkeypatch):
    from botocore.exceptions import ClientError

    from functions.ports import SendError
    from integrations import ses
    from integrations.aws import client

    sender = ses.EmailSender("Acme <support@acme.example>")
    for code, retryable in (("TooManyRequestsException", True), ("MessageRejected", False)):
        def fail(**_):
            raise ClientError({"Error": {"Code": code, "Message": "x"}}, "SendEmail")
        monkeypatch.setattr(client("sesv2"), "send_email", fail)
        from functions.models import Acknowledgement
        with pytest.raises(SendError) as error:
            sender.send(Acknowledgement("email", "c", "<p>hi</p>", "en", details={"to": "a@b.c"}))
        assert error.value.retryable is retryable


def test_ingest_email_command_rejects_unreadable_input(tmp_path):
    import subprocess
    import sys

    firstreply = str(Path(sys.executable).parent / "firstreply")
    missing = subprocess.run([firstreply, "ingest-email", str(tmp_path / "nope.eml")], capture_output=True, text=True)
    assert missing.returncode != 0 and "cannot read" in missing.stderr
    junk = tmp_path / "junk.eml"
    junk.write_bytes(b"\x00\x01 not a mail")
    result = subprocess.run([firstreply, "ingest-email", str(junk)], capture_output=True, text=True)
    assert result.returncode != 0 and "is not an email message" in result.stderr


@pytest.mark.parametrize("fixture, first_name, subject", [
    ("ascii_declared_utf8", "Jürgen", "Bestellung überfällig"),
    ("gb2312_is_gb18030", "朱镕", "订单查询"),
    ("big5_is_big5hkscs", "Wing", "訂單幾時到㗎"),
    ("latin1_is_windows1252", "Céline", "Commande « 6610 » – rembourser 49 €"),
    ("no_content_type_utf8", "Lucía", "¿Dónde está mi pedido?"),
    ("raw_8bit_headers_cp1251", "Иван", "Возврат денег за заказ 3301"),
])
def test_lying_charsets_are_stored_and_acknowledged_readably(system, fixture, first_name, subject):
    message_id = system.ingest((FIXTURES / "email" / "charsets" / f"{fixture}.eml").read_bytes())
    inbound = system.store.get_event("email", message_id)["inbound"]
    assert inbound["subject"] == subject and inbound["first_name"] == first_name
    assert "\ufffd" not in inbound["text"] + inbound["name"] + inbound["subject"]
    [reply] = system.sent_mail()
    assert reply["Subject"] == f"Re: {subject}"
    assert first_name in body(reply) and "\ufffd" not in body(reply)


def notify(system, raw: bytes, key: str, **verdicts):
    """Ingest `raw` with SES's receipt verdicts as given (the others PASS)."""
    import app as app_module
    from cli.email import ses_notification, sns_event
    from integrations import ses
    from integrations.aws import client

    client("s3").put_object(Bucket=ses.MAIL_BUCKET, Key=key, Body=raw)
    topic = client("sns").create_topic(Name=ses.MAIL_TOPIC)["TopicArn"]
    notification = ses_notification(raw, ses.MAIL_BUCKET, key, topic, "support@acme.example", system.clock.now())
    for name, status in verdicts.items():
        notification["receipt"][f"{name}Verdict"] = {"status": status}
    app_module.app.handler_map["email_inbound"](sns_event(notification, topic), None)
    system.pump.drain()
    return system.store.get_event("email", notification["mail"]["messageId"])


@pytest.mark.parametrize("verdicts, reason", [
    ({"dmarc": "FAIL", "spf": "FAIL", "dkim": "FAIL"}, "suppressed: dmarc-fail"),   # a forged From
    ({"virus": "FAIL"}, "suppressed: ses-virus"),
    ({"spam": "FAIL", "dmarc": "FAIL"}, "suppressed: dmarc-fail"),
])
def test_inauthentic_or_dangerous_mail_is_stored_with_the_reason_and_never_answered(system, verdicts, reason):
    """Issue 14.10: answering a forged sender would make us mail a third party of the forger's choice."""
    event = notify(system, (FIXTURES / "email" / "outlook.eml").read_bytes(), "inbound/auth", **verdicts)
    assert system.sent_mail() == []
    assert event["status"] == "done" and event["decision"]["reason"] == reason
    assert event["inbound"]["text"].startswith("Hello,")   # stored for the agents all the same
    for name, status in verdicts.items():
        assert event["inbound"]["details"]["verdicts"][name] == status
    conversation = system.store.conversation(event["decision"]["conversation_id"])
    assert conversation["ack"] == reason


@pytest.mark.parametrize("verdicts", [
    {"spf": "FAIL"},                      # a forwarder breaks SPF; DMARC passed on DKIM alignment
    {"dmarc": "GRAY", "spam": "GRAY"},    # SES could not tell: not a failure
    {"dmarc": "PROCESSING_FAILED"},
])
def test_verdicts_short_of_a_failure_are_recorded_and_answered(system, verdicts):
    event = notify(system, (FIXTURES / "email" / "outlook.eml").read_bytes(), "inbound/ok", **verdicts)
    assert len(system.sent_mail()) == 1
    assert all(event["inbound"]["details"]["verdicts"][k] == v for k, v in verdicts.items())
