"""Trials read well on a terminal: ``show NCT…`` and the ``trials`` table."""

from __future__ import annotations

from litwatch.text_trials import format_trial, format_trials_table

SHAPE = {
    "kind": "trial", "nct_id": "NCT03395314", "title": "Ketamine in Borderline Personality Disorder",
    "official_title": None, "status": "TERMINATED", "why_stopped": "Slow enrollment", "phases": ["PHASE2"],
    "study_type": "INTERVENTIONAL", "enrollment": 22, "enrollment_type": "ACTUAL", "start_date": "2018-03",
    "primary_completion_date": "2022-06", "completion_date": "2022-06", "first_posted": "2018-01-09",
    "last_update_posted": "2026-11-20", "results_first_posted": "2026-11-20", "has_results": True,
    "sponsor": "Yale University", "conditions": ["Borderline Personality Disorder"],
    "interventions": ["DRUG: Ketamine", "DRUG: Midazolam"], "pmids": ["36804489"], "topics": ["ketamine-bpd"],
    "history": [{"field": "status", "old": "RECRUITING", "new": "TERMINATED", "seen_at": "2026-11-21T05:00:12Z"},
                {"field": "references", "old": None, "new": "36804489", "seen_at": "2026-11-21T05:00:12Z"}],
    "url": "https://clinicaltrials.gov/study/NCT03395314", "followed": True,
    "links": [{"pmid": "36804489", "title": "Ketamine for BPD: a pilot RCT.", "sources": ["ctgov_reference", "si_search"], "ref_type": "RESULT"}],
}


def test_show_text(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    text = format_trial(SHAPE)
    assert text.splitlines()[0] == "NCT03395314  Ketamine in Borderline Personality Disorder  [followed]"
    assert "Status:         TERMINATED: Slow enrollment" in text
    assert "Enrollment:     22 (actual)" in text
    assert "2026-11-21  status                   RECRUITING → TERMINATED" in text
    assert "PMID 36804489  Ketamine for BPD: a pilot RCT.  [RESULT, trial record, PubMed [si]]" in text
    assert text.rstrip().endswith("https://clinicaltrials.gov/study/NCT03395314")


def test_show_text_of_a_followed_trial_not_fetched_yet():
    bare = {k: None for k in SHAPE} | {"nct_id": "NCT03395314", "pmids": [], "history": [], "followed": True, "links": []}
    text = format_trial(bare)
    assert "not fetched from ClinicalTrials.gov yet" in text and "Linked papers: none yet" in text


def test_table_is_aligned_and_fits(monkeypatch):
    monkeypatch.setenv("COLUMNS", "90")
    other = dict(SHAPE, nct_id="NCT00973089", status="WITHDRAWN", followed=False, phases=["NA"], enrollment=0,
                 title="Alternative Treatment of Deep Carious Lesions Based on Biological Evidences " * 2)
    lines = format_trials_table([SHAPE, other]).splitlines()
    assert lines[0].split() == ["NCT", "STATUS", "PHASE", "ENROLLED", "UPDATED", "TITLE"]
    assert lines[1].startswith("*  NCT03395314  TERMINATED") and lines[2].startswith("   NCT00973089  WITHDRAWN")
    assert lines[1].index("2026-11-20") == lines[2].index("2026-11-20")
    assert all(len(line) <= 90 for line in lines) and lines[2].endswith("…")
    assert lines[-1] == "* followed (watchlist or seed citation)"


def test_show_text_says_last_known_status_retractions_and_reporting(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    shape = dict(
        SHAPE, status="UNKNOWN", last_known_status="ACTIVE_NOT_RECRUITING", why_stopped=None,
        references=[{"pmid": "36804489", "type": "RESULT", "citation": "x", "retractions": [{"pmid": "37000001", "source": "J"}]}],
        results_overdue_months=14, results_due="2023-06-30", unpublished=True,
        signals={"results_overdue": "covered: ...", "unpublished": "completed 2022-06 (53 months ago) and no publication found"},
    )
    text = format_trial(shape)
    assert "Status:         UNKNOWN (last known: ACTIVE_NOT_RECRUITING)" in text
    assert "[RETRACTED (PMID 37000001), RESULT, trial record, PubMed [si]]" in text
    assert "Reporting:      results overdue by 14 months (due 2023-06-30)" in text
    assert "                no publication found: completed 2022-06 (53 months ago)" in text


def test_trial_view_adds_the_signals_to_the_contract_shape():
    import datetime as dt

    from litwatch.text_trials import trial_view
    from litwatch.vocab.records import TRIAL_CONTRACT_KEYS, Trial

    view = trial_view(Trial(nct_id="NCT03395314", followed=True), dt.date(2026, 11, 30))
    assert list(view)[: len(TRIAL_CONTRACT_KEYS)] == list(TRIAL_CONTRACT_KEYS)
    assert view["status"] is None and view["has_results"] is None and view["url"].endswith("/NCT03395314")
    assert view["results_overdue_months"] is None and view["unpublished"] is False
    assert view["signals"]["results_overdue"] == "not fetched from ClinicalTrials.gov yet"
