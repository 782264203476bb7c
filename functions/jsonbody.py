"""Reading a signed webhook body as JSON, strictly enough that whatever parses can be stored and
sent on. The channels' adapters then check each field for the type the channel documents."""
from __future__ import annotations

import json
from typing import Any


class BadBody(ValueError):
    """Not JSON we can hold: the webhook answers 400 and stores nothing."""


def loads(raw: bytes | str | None) -> Any:
    """UTF-8 only (the channels send nothing else, while `json.loads` on bytes would also guess
    UTF-16/32), nesting the parser can take (deep nesting raises RecursionError, which is not a
    ValueError, so it escaped as a 500) and no lone surrogates (`"\\ud800"` parses, then fails
    when DynamoDB or a channel encodes the text: in the worker, on every retry)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else (raw or "")
        value = json.loads(text)
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeError:
        raise BadBody("body is not UTF-8 JSON") from None
    except RecursionError:
        raise BadBody("body is nested too deeply") from None
    except ValueError:
        raise BadBody("body is not JSON") from None
    return value


def optional_object(value: Any, what: str, error: type[ValueError] = BadBody) -> dict:
    """A field the channel documents as an object: absent is {}, anything else raises `error`
    (each adapter's own "malformed" exception, which its webhook answers with 400)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise error(f"{what} is not an object")
    return value
