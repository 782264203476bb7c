"""The channel helpers of the `firstreply` command: Slack manifest, signed posting, run-job."""
from __future__ import annotations

import pytest
import yaml

from cli.channels import UsageError, signed_request, slack_manifest


def test_slack_manifest_has_scopes_events_and_urls():
    manifest = yaml.safe_load(slack_manifest("https://abc.execute-api.eu-west-1.amazonaws.com/api/"))
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {"chat:write", "im:history",
                                                              "app_mentions:read", "users:read",
                                                              "channels:history", "groups:history",
                                                              "reactions:write"}
    events = manifest["settings"]["event_subscriptions"]
    assert events["request_url"] == "https://abc.execute-api.eu-west-1.amazonaws.com/api/webhooks/slack/events"
    assert set(events["bot_events"]) == {"message.im", "app_mention", "message.channels", "message.groups"}
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/api/webhooks/slack/interactions")


@pytest.mark.parametrize("url", ["http://abc.example", "abc.example", "https://", "https://a.example/?x=1"])
def test_slack_manifest_refuses_what_is_not_an_https_base_url(url):
    with pytest.raises(UsageError):
        slack_manifest(url)


def test_signed_requests_verify_with_the_app_checks(monkeypatch):
    from integrations import slack, x

    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s1")
    monkeypatch.setenv("X_CONSUMER_SECRET", "s2")
    body = b'{"type": "url_verification", "challenge": "c"}'
    route, headers = signed_request("slack", body)
    assert route == "/webhooks/slack/events"
    assert slack.verify({k.lower(): v for k, v in headers.items()}, body, "s1")
    route, headers = signed_request("x", body)
    assert route == "/webhooks/x" and x.verify(headers, body, "s2") and not x.verify(headers, body, "s3")


def test_run_job_runs_a_scheduled_function_and_rejects_unknown_names(system):
    from cli.jobs import run_job

    system.x_api.add_mention("1900000000000000301", "2244994945", "@acmesupport hi", name="Dana Smith")
    assert run_job("x-mentions", "2026-11-23T08:00:00Z") == 0
    assert len(system.x_api.sent("mentions")) == 1
    with pytest.raises(UsageError, match="no job .nope.; jobs: close-idle, expected-reply, sla, surveys, transcripts, x-mentions"):
        run_job("nope", None)
    with pytest.raises(UsageError, match="--now must be an ISO 8601 time"):
        run_job("x-mentions", "yesterday")
