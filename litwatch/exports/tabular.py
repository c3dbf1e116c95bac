"""CSV and JSON exports of the contract's shapes, streamed.

CSV: plain text (titles, abstracts and summaries without markup) and every cell that a
spreadsheet would run as a formula neutralised with a leading ``'`` (OWASP's rule for
cells beginning with ``=``, ``+``, ``-``, ``@``, tab or carriage return).  One row per
record with flat columns: the nested extras (author details, PubMed history, correction
links, book details) stay in the JSON export, where they are readable, and out of a
spreadsheet, where they were most of the bytes and of the time.  JSON keeps the
HTML fragments and adds their plain-text forms (``title_text``, ``abstract_text``).
"""

from __future__ import annotations

import csv
import itertools
import json
from typing import IO, Iterable, Iterator

import orjson

from litwatch.exports.workers import PARALLEL_FROM, in_order, parallel_plan
from litwatch.vocab.markup import fragment_to_text

CSV_LIST_SEP = "; "
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MARKUP_FIELDS = ("title", "abstract", "official_title")
# Beyond-contract keys that hold objects: JSON only (see the module docstring).
NESTED_EXTRAS = frozenset({"author_details", "pubmed_history", "comments_corrections", "corrections", "book",
                           "other_abstracts", "other_ids", "references", "signals", "links"})
# CONTRACT.md's keys: the header of a CSV export with no rows (with rows, the records' own
# keys are the header, extras included), so a script reading the file always finds its columns.
CONTRACT_KEYS = {
    "publications": ["kind", "pmid", "title", "abstract", "journal", "pub_date", "entrez_date", "doi", "pmcid", "authors",
                     "publication_types", "mesh", "nct_ids", "topics", "retracted", "url"],
    "trials": ["kind", "nct_id", "title", "official_title", "status", "why_stopped", "phases", "study_type", "enrollment",
               "start_date", "primary_completion_date", "completion_date", "first_posted", "last_update_posted",
               "results_first_posted", "has_results", "sponsor", "conditions", "interventions", "pmids", "topics", "history", "url"],
    "feed_items": ["kind", "id", "feed_kind", "feed_url", "title", "link", "summary", "authors", "published", "doi", "pmid",
                   "nct_id", "published_as_pmid", "topics", "first_seen_at"],
}


def neutralise(cell):
    """A text cell a spreadsheet would evaluate, prefixed with ``'`` (shown, not run)."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def csv_cell(key: str, value):
    """Lists of plain values join with "; "; objects (history entries, a linked trial) stay JSON."""
    if isinstance(value, list) and not any(isinstance(x, (dict, list)) for x in value):
        value = CSV_LIST_SEP.join(str(x) for x in value)
    elif isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False)
    elif key in MARKUP_FIELDS and isinstance(value, str):
        value = fragment_to_text(value)
    return neutralise(value)


def write_csv(records: Iterable[dict], out: IO[str], kind: str) -> int:
    """Header from the first record's keys (CONTRACT's keys when there is none)."""
    it: Iterator[dict] = iter(records)
    first = next(it, None)
    contract = CONTRACT_KEYS[kind]
    fields = [k for k in first if k in contract or k not in NESTED_EXTRAS] if first is not None else contract
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    count = 0
    if first is None:
        return count
    for record in itertools.chain([first], it):
        writer.writerow({k: csv_cell(k, record.get(k)) for k in fields})
        count += 1
    return count


# Cells of the flat view that are made by litwatch, never by a service (digits, ISO dates and
# timestamps, fixed words, URLs built from the PMID): nothing to neutralise or quote.
_MADE_CELLS = frozenset({"kind", "pmid", "pub_date", "entrez_date", "create_date", "first_seen_at", "url",
                         "record_type"})
_FLAG_CELLS = frozenset({"retracted", "late_arrival"})


def csv_text(cell: str | None) -> str:
    """One text cell as ``csv.writer`` (excel dialect, QUOTE_MINIMAL) writes it after
    ``neutralise``: the same bytes, without the writer's per-character copy of long cells
    (tests/test_export_tabular.py compares the two on hostile strings)."""
    if not cell:
        return ""
    if cell.startswith(FORMULA_STARTS):
        cell = "'" + cell
    if '"' in cell:
        return '"' + cell.replace('"', '""') + '"'
    if "," in cell or "\n" in cell or "\r" in cell:
        return '"' + cell + '"'
    return cell


def _csv_markup(cell: str | None) -> str:
    # Stored fragments are space-folded by the parser, so only markup, an entity or the
    # blank line between abstract sections leaves anything for fragment_to_text to do.
    if cell and ("<" in cell or "&" in cell or "\n" in cell):
        cell = fragment_to_text(cell)
    return csv_text(cell)


# A parallel CSV export hands each worker this many rowids at a time, and keeps at most
# two pieces per worker in flight (memory stays flat: a piece is ~8 MB of CSV text).
PIECE_ROWIDS = 4_000


def _line_function(names: list[str]):
    """The function that makes one CSV line of a flat row (columns ``names``).

    It is written out per column once (a lambda compiled from the cell kinds below) instead
    of looping over cell functions: at a million rows the loop's calls, one per cell, were
    a fifth of the export's CPU.  Each kind does what its cell function does: made cells
    (``_MADE_CELLS``) as text, flags as True/False, markup fields as plain text
    (``_csv_markup``), list columns joined (``join_list``; they arrive as stored:
    ``iter_publication_table(joined=False)``), every other text cell neutralised and quoted
    as ``csv.writer`` would (``csv_text``)."""
    from litwatch.db.publications import FLAT_LISTS, join_list

    cells = []
    for i, name in enumerate(names):
        if name in _FLAG_CELLS:
            cells.append(f"('True' if r[{i}] else 'False')")
        elif name in _MADE_CELLS:
            cells.append(f"('' if r[{i}] is None else str(r[{i}]))")
        elif name in MARKUP_FIELDS:
            cells.append(f"_csv_markup(r[{i}])")
        elif name in FLAT_LISTS:
            cells.append(f"(csv_text(join_list(v)) if (v := r[{i}]) else '')")
        else:
            cells.append(f"(csv_text(v) if (v := r[{i}]) else '')")
    source = "lambda r: ','.join((" + ", ".join(cells) + ",))"
    return eval(source, {"_csv_markup": _csv_markup, "csv_text": csv_text, "join_list": join_list, "str": str})


def _csv_lines(rows: Iterable[tuple]) -> Iterator[tuple[int, str]]:
    """(rows, CSV text) a page of 1,000 rows at a time."""
    from litwatch.db.publications import FLAT_COLUMNS

    line = _line_function([name for name, _ in FLAT_COLUMNS])
    it = iter(rows)
    while page := list(itertools.islice(it, 1000)):
        yield len(page), "\r\n".join([line(row) for row in page]) + "\r\n"


def csv_piece(path: str, since: str | None, lo: int, hi: int) -> tuple[int, str]:
    """One piece of the publications CSV (rowids lo <= rowid < hi), made in a worker process."""
    from litwatch.db.connection import open_db
    from litwatch.db.publications import iter_publication_table

    db = open_db(path, read_only=True)
    try:
        parts = list(_csv_lines(iter_publication_table(db, since, rowids=(lo, hi), joined=False)))
    finally:
        db.close()
    return sum(n for n, _ in parts), "".join(text for _, text in parts)


def write_publications_csv(db, out: IO[str], since: str | None = None, *, workers: int | None = None,
                           piece_rowids: int = PIECE_ROWIDS, parallel_from: int = PARALLEL_FROM) -> int:
    """The publications CSV from the store's flat view (``db.publications.FLAT_COLUMNS``):
    the same cells, and the same bytes, ``write_csv`` makes from the JSON shapes, without
    building them.  Each column has its own cell function and a page of rows becomes one
    string.

    A big table is cut into rowid ranges that worker processes (one per core, at most 4)
    turn into CSV text while this process writes the pieces in order: SQLite's stepping and
    the cell functions take about as long each as ``sqlite3 -csv``'s whole dump, and one
    process cannot overlap them (bench/bench_export.py).  Each piece is read in its own
    snapshot: a crawl storing meanwhile adds nothing (new rows get new rowids, past the
    range) and every row is written once.
    """
    from litwatch.db.publications import FLAT_COLUMNS, iter_publication_table, publication_rowid_span

    csv.writer(out).writerow([name for name, _ in FLAT_COLUMNS])
    parallel = parallel_plan(db, workers, parallel_from)
    if parallel is None:
        pieces = _csv_lines(iter_publication_table(db, since, joined=False))
    else:
        path, workers = parallel
        lo, hi = publication_rowid_span(db)
        tasks = ((path, since, start, min(start + piece_rowids, hi)) for start in range(lo, hi, piece_rowids))
        pieces = in_order(csv_piece, tasks, workers)
    count = 0
    for n, text in pieces:
        out.write(text)
        count += n
    return count


def with_plain_text(record: dict) -> dict:
    """The record with ``title_text`` / ``abstract_text`` beside its HTML fields."""
    for key in ("title", "abstract"):
        if key in record:
            record[f"{key}_text"] = fragment_to_text(record[key]) if record[key] else record[key]
    return record


def _dumps(obj) -> str:
    return orjson.dumps(obj).decode()  # ~6x json.dumps: a fifth of a JSON export's time


def write_json_pieces(pieces: Iterable[tuple[int, str]], out: IO[str]) -> int:
    """A JSON array written from pieces (n elements, their JSON joined by ",\\n  "), one
    piece at a time (an export never holds the whole list)."""
    out.write("[")
    count = 0
    for n, text in pieces:
        if not n:
            continue
        out.write(",\n  " if count else "\n  ")
        out.write(text)
        count += n
    out.write("\n]\n" if count else "]\n")
    return count


def write_json_array(objects: Iterable, out: IO[str]) -> int:
    """A JSON array written one element at a time."""
    return write_json_pieces(((1, _dumps(obj)) for obj in objects), out)


def write_json(records: Iterable[dict], out: IO[str]) -> int:
    return write_json_array((with_plain_text(record) for record in records), out)


def json_texts(records: Iterable[dict]) -> Iterator[str]:
    """Each record's JSON (with its plain-text twins), for ``write_json_pieces``."""
    for record in records:
        yield _dumps(with_plain_text(record))


def _json_piece(db, rowids: list[int]) -> tuple[int, str]:
    from litwatch.db.publications import publications_by_rowids

    shapes = publications_by_rowids(db, rowids)
    return len(shapes), ",\n  ".join(_dumps(with_plain_text(shape)) for shape in shapes)


def json_piece(path: str, rowids: list[int]) -> tuple[int, str]:
    """Publications' JSON (these rowids, in this order), made in a worker process."""
    from litwatch.db.connection import open_db

    db = open_db(path, read_only=True)
    try:
        return _json_piece(db, rowids)
    finally:
        db.close()


def publication_json_pieces(db, since: str | None = None, *, workers: int | None = None,
                            piece: int = 2000, parallel_from: int = PARALLEL_FROM) -> Iterator[tuple[int, str]]:
    """The publications' JSON elements by PMID, as ``write_json_pieces`` pieces.  A big table
    is turned into JSON by worker processes (one per core, up to 4), ``piece`` records at a
    time, while the pieces are written in order; a small one in this process."""
    from litwatch.db.publications import publication_rowids_by_pmid

    parallel = parallel_plan(db, workers, parallel_from)
    if parallel is None:
        for rowids in publication_rowids_by_pmid(db, since):
            yield _json_piece(db, rowids)
        return
    path, workers = parallel
    yield from in_order(json_piece, ((path, rowids) for rowids in publication_rowids_by_pmid(db, since, page=piece)),
                        workers)
