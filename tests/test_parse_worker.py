"""Parsing in worker processes (issue 14, items 1-2): the same records, rows and errors as
parsing in-process, and a worker that dies fails its topic without losing anything."""

from __future__ import annotations

import json
import os

import pytest
from conftest import PUBMED_FIXTURES
from fault_support import env_for, expected_all, litwatch, rows, stored_pmids, watchlist

from litwatch.crawler import parse_worker
from litwatch.crawler.pubmed_parse import RecordError, parse_pubmed, record_blocks
from litwatch.db import open_db, publications
from litwatch.fakes.eutils import FakeEutils


def _answer() -> bytes:
    """Every recorded efetch record in one answer, plus one malformed and one without title."""
    import re

    records = []
    for path in sorted((PUBMED_FIXTURES / "efetch").glob("*.xml")):
        records += re.findall(rb"<PubmedArticle>.*?</PubmedArticle>", path.read_bytes(), re.S)
    broken = records[0].replace(b"<PMID Version=\"1\">", b"<PMID Version=\"1\">9", 1).replace(b"</Journal>", b"", 1)
    untitled = re.sub(rb"<ArticleTitle>.*?</ArticleTitle>", b"<ArticleTitle/>", records[1], flags=re.S)
    untitled = re.sub(rb"<Abstract>.*?</Abstract>", b"", untitled, flags=re.S)
    untitled = untitled.replace(b"<PMID Version=\"1\">", b"<PMID Version=\"1\">8", 1)
    return b"<?xml version=\"1.0\"?>\n<PubmedArticleSet>\n" + b"\n".join(records + [broken, untitled]) + b"\n</PubmedArticleSet>\n"


def _dump(db) -> list[dict]:
    pmids = [r[0] for r in db.execute("SELECT pmid FROM publications ORDER BY pmid").fetchall()]
    out = [publications.publication_json(p) for p in publications.read_publications(db, pmids)]
    for shape in out:
        shape.pop("first_seen_at")
    return out


def test_blocks_cut_after_a_record_and_lose_no_byte():
    data = _answer()
    blocks = list(record_blocks(data, 50_000))
    assert len(blocks) > 3 and b"".join(blocks) == data
    assert all(b.rstrip().endswith((b"</PubmedArticle>", b"</PubmedBookArticle>")) for b in blocks[:-1])


def test_workers_store_what_the_in_process_path_stores_and_keep_the_errors(tmp_path):
    data = _answer()
    serial = open_db(tmp_path / "serial.db")
    parsed = list(parse_pubmed(data))
    publications.save_publications(serial, [r for r in parsed if not isinstance(r, RecordError)], "t")

    pooled = open_db(tmp_path / "pooled.db")
    items = list(parse_worker.prepared(data, workers=2))
    errors = [i for i in items if isinstance(i, RecordError)]
    counts = publications.save_stream(pooled, items, "t", batch_size=7)

    assert _dump(pooled) == [s for s in _dump(serial) if s["title"] or s["abstract"]]
    # One record did not parse, one has neither title nor abstract: both are errors with their PMID and bytes.
    assert counts["errors"] == 2 and sorted(e.pmid[:1] for e in errors) == ["8", "9"]
    assert all(e.raw and e.raw.startswith(b"<PubmedArticle>") for e in errors)
    assert counts["new"] == len(_dump(pooled))
    raw = publications.raw_xml(pooled, _dump(pooled)[0]["pmid"])
    assert raw is not None and raw.startswith(b"<PubmedArticle>")


def test_a_file_given_by_its_path_is_cut_where_its_bytes_are_and_stores_the_same(tmp_path, monkeypatch):
    """A path is mapped and its pieces read by the workers themselves (``prepare_span``):
    the same pieces as ``record_blocks`` of its bytes, the same rows and errors."""
    import mmap

    from litwatch.crawler.pubmed_parse import record_spans

    data = _answer()
    path = tmp_path / "answer.xml"
    path.write_bytes(data)
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        spans = list(record_spans(mapped, 50_000))
    assert [data[a:z] for a, z in spans] == list(record_blocks(data, 50_000))

    monkeypatch.setattr(parse_worker, "BLOCK", 50_000)
    by_bytes, by_path = open_db(tmp_path / "bytes.db"), open_db(tmp_path / "path.db")
    from_bytes = list(parse_worker.prepared(data, workers=2))
    from_path = list(parse_worker.prepared(path, workers=2))  # a pathlib.Path, like a str
    assert sum(len(i) for i in from_path if not isinstance(i, RecordError)) > 20
    assert [e.pmid for e in from_path if isinstance(e, RecordError)] == [e.pmid for e in from_bytes if isinstance(e, RecordError)]
    publications.save_stream(by_bytes, from_bytes, "t")
    publications.save_stream(by_path, from_path, "t")
    assert _dump(by_path) == _dump(by_bytes)


def test_files_without_records_are_refused_like_their_bytes(tmp_path):
    import pytest
    from lxml import etree

    empty_set, html, empty = tmp_path / "set.xml", tmp_path / "html.xml", tmp_path / "empty.xml"
    empty_set.write_bytes(b"<?xml version=\"1.0\"?>\n<PubmedArticleSet></PubmedArticleSet>")
    html.write_bytes(b"<html><body>502 Bad Gateway</body></html>")
    empty.write_bytes(b"")
    assert list(parse_worker.prepared(str(empty_set), workers=1)) == []
    for path in (html, empty):
        with pytest.raises(etree.XMLSyntaxError):
            list(parse_worker.prepared(str(path), workers=1))


def test_input_without_records_is_refused_like_the_in_process_parser():
    import pytest
    from lxml import etree

    assert list(parse_worker.prepared(b"<?xml version=\"1.0\"?>\n<PubmedArticleSet></PubmedArticleSet>", workers=1)) == []
    with pytest.raises(etree.XMLSyntaxError):
        list(parse_worker.prepared(b"<html><body>502 Bad Gateway</body></html>", workers=1))


def test_a_worker_that_dies_fails_the_topic_keeps_the_watermark_and_the_next_crawl_stores_everything(tmp_path):
    db_path = tmp_path / "litwatch.db"
    config = watchlist(tmp_path / "watchlist.toml")
    with FakeEutils() as fake:
        victim = sorted(expected_all(fake))[0]
        env = env_for(db_path, eutils=fake, **{parse_worker.DIE_ENV: victim})
        crashed = litwatch(env, config, "crawl", "--source", "pubmed", "--json")
        assert crashed.returncode != 0
        report = json.loads(crashed.stdout)["sources"]["pubmed"]
        assert report["status"] != "ok"
        assert any("a parsing process died" in e for e in report["errors"]), report["errors"]
        assert victim not in set(stored_pmids(db_path))
        assert rows(db_path, "SELECT watermark FROM crawl_state WHERE source = 'pubmed' AND topic = 'all'") == [(None,)]

        env.pop(parse_worker.DIE_ENV)
        again = litwatch(env, config, "crawl", "--source", "pubmed", "--json")
        assert again.returncode == 0, again.stdout + again.stderr
        assert set(stored_pmids(db_path)) == expected_all(fake)
        assert rows(db_path, "SELECT watermark IS NOT NULL FROM crawl_state WHERE source = 'pubmed' AND topic = 'all'") == [(1,)]


def test_a_small_answer_is_parsed_here_without_starting_workers():
    """A weekly crawl's small answers cost no worker start-up; the results are the workers' kind."""
    body = (PUBMED_FIXTURES / "efetch" / "38011560.xml").read_bytes()
    pool = parse_worker.ParsePool()
    futures = pool.blocks(body)
    assert pool._pool is None and all(f.done() for f in futures)
    batch, errors, found = parse_worker.result(futures[0])
    assert found == 1 and not errors and len(batch.rows) == 1
    pool.close()


def test_without_worker_processes_every_answer_is_parsed_here(monkeypatch):
    """A system that cannot start processes (no POSIX semaphores) still gets every record."""
    import multiprocessing

    def refuse(*args, **kwargs):
        raise OSError("no semaphores here")

    monkeypatch.setattr(multiprocessing, "get_context", refuse)
    pool = parse_worker.ParsePool()
    pool.start()
    futures = pool.blocks(_answer())
    assert pool._pool is None and all(f.done() for f in futures)
    found = sum(parse_worker.result(f)[2] for f in futures)
    assert found == sum(1 for _ in parse_pubmed(_answer()))


FORKED = """
import json, sys, threading
from litwatch.crawler import parse_worker
body = open(sys.argv[1], "rb").read()
forked = parse_worker.fork_workers()
pool = parse_worker.ParsePool()
adopted = pool._pool is not None
pids = sorted(pool._pool._processes) if adopted else []
shared = pool._ring is not None
got = [parse_worker.result(f) for f in pool.blocks(body)]
freed = shared and not pool._ring._used
pool._ring.CAPACITY = 10  # no room: the same answer goes through the pipe
piped = [parse_worker.result(f) for f in pool.blocks(body)]
pool.close()
here = [parse_worker.prepare_block(b) for b in parse_worker.record_blocks(body, parse_worker.BLOCK)]
same = [(r.rows, [(e.reason, e.pmid) for e in errs], n) for r, errs, n in got] == \\
       [(r.rows, [(e.reason, e.pmid) for e in errs], n) for r, errs, n in here]
same_piped = [(r.rows, n) for r, _, n in piped] == [(r.rows, n) for r, _, n in got]
stop = threading.Event()
thread = threading.Thread(target=stop.wait)
thread.start()
with_thread = parse_worker.fork_workers()
stop.set()
thread.join()
print(json.dumps({"forked": forked, "adopted": adopted, "workers": len(pids), "same": same, "with_thread": with_thread,
                  "shared": shared, "freed": freed, "same_piped": same_piped}))
"""


def test_workers_forked_before_the_crawl_starts_parse_the_same_and_never_fork_a_threaded_process(tmp_path):
    """``fork_workers`` (called by a PubMed crawl before Scrapy starts): the pool a crawl then
    uses is the forked one and gives the rows of the in-process parse; a process that already
    runs a second thread is never forked."""
    import subprocess
    import sys

    from conftest import PROJECT_ROOT

    answer = tmp_path / "answer.xml"
    answer.write_bytes(_answer())
    proc = subprocess.run([sys.executable, "-c", FORKED, str(answer)], capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {"forked": True, "adopted": True, "workers": parse_worker.WORKERS, "same": True, "with_thread": False,
                   # Linux: the answer reaches the forked workers through the shared file, whose
                   # room is free again once parsed; without room, the pipe gives the same rows.
                   "shared": hasattr(os, "memfd_create"), "freed": hasattr(os, "memfd_create"), "same_piped": True}


SET_UP = """
import json, os, sqlite3, sys
from litwatch.crawler import parse_worker
from litwatch.db import connection
path, bad = sys.argv[1], sys.argv[2]
parse_worker.fork_workers()
parse_worker.set_up_database(path)
pending = connection._meanwhile[os.path.abspath(path)]
worker_pids = set(parse_worker._forked._processes)
done = pending.result(timeout=60) is None
names = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM _migrations")}
db = connection.open_db(path)  # waits for the worker (done already), migrates nothing more
waited = os.path.abspath(path) not in connection._meanwhile
again = {r[0] for r in db.execute("SELECT name FROM _migrations").fetchall()} == names
parse_worker.set_up_database(bad)  # a folder that does not exist: the worker fails quietly...
try:
    connection.open_db(bad)
    error = None
except Exception as exc:  # ...and the crawl's own open reports it
    error = str(exc)
parse_worker.close_forked()
print(json.dumps({"done": done, "migrations": len(names), "waited": waited, "again": again, "error": error,
                  "all": len(list(connection.all_migrations()))}))
"""


def test_a_forked_worker_sets_up_a_new_database_while_the_crawl_loads(tmp_path):
    """A PubMed crawl has a forked worker create and migrate a new database while Scrapy
    loads (``parse_worker.set_up_database``); the crawl's own ``open_db`` waits for it and
    finds every migration applied; a set-up that failed is reported by that open."""
    import subprocess
    import sys

    from conftest import PROJECT_ROOT

    db, bad = tmp_path / "new.db", tmp_path / "missing" / "x.db"
    proc = subprocess.run([sys.executable, "-c", SET_UP, str(db), str(bad)], capture_output=True, text=True,
                          timeout=120, cwd=PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["done"] and out["waited"] and out["again"]
    assert out["migrations"] == out["all"] > 0
    assert "does not exist" in out["error"]


def test_crawl_processes_keep_freed_memory_where_the_c_library_allows():
    """``crawler.heap.keep_freed_memory`` (called by every crawl process and parsing
    process): on glibc every threshold is accepted; elsewhere it declines quietly."""
    import platform

    from litwatch.crawler import heap

    accepted = heap.keep_freed_memory()
    if platform.libc_ver()[0] == "glibc":
        assert accepted
    else:
        assert accepted in (True, False)


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="Linux memfd only")
def test_the_shared_file_places_answers_in_gaps_and_frees_them_once_parsed():
    """``parse_worker._Ring``: first gap that holds the answer; none -> None (the pipe)."""
    from concurrent.futures import Future

    ring = parse_worker._Ring(os.memfd_create("test-ring"))
    ring.CAPACITY = 100
    a, b = ring.put(b"a" * 40), ring.put(b"b" * 40)
    assert (a, b) == (0, 40)
    assert ring.put(b"c" * 30) is None  # 20 left
    pending = [Future(), Future()]
    ring.release_when_done(a, pending)
    pending[0].set_result(None)
    assert ring.put(b"c" * 30) is None  # half of a's blocks still parsing
    pending[1].set_result(None)
    assert ring.put(b"c" * 30) == 0  # a's place, once all of it is parsed
    assert os.pread(ring.fd, 30, 0) == b"c" * 30 and os.pread(ring.fd, 40, 40) == b"b" * 40
