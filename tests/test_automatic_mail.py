"""Automatic mail recognised the way Zammad and FreeScout do, plus RFC 3834/2369/3464 (issue 21.6).

Every rule in `integrations.automatic_mail.RULES` has a real-shaped mail named after it in
tests/fixtures/email/automatic/ (SES's verdict rules excepted: those come with the notification),
and the stored decision of that mail names the rule.
"""
from __future__ import annotations

import pytest

from conftest import FIXTURES
from integrations import automatic_mail
from integrations.email_message import parse_mail

AUTOMATIC = FIXTURES / "email" / "automatic"
VERDICT_RULES = {"ses-virus", "dmarc-fail", "ses-spam"}
MAIL_RULES = [name for name in automatic_mail.RULE_NAMES if name not in VERDICT_RULES]


def test_every_rule_has_its_mail():
    assert sorted(p.stem for p in AUTOMATIC.glob("*.eml")) == sorted(MAIL_RULES)


@pytest.mark.parametrize("rule", MAIL_RULES)
def test_each_rule_recognises_its_real_shaped_mail(rule):
    assert parse_mail((AUTOMATIC / f"{rule}.eml").read_bytes(), "support@acme.example").no_reply == rule


@pytest.mark.parametrize("fixture", ["gmail", "outlook", "windows1251_russian", "koi8r_russian",
                                     "iso88599_turkish", "html_only", "broken_mime", "reply_in_thread"])
def test_mail_people_write_matches_no_rule(fixture):
    assert parse_mail((FIXTURES / "email" / f"{fixture}.eml").read_bytes(), "support@acme.example").no_reply == ""


def facts(**headers):
    return automatic_mail.Facts(headers={k.replace("_", "-").lower(): (v,) for k, v in headers.items()},
                                address="ana@example.org", display_name="Ana")


@pytest.mark.parametrize("headers, rule", [
    ({"Auto-Submitted": "auto-generated"}, "auto-submitted"),
    ({"Auto-Submitted": "auto-notified"}, "auto-submitted"),
    ({"Auto-Submitted": "No"}, ""),                                 # RFC 3834: explicitly written by a person
    ({"X-Auto-Response-Suppress": "DR, RN, NRN, OOF, AutoReply"}, "x-auto-response-suppress"),
    ({"X-Auto-Response-Suppress": "None"}, ""),
    ({"Precedence": "Bulk"}, "precedence-bulk"),
    ({"X-Precedence": "list"}, "precedence-list"),                  # FreeScout reads X-Precedence too
    ({"Precedence": "auto-reply"}, "precedence-auto-reply"),
    ({"Precedence": "first-class"}, ""),
    ({"X-Loop": "yes"}, "x-loop"),
    ({"X-Autoreply": "yes"}, "x-autoreply"),
    ({"X-Autoresponder": "1"}, "x-autoreply"),
    ({"X-Apple-Action": "VACATION/foo"}, "apple-vacation"),
    ({"List-Archive": "<https://lists.example.org/archive>"}, "list-headers"),
    ({"Return-Path": "<>"}, "empty-return-path"),
    ({"Sender": "owner-news@lists.example.org"}, "list-address"),
    ({"Return-Path": "<news-bounces@lists.example.org>"}, "list-address"),
    ({"X-Delivery-Agent": "TMDA/1.1.12"}, "challenge-response"),
])
def test_header_spellings(headers, rule):
    assert automatic_mail.reason(facts(**headers)) == rule


@pytest.mark.parametrize("address, rule", [
    ("noreply@example.org", "noreply"), ("no-reply@example.org", "noreply"), ("no_reply@example.org", "noreply"),
    ("no.reply@example.org", "noreply"), ("donotreply@example.org", "noreply"),
    ("do-not-reply@example.org", "noreply"), ("do_not_reply@example.org", "noreply"),
    ("alerts-noreply@example.org", "noreply"), ("noreply-alerts@example.org", "noreply"),
    ("mailer-daemon@example.org", "mailer-daemon"), ("post_master@example.org", "postmaster"),
    ("root@host.example.org", "system-account"), ("daemon@host.example.org", "system-account"),
    ("cron@host.example.org", "system-account"), ("list-request@example.org", "list-address"),
    ("owner-list@example.org", "list-address"),
    ("noreen@example.org", ""), ("rooter@example.org", ""), ("reply@example.org", ""),
])
def test_sender_spellings(address, rule):
    assert automatic_mail.reason(automatic_mail.Facts(address=address)) == rule


@pytest.mark.parametrize("name, rule", [
    ("Mail Delivery Subsystem", "daemon-display-name"), ("Mail Delivery System", "daemon-display-name"),
    ("MAILER-DAEMON", "daemon-display-name"), ("Mail Delivery Sam", ""),
])
def test_display_names(name, rule):
    assert automatic_mail.reason(automatic_mail.Facts(address="x@example.org", display_name=name)) == rule


@pytest.mark.parametrize("kinds, rule", [
    (("multipart/report", "text/plain", "message/delivery-status"), "delivery-report"),
    (("multipart/mixed", "text/plain", "message/delivery-status"), "delivery-report"),   # not wrapped
    (("multipart/report", "text/plain", "message/disposition-notification"), "delivery-report"),  # read receipt
    (("multipart/mixed", "text/plain", "message/rfc822"), ""),                             # a forward
])
def test_report_content_types(kinds, rule):
    assert automatic_mail.reason(automatic_mail.Facts(address="x@example.org", content_types=kinds)) == rule


def test_a_rule_that_breaks_on_odd_input_matches_nothing_instead_of_raising():
    broken = automatic_mail.Facts(address=None)   # what a bug upstream could hand over
    assert isinstance(automatic_mail.matching(broken), list)


@pytest.mark.parametrize("rule", MAIL_RULES)
def test_automatic_mail_is_stored_and_its_decision_names_the_rule(system, rule):
    message_id = system.ingest((AUTOMATIC / f"{rule}.eml").read_bytes())
    assert system.sent_mail() == []
    event = system.store.get_event("email", message_id)
    assert event["status"] == "done" and event["inbound"]["no_reply"] == rule
    if rule == "own-address":   # the worker drops our own mail before deciding anything (pipeline.is_own)
        assert "decision" not in event
        return
    assert event["decision"]["acknowledge"] is False
    assert event["decision"]["reason"] == f"suppressed: {rule}"
    conversation = system.store.conversation(event["decision"]["conversation_id"])
    assert conversation["ack"] == f"suppressed: {rule}"
