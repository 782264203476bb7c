"""Secrets: from the environment locally, from SSM Parameter Store in AWS.

In AWS the stage sets `FIRSTREPLY_SECRETS_PATH` (e.g. `/firstreply/prod`); a secret `NAME` is then
the SecureString parameter `/firstreply/prod/NAME`, read through Powertools' parameters utility and
cached per container for five minutes (a rotated secret takes effect within that). An environment
variable of the same name wins, so local runs and tests need no SSM.
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

CACHE_SECONDS = 300
# every secret the functions read, so deployment, docs and tests agree on the names
NAMES = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET",
         "X_CONSUMER_KEY", "X_CONSUMER_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET", "X_BEARER_TOKEN",
         "FIRSTREPLY_SIGNING_SECRET", "FIRSTREPLY_ADMIN_TOKEN",
         "META_APP_SECRET", "META_VERIFY_TOKEN", "WHATSAPP_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "META_PAGE_TOKEN")


def get(name: str) -> str:
    """The secret's value, or "" when it is not configured anywhere."""
    value = os.environ.get(name)
    if value:
        return value
    path = os.environ.get("FIRSTREPLY_SECRETS_PATH", "").rstrip("/")
    if not path:
        return ""
    from aws_lambda_powertools.utilities import parameters

    try:
        return parameters.get_parameter(f"{path}/{name}", decrypt=True, max_age=CACHE_SECONDS) or ""
    except parameters.exceptions.GetParameterError as exc:
        # not created (a channel that is not used) or not readable: the channel stays unconfigured
        log.info("secret %s not available from SSM: %s", name, exc)
        return ""
