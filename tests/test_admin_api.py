"""The admin API as an admin (and an intruder) uses it: Chalice's test client, moto, the worker and
python-telegram-bot sending to the Bot API stand-in, so a saved template is seen in the next ack."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import OPEN_TIME, ROOT, load_fixture, update_from

TOKEN = "admin-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Admin-Name": "Dana", "Content-Type": "application/json"}
ROUTES = [("GET", "/admin/api/templates"), ("GET", "/admin/api/templates/ack.telegram.en"),
          ("PUT", "/admin/api/templates/ack.telegram.en"), ("POST", "/admin/api/templates/ack.telegram.en/preview"),
          ("GET", "/admin/api/templates/ack.telegram.en/versions"),
          ("POST", "/admin/api/templates/ack.telegram.en/rollback"),
          ("GET", "/admin/api/settings"), ("PUT", "/admin/api/settings"), ("GET", "/admin/api/stats"),
          # the inbox (tests/test_inbox_api.py): the same refusal for anyone without a token
          ("GET", "/admin/api/me"), ("GET", "/admin/api/agents"), ("GET", "/admin/api/conversations"),
          ("GET", "/admin/api/conversations/{conversation_id}"),
          ("POST", "/admin/api/conversations/{conversation_id}/{verb}")]
# customers' data and the audit trail (tests/test_customer_data.py has their flows)
ROUTES += [("GET", "/admin/api/contacts/{contact}/export"), ("DELETE", "/admin/api/contacts/{contact}"),
           ("GET", "/admin/api/audit")]
NEW_ACK = "Hello {{ customer.first_name }}, edited for {{ business.name }}!\nRef {{ reference|strong }}"


def call(system, method, path, body=None, headers=None):
    response = getattr(system.client.http, method.lower())(
        path, headers=AUTH if headers is None else headers,
        **({"body": json.dumps(body) if not isinstance(body, bytes) else body} if body is not None else {}))
    return response.status_code, json.loads(response.body) if response.body else None


def save(system, template_id, source, expected=0):
    return call(system, "PUT", f"/admin/api/templates/{template_id}", {"source": source, "expected_version": expected})


# -- authentication -------------------------------------------------------------------------------
def test_every_admin_route_refuses_missing_or_wrong_credentials(system):
    body = {"source": "Hi {{ topic }}", "expected_version": 0, "settings": system.settings_doc, "version": 0}
    for method, path in ROUTES:
        for authorization in (None, "Bearer wrong-token", "Basic YWRtaW46YWRtaW4=", "Bearer ", TOKEN,
                              f"Bearer {TOKEN}x", f"bearer {TOKEN[:-1]}"):
            headers = {"Content-Type": "application/json", **({"Authorization": authorization} if authorization else {})}
            status, answer = call(system, method, path, body, headers=headers)
            assert status == 401 and "Bearer" in answer["error"], (method, path, authorization)
            assert answer is not None
    assert system.store.edited_templates() == {} and system.store.settings_record()["version"] == 1


def test_no_configured_token_means_no_access(system, monkeypatch):
    monkeypatch.delenv("FIRSTREPLY_ADMIN_TOKEN")
    for authorization in ("Bearer ", "Bearer admin-test-token", "Bearer None"):
        status, _ = call(system, "GET", "/admin/api/templates", headers={"Authorization": authorization})
        assert status == 401


def test_the_page_is_served_without_credentials_and_the_api_with(system):
    page = system.client.http.get("/admin")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert b'<label for="token">Admin token</label>' in page.body
    status, body = call(system, "GET", "/admin/api/templates")
    # ack, survey: 7 channels; transcript (email), mention (X): 1 each — in 5 languages
    assert status == 200 and len(body["templates"]) == 80


def test_cognito_setting_puts_the_routes_behind_a_user_pool_and_trusts_its_claims():
    """One setting: with FIRSTREPLY_ADMIN_COGNITO_ARN the API routes carry a Cognito authorizer
    (API Gateway checks the caller) and the handler takes the admin's name from the claims."""
    script = """
import os, json
os.environ["FIRSTREPLY_ADMIN_COGNITO_ARN"] = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC"
import app
from functions.handlers import admin
routes = {p: [m for m, e in app.app.routes[p].items() if e.authorizer] for p in app.app.routes if p.startswith("/admin")}
class R: context = {"authorizer": {"claims": {"email": "dana@acme.example"}}}; headers = {}
class Anonymous: context = {}; headers = {"authorization": "Bearer " + os.environ.get("FIRSTREPLY_ADMIN_TOKEN", "")}
print(json.dumps({"routes": routes, "arn": app.ADMIN_AUTHORIZER.to_swagger()["x-amazon-apigateway-authorizer"]["providerARNs"],
                  "who": admin.identity(R()), "anonymous": admin.identity(Anonymous())}))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    result = json.loads(out.stdout)
    assert result["routes"].pop("/admin") == []           # the page itself is public; it holds no data
    assert sorted((path, m) for path, methods in result["routes"].items() for m in methods) == sorted(
        (path.replace("ack.telegram.en", "{template_id}"), method) for method, path in ROUTES)
    assert result["arn"] == ["arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC"]
    assert result["who"] == "dana@acme.example" and result["anonymous"] is None


# -- templates --------------------------------------------------------------------------------------
def test_a_never_edited_template_is_the_shipped_text_in_one_piece(system):
    status, body = call(system, "GET", "/admin/api/templates/ack.telegram.en")
    assert status == 200 and body["version"] == 0 and body["customised"] is False and body["updated_by"] is None
    assert "include" not in body["source"] and "Hi {{ customer.first_name }}, thanks" in body["source"]
    assert {"customer", "topic", "faq_links", "next_opening"} <= set(body["variables"])
    status, _ = call(system, "GET", "/admin/api/templates/ack.telegram.xx")
    assert status == 404
    status, _ = call(system, "GET", "/admin/api/templates/..%2Fapp.py")
    assert status == 404


def test_saved_template_is_versioned_and_the_next_ack_carries_it(system):
    status, body = save(system, "ack.telegram.uk", NEW_ACK)
    assert status == 200 and body["version"] == 1 and body["updated_by"] == "Dana"
    status, listing = call(system, "GET", "/admin/api/templates")
    row = next(t for t in listing["templates"] if t["id"] == "ack.telegram.uk")
    assert row["customised"] and row["version"] == 1 and row["channel"] == "telegram" and row["language"] == "uk"

    system.deliver(load_fixture("telegram", "text_private"))       # Olena writes in Ukrainian
    [sent] = system.sent()
    assert sent.params["text"] == "Hello Olena, edited for Acme!\nRef <b>" + sent.params["text"].split("<b>")[1]

    status, versions = call(system, "GET", "/admin/api/templates/ack.telegram.uk/versions")
    assert [(v["version"], v["updated_by"]) for v in versions["versions"]] == [(1, "Dana"), (0, None)]


def test_stale_expected_version_is_a_conflict_and_saves_nothing(system):
    assert save(system, "ack.slack.en", NEW_ACK)[0] == 200
    status, body = save(system, "ack.slack.en", "Someone else's {{ topic }}", expected=0)
    assert status == 409 and body["current_version"] == 1
    assert system.store.template("ack.slack.en")["source"] == NEW_ACK
    status, body = save(system, "ack.slack.en", "Mine {{ topic }}", expected=1)
    assert status == 200 and body["version"] == 2


@pytest.mark.parametrize("source,kind,line,words", [
    ("Hi\n{% if is_open %}open{% endfi %}", "syntax", 2, "unknown tag 'endfi'"),
    ("Hi {{ customer.first_name }\n", "syntax", 1, "unexpected '}'"),
    ("Hi\n\n{{ customer.__class__.__mro__ }}", "forbidden", 3, "is not allowed"),
    ("{{ customer|attr('__class__') }}", "forbidden", 1, "'__class__'"),
    ("{{ ''.format.__globals__ }}", "forbidden", 1, "'__globals__'"),
    ('{{ "{0.__class__}".format(topic) }}', "forbidden", 1, "unsafe"),
    ("{% if false %}{{ topic|shout }}{% endif %}ok", "unknown-filter", 1, "no filter named 'shout'"),
    ("Hi {{ customer.first_name }}\n{{ order_status }} {{ agent }}", "unknown-variable", 2,
     "unknown variables: agent, order_status"),
    ("{% include 'ack.telegram.en.j2' %}", "forbidden", 1, "only the shared texts"),
    ("{% extends '_ack.en.j2' %}", "forbidden", 1, "only the shared texts"),
    ("{% import '_ack.en.j2' as x %}", "forbidden", 1, "only the shared texts"),
    ("{{ 1 // 0 }}", "render", 1, "by zero"),
    ("{% if is_open %}{% endif %}", "output", None, "renders nothing"),
    ("<b>Hi {{ customer.first_name }}", "output", None, "<b> is never closed"),
    ("<script>alert(1)</script>Hi", "output", None, "does not accept the tag <script>"),
    # 60 loops of 1,000 characters: over the output limit long before any render deadline, even on a loaded machine
    ("{% for i in range(60) %}{{ topic * 1000 }}{% endfor %}", "output", None, "at most 50,000"),
    ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}ok", "forbidden", 1,
     "takes too long"),
    ("Hi\n{{ topic * 100000 }}", "forbidden", 2, "more than 10000 times"),
    ("{{ 7 ** 1000000 }}", "forbidden", 1, "exponent too large"),
    ("{{ topic|center(100000000) }}", "forbidden", 1, "|center with a size over 10000"),
    ("{{ faq_links|batch(99999999)|list }}", "forbidden", 1, "|batch with a size over 10000"),
    ('{{ "%99999999s"|format(topic) }}', "forbidden", 1, "a format width over 10000"),
    ('{{ "%99999999s" % topic }}', "forbidden", 1, "a format width over 10000"),
    ('{{ "{:>99999999}".format(topic) }}', "forbidden", 1, "a format width over 10000"),
])
def test_invalid_or_hostile_templates_are_refused_with_the_line_and_nothing_is_saved(system, source, kind, line, words):
    status, body = save(system, "ack.telegram.en", source)
    assert status == 400, body
    assert body["kind"] == kind and body["line"] == line and words in body["error"], body
    assert system.store.template("ack.telegram.en") is None
    # the preview says the same, so the page shows it while typing
    status, body = call(system, "POST", "/admin/api/templates/ack.telegram.en/preview", {"source": source})
    assert status == 400 and body["problems"][0]["kind"] == kind


def test_bad_requests_are_400(system):
    assert call(system, "PUT", "/admin/api/templates/ack.x.en", {"source": NEW_ACK})[0] == 400   # no version
    assert call(system, "PUT", "/admin/api/templates/ack.x.en", {"source": NEW_ACK, "expected_version": "0"})[0] == 400
    assert call(system, "PUT", "/admin/api/templates/ack.x.en", {"source": 42, "expected_version": 0})[0] == 400
    assert call(system, "PUT", "/admin/api/templates/ack.x.en", [1, 2])[0] == 400
    assert call(system, "PUT", "/admin/api/templates/ack.x.en", b"{not json")[0] == 400
    assert call(system, "PUT", "/admin/api/templates/ack.x.en", {"source": "x" * 1_100_000,
                                                                   "expected_version": 0})[0] == 413
    assert system.store.edited_templates() == {}


def test_preview_renders_sample_customers_as_the_channel_shows_them(system):
    status, body = call(system, "POST", "/admin/api/templates/ack.telegram.en/preview", {})
    assert status == 200
    labels = [p["label"] for p in body["previews"]]
    assert labels == ["Emma · open · FAQ matched", "no name · closed · no FAQ match",
                      "Emma · closed · a photo with a caption",
                      "Emma · special day (its own hours)", "Emma · vacation"]   # issue 15's two
    open_, closed, photo, _, _ = body["previews"]
    assert "Our team is online now" in open_["output"] and "Delivery times" in open_["output"]
    assert "We're closed right now. We'll be back" in closed["output"]
    # what the customer wrote is escaped for Telegram's HTML; the template's own markup is not
    assert "Is &lt;b&gt;anyone&lt;/b&gt; there? Tom &amp; Jerry" in closed["output"]
    assert "<b>7K3-Q9X</b>" in closed["output"] and "Is <b>anyone</b>" in closed["text"]
    assert "photo" in photo["output"]

    status, body = call(system, "POST", "/admin/api/templates/ack.slack.en/preview",
                        {"source": NEW_ACK, "sample": {"first_name": "Zed", "text": "refund please", "open": False}})
    assert status == 200 and [p["label"] for p in body["previews"]] == ["Zed · closed"]
    assert body["previews"][0]["output"].startswith("Hello Zed, edited for Acme!\nRef *7K3-Q9X*")

    status, body = call(system, "POST", "/admin/api/templates/ack.x.fa/preview", {})
    assert all(p["direction"] == "rtl" for p in body["previews"])
    status, body = call(system, "POST", "/admin/api/templates/transcript.email.en/preview", {})
    [transcript] = body["previews"]
    assert transcript["subject"] == "Your conversation with Acme"
    assert "here is the tracking link" in transcript["text"] and transcript["document"].startswith("<!doctype html>")
    status, body = call(system, "POST", "/admin/api/templates/survey.email.uk/preview", {})
    assert status == 200 and "/surveys/sample?score=5" in body["previews"][0]["output"]
    status, body = call(system, "POST", "/admin/api/templates/ack.telegram.en/preview", {"sample": "Emma"})
    assert status == 400
    # a template that only fails for the admin's own sample says so, at its line
    fragile = "Hi {{ customer.first_name }}\n{{ 10 // (customer.first_name|length - 3) }}"
    status, body = call(system, "POST", "/admin/api/templates/ack.telegram.en/preview", {"source": fragile})
    assert status == 200
    status, body = call(system, "POST", "/admin/api/templates/ack.telegram.en/preview",
                        {"source": fragile, "sample": {"first_name": "Bob", "text": "hi"}})
    assert status == 400 and body["kind"] == "render" and body["line"] == 2 and "Bob" in body["error"]


def test_rollback_saves_an_old_text_as_a_new_version(system):
    assert save(system, "ack.telegram.en", "First {{ topic }}")[1]["version"] == 1
    assert save(system, "ack.telegram.en", "Second {{ topic }}", expected=1)[1]["version"] == 2
    status, body = call(system, "POST", "/admin/api/templates/ack.telegram.en/rollback", {"version": 1})
    assert status == 200 and body["version"] == 3
    assert system.store.template("ack.telegram.en")["source"] == "First {{ topic }}"
    status, body = call(system, "POST", "/admin/api/templates/ack.telegram.en/rollback",
                        {"version": 0, "expected_version": 2})
    assert status == 409
    status, body = call(system, "POST", "/admin/api/templates/ack.telegram.en/rollback", {"version": 0})
    assert status == 200 and body["version"] == 4
    status, current = call(system, "GET", "/admin/api/templates/ack.telegram.en")
    assert "Hi {{ customer.first_name }}, thanks" in current["source"] and current["version"] == 4
    assert call(system, "POST", "/admin/api/templates/ack.telegram.en/rollback", {"version": 9})[0] == 404
    status, versions = call(system, "GET", "/admin/api/templates/ack.telegram.en/versions")
    assert [v["note"] for v in versions["versions"]] == ["rollback to version 0", "rollback to version 1", "", "",
                                                         "shipped"]


def test_a_stored_template_that_fails_anyway_falls_back_to_the_shipped_text(system, caplog):
    """Belt and braces: a source that got into the table without the check (an older release, a
    hand edit) and fails must not stop the acknowledgement."""
    from integrations.dynamodb import to_item

    system.store.ddb.put_item(TableName=system.store.table, Item=to_item(
        {"pk": "TEMPLATES", "sk": "ack.telegram.uk", "source": "{{ 1 // 0 }}", "version": 1}))
    system.use_settings()
    system.deliver(load_fixture("telegram", "text_private"))
    [sent] = system.sent()
    assert sent.params["text"].startswith("Вітаємо, Olena!")
    assert "edited template ack.telegram.uk failed" in caplog.text


def test_changes_reach_a_running_function_within_its_30_second_cache(system, monkeypatch):
    from integrations import dynamodb

    now = [1000.0]
    monkeypatch.setattr(dynamodb.admin._time, "monotonic", lambda: now[0])
    running = dynamodb.DynamoStore()             # another container's copy
    assert running.load_settings().templates == {}
    assert save(system, "ack.telegram.en", NEW_ACK)[0] == 200
    now[0] += 29
    assert running.load_settings().templates == {}
    now[0] += 2
    assert running.load_settings().templates == {"ack.telegram.en": NEW_ACK}


# -- settings ---------------------------------------------------------------------------------------
def changed(document: dict, path: tuple, value) -> dict:
    """A copy of a settings document with the value at `path` replaced."""
    copy = json.loads(json.dumps(document))
    target = copy
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    return copy


def test_settings_round_trip_validation_and_history(system):
    status, body = call(system, "GET", "/admin/api/settings")
    assert status == 200 and body["settings"]["business"]["name"] == "Acme" and body["version"] == 1
    document, version = body["settings"], body["version"]

    for path, value, field in [
        (("hours", "mon"), ["9-5"], "hours.mon[0]"),
        (("hours", "mon"), ["09:00-13:00", "25:00-26:00"], "hours.mon[1]"),
        (("business", "timezone"), "Mars/Olympus", "business.timezone"),
        (("faq",), [{"title": "x", "url": "javascript:alert(1)"}], "faq[0].url"),
        (("surveys", "sampling"), 1.5, "surveys.sampling"),
        (("retention_days",), 0, "retention_days"),
        (("holidays", "dates"), ["2026-02-30"], "holidays.dates[0]"),
    ]:
        status, body = call(system, "PUT", "/admin/api/settings",
                            {"settings": changed(document, path, value), "expected_version": version})
        assert status == 400 and body["field"] == field, (field, body)
    assert call(system, "PUT", "/admin/api/settings", {"settings": "nope", "expected_version": version})[0] == 400
    assert call(system, "GET", "/admin/api/settings")[1]["version"] == version      # nothing saved

    document["business"]["name"] = "Globex"
    document["hours"]["sat"] = ["10:00-12:00", "13:00-15:00"]
    status, body = call(system, "PUT", "/admin/api/settings", {"settings": document, "expected_version": version})
    assert status == 200 and body["version"] == version + 1 and body["updated_by"] == "Dana"
    status, body = call(system, "PUT", "/admin/api/settings", {"settings": document, "expected_version": version})
    assert status == 409
    status, body = call(system, "GET", "/admin/api/settings")
    assert body["settings"]["hours"]["sat"] == ["10:00-12:00", "13:00-15:00"]
    assert [(h["version"], h["updated_by"]) for h in body["history"]] == [(2, "Dana"), (1, "tests")]

    # the next acknowledgement uses them (the worker's cached copy is the one just cleared)
    system.deliver(update_from(load_fixture("telegram", "text_private"), 5001, OPEN_TIME))
    [sent] = system.sent()
    assert "Globex" in sent.params["text"]


def test_stats_are_the_figures_of_firstreply_stats(system):
    system.deliver(update_from(load_fixture("telegram", "text_private"), 5002, OPEN_TIME))
    # counted on the day the worker's clock says, the acknowledgement too (never the stand-in's date)
    day = OPEN_TIME.date()
    status, body = call(system, "GET", f"/admin/api/stats?since={day}&until={day}")
    assert status == 200 and body["since"] == day.isoformat()
    assert body["channels"]["telegram"]["conversations"] == 1 and body["channels"]["telegram"]["acks"] == 1
    assert call(system, "GET", "/admin/api/stats?since=yesterday")[0] == 400
    assert call(system, "GET", "/admin/api/stats?since=2026-02-01&until=2026-01-01")[0] == 400


def test_settings_of_the_wrong_type_are_400_naming_the_field(system):
    """Every field the form sends, with a value of the wrong type: a 400 that names it, never a
    500 and never a list taken apart character by character."""
    document, version = (lambda b: (b["settings"], b["version"]))(call(system, "GET", "/admin/api/settings")[1])
    cases = [
        (("holidays", "dates"), "2026-12-25", "holidays.dates"),
        (("holidays", "dates"), 20261225, "holidays.dates"),
        (("holidays", "dates"), {"2026-12-25": True}, "holidays.dates"),
        (("holidays", "dates"), [20261225], "holidays.dates[0]"),
        (("holidays", "dates"), [["2026-12-25"]], "holidays.dates[0]"),
        (("holidays", "country"), 7, "holidays.country"),
        (("holidays",), ["2026-12-25"], "holidays"),
        (("business",), "Acme", "business"),
        (("business", "name"), ["Acme"], "business.name"),
        (("hours",), ["09:00-18:00"], "hours"),
        (("hours", "mon"), {"from": "09:00"}, "hours.mon"),
        (("faq",), {"title": "x"}, "faq"),
        (("faq",), ["https://acme.example"], "faq[0]"),
        (("faq",), [{"title": "x", "url": "https://a.example", "keywords": "delivery"}], "faq[0].keywords"),
        (("faq",), [{"title": "x", "url": "https://a.example", "keywords": [["a"]]}], "faq[0].keywords[0]"),
        (("expected_response",), 5, "expected_response"),
        (("expected_response",), {"en": ["soon"]}, "expected_response.en"),
        (("acknowledgement",), "on", "acknowledgement"),
        (("acknowledgement", "faq_links"), "3", "acknowledgement.faq_links"),
        (("conversation_timeout_minutes",), [30], "conversation_timeout_minutes"),
        (("transcripts",), True, "transcripts"),
        (("surveys",), "yes", "surveys"),
        (("surveys", "sampling"), "all", "surveys.sampling"),
        (("surveys", "sampling"), float("nan"), "surveys.sampling"),
        (("retention_days",), 1e300, "retention_days"),
    ]
    for path, value, field in cases:
        status, body = call(system, "PUT", "/admin/api/settings",
                            {"settings": changed(document, path, value), "expected_version": version})
        assert status == 400 and body["field"] == field, (path, value, status, body)
    assert call(system, "GET", "/admin/api/settings")[1]["version"] == version      # nothing saved
