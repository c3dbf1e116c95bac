"""Run the test suite's fake services by hand, to try litwatch end to end without a network.

    python tools/fake_services.py            # prints the variables to export, then serves

In another terminal, export what it printed and use litwatch as usual::

    litwatch crawl && litwatch trials && litwatch show NCT03395314 && litwatch digest --out preview/

The fakes serve the real recordings in tests/fixtures (every PubMed record matches every
query: the fake does not evaluate PubMed syntax), plus the papers the seed documents cite,
derived from a recording, and a study for NCT03395314 derived from a recorded one.  Type
``change`` and Enter to replace NCT03395314 by a changed version (RECRUITING -> TERMINATED,
enrollment 60 -> 22, results posted, a RESULT reference), then crawl again to see it in
``litwatch show NCT03395314`` and in the digest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from lxml import etree  # noqa: E402

from fakes.ctgov import FakeCtgov, ketamine_bpd_study  # noqa: E402
from fakes.eutils import FakeEutils  # noqa: E402
from fakes.idconv import FakeIdconv  # noqa: E402

PII_PMID = "35780001"  # made-up PMIDs for the papers the seeds cite
PMC_PMID = "35664002"
RESULTS_PMID = "36804489"


def add_paper(fake: FakeEutils, pmid: str, *, title: str, nct_ids=(), **ids) -> None:
    fake.derive("38011560", pmid, title=title, nct_ids=list(nct_ids))
    el = etree.fromstring(fake.records[pmid])
    id_list = el.find("PubmedData/ArticleIdList")
    for kind, value in ids.items():
        etree.SubElement(id_list, "ArticleId", IdType=kind).text = value
    fake.add_record(etree.tostring(el))


def changed_study(study: dict) -> dict:
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


def main() -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    eutils = FakeEutils().start()
    add_paper(eutils, PII_PMID, title="The effect of IV ketamine in patients with major depressive disorder and elevated features of borderline personality disorder.",
              pii="S0165-0327(22)00822-9", doi="10.1016/j.jad.2022.06.072")
    add_paper(eutils, PMC_PMID, title="Esketamine in Borderline Personality Disorder: A Look Beyond Suicidality.", pmc="PMC9156400")
    add_paper(eutils, RESULTS_PMID, title="Ketamine in borderline personality disorder: a randomized controlled trial.", nct_ids=["NCT03395314"])
    idconv = FakeIdconv({"PMC9156400": {"pmid": PMC_PMID}}).start()
    ctgov = FakeCtgov().start()
    study = ketamine_bpd_study()
    ctgov.put_study(study)
    print(f"export LITWATCH_EUTILS_URL={eutils.base_url}")
    print(f"export LITWATCH_IDCONV_URL={idconv.base_url}")
    print(f"export LITWATCH_CTGOV_URL={ctgov.base_url}")
    print("export LITWATCH_CTGOV_DELAY=0.05")
    print("# serving; type 'change' + Enter to change NCT03395314, Ctrl-C to stop", flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "change":
                ctgov.put_study(changed_study(study))
                print("# NCT03395314 is now TERMINATED, 22 enrolled, results posted", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        for fake in (eutils, idconv, ctgov):
            fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
