"""`firstreply register-webhooks --url https://…`: point the channels at a deployed API.

Telegram: `setWebhook` with the secret token it will send back and only the updates we handle.
X: the app's webhook (X checks it with a CRC request to the deployed API first) and the support
account's subscription. WhatsApp, Messenger, Instagram: `cli/meta_webhooks.py`. Slack: an app is created from a manifest, so the filled manifest is
printed. Credentials come from the environment or, with `--secrets-path`, from SSM. A channel
without credentials is skipped; a failure makes the command exit 1.
"""
from __future__ import annotations

import os

from cli.channels import https_base_url, slack_manifest


def run(url: str, secrets_path: str | None) -> int:
    base = https_base_url(url)
    if secrets_path:
        os.environ["FIRSTREPLY_SECRETS_PATH"] = secrets_path
    from integrations import secrets, x
    from integrations.telegram import TelegramSender

    failures = 0

    token, secret = secrets.get("TELEGRAM_BOT_TOKEN"), secrets.get("TELEGRAM_WEBHOOK_SECRET")
    if token and not secret:
        print("telegram: FAILED, TELEGRAM_WEBHOOK_SECRET is not set: without it the webhook would accept anyone")
        failures += 1
    elif token:
        try:
            info = TelegramSender(token).register_webhook(f"{base}/webhooks/telegram", secret)
            print(f"telegram: webhook {info['url']} (updates: {', '.join(info['allowed_updates'])}; "
                  f"{info['pending_update_count']} pending)")
        except Exception as exc:   # the SDK's errors name what Telegram said
            print(f"telegram: FAILED, {exc}")
            failures += 1
    else:
        print("telegram: skipped, TELEGRAM_BOT_TOKEN is not set")

    creds, bearer = x.credentials(), secrets.get("X_BEARER_TOKEN")
    if creds and bearer:
        try:
            found = x.register_webhook(f"{base}/webhooks/x", creds, bearer)
            print(f"x: webhook {found['webhook_id']} {found['url']}, support account "
                  f"{'subscribed' if found['subscribed'] else 'NOT subscribed'}")
            failures += not found["subscribed"]
        except Exception as exc:
            print(f"x: FAILED, {exc}")
            failures += 1
    else:
        print("x: skipped, the X consumer key and secret, access token and secret, and bearer token are all needed")

    from cli.meta_webhooks import register as register_meta

    failures += register_meta(base)

    print("slack: create the app from this manifest (api.slack.com/apps → Create New App → From an app manifest),"
          " then store SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET:\n")
    print(slack_manifest(base), end="")
    return 1 if failures else 0
