"""Checking an admin's template before it is saved: nothing that would break a reply is stored.

A source is refused (with the line where Jinja2 or the check can tell) when it
- is not valid Jinja2 (syntax error, unknown tag),
- uses a filter or test that does not exist (Jinja2 only notices those when the branch runs),
- reaches for anything the sandbox forbids (`__class__`, `_private`, `mro`…), or includes,
  imports or extends anything but the shipped shared texts,
- names a variable the template is never given (the lists below are what the code passes),
- fails, renders nothing, renders too much or too slowly (a loop over a huge range), or (Telegram)
  produces HTML Telegram would reject, for any of the sample customers of `functions/previews.py`.
The sandbox still guards rendering; this makes the admin hear about a problem at save time rather
than a customer never getting an answer.
"""
from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from functions import render

ACK_VARIABLES = {"customer", "channel", "topic", "media", "business", "is_open", "next_opening",
                 "hours_today", "expected_response", "faq_links", "reference", "offer_transcript",
                 "schedule", "special_day", "vacation_message"}
VARIABLES = {
    "ack": ACK_VARIABLES,
    "mention": ACK_VARIABLES,
    "transcript": {"customer", "business", "reference", "channel", "transcript", "unsubscribe_url"},
    "survey": {"customer", "business", "reference", "channel", "survey"},
}
MAX_SOURCE = 20_000
MAX_OUTPUT = 50_000          # characters: far beyond any channel's message, short of a memory problem
MAX_RENDER_SECONDS = 0.5     # per sample: every acknowledgement pays it, inside the worker's time
# per sample, measured: the sandbox bounds each value (functions/sandbox.py), but a template may
# still hold many of them at once; a shipped template needs well under 1 MB
MAX_RENDER_BYTES = 16 * 1024 * 1024
# Telegram's HTML parse mode accepts these tags only, and only balanced
TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                 "span", "tg-spoiler", "tg-emoji", "blockquote"}


@dataclass(frozen=True)
class Problem:
    kind: str          # syntax | forbidden | unknown-filter | unknown-variable | render | output
    message: str
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "line": self.line}


class TemplateInvalid(ValueError):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def _forbidden_name(name: Any) -> bool:
    return isinstance(name, str) and (name.startswith("_") or name in {"mro", "func_globals", "gi_frame"})


def static_problems(identifier: str, source: str) -> list[Problem]:
    """What can be told without rendering: syntax, filters, attributes, includes, variables."""
    from jinja2 import TemplateAssertionError, TemplateSyntaxError, meta, nodes

    name, channel, _ = render.parse_id(identifier)
    if len(source) > MAX_SOURCE:
        return [Problem("output", f"the template is longer than {MAX_SOURCE} characters")]
    env = render.environment(render.MARKUP[channel])
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return [Problem("syntax", exc.message or str(exc), exc.lineno)]
    problems = []
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        known = env.filters if isinstance(node, nodes.Filter) else env.tests
        if node.name not in known:
            what = "filter" if isinstance(node, nodes.Filter) else "test"
            problems.append(Problem(f"unknown-{what}", f"no {what} named {node.name!r}", node.lineno))
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        if isinstance(node, nodes.Getattr):
            key = node.attr
        elif isinstance(node, nodes.Getitem):
            key = getattr(node.arg, "value", None)
        else:   # |attr("__class__") reaches attributes by name
            key = getattr(node.args[0], "value", None) if node.name == "attr" and node.args else None
        if _forbidden_name(key):
            problems.append(Problem("forbidden", f"access to {key!r} is not allowed", node.lineno))
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        target = getattr(node.template, "value", None)
        if not (isinstance(node, nodes.Include) and isinstance(target, str) and target.startswith("_")
                and (render.TEMPLATE_DIR / target).is_file() and "/" not in target):
            problems.append(Problem("forbidden", "only the shared texts (\"_ack.en.j2\"…) may be included",
                                    node.lineno))
    if problems:   # the variable analysis compiles the template, which would trip over them again
        return problems
    try:
        unknown = meta.find_undeclared_variables(tree) - VARIABLES[name] - set(env.globals)
    except TemplateAssertionError as exc:
        return [Problem("syntax", exc.message or str(exc), exc.lineno)]
    if unknown:
        problems.append(Problem("unknown-variable", "unknown variables: " + ", ".join(sorted(unknown)),
                                _first_line(tree, unknown)))
    return problems


def _first_line(tree, names: set[str]) -> int | None:
    from jinja2 import nodes

    lines = [n.lineno for n in tree.find_all(nodes.Name) if n.name in names]
    return min(lines) if lines else None


def _template_line() -> int | None:
    """The template line a rendering error happened on: Jinja2 rewrites tracebacks so that the
    template's frames carry its line numbers."""
    tb, line = sys.exc_info()[2], None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class _TelegramHtml(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in TELEGRAM_TAGS:
            self.problems.append(f"Telegram does not accept the tag <{tag}>")
        self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> does not close the last opened tag")
        else:
            self.open.pop()


def output_problems(channel: str, output: str, sample: str) -> list[Problem]:
    if not output.strip():
        return [Problem("output", f"renders nothing for the sample “{sample}”")]
    if channel == "telegram":
        parser = _TelegramHtml()
        parser.feed(output)
        parser.close()
        problems = parser.problems + [f"<{tag}> is never closed" for tag in parser.open]
        if problems:
            return [Problem("output", f"{problems[0]} (sample “{sample}”)")]
    return []


@dataclass(frozen=True)
class Rendered:
    sample: Any        # functions.previews.Sample
    output: str        # in the channel's markup
    text: str          # plain text


@contextlib.contextmanager
def memory_peak():
    """Measures the most memory allocated inside the block (tracemalloc; only here, at save and
    preview, never in the worker's renders). Yields a function that reads it afterwards. When
    something traces already, its peak is left alone and the reading errs on the high side."""
    import tracemalloc

    outer = tracemalloc.is_tracing()
    if not outer:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = [0]
    try:
        yield lambda: result[0]
    finally:
        result[0] = max(tracemalloc.get_traced_memory()[1] - before, 0)
        if not outer:
            tracemalloc.stop()


def render_samples(identifier: str, source: str, samples) -> tuple[list[Problem], list[Rendered]]:
    """Render `source` for each sample in the channel's markup and as plain text, within the
    sandbox's limits; the first problem found, and what rendered."""
    from jinja2.sandbox import SecurityError

    from functions.sandbox import TooLarge, time_limit

    _, channel, _ = render.parse_id(identifier)
    markup = render.MARKUP[channel]
    problems, rendered = [], []
    for sample in samples:
        outputs = {}
        for kind in dict.fromkeys((markup, "text")):
            template = render.compiled(kind, source)   # compiling is not the template's own cost
            started = time.perf_counter()
            try:
                with time_limit(MAX_RENDER_SECONDS):
                    outputs[kind] = template.render(**sample.context).strip()
            except TooLarge as exc:
                if exc.output:   # the same problem as a long output, found before it was built
                    return [Problem("output", f"renders over {MAX_OUTPUT:,} characters for the sample "
                                              f"“{sample.label}”; at most {MAX_OUTPUT:,}")], []
                return [Problem("forbidden", str(exc), _template_line())], []
            except SecurityError as exc:
                return [Problem("forbidden", str(exc), _template_line())], []
            except Exception as exc:   # anything else the template does wrong with real data
                return [Problem("render", f"fails for the sample “{sample.label}”: {exc}", _template_line())], []
            if time.perf_counter() - started > MAX_RENDER_SECONDS:
                return [Problem("output", f"takes too long to render for the sample “{sample.label}” "
                                          f"(over {MAX_RENDER_SECONDS} s)")], []
            if len(outputs[kind]) > MAX_OUTPUT:
                return [Problem("output", f"renders {len(outputs[kind]):,} characters for the sample "
                                          f"“{sample.label}”; at most {MAX_OUTPUT:,}")], []
            # measured apart: tracing slows a render several times, which must not count as its time
            try:
                with time_limit(MAX_RENDER_SECONDS * 10), memory_peak() as peak:
                    template.render(**sample.context)
            except SecurityError:   # slower only because traced: the timed render above passed
                pass
            if peak() > MAX_RENDER_BYTES:
                return [Problem("output", f"uses {peak() / 2**20:.0f} MB of memory to render for the sample "
                                          f"“{sample.label}”; at most {MAX_RENDER_BYTES // 2**20} MB")], []
        problems += output_problems(channel, outputs[markup], sample.label)
        rendered.append(Rendered(sample, outputs[markup], outputs["text"]))
    return problems[:1], rendered


def checked(identifier: str, source: str, settings, now) -> tuple[list[Problem], list[Rendered]]:
    """Every problem of `source` as template `identifier` (none: safe to save), and its rendering
    for the sample customers of `functions/previews.py`."""
    from functions import previews

    if not isinstance(source, str):
        return [Problem("syntax", "the source must be text")], []
    problems = static_problems(identifier, source)
    if problems:
        return problems, []
    name, channel, language = render.parse_id(identifier)
    return render_samples(identifier, source, previews.samples(name, channel, language, settings, now))


def check(identifier: str, source: str, settings, now) -> list[Problem]:
    return checked(identifier, source, settings, now)[0]
