"""What each Lambda entry point asks of AWS, recorded while the tests run.

moto enforces no IAM, so a function that calls an API its role does not grant passes every test and
fails in AWS (issue 14: `BatchWriteItem` from `email_inbound`). conftest installs two recorders:
- a botocore `before-parameter-build` hook (it sees the call's own parameters) (appended to botocore's built-in handlers, the way moto installs its
  own, so every session and client gets it) that maps each call to the IAM action(s) and resource
  ARN(s) AWS authorises it as (Service Authorization Reference);
- a wrapper around `integrations.secrets.get`: in AWS a secret comes from an SSM `GetParameters` call
  (with the other secrets its function's role grants, which `firstreply package` names from the grant),
  in tests the environment answers, so the read is recorded as that call on that secret.
A call is attributed to the entry point whose code is on the stack: the function in `app.py` that
Chalice invokes (every route belongs to the one API function). Calls made by the tests themselves
(creating the table, seeding settings, the queue pump standing in for Lambda's event source mapping)
have no `app.py` frame and are not recorded.
"""
from __future__ import annotations

import json
import os
import re
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_FILE = str(ROOT / "app.py")
ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"
# set by the grant test's subprocess: write what was recorded there when the session ends
RECORD_FILE = "FIRSTREPLY_RECORD_AWS_CALLS"

# entry point (Chalice handler name) -> {(iam action, resource arn)}
recorded: dict[str, set[tuple[str, str]]] = {}
_handlers: dict[str, str] = {}     # app.py function name -> Chalice handler name, for event handlers


def logical_id(handler: str) -> str:
    """The template's name for a Chalice function: `api_handler` -> APIHandler, `x-mentions` -> XMentions."""
    if handler == "api_handler":
        return "APIHandler"
    return "".join(part.capitalize() for part in re.split(r"[-_]", handler))


def _event_handlers() -> dict[str, str]:
    if not _handlers and "app" in sys.modules:
        for source in sys.modules["app"].app.event_sources:   # handler_string is "app.<function>"
            _handlers[source.handler_string.rsplit(".", 1)[1]] = source.name
    return _handlers


_inherited = threading.local()   # a pool thread's: the entry point that handed it its work


def current_entry_point() -> str | None:
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == APP_FILE:
            return _event_handlers().get(frame.f_code.co_name, "api_handler")
        frame = frame.f_back
    return getattr(_inherited, "entry_point", None)


def _inherit_entry_points() -> None:
    """Work a function hands to a thread pool (the jobs and the inbox query index shards a few at
    once) is still that function's: its calls count for the entry point that submitted it."""
    from concurrent.futures import ThreadPoolExecutor

    submit = ThreadPoolExecutor.submit

    def submit_as_caller(self, fn, /, *args, **kwargs):
        entry_point = current_entry_point()

        def run(*inner_args, **inner_kwargs):
            _inherited.entry_point = entry_point
            try:
                return fn(*inner_args, **inner_kwargs)
            finally:
                _inherited.entry_point = None

        return submit(self, run, *args, **kwargs)

    ThreadPoolExecutor.submit = submit_as_caller


# -- calls -> IAM actions and resources (Service Authorization Reference) ----------------------------
def _arn(service: str, resource: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


def _table(name: str, index: str | None = None) -> str:
    return _arn("dynamodb", f"table/{name}" + (f"/index/{index}" if index else ""))


def _queue(url_or_name: str) -> str:
    return _arn("sqs", url_or_name.rstrip("/").rsplit("/", 1)[-1])


# TransactWriteItems has no action of its own: each item is authorised as the single-item action.
_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem",
             "Get": "GetItem"}
# operations authorised as another action (SQS batch calls; S3 HEAD is GetObject)
_AS = {("sqs", "SendMessageBatch"): "SendMessage", ("sqs", "DeleteMessageBatch"): "DeleteMessage",
       ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility", ("s3", "HeadObject"): "GetObject",
       ("s3", "ListObjectsV2"): "ListBucket", ("s3", "ListObjectVersions"): "ListBucketVersions"}
# botocore service name -> IAM service prefix (SES v2 shares `ses`)
_PREFIX = {"sesv2": "ses"}


def iam_actions(service: str, operation: str, params: dict) -> list[tuple[str, str]]:
    prefix = _PREFIX.get(service, service)
    action = f"{prefix}:{_AS.get((service, operation), operation)}"
    if service == "dynamodb":
        if operation in ("TransactWriteItems", "TransactGetItems"):
            found = []
            for item in params.get("TransactItems", []):
                [(kind, body)] = item.items()
                found.append((f"dynamodb:{_TRANSACT[kind]}", _table(body["TableName"])))
            return found
        if operation in ("BatchWriteItem", "BatchGetItem"):
            return [(action, _table(name)) for name in params.get("RequestItems", {})]
        return [(action, _table(params["TableName"], params.get("IndexName")))]
    if service == "sqs":
        return [(action, _queue(params.get("QueueUrl") or params.get("QueueName", "")))]
    if service == "s3" and operation == "DeleteObjects":   # authorised per object (and per version)
        return [("s3:DeleteObjectVersion" if item.get("VersionId") else "s3:DeleteObject",
                 f"arn:{PARTITION}:s3:::{params['Bucket']}/{item['Key']}")
                for item in params.get("Delete", {}).get("Objects", [])]
    if service == "s3" and "Bucket" in params:
        if "Key" in params:
            return [(action, f"arn:{PARTITION}:s3:::{params['Bucket']}/{params['Key']}")]
        return [(action, f"arn:{PARTITION}:s3:::{params['Bucket']}")]
    if service in ("ses", "sesv2") and operation in ("SendEmail", "SendRawEmail"):
        from email.utils import parseaddr

        sender = parseaddr(params.get("FromEmailAddress") or params.get("Source") or "")[1]
        found = [(action, _arn("ses", f"identity/{sender}"))]
        if params.get("ConfigurationSetName"):
            found.append((action, _arn("ses", f"configuration-set/{params['ConfigurationSetName']}")))
        return found
    if service == "ssm" and operation == "GetParameters":
        return [(action, _arn("ssm", f"parameter{name}")) for name in params["Names"]]
    if service == "sns" and "TopicArn" in params:
        return [(action, params["TopicArn"])]
    return [(action, "*")]


def record(entry_point: str, found: list[tuple[str, str]]) -> None:
    recorded.setdefault(entry_point, set()).update(found)


def _before_call(model, params, **kwargs):
    entry_point = current_entry_point()
    if entry_point is not None:
        try:
            found = iam_actions(model.service_model.service_name, model.name, params)
        except Exception as exc:   # never break the code under test: the grant test reports it
            found = [(f"unmapped:{model.service_model.service_name}:{model.name}", repr(exc))]
        record(entry_point, found)


def secret_read(name: str) -> None:
    entry_point = current_entry_point()
    if entry_point is not None:
        record(entry_point, iam_actions("ssm", "GetParameters", {"Names": [f"{secrets_path()}/{name}"]}))


def secrets_path() -> str:
    """The stage's SSM path, as the deployed functions would read it."""
    from cli.package import DEFAULT_STAGE, secrets_path

    return secrets_path(DEFAULT_STAGE)


def install() -> None:
    """Called once from conftest, before the app or any boto3 session exists."""
    import botocore.handlers

    botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build", _before_call))
    _inherit_entry_points()
    from integrations import secrets

    real = secrets.get

    def get(name: str) -> str:
        secret_read(name)
        return real(name)

    secrets.get = get

    # What each Lambda container looks up once and caches: in one test process such a cache would be
    # shared by all entry points, hiding the calls (and secret reads) the others make in AWS.
    from functions.handlers import worker
    from integrations import sqs

    per_entry_point(sqs, "queue_url")
    per_entry_point(worker, "sender_for")


def per_entry_point(module, name: str) -> None:
    """Replace an `lru_cache`d function with one cache per entry point, as separate containers have."""
    cached = getattr(module, name)
    underlying, caches = cached.__wrapped__, {}

    def lookup(*args):
        cache = caches.setdefault(current_entry_point(), {})
        if args not in cache:
            cache[args] = underlying(*args)
        return cache[args]

    def cache_clear():
        caches.clear()
        cached.cache_clear()

    lookup.cache_clear = cache_clear
    setattr(module, name, lookup)


def save() -> None:
    path = os.environ.get(RECORD_FILE)
    if path:
        Path(path).write_text(json.dumps({k: sorted(v) for k, v in recorded.items()}), encoding="utf-8")


def load(path: Path) -> dict[str, set[tuple[str, str]]]:
    return {k: {tuple(pair) for pair in v} for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
