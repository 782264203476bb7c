"""Smaller paths issue 14 found broken on the way (item 9)."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from conftest import OPEN_TIME


def test_one_click_unsubscribe_posted_as_multipart_form_data(system):
    """RFC 8058 lets the mail provider POST `List-Unsubscribe=One-Click` in multipart/form-data;
    Chalice answered 415 to that content type before the route listed it."""
    system.ingest("outlook")
    system.run_job("close-idle", OPEN_TIME + timedelta(days=3, minutes=1))
    system.run_job("transcripts", OPEN_TIME + timedelta(days=3, minutes=2))
    url = system.sent_mail()[-1]["List-Unsubscribe"].strip("<>")
    boundary = "----firstreply5f1c"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
            f"One-Click\r\n--{boundary}--\r\n").encode()
    done = system.client.http.post(urlsplit(url).path.removeprefix("/api"), body=body,
                                   headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert done.status_code == 200
    assert system.store.contact("email", "j.smith@contoso.com")["unsubscribed_at"]


def test_mail_ses_rejects_is_an_error_the_alarm_counts(system, caplog):
    """SES answers MessageRejected for a sender (or, in the sandbox, a recipient) it has not
    verified: logged as an error with `ses_error`, which the template's metric filter counts."""
    import logging

    import pytest

    from functions.ports import SendError
    from integrations import ses

    with caplog.at_level(logging.WARNING), pytest.raises(SendError) as raised:
        ses.send_raw("Nobody <nobody@unverified.example>", "customer@example.com",
                     b"From: nobody@unverified.example\r\nTo: customer@example.com\r\nSubject: hi\r\n\r\nhello\r\n")
    assert not raised.value.retryable
    [record] = [r for r in caplog.records if getattr(r, "ses_error", None) == "MessageRejected"]
    assert record.levelno == logging.ERROR and "customer@example.com" in record.getMessage()


def test_dev_prepares_its_aws_stand_in_outside_us_east_1(monkeypatch):
    """`make dev` with a region of eu-central-1: S3 refuses a bucket created there without its
    LocationConstraint (IllegalLocationConstraintException), and the dev server did not say one."""
    from moto import mock_aws

    from cli.dev import prepare_resources
    from functions.settings import load_settings_file
    from integrations import aws, ses

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.delenv("AWS_REGION", raising=False)
    with mock_aws():
        prepare_resources(load_settings_file("firstreply.yaml"), seeded_by="tests")
        s3 = aws.client("s3")
        assert s3.get_bucket_location(Bucket=ses.MAIL_BUCKET)["LocationConstraint"] == "eu-central-1"
        assert aws.client("sesv2").get_email_identity(EmailIdentity=ses.support_address())
        prepare_resources(load_settings_file("firstreply.yaml"), seeded_by="tests")   # a restart finds it
    aws.reset_clients()
