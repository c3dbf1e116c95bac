"""PubMed publications, the topics that found them, corrections, and full-text search."""


def m001_publications(db):
    db["publications"].create(
        {
            "pmid": str,
            "title": str,  # readable text; inline <i>/<sub>/<sup> kept as tags
            "abstract": str,  # sections joined "LABEL: text" by blank lines
            "abstract_sections": str,  # JSON [{"label", "category", "text"}]
            "journal": str,
            "journal_abbrev": str,
            "pub_date": str,  # YYYY[-MM[-DD]]
            "pub_date_text": str,  # MedlineDate / Season as printed, when not a plain date
            "entrez_date": str,  # YYYY-MM-DD, History PubStatus "pubmed" = Entry Date [edat]
            "doi": str,
            "pmcid": str,
            "pii": str,
            "authors": str,  # JSON ["Lastname Initials", ...]
            "publication_types": str,  # JSON
            "mesh": str,  # JSON descriptor names
            "keywords": str,  # JSON
            "language": str,
            "medline_status": str,
            "date_revised": str,
            "retracted": int,
            "record_hash": str,  # sha1 of the raw record: "record changed" test
            "first_seen_at": str,
            "updated_at": str,
        },
        pk="pmid",
        if_not_exists=True,
    )
    db["publications"].create_index(["doi"], if_not_exists=True)
    # DOIs are case-insensitive: ``show 10.1073/PNAS...`` looks them up by lower(doi).
    db.execute("CREATE INDEX IF NOT EXISTS idx_publications_lower_doi ON publications (lower(doi))")
    db["publications"].create_index(["entrez_date"], if_not_exists=True)
    db["publications"].create_index(["pmcid"], if_not_exists=True)
    db["publications"].create_index(["first_seen_at"], if_not_exists=True)
    # The record as PubMed sent it (zlib-compressed <PubmedArticle>), so a better parser can
    # re-derive fields without crawling again.  Its own table: the publications rows stay
    # small for search and export, and storing the blob does not pass the FTS triggers.
    db["publication_raw"].create({"pmid": str, "raw_xml": bytes}, pk="pmid", if_not_exists=True)
    db["publication_topics"].create(
        {"pmid": str, "topic": str, "first_seen_at": str},
        pk=("pmid", "topic"),
        if_not_exists=True,
    )
    # CommentsCorrections, every RefType of the DTD (RetractionIn, ErratumIn, CommentOn,
    # Cites, ...; which ones a reader is told of: vocab.records.CORRECTION_TYPES).  ``note``
    # is the RefSource text.
    db["corrections"].create(
        {"pmid": str, "ref_type": str, "other_pmid": str, "note": str, "first_seen_at": str},
        pk=("pmid", "ref_type", "other_pmid"),
        if_not_exists=True,
    )
    if "publications_fts" not in db.table_names():
        db["publications"].enable_fts(
            ["title", "abstract", "mesh", "keywords"], create_triggers=True, tokenize="porter"
        )


def m002_fidelity(db):
    """Issue 11: authors as listed, book chapters, both PubMed dates, OtherID/OtherAbstract."""
    columns = {
        "record_type": str,  # "article", "book_chapter", "book"
        "create_date": str,  # YYYY-MM-DD, History PubStatus "entrez" = Create Date [crdt]
        "late_arrival": int,  # 1: published more than a year before create_date
        "pubmed_history": str,  # JSON {PubStatus: YYYY-MM-DD}
        "nbk": str,  # Bookshelf accession of a book record
        "book": str,  # JSON vocab.records.Book (publisher, editors, ...) or NULL
        "author_details": str,  # JSON [vocab.records.Author], same order and count as authors
        "other_ids": str,  # JSON [{"source", "id"}]
        "other_abstracts": str,  # JSON [{"type", "language", "text"}]
    }
    have = set(db["publications"].columns_dict)
    for name, kind in columns.items():
        if name not in have:
            db["publications"].add_column(name, kind)
    db.execute("CREATE INDEX IF NOT EXISTS idx_publications_nbk ON publications (nbk)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_publications_create_date ON publications (create_date)")


def m003_every_link(db):
    """Correction links keyed by their RefSource too: two links of one RefType without a PMID
    (two AssociatedDataset entries, say) were one row under (pmid, ref_type, other_pmid).
    A link without RefSource is stored with note '' (NULLs would not collide in a key)."""
    if db["corrections"].pks == ["pmid", "ref_type", "other_pmid", "note"]:
        return
    db.execute(
        "CREATE TABLE corrections_new (pmid TEXT, ref_type TEXT, other_pmid TEXT, note TEXT, first_seen_at TEXT, "
        "PRIMARY KEY (pmid, ref_type, other_pmid, note))"
    )
    db.execute(
        "INSERT OR IGNORE INTO corrections_new SELECT pmid, ref_type, COALESCE(other_pmid, ''), COALESCE(note, ''), "
        "first_seen_at FROM corrections"
    )
    db.execute("DROP TABLE corrections")
    db.execute("ALTER TABLE corrections_new RENAME TO corrections")


def m004_raw_codec(db):
    """Issue 14: raw records are written with zstd and a PubMed dictionary (``db.raw_codec``);
    ``codec`` says which codec wrote each blob.  NULL: zlib, every row written before."""
    if "codec" not in db["publication_raw"].columns_dict:
        db["publication_raw"].add_column("codec", str)


# FTS5 merges its index segments this many at a time (default 4).  Every stored batch adds
# a segment, and each document is rewritten once per level it climbs: with 4 the index of a
# million records has ~6 levels, with 8 about 4, so storing into a big database costs less
# (bench/bench_pubmed.py --big-db: the FTS part of a store ~35 % cheaper at 1M).  The price:
# up to 7 instead of 3 segments per level for a query to read.
FTS_AUTOMERGE = 8


def m005_fts_automerge(db):
    """Issue 14: FTS maintenance that does not grow so fast with the table (see FTS_AUTOMERGE)."""
    db.execute("INSERT INTO publications_fts(publications_fts, rank) VALUES('automerge', ?)", [FTS_AUTOMERGE])


def m006_leaner_indexes(db):
    """Issue 14, storage: ~50 B a publication less in indexes.  ``doi`` is looked up by
    ``lower(doi)`` only (idx_publications_lower_doi), so the plain index on it goes; PMC
    ids and Bookshelf accessions are looked up by ``=``, which a partial index without the
    NULLs (most rows have neither) answers the same.  An existing database keeps the freed
    pages for the rows it stores next (``VACUUM`` gives them back: README)."""
    db.execute("DROP INDEX IF EXISTS idx_publications_doi")
    for column in ("pmcid", "nbk"):
        name = f"idx_publications_{column}"
        partial = db.execute("SELECT sql LIKE '%WHERE%' FROM sqlite_master WHERE type = 'index' AND name = ?",
                             [name]).fetchone()
        if partial and partial[0]:
            continue
        db.execute(f"DROP INDEX IF EXISTS {name}")
        db.execute(f"CREATE INDEX {name} ON publications ({column}) WHERE {column} IS NOT NULL")


# Link tables keyed by their whole primary key: WITHOUT ROWID stores each row once, in its
# key's b-tree, where a rowid table stores it in the table and its key again in the key's
# index (~75 B a publication less, bench/bench_storage.py).  The foreign keys are
# declared here, as browse.FOREIGN_KEYS lists them: sqlite-utils cannot add them to a
# WITHOUT ROWID table later (its rebuild selects rowid).
LINK_TABLES = {
    "publication_topics": (
        "CREATE TABLE [publication_topics] (\n"
        "   [pmid] TEXT REFERENCES [publications]([pmid]),\n"
        "   [topic] TEXT REFERENCES [topics]([name]),\n"
        "   [first_seen_at] TEXT,\n"
        "   PRIMARY KEY ([pmid], [topic])\n"
        ") WITHOUT ROWID",
        "pmid, topic, first_seen_at",
    ),
    "corrections": (
        "CREATE TABLE [corrections] (\n"
        "   [pmid] TEXT REFERENCES [publications]([pmid]),\n"
        "   [ref_type] TEXT,\n"
        "   [other_pmid] TEXT,\n"
        "   [note] TEXT,\n"
        "   [first_seen_at] TEXT,\n"
        "   PRIMARY KEY ([pmid], [ref_type], [other_pmid], [note])\n"
        ") WITHOUT ROWID",
        "pmid, ref_type, other_pmid, note, first_seen_at",
    ),
}


def m007_links_without_rowid(db):
    """Issue 14, storage: publication_topics and corrections as WITHOUT ROWID tables
    (``LINK_TABLES``), rows and declared foreign keys kept; neither has other indexes.  An
    existing database is rebuilt once (rows copied in key order), as m003 did."""
    for table, (create, columns) in LINK_TABLES.items():
        (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone()
        if sql.rstrip().upper().endswith("WITHOUT ROWID"):
            continue
        keys = columns.rsplit(", ", 1)[0]
        db.execute(f"DROP TABLE IF EXISTS [{table}_new]")
        db.execute(create.replace(f"[{table}]", f"[{table}_new]", 1))
        # A key column of a WITHOUT ROWID table cannot be NULL; litwatch never wrote one
        # (m003 made them ''), and a row written by hand with one is kept with ''.
        picked = ", ".join(f"COALESCE({c}, '')" if c in keys.split(", ") else c for c in columns.split(", "))
        db.execute(f"INSERT OR IGNORE INTO [{table}_new] ({columns}) SELECT {picked} FROM [{table}] ORDER BY {keys}")
        db.execute(f"DROP TABLE [{table}]")
        db.execute(f"ALTER TABLE [{table}_new] RENAME TO [{table}]")


MIGRATIONS = [
    ("001_publications", m001_publications), ("002_fidelity", m002_fidelity), ("003_every_link", m003_every_link),
    ("004_raw_codec", m004_raw_codec), ("005_fts_automerge", m005_fts_automerge),
    ("006_leaner_indexes", m006_leaner_indexes), ("007_links_without_rowid", m007_links_without_rowid),
]
