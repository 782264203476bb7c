"""Signed, expiring tokens for links we send customers (unsubscribe, survey answers).

`payload.signature`, both base64url: the payload is compact JSON naming what the token is for
(`k`), its subject (`s`) and its expiry (`e`, epoch seconds); the signature is HMAC-SHA256 with the
deployment's secret. A forged, altered, expired or wrong-kind token is refused.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from datetime import datetime, timedelta
from typing import Callable


class BadToken(ValueError):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason   # "forged", "expired" or "malformed"


# Where the signing key comes from: the environment, unless the handlers hand over their secret
# store (SSM in AWS); the core itself reads no outside system.
secret_source: Callable[[str], str] = lambda name: os.environ.get(name, "")


def secret() -> bytes:
    value = secret_source("FIRSTREPLY_SIGNING_SECRET")
    if not value:
        raise RuntimeError("FIRSTREPLY_SIGNING_SECRET is not set: links cannot be signed")
    return value.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make(kind: str, subject: str, now: datetime, valid_for: timedelta) -> str:
    payload = _b64(json.dumps({"k": kind, "s": subject, "e": int((now + valid_for).timestamp())},
                              separators=(",", ":")).encode())
    return f"{payload}.{_b64(hmac.new(secret(), payload.encode(), hashlib.sha256).digest())}"


def read(token: str, kind: str, now: datetime) -> str:
    """The subject of a valid token of `kind`; BadToken otherwise."""
    try:
        payload, signature = token.split(".")
        expected = hmac.new(secret(), payload.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_unb64(signature), expected):
            raise BadToken("forged")
        data = json.loads(_unb64(payload))
    except BadToken:
        raise
    except (ValueError, TypeError):
        raise BadToken("malformed") from None
    if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("s"), str):
        raise BadToken("forged")
    if not isinstance(data.get("e"), int) or data["e"] < now.timestamp():
        raise BadToken("expired")
    return data["s"]
