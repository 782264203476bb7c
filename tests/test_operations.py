"""The operator's commands against local stand-ins: register-webhooks (python-telegram-bot and the
X API through its stand-ins), smoke (a real `firstreply dev`), dead-letters (moto's SQS, the real
worker), deploy (moto's S3, STS, CloudFormation and SES: as far as they go), secrets from SSM."""
from __future__ import annotations

import json
import subprocess
import time
import urllib.request

import pytest

from cli import main
from cli.standins.base import Reply
from conftest import load_fixture
from test_dev_server import FIRSTREPLY, dev_env, free_port, start, stop

API = "https://abc123.execute-api.eu-west-1.amazonaws.com/api"


# -- register-webhooks -----------------------------------------------------------------------------
@pytest.fixture
def channel_env(monkeypatch, telegram_api, x_api, meta_api):
    telegram_api.reset()
    x_api.reset()
    meta_api.reset()
    monkeypatch.setenv("META_API_URL", meta_api.url)   # the Meta part subscribes the page there
    monkeypatch.setenv("TELEGRAM_API_URL", telegram_api.url)
    monkeypatch.setenv("X_API_URL", x_api.url)
    monkeypatch.setenv("X_BEARER_TOKEN", "app-bearer")
    return telegram_api, x_api


def test_register_webhooks_sets_telegram_and_x_and_prints_the_slack_manifest(channel_env, capsys):
    telegram_api, x_api = channel_env
    assert main(["register-webhooks", "--url", API + "/"]) == 0
    [call] = telegram_api.sent("setWebhook")
    assert call.params["url"] == f"{API}/webhooks/telegram"
    assert call.params["secret_token"] == "s3cr3t-token_ABC"
    assert call.params["allowed_updates"] == ["message", "edited_message", "callback_query"]
    assert telegram_api.sent("getWebhookInfo")
    [webhook] = x_api.webhooks
    assert webhook["url"] == f"{API}/webhooks/x" and x_api.subscriptions == {webhook["id"]}
    assert x_api.sent("webhooks.post")[0].token == "Bearer app-bearer"        # app-only
    assert x_api.sent("subscribe")[0].token.startswith("OAuth ")              # the support account
    out = capsys.readouterr().out
    assert f"url: {API}/webhooks/slack/events" in out and "support account subscribed" in out

    # again: the X webhook is found, not registered twice
    assert main(["register-webhooks", "--url", API]) == 0
    assert len(x_api.webhooks) == 1 and len(x_api.sent("webhooks.post")) == 1


def test_register_webhooks_refuses_what_would_be_unsafe_or_cannot_work(channel_env, monkeypatch, capsys):
    telegram_api, x_api = channel_env
    with pytest.raises(SystemExit, match="https"):
        main(["register-webhooks", "--url", "http://abc.example/api"])
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET")
    x_api.fail_next(Reply(403, {"title": "Forbidden", "detail": "webhook CRC failed"}), method="webhooks.post")
    assert main(["register-webhooks", "--url", API]) == 1
    out = capsys.readouterr().out
    assert "telegram: FAILED, TELEGRAM_WEBHOOK_SECRET is not set" in out and not telegram_api.sent("setWebhook")
    assert "x: FAILED, X refused the webhook" in out and "webhook CRC failed" in out


# -- smoke -----------------------------------------------------------------------------------------
def test_smoke_against_firstreply_dev_passes_and_catches_a_wrong_secret(tmp_path):
    port = free_port()
    process = start(port, dev_env(FIRSTREPLY_ADMIN_TOKEN="smoke-admin"))
    secrets = {"TELEGRAM_WEBHOOK_SECRET": "dev-secret", "SLACK_SIGNING_SECRET": "dev-signing-secret",
               "X_CONSUMER_SECRET": "dev-consumer-secret", "FIRSTREPLY_ADMIN_TOKEN": "smoke-admin"}
    try:
        good = subprocess.run([FIRSTREPLY, "smoke", "--url", f"http://127.0.0.1:{port}"], env=dev_env(**secrets),
                              capture_output=True, text=True, timeout=60)
        assert good.returncode == 0, good.stdout + good.stderr
        assert "16 of 16 as expected" in good.stdout and "FAIL" not in good.stdout
        # the email path: the dev server mailed SES's simulator through its stand-in
        assert ("ok   email to the SES simulator: Acme Support <support@acme.example> → "
                "success@simulator.amazonses.com through SES on the dev server's AWS stand-in") in good.stdout
        assert "ok   telegram update from a bot (verified, ignored): expected 200" in good.stdout
        assert "ok   x CRC: expected 200" in good.stdout

        wrong = subprocess.run([FIRSTREPLY, "smoke", "--url", f"http://127.0.0.1:{port}"],
                               env=dev_env(**{**secrets, "SLACK_SIGNING_SECRET": "not-the-one"}),
                               capture_output=True, text=True, timeout=60)
        assert wrong.returncode == 1
        assert "FAIL slack url_verification (signed): expected 200   got 401" in wrong.stdout

        partial = subprocess.run([FIRSTREPLY, "smoke", "--url", f"http://127.0.0.1:{port}", "--no-email"],
                                 env=dev_env(), capture_output=True, text=True, timeout=60)
        assert partial.returncode == 0 and "skip telegram signed checks" in partial.stdout
        assert "skip email (--no-email)" in partial.stdout
        time.sleep(1)   # give the worker its chance: the smoke test must not have made it send anything
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/dev/outbox") as response:
            assert json.load(response)["messages"] == []
    finally:
        stop(process)


def test_smoke_mails_the_ses_simulator_in_aws_and_fails_on_an_unverified_sender(monkeypatch, capsys):
    """The email check against AWS: moto's SES refuses an unverified sender (MessageRejected) and
    accepts a verified one; the sender comes from the stack when not given; a sandboxed account
    (SES v2 GetAccount, stubbed: moto has none) is a warning."""
    from botocore.stub import ANY, Stubber
    from moto import mock_aws

    from cli import smoke
    from integrations import aws

    monkeypatch.delenv("SUPPORT_EMAIL_FROM")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")    # the profile's; the API's (eu-west-1) wins
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert smoke.api_region("abc123.execute-api.eu-west-1.amazonaws.com") == "eu-west-1"
    with mock_aws():
        aws.reset_clients()
        # the HTTP checks are the dev server test's; here only the email check runs
        monkeypatch.setattr(smoke, "checks", lambda secret: ([], []))
        assert main(["smoke", "--url", API, "--email-from", "Acme <help@acme.example>"]) == 1
        out = capsys.readouterr().out
        assert "FAIL email to the SES simulator: Acme <help@acme.example> → success@simulator.amazonses.com" in out
        assert "MessageRejected" in out and "0 of 1 as expected, 1 surprises" in out

        aws.client("ses").verify_email_identity(EmailAddress="help@acme.example")
        assert main(["smoke", "--url", API, "--email-from", "Acme <help@acme.example>"]) == 0
        assert "ok   email to the SES simulator: Acme <help@acme.example> → success@simulator.amazonses.com, SES " \
            "message" in capsys.readouterr().out
        from moto.ses.models import ses_backends

        [mail] = ses_backends["123456789012"]["eu-west-1"].sent_messages      # the API's region
        assert set(mail.destinations) == {"success@simulator.amazonses.com"}

        assert main(["smoke", "--url", API]) == 0          # no sender anywhere, no stack
        assert "skip email (no sender" in capsys.readouterr().out
        aws.client("cloudformation").create_stack(StackName="firstreply", TemplateBody=json.dumps({
            "Parameters": {"SupportEmailFrom": {"Type": "String"}},
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}),
            Parameters=[{"ParameterKey": "SupportEmailFrom", "ParameterValue": "Acme <help@acme.example>"}])
        assert smoke.stack_sender("firstreply") == "Acme <help@acme.example>"

        with Stubber(aws.client("sesv2")) as sesv2:
            sesv2.add_response("get_account", {"SendingEnabled": True, "ProductionAccessEnabled": False})
            sesv2.add_response("send_email", {"MessageId": "0102-sandbox"}, {
                "FromEmailAddress": "Acme <help@acme.example>", "Content": ANY,
                "Destination": {"ToAddresses": ["success@simulator.amazonses.com"]}})
            assert main(["smoke", "--url", API]) == 0
        out = capsys.readouterr().out
        assert "SES message 0102-sandbox" in out and "warn the SES account is in the sandbox" in out
    aws.reset_clients()


# -- dead letters ----------------------------------------------------------------------------------
def test_dead_letters_are_listed_unchanged_and_replayed_once(system, capsys):
    from integrations import sqs

    update = load_fixture("telegram", "text_private")
    system.dead_letter(update)
    dead_url = sqs.queue_url(sqs.DEAD_LETTER_QUEUE_NAME)
    assert system.queue_depth(dead_url) == 1

    assert main(["dead-letters"]) == 0
    out = capsys.readouterr().out
    assert "1 dead letter(s) in firstreply-dead.fifo" in out
    assert f"telegram {update['update_id']} from Olena" in out and "Коли буде доставка" in out
    assert "(status received)" in out
    assert system.queue_depth(dead_url) == 1            # listing leaves it there, visible
    assert "Messages" in system.pump.sqs.receive_message(QueueUrl=dead_url, VisibilityTimeout=0)

    sent_before = len(system.sent())
    assert main(["dead-letters", "--replay"]) == 0
    assert "replayed 1 onto firstreply-work.fifo" in capsys.readouterr().out
    assert system.queue_depth(dead_url) == 0
    system.pump.drain()
    new = system.sent()[sent_before:]
    assert len(new) == 1 and new[0].params["text"].startswith("Вітаємо, Olena!")
    event = system.store.get_event("telegram", str(update["update_id"]))
    assert event["ack_sent_at"]
    assert main(["dead-letters"]) == 0 and "0 dead letter(s)" in capsys.readouterr().out


# -- deploy ----------------------------------------------------------------------------------------
def test_deploy_uploads_the_package_and_creates_a_change_set(monkeypatch, tmp_path):
    """moto runs STS, S3, SES and CloudFormation's change sets; its CloudFormation engine cannot
    execute SAM's generated resources, so the stack itself is checked up to the change set."""
    import yaml
    from moto import mock_aws

    from cli import deploy
    from cli.package import build
    from integrations import aws

    build_dir = tmp_path / "build"
    source = deploy.ROOT / "build"
    if not (source / "deployment.zip").exists():
        build("prod", source)
    build_dir.mkdir()
    for name in ("deployment.zip", "sam.yaml"):
        (build_dir / name).write_bytes((source / name).read_bytes())
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        aws.reset_clients()
        s3, cloudformation, ses = aws.client("s3"), aws.client("cloudformation"), aws.client("ses")
        bucket = deploy.artifacts_bucket(s3, "123456789012", "eu-west-1")
        assert bucket == "firstreply-artifacts-123456789012-eu-west-1"
        assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"]
        assert deploy.artifacts_bucket(s3, "123456789012", "eu-west-1") == bucket      # found the second time
        url = deploy.upload(s3, bucket, "firstreply", build_dir, "eu-west-1")
        assert url.startswith(f"https://{bucket}.s3.eu-west-1.amazonaws.com/firstreply/")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        assert len(keys) == 2 and any(k.endswith(".zip") for k in keys)
        packaged = yaml.safe_load((build_dir / "packaged.yaml").read_text())
        uris = {r["Properties"]["CodeUri"] for r in packaged["Resources"].values()
                if r["Type"] == "AWS::Serverless::Function"}
        assert len(uris) == 1 and uris.pop().startswith(f"s3://{bucket}/firstreply/")

        assert deploy.stack_status(cloudformation, "firstreply") is None
        template_key = next(k for k in keys if k.endswith(".yaml"))
        cloudformation.create_change_set(
            StackName="firstreply", ChangeSetName="check", ChangeSetType="CREATE",
            TemplateURL=f"https://{bucket}.s3.amazonaws.com/{template_key}", Capabilities=deploy.CAPABILITIES,
            Parameters=deploy.parameters({"SupportAddress": "support@acme.example"}, updating=False))
        described = cloudformation.describe_change_set(StackName="firstreply", ChangeSetName="check")
        assert {"ParameterKey": "SupportAddress", "ParameterValue": "support@acme.example"} in described["Parameters"]
        assert deploy.parameters({"AlarmEmail": "ops@acme.example"}, updating=True) == [
            {"ParameterKey": "SupportAddress", "UsePreviousValue": True},
            {"ParameterKey": "SupportEmailFrom", "UsePreviousValue": True},
            {"ParameterKey": "AlarmEmail", "ParameterValue": "ops@acme.example"}]

        ses.create_receipt_rule_set(RuleSetName="firstreply-inbound")
        assert deploy.activate_rule_set(ses, "firstreply-inbound") == "SES receipt rule set firstreply-inbound activated"
        assert deploy.activate_rule_set(ses, "firstreply-inbound").endswith("is active")
        ses.create_receipt_rule_set(RuleSetName="theirs")
        ses.set_active_receipt_rule_set(RuleSetName="theirs")
        assert "set-active-receipt-rule-set --rule-set-name firstreply-inbound" in deploy.activate_rule_set(
            ses, "firstreply-inbound")
    aws.reset_clients()


# What moto's CloudFormation can create of a template: SAM's transform (the functions, the API) is
# beyond it, and these carry the names two stages must not share
STAND_IN_TYPES = ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::S3::Bucket")


def test_two_stages_deploy_side_by_side_from_one_checkout(monkeypatch, tmp_path, capsys):
    """`firstreply deploy --stage staging` and `--stage prod` against a moto server: each stage its
    own stack and artifacts prefix, its names on everything, its secrets path; then the operator
    commands reach either stage by `--stage`. The stacks are created from each packaged template's
    resources moto can create (STAND_IN_TYPES: moto cannot run SAM's transform)."""
    import copy
    import shutil

    import yaml
    from moto.server import ThreadedMotoServer

    from cli import deploy
    from cli.channels import UsageError
    from cli.package import build, for_stage
    from integrations import aws
    from test_dev_server import ROOT

    source = deploy.ROOT / "build"
    if not (source / "sam.yaml").exists():
        build("prod", source)
    packaged = yaml.safe_load((source / "sam.yaml").read_text())
    for stage in ("prod", "staging"):   # what `firstreply package --stage S` writes: Chalice's, bound to S
        (tmp_path / stage).mkdir()
        shutil.copy(source / "deployment.zip", tmp_path / stage / "deployment.zip")
        (tmp_path / stage / "sam.yaml").write_text(yaml.safe_dump(for_stage(copy.deepcopy(packaged), stage)))

    upload = deploy.upload

    def upload_for_moto(s3, bucket, stack, build_dir, region):
        url = upload(s3, bucket, stack, build_dir, region)   # the real package and template upload
        template = yaml.safe_load((build_dir / "packaged.yaml").read_text())
        creatable = {"Parameters": template["Parameters"], "Conditions": template["Conditions"],
                     "Resources": {k: v for k, v in template["Resources"].items() if v["Type"] in STAND_IN_TYPES}}
        key = url.split(f"/{bucket}/", 1)[1]
        s3.put_object(Bucket=bucket, Key=key, Body=yaml.safe_dump(creatable).encode())
        return f"https://{bucket}.s3.amazonaws.com/{key}"   # the form moto's CloudFormation reads back

    monkeypatch.setattr(deploy, "upload", upload_for_moto)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    aws.reset_clients()
    try:
        with pytest.raises(UsageError, match="package --stage staging"):   # build/ of prod is not staging's
            deploy.run("staging", "firstreply-staging", {}, skip_package=True, out=tmp_path / "prod")
        assert deploy.run("staging", "firstreply-staging", {}, skip_package=True, out=tmp_path / "staging") == 0
        assert "/firstreply-staging/ in 123456789012 eu-west-1" in capsys.readouterr().out
        assert deploy.run("prod", "firstreply", {}, skip_package=True, out=tmp_path / "prod") == 0
        cloudformation = aws.client("cloudformation")
        for stack in ("firstreply", "firstreply-staging"):   # created, then updated to protect the table
            [described] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
            assert described["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
        tables = aws.client("dynamodb").list_tables()["TableNames"]
        queues = sorted(u.rsplit("/", 1)[1] for u in aws.client("sqs").list_queues()["QueueUrls"])
        topics = sorted(t["TopicArn"].rsplit(":", 1)[1] for t in aws.client("sns").list_topics()["Topics"])
        buckets = [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]
        assert sorted(tables) == ["firstreply", "firstreply-staging"]
        for suffix in ("work.fifo", "dead.fifo", "delay", "delay-dead", "failed-events"):
            assert f"firstreply-{suffix}" in queues and f"firstreply-staging-{suffix}" in queues
        assert len(queues) == 10 and topics == ["firstreply-alarms", "firstreply-inbound-mail",
                                                "firstreply-staging-alarms", "firstreply-staging-inbound-mail"]
        assert {"firstreply-inbound-mail-123456789012-eu-west-1",
                "firstreply-staging-inbound-mail-123456789012-eu-west-1"} <= set(buckets)
        artifacts = aws.client("s3").list_objects_v2(Bucket="firstreply-artifacts-123456789012-eu-west-1")
        assert {o["Key"].split("/")[0] for o in artifacts["Contents"]} == {"firstreply", "firstreply-staging"}

        # the operator commands, as a process: `--stage` picks the stage's names
        env = {**dev_env(), "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}
        for args, queue in ((["--stage", "staging"], "firstreply-staging-dead.fifo"), ([], "firstreply-dead.fifo")):
            result = subprocess.run([FIRSTREPLY, *args, "dead-letters"], cwd=ROOT, env=env, capture_output=True,
                                    text=True, timeout=120)
            assert result.returncode == 0 and f"0 dead letter(s) in {queue}" in result.stdout, result.stderr
    finally:
        server.stop()
        aws.reset_clients()


STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/firstreply/5b3e0a10-ce5e-11f0-9e2b-0a1b2c3d4e5f"


def described(status, **extra):
    from datetime import datetime, timezone

    return {"Stacks": [{"StackName": "firstreply", "StackId": STACK_ID, "StackStatus": status,
                        "CreationTime": datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc), **extra}]}


def event(resource, status, reason="", minute=0):
    from datetime import datetime, timezone

    return {"StackId": STACK_ID, "EventId": f"{resource}-{status}", "StackName": "firstreply",
            "LogicalResourceId": resource, "ResourceStatus": status, "ResourceStatusReason": reason,
            "Timestamp": datetime(2026, 11, 30, 2, minute, tzinfo=timezone.utc)}


def test_deploy_explains_and_recovers_from_a_rolled_back_first_create(monkeypatch, capsys):
    """A first create that failed leaves the stack in ROLLBACK_COMPLETE (only deletable). The deploy
    shows why it failed and what to do, deletes the empty stack, creates it again with the table
    unprotected (a protected table would make the rollback itself fail), then protects the table.
    CloudFormation is stubbed call by call (moto cannot run SAM's template, nor roll back)."""
    import boto3
    from botocore.stub import ANY, Stubber

    from cli import deploy

    cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
    url = "https://firstreply-artifacts-123456789012-eu-west-1.s3.eu-west-1.amazonaws.com/firstreply/t.yaml"
    reserved = ("Resource handler returned message: \"Specified ReservedConcurrentExecutions for function "
                "decreases account's UnreservedConcurrentExecution below its minimum value of [10].\"")
    history = [   # newest first, as CloudFormation lists them
        event("firstreply", "ROLLBACK_COMPLETE", minute=9),
        event("Table", "DELETE_COMPLETE", minute=8),
        event("Worker", "CREATE_FAILED", "Resource creation cancelled", minute=7),
        event("firstreply", "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: [APIHandler].", 7),
        event("APIHandler", "CREATE_FAILED", reserved, minute=6),
        event("Table", "CREATE_COMPLETE", minute=5),
        event("firstreply", "CREATE_IN_PROGRESS", "User Initiated", minute=1)]
    kept = ["SupportAddress", "SupportEmailFrom", "AlarmEmail", "TableDeletionProtection", "ApiReservedConcurrency"]
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stacks", described("ROLLBACK_COMPLETE"), {"StackName": "firstreply"})
        stub.add_response("describe_stack_events", {"StackEvents": history}, {"StackName": "firstreply"})
        stub.add_response("delete_stack", {}, {"StackName": "firstreply"})
        stub.add_client_error("describe_stacks", "ValidationError", "Stack with id firstreply does not exist")
        stub.add_response("create_change_set", {"Id": "cs1", "StackId": STACK_ID}, {
            "StackName": "firstreply", "ChangeSetName": ANY, "Capabilities": deploy.CAPABILITIES, "TemplateURL": url,
            "ChangeSetType": "CREATE", "Tags": ANY, "Parameters": [
                {"ParameterKey": "SupportAddress", "ParameterValue": "support@acme.example"},
                {"ParameterKey": "TableDeletionProtection", "ParameterValue": "false"},
                {"ParameterKey": "ApiReservedConcurrency", "ParameterValue": "0"}]})
        stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE"}, {"StackName": "firstreply",
                                                                               "ChangeSetName": ANY})
        stub.add_response("execute_change_set", {}, {"StackName": "firstreply", "ChangeSetName": ANY})
        stub.add_response("describe_stacks", described("CREATE_COMPLETE"), {"StackName": "firstreply"})
        # then the table is protected: an update of the parameter alone, everything else as it is
        stub.add_response("describe_stacks", described("CREATE_COMPLETE", Parameters=[
            {"ParameterKey": key, "ParameterValue": ""} for key in kept]), {"StackName": "firstreply"})
        stub.add_response("create_change_set", {"Id": "cs2", "StackId": STACK_ID}, {
            "StackName": "firstreply", "ChangeSetName": ANY, "Capabilities": deploy.CAPABILITIES,
            "UsePreviousTemplate": True, "ChangeSetType": "UPDATE", "Tags": ANY, "Parameters": [
                {"ParameterKey": key, "ParameterValue": "true"} if key == "TableDeletionProtection"
                else {"ParameterKey": key, "UsePreviousValue": True} for key in kept]})
        stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE"}, {"StackName": "firstreply",
                                                                               "ChangeSetName": ANY})
        stub.add_response("execute_change_set", {}, {"StackName": "firstreply", "ChangeSetName": ANY})
        stub.add_response("describe_stacks", described("UPDATE_COMPLETE"), {"StackName": "firstreply"})
        stub.add_response("describe_stacks", described("UPDATE_COMPLETE", Outputs=[
            {"OutputKey": "AdminURL", "OutputValue": "https://abc123.execute-api.eu-west-1.amazonaws.com/api/admin"}]),
            {"StackName": "firstreply"})
        found = deploy.deploy_stack(cloudformation, "firstreply", url, {
            "SupportAddress": "support@acme.example", "SupportEmailFrom": None, "ApiReservedConcurrency": "0"})
        stub.assert_no_pending_responses()
    assert found == {"AdminURL": "https://abc123.execute-api.eu-west-1.amazonaws.com/api/admin"}
    out = capsys.readouterr().out
    assert "the first create of firstreply failed and was rolled back (ROLLBACK_COMPLETE):\n  APIHandler: " \
        "Resource handler returned message" in out
    assert "Resource creation cancelled" not in out                  # the consequences, not the cause
    assert "hint: the account's Lambda concurrency limit is too low" in out and "ApiReservedConcurrency=0" in out
    assert "cannot be updated, only deleted. Nothing is lost" in out
    assert "turning the table's deletion protection on" in out


def test_deploy_in_a_region_where_ses_receives_no_mail_says_how_to_deploy_chats_only():
    """There the template's receipt rule types do not exist: the change set fails before anything
    is created (the stack waits in REVIEW_IN_PROGRESS, which the next deploy creates from)."""
    import boto3
    from botocore.stub import ANY, Stubber

    from cli import deploy

    cloudformation = boto3.client("cloudformation", region_name="eu-central-2")
    reason = "Template format error: Unrecognized resource types: [AWS::SES::ReceiptRule, AWS::SES::ReceiptRuleSet]"
    failed = {"Status": "FAILED", "StatusReason": reason}
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stacks", described("REVIEW_IN_PROGRESS"), {"StackName": "firstreply"})
        stub.add_response("create_change_set", {"Id": "cs1", "StackId": STACK_ID}, {
            "StackName": "firstreply", "ChangeSetName": ANY, "Capabilities": deploy.CAPABILITIES, "TemplateURL": ANY,
            "ChangeSetType": "CREATE", "Tags": ANY, "Parameters": [
                {"ParameterKey": "TableDeletionProtection", "ParameterValue": "false"}]})
        stub.add_response("describe_change_set", failed, {"StackName": "firstreply", "ChangeSetName": ANY})
        stub.add_response("describe_change_set", failed, {"StackName": "firstreply", "ChangeSetName": ANY})
        with pytest.raises(SystemExit) as refused:
            deploy.deploy_stack(cloudformation, "firstreply", "https://example/t.yaml", {})
        stub.assert_no_pending_responses()
    assert f"the change set failed: {reason}" in str(refused.value)
    assert "hint: SES may not receive mail in this region: deploy with --parameter EnableEmail=false" in str(
        refused.value)


def test_deploy_finds_data_an_earlier_stack_kept_before_creating_anything(monkeypatch):
    """`firstreply destroy` keeps the table and the mail bucket; their names are fixed, so a new
    stack's create would fail on them (and roll back): the deploy says so before it starts."""
    import boto3
    from botocore.stub import Stubber
    from moto import mock_aws

    from cli import deploy

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        dynamodb, s3 = boto3.client("dynamodb", region_name="eu-west-1"), boto3.client("s3", region_name="eu-west-1")
        leftovers = lambda: deploy.retained_data(dynamodb, s3, "123456789012", "eu-west-1")
        assert leftovers() == []
        dynamodb.create_table(TableName="firstreply", BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        s3.create_bucket(Bucket="firstreply-inbound-mail-123456789012-eu-west-1",
                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        assert deploy.retained_data(dynamodb, s3, "123456789012", "eu-west-1", email=False) == [
            deploy.Retained("table", "firstreply")]
        cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
        with Stubber(cloudformation) as stub:
            stub.add_client_error("describe_stacks", "ValidationError", "Stack with id firstreply does not exist")
            with pytest.raises(SystemExit) as refused:
                deploy.deploy_stack(cloudformation, "firstreply", "https://example/t.yaml", {}, leftovers)
            stub.assert_no_pending_responses()       # no change set was made
    message = str(refused.value)
    assert ("the DynamoDB table firstreply and the S3 bucket firstreply-inbound-mail-123456789012-eu-west-1 of an "
            "earlier firstreply stack still exist") in message
    assert "firstreply destroy --delete-data" in message


def test_destroy_deletes_the_stack_and_keeps_the_data_unless_asked_and_confirmed(monkeypatch, capsys):
    """moto's CloudFormation runs a stand-in of the stack: the table and the mail bucket under the
    names the template gives them, retained (moto knows `Retain`, not `RetainExceptOnCreate`,
    which AWS treats as `Retain` on stack deletion), and the receipt rule set as an output."""
    from moto import mock_aws

    from integrations import aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    bucket = "firstreply-inbound-mail-123456789012-eu-west-1"
    template = {
        "Resources": {
            "Table": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "Properties": {
                "TableName": "firstreply", "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}},
            "MailBucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "Properties": {"BucketName": bucket}},
            "WorkQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "firstreply-work"}}},
        "Outputs": {"ReceiptRuleSetName": {"Value": "firstreply-inbound"}, "MailBucketName": {"Value": bucket}}}
    with mock_aws():
        aws.reset_clients()
        cloudformation, dynamodb, s3, ses = (aws.client(name) for name in ("cloudformation", "dynamodb", "s3", "ses"))
        cloudformation.create_stack(StackName="firstreply", TemplateBody=json.dumps(template))
        dynamodb.update_table(TableName="firstreply", DeletionProtectionEnabled=True)
        dynamodb.put_item(TableName="firstreply", Item={"pk": {"S": "CONV#1"}})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        for body in (b"first", b"second"):                      # two versions of one mail, and a delete marker
            s3.put_object(Bucket=bucket, Key="inbound/abc", Body=body)
        s3.delete_object(Bucket=bucket, Key="inbound/abc")
        ses.create_receipt_rule_set(RuleSetName="firstreply-inbound")
        ses.set_active_receipt_rule_set(RuleSetName="firstreply-inbound")

        assert main(["destroy"]) == 0
        out = capsys.readouterr().out
        assert "SES receipt rule set firstreply-inbound deactivated" in out
        assert "firstreply deleted" in out and "kept the DynamoDB table firstreply and the S3 bucket " + bucket in out
        assert "firstreply destroy --delete-data" in out
        assert not [s for s in cloudformation.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"]
        assert "Metadata" not in ses.describe_active_receipt_rule_set()
        assert dynamodb.get_item(TableName="firstreply", Key={"pk": {"S": "CONV#1"}})["Item"]     # kept
        assert s3.list_object_versions(Bucket=bucket)["Versions"]

        monkeypatch.setattr("sys.stdin.isatty", lambda: False)
        with pytest.raises(SystemExit, match="confirm with --yes when not at a terminal"):
            main(["destroy", "--delete-data"])
        monkeypatch.setattr("sys.stdin.isatty", lambda: True)
        monkeypatch.setattr("builtins.input", lambda prompt: "yes")   # not the table's name
        assert main(["destroy", "--delete-data"]) == 1
        assert "no stack firstreply" in capsys.readouterr().out
        assert dynamodb.describe_table(TableName="firstreply")

        monkeypatch.setattr("builtins.input", lambda prompt: "firstreply")
        assert main(["destroy", "--delete-data"]) == 0
        out = capsys.readouterr().out
        assert "deleted the table firstreply" in out and f"deleted the bucket {bucket} (3 objects)" in out
        assert "firstreply-artifacts-123456789012-eu-west-1" in out          # what it leaves, named
        assert "firstreply" not in dynamodb.list_tables()["TableNames"]
        assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert main(["destroy", "--delete-data", "--yes"]) == 0
        assert "no retained table or mail bucket" in capsys.readouterr().out
    aws.reset_clients()


def test_deploy_without_credentials_says_so(monkeypatch, tmp_path):
    env = {k: v for k, v in dev_env().items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true", AWS_DEFAULT_REGION="eu-west-1")
    result = subprocess.run([FIRSTREPLY, "deploy", "--skip-package"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0 and "no usable AWS credentials" in result.stderr, result.stderr


# -- secrets ---------------------------------------------------------------------------------------
def test_secrets_come_from_ssm_when_the_environment_has_none(monkeypatch):
    import botocore.client
    from moto import mock_aws

    from integrations import aws, secrets

    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET")
    monkeypatch.setenv("FIRSTREPLY_SECRETS_PATH", "/firstreply/prod")
    with mock_aws():
        aws.reset_clients()
        secrets.clear_cache()
        import boto3

        ssm = boto3.client("ssm", region_name="us-east-1")
        for name in ("TELEGRAM_WEBHOOK_SECRET", "SLACK_SIGNING_SECRET", "FIRSTREPLY_ADMIN_TOKEN"):
            ssm.put_parameter(Name=f"/firstreply/prod/{name}", Value=f"{name}-from-ssm", Type="SecureString")
        monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
        monkeypatch.delenv("FIRSTREPLY_ADMIN_TOKEN", raising=False)
        calls = []
        original = botocore.client.BaseClient._make_api_call

        def counting(self, operation, params):
            calls.append(operation)
            return original(self, operation, params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
        # what `firstreply package` sets from the function's grant (a webhook's verifiers and bot tokens)
        monkeypatch.setenv(secrets.GRANTED_VARIABLE, "TELEGRAM_WEBHOOK_SECRET,SLACK_SIGNING_SECRET,"
                                                     "SLACK_BOT_TOKEN,X_BEARER_TOKEN")
        assert secrets.get("TELEGRAM_WEBHOOK_SECRET") == "TELEGRAM_WEBHOOK_SECRET-from-ssm"
        assert secrets.get("SLACK_SIGNING_SECRET") == "SLACK_SIGNING_SECRET-from-ssm"
        assert secrets.get("SLACK_BOT_TOKEN") == "xoxb-test-token"       # the environment wins
        monkeypatch.delenv("X_BEARER_TOKEN", raising=False)
        assert secrets.get("X_BEARER_TOKEN") == ""                       # not stored: not configured
        # the function's granted secrets come in one call; a name outside them alone
        assert calls == ["GetParameters"]
        assert secrets.get("FIRSTREPLY_ADMIN_TOKEN") == "FIRSTREPLY_ADMIN_TOKEN-from-ssm"
        assert calls == ["GetParameters", "GetParameters"]
        secrets.clear_cache()
    monkeypatch.delenv("FIRSTREPLY_SECRETS_PATH")
    assert secrets.get("TELEGRAM_WEBHOOK_SECRET") == ""


def test_delayed_acknowledgements_that_dead_lettered_are_listed_and_replayed(system, capsys):
    """The delay queue's own dead-letter queue (firstreply-delay-dead) is no silent corner either."""
    from integrations import sqs

    update = load_fixture("telegram", "text_private")
    system.post_update(update)                       # stored; its event is what the record names
    queue = system.pump.sqs
    dead = sqs.queue_url(sqs.DELAY_DEAD_LETTER_QUEUE_NAME)
    queue.send_message(QueueUrl=dead, MessageBody=json.dumps(
        {"channel": "telegram", "event_id": str(update["update_id"]), "kind": "delayed-ack"}))

    assert main(["dead-letters"]) == 0
    out = capsys.readouterr().out
    assert "1 delayed acknowledgement(s) in firstreply-delay-dead:" in out
    assert f"telegram {update['update_id']} from Olena" in out
    assert system.queue_depth(dead) == 1
    assert main(["dead-letters", "--replay"]) == 0
    assert "replayed 1 onto firstreply-delay" in capsys.readouterr().out
    assert system.queue_depth(dead) == 0 and system.queue_depth(sqs.queue_url(sqs.DELAY_QUEUE_NAME)) == 1


def test_failed_asynchronous_events_are_listed_and_replayed_to_their_function(system, capsys):
    """Lambda's on-failure record (the shape AWS documents for asynchronous invocation destinations)
    of a schedule that failed its 2 retries; the replay invokes the same function asynchronously."""
    from botocore.stub import ANY, Stubber

    from cli.dead_letters import FAILED_EVENTS_QUEUE
    from integrations import aws

    queue = system.pump.sqs
    url = queue.create_queue(QueueName=FAILED_EVENTS_QUEUE)["QueueUrl"]
    scheduled = {"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
                 "source": "aws.events", "account": "123456789012", "time": "2026-11-23T08:05:00Z",
                 "region": "eu-west-1", "resources": ["arn:aws:events:eu-west-1:123456789012:rule/firstreply-CloseIdle"],
                 "detail": {}}
    record = {"version": "1.0", "timestamp": "2026-11-23T08:07:12.568Z",
              "requestContext": {"requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
                                 "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:"
                                                "firstreply-CloseIdle-1X2Y3Z:$LATEST",
                                 "condition": "RetriesExhausted", "approximateInvokeCount": 3},
              "requestPayload": scheduled,
              "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
              "responsePayload": {"errorType": "ClientError", "errorMessage": "ProvisionedThroughputExceeded"}}
    queue.send_message(QueueUrl=url, MessageBody=json.dumps(record))

    assert main(["dead-letters"]) == 0
    out = capsys.readouterr().out
    assert "1 failed event(s) in firstreply-failed-events" in out
    assert ("firstreply-CloseIdle-1X2Y3Z: schedule at 2026-11-23T08:05:00Z, RetriesExhausted after 3 tries "
            "(ClientError: ProvisionedThroughputExceeded)") in out
    assert system.queue_depth(url) == 1

    with Stubber(aws.client("lambda")) as lambda_api:
        lambda_api.add_response("invoke", {"StatusCode": 202}, {
            "FunctionName": "firstreply-CloseIdle-1X2Y3Z", "InvocationType": "Event", "Payload": ANY})
        assert main(["dead-letters", "--replay"]) == 0
        lambda_api.assert_no_pending_responses()
    assert "replayed 1 failed event(s)" in capsys.readouterr().out
    assert system.queue_depth(url) == 0


def test_one_stage_whichever_way_it_is_given(monkeypatch):
    """`firstreply --stage staging deploy` deploys staging (it used to deploy prod: the deploy's own
    --stage defaulted to prod), the smoke check reads the stage's stack, and two stages are refused."""
    import cli
    from cli import channels

    seen = {}
    monkeypatch.setattr(cli, "_deploy", lambda args: seen.update(deploy=args.stage) or 0)
    monkeypatch.setattr(cli, "_smoke", lambda args: seen.update(smoke=args.stack) or 0)
    monkeypatch.setattr(cli, "_package", lambda args: seen.update(package=args.stage) or 0)
    monkeypatch.setattr(cli.os, "environ", dict(cli.os.environ))   # --stage sets the stage's names
    assert cli.main(["--stage", "staging", "deploy"]) == 0 and seen["deploy"] == "staging"
    assert cli.main(["deploy", "--stage", "staging"]) == 0 and seen["deploy"] == "staging"
    assert cli.main(["deploy"]) == 0 and seen["deploy"] == "prod"
    assert cli.main(["package"]) == 0 and seen["package"] == "prod"
    assert cli.main(["--stage", "staging", "smoke", "--url", "http://127.0.0.1:1"]) == 0
    assert seen["smoke"] == "firstreply-staging"
    assert cli.main(["smoke", "--url", "http://127.0.0.1:1"]) == 0 and seen["smoke"] == "firstreply"
    with pytest.raises(channels.UsageError, match="two stages"):
        cli.main(["--stage", "staging", "deploy", "--stage", "prod"])
