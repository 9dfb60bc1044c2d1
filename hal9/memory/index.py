"""The search index: a tantivy index of the entries, derived from the SQLite store and rebuilt from it.

tantivy ranks with Lucene's BM25 (k1 = 1.2, b = 0.75, document lengths in Lucene's one-byte
encoding) and finds the top matches with block-max WAND, so a search returns the exact BM25
top ``limit`` without scoring every match. Its calls release the GIL: they run in worker
threads, beside the event loop.

Words are indexed in ``content``; each pair of adjacent words also as one term in ``pairs``
(what Elasticsearch's ``index_phrases`` does), so a phrase is a lookup of its pairs: a phrase
of two words is scored as one term of ``pairs``, a longer one as the phrase of its pairs.

Every method here blocks; the service calls them through :func:`anyio.to_thread.run_sync`,
and only one thread uses the writer at a time (the feeder's).
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import shutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, NamedTuple

import tantivy

from hal9.errors import MemoryIndexBusy
from hal9.memory.query import ANALYZER, Term

#: The index's own name for its analyzer (registered on every open).
ANALYZER_NAME = "hal9"
#: Joins two adjacent words into one term of the ``pairs`` field (never part of a word).
PAIR_JOINER = "_"
#: Most words a prefix stands for: the first ones in the index's (alphabetical) order.
MAX_PREFIX_WORDS = 64
#: Of a query whose words are all common, how many of the rarest a search without stop words keeps.
KEPT_WHEN_COMMON = 2
#: A store with fewer entries has no stop words: every word of a query counts.
STOP_WORDS_FROM = 1000
#: The cost of a search whose work is not known before it runs (see :meth:`SearchIndex.plan`).
UNBOUNDED = 1 << 62
#: The writer's indexing memory; a segment is written when it fills.
WRITER_HEAP_BYTES = 32_000_000
#: Written beside the index: which database it was derived from (its ``search_index.identity``), in which format.
IDENTITY_FILE = "hal9-index.json"
#: The index's layout (fields, analyzer); an index in another is rebuilt. Bump it with any change to them.
INDEX_FORMAT = 1


class IndexedEntry(NamedTuple):
    """What the index holds of an entry: its text and the fields a search filters on.

    A tuple in the order of the store's columns, so a row read for the index is one as it is.
    """

    id: int
    neuron_id: str
    kind: str
    content: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Filters:
    """A search's restrictions; None is no restriction."""

    neuron_id: str | None = None
    kind: str | None = None
    since: float | None = None
    until: float | None = None


def index_folder(database: Path) -> Path:
    """Where the search index of a database file lives: beside it, ``<file>.index``."""
    return database.with_name(database.name + ".index")


def pairs(words: Sequence[str]) -> list[str]:
    """Each two adjacent words as one term: ``a b c`` gives ``a_b``, ``b_c``."""
    return [f"{first}{PAIR_JOINER}{second}" for first, second in itertools.pairwise(words)]


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("id", indexed=True, fast=True)
    builder.add_text_field("content", tokenizer_name=ANALYZER_NAME, index_option="freq")
    # Each pair of adjacent words as one term, in order: a phrase is found (and ranked) from its
    # pairs' postings, not by checking the positions of every entry holding all its words.
    builder.add_text_field("pairs", tokenizer_name="whitespace", index_option="position")
    builder.add_text_field("neuron_id", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("kind", tokenizer_name="raw", index_option="basic")
    builder.add_float_field("created_at", indexed=True, fast=True)
    return builder.build()


class SearchIndex:
    """One tantivy index, on disk in ``folder``.

    A lock file beside the folder (``<folder>.lock``) is held from before the folder is looked
    at until :meth:`close`, so two processes never touch one index.

    Args:
        folder: where the index lives; created if missing.
        identity: the database's identity. An index derived from another database, in another
            format, or unreadable is wiped and starts empty: :attr:`created` is then True, and
            the index is trusted by a later open only once :meth:`adopt` has written its marker
            (after the caller has reset the watermark that the store keeps for it).

    Raises:
        MemoryIndexBusy: another process holds the index.
    """

    def __init__(self, folder: Path, identity: str) -> None:
        self.schema = _schema()
        self.created = False
        self._folder = folder
        self._identity = identity
        self._lock = _take_lock(folder.with_name(folder.name + ".lock"))
        try:
            self._index = self._open(folder, identity)
            self._index.register_tokenizer(ANALYZER_NAME, ANALYZER)
            self._writer: tantivy.IndexWriter | None = self._index.writer(WRITER_HEAP_BYTES, 1)
            self._index.reload()
        except BaseException:
            self._lock.close()
            raise

    def _open(self, folder: Path, identity: str) -> tantivy.Index:
        marker = folder / IDENTITY_FILE
        try:
            found = json.loads(marker.read_text())
            same = found["database"] == identity and found["format"] == INDEX_FORMAT
            if same and tantivy.Index.exists(str(folder)):
                return tantivy.Index(self.schema, path=str(folder), reuse=True)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no index, another database's, or damaged: rebuilt from the store
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, mode=0o700)
        self.created = True
        return tantivy.Index(self.schema, path=str(folder), reuse=False)

    def adopt(self) -> None:
        """Write the marker that makes a created index trusted at the next open."""
        marker = self._folder / IDENTITY_FILE
        marker.write_text(json.dumps({"database": self._identity, "format": INDEX_FORMAT}))
        marker.chmod(0o600)

    def _writing(self) -> tantivy.IndexWriter:
        if self._writer is None:
            raise RuntimeError("the search index is closed")
        return self._writer

    def apply(self, added: Sequence[IndexedEntry], deleted: Collection[int], *, above: int | None = None) -> None:
        """Delete entries, add entries, then commit and make them searchable; on failure nothing is kept.

        Args:
            added: entries to add.
            deleted: ids to delete.
            above: also delete every entry with a higher id first (what a crash or a failed
                refresh may have left in the index past the store's watermark), so that adding
                them again leaves one copy.
        """
        writer = self._writing()
        try:
            if above is not None:
                stale = tantivy.Query.range_query(self.schema, "id", tantivy.FieldType.Integer, above + 1, None)
                writer.delete_documents_by_query(stale)
            for entry_id in deleted:
                writer.delete_documents_by_term("id", entry_id)
            for entry in added:
                writer.add_document(
                    tantivy.Document(
                        id=entry.id,
                        content=entry.content,
                        pairs=" ".join(pairs(ANALYZER.analyze(entry.content))),
                        neuron_id=entry.neuron_id,
                        kind=entry.kind,
                        created_at=entry.created_at,
                    )
                )
            writer.commit()
        except BaseException:
            writer.rollback()  # what was added or deleted before the failure is not committed later
            raise
        self._index.reload()

    def clear(self) -> None:
        """Remove every entry (before a rebuild)."""
        writer = self._writing()
        writer.delete_all_documents()
        writer.commit()
        self._index.reload()

    @property
    def size(self) -> int:
        """Entries the index holds (deleted ones no longer count)."""
        return int(self._index.searcher().num_docs)

    def plan(
        self, found: Sequence[Term], match: Literal["all", "any"], common_share: float | None = None
    ) -> tuple[list[Term], int]:
        """The terms a search keeps (an "any" without its stop words) and what it would read.

        What it would read is the postings of its words (a dictionary lookup a word), known before
        it runs; a prefix or a phrase counts as :data:`UNBOUNDED`. Search with the terms it gives
        and no ``common_share``: the stop words are left out already.
        """
        searcher = self._index.searcher()
        kept = list(found)
        if common_share is not None and match == "any":
            kept = _without_common(searcher, kept, common_share)
        total = 0
        for term in kept:
            if term.prefix or " " in term.text:
                return kept, UNBOUNDED
            total += int(searcher.doc_freq("content", term.text))
        return kept, total

    def search(
        self,
        found: Sequence[Term],
        match: Literal["all", "any"],
        filters: Filters,
        limit: int,
        excluded: Collection[int] = (),
        common_share: float | None = None,
    ) -> list[tuple[int, float]]:
        """The best ``limit`` entries for the terms, as ``(id, score)``, highest score first.

        Args:
            found: the query's terms (words, prefixes, phrases).
            match: every term must match, or any one.
            filters: restrictions on the entries' fields; they do not change scores.
            limit: most entries returned.
            excluded: ids to leave out (deleted from the store, not yet from the index).
            common_share: for an "any" search, leave out the words held by more than this share
                of the entries (stop words: they weigh little in BM25 and cost the most to rank),
                keeping at least the :data:`KEPT_WHEN_COMMON` rarest words. None: every term.
        """
        searcher = self._index.searcher()
        if common_share is not None and match == "any":
            found = _without_common(searcher, found, common_share)
        query = self._query(searcher, found, match, filters, excluded)
        if query is None:
            return []
        hits = searcher.search(query, limit, count=False).hits
        if not hits:
            return []
        ids = searcher.fast_field_values("id", [address for _, address in hits])
        ranked = [(int(entry_id or 0), float(score)) for (score, _), entry_id in zip(hits, ids, strict=True)]
        ranked.sort(key=lambda pair: (-pair[1], pair[0]))
        return ranked

    def _query(
        self,
        searcher: tantivy.Searcher,
        found: Sequence[Term],
        match: Literal["all", "any"],
        filters: Filters,
        excluded: Collection[int],
    ) -> tantivy.Query | None:
        parts = [self._term(searcher, term) for term in found]
        if match == "all":
            if any(part is None for part in parts):
                return None  # a prefix no word begins with: nothing holds every term
            text = self._combine([(tantivy.Occur.Must, part) for part in parts if part is not None])
        else:
            should = [(tantivy.Occur.Should, part) for part in parts if part is not None]
            if not should:
                return None
            text = self._combine(should)
        clauses = [(tantivy.Occur.Must, text)]
        for field, value in (("neuron_id", filters.neuron_id), ("kind", filters.kind)):
            if value is not None:
                term = tantivy.Query.term_query(self.schema, field, value, index_option="basic")
                clauses.append((tantivy.Occur.Must, tantivy.Query.const_score_query(term, 0.0)))
        if filters.since is not None or filters.until is not None:
            span = tantivy.Query.range_query(
                self.schema,
                "created_at",
                tantivy.FieldType.Float,
                filters.since,
                filters.until,
                include_upper=filters.until is None,  # an unbounded side must be "inclusive"
            )
            clauses.append((tantivy.Occur.Must, tantivy.Query.const_score_query(span, 0.0)))
        if excluded:
            gone = tantivy.Query.term_set_query(self.schema, "id", sorted(excluded))
            clauses.append((tantivy.Occur.MustNot, gone))
        return text if len(clauses) == 1 else tantivy.Query.boolean_query(clauses)

    @staticmethod
    def _combine(clauses: list[tuple[tantivy.Occur, tantivy.Query]]) -> tantivy.Query:
        return clauses[0][1] if len(clauses) == 1 else tantivy.Query.boolean_query(clauses)

    def _term(self, searcher: tantivy.Searcher, term: Term) -> tantivy.Query | None:
        """A word's, a phrase's or a prefix's query; None for a prefix no indexed word begins with."""
        if term.prefix:
            expanded = searcher.terms_with_prefix("content", term.text, limit=MAX_PREFIX_WORDS)
            if not expanded:
                return None
            queries = [tantivy.Query.term_query(self.schema, "content", word) for word, _ in expanded]
            return self._combine([(tantivy.Occur.Should, query) for query in queries])
        words = term.words
        if len(words) == 1:
            return tantivy.Query.term_query(self.schema, "content", words[0])
        joined = pairs(words)
        if len(joined) == 1:
            return tantivy.Query.term_query(self.schema, "pairs", joined[0])
        in_order: list[str | tuple[int, str]] = list(joined)
        return tantivy.Query.phrase_query(self.schema, "pairs", in_order)

    def close(self) -> None:
        """Let merges finish, release the writer and the index's locks."""
        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                writer.wait_merging_threads()
        finally:
            self._lock.close()


def _without_common(searcher: tantivy.Searcher, found: Sequence[Term], share: float) -> list[Term]:
    """The terms without the words more than ``share`` of the entries hold.

    A store of fewer than :data:`STOP_WORDS_FROM` entries has no stop words, and of words that
    are all common the :data:`KEPT_WHEN_COMMON` rarest stay.
    """
    total = int(searcher.num_docs)
    if total < STOP_WORDS_FROM:
        return list(found)
    words = [term for term in found if not term.prefix and " " not in term.text]
    frequency = {term: searcher.doc_freq("content", term.text) for term in words}
    common = {term for term in words if frequency[term] > share * total}
    if common and len(common) == len([term for term in words if frequency[term] > 0]):
        common -= set(sorted(common, key=lambda term: frequency[term])[:KEPT_WHEN_COMMON])
    return [term for term in found if term not in common]


def _take_lock(path: Path) -> IO[bytes]:
    """An exclusive lock on ``path`` (created, mode 0600), held while the file stays open.

    Raises:
        MemoryIndexBusy: another process holds it.
    """
    handle = open(path, "ab")  # noqa: SIM115 - held open for as long as the index is
    try:
        os.chmod(path, 0o600)
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise MemoryIndexBusy(
            f"the search index {path.with_suffix('')} is in use by another process (a server on the same data folder?)"
        ) from None
    except BaseException:
        handle.close()
        raise
    return handle
