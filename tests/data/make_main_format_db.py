"""Make ``main-format.db``: a few recorded PubMed records stored by the code *before* the
storage format of issue 14.5 (sections with their texts, plain JSON detail columns, raw
records zstd level 2 with the 64 KB ``pubmed-1`` dictionary), so tests can check that a
database made by an earlier version reads the same.  Run with that version installed
(not this checkout), e.g. for commit defd325 of main:

    git archive defd325 | tar -x -C /tmp/old && pip install --no-deps --target /tmp/oldpkg /tmp/old
    cd /tmp && PYTHONPATH=/tmp/oldpkg python /path/to/tests/data/make_main_format_db.py main-format.db
    gzip -9n main-format.db   # tests/data/main-format.db.gz (41 KB; the database is 475 KB)

It parses the recordings with that version's parser and stores them with its own
``save_publications`` (no hand-written rows), then vacuums into one small file.

``whole-raw-format.db.gz`` was made the same way with main at 22b0649 (before raw records
were stored without their row's texts: whole ``zstd`` frames with ``pubmed-2``, hex
``record_hash``, 4 KB pages): ``... make_main_format_db.py whole-raw-format.db``, then
``gzip -9n``.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

# (recording, PMIDs): structured abstracts, many authors with affiliations and a collective
# author, OtherAbstract/OtherID, Bookshelf chapters (book JSON), a plain article.
PICKS = [
    ("efetch/38534005.xml", None), ("efetch/29226023.xml", None), ("efetch/34843274.xml", None),
    ("efetch/38914107.xml", None), ("pubmed1.xml", None),
    ("derived/articles.xml", {"90000202"}), ("derived/book_chapters.xml", {"90000101", "90000102"}),
]


def main(out: str) -> None:
    import litwatch.db
    from litwatch.crawler.pubmed_parse import parse_pubmed
    from litwatch.db import open_db, publications
    from litwatch.fakes import RECORDINGS
    from litwatch.vocab.records import Publication

    print("writing with", Path(litwatch.db.__file__).parent, file=sys.stderr)
    recs = []
    for name, pmids in PICKS:
        for rec in parse_pubmed((RECORDINGS / "pubmed" / name).read_bytes()):
            if isinstance(rec, Publication) and (pmids is None or rec.pmid in pmids):
                recs.append(rec)
    db = open_db(out)
    publications.save_publications(db, recs, topic="old-format", now="2026-11-30T12:00:00Z")
    db.conn.close()
    conn = sqlite3.connect(out)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("VACUUM")
    conn.close()
    print(f"{out}: {len(recs)} publications", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
