"""What the swap pages say after an action, of swaps and of open shifts: the redirect after
a success carries only a key (POST, redirect, GET), which names one of these messages; a
refusal shows the use case's own message with the status that fits it. In the viewer's
language (`web.i18n`)."""

from __future__ import annotations

from foundation.errors import Conflict, DomainError
from scheduling.offers.words import EXPIRY_REASONS
from scheduling.swaps.words import OBSOLETE_REASONS
from web.i18n import N_, _, lookup

# What the page says after a successful action (the redirect carries only the key).
DONE = {
    "requested": N_("Ihre Tauschanfrage ist gestellt. Die angefragte Person wird benachrichtigt."),
    "withdrawn": N_("Die Tauschanfrage ist zurückgezogen."),
    "accepted": N_("Sie haben den Tausch angenommen. Die Koordination muss noch zustimmen."),
    "applied": N_("Sie haben den Tausch angenommen. Der Dienstplan ist geändert."),
    "declined": N_("Sie haben die Tauschanfrage abgelehnt."),
    "approved": N_("Der Tausch ist genehmigt und im Dienstplan eingetragen."),
    "rejected": N_("Der Tausch ist abgelehnt. Der Dienstplan bleibt unverändert."),
    "offered": N_(
        "Ihr Dienst ist dem Team angeboten. Wer ihn übernehmen kann, wird benachrichtigt."
    ),
    "team-offered": N_(
        "Der Dienst ist dem Team angeboten. Wer ihn übernimmt, bekommt ihn ohne "
        "weitere Genehmigung."
    ),
    "offer-withdrawn": N_("Das Angebot ist zurückgezogen. Der Dienstplan bleibt unverändert."),
    "offer-taken": N_("Sie haben den Dienst übernommen. Die Koordination muss noch zustimmen."),
    "offer-applied": N_("Sie haben den Dienst übernommen. Der Dienstplan ist geändert."),
    "offer-approved": N_("Die Übernahme ist genehmigt und im Dienstplan eingetragen."),
    "offer-declined": N_("Die Übernahme ist abgelehnt. Der Dienst ist wieder angeboten."),
}
OBSOLETE = N_(
    "Die Anfrage ist hinfällig und wurde geschlossen: %(reason)s Es wurde nichts getauscht."
)
EXPIRED = N_(
    "Das Angebot ist abgelaufen und wurde geschlossen: %(reason)s Es wurde nichts übergeben."
)


def status(exc: DomainError) -> int:
    return 409 if isinstance(exc, Conflict) else 422


def refused(exc: DomainError) -> str:
    """The use case's refusal (translated where the catalogues know it), and that nothing
    changed."""
    return _("%(refusal)s Es wurde nichts geändert.", refusal=_(exc.message))


def message(query: dict[str, str]) -> str | None:
    """The message for a `done` key of a redirect; unknown keys say nothing."""
    key = query.get("done", "")
    if key.startswith("obsolete-"):
        reason = lookup(OBSOLETE_REASONS, key.removeprefix("obsolete-"))
        return _(OBSOLETE, reason=reason) if reason else None
    if key.startswith("expired-"):
        reason = lookup(EXPIRY_REASONS, key.removeprefix("expired-"))
        return _(EXPIRED, reason=reason) if reason else None
    return lookup(DONE, key)
