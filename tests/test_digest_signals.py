"""Issue 15's lines in the digest: key facts under each paper, overdue trials once in "Needs your attention".

(The "Citing papers you follow" section and "published 2019, new to PubMed" read
``litwatch.db.follows.citing_since`` and the publication's ``late_arrival``: see
``digest/signals.py``.)
"""

from __future__ import annotations

import datetime as dt

import pytest
from digest_support import NOW, clock, make_watchlist

from litwatch import demo_world as world
from litwatch.config import load_settings
from litwatch.digest.pipeline import run_digest
from litwatch.digest.render import build_view, render_html, render_text
from litwatch.digest.select import select_digest

BPD_ABSTRACT = ("Twenty-two adults with borderline personality disorder were enrolled in this randomized, double-blind, "
                "placebo-controlled trial (NCT03395314). Ketamine did not reduce suicidal ideation more than midazolam.")


def _render(db):
    content = select_digest(db, make_watchlist(), NOW)
    view = build_view(content, cap=25)
    return content, render_text(view), render_html(view)


def test_key_facts_line_under_the_paper_in_both_parts(db):
    world.add_publication(db, "36804489", topics=["ketamine-bpd"], abstract=BPD_ABSTRACT,
                          title="Ketamine in borderline personality disorder: a pilot trial",
                          publication_types=["Journal Article", "Randomized Controlled Trial"])
    content, text, html = _render(db)
    line = content.publications[0].key_facts
    assert line.startswith("randomised, double-blind, placebo-controlled") and "n = 22" in line, line
    assert "Facts: " + line in " ".join(text.split()) and line in html


def test_an_overdue_trial_is_flagged_once(db, tmp_path):
    world.add_trial(db, "NCT02210780", topics=["ketamine-depression"], status="COMPLETED", phases=["PHASE2"],
                    primary_completion_date="2024-06-30", title="Ketamine for bipolar depression")
    world.derive_trial_flags(db, dt.date(2026, 11, 16))
    content, text, html = _render(db)
    assert [(n, t) for n, t, _ in content.trial_flags] == [("NCT02210780", "Ketamine for bipolar depression: results overdue by 16 months; no publication found")]
    assert "NCT02210780: Ketamine for bipolar depression: results overdue by 16 months; no publication found" in " ".join(text.split())
    assert "results overdue by 16 months; no publication found" in html
    first = run_digest(db, load_settings(), make_watchlist(), send=True, clock=clock())
    assert first.status == "delivered"
    world.derive_trial_flags(db, dt.date(2026, 11, 23))  # the next crawl: still overdue
    assert select_digest(db, make_watchlist(), NOW).trial_flags == []


def test_a_late_arrival_says_so(db):
    rec = world.add_publication(db, "31000001", topics=["ketamine-depression"], title="An old ketamine trial",
                                pub_date="2019-03", entrez_date="2026-11-18")
    late = rec.get("late_arrival") if isinstance(rec, dict) else getattr(rec, "late_arrival", None)
    if late is None:
        pytest.skip("the PubMed parser does not mark late arrivals yet")
    content, text, html = _render(db)
    assert content.publications[0].late_arrival == "published 2019, new to PubMed"
    assert "published 2019, new to PubMed" in text and "published 2019, new to PubMed" in html


def test_citing_papers_you_follow(db):
    follows = pytest.importorskip("litwatch.db.follows", reason="db.follows (follow/citing) not installed yet")
    world.add_publication(db, "38011560", title="Ketamine and the neurobiology of depression", topics=["ketamine-depression"])
    world.add_publication(db, "41000123", title="A new paper citing the review", topics=["ketamine-depression"])
    follows.record_citing(db, [("30000001", "38011560")])  # the first check: older citations, the baseline
    follows.record_citing(db, [("41000123", "38011560")])
    content, text, html = _render(db)
    assert [(c.pmid, c.title, c.cites) for c in content.citing] == [
        ("41000123", "A new paper citing the review", "PMID 38011560 (Ketamine and the neurobiology of depression)")]
    assert "Citing papers you follow" in html and "CITING PAPERS YOU FOLLOW" in text
    assert "Cites PMID 38011560 (Ketamine and the neurobiology of depression)" in text
    assert "cites PMID 38011560 (Ketamine and the neurobiology of depression)" in html


def test_a_book_chapter_found_by_a_topic_is_listed_under_it(db):
    """Issue 11: a Bookshelf chapter (PubmedBookArticle) a topic search finds reaches the digest
    through the same parse and save path as a paper."""
    from litwatch.crawler.pubmed_parse import parse_pubmed
    from litwatch.db.publications import save_publications
    from litwatch.fakes import RECORDINGS

    chapters = [r for r in parse_pubmed(str(RECORDINGS / "pubmed" / "derived" / "book_chapters.xml"))
                if getattr(r, "record_type", None) == "book_chapter"]
    assert chapters
    save_publications(db, chapters[:1], topic="ketamine-depression")
    content, text, html = _render(db)
    (section,) = [s for s in content.topics if s.name == "ketamine-depression"]
    listed = [p for g in section.groups for p in g.items]
    assert [p.pmid for p in listed] == [chapters[0].pmid]
    title = " ".join(chapters[0].title.split())
    assert title[:40] in " ".join(text.split()) and chapters[0].pmid in html
