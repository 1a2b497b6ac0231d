"""The language of the staff pages: gettext catalogues, the language of each request, and the
gettext functions the templates and the page modules call.

* The catalogues are `web/locale/<language>/LC_MESSAGES/messages.po`, compiled in memory when
  the app is built (`load`): no compiled file to forget. The msgids are the German texts
  themselves (docs/development.md#translations), so a page reads as German in its template, and
  the German catalogue repeats them.
* A request's language: the account's choice (`users.locale`, set on "Mein Konto", made the
  request's by `web.auth.page`); before sign-in the browser's `Accept-Language`
  (`LanguageMiddleware`); German by default. It lives in a context variable for the request, so
  the page modules' `_()` and the templates' `{% trans %}` read the same one, in worker
  threads too (they run in a copy of the request's context).
"""

from __future__ import annotations

import gettext as gettext_module
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment

from foundation.i18n import N_
from foundation.users import DEFAULT_LOCALE, LOCALES

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "messages"
# How each language is called in its own words (the choice on "Mein Konto").
NAMES = {"de": "Deutsch", "en": "English"}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Language:
    code: str  # "de", "en": the `lang` of the page, and the locale of its dates and numbers
    translations: gettext_module.NullTranslations


class Catalogues:
    """The compiled catalogue of every language of the pages."""

    def __init__(self, languages: dict[str, Language]) -> None:
        self._languages = languages

    def language(self, code: str | None) -> Language:
        """The language `code`; German for one without a catalogue."""
        return self._languages.get(code or "", self._languages[DEFAULT_LOCALE])

    def negotiate(self, header: str | None) -> Language:
        """The language an `Accept-Language` header prefers most among ours."""
        return self.language(preferred(header or "", self._languages))


def compile_po(path: Path) -> Translations:
    """A .po file as gettext reads its .mo: compiled in memory."""
    with path.open("rb") as source:
        catalog = read_po(source, locale=path.parent.parent.name, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@cache
def load(directory: Path = LOCALE_DIR) -> Catalogues:
    """Every language of `foundation.users.LOCALES` from its .po file (compiled once a
    process)."""
    return Catalogues(
        {
            code: Language(code, compile_po(directory / code / "LC_MESSAGES" / f"{DOMAIN}.po"))
            for code in LOCALES
        }
    )


def preferred(header: str, offered: Iterable[str]) -> str:
    """The first of `offered` an `Accept-Language` header names, by its q values ('en-GB,
    en;q=0.8, de;q=0.5' -> 'en'); the default when it names none."""
    ours = set(offered)
    choices = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().split("-")[0].lower()
        if primary in ours and quality > 0:
            choices.append((-quality, position, primary))
    return min(choices)[2] if choices else DEFAULT_LOCALE


# --- the request's language -------------------------------------------------------------------

_NULL = Language(DEFAULT_LOCALE, gettext_module.NullTranslations())
_current: ContextVar[Language] = ContextVar("page_language", default=_NULL)


def use(language: Language) -> None:
    """Make `language` the language of the rest of this request."""
    _current.set(language)


def language() -> str:
    """The code of the request's language ('de' outside a request)."""
    return _current.get().code


def _(message: str, **values: object) -> str:
    """`message` (German) in the request's language; `%(name)s` placeholders filled from
    `values`."""
    text = _current.get().translations.gettext(message)
    return text % values if values else text


def ngettext(singular: str, plural: str, count: int, **values: object) -> str:
    """The singular or plural form for `count`, in the request's language; `%(num)d` is
    `count`."""
    text = _current.get().translations.ngettext(singular, plural, count)
    return text % {"num": count, **values}


__all__ = [
    "N_",
    "Catalogues",
    "Language",
    "LanguageMiddleware",
    "_",
    "language",
    "lookup",
    "refusal",
]


def lookup(texts: Mapping[str, str], key: str | None) -> str | None:
    """The text `key` of a page's `texts` (German constants marked with `N_`: notices, field
    errors), translated; None for a key it has not."""
    found = texts.get(key or "")
    return None if found is None else _(found)


def refusal(message: str, templates: Iterable[str] = ()) -> str:
    """A refusal from below the web layer (`exc.message`) in the request's language: a constant
    one by its msgid (marked with `N_`), one with values filled in by the marked template it was
    made from with `%` (one of `templates`, each `%(name)s` matching its value), the values
    kept. One that matches none stays as it came."""
    for template in templates:
        found = _template_pattern(template).fullmatch(message)
        if found:
            return _(template, **found.groupdict())
    return _(message)


@cache
def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"%\((\w+)\)[sd]", template)
    pattern = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)"
        for index, part in enumerate(parts)
    )
    return re.compile(pattern, re.DOTALL)


def _plain(message: str) -> str:
    return _current.get().translations.gettext(message)


def _plain_plural(singular: str, plural: str, count: int) -> str:
    return _current.get().translations.ngettext(singular, plural, count)


def install(env: Environment) -> None:
    """The templates' `{% trans %}` and `_()`: the request's language, placeholders escaped."""
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True  # msgids without the template's line breaks
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _plain, _plain_plural, newstyle=True
    )
    env.globals["language"] = language


class LanguageMiddleware:
    """Every request starts in the language its `Accept-Language` prefers (the sign-in page and
    the other pages before sign-in); `web.auth.page` then switches to the account's."""

    def __init__(self, app: ASGIApp, catalogues: Catalogues) -> None:
        self.app = app
        self.catalogues = catalogues

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope["headers"] if k == b"accept-language"), b"")
        token = _current.set(self.catalogues.negotiate(header.decode("latin-1")))
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)
