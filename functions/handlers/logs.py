"""Structured JSON logs (Powertools formatter) on the root logger, so every module's
`logging.getLogger(__name__)` logs one JSON object per line with its `extra` fields
(conversation_id, event_id, …). The dev server replaces this with readable lines."""
from __future__ import annotations

import logging
import os


# Libraries whose INFO lines are noise per request, and some carry secrets: httpx logs each URL,
# and Telegram's Bot API puts the bot token in the URL.
CHATTY = ("botocore", "urllib3", "httpx", "telegram")


def quiet_libraries() -> None:
    for chatty in CHATTY:
        logging.getLogger(chatty).setLevel(logging.WARNING)


def configure(app) -> None:
    if os.environ.get("FIRSTREPLY_LOG_FORMAT") == "text":
        return
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(LambdaPowertoolsFormatter(service="firstreply"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
    quiet_libraries()
    app.log.handlers[:] = []
    app.log.propagate = True
