"""Results overdue and unpublished trials, on trials derived from the recorded studies.

Today is always injected (``TODAY``; ``trials --today``): nothing here depends on the clock.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from conftest import CTGOV_FIXTURES

from litwatch.cli import main as litwatch_main
from litwatch.crawler.ctgov import normalise_study
from litwatch.db import trials
from litwatch.signals import overdue
from litwatch.vocab.records import TrialLink

TODAY = dt.date(2026, 11, 30)


def study(name: str) -> dict:
    return json.loads((CTGOV_FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def without_results(s: dict, primary_completion: dt.date, nct: str) -> dict:
    """NCT02210780 (completed phase 2, results posted) as a trial that never posted results."""
    s = copy.deepcopy(s)
    s["protocolSection"]["identificationModule"]["nctId"] = nct
    status = s["protocolSection"]["statusModule"]
    status.pop("resultsFirstPostDateStruct", None)
    status["primaryCompletionDateStruct"] = {"date": primary_completion.isoformat(), "type": "ACTUAL"}
    status["completionDateStruct"] = {"date": primary_completion.isoformat(), "type": "ACTUAL"}
    s.pop("resultsSection", None)
    s["hasResults"] = False
    return s


def two_years_overdue() -> dict:
    """A completed phase 2 trial, primary completion two years ago, no results."""
    return without_results(study("NCT02210780"), TODAY.replace(year=TODAY.year - 2), "NCT90000001")


def not_due_yet() -> dict:
    """The same trial, primary completion six months ago: results not due for six more."""
    return without_results(study("NCT02210780"), dt.date(2026, 5, 30), "NCT90000002")


def estimated_and_past() -> dict:
    """A phase 3 trial still 'recruiting' whose estimated primary completion has passed."""
    s = copy.deepcopy(study("NCT02513394"))
    s["protocolSection"]["identificationModule"]["nctId"] = "NCT90000003"
    status = s["protocolSection"]["statusModule"]
    status["overallStatus"] = "RECRUITING"
    status["primaryCompletionDateStruct"] = {"date": "2024-06", "type": "ESTIMATED"}
    status.pop("resultsFirstPostDateStruct")
    s["hasResults"] = False
    return s


def assess(s: dict, links=()):
    trial = normalise_study(s)
    trial.links = list(links)
    return overdue.assess(trial, TODAY)


def test_completed_phase2_two_years_ago_without_results_is_overdue():
    signals = assess(two_years_overdue())
    assert signals.covered and signals.results_due == "2025-11-30"
    assert signals.results_overdue_months == 12
    assert "no FDA oversight flags" in signals.results_reason  # the approximation says so
    assert "overdue by 12 months" in signals.results_reason


def test_recorded_phase2_fda_drug_trial_of_2020_is_overdue():
    signals = assess(study("NCT03418623"))  # completed 2020-03-13, isFdaRegulatedDrug, no results
    assert signals.results_due == "2021-03-13" and signals.results_overdue_months == 68
    assert signals.results_reason.startswith("covered: FDA-regulated drug, PHASE2")


@pytest.mark.parametrize("make, reason", [
    (not_due_yet, "not due yet"),
    (lambda: study("NCT02513394"), "results posted on 2022-04-13"),
    (lambda: study("NCT00973089"), "not covered: withdrawn"),
    (lambda: study("NCT06171568"), "not covered: observational study"),
    (lambda: study("NCT03630471"), "not covered: the record says no FDA-regulated drug or device"),
], ids=["not-due-yet", "results-posted", "withdrawn", "observational", "not-fda-regulated"])
def test_not_overdue(make, reason):
    signals = assess(make())
    assert signals.results_overdue_months is None
    assert reason in signals.results_reason


def test_phase_rules():
    s = two_years_overdue()
    design = s["protocolSection"]["designModule"]
    design["phases"] = ["NA"]
    assert assess(s).results_overdue_months is None  # NA without oversight flags: not covered
    design["phases"] = ["PHASE1"]
    assert "phase 2 or later needed" in assess(s).results_reason
    design["phases"] = ["PHASE2", "PHASE3"]
    assert assess(s).results_overdue_months == 12
    s["protocolSection"]["oversightModule"].update(isFdaRegulatedDrug=False, isFdaRegulatedDevice=False)
    assert assess(s).results_overdue_months is None  # the record says: not FDA-regulated
    design["phases"] = ["NA"]
    s["protocolSection"]["oversightModule"]["isFdaRegulatedDevice"] = True
    assert assess(s).results_reason.startswith("covered: FDA-regulated device")


def test_estimated_primary_completion_in_the_past_counts():
    signals = assess(estimated_and_past())
    assert signals.results_due == "2025-06-30"  # "2024-06" read as its last day, + 12 months
    assert signals.results_overdue_months == 17 and "(estimated)" in signals.results_reason


def test_unpublished():
    # Completed 2015 with results posted, but no paper: unpublished (results are not a paper).
    assert assess(study("NCT02210780")).unpublished
    # Only a BACKGROUND reference: earlier literature, not its own paper.
    signals = assess(study("NCT03418623"))
    assert signals.unpublished and "no publication found" in signals.unpublished_reason
    # DERIVED references are its papers.
    assert "publication found: PMID 34582460" in assess(study("NCT03630471")).unpublished_reason
    # A paper naming it (found by an NCT…[si] search) counts too.
    assert not assess(study("NCT03418623"), [TrialLink("36804489", sources=["si_search"])]).unpublished
    assert not assess(not_due_yet()).unpublished  # completed six months ago
    assert not assess(study("NCT02513394")).unpublished  # still active
    assert not assess(study("NCT00973089")).unpublished  # withdrawn


def test_dates():
    assert overdue.period_end("2020") == dt.date(2020, 12, 31)
    assert overdue.period_end("2024-02") == dt.date(2024, 2, 29)
    assert overdue.period_end("nonsense") is None
    assert overdue.add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    assert overdue.full_months(dt.date(2025, 11, 30), dt.date(2026, 11, 29)) == 11
    assert overdue.full_months(dt.date(2025, 11, 30), dt.date(2026, 11, 30)) == 12


def test_flags_say_what_a_reader_sees():
    found = overdue.trial_flags([normalise_study(two_years_overdue()), normalise_study(not_due_yet())], TODAY)
    assert [(f.nct_id, f.flag, f.detail) for f in found] == [("NCT90000001", "results_overdue", "results overdue by 12 months")]


@pytest.fixture
def store(db, db_path, monkeypatch):
    monkeypatch.setenv("LITWATCH_DB", str(db_path))
    made = [two_years_overdue(), not_due_yet(), estimated_and_past()] + [
        study(n) for n in ("NCT03418623", "NCT02513394", "NCT00973089", "NCT06171568", "NCT03630471", "NCT02210780")]
    trials.save_trials(db, [normalise_study(s) for s in made], topic="ketamine-bpd")
    return db


def run(capsys, *args) -> str:
    capsys.readouterr()
    assert litwatch_main(list(args)) == 0
    return capsys.readouterr().out


def test_trials_overdue_and_unpublished_commands(store, capsys, monkeypatch):
    listed = json.loads(run(capsys, "trials", "--overdue", "--today", TODAY.isoformat(), "--json"))
    assert [(t["nct_id"], t["results_overdue_months"]) for t in listed] == [
        ("NCT03418623", 68), ("NCT90000003", 17), ("NCT90000001", 12)]  # most overdue first
    assert listed[0]["signals"]["rules"]["results_overdue"].startswith("US results rule, approximated")
    monkeypatch.setenv("COLUMNS", "100")
    table = run(capsys, "trials", "--overdue", "--today", TODAY.isoformat()).splitlines()
    assert table[0].split()[:7] == ["NCT", "STATUS", "PHASE", "ENROLLED", "UPDATED", "OVERDUE", "TITLE"]
    assert "68 mo" in table[1] and table[1].split()[0] == "NCT03418623"

    unpublished = json.loads(run(capsys, "trials", "--unpublished", "--today", TODAY.isoformat(), "--json"))
    assert {t["nct_id"] for t in unpublished} == {"NCT03418623", "NCT02210780"}
    assert all(t["unpublished"] for t in unpublished)
    # Two years after primary (and study) completion the derived trial is not yet "over 24 months ago".
    later = json.loads(run(capsys, "trials", "--unpublished", "--today", "2027-01-01", "--json"))
    assert "NCT90000001" in {t["nct_id"] for t in later}


def test_show_says_why(store, capsys, monkeypatch):
    shape = json.loads(run(capsys, "show", "NCT03418623", "--json"))
    assert shape["results_overdue_months"] >= 68 and shape["results_due"] == "2021-03-13"
    assert shape["unpublished"] is True
    assert set(shape["signals"]) == {"results_overdue", "unpublished", "rules"}
    not_covered = json.loads(run(capsys, "show", "NCT06171568", "--json"))
    assert not_covered["results_overdue_months"] is None and not_covered["unpublished"] is False
    assert not_covered["signals"]["results_overdue"] == "not covered: observational study"
    monkeypatch.setenv("COLUMNS", "100")
    text = run(capsys, "show", "NCT03418623")
    assert "Reporting:      results overdue by" in text and "(due 2021-03-13)" in text
    assert "no publication found: completed 2020-03-13" in text


def test_a_filter_that_matches_nothing_says_what_is_stored(store, capsys):
    capsys.readouterr()
    assert litwatch_main(["trials", "--status", "suspended"]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("no trial has status SUSPENDED; stored: ") and "COMPLETED" in err
    assert litwatch_main(["trials", "--status", "recruting"]) != 0  # a typo is refused, with a suggestion
    assert "did you mean 'RECRUITING'" in capsys.readouterr().err
