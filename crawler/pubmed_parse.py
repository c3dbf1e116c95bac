"""Streaming parser of an efetch ``PubmedArticleSet`` into plain publication dicts.

``parse_pubmed(source)`` yields one dict per ``<PubmedArticle>``: every field of CONTRACT's
publication shape plus what the store keeps (see ``db/migrations/publications.py``).
Fetching and saving live elsewhere (the spider, ``db.publications``).

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

A record that cannot be read yields an *error marker* instead: ``{"_error": reason, "pmid":
PMID or None, "raw": bytes}``; the pipeline quarantines it and the rest is still parsed.
Input that holds no record at all but is not an empty ``PubmedArticleSet`` (an HTML error
page, a cut-off body) raises ``etree.XMLSyntaxError``: the caller retries or fails.
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import IO, Iterator

from lxml import etree

MATHML_NS = "http://www.w3.org/1998/Math/MathML"
KEEP_TAGS = frozenset({"i", "b", "sub", "sup", "u"})
RECORD_TAGS = ("PubmedArticle", "PubmedBookArticle")
NCT_RE = re.compile(r"\bNCT\d{8}\b")
PMID_RE = re.compile(rb"<PMID[^>]*>\s*(\d+)\s*</PMID>")
_WS_RE = re.compile(r"\s+")
_TAG_RE = re.compile(r"<[^>]+>")
MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
# Labels PubMed itself does not print in front of a section.
SILENT_LABELS = frozenset({"UNLABELLED", "UNASSIGNED", ""})
# CommentsCorrections kinds that change how far a paper can be trusted (not CommentIn/Cites).
CORRECTION_TYPES = frozenset({
    "RetractionIn", "RetractionOf", "PartialRetractionIn", "PartialRetractionOf",
    "ErratumIn", "ErratumFor", "ExpressionOfConcernIn", "ExpressionOfConcernFor",
    "RepublishedIn", "RepublishedFrom", "RetractedandRepublishedIn", "RetractedandRepublishedFrom",
    "UpdateIn", "UpdateOf",
})


# ----------------------------------------------------------------- text helpers
def _escape(text: str | None) -> str:
    if not text:
        return ""
    return html.escape(text, quote=False)


def _norm(text: str) -> str:
    return " ".join(text.split())


def plain_text(fragment: str | None) -> str:
    """The readable text of a stored title/abstract fragment: tags dropped, entities undone."""
    if not fragment:
        return ""
    return html.unescape(_TAG_RE.sub("", fragment))


def _local(tag) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


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
    return _norm(_inline(el)) if el is not None else ""


def _plain(el) -> str:
    if el is None:
        return ""
    if len(el) == 0:
        return " ".join((el.text or "").split())
    return " ".join("".join(el.itertext()).split())


def _texts(nodes) -> list[str]:
    """Plain texts of elements that hold only text (MeSH names, keywords, types)."""
    out = []
    for node in nodes:
        text = " ".join((node.text or "").split()) if len(node) == 0 else _plain(node)
        if text:
            out.append(text)
    return out


# ---------------------------------------------------------------------- dates
def _month(value: str | None) -> int | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        month = int(value)
        return month if 1 <= month <= 12 else None
    return MONTHS.get(value[:3].lower())


def _ymd(el) -> str | None:
    """A Year/Month/Day element as YYYY[-MM[-DD]]."""
    if el is None:
        return None
    year = month_text = day = ""
    for child in el:
        tag = child.tag
        if tag == "Year":
            year = (child.text or "").strip()
        elif tag == "Month":
            month_text = child.text
        elif tag == "Day":
            day = (child.text or "").strip()
    if not year.isdigit():
        return None
    month = _month(month_text)
    if month is None:
        return year
    if day.isdigit() and 1 <= int(day) <= 31:
        return f"{year}-{month:02d}-{int(day):02d}"
    return f"{year}-{month:02d}"


def _pub_date(journal, article_date) -> tuple[str | None, str | None]:
    """(pub_date, pub_date_text): text is the MedlineDate or "Year Season" as printed."""
    issue = journal.find("JournalIssue") if journal is not None else None
    pd = issue.find("PubDate") if issue is not None else None
    if pd is not None:
        medline = pd.findtext("MedlineDate")
        if medline:
            m = re.match(r"\s*(\d{4})(?:\s+([A-Za-z]{3}))?", medline)
            if m:
                month = _month(m.group(2))
                return (f"{m.group(1)}-{month:02d}" if month else m.group(1)), medline.strip()
            return None, medline.strip()
        season = pd.findtext("Season")
        date = _ymd(pd)
        if season:
            return date, f"{pd.findtext('Year') or ''} {season.strip()}".strip()
        if date:
            return date, None
    return _ymd(article_date), None


# --------------------------------------------------------------------- record
def _authors(author_list) -> list[str]:
    out = []
    if author_list is None:
        return out
    for author in author_list.iterchildren("Author"):
        if author.get("ValidYN") == "N":  # an entry NLM marked as erroneous
            continue
        last = initials = fore = None
        for child in author:
            tag = child.tag
            if tag == "LastName":
                last = (child.text or "").strip()
            elif tag == "Initials":
                initials = (child.text or "").strip()
            elif tag == "ForeName":
                fore = child.text or ""
            elif tag == "CollectiveName":
                last = _plain(child)
                initials = ""
        if not last:
            continue
        if initials is None:
            initials = "".join(p[0] for p in (fore or "").replace("-", " ").split() if p)
        out.append(f"{last} {initials}" if initials else last)
    return out


def _abstract(abstract_el) -> tuple[str, list[dict]]:
    sections = []
    if abstract_el is None:
        return "", sections
    for node in abstract_el.iterchildren("AbstractText"):
        text = _fragment(node)
        label = (node.get("Label") or "").strip()
        sections.append({"label": label or None, "category": node.get("NlmCategory"), "text": text})
    parts = []
    for s in sections:
        if s["label"] and s["label"].upper() not in SILENT_LABELS:
            parts.append(f"{_escape(s['label'])}: {s['text']}")
        elif s["text"]:
            parts.append(s["text"])
    return "\n\n".join(parts), sections


def _record(el, raw: bytes) -> dict:
    """One parsed <PubmedArticle> -> the publication dict.

    Walks the children of MedlineCitation, Article and PubmedData once each (cheaper than
    one path lookup per field: this function is most of the parse time)."""
    if el.tag != "PubmedArticle":
        raise ValueError(f"{el.tag} (a book chapter) is not supported")
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
    corrections = []
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
            for cc in child:
                ref_type = cc.get("RefType")
                if ref_type in CORRECTION_TYPES:
                    corrections.append({
                        "ref_type": ref_type,
                        "other_pmid": (cc.findtext("PMID") or "").strip(),
                        "note": _plain(cc.find("RefSource")) or None,
                    })
        elif tag == "MedlineJournalInfo":
            journal_info = child
    if not pmid.isdigit():
        raise ValueError(f"bad PMID {pmid!r}")
    if article is None:
        raise ValueError("no Article element")

    journal = title_el = vernacular = abstract_el = author_list = article_date = None
    language = None
    pub_types: list[str] = []
    databank_ncts: list[str] = []
    ids: dict[str, str] = {}
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
                        value = (acc.text or "").strip().upper()
                        if NCT_RE.fullmatch(value):
                            databank_ncts.append(value)
        elif tag == "ArticleDate":
            article_date = article_date if article_date is not None else child
        elif tag == "VernacularTitle":
            vernacular = child

    entrez = pubmed_date = None
    if pubmed_data is not None:
        for child in pubmed_data:
            if child.tag == "History":
                for date in child:
                    status = date.get("PubStatus")
                    if status == "entrez":
                        entrez = _ymd(date)
                    elif status == "pubmed":
                        pubmed_date = _ymd(date)
            elif child.tag == "ArticleIdList":
                # The record's own ids: PubmedData/ArticleIdList only; the same element
                # under PubmedData/ReferenceList names the works it cites.
                for aid in child:
                    kind, value = aid.get("IdType"), (aid.text or "").strip()
                    if kind and value and kind not in ids:
                        ids[kind] = value
    for kind, value in locations.items():
        ids.setdefault(kind, value)

    title = _fragment(title_el) or _fragment(vernacular)
    abstract, sections = _abstract(abstract_el)
    pub_date, pub_date_text = _pub_date(journal, article_date)
    text_ncts = (NCT_RE.findall(title) if "NCT" in title else []) + (NCT_RE.findall(abstract) if "NCT" in abstract else [])
    abstract_ncts = [n for n in dict.fromkeys(text_ncts) if n not in databank_ncts]
    retracted = any(c["ref_type"] == "RetractionIn" for c in corrections) or "Retracted Publication" in pub_types
    mesh = [" ".join((h[0].text or "").split()) for h in mesh_list if len(h) and h[0].tag == "DescriptorName"] if mesh_list is not None else []
    journal_title = abbrev = None
    if journal is not None:
        for child in journal:
            if child.tag == "Title":
                journal_title = _plain(child)
            elif child.tag == "ISOAbbreviation":
                abbrev = child.text
    if not abbrev and journal_info is not None:
        abbrev = journal_info.findtext("MedlineTA")
    pmcid = ids.get("pmc")
    return {
        "pmid": pmid,
        "title": title,
        "abstract": abstract or None,
        "abstract_sections": sections,
        "journal": journal_title,
        "journal_abbrev": abbrev,
        "pub_date": pub_date,
        "pub_date_text": pub_date_text,
        "entrez_date": entrez or pubmed_date,
        "doi": ids.get("doi"),
        "pmcid": pmcid.upper() if pmcid else None,
        "pii": ids.get("pii"),
        "authors": _authors(author_list),
        "publication_types": pub_types,
        "mesh": mesh,
        "keywords": keywords,
        "language": language,
        "medline_status": mc.get("Status"),
        "date_revised": _ymd(date_revised),
        "nct_ids": sorted(set(databank_ncts) | set(abstract_ncts)),
        "databank_nct_ids": list(dict.fromkeys(databank_ncts)),
        "abstract_nct_ids": abstract_ncts,
        "corrections": corrections,
        "retracted": retracted,
        "record_hash": hashlib.sha1(raw).hexdigest(),
        "raw_xml": raw,
    }


def _error(reason: str, raw: bytes | None, pmid: str | None = None) -> dict:
    if pmid is None and raw:
        m = PMID_RE.search(raw)
        pmid = m.group(1).decode() if m else None
    return {"_error": reason, "pmid": pmid, "raw": raw}


# One parser for every record: no DTD, no network, no entity expansion (PubMed uses only
# XML's own entities and character references).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, load_dtd=False)
_START_RE = re.compile(rb"<(PubmedArticle|PubmedBookArticle)[\s>]")
_REFS_START, _REFS_END = b"<ReferenceList", b"</ReferenceList>"
READ_SIZE = 1 << 20


def parse_record(raw: bytes) -> dict:
    """One ``<PubmedArticle>`` (bytes) -> a publication dict or an error marker."""
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
        m = _START_RE.search(buf, pos)
        if not m:
            return
        end_tag = b"</" + m.group(1) + b">"
        end = buf.find(end_tag, m.end())
        if end != -1:
            stop = end + len(end_tag)
        elif final:
            stop = len(buf)
        else:
            return  # incomplete: wait for more input
        yield buf[m.start():stop], stop
        pos = stop


def _parse_chunk(raw: bytes) -> Iterator[dict]:
    """Parse one record; if it does not parse and holds another record's start (its own
    end tag was lost), the damage is the part before that start: the rest parses on."""
    rec = parse_record(raw)
    if "_error" not in rec or not rec["_error"].startswith("malformed"):
        yield rec
        return
    inner = _START_RE.search(raw, 1)
    if inner is None:
        yield rec
        return
    yield _error(rec["_error"], raw[: inner.start()])
    yield from _parse_chunk(raw[inner.start():])


def _check_container(head: bytes) -> None:
    """No record at all: fine for an empty PubmedArticleSet, else not an efetch answer."""
    text = head.strip()
    if b"<PubmedArticleSet" in text and (b"</PubmedArticleSet>" in text or text.endswith(b"<PubmedArticleSet/>")):
        return
    etree.fromstring(text or b"<empty", _PARSER)  # raises XMLSyntaxError with lxml's reason
    raise etree.XMLSyntaxError(f"not a PubmedArticleSet: {text[:80]!r}", None, 0, 0)


def parse_pubmed(source: bytes | str | IO[bytes]) -> Iterator[dict]:
    """Yield publication dicts (or error markers) from an efetch answer.

    ``source`` is the answer's bytes, a path, or a binary file object (read in 1 MB blocks).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        found = False
        for raw, _ in _records(data, 0, final=True):
            found = True
            yield from _parse_chunk(raw)
        if not found:
            _check_container(data[:4096])
        return
    fh = open(source, "rb") if isinstance(source, str) else source
    try:
        buf = b""
        found = False
        head = b""
        while True:
            block = fh.read(READ_SIZE)
            final = not block
            buf += block
            if not head:
                head = buf[:4096]
            pos = 0
            for raw, pos in _records(buf, 0, final):
                found = True
                yield from _parse_chunk(raw)
            buf = buf[pos:]
            if final:
                break
        if not found:
            _check_container(head)
    finally:
        if isinstance(source, str):
            fh.close()
