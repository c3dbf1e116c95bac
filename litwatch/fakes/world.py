"""The seed documents' world on the fakes: the papers and the trial they cite.

The recordings hold none of them, so they are derived here, once, for the tests that
crawl the repository's seeds (tests/test_contract.py) and for ``tools/fake_services.py``:

- the papers the seeds cite, derived from the recording 38011560 with their own ids
  (the ScienceDirect PII, the PMC id) and a made-up PMID each;
- a results paper whose DataBankList names NCT03395314 (what ``NCT03395314[si]`` finds);
- NCT03395314 itself (``fakes.ctgov.ketamine_bpd_study``) and ``changed_study``, its next
  version: RECRUITING -> TERMINATED, enrollment ESTIMATED 60 -> ACTUAL 22, results posted,
  a RESULT reference added;
- a few topic papers (``TOPIC_PAPERS``): each written so that it matches the shipped
  watchlist's queries it belongs to, and no other (the fake E-utilities evaluates the
  queries: a ketamine watch is no longer served liver lesions);
- ``add_citing_paper``: a paper entering PubMed today that cites a seed-cited paper (for
  a second crawl: "Citing papers you follow").

Each derived paper gets its own title, abstract, MeSH headings, publication types,
journal, publication date and authors (``PAPER_DETAILS``); the copy of the recording keeps
its entry dates and the rest of its structure.  The papers the seeds cite keep the
identifiers the seeds (and the trial) give them, but their text is written for the tests;
the topic papers are made up.  So the authors are placeholders (Doe, Roe, Public...) and
the journals "Example ..." ones, as the fake trials' sponsors are: no real person's name is
put on text they did not write.  The one real venue is that of the paper the seeds cite by
a Journal of Affective Disorders PII and DOI.
"""

from __future__ import annotations

import datetime as dt

from lxml import etree

from litwatch.fakes.ctgov import FakeCtgov, derived_study, ketamine_bpd_study
from litwatch.fakes.eutils import FakeEutils
from litwatch.fakes.idconv import FakeIdconv
from litwatch.vocab.times import today_utc

SOURCE_PMID = "38011560"  # the recording the cited papers are derived from
PII_PMID = "35780001"  # made-up PMIDs of the papers the seed documents cite
PMC_PMID = "35664002"
RESULTS_PMID = "36804489"
CITING_PMID = "41100001"  # a paper citing PII_PMID, added by add_citing_paper
NCT = "NCT03395314"

# PMID: (title, abstract, MeSH headings, publication types), written for their topics.
TOPIC_PAPERS = {
    "39000101": (
        "Esketamine nasal spray versus quetiapine for treatment-resistant depression.",
        "Background: Treatment-resistant depression is common. Methods: In this open-label randomized trial, "
        "676 patients with treatment-resistant depression received esketamine nasal spray or extended-release "
        "quetiapine. Results: Remission at week 8 was more frequent with esketamine. Conclusions: Esketamine "
        "was superior to quetiapine.",
        ["Depressive Disorder, Treatment-Resistant", "Ketamine", "Administration, Intranasal", "Humans"],
        ["Journal Article", "Randomized Controlled Trial"],
    ),
    "39000102": (
        "Intravenous ketamine and suicidal ideation in the emergency department: a randomized controlled trial.",
        "Objective: To test whether a single infusion of ketamine reduces suicidal ideation. Methods: 156 adults "
        "presenting with suicidal ideation were randomized to ketamine or midazolam. Results: Suicidal ideation "
        "scores fell more after ketamine at 24 hours.",
        ["Ketamine", "Suicidal Ideation", "Emergency Service, Hospital", "Humans"],
        ["Journal Article", "Randomized Controlled Trial"],
    ),
    "39000103": (
        "Arketamine for major depressive disorder: a systematic review and meta-analysis.",
        "We searched five databases for trials of arketamine and racemic ketamine in major depressive disorder. "
        "Twelve studies with 820 participants were included. Antidepressant effects were seen within 24 hours.",
        ["Depressive Disorder, Major", "Ketamine", "Humans"],
        ["Journal Article", "Systematic Review", "Meta-Analysis"],
    ),
}
# The papers the seed documents cite: their subject in their own words.
SEED_ABSTRACTS = {
    PII_PMID: (
        "Background: Borderline personality disorder features often accompany major depressive disorder. Methods: "
        "Patients with major depressive disorder received intravenous ketamine; depressive symptoms were compared "
        "between those with and without elevated borderline personality features.",
        ["Ketamine", "Depressive Disorder, Major", "Borderline Personality Disorder", "Humans"],
        ["Journal Article"],
    ),
    PMC_PMID: (
        "Esketamine has been studied for suicidality; its effects in borderline personality disorder beyond "
        "suicidal ideation are reviewed here: affective instability, dissociation and self-harm.",
        ["Borderline Personality Disorder", "Ketamine", "Humans"],
        ["Journal Article", "Review"],
    ),
    RESULTS_PMID: (
        "Objective: To test ketamine in borderline personality disorder. Methods: In this double-blind "
        "randomized controlled trial (NCT03395314), 22 adults with borderline personality disorder received "
        "ketamine or midazolam. Results: Borderline symptoms improved in both groups.",
        ["Borderline Personality Disorder", "Ketamine", "Humans"],
        ["Journal Article", "Randomized Controlled Trial"],
    ),
}

_PSYCHIATRY = ("Example journal of psychiatry", "Example J Psychiatry")
# PMID: (journal (title, ISO abbreviation), publication date, authors (last, fore names)).
# Each date is within a year before the recording's create date (2023-11-27) that the copies
# keep: none of them is a late arrival.
PAPER_DETAILS = {
    PII_PMID: (("Journal of affective disorders", "J Affect Disord"), dt.date(2022, 12, 15),
               [("Doe", "Jane A"), ("Roe", "Richard"), ("Public", "John Q")]),
    PMC_PMID: (_PSYCHIATRY, dt.date(2023, 5, 31), [("Roe", "Rachel M"), ("Doe", "John")]),
    RESULTS_PMID: (("Example journal of clinical psychopharmacology", "Example J Clin Psychopharmacol"),
                   dt.date(2023, 2, 20), [("Public", "Joan Q"), ("Example", "Ann"), ("Sample", "Sam"), ("Doe", "Jane A")]),
    "39000101": (_PSYCHIATRY, dt.date(2023, 10, 5),
                 [("Sample", "Samuel"), ("Example", "Ann"), ("Roe", "Richard"), ("Doe", "Jane A"), ("Public", "John Q")]),
    "39000102": (("Example emergency medicine journal", "Example Emerg Med J"), dt.date(2023, 9, 12),
                 [("Roe", "Rachel M"), ("Sample", "Samuel")]),
    "39000103": (("Example reviews in psychopharmacology", "Example Rev Psychopharmacol"), dt.date(2023, 11, 1),
                 [("Example", "Ann"), ("Public", "Joan Q"), ("Doe", "John")]),
    CITING_PMID: (_PSYCHIATRY, None, [("Doe", "Jane A"), ("Sample", "Samuel")]),
}


def add_paper(fake: FakeEutils, pmid: str, *, title: str, nct_ids=(), abstract=None, mesh=None,
              publication_types=None, entrez=None, references=(), **ids) -> None:
    """A PubMed record derived from a recording, with its own ids (doi=, pii=, pmc=) and,
    when given, its own abstract, MeSH headings, publication types and references; a PMID
    of ``PAPER_DETAILS`` gets its journal, publication date (else its entry date) and
    authors."""
    journal, published, authors = PAPER_DETAILS.get(pmid, (None, None, None))
    fake.derive(SOURCE_PMID, pmid, title=title, nct_ids=list(nct_ids), abstract=abstract, mesh=mesh,
                publication_types=publication_types, entrez=entrez, references=list(references),
                journal=journal, published=published or (entrez if journal else None), authors=authors)
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


def _seed_paper(fake: FakeEutils, pmid: str, title: str, **kwargs) -> None:
    abstract, mesh, types = SEED_ABSTRACTS[pmid]
    add_paper(fake, pmid, title=title, abstract=abstract, mesh=mesh, publication_types=types, **kwargs)


def add_citing_paper(fake: FakeEutils, pmid: str = CITING_PMID, cites: str = PII_PMID, entrez: dt.date | None = None) -> str:
    """A paper entering PubMed (today by default) whose reference list cites ``cites``."""
    add_paper(fake, pmid, title="Ketamine response and borderline personality features: a replication.",
              abstract="We replicate the finding that borderline personality features do not reduce the antidepressant "
                       "response to ketamine in major depressive disorder.",
              mesh=["Ketamine", "Borderline Personality Disorder", "Depressive Disorder, Major"],
              publication_types=["Journal Article"], entrez=entrez or today_utc(),
              references=[cites])
    return pmid


def start_seed_world() -> tuple[FakeEutils, FakeIdconv, FakeCtgov, dict]:
    """Started fakes holding the seeds' world, and the trial's study (for ``changed_study``)."""
    eutils = FakeEutils().start()
    _seed_paper(eutils, PII_PMID, "The effect of IV ketamine in patients with major depressive disorder and elevated features of borderline personality disorder.",
                pii="S0165-0327(22)00822-9", doi="10.1016/j.jad.2022.06.072")
    _seed_paper(eutils, PMC_PMID, "Esketamine in Borderline Personality Disorder: A Look Beyond Suicidality.", pmc="PMC9156400")
    _seed_paper(eutils, RESULTS_PMID, "Ketamine in borderline personality disorder: a randomized controlled trial.", nct_ids=[NCT])
    for pmid, (title, abstract, mesh, types) in TOPIC_PAPERS.items():
        add_paper(eutils, pmid, title=title, abstract=abstract, mesh=mesh, publication_types=types)
    idconv = FakeIdconv({"PMC9156400": {"pmid": PMC_PMID}}).start()
    ctgov = FakeCtgov().start()
    study = ketamine_bpd_study(NCT)
    ctgov.put_study(study)
    for other in topic_studies():
        ctgov.put_study(other)
    return eutils, idconv, ctgov, study


def topic_studies() -> list[dict]:
    """Trials for the other topics of the shipped watchlist, so that each ClinicalTrials.gov
    query finds what it should (derived studies with NCT numbers not yet issued, 099…):
    one still running, and one completed three years ago without results (overdue)."""
    return [
        derived_study("NCT09900101", "Esketamine Nasal Spray in Treatment-Resistant Depression",
                      official_title="Esketamine nasal spray versus placebo added to an oral antidepressant in "
                                     "treatment-resistant depression", status="ACTIVE_NOT_RECRUITING",
                      phases=["PHASE3"], enrollment=(240, "ACTUAL"),
                      conditions=["Treatment Resistant Depression", "Major Depressive Disorder"],
                      interventions=["Esketamine", "Placebo"], sponsor="Example University Hospital", updated="2026-10-02",
                      primary_completion=("2027-06-30", "ESTIMATED"), fda_regulated_drug=True),
        derived_study("NCT09900102", "Single-Dose Ketamine for Suicidal Ideation in the Emergency Department",
                      official_title="Intravenous ketamine versus midazolam for suicidal ideation in the emergency "
                                     "department", status="COMPLETED", phases=["PHASE2"], enrollment=(80, "ACTUAL"),
                      conditions=["Suicidal Ideation", "Depression"], interventions=["Ketamine", "Midazolam"],
                      sponsor="Example Medical Center", updated="2024-01-15",
                      primary_completion=("2023-06-30", "ACTUAL"), fda_regulated_drug=True),
    ]
