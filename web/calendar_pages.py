"""The "Kalender" page: subscribe to one's calendar feeds, and register one's own calendars.

* "Kalender abonnieren": issue a feed URL (own shifts and appointments, or a team's rota), shown
  once as https and webcal links; the list of one's feed URLs with when each was last used, and
  a revoke button for each. Coordinators (admins) also see and revoke the feed URLs of their
  teams' counsellors and rota feeds.
* "Eigene Kalender": ICS URLs of a counsellor's own calendars, read for busy times
  (scheduling.busy); the last error of each is shown here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import access, crypto
from foundation.db import Database
from foundation.errors import DomainError, Invalid, NotFound
from foundation.models import Counsellor, ExternalCalendar, FeedToken, Team, TeamMembership
from scheduling.busy import calendars
from scheduling.feeds import tokens
from web.auth import Viewer, page
from web.i18n import N_, _
from web.pages import as_int, render

log = logging.getLogger(__name__)
MESSAGES = {
    "feed": N_("Bitte wählen Sie, welchen Kalender Sie abonnieren möchten."),
    "label": N_("Die Bezeichnung darf höchstens 100 Zeichen lang sein."),
    "url": N_("Das ist keine Kalender-Adresse. Sie beginnt mit https:// (oder webcal://)."),
    "no_counsellor": N_("Eigene Kalender gibt es nur für Konten von Beraterinnen und Beratern."),
    "gone": N_("Diesen Eintrag gibt es nicht (mehr)."),
    "too_many": N_("Sie können höchstens %(count)s eigene Kalender eintragen."),
    "credentials": N_(
        "Benutzername und Passwort in der Adresse gehen nur mit https:// (oder webcal://)."
    ),
}


@dataclass(frozen=True, slots=True)
class Issued:
    """A feed URL just issued: shown on this one response, never again."""

    label: str
    url: str
    webcal: str


@dataclass(frozen=True, slots=True)
class TokenRow:
    token: FeedToken
    what: str  # "Dienste und Termine – Name" or "Dienstplan Team …"
    may_revoke: bool


def _coordinated_team_ids(session: Session, settings: Settings, viewer: Viewer) -> list[int]:
    return access.team_ids(
        session, access.teams_coordinated(viewer.principal, settings.config.teams)
    )


def _team_members(session: Session, team_ids: list[int]) -> list[int]:
    if not team_ids:
        return []
    return list(
        session.scalars(
            select(TeamMembership.counsellor_id)
            .where(TeamMembership.team_id.in_(team_ids))
            .distinct()
        )
    )


def may_revoke(session: Session, viewer: Viewer, token: FeedToken) -> bool:
    owner = access.FeedOwner(
        issued_by=token.user_id,
        counsellor_id=token.counsellor_id,
        counsellor_teams=tuple(access.counsellor_team_ids(session, token.counsellor_id))
        if token.counsellor_id is not None
        else (),
        team_id=token.team_id,
    )
    return access.may_revoke_feed(viewer.principal, owner)


def _feed_choices(settings: Settings, viewer: Viewer) -> list[tuple[str, str]]:
    """(value, label) of the feeds the viewer may subscribe to: their own, and the rota of
    each team whose rota they see."""
    choices = []
    if viewer.counsellor_id is not None:
        choices.append(("me", _("Meine Dienste und Termine")))
    for slug, team in settings.config.teams.items():
        if access.may_subscribe_team(viewer.principal, slug):
            choices.append((f"team:{slug}", _("Dienstplan %(team)s", team=team.name)))
    return choices


def _page_data(db: Database, settings: Settings, viewer: Viewer) -> dict[str, object]:
    with db.read() as session:
        coordinated = _coordinated_team_ids(session, settings, viewer)
        members = _team_members(session, coordinated)
        own = tokens.listing(
            session,
            counsellor_ids=[viewer.counsellor_id] if viewer.counsellor_id is not None else [],
            user_id=viewer.user_id,
        )
        others = tokens.listing(
            session,
            counsellor_ids=members,
            team_ids=coordinated,
            everything=viewer.principal.sees_everything,
        )
        own_ids = {token.id for token in own}
        people = dict(session.execute(select(Counsellor.id, Counsellor.name)).all())
        teams = dict(session.execute(select(Team.id, Team.name)).all())

        def row(token: FeedToken) -> TokenRow:
            what = (
                _("Dienste und Termine – %(name)s", name=people.get(token.counsellor_id, "?"))
                if token.counsellor_id is not None
                else _("Dienstplan %(team)s", team=teams.get(token.team_id or 0, "?"))
            )
            return TokenRow(token, what, may_revoke(session, viewer, token))

        own_calendars = (
            calendars.calendars_of(session, viewer.counsellor_id)
            if viewer.counsellor_id is not None
            else []
        )
        return {
            "own": [row(token) for token in own],
            "others": [row(token) for token in others if token.id not in own_ids],
            "coordinates": bool(coordinated),
            "choices": _feed_choices(settings, viewer),
            "calendars": own_calendars,
        }


async def _show(
    request: Request,
    viewer: Viewer,
    *,
    issued: Issued | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    data = await run_in_threadpool(
        _page_data, request.app.state.db, request.app.state.settings, viewer
    )
    response = render(
        request,
        "calendar.html",
        {"viewer": viewer, "issued": issued, "errors": errors or {}, "form": form or {}, **data},
        status,
    )
    if issued is not None:
        response.headers["cache-control"] = "no-store"  # the URL is shown this once
    return response


@page()
async def calendar(request: Request, viewer: Viewer) -> Response:
    return await _show(request, viewer)


@page()
async def issue(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    form = await request.form()
    choice = str(form.get("feed", ""))
    label = " ".join(str(form.get("label", "")).split())
    values = {"feed": choice, "label": label}
    if len(label) > tokens.LABEL_LENGTH:
        return await _show(
            request, viewer, errors={"label": _(MESSAGES["label"])}, form=values, status=422
        )

    def create() -> tuple[str, str] | None:
        with db.write() as session:
            if choice not in dict(_feed_choices(settings, viewer)):
                return None
            team_id = None
            if choice.startswith("team:"):
                team_id = session.scalar(select(Team.id).where(Team.slug == choice[5:]))
            token, plain = tokens.issue(
                session,
                counsellor_id=viewer.counsellor_id if choice == "me" else None,
                team_id=team_id,
                label=label,
                user_id=viewer.user_id,
                actor=viewer.actor,
            )
            return token.label, plain

    try:
        made = await run_in_threadpool(create)
    except DomainError:
        made = None
    if made is None:
        return await _show(
            request, viewer, errors={"feed": _(MESSAGES["feed"])}, form=values, status=422
        )
    url = tokens.feed_url(settings.public_url, made[1])
    return await _show(request, viewer, issued=Issued(made[0], url, tokens.webcal_url(url)))


@page()
async def revoke(request: Request, viewer: Viewer) -> Response:
    db: Database = request.app.state.db
    token_id = as_int(request.path_params.get("token_id"))

    def drop() -> None:
        with db.write() as session:
            token = session.get(FeedToken, token_id)
            if token is None or not may_revoke(session, viewer, token):
                raise NotFound("no such feed token")  # another's is answered the same
            tokens.revoke(session, token_id, actor=viewer.actor)

    try:
        await run_in_threadpool(drop)
    except NotFound:
        return await _show(request, viewer, errors={"revoke": _(MESSAGES["gone"])}, status=404)
    return RedirectResponse("/calendar", status_code=303)


def _calendar_message(exc: DomainError) -> str:
    if exc.field == "url" and "at most" in exc.message:
        return _(MESSAGES["too_many"], count=calendars.MAX_CALENDARS)
    if exc.message == calendars.CREDENTIALS_OVER_HTTP:
        return _(MESSAGES["credentials"])
    return _(MESSAGES["url"])


@page()
async def add_external(request: Request, viewer: Viewer) -> Response:
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    form = await request.form()
    values = {"url": str(form.get("url", "")).strip(), "cal_label": str(form.get("label", ""))}
    if viewer.counsellor_id is None:
        errors = {"url": _(MESSAGES["no_counsellor"])}
        return await _show(request, viewer, errors=errors, form=values, status=422)
    counsellor_id = viewer.counsellor_id

    def add() -> None:
        with db.write() as session:
            calendars.add_calendar(
                session,
                crypto.box(settings),
                counsellor_id,
                values["url"],
                values["cal_label"],
                actor=viewer.actor,
            )

    try:
        await run_in_threadpool(add)
    except (Invalid, NotFound) as exc:
        errors = {"url": _calendar_message(exc)}
        return await _show(request, viewer, errors=errors, form=values, status=422)
    scheduler = getattr(request.app.state, "scheduler", None)
    if scheduler is not None:  # read it now rather than in up to 15 minutes
        try:
            scheduler.wake("busy.fetch")
        except Exception as exc:  # the job runs in 15 minutes anyway
            log.warning("could not wake busy.fetch (%s)", type(exc).__name__)
    return RedirectResponse("/calendar#eigene", status_code=303)


@page()
async def remove_external(request: Request, viewer: Viewer) -> Response:
    db: Database = request.app.state.db
    calendar_id = as_int(request.path_params.get("calendar_id"))

    def drop() -> None:
        with db.write() as session:
            found = session.get(ExternalCalendar, calendar_id)
            if found is None or not access.may_change_own_calendar(
                viewer.principal, found.counsellor_id
            ):
                raise NotFound("no such calendar")  # another's is answered the same
            calendars.remove_calendar(session, calendar_id, actor=viewer.actor)

    try:
        await run_in_threadpool(drop)
    except NotFound:
        return await _show(request, viewer, errors={"external": _(MESSAGES["gone"])}, status=404)
    return RedirectResponse("/calendar#eigene", status_code=303)


routes = [
    Route("/calendar", calendar, methods=["GET"]),
    Route("/calendar/feeds", issue, methods=["POST"]),
    Route("/calendar/feeds/{token_id}/revoke", revoke, methods=["POST"]),
    Route("/calendar/external", add_external, methods=["POST"]),
    Route("/calendar/external/{calendar_id}/delete", remove_external, methods=["POST"]),
]
