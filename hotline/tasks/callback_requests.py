"""A callback request: a client asks on the public web form to be called back. Stored encrypted,
the on-call counsellor told (no caller data), the requester confirmed if she asked.

Floods are counted in the database (keyed hashes of the number and of the client address on the
stored requests), not in memory: production runs several processes, which must share the count,
and a restart must not reset it. Only stored requests count, because only they cost anything
(an SMS to the counsellor, a call back); a refused submission stores nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from config.languages import GERMAN, german_name
from config.settings import Settings
from foundation import audit, crypto, outbox
from foundation.clock import utcnow
from foundation.errors import Invalid, NotFound
from foundation.models import CallbackRequest, TaskStatus, Team
from foundation.teams import team_by_slug
from hotline import routing
from hotline.routing import Rota

log = logging.getLogger(__name__)

# The preferred time window: a short fixed choice (German, as the form shows it).
WINDOWS = {
    "egal": "jederzeit",
    "morgens": "morgens (8–11 Uhr)",
    "mittags": "mittags (11–14 Uhr)",
    "nachmittags": "nachmittags (14–17 Uhr)",
    "abends": "abends (17–20 Uhr)",
}
MAX_NAME = 60
MAX_MESSAGE = 500
PREFERRED_DAYS = 14  # a preferred day lies within the next two weeks
PER_ADDRESS = (5, timedelta(hours=1))  # stored requests per client address
PER_NUMBER = (3, timedelta(days=1))  # stored requests per phone number (also: SMS to it)
NOTIFY_QUIET = timedelta(minutes=10)  # one SMS to the on-call counsellor per team and period
COUNSELLOR_SMS = "Neue Rückrufbitte für die {line}. Details im Webportal."
# The same in another language than German: the counsellor knows whom to call back in it.
COUNSELLOR_SMS_LANGUAGE = (
    "Neue Rückrufbitte für die {line}, Sprache {language}. Details im Webportal."
)
# To the requester: neutral (a phone may be shared), it names neither the service nor a topic;
# in the form's language (`[callback_form.<code>] confirmation_sms`).
CONFIRMATION_SMS = "Vielen Dank, Ihre Rückrufbitte ist eingegangen. Wir melden uns."
COUNSELLOR_PURPOSE = "callback"  # the outbox's purposes of the two SMS
CONFIRMATION_PURPOSE = "callback-confirmation"
PUBLIC_ACTOR = "public:callback-form"


class Flooded(Exception):
    """Too many requests from one client address or for one number; nothing was stored."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope  # "address" or "number"


@dataclass(frozen=True, slots=True)
class NewCallbackRequest:
    """A validated request from the form (the phone number already in E.164)."""

    line: str
    phone: str
    time_window: str
    client: str  # the client address (key), only ever stored as a keyed hash
    name: str = ""
    preferred_date: date | None = None
    message: str = ""
    confirm_sms: bool = False
    # The language the form was filled in (ISO 639-1): the one to call back in, and the
    # confirmation's.
    language: str = GERMAN


def _count_since(
    session: Session, column: InstrumentedAttribute[Any], value: object, since: datetime
) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(CallbackRequest)
            .where(column == value, CallbackRequest.created_at >= since)
        )
        or 0
    )


def create_callback_request(
    session: Session,
    settings: Settings,
    new: NewCallbackRequest,
    rota: Rota,
    now: datetime | None = None,
) -> list[int]:
    """Store the request encrypted, tell the on-call counsellor (`rota` says who; no caller
    data) and, if asked, confirm to the requester. Returns the outbox ids to deliver after the
    commit. Raises Flooded (nothing stored) past the limits per client address and per
    number."""
    now = now or utcnow()
    config = settings.config
    line = config.lines.get(new.line)
    if line is None:
        raise NotFound("no such line", field="line")
    if new.time_window not in WINDOWS:
        raise Invalid("unknown time window", field="time_window")
    language = new.language if new.language in line.languages else line.languages[0]
    team = team_by_slug(session, line.team, config)
    # Serialise requests per team (PostgreSQL; SQLite's write lock does it already), so two
    # at once cannot both pass the flood check.
    session.execute(select(Team.id).where(Team.id == team.id).with_for_update())
    phone_hash = crypto.keyed_hash(settings, "callback-phone", new.phone)
    client_hash = crypto.keyed_hash(settings, "callback-client", new.client)
    for scope, column, value, (limit, period) in (
        ("address", CallbackRequest.client_hash, client_hash, PER_ADDRESS),
        ("number", CallbackRequest.phone_hash, phone_hash, PER_NUMBER),
    ):
        if _count_since(session, column, value, now - period) >= limit:
            raise Flooded(scope)
    recently_told = _count_since(session, CallbackRequest.team_id, team.id, now - NOTIFY_QUIET)
    box = crypto.box(settings)
    request = CallbackRequest(
        line=new.line,
        team_id=team.id,
        name_enc=box.seal(new.name) if new.name else None,
        phone_enc=box.seal(new.phone),
        phone_hash=phone_hash,
        client_hash=client_hash,
        time_window=new.time_window,
        preferred_date=new.preferred_date,
        message_enc=box.seal(new.message) if new.message else None,
        confirm_sms=new.confirm_sms,
        language=language,
        status=TaskStatus.NEW,
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        PUBLIC_ACTOR,
        "create",
        "callback_request",
        request.id,
        after={
            "line": new.line,
            "team_id": team.id,
            "time_window": new.time_window,
            "language": language,
        },
    )
    messages = []
    if not recently_told:
        counsellor = routing.first_reachable(rota(session, line.team, now))
        if counsellor is not None:
            messages.append(
                outbox.queue(
                    session,
                    settings,
                    to=counsellor.phone,
                    body=_counsellor_sms(line.display_name, language),
                    from_number=line.number,
                    purpose=COUNSELLOR_PURPOSE,
                )
            )
        else:
            log.warning(
                "line %s: callback request %d; nobody on call to tell", new.line, request.id
            )
    if new.confirm_sms:
        messages.append(
            outbox.queue(
                session,
                settings,
                to=new.phone,
                body=config.form_texts(language)["confirmation_sms"],
                from_number=config.reminders.sender_number or config.organisation.general_number,
                purpose=CONFIRMATION_PURPOSE,
            )
        )
    log.info("callback request %d for line %s stored", request.id, new.line)
    return messages


def _counsellor_sms(line: str, language: str) -> str:
    if language == GERMAN:
        return COUNSELLOR_SMS.format(line=line)
    return COUNSELLOR_SMS_LANGUAGE.format(line=line, language=german_name(language))
