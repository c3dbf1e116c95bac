"""Every recorded ClinicalTrials.gov study becomes CONTRACT's trial fields."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import CTGOV_FIXTURES

from litwatch.crawler.ctgov import (
    StudyError,
    normalise_study,
    parse_studies_page,
    record_hash,
)
from litwatch.vocab.records import TrialReference

RECORDINGS = sorted(CTGOV_FIXTURES.glob("NCT*.json"))


def load(name: str) -> dict:
    return json.loads((CTGOV_FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_every_recording_normalises(path):
    study = json.loads(path.read_text(encoding="utf-8"))
    rec = normalise_study(study)
    assert rec.nct_id == path.stem
    assert rec.title and rec.status
    assert isinstance(rec.phases, list) and isinstance(rec.conditions, list)
    assert all(": " in i for i in rec.interventions)
    assert rec.first_posted and rec.last_update_posted
    assert isinstance(rec.has_results, bool)
    assert len(rec.record_hash) == 40
    for ref in rec.references:
        assert ref.pmid.isdigit() and ref.type in {"RESULT", "DERIVED", "BACKGROUND"}


def test_withdrawn_study_keeps_why_stopped_and_partial_dates():
    rec = normalise_study(load("NCT00973089"))
    assert rec.status == "WITHDRAWN"
    assert rec.why_stopped.startswith("recruiting or enrolling participants has halted")
    assert rec.start_date == "2010-05"  # yyyy-MM kept as given, not padded
    assert rec.enrollment == 0 and rec.enrollment_type == "ACTUAL"
    assert rec.phases == ["NA"]
    assert rec.version_holder == "2024-01-22"


def test_year_only_date_and_estimated_enrollment():
    study = load("NCT06171568")
    study["protocolSection"]["statusModule"]["startDateStruct"] = {"date": "2024", "type": "ESTIMATED"}
    rec = normalise_study(study)
    assert rec.start_date == "2024"
    assert rec.enrollment == 400 and rec.enrollment_type == "ESTIMATED"
    assert rec.phases == []  # observational: no phases key
    assert rec.study_type == "OBSERVATIONAL"
    assert rec.sponsor == "Assistance Publique - Hôpitaux de Paris"


def test_results_and_references_result_first():
    study = load("NCT02513394")
    refs = study["protocolSection"]["referencesModule"]["references"]
    refs.append({"pmid": "36804489", "type": "RESULT", "citation": "x"})
    rec = normalise_study(study)
    assert rec.has_results is True and rec.results_first_posted == "2022-04-13"
    assert rec.references[0] == TrialReference(pmid="36804489", type="RESULT", citation="x")
    assert rec.sponsor == "Alliance Foundation Trials, LLC."


def test_hash_changes_with_content_only():
    a = load("NCT03418623")
    b = copy.deepcopy(a)
    assert record_hash(a) == record_hash(b)
    b["protocolSection"]["statusModule"]["overallStatus"] = "TERMINATED"
    assert record_hash(a) != record_hash(b)


@pytest.mark.parametrize("bad", [[], {"protocolSection": {}}, {"protocolSection": {"identificationModule": {"nctId": "12"}}}])
def test_not_a_study(bad):
    with pytest.raises(StudyError):
        normalise_study(bad)


def test_studies_page_shapes():
    assert parse_studies_page({"studies": [], "totalCount": 0}) == ([], None, 0)
    assert parse_studies_page({"studies": [{}], "nextPageToken": "abc"}) == ([{}], "abc", None)
    with pytest.raises(ValueError):
        parse_studies_page({"error": "x", "studies": "no"})
    with pytest.raises(ValueError):
        parse_studies_page([1, 2])
