"""The marker for texts below the web layer that the staff pages show: a use case's refusal
(`Invalid`, `Conflict`, `NotFound`), a password's problem. `N_` marks such a German text for the
pages' catalogues (web/locale/, extracted by ./scripts/translations) and returns it unchanged:
the API, SMS and e-mails keep the German; a page translates it where it shows it (`web.i18n._`).
Only constant texts can be translated so; one with values filled in stays German."""

from __future__ import annotations


def N_(message: str) -> str:
    return message
