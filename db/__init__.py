"""The store: one SQLite file through sqlite-utils, and the only place in litwatch with SQL.

``open_db(path)`` is the only way in: it turns on WAL (the scheduler's crawl child writes
while a CLI query reads) and applies every pending migration, so each entry point may call
it and a database from any earlier version is brought up to date.  Every write runs in
``transaction(db)`` (see the README's "Development" section).  Each module owns the
statements of one area: ``publications``, ``trials``, ``feeds``, ``citations``,
``pubmed_queue``, ``crawl_state`` (watermarks, runs, quarantine), ``jobs`` (the
scheduler's ledger), ``digests`` (the digest ledger), ``search``/``fts`` (full-text search),
``migrations`` (the schema).  It imports only the ground floor, ``litwatch.vocab``.
"""

from litwatch.db.connection import open_db, transaction

__all__ = ["open_db", "transaction"]
