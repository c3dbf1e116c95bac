"""Datasette shows litwatch's compressed columns as JSON, not as "<Binary: 269 bytes>".

``publications``' detail columns (author details with affiliations, PubMed history, other
ids and abstracts, book details) are stored as zstd frames when long (``db.detail_codec``).
This plugin, registered by ``litwatch browse``, renders such a cell as its JSON text and
gives SQL the function ``litwatch_json(column)`` (e.g. ``select pmid,
litwatch_json(author_details) from publications``), so nothing stored is hidden from a
reader browsing the database.
"""

from __future__ import annotations

from datasette import hookimpl

from litwatch.db.detail_codec import unpack
from litwatch.db.publications import DETAIL_COLUMNS


def json_text(value):
    """A stored detail value as JSON text (plain values pass through)."""
    try:
        return unpack(value)
    except Exception:  # not one of ours: Datasette shows it as it would
        return value


@hookimpl
def prepare_connection(conn):
    conn.create_function("litwatch_json", 1, json_text, deterministic=True)


@hookimpl
def render_cell(value, column, table):
    if table == "publications" and column == "record_hash" and isinstance(value, bytes):
        return value.hex()  # a SHA-1 stored as its 20 bytes (db.publications.encode_hash)
    if table == "publications" and column in DETAIL_COLUMNS and isinstance(value, bytes):
        text = json_text(value)
        return text if isinstance(text, str) else None
    return None
