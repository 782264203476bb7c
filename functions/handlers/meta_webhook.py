"""GET/POST /webhooks/whatsapp and /webhooks/meta (Messenger and Instagram, told apart by the
payload's `object`): the verification handshake; then verify the signature on the raw body, store
each message of the batch once (keyed by its message id), record status callbacks on our outbound
messages, enqueue, answer. The reply is the worker's.

Meta retries a delivery that is not answered 200 for days, so a batch whose structure is readable
is answered 200 even when single items in it are not (they are logged and skipped); only a body
that is not a webhook payload at all is a 400.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from chalice.app import Response

from functions.handlers.http import answer, too_large
from functions.handlers.intake import accept
from integrations import meta, secrets

log = logging.getLogger(__name__)


def verify(request) -> Response:
    """Meta's GET when the callback URL is saved: echo hub.challenge only for our verify token."""
    challenge = meta.handshake(request.query_params, secrets.get("META_VERIFY_TOKEN"))
    if challenge is None:
        return answer(403, error="verification failed")
    return Response(body=challenge, status_code=200, headers={"Content-Type": "text/plain"})


def handle(request, product: str) -> Response:
    raw = request.raw_body or b""
    if too_large(raw, request.headers):
        return answer(413, error="body too large")
    if not meta.verify_signature(request.headers, raw, secrets.get("META_APP_SECRET")):
        return answer(401, error="bad or missing X-Hub-Signature-256")
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return answer(400, error="body is not JSON")
    try:
        if product == "whatsapp":
            from integrations import whatsapp

            batch = whatsapp.to_batch(payload)
        else:
            batch = meta.to_batch(payload)
    except meta.Malformed as exc:
        return answer(400, error=str(exc))

    if batch.statuses:
        from integrations.dynamodb import deliveries

        now = datetime.now(timezone.utc)
        for status in batch.statuses:   # receipts of what we sent: recorded, never a customer's message
            deliveries.record_status(status, now)
    stored = duplicates = 0
    for inbound in batch.messages:
        if accept(inbound):
            stored += 1
        else:
            duplicates += 1
    if batch.ignored:
        log.info("meta webhook items ignored: %s", sorted(set(batch.ignored)), extra={"product": product})
    return answer(200, ok=True, stored=stored, duplicates=duplicates, statuses=len(batch.statuses),
                  ignored=len(batch.ignored))
