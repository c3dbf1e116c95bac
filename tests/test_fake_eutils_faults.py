"""The fake E-utilities' faults named by PMID hit the answer holding that record, whichever
order the crawler's concurrent efetches arrive in (CI once saw them swapped)."""

from __future__ import annotations

import requests

from litwatch.fakes.eutils import FakeEutils


def _efetch(fake: FakeEutils, pmids: list[str]) -> bytes:
    r = requests.get(fake.base_url + "efetch.fcgi", params={"db": "pubmed", "id": ",".join(pmids), "retmode": "xml"}, timeout=10)
    assert r.status_code == 200
    return r.content


def test_a_short_page_named_by_pmid_waits_for_the_answer_that_holds_it():
    with FakeEutils() as fake:
        pmids = sorted(fake.records)[:5]
        early, late = pmids[:2], pmids[2:]
        fake.inject("short", "efetch", pmid=late[0])
        fake.inject("bad_record", "efetch", pmid=late[1])
        whole = _efetch(fake, early)  # arrives first, holds neither: untouched
        cut = _efetch(fake, late)
        assert fake.faults == []
    first, second = (e for e in fake.calls("efetch"))
    assert first.pmids == early and whole.count(b"<PubmedArticle>") == 2
    # late[2] left out (short), late[1] served malformed (not counted as served well)
    assert second.pmids == [late[0]] and cut.count(b"<PubmedArticle>") == 2 and late[2].encode() not in cut


def test_an_unnamed_short_page_hits_the_next_answer():
    with FakeEutils() as fake:
        pmids = sorted(fake.records)[:3]
        fake.inject("short", "efetch")
        _efetch(fake, pmids)
        assert fake.faults == []
    assert fake.calls("efetch")[0].pmids == pmids[:2]
