"""`firstreply dev`: the whole system on one machine, no AWS account, no network.

An embedded moto server stands in for AWS (unless AWS_ENDPOINT_URL points at one), the Chalice
routes are served by Chalice's local server, the queue worker and the schedules run in threads of
this process and call the same handlers Lambda would.
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import signal
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable

log = logging.getLogger(__name__)


class DevError(SystemExit):
    """A one-line error for the person running the command."""

    def __init__(self, message: str):
        super().__init__(f"firstreply dev: {message}")


# -- the AWS stand-in -----------------------------------------------------------------------------
def start_moto() -> Any:
    from moto.server import ThreadedMotoServer

    from cli.standins import sqs_fifo

    sqs_fifo.apply()   # a chat's messages in order after a deferral, as in SQS
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    return server


def local_aws_environment(stand_in: bool | None = None) -> None:
    """Credentials and region for a stand-in (AWS_ENDPOINT_URL set, or the dev server's own). Real
    credentials are left alone, and against AWS itself (no stand-in) none are made up, so a
    profile in ~/.aws is used."""
    if stand_in is None:
        stand_in = bool(os.environ.get("AWS_ENDPOINT_URL"))
    if stand_in:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION") or "us-east-1")


def prepare_resources(settings, seeded_by: str) -> None:
    from integrations import aws, dynamodb, ses, sqs

    aws.reset_clients()
    dynamodb.ensure_table()
    sqs.ensure_queues()
    ses.ensure_mail_resources()
    dynamodb.DynamoStore().save_settings(settings, by=seeded_by, now=datetime.now(timezone.utc))


# -- the queue worker, as Lambda's SQS event source mapping would run it ----------------------------
def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"], "attributes": message.get("Attributes", {}),
        "messageAttributes": {}, "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "us-east-1",
    }


class QueuePump:
    """Receives from the work queue and invokes the Chalice `worker` handler with a Lambda-shaped
    event; deletes on success, otherwise leaves the message to become visible again (with a short
    backoff) so SQS's redrive policy dead-letters it after the last receive."""

    def __init__(self, app, function_name: str = "worker", queue: str = ""):
        from integrations import aws, sqs

        self.handler = app.handler_map[function_name]
        self.backoff = lambda receives: min(2 ** receives, 60)   # seconds until the next try
        self.sqs = aws.client("sqs")
        self.url = sqs.queue_url(queue or sqs.QUEUE_NAME)
        self.arn = self.sqs.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def pump_once(self, wait_seconds: int = 0) -> int:
        """Handle what is visible now, as Lambda would: one batch of up to 10 in one invocation,
        the failures the worker reports (ReportBatchItemFailures) left on the queue with a short
        backoff, the rest deleted; returns how many messages were handled successfully."""
        from functions.handlers import worker

        answer = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                          WaitTimeSeconds=wait_seconds, AttributeNames=["All"])
        messages = answer.get("Messages", [])
        if not messages:
            return 0
        try:
            response = self.handler({"Records": [sqs_record(m, self.arn) for m in messages]}, None) or {}
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except Exception as exc:   # the whole invocation failed: SQS retries the whole batch
            log.warning("worker failed: %s", exc)
            failed = {m["MessageId"] for m in messages}
        handled = 0
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
                handled += 1
            elif message["MessageId"] not in worker.deferred:   # a deferral set its own wait
                receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                log.warning("worker failed on %s (receive %d)", message["MessageId"], receives)
                self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"],
                                                   VisibilityTimeout=self.backoff(receives))
        return handled

    def drain(self, rounds: int = 50) -> int:
        """Pump until the queue has nothing visible (tests and the benchmark)."""
        total = 0
        for _ in range(rounds):
            answer = self.sqs.get_queue_attributes(QueueUrl=self.url,
                                                   AttributeNames=["ApproximateNumberOfMessages"])
            if answer["Attributes"]["ApproximateNumberOfMessages"] == "0":
                break
            total += self.pump_once()
        return total

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.pump_once(wait_seconds=1)
            except Exception:   # the stand-in restarting, say: keep the dev server alive
                log.exception("queue worker error")
                stop.wait(1)


# -- schedules -------------------------------------------------------------------------------------
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")


def schedule_seconds(expression: Any) -> int | None:
    """Seconds between runs for `rate(...)` expressions; cron expressions run every minute locally
    (the job itself decides whether anything is due)."""
    text = expression if isinstance(expression, str) else expression.to_string()
    m = _RATE.match(text.strip())
    if not m:
        return 60
    value, unit = int(m.group(1)), m.group(2).rstrip("s")
    return value * {"minute": 60, "hour": 3600, "day": 86400}[unit]


def scheduled_jobs(app) -> list[tuple[str, int, Callable]]:
    from chalice.app import ScheduledEventConfig

    return [(src.name, schedule_seconds(src.schedule_expression), app.handler_map[src.name])
            for src in app.event_sources if isinstance(src, ScheduledEventConfig)]


def scheduled_event(now: datetime, source: str = "firstreply.dev") -> dict[str, Any]:
    """The event EventBridge hands a scheduled Lambda; its `time` is the job's now."""
    return {"version": "0", "id": secrets.token_hex(8), "detail-type": "Scheduled Event",
            "source": source, "account": "123456789012", "region": os.environ.get("AWS_DEFAULT_REGION", ""),
            "time": now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "resources": [],
            "detail": {}}


# The schedules' thread and `firstreply run-job` (through /dev/jobs) take turns: moto's conditional
# writes are not atomic across threads, and a job's claims rely on them.
_job_lock = threading.Lock()


def run_schedules(app, stop: threading.Event) -> None:
    jobs = scheduled_jobs(app)
    due = {name: 0.0 for name, _, _ in jobs}
    while not stop.is_set():
        for name, every, handler in jobs:
            if time.monotonic() >= due[name]:
                due[name] = time.monotonic() + every
                try:
                    with _job_lock:
                        handler(scheduled_event(datetime.now(timezone.utc)), None)
                except Exception:
                    log.exception("job %s failed", name)
        stop.wait(1)


# -- dev-only routes ---------------------------------------------------------------------------------
def register_dev_routes(app) -> None:
    """Routes only the dev server has: the outbox, and what the commands of a second terminal ask
    of it (`firstreply run-job`, `ingest-email`, `smoke`), so they run in this process, with its
    secrets, sender, AWS stand-in and outbox, and need nothing exported."""
    from chalice.app import Response

    from integrations import outbox

    def answer(status: int, body: dict[str, Any]) -> Response:
        return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})

    @app.route("/dev/jobs/{name}", methods=["POST"])
    def dev_run_job(name):
        from cli.jobs import parse_now

        jobs = {job: handler for job, _, handler in scheduled_jobs(app)}
        if name not in jobs:
            return answer(404, {"error": f"no job {name!r}", "jobs": sorted(jobs)})
        try:
            moment = parse_now((app.current_request.json_body or {}).get("now"))
        except (ValueError, AttributeError) as exc:
            return answer(400, {"error": str(exc)})
        with _job_lock:
            try:
                report = jobs[name](scheduled_event(moment, source="firstreply.cli"), None)
            except Exception as exc:   # the job's own failure, for the command to show
                log.exception("job %s failed", name)
                return answer(500, {"error": f"{exc.__class__.__name__}: {exc}"})
        return answer(200, {"job": name, "report": report})

    @app.route("/dev/ingest-email", methods=["POST"], content_types=["message/rfc822"])
    def dev_ingest_email():
        from cli.email import as_mail, ingest_bytes

        try:
            return answer(200, {"message_id": ingest_bytes(as_mail(app.current_request.raw_body or b""), app)})
        except SystemExit as exc:   # the command's one-line error: not an email, say
            return answer(400, {"error": str(exc)})

    @app.route("/dev/smoke-email", methods=["POST"])
    def dev_smoke_email():
        """The email path of `firstreply smoke`: a mail from the support sender to SES's simulator,
        sent as replies are, through SES on the AWS stand-in."""
        from cli.smoke import send_smoke_mail

        try:
            return answer(200, send_smoke_mail())
        except Exception as exc:
            return answer(502, {"error": f"{exc.__class__.__name__}: {exc}"})

    @app.route("/dev/outbox", methods=["GET"])
    def dev_outbox():
        items, desk = outbox.messages(), outbox.desk_posts()
        accept = app.current_request.headers.get("accept", "")
        if "text/html" not in accept:
            return {"messages": items, "desk": desk}
        return Response(body=outbox_page(items, desk), status_code=200,
                        headers={"Content-Type": "text/html; charset=utf-8"})


def outbox_page(items: list[dict[str, Any]], desk: list[dict[str, Any]] = ()) -> str:
    import html

    rows = "".join(
        f'<article><header><b>{html.escape(m["channel"])}</b> → chat {html.escape(m["chat_id"])} '
        f'· {html.escape(m["language"])} · <time>{html.escape(m["sent_at"])}</time></header>'
        f'<div class="msg" dir="auto">{_shown(m)}</div></article>'
        for m in items) or "<p>Nothing sent yet. Post a Telegram update to /webhooks/telegram (see README).</p>"
    if desk:
        rows += ("<h2>Desk</h2><p>What agents see in the desk channel; answer a thread with "
                 "<code>firstreply post slack --thread THREAD --text '…'</code>.</p>" + "".join(
            f'<article><header>{html.escape(d["surface"])} · {html.escape(d["what"])} · thread '
            f'<code>{html.escape(d["thread"])}</code> · <time>{html.escape(d["at"])}</time></header>'
            f'<div class="msg" dir="auto">{html.escape(d["text"])}</div></article>' for d in desk))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5"><title>firstreply · local outbox</title>
<style>body{{font:15px system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}}
article{{border:1px solid #ccd;border-radius:8px;margin:1rem 0;padding:.75rem 1rem}}
header{{color:#555;font-size:13px;margin-bottom:.5rem}}.msg{{white-space:pre-wrap}}</style></head>
<body><h1>Local outbox</h1><p>What customers would have received (newest first; refreshes every
5 seconds). JSON: <code>curl http://127.0.0.1:PORT/dev/outbox</code>.</p>{rows}</body></html>"""


def _shown(message: dict[str, Any]) -> str:
    """Telegram's HTML as it renders; every other channel as its plain text (Slack's fallback,
    email's text part)."""
    import html

    if message.get("parse_mode") == "HTML":
        return _telegram_html(message["text"])
    subject = message.get("details", {}).get("subject")
    head = f"<b>Subject: Re: {html.escape(subject)}</b>\n" if subject else ""
    return head + html.escape(message.get("fallback") or message["text"])


def _telegram_html(text: str) -> str:
    """Telegram's HTML subset is already safe markup (we autoescape what customers wrote); allow
    only its tags through and escape anything else."""
    import html

    allowed = re.compile(r"</?(b|i|u|s|code|pre|a)(\s+href=\"[^\"<>]*\")?>")
    out, last = [], 0
    for m in allowed.finditer(text):
        out.append(html.escape(html.unescape(text[last:m.start()])))
        out.append(m.group(0))
        last = m.end()
    out.append(html.escape(html.unescape(text[last:])))
    return "".join(out)


# -- the command -------------------------------------------------------------------------------------
class ReadableFormatter(logging.Formatter):
    """One line per record for a person at a terminal, with the structured fields (conversation_id,
    outcome, …) that the JSON logs in AWS carry."""

    _standard = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in self._standard)
        return f"{line} [{fields}]" if fields else line


def configure_text_logging() -> None:
    os.environ["FIRSTREPLY_LOG_FORMAT"] = "text"
    handler = logging.StreamHandler()
    handler.setFormatter(ReadableFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for noisy in ("botocore", "urllib3", "werkzeug", "httpx", "telegram"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def dev_defaults(port: int = 8000) -> None:
    """What `firstreply dev` sets when the environment does not: the dev secrets (webhooks stay
    verified locally, survey and unsubscribe links signed), the outbox, the sender and the links'
    base URL. Also for a command run against the dev server's AWS stand-in."""
    from cli.channels import DEV_SECRETS

    for name, value in DEV_SECRETS.items():
        if not os.environ.get(name):
            os.environ[name] = value
    os.environ["FIRSTREPLY_OUTBOX"] = "1"     # channels without a token reply to the outbox
    # Email replies go through SES on the stand-in, from an address the dev server verifies there.
    if not os.environ.get("SUPPORT_EMAIL_FROM"):
        os.environ["SUPPORT_EMAIL_FROM"] = "Support <support@example.com>"
    os.environ.setdefault("FIRSTREPLY_PUBLIC_URL", f"http://127.0.0.1:{port}")   # links in emails


def bind_server(app, port: int, host: str = "127.0.0.1"):
    from chalice.config import Config
    from chalice.local import create_local_server

    try:
        return create_local_server(app, Config.create(chalice_stage="dev", app_name="firstreply"),
                                   host, port)
    except OSError as exc:
        raise DevError(f"cannot listen on {host}:{port}: {exc.strerror} "
                       f"(is another server running? try --port)") from None


def run(port: int, config_path: str) -> None:
    configure_text_logging()
    from functions.settings import SettingsError, load_settings_file

    try:
        settings = load_settings_file(config_path)
    except SettingsError as exc:
        raise DevError(f"bad settings file: {exc}") from None

    dev_defaults(port)
    # The admin page needs a token; without one configured, a fresh one per run, printed below.
    admin_token_generated = not os.environ.get("FIRSTREPLY_ADMIN_TOKEN")
    if admin_token_generated:
        import secrets

        os.environ["FIRSTREPLY_ADMIN_TOKEN"] = secrets.token_urlsafe(18)
    local_aws_environment(stand_in=True)

    # The app module reads its environment at import, so it comes after the settings above.
    import app as app_module

    app = app_module.app
    register_dev_routes(app)
    server = bind_server(app, port)          # fail on a busy port before starting anything else

    moto = None
    if not os.environ.get("AWS_ENDPOINT_URL"):
        moto = start_moto()
    try:
        prepare_resources(settings, seeded_by=f"firstreply dev ({config_path})")
    except Exception as exc:
        if moto:
            moto.stop()
        raise DevError(f"cannot prepare the AWS stand-in at {os.environ['AWS_ENDPOINT_URL']}: {exc}") from None

    stop = threading.Event()
    from integrations import sqs

    threads = [threading.Thread(target=QueuePump(app).run, args=(stop,), name="worker", daemon=True),
               # delayed acknowledgements: the same worker function, fed by the delay queue
               threading.Thread(target=QueuePump(app, queue=sqs.DELAY_QUEUE_NAME).run, args=(stop,),
                                name="delayed-acks", daemon=True),
               threading.Thread(target=run_schedules, args=(app, stop), name="schedules", daemon=True),
               threading.Thread(target=server.serve_forever, name="http", daemon=True)]
    for thread in threads:
        thread.start()

    outbox = f"the local outbox (http://127.0.0.1:{port}/dev/outbox)"
    from integrations.x import credentials

    targets = {
        "Telegram": os.environ.get("TELEGRAM_API_URL", "api.telegram.org")
        if os.environ.get("TELEGRAM_BOT_TOKEN") else outbox,
        "Slack": os.environ.get("SLACK_API_URL", "slack.com") if os.environ.get("SLACK_BOT_TOKEN") else outbox,
        "X": os.environ.get("X_API_URL", "api.twitter.com") if credentials() else outbox,
        "WhatsApp": os.environ.get("META_API_URL", "graph.facebook.com")
        if os.environ.get("WHATSAPP_TOKEN") and os.environ.get("WHATSAPP_PHONE_NUMBER_ID") else outbox,
        "Messenger/IG": os.environ.get("META_API_URL", "graph.facebook.com")
        if os.environ.get("META_PAGE_TOKEN") else outbox,
        "Email": f"SES on the AWS stand-in, from {os.environ['SUPPORT_EMAIL_FROM']}",
    }
    here = f" --url http://127.0.0.1:{port}" if port != 8000 else ""   # commands of a second terminal
    print(f"firstreply dev: http://127.0.0.1:{port}\n"
          f"  AWS stand-in:   {os.environ['AWS_ENDPOINT_URL']}{' (embedded moto)' if moto else ''}\n"
          f"  settings:       {config_path} ({settings.business_name}, {settings.timezone})\n"
          + "".join(f"  {name + ':':<15} replies to {where}\n" for name, where in targets.items())
          + f"  try:            .venv/bin/firstreply post telegram tests/fixtures/telegram/text_private.json "
          f"--url http://127.0.0.1:{port}\n"
          f"  email:          .venv/bin/firstreply ingest-email tests/fixtures/email/gmail.eml{here}\n"
          f"  jobs:           .venv/bin/firstreply run-job surveys{here} (runs in this server)\n"
          f"  admin:          http://127.0.0.1:{port}/admin  token: "
          + (f"{os.environ['FIRSTREPLY_ADMIN_TOKEN']} (generated; set FIRSTREPLY_ADMIN_TOKEN to choose one)\n"
             if admin_token_generated else "$FIRSTREPLY_ADMIN_TOKEN\n")
          + "Ctrl-C stops.", flush=True)

    def _terminate(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nfirstreply dev: stopping", flush=True)
    finally:
        stop.set()
        server.shutdown()
        server.server.server_close()
        if moto:
            moto.stop()
    print("firstreply dev: stopped", flush=True)
