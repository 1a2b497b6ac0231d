"""A small RFC 5545 writer for the feeds' hot path: content lines, escaping, folding, times.

Rendering a year of events with `icalendar` objects costs far more than the feed's budget
(bench/feeds.py measures both), so feeds write iCalendar text directly with these few pure
functions. Their output is checked against icalendar, vobject, recurring-ical-events, libical
and khal in tests/test_feeds.py.

Times are never floating: an instant is written as wall-clock time with a TZID whose VTIMEZONE
is in the same calendar, except in the repeated hour of an autumn night, where a wall-clock
time names the *first* pass (RFC 5545 3.3.5) and the second pass can only be written in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

CRLF = "\r\n"
LIMIT = 75  # octets per line, without the CRLF (RFC 5545 3.1)
_SPECIAL = re.compile(r"[\\;,\n\r\x00-\x08\x0b-\x1f\x7f]")


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newlines escaped;
    other control characters, which TEXT may not hold, dropped."""
    if not _SPECIAL.search(value):
        return value
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = value.replace("\n", "\\n")
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", value)


def fold(line: str) -> str:
    """Fold a content line into chunks of at most 75 octets, never inside a UTF-8 sequence;
    each continuation starts with one space (RFC 5545 3.1)."""
    if len(line) <= LIMIT and line.isascii():
        return line
    raw = line.encode()
    if len(raw) <= LIMIT:
        return line
    chunks = []
    start, room = 0, LIMIT
    while start < len(raw):
        end = min(start + room, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # a continuation byte: step back
            end -= 1
        chunks.append(raw[start:end].decode())
        start, room = end, LIMIT - 1
    return (CRLF + " ").join(chunks)


def utc_stamp(moment: datetime) -> str:
    """An instant as a UTC DATE-TIME: 20260329T010000Z."""
    at = moment.astimezone(UTC)
    return f"{at.year:04d}{at.month:02d}{at.day:02d}T{at.hour:02d}{at.minute:02d}{at.second:02d}Z"


def _wall(at: datetime) -> str:
    return f"{at.year:04d}{at.month:02d}{at.day:02d}T{at.hour:02d}{at.minute:02d}{at.second:02d}"


def zoned(name: str, moment: datetime, zone: ZoneInfo) -> str:
    """A DTSTART/DTEND-style property: wall-clock time with TZID, or UTC where the wall-clock
    time would name another instant (the second pass of a repeated hour)."""
    local = moment.astimezone(zone)
    if local.fold and local.replace(fold=0).utcoffset() != local.utcoffset():
        return f"{name}:{utc_stamp(moment)}"
    return f"{name};TZID={zone.key}:{_wall(local)}"


def _offset(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{secs:02d}" if secs else "")


def transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The UTC instants in [start, end) at which the zone's offset or name changes, to the
    second (found day by day, then by bisection: zoneinfo does not list them)."""
    found = []
    step = timedelta(days=1)
    at = start.astimezone(UTC)

    def state(moment: datetime) -> tuple[timedelta | None, str | None]:
        local = moment.astimezone(zone)
        return local.utcoffset(), local.tzname()

    while at < end:
        following = min(at + step, end)
        if state(at) != state(following):
            low, high = at, following
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if middle <= low:
                    break
                if state(middle) == state(low):
                    low = middle
                else:
                    high = middle
            found.append(high)
        at = following
    return found


@lru_cache(maxsize=32)
def vtimezone(key: str, first: date, last: date) -> tuple[str, ...]:
    """A VTIMEZONE for the zone, exact from `first` to `last` (local dates): one observance
    at the start plus one per transition, grouped into STANDARD/DAYLIGHT sub-components with
    RDATEs. Each onset is the wall-clock time before the change, read with TZOFFSETFROM
    (RFC 5545 3.6.5): in Europe/Berlin 02:00 in March and 03:00 in October."""
    zone = ZoneInfo(key)
    begin = datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(UTC)
    finish = datetime(last.year, last.month, last.day, tzinfo=zone).astimezone(UTC)
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    initial = begin.astimezone(zone)
    offset0 = initial.utcoffset() or timedelta(0)
    kind0 = "DAYLIGHT" if initial.dst() else "STANDARD"
    groups[(kind0, _offset(offset0), _offset(offset0), initial.tzname() or key)] = [
        _wall(begin.astimezone(zone).replace(tzinfo=None))
    ]
    for change in transitions(zone, begin, finish):
        before = (change - timedelta(seconds=1)).astimezone(zone).utcoffset() or timedelta(0)
        after = change.astimezone(zone)
        offset = after.utcoffset() or timedelta(0)
        kind = "DAYLIGHT" if after.dst() else "STANDARD"
        onset = (change.replace(tzinfo=None)) + before
        group = (kind, _offset(before), _offset(offset), after.tzname() or key)
        groups.setdefault(group, []).append(_wall(onset))
    lines = ["BEGIN:VTIMEZONE", f"TZID:{key}"]
    for (kind, offset_from, offset_to, name), onsets in groups.items():
        lines += [f"BEGIN:{kind}", f"DTSTART:{onsets[0]}"]
        if len(onsets) > 1:
            lines.append(f"RDATE:{','.join(onsets[1:])}")
        lines += [
            f"TZNAME:{escape_text(name)}",
            f"TZOFFSETFROM:{offset_from}",
            f"TZOFFSETTO:{offset_to}",
            f"END:{kind}",
        ]
    lines.append("END:VTIMEZONE")
    return tuple(lines)


def duration_minutes(minutes: int) -> str:
    """A DURATION of whole minutes: PT60M."""
    return f"PT{minutes}M"


def join(lines: Iterable[str]) -> bytes:
    """The calendar's octets: every content line folded, UTF-8, every line ended by CRLF.
    Lines are passed unfolded: folding here covers every line with variable content (a UID
    with a long host, a long TZID) without each caller remembering to."""
    return (CRLF.join(map(fold, lines)) + CRLF).encode()
