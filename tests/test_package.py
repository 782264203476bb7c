"""The deployment package and its CloudFormation template, as `make package` writes them to build/.

The zip is unpacked and every handler the template names is imported in a clean interpreter that
has only boto3 (what the Lambda runtime provides): nothing the functions need may be missing from
the zip, and the code folders Chalice does not package by itself must be in it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import built
from built import functions
from conftest import ROOT

BUILD = ROOT / "build"
# what the python3.11 Lambda runtime has besides the standard library
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")


@pytest.fixture(scope="module")
def package():
    return built.package()


def test_the_zip_holds_the_code_and_its_packages_but_not_boto3(package):
    archive, _ = package
    names = set(archive.namelist())
    assert {"app.py", "firstreply.yaml", "functions/pipeline.py", "functions/handlers/worker.py", "functions/handlers/admin.html",
            "integrations/dynamodb/__init__.py", "integrations/dynamodb/customers.py", "templates/ack.telegram.uk.j2", "templates/_ack.fa.j2",
            "templates/ack.whatsapp.uk.j2", "integrations/whatsapp.py", "pywa/__init__.py",
            "integrations/dynamodb/inbox.py",
            "chalice/app.py", "telegram/__init__.py", "slack_sdk/__init__.py", "tweepy/__init__.py",
            "jinja2/__init__.py", "babel/locale-data/uk.dat"} <= names
    # Powertools only for the worker's FIFO-aware batch processor (the webhooks log with the stdlib and
    # never import it: tests/test_cold_imports.py)
    assert "aws_lambda_powertools/utilities/batch/__init__.py" in names
    assert not any(n.startswith(("boto3/", "botocore/", "moto/", "pytest", "playwright/", "tests/", "cli/"))
                   for n in names)
    # Babel's data only for the languages templates exist in (plus root)
    locales = {n.rsplit("/", 1)[1][:-4] for n in names if n.startswith("babel/locale-data/")}
    assert {"root", "en", "ru", "uk", "tr", "fa"} <= locales and "de" not in locales and "ja" not in locales
    # the compiled parts are the pinned runtime's arm64 wheels, whatever Python ran the packaging
    # (a locally built extension would be this machine's: x86_64, its Python version)
    from cli.package import LAMBDA_RUNTIME

    tag = "cpython-" + LAMBDA_RUNTIME.removeprefix("python").replace(".", "")
    extensions = [n for n in names if n.endswith(".so")]
    assert "yaml/_yaml." + tag + "-aarch64-linux-gnu.so" in extensions
    assert all(n.endswith((f"{tag}-aarch64-linux-gnu.so", ".abi3.so")) for n in extensions), extensions
    size = (BUILD / "deployment.zip").stat().st_size
    # 6.7 MB of sources and data, about as much bytecode (a cold start that compiles nothing is worth
    # the bytes: Lambda takes 50 MB zipped), and Powertools for the worker's batches (~1.3 MB zipped;
    # only its batch utility is used, trimming the rest is possible)
    assert size < 17_000_000, f"{size / 1e6:.1f} MB"


MAGIC = {"3.11": 3495, "3.12": 3531, "3.13": 3571}


def test_every_module_in_the_zip_has_its_bytecode_for_the_runtime(package):
    """A cold start loads the shipped bytecode instead of compiling the package from source."""
    import importlib.util

    from cli.package import LAMBDA_PYTHON

    archive, template = package
    # the version the bytecode is for is the runtime every function runs
    assert {f["Properties"]["Runtime"] for f in functions(template).values()} == {f"python{LAMBDA_PYTHON}"}
    tag = f"cpython-{LAMBDA_PYTHON.replace('.', '')}"
    names = set(archive.namelist())
    sources = [n for n in names if n.endswith(".py")]
    missing = [n for n in sources if f"{n.rpartition('/')[0]}/__pycache__/{n.rpartition('/')[2][:-3]}.{tag}.pyc"
               .lstrip("/") not in names]
    assert sources and not missing, missing[:10]
    assert not any(n.endswith(".pyc") and f".{tag}." not in n for n in names)   # no other version's
    # unchecked-hash (PEP 552 flags 0b01): never compared with the source, never rewritten
    header = archive.read(f"functions/handlers/__pycache__/telegram_webhook.{tag}.pyc")[:16]
    # the version's magic number (CPython's importlib/_bootstrap_external.py; stable across a minor
    # version's releases): what the runtime's import checks before it uses a .pyc
    if LAMBDA_PYTHON == f"{sys.version_info[0]}.{sys.version_info[1]}":
        assert header[:4] == importlib.util.MAGIC_NUMBER
    assert header[:4] == MAGIC[LAMBDA_PYTHON].to_bytes(2, "little") + b"\r\n"
    assert int.from_bytes(header[4:8], "little") == 0b01


def test_every_handler_imports_from_the_zip_with_only_boto3(package, tmp_path):
    archive, template = package
    archive.extractall(tmp_path / "task")
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    site = Path(__import__("boto3").__file__).parent.parent
    for name in RUNTIME_PACKAGES:
        (runtime / name).symlink_to(site / name)
    handlers = sorted(f["Properties"]["Handler"] for f in functions(template).values())
    script = f"""
import importlib, json, pkgutil, sys
sys.path[:0] = [{str(tmp_path / 'task')!r}, {str(runtime)!r}]
loaded = {{}}
for handler in {handlers!r}:
    module, attribute = handler.rsplit(".", 1)
    loaded[handler] = callable(getattr(importlib.import_module(module), attribute))
import functions.handlers, integrations
for package in (functions.handlers, integrations):
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(package.__name__ + "." + info.name)
        loaded[package.__name__ + "." + info.name] = True
# the settings file the functions start from (in Lambda the working directory is the task root)
import os
os.chdir({str(tmp_path / 'task')!r})
from functions.settings import load_settings_file
loaded["settings"] = load_settings_file("firstreply.yaml").business_name == "Acme"
# the templates travelled too: render one as the worker would
from functions import render
text = render.render("ack", "telegram", "uk", {{"customer": {{"first_name": "Olena"}}, "business": {{"name": "Acme"}},
                     "topic": "доставка", "reference": "7K3-Q9X", "is_open": True, "expected_response": "швидко"}})
# and the admin page is served by the API function (no AWS call on this path)
import app
event = {{"resource": "/admin", "path": "/admin", "httpMethod": "GET", "headers": {{}}, "multiValueHeaders": {{}},
          "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
          "stageVariables": None, "body": None,
          "isBase64Encoded": False, "requestContext": {{"resourcePath": "/admin", "httpMethod": "GET", "stage": "api"}}}}
page = app.app(event, None)
print(json.dumps({{"loaded": loaded, "text": text, "page": page["statusCode"], "boto3": sys.modules["boto3"].__file__
                  if "boto3" in sys.modules else None, "paths": [m.__file__ for m in sys.modules.values()
                  if getattr(m, "__file__", None) and "site-packages" in m.__file__]}}))
"""
    env = {"PATH": os.environ["PATH"], "AWS_DEFAULT_REGION": "eu-west-1", "LANG": "C.UTF-8",
           "FIRSTREPLY_LOG_FORMAT": "text"}
    result = subprocess.run([sys.executable, "-I", "-S", "-c", script], env=env, capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert set(handlers) == {"app.app", "app.worker", "app.email_inbound", "app.x_mentions", "app.close_idle",
                             "app.transcripts", "app.surveys", "app.sla_job", "app.expected_reply_job"}
    assert all(report["loaded"].values()) and "functions.handlers.admin" in report["loaded"]
    assert report["text"].startswith("Вітаємо, Olena!") and report["page"] == 200
    assert report["paths"] == []          # nothing came from this machine's site-packages


def test_functions_run_on_arm64_with_chosen_memory_and_timeouts(package):
    from cli.package import LAMBDA_RUNTIME

    _, template = package
    assert {f["Properties"]["Runtime"] for f in functions(template).values()} == {LAMBDA_RUNTIME}
    assert LAMBDA_RUNTIME in ("python3.12", "python3.13")
    found = {name: (f["Properties"]["Architectures"], f["Properties"]["MemorySize"], f["Properties"]["Timeout"])
             for name, f in functions(template).items()}
    assert found == {
        "APIHandler": (["arm64"], 512, 10), "Worker": (["arm64"], 512, 60), "EmailInbound": (["arm64"], 512, 60),
        "XMentions": (["arm64"], 256, 30), "CloseIdle": (["arm64"], 256, 120), "Transcripts": (["arm64"], 256, 120),
        "Surveys": (["arm64"], 256, 120), "Sla": (["arm64"], 256, 60), "ExpectedReply": (["arm64"], 256, 120)}
    queue = template["Resources"]["WorkQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * found["Worker"][2]
    for name in found:
        assert template["Resources"][f"{name}LogGroup" if name != "APIHandler" else "ApiHandlerLogGroup"][
            "Properties"]["RetentionInDays"] == 30


def test_resources_match_what_the_code_expects(package):
    from integrations import dynamodb, sqs

    _, template = package
    resources = template["Resources"]
    table = resources["Table"]["Properties"]
    for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"):
        assert table[key] == dynamodb.TABLE_SPEC[key], key
    assert table["TimeToLiveSpecification"] == {"AttributeName": dynamodb.TTL_ATTRIBUTE, "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    # kept when the stack is deleted, removed when its first create rolls back (so it can be retried)
    assert resources["Table"]["DeletionPolicy"] == resources["MailBucket"]["DeletionPolicy"] == "RetainExceptOnCreate"

    # the default stage keeps the names stacks had before stages (an existing stack updates in place)
    from cli.package import stage_names

    names = stage_names("prod")
    created = created_names(template)
    assert created["Table"] == names["FIRSTREPLY_TABLE"] == "firstreply"
    assert created["WorkQueue"] == names["FIRSTREPLY_QUEUE"] == "firstreply-work.fifo"
    assert created["DeadLetterQueue"] == names["FIRSTREPLY_DEAD_LETTER_QUEUE"] == "firstreply-dead.fifo"
    assert created["MailTopic"] == names["FIRSTREPLY_MAIL_TOPIC"] == "firstreply-inbound-mail"
    assert resources["WorkQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == sqs.MAX_RECEIVES
    assert template["Parameters"]["SecretsPath"]["Default"] == names["FIRSTREPLY_SECRETS_PATH"] == "/firstreply/prod"
    # the functions are given the names of what the stack created (Globals: references or the same prefix)
    given = template["Globals"]["Function"]["Environment"]["Variables"]
    assert given["FIRSTREPLY_TABLE"] == {"Ref": "Table"} and given["FIRSTREPLY_SECRETS_PATH"] == {"Ref": "SecretsPath"}
    assert given["FIRSTREPLY_QUEUE"] == {"Fn::GetAtt": ["WorkQueue", "QueueName"]}
    assert resolved(given["FIRSTREPLY_MAIL_TOPIC"], template) == names["FIRSTREPLY_MAIL_TOPIC"]
    assert not any(k in names for f in functions(template).values()
                   for k in f["Properties"].get("Environment", {}).get("Variables", {}))   # no fixed name left

    bucket = resources["MailBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == {"Ref": "MailRetentionDays"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    [ses_writes, tls_only] = resources["MailBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert ses_writes["Principal"] == {"Service": "ses.amazonaws.com"} and ses_writes["Action"] == "s3:PutObject"
    assert "aws:SourceAccount" in ses_writes["Condition"]["StringEquals"] and tls_only["Effect"] == "Deny"
    rule = resources["ReceiptRule"]["Properties"]["Rule"]
    assert rule["ScanEnabled"] is True and rule["TlsPolicy"] == "Require"
    assert rule["Actions"] == [{"S3Action": {"BucketName": {"Ref": "MailBucket"}, "ObjectKeyPrefix": "inbound/",
                                             "TopicArn": {"Ref": "MailTopic"}}}]
    # the event sources point at the declared queue and topic (references, so they exist first)
    worker_events = resources["Worker"]["Properties"]["Events"]["WorkerSqsEventSource"]["Properties"]
    assert worker_events["Queue"] == {"Fn::Sub": "${WorkQueue.Arn}"} and worker_events["BatchSize"] == 10
    email_events = resources["EmailInbound"]["Properties"]["Events"]["EmailInboundSnsSubscription"]["Properties"]
    assert email_events["Topic"] == {"Fn::Sub": "${MailTopic}"}


def test_alarms_watch_dead_letters_errors_and_throttles_of_every_function(package):
    _, template = package
    resources = template["Resources"]
    alarms = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    for alarm, queue in (("DeadLettersAlarm", "DeadLetterQueue"), ("DelayDeadLettersAlarm", "DelayDeadLetterQueue")):
        assert alarms[alarm]["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    for alarm, metric in (("FunctionErrorsAlarm", "Errors"), ("FunctionThrottlesAlarm", "Throttles")):
        # EmailInbound's only when mail is enabled (Fn::If on EmailEnabled)
        metrics = [m["Fn::If"][1] if "Fn::If" in m else m for m in alarms[alarm]["Metrics"]]
        watched = {m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"] for m in metrics
                   if "MetricStat" in m and m["MetricStat"]["Metric"]["MetricName"] == metric}
        assert watched == set(functions(template)), alarm
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())
    # nothing is lost silently: failed asynchronous events and mail SES refused alarm too
    assert alarms["FailedEventsAlarm"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["FailedEventsQueue", "QueueName"]}
    assert alarms["MailRejectedAlarm"]["MetricName"] == "MailRejected"
    for name in ("EmailInbound", "XMentions", "CloseIdle", "Transcripts", "Surveys"):
        destination = resources[name]["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
        assert destination == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}}, name
    rejected = resources["MailRejectedFilterWorker"]["Properties"]
    assert rejected["FilterPattern"] == '{ $.ses_error = "MessageRejected" }'
    assert rejected["LogGroupName"] == {"Ref": "WorkerLogGroup"}


# Properties that name what the stack creates (the functions, the API's log groups and the roles are
# named by CloudFormation from the stack's name, which differs per stage)
NAME_PROPERTIES = ("TableName", "QueueName", "TopicName", "BucketName", "RuleSetName", "AlarmName")


def resolved(value, template: dict) -> str:
    """A name as CloudFormation would resolve it with the parameters at their defaults."""
    defaults = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    if isinstance(value, dict) and "Ref" in value:
        return defaults[value["Ref"]]
    if isinstance(value, dict) and "Fn::Sub" in value:
        pseudo = {"AWS::AccountId": "123456789012", "AWS::Region": "eu-west-1"}
        return re.sub(r"\$\{([^}]+)\}", lambda m: defaults.get(m.group(1)) or pseudo[m.group(1)], value["Fn::Sub"])
    return value


def created_names(template: dict) -> dict[str, str]:
    """Every name the stack gives a resource it creates, by the resource's logical id."""
    found = {}
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        for key in NAME_PROPERTIES:
            value = properties.get(key)
            if value is not None and not (isinstance(value, dict) and value.get("Ref") in template["Resources"]):
                found[name] = resolved(value, template)   # (a reference names another resource's)
        if resource["Type"] == "AWS::SES::ReceiptRule":
            found[name] = resolved(properties["Rule"]["Name"], template)
    found["RestAPI"] = resolved(template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["info"]["title"],
                                template)
    return found


def test_two_stages_create_no_name_in_common_and_every_name_carries_the_stage(package):
    """`firstreply package --stage S` is Chalice's package bound to the stage (`for_stage`): staging's
    template names everything firstreply-staging-…, prod's keeps today's firstreply-…"""
    import copy

    from cli.package import for_stage

    _, template = package
    prod = created_names(for_stage(copy.deepcopy(template), "prod"))
    staging_template = for_stage(copy.deepcopy(template), "staging")
    staging = created_names(staging_template)
    assert set(prod) == set(staging) and len(prod) >= 15
    assert all(n == "firstreply" or n.startswith("firstreply-") for n in prod.values()), prod
    assert all(n.startswith("firstreply-staging") for n in staging.values()), staging
    assert not set(prod.values()) & set(staging.values())
    assert staging_template["Parameters"]["SecretsPath"]["Default"] == "/firstreply/staging"
    assert staging_template["Parameters"]["NamePrefix"]["AllowedValues"] == ["firstreply-staging"]
    # no name is written out where the prefix belongs (a literal would be shared by both stages)
    text = json.dumps({k: v for k, v in staging_template["Resources"].items()})
    assert not re.search(r'"firstreply-(?!staging)[a-z]', text), \
        re.findall(r'"firstreply-[^"]*"', text)[:5]


def _statements(role):
    """The role's statements as deployed with every condition true (a statement behind `Fn::If`,
    such as the raw-mail one that exists only with mail enabled, counts as its true branch)."""
    found = []
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:
                statement = statement["Fn::If"][1]
            if statement != {"Ref": "AWS::NoValue"}:
                found.append(statement)
    return found


def _listed(value):
    return value if isinstance(value, list) else [value]


def test_every_function_has_its_own_least_privilege_role(package):
    _, template = package
    resources = template["Resources"]
    roles = {}
    for name, function in functions(template).items():
        role = function["Properties"]["Role"]
        assert role == {"Fn::GetAtt": [f"{name}Role", "Arn"]}, name
        roles[name] = _statements(resources[f"{name}Role"])
    for name, statements in roles.items():
        for statement in statements:
            actions, targets = _listed(statement["Action"]), _listed(statement["Resource"])
            assert "*" not in actions and not any(a.endswith(":*") for a in actions), (name, statement)
            assert "*" not in targets, (name, statement)
            assert not {"dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:DeleteTable"} & set(actions)

    def actions(name):
        return {a for s in roles[name] for a in _listed(s["Action"])}

    assert "s3:GetObject" in actions("EmailInbound") and not any("s3:" in a for a in actions("Worker"))
    # BatchWriteItem is its own action: email_inbound remembers each mail's Message-IDs with it, and the
    # worker after SES took a reply (without it, AWS drops the mail / SQS resends the reply five times)
    assert "dynamodb:BatchWriteItem" in actions("EmailInbound") and "dynamodb:BatchWriteItem" in actions("Worker")
    assert "s3:DeleteObjectVersion" in actions("APIHandler")   # erasure from the admin API
    assert "sqs:ReceiveMessage" in actions("Worker") and "sqs:ReceiveMessage" not in actions("APIHandler")
    # the fault issue 14 found in AWS: both write Message-IDs in one BatchWriteItem
    assert "dynamodb:BatchWriteItem" in actions("EmailInbound") and "dynamodb:BatchWriteItem" in actions("Worker")
    assert "ses:SendEmail" in actions("Transcripts") and "ses:SendEmail" not in actions("APIHandler")
    assert not any(a in ("ses:SendRawEmail", "dynamodb:ConditionCheckItem") for name in roles for a in actions(name))

    def secrets(name):
        [statement] = [s for s in roles[name] if s["Sid"] == "Secrets"]
        return {r["Fn::Sub"].rsplit("/", 1)[1] for r in _listed(statement["Resource"])}

    # each function reads only the secrets it uses: the public API the webhook verifiers and, of the bot
    # tokens, Telegram's (who the bot is; erasure deletes the desk's topics) and Slack's (erasure
    # deletes the desk's posts), no sending
    # credentials of X, WhatsApp or Messenger; the worker no admin token
    assert secrets("APIHandler") == {"TELEGRAM_WEBHOOK_SECRET", "SLACK_SIGNING_SECRET", "X_CONSUMER_SECRET",
                                     "META_APP_SECRET", "META_VERIFY_TOKEN", "FIRSTREPLY_SIGNING_SECRET",
                                     "FIRSTREPLY_ADMIN_TOKEN", "TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN"}
    assert "FIRSTREPLY_ADMIN_TOKEN" not in secrets("Worker") and "TELEGRAM_BOT_TOKEN" in secrets("Worker")
    assert "FIRSTREPLY_ADMIN_TOKEN" not in secrets("CloseIdle")   # only the chat senders, for the closing message
    # one GetParameters call brings a function's secrets: it is told the names its role grants, no other
    for name, function in functions(template).items():
        told = function["Properties"].get("Environment", {}).get("Variables", {}).get("FIRSTREPLY_SECRET_NAMES")
        granted = secrets(name) if any(s["Sid"] == "Secrets" for s in roles[name]) else set()
        assert set(told.split(",") if told else ()) == granted, name
    assert all(a != "ssm:GetParameter" for name in roles for a in actions(name))   # GetParameters only


def test_the_template_passes_cfn_lint_with_mail_on_and_off(package):
    """`make cfn-lint` runs this over every region; here the first of each list, to stay quick."""
    from cli.package import lint, lint_regions, with_email

    _, template = package
    off = with_email(template, False)
    assert not {"MailBucket", "MailTopic", "ReceiptRule", "ReceiptRuleSet", "EmailInbound", "EmailInboundRole"} & set(
        off["Resources"]) and "MailBucketName" not in off["Outputs"]
    assert "EmailInbound" in with_email(template, True)["Resources"]
    # chat-only reaches regions where SES receives no mail
    assert set(lint_regions(True)) < set(lint_regions(False)) and "eu-west-1" in lint_regions(True)
    assert lint(BUILD, regions=1) == 0


def test_every_secret_is_named_in_the_template_and_the_deploy_guide(package):
    from integrations.secrets import NAMES

    _, template = package
    listed = template["Outputs"]["SecretParameters"]["Value"]["Fn::Sub"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert name in listed and f"put {name}" in readme, name
