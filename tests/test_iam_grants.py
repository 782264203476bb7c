"""Every AWS call a function makes is granted by its role in build/sam.yaml, and every grant is used.

moto enforces no IAM: without this test a function can call an API its role lacks, pass every flow
test and fail for every message in AWS. The calls are what the flow tests recorded (tests/aws_calls.py,
installed from conftest) per Lambda entry point, as IAM actions on resource ARNs; the grants are the
role statements of that function, their resources resolved to this test world's names. Run alone,
this test first runs the flow tests in a subprocess to record them.
"""
from __future__ import annotations

import copy
import fnmatch
import os
import subprocess
import sys

import pytest

import aws_calls
import built
from conftest import ROOT

pytestmark = pytest.mark.after_all_flows

# the tests that drive every entry point through the real app (routes, worker, mail, schedules)
FLOWS = ("test_telegram_flow.py", "test_slack_flow.py", "test_x_flow.py", "test_x_mentions_poller.py",
         "test_email_flow.py", "test_jobs.py",
         "test_surveys.py", "test_admin_api.py",
         # what came with the desk, the inbox and SLA, the rules, customers' data and Meta's channels
         "test_desk_slack.py", "test_desk_telegram.py", "test_inbox_api.py", "test_sla.py",
         "test_expected_reply.py", "test_rules.py", "test_closing_message.py", "test_customer_data.py", "test_whatsapp_flow.py",
         "test_meta_flow.py", "test_pacing.py")
# Grants the code never calls, AWS does on the function's behalf: the Lambda runtime writes the logs,
# the SQS event source mapping receives and deletes the worker's messages, Lambda sends a failed
# asynchronous invocation to its on-failure destination.
PLATFORM = {"OwnLogs", "EventSourceMapping", "OnFailureDestination"}


@pytest.fixture(scope="module")
def calls(request, tmp_path_factory):
    ran = {item.path.name for item in request.session.items}
    if all(flow in ran for flow in FLOWS):
        return aws_calls.recorded
    path = tmp_path_factory.mktemp("calls") / "calls.json"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *(f"tests/{f}" for f in FLOWS)],
                   cwd=ROOT, env={**os.environ, aws_calls.RECORD_FILE: str(path)}, capture_output=True,
                   timeout=1200)
    return aws_calls.load(path)


@pytest.fixture(scope="module")
def template():
    return built.package()[1]


def world() -> dict[str, dict[str, str]]:
    """What `Ref` and `GetAtt …Arn` of the template's resources are in the tests (moto, us-east-1)."""
    from integrations import dynamodb, ses, sqs

    return {
        "Table": {"Arn": aws_calls._table(dynamodb.TABLE_NAME)},
        "WorkQueue": {"Arn": aws_calls._queue(sqs.QUEUE_NAME)},
        "DeadLetterQueue": {"Arn": aws_calls._queue(sqs.DEAD_LETTER_QUEUE_NAME)},
        "FailedEventsQueue": {"Arn": aws_calls._queue("firstreply-failed-events")},
        "DelayQueue": {"Arn": aws_calls._queue(sqs.DELAY_QUEUE_NAME)},
        "DelayDeadLetterQueue": {"Arn": aws_calls._queue(sqs.DELAY_DEAD_LETTER_QUEUE_NAME)},
        "AlarmTopic": {"Ref": aws_calls._arn("sns", "firstreply-alarms")},
        "MailBucket": {"Ref": ses.MAIL_BUCKET, "Arn": f"arn:aws:s3:::{ses.MAIL_BUCKET}"},
        "MailTopic": {"Ref": aws_calls._arn("sns", ses.MAIL_TOPIC)},
    }


def resolve(value, template: dict) -> list[str]:
    """A statement's Resource as concrete ARN patterns (parameters at their defaults)."""
    names = world()
    pseudo = {"AWS::Partition": aws_calls.PARTITION, "AWS::Region": aws_calls.REGION,
              "AWS::AccountId": aws_calls.ACCOUNT, "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "firstreply"}
    parameters = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}

    def one(item) -> list[str]:
        if isinstance(item, str):
            return [item]
        if isinstance(item, list):
            return [arn for part in item for arn in one(part)]
        [(function, argument)] = item.items()
        if function == "Fn::GetAtt":
            return [names[argument[0]][argument[1]]]
        if function == "Ref" and argument == "AWS::NoValue":
            return []
        if function == "Ref":
            return [pseudo.get(argument) or parameters.get(argument) or names[argument]["Ref"]]
        if function == "Fn::If":
            condition, yes, no = argument
            return one(yes if evaluate(condition, template, parameters) else no)
        if function == "Fn::Sub":
            text = argument if isinstance(argument, str) else argument[0]

            def field(match):
                name = match.group(1)
                if "." in name:
                    resource, attribute = name.split(".", 1)
                    return names[resource][attribute]
                return pseudo.get(name) or parameters.get(name) or names[name]["Ref"]

            import re

            return [re.sub(r"\$\{([^}!]+)\}", field, text)]
        raise AssertionError(f"cannot resolve {item!r}")

    return one(value)


def evaluate(condition: str, template: dict, parameters: dict[str, str]) -> bool:
    def value(node):
        if isinstance(node, dict):
            [(function, argument)] = node.items()
            if function == "Ref":
                return parameters[argument]
            if function == "Condition":
                return evaluate(argument, template, parameters)
            if function == "Fn::Equals":
                return value(argument[0]) == value(argument[1])
            if function == "Fn::Not":
                return not value(argument[0])
            if function == "Fn::And":
                return all(value(a) for a in argument)
            if function == "Fn::Or":
                return any(value(a) for a in argument)
        return node

    return bool(value(template["Conditions"][condition]))


def statements(template: dict, function: str) -> list[dict]:
    role = template["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
    found = []
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if isinstance(statement, dict) and set(statement) == {"Fn::If"}:   # a conditional statement
                condition, yes, no = statement["Fn::If"]
                parameters = {n: str(p.get("Default", "")) for n, p in template.get("Parameters", {}).items()}
                statement = yes if evaluate(condition, template, parameters) else no
                if statement == {"Ref": "AWS::NoValue"}:
                    continue
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            found.append({"sid": statement.get("Sid", ""), "actions": actions,
                          "resources": resolve(statement["Resource"], template)})
    return found


def _matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def compare(calls: dict[str, set[tuple[str, str]]], template: dict) -> tuple[set, set]:
    """(calls no grant allows, grants no call uses) as (function, action, resource) triples."""
    missing, unused = set(), set()
    for function in built.functions(template):
        made = {pair for handler, pairs in calls.items() if aws_calls.logical_id(handler) == function
                for pair in pairs}
        granted = statements(template, function)
        for action, arn in made:
            if not any(any(_matches(a, action) for a in s["actions"]) and any(_matches(r, arn) for r in s["resources"])
                       for s in granted):
                missing.add((function, action, arn))
        for statement in granted:
            if statement["sid"] in PLATFORM:
                continue
            for action in statement["actions"]:
                if not any(_matches(action, a) and any(_matches(r, arn) for r in statement["resources"])
                           for a, arn in made):
                    unused.add((function, action, statement["sid"]))
            for resource in statement["resources"]:
                if not any(_matches(resource, arn) and any(_matches(a, act) for a in statement["actions"])
                           for act, arn in made):
                    unused.add((function, resource, statement["sid"]))
    return missing, unused


def test_the_flows_exercised_every_entry_point(calls, template):
    assert {aws_calls.logical_id(h) for h in calls} == set(built.functions(template))


def test_every_call_is_granted_and_every_grant_is_used(calls, template):
    missing, unused = compare(calls, template)
    assert not missing, "calls the role does not grant:\n" + "\n".join(map(str, sorted(missing)))
    assert not unused, "grants no call uses:\n" + "\n".join(map(str, sorted(unused)))


def test_a_removed_grant_is_caught(calls, template):
    """What issue 14 found in AWS: EmailInboundRole without dynamodb:BatchWriteItem."""
    assert ("dynamodb:BatchWriteItem", world()["Table"]["Arn"]) in calls["email_inbound"]
    broken = copy.deepcopy(template)
    for policy in broken["Resources"]["EmailInboundRole"]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if isinstance(statement.get("Action"), list) and "dynamodb:BatchWriteItem" in statement["Action"]:
                statement["Action"].remove("dynamodb:BatchWriteItem")
    missing, _ = compare(calls, broken)
    assert ("EmailInbound", "dynamodb:BatchWriteItem", world()["Table"]["Arn"]) in missing


def test_an_unneeded_grant_is_caught(calls, template):
    broken = copy.deepcopy(template)
    broken["Resources"]["CloseIdleRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Sid": "Extra", "Effect": "Allow", "Action": ["ses:SendEmail"], "Resource": "*"})
    _, unused = compare(calls, broken)
    assert ("CloseIdle", "ses:SendEmail", "Extra") in unused


def test_transactions_and_batches_map_to_the_per_item_actions():
    table = aws_calls._table("t")
    assert aws_calls.iam_actions("dynamodb", "TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "t"}}, {"Update": {"TableName": "t"}}, {"ConditionCheck": {"TableName": "t"}}]}) == [
        ("dynamodb:PutItem", table), ("dynamodb:UpdateItem", table), ("dynamodb:ConditionCheckItem", table)]
    assert aws_calls.iam_actions("dynamodb", "BatchWriteItem", {"RequestItems": {"t": []}}) == [
        ("dynamodb:BatchWriteItem", table)]
    assert aws_calls.iam_actions("sesv2", "SendEmail", {"FromEmailAddress": "Acme <s@acme.example>",
                                                        "Content": {"Raw": {"Data": b""}}}) == [
        ("ses:SendEmail", aws_calls._arn("ses", "identity/s@acme.example"))]
