"""Storage: one SQLite file through sqlite-utils.

``open_db(path)`` is the only way in: it turns on WAL (the scheduler's crawl child writes
while a CLI query reads) and applies every pending migration, so each entry point may call
it and a database from any earlier version is brought up to date.
"""

from litwatch.db.connection import open_db
from litwatch.vocab.times import utcnow

__all__ = ["open_db", "utcnow"]
