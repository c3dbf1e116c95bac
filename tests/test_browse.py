"""A database that browses well, checked through Datasette's own test client: declared
foreign keys, the topics table, facets and canned queries from the shipped metadata."""

from __future__ import annotations

import asyncio
import json

import pytest
from export_support import build_store

from litwatch.browse import load_metadata, make_datasette
from litwatch.config import load_watchlist
from litwatch.crawler.ctgov import normalise_study
from litwatch.db import open_db, trials
from litwatch.db.migrations.browse import FOREIGN_KEYS, TRIAL_FLAGS_KEYS
from litwatch.db.topics import sync_topics
from litwatch.fakes.ctgov import ketamine_bpd_study
from litwatch.fakes.world import changed_study


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("browse") / "litwatch.db"
    build_store(path)
    db = open_db(path)
    sync_topics(db, load_watchlist().topic_rows())
    study = ketamine_bpd_study("NCT03395314")
    for version in (study, changed_study(ketamine_bpd_study("NCT03395314"))):
        trials.save_trials(db, [normalise_study(version)], topic="ketamine-bpd")
    trials.follow_trial(db, "NCT03395314", "watchlist")
    db.conn.close()
    return path


def get(ds, url: str):
    async def fetch():
        return await ds.client.get(url)

    response = asyncio.run(fetch())
    assert response.status_code == 200, (url, response.text[:300])
    return response.json()


def test_every_link_table_declares_its_foreign_keys(store):
    db = open_db(store)
    for table, column, other, other_column in FOREIGN_KEYS + TRIAL_FLAGS_KEYS:
        declared = {(fk.column, fk.other_table, fk.other_column) for fk in db[table].foreign_keys}
        assert (column, other, other_column) in declared, (table, column)
    # Declared, not enforced: a link may name a trial not stored yet.
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 0
    # The FTS triggers survived the table rebuilds.
    triggers = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"feed_items_ai", "feed_items_ad", "feed_items_au", "publications_ai", "trials_au"} <= triggers
    assert {r["name"] for r in db["topics"].rows} >= {"ketamine-bpd", "ketamine-depression"}
    db.conn.close()


def test_trial_flags_keep_their_rows_and_their_unique_pair_when_keyed(tmp_path):
    """A database from before trial_flags had keys: the rebuild copies every row (ids too)
    and keeps UNIQUE (nct_id, flag), which record_trial_flags relies on."""
    import sqlite3

    from litwatch.db.migrations.browse import m004_trial_flags_keys

    db = open_db(tmp_path / "old.db")
    db.execute("DROP TABLE trial_flags")
    db.execute("CREATE TABLE trial_flags (id INTEGER PRIMARY KEY, nct_id TEXT NOT NULL, flag TEXT NOT NULL, detail TEXT, "
               "first_seen_at TEXT NOT NULL, cleared_at TEXT, reported_in_digest INTEGER, reported_at TEXT, UNIQUE (nct_id, flag))")
    rows = [(7, "NCT01", "results_overdue", "overdue by 16 months", "2026-11-01", None, 3, "2026-11-02"),
            (9, "NCT02", "unpublished", None, "2026-11-08", "2026-11-20", None, None)]
    db.conn.executemany("INSERT INTO trial_flags VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    assert not db["trial_flags"].foreign_keys
    with db.conn:
        m004_trial_flags_keys(db)
    assert [tuple(r) for r in db.execute("SELECT * FROM trial_flags ORDER BY id").fetchall()] == rows
    assert {(fk.column, fk.other_table, fk.other_column) for fk in db["trial_flags"].foreign_keys} == \
        {fk[1:] for fk in TRIAL_FLAGS_KEYS}
    with pytest.raises(sqlite3.IntegrityError):
        db.conn.execute("INSERT INTO trial_flags (nct_id, flag, first_seen_at) VALUES ('NCT01', 'results_overdue', 'x')")
    before = db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    m004_trial_flags_keys(db)  # twice: nothing more to do
    assert db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == before
    db.conn.close()


def test_migrating_twice_changes_nothing(store):
    from litwatch.db.migrations.browse import m002_foreign_keys

    db = open_db(store)
    before = db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    m002_foreign_keys(db)
    assert db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == before
    db.conn.close()


def test_datasette_links_rows_and_shows_facets(store):
    ds = make_datasette(store)
    data = get(ds, "/litwatch/trials.json?_shape=objects")
    facets = data["facet_results"]
    facets = facets.get("results", facets)  # Datasette 0.65 and 1.0 shapes
    assert "status" in facets
    assert {v["value"] for v in facets["status"]["results"]} == {"TERMINATED"}

    pubs = get(ds, "/litwatch/publications.json?_shape=objects")
    facets = pubs["facet_results"].get("results", pubs["facet_results"])
    assert "publication_types" in facets

    topics = get(ds, "/litwatch/publication_topics.json?_labels=on&_shape=objects")
    row = topics["rows"][0]
    assert isinstance(row["pmid"], dict) and row["pmid"]["label"]  # a link to the paper, labelled by its title
    assert row["topic"]["value"] == "ketamine-depression"
    facets = topics["facet_results"].get("results", topics["facet_results"])
    assert "topic" in facets

    evidence = get(ds, "/litwatch/publication_evidence.json?_shape=objects")
    facets = evidence["facet_results"].get("results", evidence["facet_results"])
    assert "evidence_level" in facets
    assert {v["value"] for v in facets["evidence_level"]["results"]} >= {"Reviews"}


def test_canned_queries_answer(store):
    ds = make_datasette(store)
    changes = get(ds, "/litwatch/followed_trial_changes.json?_shape=objects")["rows"]
    assert any(r["nct_id"] == "NCT03395314" and r["field"] == "status" and r["new"] == "TERMINATED" for r in changes)
    rcts = get(ds, "/litwatch/new_randomised_trials.json?_shape=objects")["rows"]
    assert all(r["pmid"] for r in rcts)
    meta = load_metadata(store)["databases"]["litwatch"]
    assert meta["queries"]["new_randomised_trials"]["title"] == "This week's new randomised trials"


def test_browse_on_a_missing_database_is_one_line(tmp_path):
    from export_support import litwatch

    proc = litwatch("browse", db=tmp_path / "nope.db")
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1
    assert "no litwatch database there" in proc.stderr and not (tmp_path / "nope.db").exists()


def test_compressed_detail_columns_read_as_json(store):
    """Author details are stored as zstd frames; Datasette shows them (and SQL reads them) as JSON."""
    ds = make_datasette(store)
    rows = get(ds, "/litwatch.json?sql=select+pmid,+typeof(author_details)+as+t,+litwatch_json(author_details)+as+j"
                   "+from+publications+where+typeof(author_details)+=+'blob'&_shape=objects")["rows"]
    assert rows, "no compressed author details in the store"
    details = json.loads(rows[0]["j"])
    assert details and all(isinstance(a, dict) for a in details)

    async def page():
        return await ds.client.get(f"/litwatch/publications/{rows[0]['pmid']}")

    html = asyncio.run(page()).text
    assert "&lt;Binary" not in html and "Binary:" not in html
