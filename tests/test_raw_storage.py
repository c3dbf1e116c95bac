"""Raw PubMed records in the store: zstd with the shipped dictionary, byte for byte, old zlib rows readable."""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict

import pytest
from conftest import PUBMED_FIXTURES

from litwatch.crawler.pubmed_parse import parse_pubmed
from litwatch.db import open_db, publications, raw_codec
from litwatch.db.migrations import publications as pub_migrations
from litwatch.vocab.records import Author, Publication


def recorded() -> list[Publication]:
    """Every recorded and derived PubMed record, parsed the way a crawl parses them."""
    files = sorted((PUBMED_FIXTURES / "efetch").glob("*.xml")) + sorted((PUBMED_FIXTURES / "derived").glob("*.xml"))
    recs = [r for path in files for r in parse_pubmed(path.read_bytes()) if isinstance(r, Publication)]
    return list({r.pmid: r for r in recs}.values())


def zlib_writer(raws: list[bytes], texts=None) -> list[tuple[bytes, None]]:
    """What the store wrote before migration 004: zlib, no codec."""
    return [(zlib.compress(raw, 1), None) for raw in raws]


def test_stored_raw_is_the_input_bytes_for_every_recording(db):
    recs = recorded()
    assert len(recs) > 50
    publications.save_publications(db, recs, topic="t")
    for rec in recs:
        assert publications.raw_xml(db, rec.pmid) == rec.raw_xml, rec.pmid
    codecs = {c for (c,) in db.execute("SELECT DISTINCT codec FROM publication_raw").fetchall()}
    assert codecs <= {raw_codec.ZSTD, raw_codec.ZSTD_ROW} and raw_codec.ZSTD_ROW in codecs  # tests/test_storage_format.py
    stored = dict(db.execute("SELECT pmid, length(raw_xml) FROM publication_raw").fetchall())
    assert sum(stored.values()) < sum(len(r.raw_xml) for r in recs) / 3


def test_frames_name_the_shipped_dictionary():
    import zstandard

    raw = b"<PubmedArticle><MedlineCitation/></PubmedArticle>"
    (blob, codec), _ = raw_codec.compress_many([raw, raw])
    assert blob == raw_codec.compress(raw)[0] and raw_codec.decompress(blob, codec) == raw

    dict_id = zstandard.get_frame_parameters(blob).dict_id
    assert codec == "zstd" and dict_id in raw_codec.dictionaries()


def test_old_zlib_rows_stay_readable_and_rewrites_use_zstd(db, monkeypatch):
    old, new = recorded()[:2]
    monkeypatch.setattr(raw_codec, "compress_many", zlib_writer)
    publications.save_publications(db, [old, new])
    monkeypatch.undo()
    assert db.execute("SELECT count(*) FROM publication_raw WHERE codec IS NULL").fetchone()[0] == 2
    assert publications.raw_xml(db, old.pmid) == old.raw_xml
    # A changed record is written again, now with zstd; the untouched one stays zlib and readable.
    new.record_hash = "changed"
    publications.save_publications(db, [new])
    codecs = dict(db.execute("SELECT pmid, codec FROM publication_raw").fetchall())
    assert codecs == {old.pmid: None, new.pmid: raw_codec.ZSTD_ROW}
    assert publications.raw_xml(db, old.pmid) == old.raw_xml
    assert publications.raw_xml(db, new.pmid) == new.raw_xml


def test_migration_004_is_idempotent_and_keeps_pre_004_rows(db_path, monkeypatch):
    rec = recorded()[0]
    db = open_db(db_path)
    monkeypatch.setattr(raw_codec, "compress_many", zlib_writer)
    publications.save_publications(db, [rec])
    monkeypatch.undo()
    # Back to the schema before 004: no codec column, migration not recorded.
    db.execute("ALTER TABLE publication_raw DROP COLUMN codec")
    db.execute("DELETE FROM _migrations WHERE name = 'publications:004_raw_codec'")
    db.conn.commit()
    db.conn.close()
    db = open_db(db_path)
    pub_migrations.m004_raw_codec(db)  # a second run changes nothing
    assert [c for c in db["publication_raw"].columns_dict] == ["pmid", "raw_xml", "codec"]
    assert publications.raw_xml(db, rec.pmid) == rec.raw_xml


def test_frames_without_a_size_field_and_with_one_both_read_back_and_damage_is_an_error():
    """New frames leave the size out of their header (``raw_codec._frame``: zstd then reads
    the dictionary's tables in place); frames written before have it.  Both read back byte
    for byte; a frame cut short or with bytes after its end is an error, never a record."""
    import zstandard

    raw = recorded()[0].raw_xml
    new, _ = raw_codec.compress(raw)
    assert zstandard.get_frame_parameters(new).content_size == zstandard.CONTENTSIZE_UNKNOWN
    old = raw_codec._compressor().compress(raw)  # how they were written before
    assert zstandard.get_frame_parameters(old).content_size == len(raw)
    assert raw_codec.decompress(new, "zstd") == raw_codec.decompress(old, "zstd") == raw
    for damaged in (new[:-3], new + b"\0\0", new + new):
        with pytest.raises(zstandard.ZstdError, match="damaged zstd frame"):
            raw_codec.decompress(damaged, "zstd")


def test_unknown_codec_or_dictionary_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown raw codec"):
        raw_codec.decompress(b"x", "lz4")
    import zstandard

    other = zstandard.train_dictionary(1024, [b"<a>%d</a>" % i * 50 for i in range(200)])  # not shipped
    blob = zstandard.ZstdCompressor(dict_data=other).compress(b"<a>1</a>" * 10)
    with pytest.raises(ValueError, match="does not ship"):
        raw_codec.decompress(blob, "zstd")


def test_author_rows_match_asdict():
    a = Author("Doe J", "Doe", "Jane", "J", "Jr", None, "0000-0002-1825-0097", "Somewhere")
    assert json.loads(publications._json([a])) == [asdict(a)]


def test_delete_publications_removes_rows_index_and_raw(db):
    recs = recorded()[:3]
    publications.save_publications(db, recs, topic="t")
    assert publications.delete_publications(db, [recs[0].pmid, "123"]) == 1
    assert publications.raw_xml(db, recs[0].pmid) is None
    assert publications.read_publications(db, [r.pmid for r in recs]) and recs[0].pmid not in {
        p.pmid for p in publications.read_publications(db, [r.pmid for r in recs])}
    fts = db.execute("SELECT count(*) FROM publications_fts").fetchone()[0]
    assert fts == 2
    db.execute("INSERT INTO publications_fts(publications_fts) VALUES ('integrity-check')")


def test_fts_automerge_migration_sets_the_setting_and_runs_twice(db):
    setting = "SELECT v FROM publications_fts_config WHERE k = 'automerge'"
    assert db.execute(setting).fetchone()[0] == pub_migrations.FTS_AUTOMERGE
    pub_migrations.m005_fts_automerge(db)
    assert db.execute(setting).fetchone()[0] == pub_migrations.FTS_AUTOMERGE
