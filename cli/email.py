"""`firstreply ingest-email FILE.eml`: feed a raw email through the path SES would take.

The file goes into the inbound-mail bucket and the `email_inbound` handler is invoked with the SNS
event that SES's receipt rule (S3 action with a topic) would publish, so a mail tried locally is
handled exactly as a deployed one.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from cli.channels import UsageError
from functions.clock import iso


def ses_notification(raw: bytes, bucket: str, key: str, topic_arn: str, recipient: str,
                     now: datetime, verdict: str = "PASS") -> dict[str, Any]:
    """The SES `Received` notification for a mail stored at bucket/key (documented shape)."""
    from integrations.email_message import parse_mail

    parsed = parse_mail(raw)
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
    return_path = next((line.split(":", 1)[1].strip() for line in head.splitlines()
                        if line.lower().startswith("return-path:")), None)
    source = parseaddr(return_path)[1] if return_path is not None else parsed.address
    stamp = iso(now)
    message_id = hashlib.sha256(raw).hexdigest()[:40]   # same mail, same id: a redelivery
    return {
        "notificationType": "Received",
        "mail": {"timestamp": stamp, "source": source, "messageId": message_id,
                 "destination": [recipient], "headersTruncated": False,
                 "commonHeaders": {"from": [parsed.display_name and f"{parsed.display_name} <{parsed.address}>"
                                            or parsed.address], "to": [recipient],
                                   "messageId": parsed.message_id, "subject": parsed.subject}},
        "receipt": {"timestamp": stamp, "processingTimeMillis": 12, "recipients": [recipient],
                    "spamVerdict": {"status": verdict}, "virusVerdict": {"status": "PASS"},
                    "spfVerdict": {"status": "PASS"}, "dkimVerdict": {"status": "PASS"},
                    "dmarcVerdict": {"status": "PASS"},
                    "action": {"type": "S3", "topicArn": topic_arn, "bucketName": bucket, "objectKey": key}},
    }


def sns_event(notification: dict[str, Any], topic_arn: str) -> dict[str, Any]:
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
                         "EventSubscriptionArn": f"{topic_arn}:local",
                         "Sns": {"Type": "Notification", "MessageId": notification["mail"]["messageId"],
                                 "TopicArn": topic_arn, "Subject": "Amazon SES Email Receipt Notification",
                                 "Message": json.dumps(notification), "Timestamp": notification["mail"]["timestamp"],
                                 "SignatureVersion": "1", "MessageAttributes": {}}}]}


def as_mail(raw: bytes, source: str = "") -> bytes:
    """`raw` when it begins as an email message does (a header line); a UsageError, naming
    `source` (the file) when given, when not."""
    if not raw.strip() or b":" not in raw.split(b"\n", 1)[0]:
        raise UsageError(f"{source} is not an email message (no header line)" if source
                         else "not an email message (no header line)")
    return raw


def read_mail(path: str) -> bytes:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    return as_mail(raw, path)


def ingest(path: str, app=None) -> str:
    return ingest_bytes(read_mail(path), app)


def ingest_bytes(raw: bytes, app=None) -> str:
    """A mail `read_mail` or `as_mail` accepted, through the SES path; its SES message id."""
    from botocore.exceptions import BotoCoreError, ClientError

    from integrations import ses
    from integrations.aws import client

    if app is None:
        import app as app_module

        app = app_module.app
    now = datetime.now(timezone.utc)
    key = f"inbound/{hashlib.sha256(raw).hexdigest()[:40]}"
    try:
        topic_arn = client("sns").create_topic(Name=ses.MAIL_TOPIC)["TopicArn"]   # idempotent: finds it
        client("s3").put_object(Bucket=ses.MAIL_BUCKET, Key=key, Body=raw)
    except (BotoCoreError, ClientError) as exc:
        raise UsageError(f"cannot store the mail in {ses.MAIL_BUCKET}: {exc} "
                         "(is `firstreply dev` running, and AWS_ENDPOINT_URL set to its AWS stand-in?)") from None
    recipient = ses.support_address() or "support@example.com"
    notification = ses_notification(raw, ses.MAIL_BUCKET, key, topic_arn, recipient, now)
    app.handler_map["email_inbound"](sns_event(notification, topic_arn), None)
    return notification["mail"]["messageId"]
