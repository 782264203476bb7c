"""No mail lost (issue 21.2): any header, internationalised addresses, unbounded identifiers.

Each mail goes the real way: S3 object + SNS notification → `email_inbound` → worker → SES (moto).
"""
from __future__ import annotations

import pytest

from conftest import FIXTURES

HOSTILE = FIXTURES / "email" / "hostile"


def stored(system, message_id):
    event = system.store.get_event("email", message_id)
    assert event is not None, "the mail was not stored"
    return event


@pytest.mark.parametrize("fixture, address, name, subject, problem", [
    ("crlf_in_encoded_word", "marta.nowak@example.pl", "Marta Nowak", "Zamówienie 4471", None),
    ("group_syntax_from", "jonas.weber@example.de", "Jonas Weber", "Frage zur Lieferung", None),
    ("broken_angle_address", "pedro@example.com.br", "Pedro Alves", "Pedido 3390", None),
    ("nul_in_charset", "li.wei@example.cn", "李伟", "Order 5120", "unknown charset"),
])
def test_malformed_headers_are_stored_read_as_far_as_possible_and_answered(system, fixture, address, name,
                                                                           subject, problem):
    message_id = system.ingest((HOSTILE / f"{fixture}.eml").read_bytes())
    inbound = stored(system, message_id)["inbound"]
    assert (inbound["sender_id"], inbound["name"], inbound["subject"]) == (address, name, subject)
    assert inbound["text"]
    if problem:
        assert any(problem in p for p in inbound["details"]["problems"]), inbound["details"]["problems"]
    [reply] = system.sent_mail()
    assert address in reply["To"] and "\r" not in reply["To"] and "\x00" not in str(reply["To"])


@pytest.mark.parametrize("header", [
    b"From: =?utf-8?B?QW5hDQpMaW1h?= <ana@example.org>",          # CR LF inside a base64 word
    b"From: undisclosed-recipients:;",                               # an empty group
    b"From: \"Ana <x\" <<ana@example.org>>",                         # angles inside angles
    b"From: =?x\x00y?Q?Ana?= <ana@example.org>",                     # NUL in the charset
    b"From: \xff\xfe\x00 <@@@>",                                     # bytes and no address
    b"Subject: =?utf-8?Q?x=0D=0ABcc:_victim@example.org?=",           # header injection attempt
    b"Content-Type: text/plain; charset=\"utf-8\x00\x00\"",
    b"Content-Type: multipart/mixed; boundary=",                     # a boundary that is nothing
    b"From: " + b"a" * 5000 + b"@example.org",                         # an address nobody can answer
])
def test_the_handler_never_raises_and_always_stores(system, header):
    import hashlib

    name = header.split(b":")[0]
    base = {b"Return-Path": b"<ana@example.org>", b"To": b"support@acme.example", b"From": b"Ana <ana@example.org>",
            b"Subject": b"Hi", b"Message-ID": b"<h-" + hashlib.sha1(header).hexdigest().encode() + b"@example.org>"}
    raw = b"".join(k + b": " + v + b"\r\n" for k, v in base.items() if k != name)
    raw += header + b"\r\n\r\nHello, where is my parcel?\r\n"
    message_id = system.ingest(raw)
    event = stored(system, message_id)
    assert event["status"] == "done"
    assert system.queue_depth(system.pump.url) == 0
    for reply in system.sent_mail():   # what we answer never carries the injected header
        assert reply["Bcc"] is None and "\n" not in reply["Subject"]


def test_a_non_ascii_local_part_is_marked_undeliverable_with_the_reason_not_retried(system):
    """SES does not support SMTPUTF8 (RFC 6531): the local part must be 7-bit ASCII. The reply is
    recorded as undeliverable once, the mail is kept; nothing crash-loops or dead-letters."""
    from integrations import sqs

    message_id = system.ingest((HOSTILE / "idn_local_part.eml").read_bytes())
    event = stored(system, message_id)
    assert event["inbound"]["sender_id"] == "ünsal@örnek.com.tr"
    assert event["inbound"]["name"] == "Ünsal Yılmaz"
    assert system.sent_mail() == []
    assert event["status"] == "done" and "SMTPUTF8" in event["ack_error"]
    conversation = system.store.conversation(event["decision"]["conversation_id"])
    assert conversation["ack"] == "failed" and "non-ASCII local part" in conversation["ack_error"]
    assert system.queue_depth(sqs.queue_url(sqs.DEAD_LETTER_QUEUE_NAME)) == 0


def test_an_internationalised_domain_is_sent_to_in_its_idna_form(system):
    system.ingest((HOSTILE / "idn_domain.eml").read_bytes())
    [reply] = system.sent_mail()
    assert reply["To"].addresses[0].addr_spec == "ayse@xn--rnek-4qa.com.tr"
    assert reply["To"].addresses[0].display_name == "Ayşe Demir"
    from moto.ses.models import ses_backends

    [sent] = ses_backends["123456789012"]["us-east-1"].sent_messages
    assert "ayse@xn--rnek-4qa.com.tr" in sent.destinations   # the SMTP envelope too


def long_mail(message_id: bytes, references: bytes = b"", subject: bytes = b"Refund", sender=b"ana@example.org"):
    return (b"Return-Path: <" + sender + b">\r\nFrom: Ana <" + sender + b">\r\nTo: support@acme.example\r\n"
            b"Subject: " + subject + b"\r\nMessage-ID: " + message_id + b"\r\n"
            + (b"References: " + references + b"\r\nIn-Reply-To: " + references.split()[-1] + b"\r\n"
               if references else b"")
            + b"Content-Type: text/plain; charset=utf-8\r\n\r\nWhere is my refund?\r\n")


def test_key_forming_values_of_any_length_are_stored_and_answered(system):
    """DynamoDB refuses a partition key over 2048 bytes: a 3,000-byte Message-ID, 500 References of
    300 bytes each and a 100 KB subject are bounded at the edge, so intake and worker both store."""
    long_id = b"<" + b"x" * 3000 + b"@example.org>"
    message_id = system.ingest(long_mail(long_id, subject=b"S" * 100_000))
    event = stored(system, message_id)
    assert event["status"] == "done" and len(event["inbound"]["subject"]) <= 998
    assert len(event["inbound"]["message_id"].encode()) <= 250
    assert len(system.sent_mail()) == 1
    references = b" ".join(b"<" + str(i).encode() + b"y" * 300 + b"@example.org>" for i in range(500))
    later = system.ingest(long_mail(b"<second@example.org>", references))
    assert stored(system, later)["status"] == "done"
    assert len(stored(system, later)["inbound"]["references"].split()) <= 21


def test_a_reply_naming_a_hashed_long_message_id_still_joins_its_thread(system):
    long_id = b"<" + b"z" * 1500 + b"@example.org>"
    system.ingest(long_mail(long_id))
    follow_up = system.ingest(long_mail(b"<follow-up@example.org>", references=long_id))
    event = stored(system, follow_up)
    assert event["inbound"]["details"]["in_thread"] is True
    assert event["decision"]["reason"] == "open-conversation"


def test_an_address_too_long_to_answer_is_stored_without_a_reply(system):
    sender = b"a" * 300 + b"@example.org"
    message_id = system.ingest(long_mail(b"<long-sender@example.org>", sender=sender))
    event = stored(system, message_id)
    assert event["inbound"]["sender_id"] == "unknown"
    assert event["decision"]["reason"] == "suppressed: no-sender"
    assert any("address unusable" in p for p in event["inbound"]["details"]["problems"])
    assert system.sent_mail() == []
