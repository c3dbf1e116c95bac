"""The storage format of issue 14.5: smaller rows, the same records read back.

New rows keep ``abstract_sections`` as offsets over the stored abstract, the detail JSON
columns (author details, history, other ids/abstracts, book) as zstd frames when long,
``record_hash`` as its 20 bytes, and raw records as zstd level 3 frames with the 192 KB
``pubmed-2`` dictionary, without the texts their row holds (``db.raw_splice``: codec
``zstd+row``); a new database file has 2 KB pages.  Everything the read path and the
exports return must be what the format before gave, and databases written by the code
before must read the same: ``tests/data/main-format.db.gz`` (sections with their texts,
plain detail JSON, ``pubmed-1`` raw frames) and ``tests/data/whole-raw-format.db.gz``
(whole raw records, hex ``record_hash``, 4 KB pages), both made by that code's own writer
with ``tests/data/make_main_format_db.py``.
"""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import zstandard
from conftest import PUBMED_FIXTURES

from litwatch.crawler.pubmed_parse import parse_pubmed
from litwatch.db import (
    connection,
    detail_codec,
    digest_queries,
    export_reads,
    open_db,
    publications,
    raw_codec,
    raw_splice,
)
from litwatch.vocab.records import Publication

OLD_DB = Path(__file__).parent / "data" / "main-format.db.gz"
WHOLE_RAW_DB = Path(__file__).parent / "data" / "whole-raw-format.db.gz"
NOW = "2026-11-30T12:00:00Z"  # what make_main_format_db.py stored with


def recorded() -> list[Publication]:
    files = sorted((PUBMED_FIXTURES / "efetch").glob("*.xml")) + sorted((PUBMED_FIXTURES / "derived").glob("*.xml"))
    files += [PUBMED_FIXTURES / "pubmed1.xml", PUBMED_FIXTURES / "pubmed2.xml"]
    recs = [r for path in files for r in parse_pubmed(path.read_bytes()) if isinstance(r, Publication)]
    return list({r.pmid: r for r in recs}.values())


def old_db(tmp_path, source: Path = OLD_DB) -> Path:
    path = tmp_path / f"old-{source.name}.db"
    with gzip.open(source) as src, open(path, "wb") as out:
        shutil.copyfileobj(src, out)
    return path


def stored(db, pmid: str, col: str):
    return db.execute(f"SELECT {col} FROM publications WHERE pmid = ?", [pmid]).fetchone()[0]


def test_sections_are_stored_as_offsets_and_read_back_exactly(db):
    recs = recorded()
    publications.save_publications(db, recs, topic="t")
    back = {p.pmid: p for p in publications.read_publications(db, [r.pmid for r in recs])}
    with_sections = [r for r in recs if r.abstract_sections]
    assert len(with_sections) > 40
    for rec in with_sections:
        assert back[rec.pmid].abstract_sections == rec.abstract_sections, rec.pmid
        spans = json.loads(stored(db, rec.pmid, "abstract_sections"))
        assert all(isinstance(s, list) and len(s) == 4 for s in spans), rec.pmid  # no text stored twice
    details = digest_queries.publication_details(db, [r.pmid for r in with_sections])
    assert all(details[r.pmid]["abstract_sections"] == r.abstract_sections for r in with_sections)


def test_sections_not_found_in_the_abstract_are_stored_whole(db):
    rec = recorded()[0]
    rec.abstract = "Something else entirely."
    rec.abstract_sections = [{"label": "AIMS", "category": "OBJECTIVE", "text": "Not in the abstract."},
                             {"label": None, "category": None, "text": ""}]
    assert json.loads(publications.encode_sections(rec.abstract_sections, rec.abstract)) == rec.abstract_sections
    assert publications.encode_sections([], None) == "[]"
    publications.save_publications(db, [rec])
    assert publications.read_publications(db, [rec.pmid])[0].abstract_sections == rec.abstract_sections


def test_long_detail_columns_are_zstd_frames_short_ones_text(db):
    recs = recorded()
    publications.save_publications(db, recs)
    kinds = dict(db.execute("SELECT pmid, typeof(author_details) FROM publications").fetchall())
    for rec in recs:
        text = publications.detail_texts(rec)[0]  # author_details as plain JSON
        assert kinds[rec.pmid] == ("blob" if len(text.encode()) >= detail_codec.MIN_BYTES else "text"), rec.pmid
        value = stored(db, rec.pmid, "author_details")
        assert detail_codec.unpack(value) == text
        if isinstance(value, bytes):
            dict_id = zstandard.get_frame_parameters(value).dict_id
            assert dict_id in raw_codec.dictionaries() and len(value) < len(text.encode()) / 2
    book = next(r for r in recs if r.book is not None)
    assert publications.read_publications(db, [book.pmid])[0].book == book.book


def test_the_read_path_and_exports_give_what_the_plain_format_gave(db_path, tmp_path, monkeypatch):
    """Same records stored twice, the plain JSON way (every column text, sections whole) and
    the current way: every shape a reader gets is identical."""
    recs = recorded()
    pmids = [r.pmid for r in recs]
    new = open_db(db_path)
    publications.save_publications(new, recs, topic="t", now=NOW)
    monkeypatch.setattr(publications, "encode_sections", lambda sections, abstract: publications._json(sections))
    monkeypatch.setattr(detail_codec, "pack", lambda text: text)
    plain = open_db(tmp_path / "plain.db")
    publications.save_publications(plain, recs, topic="t", now=NOW)
    monkeypatch.undo()
    assert {t for (t,) in plain.execute("SELECT DISTINCT typeof(author_details) FROM publications")} == {"text"}
    assert list(publications.iter_publications(new)) == list(publications.iter_publications(plain))
    assert publications.read_publications(new, pmids) == publications.read_publications(plain, pmids)
    assert digest_queries.publication_details(new, pmids) == digest_queries.publication_details(plain, pmids)
    # The table export goes in stored order, and rows of one batch are stored in the order
    # that fills pages (db.page_fill): the two encodings' row sizes differ.
    by_pmid = lambda rows: sorted(rows, key=lambda row: row[1])  # noqa: E731
    assert by_pmid(publications.iter_publication_table(new)) == by_pmid(publications.iter_publication_table(plain))


def test_a_database_written_before_reads_the_same(tmp_path, db_path):
    """tests/data/main-format.db.gz was written by main's own code (zstd 2 + pubmed-1 raw
    frames, sections with texts, plain detail JSON); it opens, migrates and reads exactly as
    the same records stored now."""
    old = open_db(old_db(tmp_path))
    pmids = [r[0] for r in old.execute("SELECT pmid FROM publications ORDER BY pmid")]
    assert len(pmids) == 9
    assert {t for (t,) in old.execute("SELECT DISTINCT typeof(author_details) FROM publications")} == {"text"}
    recs = [r for r in recorded() if r.pmid in pmids]
    new = open_db(db_path)
    publications.save_publications(new, recs, topic="old-format", now=NOW)
    assert [publications.get_publication(old, p) for p in pmids] == [publications.get_publication(new, p) for p in pmids]
    assert list(publications.iter_publications(old)) == list(publications.iter_publications(new))
    assert digest_queries.publication_details(old, pmids) == digest_queries.publication_details(new, pmids)
    for rec in recs:
        assert publications.read_publications(old, [rec.pmid])[0].abstract_sections == rec.abstract_sections
        assert publications.raw_xml(old, rec.pmid) == rec.raw_xml == publications.raw_xml(new, rec.pmid)
    old_ids = {zstandard.get_frame_parameters(b).dict_id for (b,) in old.execute("SELECT raw_xml FROM publication_raw")}
    new_ids = {zstandard.get_frame_parameters(b).dict_id for (b,) in new.execute("SELECT raw_xml FROM publication_raw")}
    assert old_ids != new_ids and old_ids | new_ids <= set(raw_codec.dictionaries())


def test_an_old_row_is_rewritten_in_the_new_format_only_when_pubmed_revises_it(tmp_path):
    db = open_db(old_db(tmp_path))
    recs = {r.pmid: r for r in recorded()}
    revised, kept = recs["38534005"], recs["29226023"]
    revised.record_hash = "revised"
    counts = publications.save_publications(db, [revised, kept])
    assert counts == {"updated": 1, "unchanged": 1}
    assert stored(db, revised.pmid, "typeof(author_details)") == "blob"
    assert stored(db, kept.pmid, "typeof(author_details)") == "text"
    for rec in (revised, kept):
        assert publications.read_publications(db, [rec.pmid])[0].author_details == rec.author_details
        assert publications.raw_xml(db, rec.pmid) == rec.raw_xml


def test_raw_frames_carry_the_dictionary_id_and_come_back_byte_for_byte():
    raws = [r.raw_xml for r in recorded()]
    blobs = raw_codec.compress_many(raws)
    current = zstandard.ZstdCompressionDict((raw_codec.DICT_DIR / raw_codec.CURRENT_DICT).read_bytes()).dict_id()
    assert {zstandard.get_frame_parameters(b).dict_id for b, _ in blobs} == {current}
    assert [raw_codec.decompress(b, c) for b, c in blobs] == raws
    assert sum(len(b) for b, _ in blobs) < sum(map(len, raws)) / 3


def test_a_detail_frame_from_an_unknown_dictionary_is_a_clear_error():
    other = zstandard.train_dictionary(1024, [b'{"a":%d,"b":"xyz"}' % i * 20 for i in range(200)])
    blob = zstandard.ZstdCompressor(dict_data=other).compress(b'{"a":1}' * 30)
    with pytest.raises(ValueError, match="does not ship"):
        publications.decode_author_details(blob)


def test_json_columns_are_the_text_the_json_module_writes():
    """orjson writes the JSON columns (a sixth of the cost); the text must be what
    ``json`` with compact separators and UTF-8 wrote before, for every recorded record
    (books and their editors among them) and for text no recording has."""
    from dataclasses import asdict

    spelled = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    recs = recorded()
    assert any(r.book for r in recs)
    for rec in recs:
        for col in publications.JSON_COLUMNS:
            value = getattr(rec, col)
            records = isinstance(value, list) and value and hasattr(value[0], "__dataclass_fields__")
            plain = [asdict(v) for v in value] if records else value
            assert publications._json(value) == (spelled(plain) if value else publications._json(value)), (rec.pmid, col)
        if rec.book:
            assert publications._book_json(rec.book) == spelled(asdict(rec.book)), rec.pmid
    odd = ["", "\u2028\u2029\ufeff", "tab\there \"quoted\" \\ back", "ctl \x01\x1f\x7f", "😀 \U0010ffff",
           "lone \ud800 surrogate", 2 ** 70]
    for text in odd:
        assert publications._encode([text, {"k": text, "n": None}]) == spelled([text, {"k": text, "n": None}])


# --- raw records without their row's texts (db.raw_splice) -------------------------------

def raw_rows(db) -> dict[str, tuple]:
    sql = f"SELECT r.pmid, r.codec, {publications.RAW_SELECT} FROM publication_raw r JOIN publications p USING (pmid)"
    return {pmid: (codec, row) for pmid, codec, *row in db.execute(sql)}


def test_raw_records_are_stored_without_their_rows_texts_and_read_back_byte_for_byte(db):
    recs = recorded()
    publications.save_publications(db, recs, topic="t")
    stored = raw_rows(db)
    spliced = [r for r in recs if stored[r.pmid][0] == raw_codec.ZSTD_ROW]
    assert len(spliced) >= len(recs) - 2  # every record with a title or abstract found in it
    for rec in recs:
        assert publications.raw_xml(db, rec.pmid) == rec.raw_xml, rec.pmid
    by_export = export_reads.raw_publication_records(db, [r.pmid for r in recs])
    assert by_export == {r.pmid: r.raw_xml for r in recs}
    for rec in spliced:
        body = raw_codec.zstd_decompress(stored[rec.pmid][1][0])
        assert rec.title.encode() not in body and raw_splice.MARK in body, rec.pmid
    whole = sum(len(b) for b, _ in raw_codec.compress_many([r.raw_xml for r in spliced]))
    assert sum(len(stored[r.pmid][1][0]) for r in spliced) < 0.95 * whole


def test_texts_written_as_character_references_are_cut_out_too():
    raw = b"<PubmedArticle><ArticleTitle>TGF-&#x3b2; and &#x3b1;1-microglobulin</ArticleTitle></PubmedArticle>"
    texts = ["TGF-\u03b2 and \u03b11-microglobulin"]
    data = raw_splice.splice(raw, texts)
    assert data is not None and b"microglobulin" not in data
    assert raw_splice.unsplice(data, texts) == raw
    assert raw_splice.splice(raw, ["lone \ud800 surrogate, in no record"]) is None


def test_every_recording_comes_back_byte_for_byte_whatever_texts_are_cut():
    """``splice`` no longer rebuilds each record to check itself (~20 us a record): the
    round trip holds by construction, for each recording with its row's texts, with texts
    out of order, repeated, overlapping, absent or holding a NUL, and with many texts."""
    for rec in recorded():
        texts = publications._record_splice_texts(rec)
        present = [t for t in texts if t]
        variants = [
            texts,
            list(reversed(texts)),  # out of order: only what comes after the last cut is found
            present + present,  # each text twice: the second finds nothing left after the first
            [t[: len(t) // 2] for t in present] + present,  # prefixes, then the whole texts
            [None, "", "short", "Not in any record, this one"] + texts,
            [(t[:10] + "\0" + t[10:]) if t else t for t in texts],  # edited by hand: never cut
            [t[i : i + 12] for t in present for i in range(0, len(t), 12)][:300],  # past MAX_TEXTS
        ]
        for variant in variants:
            data = raw_splice.splice(rec.raw_xml, variant)
            if data is not None:
                assert raw_splice.unsplice(data, variant) == rec.raw_xml, rec.pmid
                assert len(data) < len(rec.raw_xml) + 4


def test_a_record_holding_none_of_its_texts_is_stored_whole():
    raw = b"<PubmedArticle><ArticleTitle>Something</ArticleTitle></PubmedArticle>"
    assert raw_splice.splice(raw, ["Not in the record at all", None, ""]) is None
    assert raw_splice.splice(raw.replace(b"Something", b"Some\0thing"), ["Something else"]) is None
    assert raw_codec.compress(raw, ["Not in the record at all"])[1] == raw_codec.ZSTD
    blob, codec = raw_codec.compress(raw, ["<ArticleTitle>Something"])
    assert codec == raw_codec.ZSTD_ROW
    with pytest.raises(ValueError, match="read it with its row"):
        raw_codec.decompress(blob, codec)


def test_a_title_edited_by_hand_is_a_clear_error_not_a_wrong_record(db):
    rec = next(r for r in recorded() if r.abstract_sections)
    publications.save_publications(db, [rec])
    db.execute("UPDATE publications SET title = 'Edited in SQL' WHERE pmid = ?", [rec.pmid])
    with pytest.raises(raw_splice.SpliceMismatch, match="differ"):
        publications.raw_xml(db, rec.pmid)


def test_a_row_rewritten_without_raw_xml_keeps_its_stored_record_readable(db):
    rec = next(r for r in recorded() if r.abstract_sections)
    publications.save_publications(db, [rec])
    assert raw_rows(db)[rec.pmid][0] == raw_codec.ZSTD_ROW
    changed = replace(rec, raw_xml=None, record_hash="changed", title="A new title")
    assert publications.save_publications(db, [changed]) == {"updated": 1}
    assert raw_rows(db)[rec.pmid][0] == raw_codec.ZSTD
    assert publications.raw_xml(db, rec.pmid) == rec.raw_xml


def test_record_hash_is_stored_as_its_20_bytes_and_read_as_hex(db):
    recs = recorded()[:5]
    publications.save_publications(db, recs)
    assert {t for (t,) in db.execute("SELECT DISTINCT typeof(record_hash) FROM publications")} == {"blob"}
    assert publications.stored_hashes(db, [r.pmid for r in recs]) == {r.pmid: r.record_hash for r in recs}
    assert [p.record_hash for p in publications.read_publications(db, [r.pmid for r in recs])] == \
        [r.record_hash for r in recs]
    assert publications.save_publications(db, recs) == {"unchanged": 5}
    assert publications.encode_hash("revised") == "revised" and publications.encode_hash("A" * 40) == "A" * 40


def test_a_new_database_has_small_pages_an_existing_one_keeps_its_own(tmp_path, db_path):
    assert open_db(db_path).execute("PRAGMA page_size").fetchone()[0] == connection.NEW_DB_PAGE_SIZE == 2048
    old = open_db(old_db(tmp_path, WHOLE_RAW_DB))
    assert old.execute("PRAGMA page_size").fetchone()[0] == 4096


def test_a_database_with_whole_raw_records_reads_the_same_and_detects_changes(tmp_path, db_path):
    """tests/data/whole-raw-format.db.gz: written by the code before raw records lost their
    row's texts (whole ``zstd`` frames, hex ``record_hash``, 4 KB pages)."""
    old = open_db(old_db(tmp_path, WHOLE_RAW_DB))
    pmids = [r[0] for r in old.execute("SELECT pmid FROM publications ORDER BY pmid")]
    assert {c for (c,) in old.execute("SELECT DISTINCT codec FROM publication_raw")} == {raw_codec.ZSTD}
    recs = [r for r in recorded() if r.pmid in pmids]
    new = open_db(db_path)
    publications.save_publications(new, recs, topic="old-format", now=NOW)
    assert list(publications.iter_publications(old)) == list(publications.iter_publications(new))
    assert sorted(publications.iter_publication_table(old)) == sorted(publications.iter_publication_table(new))
    assert export_reads.raw_publication_records(old, pmids) == export_reads.raw_publication_records(new, pmids) \
        == {r.pmid: r.raw_xml for r in recs}
    # Hex hashes written before still say "unchanged"; a revised record is rewritten in the new format.
    revised = next(r for r in recs if r.abstract_sections)
    revised.record_hash = "0" * 40
    counts = publications.save_publications(old, recs)
    assert counts == {"unchanged": len(recs) - 1, "updated": 1}
    assert raw_rows(old)[revised.pmid][0] == raw_codec.ZSTD_ROW
    assert publications.raw_xml(old, revised.pmid) == revised.raw_xml


@pytest.mark.parametrize("which", ["written before", "new"])
def test_lookups_use_the_leaner_indexes(tmp_path, db_path, which):
    """Migration 006: no plain index on doi (DOIs are looked up by lower(doi)), partial
    indexes on pmcid and nbk; every look-up a user makes still goes through an index."""
    db = open_db(old_db(tmp_path) if which == "written before" else db_path)
    indexes = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'publications'"))
    assert "idx_publications_doi" not in indexes and "idx_publications_lower_doi" in indexes
    assert indexes["idx_publications_pmcid"].endswith("WHERE pmcid IS NOT NULL")
    assert indexes["idx_publications_nbk"].endswith("WHERE nbk IS NOT NULL")
    for kind, where in publications._LOOKUP.items():
        plan = " ".join(r[3] for r in db.execute(f"EXPLAIN QUERY PLAN SELECT pmid FROM publications WHERE {where}", ["x"]))
        assert "USING" in plan and "INDEX" in plan, (kind, plan)
    if which == "written before":
        pmid = db.execute("SELECT pmid FROM publications WHERE pmcid IS NOT NULL LIMIT 1").fetchone()[0]
        pmcid, doi = db.execute("SELECT pmcid, doi FROM publications WHERE pmid = ?", [pmid]).fetchone()
        assert publications.get_publication(db, pmcid)["pmid"] == pmid
        assert publications.get_publication(db, doi.upper())["pmid"] == pmid


def test_link_tables_become_without_rowid_with_every_row_and_key(tmp_path, db_path):
    """Migration 007 on a database written before: publication_topics and corrections keep
    every row and their declared foreign keys, stored once in their key's b-tree."""
    import sqlite3

    path = old_db(tmp_path)
    tables = ("publication_topics", "corrections")
    with sqlite3.connect(path) as conn:
        before = {t: sorted(conn.execute(f"SELECT * FROM {t}")) for t in tables}
    assert before["corrections"] and before["publication_topics"]
    for db in (open_db(path), open_db(db_path)):
        for table in tables:
            sql = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
            assert sql.endswith("WITHOUT ROWID"), table
            assert ("pmid", "publications", "pmid") in {(f.column, f.other_table, f.other_column) for f in db[table].foreign_keys}
        assert not db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_autoindex_corrections%'").fetchall()
    old = open_db(path)
    assert {t: sorted(old.execute(f"SELECT * FROM {t}").fetchall()) for t in tables} == before
    rec = recorded()[0]
    publications.save_publications(old, [replace(rec, pmid="99999999")], topic="after")
    assert old.execute("SELECT topic FROM publication_topics WHERE pmid = '99999999'").fetchall() == [("after",)]


def test_a_link_table_rebuild_cut_short_is_done_again(tmp_path):
    """A crash between migration 007's CREATE of the new table and its commit leaves the
    new table behind (SQLite commits a lone DDL statement by itself); the next open
    rebuilds from the old table again and loses nothing."""
    import sqlite3

    path = old_db(tmp_path)
    with sqlite3.connect(path) as conn:
        before = sorted(conn.execute("SELECT * FROM publication_topics"))
        conn.execute("CREATE TABLE publication_topics_new (pmid TEXT, topic TEXT, first_seen_at TEXT)")
        conn.execute("INSERT INTO publication_topics_new VALUES ('1', 'half', 'x')")
    db = open_db(path)
    assert sorted(db.execute("SELECT * FROM publication_topics").fetchall()) == before
    assert "publication_topics_new" not in db.table_names()
