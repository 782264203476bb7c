"""Export and erasure of one customer's data, and the audit trail: the admin API's routes and the
wiring the `firstreply contact` and `firstreply audit` commands share.

Admin only (`admin.identity`: the admin token or Cognito). Every export and erasure is audited with
who, when and from where; the contact is named in the trail by a keyed hash, never by its address
or id (the trail outlives the erasure).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from chalice.app import Response

from functions import audit, customer_data, tokens
from functions.handlers.http import answer

log = logging.getLogger(__name__)


def _store():
    from functions.handlers.worker import store

    return store()


def _now() -> datetime:
    from functions.handlers.worker import clock

    return clock.now()


def desk_erasers() -> dict[str, Any]:
    """The surfaces whose posts erasure can delete, each with its bot token: the Slack desk's
    thread (our own posts) and the Telegram desk's topic (all of it). The channel or group is on
    each conversation's reference, so a desk switched off since is still reached."""
    from integrations import secrets
    from functions.handlers.worker import sender_for

    erasers: dict[str, Any] = {}
    if secrets.get("SLACK_BOT_TOKEN"):
        from integrations.slack_desk import SlackDesk

        erasers["slack"] = SlackDesk(sender_for("slack"), "")
    if secrets.get("TELEGRAM_BOT_TOKEN"):
        from integrations.telegram_desk import TelegramDesk

        erasers["telegram"] = TelegramDesk(sender_for("telegram"), "")
    return erasers


def mail_bucket():
    from integrations.raw_mail import RawMailBucket

    return RawMailBucket()


def audit_days() -> int:
    return _store().load_settings().audit_retention_days


def export(spec: str, who: str, origin: dict[str, Any], with_notes: bool = False) -> dict[str, Any]:
    store, now = _store(), _now()
    document = customer_data.export(store, mail_bucket(), spec, now, with_notes=with_notes)
    audit.record(store, who, "contact.export", _target(spec), now, origin, days=audit_days(),
                 with_notes=with_notes or None, conversations=len(document["conversations"]))
    return document


def forget(spec: str, who: str, origin: dict[str, Any]) -> dict[str, int]:
    store, now = _store(), _now()
    try:
        removed = customer_data.forget(store, mail_bucket(), desk_erasers(), tokens.secret(), spec, now)
    except customer_data.DeskRefused as exc:   # stopped part way (a desk's posts may be gone already): on record too
        audit.record(store, who, "contact.erase-refused", _target(spec), now, origin, days=audit_days(),
                     reason=str(exc)[:300])
        raise
    audit.record(store, who, "contact.erase", _target(spec), now, origin, days=audit_days(), removed=removed)
    return removed


def _target(spec: str) -> str:
    return f"contact:{customer_data.contact_hash(tokens.secret(), spec)}"


def audit_listing(since: datetime, until: datetime) -> list[dict[str, Any]]:
    return audit.listing(_store(), since, until)


# -- the admin API -----------------------------------------------------------------------------------
def _who(request):
    from functions.handlers import admin

    return admin.identity(request)


def _unauthorised() -> Response:
    response = answer(401, error="sign in: Authorization: Bearer <admin token>")
    response.headers["WWW-Authenticate"] = 'Bearer realm="firstreply admin"'
    return response


def api_export(request, contact: str) -> Response:
    who = _who(request)
    if who is None:
        return _unauthorised()
    notes = ((request.query_params or {}).get("with_notes") or "").lower() in ("1", "true", "yes")
    try:
        document = export(unquote(contact), who, audit.request_origin(request), with_notes=notes)
    except customer_data.NotFound as exc:
        return answer(404, error=str(exc))
    return Response(body=json.dumps(document, ensure_ascii=False), status_code=200, headers={
        "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store",
        "Content-Disposition": 'attachment; filename="contact-export.json"'})


def api_forget(request, contact: str) -> Response:
    who = _who(request)
    if who is None:
        return _unauthorised()
    try:
        removed = forget(unquote(contact), who, audit.request_origin(request))
    except customer_data.NotFound as exc:
        return answer(404, error=str(exc))
    except customer_data.DeskRefused as exc:   # the desk's API refused: not our fault, nor the admin's request
        return answer(502, error=str(exc))
    return answer(200, removed=removed)


def api_audit(request) -> Response:
    who = _who(request)
    if who is None:
        return _unauthorised()
    params = request.query_params or {}
    now = _now()
    try:
        since = _day(params.get("since")) if params.get("since") else now - timedelta(days=7)
        until = _day(params.get("until")) if params.get("until") else now
    except ValueError:
        return answer(400, error="since and until are days, YYYY-MM-DD")
    if since > until:
        return answer(400, error="since is after until")
    return answer(200, entries=audit_listing(since, until))


def _day(text: str) -> datetime:
    from datetime import timezone

    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
