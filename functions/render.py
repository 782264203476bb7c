"""Rendering customer-facing templates in Jinja2's sandbox, in each channel's markup.

Templates are named `NAME.CHANNEL.LANGUAGE` (`ack.telegram.uk`) and live in `templates/` as
`NAME.CHANNEL.LANGUAGE.j2`. Every channel has its own markup and its own escaping, so a template
marks things up through filters rather than raw tags: `{{ topic|em }}`, `{{ reference|strong }}`,
`{{ link(url, title) }}`. On Telegram (HTML parse mode) they become `<i>`, `<b>`, `<a>` and every
value is HTML-escaped; on Slack (mrkdwn) `_…_`, `*…*`, `<url|title>` with `&`, `<`, `>` escaped;
on X (plain text) nothing is escaped and a link is written out. Whatever a customer wrote is
therefore shown as text on every channel. Jinja2 is imported here, in the worker, never on the
webhook path.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(os.environ.get("FIRSTREPLY_TEMPLATES")
                    or Path(__file__).resolve().parent.parent / "templates")
MARKUP = {"telegram": "html", "slack": "mrkdwn", "x": "text", "email": "html"}


def template_id(name: str, channel: str, language: str) -> str:
    return f"{name}.{channel}.{language}"


def _slack_escape(value: Any) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@lru_cache(maxsize=4)
def environment(markup: str):
    from jinja2 import FileSystemLoader
    from jinja2.sandbox import SandboxedEnvironment
    from markupsafe import Markup

    if markup == "html":
        def em(text): return Markup("<i>%s</i>") % text
        def strong(text): return Markup("<b>%s</b>") % text
        def link(url, title): return Markup('<a href="%s">%s</a>') % (url, title)
        finalize = None
    elif markup == "mrkdwn":
        def em(text): return Markup(f"_{_slack_escape(text)}_")
        def strong(text): return Markup(f"*{_slack_escape(text)}*")
        # "|" ends a Slack link's URL part, so neither side may contain one unescaped
        def link(url, title): return Markup(f"<{_slack_escape(url).replace('|', '%7C')}|"
                                            f"{_slack_escape(title).replace('|', '¦')}>")

        def finalize(value):
            return value if isinstance(value, Markup) else _slack_escape(value if value is not None else "")
    else:
        def em(text): return text
        def strong(text): return text
        def link(url, title): return f"{title}: {url}"
        finalize = None

    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=markup == "html",
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
    )
    env.filters.update(em=em, strong=strong)
    env.globals["link"] = link
    return env


def available_languages(name: str, channel: str) -> list[str]:
    """Languages that have a shipped `name.channel.*` template."""
    prefix = f"{name}.{channel}."
    return sorted(p.name[len(prefix):-3] for p in TEMPLATE_DIR.glob(f"{prefix}*.j2"))


def render(name: str, channel: str, language: str, context: dict[str, Any], markup: str | None = None) -> str:
    """Render `name.channel.language` in the channel's markup (or another, e.g. "text" for a
    plain-text fallback of a Slack message)."""
    env = environment(markup or MARKUP.get(channel, "text"))
    return env.get_template(template_id(name, channel, language) + ".j2").render(**context).strip()
