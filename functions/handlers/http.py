"""Answers every webhook shares: small JSON bodies, never a stack trace."""
from __future__ import annotations

import json

from chalice.app import Response

MAX_BODY_BYTES = 1_000_000


def answer(status: int, **body) -> Response:
    return Response(body=json.dumps(body or {"ok": status < 400}),
                    status_code=status, headers={"Content-Type": "application/json"})


def too_large(raw_body: bytes | None, headers) -> bool:
    declared = headers.get("content-length") or "0"
    # isdigit() is also true of "¹²", which int() refuses: only ASCII digits are a length
    return (declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES) or len(raw_body or b"") > MAX_BODY_BYTES


class BadBody(ValueError):
    """A signed body that is not JSON we can hold: answered 400, never stored."""


def load_json(raw_body: bytes | None):
    """The body as JSON, strictly: UTF-8 only (channels send nothing else; `json.loads` on bytes
    would also guess UTF-16/32), nesting the parser can take (it raises RecursionError, not a
    ValueError, on deep nesting) and no lone surrogates (`"\\ud800"` parses, then fails when
    DynamoDB or a channel encodes the text, i.e. in every retry of the worker)."""
    try:
        value = json.loads((raw_body or b"").decode("utf-8"))
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeError:
        raise BadBody("body is not UTF-8 JSON") from None
    except RecursionError:
        raise BadBody("body is nested too deeply") from None
    except ValueError:
        raise BadBody("body is not JSON") from None
    return value
