"""Rendering customer-facing templates in Jinja2's sandbox, in each channel's markup.

Templates are named `NAME.CHANNEL.LANGUAGE` (`ack.telegram.uk`) and live in `templates/` as
`NAME.CHANNEL.LANGUAGE.j2`. Every channel has its own markup and its own escaping, so a template
marks things up through filters rather than raw tags: `{{ topic|em }}`, `{{ reference|strong }}`,
`{{ link(url, title) }}`. On Telegram (HTML parse mode) they become `<i>`, `<b>`, `<a>` and every
value is HTML-escaped; on Slack (mrkdwn) `_…_`, `*…*`, `<url|title>` with `&`, `<`, `>` escaped;
on X (plain text) nothing is escaped, but every interpolated value is neutralised so X links no
mention, tag or URL in it (`x_neutral`), and a link is written out. Whatever a customer wrote is
therefore shown as text on every channel. Jinja2 is imported here, in the worker, never on the
webhook path.

Admins may replace any template from the admin page (`functions/template_check.py` validates the
source first); the stored sources travel with the settings (`Settings.templates`) and are used
instead of the shipped files. Should one still fail for data no sample covered, the customer gets
the shipped text: an edited template can never stop replies.
"""
from __future__ import annotations

import logging
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(os.environ.get("FIRSTREPLY_TEMPLATES")
                    or Path(__file__).resolve().parent.parent / "templates")
MARKUP = {"telegram": "html", "slack": "mrkdwn", "x": "x", "email": "html",
          "whatsapp": "text", "messenger": "text", "instagram": "text"}   # Meta's channels show plain text
_INCLUDE = re.compile(r'{%-?\s*include\s+"(_[a-z]+\.[a-z-]+\.j2)"\s*-?%}\n?')
_WRAPPER_NOTE = re.compile(r"^{#.*?#}\n", re.S)

log = logging.getLogger(__name__)

RENDER_SECONDS = 2.0     # an edited template's budget per render (functions/sandbox.py)


def template_id(name: str, channel: str, language: str) -> str:
    return f"{name}.{channel}.{language}"


def _slack_escape(value: Any) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# X links what its autolinker (twitter-text) recognises: a mention or list (`@` or `＠` then
# [A-Za-z0-9_]), a hashtag (`#`/`＃` then a letter), a cashtag (`$` then letters) and a domain (a
# dot, or a full-width one, directly followed by a top-level domain), with or without "https://".
# In a public reply "@victim" notifies and drags a stranger in, and a link unfurls a card in our
# name. A WORD JOINER (U+2060) after each sigil, after each dot inside a word and after the colon
# of "://" keeps the text readable and copyable while breaking every one of those patterns:
# twitter-text wants the name, tag or TLD right after the sigil or dot, and U+2060 is neither a
# username character nor a hashtag one (unlike ZWJ and ZWNJ, which hashtags may contain), nor
# space that X would trim.
_X_LINKABLE = re.compile(r"[@＠#＃$＄](?=\w)|(?<=\w)[.。．｡](?=\w)|(?<=\w):(?=//)")
WORD_JOINER = "\u2060"


def x_neutral(value: Any) -> str:
    return _X_LINKABLE.sub(lambda m: m.group(0) + WORD_JOINER, str(value))


@lru_cache(maxsize=4)
def environment(markup: str):
    from jinja2 import FileSystemLoader
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
    elif markup == "x":
        # Plain text in which nothing a template interpolates (names, what the customer wrote)
        # can become a mention, tag or link; the template's own words and our FAQ links can.
        def em(text): return text
        def strong(text): return text
        def link(url, title): return Markup(f"{x_neutral(title)}: {url}")

        def finalize(value):
            return value if isinstance(value, Markup) else x_neutral(value if value is not None else "")
    else:
        def em(text): return text
        def strong(text): return text
        def link(url, title): return f"{title}: {url}"
        finalize = None

    from functions.sandbox import StrictSandbox

    env = StrictSandbox(
        loader=_shipped_loader(FileSystemLoader)(str(TEMPLATE_DIR)),
        # the shipped files are part of the deployment: compiled once, not stat()ed on every
        # render (two files a render); the dev server (FIRSTREPLY_OUTBOX) still sees them edited
        auto_reload=os.environ.get("FIRSTREPLY_OUTBOX") == "1",
        autoescape=markup == "html",
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
    )
    env.filters.update(em=em, strong=strong)
    env.globals["link"] = link
    return env


def _shipped_loader(file_loader):
    """The shipped files, a channel file that includes its language's shared text read as that
    text in its place, as `default_source` shows it to admins: one template a render instead of a
    template and its include (a context and a lookup fewer, twice a message). Same output."""

    class ShippedLoader(file_loader):
        def get_source(self, environment, template):
            source, filename, uptodate = super().get_source(environment, template)
            if not _INCLUDE.search(source):
                return source, filename, uptodate
            checks = [uptodate]

            def included(match):
                text, _, fresh = super(ShippedLoader, self).get_source(environment, match.group(1))
                checks.append(fresh)
                return text

            source = _INCLUDE.sub(included, _WRAPPER_NOTE.sub("", source, count=1))
            return source, filename, lambda: all(check() for check in checks if check is not None)

    return ShippedLoader


@lru_cache(maxsize=4)
def _listing(directory: Path) -> tuple[str, ...]:
    return tuple(sorted(p.name[:-3] for p in directory.glob("*.j2") if not p.name.startswith("_")))


def shipped_ids() -> tuple[str, ...]:
    """Every template an admin can edit: the shipped `NAME.CHANNEL.LANGUAGE` files (partials,
    whose names start with `_`, are shared text, not templates of their own). Listed once per
    container: the folder is part of the deployment."""
    return _listing(TEMPLATE_DIR)


def available_languages(name: str, channel: str) -> list[str]:
    """Languages that have a shipped `name.channel.*` template."""
    prefix = f"{name}.{channel}."
    return [i[len(prefix):] for i in shipped_ids() if i.startswith(prefix)]


def parse_id(identifier: str) -> tuple[str, str, str] | None:
    """(name, channel, language) of a shipped template id, else None."""
    parts = identifier.split(".")
    if len(parts) != 3 or identifier not in shipped_ids():
        return None
    return parts[0], parts[1], parts[2]


def default_source(identifier: str) -> str:
    """The shipped template as one editable text: a channel file that only includes the shared
    text of its language is shown with that text in its place, so an admin edits what customers
    read, and the saved copy stands alone."""
    source = (TEMPLATE_DIR / f"{identifier}.j2").read_text(encoding="utf-8")
    if not _INCLUDE.search(source):
        return source
    source = _WRAPPER_NOTE.sub("", source, count=1)
    return _INCLUDE.sub(lambda m: (TEMPLATE_DIR / m.group(1)).read_text(encoding="utf-8"), source)


@lru_cache(maxsize=256)
def compiled(markup: str, source: str):
    """An admin's template compiled once per container and markup (the source is the cache key,
    so a new version compiles on first use)."""
    return environment(markup).from_string(source)


def render(name: str, channel: str, language: str, context: dict[str, Any], markup: str | None = None,
           overrides: dict[str, str] | None = None) -> str:
    """Render `name.channel.language` in the channel's markup (or another, e.g. "text" for a
    plain-text fallback of a Slack message). `overrides` maps template ids to admins' sources."""
    markup = markup or MARKUP.get(channel, "text")
    identifier = template_id(name, channel, language)
    source = (overrides or {}).get(identifier)
    if source is not None:
        from functions.sandbox import time_limit

        try:
            with time_limit(RENDER_SECONDS):
                return compiled(markup, source).render(**context).strip()
        except Exception:   # validated on save; whatever slipped through must not silence replies
            log.exception("edited template %s failed; the shipped one is used", identifier)
    return environment(markup).get_template(identifier + ".j2").render(**context).strip()
