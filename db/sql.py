"""Small SQL builders the ``db`` modules share, for writes inside ``transaction(db)``.

sqlite-utils' ``insert``/``upsert``/``update`` commit by themselves, which would end a
caller's transaction; these write the same statements through ``db.execute`` instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from litwatch.db.connection import WriterDatabase



def _q(name: str) -> str:
    """A quoted identifier: column names such as ``references`` are SQL keywords."""
    return '"' + name.replace('"', '""') + '"'


def upsert_row(db: WriterDatabase, table: str, row: dict, pk: Sequence[str]) -> None:
    """Insert ``row``, or update the given columns (only those) of the row with its key."""
    columns = list(row)
    updates = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in columns if c not in pk)
    conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    db.execute(
        f"INSERT INTO {_q(table)} ({', '.join(map(_q, columns))}) VALUES ({', '.join('?' for _ in columns)}) "
        f"ON CONFLICT({', '.join(map(_q, pk))}) {conflict}",
        [row[c] for c in columns],
    )


def insert_row(db: WriterDatabase, table: str, row: dict) -> int:
    """Insert ``row``; returns its rowid."""
    columns = list(row)
    cur = db.execute(
        f"INSERT INTO {_q(table)} ({', '.join(map(_q, columns))}) VALUES ({', '.join('?' for _ in columns)})",
        [row[c] for c in columns],
    )
    return cur.lastrowid


def update_row(db: WriterDatabase, table: str, where: dict, values: dict) -> int:
    """Set ``values`` on the rows matching every ``where`` column; returns how many changed."""
    sets = ", ".join(f"{_q(c)} = ?" for c in values)
    cond = " AND ".join(f"{_q(c)} = ?" for c in where)
    return db.execute(f"UPDATE {_q(table)} SET {sets} WHERE {cond}", [*values.values(), *where.values()]).rowcount
