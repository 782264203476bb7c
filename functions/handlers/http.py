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
