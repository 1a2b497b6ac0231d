"""Busy times read back from counsellors' own calendars (an ICS URL each).

The scheduler's `busy.fetch` job reads every registered calendar about every 15 minutes
(`fetch_job`): over http(s) only, within one deadline for the whole fetch, a size limit and
the last ETag (only while the stored intervals cover today's window), never from a loopback or
private address, nor an IPv6 one that embeds such an IPv4 address, nor https -> http (SSRF;
`feeds.external_allow_private` lifts the address check outside production, for tests).
Recurring events are expanded (`recurring-ical-events`) over the feed window series by
series, lazily, and refused beyond MAX_INTERVALS or when a rule recurs more often than hourly;
only busy [start, end) intervals are stored, never a title. Transparent ("free") and
cancelled events are not busy, and neither are the events of our own feeds, should a
counsellor's calendar hold them. A failure is written to the calendar's row (German, for the
counsellor's page) and changes nothing else: the intervals of the last good fetch stay.

Uses: `conflicts` (booking over a busy time warns) and `busy_as_absences` (the rota page).
"""

from __future__ import annotations

import base64
import http.client
import io
import ipaddress
import logging
import socket
import ssl
import time as clock
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events  # type: ignore[import-untyped]
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from config.settings import Settings
from foundation import audit, crypto
from foundation.clock import utcnow
from foundation.db import Database
from foundation.errors import Invalid, NotFound
from foundation.models import AbsenceKind, BusyInterval, Counsellor, ExternalCalendar
from scheduling.feeds.events import uid_host, window

log = logging.getLogger(__name__)
URL_LENGTH = 2000
LABEL_LENGTH = 100
MAX_CALENDARS = 5  # per counsellor
MAX_INTERVALS = 5000  # per calendar and fetch
MAX_REDIRECTS = 3
REFETCH = timedelta(minutes=14)  # the job runs every 15 minutes
MAX_BACKOFF = timedelta(hours=24)
USER_AGENT = "konex-hotline calendar reader"
MAX_OCCURRENCES = 4 * MAX_INTERVALS  # examined per fetch, free and cancelled ones included
# From coarse to fine; rules with more than 24 occurrences a day are refused (a year of a
# rule every minute is half a million events).
FREQUENCIES = ("DAILY", "HOURLY", "MINUTELY", "SECONDLY")
CREDENTIALS_OVER_HTTP = "user name and password in the URL are only sent over https"
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # an IPv4 address in the last 32 bits
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d


class FetchError(Exception):
    """A calendar could not be read; the message is German, for the counsellor's page."""


# --- registering ---------------------------------------------------------------------------


def normalise_url(raw: str) -> str:
    """The URL to fetch: webcal:// becomes https://; only http(s) with a host is accepted."""
    url = raw.strip()
    if url.lower().startswith("webcal://"):
        url = "https://" + url[len("webcal://") :]
    if not url or len(url) > URL_LENGTH or any(c.isspace() for c in url):
        raise Invalid("not a calendar URL", field="url")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Invalid("the URL must start with https:// (or http://, webcal://)", field="url")
    try:
        _ = parts.port
    except ValueError:
        raise Invalid("the URL has an invalid port", field="url") from None
    if parts.username is not None and parts.scheme.lower() != "https":
        raise Invalid(CREDENTIALS_OVER_HTTP, field="url")
    return url


def add_calendar(
    session: Session,
    sealer: crypto.Box,
    counsellor_id: int,
    raw_url: str,
    label: str = "",
    *,
    actor: str,
) -> ExternalCalendar:
    """Register an external calendar; the URL (often a secret itself) is stored encrypted and
    never shown again, only its host."""
    url = normalise_url(raw_url)
    label = " ".join(label.split())[:LABEL_LENGTH]
    counsellor = session.get(Counsellor, counsellor_id, with_for_update=True)
    if counsellor is None:
        raise NotFound(f"no counsellor with id {counsellor_id}", field="counsellor_id")
    count = len(
        session.scalars(
            select(ExternalCalendar.id).where(ExternalCalendar.counsellor_id == counsellor_id)
        ).all()
    )
    if count >= MAX_CALENDARS:
        raise Invalid(f"at most {MAX_CALENDARS} calendars per counsellor", field="url")
    host = (urlsplit(url).hostname or "")[:255]
    calendar = ExternalCalendar(
        counsellor_id=counsellor_id,
        label=label or host,
        url_enc=sealer.seal(url),
        host=host,
    )
    session.add(calendar)
    session.flush()
    audit.record(
        session,
        actor,
        "create",
        "external_calendar",
        calendar.id,
        after={"counsellor_id": counsellor_id, "label": calendar.label, "host": host},
    )
    return calendar


def remove_calendar(session: Session, calendar_id: int, *, actor: str) -> None:
    calendar = session.get(ExternalCalendar, calendar_id)
    if calendar is None:
        raise NotFound(f"no external calendar with id {calendar_id}")
    audit.record(
        session,
        actor,
        "delete",
        "external_calendar",
        calendar.id,
        before={
            "counsellor_id": calendar.counsellor_id,
            "label": calendar.label,
            "host": calendar.host,
        },
    )
    session.execute(delete(BusyInterval).where(BusyInterval.calendar_id == calendar.id))
    session.delete(calendar)


def calendars_of(session: Session, counsellor_id: int) -> list[ExternalCalendar]:
    return list(
        session.scalars(
            select(ExternalCalendar)
            .where(ExternalCalendar.counsellor_id == counsellor_id)
            .order_by(ExternalCalendar.id)
        )
    )


# --- reading busy times ----------------------------------------------------------------------


def conflicts(
    session: Session, counsellor_id: int, start: datetime, end: datetime
) -> list[BusyInterval]:
    """The counsellor's busy intervals overlapping [start, end), by start."""
    return list(
        session.scalars(
            select(BusyInterval)
            .join(ExternalCalendar, ExternalCalendar.id == BusyInterval.calendar_id)
            .where(
                ExternalCalendar.counsellor_id == counsellor_id,
                BusyInterval.start_at < end,
                BusyInterval.end_at > start,
            )
            .order_by(BusyInterval.start_at, BusyInterval.id)
        )
    )


@dataclass(frozen=True, slots=True)
class Person:
    name: str


@dataclass(frozen=True, slots=True)
class BusyAbsence:
    """A busy time shaped like an `Absence` row (counsellor_id, kind, start_at, end_at,
    counsellor.name, note), so that the rota page can draw it with the absences. It is not an
    absence for the rota core: shifts in it are not gaps."""

    counsellor_id: int
    start_at: datetime
    end_at: datetime
    counsellor: Person
    kind: AbsenceKind = AbsenceKind.OTHER
    note: str = "belegt (eigener Kalender)"
    id: int | None = None
    source: str = "calendar"


def busy_as_absences(
    session: Session, counsellor_ids: Iterable[int], start: datetime, end: datetime
) -> list[BusyAbsence]:
    """Busy intervals of these counsellors overlapping [start, end), as absence-like objects;
    overlapping intervals of one person (from several calendars) merged."""
    ids = list(counsellor_ids)
    if not ids:
        return []
    rows = session.execute(
        select(
            ExternalCalendar.counsellor_id,
            Counsellor.name,
            BusyInterval.start_at,
            BusyInterval.end_at,
        )
        .join(ExternalCalendar, ExternalCalendar.id == BusyInterval.calendar_id)
        .join(Counsellor, Counsellor.id == ExternalCalendar.counsellor_id)
        .where(
            ExternalCalendar.counsellor_id.in_(ids),
            BusyInterval.start_at < end,
            BusyInterval.end_at > start,
        )
        .order_by(ExternalCalendar.counsellor_id, BusyInterval.start_at)
    )
    by_person: dict[int, tuple[str, list[tuple[datetime, datetime]]]] = {}
    for counsellor_id, name, s, e in rows:
        by_person.setdefault(counsellor_id, (name, []))[1].append((s, e))
    found = [
        BusyAbsence(counsellor_id, s, e, Person(name))
        for counsellor_id, (name, spans) in by_person.items()
        for s, e in merge(spans)
    ]
    return sorted(found, key=lambda busy: (busy.start_at, busy.counsellor_id))


# --- parsing (pure) --------------------------------------------------------------------------


def merge(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching intervals joined."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    """A DATE is local midnight, a floating DATE-TIME local time (in the organisation's zone)."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=zone).astimezone(UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=zone).astimezone(UTC)
    return value.astimezone(UTC)


def _ours(uid: str, own_host: str) -> bool:
    return uid.endswith(f"@{own_host}") and uid.startswith(("shift-", "appointment-"))


def _per_day(rule: icalendar.vRecur) -> int:
    """The most occurrences a rule can have in one day: its FREQ, or the BYHOUR, BYMINUTE
    and BYSECOND values that multiply a coarser FREQ."""
    freq = str((rule.get("FREQ") or ["DAILY"])[0]).upper()
    finer = FREQUENCIES.index(freq) if freq in FREQUENCIES else 0
    count = 1
    for level, (part, units) in enumerate((("BYHOUR", 24), ("BYMINUTE", 60), ("BYSECOND", 60))):
        values = rule.get(part)
        count *= len(values) if values else (units if finer > level else 1)
    return count


def _too_fine(calendar: icalendar.Calendar) -> bool:
    """Whether an event recurs more often than hourly (every minute, or at many minutes or
    seconds of a day: no calendar of people needs that, and unrolling it costs gigabytes)."""
    for event in calendar.walk("VEVENT"):
        rules = event.get("RRULE", [])
        for rule in rules if isinstance(rules, list) else [rules]:
            if _per_day(rule) > 24:
                return True
    return False


def _occurrences(body: bytes, start: datetime, end: datetime) -> Iterator[icalendar.Event]:
    """The events of the body overlapping [start, end), expanded lazily, series by series
    (`recurring_ical_events.of(...).between` unrolls every series into one list first, and
    `after` re-reads each series for every day)."""
    unreadable = "Die Adresse liefert keinen lesbaren iCalendar-Kalender (ICS)."
    try:
        calendar = icalendar.Calendar.from_ical(body)
        refused = _too_fine(calendar)
        series = recurring_ical_events.of(calendar).series
    except Exception as exc:  # the libraries raise many kinds on bad input
        raise FetchError(unreadable) from exc
    if refused:
        raise FetchError(
            "Der Kalender enthält Serientermine, die sich öfter als stündlich wiederholen; "
            "solche Kalender werden nicht gelesen."
        )
    for one in series:
        found = one.between(start, end)
        while True:
            try:
                event = next(found).as_component(False)
            except StopIteration:
                break
            except Exception as exc:  # raised while expanding a broken rule
                raise FetchError(unreadable) from exc
            yield event


def _too_large() -> FetchError:
    return FetchError(
        f"Der Kalender ist zu groß: mehr als {MAX_INTERVALS} Termine in den nächsten Monaten."
    )


def busy_spans(
    body: bytes, start: datetime, end: datetime, zone: ZoneInfo, own_host: str
) -> list[tuple[datetime, datetime]]:
    """The busy intervals of an iCalendar body within [start, end), merged. Raises
    FetchError if the body is not iCalendar, or holds more than MAX_INTERVALS busy times
    (MAX_OCCURRENCES events of any kind) in the window."""
    spans = []
    for seen, event in enumerate(_occurrences(body, start, end)):
        if seen >= MAX_OCCURRENCES:
            raise _too_large()
        if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
            continue
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        if _ours(str(event.get("UID", "")), own_host):
            continue
        try:
            first, last = _instant(event.start, zone), _instant(event.end, zone)
        except (ValueError, TypeError, KeyError):  # no usable DTSTART: nothing to place
            continue
        first, last = max(first, start), min(last, end)
        if last > first:
            spans.append((first, last))
        if len(spans) > MAX_INTERVALS:
            raise _too_large()
    return merge(spans)


# --- fetching --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fetched:
    status: int  # 200 or 304
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float
    max_bytes: int
    allow_private: bool = False


def public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global unicast address, and so is any IPv4 address an IPv6 one carries (IPv4-mapped,
    IPv4-compatible, 6to4, NAT64: each can reach an internal IPv4 host); never the
    deprecated site-local fec0::/10."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local or ip in NAT64_LOCAL:
            return False
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and (ip in NAT64 or ip in IPV4_COMPATIBLE):
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
        if inner is not None and not public(inner):
            return False
    return ip.is_global and not ip.is_multicast


def _addresses(host: str, port: int, allow_private: bool) -> list[str]:
    """The host's addresses, all of which must be public (unless allowed): a name that also
    resolves to an internal address is refused as a whole."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError("Den Server dieser Adresse gibt es nicht.") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        for address in addresses:
            if not public(ipaddress.ip_address(address.split("%", 1)[0])):
                raise FetchError(
                    "Diese Adresse zeigt auf ein internes Netz; sie wird nicht abgerufen."
                )
    if not addresses:
        raise FetchError("Den Server dieser Adresse gibt es nicht.")
    return addresses


class _Deadline(io.RawIOBase):
    """Reads from a socket within an overall deadline: every receive may wait only for the
    time left, so a server that trickles bytes cannot stretch a fetch (a plain socket
    timeout starts again with every byte)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.sock.settimeout(_left(self.deadline))
        return self.sock.recv_into(buffer)


class _DeadlineSocket:
    """What http.client needs of a socket (sendall, makefile, close), under a deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(_left(self.deadline))  # sendall: the timeout is for all of it
        self.sock.sendall(data)

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_Deadline(self.sock, self.deadline))

    def close(self) -> None:
        """Nothing yet: http.client closes its connection as soon as the headers say it will
        end, before the body is read (a real socket waits for its files); `fetch` closes
        the socket itself when done."""


def _left(deadline: float) -> float:
    """The seconds left before `deadline`; TimeoutError once it has passed."""
    left = deadline - clock.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


def _connect(
    scheme: str, host: str, port: int, addresses: list[str], deadline: float
) -> tuple[http.client.HTTPConnection, socket.socket]:
    """A connection to one of the checked addresses (never a second DNS lookup), with TLS
    verified against the host name for https; every step within `deadline`. The socket is
    the caller's to close."""
    last: OSError | None = None
    for address in addresses:
        try:
            sock = socket.create_connection((address, port), timeout=_left(deadline))
        except OSError as exc:
            last = exc
            continue
        if scheme == "https":
            context = ssl.create_default_context()
            try:
                sock.settimeout(_left(deadline))  # the handshake: the timeout is for all of it
                sock = context.wrap_socket(sock, server_hostname=host)
            except TimeoutError as exc:
                sock.close()
                raise FetchError("Der Kalender hat nicht rechtzeitig geantwortet.") from exc
            except (ssl.SSLError, OSError) as exc:
                sock.close()
                raise FetchError(
                    "Die sichere Verbindung (TLS) zum Kalender ist gescheitert."
                ) from exc
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(host, port)
        else:
            connection = http.client.HTTPConnection(host, port)
        connection.sock = _DeadlineSocket(sock, deadline)
        return connection, sock
    if isinstance(last, TimeoutError):
        raise FetchError("Der Kalender hat nicht rechtzeitig geantwortet.") from last
    raise FetchError("Der Kalender ist nicht erreichbar.") from last


def _read(response: http.client.HTTPResponse, limits: Limits, deadline: float) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > limits.max_bytes:
        raise FetchError(_too_big(limits))
    chunks: list[bytes] = []
    size = 0
    while True:
        if clock.monotonic() > deadline:
            raise FetchError("Der Kalender hat nicht rechtzeitig geantwortet.")
        chunk = response.read1(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limits.max_bytes:
            raise FetchError(_too_big(limits))
        chunks.append(chunk)


def _too_big(limits: Limits) -> str:
    return f"Der Kalender ist größer als {limits.max_bytes / 1_000_000:g} MB."


@dataclass
class _Request:
    url: str
    etag: str | None
    last_modified: str | None

    def for_host(self) -> dict[str, str]:
        parts = urlsplit(self.url)
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "text/calendar, */*;q=0.5",
            "Accept-Encoding": "identity",
        }
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        if parts.username is not None and parts.scheme.lower() == "https":
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return headers


def fetch(url: str, etag: str | None, last_modified: str | None, limits: Limits) -> Fetched:
    """GET the calendar: http(s) only, checked addresses only, at most MAX_REDIRECTS
    redirects (each checked again), `limits.timeout` in all, `limits.max_bytes` at most."""
    deadline = clock.monotonic() + limits.timeout
    request = _Request(url, etag, last_modified)
    was_secure = False
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(request.url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise FetchError("Der Kalender leitet auf eine Adresse um, die nicht http(s) ist.")
        if was_secure and scheme == "http":
            raise FetchError("Der Kalender leitet von https auf unverschlüsseltes http um.")
        if scheme == "http" and parts.username is not None:
            raise FetchError("Benutzername und Passwort werden nur über https gesendet.")
        was_secure = scheme == "https"
        port = parts.port or (443 if scheme == "https" else 80)
        addresses = _addresses(parts.hostname, port, limits.allow_private)
        try:
            connection, connection_socket = _connect(
                scheme, parts.hostname, port, addresses, deadline
            )
        except TimeoutError as exc:
            raise FetchError("Der Kalender hat nicht rechtzeitig geantwortet.") from exc
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("GET", target, headers=request.for_host())
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise FetchError("Der Kalender leitet um, aber nennt kein Ziel.")
                request = _Request(urljoin(request.url, location), None, None)
                continue
            if response.status == 304:
                return Fetched(304, etag=etag, last_modified=last_modified)
            if response.status != 200:
                raise FetchError(f"Der Kalender antwortet mit dem HTTP-Status {response.status}.")
            body = _read(response, limits, deadline)
            return Fetched(
                200,
                body,
                (response.getheader("ETag") or "")[:200] or None,
                (response.getheader("Last-Modified") or "")[:100] or None,
            )
        except TimeoutError as exc:
            raise FetchError("Der Kalender hat nicht rechtzeitig geantwortet.") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError("Die Verbindung zum Kalender brach ab.") from exc
        finally:
            connection.close()
            connection_socket.close()
    raise FetchError("Der Kalender leitet zu oft weiter.")


# --- the job ---------------------------------------------------------------------------------


def due(calendar: ExternalCalendar, now: datetime) -> bool:
    """Fetched every 15 minutes; after failures less often (doubling, at most daily)."""
    if calendar.last_fetched_at is None:
        return True
    wait: timedelta = min(REFETCH * 2 ** min(calendar.failures, 7), MAX_BACKOFF)
    return now - calendar.last_fetched_at >= wait


def limits_of(settings: Settings) -> Limits:
    feeds_config = settings.config.feeds
    return Limits(
        timeout=float(feeds_config.external_timeout_seconds),
        max_bytes=feeds_config.external_max_bytes,
        allow_private=feeds_config.external_allow_private and not settings.production,
    )


def refresh(db: Database, settings: Settings, calendar_id: int, now: datetime | None = None) -> str:
    """Fetch one calendar and store its busy times; returns "ok", "unchanged" or "error". Never
    raises: a failure is recorded on the calendar's row (and logged without the URL)."""
    now = now or utcnow()
    sealer = crypto.box(settings)
    with db.read() as session:
        calendar = session.get(ExternalCalendar, calendar_id)
        if calendar is None:
            return "error"
        url_enc, etag, modified = calendar.url_enc, calendar.etag, calendar.last_modified
        busy_day = calendar.busy_day
    span = window(now, settings.config.organisation.zone, settings.config.feeds)
    start = max(span.start, now - timedelta(days=1))
    if busy_day != span.today:  # the stored intervals end where yesterday's window ended
        etag = modified = None
    try:
        fetched = fetch(sealer.open(url_enc), etag, modified, limits_of(settings))
        spans = None
        if fetched.status == 200:
            host = uid_host(settings)
            spans = busy_spans(
                fetched.body, start, span.end, settings.config.organisation.zone, host
            )
    except (FetchError, crypto.DecryptionError) as exc:
        message = str(exc) if isinstance(exc, FetchError) else "Die Adresse ist nicht lesbar."
        _record_failure(db, calendar_id, message, now)
        log.warning("external calendar %d: %s", calendar_id, type(exc.__cause__ or exc).__name__)
        return "error"
    except Exception as exc:
        _record_failure(db, calendar_id, "Der Kalender konnte nicht gelesen werden.", now)
        log.error("external calendar %d failed (%s)", calendar_id, type(exc).__name__)
        return "error"
    with db.write() as session:
        # Locked: two schedulers storing one calendar's intervals at once would double them.
        calendar = session.get(
            ExternalCalendar, calendar_id, with_for_update=True, populate_existing=True
        )
        if calendar is None:
            return "error"
        calendar.last_fetched_at = calendar.last_success_at = now
        calendar.last_error, calendar.failures = None, 0
        if spans is None:
            return "unchanged"
        calendar.etag, calendar.last_modified = fetched.etag, fetched.last_modified
        calendar.busy_count, calendar.busy_day = len(spans), span.today
        session.execute(delete(BusyInterval).where(BusyInterval.calendar_id == calendar_id))
        if spans:
            session.execute(
                insert(BusyInterval),
                [{"calendar_id": calendar_id, "start_at": s, "end_at": e} for s, e in spans],
            )
    return "ok"


def _record_failure(db: Database, calendar_id: int, message: str, now: datetime) -> None:
    with db.write() as session:
        calendar = session.get(ExternalCalendar, calendar_id)
        if calendar is not None:
            calendar.last_fetched_at = now
            calendar.last_error = message[:500]
            calendar.failures = calendar.failures + 1


def fetch_job(db: Database, settings: Settings) -> int:
    """The scheduler job `busy.fetch`: refresh every calendar that is due; returns how many
    were tried. Busy times that have passed are dropped at the next good fetch."""
    now = utcnow()
    with db.read() as session:
        ids = [c.id for c in session.scalars(select(ExternalCalendar)) if due(c, now)]
    for calendar_id in ids:
        refresh(db, settings, calendar_id, now)
    return len(ids)


def warning(
    session: Session, counsellor_id: int, start: datetime, end: datetime, zone: ZoneInfo
) -> str | None:
    """A German warning when [start, end) overlaps the counsellor's busy times (booking pages
    show it; booking is not refused: the external calendar may be out of date)."""
    found = conflicts(session, counsellor_id, start, end)
    if not found:
        return None
    spans = ", ".join(
        f"{b.start_at.astimezone(zone):%d.%m. %H:%M}–{b.end_at.astimezone(zone):%H:%M}"
        for b in found[:3]
    )
    return f"Achtung: Im eigenen Kalender ist diese Zeit als belegt eingetragen ({spans})."
