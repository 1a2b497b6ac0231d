"""The page "Mein Konto" (`/account`, every account): who one is signed in as; one's password
(changed with the current one; the other sessions end) and one's signed-in browsers (each
other one can be ended: `foundation.accounts`); whether the second factor is set up (its pages:
`web.second_factor_pages`); and, for an account linked to a counsellor, her personal reply PIN
for SMS replies to the text relay (`hotline.relay.reply_pin`): set, replace, delete; and the
language of the pages ("Sprache / Language": `foundation.users.set_locale`, `web.i18n`)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import accounts, second_factor, users
from foundation.db import Database
from foundation.errors import Invalid, NotFound
from foundation.models import Counsellor
from hotline.relay import reply_pin
from web import i18n
from web.auth import Viewer, page
from web.i18n import N_, _, lookup
from web.pages import relaxed, render, throttled_message

NOTICES = {
    "pin_set": N_("Ihre Antwort-PIN ist gespeichert."),
    "pin_deleted": N_("Ihre Antwort-PIN ist gelöscht."),
    "password": N_("Ihr Passwort ist geändert. Ihre anderen Anmeldungen sind beendet."),
    "session_ended": N_("Die Anmeldung ist beendet."),
    "sessions_ended": N_("Alle anderen Anmeldungen sind beendet."),
    "second_factor_disabled": N_("Die Zwei-Faktor-Anmeldung ist abgeschaltet."),
    "locale": N_("Die Sprache der Seiten ist gespeichert."),
}
PASSWORD_MISMATCH = N_("Die beiden neuen Passwörter stimmen nicht überein.")
MISMATCH = N_("Die beiden PINs stimmen nicht überein.")
NO_COUNSELLOR = N_("Ihr Konto gehört zu keiner Beraterin und keinem Berater: Es braucht keine PIN.")


def _counsellor(db: Database, viewer: Viewer) -> dict[str, object] | None:
    if viewer.counsellor_id is None:
        return None
    with db.read() as session:
        found = session.get(Counsellor, viewer.counsellor_id)
        if found is None:
            return None
        return {
            "name": found.name,
            "teams": [(team.slug, team.name) for team in found.teams],
            "pin_set": found.reply_pin_hash is not None,
            "locked_until": found.reply_pin_locked_until,
        }


def _sessions(db: Database, viewer: Viewer) -> list[dict[str, object]]:
    with db.read() as session:
        return [
            {
                "id": row.id_hash,
                "device": row.device or _("unbekannter Browser"),
                "created_at": row.created_at,
                "last_seen_at": row.last_seen_at,
                "current": row.id_hash == viewer.session_hash,
            }
            for row in accounts.sessions_of(session, viewer.user_id)
        ]


def _page(
    request: Request,
    viewer: Viewer,
    *,
    error: str | None = None,
    password_error: str | None = None,
    session_error: str | None = None,
    locale_error: str | None = None,
    status: int = 200,
) -> Response:
    settings: Settings = request.app.state.settings
    counsellor = _counsellor(request.app.state.db, viewer)
    with request.app.state.db.read() as session:
        factor = second_factor.status(session, viewer.user_id)
    rules = {slug: team.sms_replies for slug, team in settings.config.teams.items()}
    context: dict[str, object] = {
        "viewer": viewer,
        "counsellor": counsellor,
        "rules": rules,
        "error": error,
        "password_error": password_error,
        "session_error": session_error,
        "locale_error": locale_error,
        "sessions": _sessions(request.app.state.db, viewer),
        "notice": lookup(NOTICES, request.query_params.get("notice")),
        "locale": viewer.locale,
        "locales": [(code, i18n.NAMES[code]) for code in users.LOCALES],
        "min_digits": reply_pin.MIN_DIGITS,
        "max_digits": reply_pin.MAX_DIGITS,
        "second_factor": factor,
        "second_factor_required": second_factor.required(settings, viewer.role),
        "relaxed": relaxed(settings),
    }
    return render(request, "account.html", context, status)


@page()
async def account(request: Request, viewer: Viewer) -> Response:
    return await run_in_threadpool(_page, request, viewer)


@page()
async def set_reply_pin(request: Request, viewer: Viewer) -> Response:
    if viewer.counsellor_id is None:
        return await run_in_threadpool(_page, request, viewer, error=_(NO_COUNSELLOR), status=422)
    counsellor_id = viewer.counsellor_id
    form = await request.form()
    pin, repeat = str(form.get("pin", "")), str(form.get("pin_repeat", ""))
    if pin != repeat:
        return await run_in_threadpool(_page, request, viewer, error=_(MISMATCH), status=422)
    db: Database = request.app.state.db

    def save() -> None:
        with db.write() as session:
            reply_pin.set_pin(session, counsellor_id, pin, actor=viewer.actor)

    try:
        await run_in_threadpool(save)
    except Invalid as exc:
        return await run_in_threadpool(_page, request, viewer, error=_(str(exc)), status=422)
    return RedirectResponse("/account?notice=pin_set", status_code=303)


@page()
async def delete_reply_pin(request: Request, viewer: Viewer) -> Response:
    if viewer.counsellor_id is None:
        return await run_in_threadpool(_page, request, viewer, error=_(NO_COUNSELLOR), status=422)
    counsellor_id = viewer.counsellor_id
    db: Database = request.app.state.db

    def save() -> None:
        with db.write() as session:
            reply_pin.clear_pin(session, counsellor_id, actor=viewer.actor)

    await run_in_threadpool(save)
    return RedirectResponse("/account?notice=pin_deleted", status_code=303)


@page()
async def change_password(request: Request, viewer: Viewer) -> Response:
    form = await request.form()
    current = str(form.get("current", ""))
    new, repeat = str(form.get("password", "")), str(form.get("password_repeat", ""))
    if new != repeat:
        return await run_in_threadpool(
            _page, request, viewer, password_error=_(PASSWORD_MISMATCH), status=422
        )
    db: Database = request.app.state.db

    def save() -> None:
        with db.write() as session:
            ended = accounts.change_own_password(
                session,
                viewer.user_id,
                current,
                new[: users.MAX_LENGTH + 1],
                keep=viewer.session_hash,
            )
        if ended is None:  # after the commit: the wrong password stays counted
            raise Invalid(accounts.WRONG_CURRENT, field="current")

    try:
        await run_in_threadpool(save)
    except users.ThrottledError as exc:
        message = throttled_message(exc)
        return await run_in_threadpool(_page, request, viewer, password_error=message, status=429)
    except Invalid as exc:
        return await run_in_threadpool(
            _page, request, viewer, password_error=_(exc.message), status=422
        )
    return RedirectResponse("/account?notice=password#password-title", status_code=303)


@page()
async def end_session(request: Request, viewer: Viewer) -> Response:
    """End one other session of one's own (`session`: its id), or all others (`others`)."""
    form = await request.form()
    which = str(form.get("session", ""))
    db: Database = request.app.state.db

    def save() -> str:
        with db.write() as session:
            if which == "others":
                accounts.end_sessions(
                    session, viewer.user_id, actor=viewer.actor, keep=viewer.session_hash
                )
                return "sessions_ended"
            if which == viewer.session_hash:
                raise NotFound("own session", field="session")  # that is signing out
            accounts.end_own_session(session, viewer.user_id, which, actor=viewer.actor)
            return "session_ended"

    try:
        notice = await run_in_threadpool(save)
    except NotFound:
        gone = _("Diese Anmeldung gibt es nicht (mehr). Zum Abmelden dieses Browsers: „Abmelden“.")
        return await run_in_threadpool(_page, request, viewer, session_error=gone, status=422)
    return RedirectResponse(f"/account?notice={notice}#sessions-title", status_code=303)


@page()
async def set_locale(request: Request, viewer: Viewer) -> Response:
    """The language of the pages for one's own account; the page answers in it at once."""
    form = await request.form()
    chosen = str(form.get("locale", ""))
    db: Database = request.app.state.db

    def save() -> None:
        with db.write() as session:
            users.set_locale(session, viewer.user_id, chosen, actor=viewer.actor)

    try:
        await run_in_threadpool(save)
    except Invalid:
        message = _("Bitte eine der angebotenen Sprachen wählen.")
        return await run_in_threadpool(_page, request, viewer, locale_error=message, status=422)
    return RedirectResponse("/account?notice=locale#locale-title", status_code=303)


routes = [
    Route("/account", account, methods=["GET"]),
    Route("/account/reply-pin", set_reply_pin, methods=["POST"]),
    Route("/account/reply-pin/delete", delete_reply_pin, methods=["POST"]),
    Route("/account/password", change_password, methods=["POST"]),
    Route("/account/sessions/end", end_session, methods=["POST"]),
    Route("/account/locale", set_locale, methods=["POST"]),
]
