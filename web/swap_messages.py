"""What the swap pages say after an action, of swaps and of open shifts: the redirect after
a success carries only a key (POST, redirect, GET), which names one of these German messages;
a refusal shows the use case's own German message with the status that fits it."""

from __future__ import annotations

from foundation.errors import Conflict, DomainError
from scheduling.offers.words import EXPIRY_REASONS
from scheduling.swaps.words import OBSOLETE_REASONS

# What the page says after a successful action (the redirect carries only the key).
DONE = {
    "requested": "Ihre Tauschanfrage ist gestellt. Die angefragte Person wird benachrichtigt.",
    "withdrawn": "Die Tauschanfrage ist zurückgezogen.",
    "accepted": "Sie haben den Tausch angenommen. Die Koordination muss noch zustimmen.",
    "applied": "Sie haben den Tausch angenommen. Der Dienstplan ist geändert.",
    "declined": "Sie haben die Tauschanfrage abgelehnt.",
    "approved": "Der Tausch ist genehmigt und im Dienstplan eingetragen.",
    "rejected": "Der Tausch ist abgelehnt. Der Dienstplan bleibt unverändert.",
    "offered": "Ihr Dienst ist dem Team angeboten. Wer ihn übernehmen kann, wird benachrichtigt.",
    "team-offered": "Der Dienst ist dem Team angeboten. Wer ihn übernimmt, bekommt ihn ohne "
    "weitere Genehmigung.",
    "offer-withdrawn": "Das Angebot ist zurückgezogen. Der Dienstplan bleibt unverändert.",
    "offer-taken": "Sie haben den Dienst übernommen. Die Koordination muss noch zustimmen.",
    "offer-applied": "Sie haben den Dienst übernommen. Der Dienstplan ist geändert.",
    "offer-approved": "Die Übernahme ist genehmigt und im Dienstplan eingetragen.",
    "offer-declined": "Die Übernahme ist abgelehnt. Der Dienst ist wieder angeboten.",
}
OBSOLETE = "Die Anfrage ist hinfällig und wurde geschlossen: {reason} Es wurde nichts getauscht."
EXPIRED = "Das Angebot ist abgelaufen und wurde geschlossen: {reason} Es wurde nichts übergeben."


def status(exc: DomainError) -> int:
    return 409 if isinstance(exc, Conflict) else 422


def refused(exc: DomainError) -> str:
    return f"{exc.message} Es wurde nichts geändert."


def message(query: dict[str, str]) -> str | None:
    """The German message for a `done` key of a redirect; unknown keys say nothing."""
    key = query.get("done", "")
    if key.startswith("obsolete-"):
        reason = OBSOLETE_REASONS.get(key.removeprefix("obsolete-"))
        return OBSOLETE.format(reason=reason) if reason else None
    if key.startswith("expired-"):
        reason = EXPIRY_REASONS.get(key.removeprefix("expired-"))
        return EXPIRED.format(reason=reason) if reason else None
    return DONE.get(key)
