"""Business hours: is support open at an instant, and when does it open next.

Hours are wall-clock intervals in the business's time zone. Each interval belongs to the weekday it
starts on; one that ends before it starts ("22:00-02:00") runs into the next morning. A holiday
closes its whole calendar day, including the part of an overnight interval that spills into it.
All comparisons are made in UTC: two aware datetimes with the same tzinfo compare by wall time in
Python, which is wrong across a DST change.

Named schedules (issue 15): a conversation keeps the hours of its channel's schedule
(`Settings.schedule_for`); `BusinessHours(settings)` is the default schedule, the weekly `hours`.
Special days replace a day's weekly hours with their own, or close it (a vacation); they win over
holidays, so an extra working day can fall on one.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from functions.settings import DEFAULT_SCHEDULE, WEEKDAYS, Settings, SpecialDay

UTC = timezone.utc
LOOKAHEAD_DAYS = 400   # a year of holidays and then some; beyond that there is no opening


def hours_for(settings: Settings, channel: str) -> "BusinessHours":
    """The hours a conversation on `channel` keeps (its channel's schedule)."""
    return business_hours(settings, settings.schedule_for(channel))


# id(settings) -> (the settings object, {schedule: BusinessHours}) for the last few settings objects
# asked about (a warm container has one at a time, a new one every 30 s). Kept here, not on the
# object (Settings holds dicts, so it cannot key a WeakKeyDictionary, and copies made from its
# __dict__ must stay plain settings); the entry holds the object, so its id is not reused meanwhile.
SETTINGS_KEPT = 8
_KEPT: dict[int, tuple[Settings, dict[str, "BusinessHours"]]] = {}


def business_hours(settings: Settings, schedule: str = DEFAULT_SCHEDULE) -> "BusinessHours":
    """One BusinessHours per settings object and schedule, so the days it worked out are reused by
    every message until the settings are read again (every 30 s in a warm container: a new object,
    a new cache). What is kept depends on the settings and the day only, never on the time asked."""
    entry = _KEPT.get(id(settings))
    if entry is None or entry[0] is not settings:
        while len(_KEPT) >= SETTINGS_KEPT:
            _KEPT.pop(next(iter(_KEPT)), None)   # the oldest
        entry = _KEPT[id(settings)] = (settings, {})
    kept = entry[1]
    found = kept.get(schedule)
    if found is None:
        found = kept[schedule] = BusinessHours(settings, schedule)
    return found


SEGMENT_DAYS_KEPT = 1024   # days of segments one BusinessHours keeps (a scan past a year included)


class BusinessHours:
    def __init__(self, settings: Settings, schedule: str | None = None):
        self.settings = settings
        self.zone = settings.zone
        self.schedule = schedule or DEFAULT_SCHEDULE
        self.weekly = settings.weekly_hours(self.schedule)
        self._segments: dict[date, tuple[tuple[datetime, datetime], ...]] = {}
        # what `acknowledge.schedule_context` worked out from these hours, by (channel, language):
        # (from, until, values), kept with the hours they depend on
        self.contexts: dict[tuple[str, str], tuple[datetime, datetime, dict]] = {}

    # -- special days and holidays ----------------------------------------------------------
    def special_day(self, day: date) -> SpecialDay | None:
        """The special day covering `day` for this schedule (the first listed wins)."""
        return next((s for s in self.settings.special_days if s.covers(day, self.schedule)), None)

    def _closes(self, day: date) -> bool:
        """Closed all day: a closed special day, or a holiday that no special day reopens."""
        special = self.special_day(day)
        if special is not None:
            return special.closed
        return self.is_holiday(day)

    def _intervals(self, day: date):
        special = self.special_day(day)
        if special is not None:
            return special.hours
        if self.is_holiday(day):
            return ()
        return self.weekly.get(WEEKDAYS[day.weekday()], ())

    def is_holiday(self, day: date) -> bool:
        if day in self.settings.holiday_dates:
            return True
        if self.settings.holiday_country:
            return day in _country_calendar(self.settings.holiday_country,
                                            self.settings.holiday_subdivision, day.year)
        return False

    # -- intervals --------------------------------------------------------------------------
    def _local(self, day: date, at: time | None) -> datetime:
        """Wall time on `day` as an aware UTC instant; None is 24:00. Times that a DST jump
        skips are taken as the first instant after the gap, as a clock on the wall shows it."""
        return _wall_instant(self.zone, day, at)

    def _segments_of(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """Open (start, end) UTC instants of the intervals that start on `day`, holidays and
        special days applied (worked out once per day and BusinessHours)."""
        found = self._segments.get(day)
        if found is None:
            if len(self._segments) >= SEGMENT_DAYS_KEPT:
                self._segments.clear()
            found = self._segments[day] = tuple(self._day_segments(day))
        return iter(found)

    def _day_segments(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        for interval in self._intervals(day):
            start = self._local(day, interval.start)
            if interval.overnight:
                next_day = day + timedelta(days=1)
                # a holiday closes all of its day, the small hours of an overnight shift too
                end = self._local(next_day, time(0, 0) if self._closes(next_day) else interval.end)
            else:
                end = self._local(day, interval.end)
            if end > start:
                yield start, end

    def segments(self, start_day: date, days: int) -> Iterator[tuple[datetime, datetime]]:
        for offset in range(-1, days):   # the day before may run overnight into start_day
            yield from self._segments_of(start_day + timedelta(days=offset))

    # -- questions the acknowledgement asks -------------------------------------------------
    def is_open(self, now: datetime) -> bool:
        today = now.astimezone(self.zone).date()
        return any(s <= now < e for s, e in self.segments(today, 1))

    def next_opening(self, now: datetime) -> datetime | None:
        """The next instant support opens after `now` (aware, business zone); None when open now
        or when no opening falls within a year (no hours configured)."""
        if self.is_open(now):
            return None
        today = now.astimezone(self.zone).date()
        for offset in range(LOOKAHEAD_DAYS):
            day = today + timedelta(days=offset)
            starts = [s for s, e in self._segments_of(day) if s > now]
            if starts:
                return min(starts).astimezone(self.zone)
        return None

    def business_minutes(self, start: datetime, end: datetime) -> float:
        """Minutes between two instants that fall inside business hours (holidays excluded): the
        one clock of first response, SLA and the measured reply time. Zero when end <= start."""
        if end <= start:
            return 0.0
        first = start.astimezone(self.zone).date()
        days = (end.astimezone(self.zone).date() - first).days + 1
        total = 0.0
        for s, e in self.segments(first, days):
            overlap = (min(e, end) - max(s, start)).total_seconds()
            if overlap > 0:
                total += overlap
        return total / 60

    def add_business_minutes(self, start: datetime, minutes: float) -> datetime | None:
        """The instant at which `minutes` of business time have passed since `start`: the inverse
        of `business_minutes` (business_minutes(start, result) == minutes), walking the same
        segments. None when the hours never open within a year."""
        remaining = minutes * 60
        if remaining <= 0:
            return start
        first = start.astimezone(self.zone).date()
        for offset in range(-1, LOOKAHEAD_DAYS):   # the day before may run overnight into today
            for s, e in sorted(self._segments_of(first + timedelta(days=offset))):
                s = max(s, start)
                length = (e - s).total_seconds()
                if length <= 0:
                    continue
                if length >= remaining:
                    return s + timedelta(seconds=remaining)
                remaining -= length
        return None

    def working_day_minutes(self, start: datetime) -> float:
        """Open minutes of the working day that `start` falls in, or of the next one when closed
        then: what "one business day" of an SLA target means."""
        first = start.astimezone(self.zone).date()
        for offset in range(LOOKAHEAD_DAYS):
            segments = list(self._segments_of(first + timedelta(days=offset)))
            if any(e > start for s, e in segments):
                return sum((e - s).total_seconds() for s, e in segments) / 60
        return 0.0

    def hours_on(self, day: date) -> list[str]:
        """The day's intervals as written in the settings ("09:00-13:00"); [] on a holiday."""
        return [str(i) for i in self._intervals(day)]

    def vacation(self, now: datetime) -> SpecialDay | None:
        """The closed special period `now` falls in (its message is the vacation message)."""
        special = self.special_day(now.astimezone(self.zone).date())
        return special if special is not None and special.closed else None


@lru_cache(maxsize=4096)
def _wall_instant(zone: tzinfo, day: date, at: time | None) -> datetime:
    """`BusinessHours._local`: a pure function of the zone, the day and the wall time."""
    if at is None:
        return _wall_instant(zone, day + timedelta(days=1), time(0, 0))
    wall = datetime.combine(day, at).replace(tzinfo=zone)
    before, after = wall.astimezone(UTC), wall.replace(fold=1).astimezone(UTC)
    if after >= before:
        return before   # an ordinary wall time, or an ambiguous one (take the first)
    # In a spring-forward gap the wall time never happens: support opens at the jump, the
    # first instant whose offset is the new one (transitions fall on whole minutes).
    low, high = after, before
    while high - low > timedelta(minutes=1):
        mid = low + (high - low) / 2
        if mid.astimezone(zone).utcoffset() == high.astimezone(zone).utcoffset():
            high = mid
        else:
            low = mid
    return high.replace(second=0, microsecond=0)


def customer_zone(contact: dict[str, Any], fallback: tzinfo, offsets: bool = True) -> tzinfo:
    """The customer's clock (issue 15): the zone their channel told us (Slack's `tz`), else the
    offset of their email's Date: header (an offset, not a zone: good for today's daytime only),
    else `fallback`, the business zone. Never guessed from the language. `offsets=False`: zones
    only (a transcript's dates may span a DST change an offset knows nothing of)."""
    name = contact.get("timezone")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass   # a zone this Python does not know: the offset or the business's clock
    offset = contact.get("utc_offset_minutes") if offsets else None
    if isinstance(offset, int) and not isinstance(offset, bool) and abs(offset) <= 14 * 60:
        return timezone(timedelta(minutes=offset))
    return fallback


@lru_cache(maxsize=32)
def _country_calendar(country: str, subdivision: str, year: int):
    import holidays  # only when a country calendar is configured: it is a large package

    return holidays.country_holidays(country, subdiv=subdivision or None, years=[year])
