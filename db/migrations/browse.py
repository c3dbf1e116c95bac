"""A database that browses well (Datasette, sqlite-utils): a topics table, declared foreign
keys on every link table, and a view of each paper's strength of evidence.

Runs after every other area (it links their tables).  SQLite cannot add a foreign key to an
existing table, so each one is added through sqlite-utils' ``add_foreign_keys`` (a table
rebuild that keeps rows and indexes), only where it is missing: safe to run twice.

The keys are declared for navigation, not enforced (``db.connection`` leaves SQLite's
``foreign_keys`` pragma off): a link may name a record not stored yet, such as a trial a
paper cites before ClinicalTrials.gov is crawled, or a followed trial before its first fetch.
"""

from __future__ import annotations

import hashlib

from litwatch.vocab.evidence import evidence_case_sql, groups_signature

# (table, column, other table, other column): every link between stored records.
FOREIGN_KEYS = (
    ("publication_topics", "pmid", "publications", "pmid"),
    ("publication_topics", "topic", "topics", "name"),
    ("publication_raw", "pmid", "publications", "pmid"),
    ("corrections", "pmid", "publications", "pmid"),
    ("trial_topics", "nct_id", "trials", "nct_id"),
    ("trial_topics", "topic", "topics", "name"),
    ("trial_history", "nct_id", "trials", "nct_id"),
    ("trial_raw", "nct_id", "trials", "nct_id"),
    ("trial_retractions", "nct_id", "trials", "nct_id"),
    ("trial_retractions", "pmid", "publications", "pmid"),
    ("followed_trials", "nct_id", "trials", "nct_id"),
    ("trial_links", "nct_id", "trials", "nct_id"),
    ("trial_links", "pmid", "publications", "pmid"),
    ("feed_items", "feed_url", "feeds", "url"),
    ("feed_items", "pmid", "publications", "pmid"),
    ("feed_items", "nct_id", "trials", "nct_id"),
    ("feed_items", "published_as_pmid", "publications", "pmid"),
    ("feed_item_topics", "item_id", "feed_items", "id"),
    ("feed_item_topics", "topic", "topics", "name"),
    ("digest_items", "digest_id", "digests", "id"),
    # Not trial_flags: its table-level UNIQUE (nct_id, flag) would not survive sqlite-utils'
    # rebuild.  TRIAL_FLAGS_KEYS below are declared by a rebuild of its own.
)
# trial_flags' links (``m004_trial_flags_keys``): the trial a signal is about, and the digest
# that told the reader.
TRIAL_FLAGS_KEYS = (
    ("trial_flags", "nct_id", "trials", "nct_id"),
    ("trial_flags", "reported_in_digest", "digests", "id"),
)
_TRIAL_FLAGS_KEYED = """CREATE TABLE trial_flags_keyed (
    id INTEGER PRIMARY KEY,
    nct_id TEXT NOT NULL REFERENCES trials(nct_id),
    flag TEXT NOT NULL,
    detail TEXT,
    first_seen_at TEXT NOT NULL,
    cleared_at TEXT,
    reported_in_digest INTEGER REFERENCES digests(id),
    reported_at TEXT,
    UNIQUE (nct_id, flag))"""


def m001_topics(db):
    # The watchlist's topics, written when a crawl loads it (db.topics.sync_topics), so a
    # browser can label and facet by topic and every *_topics row links to its topic.
    db["topics"].create(
        {"name": str, "title": str, "pubmed": str, "ctgov": str, "feeds": str, "keywords": str, "updated_at": str},
        pk="name",
        if_not_exists=True,
    )


def declared(db, table: str) -> set[tuple[str, str, str]]:
    return {(fk.column, fk.other_table, fk.other_column) for fk in db[table].foreign_keys}


def m002_foreign_keys(db):
    tables = set(db.table_names())
    missing = [
        fk for fk in FOREIGN_KEYS
        if fk[0] in tables and fk[2] in tables and fk[1:] not in declared(db, fk[0])
    ]
    if not missing:
        return
    # The rebuild drops the table's triggers (the FTS ones among them): keep and restore them.
    rebuilt = sorted({fk[0] for fk in missing})
    marks = ",".join("?" * len(rebuilt))
    triggers = db.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({marks})", rebuilt).fetchall()
    db.add_foreign_keys(missing)
    present = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    for name, sql in triggers:
        if name not in present:
            db.execute(sql)


def m004_trial_flags_keys(db):
    """trial_flags with its foreign keys declared, its UNIQUE (nct_id, flag) kept: the table
    rebuilt by hand (SQLite cannot add a key to a table), every row and id copied."""
    if "trial_flags" not in db.table_names():
        return
    if all(fk[1:] in declared(db, "trial_flags") for fk in TRIAL_FLAGS_KEYS):
        return
    db.execute("DROP TABLE IF EXISTS trial_flags_keyed")
    db.execute(_TRIAL_FLAGS_KEYED)
    columns = [c for c in db["trial_flags_keyed"].columns_dict if c in db["trial_flags"].columns_dict]
    names = ", ".join(columns)
    db.execute(f"INSERT INTO trial_flags_keyed ({names}) SELECT {names} FROM trial_flags")
    db.execute("DROP TABLE trial_flags")
    db.execute("ALTER TABLE trial_flags_keyed RENAME TO trial_flags")


def evidence_view(db):
    db.execute("DROP VIEW IF EXISTS publication_evidence")
    db.execute(
        "CREATE VIEW publication_evidence AS SELECT pmid, title, journal, pub_date, entrez_date, first_seen_at, "
        f"{evidence_case_sql('publication_types')} AS evidence_level, publication_types FROM publications"
    )


def _keys_signature() -> str:
    return hashlib.sha1(repr(FOREIGN_KEYS).encode()).hexdigest()[:8]


MIGRATIONS = [
    ("001_topics", m001_topics),
    # Named by the list's signature: a link added to FOREIGN_KEYS is declared at the next open.
    (f"002_foreign_keys_{_keys_signature()}", m002_foreign_keys),
    # Named by the evidence groups' signature: when the groups change, the view is made again.
    (f"003_evidence_view_{groups_signature()}", evidence_view),
    ("004_trial_flags_keys", m004_trial_flags_keys),
]
