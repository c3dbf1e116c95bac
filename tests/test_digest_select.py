"""What the digest selects: grouping, ordering, dedup, and the ledger's pending rule."""

from __future__ import annotations

import datetime as dt

from digest_support import NOW, make_watchlist

from litwatch import demo_world as demo
from litwatch.db import digests as ledger
from litwatch.digest.evidence import OTHER_GROUP
from litwatch.digest.select import iso_week, select_digest


def _deliver(db, items, *, status="delivered", created_at="2026-11-09T12:00:00Z"):
    with ledger.write_transaction(db):
        digest_id = ledger.record_digest(db, created_at=created_at, week="2026-W46", subject="s", recipients=[], items=items,
                                         status="sending")
    if status == "delivered":
        ledger.mark_delivered(db, digest_id, sent_at=created_at, delivered_to="smtp", message_id="<m@x>")
    elif status == "failed":
        ledger.mark_failed(db, digest_id, "550 no")
    return digest_id


def test_paper_found_by_several_topics_appears_once_under_the_most_specific(db):
    """Most specific = the topic that found the fewest papers in this digest."""
    demo.add_publication(db, "100", title="Shared paper", topics=["ketamine-bpd", "ketamine-depression"])
    demo.add_publication(db, "101", title="Broad paper", topics=["ketamine-depression"])
    content = select_digest(db, make_watchlist(), NOW)
    sections = {t.name: t for t in content.topics}
    assert [p.pmid for p in sections["ketamine-bpd"].publications] == ["100"]
    assert [p.pmid for p in sections["ketamine-depression"].publications] == ["101"]
    paper = sections["ketamine-bpd"].publications[0]
    assert paper.other_topics == ["ketamine-depression"]
    assert sorted(content.items()) == [("publication", "100"), ("publication", "101")]


def test_a_tie_goes_to_the_earlier_topic_of_the_watchlist(db):
    demo.add_publication(db, "100", title="Shared paper", topics=["ketamine-bpd", "ketamine-depression"])
    content = select_digest(db, make_watchlist(), NOW)
    assert [t.name for t in content.topics] == ["ketamine-depression"]
    assert content.publications[0].other_topics == ["ketamine-bpd"]


def test_publications_grouped_by_strength_of_evidence(db):
    types = {
        "1": ["Journal Article"], "2": ["Case Reports"], "3": ["Review"], "4": ["Observational Study"],
        "5": ["Clinical Trial", "Clinical Trial, Phase II"], "6": ["Randomized Controlled Trial"], "7": ["Meta-Analysis", "Review"],
    }
    for pmid, ptypes in types.items():
        demo.add_publication(db, pmid, publication_types=ptypes, topics=["ketamine-depression"])
    section = select_digest(db, make_watchlist(), NOW).topics[0]
    assert [g.label for g in section.groups] == [
        "Guidelines, systematic reviews & meta-analyses", "Randomised controlled trials", "Other clinical trials",
        "Observational studies", "Reviews", "Case reports", OTHER_GROUP,
    ]
    assert [g.items[0].pmid for g in section.groups] == ["7", "6", "5", "4", "3", "2", "1"]
    assert section.groups[0].items[0].badges == ["Meta-analysis", "Review"]


def test_conclusion_is_the_abstracts_conclusion_else_its_opening(db):
    demo.add_publication(db, "1", topics=["ketamine-depression"], sections=[
        {"label": "BACKGROUND", "category": "BACKGROUND", "text": "Background text."},
        {"label": "INTERPRETATIONS AND CONCLUSIONS", "category": "UNASSIGNED", "text": "Ketamine helped."},
    ])
    demo.add_publication(db, "2", topics=["ketamine-depression"], sections=[
        {"label": "Findings", "category": "CONCLUSIONS", "text": "Esketamine helped."},
    ])
    demo.add_publication(db, "3", topics=["ketamine-depression"],
                         abstract="First sentence here. Second one follows. Third is left out.")
    pubs = {p.pmid: p for p in select_digest(db, make_watchlist(), NOW).publications}
    assert (pubs["1"].conclusion, pubs["1"].conclusion_is_summary) == ("Ketamine helped.", True)
    assert pubs["2"].conclusion == "Esketamine helped."
    assert (pubs["3"].conclusion, pubs["3"].conclusion_is_summary) == ("First sentence here. Second one follows.", False)


def test_trials_followed_changes_first_then_other_changes_then_new(db):
    demo.add_trial(db, "NCT03395314", status="RECRUITING", topics=["ketamine-bpd"])  # followed by the watchlist
    demo.add_trial(db, "NCT00000002", status="COMPLETED", topics=["ketamine-depression"])
    demo.add_trial(db, "NCT00000003", status="RECRUITING", topics=["ketamine-depression"])
    # The first two were delivered as new trials before; only their changes are pending.
    _deliver(db, [("trial", "NCT03395314"), ("trial", "NCT00000002")])
    demo.change_trial(db, "NCT03395314", status="TERMINATED", enrollment=22, enrollment_type="ESTIMATED")
    demo.change_trial(db, "NCT00000002", has_results=True)
    content = select_digest(db, make_watchlist(), NOW)
    assert [t.nct_id for t in content.followed_changes] == ["NCT03395314"]
    assert content.followed_changes[0].change_lines == ["recruiting → terminated", "enrollment 60 → 22"]
    assert content.followed_changes[0].headline == "NCT03395314 terminated"
    assert [t.nct_id for t in content.other_changes] == ["NCT00000002"]
    assert content.other_changes[0].change_lines == ["results posted"]
    assert [t.nct_id for t in content.new_trials] == ["NCT00000003"]
    assert [t.nct_id for t in content.trials] == ["NCT00000003"]
    assert len(content.trial_changes) == 3 and content.counts["trial_changes"] == 3 and content.counts["trials_changed"] == 2


def test_a_new_reference_names_the_paper_when_it_is_stored(db):
    demo.add_trial(db, "NCT03395314", topics=["ketamine-bpd"])
    _deliver(db, [("trial", "NCT03395314")])
    demo.add_publication(db, "36804489", title="Ketamine in BPD: a randomized trial")
    demo.change_trial(db, "NCT03395314", new_references=["36804489", "36804490"])
    entry = select_digest(db, make_watchlist(), NOW).followed_changes[0]
    assert [(r.pmid, r.title) for r in entry.new_references] == [("36804489", "Ketamine in BPD: a randomized trial"),
                                                                ("36804490", None)]
    assert entry.change_lines == ["new references: Ketamine in BPD: a randomized trial (PMID 36804489); PMID 36804490"]


def test_corrections_touching_stored_papers_once_each(db):
    demo.add_publication(db, "10", title="Original", topics=["ketamine-depression"])
    demo.add_publication(db, "11", title="Retraction notice", publication_types=["Retraction of Publication"],
                         corrections=[("RetractionOf", "10")])  # the notice's side of the same event
    demo.add_correction(db, "10", "RetractionIn", "11")
    demo.add_correction(db, "10", "ErratumIn", "12")
    demo.add_correction(db, "10", "CommentIn", "13")  # not a correction: the parser does not keep it
    demo.add_publication(db, "97", title="Notice of a paper not stored", corrections=[("RetractionOf", "98")])
    content = select_digest(db, make_watchlist(), NOW)
    assert [(c.pmid, c.ref_type, c.notice_pmid) for c in content.corrections] == [("10", "RetractionIn", "11"), ("10", "ErratumIn", "12")]
    assert [c.pmid for c in content.retractions] == ["10"]
    paper = next(p for p in content.publications if p.pmid == "10")
    assert [m.label for m in paper.all_marks] == ["Retracted", "Erratum"] and paper.is_retracted
    assert content.section_corrections == [] and [c.anchor for c in content.alerts] == ["pmid-10"]
    _deliver(db, [("correction", c.key) for c in content.corrections] + [("publication", p.pmid) for p in content.publications])
    assert select_digest(db, make_watchlist(), NOW).corrections == []


def test_a_correction_of_an_earlier_paper_goes_to_the_corrections_section(db):
    demo.add_publication(db, "10", title="Original", topics=["ketamine-depression"])
    _deliver(db, [("publication", "10")])
    demo.add_correction(db, "10", "ExpressionOfConcernIn", "11")
    content = select_digest(db, make_watchlist(), NOW)
    assert content.publications == []
    assert [(c.pmid, c.label, c.anchor) for c in content.section_corrections] == [
        ("10", "Expression of concern", "corr-10-ExpressionOfConcernIn")]
    assert content.alerts == content.section_corrections


def test_feed_items_preprints_apart_journal_items_under_topic_known_records_hidden(db):
    demo.add_publication(db, "500", doi="10.1000/Known", topics=["ketamine-depression"])
    demo.add_trial(db, "NCT00000009")
    demo.add_feed_item(db, "pre-1", kind="preprint", title="A preprint", topics=["ketamine-bpd"])
    demo.add_feed_item(db, "jour-1", kind="journal", title="A journal item", topics=["ketamine-trd", "ketamine-depression"])
    demo.add_feed_item(db, "jour-pmid", kind="journal", title="Known by PMID", pmid="500", topics=["ketamine-depression"])
    demo.add_feed_item(db, "jour-doi", kind="journal", title="Known by DOI", doi="10.1000/known", topics=["ketamine-depression"])
    demo.add_feed_item(db, "ct-1", kind="trial", title="A stored trial", nct_id="NCT00000009")
    demo.add_feed_item(db, "ct-unresolved", kind="trial", title="A trial feed item without NCT number", nct_id=None)
    content = select_digest(db, make_watchlist(), NOW)
    assert [f.id for f in content.preprints] == ["pre-1"]
    sections = {t.name: t for t in content.topics}
    assert [f.id for f in sections["ketamine-depression"].feed_items] == ["jour-1"]
    assert ("feed_item", "jour-doi") not in content.items()
    assert [f.id for f in content.topics[-1].feed_items] == ["ct-unresolved"]  # no topic: the "other" section


def test_pending_means_not_in_a_delivered_or_fresh_claimed_digest(db):
    for pmid in ("1", "2", "3", "4", "5"):
        demo.add_publication(db, pmid, topics=["ketamine-depression"])
    _deliver(db, [("publication", "1")])
    _deliver(db, [("publication", "2")], status="failed")
    with ledger.write_transaction(db):
        ledger.record_digest(db, created_at="2026-11-16T11:30:00Z", week="w", subject="s", recipients=[],
                             items=[("publication", "3")], status="sending")  # under way
        ledger.record_digest(db, created_at="2026-11-16T09:00:00Z", week="w", subject="s", recipients=[],
                             items=[("publication", "4")], status="sending")  # stale: its process died
        ledger.record_digest(db, created_at="2026-11-16T11:00:00Z", week="w", subject="s", recipients=[],
                             items=[("publication", "5")], status="preview")
    pmids = sorted(p.pmid for p in select_digest(db, make_watchlist(), NOW).publications)
    assert pmids == ["2", "4", "5"]


def test_crawl_warnings_since_the_last_delivered_digest(db):
    demo.add_crawl_run(db, "pubmed", warnings=["old warning"], started_at="2026-11-08T05:00:00Z")
    _deliver(db, [], created_at="2026-11-09T12:00:00Z")
    for day in (10, 11, 12):
        demo.add_crawl_run(db, "pubmed", warnings=["topic ketamine-bpd: 0 records, 14 last time"], started_at=f"2026-11-{day}T05:00:00Z")
    demo.add_crawl_run(db, "ctgov", "failed", error="HTTP 503 from clinicaltrials.gov", started_at="2026-11-13T05:00:00Z")
    content = select_digest(db, make_watchlist(), NOW)
    assert content.warnings == [
        "pubmed: topic ketamine-bpd: 0 records, 14 last time (×3)",
        "ctgov: crawl failed: HTTP 503 from clinicaltrials.gov",
    ]
    assert content.warnings_are_news and not content.is_empty and not content.has_items


def test_no_crawl_is_reported_but_alone_is_not_news_unless_stale(db):
    content = select_digest(db, make_watchlist(), NOW)
    assert content.is_empty and "no crawl has run yet" in content.warnings[0]
    demo.add_crawl_run(db, "pubmed", started_at="2026-10-01T05:00:00Z")
    content = select_digest(db, make_watchlist(), NOW)
    assert "no crawl has run since" in content.warnings[0] and content.warnings_are_news


def test_paper_without_topic_goes_to_the_also_stored_section(db):
    demo.add_publication(db, "77", title="Seed-cited paper")
    content = select_digest(db, make_watchlist(), NOW)
    assert content.topics[-1].name == "" and content.topics[-1].publications[0].pmid == "77"


def test_week_is_the_iso_week_in_the_watchlist_timezone():
    monday_early_utc = dt.datetime(2026, 11, 16, 3, 0, tzinfo=dt.timezone.utc)  # Sunday evening in New York
    assert iso_week(monday_early_utc, "America/New_York") == "2026-W46"
    assert iso_week(monday_early_utc, "UTC") == "2026-W47"


def test_a_warning_already_delivered_is_shown_again_but_is_not_news(db):
    demo.add_crawl_run(db, "ctgov", warnings=["NCT03395314: not found (HTTP 404)"], started_at="2026-11-10T05:00:00Z")
    first = select_digest(db, make_watchlist(), NOW)
    assert first.warnings_are_news
    with ledger.write_transaction(db):
        digest_id = ledger.record_digest(db, created_at="2026-11-10T12:00:00Z", week="w", subject="s", recipients=[], items=[],
                                         status="sending", warnings=first.warnings)
    ledger.mark_delivered(db, digest_id, sent_at="2026-11-10T12:00:00Z", delivered_to="smtp", message_id="<m@x>")
    demo.add_crawl_run(db, "ctgov", warnings=["NCT03395314: not found (HTTP 404)"], started_at="2026-11-11T05:00:00Z")
    demo.add_crawl_run(db, "ctgov", warnings=["NCT03395314: not found (HTTP 404)"], started_at="2026-11-12T05:00:00Z")
    again = select_digest(db, make_watchlist(), NOW)
    assert again.warnings == ["ctgov: NCT03395314: not found (HTTP 404) (×2)"] and again.is_empty
    demo.add_crawl_run(db, "pubmed", warnings=["topic ketamine-bpd: 0 records, 14 last time"], started_at="2026-11-13T05:00:00Z")
    assert not select_digest(db, make_watchlist(), NOW).is_empty


def _statements(db, watchlist) -> int:
    seen = []
    db.conn.set_trace_callback(seen.append)
    try:
        select_digest(db, watchlist, NOW)
    finally:
        db.conn.set_trace_callback(None)
    return len(seen)


def test_selection_reads_are_batched(db):
    """The number of statements does not grow with the number of papers, trials and corrections
    (placing the papers takes a dozen, in temp tables, whatever their number)."""
    watchlist = make_watchlist()

    def week(start: int, n: int) -> None:
        xml = b"".join(demo.pubmed_xml(str(start + i), title=f"Paper {i}", nct_ids=[f"NCT{start + i:08d}"],
                                       corrections=[("ErratumIn", str(900000 + start + i))]) for i in range(n))
        demo.store_pubmed(db, xml, ["ketamine-depression", "ketamine-bpd"])
        for i in range(n):
            demo.add_trial(db, f"NCT{start + i:08d}", topics=["ketamine-depression"])
    week(1000, 3)
    few = _statements(db, watchlist)
    week(2000, 60)
    assert _statements(db, watchlist) == few <= 45


def test_trial_change_counts_agree_between_crawl_digest_and_ledger(db):
    """Each counts changed fields: the crawl's ``trial_changes``, the digest's count and the ledger's items."""
    from litwatch.crawler.ctgov import normalise_study
    from litwatch.db.trials import save_trials

    demo.add_trial(db, "NCT03395314", topics=["ketamine-bpd"])
    _deliver(db, [("trial", "NCT03395314")])
    study = demo.study_json("NCT03395314", status="TERMINATED", why_stopped="Slow recruitment", enrollment=22,
                            enrollment_type="ACTUAL", results_first_posted="2026-11-12", has_results=True,
                            references=["36804489"])
    crawl = save_trials(db, [normalise_study(study)], "ketamine-bpd")
    content = select_digest(db, make_watchlist(), NOW)
    ledger_items = [k for k, _ in content.items() if k == "trial_change"]
    assert crawl["trial_changes"] == content.counts["trial_changes"] == len(ledger_items) >= 6
    assert content.counts["trials_changed"] == 1
    assert content.followed_changes[0].headline == "NCT03395314 terminated, results posted"
