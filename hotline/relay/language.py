"""The language a client writes in, guessed among her line's languages: the out-of-hours answer
goes back in it.

A pure function of the configuration and the text: each language of the line scores its frequent
words (`[relay.languages.<code>] words`, German: `[relay] words`) and the letters only it uses
(`letters`: Turkish ğ ş ı, the Arabic or Cyrillic alphabet); the best score wins, a tie the
earlier language, and a text with nothing recognised is the line's first language. Nothing is
stored: the guess is made again for each message.
"""

from __future__ import annotations

import re

from config.languages import fold
from config.model import HotlineConfig, Line

_WORD = re.compile(r"\w+")
WORD_SCORE = 2  # a frequent word counts as much as two letters


def _letter(char: str) -> str:
    """A letter in lower case, as one letter: `casefold` makes "ß" "ss" and "İ" "i" with a dot
    above, and then every s was German and every i Turkish."""
    lower = char.lower()
    return lower if len(lower) == 1 else char


def guess(config: HotlineConfig, line: Line, body: str) -> str:
    """The ISO 639-1 code of the line's language `body` is most likely written in."""
    words = [fold(word) for word in _WORD.findall(body.casefold())]
    text = [_letter(char) for char in body]
    best, best_score = line.languages[0], 0
    for code in line.languages:
        hints = config.relay.in_language(code)
        vocabulary = {fold(word) for word in hints.words}
        letters = {_letter(char) for char in hints.letters}
        score = WORD_SCORE * sum(word in vocabulary for word in words)
        score += sum(char in letters for char in text)
        if score > best_score:
            best, best_score = code, score
    return best
