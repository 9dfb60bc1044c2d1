"""User text to search terms: words, prefixes and phrases, with no query syntax a user can steer.

The text is cut into words by the same analyzer the index uses for entries (runs of letters
and digits, lower-cased, accents folded to ASCII, words over 64 bytes dropped), so a query
word and a stored word match exactly when they are the same word. Two things users expect
keep working: a word followed directly by ``*`` is a prefix (``deploy*``), and words between
a pair of double quotes are a phrase (``"token bucket"``); an unpaired quote is just a
character. Everything else (operators, field names, brackets) is plain text.
"""

from __future__ import annotations

from dataclasses import dataclass

import tantivy

#: Terms beyond this are dropped: a pasted page must not become a query of thousands of terms.
MAX_TERMS = 16
#: Only this much of a query's text is read (its first terms are all a search uses).
MAX_QUERY_CHARS = 10_000
#: Longer words (in UTF-8 bytes) are neither indexed nor searched; nothing real is this long.
MAX_TERM_BYTES = 64

#: How the index and the queries cut text into words (tantivy's ``simple`` tokenizer and filters).
ANALYZER = (
    tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    .filter(tantivy.Filter.remove_long(MAX_TERM_BYTES + 1))
    .filter(tantivy.Filter.lowercase())
    .filter(tantivy.Filter.ascii_fold())
    .build()
)


@dataclass(frozen=True, slots=True)
class Term:
    """A word, a prefix (``prefix``) or a phrase (several words, space-separated, in order)."""

    text: str
    prefix: bool = False

    @property
    def words(self) -> list[str]:
        return self.text.split(" ")


def words(text: str) -> list[tuple[str, bool]]:
    """The words of ``text`` as the index stores them, in order, each with whether a ``*`` follows it."""
    tokens = ANALYZER.pre_tokenize(text).tokens
    return [(token.text, text[token.char_offset_to : token.char_offset_to + 1] == "*") for token in tokens]


def terms(text: str, max_terms: int = MAX_TERMS) -> list[Term]:
    """The distinct terms of ``text``, in order of first appearance, at most ``max_terms``."""
    found: dict[Term, None] = {}
    pieces = text[:MAX_QUERY_CHARS].split('"')
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
