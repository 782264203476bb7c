"""The operator's side of WhatsApp, Messenger and Instagram: register-webhooks against the Graph API
stand-in, `firstreply post` signing like Meta, the secrets' names, and the stand-in's own checks."""
from __future__ import annotations

import json
import urllib.request

import pytest

from cli import main
from conftest import FIXTURES, load_fixture

API = "https://abc123.execute-api.eu-west-1.amazonaws.com/api"


@pytest.fixture
def graph(monkeypatch, meta_api):
    meta_api.reset()
    monkeypatch.setenv("META_API_URL", meta_api.url)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")          # only the Meta part is under test here
    for name in ("X_CONSUMER_KEY", "X_CONSUMER_SECRET"):
        monkeypatch.delenv(name)
    return meta_api


def test_register_webhooks_subscribes_the_app_the_business_account_and_the_page(graph, monkeypatch, capsys):
    monkeypatch.setenv("META_APP_ID", "1517776481860111")
    monkeypatch.setenv("WHATSAPP_BUSINESS_ACCOUNT_ID", "102290129340398")
    assert main(["register-webhooks", "--url", API]) == 0
    apps = {s["object"]: s for s in graph.subscriptions if s["path"].endswith("/subscriptions")}
    assert apps["whatsapp_business_account"]["callback_url"] == f"{API}/webhooks/whatsapp"
    assert apps["page"]["callback_url"] == apps["instagram"]["callback_url"] == f"{API}/webhooks/meta"
    assert all(s["verify_token"] == "meta-verify-token-42" for s in apps.values())
    assert apps["page"]["access_token"] == "1517776481860111|meta-app-secret-for-tests"   # the app token
    [waba] = [s for s in graph.subscriptions if s["path"].endswith("102290129340398/subscribed_apps")]
    [page] = [s for s in graph.subscriptions if s["path"].endswith("/me/subscribed_apps")]
    assert "messages" in page["subscribed_fields"] and "message_echoes" in page["subscribed_fields"]
    out = capsys.readouterr().out
    assert "whatsapp: business account 102290129340398 subscribed" in out


def test_without_an_app_id_it_prints_what_to_paste_and_a_refusal_fails(graph, monkeypatch, capsys):
    from cli.standins.meta import graph_error

    graph.fail_next(graph_error(190, "Invalid OAuth access token."), method="subscribe")
    assert main(["register-webhooks", "--url", API]) == 1
    out = capsys.readouterr().out
    assert f"callback URL {API}/webhooks/whatsapp" in out and "verify token (META_VERIFY_TOKEN)" in out
    assert "messenger/instagram: page NOT subscribed: Invalid OAuth access token." in out


def test_register_webhooks_refuses_to_subscribe_without_an_app_secret(graph, monkeypatch, capsys):
    monkeypatch.delenv("META_APP_SECRET")
    assert main(["register-webhooks", "--url", API]) == 1
    assert "META_APP_SECRET and META_VERIFY_TOKEN are both needed" in capsys.readouterr().out
    assert graph.subscriptions == []


@pytest.mark.parametrize("channel, fixture, route", [
    ("whatsapp", "whatsapp/text.json", "/webhooks/whatsapp"),
    ("messenger", "messenger/text.json", "/webhooks/meta"),
    ("instagram", "instagram/story_mention.json", "/webhooks/meta"),
])
def test_post_signs_like_meta(system, meta_api, channel, fixture, route):
    from cli.channels import signed_request

    body = (FIXTURES / fixture).read_bytes()
    path, headers = signed_request(channel, body)
    assert path == route
    response = system.client.http.post(path, body=body, headers={"Content-Type": "application/json", **headers})
    assert response.status_code == 200 and response.json_body["stored"] == 1


def test_the_post_command_reaches_a_server(monkeypatch, capsys):
    """`firstreply post whatsapp FILE` against a tiny server that checks the signature as we do."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from integrations.meta import verify_signature

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, verify_signature(self.headers, body, "dev-meta-app-secret")))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("META_APP_SECRET")    # the dev server's secret, as `make dev` uses
    try:
        assert main(["post", "whatsapp", str(FIXTURES / "whatsapp" / "text.json"),
                     "--url", f"http://127.0.0.1:{server.server_address[1]}"]) == 0
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [("/webhooks/whatsapp", True)]


def test_every_meta_secret_is_read_from_ssm_like_the_others():
    from integrations.secrets import NAMES

    for name in ("META_APP_SECRET", "META_VERIFY_TOKEN", "WHATSAPP_TOKEN", "WHATSAPP_PHONE_NUMBER_ID",
                 "META_PAGE_TOKEN"):
        assert name in NAMES


def test_the_stand_in_refuses_a_wrong_token_as_the_graph_api_does(meta_api):
    request = urllib.request.Request(f"{meta_api.url}/v23.0/106540352242922/messages", method="POST",
                                     data=json.dumps({"messaging_product": "whatsapp", "to": "1"}).encode(),
                                     headers={"Authorization": "Bearer nope", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401 and json.loads(refused.value.read())["error"]["code"] == 190
    assert load_fixture("whatsapp", "status_failed")["object"] == "whatsapp_business_account"
