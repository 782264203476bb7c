"""firstreply against the floor and its peers, interleaved, as medians of per-round ratios.

Cold: each round starts a fresh interpreter per contender, in a shuffled order, that imports what
its Lambda would and answers one signed webhook (200): verify, store once, enqueue. Timed from the
start of the process to the 200 (not to the interpreter's exit, which Lambda does not wait for).
  floor   boto3 only: hmac check, a conditional PutItem, SendMessage (the least that is safe)
  ours    `import app` and `app.app(event)`: the Telegram, Slack and X routes
  floor-email  boto3 only, for one inbound mail (SES stored it in S3 and notified by SNS): the
          topic checked, GetObject, the headers it needs parsed by the standard library's `email`
          (policy default, headers only), a conditional PutItem, SendMessage
  ours-email   `import app` and `app.email_inbound(event)`, the email function's Lambda handler, on
          the same SNS event (tests/fixtures/email/gmail.eml, shaped as `cli/email.py` shapes it)
  bolt    slack-bolt's App behind its Chalice adapter (a Slack Events request)
  ptb     python-telegram-bot's Application (an Update, put and enqueued from a handler)
AWS answers every contender the same canned reply at botocore's last step, so the figures are the
code's own, not a network's; the email pair's GetObject answers both with the fixture's raw bytes
(a StreamingBody), and their clock stops at the handler's return, the mail enqueued. The ratio of
each round is ours/contender (ours-email/floor-email for mail); the median over rounds is
printed (the machine is shared: ratios of neighbours in time cancel most of its noise).

Warm: N Telegram messages through the worker on moto and the Bot API stand-in, ours and a floor
worker (boto3 + httpx: read the event, send, write the message), alternating message by message;
"own" is the time outside AWS calls and the chat API's HTTP. Every 25 messages the table is made
anew (moto slows as it grows): the first message after that is printed apart, as it pays for new
clients and the settings' read, which a warm container does not per message.

The peers' packages install into bench/.venv-peers on first use, never into the project's .venv.

    .venv/bin/python bench/compare.py [--rounds 25] [--warm 300] [--tree PATH] [--bytecode]
(--tree measures another checkout of firstreply as "ours", e.g. the commit before a change;
--bytecode adds the package's cold path staged as Lambda unpacks the zip, with its unchecked-hash
bytecode and without any, compiled by this Python: the gain is the version's, not the runtime's.)
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = BENCH / ".venv-peers"
PEER_PACKAGES = ["slack-bolt==1.23.0", "chalice==1.32.0", "python-telegram-bot==22.8", "boto3"]
SECRET, SIGNING, TOKEN, X_SECRET = "bench-secret", "bench-signing-secret", "1:BENCH", "bench-x-secret"
MAIL = ROOT / "tests" / "fixtures" / "email" / "gmail.eml"
MAIL_BUCKET, MAIL_TOPIC = "firstreply-inbound-mail", "firstreply-inbound-mail"

CANNED = """
import botocore.client
botocore.client.BaseClient._make_api_call = lambda self, op, params: {"MessageId": "1", "QueueUrl": "q"}
"""
FLOOR = CANNED + """
import hmac, json, os, boto3
def handler(event):
    if not hmac.compare_digest(event["headers"].get("X-Telegram-Bot-Api-Secret-Token", ""), os.environ["TELEGRAM_WEBHOOK_SECRET"]):
        return {"statusCode": 401}
    update = json.loads(event["body"])
    boto3.client("dynamodb").put_item(TableName="t", Item={"pk": {"S": f"EVENT#telegram#{update['update_id']}"},
        "sk": {"S": "EVENT"}, "body": {"S": event["body"]}}, ConditionExpression="attribute_not_exists(pk)")
    boto3.client("sqs").send_message(QueueUrl=os.environ["FIRSTREPLY_QUEUE_URL"], MessageBody=json.dumps(
        {"event_id": update["update_id"]}), MessageGroupId="g", MessageDeduplicationId=str(update["update_id"]))
    return {"statusCode": 200}
assert handler(EVENT)["statusCode"] == 200
"""
# The email pair: the fixture's raw mail is `MAIL` (prepended by `cold`); GetObject hands it over
# as S3 does, every other call gets the canned reply; the operations are kept to check the enqueue.
CANNED_MAIL = CANNED + """
import io
from botocore.response import StreamingBody
CALLS = []
def _mail_reply(self, op, params, _canned=botocore.client.BaseClient._make_api_call):
    CALLS.append(op)
    if op == "GetObject":
        return {"Body": StreamingBody(io.BytesIO(MAIL), len(MAIL))}
    return _canned(self, op, params)
botocore.client.BaseClient._make_api_call = _mail_reply
"""
FLOOR_EMAIL = CANNED_MAIL + """
import json, os, boto3
from email import policy
from email.parser import BytesParser
def handler(event):
    record = event["Records"][0]["Sns"]
    if not record["TopicArn"].endswith(":" + os.environ["FIRSTREPLY_MAIL_TOPIC"]):
        return "ignored"
    notification = json.loads(record["Message"])
    action, mail_id = notification["receipt"]["action"], notification["mail"]["messageId"]
    if notification["notificationType"] != "Received" or action["bucketName"] != os.environ["FIRSTREPLY_MAIL_BUCKET"]:
        return "ignored"
    raw = boto3.client("s3").get_object(Bucket=action["bucketName"], Key=action["objectKey"])["Body"].read()
    headers = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    sender = headers["From"].addresses[0].addr_spec.lower()
    boto3.client("dynamodb").put_item(TableName="t", Item={"pk": {"S": f"EVENT#email#{mail_id}"}, "sk": {"S": "EVENT"},
        "from": {"S": sender}, "subject": {"S": str(headers["Subject"])}, "message_id": {"S": str(headers["Message-ID"])},
        "s3_key": {"S": action["objectKey"]}}, ConditionExpression="attribute_not_exists(pk)")
    boto3.client("sqs").send_message(QueueUrl=os.environ["FIRSTREPLY_QUEUE_URL"], MessageBody=json.dumps(
        {"event_id": mail_id}), MessageGroupId="email-" + sender, MessageDeduplicationId=mail_id)
    return "accepted"
assert handler(EVENT) == "accepted" and CALLS[-1] == "SendMessage", CALLS
"""
OURS_EMAIL = CANNED_MAIL + """
import app
app.email_inbound(EVENT, None)
assert CALLS[-2:] == ["PutItem", "SendMessage"], CALLS
"""
OURS = CANNED + """
import app
assert app.app(EVENT, None)["statusCode"] == 200
"""
BOLT = CANNED + """
import boto3, json, os
from chalice import Chalice
from slack_bolt import App
from slack_bolt.adapter.aws_lambda.chalice_handler import ChaliceSlackRequestHandler
from slack_bolt.authorization import AuthorizeResult
def authorize(enterprise_id, team_id, user_id):   # what auth.test would say, without the network
    return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-bench", bot_id="B1",
                           bot_user_id="UBOT")
bolt = App(signing_secret=os.environ["SLACK_SIGNING_SECRET"], authorize=authorize, process_before_response=True)
@bolt.event("message")
def store(body, ack):
    boto3.client("dynamodb").put_item(TableName="t", Item={"pk": {"S": "EVENT#slack#" + body["event_id"]},
        "sk": {"S": "EVENT"}}, ConditionExpression="attribute_not_exists(pk)")
    boto3.client("sqs").send_message(QueueUrl=os.environ["FIRSTREPLY_QUEUE_URL"], MessageBody=body["event_id"],
        MessageGroupId="g", MessageDeduplicationId=body["event_id"])
app = Chalice(app_name="bolt")   # slack-bolt's Chalice sample: one route hands the request to bolt
handler = ChaliceSlackRequestHandler(app=bolt, chalice=app)
@app.route("/webhooks/slack/events", methods=["POST"], content_types=["application/json"])
def events():
    return handler.handle(app.current_request)
from types import SimpleNamespace
response = app(EVENT, SimpleNamespace(function_name="bolt", aws_request_id="cold"))   # what Lambda passes
assert response["statusCode"] == 200, response
"""
PTB = CANNED + """
import asyncio, boto3, hmac, json, os
from telegram import Update
from telegram.ext import Application, MessageHandler, filters
async def store(update, context):
    boto3.client("dynamodb").put_item(TableName="t", Item={"pk": {"S": f"EVENT#telegram#{update.update_id}"},
        "sk": {"S": "EVENT"}}, ConditionExpression="attribute_not_exists(pk)")
    boto3.client("sqs").send_message(QueueUrl=os.environ["FIRSTREPLY_QUEUE_URL"], MessageBody=str(update.update_id),
        MessageGroupId="g", MessageDeduplicationId=str(update.update_id))
async def main():
    assert hmac.compare_digest(EVENT["headers"]["X-Telegram-Bot-Api-Secret-Token"], os.environ["TELEGRAM_WEBHOOK_SECRET"])
    application = Application.builder().token(os.environ["TELEGRAM_BOT_TOKEN"]).updater(None).build()
    application.add_handler(MessageHandler(filters.ALL, store))
    # what initialize() leaves behind (it asks getMe first: the network, which no contender uses here)
    application.bot._initialized = application._initialized = True
    await application.process_update(Update.de_json(json.loads(EVENT["body"]), application.bot))
    return 200
assert asyncio.run(main()) == 200
"""


def event(path: str, body: bytes, headers: dict) -> dict:
    return {"resource": path, "path": path, "httpMethod": "POST", "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()}, "queryStringParameters": None,
            "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
            "requestContext": {"resourcePath": path, "httpMethod": "POST", "path": "/api" + path,
                               "stage": "api", "requestId": "cold"},
            "body": body.decode(), "isBase64Encoded": False}


def requests_() -> dict[str, dict]:
    import base64
    import hashlib
    import hmac

    fixtures = ROOT / "tests" / "fixtures"
    telegram = (fixtures / "telegram" / "text_private.json").read_bytes()
    slack_payload = json.loads((fixtures / "slack" / "message_im.json").read_text(encoding="utf-8"))
    slack = json.dumps(slack_payload).encode()
    stamp = str(int(time.time()))
    slack_sig = "v0=" + hmac.new(SIGNING.encode(), f"v0:{stamp}:".encode() + slack, hashlib.sha256).hexdigest()
    x = (fixtures / "x" / "aaa_dm.json").read_bytes()
    x_sig = "sha256=" + base64.b64encode(hmac.new(X_SECRET.encode(), x, hashlib.sha256).digest()).decode()
    json_type = {"Content-Type": "application/json"}
    return {
        "email": mail_event(MAIL.read_bytes()),
        "telegram": event("/webhooks/telegram", telegram, {**json_type, "X-Telegram-Bot-Api-Secret-Token": SECRET}),
        "slack": event("/webhooks/slack/events", slack, {**json_type, "X-Slack-Request-Timestamp": stamp,
                                                         "X-Slack-Signature": slack_sig}),
        "x": event("/webhooks/x", x, {**json_type, "x-twitter-webhooks-signature": x_sig}),
    }


def mail_event(raw: bytes) -> dict:
    """The SNS event SES's receipt rule publishes for a mail it stored in S3 (the shape `firstreply
    ingest-email` and the tests use)."""
    sys.path.insert(0, str(ROOT))
    try:
        from datetime import datetime, timezone

        from cli.email import ses_notification, sns_event
    finally:
        sys.path.remove(str(ROOT))
    topic = f"arn:aws:sns:us-east-1:123456789012:{MAIL_TOPIC}"
    notification = ses_notification(raw, MAIL_BUCKET, "inbound/bench", topic, "support@acme.example",
                                    datetime.now(timezone.utc))
    return sns_event(notification, topic)


def peers_python() -> str:
    python = PEERS / "bin" / "python"
    if not (PEERS / ".installed").exists():
        print(f"installing the peers into {PEERS} (once) …", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        *PEER_PACKAGES], check=True)
        (PEERS / ".installed").touch()
    return str(python)


def run_once(python: str, code: str, request: dict, cwd: Path, extra: dict | None = None) -> float:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
           "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SIGNING,
           "X_CONSUMER_SECRET": X_SECRET, "FIRSTREPLY_QUEUE_URL": "https://sqs.invalid/1/firstreply-work.fifo",
           "PTB_TIMEDELTA": "1", "FIRSTREPLY_MAIL_BUCKET": MAIL_BUCKET, "FIRSTREPLY_MAIL_TOPIC": MAIL_TOPIC}
    for variable in ("FIRSTREPLY_LOG_FORMAT", "AWS_ENDPOINT_URL", "PYTHONDONTWRITEBYTECODE"):
        env.pop(variable, None)   # bytecode as the shipped package has it; JSON logs as in Lambda
    env.update(extra or {})
    # The clock stops at the 200, read by the contender on the machine's monotonic clock (one for
    # every process): what a cold start costs Lambda, which keeps the interpreter afterwards. The
    # interpreter's exit, which tears down every module loaded (more for a bigger app), is not paid.
    script = (f"EVENT = {json.dumps(request)!r}\nimport json as _j; EVENT = _j.loads(EVENT)\n{code}\n"
              f"import time as _t\nprint('ANSWERED', _t.monotonic_ns())")
    start = time.monotonic_ns()
    done = subprocess.run([python, "-c", script], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"a contender failed:\n{done.stderr[-2000:]}")
    answered = next(int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("ANSWERED "))
    return (answered - start) / 1e9


def staged_package(tree: Path, into: Path, bytecode: bool) -> Path:
    """What the zip puts at /var/task for a webhook's cold path: the code, the settings and
    Chalice (boto3 is the runtime's, with its bytecode), with the package's unchecked-hash
    bytecode or none (as the zip was before: every cold start compiles these)."""
    import shutil

    import chalice

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("app.py", "firstreply.yaml"):
        shutil.copy(tree / name, into / name)
    for folder in ("functions", "integrations", "templates"):
        shutil.copytree(tree / folder, into / folder, ignore=ignore)
    shutil.copytree(Path(chalice.__file__).parent, into / "chalice", ignore=ignore)
    if bytecode:
        subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
                        str(into)], check=True)
    return into


def cold(rounds: int, tree: Path, bytecode: bool = False) -> None:
    import tempfile

    peers = peers_python()
    here = sys.executable
    staging = Path(tempfile.mkdtemp(prefix="firstreply-bench-"))
    if bytecode:   # the zip with and without its bytecode, as Lambda unpacks it
        shipped = staged_package(tree, Path(tempfile.mkdtemp(dir=staging)), bytecode=True)
        source = staged_package(tree, Path(tempfile.mkdtemp(dir=staging)), bytecode=False)

    mailed = f"MAIL = {MAIL.read_bytes()!r}\n"   # what GetObject answers the email pair

    def contenders() -> dict[str, tuple]:
        reqs = requests_()   # signed anew each round: Slack's signature is good for five minutes
        found = {
            "floor": (here, FLOOR, reqs["telegram"], BENCH),
            "ours-telegram": (here, OURS, reqs["telegram"], tree),
            "ours-slack": (here, OURS, reqs["slack"], tree),
            "ours-x": (here, OURS, reqs["x"], tree),
            "bolt": (peers, BOLT, reqs["slack"], BENCH),
            "ptb": (peers, PTB, reqs["telegram"], BENCH),
            "floor-email": (here, mailed + FLOOR_EMAIL, reqs["email"], BENCH),
            "ours-email": (here, mailed + OURS_EMAIL, reqs["email"], tree),
        }
        if bytecode:
            for channel in ("telegram", "slack"):
                found[f"zip-{channel}-pyc"] = (here, OURS, reqs[channel], shipped)
                found[f"zip-{channel}-nopyc"] = (here, OURS, reqs[channel], source, {"PYTHONDONTWRITEBYTECODE": "1"})
        return found

    for spec in contenders().values():   # file cache and bytecode caches warm, like a shipped package
        run_once(*spec)
    times: dict[str, list[float]] = {name: [] for name in contenders()}
    for _ in range(rounds):
        specs = contenders()
        order = list(specs)
        random.shuffle(order)
        for name in order:
            times[name].append(run_once(*specs[name]))

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(times[a], times[b]))

    print(f"cold path, {rounds} interleaved rounds (fresh interpreter → 200; medians, ms):")
    for name, values in times.items():
        print(f"  {name:<14} {statistics.median(values) * 1000:7.1f}")
    ours = [f"ours-{c}" for c in ("telegram", "slack", "x")]
    print("  per channel: " + "  ".join(f"{c}/floor={ratio(c, 'floor'):.2f}x" for c in ours)
          + f"  ours-email/floor-email={ratio('ours-email', 'floor-email'):.2f}x")
    print(f"cold: ours/floor={ratio('ours-telegram', 'floor'):.2f}x ours/bolt={ratio('ours-slack', 'bolt'):.2f}x "
          f"ours/ptb={ratio('ours-telegram', 'ptb'):.2f}x")
    if bytecode:
        for channel in ("telegram", "slack"):
            gain = statistics.median(a - b for a, b in zip(times[f"zip-{channel}-nopyc"], times[f"zip-{channel}-pyc"]))
            print(f"bytecode ({channel}): without/with={ratio(f'zip-{channel}-nopyc', f'zip-{channel}-pyc'):.2f}x, "
                  f"{gain * 1000:.0f} ms saved per cold start (median of per-round differences)")
    import shutil

    shutil.rmtree(staging, ignore_errors=True)


def warm(count: int, tree: Path, client_side_is_own: bool = False) -> None:
    """Ours and the floor worker, alternating per message, on moto and the Bot API stand-in.
    `client_side_is_own`: botocore's work on each call (building the request, reading the answer)
    counts as the worker's own time, only moto's answering it as AWS's."""
    sys.path[:0] = [str(tree), str(tree / "tests"), str(BENCH)]
    os.environ.update({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
                       "FIRSTREPLY_LOG_FORMAT": "text", "TELEGRAM_WEBHOOK_SECRET": SECRET,
                       "TELEGRAM_BOT_TOKEN": TOKEN, "PTB_TIMEDELTA": "1"})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import logging

    import httpx

    logging.basicConfig(level=logging.WARNING)
    from cli.standins.telegram import TelegramStandIn
    from integrations import aws, dynamodb

    from local_aws import fresh_app, percentile, time_aws_calls

    outside = time_aws_calls(client_side_is_own)   # seconds in AWS, and below in the chat API's HTTP
    send = httpx.AsyncClient.send

    async def timed_send(self, *args, **kwargs):   # the Bot's calls (desk copies, surveys)
        start = time.perf_counter()
        try:
            return await send(self, *args, **kwargs)
        finally:
            outside[0] += time.perf_counter() - start

    httpx.AsyncClient.send = timed_send
    sync_send = httpx.Client.send

    def timed_sync_send(self, *args, **kwargs):   # ours (Telegram's sendMessage) and the floor's
        start = time.perf_counter()
        try:
            return sync_send(self, *args, **kwargs)
        finally:
            outside[0] += time.perf_counter() - start

    httpx.Client.send = timed_sync_send
    stand_in = TelegramStandIn().start()
    os.environ["TELEGRAM_API_URL"] = stand_in.url
    template = json.loads((tree / "tests/fixtures/telegram/text_private.json").read_text())

    floor_http = httpx.Client()

    def floor_worker(body: dict) -> None:
        """The least a worker does: read the event, send a fixed text, store the message."""
        ddb = aws.client("dynamodb")
        item = ddb.get_item(TableName=dynamodb.TABLE_NAME, Key={"pk": {"S": f"EVENT#telegram#{body['event_id']}"},
                                                                "sk": {"S": "EVENT"}}, ConsistentRead=True)["Item"]
        inbound = json.loads(json.dumps(dynamodb.from_item(item)["inbound"]))
        sent = floor_http.post(f"{stand_in.url}/bot{TOKEN}/sendMessage",
                               json={"chat_id": inbound["chat_id"], "text": "Thanks, we got your message."}).json()
        ddb.put_item(TableName=dynamodb.TABLE_NAME, Item={"pk": {"S": f"CONV#{inbound['chat_id']}"},
                                                          "sk": {"S": f"MSG#{sent['result']['message_id']}"}})

    own: dict[str, list[float]] = {"ours": [], "floor": []}
    position: dict[str, list[int]] = {"ours": [], "floor": []}   # the message's place in its batch
    warmup, batch, done = 20, 25, 0
    while done < count + warmup:
        with fresh_app(tree / "firstreply.yaml") as (client, pump):
            for i in range(done, min(done + batch, count + warmup)):
                for who in random.sample(["ours", "floor"], 2):
                    update = json.loads(json.dumps(template))
                    update["update_id"] = 900000000 + 2 * i + (who == "floor")
                    update["message"]["from"]["id"] = update["message"]["chat"]["id"] = 5000000 + 2 * i + (who == "floor")
                    response = client.http.post("/webhooks/telegram", body=json.dumps(update).encode(), headers={
                        "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET})
                    assert response.status_code == 200
                    start, outside[0] = time.perf_counter(), 0.0
                    if who == "ours":
                        assert pump.pump_once() == 1
                    else:
                        messages = pump.sqs.receive_message(QueueUrl=pump.url, MaxNumberOfMessages=1)["Messages"]
                        floor_worker(json.loads(messages[0]["Body"]))
                        pump.sqs.delete_message(QueueUrl=pump.url, ReceiptHandle=messages[0]["ReceiptHandle"])
                    elapsed = time.perf_counter() - start - outside[0]
                    if i >= warmup:
                        own[who].append(elapsed * 1000)
                        position[who].append(i % batch)
                done += 1
    stand_in.stop()
    if os.environ.get("BENCH_SLOWEST"):
        for who in own:
            slowest = sorted(zip(own[who], position[who]), reverse=True)[:8]
            print(who, "slowest (ms, place in batch):", [(round(t, 1), p) for t, p in slowest])
    # Each batch starts on a new table with new clients and an empty settings cache: its first
    # message pays what a container pays once (and the settings' re-read, every 30 s), not what a
    # warm message costs. Both figures are printed; the ratio line is the steady state's.
    steady = {who: [t for t, place in zip(values, position[who]) if place] for who, values in own.items()}
    print(f"warm worker own time, {count} messages each, alternating (ms):")
    for who, values in own.items():
        print(f"  {who:<6} p50 {statistics.median(values):6.1f}   p99 {percentile(values, 99):6.1f}   "
              f"without each batch's first message: p50 {statistics.median(steady[who]):6.1f}   "
              f"p99 {percentile(steady[who], 99):6.1f}")
    every = percentile(own["ours"], 99) / percentile(own["floor"], 99)
    ratios_p50 = statistics.median(steady["ours"]) / statistics.median(steady["floor"])
    ratios_p99 = percentile(steady["ours"], 99) / percentile(steady["floor"], 99)
    print(f"warm own p50/p99: ours/floor={ratios_p50:.2f}x/{ratios_p99:.2f}x (p99 with the batch starts: {every:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--warm", type=int, default=300, help="messages per worker (0: skip)")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the firstreply checkout to measure as ours")
    parser.add_argument("--only", choices=("cold", "warm"))
    parser.add_argument("--client-side-own", action="store_true",
                        help="warm: botocore's work per call counts as own time (only moto's answer as AWS's)")
    parser.add_argument("--bytecode", action="store_true",
                        help="also the package's cold path with and without its bytecode")
    args = parser.parse_args()
    if args.only != "warm":
        cold(args.rounds, args.tree.resolve(), args.bytecode)
    if args.warm and args.only != "cold":
        warm(args.warm, args.tree.resolve(), args.client_side_own)


if __name__ == "__main__":
    main()
