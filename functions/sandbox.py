"""The Jinja2 sandbox every template renders in, made strict enough for templates admins edit.

Jinja2's `SandboxedEnvironment` blocks unsafe attributes but renders them as empty, and leaves
time and memory alone. Here unsafe access raises (so the check before saving refuses it), `range`
loops stop at a deadline, and memory is bounded before it is allocated: every value a template
builds — by `*`, `+`, `~`, `**`, string methods (`center`, `ljust`, `rjust`, `zfill`,
`expandtabs`, `join`, `replace`), filters (`replace`, `join`, `indent`, `sum`, `wordwrap`, and the
size arguments of the others) and the rendered output itself — is refused when it would exceed
MAX_SIZE characters or items (MAX_INT_BITS for numbers), and lists and dicts cannot be changed
in place (`l.extend(l)` doubles without any operator). A check after the fact would come too
late: `"a" * 9999 * 9999` has allocated 100 MB by the time anything could look at it. Loops over
data (FAQ links, a transcript's messages) are as long as the data. Imported by
`functions/render.py` when it builds its environments, never on the webhook path.
"""
from __future__ import annotations

import contextlib
import contextvars
import re
import time
from typing import Any

from jinja2.compiler import CodeGenerator
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError, safe_range

MAX_REPEAT = 10_000
# Characters of a string or items of a list any one value (and the whole output) may have: far
# beyond a transcript of long emails (intake keeps a message under 100 KB), far short of what
# hurts a 512 MB function. 2**20 characters are 1 to 4 MB.
MAX_SIZE = 1 << 20
MAX_INT_BITS = 1 << 16     # a number of ~20,000 digits; a power tower passes it within a step
_SIZED_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "join", "replace"})
# a width in a format ("%99999999s", "{:>99999999}") builds a value that large before any
# output check could refuse it
_WIDTH = re.compile(r"%[-+ #0]*(\d+)|\{[^{}]*:[^{}]*?(\d+)[^{}]*\}")
SIZED_FILTERS = ("center", "indent", "batch", "slice", "format", "truncate", "replace", "join", "wordwrap", "sum")
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


def _size(value) -> int:
    return len(value) if isinstance(value, (str, list, tuple, dict)) else 0


class TooLarge(SecurityError):
    """A value (or, with `output`, the rendered text) over MAX_SIZE, refused before it is built."""

    def __init__(self, message: str, output: bool = False):
        super().__init__(message)
        self.output = output


def refuse_size(size: int, what: str) -> None:
    if size > MAX_SIZE:
        raise TooLarge(f"{what} would be {size:,} characters or items long; at most {MAX_SIZE:,}",
                       output=what == "the rendered text")


def _text_size(item) -> int:
    """The length `str(item)` will have, without building more than one item at a time."""
    return len(item) if isinstance(item, str) else len(str(item))


def joined_size(separator: str, items: list) -> int:
    total = len(separator) * max(len(items) - 1, 0)
    for item in items:
        total += _text_size(item)
        if total > MAX_SIZE:
            break
    return total


def replaced_size(text: str, old: str, new: str, count: int = -1) -> int:
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * (len(new) - len(old))


def _items(value) -> list:
    """An iterable as a list, refused past MAX_SIZE items (ranges are bounded already)."""
    items = []
    for item in value:
        items.append(item)
        if len(items) > MAX_SIZE:
            refuse_size(len(items), "a sequence")
    return items


def _filter_size(name: str, value, args, kwargs) -> tuple[Any, tuple]:
    """Refuse a filter call whose result would be too large; returns the value and arguments to
    call it with (iterables read once into lists, so measuring does not consume them)."""
    if name == "replace" and len(args) >= 2:
        text = str(value)
        refuse_size(replaced_size(text, str(args[0]), str(args[1]), args[2] if len(args) > 2 else -1), "|replace")
    elif name == "join" and not isinstance(value, str):
        value = _items(value)
        separator = args[0] if args else kwargs.get("d", "")
        refuse_size(joined_size(str(separator), value), "|join")
    elif name == "indent":
        text, width = str(value), args[0] if args else kwargs.get("width", 4)
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        refuse_size(len(text) + (text.count("\n") + 1) * pad, "|indent")
    elif name == "wordwrap":
        text, width = str(value), args[0] if args else kwargs.get("width", 79)
        wrap = args[2] if len(args) > 2 else kwargs.get("wrapstring") or "\n"
        if isinstance(width, int) and width > 0:
            refuse_size(len(text) + (len(text) // width + 1) * len(str(wrap)), "|wordwrap")
    elif name == "sum":
        value = _items(value)
        if value and not all(isinstance(v, (int, float)) for v in value):
            refuse_size(sum(_size(v) for v in value), "|sum")
    return value, args


def bounded_filter(name: str):
    original = FILTERS[name]

    def check(*args, **kwargs):
        # some filters take the evaluation context or the environment first (join, replace, sum)
        head = args[:1] if getattr(original, "jinja_pass_arg", None) is not None else ()
        value, rest = args[len(head)], args[len(head) + 1:]
        if any(isinstance(a, int) and not isinstance(a, bool) and abs(a) > MAX_REPEAT
               for a in (*rest, *kwargs.values())):
            raise SecurityError(f"|{name} with a size over {MAX_REPEAT}")
        if name == "format":
            check_widths(value)
        value, rest = _filter_size(name, value, rest, kwargs)
        result = original(*head, value, *rest, **kwargs)
        refuse_size(_size(result), f"|{name}")   # growth is bounded per step, so chains are too
        return result
    check.__dict__.update(getattr(original, "__dict__", {}))   # keep pass_eval_context & co.
    return check


class BoundedCodeGenerator(CodeGenerator):
    """`a ~ b` compiles to a join Jinja2's sandbox never sees: route it through the environment."""

    def visit_Concat(self, node, frame):
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.bounded_concat({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class StrictSandbox(ImmutableSandboxedEnvironment):
    """Immutable: no template changes a list or dict in place (none of ours needs to)."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = BoundedCodeGenerator

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

    @staticmethod
    def concat(chunks) -> str:
        """The rendered output (and every `{% set %}` block, macro and call body), read chunk by
        chunk: a loop printing one large value many times is refused before the join."""
        parts, total = [], 0
        for chunk in chunks:
            total += len(chunk)
            refuse_size(total, "the rendered text")
            parts.append(chunk)
        return "".join(parts)

    @staticmethod
    def bounded_concat(join, parts):
        refuse_size(joined_size("", list(parts)), "joining with ~")
        return join(parts)

    def call_binop(self, context, operator, left, right):
        if operator == "%" and isinstance(left, str):
            check_widths(left)
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right))
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
        if operator == "**" and numbers:
            if abs(right) > 64:
                raise SecurityError("exponent too large")
            if ints and right > 0 and left.bit_length() * right > MAX_INT_BITS:
                raise SecurityError("the power would be too large a number")
        if operator == "*" and ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise SecurityError("the product would be too large a number")
        if operator == "*" and not numbers:
            count = next((v for v in (left, right) if isinstance(v, int) and not isinstance(v, bool)), None)
            sequence = right if count is left else left
            if count is not None and abs(count) > MAX_REPEAT:
                raise SecurityError(f"repeating a text or list more than {MAX_REPEAT} times")
            if count is not None:
                refuse_size(_size(sequence) * max(count, 0), "the repetition")
        if operator == "+" and not numbers:
            refuse_size(_size(left) + _size(right), "the sum")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):   # noqa: N805 (Jinja2's own signature)
        """String methods that build a value of an argument's size: checked before they run."""
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        if isinstance(owner, str) and name in _SIZED_METHODS:
            if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
                refuse_size(args[0], f".{name}()")
            elif name == "expandtabs":
                tab = args[0] if args else kwargs.get("tabsize", 8)
                if isinstance(tab, int):
                    refuse_size(len(owner) + owner.count("\t") * tab, ".expandtabs()")
            elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
                refuse_size(replaced_size(owner, args[0], args[1], args[2] if len(args) > 2 else -1), ".replace()")
            elif name == "join" and args:
                items = _items(args[0])
                refuse_size(joined_size(owner, items), ".join()")
                args = (items, *args[1:])
        return super().call(__context, __obj, *args, **kwargs)
