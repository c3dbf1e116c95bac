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


ALL = ("NCT06171568", "NCT00973089", "NCT03418623", "NCT02513394", "NCT03630471", "NCT02210780")


def statements(db, action) -> int:
    """SQL statements ``action`` runs (not those SQLite runs inside FTS5, traced as "-- ...")."""
    seen = []
    db.conn.set_trace_callback(seen.append)
    try:
        action()
    finally:
        db.conn.set_trace_callback(None)
    return len([s for s in seen if not s.startswith("--")])


def test_reads_are_batched(db):
    from litwatch.db.fts import to_fts_query

    trials.save_trials(db, [record(study(n)) for n in ALL[:2]], topic="a")
    few = statements(db, lambda: list(trials.iter_trials(db)))
    trials.save_trials(db, [record(study(n)) for n in ALL[2:]], topic="a")
    trials.follow_trial(db, "NCT02513394", "watchlist")
    many = statements(db, lambda: list(trials.iter_trials(db)))
    assert few == many <= 4
    assert statements(db, lambda: trials.get_trials(db, ALL)) == many
    assert statements(db, lambda: trials.search_trials(db, to_fts_query("study OR trial"), limit=50)) <= 5
    listed = list(trials.iter_trials(db))
    assert len(listed) == 6 and all(t.topics == ["a"] for t in listed)
    assert {link.pmid for link in trials.get_trial(db, "NCT02513394").links} == {"34995105", "34874182", "33460574", "30032196"}


def test_a_new_data_release_is_not_a_change(db):
    """versionHolder is the date the record was served: re-fetched, nothing changed."""
    original = study("NCT03418623")
    trials.save_trials(db, [record(original)])
    raw_before = db.execute("SELECT raw_json, stored_at FROM trial_raw").fetchall()
    served_again = json.loads(json.dumps(original))
    served_again["derivedSection"]["miscInfoModule"]["versionHolder"] = "2026-11-29"
    counts = trials.save_trials(db, [record(served_again)])
    assert counts == {"trials_unchanged": 1}
    assert db.execute("SELECT raw_json, stored_at FROM trial_raw").fetchall() == raw_before
    assert trials.get_raw(db, "NCT03418623") == original


def test_last_known_status_and_retracted_references(db):
    s = study("NCT03418623")
    status = s["protocolSection"]["statusModule"]
    status["overallStatus"], status["lastKnownStatus"] = "UNKNOWN", "ACTIVE_NOT_RECRUITING"
    s["protocolSection"]["referencesModule"]["references"].append(
        {"pmid": "31000001", "type": "RESULT", "citation": "Results.", "retractions": [{"pmid": "35000002", "source": "Lancet"}]})
    trials.save_trials(db, [record(s), record(study("NCT02513394"))])
    trial = trials.get_trial(db, "NCT03418623")
    assert trial.status == "UNKNOWN" and trial.last_known_status == "ACTIVE_NOT_RECRUITING"
    assert trial.to_dict()["references"][0] == {
        "pmid": "31000001", "type": "RESULT", "citation": "Results.", "retractions": [{"pmid": "35000002", "source": "Lancet"}]}
    found = trials.retracted_references(db)
    assert list(found) == ["NCT03418623"]
    [ref] = found["NCT03418623"]
    assert (ref.pmid, ref.type, ref.retractions) == ("31000001", "RESULT", [{"pmid": "35000002", "source": "Lancet"}])
    assert trials.retracted_references(db, ["NCT02513394"]) == {}
    assert trials.retracted_references(db, since="2999-01-01T00:00:00Z") == {}


def test_flags_are_remembered_and_reported_once(db):
    from litwatch.vocab.records import TrialFlag

    overdue = TrialFlag("NCT03418623", "results_overdue", "results overdue by 67 months")
    unpublished = TrialFlag("NCT03418623", "unpublished", "no publication found")
    other = TrialFlag("NCT02210780", "unpublished", "no publication found")
    assert trials.record_trial_flags(db, [overdue, unpublished, other]) == 3
    waiting = trials.unreported_trial_flags(db)
    assert {(f.nct_id, f.flag) for f in waiting} == {(f.nct_id, f.flag) for f in (overdue, unpublished, other)}
    assert [f.flag for f in trials.unreported_trial_flags(db, flags=["results_overdue"])] == ["results_overdue"]
    trials.mark_trial_flags_reported(db, [f.id for f in waiting if f.nct_id == "NCT03418623"], digest_id=7)
    # Seen again a month later: not new, not reported again; its words follow the months.
    later = TrialFlag("NCT03418623", "results_overdue", "results overdue by 68 months")
    assert trials.record_trial_flags(db, [later, unpublished, other]) == 0
    assert [(f.nct_id, f.flag) for f in trials.unreported_trial_flags(db)] == [("NCT02210780", "unpublished")]
    standing = trials.trial_flags(db, ["NCT03418623"])["NCT03418623"]
    assert [(f.flag, f.detail, f.reported_in_digest) for f in standing] == [
        ("results_overdue", "results overdue by 68 months", 7), ("unpublished", "no publication found", 7)]
    # A paper is found for NCT02210780: its flag clears before any digest reported it.
    trials.record_trial_flags(db, [later, unpublished], checked=["NCT03418623", "NCT02210780"])
    assert trials.unreported_trial_flags(db) == []
    assert "NCT02210780" not in trials.trial_flags(db, ["NCT02210780"])


def test_migration_moves_raw_json_out_of_the_trials_table(db_path):
    """A database of the earlier layout (raw JSON in ``trials``, hashes over the whole study)."""
    from litwatch.db import open_db

    db = open_db(db_path)
    trials.save_trials(db, [record(study(n)) for n in ALL[:3]], topic="a")
    # Put the database back in the earlier layout, data and all.
    with db.conn:
        db.execute("ALTER TABLE trials ADD COLUMN raw_json BLOB")
        db.execute("UPDATE trials SET raw_json = (SELECT raw_json FROM trial_raw r WHERE r.nct_id = trials.nct_id), record_hash = 'old'")
        for table in ("trial_raw", "trial_retractions", "trial_flags"):
            db.execute(f"DROP TABLE {table}")
        for column in ("last_known_status", "primary_completion_type", "completion_type", "fda_regulated_drug", "fda_regulated_device"):
            db.execute(f"ALTER TABLE trials DROP COLUMN {column}")
        db.execute("DELETE FROM _migrations WHERE name = 'trials:002_raw_apart_signals'")
    db.conn.close()

    db = open_db(db_path)
    assert "raw_json" not in {c.name for c in db["trials"].columns}
    assert db["trial_raw"].count == 3 and trials.get_raw(db, "NCT00973089") == study("NCT00973089")
    from litwatch.db.fts import to_fts_query

    assert [t.nct_id for _, t in trials.search_trials(db, to_fts_query("GET73"))] == ["NCT03418623"]  # rowids kept
    # The next fetch re-hashes without counting a change, and fills the new columns.
    counts = trials.save_trials(db, [record(study(n)) for n in ALL[:3]])
    assert counts == {"trials_unchanged": 3}
    assert db["trial_history"].count == 0
    assert trials.get_trial(db, "NCT03418623").fda_regulated_drug is True
    assert trials.save_trials(db, [record(study("NCT03418623"))]) == {"trials_unchanged": 1}
