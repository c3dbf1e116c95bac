"""Batched reads an export needs beside the record shapes (one query per chunk, never per row)."""

from __future__ import annotations

from typing import Iterable

from litwatch.db.publications import RAW_SELECT, raw_from_row

IN_CHUNK = 500


def raw_publication_records(db, pmids: Iterable[str]) -> dict[str, bytes]:
    """{pmid: the raw record as PubMed sent it} for the PMIDs that have one stored."""
    pmids = list(dict.fromkeys(str(p) for p in pmids))
    out: dict[str, bytes] = {}
    for i in range(0, len(pmids), IN_CHUNK):
        chunk = pmids[i : i + IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        for pmid, *row in db.execute(
            f"SELECT r.pmid, {RAW_SELECT} FROM publication_raw r LEFT JOIN publications p ON p.pmid = r.pmid "
            f"WHERE r.pmid IN ({marks})", chunk
        ).fetchall():
            if row[0]:
                out[pmid] = raw_from_row(*row)
    return out
