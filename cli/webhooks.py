"""`firstreply register-webhooks --url https://…`: point the channels at a deployed API.

Telegram: `setWebhook` with the secret token it will send back and only the updates we handle;
with a desk group (`--telegram-group`, or `desk.telegram_group` of the settings file) it checks
that the group is a forum and the bot an administrator who may manage topics.
X: the app's webhook (X checks it with a CRC request to the deployed API first) and the support
account's subscription. WhatsApp, Messenger, Instagram: `cli/meta_webhooks.py`. Slack: an app is created from a manifest, so the filled manifest is
printed. Credentials come from the environment or, with `--secrets-path`, from SSM. A channel
without credentials is skipped; a failure makes the command exit 1.
"""
from __future__ import annotations

import os

from cli.channels import https_base_url, slack_manifest


def desk_group(group: str | None, config: str | None) -> str:
    """The Telegram desk group to check: `--telegram-group`, else the settings file's."""
    if group:
        return group
    if not config or not os.path.exists(config):
        return ""
    from functions.settings import load_settings_file

    return load_settings_file(config).desk.telegram_group


def check_desk(token: str, group: str) -> int:
    """The desk group must be a forum supergroup where the bot is an administrator who may manage
    topics; says exactly what is missing. Returns the number of failures (0 or 1)."""
    from integrations.telegram import BotIdentity, TelegramSender
    from integrations.telegram_desk import check_group

    try:
        problems = check_group(TelegramSender(token), group, BotIdentity(token).id)
    except Exception as exc:   # the SDK's errors name what Telegram said
        print(f"telegram desk: FAILED, {exc}")
        return 1
    if problems:
        print(f"telegram desk: group {group} is not ready: " + "; ".join(problems))
        return 1
    print(f"telegram desk: group {group} is a forum and the bot may manage its topics and delete them")
    return 0


def run(url: str, secrets_path: str | None, telegram_group: str | None = None, config: str | None = None) -> int:
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
        group = desk_group(telegram_group, config)
        if group:
            failures += check_desk(token, group)
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
