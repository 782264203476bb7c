"""Structured JSON logs on the root logger, so every module's `logging.getLogger(__name__)` logs one
JSON object per line with its `extra` fields (conversation_id, event_id, …). The dev server
replaces this with readable lines.

The formatter is the standard library's: Powertools' logger costs ~15 ms of imports on every cold
start (its package, and through it `decimal`, `pathlib`, `importlib.util`), for a dozen lines
of formatting. The output keeps Powertools' field names (level, location, message, timestamp,
service, exception), so log queries written for it still work."""
from __future__ import annotations

import json
import logging
import os
import time

# what every LogRecord carries; anything else on a record came through `extra=` and is logged
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                         + f".{int(record.msecs):03d}Z",
            "service": self.service,
            **{k: v for k, v in record.__dict__.items() if k not in _STANDARD},
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
            entry["exception_name"] = record.exc_info[0].__name__ if record.exc_info[0] else ""
        return json.dumps(entry, default=str, ensure_ascii=False)


# Libraries whose INFO lines are noise per request, and some carry secrets: httpx logs each URL,
# and Telegram's Bot API puts the bot token in the URL.
CHATTY = ("botocore", "urllib3", "httpx", "telegram")


def quiet_libraries() -> None:
    for chatty in CHATTY:
        logging.getLogger(chatty).setLevel(logging.WARNING)


def configure(app) -> None:
    if os.environ.get("FIRSTREPLY_LOG_FORMAT") == "text":
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "firstreply")))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
    quiet_libraries()
    app.log.handlers[:] = []
    app.log.propagate = True
