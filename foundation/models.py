"""Typed SQLAlchemy models: the whole persistent state of the service.

Instants are stored in UTC (`UTCDateTime` refuses naive values); a client's phone number and
message bodies are stored encrypted (`*_enc` columns), never in clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
    event,
    func,
    literal_column,
    text,
    types,
)
from sqlalchemy import (
    false as sa_false,
)
from sqlalchemy import (
    true as sa_true,
)
from sqlalchemy.dialects.postgresql import JSONB, ExcludeConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from foundation import call_tallies
from foundation.clock import utcnow
from foundation.text import pseudonym_digest


class UTCDateTime(types.TypeDecorator[datetime]):
    """An aware instant in, an aware UTC instant out, whatever the database keeps."""

    impl = types.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store aware instants only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(cls: type[StrEnum], name: str) -> Enum:
    """A StrEnum column stored as its values, checked by the database."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
    )


class _Some(types.TypeDecorator[StrEnum]):
    """A column that takes only some members of a StrEnum (checked by the database, like
    `_enum`); reads back the members themselves."""

    impl = types.String
    cache_ok = True

    def __init__(self, cls: type[StrEnum], name: str, only: Sequence[StrEnum]) -> None:
        super().__init__()
        self._cls = cls
        self.impl = Enum(  # type: ignore[assignment]
            *(member.value for member in only),
            name=name,
            native_enum=False,
            create_constraint=True,
            length=16,
        )

    def process_bind_param(self, value: StrEnum | None, dialect: Dialect) -> str | None:
        return None if value is None else self._cls(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self._cls(value)


# The largest record id: every id column is an INTEGER, 32 bits in PostgreSQL (a larger number
# names no record, and a query with one fails there instead of finding nothing).
MAX_ID = 2**31 - 1


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class Tier(StrEnum):
    """A shift's tier: the primary is rung first, the backup when nobody on primary answers."""

    PRIMARY = "primary"
    BACKUP = "backup"


class Role(StrEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    COUNSELLOR = "counsellor"


class AppointmentMode(StrEnum):
    PHONE = "phone"
    IN_PERSON = "in_person"
    VIDEO = "video"


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    DONE = "done"
    NO_SHOW = "no_show"


class DispatchState(StrEnum):
    """Where a row sent by `scheduling.dispatch` stands: an appointment reminder or a shift
    notice. (The columns' constraints keep their first names, `reminder_state` and
    `notice_state`: the database does not change with the class name.)"""

    PENDING = "pending"
    SENDING = "sending"  # claimed under a lease; a send may be under way
    SENT = "sent"
    MISSED = "missed"  # its moment passed longer ago than the grace
    CANCELLED = "cancelled"
    UNCERTAIN = "uncertain"  # a send may or may not have happened: a person decides
    FAILED = "failed"  # the provider refused it: certainly not sent


class AbsenceKind(StrEnum):
    HOLIDAY = "holiday"
    SICK = "sick"
    OTHER = "other"


class NoticeKind(StrEnum):
    UPCOMING = "upcoming"  # a duty starts soon (the evening before, an hour before)
    HANDOFF = "handoff"  # to the outgoing counsellor, before the duty passes on
    CHANGED = "changed"  # a coordinator changed shifts of this counsellor
    SWAP = "swap"  # a shift swap or an open shift asks something of her, or was decided
    REVIEW = "review"  # a client's exit plan is due for review (scheduling.clients.reviews)


class SwapState(StrEnum):
    REQUESTED = "requested"  # waiting for the colleague
    ACCEPTED = "accepted"  # the colleague agreed; waiting for a coordinator
    APPROVED = "approved"  # applied to the rota
    DECLINED = "declined"  # the colleague said no
    REJECTED = "rejected"  # a coordinator said no
    WITHDRAWN = "withdrawn"  # the requester took it back
    OBSOLETE = "obsolete"  # a shift it names was changed or deleted meanwhile


class OfferState(StrEnum):
    OPEN = "open"  # offered to the team: an eligible colleague may take it
    TAKEN = "taken"  # a colleague took it; waiting for a coordinator
    APPROVED = "approved"  # applied to the rota: the taker holds the shift
    WITHDRAWN = "withdrawn"  # the giver or the coordination took the offer back
    EXPIRED = "expired"  # the shift started, was changed or deleted first


class Recipient(StrEnum):
    CLIENT = "client"
    COUNSELLOR = "counsellor"


class TaskStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class TeamMembership(Base):
    __tablename__ = "team_memberships"
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    counsellor_id: Mapped[int] = mapped_column(
        ForeignKey("counsellors.id", ondelete="CASCADE"), primary_key=True
    )


class UserTeam(Base):
    """A coordinator coordinates these teams."""

    __tablename__ = "user_teams"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )


class Team(Base):
    """Mirrors a team of the configuration file (synchronised at start); rows are never deleted."""

    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    counsellors: Mapped[list[Counsellor]] = relationship(
        secondary="team_memberships", back_populates="teams", order_by="Counsellor.name"
    )


class Counsellor(Base):
    __tablename__ = "counsellors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20))  # E.164; staff number, never shown to clients
    email: Mapped[str | None] = mapped_column(String(320))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # How shift notices reach this counsellor (SMS to `phone`, e-mail to `email`).
    notify_sms: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    notify_email: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # The personal PIN in front of her SMS replies where a team asks for one (argon2id), and
    # the throttle of wrong ones (hotline.relay.reply_pin).
    reply_pin_hash: Mapped[str | None] = mapped_column(String(200))
    reply_pin_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reply_pin_locked_until: Mapped[datetime | None]
    # The languages she can counsel in (ISO 639-1 codes): routing rings those who speak the
    # caller's language first (hotline.routing).
    # JSONB on PostgreSQL: plain json has no equality, which comparing defaults needs.
    languages: Mapped[list[str]] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql"),
        default=lambda: ["de"],
        server_default=text("'[\"de\"]'"),
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    teams: Mapped[list[Team]] = relationship(
        secondary="team_memberships", back_populates="counsellors", order_by="Team.slug"
    )


class Shift(Base):
    """One on-call shift: [start_at, end_at) of one counsellor, in one team, at one tier."""

    __tablename__ = "shifts"
    __table_args__ = (
        CheckConstraint("end_at > start_at", name="ends_after_start"),
        # "Who is on call at t" reads a bounded start_at range of one team (see scheduling.store).
        Index(None, "team_id", "start_at"),
        Index(None, "counsellor_id", "start_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    counsellor_id: Mapped[int] = mapped_column(ForeignKey("counsellors.id"))
    tier: Mapped[Tier] = mapped_column(_enum(Tier, "tier"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Bumped in SQL by every UPDATE: the feeds' fingerprint sums it, which, unlike the newest
    # updated_at (a flush-time clock), also moves when an older change commits late.
    revision: Mapped[int] = mapped_column(
        Integer, default=1, server_default="1", onupdate=literal_column("revision") + 1
    )
    # Who works the shift changed (a stand-in or an absence came or went): bumped by
    # scheduling.cover, never by an edit of the shift itself, so swaps (which judge
    # updated_at) are not disturbed. The feeds' ETag sums the revision; an event's SEQUENCE
    # counts the seconds to the newer of updated_at and cover_changed_at.
    cover_revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cover_changed_at: Mapped[datetime | None]

    team: Mapped[Team] = relationship()
    counsellor: Mapped[Counsellor] = relationship()


class StandIn(Base):
    """Vertretung: `absent` is replaced by `substitute` in `team` during [start_at, end_at)."""

    __tablename__ = "stand_ins"
    __table_args__ = (
        CheckConstraint("end_at > start_at", name="ends_after_start"),
        CheckConstraint("absent_id <> substitute_id", name="distinct_people"),
        Index(None, "team_id", "start_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    absent_id: Mapped[int] = mapped_column(ForeignKey("counsellors.id"))
    substitute_id: Mapped[int] = mapped_column(ForeignKey("counsellors.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team] = relationship()
    absent: Mapped[Counsellor] = relationship(foreign_keys=[absent_id])
    substitute: Mapped[Counsellor] = relationship(foreign_keys=[substitute_id])


class Absence(Base):
    """A counsellor is away (holiday, sick) during [start_at, end_at), in every team.

    Her shifts in that time are flagged and count as gaps until a stand-in covers them."""

    __tablename__ = "absences"
    __table_args__ = (
        CheckConstraint("end_at > start_at", name="ends_after_start"),
        Index(None, "counsellor_id", "start_at"),
        Index(None, "start_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    counsellor_id: Mapped[int] = mapped_column(ForeignKey("counsellors.id"))
    kind: Mapped[AbsenceKind] = mapped_column(_enum(AbsenceKind, "absence_kind"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    counsellor: Mapped[Counsellor] = relationship()


class SwapRequest(Base):
    """A counsellor asks a colleague to take `shift` (optionally taking `return_shift` back).

    The colleague accepts; a coordinator approves (unless the team switched approval off)."""

    __tablename__ = "swap_requests"
    __table_args__ = (
        CheckConstraint("requester_id <> colleague_id", name="distinct_people"),
        Index(None, "state"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    shift_id: Mapped[int | None] = mapped_column(ForeignKey("shifts.id", ondelete="SET NULL"))
    return_shift_id: Mapped[int | None] = mapped_column(
        ForeignKey("shifts.id", ondelete="SET NULL")
    )
    requester_id: Mapped[int] = mapped_column(ForeignKey("counsellors.id"))
    colleague_id: Mapped[int] = mapped_column(ForeignKey("counsellors.id"))
    state: Mapped[SwapState] = mapped_column(_enum(SwapState, "swap_state"), default="requested")
    note: Mapped[str | None] = mapped_column(String(500))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


_LIVE_OFFER = text("state IN ('open', 'taken')")


class ShiftOffer(Base):
    """An open shift: `shift` of `giver` offered to its team; an eligible colleague takes it
    (`taker`), a coordinator approves unless the team needs no approval or the coordination
    made the offer itself (`preapproved`). One live offer per shift."""

    __tablename__ = "shift_offers"
    __table_args__ = (
        CheckConstraint("taker_id IS NULL OR taker_id <> giver_id", name="distinct_people"),
        Index(None, "team_id", "state"),
        Index(
            "uq_shift_offers_shift_id_live",
            "shift_id",
            unique=True,
            sqlite_where=_LIVE_OFFER,
            postgresql_where=_LIVE_OFFER,
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    shift_id: Mapped[int | None] = mapped_column(ForeignKey("shifts.id", ondelete="SET NULL"))
    giver_id: Mapped[int] = mapped_column(ForeignKey("counsellors.id"))
    taker_id: Mapped[int | None] = mapped_column(ForeignKey("counsellors.id"))
    state: Mapped[OfferState] = mapped_column(_enum(OfferState, "offer_state"), default="open")
    preapproved: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(String(500))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Base):
    """A web account. One that single sign-on created has its provider's issuer and subject
    (unique together: how it is found again) and no usable password hash."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("sso_issuer", "sso_subject"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id; SSO accounts: "!sso"
    sso_issuer: Mapped[str | None] = mapped_column(String(300))
    sso_subject: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    counsellor_id: Mapped[int | None] = mapped_column(ForeignKey("counsellors.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Where invitations and password resets go (else the linked counsellor's e-mail).
    email: Mapped[str | None] = mapped_column(String(320))
    # The language of the pages for this account (`foundation.users.LOCALES`).
    locale: Mapped[str] = mapped_column(String(8), default="de", server_default="de")

    teams: Mapped[list[Team]] = relationship(secondary="user_teams", order_by="Team.slug")


class WebSession(Base):
    """A signed-in browser. The cookie holds a random id; only its SHA-256 is stored here."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index(None, "user_id"),)
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    device: Mapped[str | None] = mapped_column(String(200))  # the browser's User-Agent, cut


class AccountToken(Base):
    """A one-time link for an account: an invitation to set the first password, or a password
    reset (`foundation.accounts`). Only a SHA-256 of the (256-bit random) token is kept; it
    works once (`used_at`) and not after `expires_at`."""

    __tablename__ = "account_tokens"
    __table_args__ = (Index(None, "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))  # "invite" or "reset"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class SecondFactor(Base):
    """An account's TOTP secret (RFC 6238), sealed (`foundation.crypto`). Without `confirmed_at`
    an enrolment not yet confirmed with a code; `last_step` is the time step of the last code
    accepted (a code is accepted once)."""

    __tablename__ = "second_factors"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    confirmed_at: Mapped[datetime | None]
    last_step: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryCode(Base):
    """A one-time recovery code of a second factor: only its SHA-256."""

    __tablename__ = "recovery_codes"
    __table_args__ = (Index(None, "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]


class UsedToken(Base):
    """A single-use token that has been used (`foundation.once`): only its SHA-256."""

    __tablename__ = "used_tokens"
    __table_args__ = (Index(None, "used_at"),)
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginAttempt(Base):
    """Failed sign-ins per (username, client address) key, for throttling. Keys are hashed."""

    __tablename__ = "login_attempts"
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKeyTeam(Base):
    """A scoped API key sees (and, unless read-only, changes) only these teams."""

    __tablename__ = "api_key_teams"
    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )


class ApiKey(Base):
    """A bearer key for /api/v1. Only a SHA-256 of the (256-bit random) key is kept.

    Its scope: every team (`all_teams`) or the teams in `api_key_teams`; `read_only` keys may
    only read; past `expires_at` the key no longer works."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    all_teams: Mapped[bool] = mapped_column(Boolean, default=True)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    teams: Mapped[list[Team]] = relationship(secondary="api_key_teams", order_by="Team.slug")


# What the reports read of a call besides line and start (the covering index of `Call`).
REPORTED_CALL_COLUMNS = (
    "outcome",
    "closed_reason",
    "caller_hash",
    "ring_seconds",
    "talk_seconds",
    "accepted_tier",
    "from_relative",
)


class Call(Base):
    """One incoming call, keyed by Twilio's CallSid. The caller's number is never stored."""

    __tablename__ = "calls"
    __table_args__ = (
        Index(None, "started_at"),
        Index(None, "answered_at"),
        # Reports read a line's calls of a period, and a caller's earlier calls on the line
        # (first-time or repeat: hotline.reports). The caller's index names the line too, so
        # that SQLite (no statistics) prefers it to the line's for that probe. On PostgreSQL
        # the line's index covers what the reports read (an index-only scan).
        Index(None, "line", "started_at", postgresql_include=list(REPORTED_CALL_COLUMNS)),
        Index(None, "caller_hash", "line", "started_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    line: Mapped[str] = mapped_column(String(40))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    state: Mapped[str] = mapped_column(String(20), default="ringing")
    outcome: Mapped[str | None] = mapped_column(String(20))
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("counsellors.id"))
    caller_hash: Mapped[str | None] = mapped_column(String(64))  # keyed hash, switchable off
    from_relative: Mapped[bool] = mapped_column(Boolean, default=False)
    fallback_used: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    ring_seconds: Mapped[int | None] = mapped_column(Integer)
    talk_seconds: Mapped[int | None] = mapped_column(Integer)
    # Counsellors on call whom this call did not ring: they were in another conversation.
    busy_skipped: Mapped[list[int] | None] = mapped_column(JSON)
    # Why the line was closed when the call came in ("hours", "holiday"); None: it was open.
    closed_reason: Mapped[str | None] = mapped_column(String(16))
    # The tier at which the counsellor who accepted it was rung (None: not known).
    accepted_tier: Mapped[Tier | None] = mapped_column(_enum(Tier, "tier"))
    # When its CallSid was listed in `twilio_copies`, for the retention to delete Twilio's
    # record of the call (with the caller's number) there; None: not yet (`foundation.copies`).
    twilio_listed_at: Mapped[datetime | None]
    # The caller's language (ISO 639-1): the line's first, or the one chosen at its menu.
    language: Mapped[str | None] = mapped_column(String(8))


class CallDay(Base):
    """Call records rolled up before retention deletes them (hotline.reports.roll_up): per
    local day, line, outcome category, tier, relatives flag and language, how many calls, and
    from how many distinct callers that day (a withheld number counts as one). Counts only: no
    hash."""

    __tablename__ = "call_days"
    __table_args__ = (Index(None, "line", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    line: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(16))  # accepted, fallback, voicemail, ...
    tier: Mapped[str] = mapped_column(String(16), default="")  # "" for not accepted / unknown
    relative: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(
        String(8), default="", server_default=text("''")
    )  # "": unknown
    calls: Mapped[int] = mapped_column(Integer)
    callers: Mapped[int] = mapped_column(Integer)


class CallMonth(Base):
    """Distinct callers of rolled-up calls per local month and line (distinct counts cannot be
    summed over days): per outcome category (tier "*"), per tier of the accepted calls, of
    the relatives' calls (category "relatives") and of all calls ("total"). A month rolled up
    in two runs has two rows; the larger is a lower bound of the month."""

    __tablename__ = "call_months"
    __table_args__ = (Index(None, "line", "month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)  # its first day
    line: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(16))
    callers: Mapped[int] = mapped_column(Integer)


class CallDayHour(Base):
    """Rolled-up calls per local day, line and local hour (the heat map), with that day's
    distinct callers in the hour."""

    __tablename__ = "call_day_hours"
    __table_args__ = (Index(None, "line", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    line: Mapped[str] = mapped_column(String(40))
    hour: Mapped[int] = mapped_column(Integer)  # 0..23, the local wall clock
    calls: Mapped[int] = mapped_column(Integer)
    callers: Mapped[int] = mapped_column(Integer)


class CallDaySeconds(Base):
    """Rolled-up ring or talk seconds of accepted calls per local day and line: a histogram
    (how many calls rang / talked exactly `seconds`), so medians stay exact."""

    __tablename__ = "call_day_seconds"
    __table_args__ = (Index(None, "line", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    line: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(8))  # ring, talk
    seconds: Mapped[int] = mapped_column(Integer)
    calls: Mapped[int] = mapped_column(Integer)


def _tally_counts() -> dict[str, Any]:
    return {
        name: mapped_column(Integer, nullable=False, default=0, server_default="0")
        for name in call_tallies.COUNT_COLUMNS
    }


class CallTally(Base):
    """What the reports count of the calls, kept by triggers on `calls` as they change
    (`foundation.call_tallies`): per line, local day (days since 1970-01-01), caller (keyed
    hash, "" for none) and language ("" for unknown), the calls and what became of them, and
    the ended ones per local hour. Gone with the calls (retention, erasure's new hash)."""

    __tablename__ = "call_tallies"
    __table_args__ = (
        Index(None, "caller", "line", "day"),
        Index(None, "line", "day", postgresql_include=list(call_tallies.REPORTED)),
        Index(None, "line", "day", "caller", postgresql_include=list(call_tallies.HEAT)),
    )
    line: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    caller: Mapped[str] = mapped_column(String(64), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    # The 35 counts, named in foundation.call_tallies (the triggers and these columns from one
    # list); read them through `__table__.c`.
    locals().update(_tally_counts())


class CallTallySecond(Base):
    """Kept like `CallTally`: per line, local month (year * 12 + month - 1), kind (1: ring, 2:
    talk) and whole second, how many accepted calls rang or talked that long."""

    __tablename__ = "call_tally_seconds"
    line: Mapped[str] = mapped_column(String(40), primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[int] = mapped_column(Integer, primary_key=True)
    seconds: Mapped[int] = mapped_column(Integer, primary_key=True)
    n_calls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class TallyOffset(Base):
    """The organisation's zone's UTC offsets for the tallies' triggers (`foundation.call_tallies`):
    from this second since 1970 on, local time is UTC plus `utc_offset` seconds. Filled with the
    triggers, for one zone (`zone`, the same in every row)."""

    __tablename__ = "tally_offsets"
    starts: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    utc_offset: Mapped[int] = mapped_column(Integer)
    zone: Mapped[str] = mapped_column(String(64))


event.listen(Base.metadata, "after_create", call_tallies.after_create)
event.listen(Base.metadata, "before_drop", call_tallies.before_drop)


class Voicemail(Base):
    """A message left on a line: a task for the team. The audio stays at Twilio."""

    __tablename__ = "voicemails"
    # What the reports read of a period's voicemails (hotline.reports._voicemails): in the index
    # on PostgreSQL, so that a yearly report reads two years of the index, not every voicemail
    # kept (migration 0032; likewise the callback requests, call-backs and conversations).
    __table_args__ = (
        Index(
            None,
            "line",
            "created_at",
            postgresql_include=["caller_hash", "call_id", "status", "done_at"],
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    line: Mapped[str] = mapped_column(String(40))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    recording_sid: Mapped[str] = mapped_column(String(64), unique=True)
    duration_seconds: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus, "task_status"), default="new")
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]  # when it was last marked done (reports: time until done)
    recording_deleted_at: Mapped[datetime | None]
    # The caller's number (E.164, encrypted) for a call-back through the line; None when it was
    # withheld or the line keeps none (`voicemail_keeps_number`), and after the retention.
    caller_phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The client record it belongs to (scheduling.clients): linked by staff, never by number.
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="SET NULL"), index=True
    )
    # Its call's keyed caller hash (None: withheld, or the line keeps none), kept when the
    # roll-up deletes the call: the reports' people of the voicemails. An erasure replaces it.
    caller_hash: Mapped[str | None] = mapped_column(String(64))


# On PostgreSQL the database itself refuses two booked appointments of one counsellor whose
# [start, end) overlap (migration 0004; needs the btree_gist extension for `counsellor_id WITH =`).
# SQLite has no such constraint: there the booking's write transaction checks and inserts
# atomically (BEGIN IMMEDIATE, see foundation.db).
APPOINTMENT_OVERLAP = "ex_appointments_counsellor_id_time"


class Appointment(Base):
    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint("end_at > start_at", name="ends_after_start"),
        Index(None, "counsellor_id", "start_at"),
        ExcludeConstraint(
            (literal_column("counsellor_id"), "="),
            (func.tstzrange(literal_column("start_at"), literal_column("end_at"), "[)"), "&&"),
            name=APPOINTMENT_OVERLAP,
            using="gist",
            where=text("status = 'booked'"),
        ).ddl_if(dialect="postgresql"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    counsellor_id: Mapped[int] = mapped_column(ForeignKey("counsellors.id"))
    client_pseudonym: Mapped[str] = mapped_column(String(100))
    client_phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    sms_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    mode: Mapped[AppointmentMode] = mapped_column(_enum(AppointmentMode, "appointment_mode"))
    location: Mapped[str | None] = mapped_column(String(500))
    video_link: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[AppointmentStatus] = mapped_column(
        _enum(AppointmentStatus, "appointment_status"), default="booked"
    )
    sequence: Mapped[int] = mapped_column(Integer, default=0)  # iCal SEQUENCE
    # The client's language (ISO 639-1): her reminders and the answers to her SMS.
    client_language: Mapped[str] = mapped_column(String(8), default="de", server_default="de")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The client record it belongs to (scheduling.clients): linked by staff, never by number.
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="SET NULL"), index=True
    )
    # When the retention or an erasure deleted its client data (scheduling.erasure): the
    # pseudonym is then a stand-in shared by that client's appointments only (the reports
    # count clients by it), number, place and link are gone.
    client_deleted_at: Mapped[datetime | None]


@event.listens_for(Appointment.__table__, "before_create")
def _btree_gist(_table: Any, connection: Any, **_kw: Any) -> None:
    """`create_all` (tests) needs the extension the exclusion constraint uses, as migration
    0004 does."""
    if connection.dialect.name == "postgresql":
        from foundation.db import ensure_btree_gist

        ensure_btree_gist(connection)


class Reminder(Base):
    """One reminder of one appointment time: a moved appointment gets new rows for its new
    start (`appointment_start`); those of the old start stay as history (migration 0010)."""

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint(
            "appointment_id",
            "recipient",
            "offset_minutes",
            "appointment_start",
            name="uq_reminders_appointment_time",
        ),
        Index(None, "state", "due_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"))
    recipient: Mapped[Recipient] = mapped_column(_enum(Recipient, "recipient"))
    offset_minutes: Mapped[int] = mapped_column(Integer)
    appointment_start: Mapped[datetime]  # the start instant this row reminds of
    due_at: Mapped[datetime]
    state: Mapped[DispatchState] = mapped_column(
        _enum(DispatchState, "reminder_state"), default="pending"
    )
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]  # a retry waits until then (backoff)
    sent_at: Mapped[datetime | None]
    provider_sid: Mapped[str | None] = mapped_column(String(64))


class ShiftNotice(Base):
    """A message about on-call duty to one counsellor, sent by the scheduler exactly once.

    `dedupe_key` names what it is about (kind, team, duty start, channel), so planning it
    twice, in two processes, stores it once. Claimed and finished like a `Reminder`."""

    __tablename__ = "shift_notices"
    __table_args__ = (Index(None, "state", "due_at"), Index(None, "counsellor_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    counsellor_id: Mapped[int] = mapped_column(ForeignKey("counsellors.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    kind: Mapped[NoticeKind] = mapped_column(_enum(NoticeKind, "notice_kind"))
    channel: Mapped[str] = mapped_column(String(8))  # sms, email
    due_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[DispatchState] = mapped_column(
        _enum(DispatchState, "notice_state"), default="pending"
    )
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]  # a retry waits until then (backoff)
    sent_at: Mapped[datetime | None]
    provider_sid: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """What was sent (or, in simulation mode, would have been); addressee and body encrypted."""

    __tablename__ = "outbox_messages"
    # by status: the messages not yet handed over (the metrics' outbox depth) are few among many
    __table_args__ = (Index(None, "created_at"), Index(None, "status"))
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # sms, whatsapp, call
    purpose: Mapped[str] = mapped_column(String(40))
    from_number: Mapped[str] = mapped_column(String(40))
    to_enc: Mapped[bytes] = mapped_column(LargeBinary)
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)
    simulated: Mapped[bool] = mapped_column(Boolean, default=True)
    provider_sid: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SchedulerHeartbeat(Base):
    """When a scheduler job last started a run, in whichever scheduler process ran it
    (`foundation.heartbeats`): how /readyz and /metrics tell that no scheduler is working."""

    __tablename__ = "scheduler_heartbeats"
    job: Mapped[str] = mapped_column(String(60), primary_key=True)
    every_seconds: Mapped[int] = mapped_column(Integer)  # the job's interval
    last_run_at: Mapped[datetime]


class AuditEntry(Base):
    """Who changed what, when. Never holds passwords, tokens or client data."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "at"), Index(None, "entity", "entity_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AccessLogEntry(Base):
    """Who opened which record of client data, when (`foundation.access_log`). Never content:
    the kind of record and its id only."""

    __tablename__ = "access_log"
    __table_args__ = (Index(None, "at"), Index(None, "kind", "record_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    user_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: it outlives accounts
    api_key_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(30))
    record_id: Mapped[int] = mapped_column(Integer)


class CallbackRequest(Base):
    """A web request to be called back ("Rückruf anfordern"): a task for the line's team.

    Everything the requester typed is personal data, so it is encrypted (`*_enc`); the keyed
    hashes of the number and of the client address only count floods. A done request is deleted
    `tasks.retention_days` after it was done (hotline.tasks.retention.retention_job)."""

    __tablename__ = "callback_requests"
    __table_args__ = (
        Index(None, "team_id", "status", "created_at"),
        Index(None, "phone_hash", "created_at"),
        Index(None, "client_hash", "created_at"),
        Index(None, "line", "created_at", postgresql_include=["phone_hash", "status", "done_at"]),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    line: Mapped[str] = mapped_column(String(40))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # first name or pseudonym
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary)
    phone_hash: Mapped[str] = mapped_column(String(64))  # keyed hash: flood limit per number
    client_hash: Mapped[str] = mapped_column(String(64))  # keyed hash of the client address
    time_window: Mapped[str] = mapped_column(String(16))  # morgens, mittags, ... (a choice)
    preferred_date: Mapped[date | None] = mapped_column(Date)  # local date, or any day
    message_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    confirm_sms: Mapped[bool] = mapped_column(Boolean, default=False)
    # The language the form was filled in (ISO 639-1): the one to call back in.
    language: Mapped[str] = mapped_column(String(8), default="de", server_default="de")
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus, "task_status"), default="new")
    taken_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    done_at: Mapped[datetime | None]
    # The client record it belongs to (scheduling.clients): linked by staff, never by number.
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="SET NULL"), index=True
    )


class FeedToken(Base):
    """A secret iCal feed URL: a counsellor's own feed or a team's rota feed (exactly one).

    Only the SHA-256 of the 256-bit token is kept. `etag`/`changed_at` remember the last
    fingerprint served and when it last changed: the feed's Last-Modified (scheduling.feeds)."""

    __tablename__ = "feed_tokens"
    __table_args__ = (
        CheckConstraint("(counsellor_id IS NULL) <> (team_id IS NULL)", name="one_owner"),
        Index(None, "counsellor_id"),
        Index(None, "team_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    counsellor_id: Mapped[int | None] = mapped_column(
        ForeignKey("counsellors.id", ondelete="CASCADE")
    )
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(120))
    etag: Mapped[str | None] = mapped_column(String(64))
    changed_at: Mapped[datetime | None]


class ExternalCalendar(Base):
    """A counsellor's own calendar (an ICS URL, stored encrypted), read for busy times only."""

    __tablename__ = "external_calendars"
    __table_args__ = (Index(None, "counsellor_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    counsellor_id: Mapped[int] = mapped_column(ForeignKey("counsellors.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(100))
    url_enc: Mapped[bytes] = mapped_column(LargeBinary)
    host: Mapped[str] = mapped_column(String(255))  # shown on the page instead of the URL
    etag: Mapped[str | None] = mapped_column(String(200))
    last_modified: Mapped[str | None] = mapped_column(String(100))  # the HTTP header, verbatim
    last_fetched_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    busy_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    busy_day: Mapped[date | None]  # the local day whose feed window the busy intervals cover
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BusyInterval(Base):
    """A busy time read from an external calendar: only [start_at, end_at), never a title."""

    __tablename__ = "busy_intervals"
    __table_args__ = (
        CheckConstraint("end_at > start_at", name="ends_after_start"),
        Index(None, "calendar_id", "start_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[int] = mapped_column(
        ForeignKey("external_calendars.id", ondelete="CASCADE")
    )
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]


class Channel(StrEnum):
    """A way out: what `foundation.outgoing` sends on. A text conversation is SMS or WhatsApp."""

    SMS = "sms"
    WHATSAPP = "whatsapp"
    EMAIL = "email"
    CALL = "call"


TEXT_CHANNELS = (Channel.SMS, Channel.WHATSAPP)


class ConversationState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Direction(StrEnum):
    IN = "in"  # the client wrote
    OUT = "out"  # to the client (a counsellor's reply, or the out-of-hours answer)


_OPEN = text("state = 'open'")


class Conversation(Base):
    """A client's text conversation with a team (hotline.relay), named by a short code ("K7")
    that counsellors put in front of their replies. The client's address is encrypted; its
    keyed hash finds the open conversation of a sender. Both go `relay.retention_days` after
    the conversation was closed."""

    __tablename__ = "conversations"
    __table_args__ = (
        # A code names one open conversation of a team; a client has one open per channel.
        Index(
            "uq_conversations_team_id_code_open",
            "team_id",
            "code",
            unique=True,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
        Index(
            "uq_conversations_team_id_client_hash_open",
            "team_id",
            "client_hash",
            unique=True,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
        Index(None, "team_id", "last_activity_at"),
        Index(None, "state", "closed_at"),
        Index(None, "line", "created_at", postgresql_include=["client_hash", "id"]),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    line: Mapped[str] = mapped_column(String(40))  # the line the client last wrote to
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    code: Mapped[str] = mapped_column(String(8))
    channel: Mapped[Channel] = mapped_column(_Some(Channel, "channel", TEXT_CHANNELS))
    client_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # E.164, without whatsapp:
    client_hash: Mapped[str | None] = mapped_column(String(64))  # keyed hash of channel:address
    state: Mapped[ConversationState] = mapped_column(
        _enum(ConversationState, "conversation_state"), default="open"
    )
    last_counsellor_id: Mapped[int | None] = mapped_column(ForeignKey("counsellors.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    # The client record it belongs to (scheduling.clients): linked by staff, never by number.
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="SET NULL"), index=True
    )


class ConversationMessage(Base):
    """One message of a conversation. `in`: the client wrote it; it was relayed to
    `counsellor_id` (of `tier`), or held (outside hours, nobody on call). `out`: to the client,
    written by `counsellor_id` (by SMS) or `user_id` (in the web page). `status` is the
    delivery of our own message (the relay, or the message to the client); `provider_sid` its
    Twilio id, `received_sid` the id of the incoming message (a replay is recognised). The body
    is encrypted, and deleted (None) after `relay.retention_days`; so are Twilio's copies of
    both messages (`provider_deleted_at`: when Twilio confirmed it)."""

    __tablename__ = "conversation_messages"
    __table_args__ = (
        Index(None, "conversation_id", "created_at"),
        Index(None, "counsellor_id", "created_at"),
        # The reports count a period's messages per conversation and direction from it alone.
        Index(None, "created_at", postgresql_include=["conversation_id", "direction"]),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    body_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    counsellor_id: Mapped[int | None] = mapped_column(ForeignKey("counsellors.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    tier: Mapped[Tier | None] = mapped_column(_enum(Tier, "tier"))
    failed_over_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    provider_deleted_at: Mapped[datetime | None]


class OutboundCall(Base):
    """A call-back through the line (hotline.outbound_calls): Twilio rings the counsellor from
    the line's number; on a pressed 1 the client of the target (`kind` "callback", "voicemail"
    or "appointment", row `target_id`) is dialled, again from the line's number. No number is
    stored here: the client's is opened from the target when it is dialled.

    `status` is the counsellor's leg as Twilio reports it (queued … completed, busy, no-answer,
    failed, canceled), or `simulated`, `not_placed`, `uncertain`; `client_status` how the Dial
    to the client ended."""

    __tablename__ = "outbound_calls"
    __table_args__ = (
        Index(None, "kind", "target_id", "created_at"),
        Index(
            None,
            "line",
            "created_at",
            postgresql_include=["kind", "target_id", "status", "client_status"],
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(Integer)
    line: Mapped[str] = mapped_column(String(40))
    counsellor_id: Mapped[int] = mapped_column(ForeignKey("counsellors.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(120))
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    client_status: Mapped[str | None] = mapped_column(String(20))
    bridged_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The client record it belongs to (scheduling.clients): linked by staff, never by number.
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="SET NULL"), index=True
    )


# --- clients (scheduling.clients) ---------------------------------------------------------------


class ClientStatus(StrEnum):
    """Where a client's case stands."""

    FIRST_CONTACT = "first_contact"
    IN_COUNSELLING = "in_counselling"
    PAUSED = "paused"
    ENDED = "ended"


class PreferredChannel(StrEnum):
    """How a client would like to be reached."""

    PHONE = "phone"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    IN_PERSON = "in_person"
    VIDEO = "video"


class PlanStepStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    REACHED = "reached"
    DROPPED = "dropped"


class Client(Base):
    """A client of one team, as a case: a pseudonym (unique in the team, never a real name), the
    phone number encrypted (`phone_enc`) with its keyed hash (`phone_hash`, purpose "caller", as
    calls keep it: matching a caller only where `[clients] match_caller_hash` allows it), the
    status with the dates of its changes, the responsible counsellors, an exit plan
    (`PlanStep`, `PlanNote`) with its next review date (`review_on`, a local date).
    Appointments, conversations, callback requests, voicemails and call-backs point at it
    (`client_id`)."""

    __tablename__ = "clients"
    __table_args__ = (
        # The database decides a race of two creates in any case or Unicode form: the key
        # is the pseudonym normalised as the application compares it (foundation.text).
        UniqueConstraint("team_id", "pseudonym_key"),
        Index(None, "team_id", "status"),
        Index(None, "phone_hash"),
        Index(None, "review_on"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    pseudonym: Mapped[str] = mapped_column(String(100))
    # `foundation.text.pseudonym_digest(pseudonym)`, set with the pseudonym (`_key`); a
    # collision that migration 0029 found in older data has "~<id>" appended.
    pseudonym_key: Mapped[str] = mapped_column(String(80))
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    sms_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    preferred_channel: Mapped[PreferredChannel | None] = mapped_column(
        _enum(PreferredChannel, "preferred_channel")
    )
    relative: Mapped[bool] = mapped_column(Boolean, default=False)  # an Angehörige(r)
    # The client's language (ISO 639-1; German or one with reminder texts): her appointments'
    # SMS are in it unless the booking says otherwise.
    language: Mapped[str] = mapped_column(String(8), default="de", server_default="de")
    status: Mapped[ClientStatus] = mapped_column(
        _enum(ClientStatus, "client_status"), default="first_contact"
    )
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]  # counselling began (first set to in_counselling)
    paused_at: Mapped[datetime | None]  # last paused
    ended_at: Mapped[datetime | None]  # the case ended (None again if it is taken up again)
    review_on: Mapped[date | None] = mapped_column(Date)  # the plan's next review (local day)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    team: Mapped[Team] = relationship()
    counsellors: Mapped[list[Counsellor]] = relationship(
        secondary="client_counsellors", order_by="Counsellor.name"
    )

    @validates("pseudonym")
    def _key(self, _name: str, pseudonym: str) -> str:
        """Every create and rename, whichever path, keeps the key in step."""
        self.pseudonym_key = pseudonym_digest(pseudonym)
        return pseudonym


class ClientCounsellor(Base):
    """A counsellor responsible for a client (one or more per client)."""

    __tablename__ = "client_counsellors"
    __table_args__ = (Index(None, "counsellor_id"),)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    counsellor_id: Mapped[int] = mapped_column(
        ForeignKey("counsellors.id", ondelete="CASCADE"), primary_key=True
    )


class PlanStep(Base):
    """A goal or step of a client's exit plan: its title and notes encrypted."""

    __tablename__ = "plan_steps"
    __table_args__ = (Index(None, "client_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    title_enc: Mapped[bytes] = mapped_column(LargeBinary)
    notes_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[PlanStepStatus] = mapped_column(
        _enum(PlanStepStatus, "plan_step_status"), default="open"
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PlanNote(Base):
    """A note on a client's plan: of a session (perhaps naming its appointment) or of one step;
    the text encrypted. `author` is how the audit log names who wrote it."""

    __tablename__ = "plan_notes"
    __table_args__ = (Index(None, "client_id", "at"), Index(None, "step_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    step_id: Mapped[int | None] = mapped_column(ForeignKey("plan_steps.id", ondelete="CASCADE"))
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL")
    )
    text_enc: Mapped[bytes] = mapped_column(LargeBinary)
    author: Mapped[str] = mapped_column(String(120))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TwilioResource(StrEnum):
    """What Twilio keeps of something the service sent or received: a message (SMS, WhatsApp),
    a call, a recording."""

    MESSAGE = "message"
    CALL = "call"
    RECORDING = "recording"


class TwilioCopy(Base):
    """Something in Twilio's logs that the service sent or received, to be deleted there after
    `[retention] twilio_days` (`hotline.twilio_copies`), or sooner (`due_at`, set by an
    erasure). Only Twilio's id, what it was and when: never a number or a body. The row goes
    once Twilio confirmed the deletion (or no longer had it); one Twilio refused waits until
    `next_attempt_at`."""

    __tablename__ = "twilio_copies"
    __table_args__ = (Index(None, "at"), Index(None, "due_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    resource: Mapped[TwilioResource] = mapped_column(_enum(TwilioResource, "twilio_resource"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    purpose: Mapped[str] = mapped_column(String(40))  # what it was: "reminder-client", ...
    at: Mapped[datetime] = mapped_column(default=utcnow)  # when it was sent or received
    due_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
