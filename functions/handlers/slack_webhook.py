"""POST /webhooks/slack/events and /webhooks/slack/interactions: verify the signature on the raw
body, store once, enqueue, answer well inside Slack's three seconds. The reply is the worker's."""
from __future__ import annotations

import logging

from functions import jsonbody
from functions.handlers.http import answer, too_large
from functions.handlers.intake import accept
from integrations import secrets, slack

log = logging.getLogger(__name__)


def _refused(request):
    """The answer for a request that is too large or not signed by Slack; None when it may pass."""
    if too_large(request.raw_body, request.headers):
        return answer(413, error="body too large")
    if not slack.verify(request.headers, request.raw_body or b"", secrets.get("SLACK_SIGNING_SECRET")):
        return answer(401, error="bad or stale signature")
    return None


def handle_event(request) -> object:
    if refused := _refused(request):
        return refused
    try:
        payload = jsonbody.loads(request.raw_body)
    except jsonbody.BadBody as exc:
        return answer(400, error=str(exc))
    if isinstance(payload, dict) and payload.get("type") == "url_verification":
        challenge = payload.get("challenge")
        if not isinstance(challenge, str):
            return answer(400, error="url_verification without challenge")
        return answer(200, challenge=challenge)
    try:
        inbound = slack.to_inbound(payload)
    except slack.MalformedEvent as exc:
        return answer(400, error=str(exc))
    except slack.Ignored as exc:
        log.info("slack event ignored: %s", exc.reason, extra={"event_id": payload.get("event_id")})
        return answer(200, ok=True, ignored=exc.reason)
    retry = request.headers.get("x-slack-retry-num")
    if not accept(inbound):
        return answer(200, ok=True, duplicate=True)
    if retry:
        log.info("slack retry %s accepted", retry, extra={"event_id": inbound.event_id})
    return answer(200, ok=True)


def handle_interaction(request) -> object:
    """Button clicks and other interactivity. Verified and parsed here; the surveys record the
    ratings they carry. Anything else is acknowledged so Slack shows no error to the user."""
    if refused := _refused(request):
        return refused
    try:
        payload = slack.parse_interaction(request.raw_body or b"")
        rating = slack.survey_answer(payload)
    except slack.MalformedEvent as exc:
        return answer(400, error=str(exc))
    if rating is not None:   # recorded and acknowledged in the channel by the worker
        accept(rating)
        return answer(200, ok=True)
    log.info("slack interaction %s", payload["type"],
             extra={"user": (payload.get("user") or {}).get("id"),
                    "actions": [a.get("action_id") for a in payload.get("actions") or []
                                if isinstance(a, dict)]})
    return answer(200, ok=True)
