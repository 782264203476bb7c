"""/unsubscribe/{token}: GET shows a confirmation page and changes nothing (mail scanners follow
links); POST unsubscribes, which is also what RFC 8058 one-click clients send."""
from __future__ import annotations

import html

from chalice.app import Response

from functions import tokens

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width"><title>{title}</title><style>body{{font:16px system-ui,sans-serif;
max-width:32rem;margin:3rem auto;padding:0 1rem}}button{{font:inherit;padding:.5rem 1rem}}</style></head>
<body><h1>{title}</h1><p>{text}</p>{form}</body></html>"""


def page(status: int, title: str, text: str, form: str = "") -> Response:
    return Response(body=PAGE.format(title=html.escape(title), text=html.escape(text), form=form),
                    status_code=status, headers={"Content-Type": "text/html; charset=utf-8",
                                                 "Cache-Control": "no-store"})


def handle(request, token: str) -> Response:
    from functions.handlers import worker

    now = worker.clock.now()   # the process's one clock: what signed the link reads it
    try:
        contact = tokens.read(token, "unsubscribe", now)
    except tokens.BadToken as exc:
        status = 410 if exc.reason == "expired" else 404
        return page(status, "Link not valid", "This unsubscribe link is not valid any more. "
                    "Reply to any of our emails and we will take you off the list.")
    if request.method == "GET":
        form = (f'<form method="post" action="{html.escape(token)}"><button type="submit">'
                "Unsubscribe</button></form>")
        return page(200, "Stop conversation copies?", "You will no longer receive copies of your "
                    "conversations with us by email.", form)
    from functions.handlers.worker import store

    channel, sender_id = contact.split("#", 1)
    store().update_contact(channel, sender_id, unsubscribed_at=now.isoformat())
    return page(200, "Unsubscribed", "You will not receive conversation copies any more.")
