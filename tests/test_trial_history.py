"""save_trials: first sight records no history; each later change is one row per field."""

from __future__ import annotations

import json

from conftest import CTGOV_FIXTURES

from litwatch.crawler.ctgov import normalise_study
from litwatch.db import trials


def study(name: str = "NCT06171568") -> dict:
    return json.loads((CTGOV_FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def record(s: dict):
    return normalise_study(s)


def changed_version(s: dict) -> dict:
    """The same trial, later: stopped early, results posted, a results paper referenced."""
    s = json.loads(json.dumps(s))
    status = s["protocolSection"]["statusModule"]
    status["overallStatus"] = "TERMINATED"
    status["whyStopped"] = "slow recruitment"
    status["resultsFirstPostDateStruct"] = {"date": "2026-11-20", "type": "ACTUAL"}
    status["lastUpdatePostDateStruct"] = {"date": "2026-11-20", "type": "ACTUAL"}
    s["protocolSection"]["designModule"]["enrollmentInfo"] = {"count": 22, "type": "ACTUAL"}
    s["protocolSection"]["referencesModule"]["references"].append({"pmid": "36804489", "type": "RESULT", "citation": "results"})
    s["hasResults"] = True
    return s


def test_first_sight_has_no_history(db):
    counts = trials.save_trials(db, [record(study())], topic="ketamine-bpd")
    assert counts["trials_new"] == 1
    shape = trials.get_trial(db, "NCT06171568")
    assert shape.history == []
    assert shape.topics == ["ketamine-bpd"]
    assert shape.status == "NOT_YET_RECRUITING" and shape.enrollment == 400
    assert shape.url == "https://clinicaltrials.gov/study/NCT06171568"
    # references are linked and queued for PubMed
    assert set(shape.pmids) == {"26269030", "29016402", "16983222"} | set(shape.pmids)
    queued = {r["pmid"] for r in db["pubmed_queue"].rows}
    assert "26269030" in queued


def test_changes_recorded_one_row_per_field(db):
    original = study()
    trials.save_trials(db, [record(original)])
    counts = trials.save_trials(db, [record(changed_version(original))])
    assert counts["trials_updated"] == 1
    shape = trials.get_trial(db, "NCT06171568")
    hist = {h.field: (h.old, h.new) for h in shape.history}
    assert hist == {
        "status": ("NOT_YET_RECRUITING", "TERMINATED"),
        "why_stopped": (None, "slow recruitment"),
        "enrollment": ("400", "22"),
        "enrollment_type": ("ESTIMATED", "ACTUAL"),
        "results_first_posted": (None, "2026-11-20"),
        "has_results": ("false", "true"),
        "references": (None, "36804489"),
    }
    assert all(h.seen_at.endswith("Z") for h in shape.history)
    assert shape.pmids[0] == "36804489"  # RESULT reference first
    assert shape.has_results is True
    assert db["pubmed_queue"].get("36804489")["reason"] == "ctgov:NCT06171568:RESULT"


def test_same_version_again_changes_nothing(db):
    trials.save_trials(db, [record(study())])
    counts = trials.save_trials(db, [record(study())], topic="t2")
    assert counts["trials_unchanged"] == 1
    assert db["trial_history"].count == 0
    assert trials.get_trial(db, "NCT06171568").topics == ["t2"]


def test_only_tracked_fields_make_history(db):
    original = study()
    trials.save_trials(db, [record(original)])
    later = json.loads(json.dumps(original))
    later["protocolSection"]["descriptionModule"] = {"briefSummary": "reworded"}
    later["protocolSection"]["designModule"]["phases"] = ["PHASE2", "PHASE3"]
    counts = trials.save_trials(db, [record(later)])
    assert counts["trials_updated"] == 1
    assert [(h.field, h.old, h.new) for h in trials.get_trial(db, "NCT06171568").history] == [
        ("phases", None, "PHASE2, PHASE3")
    ]


def test_followed_first_then_latest_update_and_filters(db):
    trials.save_trials(db, [record(study(n)) for n in ("NCT06171568", "NCT00973089", "NCT03418623")], topic="a")
    trials.follow_trial(db, "NCT00973089", "watchlist")
    rows = list(trials.iter_trials(db))
    assert [r.nct_id for r in rows] == ["NCT00973089", "NCT06171568", "NCT03418623"]
    assert rows[0].followed is True and rows[1].followed is False
    assert [r.nct_id for r in trials.iter_trials(db, status="withdrawn")] == ["NCT00973089"]
    assert [r.nct_id for r in trials.iter_trials(db, followed_only=True)] == ["NCT00973089"]
    assert list(trials.iter_trials(db, topic="other")) == []
    assert list(trials.iter_trials(db, since="2999-01-01")) == []


def test_followed_trial_not_yet_fetched_is_a_null_shape(db):
    assert trials.get_trial(db, "NCT03395314") is None
    trials.follow_trial(db, "NCT03395314", "seed:004.txt:171")
    shape = trials.get_trial(db, "NCT03395314")
    assert shape.followed is True and shape.status is None and shape.pmids == []


def test_search_trials(db):
    from litwatch.db.fts import to_fts_query

    trials.save_trials(db, [record(study(n)) for n in ("NCT06171568", "NCT03418623")], topic="a")
    hits = trials.search_trials(db, to_fts_query("GET73"))
    assert [shape.nct_id for _, shape in hits] == ["NCT03418623"]
    assert trials.search_trials(db, to_fts_query("GET73"), topic="b") == []
