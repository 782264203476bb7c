"""The Jinja2 sandbox every template renders in, made strict enough for templates admins edit.

Jinja2's `SandboxedEnvironment` blocks unsafe attributes but renders them as empty, and leaves
time and memory alone. Here unsafe access raises (so the check before saving refuses it), `range`
loops stop at a deadline, and `*`, `**`, format widths and the size arguments of filters refuse
values big enough to exhaust a function. Loops over data (FAQ links, a transcript's messages)
are as long as the data. Imported by `functions/render.py` when it builds its environments, never
on the webhook path.
"""
from __future__ import annotations

import contextlib
import contextvars
import re
import time

from jinja2.filters import FILTERS
from jinja2.sandbox import SandboxedEnvironment, SecurityError, safe_range

MAX_REPEAT = 10_000
# a width in a format ("%99999999s", "{:>99999999}") builds a value that large before any
# output check could refuse it
_WIDTH = re.compile(r"%[-+ #0]*(\d+)|\{[^{}]*:[^{}]*?(\d+)[^{}]*\}")
SIZED_FILTERS = ("center", "indent", "batch", "slice", "format", "truncate")
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("render_deadline", default=None)


@contextlib.contextmanager
def time_limit(seconds: float):
    """Renders inside stop (SecurityError) when a `range` loop runs past `seconds`."""
    token = _deadline.set(time.perf_counter() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def check_widths(fmt) -> None:
    for match in _WIDTH.finditer(str(fmt)):
        if int(match.group(1) or match.group(2)) > MAX_REPEAT:
            raise SecurityError(f"a format width over {MAX_REPEAT}")


def bounded_range(*args):
    deadline = _deadline.get()
    for n, value in enumerate(safe_range(*args)):
        if deadline is not None and n % 256 == 0 and time.perf_counter() > deadline:
            raise SecurityError("the template takes too long to render")
        yield value


def bounded_filter(name: str):
    original = FILTERS[name]

    def check(value, *args, **kwargs):
        if any(isinstance(a, int) and not isinstance(a, bool) and abs(a) > MAX_REPEAT
               for a in (*args, *kwargs.values())):
            raise SecurityError(f"|{name} with a size over {MAX_REPEAT}")
        if name == "format":
            check_widths(value)
        return original(value, *args, **kwargs)
    return check


class StrictSandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options):
        super().__init__(**options)
        self.filters.update({name: bounded_filter(name) for name in SIZED_FILTERS})
        self.globals["range"] = bounded_range

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
