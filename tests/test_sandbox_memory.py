"""The template sandbox bounds memory, not only time: repetition chains, padding methods of huge
widths, joins and replacements that multiply, towers of powers and doubling loops are refused
before they allocate — at save, in preview and in the live render of the worker."""
from __future__ import annotations

import tracemalloc
from datetime import datetime, timezone

import pytest

from functions import render
from functions.settings import load_settings_file

SETTINGS = load_settings_file("firstreply.yaml")
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
BUDGET = 64 * 1024 * 1024      # what any of these may allocate on the way to being refused

PAYLOADS = [
    '{{ "a" * 9999 * 9999 }}',
    '{{ ("a" * 9999 * 9999)|length }}',
    '{{ (["x"] * 9999 * 9999)|length }}',
    '{{ "a".center(99999999) }}', '{{ "a".ljust(99999999) }}', '{{ "a".rjust(99999999) }}',
    '{{ "1".zfill(99999999) }}', '{{ ("\\t" * 9999).expandtabs(9999) }}',
    '{{ ("a" * 9999).replace("a", "a" * 9999) }}',
    '{{ ("a" * 9999)|replace("a", "a" * 9999) }}',
    '{{ ("," * 9999).join(["a" * 9999] * 9999) }}',
    '{{ (["a" * 9999] * 9999)|join("," * 9999) }}',
    '{{ ("a\\n" * 9999)|indent("x" * 9999) }}',
    '{{ ([["x"] * 9999] * 9999)|sum(start=[]) }}',
    '{{ 2 ** 64 ** 64 ** 64 ** 64 ** 64 }}',
    '{% set ns = namespace(n=2 ** 64) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n > 1 }}',
    '{% set ns = namespace(s="a" * 9999) %}{% for i in range(30) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}'
    '{{ ns.s|length }}',
    '{% set ns = namespace(s="a" * 9999) %}{% for i in range(30) %}{% set ns.s = ns.s + ns.s %}{% endfor %}'
    '{{ ns.s|length }}',
    '{% set l = ["a" * 9999] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}{{ l|length }}',
    '{% for i in range(99999) %}{{ "a" * 9999 }}{% endfor %}',
    '{{ ("a" * 9999)|center(9999) * 9999 }}',
    '{{ (range(99999)|list) * 9999 }}',
    '{{ "%s" % ("a" * 9999) * 9999 }}',
]


def peak_of(work) -> tuple[int, object]:
    tracemalloc.start()
    try:
        result = work()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("source", PAYLOADS)
def test_save_check_refuses_it_within_the_budget(source):
    from functions.template_check import check

    peak, problems = peak_of(lambda: check("ack.telegram.en", source, SETTINGS, NOW))
    assert problems, source
    assert peak < BUDGET, (source, peak)


@pytest.mark.parametrize("source", PAYLOADS)
def test_live_render_falls_back_to_the_shipped_text_within_the_budget(source):
    """A template saved before these bounds existed: the worker's render stops it, and the
    customer gets the shipped acknowledgement."""
    from functions.acknowledge import acknowledgement
    from functions.models import Decision, InboundMessage

    inbound = InboundMessage(channel="telegram", event_id="1", chat_id="10", sender_id="20", message_id="3",
                             received_at="2026-11-23T08:00:00Z", text="Where is my delivery?", first_name="Olena",
                             language_code="en")
    settings = SETTINGS.__class__(**{**SETTINGS.__dict__, "templates": {"ack.telegram.en": source}})
    decision = Decision("ABC123XYZ0", "ABC-123", True, True, "new-conversation")
    peak, ack = peak_of(lambda: acknowledgement(inbound, None, decision, settings, NOW))
    assert ack.text.startswith("Hello, Olena") or "Olena" in ack.text
    assert peak < BUDGET, (source, peak)


def test_the_save_check_refuses_a_template_over_the_memory_budget(monkeypatch):
    """Within every size bound, still too much held at once: the check measures the render."""
    from functions import template_check

    source = ('{% set a = "x" * 9000 * 100 %}{% set b = a ~ "y" %}{% set c = b ~ "z" %}{% set d = c ~ "w" %}'
              '{{ a|length + b|length + c|length + d|length }} {{ customer.first_name }}')
    monkeypatch.setattr(template_check, "MAX_RENDER_BYTES", 2 * 1024 * 1024)
    problems = template_check.check("ack.telegram.en", source, SETTINGS, NOW)
    assert problems and "memory" in problems[0].message


def test_shipped_templates_render_well_within_the_bounds():
    from functions.template_check import check

    for identifier in render.shipped_ids():
        assert check(identifier, render.default_source(identifier), SETTINGS, NOW) == [], identifier


def test_preview_refuses_them_with_400(system):
    for source in PAYLOADS[:6] + PAYLOADS[14:17]:
        response = system.client.http.post(
            "/admin/api/templates/ack.telegram.en/preview", body=__import__("json").dumps({"source": source}),
            headers={"Authorization": "Bearer admin-test-token", "Content-Type": "application/json"})
        assert response.status_code == 400, source
