"""`firstreply deploy` (`make deploy`): package, upload, and deploy one CloudFormation stack.

With the AWS credentials and region of your environment or profile: the zip and the template go
to an artifacts bucket of the account (`firstreply-artifacts-<account>-<region>`, private,
encrypted, created on first use); the stack is created or updated through a change set (SAM's
transform needs CAPABILITY_AUTO_EXPAND; the roles need CAPABILITY_IAM); then the SES receipt rule
set is made active when the region has none active (SES allows one: an existing one is left alone
and the command to switch is printed), and the webhook URLs are printed.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from cli.channels import UsageError

ROOT = Path(__file__).resolve().parent.parent
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
PARAMETERS = ("SupportAddress", "SupportEmailFrom", "AlarmEmail")


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


def parameters(given: dict[str, str | None], updating: bool) -> list[dict[str, Any]]:
    found = []
    for name in PARAMETERS:
        value = given.get(name)
        if value is not None:
            found.append({"ParameterKey": name, "ParameterValue": value})
        elif updating:
            found.append({"ParameterKey": name, "UsePreviousValue": True})
    return found


def deploy_stack(cloudformation, stack: str, template_url: str, params: dict[str, str | None]) -> dict[str, str]:
    status = stack_status(cloudformation, stack)
    if status == "ROLLBACK_COMPLETE":
        raise UsageError(f"stack {stack} failed to create and must be deleted first: "
                         f"aws cloudformation delete-stack --stack-name {stack}")
    updating = status is not None
    name = f"firstreply-{int(time.time())}"
    cloudformation.create_change_set(
        StackName=stack, ChangeSetName=name, TemplateURL=template_url, Capabilities=CAPABILITIES,
        ChangeSetType="UPDATE" if updating else "CREATE", Parameters=parameters(params, updating),
        Tags=[{"Key": "app", "Value": "firstreply"}])
    try:
        cloudformation.get_waiter("change_set_create_complete").wait(
            StackName=stack, ChangeSetName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 120})
    except Exception:
        reason = cloudformation.describe_change_set(StackName=stack, ChangeSetName=name).get("StatusReason", "")
        if "didn't contain changes" in reason or "No updates" in reason:
            print(f"firstreply deploy: {stack} is up to date")
            cloudformation.delete_change_set(StackName=stack, ChangeSetName=name)
            return outputs(cloudformation, stack)
        raise UsageError(f"the change set failed: {reason}") from None
    cloudformation.execute_change_set(StackName=stack, ChangeSetName=name)
    waiter = "stack_update_complete" if updating else "stack_create_complete"
    print(f"firstreply deploy: {'updating' if updating else 'creating'} {stack} (a few minutes)…", flush=True)
    try:
        cloudformation.get_waiter(waiter).wait(StackName=stack, WaiterConfig={"Delay": 10, "MaxAttempts": 180})
    except Exception:
        events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]
        failed = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in events
                  if e["ResourceStatus"].endswith("FAILED")][:5]
        raise UsageError(f"the deployment of {stack} failed: " + "; ".join(failed)) from None
    return outputs(cloudformation, stack)


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
    found = deploy_stack(aws.client("cloudformation"), stack, template_url, params)
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
