"""Business settings: parsed from the settings file (YAML) or the stored copy, validated field by field.

Validation errors name the field (`hours.mon[1]`), so both the CLI and the admin API can say exactly
what is wrong; nothing half-valid is ever used.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Meta's channels come last: lists in the admin page and the stats keep the older ones first.
CHANNELS = ("telegram", "slack", "x", "email", "whatsapp", "messenger", "instagram")
_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
DEFAULT_TIMEOUTS = {"telegram": 30, "slack": 30, "x": 30, "email": 3 * 24 * 60,
                    "whatsapp": 30, "messenger": 30, "instagram": 30}


class SettingsError(ValueError):
    """A settings value that cannot be used; `field` is the dotted path to it."""

    def __init__(self, field_path: str, message: str):
        super().__init__(f"{field_path}: {message}")
        self.field = field_path
        self.message = message


@dataclass(frozen=True)
class Interval:
    start: time
    end: time | None          # None means 24:00 (end of day)
    overnight: bool           # end is on the next day ("22:00-02:00")

    def __str__(self) -> str:
        end = "24:00" if self.end is None else self.end.strftime("%H:%M")
        return f"{self.start.strftime('%H:%M')}-{end}"


@dataclass(frozen=True)
class FaqEntry:
    title: str
    url: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class SurveySettings:
    enabled: bool = False
    delay_minutes: int = 60         # after the conversation closed
    cooldown_days: int = 30         # nobody is asked more often
    sampling: float = 1.0           # share of closed conversations that get a survey
    nps: bool = False               # also ask 0–10 "would you recommend us"
    comment: bool = False           # then ask "anything to add?"
    # local wall times a survey may arrive between (the customer's zone when known): start, end
    daytime: tuple[time, time] = (time(9, 0), time(20, 0))


@dataclass(frozen=True)
class WhatsAppSettings:
    """An approved message template (name and language code, e.g. `en_US`) that carries an agent's
    reply when the customer last wrote more than 24 hours ago; WhatsApp refuses free text then.
    The template's body has one parameter, {{1}}, which gets the reply folded to one line."""
    reply_template: str = ""
    reply_template_language: str = "en"


DESK_MODES = ("two-way", "alerts-only")
ACK_POLICIES = ("always", "outside-hours", "off")
DEFAULT_SCHEDULE = "default"
MAX_ACK_DELAY = 900       # SQS DelaySeconds' ceiling: the delay is the queue's, never a sleeping worker
_SCHEDULE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class SpecialDay:
    """A date or a range of dates whose hours replace the weekly ones: its own intervals (a short
    Christmas Eve, an extra Saturday) or closed, with a message per language (a vacation)."""
    first: date
    last: date                                  # == first for a single date
    hours: tuple[Interval, ...] = ()
    closed: bool = False
    message: dict[str, str] = field(default_factory=dict)   # language -> text; "" key = any
    schedules: tuple[str, ...] = ()             # empty: every schedule

    def covers(self, day: date, schedule: str) -> bool:
        return self.first <= day <= self.last and (not self.schedules or schedule in self.schedules)

    def message_for(self, language: str, default_language: str) -> str:
        return _for_language(self.message, language, default_language)


@dataclass(frozen=True)
class DeskSettings:
    """Where agents see and answer conversations. `slack_channel`: the channel id (C…/G…) of the
    business's own workspace that gets a thread per conversation; `telegram_group`: a forum
    supergroup's chat id. `alerts-only`: the desk shows conversations, nothing typed there is sent."""
    slack_channel: str = ""
    telegram_group: str = ""
    mode: str = "two-way"
    note_prefix: str = "note:"
    agents: tuple[str, ...] = ()     # who may act, as `surface:user id`; empty: anyone in the desk

    @property
    def enabled(self) -> bool:
        return bool(self.slack_channel or self.telegram_group)

    @property
    def relays(self) -> bool:
        return self.mode == "two-way"


@dataclass(frozen=True)
class Settings:
    business_name: str
    timezone: str
    default_language: str = "en"
    hours: dict[str, tuple[Interval, ...]] = field(default_factory=dict)
    holiday_dates: frozenset[date] = frozenset()
    holiday_country: str = ""
    holiday_subdivision: str = ""
    expected_response: dict[str, str] = field(default_factory=dict)   # language -> text; "" key = any
    faq: tuple[FaqEntry, ...] = ()
    faq_links: int = 3                 # how many links when none matches
    contact_gap_minutes: int = 60      # no contact gets two acks closer than this
    timeouts_minutes: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    retention_days: int = 400
    audit_retention_days: int = 730    # who did what (functions/audit.py): kept longer than what it is about
    transcripts: bool = False          # email a copy of each closed conversation
    survey: "SurveySettings" = field(default_factory=lambda: SurveySettings())
    desk: DeskSettings = field(default_factory=DeskSettings)
    # issue 15: auto-reply rules. `hours` above is the schedule called "default".
    ack_policy: dict[str, str] = field(default_factory=lambda: {c: "always" for c in CHANNELS})
    ack_delay_seconds: int = 0
    schedules: dict[str, dict[str, tuple[Interval, ...]]] = field(default_factory=dict)
    channel_schedules: dict[str, str] = field(default_factory=dict)
    special_days: tuple[SpecialDay, ...] = ()
    closing_message: dict[str, str] = field(default_factory=dict)   # language -> text; empty: none
    whatsapp: WhatsAppSettings = field(default_factory=WhatsAppSettings)
    sla: "SlaSettings" = field(default_factory=lambda: SlaSettings())
    priority_rules: "PriorityRules" = field(default_factory=lambda: PriorityRules())
    # measured first response per channel (business minutes, answered count), written by the
    # expected-reply job beside the settings document, never by an admin
    measured_response: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    source: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # admins' edited templates, id -> source (stored apart from the settings document, loaded with it)
    templates: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def expected_response_for(self, language: str) -> str:
        return _for_language(self.expected_response, language, self.default_language)

    def schedule_for(self, channel: str) -> str:
        """The schedule whose hours a conversation on `channel` keeps."""
        return self.channel_schedules.get(channel, DEFAULT_SCHEDULE)

    def weekly_hours(self, schedule: str | None) -> dict[str, tuple[Interval, ...]]:
        if not schedule or schedule == DEFAULT_SCHEDULE:
            return self.hours
        return self.schedules.get(schedule, self.hours)

    def closing_message_for(self, language: str) -> str:
        return _for_language(self.closing_message, language, self.default_language) if self.closing_message else ""


def _for_language(texts: dict[str, str], language: str, default_language: str) -> str:
    """The text for the customer's language, else its base language's, the default's, anyone's."""
    return (texts.get(language) or texts.get(language.split("-")[0]) or texts.get(default_language)
            or texts.get("") or next(iter(texts.values()), ""))


def parse_interval(text: Any, where: str) -> Interval:
    if not isinstance(text, str):
        raise SettingsError(where, 'expected "HH:MM-HH:MM"')
    m = _INTERVAL.match(text)
    if not m:
        raise SettingsError(where, f'expected "HH:MM-HH:MM", got {text!r}')
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise SettingsError(where, f"not a time of day: {text!r}")
    start = time(h1, m1)
    if h2 == 24:
        return Interval(start, None, False)
    end = time(h2, m2)
    if end == start:
        raise SettingsError(where, f"empty interval {text!r} (use 00:00-24:00 for all day)")
    return Interval(start, end, overnight=end < start)


def _mapping(data: Any, where: str) -> dict:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(where, "expected a mapping")
    return data


def _list(data: Any, where: str, what: str = "a list") -> list:
    """A list, or nothing; anything else would be iterated as characters ("2026-12-25") or keys,
    or not at all (a number), and reported against the wrong field."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise SettingsError(where, f"expected {what}")
    return data


def _positive_int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(where, f"expected a whole number from {low} to {high}")
    return value


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise SettingsError(where, "expected true or false")
    return value


def _text(value: Any, where: str, required: bool = True, limit: int = 500) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise SettingsError(where, f"expected text of 1 to {limit} characters")
    return value.strip()


def _url(value: Any, where: str) -> str:
    url = _text(value, where, limit=2000)
    if not re.match(r"^https?://[^\s/$.?#][^\s]*$", url):
        raise SettingsError(where, f"expected an http(s) URL, got {url!r}")
    return url


def parse_settings(data: Any) -> Settings:
    """Validate a settings document (as loaded from YAML or JSON) into `Settings`."""
    data = _mapping(data, "settings")
    business = _mapping(data.get("business"), "business")
    name = _text(business.get("name"), "business.name", limit=200)
    tz_name = _text(business.get("timezone", "UTC"), "business.timezone", limit=100)
    try:
        ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError("business.timezone", f"unknown time zone {tz_name!r}") from None
    language = _text(business.get("default_language", "en"), "business.default_language", limit=20)
    if not _LANGUAGE.match(language):
        raise SettingsError("business.default_language", f"not a language code: {language!r}")

    hours = parse_weekly(data.get("hours"), "hours")

    holidays_data = _mapping(data.get("holidays"), "holidays")
    dates = set()
    for i, raw in enumerate(_list(holidays_data.get("dates"), "holidays.dates", 'a list of dates "YYYY-MM-DD"')):
        where = f"holidays.dates[{i}]"
        if isinstance(raw, date):
            dates.add(raw)
            continue
        if not isinstance(raw, str):   # str(20261225) would read as a date
            raise SettingsError(where, f"expected a date YYYY-MM-DD, got {raw!r}")
        try:
            dates.add(date.fromisoformat(raw))
        except ValueError:
            raise SettingsError(where, f"expected a date YYYY-MM-DD, got {raw!r}") from None
    country = _text(holidays_data.get("country"), "holidays.country", required=False, limit=3).upper()
    subdivision = _text(holidays_data.get("subdivision"), "holidays.subdivision", required=False, limit=10)
    if country:
        _check_country(country, subdivision)

    expected = data.get("expected_response", "")
    if isinstance(expected, str):
        expected_map = {"": _text(expected, "expected_response", required=False)}
    else:
        expected_map = {str(k): _text(v, f"expected_response.{k}") for k, v in
                        _mapping(expected, "expected_response").items()}

    faq = []
    for i, entry in enumerate(_list(data.get("faq"), "faq")):
        if not isinstance(entry, dict):
            raise SettingsError(f"faq[{i}]", "expected a mapping {title, url, keywords}")
        keywords = _list(entry.get("keywords"), f"faq[{i}].keywords", "a list of words")
        faq.append(FaqEntry(
            title=_text(entry.get("title"), f"faq[{i}].title", limit=200),
            url=_url(entry.get("url"), f"faq[{i}].url"),
            keywords=tuple(_text(k, f"faq[{i}].keywords[{j}]", limit=100) for j, k in enumerate(keywords)),
        ))

    ack = _mapping(data.get("acknowledgement"), "acknowledgement")
    timeouts = dict(DEFAULT_TIMEOUTS)
    for channel, minutes in _mapping(data.get("conversation_timeout_minutes"),
                                     "conversation_timeout_minutes").items():
        if channel not in CHANNELS:
            raise SettingsError(f"conversation_timeout_minutes.{channel}", "not a channel")
        timeouts[channel] = _positive_int(minutes, f"conversation_timeout_minutes.{channel}", 1, 60 * 24 * 60)

    rules = parse_rules(data)
    transcripts = _mapping(data.get("transcripts"), "transcripts")
    survey = _mapping(data.get("surveys"), "surveys")
    sampling = survey.get("sampling", 1.0)
    if isinstance(sampling, bool) or not isinstance(sampling, (int, float)) or not 0 <= sampling <= 1:   # NaN too
        raise SettingsError("surveys.sampling", "expected a share from 0 to 1 (1 = everyone)")
    return Settings(
        business_name=name,
        timezone=tz_name,
        default_language=language,
        hours=hours,
        holiday_dates=frozenset(dates),
        holiday_country=country,
        holiday_subdivision=subdivision,
        expected_response=expected_map,
        faq=tuple(faq),
        faq_links=_positive_int(ack.get("faq_links", 3), "acknowledgement.faq_links", 0, 10),
        contact_gap_minutes=_positive_int(ack.get("contact_gap_minutes", 60),
                                          "acknowledgement.contact_gap_minutes", 0, 60 * 24 * 30),
        timeouts_minutes=timeouts,
        retention_days=_positive_int(data.get("retention_days", 400), "retention_days", 1, 3650),
        audit_retention_days=_positive_int(data.get("audit_retention_days", 730), "audit_retention_days", 1, 3650),
        transcripts=_flag(transcripts.get("enabled", False), "transcripts.enabled"),
        survey=SurveySettings(
            enabled=_flag(survey.get("enabled", False), "surveys.enabled"),
            delay_minutes=_positive_int(survey.get("delay_minutes", 60), "surveys.delay_minutes", 0, 60 * 24 * 14),
            cooldown_days=_positive_int(survey.get("cooldown_days", 30), "surveys.cooldown_days", 0, 365),
            sampling=float(sampling),
            nps=_flag(survey.get("nps", False), "surveys.nps"),
            comment=_flag(survey.get("comment", False), "surveys.comment"),
            daytime=parse_daytime(survey.get("daytime", "09:00-20:00")),
        ),
        desk=parse_desk(data.get("desk")),
        **rules,
        whatsapp=parse_whatsapp(data.get("whatsapp")),
        sla=parse_sla(data.get("sla")),
        priority_rules=parse_priority_rules(data.get("priority_rules")),
        source=data,
    )


def parse_weekly(data: Any, where: str) -> dict[str, tuple[Interval, ...]]:
    """A week of hours (`hours`, or one of `schedules`): weekday -> intervals."""
    data = _mapping(data, where)
    unknown = set(data) - set(WEEKDAYS)
    if unknown:
        raise SettingsError(f"{where}.{sorted(unknown)[0]}", f"not a weekday; use {', '.join(WEEKDAYS)}")
    return {day: _intervals(data.get(day), f"{where}.{day}") for day in WEEKDAYS}


def _intervals(raw: Any, where: str) -> tuple[Interval, ...]:
    raw = raw or []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise SettingsError(where, "expected a list of intervals")
    return tuple(parse_interval(v, f"{where}[{i}]") for i, v in enumerate(raw))


def _date(raw: Any, where: str) -> date:
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise SettingsError(where, f"expected a date YYYY-MM-DD, got {raw!r}") from None


def _texts(data: Any, where: str, limit: int = 1000) -> dict[str, str]:
    """Text per language ({en: …, uk: …}); one string is everyone's."""
    if isinstance(data, str):
        return {"": _text(data, where, limit=limit)}
    texts = {}
    for language, text in _mapping(data, where).items():
        if language and not _LANGUAGE.match(str(language)):
            raise SettingsError(f"{where}.{language}", f"not a language code: {language!r}")
        texts[str(language)] = _text(text, f"{where}.{language}", limit=limit)
    return texts


def parse_daytime(raw: Any) -> tuple[time, time]:
    interval = parse_interval(raw, "surveys.daytime")
    if interval.overnight:
        raise SettingsError("surveys.daytime", f"expected a daytime window such as 09:00-20:00, got {raw!r}")
    return interval.start, interval.end or time.max


def parse_rules(data: dict) -> dict[str, Any]:
    """Issue 15's keys: acknowledgement.policy and delay_seconds, schedules, channel_schedules,
    special_days, closing_message (the keyword arguments of `Settings` they fill)."""
    ack = _mapping(data.get("acknowledgement"), "acknowledgement")
    policy = {c: "always" for c in CHANNELS}
    raw_policy = ack.get("policy", {})
    if isinstance(raw_policy, (str, bool)):   # one policy for every channel
        raw_policy = {c: raw_policy for c in CHANNELS}
    for channel, value in _mapping(raw_policy, "acknowledgement.policy").items():
        where = f"acknowledgement.policy.{channel}"
        if channel not in CHANNELS:
            raise SettingsError(where, f"not a channel; use {', '.join(CHANNELS)}")
        if value is False:   # YAML 1.1 reads an unquoted `off` as false: the admin wrote off
            value = "off"
        if value not in ACK_POLICIES:
            raise SettingsError(where, f"expected one of {', '.join(ACK_POLICIES)}, got {value!r}")
        policy[channel] = value
    delay = _positive_int(ack.get("delay_seconds", 0), "acknowledgement.delay_seconds", 0, MAX_ACK_DELAY)

    schedules = {}
    for name, week in _mapping(data.get("schedules"), "schedules").items():
        if not _SCHEDULE_NAME.match(str(name)):
            raise SettingsError(f"schedules.{name}", "a schedule name is lower-case letters, digits, - and _")
        if name == DEFAULT_SCHEDULE and data.get("hours"):
            raise SettingsError(f"schedules.{name}", "the default schedule is `hours`; give this one another name")
        schedules[str(name)] = parse_weekly(week, f"schedules.{name}")
    known = {DEFAULT_SCHEDULE, *schedules}
    channel_schedules = {}
    for channel, name in _mapping(data.get("channel_schedules"), "channel_schedules").items():
        where = f"channel_schedules.{channel}"
        if channel not in CHANNELS:
            raise SettingsError(where, f"not a channel; use {', '.join(CHANNELS)}")
        if name not in known:
            raise SettingsError(where, f"no schedule {name!r}; define it under schedules")
        channel_schedules[channel] = name

    raw_days = data.get("special_days") or []
    if not isinstance(raw_days, list):
        raise SettingsError("special_days", "expected a list")
    special = []
    for i, entry in enumerate(raw_days):
        where = f"special_days[{i}]"
        entry = _mapping(entry, where)
        if "date" in entry:
            first = last = _date(entry["date"], f"{where}.date")
        elif "from" in entry:
            first = _date(entry["from"], f"{where}.from")
            last = _date(entry.get("to", entry["from"]), f"{where}.to")
            if last < first:
                raise SettingsError(f"{where}.to", "ends before it starts")
            if (last - first).days > 366:
                raise SettingsError(f"{where}.to", "a special period is at most a year long")
        else:
            raise SettingsError(f"{where}.date", "expected date: YYYY-MM-DD, or from: and to:")
        closed = _flag(entry.get("closed", False), f"{where}.closed")
        hours = _intervals(entry.get("hours"), f"{where}.hours")
        if closed and hours:
            raise SettingsError(f"{where}.hours", "a closed day has no hours")
        if not closed and not hours:
            raise SettingsError(f"{where}.hours", "give the day's hours, or closed: true")
        names = entry.get("schedules") or []
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list):
            raise SettingsError(f"{where}.schedules", "expected a list of schedule names")
        for j, name in enumerate(names):
            if name not in known:
                raise SettingsError(f"{where}.schedules[{j}]", f"no schedule {name!r}")
        special.append(SpecialDay(first=first, last=last, hours=hours, closed=closed,
                                  message=_texts(entry.get("message") or {}, f"{where}.message"),
                                  schedules=tuple(names)))
    return {"ack_policy": policy, "ack_delay_seconds": delay, "schedules": schedules,
            "channel_schedules": channel_schedules, "special_days": tuple(special),
            "closing_message": _texts(data.get("closing_message") or {}, "closing_message")}


def parse_desk(data: Any) -> DeskSettings:
    desk = _mapping(data, "desk")
    slack_channel = _text(desk.get("slack_channel"), "desk.slack_channel", required=False, limit=30)
    if slack_channel and not re.match(r"^[CG][A-Z0-9]{2,29}$", slack_channel):
        raise SettingsError("desk.slack_channel", f"expected a Slack channel id such as C0123ABCD, got {slack_channel!r}")
    group = desk.get("telegram_group", "")
    if isinstance(group, int) and not isinstance(group, bool):
        group = str(group)
    group = _text(group, "desk.telegram_group", required=False, limit=20)
    if group and not re.match(r"^-100\d{5,15}$", group):
        raise SettingsError("desk.telegram_group", f"expected a supergroup id such as -1001234567890, got {group!r}")
    mode = _text(desk.get("mode", "two-way"), "desk.mode", limit=20)
    if mode not in DESK_MODES:
        raise SettingsError("desk.mode", f"expected one of {', '.join(DESK_MODES)}, got {mode!r}")
    agents = desk.get("agents") or []
    if not isinstance(agents, list):
        raise SettingsError("desk.agents", "expected a list such as [\"slack:U0123\", \"telegram:42\"]")
    return DeskSettings(slack_channel=slack_channel, telegram_group=group, mode=mode,
                        note_prefix=_text(desk.get("note_prefix", "note:"), "desk.note_prefix", limit=20),
                        agents=tuple(_text(str(a), f"desk.agents[{i}]", limit=60) for i, a in enumerate(agents)))


def parse_whatsapp(data: Any) -> WhatsAppSettings:
    whatsapp = _mapping(data, "whatsapp")
    name = _text(whatsapp.get("reply_template"), "whatsapp.reply_template", required=False, limit=512)
    if name and not re.match(r"^[a-z0-9_]+$", name):
        raise SettingsError("whatsapp.reply_template", f"expected a template name of lowercase letters, digits "
                                                        f"and underscores, got {name!r}")
    language = _text(whatsapp.get("reply_template_language", "en"), "whatsapp.reply_template_language", limit=10)
    if not re.match(r"^[a-z]{2,3}(_[A-Z]{2})?$", language):
        raise SettingsError("whatsapp.reply_template_language", f"expected a language code such as en or en_US, "
                                                                 f"got {language!r}")
    return WhatsAppSettings(reply_template=name, reply_template_language=language)


# -- SLA and priority rules (issue 13) --------------------------------------------------------------
PRIORITY_ORDER = ("low", "normal", "high", "urgent")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d)\s*$")


@dataclass(frozen=True)
class Duration:
    """An SLA target: business minutes, or business days ("1d" = the day's hours: the open minutes
    of the working day the clock starts in, so 1d from Friday 10:00 is Monday ~10:00)."""
    minutes: float = 0.0
    days: float = 0.0

    def __str__(self) -> str:
        if self.days:
            return f"{self.days:g}d"
        return f"{self.minutes / 60:g}h" if self.minutes >= 60 and self.minutes % 60 == 0 else f"{self.minutes:g}m"


@dataclass(frozen=True)
class SlaSettings:
    """Targets in business minutes per priority: for the first response, and for the next response
    after the customer writes again. Empty: no SLA (nothing is due, nothing warns)."""
    first_response: dict[str, Duration] = field(default_factory=dict)
    next_response: dict[str, Duration] = field(default_factory=dict)
    warn_at: float = 0.8

    def target(self, kind: str, priority: str) -> Duration | None:
        targets = self.first_response if kind == "first" else self.next_response
        return targets.get(priority)


@dataclass(frozen=True)
class PriorityRules:
    keywords: dict[str, tuple[str, ...]] = field(default_factory=dict)   # priority -> words (any language)
    vip: frozenset[str] = frozenset()                                    # "channel:sender id"
    vip_priority: str = "high"


def parse_duration(value: Any, where: str) -> Duration:
    """"30m", "2h", "1d" (business days) → a `Duration`."""
    m = _DURATION.match(value) if isinstance(value, str) else None
    if not m or not 0 < float(m.group(1)) <= 10_000:
        raise SettingsError(where, f'expected a duration such as "30m", "2h" or "1d", got {value!r}')
    amount, unit = float(m.group(1)), m.group(2)
    if unit == "d":
        return Duration(days=amount)
    return Duration(minutes=amount * (60 if unit == "h" else 1))


def parse_sla(data: Any) -> SlaSettings:
    sla = _mapping(data, "sla")
    targets = {}
    for kind in ("first_response", "next_response"):
        raw = _mapping(sla.get(kind), f"sla.{kind}")
        for priority in raw:
            if priority not in PRIORITY_ORDER:
                raise SettingsError(f"sla.{kind}.{priority}", f"not a priority; use {', '.join(PRIORITY_ORDER)}")
        targets[kind] = {p: parse_duration(v, f"sla.{kind}.{p}") for p, v in raw.items()}
    warn_at = sla.get("warn_at", 0.8)
    if isinstance(warn_at, bool) or not isinstance(warn_at, (int, float)) or not 0 < warn_at < 1:
        raise SettingsError("sla.warn_at", "expected a share between 0 and 1, such as 0.8")
    return SlaSettings(first_response=targets["first_response"], next_response=targets["next_response"],
                       warn_at=float(warn_at))


def parse_priority_rules(data: Any) -> PriorityRules:
    rules = _mapping(data, "priority_rules")
    keywords = {}
    for priority, words in _mapping(rules.get("keywords"), "priority_rules.keywords").items():
        if priority not in PRIORITY_ORDER:
            raise SettingsError(f"priority_rules.keywords.{priority}", f"not a priority; use {', '.join(PRIORITY_ORDER)}")
        if not isinstance(words, list):
            raise SettingsError(f"priority_rules.keywords.{priority}", "expected a list of words")
        keywords[priority] = tuple(_text(w, f"priority_rules.keywords.{priority}[{i}]", limit=100)
                                   for i, w in enumerate(words))
    vip = rules.get("vip") or []
    if not isinstance(vip, list):
        raise SettingsError("priority_rules.vip", 'expected a list such as ["telegram:123456789"]')
    contacts = set()
    for i, who in enumerate(vip):
        who = _text(str(who), f"priority_rules.vip[{i}]", limit=320)
        if ":" not in who:
            raise SettingsError(f"priority_rules.vip[{i}]", f'expected "channel:id", got {who!r}')
        channel, _, ident = who.partition(":")
        contacts.add(f"{channel}:{ident.lower() if channel == 'email' else ident}")
    vip_priority = _text(rules.get("vip_priority", "high"), "priority_rules.vip_priority", limit=10)
    if vip_priority not in PRIORITY_ORDER:
        raise SettingsError("priority_rules.vip_priority", f"expected one of {', '.join(PRIORITY_ORDER)}")
    return PriorityRules(keywords=keywords, vip=frozenset(contacts), vip_priority=vip_priority)


def _check_country(country: str, subdivision: str) -> None:
    import holidays  # only when a country calendar is configured: it is a large package

    try:
        holidays.country_holidays(country, subdiv=subdivision or None, years=[2026])
    except NotImplementedError:
        raise SettingsError("holidays.country", f"no holiday calendar for {country!r}") from None
    except Exception as exc:  # the package raises several kinds for a bad subdivision
        raise SettingsError("holidays.subdivision", str(exc)) from None


def load_settings_file(path: str) -> Settings:
    """Read and validate a YAML settings file; errors are `SettingsError` with a one-line message."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise SettingsError(path, f"cannot read settings file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SettingsError(path, f"not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_settings(_plain(data))


def _plain(value: Any) -> Any:
    """YAML gives `date` objects for unquoted dates; keep the stored document JSON-able."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value
