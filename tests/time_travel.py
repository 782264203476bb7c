"""Run the whole suite again with the date moved, so that no test can depend on today.

time-machine moves the wall clock of the pytest process and of every Python process it starts
(the dev server, `firstreply post`: `time_travel_site/sitecustomize.py` starts it in each); the
monotonic clock stays real, so timeouts and sleeps do. (libfaketime was tried first: with Python
3.11 its sleep and lock wrappers fail with EINVAL or wait for the offset.) Two runs:
- a year ahead;
- starting a minute before the next daylight-saving change of the business time zone
  (`business.timezone` in firstreply.yaml), so the run crosses it.
Usage: `python tests/time_travel.py [pytest args]`; exits non-zero when a run fails.
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent


def next_offset_change(zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first instant after `after` at which the zone's UTC offset changes (within two years)."""
    step, moment = timedelta(hours=6), after
    start_offset = after.astimezone(zone).utcoffset()
    while moment < after + timedelta(days=730):
        nxt = moment + step
        if nxt.astimezone(zone).utcoffset() != start_offset:
            low, high = moment, nxt
            while high - low > timedelta(seconds=1):
                mid = low + (high - low) / 2
                if mid.astimezone(zone).utcoffset() == start_offset:
                    low = mid
                else:
                    high = mid
            return high.replace(microsecond=0)
        moment = nxt
    return None


def business_zone() -> str:
    import yaml

    with open(ROOT / "firstreply.yaml", encoding="utf-8") as fh:
        return (yaml.safe_load(fh).get("business") or {}).get("timezone", "UTC")


def main(args: list[str]) -> int:
    now = datetime.now(timezone.utc)
    zone = business_zone()
    runs = [("a year ahead", timedelta(days=365))]
    change = next_offset_change(ZoneInfo(zone), now)
    if change:
        runs.append((f"across the DST change in {zone} at {change.isoformat()}",
                     change - timedelta(minutes=1) - now))
    site = str(ROOT / "tests" / "time_travel_site")
    for label, offset in runs:
        print(f"\n== the suite again, {label} (+{int(offset.total_seconds())} s) ==", flush=True)
        env = {**os.environ, "FIRSTREPLY_TIME_TRAVEL": str(int(offset.total_seconds())),
               "PYTHONPATH": os.pathsep.join(p for p in (site, os.environ.get("PYTHONPATH")) if p)}
        result = subprocess.run([sys.executable, "-m", "pytest", "-W", "ignore::pytest.PytestAssertRewriteWarning",
                                 *args], cwd=ROOT, env=env)
        if result.returncode:
            print(f"time_travel: the suite failed {label}", file=sys.stderr)
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
