"""An independent oracle: Biopython's ``Bio.Entrez.read`` against litwatch's PubMed parser.

Every PubMed recording (the real efetch answers and the derived/written ones in
``recordings/pubmed/derived/``) is read by both; the test compares them field by field:
title and abstract text, authors (count, order, every name part, ORCID, first
affiliation), journal, dates (publication date, Entry Date, Create Date, every History
date, DateRevised), ids (PMID, DOI, PMC, PII, NBK, OtherID), publication types, MeSH,
keywords, language, correction links (every CommentsCorrections RefType, PMID and
RefSource), data-bank NCT numbers, OtherAbstract and, for Bookshelf records, the book's
title, publisher, editors and dates.

Bio.Entrez validates against the DTDs it ships (pubmed_250101.dtd, bookdoc_*.dtd); the
test forbids it the network and gives it a private cache directory, so a missing DTD is a
failure here, never a download.

Where litwatch deliberately differs from the XML as Biopython reads it, the rule is in
``DELIBERATE`` below with its reason; the comparison applies the rule to the oracle's side.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from conftest import PUBMED_FIXTURES

from litwatch.crawler.pubmed_parse import RecordError, parse_pubmed
from litwatch.vocab.markup import fragment_to_text
from litwatch.vocab.records import Publication

Entrez = pytest.importorskip("Bio.Entrez")
EntrezParser = pytest.importorskip("Bio.Entrez.Parser")

FILES = (
    sorted((PUBMED_FIXTURES / "efetch").glob("*.xml"))
    + [PUBMED_FIXTURES / "pubmed1.xml", PUBMED_FIXTURES / "pubmed2.xml"]
    + sorted((PUBMED_FIXTURES / "derived").glob("*.xml"))
)

# litwatch's deliberate departures from the XML as read, each applied to the oracle's side.
DELIBERATE = {
    "invalid authors": "an <Author ValidYN=\"N\"> is an entry NLM marked erroneous; PubMed does not show it, "
                       "neither does litwatch (Biopython lists it)",
    "orcid": "ORCID identifiers are stored in their canonical dashed form (vocab.ids.normalise_orcid); "
             "PubMed sends bare, dashed or https://orcid.org/ forms",
    "own ids": "a DOI/PII missing from PubmedData/ArticleIdList is taken from the article's ELocationID",
    "abstract labels": "sections without a label, or labelled UNLABELLED/UNASSIGNED, print no label (as PubMed)",
    "mathml": "MathML is rendered as readable text (msub -> <sub>, mmultiscripts prescripts before the base: "
              "14C, not C14); Biopython keeps the MathML markup, whose bare text order differs",
}
# (file name, PMID, field) -> reason: differences left as they are.  Empty: none is left.
KNOWN_DIFFERENCES: dict[tuple[str, str, str], str] = {}

MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_TAG_RE = re.compile(r"<[^>]+>")
_MATH_RE = re.compile(r"<(?:mml:)?math\b.*?</(?:mml:)?math>", re.S)
MATH = "\u27e8MATH\u27e9"


@pytest.fixture(scope="module", autouse=True)
def _offline_biopython(tmp_path_factory):
    """Bio.Entrez may use its shipped DTDs only: no download, no cache outside tmp."""
    old_urlopen, old_dir = EntrezParser.urlopen, EntrezParser.DataHandler.directory

    def refuse(url, *args, **kwargs):
        raise OSError(f"test_pubmed_oracle: no network (Bio.Entrez wanted {url})")

    EntrezParser.urlopen = refuse
    EntrezParser.DataHandler.directory = str(tmp_path_factory.mktemp("biopython"))
    yield
    EntrezParser.urlopen = old_urlopen
    EntrezParser.DataHandler.directory = old_dir


def text(value) -> str:
    """Biopython's string (read with escape=True: text escaped, inline tags kept) as plain text.

    A MathML formula becomes the marker ``MATH`` (DELIBERATE["mathml"]): ``same_text``
    lets it stand for whatever litwatch wrote there, and compares all the text around it."""
    value = _MATH_RE.sub(MATH, str(value or ""))
    return " ".join(html.unescape(_TAG_RE.sub("", value)).split())


def same_text(have: str, want: str) -> bool:
    if MATH not in want:
        return have == want
    pattern = r"\s*.+?\s*".join(re.escape(part.strip()) for part in want.split(MATH))
    return re.fullmatch(pattern, have) is not None


def ymd(date) -> str | None:
    """A Biopython Year/Month/Day dict as YYYY[-MM[-DD]]."""
    if not date or not str(date.get("Year", "")).isdigit():
        return None
    year, month, day = date["Year"], str(date.get("Month", "")).strip(), str(date.get("Day", "")).strip()
    month_no = int(month) if month.isdigit() else MONTHS.get(month[:3].lower())
    if not month_no:
        return year
    return f"{year}-{month_no:02d}-{int(day):02d}" if day.isdigit() else f"{year}-{month_no:02d}"


def pub_date(pd) -> str | None:
    if not pd:
        return None
    if "MedlineDate" in pd:
        m = re.match(r"\s*(\d{4})(?:\s+([A-Za-z]{3}))?", pd["MedlineDate"])
        if not m:
            return None
        month = MONTHS.get((m.group(2) or "").lower())
        return f"{m.group(1)}-{month:02d}" if month else m.group(1)
    return ymd(pd)


def orcid(value: str) -> str:
    digits = re.sub(r"[^0-9Xx]", "", value.rsplit("/", 1)[-1]).upper()
    return "-".join(digits[i:i + 4] for i in range(0, 16, 4))


def authors(author_lists) -> list[dict]:
    out = []
    for author in [a for lst in author_lists for a in lst]:
        if author.attributes.get("ValidYN") == "N":  # DELIBERATE["invalid authors"]
            continue
        ids = [i for i in author.get("Identifier", []) if i.attributes.get("Source") == "ORCID"]
        affs = author.get("AffiliationInfo", [])
        out.append({
            "last_name": text(author.get("LastName")) or None,
            "fore_name": text(author.get("ForeName")) or None,
            "initials": text(author.get("Initials")) or None,
            "suffix": text(author.get("Suffix")) or None,
            "collective_name": text(author.get("CollectiveName")) or None,
            "orcid": orcid(ids[0]) if ids else None,  # DELIBERATE["orcid"]
            "affiliation": text(affs[0]["Affiliation"]) if affs else None,
        })
    return out


def our_authors(details) -> list[dict]:
    return [{k: getattr(a, k) for k in ("last_name", "fore_name", "initials", "suffix", "collective_name", "orcid", "affiliation")}
            for a in details]


def sections(abstract) -> list[tuple]:
    if not abstract:
        return []
    return [(str(s.attributes.get("Label", "")).strip() or None, text(s)) for s in abstract.get("AbstractText", [])]


def joined(secs: list[tuple]) -> str | None:
    """The one-string abstract: "LABEL: text" paragraphs (DELIBERATE["abstract labels"])."""
    parts = [f"{label}: {t}" if label and label.upper() not in ("UNLABELLED", "UNASSIGNED") else t
             for label, t in secs if t or label]
    return "\n\n".join(p for p in parts if p) or None


def article_ids(id_list) -> dict[str, str]:
    out: dict[str, str] = {}
    for aid in id_list or []:
        out.setdefault(aid.attributes.get("IdType"), str(aid).strip())
    return out


def links(cc_list) -> list[tuple]:
    return [(c.attributes.get("RefType"), str(c.get("PMID", "")).strip() or None, text(c.get("RefSource")) or None)
            for c in cc_list or []]


def history(data) -> dict[str, str]:
    out: dict[str, str] = {}
    for date in (data or {}).get("History", []):
        if ymd(date):
            out.setdefault(date.attributes.get("PubStatus"), ymd(date))
    return out


def expect_article(rec) -> dict:
    """What litwatch should say about one PubmedArticle, from Biopython's reading."""
    mc, data = rec["MedlineCitation"], rec.get("PubmedData", {})
    art = mc["Article"]
    journal = art["Journal"]
    own = article_ids(data.get("ArticleIdList"))
    for loc in art.get("ELocationID", []):  # DELIBERATE["own ids"]
        if loc.attributes.get("EIdType") in ("doi", "pii") and loc.attributes.get("ValidYN") != "N":
            own.setdefault(loc.attributes["EIdType"], str(loc).strip())
    dates = history(data)
    title = art.get("ArticleTitle") or art.get("VernacularTitle")
    banks = [n for bank in art.get("DataBankList", []) if str(bank.get("DataBankName")).lower() == "clinicaltrials.gov"
             for n in bank.get("AccessionNumberList", [])]
    return {
        "pmid": str(mc["PMID"]),
        "title": text(title),
        "sections": sections(art.get("Abstract")),
        "abstract": joined(sections(art.get("Abstract"))),
        "authors": authors([art.get("AuthorList", [])]),
        "journal": text(journal.get("Title")) or None,
        "journal_abbrev": text(journal.get("ISOAbbreviation") or mc.get("MedlineJournalInfo", {}).get("MedlineTA")) or None,
        "pub_date": pub_date(journal["JournalIssue"].get("PubDate")) or (ymd(art["ArticleDate"][0]) if art.get("ArticleDate") else None),
        "entrez_date": dates.get("pubmed") or dates.get("entrez"),  # EDAT = PubStatus "pubmed"
        "create_date": dates.get("entrez") or dates.get("pubmed"),  # CRDT = PubStatus "entrez"
        "pubmed_history": dates,
        "date_revised": ymd(mc.get("DateRevised")),
        "doi": own.get("doi"),
        "pmcid": own.get("pmc"),
        "pii": own.get("pii"),
        "nbk": None,
        "other_ids": [{"source": o.attributes.get("Source"), "id": str(o).strip()} for o in mc.get("OtherID", [])],
        "publication_types": [text(t) for t in art.get("PublicationTypeList", [])],
        "mesh": [text(h["DescriptorName"]) for h in mc.get("MeshHeadingList", [])],
        "keywords": [text(k) for lst in mc.get("KeywordList", []) for k in lst],
        "language": text(art["Language"][0]) if art.get("Language") else None,
        "medline_status": mc.attributes.get("Status"),
        "corrections": links(mc.get("CommentsCorrectionsList")),
        "databank_nct_ids": list(dict.fromkeys(str(n).strip().upper() for n in banks)),
        "other_abstracts": [sections(o) for o in mc.get("OtherAbstract", [])],
        "book": None,
    }


def expect_book(rec) -> dict:
    """What litwatch should say about one PubmedBookArticle."""
    doc, data = rec["BookDocument"], rec.get("PubmedBookData", {})
    book = doc["Book"]
    own = article_ids(doc.get("ArticleIdList"))
    own.update({k: v for k, v in article_ids(data.get("ArticleIdList")).items() if k not in own})
    dates = history(data)

    def people(lists, kind):
        return authors([lst for lst in lists if (lst.attributes.get("Type") or "authors") == kind])

    return {
        "pmid": str(doc["PMID"]),
        "title": text(doc.get("ArticleTitle") or doc.get("VernacularTitle") or book.get("BookTitle")),
        "sections": sections(doc.get("Abstract")),
        "abstract": joined(sections(doc.get("Abstract"))),
        "authors": people(doc.get("AuthorList", []), "authors") or people(book.get("AuthorList", []), "authors"),
        "journal": text(book.get("BookTitle")) or None,
        "journal_abbrev": None,
        "pub_date": pub_date(book.get("PubDate")),
        "entrez_date": dates.get("pubmed") or dates.get("entrez"),
        "create_date": dates.get("entrez") or dates.get("pubmed"),
        "pubmed_history": dates,
        "date_revised": ymd(doc.get("DateRevised")),
        "doi": own.get("doi"),
        "pmcid": own.get("pmc"),
        "pii": own.get("pii"),
        "nbk": own.get("bookaccession"),
        "other_ids": [],
        "publication_types": [text(t) for t in doc.get("PublicationType", [])],
        "mesh": [],
        "keywords": [text(k) for lst in doc.get("KeywordList", []) for k in lst],
        "language": text(doc["Language"][0]) if doc.get("Language") else None,
        "medline_status": None,
        "corrections": [],
        "databank_nct_ids": [],
        "other_abstracts": [],
        "book": {
            "book_title": text(book.get("BookTitle")),
            "publisher": text(book.get("Publisher", {}).get("PublisherName")) or None,
            "publisher_location": text(book.get("Publisher", {}).get("PublisherLocation")) or None,
            "editors": people(doc.get("AuthorList", []), "editors") + people(book.get("AuthorList", []), "editors"),
            "contribution_date": ymd(doc.get("ContributionDate")),
        },
    }


def actual(pub: Publication) -> dict:
    """litwatch's record in the oracle's terms (fragments as plain text)."""
    book = None
    if pub.book is not None:
        book = {
            "book_title": fragment_to_text(pub.book.book_title),
            "publisher": pub.book.publisher,
            "publisher_location": pub.book.publisher_location,
            "editors": our_authors(pub.book.editor_details),
            "contribution_date": pub.book.contribution_date,
        }
    return {
        "pmid": pub.pmid,
        "title": fragment_to_text(pub.title),
        "sections": [(s["label"], fragment_to_text(s["text"])) for s in pub.abstract_sections],
        "abstract": "\n\n".join(fragment_to_text(p) for p in pub.abstract.split("\n\n")) if pub.abstract else None,
        "authors": our_authors(pub.author_details),
        "journal": pub.journal,
        "journal_abbrev": pub.journal_abbrev,
        "pub_date": pub.pub_date,
        "entrez_date": pub.entrez_date,
        "create_date": pub.create_date,
        "pubmed_history": pub.pubmed_history,
        "date_revised": pub.date_revised,
        "doi": pub.doi,
        "pmcid": pub.pmcid,
        "pii": pub.pii,
        "nbk": pub.nbk,
        "other_ids": pub.other_ids,
        "publication_types": pub.publication_types,
        "mesh": pub.mesh,
        "keywords": pub.keywords,
        "language": pub.language,
        "medline_status": pub.medline_status,
        "corrections": [(c.ref_type, c.other_pmid, c.note) for c in pub.corrections],
        "databank_nct_ids": pub.databank_nct_ids,
        "other_abstracts": [[(s["label"], fragment_to_text(s["text"])) for s in _other_sections(o)] for o in pub.other_abstracts],
        "book": book,
    }


def _other_sections(other: dict) -> list[dict]:
    """An OtherAbstract's text back into sections (stored joined like the abstract)."""
    out = []
    for para in (other.get("text") or "").split("\n\n"):
        label, sep, rest = para.partition(": ")
        if sep and label.isupper():
            out.append({"label": label, "text": rest})
        else:
            out.append({"label": None, "text": para})
    return out


def oracle(path: Path) -> dict[str, dict]:
    with open(path, "rb") as fh:
        result = Entrez.read(fh, validate=True, escape=True)
    expected = {}
    for rec in result.get("PubmedArticle", []):
        exp = expect_article(rec)
        expected[exp["pmid"]] = exp
    for rec in result.get("PubmedBookArticle", []):
        exp = expect_book(rec)
        expected[exp["pmid"]] = exp
    return expected


def differences(path: Path) -> list[tuple[str, str, object, object]]:
    expected = oracle(path)
    ours = list(parse_pubmed(path.read_bytes()))
    assert not [r for r in ours if isinstance(r, RecordError)], ours
    got = {r.pmid: actual(r) for r in ours}
    assert list(got) == list(expected) or set(got) == set(expected), (list(got), list(expected))
    diffs = []
    for pmid, exp in expected.items():
        mine = got[pmid]
        for name, want in exp.items():
            have = mine[name]
            if name in ("title", "abstract"):
                same = same_text(have or "", want or "")
            elif name == "sections":
                same = len(have) == len(want) and all(
                    hl == wl and same_text(ht, wt) for (hl, ht), (wl, wt) in zip(have, want))
            else:
                same = have == want
            if not same:
                diffs.append((pmid, name, have, want))
    return [d for d in diffs if (path.name, d[0], d[1]) not in KNOWN_DIFFERENCES]


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_litwatch_agrees_with_biopython(path):
    assert differences(path) == []


def test_the_fake_worlds_papers_are_papers_of_their_own(tmp_path):
    """The demo's and the seed tests' papers, all derived from one recording, each carry their
    own journal, publication date and (placeholder) authors, and still read as PubMed XML:
    the oracle, validating against the DTD, agrees with litwatch on every field."""
    from litwatch.fakes.eutils import EFETCH_HEAD, EFETCH_TAIL
    from litwatch.fakes.world import PAPER_DETAILS, SOURCE_PMID, add_citing_paper, start_seed_world

    fakes = start_seed_world()[:3]
    try:
        add_citing_paper(fakes[0])
        records = [fakes[0].records[pmid] for pmid in PAPER_DETAILS]
    finally:
        for fake in fakes:
            fake.stop()
    path = tmp_path / "world.xml"
    path.write_bytes(EFETCH_HEAD + b"\n".join(records) + b"\n" + EFETCH_TAIL)
    assert differences(path) == []
    papers = list(parse_pubmed(path.read_bytes()))
    assert [p.pmid for p in papers] == list(PAPER_DETAILS)
    (source,) = parse_pubmed((PUBMED_FIXTURES / "efetch" / f"{SOURCE_PMID}.xml").read_bytes())
    for pub in papers:
        (title, abbreviation), published, names = PAPER_DETAILS[pub.pmid]
        assert (pub.journal, pub.journal_abbrev) == (title, abbreviation)
        assert pub.pub_date == (published.isoformat() if published else pub.entrez_date)
        assert pub.authors == [f"{last} {''.join(part[0] for part in fore.split())}" for last, fore in names]
        assert not set(pub.authors) & set(source.authors) and not pub.late_arrival
        assert not any(a.orcid or a.affiliation for a in pub.author_details)


def test_every_recording_kind_is_covered():
    """The oracle sees books, a late arrival, every RefType and the smaller fields."""
    from litwatch.vocab.records import REF_TYPES

    pubs = [r for path in FILES for r in parse_pubmed(path.read_bytes())]
    assert {p.record_type for p in pubs} >= {"article", "book_chapter"}
    assert any(p.late_arrival for p in pubs)
    assert {c.ref_type for p in pubs for c in p.corrections} == set(REF_TYPES)
    details = [a for p in pubs for a in p.author_details]
    assert any(a.suffix for a in details) and any(a.collective_name for a in details) and any(a.orcid for a in details)
    assert any(p.other_ids for p in pubs) and any(p.other_abstracts for p in pubs) and any(p.databank_nct_ids for p in pubs)
    assert any(len(p.authors) != len(set(p.authors)) for p in pubs), "a record with two co-authors of one display name"


def test_mathml_prescripts_against_the_oracle():
    """The one field compared apart: the oracle's MathML, read structurally, gives ¹⁴C."""
    path = PUBMED_FIXTURES / "derived" / "articles.xml"
    with open(path, "rb") as fh:
        result = Entrez.read(fh, validate=True, escape=True)
    (rec,) = [r for r in result["PubmedArticle"] if str(r["MedlineCitation"]["PMID"]) == "90000202"]
    raw = str(rec["MedlineCitation"]["Article"]["Abstract"]["AbstractText"][0])
    scripts = re.search(r"<mmultiscripts>(.*?)</mmultiscripts>", raw).group(1)
    base, _, pre = scripts.partition("<mprescripts></mprescripts>")
    pre_sup = _TAG_RE.sub(" ", pre).split()[-1]
    base_text = _TAG_RE.sub(" ", base).split()[0]
    (pub,) = [p for p in parse_pubmed(path.read_bytes()) if p.pmid == "90000202"]
    assert f"<sup>{pre_sup}</sup>{base_text}" in pub.abstract
    assert fragment_to_text(pub.abstract).startswith("Tracer studies with 14C-glucose")


def test_the_oracle_sees_a_lost_coauthor_and_a_dropped_link():
    """The comparison is not vacuous: merging the two "Song X" or dropping a link shows."""
    path = PUBMED_FIXTURES / "derived" / "articles.xml"
    expected = oracle(path)["90000202"]
    (pub,) = [p for p in parse_pubmed(path.read_bytes()) if p.pmid == "90000202"]
    assert actual(pub)["authors"] == expected["authors"]
    pub.author_details = pub.author_details[:-1]
    pub.corrections = pub.corrections[1:]
    mine = actual(pub)
    assert mine["authors"] != expected["authors"] and mine["corrections"] != expected["corrections"]
