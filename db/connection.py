"""Open the database file: WAL, foreign keys, busy timeout, migrations; or read-only;
and the one transaction convention every write in ``db/`` follows (``transaction``).

Commands that only read (``search``, ``show``, ``export``...) open it read-only through
SQLite's ``mode=ro`` URI: they work on a file the user may only read, and a path that does
not exist is an error instead of a new empty database.  They get a ``ReadOnlyDatabase``:
the few methods reads use, on a plain ``sqlite3`` connection, so a search does not pay
for importing sqlite-utils (its plugin scan and optional numpy cost more than the query).
Writers get a ``WriterDatabase``: the same plain-SQL methods, and the rest of
``sqlite_utils.Database``'s API (tables, ``insert``, ``enable_fts``...) through a
``sqlite_utils.Database`` on the same connection, made the first time one is used.  A
crawl's store and bookkeeping are SQL only, so a crawl process never imports sqlite-utils
(~30-40 ms of the ~0.4 s before its first request).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from urllib.parse import quote

from litwatch.db.migrations import all_migrations, apply_migrations
from litwatch.vocab.errors import LitwatchError

if TYPE_CHECKING:
    from concurrent.futures import Future

    import sqlite_utils

# A crawl child and the CLI may write at the same moment; wait this long for the other's
# transaction instead of failing with "database is locked".
BUSY_TIMEOUT_MS = 30_000
# The page size of a NEW database file (SQLite fixes it when the first table is created;
# an existing database keeps its own: changing it needs a VACUUM, which litwatch never runs
# behind a user's back).  A stored publication is a ~2 KB row and a ~5 KB raw record: on
# 4 KB pages a row shares a page with one other and leaves ~0.8 KB of it unused.  2 KB
# pages keep most of the saving (~650 B a publication; 1 KB pages ~110 B more) without
# 1 KB pages' cost: every page is one WAL frame written and one page copied back at a
# checkpoint, a system call each, and at 1 KB a bulk store wrote four times as many
# (ingest 10,000 records, same run: 4 KB 2,684 rec/s, 2 KB 2,654, 1 KB 2,399;
# bench/bench_page_size.py, bench/README.md).
NEW_DB_PAGE_SIZE = 2048


# Schema set-up under way elsewhere (``set_up_meanwhile``), by the file's absolute path.
_meanwhile: dict[str, Future] = {}


def set_up_meanwhile(path: str | Path, setting_up: Future) -> None:
    """``setting_up`` is opening ``path`` as ``open_db`` does (created, migrated) in another
    process; this process's next ``open_db`` of the file waits for it first, so two set-ups
    never race.  What failed there fails again in that open, which reports it
    (``crawler.parse_worker.set_up_database`` says why a crawl does this)."""
    _meanwhile[os.path.abspath(path)] = setting_up


def open_db(path: str | Path, *, migrate: bool = True, read_only: bool = False) -> WriterDatabase:
    if _meanwhile:
        key = os.path.abspath(path)
        pending = _meanwhile.get(key)
        if pending is not None:  # every open of the file waits (one in each thread, say)
            try:
                pending.result()
            except Exception:  # noqa: BLE001 - set up again below, and reported from here
                pass
            _meanwhile.pop(key, None)
    path = Path(path)
    if read_only:
        return _open_read_only(path)
    if path.parent and not path.parent.exists():
        raise LitwatchError(f"{path}: folder {path.parent} does not exist (set LITWATCH_DB)")
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db = WriterDatabase(conn)
        if conn.execute("PRAGMA page_count").fetchone()[0] == 0:  # a new, empty file
            conn.execute(f"PRAGMA page_size = {NEW_DB_PAGE_SIZE}")
        _enable_wal(conn)
        # Durability: WAL + synchronous=NORMAL, SQLite's recommended pair.  A commit is not
        # fsynced on its own (the WAL is synced at each checkpoint): an application crash
        # loses nothing, a power cut or OS crash can lose the last commits before it, and
        # the database is never corrupted.  Nothing is lost for good: a crawl's watermark
        # is saved after the records it covers commit, so the lost records' watermark is
        # lost too and the next crawl fetches them again.  (FULL cost ~40 ms per commit.)
        conn.execute("PRAGMA synchronous = NORMAL")
        # Foreign keys are declared for navigation, not enforced: a link may name a record
        # not stored yet (db/migrations/browse.py says which).
        conn.execute("PRAGMA foreign_keys = OFF")
        if migrate:
            apply_migrations(db)
    except sqlite3.DatabaseError as exc:
        raise LitwatchError(f"{path}: not a usable litwatch database: {exc}") from None
    return db


# --- the one transaction convention (README, "Development") -----------------------------

_savepoints = itertools.count(1)


@contextmanager
def transaction(db: WriterDatabase | sqlite3.Connection) -> Iterator[None]:
    """All statements inside commit together or not at all.

    Outermost: ``BEGIN IMMEDIATE`` (the write lock is taken up front, so two writers wait
    on the busy timeout instead of failing half-way), then COMMIT, or ROLLBACK on any
    exception.  Inside an open transaction (an outer ``transaction``, or a caller's own
    uncommitted statements): a SAVEPOINT, released on success and rolled back to on an
    exception; the caller's transaction is never committed from here.

    sqlite-utils' own write methods (``insert``, ``upsert``, ``update``, ``delete``)
    commit by themselves (``with conn:``); inside a transaction write with ``db.execute``.
    """
    conn = getattr(db, "conn", db)
    if conn.in_transaction:
        name = f"lw_sp{next(_savepoints)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back everything already
                conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        if conn.in_transaction:  # (a sqlite-utils write inside may have committed it all)
            conn.execute(f"RELEASE SAVEPOINT {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def database_path(db) -> str:
    """The file a connection has open, for messages ("database" when it cannot say)."""
    try:
        return db.execute("PRAGMA database_list").fetchone()[2] or "database"
    except Exception:
        return "database"


def _connect_ro(path: Path, immutable: bool) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro" + ("&immutable=1" if immutable else "")
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the file for real
    return conn


def _pending_migrations(conn: sqlite3.Connection) -> bool:
    try:
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    except sqlite3.OperationalError:
        return True
    return any(name not in done for name, _ in all_migrations())


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK) and os.access(path.parent if str(path.parent) else Path("."), os.W_OK)


class ReadOnlyDatabase:
    """What read functions in ``db/`` use of a ``sqlite_utils.Database``, on a read-only
    connection: ``execute``, ``query``, ``table_names`` and ``conn``."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def execute(self, sql: str, parameters=None) -> sqlite3.Cursor:
        return self.conn.execute(sql) if parameters is None else self.conn.execute(sql, parameters)

    def query(self, sql: str, params=None) -> Iterator[dict]:
        cursor = self.execute(sql, params)
        names = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(names, row))

    def table_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]

    def close(self) -> None:
        self.conn.close()


class WriterDatabase(ReadOnlyDatabase):
    """What ``open_db`` gives a writer: ``ReadOnlyDatabase``'s plain-SQL methods (and
    ``executescript``) on the connection, and every other attribute of a
    ``sqlite_utils.Database`` (``db["table"]``, ``insert``, ``enable_fts``, ...) from one made
    on the same connection at first use (``utils``).  Why: importing sqlite-utils costs a
    process ~40 ms (its ``db`` module compiles a large regular expression, and it scans for
    plugins), and a crawl, whose every write is SQL, paid it on one core before its first
    request.  The connection is set up as ``sqlite_utils.Database`` sets it up:
    ``recursive_triggers`` on, so that a row an ``INSERT OR REPLACE`` replaces fires its
    delete triggers (the full-text indexes' triggers among them)."""

    def __init__(self, conn: sqlite3.Connection):
        super().__init__(conn)
        self._utils = None
        conn.execute("PRAGMA recursive_triggers = on")

    def executescript(self, sql: str) -> sqlite3.Cursor:
        return self.conn.executescript(sql)

    @property
    def utils(self) -> sqlite_utils.Database:
        """The ``sqlite_utils.Database`` on this connection (made, and sqlite-utils imported, once)."""
        if self._utils is None:
            import sqlite_utils

            self._utils = sqlite_utils.Database(self.conn)
        return self._utils

    def __getitem__(self, name: str):
        return self.utils[name]

    def __getattr__(self, name: str):
        # Only for what this class does not define; never for its own state (a copy being
        # made, say, before __init__ ran), which would otherwise loop back here.
        if name.startswith("__") or name in ("conn", "_utils"):
            raise AttributeError(name)
        return getattr(self.utils, name)


def _enable_wal(conn: sqlite3.Connection) -> None:
    """WAL journal (``sqlite_utils.Database.enable_wal``): readers never wait for the
    crawl's writes.  The mode cannot change inside a transaction: set in autocommit mode."""
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
        return
    level = conn.isolation_level
    try:
        conn.isolation_level = None
        conn.execute("PRAGMA journal_mode = wal")
    finally:
        conn.isolation_level = level


def _open_read_only(path: Path) -> ReadOnlyDatabase:
    if not path.is_file():
        where = "its folder does not exist" if not path.parent.exists() else "no such file"
        raise LitwatchError(f"{path}: no litwatch database there ({where}); check --db / LITWATCH_DB, "
                            "or create one with litwatch crawl (or litwatch demo)")
    try:
        try:
            conn = _connect_ro(path, immutable=False)
        except sqlite3.OperationalError:
            # A WAL database whose -shm cannot be created here (a folder we may not write):
            # read it as an immutable file, which is what a read-only copy is.
            conn = _connect_ro(path, immutable=True)
        if _pending_migrations(conn) and _writable(path):
            # An older database: bring it up to date once (writing), then read it read-only.
            conn.close()
            open_db(path).conn.close()
            conn = _connect_ro(path, immutable=False)
    except sqlite3.DatabaseError as exc:
        raise LitwatchError(f"{path}: not a usable litwatch database: {exc}") from None
    return ReadOnlyDatabase(conn)
