"""User text to a safe FTS5 query: the words become quoted terms, nothing else gets through.

FTS5's query language has operators (``AND``, ``OR``, ``NOT``, ``NEAR``), column filters
(``content:x``), phrases, groups and ``^``; handing it a user's string raises on a stray
quote or parenthesis and lets the user steer the query. Here the text is cut into words
(runs of letters and digits, which is also how FTS5's ``unicode61`` tokenizer splits it),
each word is wrapped in double quotes, so the engine sees only terms, and the words are
joined with FTS5's implicit AND, or with OR. Two things users expect keep working: a word
followed directly by ``*`` is a prefix query (``deploy*``), and words between a pair of
double quotes are a phrase (``"token bucket"``); an unpaired quote is just a character.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

#: A word: letters and digits (``\w`` without the underscore, which unicode61 treats as a separator).
_WORD = re.compile(r"([^\W_]+)(\*?)")
#: Terms beyond this are dropped: a pasted page must not become a query of thousands of terms.
MAX_TERMS = 16
#: Longer "words" are cut; nothing real is this long, and it bounds the expression.
MAX_TERM_CHARS = 64


@dataclass(frozen=True, slots=True)
class Term:
    """A word, a prefix (``prefix``) or a phrase (several words, space-separated, in order)."""

    text: str
    prefix: bool = False

    @property
    def words(self) -> list[str]:
        return self.text.split(" ")

    def expression(self) -> str:
        # The text holds only letters, digits and single spaces, so no quote can end the
        # string early; FTS5 reads a quoted string of several words as a phrase.
        return f'"{self.text}"*' if self.prefix else f'"{self.text}"'


def normalize(word: str) -> str:
    """Lower case without diacritics, as the index stores words (``remove_diacritics 2``)."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(text: str) -> list[tuple[str, bool]]:
    """The normalised words of ``text`` in order, each with whether a ``*`` follows it directly."""
    found: list[tuple[str, bool]] = []
    for match in _WORD.finditer(text):
        word = normalize(match.group(1))[:MAX_TERM_CHARS]
        # Normalising may split a word (a compatibility character) or leave nothing of it.
        parts = [part.group(1) for part in _WORD.finditer(word)]
        found.extend((part, bool(match.group(2)) and index == len(parts) - 1) for index, part in enumerate(parts))
    return found


def terms(text: str, max_terms: int = MAX_TERMS) -> list[Term]:
    """The distinct terms of ``text``, in order of first appearance, at most ``max_terms``."""
    found: dict[Term, None] = {}
    pieces = text.split('"')
    if len(pieces) % 2 == 0:  # an unpaired quote: the text after it is not a phrase
        pieces[-2:] = ['"'.join(pieces[-2:])]
    for index, piece in enumerate(pieces):
        in_piece = words(piece)
        if index % 2 == 1 and len(in_piece) > 1:
            new = [Term(" ".join(word for word, _ in in_piece[:max_terms]))]
        else:
            new = [Term(word, prefix) for word, prefix in in_piece]
        for term in new:
            found.setdefault(term, None)
            if len(found) >= max_terms:
                return list(found)
    return list(found)


def expression(found: list[Term], match: Literal["all", "any"] = "all") -> str:
    """The FTS5 MATCH expression of some terms: all of them (implicit AND) or any (OR)."""
    joiner = " " if match == "all" else " OR "
    return joiner.join(term.expression() for term in found)


def fts_query(text: str, match: Literal["all", "any"] = "all", max_terms: int = MAX_TERMS) -> str | None:
    """The FTS5 MATCH expression for ``text``, or None when it has no words (no search needed)."""
    found = terms(text, max_terms)
    return expression(found, match) if found else None
