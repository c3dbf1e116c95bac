"""PubMed publications in the store: save parsed records, read them back as CONTRACT shapes.

``save_publications`` takes the ``vocab.records.Publication`` records of
``crawler.pubmed_parse`` (articles and Bookshelf chapters alike) and stores a batch in
two steps, the one save path: ``prepare_rows`` (the CPU part: row values, compression;
``crawler.parse_worker`` runs it in the parsing processes) and ``save_rows`` (SQL only, one
transaction with ``executemany``: the benchmark's end-to-end rate depends on it): an
upsert keyed by PMID that leaves an unchanged record (same ``record_hash``) untouched, the
topic that found it, its corrections, the trials it cites (``trial_links`` source
"databank" / "abstract"), and ``pubmed_queue.fetched_at``.  The raw record is kept
compressed in ``publication_raw`` (``db.raw_codec``: zstd with a PubMed dictionary; older
zlib rows stay readable) so a better parser can re-derive fields later without crawling
again; ``raw_xml`` gives back the bytes PubMed sent.  A row stores ``abstract_sections``
as offsets into its abstract (``encode_sections``) and the detail JSON columns compressed
when long (``db.detail_codec``); other readers of those columns go through
``decode_sections`` / ``decode_json`` / ``decode_author_details`` (older rows, stored
plainly, read the same way).

Reading: ``read_publications`` (PMIDs) and ``get_publication_record`` return Publications
(with ``topics``, the linked ``nct_ids`` and every correction link), in a constant number
of statements per page; ``publication_json`` is their JSON shape.  ``get_publication``
(PMID, PMC id, NBK accession or DOI), ``iter_publications`` (export) and
``search_publications`` (FTS5, newest first, used by ``db.search``) return that JSON shape.

JSON shape: CONTRACT's publication keys (``kind`` is "publication" for every PubMed record,
books included, so every consumer of the contract keeps working), plus ``record_type``
("article", "book_chapter", "book"), ``book`` (null or the ``vocab.records.Book`` fields:
``accession``, ``url`` (Bookshelf), ``book_title``, ``publisher``, ``publisher_location``,
``editors``, ``editor_details``, ``book_authors``, ``location_label``, ``volume``,
``edition``, ``collection_title``, ``isbn``, ``contribution_date``, ``sections``), ``nbk``,
``create_date``, ``late_arrival``, ``pubmed_history``, ``author_details``, ``other_ids``,
``other_abstracts``, ``corrections`` (the correction-like links with a plain-word
``label``) and ``comments_corrections`` (every link, any RefType).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import asdict, is_dataclass
from typing import Iterable, Iterator

import orjson

from litwatch.db import detail_codec, raw_codec
from litwatch.db.connection import transaction
from litwatch.vocab import ids
from litwatch.vocab.corrections import CORRECTION_LABELS
from litwatch.vocab.errors import QueryError
from litwatch.vocab.records import Author, Book, Correction, Publication
from litwatch.vocab.times import utcnow

JSON_COLUMNS = (
    "authors", "publication_types", "mesh", "keywords", "abstract_sections", "pubmed_history",
    "author_details", "other_ids", "other_abstracts",
)
BOOL_COLUMNS = ("retracted", "late_arrival")
# Read only with the whole record, never in SQL: stored zstd-compressed when long
# (``db.detail_codec``; the value's type, TEXT or BLOB, says which).
DETAIL_COLUMNS = ("author_details", "pubmed_history", "other_ids", "other_abstracts", "book")
COLUMNS = (
    "pmid", "title", "abstract", "abstract_sections", "journal", "journal_abbrev", "pub_date",
    "pub_date_text", "entrez_date", "doi", "pmcid", "pii", "authors", "publication_types", "mesh",
    "keywords", "language", "medline_status", "date_revised", "retracted", "record_hash",
    "record_type", "create_date", "late_arrival", "pubmed_history", "nbk", "book",
    "author_details", "other_ids", "other_abstracts",
)
# save_stream's writer: WAL pages between checkpoints, page cache (negative: KiB).
BULK_CHECKPOINT_PAGES = 10_000
BULK_CACHE_KIB = -65_536
# SQLite's default limit on host parameters is 999 in old builds: stay well below it.
IN_CHUNK = 500

# Rows go first into a TEMP staging table, then into ``publications`` with ONE
# INSERT … SELECT.  The FTS triggers still keep publications_fts current, but FTS5 then
# flushes its pending index once per batch instead of once per row (per statement): a 2.5x
# faster save (see bench/bench_pubmed.py).  ``WHERE true`` is SQLite's way to tell an
# upsert's ON CONFLICT from a join constraint after a SELECT.
_STAGE = "temp.publications_stage"
_STAGE_SQL = (
    f"CREATE TEMP TABLE IF NOT EXISTS publications_stage "
    f"({', '.join(COLUMNS)}, first_seen_at, updated_at)"
)
_STAGE_INSERT_SQL = f"INSERT INTO {_STAGE} VALUES ({', '.join('?' for _ in COLUMNS)}, ?, ?)"
_UPSERT_SQL = (
    f"INSERT INTO publications ({', '.join(COLUMNS)}, first_seen_at, updated_at) "
    f"SELECT {', '.join(COLUMNS)}, first_seen_at, updated_at FROM {_STAGE} WHERE true ORDER BY rowid "
    "ON CONFLICT(pmid) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "pmid")
    + ", updated_at = excluded.updated_at"
)


def _chunks(items: list, size: int = IN_CHUNK):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def stored_hashes(db, pmids: Iterable[str]) -> dict[str, str]:
    """{pmid: record_hash} for the PMIDs already stored (as hex text, however stored)."""
    out: dict[str, str] = {}
    for chunk in _chunks(list(dict.fromkeys(str(p) for p in pmids))):
        marks = ",".join("?" * len(chunk))
        rows = db.execute(f"SELECT pmid, record_hash FROM publications WHERE pmid IN ({marks})", chunk).fetchall()
        out.update((pmid, h.hex() if isinstance(h, bytes) else h) for pmid, h in rows)
    return out


def encode_hash(record_hash: str | None) -> str | bytes | None:
    """``record_hash`` as stored: a SHA-1 in hex (40 characters) as its 20 bytes, anything else
    as it is.  Rows written before hold the hex text; ``stored_hashes`` reads both as hex, so
    change detection against them is unchanged."""
    if record_hash and len(record_hash) == 40:
        try:
            data = bytes.fromhex(record_hash)
        except ValueError:
            return record_hash
        if data.hex() == record_hash:  # lower-case hex only: the text comes back the same
            return data
    return record_hash


def known_pmids(db, pmids: Iterable[str]) -> set[str]:
    """The subset of ``pmids`` already stored."""
    return set(stored_hashes(db, pmids))


# Compact JSON, UTF-8 as is: a row's nine JSON columns are a large share of both the
# store's CPU time and its bytes (json.loads reads either spelling, so old rows are fine).
# orjson writes the same text as ``json`` with these settings (tests/test_storage_format.py
# compares them) at a sixth of the cost (~30 us a record), and writes the vocab
# dataclasses (Author, Book) field by field without ``asdict``'s deep copy.
_json_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _encode(value) -> str:
    try:
        return orjson.dumps(value).decode()
    except (orjson.JSONEncodeError, TypeError):  # a lone surrogate or an integer over 64 bits
        return _json_encode(_plain(value))


def _plain(value):
    """A value ``json`` can write: dataclasses (a Book, a list of Authors) as dicts."""
    if is_dataclass(value):
        return asdict(value)
    if isinstance(value, list) and value and is_dataclass(value[0]):
        return [asdict(v) for v in value]
    return value


def _json(value) -> str:
    if not value:
        return "{}" if isinstance(value, dict) else "[]"
    return _encode(value)


def _book_json(book: Book | None) -> str | None:
    return None if book is None else _encode(book)


def encode_sections(sections: list[dict], abstract: str | None) -> str:
    """``abstract_sections`` as stored: each section's label, category and where its text
    lies in the stored abstract (``[[label, category, start, end], ...]``, character
    offsets), so the text is not stored twice (it was ~1.2 KB a row, a quarter of it).
    The abstract is the sections joined (``crawler.pubmed_parse``); should a section's
    text ever not be found there, the sections are stored whole, as before."""
    if not sections:
        return "[]"
    if abstract:
        spans, at = [], 0
        for section in sections:
            text = section.get("text")
            start = abstract.find(text, at) if isinstance(text, str) else -1
            if start < 0:
                break
            at = start + len(text)
            spans.append([section.get("label"), section.get("category"), start, at])
        else:
            if _spans_to_sections(spans, abstract) == sections:
                return _encode(spans)
    return _json(sections)


def _spans_to_sections(spans: list, abstract: str) -> list[dict]:
    return [{"label": label, "category": category, "text": abstract[start:end]}
            for label, category, start, end in spans]


def decode_sections(value: str | None, abstract: str | None) -> list[dict]:
    """The sections (``[{"label", "category", "text"}]``) from a stored ``abstract_sections``
    and the row's ``abstract``, whichever way the row was written."""
    data = orjson.loads(value) if value else []
    if data and isinstance(data[0], list):
        return _spans_to_sections(data, abstract or "")
    return data


def decode_json(value: str | bytes | None, empty=None):
    """A stored JSON column's value (a detail column may be a zstd frame), ``empty`` for none."""
    text = detail_codec.unpack(value)
    # orjson: a whole record's nine JSON columns cost a third of an export in json.loads.
    return orjson.loads(text) if text else empty


def decode_author_details(value: str | bytes | None) -> list[Author]:
    """The stored ``author_details`` as Authors, whichever way the row was written."""
    return [Author(**a) for a in decode_json(value, [])]


def detail_texts(rec: Publication) -> list[str]:
    """The JSON of a record's detail columns before compression (what their dictionary is
    trained on: ``bench/train_zstd_dict.py``)."""
    texts = [_json(getattr(rec, col)) for col in DETAIL_COLUMNS if col != "book"]
    book = _book_json(rec.book)
    return texts + ([book] if book else [])


def splice_texts(title: str | None, sections: list[dict], affiliations: Iterable[str | None]) -> list[str | None]:
    """The texts of a row its raw record is stored without (``db.raw_splice``), in the
    order the record has them: the title, each abstract section, each author's first
    affiliation.  Written from the record's fields, read back from the row's
    (``raw_from_row``): the same strings, since the row stores them as they are."""
    return [title, *(s.get("text") for s in sections), *affiliations]


def _record_splice_texts(rec: Publication) -> list[str | None]:
    return splice_texts(rec.title, rec.abstract_sections, (a.affiliation for a in rec.author_details))


def raw_from_row(blob: bytes, codec: str | None, title: str | None, abstract: str | None,
                 abstract_sections: str | None, author_details: str | bytes | None) -> bytes:
    """A stored raw record's bytes, with the texts of its row put back where it was stored
    without them (``raw_codec.ZSTD_ROW``); the row's values as stored."""
    if codec != raw_codec.ZSTD_ROW:
        return raw_codec.decompress(blob, codec)
    affiliations = (a.get("affiliation") for a in decode_json(author_details, []))
    texts = splice_texts(title, decode_sections(abstract_sections, abstract), affiliations)
    return raw_codec.decompress(blob, codec, texts)


# The columns ``raw_from_row`` needs, for a SELECT joining publication_raw r to publications p.
RAW_SELECT = "r.raw_xml, r.codec, p.title, p.abstract, p.abstract_sections, p.author_details"


def _column_expression(col: str) -> str:
    """How ``_row`` computes one column from the record ``r`` (Python source)."""
    if col == "abstract_sections":
        value = "encode_sections(r.abstract_sections, r.abstract)"
    elif col == "record_hash":
        value = "encode_hash(r.record_hash)"
    elif col in JSON_COLUMNS:
        value = f"_json(r.{col})"
    elif col in BOOL_COLUMNS:
        value = f"(1 if r.{col} else 0)"
    elif col == "book":
        value = "_book_json(r.book)"
    else:
        return f"r.{col}"
    if col in DETAIL_COLUMNS:
        pack = "detail_codec.pack"
        return f"(None if (v := {value}) is None else {pack}(v))" if col == "book" else f"{pack}({value})"
    return value


def _row_function():
    """``_row``: one function compiled from ``COLUMNS`` that builds the whole tuple in one
    expression (a loop over the columns testing each one's kind cost ~10 us a record)."""
    source = "def _row(r):\n    return (" + ", ".join(_column_expression(c) for c in COLUMNS) + ",)\n"
    scope: dict = {}
    # This module's globals: the helpers are looked up when called, as in any function here.
    exec(compile(source, "<db.publications._row>", "exec"), globals(), scope)
    return scope["_row"]


# Publication -> the row values, in ``COLUMNS`` order (JSON columns encoded, detail columns packed).
_row = _row_function()


# A record ready for ``save_rows``: plain values only, so a batch pickles small and fast
# from a parsing process (``crawler.parse_worker``) and the writer runs SQL only:
# (pmid, record_hash, row values (``COLUMNS``), raw blob, raw codec,
#  corrections ((ref_type, other_pmid or "", note or ""), ...), databank NCTs, abstract NCTs)
ROW_PMID, ROW_HASH = 0, 1


def prepare_rows(records: Iterable[Publication]) -> list[tuple]:
    """Publications -> rows for ``save_rows`` (the CPU part of storing: row values with their
    JSON, and the raw records compressed in one GIL-free call for the whole batch)."""
    records = [r for r in records if r.pmid]
    with_raw = [r for r in records if r.raw_xml is not None]
    blobs = iter(raw_codec.compress_many([r.raw_xml for r in with_raw], [_record_splice_texts(r) for r in with_raw]))
    out = []
    for rec in records:
        blob, codec = next(blobs) if rec.raw_xml is not None else (None, None)
        corrections = tuple((c.ref_type, c.other_pmid or "", c.note or "") for c in rec.corrections)
        out.append((rec.pmid, rec.record_hash, _row(rec), blob, codec, corrections,
                    tuple(rec.databank_nct_ids), tuple(rec.abstract_nct_ids)))
    return out


class RowBatch:
    """A batch of ``prepare_rows`` rows carried through the crawl's item pipelines as one
    opaque value (its strings are clean already: the text pipeline need not walk them)."""

    __slots__ = ("rows",)

    def __init__(self, rows: list[tuple]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __reduce__(self):
        return (RowBatch, (self.rows,))


def save_publications(db, records: Iterable[Publication], topic: str | None = None, *, now: str | None = None) -> Counter:
    """Store parsed records in one transaction; returns counts new / updated / unchanged
    (``prepare_rows`` then ``save_rows``: the one save path)."""
    return save_rows(db, prepare_rows(records), topic, now=now)


def save_rows(db, rows: Iterable[tuple], topic: str | None = None, *, now: str | None = None) -> Counter:
    """Store prepared rows (``prepare_rows``) in one transaction: SQL only.

    A record whose ``record_hash`` equals the stored one is not rewritten (no FTS churn);
    its topic link and queue entry are still recorded.  A PMID twice in a batch counts once.
    """
    rows = list(rows)
    counts: Counter = Counter()
    if not rows:
        return counts
    now = now or utcnow()
    existing = stored_hashes(db, [r[0] for r in rows])
    new_values, values, raw_rows, topic_rows, correction_rows, link_rows = [], [], [], [], [], []
    rewritten_without_raw: list[str] = []
    seen: set[str] = set()
    for pmid, record_hash, row, blob, codec, corrections, databank, abstract in rows:
        if pmid in seen:
            continue
        seen.add(pmid)
        old = existing.get(pmid)
        if old is None:
            counts["new"] += 1
        elif old != record_hash:
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
        if old != record_hash:
            (new_values if old is None else values).append(row + (now, now))
            if blob is not None:
                raw_rows.append((pmid, blob, codec))
            elif old is not None:
                rewritten_without_raw.append(pmid)
        if topic:
            topic_rows.append((pmid, topic, now))
        for ref_type, other, note in corrections:
            correction_rows.append((pmid, ref_type, other, note, now))
        for nct in databank:
            link_rows.append((nct, pmid, "databank", now))
        for nct in abstract:
            link_rows.append((nct, pmid, "abstract", now))
    pmids = [(p,) for p in seen]
    from litwatch.db import page_fill  # writers only: a search does not import it

    page_size = db.conn.execute("PRAGMA page_size").fetchone()[0]
    # New rows (appended) and raw records (INSERT OR REPLACE appends) in the order that
    # fills pages (``db.page_fill``); an updated row is rewritten where it is.
    values = page_fill.fill_order(new_values, page_size) + values
    raw_rows = page_fill.fill_order(raw_rows, page_size)
    with transaction(db):
        if rewritten_without_raw:
            _store_raws_whole(db.conn, rewritten_without_raw)
        if values:
            db.conn.execute(_STAGE_SQL)
            db.conn.executemany(_STAGE_INSERT_SQL, values)
            db.conn.execute(_UPSERT_SQL)
            db.conn.execute(f"DELETE FROM {_STAGE}")
        db.conn.executemany("INSERT OR REPLACE INTO publication_raw (pmid, raw_xml, codec) VALUES (?, ?, ?)", raw_rows)
        db.conn.executemany("INSERT OR IGNORE INTO publication_topics (pmid, topic, first_seen_at) VALUES (?, ?, ?)", topic_rows)
        db.conn.executemany(
            "INSERT OR IGNORE INTO corrections (pmid, ref_type, other_pmid, note, first_seen_at) VALUES (?, ?, ?, ?, ?)",
            correction_rows,
        )
        db.conn.executemany(
            "INSERT OR IGNORE INTO trial_links (nct_id, pmid, source, ref_type, first_seen_at) VALUES (?, ?, ?, NULL, ?)",
            link_rows,
        )
        # Queue and quarantine are usually empty: one look saves a statement per record.
        if db.conn.execute("SELECT 1 FROM pubmed_queue WHERE fetched_at IS NULL LIMIT 1").fetchone():
            db.conn.executemany(
                "UPDATE pubmed_queue SET fetched_at = ?, error = NULL WHERE pmid = ? AND fetched_at IS NULL",
                [(now, p) for (p,) in pmids],
            )
        if db.conn.execute("SELECT 1 FROM quarantine WHERE source = 'pubmed' LIMIT 1").fetchone():
            db.conn.executemany("DELETE FROM quarantine WHERE source = 'pubmed' AND key = ?", pmids)
    return counts


def _store_raws_whole(conn, pmids: list[str]) -> None:
    """Raw records stored without their row's texts, re-stored whole: their rows are about to
    be rewritten from a record that came without raw XML (never from a crawl), and would no
    longer hold the texts to put back."""
    for chunk in _chunks(pmids):
        rows = conn.execute(f"SELECT r.pmid, {RAW_SELECT} FROM publication_raw r JOIN publications p ON p.pmid = r.pmid "
                            f"WHERE r.codec = ? AND r.pmid IN ({','.join('?' * len(chunk))})",
                            [raw_codec.ZSTD_ROW, *chunk]).fetchall()
        conn.executemany("UPDATE publication_raw SET raw_xml = ?, codec = ? WHERE pmid = ?",
                         [(*raw_codec.compress(raw_from_row(*row)), pmid) for pmid, *row in rows])


def tune_for_bulk(db) -> None:
    """A connection that stores many records (a crawl's store, a bulk load): checkpoint
    every 40 MB of WAL instead of 4 MB (each checkpoint syncs the database file: with the
    default, nearly every 500-record batch paid one) and keep 64 MB of pages cached, so the
    index pages an insert touches on a big database stay in memory.  All for this
    connection only; WAL + synchronous=NORMAL as everywhere (db.connection says why)."""
    db.execute(f"PRAGMA wal_autocheckpoint = {BULK_CHECKPOINT_PAGES}")
    db.execute(f"PRAGMA cache_size = {BULK_CACHE_KIB}")
    # The staging table (``_STAGE``) in memory, not in a temporary file: ~10 % less CPU a row.
    db.execute("PRAGMA temp_store = MEMORY")


def bulk_writer(db):
    """A connection of its own to ``db``'s file, ``tune_for_bulk``-ed."""
    from litwatch.db.connection import open_db

    path = db.execute("PRAGMA database_list").fetchone()[2]
    conn = open_db(path, migrate=False)
    tune_for_bulk(conn)
    return conn


def save_stream(db, items: Iterable, topic: str | None = None, *, batch_size: int = 500) -> Counter:
    """Bulk load: store a stream (a backfill, a re-parse, the benchmark); returns the counts.

    ``items`` are ``prepare_rows`` rows, lists or ``RowBatch``es of them (what
    ``crawler.parse_worker.prepared`` yields: parsed, row-built and compressed in other
    processes, so this process runs SQL only), or Publications (prepared here, batch by
    batch).  Anything else is a record that could not be read: counted as ``errors``.
    Batches of ``batch_size`` are written in one transaction each on a bulk connection
    (``bulk_writer``); memory stays flat whatever the stream's length.
    """
    conn = bulk_writer(db)
    counts: Counter = Counter()
    pending: list = []
    publications: list[Publication] = []

    def flush() -> None:
        if publications:
            pending.extend(prepare_rows(publications))
            publications.clear()
        if pending:
            counts.update(save_rows(conn, pending, topic))
            pending.clear()

    try:
        for item in items:
            if isinstance(item, (RowBatch, list)):
                pending.extend(item)
            elif isinstance(item, tuple):
                pending.append(item)
            elif isinstance(item, Publication):
                publications.append(item)
            else:
                counts["errors"] += 1
                continue
            if len(pending) + len(publications) >= batch_size:
                flush()
        flush()
    finally:
        conn.conn.close()
    return counts


def delete_publications(db, pmids: Iterable[str]) -> int:
    """Remove stored publications with their raw record, topics, corrections and trial links
    (the FTS index follows by its trigger); returns how many publications went.  Used to
    undo a benchmark's ingest into a shared database."""
    keys = list(dict.fromkeys(str(p) for p in pmids))
    gone = 0
    with transaction(db):
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            for table in ("publication_raw", "publication_topics", "corrections", "trial_links"):
                db.conn.execute(f"DELETE FROM {table} WHERE pmid IN ({marks})", chunk)
            gone += db.conn.execute(f"DELETE FROM publications WHERE pmid IN ({marks})", chunk).rowcount
    return gone


def add_topic(db, pmids: Iterable[str], topic: str) -> None:
    """Record that ``topic`` found these (already stored) PMIDs."""
    now = utcnow()
    with transaction(db):
        db.conn.executemany(
            "INSERT OR IGNORE INTO publication_topics (pmid, topic, first_seen_at) VALUES (?, ?, ?)",
            [(p, topic, now) for p in pmids],
        )


def link_trial(db, nct_id: str, pmids: Iterable[str], source: str = "si_search") -> int:
    """Link a trial to papers (e.g. PubMed's ``NCT…[si]`` answer); returns links added."""
    now = utcnow()
    with transaction(db):
        cur = db.conn.executemany(
            "INSERT OR IGNORE INTO trial_links (nct_id, pmid, source, ref_type, first_seen_at) VALUES (?, ?, ?, NULL, ?)",
            [(nct_id, p, source, now) for p in pmids],
        )
    return cur.rowcount


def mark_queue_stored(db, pmids: Iterable[str]) -> None:
    """Queued PMIDs that turned out to be stored already."""
    now = utcnow()
    with transaction(db):
        db.conn.executemany(
            "UPDATE pubmed_queue SET fetched_at = ?, error = NULL WHERE pmid = ? AND fetched_at IS NULL",
            [(now, p) for p in pmids],
        )


def mark_queue_missing(db, pmids: Iterable[str], error: str) -> None:
    """Queued PMIDs PubMed did not return: count the attempt, keep the reason."""
    with transaction(db):
        db.conn.executemany(
            "UPDATE pubmed_queue SET attempts = COALESCE(attempts, 0) + 1, error = ? WHERE pmid = ? AND fetched_at IS NULL",
            [(error, p) for p in pmids],
        )


def queue_pending(db, max_attempts: int) -> list[str]:
    """Queued PMIDs not stored yet and not given up on (tried fewer than ``max_attempts``)."""
    return [
        r[0]
        for r in db.execute(
            "SELECT pmid FROM pubmed_queue WHERE fetched_at IS NULL AND COALESCE(attempts, 0) < ? ORDER BY added_at, pmid",
            [max_attempts],
        )
    ]


def enqueue(db, pmids: Iterable[str], reason: str) -> None:
    """Queue PMIDs for the next crawl (e.g. ids efetch did not return this time)."""
    now = utcnow()
    with transaction(db):
        db.conn.executemany(
            "INSERT OR IGNORE INTO pubmed_queue (pmid, reason, added_at, attempts) VALUES (?, ?, ?, 0)",
            [(p, reason, now) for p in pmids],
        )


# ------------------------------------------------------------------- reading
_READ_COLUMNS = COLUMNS + ("first_seen_at", "updated_at")
_SELECT = f"SELECT {', '.join(_READ_COLUMNS)} FROM publications"


def _book(value: str | bytes | None) -> Book | None:
    data = decode_json(value)
    if not data:
        return None
    data["editor_details"] = [Author(**a) for a in data.get("editor_details") or []]
    return Book(**data)


def _from_row(row: dict) -> Publication:
    values = {}
    for col in _READ_COLUMNS:
        value = row.get(col)
        if col == "abstract_sections":
            value = decode_sections(value, row.get("abstract"))
        elif col == "author_details":
            value = decode_author_details(value)
        elif col in JSON_COLUMNS:
            value = decode_json(value, {} if col == "pubmed_history" else [])
        elif col in BOOL_COLUMNS:
            value = bool(value)
        elif col == "book":
            value = _book(value)
        elif col == "record_hash" and isinstance(value, bytes):
            value = value.hex()
        values[col] = value
    values["record_type"] = values["record_type"] or "article"
    values["nct_ids"] = []
    return Publication(**values)


def _in_chunks(db, sql: str, keys: list[str]) -> Iterator[tuple]:
    """Rows of ``sql`` (with one ``{marks}`` IN list) for ``keys``, IN_CHUNK at a time."""
    for chunk in _chunks(keys):
        yield from db.execute(sql.format(marks=",".join("?" * len(chunk))), chunk).fetchall()


def _complete(db, pubs: list[Publication]) -> list[Publication]:
    """Topics, linked trials and correction links for a page of records: 3 statements a chunk."""
    by_pmid = {p.pmid: p for p in pubs}
    keys = list(by_pmid)
    for pmid, topic in _in_chunks(db, "SELECT pmid, topic FROM publication_topics WHERE pmid IN ({marks}) ORDER BY topic", keys):
        by_pmid[pmid].topics.append(topic)
    for pmid, nct in _in_chunks(db, "SELECT DISTINCT pmid, nct_id FROM trial_links WHERE pmid IN ({marks}) ORDER BY nct_id", keys):
        by_pmid[pmid].nct_ids.append(nct)
    sql = "SELECT pmid, ref_type, other_pmid, note FROM corrections WHERE pmid IN ({marks}) ORDER BY ref_type, other_pmid, note"
    for pmid, ref_type, other, note in _in_chunks(db, sql, keys):
        by_pmid[pmid].corrections.append(Correction(ref_type, other or None, note or None))
    return pubs


def _rows(db, sql: str, params=()) -> list[dict]:
    cur = db.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, values)) for values in cur]


def read_publications(db, pmids: Iterable[str]) -> list[Publication]:
    """The stored Publications for these PMIDs, in the order asked (unknown ones left out)."""
    keys = list(dict.fromkeys(str(p) for p in pmids))
    found: dict[str, Publication] = {}
    for chunk in _chunks(keys):
        marks = ",".join("?" * len(chunk))
        for row in _rows(db, f"{_SELECT} WHERE pmid IN ({marks})", chunk):
            found[row["pmid"]] = _from_row(row)
    return _complete(db, [found[p] for p in keys if p in found])


_LOOKUP = {"pmid": "pmid = ?", "pmcid": "pmcid = ?", "nbk": "nbk = ?", "doi": "lower(doi) = ?"}


def get_publication_record(db, ident: str) -> Publication | None:
    """One Publication by PMID, PMC id (any case), Bookshelf NBK accession or DOI (any spelling)."""
    found = ids.identify(ident)
    if found is None or found[0] not in _LOOKUP:
        return None
    kind, value = found
    rows = _rows(db, f"{_SELECT} WHERE {_LOOKUP[kind]} LIMIT 1", [value.lower() if kind == "doi" else value])
    return _complete(db, [_from_row(rows[0])])[0] if rows else None


def _flat(record) -> dict:
    """A flat record (Author, Book) as a dict: ``dataclasses.asdict`` deep-copies every
    value, which made it the largest cost of an export."""
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def publication_json(pub: Publication) -> dict:
    """A Publication as CONTRACT's JSON shape plus the keys beyond it (module docstring)."""
    links = [{"ref_type": c.ref_type, "pmid": c.other_pmid, "note": c.note} for c in pub.corrections]
    return {
        "kind": "publication",
        "pmid": pub.pmid,
        "title": pub.title,
        "abstract": pub.abstract,
        "journal": pub.journal,
        "pub_date": pub.pub_date,
        "entrez_date": pub.entrez_date,
        "doi": pub.doi,
        "pmcid": pub.pmcid,
        "authors": list(pub.authors),
        "publication_types": list(pub.publication_types),
        "mesh": list(pub.mesh),
        "nct_ids": list(pub.nct_ids),
        "topics": list(pub.topics),
        "retracted": bool(pub.retracted),
        "url": ids.pubmed_url(pub.pmid),
        # Beyond CONTRACT's keys (allowed: "add to it freely").
        "record_type": pub.record_type,
        "book": _flat(pub.book) if pub.book is not None else None,
        "nbk": pub.nbk,
        "journal_abbrev": pub.journal_abbrev,
        "pub_date_text": pub.pub_date_text,
        "create_date": pub.create_date,
        "late_arrival": bool(pub.late_arrival),
        "pubmed_history": dict(pub.pubmed_history),
        "pii": pub.pii,
        "other_ids": list(pub.other_ids),
        "author_details": [_flat(a) for a in pub.author_details],
        "keywords": list(pub.keywords),
        "other_abstracts": list(pub.other_abstracts),
        "language": pub.language,
        "corrections": [dict(link, label=CORRECTION_LABELS[link["ref_type"]]) for link in links
                        if link["ref_type"] in CORRECTION_LABELS],
        "comments_corrections": links,
        "first_seen_at": pub.first_seen_at,
    }


def get_publication(db, ident: str) -> dict | None:
    """One publication's JSON shape by PMID, PMC id, NBK accession or DOI (bare, ``doi:``, a doi.org URL)."""
    pub = get_publication_record(db, ident)
    return publication_json(pub) if pub is not None else None


def iter_publications(db, since: str | None = None, *, page: int = IN_CHUNK) -> Iterator[dict]:
    """Every stored publication (or those first seen on/after ``since``), by PMID, a page at a time."""
    for rowids in publication_rowids_by_pmid(db, since, page=page):
        yield from publications_by_rowids(db, rowids)


def publication_rowids_by_pmid(db, since: str | None = None, *, page: int = IN_CHUNK) -> Iterator[list[int]]:
    """The rowids of the stored publications (or those first seen on/after ``since``) in PMID
    order, a page at a time.  Only the rowids are sorted (sorting a million whole rows made
    SQLite spill gigabytes to temporary files); ``publications_by_rowids`` reads the rows."""
    where, params = ("WHERE first_seen_at >= ?", [since]) if since else ("", [])
    order = db.execute(f"SELECT rowid FROM publications {where} ORDER BY CAST(pmid AS INTEGER)", params)
    while rowids := [r[0] for r in order.fetchmany(page)]:
        yield rowids


def publications_by_rowids(db, rowids: list[int]) -> list[dict]:
    """The JSON shapes (``publication_json``) of these publications, in the order given."""
    select = _SELECT.replace("SELECT ", "SELECT rowid AS _rowid, ", 1)
    rows: dict[int, dict] = {}
    for chunk in _chunks(rowids):
        for row in _rows(db, f"{select} WHERE rowid IN ({','.join('?' * len(chunk))})", chunk):
            rows[row.pop("_rowid")] = row
    return [publication_json(pub) for pub in _complete(db, [_from_row(rows[i]) for i in rowids if i in rows])]


# The flat CSV view of a publication (``export --format csv``): CONTRACT's keys, then the
# flat extras of ``publication_json``, read by SQLite in one pass so a million rows stream
# at the speed of the table.  tests/test_export_tabular.py checks each cell against
# publication_json.
#
# The list columns (``FLAT_LISTS``) come as stored, a JSON array of strings, and
# ``join_list`` makes the cell ("a; b").  When the array has no backslash (no escaped
# character: the common case) its elements are exactly the text between the separators
# (compact '","' or the older spaced '", "'; a quote inside an element would be escaped),
# so two string replaces join it; otherwise it is decoded.  In Python this costs ~0.5 us a
# cell; the same CASE/substr/replace in SQL cost ~1.6 us (each reference to the column
# reads it again), a fifth of the CSV export's time at a million rows.
FLAT_LISTS = ("authors", "publication_types", "mesh", "keywords")
FLAT_COLUMNS = (
    ("kind", "'publication'"), ("pmid", "p.pmid"), ("title", "p.title"), ("abstract", "p.abstract"),
    ("journal", "p.journal"), ("pub_date", "p.pub_date"), ("entrez_date", "p.entrez_date"), ("doi", "p.doi"),
    ("pmcid", "p.pmcid"), ("authors", "p.authors"),
    ("publication_types", "p.publication_types"), ("mesh", "p.mesh"),
    # (EXISTS first: most papers link no trial, and the DISTINCT needs a temporary b-tree.)
    ("nct_ids", "(CASE WHEN EXISTS (SELECT 1 FROM trial_links l WHERE l.pmid = p.pmid) THEN "
                "(SELECT group_concat(nct_id, '; ') FROM (SELECT DISTINCT nct_id FROM trial_links l "
                "WHERE l.pmid = p.pmid ORDER BY nct_id)) END)"),
    ("topics", "(SELECT group_concat(topic, '; ') FROM (SELECT topic FROM publication_topics t "
               "WHERE t.pmid = p.pmid ORDER BY topic))"),
    ("retracted", "p.retracted"), ("url", "'https://pubmed.ncbi.nlm.nih.gov/' || p.pmid || '/'"),
    ("record_type", "p.record_type"), ("nbk", "p.nbk"), ("journal_abbrev", "p.journal_abbrev"),
    ("pub_date_text", "p.pub_date_text"), ("create_date", "p.create_date"), ("late_arrival", "p.late_arrival"),
    ("pii", "p.pii"), ("keywords", "p.keywords"), ("language", "p.language"),
    ("first_seen_at", "p.first_seen_at"),
)
_FLAT_LIST_AT = tuple(i for i, (name, _) in enumerate(FLAT_COLUMNS) if name in FLAT_LISTS)


def join_list(stored: str | None) -> str | None:
    """A stored JSON list of strings as one flat cell, "a; b" (None for none or empty)."""
    if not stored or stored == "[]":
        return None
    if "\\" not in stored and stored.startswith('["'):
        joined = stored[2:-2].replace('", "', "; ").replace('","', "; ")
        if '"' not in joined:  # else an element was not a string (a quote in one is escaped)
            return joined
    values = [v if isinstance(v, str) else orjson.dumps(v).decode() for v in orjson.loads(stored) if v is not None]
    return "; ".join(values) if values else None


def iter_publication_table(db, since: str | None = None, *, page: int = 1000,
                           rowids: tuple[int, int] | None = None, joined: bool = True) -> Iterator[tuple]:
    """The flat view (``FLAT_COLUMNS``) of every publication, in stored order, as tuples;
    with ``rowids`` (lo, hi), only the rows with lo <= rowid < hi (``publication_rowid_span``).
    ``joined=False`` leaves the list columns as stored, for a caller that joins them as it
    writes each cell (``join_list``: the CSV export, which saves a tuple a row)."""
    sql = f"SELECT {', '.join(expr for _, expr in FLAT_COLUMNS)} FROM publications p"
    where, params = [], []
    if since:
        where.append("p.first_seen_at >= ?")
        params.append(since)
    if rowids is not None:
        where.append("p.rowid >= ? AND p.rowid < ?")
        params += list(rowids)
    if where:
        sql += " WHERE " + " AND ".join(where)
    cur = db.execute(sql + " ORDER BY p.rowid", params)
    while rows := cur.fetchmany(page):
        if not joined:
            yield from rows
            continue
        for row in rows:
            row = list(row)
            for i in _FLAT_LIST_AT:
                row[i] = join_list(row[i])
            yield tuple(row)


def publication_rowid_span(db) -> tuple[int, int]:
    """(lowest rowid, highest rowid + 1) of the stored publications ((0, 0) when none): the
    range a parallel export splits into pieces."""
    lo, hi = db.execute("SELECT min(rowid), max(rowid) FROM publications").fetchone()
    return (lo, hi + 1) if lo is not None else (0, 0)


def search_publications(
    db, fts_query: str, *, since: str | None = None, pub_type: str | None = None, topic: str | None = None, limit: int = 20
) -> list[tuple[str, dict]]:
    """(first_seen_at, shape) pairs for the newest ``limit`` matches, newest first.

    Newest first is the order a watch is read in, and the only one that stays fast at a
    million records: FTS5 walks its index in rowid order (the order litwatch stored the
    records) and stops at ``limit``, so "the" costs what a rare word costs.  Ranking by
    bm25 would score every match first (a second for the commonest words at 1M).
    ``since`` compares the PubMed entry date (the first-seen date when there is none);
    ``pub_type`` is a publication type, case-insensitive; ``topic`` a topic name.
    """
    sql = (
        "SELECT p.pmid FROM publications_fts f JOIN publications p ON p.rowid = f.rowid "
        "WHERE publications_fts MATCH ?"
    )
    params: list = [fts_query]
    if since:
        sql += " AND COALESCE(p.entrez_date, substr(p.first_seen_at, 1, 10)) >= ?"
        params.append(since)
    if pub_type:
        sql += " AND EXISTS (SELECT 1 FROM json_each(p.publication_types) WHERE lower(json_each.value) = lower(?))"
        params.append(pub_type.strip())
    if topic:
        sql += " AND EXISTS (SELECT 1 FROM publication_topics t WHERE t.pmid = p.pmid AND t.topic = ?)"
        params.append(topic)
    sql += " ORDER BY f.rowid DESC LIMIT ?"
    params.append(limit)
    try:
        pmids = [row[0] for row in db.execute(sql, params).fetchall()]
    except sqlite3.OperationalError as exc:
        raise QueryError(f"search query not understood ({exc}): use words and \"quoted phrases\"") from None
    return [(pub.first_seen_at or "", publication_json(pub)) for pub in read_publications(db, pmids)]


def count_publications(db, fts_query: str, *, cap: int) -> int:
    """How many publications match, counting no further than ``cap + 1`` (shown "more than cap")."""
    sql = "SELECT count(*) FROM (SELECT rowid FROM publications_fts WHERE publications_fts MATCH ? LIMIT ?)"
    try:
        return db.execute(sql, [fts_query, cap + 1]).fetchone()[0]
    except sqlite3.OperationalError as exc:
        raise QueryError(f"search query not understood ({exc}): use words and \"quoted phrases\"") from None


def raw_xml(db, pmid: str) -> bytes | None:
    """The stored record exactly as PubMed sent it (decompressed, whichever codec wrote it)."""
    row = db.execute(f"SELECT {RAW_SELECT} FROM publication_raw r LEFT JOIN publications p ON p.pmid = r.pmid "
                     "WHERE r.pmid = ?", [pmid]).fetchone()
    return raw_from_row(*row) if row and row[0] else None
