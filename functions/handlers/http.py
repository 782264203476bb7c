"""Answers every webhook shares: small JSON bodies, never a stack trace; and reading a verified
body so that whatever a sender puts in it is a 4xx, never a 5xx."""
from __future__ import annotations

import json

from functions import jsonbody
from typing import Any, Callable, TypeVar

from chalice.app import Response

MAX_BODY_BYTES = 1_000_000
# No channel nests its payloads deeper than a dozen levels; a body nested past this is not one of
# theirs, and everything that walks a document recursively (the JSON parser itself, past ~1,000
# levels) is safe below it.
MAX_DEPTH = 64
# What a pure converter (a channel adapter's `to_inbound`, no I/O) raises when the input is odd:
# a wrong type, a missing key, a timestamp out of range (OverflowError, OSError from the platform's
# time functions), undecodable text. By construction that is the input's fault, so a 400.
INPUT_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, OSError,
                RecursionError, UnicodeError)
T = TypeVar("T")


class BadRequest(ValueError):
    """The verified body cannot be read: answer 400 and store nothing."""


def answer(status: int, **body) -> Response:
    return Response(body=json.dumps(body or {"ok": status < 400}),
                    status_code=status, headers={"Content-Type": "application/json"})


def too_large(raw_body: bytes | None, headers) -> bool:
    declared = (headers.get("content-length") or "0").strip()
    return ((declared.isascii() and declared.isdigit() and len(declared) < 16 and int(declared) > MAX_BODY_BYTES)
            or len(raw_body or b"") > MAX_BODY_BYTES)


def depth(value: Any) -> int:
    """How deeply `value` nests (iteratively: a recursive walk is what deep nesting breaks)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def read_json(raw: bytes | str | None) -> Any:
    """The body as JSON, or BadRequest: not UTF-8, not JSON, or nested past MAX_DEPTH (the parser
    raises RecursionError, not ValueError, long before memory runs out)."""
    try:
        document = jsonbody.loads(raw)
    except jsonbody.BadBody as exc:
        raise BadRequest(str(exc)) from None
    if depth(document) > MAX_DEPTH:
        raise BadRequest(f"body nested deeper than {MAX_DEPTH} levels")
    return document


def converted(convert: Callable[..., T], *args: Any) -> T:
    """Run a channel's pure converter; what it raises for odd input is a BadRequest. Its own
    exceptions for valid payloads we ignore (`Ignored`) are not input errors and pass through."""
    try:
        return convert(*args)
    except BadRequest:
        raise
    except INPUT_ERRORS as exc:
        raise BadRequest(str(exc)[:200] or type(exc).__name__) from None
