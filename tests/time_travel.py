"""Run the suite again with the date moved, so that no test can depend on today.

time-machine moves the wall clock of the pytest process and of every Python process it starts
(the dev server, `firstreply post`: `time_travel_site/sitecustomize.py` starts it in each); the
monotonic clock stays real, so timeouts and sleeps do. (libfaketime was tried first: with Python
3.11 its sleep and lock wrappers fail with EINVAL or wait for the offset.)

One moved run covers both ways a date breaks a test: it starts a minute before the first
daylight-saving change of the business time zone (`business.timezone` in firstreply.yaml) that
is at least a year ahead, so the suite runs more than a year after today and crosses a DST change.
(A zone without DST: a year ahead.)

Usage:
  python tests/time_travel.py [pytest args]                 the moved run alone
  python tests/time_travel.py --beside-today [pytest args]  today's run and the moved run at once,
      one per core (what `make test` does): today's output as usual, the moved run's in
      build/time-travel.log, its summary printed at the end. Exits non-zero when either fails.
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "build" / "time-travel.log"
A_YEAR = timedelta(days=365)


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


def moved_start(now: datetime, zone: str) -> tuple[str, timedelta]:
    """(what the run is, how far ahead it starts)."""
    change = next_offset_change(ZoneInfo(zone), now + A_YEAR)
    if change is None:
        return "a year ahead", A_YEAR
    return (f"a year ahead, across the DST change in {zone} at {change.isoformat()}",
            change - timedelta(minutes=1) - now)


def moved_command(args: list[str]) -> tuple[list[str], dict[str, str], str]:
    label, offset = moved_start(datetime.now(timezone.utc), business_zone())
    site = str(ROOT / "tests" / "time_travel_site")
    env = {**os.environ, "FIRSTREPLY_TIME_TRAVEL": str(int(offset.total_seconds())),
           "PYTHONPATH": os.pathsep.join(p for p in (site, os.environ.get("PYTHONPATH")) if p)}
    command = [sys.executable, "-m", "pytest", "-W", "ignore::pytest.PytestAssertRewriteWarning",
               # its own temporary folder: today's run may be cleaning pytest's shared one
               f"--basetemp={ROOT / 'build' / 'pytest-time-travel'}", *args]
    return command, env, f"the suite {label} (+{int(offset.total_seconds())} s)"


def main(argv: list[str]) -> int:
    beside_today = "--beside-today" in argv
    args = [a for a in argv if a != "--beside-today"]
    command, env, label = moved_command(args)
    if not beside_today:
        print(f"\n== {label} ==", flush=True)
        return subprocess.run(command, cwd=ROOT, env=env).returncode

    LOG.parent.mkdir(exist_ok=True)
    print(f"== today's suite here; {label} beside it, in {LOG.relative_to(ROOT)} ==", flush=True)
    with open(LOG, "w", encoding="utf-8") as log:
        moved = subprocess.Popen([*command, "-p", "no:cacheprovider"], cwd=ROOT, env=env,
                                 stdout=log, stderr=subprocess.STDOUT)
        try:
            today = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=ROOT).returncode
            moved_code = moved.wait()
        finally:
            if moved.poll() is None:
                moved.kill()
    lines = LOG.read_text(encoding="utf-8", errors="replace").splitlines()
    print(f"\n== {label} ==")
    print("\n".join(lines if moved_code else lines[-3:]))
    if moved_code:
        print(f"time_travel: the suite failed {label}", file=sys.stderr)
    return today or moved_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
