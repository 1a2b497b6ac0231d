"""The German words of open shifts (pure): the labels of an offer's states, why an offer
expired (both marked for the pages' catalogues: `foundation.i18n`), and the subject and text
of each notice."""

from __future__ import annotations

from dataclasses import dataclass

from foundation.i18n import N_
from foundation.models import OfferState

STATE_LABELS = {
    OfferState.OPEN: N_("angeboten"),
    OfferState.TAKEN: N_("übernommen, wartet auf Genehmigung"),
    OfferState.APPROVED: N_("übergeben"),
    OfferState.WITHDRAWN: N_("zurückgezogen"),
    OfferState.EXPIRED: N_("abgelaufen"),
}
# Why an offer expired (kept in the audit entry; pages and notices show the text).
EXPIRY_REASONS = {
    "deleted": N_("Der Dienst wurde inzwischen gelöscht."),
    "changed": N_("Der Dienst wurde inzwischen geändert."),
    "started": N_("Der Dienst hat inzwischen begonnen."),
}
# E-mail subjects of the notices, by event.
SUBJECTS = {
    "offered": "Offener Dienst",
    "offered_yours": "Ihr Dienst ist angeboten",
    "taken": "Offener Dienst übernommen",
    "approval": "Übernahme zur Genehmigung",
    "handed": "Dienst übergeben",
    "received": "Dienst übernommen",
    "declined": "Übernahme abgelehnt",
    "withdrawn": "Angebot zurückgezogen",
    "expired": "Angebot abgelaufen",
}


@dataclass(frozen=True, slots=True)
class Story:
    """The names and times a notice text needs (never a client's data, never the free note)."""

    giver: str
    taker: str | None
    team: str
    shift: str | None  # "Do 26.11., 09:00 – Fr 27.11., 09:00", or None once deleted
    by_coordination: bool = False
    reason: str | None = None  # a key of EXPIRY_REASONS


def notice_text(event: str, story: Story) -> str:
    """The complete short German text of an open-shift notice for `event`."""
    duty = f"den Dienst {story.shift}" if story.shift else "einen Dienst"
    taker = story.taker or "Jemand"
    if event == "offered" and story.by_coordination:
        return (
            f"Offener Dienst ({story.team}): Die Koordination bietet {duty} (bisher "
            f"{story.giver}) zur Übernahme an. Übernehmen können Sie ihn unter „Meine Dienste“."
        )
    if event == "offered":
        return (
            f"Offener Dienst ({story.team}): {story.giver} gibt {duty} ab. Übernehmen können "
            "Sie ihn unter „Meine Dienste“."
        )
    if event == "offered_yours":
        return (
            f"Die Koordination hat Ihren Dienst {story.shift} ({story.team}) dem Team zur "
            "Übernahme angeboten. Bis jemand ihn übernimmt, bleibt er bei Ihnen."
        )
    if event == "taken":
        return (
            f"{taker} möchte {duty} ({story.team}) von Ihnen übernehmen. "
            "Die Koordination muss noch zustimmen."
        )
    if event == "approval":
        return (
            f"Übernahme zur Genehmigung ({story.team}): {taker} übernimmt {duty} von "
            f"{story.giver}. Bitte unter „Tauschanfragen“ entscheiden."
        )
    if event == "handed":
        return f"{taker} übernimmt {duty} ({story.team}) von Ihnen. Der Dienstplan ist geändert."
    if event == "received":
        return (
            f"Sie übernehmen {duty} ({story.team}) von {story.giver}. Der Dienstplan ist geändert."
        )
    if event == "declined":
        return (
            f"Die Koordination hat abgelehnt, dass {taker} {duty} ({story.team}) übernimmt. "
            f"Der Dienst bleibt bei {story.giver} und ist weiter angeboten."
        )
    if event == "withdrawn":
        return (
            f"Das Angebot für {duty} ({story.team}) ist zurückgezogen. "
            "Der Dienstplan bleibt unverändert."
        )
    if event == "expired":
        why = EXPIRY_REASONS[story.reason or ""]
        return (
            f"Das Angebot für {duty} ({story.team}) ist abgelaufen: {why} "
            "Es wurde nichts übergeben."
        )
    raise ValueError(f"unknown offer event {event!r}")
