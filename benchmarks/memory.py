"""Memory service: store throughput under many concurrent writers, and search latency and exactness by query class.

Run: ``python -m benchmarks.memory [--entries 100000] [--writers 256] [--store-entries 20000] [--runs 3]``
``[--search-db FILE] [--repeat 3]`` (a 1M-entry file takes minutes to build: keep it with ``--search-db``;
its plain-FTS5 twin is kept beside it as ``FILE-fts5``).

Store: ``--writers`` tasks store ``--store-entries`` entries through ``SQLiteMemory.store``
(group commit: each store returns once its entry is committed), timed until every entry is
also in the search index, against raw ``sqlite3`` inserting the same rows in transactions of
``batch_size`` rows with ``executemany``, on the same schema, journal mode and
``synchronous`` setting, in the same run; and against the same work done by hand: those inserts,
then each row added to a tantivy index committed every 5,000 rows (as the service's feeder does).
Each is measured ``--runs`` times on a fresh file;
the medians and their ratio are printed.

Search: ``--entries`` entries of Zipf-distributed words (exponent 1.07 over a 20,000-word
vocabulary, 20-60 words each) are loaded with raw sqlite3; opening the service builds its
search index from them (timed). Each query class is then timed through ``SQLiteMemory.search``
(top 10) and, as the baseline, through plain FTS5 (``MATCH ... ORDER BY rank LIMIT 10``) on a
twin file with SQLite's own full-text index: p50 and p95 over ``--queries`` queries per class
(each the best of ``--repeat`` runs). Every answer is checked against an exact BM25 top 10
computed by brute force (``benchmarks/_bm25.py``). Each class draws its words from a frequency
band: rare (ranks 10,000-20,000), mid (200-1,000), common (the 5 most frequent: each in most
entries), and2 (a 20-200 word and a 200-2,000 word), prefix (the first 4 letters of a 100-1,000
word, then ``*``), phrase (two adjacent words of a stored entry, in quotes) and any16 (the
distinct words of a stored entry, at most 16, any of them: what a neuron's recall sends), and
recall16, the same queries through ``SQLiteMemory.recall``, which leaves out the words held by
over a quarter of the entries (its reference ranks the same reduced query; its baseline is any16's).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import anyio

from benchmarks._bm25 import Reference, agrees
from benchmarks._common import quiet_logs
from hal9.config import MemoryConfig
from hal9.memory import SQLiteMemory
from hal9.memory.feeder import CHUNK
from hal9.memory.index import IndexedEntry, SearchIndex, index_folder
from hal9.memory.query import Term, terms
from hal9.memory.schema import MIGRATIONS
from hal9.memory.service import READ_MMAP_BYTES, RECALL_COMMON_SHARE

Match = Literal["all", "any"]
#: The class timed through ``SQLiteMemory.recall`` (the any16 queries, as a neuron's recall runs them).
RECALL = "recall16"

SLOW_SECONDS = 0.03
VOCABULARY = 20_000
ZIPF = 1.07
_SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]


def word(rank: int) -> str:
    """A pronounceable, unique word for each frequency rank (0 is the most frequent)."""
    parts = []
    n = rank
    while True:
        parts.append(_SYLLABLES[n % len(_SYLLABLES)])
        n //= len(_SYLLABLES)
        if n == 0:
            break
    return "".join(parts) + ("" if rank % 3 else "n")


WORDS = [word(r) for r in range(VOCABULARY)]


def corpus(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    weights = [1 / (r + 1) ** ZIPF for r in range(VOCABULARY)]
    cumulative = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    lengths = [rng.randint(20, 60) for _ in range(count)]
    drawn = rng.choices(WORDS, cum_weights=cumulative, k=sum(lengths))
    texts, at = [], 0
    for length in lengths:
        texts.append(" ".join(drawn[at : at + length]))
        at += length
    return texts


def create_schema(path: Path, synchronous: str, migrations: tuple[str, ...] = MIGRATIONS) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA synchronous = {synchronous}")
    for migration in migrations:
        connection.executescript(f"BEGIN; {migration}; COMMIT;")
    connection.execute(f"PRAGMA user_version = {len(migrations)}")
    return connection


def raw_insert(connection: sqlite3.Connection, texts: list[str], batch: int, first_id: int = 1) -> None:
    now = time.time()
    for start in range(0, len(texts), batch):
        rows = [
            (first_id + i, f"n{i % 8}", "L2", "result", text, "{}", 0.5, now, now)
            for i, text in enumerate(texts[start : start + batch], start)
        ]
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO entries (id, neuron_id, layer, kind, content, metadata, importance, created_at,"
            " last_accessed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        connection.execute("COMMIT")


async def memory_store(path: Path, texts: list[str], writers: int, settings: MemoryConfig) -> tuple[float, int]:
    async with SQLiteMemory(path, settings) as memory:
        it = iter(enumerate(texts))

        async def writer() -> None:
            for i, text in it:
                await memory.store(text, neuron_id=f"n{i % 8}", kind="result", layer="L2")

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(writers):
                tg.start_soon(writer)
        await memory.wait_searchable()  # stored and indexed: what a store really costs
        elapsed = time.perf_counter() - started
        return elapsed, memory.commits


def raw_insert_indexed(connection: sqlite3.Connection, texts: list[str], batch: int, index: SearchIndex) -> None:
    """The same work by hand: batched inserts, and each row added to a tantivy index committed every CHUNK rows."""
    raw_insert(connection, texts, batch)
    now = time.time()
    for start in range(0, len(texts), CHUNK):
        index.apply(
            [
                IndexedEntry(i + 1, f"n{i % 8}", "result", text, now)
                for i, text in enumerate(texts[start : start + CHUNK], start)
            ],
            (),
        )


def bench_store(args: argparse.Namespace, folder: Path) -> None:
    texts = corpus(args.store_entries, seed=11)
    settings = MemoryConfig(synchronous=args.synchronous, batch_size=args.batch)
    ours, raw, by_hand, commits = [], [], [], []
    for run in range(args.runs):
        path = folder / f"store-raw-{run}.db"
        connection = create_schema(path, args.synchronous)
        started = time.perf_counter()
        raw_insert(connection, texts, args.batch)
        raw.append(len(texts) / (time.perf_counter() - started))
        connection.close()
        path = folder / f"store-hand-{run}.db"
        connection = create_schema(path, args.synchronous)
        index = SearchIndex(index_folder(path), "benchmark")
        started = time.perf_counter()
        raw_insert_indexed(connection, texts, args.batch, index)
        by_hand.append(len(texts) / (time.perf_counter() - started))
        index.close()
        connection.close()
        elapsed, n_commits = anyio.run(memory_store, folder / f"store-ours-{run}.db", texts, args.writers, settings)
        ours.append(len(texts) / elapsed)
        commits.append(n_commits)
    print(f"store: {args.store_entries} entries, {args.writers} writers, synchronous={args.synchronous}")
    print(f"  raw sqlite3 executemany, {args.batch} rows/commit: {statistics.median(raw):10.0f} entries/s")
    print(f"  the same, and a tantivy index by hand:         {statistics.median(by_hand):10.0f} entries/s")
    print(
        f"  SQLiteMemory.store (group commit, indexed):    {statistics.median(ours):10.0f} entries/s"
        f"  ({statistics.median(commits):.0f} commits)"
    )
    print(f"store_ratio={statistics.median(raw) / statistics.median(ours):.2f}  (raw sqlite3 / ours)")
    print(
        f"store_ratio_indexed={statistics.median(by_hand) / statistics.median(ours):.2f}"
        "  (sqlite3 and tantivy by hand / ours)"
    )


def query_classes(rng: random.Random, count: int) -> dict[str, list[tuple[str, Match]]]:
    def band(low: int, high: int) -> list[str]:
        return [WORDS[rng.randrange(low, high)] for _ in range(count)]

    def phrase() -> str:
        # Two adjacent words of a stored entry (the first load chunk uses seed 0).
        words = rng.choice(sample).split()
        at = rng.randrange(len(words) - 1)
        return f'"{words[at]} {words[at + 1]}"'

    def recall() -> str:
        # What a neuron's recall sends: the words of a request (here a stored entry), any of them.
        return " ".join(dict.fromkeys(rng.choice(sample).split()))

    sample = corpus(2_000, seed=0)
    every: dict[str, list[str]] = {
        "rare": band(10_000, 20_000),
        "mid": band(200, 1_000),
        "common": band(0, 5),
        "and2": [f"{a} {b}" for a, b in zip(band(20, 200), band(200, 2_000), strict=True)],
        "prefix": [w[:4] + "*" for w in band(100, 1_000)],
        "phrase": [phrase() for _ in range(count)],
    }
    classes: dict[str, list[tuple[str, Match]]] = {name: [(q, "all") for q in items] for name, items in every.items()}
    classes["any16"] = [(recall(), "any") for _ in range(count)]
    # The same queries as a neuron's recall runs them: without the words in over a quarter of the entries.
    classes[RECALL] = list(classes["any16"])
    return classes


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


Timed = dict[str, list[tuple[float, list[tuple[int, float]]]]]


async def time_ours(path: Path, queries: dict[str, list[tuple[str, Match]]], repeat: int) -> tuple[Timed, float]:
    """Each query through ``SQLiteMemory.search``; and how long opening took (building the index if new)."""
    out: Timed = {}
    started = time.perf_counter()
    async with SQLiteMemory(path) as memory:
        opened = time.perf_counter() - started
        await memory.search(next(iter(queries.values()))[0][0])  # warm the page cache
        for name, items in queries.items():
            timed = []
            for q, match in items:
                best, found = float("inf"), []
                for attempt in range(repeat):
                    started = time.perf_counter()
                    if name == RECALL:
                        found = await memory.recall(q, trace_id=f"{name}-{len(timed)}-{attempt}", limit=10)
                    else:
                        found = await memory.search(q, limit=10, match=match)
                    best = min(best, time.perf_counter() - started)
                timed.append((best, [(entry.id, entry.score or 0.0) for entry in found]))
            out[name] = timed
    return out, opened


def time_fts5(path: Path, queries: dict[str, list[tuple[str, Match]]], repeat: int) -> dict[str, list[float]]:
    """The baseline: plain FTS5 (``MATCH ... ORDER BY rank LIMIT 10``), SQLite's own full-text search."""
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA mmap_size = {READ_MMAP_BYTES}")
    out: dict[str, list[float]] = {}
    for name, items in queries.items():
        if name == RECALL:
            continue  # the same queries as any16
        timed = []
        for q, match in items:
            found = terms(q)
            joiner = " " if match == "all" else " OR "
            expression = joiner.join(f'"{t.text}"' + ("*" if t.prefix else "") for t in found)
            best = float("inf")
            for _ in range(repeat):
                started = time.perf_counter()
                connection.execute(
                    "SELECT rowid FROM entries_fts WHERE entries_fts MATCH ? ORDER BY rank LIMIT 10", (expression,)
                ).fetchall()
                best = min(best, time.perf_counter() - started)
                if best > SLOW_SECONDS:  # a query of common words: once is enough
                    break
            timed.append(best)
        out[name] = timed
    connection.close()
    return out


def build_file(path: Path, entries: int, migrations: tuple[str, ...]) -> None:
    started = time.perf_counter()
    connection = create_schema(path, "NORMAL", migrations)
    chunk = 50_000
    for first in range(0, entries, chunk):
        raw_insert(connection, corpus(min(chunk, entries - first), seed=first), 1_000, first_id=first + 1)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    print(f"search: {entries} entries loaded in {time.perf_counter() - started:.1f}s into {path}")


def reference_of(entries: int) -> Reference:
    started = time.perf_counter()
    reference = Reference()
    chunk = 50_000
    for first in range(0, entries, chunk):
        texts = corpus(min(chunk, entries - first), seed=first)
        reference.add_all(enumerate(texts, first + 1))
    print(f"search: exact BM25 reference (brute force) built in {time.perf_counter() - started:.1f}s")
    return reference


def bench_search(args: argparse.Namespace, folder: Path) -> None:
    path = args.search_db or folder / "search.db"
    if not path.exists():
        build_file(path, args.entries, MIGRATIONS)
    with sqlite3.connect(path) as connection:
        (count,) = connection.execute("SELECT count(*) FROM entries").fetchone()
    baseline = path.with_name(path.stem + "-fts5" + path.suffix)
    if not baseline.exists():
        build_file(baseline, count, MIGRATIONS[:1])  # schema 1: entries with an FTS5 index
    print(f"search: {count} entries, top 10 by BM25, best of {args.repeat} per query")
    queries = query_classes(random.Random(3), args.queries)
    if args.classes:
        queries = {name: items for name, items in queries.items() if name in args.classes.split(",")}
    ours, opened = anyio.run(time_ours, path, queries, args.repeat)
    print(f"  opened in {opened:.1f}s (the search index is built from the store the first time)")
    fts5 = time_fts5(baseline, queries, args.repeat)
    reference = reference_of(count)
    ms: Callable[[float], str] = lambda s: f"{s * 1000:8.2f}"  # noqa: E731 - a local formatter
    print(
        f"  {'class':8} {'ours p50':>9} {'ours p95':>9} {'fts5 p50':>9} {'fts5 p95':>9} {'p95 ratio':>9}"
        "   (ms; ratio = ours / plain FTS5)   agree: top 10 = exact BM25's (brute force)"
    )
    for name, items in queries.items():
        ours_t = [t for t, _ in ours[name]]
        base_t = fts5.get(name) or fts5.get("any16")
        agree = sum(
            1
            for (q, match), (_, found) in zip(items, ours[name], strict=True)
            if agrees(found, reference.top(expected_terms(reference, q, name), match))
        )
        base = f" {ms(percentile(base_t, 0.5))} {ms(percentile(base_t, 0.95))}" if base_t else " " * 18
        ratio = f"{percentile(ours_t, 0.95) / percentile(base_t, 0.95):9.2f}" if base_t else " " * 9
        print(
            f"  {name:8} {ms(percentile(ours_t, 0.5))} {ms(percentile(ours_t, 0.95))}{base} {ratio}"
            f"   agree {agree}/{len(items)}"
        )


def expected_terms(reference: Reference, query: str, name: str) -> list[Term]:
    """The terms the reference ranks by: the query's, or for recall, without the stop words."""
    found = terms(query)
    return reference.without_common(found, RECALL_COMMON_SHARE) if name == RECALL else found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=100_000, help="entries for the search benchmark")
    parser.add_argument("--store-entries", type=int, default=20_000)
    parser.add_argument("--writers", type=int, default=256)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queries", type=int, default=50, help="queries per class")
    parser.add_argument("--synchronous", choices=["full", "normal"], default="full")
    parser.add_argument("--skip-store", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument(
        "--search-db", type=Path, help="the search benchmark's file: reused if it exists, else built there and kept"
    )
    parser.add_argument("--repeat", type=int, default=1, help="time each query this many times, keep the best")
    parser.add_argument("--classes", help="only these query classes, comma-separated (e.g. any16,common)")
    args = parser.parse_args()
    quiet_logs()
    with tempfile.TemporaryDirectory(prefix="hal9-bench-") as tmp:
        if not args.skip_store:
            bench_store(args, Path(tmp))
        if not args.skip_search:
            bench_search(args, Path(tmp))


if __name__ == "__main__":
    main()
