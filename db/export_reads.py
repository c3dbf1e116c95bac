"""Batched reads an export needs beside the record shapes (one query per chunk, never per row)."""

from __future__ import annotations

from typing import Iterable

from litwatch.db.raw_codec import decompress

IN_CHUNK = 500


def raw_publication_records(db, pmids: Iterable[str]) -> dict[str, bytes]:
    """{pmid: the raw record as PubMed sent it} for the PMIDs that have one stored."""
    pmids = list(dict.fromkeys(str(p) for p in pmids))
    out: dict[str, bytes] = {}
    for i in range(0, len(pmids), IN_CHUNK):
        chunk = pmids[i : i + IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        for pmid, blob, codec in db.execute(
            f"SELECT pmid, raw_xml, codec FROM publication_raw WHERE pmid IN ({marks})", chunk
        ).fetchall():
            if blob:
                out[pmid] = decompress(blob, codec)
    return out
