"""`register-webhooks`, the Meta part: what WhatsApp, Messenger and Instagram need to call us.

- The app's webhook subscriptions (`POST /{app-id}/subscriptions`, with the app access token
  `app-id|app-secret`): `whatsapp_business_account` → /webhooks/whatsapp, `page` and `instagram` →
  /webhooks/meta, each with META_VERIFY_TOKEN, which Meta checks at once with the GET handshake (so
  the API must be deployed first). Needs META_APP_ID; without it, the values to paste in the App
  Dashboard (Webhooks) are printed.
- WhatsApp: the business account subscribes the app (`POST /{waba-id}/subscribed_apps`) when
  WHATSAPP_BUSINESS_ACCOUNT_ID is set.
- Messenger/Instagram: the page subscribes the app to its messaging fields
  (`POST /me/subscribed_apps` with META_PAGE_TOKEN; Instagram messages of the linked account follow).
Every request goes to META_API_URL (the stand-in locally).
"""
from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request

from cli.channels import send

PAGE_FIELDS = "messages,messaging_postbacks,message_deliveries,message_reads,message_echoes,message_reactions"
APP_OBJECTS = (("whatsapp_business_account", "/webhooks/whatsapp", "messages"),
               ("page", "/webhooks/meta", PAGE_FIELDS),
               ("instagram", "/webhooks/meta", "messages,messaging_postbacks,message_reactions"))


def _post(path: str, params: dict[str, str], bearer: str = "") -> tuple[int, dict]:
    from integrations.meta import api_url, api_version

    request = urllib.request.Request(f"{api_url()}/v{api_version()}{path}", method="POST",
                                     data=urllib.parse.urlencode(params).encode(),
                                     headers={"Content-Type": "application/x-www-form-urlencoded",
                                              **({"Authorization": f"Bearer {bearer}"} if bearer else {})})
    try:
        status, body = send(request)
    except OSError as exc:   # unreachable: reported like a refusal, the other channels still run
        return 0, {"error": {"message": f"cannot reach {api_url()}: {exc}"}}
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {"error": {"message": body[:200]}}


def _said(answer: dict) -> str:
    return (answer.get("error") or {}).get("message", "") or json.dumps(answer)[:200]


def register(base: str) -> int:
    """Subscribe what can be subscribed; print the rest. Returns the number of failures."""
    from integrations import secrets

    failures = 0
    app_secret, verify_token = secrets.get("META_APP_SECRET"), secrets.get("META_VERIFY_TOKEN")
    app_id = os.environ.get("META_APP_ID", "")
    wa_token, page_token = secrets.get("WHATSAPP_TOKEN"), secrets.get("META_PAGE_TOKEN")
    if not (wa_token or page_token):
        print("meta: skipped, neither WHATSAPP_TOKEN nor META_PAGE_TOKEN is set")
        return 0
    if not app_secret or not verify_token:
        print("meta: FAILED, META_APP_SECRET and META_VERIFY_TOKEN are both needed: without them no webhook "
              "could be verified")
        return 1
    wanted = [o for o in APP_OBJECTS if (o[0] == "whatsapp_business_account" and wa_token)
              or (o[0] != "whatsapp_business_account" and page_token)]
    for obj, route, fields in wanted:
        if not app_id:
            print(f"meta: {obj}: in the App Dashboard → Webhooks → {obj}, set the callback URL {base}{route}, "
                  f"the verify token (META_VERIFY_TOKEN) and subscribe to {fields} (or set META_APP_ID and run again)")
            continue
        status, answer = _post(f"/{app_id}/subscriptions", {
            "object": obj, "callback_url": f"{base}{route}", "verify_token": verify_token, "fields": fields,
            "access_token": f"{app_id}|{app_secret}"})
        ok = status < 400 and answer.get("success")
        print(f"meta: {obj}: {'webhook ' + base + route if ok else 'FAILED, ' + _said(answer)}")
        failures += not ok
    waba = os.environ.get("WHATSAPP_BUSINESS_ACCOUNT_ID", "")
    if wa_token and waba:
        status, answer = _post(f"/{waba}/subscribed_apps", {}, bearer=wa_token)
        ok = status < 400 and answer.get("success")
        print(f"whatsapp: business account {waba} {'subscribed' if ok else 'NOT subscribed: ' + _said(answer)}")
        failures += not ok
    elif wa_token:
        print("whatsapp: set WHATSAPP_BUSINESS_ACCOUNT_ID to subscribe the business account to the app here "
              "(or do it in WhatsApp Manager)")
    if page_token:
        status, answer = _post("/me/subscribed_apps", {"subscribed_fields": PAGE_FIELDS, "access_token": page_token})
        ok = status < 400 and answer.get("success")
        print(f"messenger/instagram: page {'subscribed to ' + PAGE_FIELDS if ok else 'NOT subscribed: ' + _said(answer)}")
        failures += not ok
    return failures
