"""Every correction type and every inline tag survives parse -> save -> select -> render.

The records go through ``crawler.pubmed_parse`` and ``db.publications`` (``litwatch.demo_world``),
so a type or tag the parser keeps but the digest drops (or the reverse) fails here.
"""

from __future__ import annotations

import pytest
from digest_support import NOW, make_watchlist

from litwatch import demo_world as world
from litwatch.digest import evidence
from litwatch.digest.render import build_view, render_html, render_text
from litwatch.digest.select import select_digest
from litwatch.vocab.markup import INLINE_TAGS
from litwatch.vocab.records import CORRECTION_TYPES


def _render(db):
    content = select_digest(db, make_watchlist(), NOW)
    view = build_view(content, cap=25)
    return content, render_text(view), render_html(view)


def test_every_correction_type_of_the_vocabulary_has_a_label():
    assert evidence.LABELLED_TYPES == set(CORRECTION_TYPES)
    assert set(evidence.CORRECTION_LABELS) | set(evidence.CORRECTION_REVERSE) == set(CORRECTION_TYPES)


@pytest.mark.parametrize("ref_type", sorted(evidence.CORRECTION_LABELS))
def test_a_correction_on_the_paper_reaches_the_reader(db, ref_type):
    world.add_publication(db, "100", title="A corrected paper", topics=["ketamine-depression"],
                          corrections=[(ref_type, "200", "Notice in J Test. 2026")])
    content, text, html = _render(db)
    label = evidence.CORRECTION_LABELS[ref_type]
    assert [(c.pmid, c.ref_type, c.notice_pmid) for c in content.corrections] == [("100", ref_type, "200")]
    paper = content.publications[0]
    assert [m.label for m in paper.all_marks] == [label]
    assert label in html and label.upper() in text and "pubmed.ncbi.nlm.nih.gov/200/" in html
    assert paper.is_retracted == (ref_type in evidence.RETRACTION_KINDS)


@pytest.mark.parametrize("notice_type", sorted(evidence.CORRECTION_REVERSE))
def test_a_notice_naming_a_stored_paper_marks_that_paper(db, notice_type):
    world.add_publication(db, "100", title="A corrected paper", topics=["ketamine-depression"])
    world.add_publication(db, "200", title="The notice", corrections=[(notice_type, "100")])
    content, text, html = _render(db)
    kind = evidence.CORRECTION_REVERSE[notice_type]
    assert [(c.pmid, c.ref_type, c.notice_pmid) for c in content.corrections] == [("100", kind, "200")]
    marked = next(p for p in content.publications if p.pmid == "100")
    assert [m.ref_type for m in marked.all_marks] == [kind]
    assert evidence.CORRECTION_LABELS[kind] in html


def test_every_inline_tag_survives_to_the_html_and_becomes_text_in_the_plain_part(db):
    title = "Tags: " + " ".join(f"<{t}>{t}-text</{t}>" for t in INLINE_TAGS)
    world.add_publication(db, "100", title=title, topics=["ketamine-depression"],
                          sections=[{"label": "CONCLUSIONS", "category": "CONCLUSIONS", "text": "CO<sub>2</sub> and <u>under</u>."}])
    _, text, html = _render(db)
    for tag in INLINE_TAGS:
        assert f"<{tag}>{tag}-text</{tag}>" in html, tag
        assert f"&lt;{tag}&gt;" not in html and f"<{tag}>" not in text, tag
    assert "Tags: " + " ".join(f"{t}-text" for t in INLINE_TAGS) in text
    assert "CO<sub>2</sub> and <u>under</u>." in html and "CO2 and under." in text
