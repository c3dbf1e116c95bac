"""Streaming parser of an efetch ``PubmedArticleSet`` into ``vocab.records.Publication``.

``parse_pubmed(source)`` yields one Publication per ``<PubmedArticle>`` and per
``<PubmedBookArticle>`` (a Bookshelf chapter: ``record_type`` "book_chapter", ``book``
set): every field of CONTRACT's publication shape plus what the store keeps (see
``db/migrations/publications.py``).  Fetching and saving live elsewhere (the spider,
``db.publications``).  Authors are kept exactly as listed (order, count, never merged);
every CommentsCorrections link is kept whatever its RefType; Entry and Create dates come
from History by their PubStatus names (``EDAT_STATUS``, ``CRDT_STATUS`` below).

How it streams: the input (bytes, a path or a binary file, read 1 MB at a time) is cut at
``<PubmedArticle>`` … ``</PubmedArticle>`` boundaries (a byte search; ``<`` cannot occur
in XML text, so a tag is a tag), and each record is parsed on its own by lxml and
dropped, so memory stays flat however large the file (bench/bench_pubmed.py shows it).
We chose this over ``lxml.etree.iterparse`` + ``clear()`` (the first version) because:

- the stored ``raw_xml`` is the record's bytes exactly as PubMed sent them, not a
  re-serialisation (``etree.tostring`` cost as much as the parse), and ``record_hash`` is
  the hash of those bytes;
- a malformed record stays inside its own boundaries: it becomes an error marker and the
  next record parses, where iterparse stops at the first damage;
- ``PubmedData/ReferenceList`` (the cited works, ~70 % of a recent record's bytes) is cut
  out before parsing: nothing we extract is in it (the record's own ids are in
  ``PubmedData/ArticleIdList``), and it stays in ``raw_xml``.  Parsing the rest costs a
  quarter of a full parse, which is what lets parse + store beat half the bare-parse rate.

Markup choice: ``title``, ``abstract`` and the sections' ``text`` are *safe HTML fragment
text*.  The inline tags ``<i> <b> <sub> <sup> <u>`` that PubMed uses (e.g. *Gekko gecko*,
CO<sub>2</sub>) are kept as tags, every other character is escaped (``& < >``), MathML is
turned into readable text (``msub`` -> ``<sub>``, ``mfrac`` -> ``a/b``...), and any other
element is unwrapped.  A web digest can insert the string as is; a terminal calls
``plain_text()``.  Everything else (journal, authors, MeSH, keywords) is plain text.

A record that cannot be read yields a ``RecordError(reason, pmid or None, raw bytes)``
instead; the pipeline quarantines it and the rest is still parsed.
Input that holds no record at all but is not an empty ``PubmedArticleSet`` (an HTML error
page, a cut-off body) raises ``etree.XMLSyntaxError``: the caller retries or fails.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import html
import re
from dataclasses import dataclass
from typing import IO, Iterator

from lxml import etree

from litwatch.vocab import ids
from litwatch.vocab.markup import INLINE_TAGS, fragment_to_text, printable, spaces_folded
from litwatch.vocab.records import RETRACTING_TYPES, Author, Book, Correction, Publication
from litwatch.vocab.text import clean_text

MATHML_NS = "http://www.w3.org/1998/Math/MathML"
KEEP_TAGS = frozenset(INLINE_TAGS)
RECORD_TAGS = ("PubmedArticle", "PubmedBookArticle")
PMID_RE = re.compile(rb"<PMID[^>]*>\s*(\d+)\s*</PMID>")
MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
# Labels PubMed itself does not print in front of a section.
SILENT_LABELS = frozenset({"UNLABELLED", "UNASSIGNED", ""})
# History PubStatus names of the two PubMed dates (pubmed_250101 documentation of
# PubStatus: "pubmed: PubMed Entry Date [edat]", "entrez: PubMed Create Date [crdt]"; NLM
# Technical Bulletin Nov-Dec 2008: Create Date is the XML PubStatus "entrez").
EDAT_STATUS, CRDT_STATUS = "pubmed", "entrez"
# Published more than this long before it reached PubMed: a late arrival.
LATE_AFTER = dt.timedelta(days=365)


@dataclass(slots=True)
class RecordError:
    """A record that could not be read: the pipeline quarantines ``raw`` under ``pmid``."""

    reason: str
    pmid: str | None = None
    raw: bytes | None = None


# ----------------------------------------------------------------- text helpers
def _clean(text: str) -> str:
    """Control characters out (vocab.text.clean_text), skipping the regex for printable text."""
    return text if printable(text) else clean_text(text)


def _escape(text: str | None) -> str:
    if not text:
        return ""
    return html.escape(_clean(text), quote=False)


def _folded(text: str) -> bool:
    """Whether ``text`` is folded already (``" ".join(text.split())`` would not change it)."""
    return printable(text) and spaces_folded(text)


def _norm(text: str) -> str:
    return text if _folded(text) else " ".join(text.split())


def plain_text(fragment: str | None) -> str:
    """The readable text of a stored title/abstract fragment (vocab.markup.fragment_to_text)."""
    return fragment_to_text(fragment)


def _local(tag) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _multiscripts(kids) -> str:
    """``mmultiscripts``: base (sub sup)* [mprescripts (presub presup)*] -> ¹⁴C-style tags."""
    names = [_local(k.tag) for k in kids]
    cut = names.index("mprescripts") if "mprescripts" in names else len(kids)
    post, pre = kids[1:cut], kids[cut + 1:]

    def scripts(pairs) -> str:
        out = []
        for i in range(0, len(pairs) - 1, 2):
            sub, sup = _mathml(pairs[i]), _mathml(pairs[i + 1])
            out.append((f"<sub>{sub}</sub>" if sub else "") + (f"<sup>{sup}</sup>" if sup else ""))
        return "".join(out)

    return scripts(pre) + (_mathml(kids[0]) if kids else "") + scripts(post)


def _mathml(el) -> str:
    """MathML as readable text, using <sub>/<sup> where they say it best."""
    name = _local(el.tag)
    kids = [c for c in el if isinstance(c.tag, str)]
    if name in ("mi", "mn", "mo", "mtext", "ms", "mspace"):
        return _escape("".join(el.itertext()))
    if name in ("annotation", "annotation-xml", "none", "mprescripts"):
        return ""
    if name == "semantics":
        return _mathml(kids[0]) if kids else ""
    if name == "mmultiscripts":
        return _multiscripts(kids)
    if name == "msub" and len(kids) == 2:
        return f"{_mathml(kids[0])}<sub>{_mathml(kids[1])}</sub>"
    if name == "msup" and len(kids) == 2:
        return f"{_mathml(kids[0])}<sup>{_mathml(kids[1])}</sup>"
    if name == "msubsup" and len(kids) == 3:
        return f"{_mathml(kids[0])}<sub>{_mathml(kids[1])}</sub><sup>{_mathml(kids[2])}</sup>"
    if name == "mfrac" and len(kids) == 2:
        num, den = _mathml(kids[0]), _mathml(kids[1])
        wrap = lambda s: s if len(plain_text(s)) <= 1 else f"({s})"  # noqa: E731
        return f"{wrap(num)}/{wrap(den)}"
    if name == "msqrt":
        return "√(" + "".join(_mathml(k) for k in kids) + ")"
    if name == "mroot" and len(kids) == 2:
        return f"root{_mathml(kids[1])}({_mathml(kids[0])})"
    if name == "mfenced":
        return (el.get("open", "(") + el.get("separators", ",").join(_mathml(k) for k in kids) + el.get("close", ")"))
    if not kids:
        return _escape("".join(el.itertext()))
    return "".join(_mathml(k) for k in kids)


def _inline(el) -> str:
    """An element's mixed content as a safe HTML fragment (see the module docstring)."""
    if len(el) == 0:
        return _escape(el.text)
    parts = [_escape(el.text)]
    for child in el:
        tag = child.tag
        if isinstance(tag, str):
            if tag in KEEP_TAGS:
                parts.append(f"<{tag}>{_inline(child)}</{tag}>")
            elif tag.startswith("{" + MATHML_NS) or _local(tag) == "math":
                parts.append(_mathml(child))
            else:
                parts.append(_inline(child))
        parts.append(_escape(child.tail))
    return "".join(parts)


def _fragment(el) -> str:
    if el is None:
        return ""
    if len(el) == 0:  # text only (most titles and sections): one printable check, not two
        text = el.text
        if text and printable(text):
            text = html.escape(text, quote=False)
            return text if spaces_folded(text) else " ".join(text.split())
    return _norm(_inline(el))


def _plain(el) -> str:
    """An element's text, tags dropped, spaces folded (journal, names, MeSH...)."""
    if el is None:
        return ""
    text = el.text if len(el) == 0 else "".join(el.itertext())
    if not text:
        return ""
    return _fold(text)


def _fold(text: str) -> str:
    """Spaces folded, control characters out; printable text without a space is just stripped.

    (Most texts folded here are short, a name part or a MeSH term, ~37 a record: for them
    ``str.isprintable`` is asked directly, without ``printable``'s call around it.)"""
    if text.isprintable() if len(text) <= 64 else printable(text):
        if " " not in text:
            return text.strip()
        return text if spaces_folded(text) else " ".join(text.split())
    return " ".join(clean_text(text).split())


def _text_or_none(el) -> str | None:
    return _plain(el) or None


def _texts(nodes) -> list[str]:
    """Plain texts of elements that hold only text (MeSH names, keywords, types), in order."""
    return [t for t in (_plain(n) for n in nodes) if t]


# ---------------------------------------------------------------------- dates
def _month(value: str | None) -> int | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        month = int(value)
        return month if 1 <= month <= 12 else None
    return MONTHS.get(value[:3].lower())


# A month or day as records spell it, padded (ArticleDate, DateRevised: "03") or not
# (History: "3"), -> as stored: ``_ymd``'s common case is two dictionary look-ups.
_MONTHS_STORED = {**{f"{m:02d}": f"{m:02d}" for m in range(1, 13)}, **{str(m): f"{m:02d}" for m in range(1, 13)}}
_DAYS_STORED = {**{f"{d:02d}": f"{d:02d}" for d in range(1, 32)}, **{str(d): f"{d:02d}" for d in range(1, 32)}}


def _ymd(el) -> str | None:
    """A Year/Month/Day element as YYYY[-MM[-DD]]."""
    if el is None:
        return None
    year = month_text = day = None
    for child in el:
        tag = child.tag
        if tag == "Year":
            year = child.text
        elif tag == "Month":
            month_text = child.text
        elif tag == "Day":
            day = child.text
            break  # Year, Month, Day come in this order (the DTD); Hour/Minute/Second need no look
    if not year:
        return None
    month_stored, day_stored = _MONTHS_STORED.get(month_text), _DAYS_STORED.get(day)
    if month_stored and day_stored and len(year) == 4 and year.isdigit():
        return f"{year}-{month_stored}-{day_stored}"  # the common spellings
    year = year.strip()
    if not year.isdigit():
        return None
    if month_text is not None and month_text.isdigit():  # the common case: "03", "12"
        month = int(month_text)
        if not 1 <= month <= 12:
            return year
    else:
        month = _month(month_text)
        if month is None:
            return year
    if day is not None:
        day = day.strip()
        if day.isdigit() and 1 <= int(day) <= 31:
            return f"{year}-{month:02d}-{int(day):02d}"
    return f"{year}-{month:02d}"


def _pub_date_of(pd) -> tuple[str | None, str | None]:
    """A PubDate element -> (pub_date, pub_date_text): text is the MedlineDate or "Year Season"."""
    if pd is None:
        return None, None
    medline = season = year = None  # the first of each, as findtext gives it ("" for no text)
    for child in pd:
        tag = child.tag
        if tag == "Year":
            year = (child.text or "") if year is None else year
        elif tag == "MedlineDate":
            medline = (child.text or "") if medline is None else medline
        elif tag == "Season":
            season = (child.text or "") if season is None else season
    if medline:
        m = re.match(r"\s*(\d{4})(?:\s+([A-Za-z]{3}))?", medline)
        if m:
            month = _month(m.group(2))
            return (f"{m.group(1)}-{month:02d}" if month else m.group(1)), medline.strip()
        return None, medline.strip()
    date = _ymd(pd)
    if season:
        return date, f"{year or ''} {season.strip()}".strip()
    return date, None


def _pub_date(journal, article_date) -> tuple[str | None, str | None]:
    issue = next(journal.iterchildren("JournalIssue"), None) if journal is not None else None
    date, text = _pub_date_of(next(issue.iterchildren("PubDate"), None) if issue is not None else None)
    if date or text:
        return date, text
    return _ymd(article_date), None


def _latest_day(date: str) -> dt.date | None:
    """The last day a YYYY[-MM[-DD]] date can mean (a 2019 paper may be from December)."""
    try:
        parts = [int(p) for p in date.split("-")]
        if len(parts) == 1:
            return dt.date(parts[0], 12, 31)
        if len(parts) == 2:
            return dt.date(parts[0], parts[1], calendar.monthrange(parts[0], parts[1])[1])
        return dt.date(parts[0], parts[1], parts[2])
    except (ValueError, IndexError):
        return None


def is_late_arrival(pub_date: str | None, create_date: str | None) -> bool:
    """Published more than a year before the record was created in PubMed."""
    if not pub_date or not create_date:
        return False
    year, created_year = pub_date[:4], create_date[:4]
    if (year.isascii() and year.isdigit() and created_year.isascii() and created_year.isdigit()
            and pub_date[4:5] in ("", "-") and create_date[4:5] in ("", "-") and created_year <= year):
        return False  # created by the end of the year it was published: under a year after
    published, created = _latest_day(pub_date), _latest_day(create_date)
    return bool(published and created and created - published > LATE_AFTER)


def _history(history) -> dict[str, str]:
    """{PubStatus: YYYY-MM-DD} of a History element, first date of each status kept."""
    out: dict[str, str] = {}
    if history is not None:
        for date in history:
            status = date.get("PubStatus")
            value = _ymd(date)
            if status and value and status not in out:
                out[status] = value
    return out


# --------------------------------------------------------------------- parts
def _author(author) -> Author | None:
    """One <Author>/<Investigator>; None for an entry NLM marked invalid or an empty one."""
    if author.get("ValidYN") == "N":  # an entry NLM marked as erroneous: PubMed hides it
        return None
    last = fore = initials = suffix = collective = orcid = affiliation = None
    for child in author:
        tag = child.tag
        # Name parts hold only text (DTD): child.text, folded, without _plain's call.
        if tag == "LastName":
            text = child.text
            last = (_fold(text) if text and not len(child) else _plain(child)) or None
        elif tag == "ForeName":
            text = child.text
            fore = (_fold(text) if text and not len(child) else _plain(child)) or None
        elif tag == "Initials":
            text = child.text
            initials = (_fold(text) if text and not len(child) else _plain(child)) or None
        elif tag == "AffiliationInfo":
            if affiliation is None:
                for info in child:
                    if info.tag == "Affiliation":
                        affiliation = _plain(info) or None
                        break
        elif tag == "Identifier":
            if (child.get("Source") or "").upper() == "ORCID" and orcid is None:
                orcid = ids.normalise_orcid(child.text)
        elif tag == "Suffix":
            suffix = _plain(child) or None
        elif tag == "CollectiveName":
            collective = _plain(child) or None
    if collective and not last:
        display = collective
    elif last:
        shown = initials if initials is not None else "".join(p[0] for p in (fore or "").replace("-", " ").split() if p)
        display = " ".join(x for x in (last, shown, suffix) if x) if suffix or not shown else f"{last} {shown}"
    else:
        return None
    return Author(display, last, fore, initials, suffix, collective, orcid, affiliation)


def _authors(author_list) -> list[Author]:
    """Every author in order: never merged, even when two share a display name."""
    if author_list is None:
        return []
    return [a for a in (_author(x) for x in author_list.iterchildren("Author")) if a is not None]


def _sections_of(nodes) -> list[dict]:
    return [{"label": (n.get("Label") or "").strip() or None, "category": n.get("NlmCategory"), "text": _fragment(n)}
            for n in nodes]


def _joined(sections: list[dict]) -> str:
    parts = []
    for s in sections:
        if s["label"] and s["label"].upper() not in SILENT_LABELS:
            parts.append(f"{_escape(s['label'])}: {s['text']}")
        elif s["text"]:
            parts.append(s["text"])
    return "\n\n".join(parts)


def _abstract(abstract_el) -> tuple[str, list[dict]]:
    if abstract_el is None:
        return "", []
    sections = _sections_of(abstract_el.iterchildren("AbstractText"))
    return _joined(sections), sections


def _other_abstract(el) -> dict:
    text, _ = _abstract(el)
    return {"type": el.get("Type"), "language": el.get("Language"), "text": text}


def _correction(cc) -> Correction:
    return Correction(ref_type=cc.get("RefType") or "", other_pmid=_plain(cc.find("PMID")) or None,
                      note=_plain(cc.find("RefSource")) or None)


def _article_ids(id_list, ids_: dict[str, str]) -> None:
    if id_list is None:
        return
    for aid in id_list:
        kind, value = aid.get("IdType"), (aid.text or "").strip()
        if kind and value and kind not in ids_:
            ids_[kind] = value


def _text_ncts(*fragments: str) -> list[str]:
    found = []
    for fragment in fragments:
        if fragment:
            found += _ncts_in(fragment)
    return list(dict.fromkeys(found))


def _ncts_in(fragment: str) -> list[str]:
    """``NCT_IN_TEXT_RE.findall`` (upper-cased), tried only where the lower-cased text has
    "nct" followed by a digit (a match needs it; "function", "distinct" do not).  The regex
    scans case-insensitively from every position (~20 us over an abstract), so in ASCII
    text (where lower-casing keeps every position) it is matched only at those places."""
    lower = fragment.lower()
    at = [i for i in _positions(lower, "nct") if lower[i + 3 : i + 4].isdigit()]
    if not at:
        return []
    if not fragment.isascii():
        return [m.upper() for m in ids.NCT_IN_TEXT_RE.findall(fragment)]
    # (``match`` at a position still sees the character before it for ``\b``.)
    return [m.group().upper() for i in at if (m := ids.NCT_IN_TEXT_RE.match(fragment, i))]


def _positions(text: str, part: str) -> Iterator[int]:
    i = text.find(part)
    while i != -1:
        yield i
        i = text.find(part, i + 1)


def _finish(pub: Publication, history: dict[str, str], article_ids: dict[str, str], raw: bytes) -> Publication:
    """What articles and books derive alike: ids, dates, trial numbers, flags, hash."""
    pub.pubmed_history = history
    pub.entrez_date = history.get(EDAT_STATUS) or history.get(CRDT_STATUS)
    pub.create_date = history.get(CRDT_STATUS) or history.get(EDAT_STATUS)
    # A Bookshelf chapter belongs to a book that may be decades old (GeneReviews, 1993-):
    # the chapter's own ContributionDate says when it was written.
    published = (pub.book.contribution_date if pub.book else None) or pub.pub_date
    pub.late_arrival = is_late_arrival(published, pub.create_date)
    pub.doi = pub.doi or article_ids.get("doi")
    pub.pii = pub.pii or article_ids.get("pii")
    pub.pmcid = ids.normalise_pmcid(article_ids.get("pmc"))
    pub.nbk = ids.normalise_nbk(article_ids.get("bookaccession"))
    pub.authors = [a.display for a in pub.author_details]
    pub.abstract_nct_ids = [n for n in _text_ncts(pub.title, pub.abstract or "") if n not in pub.databank_nct_ids]
    pub.nct_ids = sorted(set(pub.databank_nct_ids) | set(pub.abstract_nct_ids))
    pub.retracted = any(c.ref_type in RETRACTING_TYPES for c in pub.corrections) or "Retracted Publication" in pub.publication_types
    pub.record_hash = hashlib.sha1(raw).hexdigest()
    pub.raw_xml = raw
    return pub


# --------------------------------------------------------------------- record
def _record(el, raw: bytes) -> Publication:
    """One parsed <PubmedArticle> (or <PubmedBookArticle>) -> a Publication.

    Walks the children of MedlineCitation, Article and PubmedData once each (cheaper than
    one path lookup per field: this function is most of the parse time)."""
    if el.tag == "PubmedBookArticle":
        return _book_record(el, raw)
    if el.tag != "PubmedArticle":
        raise ValueError(f"unexpected record element {el.tag}")
    mc = pubmed_data = None
    for child in el:
        if child.tag == "MedlineCitation":
            mc = child
        elif child.tag == "PubmedData":
            pubmed_data = child
    if mc is None:
        raise ValueError("no MedlineCitation")
    pmid = ""
    article = date_revised = mesh_list = journal_info = None
    keywords: list[str] = []
    corrections: list[Correction] = []
    other_ids: list[dict] = []
    other_abstracts: list[dict] = []
    for child in mc:
        tag = child.tag
        if tag == "PMID":
            pmid = (child.text or "").strip()
        elif tag == "Article":
            article = child
        elif tag == "DateRevised":
            date_revised = child
        elif tag == "MeshHeadingList":
            mesh_list = child
        elif tag == "KeywordList":
            keywords += _texts(child.iterchildren("Keyword"))
        elif tag == "CommentsCorrectionsList":
            corrections += [_correction(cc) for cc in child.iterchildren("CommentsCorrections")]
        elif tag == "MedlineJournalInfo":
            journal_info = child
        elif tag == "OtherID":
            value = _plain(child)
            if value:
                other_ids.append({"source": child.get("Source"), "id": value})
        elif tag == "OtherAbstract":
            other_abstracts.append(_other_abstract(child))
    if not pmid.isdigit():
        raise ValueError(f"bad PMID {pmid!r}")
    if article is None:
        raise ValueError("no Article element")

    journal = title_el = vernacular = abstract_el = author_list = article_date = None
    language = None
    pub_types: list[str] = []
    databank_ncts: list[str] = []
    locations: dict[str, str] = {}
    for child in article:
        tag = child.tag
        if tag == "Journal":
            journal = child
        elif tag == "ArticleTitle":
            title_el = child
        elif tag == "Abstract":
            abstract_el = child
        elif tag == "AuthorList":
            author_list = child
        elif tag == "ELocationID":
            # The article's own ELocationID: a fallback when ArticleIdList lacks the id.
            kind, value = child.get("EIdType"), (child.text or "").strip()
            if kind in ("doi", "pii") and value and child.get("ValidYN") != "N":
                locations.setdefault(kind, value)
        elif tag == "Language":
            language = language or child.text
        elif tag == "PublicationTypeList":
            pub_types = _texts(child)
        elif tag == "DataBankList":
            for bank in child:
                if (bank.findtext("DataBankName") or "").strip().lower() == "clinicaltrials.gov":
                    for acc in bank.iterfind("AccessionNumberList/AccessionNumber"):
                        value = ids.normalise_nct(acc.text)
                        if value and value not in databank_ncts:
                            databank_ncts.append(value)
        elif tag == "ArticleDate":
            article_date = article_date if article_date is not None else child
        elif tag == "VernacularTitle":
            vernacular = child

    history: dict[str, str] = {}
    article_ids: dict[str, str] = {}
    if pubmed_data is not None:
        for child in pubmed_data:
            if child.tag == "History":
                history = _history(child)
            elif child.tag == "ArticleIdList":
                # The record's own ids: PubmedData/ArticleIdList only; the same element
                # under PubmedData/ReferenceList names the works it cites.
                _article_ids(child, article_ids)
    for kind, value in locations.items():
        article_ids.setdefault(kind, value)

    title = _fragment(title_el) or _fragment(vernacular)
    abstract, sections = _abstract(abstract_el)
    pub_date, pub_date_text = _pub_date(journal, article_date)
    mesh = [_plain(d) for h in mesh_list if len(h) and (d := h[0]).tag == "DescriptorName"] if mesh_list is not None else []
    journal_title = abbrev = None
    if journal is not None:
        for child in journal:
            if child.tag == "Title":
                journal_title = _plain(child) or None
            elif child.tag == "ISOAbbreviation":
                abbrev = _plain(child) or None
    if not abbrev and journal_info is not None:
        abbrev = _text_or_none(journal_info.find("MedlineTA"))
    pub = Publication(
        pmid=pmid, title=title, abstract=abstract or None, abstract_sections=sections,
        journal=journal_title, journal_abbrev=abbrev, pub_date=pub_date, pub_date_text=pub_date_text,
        other_ids=other_ids, author_details=_authors(author_list), publication_types=pub_types,
        mesh=mesh, keywords=keywords, other_abstracts=other_abstracts, language=language,
        medline_status=mc.get("Status"), date_revised=_ymd(date_revised),
        databank_nct_ids=databank_ncts, corrections=corrections,
    )
    return _finish(pub, history, article_ids, raw)


def _book_record(el, raw: bytes) -> Publication:
    """One <PubmedBookArticle>: a Bookshelf chapter (or a whole book when it has no ArticleTitle)."""
    doc = el.find("BookDocument")
    if doc is None:
        raise ValueError("no BookDocument")
    pmid = (doc.findtext("PMID") or "").strip()
    if not pmid.isdigit():
        raise ValueError(f"bad PMID {pmid!r}")
    book_el = doc.find("Book")
    article_ids: dict[str, str] = {}
    _article_ids(doc.find("ArticleIdList"), article_ids)
    book_data = el.find("PubmedBookData")
    history = _history(book_data.find("History")) if book_data is not None else {}
    if book_data is not None:
        _article_ids(book_data.find("ArticleIdList"), article_ids)

    def people(parent, kind: str) -> list[Author]:
        out: list[Author] = []
        if parent is not None:
            for author_list in parent.iterchildren("AuthorList"):
                if (author_list.get("Type") or "authors") == kind:
                    out += _authors(author_list)
        return out

    chapter_authors = people(doc, "authors")
    book_authors = people(book_el, "authors")
    editors = people(doc, "editors") + people(book_el, "editors")
    publisher = book_el.find("Publisher") if book_el is not None else None
    book_title_el = book_el.find("BookTitle") if book_el is not None else None
    title_el = doc.find("ArticleTitle")
    pub_date, pub_date_text = _pub_date_of(book_el.find("PubDate") if book_el is not None else None)
    abstract, sections = _abstract(doc.find("Abstract"))
    labels = [_plain(x) for x in doc.iterchildren("LocationLabel") if _plain(x)]
    book = Book(
        accession=ids.normalise_nbk(article_ids.get("bookaccession")),
        book_title=_fragment(book_title_el),
        publisher=_text_or_none(publisher.find("PublisherName")) if publisher is not None else None,
        publisher_location=_text_or_none(publisher.find("PublisherLocation")) if publisher is not None else None,
        editors=[a.display for a in editors], editor_details=editors,
        book_authors=[a.display for a in book_authors],
        location_label=labels[0] if labels else None,
        volume=_text_or_none(book_el.find("Volume")) if book_el is not None else None,
        edition=_text_or_none(book_el.find("Edition")) if book_el is not None else None,
        collection_title=_text_or_none(book_el.find("CollectionTitle")) if book_el is not None else None,
        isbn=_texts(book_el.iterchildren("Isbn")) if book_el is not None else [],
        contribution_date=_ymd(doc.find("ContributionDate")),
        sections=[_plain(s.find("SectionTitle")) for s in doc.iterfind("Sections/Section") if _plain(s.find("SectionTitle"))],
    )
    if book.accession:
        book.url = ids.bookshelf_url(book.accession)
    keywords: list[str] = []
    for kw_list in doc.iterchildren("KeywordList"):
        keywords += _texts(kw_list.iterchildren("Keyword"))
    languages = _texts(doc.iterchildren("Language"))
    pub = Publication(
        pmid=pmid,
        title=_fragment(title_el) or _fragment(doc.find("VernacularTitle")) or book.book_title,
        abstract=abstract or None, abstract_sections=sections,
        journal=fragment_to_text(book.book_title) or None, pub_date=pub_date, pub_date_text=pub_date_text,
        author_details=chapter_authors or book_authors,
        publication_types=_texts(doc.iterchildren("PublicationType")),
        keywords=keywords, language=languages[0] if languages else None,
        medline_status=None, date_revised=_ymd(doc.find("DateRevised")),
        record_type="book_chapter" if title_el is not None else "book", book=book,
    )
    return _finish(pub, history, article_ids, raw)


def _error(reason: str, raw: bytes | None, pmid: str | None = None) -> RecordError:
    if pmid is None and raw:
        m = PMID_RE.search(raw)
        pmid = m.group(1).decode() if m else None
    return RecordError(reason, pmid, raw)


# One parser for every record: no DTD, no network, no entity expansion (PubMed uses only
# XML's own entities and character references).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, load_dtd=False)
_START_RE = re.compile(rb"<(PubmedArticle|PubmedBookArticle)[\s>]")
_REFS_START, _REFS_END = b"<ReferenceList", b"</ReferenceList>"
READ_SIZE = 1 << 20


def parse_record(raw: bytes) -> Publication | RecordError:
    """One ``<PubmedArticle>``/``<PubmedBookArticle>`` (bytes) -> a Publication or a RecordError."""
    body = raw
    cut = raw.find(_REFS_START)
    if cut != -1:
        end = raw.rfind(_REFS_END)
        if end > cut:
            body = raw[:cut] + raw[end + len(_REFS_END):]
    try:
        el = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        return _error(f"malformed XML: {exc}", raw)
    try:
        return _record(el, raw)
    except Exception as exc:  # any surprise in one record must not cost the others
        return _error(f"{type(exc).__name__}: {exc}", raw)


def _records(buf: bytes, pos: int, final: bool) -> Iterator[tuple[bytes, int]]:
    """(record bytes, next position) for each complete record in ``buf`` from ``pos``.

    A record runs to its end tag; at the end of the input (``final``) an unterminated one
    runs to the end.  ``_parse_chunk`` separates records whose end tag was lost."""
    while True:
        start, end_tag = _next_start(buf, pos)
        if start == -1:
            return
        end = buf.find(end_tag, start)
        if end != -1:
            stop = end + len(end_tag)
        elif final:
            stop = len(buf)
        else:
            return  # incomplete: wait for more input
        yield buf[start:stop], stop
        pos = stop


_NAME_ENDS = frozenset(b" \t\n\r\f\v>")


def _next_start(buf: bytes, pos: int) -> tuple[int, bytes]:
    """(where the next record starts, its end tag), or (-1, b""): ``_START_RE`` as byte
    searches (between two records there is only a line break, so the search is short)."""
    while True:
        i = buf.find(b"<Pubmed", pos)
        if i == -1:
            return -1, b""
        for name, end_tag in _RECORD_NAMES:
            after = i + 1 + len(name)
            if buf.startswith(name, i + 1) and after < len(buf) and buf[after] in _NAME_ENDS:
                return i, end_tag
        pos = i + 1


_RECORD_NAMES = ((b"PubmedArticle", b"</PubmedArticle>"), (b"PubmedBookArticle", b"</PubmedBookArticle>"))


def _parse_chunk(raw: bytes) -> Iterator[Publication | RecordError]:
    """Parse one record; if it does not parse and holds another record's start (its own
    end tag was lost), the damage is the part before that start: the rest parses on."""
    rec = parse_record(raw)
    if not isinstance(rec, RecordError) or not rec.reason.startswith("malformed"):
        yield rec
        return
    inner = _START_RE.search(raw, 1)
    if inner is None:
        yield rec
        return
    yield _error(rec.reason, raw[: inner.start()])
    yield from _parse_chunk(raw[inner.start():])


def check_container(head: bytes) -> None:
    """No record at all: fine for an empty PubmedArticleSet, else not an efetch answer."""
    text = head.strip()
    if b"<PubmedArticleSet" in text and (b"</PubmedArticleSet>" in text or text.endswith(b"<PubmedArticleSet/>")):
        return
    etree.fromstring(text or b"<empty", _PARSER)  # raises XMLSyntaxError with lxml's reason
    raise etree.XMLSyntaxError(f"not a PubmedArticleSet: {text[:80]!r}", None, 0, 0)


def record_blocks(source: bytes | str | IO[bytes], size: int = READ_SIZE) -> Iterator[bytes]:
    """The input in pieces of about ``size`` bytes, each cut right after a record's end tag
    (so no record straddles two pieces; the last piece is whatever is left).

    ``source`` is the answer's bytes, a path, or a binary file object (read ``size`` at a
    time).  Cutting is two byte searches a piece: cheap enough for the process that hands the
    pieces to parsing processes (``crawler.parse_worker``)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        for start, stop in record_spans(data, size):
            yield data[start:stop]
        return
    fh = open(source, "rb") if isinstance(source, str) else source
    try:
        buf = b""
        while True:
            block = fh.read(size)
            if not block:
                break
            buf += block
            cut = _last_end(buf, 0, len(buf))
            if cut > 0:
                yield buf[:cut]
                buf = buf[cut:]
        yield buf
    finally:
        if isinstance(source, str):
            fh.close()


def record_spans(data, size: int = READ_SIZE) -> Iterator[tuple[int, int]]:
    """(start, stop) of each piece ``record_blocks`` cuts ``data`` into (bytes, or an
    ``mmap`` of a file: only the bytes around each cut are read, so a process can hand out
    a file's pieces by position and let the parsing processes read them)."""
    pos = 0
    while len(data) - pos > size:
        cut = _last_end(data, pos, pos + size)
        if cut <= pos:  # one record longer than a piece: up to its end
            cut = _first_end(data, pos + size)
            if cut == -1:
                break
        yield pos, cut
        pos = cut
    yield pos, len(data)


_END_TAGS = (b"</PubmedArticle>", b"</PubmedBookArticle>")


def _last_end(data: bytes, lo: int, hi: int) -> int:
    """Just after the last record end tag in ``data[lo:hi]`` (searching back from ``hi``), or -1."""
    best = -1
    for tag in _END_TAGS:  # the second search only looks after what the first found
        i = data.rfind(tag, max(lo, best), hi)
        if i != -1:
            best = max(best, i + len(tag))
    return best if best > lo else -1


def _first_end(data: bytes, pos: int) -> int:
    found = [i + len(t) for t in _END_TAGS if (i := data.find(t, pos)) != -1]
    return min(found) if found else -1


def parse_block(block: bytes) -> Iterator[Publication | RecordError]:
    """Every record of a piece of the input (``record_blocks``): Publications or RecordErrors."""
    for raw, _ in _records(block, 0, final=True):
        yield from _parse_chunk(raw)


def parse_pubmed(source: bytes | str | IO[bytes]) -> Iterator[Publication | RecordError]:
    """Yield Publications (or RecordErrors) from an efetch answer.

    ``source`` is the answer's bytes, a path, or a binary file object (read in 1 MB blocks).
    """
    found = False
    head = None
    for block in record_blocks(source):
        if head is None:
            head = block[:4096]
        for rec in parse_block(block):
            found = True
            yield rec
    if not found:
        check_container(head or b"")
