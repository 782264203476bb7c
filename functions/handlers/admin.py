"""/admin and /admin/api/…: admins edit templates and business settings, and read the results.

Every API route needs `Authorization: Bearer <FIRSTREPLY_ADMIN_TOKEN>` (compared in constant time;
the token comes from SSM in AWS), unless the stage puts the routes behind a Cognito user pool
(`FIRSTREPLY_ADMIN_COGNITO_ARN`), in which case API Gateway has checked the caller already. No
token configured means no access: the routes fail closed. Nothing invalid is ever saved: templates
go through `functions/template_check.py`, settings through `parse_settings`.
"""
from __future__ import annotations

import hmac
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from chalice.app import Response

from functions import render
from functions.handlers.http import BadRequest, answer, read_json, too_large
from integrations import secrets

PAGE = Path(__file__).with_name("admin.html")
_NAME = re.compile(r"[^\w .@+-]", re.UNICODE)


def cognito_arn() -> str:
    return os.environ.get("FIRSTREPLY_ADMIN_COGNITO_ARN", "")


def identity(request) -> str | None:
    """Who is asking, or None when they may not."""
    if cognito_arn():
        claims = ((request.context or {}).get("authorizer") or {}).get("claims") or {}
        return claims.get("email") or claims.get("cognito:username") or None
    expected = secrets.get("FIRSTREPLY_ADMIN_TOKEN")
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), expected.encode()):
        return None
    # the token says nothing about who holds it: the page sends the name its user gave at sign-in
    name = _NAME.sub("", request.headers.get("x-admin-name") or "").strip()[:64]
    return name or "admin"


def page(request) -> Response:
    return Response(body=PAGE.read_text(encoding="utf-8"), status_code=200, headers={
        "Content-Type": "text/html; charset=utf-8",
        # the page is self-contained: nothing loads from anywhere else, no framing
        "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                   "frame-src 'self' about:; img-src 'self' data:; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})


def handle(request, action: str, template_id: str | None = None) -> Response:
    who = identity(request)
    if who is None and _is_agent(request):   # a personal token: the inbox only
        return answer(403, error="agents' tokens open the inbox; templates, settings and results need the admin token")
    if who is None:
        return unauthorised("sign in: Authorization: Bearer <admin token>")
    if too_large(request.raw_body, request.headers):
        return answer(413, error="too large")
    if template_id is not None and render.parse_id(template_id) is None:
        return answer(404, error=f"no template {template_id!r}; ids are NAME.CHANNEL.LANGUAGE")
    body = None
    if request.method in ("PUT", "POST"):
        try:   # not Chalice's json_body: a deeply nested body raised RecursionError there (500)
            body = read_json(request.raw_body)
        except BadRequest as exc:
            return answer(400, error=str(exc))
        if not isinstance(body, dict):
            return answer(400, error="expected a JSON object")
    response = ACTIONS[action](request, who, template_id, body)
    if action in AUDITED and response.status_code < 400:
        _audit(request, who, AUDITED[action], f"template:{template_id}" if template_id else "settings", response)
    return response


# Changes the audit trail records (reads and previews change nothing)
AUDITED = {"put_template": "template.save", "rollback_template": "template.rollback",
           "put_settings": "settings.save"}


def _audit(request, who: str, action: str, target: str, response: Response) -> None:
    from functions import audit

    try:
        version = json.loads(response.body).get("version")
    except (TypeError, ValueError):
        version = None
    store = _store()
    audit.record(store, who, action, target, _now(), audit.request_origin(request),
                 days=store.load_settings().audit_retention_days, version=version)


def unauthorised(error: str) -> Response:
    response = answer(401, error=error)
    response.headers["WWW-Authenticate"] = 'Bearer realm="firstreply admin"'
    return response


def _is_agent(request) -> bool:
    from functions.handlers.inbox import caller

    if cognito_arn():
        return False
    found = caller(request)
    return bool(found and found[1] == "agent")


def _store():
    from functions.handlers.worker import store

    return store()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _version(body: dict[str, Any], field: str) -> int | None:
    value = body.get(field)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


# -- templates -------------------------------------------------------------------------------------
def list_templates(request, who, template_id, body) -> Response:
    edited = _store().edited_templates()
    rows = []
    for identifier in render.shipped_ids():
        name, channel, language = identifier.split(".")
        record = edited.get(identifier, {})
        rows.append({"id": identifier, "name": name, "channel": channel, "language": language,
                     "customised": bool(record), "version": int(record.get("version", 0)),
                     "updated_at": record.get("updated_at"), "updated_by": record.get("updated_by")})
    return answer(200, templates=rows)


def _current(template_id: str) -> dict[str, Any]:
    from functions.template_check import VARIABLES

    record = _store().template(template_id)
    name = template_id.split(".")[0]
    common = {"id": template_id, "variables": sorted(VARIABLES[name]), "markup": render.MARKUP[template_id.split(".")[1]]}
    if not record:
        return {**common, "source": render.default_source(template_id), "version": 0, "customised": False,
                "updated_at": None, "updated_by": None}
    return {**common, "source": record["source"], "version": int(record["version"]), "customised": True,
            "updated_at": record.get("updated_at"), "updated_by": record.get("updated_by")}


def get_template(request, who, template_id, body) -> Response:
    return answer(200, **_current(template_id))


def _refused(problems) -> Response:
    return answer(400, error=problems[0].message, line=problems[0].line, kind=problems[0].kind,
                  problems=[p.as_dict() for p in problems])


def _conflict(conflict) -> Response:
    return answer(409, error=f"someone saved version {conflict.current} since; reload and apply your change again",
                  current_version=conflict.current)


def _save(template_id: str, source: Any, expected: int | None, who: str, note: str = "") -> Response:
    from functions.template_check import check
    from integrations.dynamodb import VersionConflict

    if expected is None:
        return answer(400, error="expected_version: the version you edited (0 for the shipped template)")
    store, now = _store(), _now()
    problems = check(template_id, source, store.load_settings(), now)
    if problems:
        return _refused(problems)
    try:
        version = store.save_template(template_id, source, expected, who, now, note)
    except VersionConflict as conflict:
        return _conflict(conflict)
    return answer(200, id=template_id, version=version, updated_at=now.isoformat(), updated_by=who)


def put_template(request, who, template_id, body) -> Response:
    return _save(template_id, body.get("source"), _version(body, "expected_version"), who)


def preview_template(request, who, template_id, body) -> Response:
    from functions import previews
    from functions.template_check import checked, render_samples
    from integrations.ses import html_document

    source = body.get("source")
    if source is None:
        source = _current(template_id)["source"]
    spec = body.get("sample")
    if spec is not None and not isinstance(spec, dict):
        return answer(400, error="sample: expected {first_name, text, open}")
    settings, now = _store().load_settings(), _now()
    # the check renders the sample customers; their renderings are the preview
    problems, rendered = checked(template_id, source, settings, now)
    if not problems and spec:
        name, channel, language = template_id.split(".")
        problems, rendered = render_samples(template_id, source, [previews.custom_sample(
            name, channel, language, settings, now, spec)])
    if problems:
        return _refused(problems)
    results = previews.present(template_id, rendered)
    if template_id.split(".")[1] == "email":   # shown as the mail client shows the HTML part
        language = template_id.split(".")[2]
        for result in results:
            result["document"] = html_document(result["output"], language)
    return answer(200, id=template_id, previews=results)


def list_versions(request, who, template_id, body) -> Response:
    rows = [{k: item.get(k) for k in ("version", "updated_at", "updated_by", "note", "source")}
            for item in _store().template_versions(template_id)]
    rows.append({"version": 0, "updated_at": None, "updated_by": None, "note": "shipped",
                 "source": render.default_source(template_id)})
    return answer(200, id=template_id, versions=rows)


def rollback_template(request, who, template_id, body) -> Response:
    version = _version(body, "version")
    if version is None:
        return answer(400, error="version: the version to go back to (0 for the shipped template)")
    if version == 0:
        source = render.default_source(template_id)
    else:
        item = _store().template_version(template_id, version)
        if item is None:
            return answer(404, error=f"{template_id} has no version {version}")
        source = item["source"]
    expected = _version(body, "expected_version")
    if expected is None:   # a rollback names what it goes back to; the current version is implied
        expected = _current(template_id)["version"]
    return _save(template_id, source, expected, who, note=f"rollback to version {version}")


# -- settings ---------------------------------------------------------------------------------------
def get_settings(request, who, template_id, body) -> Response:
    store = _store()
    record = store.settings_record()
    if record:
        import json

        document, version = json.loads(record["document"]), int(record.get("version", 0))
    else:
        document, version = store.load_settings().source, 0
    return answer(200, settings=document, version=version,
                  updated_at=(record or {}).get("updated_at"), updated_by=(record or {}).get("updated_by"),
                  # the expected-reply job's measurement, shown beside the configured text
                  measured_response=(record or {}).get("measured_response") or {},
                  history=[{k: h.get(k) for k in ("version", "updated_at", "updated_by")}
                           for h in store.settings_history()])


def put_settings(request, who, template_id, body) -> Response:
    from functions.settings import SettingsError, parse_settings
    from integrations.dynamodb import VersionConflict

    expected = _version(body, "expected_version")
    if expected is None:
        return answer(400, error="expected_version: the version you edited", field="expected_version")
    try:
        settings = parse_settings(body.get("settings"))
    except SettingsError as exc:
        return answer(400, error=str(exc), field=exc.field)
    now = _now()
    try:
        version = _store().save_settings(settings, by=who, now=now, expected_version=expected)
    except VersionConflict as conflict:
        return _conflict(conflict)
    return answer(200, version=version, updated_at=now.isoformat(), updated_by=who)


# -- results -----------------------------------------------------------------------------------------
def get_stats(request, who, template_id, body) -> Response:
    from functions.stats import days_between, period, summarise

    query = request.query_params or {}
    try:
        since, until = period(query.get("since"), query.get("until"), _now().date())
    except ValueError as exc:
        return answer(400, error=str(exc))
    summary = summarise(_store().stats_days(days_between(since, until)))
    # the charts: first response per day, SLA attainment, per agent (from per-conversation facts)
    from functions.stats import daily_responses, summarise_responses

    facts = _store().facts_days(days_between(since, until))
    responses = summarise_responses(facts)
    return answer(200, since=since.isoformat(), until=until.isoformat(), channels=summary,
                  daily=daily_responses(facts), agents=responses["agents"])


ACTIONS = {
    "list_templates": list_templates, "get_template": get_template, "put_template": put_template,
    "preview_template": preview_template, "list_versions": list_versions, "rollback_template": rollback_template,
    "get_settings": get_settings, "put_settings": put_settings, "get_stats": get_stats,
}
