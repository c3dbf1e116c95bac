"""PubMed's query syntax, evaluated against the records a fake serves.

Why the fake needs it: a fake that answers every query with every record cannot show a
paper reaching the right topic, and a demo built on it puts liver lesions in a ketamine
digest.  This is a small recursive-descent parser for what watchlists use, evaluated
over an ``Index`` of each record's fields:

    query   := expr
    expr    := unary (("AND" | "OR" | "NOT")? unary)*     left to right, as PubMed does
    unary   := "(" expr ")" | term
    term    := (WORD | "QUOTED PHRASE" | DATE:DATE) ("[" TAG "]")?

PubMed applies Boolean operators left to right, without precedence (``a OR b AND c`` is
``(a OR b) AND c``); two terms side by side are ANDed.  Tags: ``tiab``/``tw`` (title and
abstract), ``ti``, ``ab``, ``mh`` (MeSH heading: exact, plus the narrower headings written
"Heading, qualifier" — an approximation of MeSH explosion; ``mh:noexp`` exact only),
``majr``, ``pt`` (publication type), ``si`` (secondary source id: DataBank accession),
``aid`` (DOI/PII), ``uid``/``pmid``, ``au``, ``ta``/``journal``, ``sb`` (``all[sb]`` is
every record), date ranges ``YYYY[/MM[/DD]]:YYYY[/MM[/DD]]`` on ``edat``, ``crdt``, ``dp``,
``mdat`` (a single date is that whole day/month/year); no tag = all fields.  ``*`` at
the end of a word is truncation.  Words match whole words, case-insensitively,
punctuation read as space (so "treatment-resistant" matches "treatment resistant").
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from dataclasses import dataclass, field

from litwatch.vocab.errors import QueryError

_TOKEN_RE = re.compile(r'\s*(?:(\()|(\))|"([^"]*)"(?:\[([^\]]+)\])?|([^\s()"\[]+)(?:\[([^\]]+)\])?)')
_WORD_RE = re.compile(r"[0-9a-z]+")
OPERATORS = ("AND", "OR", "NOT")
DATE_TAGS = {"edat": "entrez", "crdt": "created", "dp": "published", "pdat": "published", "mdat": "modified",
             "date - entry": "entrez", "date - create": "created", "date - publication": "published",
             "date - modification": "modified"}
TEXT_TAGS = {"tiab": ("title", "abstract"), "tw": ("title", "abstract", "mesh", "keywords"), "ti": ("title",),
             "ab": ("abstract",), "au": ("authors",), "ta": ("journal",), "journal": ("journal",),
             "ot": ("keywords",), "all": ("title", "abstract", "mesh", "keywords", "authors", "journal", "pt")}


@dataclass
class Index:
    """What one record can be searched on (lower-cased, punctuation read as space)."""

    pmid: str
    title: str = ""
    abstract: str = ""
    mesh: list[str] = field(default_factory=list)
    major_mesh: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    pt: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    journal: str = ""
    si: set[str] = field(default_factory=set)
    aids: set[str] = field(default_factory=set)
    dates: dict[str, dt.date] = field(default_factory=dict)
    _text: dict[str, str] = field(default_factory=dict, repr=False)

    def text(self, part: str) -> str:
        """`` word word … `` of one field (cached), for phrase and prefix matching."""
        if part not in self._text:
            value = getattr(self, part)
            values = value if isinstance(value, list) else [value]
            # " | " keeps a phrase from running across two MeSH headings or keywords.
            self._text[part] = " " + " | ".join(" ".join(_WORD_RE.findall(v.lower())) for v in values) + " "
        return self._text[part]


def words(text: str) -> str:
    return " ".join(_WORD_RE.findall(text.lower()))


def pii_key(value: str) -> str:
    return re.sub(r"[^0-9a-z]", "", value.lower())


# ------------------------------------------------------------------ parsing
@dataclass
class Term:
    text: str
    tag: str | None
    quoted: bool


@dataclass
class Op:
    op: str  # AND | OR | NOT
    left: object
    right: object


def tokenize(query: str) -> list:
    tokens, pos = [], 0
    query = query.strip()
    while pos < len(query):
        m = _TOKEN_RE.match(query, pos)
        if not m or m.end() == pos:
            raise QueryError(f"cannot read the query at {query[pos:pos + 20]!r}")
        pos = m.end()
        if m.group(1):
            tokens.append("(")
        elif m.group(2):
            tokens.append(")")
        elif m.group(3) is not None:
            tokens.append(Term(m.group(3), (m.group(4) or "").strip().lower() or None, True))
        elif m.group(5):
            word, tag = m.group(5), (m.group(6) or "").strip().lower() or None
            if word in OPERATORS and tag is None:
                tokens.append(word)
            else:
                tokens.append(Term(word, tag, False))
        while pos < len(query) and query[pos].isspace():
            pos += 1
    return tokens


def parse(query: str):
    """The query as a tree of ``Op`` and ``Term``; QueryError for what PubMed would reject."""
    tokens = tokenize(query)
    if not tokens:
        raise QueryError("empty query")
    node, pos = _expr(tokens, 0)
    if pos != len(tokens):
        raise QueryError(f"unbalanced parentheses in {query!r}")
    return node


def _expr(tokens, pos):
    left, pos = _unary(tokens, pos)
    while pos < len(tokens) and tokens[pos] != ")":
        op = "AND"
        if tokens[pos] in OPERATORS:
            op = tokens[pos]
            pos += 1
        right, pos = _unary(tokens, pos)
        left = Op(op, left, right)
    return left, pos


def _unary(tokens, pos):
    if pos >= len(tokens):
        raise QueryError("query ends where a term was expected")
    token = tokens[pos]
    if token == "(":
        node, pos = _expr(tokens, pos + 1)
        if pos >= len(tokens) or tokens[pos] != ")":
            raise QueryError("a parenthesis is not closed")
        return node, pos + 1
    if isinstance(token, Term):
        return token, pos + 1
    raise QueryError(f"unexpected {token!r}")


# ------------------------------------------------------------------ evaluation
def _parse_date(value: str, *, end: bool) -> dt.date:
    parts = [int(p) for p in re.split(r"[/-]", value.strip()) if p]
    year = parts[0]
    month = parts[1] if len(parts) > 1 else (12 if end else 1)
    if len(parts) > 2:
        day = parts[2]
    else:
        day = calendar.monthrange(year, month)[1] if end else 1
    return dt.date(year, month, day)


@functools.lru_cache(maxsize=256)
def date_range(text: str) -> tuple[dt.date, dt.date]:
    """(first, last day) of a date range term; cached: a search meets the same range at
    every record (a backfill's window search over 10,000 records parsed it 20,000 times)."""
    lo, _, hi = text.partition(":")
    hi = hi or lo
    if hi.strip() in ("3000", "present"):
        hi = "3000"
    return _parse_date(lo, end=False), _parse_date(hi, end=True)


def _text_match(rec: Index, parts, needle: str, prefix: bool) -> bool:
    for part in parts:
        hay = rec.text(part)
        if prefix:
            if re.search(r" " + re.escape(needle) + r"[0-9a-z]*", hay):
                return True
        elif f" {needle} " in hay:
            return True
    return False


def _mesh_match(headings: list[str], value: str, explode: bool) -> bool:
    value = value.lower().strip()
    for heading in headings:
        h = heading.lower()
        if h == value or (explode and h.startswith(value + ",")):
            return True
    return False


def match(node, rec: Index, sets: dict[str, set[str]] | None = None) -> bool:
    """Whether one record matches a parsed query.  ``sets``: named PMID sets a test gives
    for sub-queries (``name[lwset]``, see ``evaluate``)."""
    if isinstance(node, Op):
        if node.op == "AND":
            return match(node.left, rec, sets) and match(node.right, rec, sets)
        if node.op == "OR":
            return match(node.left, rec, sets) or match(node.right, rec, sets)
        return match(node.left, rec, sets) and not match(node.right, rec, sets)
    tag = node.tag or "all"
    value = node.text.strip()
    if tag == "lwset":
        return rec.pmid in (sets or {}).get(value, ())
    if tag in DATE_TAGS:
        lo, hi = date_range(value)
        day = rec.dates.get(DATE_TAGS[tag])
        return day is not None and lo <= day <= hi
    if tag in ("uid", "pmid"):
        return value == rec.pmid
    if tag == "sb":
        return value.lower() == "all"
    if tag == "si":
        return value.upper() in rec.si
    if tag == "aid":
        return value.lower() in rec.aids or pii_key(value) in rec.aids
    if tag in ("mh", "mesh", "mh:noexp"):
        return _mesh_match(rec.mesh, value, explode=tag != "mh:noexp")
    if tag == "majr":
        return _mesh_match(rec.major_mesh, value, explode=True)
    if tag == "pt":
        return any(value.lower() == p.lower() for p in rec.pt)
    parts = TEXT_TAGS.get(tag)
    if parts is None:
        raise QueryError(f"unknown search field [{tag}]")
    prefix = value.endswith("*")
    needle = words(value.rstrip("*"))
    if not needle:
        return False
    if tag == "all" and not node.quoted and not prefix and " " not in needle and needle.isdigit():
        if needle == rec.pmid:
            return True
    return _text_match(rec, parts, needle, prefix)


def evaluate(query: str, records, overrides: dict[str, set[str]] | None = None) -> set[str]:
    """The PMIDs of ``records`` (Index objects) that ``query`` matches.

    ``overrides`` {sub-query: PMIDs}: a parenthesised sub-query (or the whole query) equal
    to a key stands for that set (a test's "this topic finds these papers", still
    combined with the date window the crawler adds)."""
    query = query.strip()
    sets: dict[str, set[str]] = {}
    for i, (key, pmids) in enumerate((overrides or {}).items()):
        name = f"set{i}"
        if query == key.strip():
            return {rec.pmid for rec in records if rec.pmid in pmids}
        if f"({key.strip()})" in query:
            query = query.replace(f"({key.strip()})", f"{name}[lwset]")
            sets[name] = set(pmids)
    tree = parse(query)
    return {rec.pmid for rec in _select(tree, list(records), sets)}


def _select(node, recs: list, sets: dict[str, set[str]]) -> list:
    """The records of ``recs`` that ``node`` matches: what ``match`` says of each, found
    node by node over lists instead of record by record through the whole tree.  An AND
    tests its right side only on what its left side kept, an OR its right side only on
    what its left side left; ``all[sb]`` keeps everything untested and a date range is one
    comparison a record.  Why: a backfill's window search ("(topic) AND (a:b[edat] OR
    a:b[crdt])") walked the tree for every record, 50-65 ms a search over 10,000 records,
    on the cores the crawl being measured runs on (bench/bench_crawl.py)."""
    if isinstance(node, Op):
        left = _select(node.left, recs, sets)
        if node.op == "AND":
            return _select(node.right, left, sets) if left else left
        kept = {id(r) for r in left}
        if node.op == "OR":
            return left + _select(node.right, [r for r in recs if id(r) not in kept], sets)
        dropped = {id(r) for r in _select(node.right, left, sets)}  # NOT: left AND NOT right
        return [r for r in left if id(r) not in dropped]
    tag = node.tag or "all"
    if tag == "sb" and node.text.strip().lower() == "all":
        return recs
    if tag in DATE_TAGS:
        lo, hi = date_range(node.text.strip())
        key = DATE_TAGS[tag]
        return [r for r in recs if (day := r.dates.get(key)) is not None and lo <= day <= hi]
    return [r for r in recs if match(node, r, sets)]
