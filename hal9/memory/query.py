"""User text to a safe FTS5 query: the words become quoted terms, nothing else gets through.

FTS5's query language has operators (``AND``, ``OR``, ``NOT``, ``NEAR``), column filters
(``content:x``), phrases, groups and ``^``; handing it a user's string raises on a stray
quote or parenthesis and lets the user steer the query. Here the text is cut into words
(runs of letters and digits, which is also how FTS5's ``unicode61`` tokenizer splits it),
each word is wrapped in double quotes, so the engine sees only terms, and the words are
joined with FTS5's implicit AND, or with OR. A word followed directly by ``*`` stays a
prefix query (``deploy*``), the one operator users expect to work.
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
    text: str
    prefix: bool = False

    def expression(self) -> str:
        # The text holds only letters and digits, so no quote can end the string early.
        return f'"{self.text}"*' if self.prefix else f'"{self.text}"'


def normalize(word: str) -> str:
    """Lower case without diacritics, as the index stores words (``remove_diacritics 2``)."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def terms(text: str, max_terms: int = MAX_TERMS) -> list[Term]:
    """The distinct terms of ``text``, in order of first appearance, at most ``max_terms``."""
    found: dict[Term, None] = {}
    for match in _WORD.finditer(text):
        word = normalize(match.group(1))[:MAX_TERM_CHARS]
        # Normalising may leave nothing a word (a lone combining mark) or split it; keep the word runs.
        for part in _WORD.finditer(word):
            term = Term(part.group(1), prefix=bool(match.group(2)))
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
