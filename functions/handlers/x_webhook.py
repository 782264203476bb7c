"""GET /webhooks/x (CRC) and POST /webhooks/x (DM events): HMAC-SHA256 with the consumer secret."""
from __future__ import annotations

import logging

from functions.handlers.http import BadRequest, answer, converted, read_json, too_large
from functions.handlers.intake import accept
from integrations import secrets, x

log = logging.getLogger(__name__)


def handle_crc(request) -> object:
    secret = secrets.get("X_CONSUMER_SECRET")
    token = (request.query_params or {}).get("crc_token")
    if not token:
        return answer(400, error="crc_token missing")
    if not x.crc_token_ok(token):   # signing anything else would sign forged events (see x.py)
        return answer(400, error="crc_token is not shaped like X's")
    if not secret:
        return answer(401, error="X_CONSUMER_SECRET is not configured")
    return answer(200, **x.crc_response(token, secret))


def handle_event(request) -> object:
    if too_large(request.raw_body, request.headers):
        return answer(413, error="body too large")
    if not x.verify(request.headers, request.raw_body or b"", secrets.get("X_CONSUMER_SECRET")):
        return answer(401, error="bad signature")
    try:
        inbounds = converted(x.to_inbounds, read_json(request.raw_body))
    except BadRequest as exc:
        return answer(400, error=str(exc))
    accepted = sum(accept(inbound) for inbound in inbounds)
    if not inbounds:
        log.info("x event without customer DMs ignored")
    return answer(200, ok=True, accepted=accepted)
