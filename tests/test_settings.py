"""Settings validation: every error names its field; the shipped example is valid."""
import pytest

from functions.settings import SettingsError, load_settings_file, parse_settings, parse_interval

BASE = {"business": {"name": "Acme", "timezone": "Europe/Kyiv"}}


def with_(**changes):
    return {**BASE, **changes}


def test_shipped_example_is_valid():
    s = load_settings_file("firstreply.yaml")
    assert s.business_name == "Acme" and s.timezone == "Europe/Kyiv"
    assert [str(i) for i in s.hours["mon"]] == ["09:00-13:00", "14:00-18:00"]
    assert s.expected_response_for("uk") == "протягом 2 годин"
    assert s.expected_response_for("pt-BR") == "within 2 hours"   # default language's text
    assert s.contact_gap_minutes == 60 and s.retention_days == 400
    assert s.timeouts_minutes["email"] == 4320


@pytest.mark.parametrize("text, shown, overnight", [
    ("09:00-18:00", "09:00-18:00", False), ("22:00-02:00", "22:00-02:00", True),
    ("00:00-24:00", "00:00-24:00", False), (" 9:30 - 12:00 ", "09:30-12:00", False),
])
def test_intervals(text, shown, overnight):
    interval = parse_interval(text, "x")
    assert str(interval) == shown and interval.overnight is overnight


@pytest.mark.parametrize("doc, field", [
    ({"business": {"timezone": "UTC"}}, "business.name"),
    (with_(business={"name": "A", "timezone": "Mars/Olympus"}), "business.timezone"),
    (with_(business={"name": "A", "default_language": "english!"}), "business.default_language"),
    (with_(hours={"monday": ["09:00-10:00"]}), "hours.monday"),
    (with_(hours={"mon": ["9-17"]}), "hours.mon[0]"),
    (with_(hours={"mon": ["09:00-10:00", "25:00-26:00"]}), "hours.mon[1]"),
    (with_(hours={"mon": ["10:00-10:00"]}), "hours.mon[0]"),
    (with_(hours={"mon": {"from": "09:00"}}), "hours.mon"),
    (with_(holidays={"dates": ["2026-13-01"]}), "holidays.dates[0]"),
    (with_(holidays={"country": "XX"}), "holidays.country"),
    (with_(faq=[{"title": "T", "url": "javascript:alert(1)"}]), "faq[0].url"),
    (with_(faq=[{"url": "https://a.example"}]), "faq[0].title"),
    (with_(faq=[{"title": "T", "url": "https://a.example", "keywords": "x"}]), "faq[0].keywords"),
    (with_(acknowledgement={"contact_gap_minutes": -1}), "acknowledgement.contact_gap_minutes"),
    (with_(acknowledgement={"faq_links": "3"}), "acknowledgement.faq_links"),
    (with_(conversation_timeout_minutes={"fax": 5}), "conversation_timeout_minutes.fax"),
    (with_(retention_days=0), "retention_days"),
    ("just a string", "settings"),
])
def test_invalid_settings_name_the_field(doc, field):
    with pytest.raises(SettingsError) as error:
        parse_settings(doc)
    assert error.value.field == field


def test_bad_yaml_file_gives_a_one_line_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("business:\n  name: [unclosed\n")
    with pytest.raises(SettingsError) as error:
        load_settings_file(str(path))
    assert "not valid YAML at line" in str(error.value) and "\n" not in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(SettingsError, match="cannot read settings file"):
        load_settings_file(str(tmp_path / "nope.yaml"))


def test_unquoted_yaml_dates_are_accepted(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("business: {name: Acme}\nholidays:\n  dates: [2026-12-25]\n")
    s = load_settings_file(str(path))
    assert [d.isoformat() for d in s.holiday_dates] == ["2026-12-25"]
    assert s.source["holidays"]["dates"] == ["2026-12-25"]   # stored as JSON-able text
