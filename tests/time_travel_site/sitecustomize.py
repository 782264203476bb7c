"""Loaded by every Python process of a date-moved test run (tests/time_travel.py puts this folder
on PYTHONPATH): the pytest process and what it starts (`firstreply dev`, `firstreply post`), so
they all agree on the moved date. time-machine moves the wall clock (time.time, datetime.now,
date.today, …) and leaves the monotonic clock alone, so timeouts and sleeps stay real."""
import os

_offset = os.environ.get("FIRSTREPLY_TIME_TRAVEL")
if _offset:
    from datetime import datetime, timedelta, timezone

    import time_machine

    time_machine.travel(datetime.now(timezone.utc) + timedelta(seconds=float(_offset)), tick=True).start()
