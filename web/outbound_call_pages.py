"""Outbound calls in the pages: the "Zurückrufen" button of the task list and of the
appointments page starts a call-back through the line (hotline.outbound_calls) for the
signed-in counsellor, and this module says how it went (in the viewer's language). The pages
own their routes; who may call back what is the access policy's (foundation.access), asked by
the use case.

Not to be confused with a callback request (`web.callback_request_pages`: a client asks on the
public page to be called back) nor with Twilio's status callbacks."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from config.settings import Settings
from foundation.errors import Invalid, NotFound
from hotline.outbound_calls import placing
from hotline.outbound_calls.lines import WrongLine
from hotline.outbound_calls.summaries import Summary
from web.auth import Forbidden, Hidden, Viewer
from web.i18n import N_, _

NOTICES = {
    "called": N_(
        "Der Rückruf ist gestartet: Ihr Telefon klingelt gleich. Nehmen Sie ab und "
        "drücken Sie die 1, dann wird die Nummer gewählt. Angezeigt wird nur die Nummer der "
        "Leitung."
    ),
    "simulated": N_(
        "Simulationsmodus: Es wurde niemand angerufen. Der Anruf steht im Postausgang."
    ),
}
ERRORS = {
    "counsellor_id": N_(
        "Ein Rückruf klingelt zuerst bei Ihnen. Dafür braucht Ihr Konto eine aktive "
        "Beraterin oder einen aktiven Berater mit Telefonnummer; bitte wenden Sie sich an die "
        "Koordination. Es wurde niemand angerufen."
    ),
    "number": N_(
        "Hierzu gibt es keine Telefonnummer, die zurückgerufen werden kann. Es wurde "
        "niemand angerufen."
    ),
    "line": N_(
        "Es gibt keine Leitung, über die zurückgerufen werden kann (die Beraterin oder der "
        "Berater gehört zu keinem Team mit Leitung). Es wurde niemand angerufen."
    ),
    "wrong_line": N_(
        "Über die gewählte Leitung kann hier nicht zurückgerufen werden: bitte wählen "
        "Sie eine Leitung eines Teams der Beraterin oder des Beraters. Es wurde niemand "
        "angerufen."
    ),
    "not_placed": N_(
        "Twilio hat den Anruf nicht angenommen. Bitte versuchen Sie es später noch einmal."
    ),
    "uncertain": N_(
        "Ob Twilio den Anruf gestartet hat, ist unklar. Wenn Ihr Telefon nicht "
        "klingelt, versuchen Sie es in einer Minute noch einmal."
    ),
}
# The counsellor's leg before the client is dialled; %(name)s is the counsellor.
_LEG = {
    "queued": N_("wird gestartet"),
    "initiated": N_("wird gestartet"),
    "ringing": N_("klingelt bei %(name)s"),
    "in-progress": N_("%(name)s hat abgenommen, die 1 ist noch nicht gedrückt"),
    "completed": N_("%(name)s hat aufgelegt, ohne die 1 zu drücken"),
    "busy": N_("bei %(name)s besetzt"),
    "no-answer": N_("%(name)s hat nicht abgenommen"),
    "failed": N_("der Anruf bei %(name)s ist fehlgeschlagen"),
    "canceled": N_("abgebrochen"),
    "simulated": N_("nur simuliert (Postausgang)"),
    "not_placed": N_("nicht gestartet: Twilio hat abgelehnt"),
    "uncertain": N_("unklar, ob Twilio angerufen hat"),
}
# How the Dial to the client ended.
_CLIENT = {
    None: N_("die Nummer wird gewählt"),
    "completed": N_("Gespräch geführt"),
    "answered": N_("Gespräch geführt"),
    "busy": N_("besetzt"),
    "no-answer": N_("nicht abgenommen"),
    "failed": N_("nicht erreichbar"),
    "canceled": N_("abgebrochen"),
}
_ENDED = N_("beendet")


def describe(summary: Summary) -> str:
    """How a call-back went ("Gespräch geführt", "Anna hat nicht abgenommen")."""
    if summary.bridged_at is not None:
        return _(_CLIENT.get(summary.client_status, _ENDED))
    known = _LEG.get(summary.status)
    return summary.status if known is None else _(known, name=summary.counsellor)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the page says: a notice key after success, or an error (translated) with its
    status."""

    notice: str | None = None
    error: str | None = None
    status: int = 303


def _refusal(exc: Invalid) -> Outcome:
    if isinstance(exc, WrongLine):
        return Outcome(error=_(ERRORS["wrong_line"]), status=422)
    field = exc.field if exc.field in ("counsellor_id", "line") else "number"
    return Outcome(error=_(ERRORS[field]), status=422)


async def start(
    request: Request, viewer: Viewer, kind: str, target_id: int, line: str | None = None
) -> Outcome:
    """Call back the target for the viewer's own counsellor record (her phone rings first),
    through `line` (a slug; None: the default). Raises Hidden for a target the viewer may
    not see (like a missing one), Forbidden for one she sees but may not call back."""
    settings: Settings = request.app.state.settings
    try:
        started = await run_in_threadpool(
            placing.call_back,
            request.app.state.db,
            settings,
            request.app.state.provider,
            placing.Ask(kind, target_id, viewer.counsellor_id, viewer.principal, line=line),
        )
    except placing.NotAllowed:
        raise Forbidden from None
    except NotFound:
        raise Hidden from None
    except placing.Running as exc:
        message = _(
            "Hierzu läuft gerade schon ein Rückruf von %(name)s. Es wurde niemand angerufen.",
            name=exc.counsellor,
        )
        return Outcome(error=message, status=409)
    except Invalid as exc:
        return _refusal(exc)
    if started.status in ("not_placed", "uncertain"):
        return Outcome(error=_(ERRORS[started.status]), status=502)
    return Outcome(notice="simulated" if started.status == "simulated" else "called")
