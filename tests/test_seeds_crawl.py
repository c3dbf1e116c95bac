"""Seeds: the real seeds spider (and the full crawl) in their own processes, against fake
E-utilities, a fake PMC id converter and a fake ClinicalTrials.gov.

Every citation ends resolved or listed with its reason by ``litwatch citations``; cited
trials are followed; the full crawl links the cited trial to the paper PubMed's ``[si]``
search finds, in both directions.
"""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
from conftest import PROJECT_ROOT
from lxml import etree

from litwatch.cli import main as litwatch_main
from litwatch.config import load_settings
from litwatch.crawler.run import crawl_one
from litwatch.db import open_db
from litwatch.fakes.ctgov import FakeCtgov, ketamine_bpd_study
from litwatch.fakes.eutils import FakeEutils
from litwatch.fakes.idconv import FakeIdconv

SEED = "004_d9bf24e30c0d9d9e.txt"
PII_PMID = "35780001"  # made-up PMIDs of papers derived from a recording
PMC_PMID = "35664002"
RESULTS_PMID = "36804489"
KNOWN_DOI = "10.1073/pnas.2305772120"  # 38011560.xml, a recording

EXTRA_SEED = f"""Reading list
PMID: 38011560 (Krystal et al., PNAS 2023)
Same paper by DOI: https://doi.org/{KNOWN_DOI}
A DOI PubMed does not know: doi:10.9999/not.in.pubmed
Not in PMC: https://pmc.ncbi.nlm.nih.gov/articles/PMC1111111/
Dupilumab trial, https://clinicaltrials.gov/study/NCT02210780
"""


def add_paper(fake: FakeEutils, pmid: str, *, title: str, pii=None, pmc=None, doi=None, nct_ids=()) -> None:
    """A PubMed record derived from a recording, with its own ids."""
    fake.derive("38011560", pmid, title=title, nct_ids=list(nct_ids))
    el = etree.fromstring(fake.records[pmid])
    ids = el.find("PubmedData/ArticleIdList")
    for kind, value in (("doi", doi), ("pii", pii), ("pmc", pmc)):
        if value:
            etree.SubElement(ids, "ArticleId", IdType=kind).text = value
    fake.add_record(etree.tostring(el))


@pytest.fixture
def fakes(monkeypatch, db_path):
    eutils = FakeEutils().start()
    add_paper(eutils, PII_PMID, title="The effect of IV ketamine in patients with major depressive disorder and elevated features of borderline personality disorder.",
              pii="S0165-0327(22)00822-9", doi="10.1016/j.jad.2022.06.072")
    add_paper(eutils, PMC_PMID, title="Esketamine in Borderline Personality Disorder: A Look Beyond Suicidality.", pmc="PMC9156400")
    idconv = FakeIdconv({"PMC9156400": {"pmid": PMC_PMID}, "PMC10710048": {"pmid": "38011560"}}).start()
    ctgov = FakeCtgov().start()
    monkeypatch.setenv("LITWATCH_EUTILS_URL", eutils.base_url)
    monkeypatch.setenv("LITWATCH_IDCONV_URL", idconv.base_url)
    monkeypatch.setenv("LITWATCH_CTGOV_URL", ctgov.base_url)
    monkeypatch.setenv("LITWATCH_DB", str(db_path))
    monkeypatch.setenv("NCBI_EMAIL", "reader@example.org")
    monkeypatch.setenv("LITWATCH_BACKOFF_BASE", "0.05")
    monkeypatch.setenv("LITWATCH_RETRY_TIMES", "3")
    monkeypatch.setenv("LITWATCH_CTGOV_DELAY", "0.01")
    open_db(db_path)
    yield eutils, idconv, ctgov
    for fake in (eutils, idconv, ctgov):
        fake.stop()


def run_cli(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = litwatch_main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_every_citation_resolved_or_listed_with_a_reason(fakes, tmp_path, db_path, capsys, monkeypatch):
    eutils, idconv, _ = fakes
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    monkeypatch.setenv("LITWATCH_SEEDS", str(seeds))
    shutil.copy(PROJECT_ROOT / "seeds" / SEED, seeds / SEED)
    (seeds / "reading.md").write_text(EXTRA_SEED, encoding="utf-8")
    (seeds / "scan.txt").write_bytes("R\xe9sum\xe9 NCT01234567".encode("latin-1"))
    shutil.copy(PROJECT_ROOT / "seeds" / "watchlist.toml", seeds / "watchlist.toml")
    config = str(seeds / "watchlist.toml")
    idconv.add_fault("500")  # transient: retried
    eutils.inject("error", path="esearch")  # in-band <ERROR>: retried

    result = crawl_one(load_settings(), "seeds", config_path=config, timeout=120)
    assert result.status == "ok", result
    assert result.warnings == ["seed document scan.txt is not UTF-8 text (byte 1): skipped"]

    code, out, _ = run_cli(capsys, "--config", config, "citations", "--json")
    assert code == 0
    rows = {(r["document"], r["line"], r["kind"], r["value"]): r for r in json.loads(out)}
    expect = {
        (SEED, 169, "pii", "S0165032722008229"): ("resolved", PII_PMID),
        (SEED, 171, "nct", "NCT03395314"): ("resolved", "NCT03395314"),
        (SEED, 173, "pmcid", "PMC9156400"): ("resolved", PMC_PMID),
        ("reading.md", 2, "pmid", "38011560"): ("resolved", "38011560"),
        ("reading.md", 3, "doi", KNOWN_DOI): ("resolved", "38011560"),
        ("reading.md", 4, "doi", "10.9999/not.in.pubmed"): ("unresolved", None),
        ("reading.md", 5, "pmcid", "PMC1111111"): ("unresolved", None),
        ("reading.md", 6, "nct", "NCT02210780"): ("resolved", "NCT02210780"),
    }
    assert {k: (r["status"], r["resolved_id"]) for k, r in rows.items()} == expect
    assert rows[("reading.md", 4, "doi", "10.9999/not.in.pubmed")]["reason"] == \
        "no PubMed record with this DOI (searched DOI 10.9999/not.in.pubmed)"
    assert rows[("reading.md", 5, "pmcid", "PMC1111111")]["reason"] == "PMC id converter: invalid article id"
    assert all(r["reason"] for r in rows.values() if r["status"] != "resolved")

    db = open_db(db_path)
    assert {r["nct_id"]: r["reason"] for r in db["followed_trials"].rows} == {
        "NCT03395314": f"seed:{SEED}:171", "NCT02210780": "seed:reading.md:6"}
    queue = {r["pmid"]: r["reason"] for r in db["pubmed_queue"].rows}
    assert queue == {PII_PMID: f"seed:{SEED}:169", PMC_PMID: f"seed:{SEED}:173", "38011560": "seed:reading.md:2"}

    # What was asked: the id converter with NCBI's identity, the PII in both forms.
    conv = [r["params"] for r in idconv.log]
    assert conv[-1] == {"ids": "PMC9156400,PMC1111111", "idtype": "pmcid", "format": "json", "tool": "litwatch", "email": "reader@example.org"}
    terms = [r.params["term"] for r in eutils.calls("esearch")]
    assert '"S0165-0327(22)00822-9"[aid] OR "S0165032722008229"[aid]' in terms
    assert all(r.params["tool"] == "litwatch" and r.params["email"] == "reader@example.org" for r in eutils.calls("esearch"))

    # The unresolved ones are listed by the plain command too, with their reasons.
    code, out, _ = run_cli(capsys, "--config", config, "citations", "--status", "unresolved")
    assert code == 0 and "PMC1111111" in out and "invalid article id" in out and "not.in.pubmed" in out

    # A second crawl looks up only what is still unresolved.
    before = len(eutils.calls("esearch")), len(idconv.log)
    result = crawl_one(load_settings(), "seeds", config_path=config, timeout=120)
    assert result.status == "ok"
    assert len(eutils.calls("esearch")) - before[0] == 1 and len(idconv.log) - before[1] == 1
    assert idconv.log[-1]["params"]["ids"] == "PMC1111111"


def test_lookup_failures_are_listed_not_lost(fakes, tmp_path, db_path, capsys, monkeypatch):
    eutils, idconv, _ = fakes
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    monkeypatch.setenv("LITWATCH_SEEDS", str(seeds))
    shutil.copy(PROJECT_ROOT / "seeds" / SEED, seeds / SEED)
    idconv.add_fault("malformed", times=4)  # every try: 1 + 3 retries
    result = crawl_one(load_settings(), "seeds",
                       config_path=str(PROJECT_ROOT / "seeds" / "watchlist.toml"), timeout=120)
    assert result.status == "partial"
    assert len(result.errors) == 1 and result.errors[0].startswith("PMC id converter (1 ids): PMC id converter: unreadable answer")
    code, out, _ = run_cli(capsys, "citations", "--json")
    row = next(r for r in json.loads(out) if r["value"] == "PMC9156400")
    assert row["status"] == "unresolved" and "tried again next crawl" in row["reason"]


HAVE_PUBMED_SPIDER = importlib.util.find_spec("litwatch.crawler.spiders.pubmed") is not None


@pytest.mark.skipif(not HAVE_PUBMED_SPIDER, reason="needs the PubMed spider (crawler/spiders/pubmed.py, issue 2)")
def test_full_crawl_follows_the_cited_trial_and_links_its_paper(fakes, monkeypatch, db_path, capsys):
    """``litwatch crawl`` on the repository's seeds and watchlist."""
    eutils, idconv, ctgov = fakes
    ctgov.put_study(ketamine_bpd_study("NCT03395314"))
    # The trial's results paper: PubMed's record names the trial in its DataBankList.
    add_paper(eutils, RESULTS_PMID, title="Ketamine for borderline personality disorder: a randomized pilot trial.",
              nct_ids=["NCT03395314"])
    monkeypatch.setenv("LITWATCH_SEEDS", str(PROJECT_ROOT / "seeds"))
    config = str(PROJECT_ROOT / "seeds" / "watchlist.toml")

    code, out, err = run_cli(capsys, "--config", config, "crawl", "--source", "seeds", "--source", "ctgov", "--source", "pubmed")
    assert code == 0, err

    code, out, _ = run_cli(capsys, "--config", config, "citations", "--json")
    assert {(r["value"], r["status"]) for r in json.loads(out)} == {
        ("S0165032722008229", "resolved"), ("NCT03395314", "resolved"), ("PMC9156400", "resolved")}
    code, out, _ = run_cli(capsys, "--config", config, "show", "NCT03395314", "--json")
    trial = json.loads(out)
    assert trial["followed"] is True and trial["status"] == "RECRUITING"
    assert trial["topics"] == ["ketamine-bpd"]  # the fake matches the topic's query
    assert RESULTS_PMID in trial["pmids"]
    code, out, _ = run_cli(capsys, "--config", config, "show", RESULTS_PMID, "--json")
    assert code == 0 and "NCT03395314" in json.loads(out)["nct_ids"]
    for ident, pmid in (("PMC9156400", PMC_PMID), (PII_PMID, PII_PMID)):
        code, out, _ = run_cli(capsys, "--config", config, "show", ident, "--json")
        assert code == 0 and json.loads(out)["pmid"] == pmid
    assert any(r.params.get("term", "").startswith("NCT03395314[si]") for r in eutils.calls("esearch"))
