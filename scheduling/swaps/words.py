"""The German words of shift swaps (pure): the labels of a request's states, why a request
became obsolete (both marked for the pages' catalogues: `foundation.i18n`), and the subject and
text of each notice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from foundation import dates
from foundation.i18n import N_
from foundation.models import SwapState

STATE_LABELS = {
    SwapState.REQUESTED: N_("angefragt"),
    SwapState.ACCEPTED: N_("angenommen, wartet auf Genehmigung"),
    SwapState.APPROVED: N_("eingetragen"),
    SwapState.DECLINED: N_("abgelehnt"),
    SwapState.REJECTED: N_("von der Koordination abgelehnt"),
    SwapState.WITHDRAWN: N_("zurückgezogen"),
    SwapState.OBSOLETE: N_("hinfällig"),
}
# Why a request became obsolete (kept in the audit entry; the pages show the text).
OBSOLETE_REASONS = {
    "deleted": N_("Ein Dienst dieser Anfrage wurde inzwischen gelöscht."),
    "changed": N_("Ein Dienst dieser Anfrage wurde inzwischen geändert."),
    "past": N_("Der Dienst ist inzwischen vorbei."),
}
# E-mail subjects of swap notices, by event.
SUBJECTS = {
    "requested": "Tauschanfrage",
    "withdrawn": "Tauschanfrage zurückgezogen",
    "accepted": "Tausch angenommen",
    "declined": "Tausch abgelehnt",
    "approval": "Tausch zur Genehmigung",
    "approved": "Tausch genehmigt",
    "rejected": "Tausch abgelehnt",
    "obsolete": "Tauschanfrage hinfällig",
}


def span_text(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """'Do 26.11., 09:00 – Fr 27.11., 09:00': how people name a shift, in local time."""
    return dates.span(start, end, zone)


@dataclass(frozen=True, slots=True)
class Story:
    """The names and times a notice text needs (never a client's data, never the free note:
    it may hold anything)."""

    requester: str
    colleague: str
    team: str
    shift: str | None
    return_shift: str | None


def notice_text(event: str, story: Story, *, applied: bool = False) -> str:
    """The complete short German text of a swap notice for `event`."""
    duty = f"den Dienst {story.shift}" if story.shift else "einen Dienst"
    exchange = f" im Tausch gegen {story.return_shift}" if story.return_shift else ""
    if event == "requested":
        return (
            f"Tauschanfrage ({story.team}): {story.requester} bittet Sie, {duty} zu übernehmen"
            f"{exchange}. Bitte unter „Meine Dienste“ annehmen oder ablehnen."
        )
    if event == "withdrawn":
        return f"{story.requester} hat die Tauschanfrage für {duty} ({story.team}) zurückgezogen."
    if event == "accepted" and applied:
        taken = f" Sie übernehmen {story.return_shift}." if story.return_shift else ""
        return (
            f"{story.colleague} hat Ihre Tauschanfrage angenommen und übernimmt {duty} "
            f"({story.team}).{taken} Der Dienstplan ist geändert."
        )
    if event == "accepted":
        return (
            f"{story.colleague} hat Ihre Tauschanfrage für {duty} ({story.team}) angenommen. "
            "Die Koordination muss noch zustimmen."
        )
    if event == "approval":
        return (
            f"Tausch zur Genehmigung ({story.team}): {story.colleague} übernimmt {duty} von "
            f"{story.requester}{exchange}. Bitte unter „Tauschanfragen“ entscheiden."
        )
    if event == "declined":
        return f"{story.colleague} hat Ihre Tauschanfrage für {duty} ({story.team}) abgelehnt."
    if event == "approved":
        taken = f", {story.requester} übernimmt {story.return_shift}" if story.return_shift else ""
        return (
            f"Tausch genehmigt ({story.team}): {story.colleague} übernimmt {duty}{taken}. "
            "Der Dienstplan ist geändert."
        )
    if event == "rejected":
        return (
            f"Die Koordination hat den Tausch für {duty} ({story.team}) abgelehnt. "
            "Der Dienstplan bleibt unverändert."
        )
    if event == "obsolete":
        return (
            f"Die Tauschanfrage zwischen {story.requester} und {story.colleague} "
            f"({story.team}) ist hinfällig: ein Dienst wurde geändert, gelöscht oder ist vorbei."
        )
    raise ValueError(f"unknown swap event {event!r}")
