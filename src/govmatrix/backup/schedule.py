"""The estate's 5-field cron schedules as systemd OnCalendar expressions (on-prem timers)."""

from __future__ import annotations

import re

_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_DAY_NAMES = {name.lower(): index for index, name in enumerate(_DAYS)}


class ScheduleError(ValueError):
    pass


def _field(value: str, width: int) -> str:
    """minute, hour, day or month: *, N, N-M, N,M, */S, N-M/S."""
    parts = []
    for part in value.split(","):
        match = re.fullmatch(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?", part)
        if not match:
            raise ScheduleError(f"cron field '{value}' is not supported for systemd timers")
        start, end, step = match.groups()
        if start == "*":
            text = "*" if step is None else f"0/{step}"
        else:
            text = f"{int(start):0{width}d}"
            if end is not None:
                text += f"..{int(end):0{width}d}"
            if step is not None:
                text += f"/{step}"
        parts.append(text)
    return ",".join(parts)


def _weekdays(value: str) -> str:
    if value == "*":
        return ""
    out = []
    for part in value.split(","):
        bounds = [_DAY_NAMES.get(b.lower(), b) for b in part.split("-")]
        try:
            numbers = [int(b) % 7 for b in bounds]
        except ValueError:
            raise ScheduleError(f"cron weekday '{value}' is not supported") from None
        out.append("..".join(_DAYS[n] for n in numbers))
    return ",".join(out) + " "


def on_calendar(cron: str) -> str:
    """'0 2 * * 1-6' -> 'Mon..Sat *-*-* 02:00:00' (UTC is added by the timer unit)."""
    fields = cron.split()
    if len(fields) != 5:
        raise ScheduleError(f"'{cron}' is not a 5-field cron schedule")
    minute, hour, day, month, weekday = fields
    date = f"*-{_field(month, 2)}-{_field(day, 2)}"
    return f"{_weekdays(weekday)}{date} {_field(hour, 2)}:{_field(minute, 2)}:00"
