"""Structured JSON logs (Powertools formatter) on the root logger, so every module's
`logging.getLogger(__name__)` logs one JSON object per line with its `extra` fields
(conversation_id, event_id, …). The dev server replaces this with readable lines."""
from __future__ import annotations

import logging
import os


def configure(app) -> None:
    if os.environ.get("FIRSTREPLY_LOG_FORMAT") == "text":
        return
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(LambdaPowertoolsFormatter(service="firstreply"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
    for chatty in ("botocore", "urllib3", "httpx", "telegram"):   # their INFO is noise per request
        logging.getLogger(chatty).setLevel(logging.WARNING)
    app.log.handlers[:] = []
    app.log.propagate = True
