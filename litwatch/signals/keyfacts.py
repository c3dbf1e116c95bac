"""Key facts of a paper at a glance: design, sample size, included studies, registration.

A reader of a digest wants to know what kind of evidence a paper is and how big before
opening it.  PubMed's publication types say some of it, but In-Process and publisher
records carry none, so the facts are read from the title and abstract with plain rules,
and every fact keeps the words it came from (``Evidence``): a reader can check it, and
``show --json`` prints it.

Rules, not a model: they are explainable, offline and measured.  ``bench/bench_keyfacts.py``
scores them against a hand-labelled set of 113 real abstracts (``tests/keyfacts_labels.jsonl``)
and ``summary_line`` shows only the facts listed in ``SHOWN`` -- those whose measured
precision is at least 0.9 over at least ``MIN_SUPPORT`` predictions.  The others are still
extracted (and in the JSON, marked unshown) but kept out of the one-line summary.

Imports only the vocabulary and the standard library (floor 1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from litwatch.vocab.ids import REGISTRATION_IN_TEXT_RE, normalise_registration, registration_url
from litwatch.vocab.markup import fragment_to_text

# Design flags, in the order the summary line names them.
DESIGNS = (
    "systematic_review", "meta_analysis", "randomised", "controlled", "double_blind",
    "placebo_controlled", "crossover", "open_label", "observational", "case_report",
)
DESIGN_LABELS = {
    "systematic_review": "systematic review", "meta_analysis": "meta-analysis",
    "randomised": "randomised", "controlled": "controlled", "double_blind": "double-blind",
    "placebo_controlled": "placebo-controlled", "crossover": "crossover", "open_label": "open-label",
    "observational": "observational", "case_report": "case report",
}
FACTS = DESIGNS + ("n", "included_studies", "registrations")

# Facts the summary line shows: measured precision >= 0.9 over >= MIN_SUPPORT predictions on the
# labelled set (bench/README.md, "bench_keyfacts.py", has the table these come from; fewer than
# three predictions is no measurement).  Systematic review, meta-analysis, included studies and
# case report have too few examples in the fixtures to be measured, so they are not shown.
MIN_PRECISION = 0.9
MIN_SUPPORT = 3
SHOWN = (
    "randomised", "controlled", "double_blind", "placebo_controlled", "crossover",
    "open_label", "observational", "n", "registrations",
)

# PubMed publication types that state a design outright (NLM indexers assign them).
_PUBLICATION_TYPES = {
    "Systematic Review": "systematic_review",
    "Meta-Analysis": "meta_analysis",
    "Randomized Controlled Trial": "randomised",
    "Controlled Clinical Trial": "controlled",
    "Observational Study": "observational",
    "Case Reports": "case_report",
}


@dataclass(slots=True)
class Evidence:
    """The words a fact came from: ``field`` is title, abstract or publication_types."""

    text: str
    field: str
    start: int = 0
    end: int = 0


@dataclass(slots=True)
class Fact:
    value: object
    evidence: Evidence


@dataclass(slots=True)
class KeyFacts:
    """Per fact its value and evidence; a design flag absent from ``designs`` is false."""

    designs: dict[str, Fact] = field(default_factory=dict)
    n: Fact | None = None
    included_studies: Fact | None = None
    registrations: list[Fact] = field(default_factory=list)

    def has(self, design: str) -> bool:
        return design in self.designs

    def as_dict(self) -> dict:
        """The JSON shape ``show --json`` prints under ``key_facts``."""
        def one(name: str, fact: Fact) -> dict:
            return {"fact": name, "value": fact.value, "shown": name in SHOWN or _group(name) in SHOWN,
                    "evidence": fact.evidence.text, "field": fact.evidence.field,
                    "span": [fact.evidence.start, fact.evidence.end]}
        facts = [one(d, self.designs[d]) for d in DESIGNS if d in self.designs]
        if self.n:
            facts.append(one("n", self.n))
        if self.included_studies:
            facts.append(one("included_studies", self.included_studies))
        for reg in self.registrations:
            item = one("registration", reg)
            item["url"] = registration_url(str(reg.value))
            facts.append(item)
        return {"summary": summary_line(self), "facts": facts}


def _group(name: str) -> str:
    return "registrations" if name == "registration" else name


# --------------------------------------------------------------------------- text
class _Text:
    """Title and abstract as plain text, searched as one string; offsets map back to a field."""

    def __init__(self, title: str, abstract: str):
        self.title = fragment_to_text(title)
        self.abstract = fragment_to_text(abstract)
        self.joined = self.title + "\n" + self.abstract
        self._split = len(self.title) + 1

    def evidence(self, start: int, end: int) -> Evidence:
        """The words at ``start:end`` (trimmed), with offsets into the field they are in."""
        words = self.joined[start:end]
        start += len(words) - len(words.lstrip())
        end -= len(words) - len(words.rstrip())
        if start < self._split:
            end = min(end, len(self.title))
            return Evidence(self.joined[start:end], "title", start, end)
        return Evidence(self.joined[start:end], "abstract", start - self._split, end - self._split)

    def sentence(self, pos: int) -> tuple[int, int]:
        """Bounds of the sentence around ``pos`` (a full stop or a newline ends one)."""
        start = max(self.joined.rfind(". ", 0, pos), self.joined.rfind("\n", 0, pos), self.joined.rfind("; ", 0, pos))
        end_candidates = [i for i in (self.joined.find(". ", pos), self.joined.find("\n", pos)) if i != -1]
        return (start + 1 if start != -1 else 0), (min(end_candidates) if end_candidates else len(self.joined))


def _rx(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


RANDOM = (r"(?:randomi[sz](?:ed|ation|ing|e)|randomly\s+(?:assigned|allocated|divided|chosen|selected|distributed)"
          r"|random\s+(?:allocation|assignment)|(?:allocated|assigned|divided|distributed|administered)\s+(?:at\s+)?random(?:ly)?)")

# (pattern, excluding pattern tested on the words around the match) per design.
_DESIGN_RULES: dict[str, list[tuple[re.Pattern, re.Pattern | None]]] = {
    "systematic_review": [
        (_rx(r"\bsystematic(?:al)?\s+(?:literature\s+)?review\b(?!s)|\bsystematically\s+(?:searched|reviewed)\b"
             r"|\bumbrella\s+review\b"),
         _rx(r"(?:previous|prior|earlier|recent|published|existing|other|\d+|ten|two|three|several)\s+(?:\w+\s+){0,2}$")),
    ],
    "meta_analysis": [
        (_rx(r"\bmeta-?\s?analys[ie]s\b|\bmeta-?analy[sz]ed\b|\bpooled\s+analysis\s+of\s+(?:\d+|[a-z]+)\s+(?:randomi[sz]ed\s+)?(?:trials|studies)"),
         _rx(r"(?:previous|prior|earlier|recent|published|existing|other|\d+|ten|two|three|several|and)\s+(?:\w+\s+){0,2}$")),
    ],
    "randomised": [
        (_rx(r"(?<!non-)(?<!non)(?<!quasi-)\b" + RANDOM + r"\b"),
         _rx(r"\b(?:non|quasi)-?$")),
    ],
    "controlled": [
        (_rx(r"\b(?:placebo|sham|verum|vehicle|positive|active)[- ]controlled\b"
             r"|(?<![-\w])controlled\s+(?:\w+\s+){0,3}?(?:trials?|stud(?:y|ies)|design|experiment)\b"
             r"|\brandomi[sz]ed\s+control\s+trial\b"
             r"|\b(?:usual|standard)\s+care\b|\btreatment[- ]as[- ]usual\b|\bwait(?:ing)?[- ]list\b"
             r"|\bno[- ](?:treatment|intervention|training|prehydration|text)\b"),
         _rx(r"(?:case|matched|healthy|poorly|well|un|patient|anesthetist|anaesthetist)[- ]?$")),
        # A "control group" is a trial's control only where something was given or assigned:
        # surveys and case-control comparisons have control groups too.
        (_rx(r"\bcontrol\s+(?:group|arm|condition|vaccine|subjects|patients|intervention|treatment)s?\b"
             r"|\bserved\s+as\s+(?:the\s+)?controls?\b"),
         _rx(r"(?:case|matched|healthy)[- ]?$")),
    ],
    "double_blind": [
        (_rx(r"\b(?:double|triple)[- ]?(?:blind(?:ed)?|mask(?:ed)?)(?:\s+fashion)?\b"),
         _rx(r"(?:previous|preceding|prior|earlier)\b[^.]{0,40}$")),
    ],
    "placebo_controlled": [
        (_rx(r"\bplacebos?\b"), _rx(r"(?:double[- ]dummy|non)[^.]{0,20}$")),
    ],
    "crossover": [
        (_rx(r"\bcross[- ]?over\b|\bcrossed\s+over\b|\btwo[- ]period\b|\blatin[- ]square\b"), None),
    ],
    "open_label": [
        (_rx(r"\bopen[- ]label(?:l?ed)?\b|\bopen\s+(?:randomi[sz]ed\s+)?(?:trial|study)\b"
             r"|\b(?:unblinded|non-blinded|not\s+blinded|lack\s+of\s+blinding|without\s+blinding)\b"), None),
    ],
    "observational": [
        (_rx(r"\b(?:observational|cohort|case[- ]control|cross[- ]sectional|registry[- ]based|population[- ]based)\s+"
             r"(?:\w+\s+){0,1}?(?:stud(?:y|ies)|analys[ie]s|design|approach|survey|data)\b"
             r"|\bretrospective(?:ly)?\s+(?:\w+\s+){0,2}?(?:stud(?:y|ies)|analys[ie]s|review|cohort|chart|reviewed|analy[sz]ed)\b"
             r"|\bnested\s+case[- ]control\b|\bcross-sectional\b"), None),
    ],
    "case_report": [
        (_rx(r"\bcase\s+report\b|\b(?:we|this\s+article)\s+(?:report|describe|present|highlight)s?\s+"
             r"(?:a|an|the|two|three|four)\s+(?:(?!of\b)\w+\s+){0,2}?(?:case|cases|patient|patients)\b"
             r"|\b(?:in|of)\s+a\s+case\s+of\b"), None),
    ],
}


_ALLOCATION = _rx(r"\b(?:randomi[sz]|randomly|assigned|allocated|received|were\s+given|treated\s+with|administered)")


def _designs(text: _Text, publication_types) -> dict[str, Fact]:
    found: dict[str, Fact] = {}
    for ptype in publication_types or ():
        design = _PUBLICATION_TYPES.get(ptype)
        if design and design not in found:
            found[design] = Fact(True, Evidence(ptype, "publication_types"))
    allocation = _ALLOCATION.search(text.joined)
    for design, rules in _DESIGN_RULES.items():
        if design in found:
            continue
        for i, (pattern, exclude) in enumerate(rules):
            if design == "controlled" and i == 1 and not allocation:
                continue
            for m in pattern.finditer(text.joined):
                before = text.joined[max(0, m.start() - 60):m.start()]
                if exclude is not None and exclude.search(before):
                    continue
                found[design] = Fact(True, text.evidence(*_widen(text.joined, m.start(), m.end())))
                break
            if design in found:
                break
    # Wording that names a design but belongs to another study than the one reported.
    if "placebo_controlled" in found and "controlled" not in found:
        ev = found["placebo_controlled"].evidence
        found["controlled"] = Fact(True, Evidence(ev.text, ev.field, ev.start, ev.end))
    if "observational" in found and "randomised" in found and found["observational"].evidence.field == "title":
        del found["randomised"]
    return {d: found[d] for d in DESIGNS if d in found}


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """The match plus up to a few words each side, within its sentence: enough to read it."""
    left = start
    for _ in range(3):
        j = text.rfind(" ", 0, left - 1)
        if j == -1 or "." in text[j:left] or "\n" in text[j:left]:
            break
        left = j + 1
    right = end
    for _ in range(3):
        j = text.find(" ", right + 1)
        if j == -1 or "." in text[right:j] or "\n" in text[right:j]:
            break
        right = j
    return left, right


# --------------------------------------------------------------------------- numbers
_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"}
_SCALES = {"hundred": 100, "thousand": 1000}
_NUMWORD = r"(?:" + "|".join(sorted(list(_UNITS) + list(_TENS), key=len, reverse=True)) + r")"
NUMBER = (r"(?:\d{1,2}\s\d{3}(?!\d)|\d{1,3}(?:,\d{3})+(?!\d)|\d+(?![.,]?\d)"
          r"|" + _NUMWORD + r"(?:(?:[- ]|\s+and\s+)(?:" + _NUMWORD + r"|hundred|thousand))*)")


def parse_number(words: str) -> int | None:
    """``"Eight hundred and eighty eight"`` -> 888, ``"4 244"`` -> 4244, ``"10,400"`` -> 10400."""
    words = words.strip().lower()
    if re.fullmatch(r"\d{1,2}\s\d{3}|\d{1,3}(?:,\d{3})+|\d+", words):
        return int(re.sub(r"[\s,]", "", words))
    total = current = 0
    seen = False
    for token in re.split(r"[\s-]+", words):
        if token == "and":
            continue
        if token in _UNITS:
            current += _UNITS[token]
        elif token in _TENS:
            current += _TENS[token]
        elif token == "hundred":
            current = max(current, 1) * 100
        elif token == "thousand":
            total += max(current, 1) * 1000
            current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


PEOPLE = (r"(?:patients|subjects|participants|children|adults|adolescents|infants|neonates|newborns|men|women"
          r"|males|females|boys|girls|volunteers|individuals|persons|people|students|smokers|veterans|outpatients"
          r"|inpatients|cases|youths?|physicians|donors|dogs|cats|mothers|parents|couples|families|teachers"
          r"|nurses|workers|residents|athletes|pregnancies|eyes|respondents|users|drinkers|survivors|recipients"
          r"|pairs|dyads)")
_COUNT = _rx(r"(?<![\w.=/-])(?P<num>" + NUMBER + r")(?P<mid>(?:\s+(?![\d(])[\w'/-]+){0,5}?)\s+" + PEOPLE + r"\b")
_BARE_RANDOMISED = _rx(r"(?<![\w.=/-])(?P<num>" + NUMBER + r")\s+(?:were|was)\s+" + RANDOM
                      + r"|\(\s*(?P<num2>\d+)\s+randomi[sz]ed\s*\)")
_N_EQUALS = _rx(r"\b(?:randomi[sz]ed|controlled)\s+(?:\w+\s+){0,2}?(?:trial|study)\s*\(\s*n\s*=\s*(?P<num>\d+)\s*\)")
_AFTER_RANDOM = _rx(r"^[^.;]{0,90}?\b(?:" + RANDOM + r"|randomised|randomized)")
_BEFORE_RANDOM = _rx(r"(?:we\s+randomi[sz]ed|randomi[sz]ing|random(?:ly)?\s+(?:assigned|allocated)|randomi[sz]ed|randomly\s+divided)\s+(?:\w+\s+){0,1}$")
_AFTER_ENROL = _rx(r"^[^.;]{0,120}?\b(?:were|was)\s+(?:\w+\s+){0,2}?(?:enrolled|entered|included|recruited|studied"
                   r"|investigated|evaluated|assessed|examined|treated|selected|allocated|assigned|divided)\b"
                   r"|^[^.;]{0,40}?\b(?:participated|took\s+part|entered|met\s+inclusion|underwent)")
_BEFORE_ENROL = _rx(r"(?:sample\s+(?:comprised|consisted\s+of|of)|participants\s+were"
                    r"|(?:study|trial)\s+(?:included|comprised|enrolled|involved|involving|recruited)"
                    r"|we\s+(?:\w+ly\s+)?(?:included|enrolled|recruited|studied|evaluated|assessed|investigated|examined|followed)"
                    r"|(?:enrolled|recruited|included|including|involving|comprising|studied\s+in|(?:study|trial)\s+(?:of|in))"
                    r"|(?:was|were)\s+(?:carried\s+out|conducted|performed|studied|investigated|determined|evaluated)\s+in)\s+(?:\w+\s+){0,1}$")
_NOT_TOTAL_AFTER = _rx(r"^\s*(?:\(\s*\d+(?:\.\d+)?\s*%|%|of\s+(?:the|whom|these|them))")
# "47 were randomised to A and 45 to B", "31 men exercised and 29 served as controls": a group, not the total.
_GROUP_SPLIT = _rx(r"^[^.;]{0,100}?\b(?:and|while|whereas)\s+(?:" + NUMBER + r")\s+(?:\w+\s+){0,3}?(?:to|in|on|with|served|were|received|as)\b")
# "61 inpatients ... were included in this study and 30 were treated with ...": included is the total.
_ENROLLED = _rx(r"^[^.;]{0,120}?\b(?:were|was)\s+(?:\w+\s+){0,2}?(?:enrolled|entered|included|recruited)\b")
# A count followed, before its verb, by another: one part of a list ("25 patients and 15 controls").
_LISTED = _rx(r"\b(?:and|as\s+well\s+as|plus)\s+(?:" + NUMBER + r")\b")
# Structured abstracts' section labels that introduce the sample ("PATIENTS 99 patients with ...").
_SAMPLE_LABEL = re.compile(r"\b(?:PATIENTS|PARTICIPANTS|SUBJECTS|POPULATION|SAMPLE|SETTING AND PARTICIPANTS)(?: AND METHODS)?:?\s+$")
_PARENS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_NOT_TOTAL_BEFORE = _rx(r"(?:(?<!total )(?<!out )(?<!study )(?<!trial )\bof|\bthe|\bthese|\bboth|\bremaining|\bfirst|\blast|\bother|\band|\bas\s+well\s+as|\bplus|\bversus|\bvs\.?|\bin\s+each|n\s*=|\()\s*$")


def _sample_size(text: _Text) -> Fact | None:
    """The total randomised/enrolled: the first count tied to randomisation, else to enrolment.

    A count qualifies when ``randomised`` (tier 1) or an enrolment verb (tier 2: enrolled,
    included, "a total of" ...) sits next to it in its sentence.  Group sizes ("of the 24
    randomised to CBT"), percentages and "n = " inside a sentence are not totals.  Nothing
    is guessed from a bare number: no tie, no n.
    """
    best: tuple[int, int, int, int, int] | None = None  # (tier, start, end, value, num_start)
    s = text.joined
    m = _N_EQUALS.search(s)
    if m:
        best = (0, m.start(), m.end(), int(m.group("num")), m.start("num"))
    candidates = [(m, "count") for m in _COUNT.finditer(s)] + [(m, "bare") for m in _BARE_RANDOMISED.finditer(s)]
    for m, kind in candidates:
        value = parse_number(m.group("num") or m.group("num2"))
        if not value or value < 2:
            continue
        num_start = m.start("num") if m.group("num") else m.start("num2")
        before = s[max(0, m.start() - 40):m.start()]
        after = s[m.end():m.end() + 200]
        if _NOT_TOTAL_AFTER.search(after) or _NOT_TOTAL_BEFORE.search(before):
            continue
        for _ in range(2):  # "(12 female; mean age 51 yr)" does not break the tie to "were randomised"
            after = _PARENS.sub("", after)
        if not _ENROLLED.search(after) and _GROUP_SPLIT.search(after):
            continue
        verb = re.search(r"\b(?:were|was|underwent|participated|took\s+part)\b|[.;]", after)
        if kind == "count" and _LISTED.search(after[:verb.start()] if verb else after):
            continue  # "25 patients and 15 healthy controls were recruited": one of the groups
        mid = m.groupdict().get("mid") or ""
        if re.search(r"\b(?:of|in|with|and|per|from|to|at|for|by|on|than|mg|ml|kg|years?|weeks?|days?|months?)\b|\d",
                     mid, re.IGNORECASE):
            continue
        if kind == "bare" or _AFTER_RANDOM.search(after) or _BEFORE_RANDOM.search(before):
            tier = 1
        elif (_AFTER_ENROL.search(after) or _BEFORE_ENROL.search(before) or _SAMPLE_LABEL.search(before)
              or re.search(r"\b(?:enrolled|eligible|recruited|included)\b", mid, re.IGNORECASE)):
            tier = 2
        else:
            continue
        key = (tier, m.start(), m.end(), value, num_start)
        if best is None or key[:2] < best[:2]:
            best = key
    if best is None:
        return None
    tier, start, end, value, _ = best
    sent_start, sent_end = text.sentence(start)
    left = max(sent_start, start - 60)
    right = min(sent_end, end + (90 if tier == 1 else 60))
    return Fact(value, text.evidence(left, right))


_INCLUDED = _rx(r"(?<![\w.=/-])(?P<num>" + NUMBER + r")\s+(?:\w+\s+){0,3}?(?:studies|trials|RCTs|articles|papers|reports|cohorts)"
                r"\s+(?:[^\s.;]+\s+){0,6}?(?:(?:were|was|are)\s+(?:\w+\s+){0,1}?(?:included|eligible|selected|analy[sz]ed)"
                r"|met\s+(?:the\s+|our\s+)?(?:inclusion|eligibility|selection))"
                r"|\b(?:we\s+included|included|including|comprising|pooled|(?:analysis|review)\s+of)\s+(?P<num2>" + NUMBER + r")\s+(?:\w+\s+){0,3}?"
                r"(?:studies|trials|RCTs|articles|papers|reports|cohorts)\b")


def _included_studies(text: _Text) -> Fact | None:
    """For a review: how many studies it includes ("24 trials met the inclusion criteria")."""
    for m in _INCLUDED.finditer(text.joined):
        raw = m.group("num") or m.group("num2")
        value = parse_number(raw)
        if value and value > 1:
            return Fact(value, text.evidence(m.start(), m.end()))
    return None


def _registrations(text: _Text) -> list[Fact]:
    found: list[Fact] = []
    seen = set()
    for m in REGISTRATION_IN_TEXT_RE.finditer(text.joined):
        prefix = m.group("prefix") or "EudraCT"
        reg = normalise_registration(prefix, m.group("number") or m.group("eudract"))
        if reg and reg not in seen:
            seen.add(reg)
            found.append(Fact(reg, text.evidence(m.start(), m.end())))
    return found


# --------------------------------------------------------------------------- API
def extract(title: str | None, abstract: str | None, publication_types=()) -> KeyFacts:
    """Key facts from a title and abstract (stored fragments or plain text) and PubMed's types."""
    text = _Text(title or "", abstract or "")
    facts = KeyFacts(designs=_designs(text, publication_types))
    facts.n = _sample_size(text)
    if facts.has("systematic_review") or facts.has("meta_analysis"):
        facts.included_studies = _included_studies(text)
        facts.n = None  # a review's participant total is not a sample it enrolled
    facts.registrations = _registrations(text)
    return facts


def summary_line(facts: KeyFacts, shown=SHOWN) -> str:
    """``"randomised, double-blind, placebo-controlled · n = 22 · NCT03395314"``: shown facts only.

    "controlled" is left out when "placebo-controlled" says it already.
    """
    designs = [d for d in DESIGNS if d in shown and facts.has(d)]
    if "placebo_controlled" in designs and "controlled" in designs:
        designs.remove("controlled")
    parts = []
    if designs:
        parts.append(", ".join(DESIGN_LABELS[d] for d in designs))
    if "included_studies" in shown and facts.included_studies:
        parts.append(f"{facts.included_studies.value} studies")
    if "n" in shown and facts.n:
        parts.append(f"n = {facts.n.value:,}")
    if "registrations" in shown and facts.registrations:
        parts.append(", ".join(str(r.value) for r in facts.registrations))
    return " · ".join(parts)
