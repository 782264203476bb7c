"""Each webhook's cold path imports what it needs and nothing more (module sets, never times).

A fresh interpreter does what Lambda does on a cold start: imports `app`, then hands it one signed
request as API Gateway would (`app.app(event, context)`), with AWS answered by a canned reply at
botocore's last step (so no stand-in's own imports pollute the set). Then it reports every module
loaded and every AWS call made. The bench (`bench/compare.py`) prints what these imports cost.

A new webhook joins by adding a row to WEBHOOKS: its route, a body and how to sign it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import FIXTURES, ROOT, SECRET, meta_headers, slack_headers, x_headers

# Never on a webhook's cold path: channel SDKs and their HTTP stacks (the worker's), the template
# engine, the settings parser, the worker's models and everything that decides (the worker's), Powertools (a stdlib JSON
# formatter logs, one GetParameters call reads secrets), asyncio (only the Telegram sender runs a
# loop), and test-only packages.
FORBIDDEN = {
    "telegram", "slack_sdk", "tweepy", "requests", "requests_oauthlib", "oauthlib", "httpx", "httpcore",
    "anyio", "jinja2", "babel", "holidays", "yaml", "charset_normalizer", "aws_lambda_powertools", "asyncio",
    "moto", "functions.settings", "functions.render", "functions.decide", "functions.pipeline",
    "functions.acknowledge", "functions.hours", "functions.worker_models", "integrations.dynamodb.store",
    "integrations.dynamodb.conversations", "integrations.dynamodb.admin", "integrations.dynamodb.desk",
    # botocore's session makes the clients: boto3 (its resources, s3transfer) is ~14 ms of import
    "boto3", "s3transfer",
}
# Third-party distributions a webhook may load: the Lambda runtime's botocore and what it brings, and
# Chalice (the app object). Anything else is a new dependency on the cold path: add it here only
# when the webhook cannot answer without it.
ALLOWED_THIRD_PARTY = {"botocore", "jmespath", "dateutil", "urllib3", "six", "certifi",
                       "chalice", "typing_extensions"}
# What one new message costs in AWS on a cold start: the conditional put and the enqueue. Secrets
# come from the environment here; in AWS one GetParameters adds to it (tests/test_operations.py).
AWS_CALLS = ["PutItem", "SendMessage"]


def _telegram():
    body = (FIXTURES / "telegram" / "text_private.json").read_bytes()
    return "/webhooks/telegram", body, {"Content-Type": "application/json",
                                        "X-Telegram-Bot-Api-Secret-Token": SECRET}


def _slack():
    payload = json.loads((FIXTURES / "slack" / "message_im.json").read_text(encoding="utf-8"))
    payload["event_time"] = int(time.time())
    body = json.dumps(payload).encode()
    return "/webhooks/slack/events", body, {"Content-Type": "application/json", **slack_headers(body)}


def _x():
    body = (FIXTURES / "x" / "aaa_dm.json").read_bytes()
    return "/webhooks/x", body, {"Content-Type": "application/json", **x_headers(body)}


def _meta(path: str, fixture: str):
    def webhook():
        body = (FIXTURES / fixture).read_bytes()
        return path, body, {"Content-Type": "application/json", **meta_headers(body)}
    return webhook


WEBHOOKS = {"telegram": _telegram, "slack": _slack, "x": _x,
            "whatsapp": _meta("/webhooks/whatsapp", "whatsapp/text.json"),
            "messenger": _meta("/webhooks/meta", "messenger/text.json"),
            "instagram": _meta("/webhooks/meta", "instagram/text.json")}

PROBE = r"""
import json, sys
# what the interpreter loaded before the cold path starts (site, and in a date-moved test run
# time-machine from sitecustomize): not the webhook's doing
before = set(sys.modules)
calls = []
import botocore.client
def canned(self, operation, params):   # AWS as a stand-in that imports nothing
    calls.append(operation)
    return {"MessageId": "1", "QueueUrl": "https://sqs.invalid/q"}
botocore.client.BaseClient._make_api_call = canned
path, body, headers = json.loads(sys.stdin.read())
import app
event = {"resource": path, "path": path, "httpMethod": "POST", "headers": headers,
         "multiValueHeaders": {k: [v] for k, v in headers.items()}, "queryStringParameters": None,
         "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
         "requestContext": {"resourcePath": path, "httpMethod": "POST", "path": "/api" + path,
                            "stage": "api", "requestId": "cold"},
         "body": body, "isBase64Encoded": False}
answer = app.app(event, None)
site = tuple(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
loaded = {m: v for m, v in list(sys.modules.items()) if m not in before}
third = {m.split(".")[0] for m, v in loaded.items()
         if str(getattr(v, "__file__", None) or "").startswith(site) and not m.startswith("_")}
print(json.dumps({"status": answer["statusCode"], "body": answer["body"], "modules": sorted(loaded),
                  "third_party": sorted(third), "aws": calls}))
"""


def cold_path(channel: str) -> dict:
    path, body, headers = WEBHOOKS[channel]()
    env = {**os.environ, "FIRSTREPLY_QUEUE_URL": "https://sqs.invalid/123/firstreply-work.fifo",
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("FIRSTREPLY_LOG_FORMAT", None)   # the JSON logs Lambda gets
    result = subprocess.run([sys.executable, "-c", PROBE], input=json.dumps([path, body.decode(), headers]),
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("channel", sorted(WEBHOOKS))
def test_a_webhook_cold_path_loads_only_what_it_needs(channel):
    # GIVEN a fresh interpreter WHEN one signed new message arrives
    found = cold_path(channel)
    # THEN it is stored and enqueued, with no GetQueueUrl first
    answer = json.loads(found["body"] or "{}")
    assert found["status"] == 200 and not answer.get("duplicate") and not answer.get("duplicates"), answer
    assert found["aws"] == AWS_CALLS
    # AND nothing heavy or foreign was imported to do it
    loaded = set(found["modules"])
    assert not FORBIDDEN & loaded, sorted(FORBIDDEN & loaded)
    assert set(found["third_party"]) <= ALLOWED_THIRD_PARTY, sorted(set(found["third_party"]) - ALLOWED_THIRD_PARTY)


# The email function's cold path: `import app`, then the SNS event SES's receipt rule publishes for a
# mail it stored in S3 (as `firstreply ingest-email` shapes it), handled by the Lambda handler, with
# GetObject answering the mail's raw bytes as S3 does.
EMAIL_PROBE = r"""
import io, json, sys
before = set(sys.modules)
calls = []
import botocore.client
from botocore.response import StreamingBody
event, mail = json.loads(sys.stdin.read())
mail = mail.encode("latin-1")
def canned(self, operation, params):
    calls.append(operation)
    if operation == "GetObject":
        return {"Body": StreamingBody(io.BytesIO(mail), len(mail))}
    return {"MessageId": "1", "QueueUrl": "https://sqs.invalid/q"}
botocore.client.BaseClient._make_api_call = canned
import app
app.email_inbound(event, None)
site = tuple(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
loaded = {m: v for m, v in list(sys.modules.items()) if m not in before}
third = {m.split(".")[0] for m, v in loaded.items()
         if str(getattr(v, "__file__", None) or "").startswith(site) and not m.startswith("_")}
print(json.dumps({"modules": sorted(loaded), "third_party": sorted(third), "aws": calls}))
"""


def test_the_email_function_loads_no_channel_sdk_or_template_engine():
    # GIVEN a fresh interpreter WHEN SES's notification of one new mail arrives
    from datetime import datetime, timezone

    from cli.email import ses_notification, sns_event

    raw = (FIXTURES / "email" / "gmail.eml").read_bytes()
    topic = "arn:aws:sns:us-east-1:123456789012:firstreply-inbound-mail"
    event = sns_event(ses_notification(raw, "firstreply-inbound-mail", "inbound/cold", topic, "support@acme.example",
                                       datetime.now(timezone.utc)), topic)
    env = {**os.environ, "FIRSTREPLY_QUEUE_URL": "https://sqs.invalid/123/firstreply-work.fifo",
           "PYTHONDONTWRITEBYTECODE": "1"}
    for variable in ("FIRSTREPLY_LOG_FORMAT", "FIRSTREPLY_MAIL_BUCKET", "FIRSTREPLY_MAIL_TOPIC"):
        env.pop(variable, None)
    result = subprocess.run([sys.executable, "-c", EMAIL_PROBE], input=json.dumps([event, raw.decode("latin-1")]),
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    # THEN the mail is read, its Message-ID remembered for the thread, stored once and enqueued
    assert found["aws"] == ["GetObject", "BatchWriteItem", "PutItem", "SendMessage"]
    # AND nothing heavy or foreign was imported to do it: the mail parser needs charset_normalizer
    # for lying charsets only, on demand; idna (a reply's address) is the worker's
    loaded = set(found["modules"])
    assert not FORBIDDEN & loaded, sorted(FORBIDDEN & loaded)
    assert set(found["third_party"]) <= ALLOWED_THIRD_PARTY, sorted(set(found["third_party"]) - ALLOWED_THIRD_PARTY)


def test_an_aws_client_is_made_with_the_collector_paused_and_left_as_it_was(monkeypatch):
    # botocore builds a client from its JSON model, tens of thousands of long-lived objects: the
    # cyclic collector walking them while they are made is cold-start time for nothing to free
    import gc

    from integrations import aws

    seen = []

    class Session:
        def create_client(self, service, region_name):
            seen.append(gc.isenabled())
            if service == "failing":
                raise RuntimeError("no such service")
            return object()

    monkeypatch.setattr(aws, "_clients", {})
    monkeypatch.setattr(aws, "session", Session)
    assert gc.isenabled()
    try:
        aws.client("s3")
        with pytest.raises(RuntimeError):
            aws.client("failing")
        # THEN paused while it is made, running again after (also after a failure)
        assert seen == [False, False] and gc.isenabled()
        # AND a collector someone else paused stays paused
        gc.disable()
        aws.client("sqs")
        assert not gc.isenabled()
    finally:
        gc.enable()
