"""`firstreply destroy`: delete the stack, keep the customers' data unless asked.

The stack's table and mail bucket are retained when the stack goes (`RetainExceptOnCreate`): they
hold every conversation, contact and raw mail. `--delete-data` removes them too, after the table's
name is typed back (or `--yes`): the table (deletion protection off first; its point-in-time
recovery goes with it) and the bucket (every object version and delete marker, then the bucket).
The SES receipt rule set is deactivated first when it is the active one (SES cannot delete an
active set, and the stack deletion would fail on it). Run again, it finishes what is left: data an
earlier stack kept is found whether or not a stack is still there.
"""
from __future__ import annotations

import sys

from cli.channels import UsageError
from cli.deploy import BUSY, TABLE, outputs, retained_data, stack_status

LEFT = ("the artifacts bucket firstreply-artifacts-{account}-{region} (the deployment packages)",
        "the SecureString parameters under /firstreply/<stage>/ (aws ssm delete-parameters)",
        "the API Gateway logging role (account-wide: other APIs of the account may log through it)")


def deactivate_rule_set(ses, rule_set: str) -> str | None:
    active = (ses.describe_active_receipt_rule_set().get("Metadata") or {}).get("Name")
    if active != rule_set:
        return None
    ses.set_active_receipt_rule_set()      # no name: no active set
    return f"SES receipt rule set {rule_set} deactivated (mail to the support address is no longer received)"


def delete_stack(cloudformation, ses, stack: str) -> None:
    found = outputs(cloudformation, stack)
    if found.get("ReceiptRuleSetName"):
        said = deactivate_rule_set(ses, found["ReceiptRuleSetName"])
        if said:
            print(f"firstreply destroy: {said}")
    print(f"firstreply destroy: deleting the stack {stack} (a few minutes)…", flush=True)
    cloudformation.delete_stack(StackName=stack)
    try:
        cloudformation.get_waiter("stack_delete_complete").wait(
            StackName=stack, WaiterConfig={"Delay": 10, "MaxAttempts": 180})
    except Exception:
        from cli.deploy import failure_reasons

        raise UsageError(f"deleting {stack} failed: " + "; ".join(failure_reasons(cloudformation, stack))
                         + " (fix it, then run `firstreply destroy` again)") from None
    print(f"firstreply destroy: {stack} deleted")


def delete_table(dynamodb, name: str) -> None:
    if dynamodb.describe_table(TableName=name)["Table"].get("DeletionProtectionEnabled"):
        dynamodb.update_table(TableName=name, DeletionProtectionEnabled=False)
    dynamodb.delete_table(TableName=name)
    dynamodb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 60})


def delete_bucket(s3, bucket: str) -> int:
    """Every version and delete marker (the bucket may be versioned), then the bucket; returns how
    many object versions went."""
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        keys = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for start in range(0, len(keys), 1000):
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys[start:start + 1000], "Quiet": True})
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise UsageError(f"cannot empty {bucket}: {first.get('Key')}: {first.get('Message')}")
            removed += len(keys[start:start + 1000])
    s3.delete_bucket(Bucket=bucket)
    return removed


def confirm(yes: bool, table: str = TABLE) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("--delete-data deletes every conversation for good: confirm with --yes when not at a terminal")
    answer = input(f"This deletes every conversation, contact and raw mail for good (point-in-time recovery "
                   f"goes with the table).\nType the table's name ({table}) to confirm: ")
    return answer.strip() == table


def run(stack: str, delete_data: bool, yes: bool, prefix: str = TABLE) -> int:
    """`prefix`: the stage's names (cli/package.py `name_prefix`); its table is named that."""
    from integrations import aws

    region = aws.region()
    try:
        account = aws.client("sts").get_caller_identity()["Account"]
    except Exception as exc:
        raise UsageError(f"no usable AWS credentials ({exc.__class__.__name__}: {exc})") from None
    cloudformation = aws.client("cloudformation")
    status = stack_status(cloudformation, stack)
    if status in BUSY:
        raise UsageError(f"stack {stack} is {status}: wait until it is done, then run `firstreply destroy` again")
    if status is None:
        print(f"firstreply destroy: no stack {stack} in {account} {region}")
    else:
        delete_stack(cloudformation, aws.client("ses"), stack)

    dynamodb, s3 = aws.client("dynamodb"), aws.client("s3")
    data = retained_data(dynamodb, s3, account, region, prefix=prefix)
    if data and not delete_data:
        print(f"firstreply destroy: kept {' and '.join(map(str, data))}: your customers' conversations and mail. "
              f"`firstreply destroy --delete-data` removes them (export first: `firstreply contact export`).")
    elif data:
        if not confirm(yes, prefix):
            print("firstreply destroy: not confirmed; the data is kept")
            return 1
        for what in data:   # the table first, as retained_data lists it
            if what.kind == "table":
                delete_table(dynamodb, what.name)
                print(f"firstreply destroy: deleted the table {what.name}")
            else:
                print(f"firstreply destroy: deleted the bucket {what.name} ({delete_bucket(s3, what.name)} objects)")
    else:
        print("firstreply destroy: no retained table or mail bucket")
    print("Not removed (delete them yourself if you mean to):\n" + "".join(
        f"  {what.format(account=account, region=region)}\n" for what in LEFT), end="")
    return 0
