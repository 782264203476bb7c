"""Rendering customer-facing templates in Jinja2's sandbox.

Templates are named `NAME.CHANNEL.LANGUAGE` (`ack.telegram.uk`) and live in `templates/` as
`NAME.CHANNEL.LANGUAGE.j2`. Telegram (HTML parse mode) and email HTML are autoescaped, so whatever a
customer wrote is quoted back as text, never markup. Jinja2 is imported here, in the worker, never on
the webhook path.
"""
from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(os.environ.get("FIRSTREPLY_TEMPLATES")
                    or Path(__file__).resolve().parent.parent / "templates")
HTML_CHANNELS = {"telegram"}


def template_id(name: str, channel: str, language: str) -> str:
    return f"{name}.{channel}.{language}"


def _autoescape(template_name: str | None) -> bool:
    if not template_name:
        return False
    parts = template_name.removesuffix(".j2").split(".")
    return (len(parts) >= 2 and parts[1] in HTML_CHANNELS) or template_name.endswith(".html.j2")


@lru_cache(maxsize=1)
def environment():
    from jinja2 import FileSystemLoader
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=_autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def available_languages(name: str, channel: str) -> list[str]:
    """Languages that have a shipped `name.channel.*` template."""
    prefix = f"{name}.{channel}."
    return sorted(p.name[len(prefix):-3] for p in TEMPLATE_DIR.glob(f"{prefix}*.j2"))


def render(name: str, channel: str, language: str, context: dict[str, Any]) -> str:
    template = environment().get_template(template_id(name, channel, language) + ".j2")
    return template.render(**context).strip()
