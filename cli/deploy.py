"""`firstreply deploy` (`make deploy`): package, upload, and deploy one CloudFormation stack.

With the AWS credentials and region of your environment or profile: the zip and the template go
to an artifacts bucket of the account (`firstreply-artifacts-<account>-<region>`, private,
encrypted, created on first use); the stack is created or updated through a change set (SAM's
transform needs CAPABILITY_AUTO_EXPAND; the roles need CAPABILITY_IAM); then the SES receipt rule
set is made active when the region has none active (SES allows one: an existing one is left alone
and the command to switch is printed), and the webhook URLs are printed.

A first create that fails is rolled back by CloudFormation and leaves the stack in
ROLLBACK_COMPLETE, which can only be deleted. The table and the mail bucket are
`RetainExceptOnCreate`, so the rollback removed them (they were empty) and nothing else is lost:
the next `firstreply deploy` shows why the create failed, deletes the empty stack and creates it
again. The table is created without deletion protection (protection would make that rollback
fail) and protected by an update as soon as the create succeeded. Data kept by an earlier stack
(`firstreply destroy` keeps the table and the mail bucket) would make the create fail on their
fixed names: that is found before anything is created.
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from cli.channels import UsageError

ROOT = Path(__file__).resolve().parent.parent
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
PARAMETERS = ("SupportAddress", "SupportEmailFrom", "AlarmEmail")
TABLE = "firstreply"                   # the default stage's; a stage's names start with its prefix (cli/package.py)
MAIL_BUCKET = "{prefix}-inbound-mail-{account}-{region}"
# a stack being created, updated or deleted: wait for it
BUSY = ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "DELETE_IN_PROGRESS",
        "ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "IMPORT_IN_PROGRESS", "IMPORT_ROLLBACK_IN_PROGRESS")


def artifacts_bucket(s3, account: str, region: str) -> str:
    bucket = f"firstreply-artifacts-{account}-{region}"
    try:
        s3.head_bucket(Bucket=bucket)
        return bucket
    except s3.exceptions.ClientError:
        pass
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **location)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    return bucket


def upload(s3, bucket: str, stack: str, build: Path, region: str) -> str:
    """Upload the zip (named by its hash: an unchanged package is not a change) and the template
    pointing at it; returns the template's URL."""
    import yaml

    code = (build / "deployment.zip").read_bytes()
    key = f"{stack}/{hashlib.sha256(code).hexdigest()[:20]}.zip"
    s3.put_object(Bucket=bucket, Key=key, Body=code)
    with open(build / "sam.yaml", encoding="utf-8") as fh:
        template = yaml.safe_load(fh)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{bucket}/{key}"
    packaged = yaml.safe_dump(template, allow_unicode=True, sort_keys=False)
    (build / "packaged.yaml").write_text(packaged, encoding="utf-8")
    template_key = f"{stack}/{hashlib.sha256(packaged.encode()).hexdigest()[:20]}.yaml"
    s3.put_object(Bucket=bucket, Key=template_key, Body=packaged.encode())
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        return f"{endpoint.rstrip('/')}/{bucket}/{template_key}"
    return f"https://{bucket}.s3.{region}.amazonaws.com/{template_key}"


def stack_status(cloudformation, stack: str) -> str | None:
    try:
        return cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except cloudformation.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def parameters(given: dict[str, str | None], updating: bool,
               previous: Iterable[str] = PARAMETERS) -> list[dict[str, Any]]:
    """The change set's parameters: those given; on an update, every other one the stack has keeps
    its value (left out, it would fall back to the template's default)."""
    found = []
    names = list(dict.fromkeys([*(previous if updating else ()), *PARAMETERS, *given]))
    for name in names:
        value = given.get(name)
        if value is not None:
            found.append({"ParameterKey": name, "ParameterValue": value})
        elif updating and name in previous:
            found.append({"ParameterKey": name, "UsePreviousValue": True})
    return found


def failure_reasons(cloudformation, stack: str) -> list[str]:
    """What failed, first failure first, without the "Resource creation cancelled" that follow it."""
    events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]   # newest first
    failed = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in reversed(events)
              if e["ResourceStatus"].endswith("FAILED") and e["LogicalResourceId"] != stack
              and "cancelled" not in e.get("ResourceStatusReason", "")]
    return failed[:5]


def hints(reasons: list[str]) -> list[str]:
    """What to do about the failures a first deploy meets."""
    text = " ".join(reasons)
    found = []
    if "already exists" in text:
        found.append("a resource with a fixed name exists outside the stack: the table or the mail bucket an earlier "
                     "stack kept (`firstreply destroy` keeps them); `firstreply destroy --delete-data` removes them")
    if "ReservedConcurrentExecutions" in text or "UnreservedConcurrentExecution" in text:
        found.append("the account's Lambda concurrency limit is too low to reserve ApiReservedConcurrency for the API: "
                     "deploy with --parameter ApiReservedConcurrency=0 (or ask AWS for a higher limit)")
    if "ReceiptRule" in text or "inbound-smtp" in text:
        found.append("SES may not receive mail in this region: deploy with --parameter EnableEmail=false for chats only, "
                     "or in a region where SES receives mail")
    return found


def explain_and_delete(cloudformation, stack: str, status: str) -> None:
    """A stack whose first create was rolled back holds nothing (its table and mail bucket are
    RetainExceptOnCreate) and can only be deleted: say why it failed, then delete it."""
    reasons = failure_reasons(cloudformation, stack)
    print(f"firstreply deploy: the first create of {stack} failed and was rolled back ({status}):", flush=True)
    for reason in reasons or ["(CloudFormation kept no reason)"]:
        print(f"  {reason}")
    for hint in hints(reasons):
        print(f"  hint: {hint}")
    print(f"firstreply deploy: a stack in {status} cannot be updated, only deleted. Nothing is lost: the rollback "
          f"removed everything it had created (the table and the mail bucket are RetainExceptOnCreate), so the "
          f"empty stack is deleted now and created again.", flush=True)
    cloudformation.delete_stack(StackName=stack)
    try:
        cloudformation.get_waiter("stack_delete_complete").wait(
            StackName=stack, WaiterConfig={"Delay": 5, "MaxAttempts": 120})
    except Exception:
        raise UsageError(f"deleting the failed stack {stack} failed: " + "; ".join(
            failure_reasons(cloudformation, stack))) from None


@dataclass(frozen=True)
class Retained:
    """Data an earlier stack of the stage kept: its table or its mail bucket."""
    kind: str    # "table" or "bucket"
    name: str

    def __str__(self) -> str:   # as the deploy and destroy say it
        return f"the DynamoDB table {self.name}" if self.kind == "table" else f"the S3 bucket {self.name}"


def retained_data(dynamodb, s3, account: str, region: str, email: bool = True,
                  prefix: str = TABLE) -> list[Retained]:
    """The table and mail bucket of an earlier stack of the stage (`prefix`: its names), still
    there: a new stack cannot create them."""
    found = []
    try:
        dynamodb.describe_table(TableName=prefix)
        found.append(Retained("table", prefix))
    except dynamodb.exceptions.ResourceNotFoundException:
        pass
    bucket = MAIL_BUCKET.format(prefix=prefix, account=account, region=region)
    if email:
        try:
            s3.head_bucket(Bucket=bucket)
            found.append(Retained("bucket", bucket))
        except s3.exceptions.ClientError:
            pass
    return found


def deploy_stack(cloudformation, stack: str, template_url: str, params: dict[str, str | None],
                 leftovers: Callable[[], list[Retained]] = list) -> dict[str, str]:
    status = stack_status(cloudformation, stack)
    if status in BUSY:
        raise UsageError(f"stack {stack} is {status}: wait until it is done, then deploy again")
    if status in ("ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED"):
        reasons = "; ".join(failure_reasons(cloudformation, stack))
        raise UsageError(f"stack {stack} is {status} ({reasons}): fix what the console names, then "
                         + ("`aws cloudformation continue-update-rollback --stack-name " + stack + "`"
                            if status == "UPDATE_ROLLBACK_FAILED" else f"`firstreply destroy --stack {stack}`"))
    creating = status in (None, "REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE", "DELETE_COMPLETE")
    if creating:
        kept = leftovers()
        if kept:
            raise UsageError(
                f"{' and '.join(map(str, kept))} of an earlier {stack} stack still exist (`firstreply destroy` keeps "
                f"your customers' data), and a new stack cannot create them over it. Export what you need "
                f"(`firstreply contact export`), then remove them with `firstreply destroy --delete-data`; "
                f"or bring them into a new stack by hand (CloudFormation resource import).")
    if status == "ROLLBACK_COMPLETE":
        explain_and_delete(cloudformation, stack, status)
    if creating:
        # deletion protection would make a failed create's rollback fail: on once the create succeeded
        params = {"TableDeletionProtection": "false", **{k: v for k, v in params.items() if v is not None}}
    previous = [] if creating else [p["ParameterKey"] for p in cloudformation.describe_stacks(
        StackName=stack)["Stacks"][0].get("Parameters", [])]
    changed = change(cloudformation, stack, {"TemplateURL": template_url}, parameters(params, not creating, previous),
                     creating)
    if changed and creating and params.get("TableDeletionProtection") == "false":
        print(f"firstreply deploy: {stack} created; turning the table's deletion protection on…", flush=True)
        keys = [p["ParameterKey"] for p in cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get(
            "Parameters", [])]
        change(cloudformation, stack, {"UsePreviousTemplate": True},
               parameters({"TableDeletionProtection": "true"}, True, keys), False)
    return outputs(cloudformation, stack)


def change(cloudformation, stack: str, template: dict[str, Any], params: list[dict[str, Any]], creating: bool) -> bool:
    """Create, wait for and execute one change set; False when there was nothing to change."""
    name = f"firstreply-{int(time.time() * 1000)}"
    cloudformation.create_change_set(
        StackName=stack, ChangeSetName=name, Capabilities=CAPABILITIES, **template,
        ChangeSetType="CREATE" if creating else "UPDATE", Parameters=params,
        Tags=[{"Key": "app", "Value": "firstreply"}])
    try:
        cloudformation.get_waiter("change_set_create_complete").wait(
            StackName=stack, ChangeSetName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 120})
    except Exception:
        reason = cloudformation.describe_change_set(StackName=stack, ChangeSetName=name).get("StatusReason", "")
        if "didn't contain changes" in reason or "No updates" in reason:
            print(f"firstreply deploy: {stack} is up to date")
            cloudformation.delete_change_set(StackName=stack, ChangeSetName=name)
            return False
        raise UsageError(f"the change set failed: {reason}"
                         + "".join(f"\n  hint: {hint}" for hint in hints([reason]))) from None
    cloudformation.execute_change_set(StackName=stack, ChangeSetName=name)
    waiter = "stack_create_complete" if creating else "stack_update_complete"
    print(f"firstreply deploy: {'creating' if creating else 'updating'} {stack} (a few minutes)…", flush=True)
    try:
        cloudformation.get_waiter(waiter).wait(StackName=stack, WaiterConfig={"Delay": 10, "MaxAttempts": 180})
    except Exception:
        reasons = failure_reasons(cloudformation, stack)
        advice = "".join(f"\n  hint: {hint}" for hint in hints(reasons))
        if creating:
            advice += (f"\n  the create is rolled back; fix the cause and run `firstreply deploy` again: it deletes the "
                       f"empty {stack} stack (nothing is kept: table and bucket are RetainExceptOnCreate) and retries")
        raise UsageError(f"the deployment of {stack} failed: " + "; ".join(reasons) + advice) from None
    return True


def outputs(cloudformation, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def activate_rule_set(ses, rule_set: str) -> str:
    active = (ses.describe_active_receipt_rule_set().get("Metadata") or {}).get("Name")
    if active == rule_set:
        return f"SES receipt rule set {rule_set} is active"
    if active:
        return (f"SES receipt rule set {active} is active in this region, not {rule_set}: move its rules or run "
                f"`aws ses set-active-receipt-rule-set --rule-set-name {rule_set}` when ready")
    ses.set_active_receipt_rule_set(RuleSetName=rule_set)
    return f"SES receipt rule set {rule_set} activated"


def packaged_stage_prefix(build: Path) -> str:
    """The name prefix the template in `build` was packaged with (its stage's; a package from before
    stages had prod's names)."""
    import yaml

    with open(build / "sam.yaml", encoding="utf-8") as fh:
        parameters = yaml.safe_load(fh).get("Parameters", {})
    return str(parameters.get("NamePrefix", {}).get("Default", "firstreply"))


def run(stage: str, stack: str, params: dict[str, str | None], skip_package: bool, out: Path = ROOT / "build") -> int:
    from cli.package import build, check_stage, name_prefix, secrets_path
    from integrations import aws

    check_stage(stage)
    if not skip_package:
        build(stage, out)
    elif not (out / "deployment.zip").exists():
        raise UsageError("--skip-package needs build/deployment.zip: run `make package` first")
    packaged_for = packaged_stage_prefix(out)
    if packaged_for != name_prefix(stage):   # build/ holds the last stage packaged, maybe another
        raise UsageError(f"build/ was packaged for the names {packaged_for}-…, not stage {stage}'s "
                         f"({name_prefix(stage)}-…): run `firstreply package --stage {stage}` first")
    region = aws.region()
    try:
        account = aws.client("sts").get_caller_identity()["Account"]
    except Exception as exc:   # no or bad credentials: say so before anything else
        raise UsageError(f"no usable AWS credentials ({exc.__class__.__name__}: {exc})") from None
    s3 = aws.client("s3")
    bucket = artifacts_bucket(s3, account, region)
    template_url = upload(s3, bucket, stack, out, region)
    print(f"firstreply deploy: uploaded to s3://{bucket}/{stack}/ in {account} {region}", flush=True)
    email = params.get("EnableEmail") != "false"
    found = deploy_stack(aws.client("cloudformation"), stack, template_url, params,
                         leftovers=lambda: retained_data(aws.client("dynamodb"), s3, account, region, email,
                                                         name_prefix(stage)))
    if found.get("ReceiptRuleSetName"):
        print(activate_rule_set(aws.client("ses"), found["ReceiptRuleSetName"]))
    width = max((len(k) for k in found), default=0)
    for key, value in sorted(found.items()):
        print(f"  {key:<{width}}  {value}")
    api = found.get("EndpointURL", "").rstrip("/")
    if api:
        print(f"next: store the secrets in SSM under {secrets_path(stage)} (README), then\n"
              f"  .venv/bin/firstreply register-webhooks --url {api} --secrets-path {secrets_path(stage)}\n"
              f"  .venv/bin/firstreply smoke --url {api} --secrets-path {secrets_path(stage)}")
    return 0
