"""Rendering customer-facing templates in Jinja2's sandbox, in each channel's markup.

Templates are named `NAME.CHANNEL.LANGUAGE` (`ack.telegram.uk`) and live in `templates/` as
`NAME.CHANNEL.LANGUAGE.j2`. Every channel has its own markup and its own escaping, so a template
marks things up through filters rather than raw tags: `{{ topic|em }}`, `{{ reference|strong }}`,
`{{ link(url, title) }}`. On Telegram (HTML parse mode) they become `<i>`, `<b>`, `<a>` and every
value is HTML-escaped; on Slack (mrkdwn) `_…_`, `*…*`, `<url|title>` with `&`, `<`, `>` escaped;
on X (plain text) nothing is escaped and a link is written out. Whatever a customer wrote is
therefore shown as text on every channel. Jinja2 is imported here, in the worker, never on the
webhook path.

Admins may replace any template from the admin page (`functions/template_check.py` validates the
source first); the stored sources travel with the settings (`Settings.templates`) and are used
instead of the shipped files. Should one still fail for data no sample covered, the customer gets
the shipped text: an edited template can never stop replies.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(os.environ.get("FIRSTREPLY_TEMPLATES")
                    or Path(__file__).resolve().parent.parent / "templates")
MARKUP = {"telegram": "html", "slack": "mrkdwn", "x": "text", "email": "html"}
_INCLUDE = re.compile(r'{%-?\s*include\s+"(_[a-z]+\.[a-z-]+\.j2)"\s*-?%}\n?')
_WRAPPER_NOTE = re.compile(r"^{#.*?#}\n", re.S)

log = logging.getLogger(__name__)

# An edited template could loop for ever ({% for i in range(99999) %}{% for j in range(99999) %}…):
# loops over `range` check a deadline, and `*` / `**` refuse to build huge values. Data-bound
# loops (FAQ links, a transcript's messages) are as long as the data.
RENDER_SECONDS = 2.0
MAX_REPEAT = 10_000
# a width in a format ("%99999999s", "{:>99999999}") or a filter argument (center, indent, batch,
# slice) builds a value that large before any output check could refuse it
_WIDTH = re.compile(r"%[-+ #0]*(\d+)|\{[^{}]*:[^{}]*?(\d+)[^{}]*\}")
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("render_deadline", default=None)


@contextlib.contextmanager
def time_limit(seconds: float):
    token = _deadline.set(time.perf_counter() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


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

    from jinja2.sandbox import SecurityError, safe_range

    class StrictSandbox(SandboxedEnvironment):
        """Unsafe access fails loudly instead of rendering as empty, so the check refuses it; loops
        and repetition are bounded (see RENDER_SECONDS)."""

        intercepted_binops = frozenset({"*", "**", "%"})

        def unsafe_undefined(self, obj, attribute):
            raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

        def wrap_str_format(self, value):
            wrapped = super().wrap_str_format(value)
            if wrapped is None:
                return None

            def checked(*args, **kwargs):
                check_widths(value.__self__)
                return wrapped(*args, **kwargs)
            return checked

        def call_binop(self, context, operator, left, right):
            if operator == "%" and isinstance(left, str):
                check_widths(left)
            numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
            if operator == "**" and numbers and abs(right) > 64:
                raise SecurityError("exponent too large")
            if operator == "*" and not numbers and any(isinstance(v, int) and abs(v) > MAX_REPEAT
                                                       for v in (left, right)):
                raise SecurityError(f"repeating a text or list more than {MAX_REPEAT} times")
            return super().call_binop(context, operator, left, right)

    def check_widths(fmt) -> None:
        for match in _WIDTH.finditer(str(fmt)):
            if int(match.group(1) or match.group(2)) > MAX_REPEAT:
                raise SecurityError(f"a format width over {MAX_REPEAT}")

    def bounded(name):
        original = SandboxedEnvironment().filters[name]

        def check(value, *args, **kwargs):
            if any(isinstance(a, int) and not isinstance(a, bool) and abs(a) > MAX_REPEAT
                   for a in (*args, *kwargs.values())):
                raise SecurityError(f"|{name} with a size over {MAX_REPEAT}")
            if name == "format":
                check_widths(value)
            return original(value, *args, **kwargs)
        return check

    def bounded_range(*args):
        deadline = _deadline.get()
        for n, value in enumerate(safe_range(*args)):
            if deadline is not None and n % 256 == 0 and time.perf_counter() > deadline:
                raise SecurityError("the template takes too long to render")
            yield value

    env = StrictSandbox(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=markup == "html",
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
    )
    env.filters.update(em=em, strong=strong, **{name: bounded(name) for name in
                                                 ("center", "indent", "batch", "slice", "format", "truncate")})
    env.globals.update(link=link, range=bounded_range)
    return env


def available_languages(name: str, channel: str) -> list[str]:
    """Languages that have a shipped `name.channel.*` template."""
    prefix = f"{name}.{channel}."
    return sorted(p.name[len(prefix):-3] for p in TEMPLATE_DIR.glob(f"{prefix}*.j2"))


def shipped_ids() -> list[str]:
    """Every template an admin can edit: the shipped `NAME.CHANNEL.LANGUAGE` files (partials,
    whose names start with `_`, are shared text, not templates of their own)."""
    return sorted(p.name[:-3] for p in TEMPLATE_DIR.glob("*.j2") if not p.name.startswith("_"))


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
        try:
            with time_limit(RENDER_SECONDS):
                return compiled(markup, source).render(**context).strip()
        except Exception:   # validated on save; whatever slipped through must not silence replies
            log.exception("edited template %s failed; the shipped one is used", identifier)
    return environment(markup).get_template(identifier + ".j2").render(**context).strip()
