"""The seed documents' world on the fakes: the papers and the trial they cite.

The recordings hold none of them, so they are derived here, once, for the tests that
crawl the repository's seeds (tests/test_contract.py) and for ``tools/fake_services.py``:

- the papers the seeds cite, derived from the recording 38011560 with their own ids
  (the ScienceDirect PII, the PMC id) and a made-up PMID each;
- a results paper whose DataBankList names NCT03395314 (what ``NCT03395314[si]`` finds);
- NCT03395314 itself (``fakes.ctgov.ketamine_bpd_study``) and ``changed_study``, its next
  version: RECRUITING -> TERMINATED, enrollment ESTIMATED 60 -> ACTUAL 22, results posted,
  a RESULT reference added.
"""

from __future__ import annotations

from lxml import etree

from litwatch.fakes.ctgov import FakeCtgov, ketamine_bpd_study
from litwatch.fakes.eutils import FakeEutils
from litwatch.fakes.idconv import FakeIdconv

SOURCE_PMID = "38011560"  # the recording the cited papers are derived from
PII_PMID = "35780001"  # made-up PMIDs of the papers the seed documents cite
PMC_PMID = "35664002"
RESULTS_PMID = "36804489"
NCT = "NCT03395314"


def add_paper(fake: FakeEutils, pmid: str, *, title: str, nct_ids=(), **ids) -> None:
    """A PubMed record derived from a recording, with its own ids (doi=, pii=, pmc=)."""
    fake.derive(SOURCE_PMID, pmid, title=title, nct_ids=list(nct_ids))
    el = etree.fromstring(fake.records[pmid])
    id_list = el.find("PubmedData/ArticleIdList")
    for kind, value in ids.items():
        etree.SubElement(id_list, "ArticleId", IdType=kind).text = value
    fake.add_record(etree.tostring(el))


def changed_study(study: dict) -> dict:
    """The next version of the trial (the study dict is changed in place and returned)."""
    status = study["protocolSection"]["statusModule"]
    status["overallStatus"] = "TERMINATED"
    status["whyStopped"] = "Slow enrollment"
    status["resultsFirstPostDateStruct"] = {"date": "2026-11-20", "type": "ACTUAL"}
    status["lastUpdatePostDateStruct"] = {"date": "2026-11-20", "type": "ACTUAL"}
    study["protocolSection"]["designModule"]["enrollmentInfo"] = {"count": 22, "type": "ACTUAL"}
    refs = study["protocolSection"].setdefault("referencesModule", {}).setdefault("references", [])
    refs.append({"pmid": RESULTS_PMID, "type": "RESULT", "citation": "Results of NCT03395314."})
    study["hasResults"] = True
    return study


def start_seed_world() -> tuple[FakeEutils, FakeIdconv, FakeCtgov, dict]:
    """Started fakes holding the seeds' world, and the trial's study (for ``changed_study``)."""
    eutils = FakeEutils().start()
    add_paper(eutils, PII_PMID, title="The effect of IV ketamine in patients with major depressive disorder and elevated features of borderline personality disorder.",
              pii="S0165-0327(22)00822-9", doi="10.1016/j.jad.2022.06.072")
    add_paper(eutils, PMC_PMID, title="Esketamine in Borderline Personality Disorder: A Look Beyond Suicidality.", pmc="PMC9156400")
    add_paper(eutils, RESULTS_PMID, title="Ketamine in borderline personality disorder: a randomized controlled trial.", nct_ids=[NCT])
    idconv = FakeIdconv({"PMC9156400": {"pmid": PMC_PMID}}).start()
    ctgov = FakeCtgov().start()
    study = ketamine_bpd_study(NCT)
    ctgov.put_study(study)
    return eutils, idconv, ctgov, study
