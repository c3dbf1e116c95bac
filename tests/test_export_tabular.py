"""CSV and JSON exports: plain text in CSV, formula cells neutralised (OWASP), JSON keeps its
HTML fields and adds plain-text ones, and the writers stream."""

from __future__ import annotations

import csv
import io
import json

from conftest import PUBMED_FIXTURES
from export_support import litwatch
from lxml import etree

from litwatch.crawler.pubmed_parse import parse_pubmed
from litwatch.db import open_db, publications
from litwatch.exports.tabular import neutralise, write_csv, write_json


def hostile(pmid: str, title: str) -> list:
    """A recorded paper renumbered, with a given title, through the crawl's own parser."""
    root = etree.fromstring((PUBMED_FIXTURES / "efetch" / "38011560.xml").read_bytes())
    art = root.find("PubmedArticle")
    art.find("MedlineCitation/PMID").text = pmid
    for aid in art.findall("PubmedData/ArticleIdList/ArticleId"):
        if aid.get("IdType") == "pubmed":
            aid.text = pmid
    title_el = art.find("MedlineCitation/Article/ArticleTitle")
    title_el.clear()
    frag = etree.fromstring(f"<ArticleTitle>{title}</ArticleTitle>")
    title_el.text = frag.text
    for child in frag:
        title_el.append(child)
    return list(parse_pubmed(etree.tostring(root)))


def test_csv_neutralises_formulas_and_drops_markup(db_path):
    db = open_db(db_path)
    publications.save_publications(db, hostile("90000001", '=HYPERLINK("http://evil.example/","x")'), "t")
    publications.save_publications(db, hostile("90000002", "Growth of <i>Shewanella</i> at p &lt; 0.001"), "t")
    publications.save_publications(db, hostile("90000003", "@SUM(A1) -2 +3"), "t")
    db.conn.close()
    proc = litwatch("export", "--format", "csv", db=db_path)
    assert proc.returncode == 0, proc.stderr
    rows = {r["pmid"]: r for r in csv.DictReader(io.StringIO(proc.stdout))}
    assert rows["90000001"]["title"] == "'=HYPERLINK(\"http://evil.example/\",\"x\")"
    assert rows["90000002"]["title"] == "Growth of Shewanella at p < 0.001"
    assert rows["90000003"]["title"].startswith("'@SUM")
    for row in rows.values():
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in row.values() if v)

    data = json.loads(litwatch("export", "--kind", "publications", db=db_path).stdout)
    (rec,) = [r for r in data if r["pmid"] == "90000002"]
    assert rec["title"] == "Growth of <i>Shewanella</i> at p &lt; 0.001"  # HTML kept
    assert rec["title_text"] == "Growth of Shewanella at p < 0.001"
    assert "abstract_text" in rec


def test_neutralise_rule():
    for cell in ("=1+1", "+1", "-1", "@x", "\tx", "\rx"):
        assert neutralise(cell) == "'" + cell
    assert neutralise("ketamine") == "ketamine" and neutralise(5) == 5 and neutralise(None) is None


def test_writers_stream_from_an_iterator():
    """Each record is written as it comes: the writers take a generator and never list it."""
    pulled = []

    def records():
        for i in range(3):
            pulled.append(i)
            yield {"kind": "publication", "pmid": str(i), "title": f"<i>t{i}</i>", "authors": ["A B"]}

    out = io.StringIO()
    assert write_csv(records(), out, "publications") == 3
    assert out.getvalue().splitlines()[1] == "publication,0,t0,A B"
    out = io.StringIO()
    assert write_json(records(), out) == 3
    assert [r["title_text"] for r in json.loads(out.getvalue())] == ["t0", "t1", "t2"]
    out = io.StringIO()
    assert write_csv(iter(()), out, "trials") == 0
    assert out.getvalue().startswith("kind,nct_id,title,")


def test_publications_csv_cells_are_the_json_shapes_cells(db_path):
    """The fast CSV (the store's flat view) says what write_csv says of the JSON shapes."""
    from litwatch.db.publications import iter_publications
    from litwatch.exports.tabular import csv_cell, write_publications_csv

    db = open_db(db_path)
    publications.save_publications(db, hostile("90000002", "Growth of <i>Shewanella</i> at p &lt; 0.001"), "t")
    publications.save_publications(db, hostile("90000001", "=1+1"), "u")
    publications.save_publications(db, hostile("90000001", "=1+1"), "t")
    out = io.StringIO()
    assert write_publications_csv(db, out) == 2
    rows = {r["pmid"]: r for r in csv.DictReader(io.StringIO(out.getvalue()))}
    for shape in iter_publications(db):
        row = rows[shape["pmid"]]
        for key, cell in row.items():
            expected = csv_cell(key, shape[key])
            assert cell == ("" if expected is None else str(expected)), key


def test_csv_text_writes_what_csv_writer_writes():
    """The fast cell writer against the standard library's (excel dialect, after neutralise)."""
    import random

    from litwatch.exports.tabular import csv_text

    rng = random.Random(14)
    alphabet = ['"', ",", "\n", "\r", "\t", " ", "=", "+", "-", "@", "'", ";", "a", "é", "\u2028", "\\"]
    cells = ["", "plain", "=1+1", '"quoted"', "a,b", "line\nbreak", "\r\n", "-5", "@SUM(A1)", "\tx"]
    cells += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    for cell in cells:
        expected = io.StringIO()
        csv.writer(expected).writerow(["x", neutralise(cell), "y"])
        assert f"x,{csv_text(cell)},y\r\n" == expected.getvalue(), repr(cell)


def test_flat_list_cells_match_json_each(db_path):
    """The CSV's list cells (``join_list``: two string replaces, or a decode when the JSON has
    escapes) say what SQLite's json_each says, for the compact JSON written now, the spaced
    JSON of older rows, and escapes."""
    from litwatch.db.publications import join_list

    db = open_db(db_path)
    arrays = [[], ["Smith J"], ["Depression, Postpartum", "Humans"], ['say "hi"', "back\\slash"],
              ["é", "line\nbreak"], ["", "x"], ["a", "", "b"], ["x", None, "y"], [None], [""],
              ['", "', '","'], ["tab\tend", "ü\u2028"]]
    for arr in arrays:
        for text in (json.dumps(arr), json.dumps(arr, separators=(",", ":")),
                     json.dumps(arr, ensure_ascii=False, separators=(",", ":"))):
            oracle = db.execute("SELECT group_concat(value, '; ') FROM json_each(?)", [text]).fetchone()[0]
            assert join_list(text) == (oracle if arr else None), text
    assert join_list(None) is None


def test_parallel_csv_is_the_same_bytes_as_serial(db_path):
    """Worker processes writing rowid pieces give exactly the serial export, in order."""
    from litwatch.exports.tabular import write_publications_csv

    db = open_db(db_path)
    for i in range(7):
        publications.save_publications(db, hostile(str(91000000 + i), f"Paper, number {i} =x"), "t")
    serial, parallel = io.StringIO(), io.StringIO()
    assert write_publications_csv(db, serial, workers=1) == 7
    assert write_publications_csv(db, parallel, workers=2, piece_rowids=2, parallel_from=0) == 7
    assert parallel.getvalue() == serial.getvalue()
    since = io.StringIO()
    assert write_publications_csv(db, since, "2999-01-01", workers=2, piece_rowids=3, parallel_from=0) == 0
    assert since.getvalue().count("\n") == 1  # the header alone


def test_parallel_json_is_the_same_bytes_as_serial(db_path):
    """Publications' JSON made by worker processes, pieces by PMID, equals the one-process export."""
    from litwatch.db.publications import iter_publications
    from litwatch.exports.tabular import publication_json_pieces, write_json_pieces

    db = open_db(db_path)
    for i in (5, 3, 11, 7, 1, 9, 2):  # stored out of PMID order: the export sorts
        publications.save_publications(db, hostile(str(92000000 + i), f"Paper <i>{i}</i>"), "t")
    serial, parallel, by_pieces = io.StringIO(), io.StringIO(), io.StringIO()
    assert write_json(iter_publications(db), serial) == 7
    assert write_json_pieces(publication_json_pieces(db, workers=2, piece=2, parallel_from=0), parallel) == 7
    assert write_json_pieces(publication_json_pieces(db, workers=1), by_pieces) == 7
    assert parallel.getvalue() == serial.getvalue() == by_pieces.getvalue()
    assert [r["pmid"] for r in json.loads(serial.getvalue())] == [str(92000000 + i) for i in (1, 2, 3, 5, 7, 9, 11)]


def test_an_export_without_worker_processes_runs_in_this_process(db_path, monkeypatch):
    import multiprocessing

    from litwatch.exports.tabular import write_publications_csv

    db = open_db(db_path)
    for i in range(3):
        publications.save_publications(db, hostile(str(93000000 + i), f"Paper {i}"), "t")
    serial = io.StringIO()
    write_publications_csv(db, serial, workers=1)

    def refuse(*args, **kwargs):
        raise OSError("no semaphores here")

    monkeypatch.setattr(multiprocessing, "get_context", refuse)
    out = io.StringIO()
    assert write_publications_csv(db, out, workers=2, piece_rowids=1, parallel_from=0) == 3
    assert out.getvalue() == serial.getvalue()


def test_plain_text_of_a_fragment_folds_spaces_like_split_and_join():
    """``fragment_to_text``'s shortcut for text the parser stored (sections joined by a blank
    line, spaces folded) gives what ``" ".join(text.split())`` gives, for any whitespace."""
    import random

    from litwatch.vocab.markup import fragment_to_text

    rng = random.Random(3)
    alphabet = list("ab cd\n\t\r\xa0\u2009\u3000\x85\u2028\x1f.,") + ["\n\n", "  ", "é"]
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        assert fragment_to_text(text) == " ".join(text.split()), repr(text)
    assert fragment_to_text("BACKGROUND: a b.\n\nMETHODS: c.") == "BACKGROUND: a b. METHODS: c."
