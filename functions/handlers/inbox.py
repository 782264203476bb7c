"""/admin/api/me, /admin/api/agents and /admin/api/conversations[…]: the web inbox's API.

Who may call it: an agent with a personal token (`firstreply agents add`), an admin with the admin
token, or a Cognito user (the stage's user pool; API Gateway checked the ID token). Every action is
recorded under that person (`Agent`). An action is not carried out here: it is validated, stored as
an event and queued, and the worker carries it out through `functions.desk.Desk.act`, exactly as a
Slack desk reply (stored once, retried, marked sent or undeliverable with the reason).
"""
from __future__ import annotations

import hmac
import re
import uuid
from datetime import datetime
from typing import Any

from chalice.app import Response

from functions.clock import iso
from functions.desk import KINDS, PRIORITIES, REPLY_LIMIT, STATES, Agent, DeskAction, InvalidAction, validate
from functions.handlers.http import answer, too_large
from integrations import secrets

PAGE_SIZE, MAX_PAGE = 25, 100
_REFERENCE = re.compile(r"^([0-9A-Z]{3})-?([0-9A-Z]{3})$")
_PLAIN = re.compile(r"^[a-z][a-z0-9_-]{0,19}$")
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")


def _store():
    from functions.handlers.worker import store

    return store()


def _now() -> datetime:
    from functions.handlers import worker

    return worker.clock.now()   # the process's one clock (tests and `--now` runs set it)


def caller(request) -> tuple[Agent, str] | None:
    """(who, role) of the request, role "admin" or "agent"; None when nobody we know."""
    from functions.handlers import admin

    if admin.cognito_arn():
        claims = ((request.context or {}).get("authorizer") or {}).get("claims") or {}
        user = claims.get("sub") or claims.get("cognito:username")
        if not user:
            return None
        name = claims.get("name") or " ".join(filter(None, (claims.get("given_name"), claims.get("family_name"))))
        return Agent(id=f"cognito:{user}", name=name or claims.get("email") or user), "admin"
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return None
    expected = secrets.get("FIRSTREPLY_ADMIN_TOKEN")
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        name = admin.identity(request) or "admin"
        return Agent(id=f"admin:{name}", name=name), "admin"
    # a personal token: looked up by its hash, so a timing difference tells nothing about it
    agent = _store().agent_by_token(token)
    if not agent:
        return None
    return Agent(id=f"inbox:{agent['agent_id']}", name=agent.get("name", "")), "agent"


def handle(request, action: str, conversation_id: str | None = None, verb: str | None = None) -> Response:
    from functions.handlers.admin import unauthorised

    found = caller(request)
    if found is None:
        return unauthorised("sign in: Authorization: Bearer <your agent token or the admin token>")
    if too_large(request.raw_body, request.headers):
        return answer(413, error="too large")
    agent, role = found
    return ROUTES[action](request, agent, role, conversation_id, verb)


# -- who am I, who else is there ---------------------------------------------------------------------
def me(request, agent, role, conversation_id, verb) -> Response:
    return answer(200, id=agent.id, name=agent.name, role=role)


def agents(request, agent, role, conversation_id, verb) -> Response:
    return answer(200, agents=[{"id": f"inbox:{a['agent_id']}", "name": a.get("name", "")}
                               for a in _store().agents() if a.get("status") == "active"])


# -- the queue -------------------------------------------------------------------------------------
def list_conversations(request, agent, role, conversation_id, verb) -> Response:
    query = request.query_params or {}
    state = query.get("state") or "waiting"
    if state not in STATES:
        return answer(400, error=f"state: one of {', '.join(STATES)}")
    filters = {}
    if query.get("channel"):
        if not _PLAIN.match(query["channel"]):
            return answer(400, error="channel: a channel name such as telegram or email")
        filters["channel"] = query["channel"]
    if query.get("priority"):
        if query["priority"] not in PRIORITIES:
            return answer(400, error=f"priority: one of {', '.join(PRIORITIES)}")
        filters["priority"] = query["priority"]
    if query.get("assignee"):
        filters["assignee"] = agent.id if query["assignee"] == "me" else query["assignee"][:100]
    try:
        limit = int(query.get("limit") or PAGE_SIZE)
    except ValueError:
        return answer(400, error=f"limit: a number from 1 to {MAX_PAGE}")
    if not 1 <= limit <= MAX_PAGE:
        return answer(400, error=f"limit: a number from 1 to {MAX_PAGE}")
    store, settings, now = _store(), _store().load_settings(), _now()
    if query.get("q"):
        rows = _search(store, query["q"].strip()[:100], limit)
        wanted = {**filters, **({"state": query["state"]} if query.get("state") else {})}
        rows = [r for r in rows if all(r.get(k) == v for k, v in wanted.items())]
        return answer(200, conversations=[row(r, settings, now) for r in rows], cursor=None)
    try:
        page, cursor = store.inbox_page(state, limit, query.get("cursor"), filters)
    except ValueError as exc:
        return answer(400, error=str(exc))
    return answer(200, conversations=[row(r, settings, now) for r in page], cursor=cursor)


def _search(store, q: str, limit: int) -> list[dict[str, Any]]:
    """By reference ("ABC-DEF", any case) or by a word of the customer's name: exact index keys."""
    from integrations.dynamodb.inbox import name_tokens

    reference = _REFERENCE.match(q.upper())
    ids: list[str] = []
    if reference:
        ids = store.conversations_by_reference(f"{reference.group(1)}-{reference.group(2)}")
    words = name_tokens(q)
    if not ids and words:
        ids = store.conversations_by_name(words[0], limit * 2)
    found = store.conversations(ids) if ids else []
    if len(words) > 1 and not reference:   # "olena koval": every word in the name
        found = [c for c in found if set(words) <= set(name_tokens(c.get("name") or ""))]
    return found[:limit]


def row(conversation: dict[str, Any], settings, now: datetime) -> dict[str, Any]:
    """A conversation as the queue shows it: who, where, state, priority, and the SLA clock."""
    from functions import sla
    from functions.hours import BusinessHours

    waiting = None
    if conversation.get("state") == "waiting" and conversation.get("waiting_since"):
        waiting = round(BusinessHours(settings).business_minutes(sla.parse_time(conversation["waiting_since"]), now), 1)
    due = conversation.get("sla_due_at")
    return {
        "conversation_id": conversation["conversation_id"], "reference": conversation.get("reference", ""),
        "channel": conversation.get("channel", ""), "name": conversation.get("name") or "",
        "subject": (conversation.get("last_in") or {}).get("subject") or "",
        "state": conversation.get("state", "waiting"), "priority": conversation.get("priority", "normal"),
        "assignee": conversation.get("assignee") or None, "assignee_name": conversation.get("assignee_name") or None,
        "opened_at": conversation.get("opened_at"), "last_activity_at": conversation.get("last_activity_at"),
        "waiting_since": conversation.get("waiting_since"), "waiting_business_minutes": waiting,
        "waiting_text": waiting_text(waiting) if waiting is not None else "",
        "sla_due_at": due, "sla_due_local": _local(due, settings) if due else "",
        "late": bool(due and due <= iso(now)), "messages": conversation.get("messages", 0),
    }


def waiting_text(minutes: float) -> str:
    """"waiting 1 h 12 min (business time)"."""
    whole = int(minutes)
    hours, rest = divmod(whole, 60)
    span = f"{hours} h {rest} min" if hours else f"{rest} min"
    return f"waiting {span} (business time)"


def _local(stamp: str, settings) -> str:
    from functions.sla import parse_time

    return parse_time(stamp).astimezone(settings.zone).strftime("%Y-%m-%d %H:%M")


# -- one conversation --------------------------------------------------------------------------------
def get_conversation(request, agent, role, conversation_id, verb) -> Response:
    store = _store()
    conversation = store.conversation(conversation_id) if _KEY.match(conversation_id or "") else None
    if not conversation:
        return answer(404, error=f"no conversation {conversation_id!r}")
    settings, now = store.load_settings(), _now()
    history = [history_line(m, settings) for m in store.messages(conversation_id)]
    return answer(200, conversation=row(conversation, settings, now), history=history,
                  timezone=settings.timezone, contact=conversation.get("contact", "").split("#", 1)[0])


def history_line(message: dict[str, Any], settings) -> dict[str, Any]:
    """Customer messages, acknowledgements, agent replies, notes and status changes, in order,
    with their time in the business's zone."""
    direction = message.get("direction") or message["sk"].split("#")[2]
    kind = message.get("kind") or ("message" if direction == "in" else "ack")
    text = message.get("text") or message.get("plain") or ""
    if kind == "ack":
        text = message.get("plain") or text
    at = message["sk"].split("#")[1]   # always our clock (the channel's own time never orders anything)
    return {"at": at, "local": _local(at, settings), "direction": direction, "kind": kind, "text": text,
            "media": message.get("media") or "", "subject": message.get("subject") or "",
            "agent": message.get("agent_name") or message.get("agent") or "",
            "surface": message.get("surface") or "", "delivery": message.get("delivery") or "",
            "reason": message.get("reason") or "", "outcome": message.get("outcome") or "",
            "value": message.get("value") or ""}


def act(request, agent, role, conversation_id, verb) -> Response:
    if verb not in KINDS:
        return answer(404, error=f"no action {verb!r}; one of {', '.join(KINDS)}")
    body = request.json_body if request.raw_body else {}
    if not isinstance(body, dict):
        return answer(400, error="expected a JSON object")
    store = _store()
    conversation = store.conversation(conversation_id) if _KEY.match(conversation_id or "") else None
    if not conversation:
        return answer(404, error=f"no conversation {conversation_id!r}")
    text, value = "", ""
    if verb in ("reply", "note"):
        text = body.get("text")
        if not isinstance(text, str):
            return answer(400, error="text: what to send", limit=REPLY_LIMIT)
    elif verb == "priority":
        value = body.get("priority")
        if value not in PRIORITIES:
            return answer(400, error=f"priority: one of {', '.join(PRIORITIES)}")
    elif verb == "assign":
        if "agent" not in body:
            return answer(400, error='agent: a name, "me", or null to unassign')
        target = _assignee(store, body["agent"], agent)
        if target is None:
            return answer(400, error=f"agent: no active agent {body['agent']!r}")
        value, text = target.id, target.name
    key = request.headers.get("idempotency-key") or ""
    if key and not _KEY.match(key):
        return answer(400, error="Idempotency-Key: up to 80 letters, digits and -_.:")
    # the action id is the dedupe key all the way through: a retried POST with the same key is one action
    action_id = f"inbox-{uuid.uuid5(uuid.NAMESPACE_URL, agent.id + '|' + key).hex}" if key else f"inbox-{uuid.uuid4().hex}"
    action = DeskAction(action_id, conversation_id, verb, agent, text=text, value=value,
                        origin={"surface": "inbox", "agent": agent.id})
    try:
        validate(action)
    except InvalidAction as exc:
        return answer(400, error=str(exc), **({"limit": REPLY_LIMIT} if verb in ("reply", "note") else {}))
    _enqueue(action, conversation, _now())
    return answer(202, action_id=action_id, queued=True, kind=verb)


def _assignee(store, wanted: Any, me_: Agent) -> Agent | None:
    if wanted is None or wanted == "":
        return Agent(id="", name="")
    if not isinstance(wanted, str) or len(wanted) > 100:
        return None
    if wanted == "me":
        return me_
    if re.match(r"^(slack|telegram|cognito|admin):", wanted):   # another surface's person, as the desk names them
        return Agent(id=wanted, name=wanted.split(":", 1)[1])
    plain = wanted.removeprefix("inbox:").casefold()
    for a in store.agents():
        if a.get("status") == "active" and plain in (a["agent_id"].casefold(), (a.get("name") or "").casefold()):
            return Agent(id=f"inbox:{a['agent_id']}", name=a.get("name", ""))
    return None


def _enqueue(action: DeskAction, conversation: dict[str, Any], now: datetime) -> None:
    """Stored (the event is the durable copy) and queued in the conversation's order, like every
    desk event; the worker's `Desk.act` records it once and delivers it."""
    from functions.handlers.desk import INBOX
    from functions.handlers.intake import accept
    from functions.models import InboundMessage

    accept(InboundMessage(channel=INBOX, event_id=action.action_id, chat_id=action.conversation_id,
                          sender_id=action.agent.id, message_id=action.action_id, received_at=iso(now),
                          chat_type="desk-inbox", details={"action": action.to_dict()}))


ROUTES = {"me": me, "agents": agents, "list": list_conversations, "get": get_conversation, "act": act}
