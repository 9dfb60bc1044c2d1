"""Any query string: results or nothing, never an error, and never an entry that does not match."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hal9.memory import SQLiteMemory
from hal9.memory.query import ANALYZER, Term, terms, words

CORPUS = [
    "Deploy the rate limiter behind the gateway",
    "The token bucket refills at a fixed rate",
    "Café au lait and naïve résumé parsing",
    "content: column filters look like this NEAR(a b)",
    'quotes " and parentheses ( ) in text',
    "the token bucket and the bucket of tokens",
    "UPPER lower MiXeD 42 numbers 3.14",
    "AND OR NOT are words here too",
    "straße über Ölpreis",
    "日本語のテキスト 検索",
]
#: Query material: words of the corpus and FTS5 syntax, mixed with arbitrary text.
PIECES = st.sampled_from(
    [w for text in CORPUS for w in text.split()]
    + ['"', "*", "(", ")", "NEAR", "AND", "OR", "NOT", ":", "content:", "^", "-", "+", "\x00", "'", ";", "{", "}"]
)
QUERIES = st.one_of(st.text(max_size=60), st.lists(PIECES, max_size=8).map(" ".join), st.lists(PIECES).map("".join))


@pytest.fixture
async def corpus_memory(tmp_path: Path) -> AsyncIterator[SQLiteMemory]:
    async with SQLiteMemory(tmp_path / "fuzz.db") as memory:
        for text in CORPUS:
            await memory.store(text, neuron_id="n")
        yield memory


def words_of(text: str) -> list[str]:
    return [word for word, _ in words(text)]


def contains(words: list[str], term: Term) -> bool:
    if term.prefix:
        return any(w.startswith(term.text) for w in words)
    phrase = term.words
    return any(words[i : i + len(phrase)] == phrase for i in range(len(words)))


@pytest.mark.anyio
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=QUERIES, match=st.sampled_from(["all", "any"]))
async def test_any_query_string_never_raises_and_every_hit_matches(
    corpus_memory: SQLiteMemory, query: str, match: str
) -> None:
    """The fixture's database is only read here, so sharing it between examples is sound."""
    found = await corpus_memory.search(query, match=match, limit=50)  # type: ignore[arg-type]
    wanted = terms(query)
    if not wanted:
        assert found == []
    for entry in found:
        have = words_of(entry.content)
        hits = [contains(have, t) for t in wanted]
        assert all(hits) if match == "all" else any(hits), (query, entry.content)


@given(st.text())
def test_every_term_is_words_as_the_index_stores_them(text: str) -> None:
    """No syntax survives: each term is words that the index's own analyzer gives back unchanged."""
    for term in terms(text):
        for word in term.words:
            assert word
            assert ANALYZER.analyze(word) == [word], (text, term)
