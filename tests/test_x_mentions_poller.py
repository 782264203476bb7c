"""The x-mentions schedule, invoked as EventBridge invokes it: within X's rate limit, and a 429 is a
wait until X's reset, not a function error."""
from __future__ import annotations

from datetime import timedelta

from conftest import OPEN_TIME


def mention(system, tweet_id: str, text: str = "@acmesupport where is my delivery?"):
    system.x_api.add_mention(tweet_id, "2244994945", text, lang="en", name="Dana Smith")


def test_the_schedule_queues_new_mentions_once(system):
    mention(system, "1900000000000000301")
    assert system.run_job("x-mentions", OPEN_TIME) == {"queued": 1}
    system.pump.drain()
    assert [t.params["reply"]["in_reply_to_tweet_id"] for t in system.x_api.sent("tweet")] == ["1900000000000000301"]
    assert system.run_job("x-mentions", OPEN_TIME + timedelta(minutes=2)) == {"queued": 0}


def test_a_429_waits_until_x_resets_without_failing_or_asking_again(system):
    from integrations import dynamodb

    mention(system, "1900000000000000401")
    system.x_api.rate_limit_next(reset_in=900, method="mentions")
    assert system.run_job("x-mentions", OPEN_TIME) == {"queued": 0}      # no exception: no Lambda error
    asked = len(system.x_api.sent("mentions"))
    assert system.run_job("x-mentions", OPEN_TIME + timedelta(minutes=2)) == {"queued": 0}
    assert len(system.x_api.sent("mentions")) == asked                    # X not asked before the reset
    assert dynamodb.get_cursor("x-mentions#rate-limited-until")

    dynamodb.set_cursor("x-mentions#rate-limited-until", "2000-01-01T00:00:00.000Z", OPEN_TIME)   # reset passed
    assert system.run_job("x-mentions", OPEN_TIME + timedelta(minutes=16)) == {"queued": 1}


def test_the_default_cadence_stays_within_the_basic_tier():
    import app as app_module
    from cli.dev import scheduled_jobs

    every = dict((name, seconds) for name, seconds, _ in scheduled_jobs(app_module.app))["x-mentions"]
    assert 15 * 60 / every <= 10      # Basic: 10 mention-timeline reads per 15 minutes per user
