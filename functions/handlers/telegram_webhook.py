"""POST /webhooks/telegram: verify, parse, store once, enqueue, answer. The reply is the worker's."""
from __future__ import annotations

import logging
from functions.handlers.http import BadRequest, answer, converted, read_json, too_large
from functions.handlers.intake import accept
from integrations import secrets, telegram, telegram_desk

log = logging.getLogger(__name__)


def handle(request) -> object:
    if not telegram.verify_secret(request.headers, secrets.get("TELEGRAM_WEBHOOK_SECRET")):
        return answer(401, error="bad or missing secret token")
    raw = request.raw_body
    if too_large(raw, request.headers):
        return answer(413, error="body too large")
    try:
        update = read_json(raw)
        bot = telegram.BotIdentity(secrets.get("TELEGRAM_BOT_TOKEN"))
        # A press on a desk button, or a person writing in a forum topic (an agent in a desk
        # topic, or a customer in their own forum group): the worker tells which.
        inbound = (converted(telegram_desk.desk_action, update) or converted(telegram_desk.desk_message, update, bot)
                   or converted(telegram.to_inbound, update, bot))
    except BadRequest as exc:
        return answer(400, error=str(exc))
    except telegram.Unavailable as exc:   # not the update's fault: Telegram delivers it again
        log.warning("telegram group message not classified: %s", exc)
        return answer(503, error="bot identity unavailable, try again")
    except telegram.Ignored as exc:
        log.info("telegram update ignored: %s", exc.reason,
                 extra={"update_id": update.get("update_id")})
        return answer(200, ok=True, ignored=exc.reason)

    if not accept(inbound):
        return answer(200, ok=True, duplicate=True)
    return answer(200, ok=True)
