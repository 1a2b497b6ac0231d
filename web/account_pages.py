"""The page "Mein Konto" (`/account`, every account): who one is signed in as, whether the
second factor is set up (its pages: `web.second_factor_pages`) and, for an account linked to a
counsellor, her personal reply PIN for SMS replies to the text relay
(`hotline.relay.reply_pin`): set, replace, delete."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from config.settings import Settings
from foundation import second_factor
from foundation.db import Database
from foundation.errors import Invalid
from foundation.models import Counsellor
from hotline.relay import reply_pin
from web.auth import Viewer, page
from web.pages import relaxed, render

NOTICES = {
    "pin_set": "Ihre Antwort-PIN ist gespeichert.",
    "pin_deleted": "Ihre Antwort-PIN ist gelöscht.",
    "second_factor_disabled": "Die Zwei-Faktor-Anmeldung ist abgeschaltet.",
}
MISMATCH = "Die beiden PINs stimmen nicht überein."
NO_COUNSELLOR = "Ihr Konto gehört zu keiner Beraterin und keinem Berater: Es braucht keine PIN."


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


def _page(
    request: Request, viewer: Viewer, *, error: str | None = None, status: int = 200
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
        "notice": NOTICES.get(request.query_params.get("notice", "")),
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
        return await run_in_threadpool(_page, request, viewer, error=NO_COUNSELLOR, status=422)
    counsellor_id = viewer.counsellor_id
    form = await request.form()
    pin, repeat = str(form.get("pin", "")), str(form.get("pin_repeat", ""))
    if pin != repeat:
        return await run_in_threadpool(_page, request, viewer, error=MISMATCH, status=422)
    db: Database = request.app.state.db

    def save() -> None:
        with db.write() as session:
            reply_pin.set_pin(session, counsellor_id, pin, actor=viewer.actor)

    try:
        await run_in_threadpool(save)
    except Invalid as exc:
        return await run_in_threadpool(_page, request, viewer, error=str(exc), status=422)
    return RedirectResponse("/account?notice=pin_set", status_code=303)


@page()
async def delete_reply_pin(request: Request, viewer: Viewer) -> Response:
    if viewer.counsellor_id is None:
        return await run_in_threadpool(_page, request, viewer, error=NO_COUNSELLOR, status=422)
    counsellor_id = viewer.counsellor_id
    db: Database = request.app.state.db

    def save() -> None:
        with db.write() as session:
            reply_pin.clear_pin(session, counsellor_id, actor=viewer.actor)

    await run_in_threadpool(save)
    return RedirectResponse("/account?notice=pin_deleted", status_code=303)


routes = [
    Route("/account", account, methods=["GET"]),
    Route("/account/reply-pin", set_reply_pin, methods=["POST"]),
    Route("/account/reply-pin/delete", delete_reply_pin, methods=["POST"]),
]
