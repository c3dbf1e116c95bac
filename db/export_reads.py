"""Batched reads an export needs beside the record shapes (one query per chunk, never per row)."""

from __future__ import annotations

from typing import Iterable

IN_CHUNK = 500


def raw_publication_blobs(db, pmids: Iterable[str]) -> dict[str, bytes]:
    """{pmid: compressed raw record} for the PMIDs that have one stored."""
    pmids = list(dict.fromkeys(str(p) for p in pmids))
    out: dict[str, bytes] = {}
    for i in range(0, len(pmids), IN_CHUNK):
        chunk = pmids[i : i + IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        out.update(db.execute(f"SELECT pmid, raw_xml FROM publication_raw WHERE pmid IN ({marks})", chunk).fetchall())
    return out
