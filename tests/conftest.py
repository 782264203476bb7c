"""Shared test set-up: moto in-process as AWS, the Telegram Bot API stand-in, Chalice's test client,
and the same queue pump `firstreply dev` uses to run the worker."""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

# The app reads these at import: set them before anything imports it.
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    "FIRSTREPLY_TABLE": "firstreply-test", "FIRSTREPLY_LOG_FORMAT": "text",
    "TELEGRAM_WEBHOOK_SECRET": "s3cr3t-token_ABC", "TELEGRAM_BOT_TOKEN": "123456:TEST-token",
    "FIRSTREPLY_RETRY_BASE_SECONDS": "0.01", "PTB_TIMEDELTA": "1",
    "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
    "X_CONSUMER_KEY": "xck", "X_CONSUMER_SECRET": "x-consumer-secret", "X_ACCESS_TOKEN": "4337869213-token",
    "X_ACCESS_TOKEN_SECRET": "xats", "SUPPORT_EMAIL_FROM": "Acme Support <support@acme.example>",
    "FIRSTREPLY_SIGNING_SECRET": "test-signing-key", "FIRSTREPLY_PUBLIC_URL": "https://support.acme.example/api",
    "FIRSTREPLY_ADMIN_TOKEN": "admin-test-token",
    # Meta (WhatsApp, Messenger, Instagram); the tokens are the ones the Graph API stand-in accepts
    "META_APP_SECRET": "meta-app-secret-for-tests", "META_VERIFY_TOKEN": "meta-verify-token-42",
    "WHATSAPP_TOKEN": "wa-test-token", "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
    "META_PAGE_TOKEN": "page-test-token",
})
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("FIRSTREPLY_OUTBOX", None)

# Record what each Lambda entry point asks of AWS (the IAM grant test compares it with the roles).
import aws_calls  # noqa: E402

aws_calls.install()


def pytest_sessionfinish(session):
    aws_calls.save()


def pytest_configure(config):
    config.addinivalue_line("markers", "after_all_flows: runs after every other test (reads their recording)")
    from cli.standins import sqs_fifo

    sqs_fifo.apply()   # moto's FIFO groups as SQS keeps them (see the module)


def pytest_collection_modifyitems(items):
    """The grant test reads what the other tests recorded: it runs last."""
    items.sort(key=lambda item: item.get_closest_marker("after_all_flows") is not None)

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parent.parent
SECRET = os.environ["TELEGRAM_WEBHOOK_SECRET"]


def load_fixture(channel: str, name: str) -> dict:
    return json.loads((FIXTURES / channel / f"{name}.json").read_text(encoding="utf-8"))


class FixedClock:
    """The worker's clock, set by the test; sleeping only records how long it was asked to wait."""

    def __init__(self, now: datetime):
        self.current = now
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


# Monday 23 November 2026, 10:00 in Kyiv: open with the example settings.
OPEN_TIME = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
# Sunday 22 November 2026, 12:00 in Kyiv: closed, opens Monday 09:00.
CLOSED_TIME = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)


def serve(stand_in, variable: str, suffix: str = ""):
    """Start a channel API stand-in for the session and point the app's base-URL variable at it."""
    stand_in.start()
    os.environ[variable] = stand_in.url + suffix
    yield stand_in
    stand_in.stop()


@pytest.fixture
def no_rollback_copies():
    """moto without its per-transaction table copies, for a long replay in which nothing cancels a
    transaction on purpose (see cli/standins/dynamodb_rollback.py); back on after the test."""
    from cli.standins import dynamodb_rollback

    restore = dynamodb_rollback.apply()
    yield
    restore()


@pytest.fixture(scope="session")
def telegram_api():
    from cli.standins.telegram import TelegramStandIn

    yield from serve(TelegramStandIn(), "TELEGRAM_API_URL")


@pytest.fixture(scope="session")
def slack_api():
    from cli.standins.slack import SlackStandIn

    yield from serve(SlackStandIn(), "SLACK_API_URL", "/api/")


@pytest.fixture(scope="session")
def x_api():
    from cli.standins.x import XStandIn

    yield from serve(XStandIn(), "X_API_URL")


@pytest.fixture(scope="session")
def meta_api():
    from cli.standins.meta import MetaStandIn

    yield from serve(MetaStandIn(), "META_API_URL")


def meta_headers(body: bytes, secret: str | None = None) -> dict:
    from integrations.meta import signature

    return {"X-Hub-Signature-256": signature(secret or os.environ["META_APP_SECRET"], body)}


def post_meta(system, payload, path: str = "/webhooks/whatsapp", raw: bytes | None = None, signed=True,
              headers=None, **sign):
    """POST a Meta webhook payload signed as Meta signs it (X-Hub-Signature-256 over the raw body)."""
    body = raw if raw is not None else json.dumps(payload).encode()
    head = {"Content-Type": "application/json", **(meta_headers(body, **sign) if signed else {}), **(headers or {})}
    return system.client.http.post(path, headers=head, body=body)


def slack_headers(body: bytes, secret: str | None = None, timestamp: int | None = None) -> dict:
    from slack_sdk.signature import SignatureVerifier

    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret or os.environ["SLACK_SIGNING_SECRET"]).generate_signature(
        timestamp=timestamp, body=body)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def x_headers(body: bytes, secret: str | None = None) -> dict:
    from integrations.x import signature

    return {"x-twitter-webhooks-signature": signature(secret or os.environ["X_CONSUMER_SECRET"], body)}


@pytest.fixture
def settings_doc():
    import yaml

    with open(ROOT / "firstreply.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture
def system(telegram_api, slack_api, x_api, settings_doc, monkeypatch):
    """Everything `firstreply dev` runs, in-process: moto, table, queues, settings, app, worker."""
    from moto import mock_aws

    from cli.dev import QueuePump
    from functions.handlers import worker
    from functions.settings import parse_settings
    from integrations import aws, dynamodb, sqs

    for stand_in in (telegram_api, slack_api, x_api):
        stand_in.reset()
    slack_api.users.clear()
    x_api.mentions.clear()
    from integrations import slack

    slack._own_user.clear()
    with mock_aws():
        aws.reset_clients()
        dynamodb.ensure_table()
        sqs.ensure_queues()
        from integrations import ses

        ses.ensure_mail_resources()
        worker.store.cache_clear()
        worker.sender_for.cache_clear()
        from integrations.dynamodb import channels

        channels._frontier.clear()   # the pacing windows of an earlier test's table
        store = dynamodb.DynamoStore()
        store.save_settings(parse_settings(settings_doc), by="tests", now=OPEN_TIME)
        clock = FixedClock(OPEN_TIME)
        monkeypatch.setattr(worker, "clock", clock)

        from chalice.test import Client

        import app as app_module

        with Client(app_module.app) as client:
            system = System(client, QueuePump(app_module.app), store, clock, telegram_api, settings_doc)
            system._monkeypatch = monkeypatch
            system.slack_api, system.x_api = slack_api, x_api
            yield system
        aws.reset_clients()


class System:
    def __init__(self, client, pump, store, clock, telegram_api, settings_doc):
        self.client, self.pump, self.store, self.clock = client, pump, store, clock
        self.telegram_api, self.settings_doc = telegram_api, settings_doc

    def post_update(self, update, secret: str | None = SECRET, raw: bytes | None = None, headers=None):
        head = {"Content-Type": "application/json", **(headers or {})}
        if secret is not None:
            head["X-Telegram-Bot-Api-Secret-Token"] = secret
        body = raw if raw is not None else json.dumps(update).encode()
        return self.client.http.post("/webhooks/telegram", headers=head, body=body)

    def deliver(self, update, **kwargs):
        """Post the update and run the worker until the queue is empty."""
        response = self.post_update(update, **kwargs)
        assert response.status_code == 200, response.body
        self.pump.drain()
        return response

    def post_slack(self, payload, path="/webhooks/slack/events", raw: bytes | None = None, headers=None,
                   signed=True, **sign):
        body = raw if raw is not None else json.dumps(payload).encode()
        kind = "application/x-www-form-urlencoded" if path.endswith("interactions") else "application/json"
        head = {"Content-Type": kind, **(slack_headers(body, **sign) if signed else {}), **(headers or {})}
        return self.client.http.post(path, headers=head, body=body)

    def post_x(self, payload, raw: bytes | None = None, signed=True, **sign):
        body = raw if raw is not None else json.dumps(payload).encode()
        head = {"Content-Type": "application/json", **(x_headers(body, **sign) if signed else {})}
        return self.client.http.post("/webhooks/x", headers=head, body=body)

    def ingest(self, source) -> str:
        """Feed a raw mail (fixture name, path or bytes) through the SES path; run the worker."""
        import tempfile

        import app as app_module
        from cli.email import ingest

        if isinstance(source, bytes):
            with tempfile.NamedTemporaryFile(suffix=".eml", delete=False) as fh:
                fh.write(source)
            source = fh.name
        elif not str(source).endswith(".eml"):
            source = FIXTURES / "email" / f"{source}.eml"
        message_id = ingest(str(source), app_module.app)
        self.pump.drain()
        return message_id

    def run_job(self, name: str, at):
        """Run a scheduled function as EventBridge would, with `at` as its time."""
        import app as app_module
        from cli.dev import scheduled_event

        return app_module.app.handler_map[name](scheduled_event(at), None)

    def run_job_racing(self, name: str, at, monkeypatch):
        """Two runs of a job at once, deterministically: the second runs to the end right after the
        first read its due list, and the first then works through that stale list. (Real threads
        would race inside moto, whose conditional writes are not atomic across threads.)"""
        from integrations.dynamodb import DynamoStore

        real, reports = DynamoStore.due_tasks, []

        def racing(store, kind, now):
            found = real(store, kind, now)
            if not reports:
                reports.append(None)
                reports.append(self.run_job(name, at))
            return found

        monkeypatch.setattr(DynamoStore, "due_tasks", racing)
        first = self.run_job(name, at)
        monkeypatch.setattr(DynamoStore, "due_tasks", real)
        return first, reports[1]

    def dead_letter(self, update):
        """Post the update while the Bot API fails every try, and run the worker until SQS gives
        the message up to the dead-letter queue (retried at once instead of after a backoff)."""
        from integrations import sqs

        self.telegram_api.fail_next(502, times=sqs.MAX_RECEIVES * 4)   # four tries per receive
        self.post_update(update)
        self.pump.backoff = lambda receives: 0
        for _ in range(sqs.MAX_RECEIVES + 1):
            self.pump.pump_once()

    def sent_mail(self):
        """What moto's SES recorded, parsed."""
        from email import message_from_bytes, policy

        from moto.ses.models import ses_backends

        backend = ses_backends["123456789012"]["us-east-1"]
        return [message_from_bytes(m.raw_data.encode(), policy=policy.default) for m in backend.sent_messages]

    def use_settings(self, **changes):
        from functions.settings import parse_settings

        from functions.handlers import worker

        self.settings_doc.update(changes)
        self.store.save_settings(parse_settings(self.settings_doc), by="tests", now=self.clock.now())
        worker.store.cache_clear()   # the functions' cached copy, as if its minute had passed

    def sent(self):
        return self.telegram_api.sent("sendMessage")

    def worker_failures(self) -> list:
        """From now on, every exception the worker raises on a message (reported to SQS as a
        batch item failure, as Lambda would), except a deferral, which is the queue waiting out a
        channel's rate limit."""
        from functions.handlers import worker
        from functions.pipeline import DeferDelivery

        failures, handle_record = [], worker.handle_record

        def recording(*args, **kwargs):
            try:
                return handle_record(*args, **kwargs)
            except DeferDelivery:
                raise
            except Exception as exc:
                failures.append(repr(exc)[:300])
                raise
        self._monkeypatch.setattr(worker, "handle_record", recording)
        return failures

    def queue_depth(self, url) -> int:
        attrs = self.pump.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                          "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def update_from(template: dict, update_id: int, at: datetime | None = None, **message_changes) -> dict:
    """A copy of a fixture with another update id, sent `at` (Telegram's `date`), other fields."""
    update = json.loads(json.dumps(template))
    update["update_id"] = update_id
    if at is not None:
        update["message"]["date"] = int(at.timestamp())
    update["message"].update(message_changes)
    return update
