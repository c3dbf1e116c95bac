"""Search finds what people paste: identifiers first, a pasted title's paper, a leading -."""

from __future__ import annotations

import pytest
from export_support import build_store, litwatch

from litwatch.crawler.ctgov import normalise_study
from litwatch.db import open_db, trials
from litwatch.db.search import search_all
from litwatch.fakes.ctgov import ketamine_bpd_study


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("search") / "litwatch.db"
    build_store(path)
    db = open_db(path)
    study = ketamine_bpd_study("NCT03395314")
    trials.save_trials(db, [normalise_study(study)], topic="ketamine-bpd")
    yield path, db
    db.conn.close()


def key(hit):
    return hit.get("pmid") or hit.get("nct_id")


@pytest.mark.parametrize("query, expected", [
    ("NCT03395314", "NCT03395314"),
    ("nct03395314", "NCT03395314"),
    ("10.1073/pnas.2305772120", "38011560"),
    ("https://doi.org/10.1073/PNAS.2305772120", "38011560"),
    ("PMC10710048", "38011560"),
    ("38011560", "38011560"),
    ("PMID: 38011560", "38011560"),
])
def test_an_identifier_finds_its_record_first(store, query, expected):
    hits = search_all(store[1], query)
    assert hits and key(hits[0]) == expected


def test_a_pasted_title_finds_its_paper_first(store):
    title = "Ketamine and the neurobiology of depression: Toward next-generation rapid-acting antidepressant treatments."
    hits = search_all(store[1], title)
    assert key(hits[0]) == "38011560"


def test_identifier_hits_are_not_repeated(store):
    hits = search_all(store[1], "NCT03395314", limit=50)
    keys = [key(h) for h in hits]
    assert len(keys) == len(set(keys))


def test_leading_minus_excludes_from_the_command_line(store):
    path = store[0]
    with_all = litwatch("search", "ketamine", "--json", "--limit", "100", db=path)
    without = litwatch("search", "ketamine", "-depression", "--json", "--limit", "100", db=path)
    assert with_all.returncode == 0 and without.returncode == 0, without.stderr
    import json

    a, b = json.loads(with_all.stdout), json.loads(without.stdout)
    assert 0 < len(b) < len(a)
    assert not any("depression" in (h.get("title") or "").lower() for h in b)
    alone = litwatch("search", "-ketamine", db=path)
    assert alone.returncode == 2 and len(alone.stderr.strip().splitlines()) == 1
    assert "No such option" not in alone.stderr and "litwatch search depression -ketamine" in alone.stderr
    unknown = litwatch("search", "ketamine", "--limt", "3", db=path)
    assert unknown.returncode == 2 and "no such option: --limt" in unknown.stderr


def test_search_with_no_match_names_the_query_and_filters(store):
    proc = litwatch("search", "xylophone", "--type", "trial", db=store[0])
    assert proc.returncode == 0 and proc.stderr.strip() == "no matches for 'xylophone' with --type trial"


def test_a_publication_type_no_paper_has_is_named_with_the_nearest(store):
    proc = litwatch("search", "ketamine", "--type", "Reveiw", db=store[0])
    assert proc.returncode == 0
    assert proc.stderr.strip() == ("no matches for 'ketamine' with --type Reveiw; no stored paper has publication type "
                                   "'Reveiw' (did you mean 'Review'?)")
