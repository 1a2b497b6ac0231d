"""External calendars registered by counsellors: the URL (often a secret itself) is stored
encrypted and never shown again, only its host; removing one removes its busy times."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from foundation import audit, crypto
from foundation.errors import Invalid, NotFound
from foundation.models import BusyInterval, Counsellor, ExternalCalendar

URL_LENGTH = 2000
LABEL_LENGTH = 100
MAX_CALENDARS = 5  # per counsellor
CREDENTIALS_OVER_HTTP = "user name and password in the URL are only sent over https"


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
