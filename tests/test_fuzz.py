"""Fuzzing every route with signed but mutated bodies (fixed seed, so every run is the same run).

What each route must hold, whatever a verified sender puts in the body or the headers:
- never a 5xx (a channel redelivers those for days; Telegram and X disable the webhook),
- nothing stored and nothing queued when it answers 4xx,
- nothing it accepted dead-lettered by the worker because of the input alone.

Mutations: deep nesting, wrong types where objects are expected, huge and odd numbers,
out-of-range dates and timestamps, lone surrogates and control characters, non-UTF-8 bytes,
truncation, odd header values (a timestamp of "¹²", a non-ASCII signature).
"""
from __future__ import annotations

import copy
import json
import random
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest

from conftest import FIXTURES, load_fixture, x_headers

SEED = 21
PER_ROUTE = 150
MAILS = int(__import__("os").environ.get("FUZZ_MAILS", "30"))   # each is parsed, stored and answered: the slow route

ODD_VALUES = [
    None, True, False, 0, -1, 1.5, float("inf"), float("-inf"), float("nan"), 10 ** 30, -(10 ** 30),
    2 ** 63, 2 ** 64 + 1, 1e308, -1e308, 10 ** 15, 253402300800, -62135596801, 4000,
    "", " ", "²", "¹²", "⑤", "٣", "9" * 5000, "x" * 20_000, "\x00", "\ud800", "\u202e", "<!channel>",
    "9999-99-99T99:99:99Z", "0000-00-00", "-1", "1e999", "NaN", "csat:C:²", "nps::", "ü" * 3000,
    [], {}, [[[]]], {"a": {"b": {}}}, ["x"] * 50, {"": None},
]


def deep(depth: int):
    value: object = "bottom"
    for n in range(depth):
        value = [value] if n % 2 else {"d": value}
    return value


def paths(value, prefix=()):
    """Every position in a JSON document, as key paths."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, prefix + (index,))


def replace_at(document, path, new):
    if not path:
        return new
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = new
    return document


def mutate_document(rng: random.Random, document):
    """One to three positions replaced by odd values, wrong types or deep nesting."""
    document = copy.deepcopy(document)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(list(paths(document)))
        roll = rng.random()
        if roll < 0.08:
            new = deep(rng.choice((50, 200, 400)))
        else:
            new = copy.deepcopy(rng.choice(ODD_VALUES))
        document = replace_at(document, path, new)
    return document


def to_bytes(rng: random.Random, document) -> bytes:
    """The document as JSON, sometimes damaged as bytes: non-UTF-8, truncated, nested past any
    parser's recursion limit."""
    body = json.dumps(document, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    roll = rng.random()
    if roll < 0.06:
        at = rng.randrange(len(body) + 1)
        body = body[:at] + rng.choice((b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80\x80")) + body[at:]
    elif roll < 0.09:
        body = body[: rng.randrange(len(body) + 1)]
    elif roll < 0.11:
        depth = rng.choice((1000, 100_000))
        body = b"[" * depth + b"]" * depth
    elif roll < 0.12:
        body = b'{"a": ' * 50_000 + b"1" + b"}" * 50_000
    return body


ODD_HEADER_VALUES = ["¹²", "１２３", "sha256=ü", "v0=ß", "", " ", "0", "-1", "99999999999999999999",
                     "1e3", "\x00", "x" * 5000, "２"]


def slack_headers(body: bytes) -> dict:
    """Signed as Slack signs, over the raw bytes (slack-sdk's own helper decodes the body as UTF-8
    first, so it cannot sign the non-UTF-8 bodies this test sends)."""
    import hashlib
    import hmac
    import os
    import time

    timestamp = str(int(time.time()))
    digest = hmac.new(os.environ["SLACK_SIGNING_SECRET"].encode(), b"v0:" + timestamp.encode() + b":" + body,
                      hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"}


def item_count() -> int:
    """Items in the table, read from moto's memory (the code under test never scans)."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends["123456789012"]["us-east-1"].tables["firstreply-test"]
    return sum(1 for _ in table.all_items())


def dead_letters(system) -> int:
    from integrations import sqs

    return system.queue_depth(sqs.queue_url(sqs.DEAD_LETTER_QUEUE_NAME))


class Run:
    """Posts the mutated requests of one route and checks each answer."""

    def __init__(self, system):
        self.system = system
        self.failures = system.worker_failures()
        self.problems: list[str] = []
        self.statuses: dict[int, int] = {}

    def check(self, label: str, send):
        before = (item_count(), self.system.queue_depth(self.system.pump.url))
        response = send()
        status = response.status_code
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 500:
            self.problems.append(f"{label}: {status} {response.body[:200]!r}")
        elif status >= 400:
            after = (item_count(), self.system.queue_depth(self.system.pump.url))
            if after != before:
                self.problems.append(f"{label}: {status} but stored/queued {before} -> {after}")

    def finish(self):
        self.system.pump.backoff = lambda receives: 0   # retries at once: a crash loop shows now
        for _ in range(8):
            self.system.pump.drain()
        assert self.problems == [], "\n".join(self.problems[:20])
        assert self.failures == [], "\n".join(self.failures[:20])
        assert dead_letters(self.system) == 0
        return self.statuses


def odd_headers(rng: random.Random, headers: dict) -> dict:
    if rng.random() < 0.15:
        name = rng.choice(list(headers))
        headers = {**headers, name: rng.choice(ODD_HEADER_VALUES)}
    return headers


def test_telegram(system):
    rng, run = random.Random(SEED), Run(system)
    seeds = [load_fixture("telegram", name) for name in ("text_private", "callback_query", "photo_caption",
                                                         "group_text", "document")]
    for n in range(PER_ROUTE):
        document = mutate_document(rng, rng.choice(seeds))
        if isinstance(document, dict):
            document["update_id"] = 700_000_000 + n if rng.random() < 0.9 else document.get("update_id")
        body = to_bytes(rng, document)
        headers = odd_headers(rng, {"X-Telegram-Bot-Api-Secret-Token": "s3cr3t-token_ABC"})
        run.check(f"telegram #{n}", lambda: system.post_update(None, secret=None, raw=body, headers=headers))
    run.finish()


def test_slack_events(system):
    rng, run = random.Random(SEED + 1), Run(system)
    seeds = [load_fixture("slack", name) for name in ("message_im", "app_mention_thread", "app_mention_top",
                                                      "url_verification", "message_changed")]
    for n in range(PER_ROUTE):
        document = mutate_document(rng, rng.choice(seeds))
        if isinstance(document, dict) and rng.random() < 0.9:
            document["event_id"] = f"EvFUZZ{n}"
        body = to_bytes(rng, document)
        headers = odd_headers(rng, slack_headers(body))
        run.check(f"slack #{n}", lambda: system.post_slack(None, raw=body, signed=False, headers=headers))
    run.finish()


def test_slack_interactions(system):
    rng, run = random.Random(SEED + 2), Run(system)
    seed = load_fixture("slack", "block_actions")
    for n in range(PER_ROUTE):
        document = mutate_document(rng, seed)
        payload = to_bytes(rng, document)
        roll = rng.random()
        if roll < 0.1:
            body = payload                                  # not form-encoded at all
        elif roll < 0.15:
            body = b"payload=" + payload + b"&payload=%FF"  # repeated, undecodable
        else:
            body = urlencode({"payload": payload}).encode()
        headers = odd_headers(rng, slack_headers(body))
        run.check(f"slack interaction #{n}", lambda: system.post_slack(
            None, path="/webhooks/slack/interactions", raw=body, signed=False, headers=headers))
    run.finish()


def test_x(system):
    rng, run = random.Random(SEED + 3), Run(system)
    seeds = [load_fixture("x", name) for name in ("aaa_dm", "xaa_dm_received", "xaa_dm_wrapped", "aaa_typing")]
    for n in range(PER_ROUTE):
        body = to_bytes(rng, mutate_document(rng, rng.choice(seeds)))
        headers = odd_headers(rng, {"Content-Type": "application/json", **x_headers(body)})
        run.check(f"x #{n}", lambda: system.client.http.post("/webhooks/x", headers=headers, body=body))
    for n, token in enumerate(["²", "x" * 5000, '{"a":1}', "\x00", "", "ü"]):
        run.check(f"x crc #{n}", lambda: system.client.http.get(
            "/webhooks/x?" + urlencode({"crc_token": token})))
    run.finish()


def _conversation(system) -> str:
    system.deliver(load_fixture("telegram", "text_private"))
    return system.store.chat("telegram", "1111111")["conversation_id"]


def _form_body(rng: random.Random, fields: dict) -> bytes:
    roll = rng.random()
    if roll < 0.2:
        return rng.choice((b"\xff\xfe", b"score=%FF%FE", b"score=" + b"9" * 5000, b"&&&==", b"%",
                           b"score=4&score=5&nps=" + "¹⁰".encode()))
    fields = {k: (rng.choice(ODD_VALUES) if rng.random() < 0.5 else v) for k, v in fields.items()}
    return urlencode({k: json.dumps(v) if not isinstance(v, str) else v for k, v in fields.items()},
                     encoding="utf-8", errors="surrogatepass").encode()


def test_survey_page(system):
    from functions import tokens

    rng, run = random.Random(SEED + 4), Run(system)
    system.use_settings(surveys={"enabled": True, "nps": True, "comment": True})
    cid = _conversation(system)
    token = tokens.make("survey", cid, datetime.now(timezone.utc), timedelta(days=14))
    kinds = ["application/x-www-form-urlencoded", "application/json", "text/plain"]
    for n in range(PER_ROUTE):
        body = _form_body(rng, {"score": "4", "nps": "9", "comment": "thanks"})
        headers = {"Content-Type": rng.choice(kinds)}
        if rng.random() < 0.3:
            query = urlencode({"score": rng.choice(ODD_VALUES)}, errors="surrogatepass")
            run.check(f"survey GET #{n}", lambda: system.client.http.get(f"/surveys/{token}?{query}"))
        run.check(f"survey POST #{n}", lambda: system.client.http.post(f"/surveys/{token}", headers=headers,
                                                                       body=body))
    run.finish()


def test_unsubscribe(system):
    from functions import tokens

    rng, run = random.Random(SEED + 5), Run(system)
    token = tokens.make("unsubscribe", "email#olena@example.com", datetime.now(timezone.utc), timedelta(days=30))
    odd_tokens = [token, token + "x", token[:-1], "²." + token, "x" * 5000, "%FF"]
    for n in range(PER_ROUTE):
        body = _form_body(rng, {"List-Unsubscribe": "One-Click"})
        chosen = rng.choice(odd_tokens)
        method = system.client.http.post if rng.random() < 0.7 else system.client.http.get
        run.check(f"unsubscribe #{n}", lambda: method(f"/unsubscribe/{chosen}", headers={
            "Content-Type": "application/x-www-form-urlencoded"}, body=body))
    run.finish()


ADMIN = {"Authorization": "Bearer admin-test-token", "Content-Type": "application/json"}


def test_admin_api(system):
    rng, run = random.Random(SEED + 6), Run(system)
    settings = system.client.http.get("/admin/api/settings", headers=ADMIN).json_body
    template = "ack.telegram.en"
    source = system.client.http.get(f"/admin/api/templates/{template}", headers=ADMIN).json_body["source"]
    seeds = [
        ("PUT", "/admin/api/settings", {"settings": settings["settings"], "expected_version": 10 ** 6}),
        ("PUT", f"/admin/api/templates/{template}", {"source": source, "expected_version": 10 ** 6}),
        ("POST", f"/admin/api/templates/{template}/preview", {"source": source,
                                                             "sample": {"first_name": "Olena", "text": "hi"}}),
        ("POST", f"/admin/api/templates/{template}/rollback", {"version": 0, "expected_version": 10 ** 6}),
    ]
    for n in range(PER_ROUTE):
        method, path, document = rng.choice(seeds)
        body = to_bytes(rng, mutate_document(rng, document))
        headers = odd_headers(rng, dict(ADMIN)) if rng.random() < 0.5 else ADMIN
        if rng.random() < 0.1:
            path += "?since=" + rng.choice(["²", "9999-99-99", "0000-01-01", "x" * 3000])
        call = system.client.http.put if method == "PUT" else system.client.http.post
        run.check(f"admin {method} {path} #{n}", lambda: call(path, headers=headers, body=body))
    for n, query in enumerate(["since=²", "since=9999-12-31&until=0001-01-01", "until=" + "9" * 5000,
                               "since=2026-02-30", "since=1900-01-01&until=2100-01-01"]):
        run.check(f"admin stats #{n}", lambda: system.client.http.get(f"/admin/api/stats?{query}",
                                                                      headers=ADMIN))
    run.finish()


def test_ses_notification(system):
    """The SES path has no status code: the handler must not raise (SNS would retry it, and the
    mail would never be answered) for any notification from our topic about a stored mail."""
    import app as app_module
    from cli.email import ses_notification, sns_event
    from integrations import ses
    from integrations.aws import client

    rng, failures = random.Random(SEED + 7), []
    run = Run(system)
    topic_arn = client("sns").create_topic(Name=ses.MAIL_TOPIC)["TopicArn"]
    mails = [(FIXTURES / "email" / name).read_bytes() for name in ("gmail.eml", "outlook.eml", "bounce_dsn.eml")]
    for n in range(MAILS):
        raw = rng.choice(mails)
        key = f"inbound/fuzz-{n}"
        client("s3").put_object(Bucket=ses.MAIL_BUCKET, Key=key, Body=raw)
        notification = ses_notification(raw, ses.MAIL_BUCKET, key, topic_arn, ses.support_address(),
                                         datetime.now(timezone.utc))
        # SES writes the notification; what a sender controls is the mail and what SES read from
        # it (`mail`: source, timestamps, common headers). The receipt's shape (verdicts, action)
        # is SES's own and checked by the mail adapter.
        mail = mutate_document(rng, {k: v for k, v in notification["mail"].items() if k != "messageId"})
        notification["mail"] = {**(mail if isinstance(mail, dict) else {}), "messageId": f"fuzz-{n}"}
        message = to_bytes(rng, notification) if rng.random() < 0.15 else json.dumps(notification).encode()
        event = sns_event({"mail": {"messageId": f"fuzz-{n}", "timestamp": "x"}}, topic_arn)
        event["Records"][0]["Sns"]["Message"] = message.decode("utf-8", "surrogateescape")
        try:
            app_module.app.handler_map["email_inbound"](event, None)
        except Exception as exc:
            import traceback

            ours = [f for f in traceback.extract_tb(exc.__traceback__) if "/tests/" not in f.filename
                    and "site-packages" not in f.filename]
            where = f"{ours[-1].filename.rsplit('/', 2)[-2:]}:{ours[-1].lineno}" if ours else "?"
            failures.append(f"mail #{n}: {exc!r} at {where}"[:300])
    assert failures == [], "\n".join(failures[:20])
    run.finish()


@pytest.mark.parametrize("route", ["telegram"])
def test_the_fuzz_is_deterministic(route):
    first = [mutate_document(random.Random(SEED), load_fixture("telegram", "text_private")) for _ in range(3)]
    again = [mutate_document(random.Random(SEED), load_fixture("telegram", "text_private")) for _ in range(3)]
    assert json.dumps(first, default=str) == json.dumps(again, default=str)
