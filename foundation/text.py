"""Which characters a text typed by a person may hold: the one check of every entry point (the
pages' forms, the JSON API's bodies, the public callback form).

Refused everywhere: the C0 control characters, DEL, the C1 controls (U+0080–U+009F), and the
bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069), which no one types and
which can make a name or a note read differently on a page, in a feed or in an SMS than what was
stored ("Trojan Source"). A multi-line field (a message, a note, a reply) keeps tab, line feed
and carriage return.

`PATTERN` and `MULTI_LINE_PATTERN` say the same as regular expressions of the OpenAPI
document (ECMA 262 and Python read them alike).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_OTHERS = r"\x7f-\x9f\u202a-\u202e\u2066-\u2069"  # DEL, C1, overrides and isolates
PATTERN = rf"^[^\x00-\x1f{_OTHERS}]*$"
MULTI_LINE_PATTERN = rf"^[^\x00-\x08\x0b\x0c\x0e-\x1f{_OTHERS}]*$"
_SINGLE = re.compile(rf"[\x00-\x1f{_OTHERS}]")
_MULTI = re.compile(rf"[\x00-\x08\x0b\x0c\x0e-\x1f{_OTHERS}]")
PROBLEM = "must not contain control characters or bidirectional overrides"


def refused(text: str, *, multi_line: bool = False) -> bool:
    """Whether the text holds a character no field takes (tab and line breaks: only a
    multi-line one)."""
    return (_MULTI if multi_line else _SINGLE).search(text) is not None


def pseudonym_key(pseudonym: str) -> str:
    """What makes two pseudonyms one for a team: the same regardless of case and of how
    Unicode writes them (white space collapsed, compatibility form, case-folded)."""
    return unicodedata.normalize("NFKC", " ".join(pseudonym.split())).casefold()


def pseudonym_digest(pseudonym: str) -> str:
    """`pseudonym_key` as the database keeps it (`clients.pseudonym_key`, unique in a team):
    its SHA-256 in hex, 64 characters whatever the pseudonym (NFKC can make one character
    eighteen, too long for an index). Not a secret: the pseudonym is stored in clear beside
    it. Migration 0029 holds a copy of this; change both or neither."""
    return hashlib.sha256(pseudonym_key(pseudonym).encode()).hexdigest()
