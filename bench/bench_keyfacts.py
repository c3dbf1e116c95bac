"""Precision and recall of the key-fact rules (litwatch.signals.keyfacts) per fact.

    python bench/bench_keyfacts.py              # table over the whole labelled set
    python bench/bench_keyfacts.py --errors     # and every disagreement, with the evidence
    python bench/bench_keyfacts.py --split dev  # only the even lines (the rules were tuned on these)

The set is ``tests/keyfacts_labels.jsonl``: 113 real records labelled by hand (96 RCT
abstracts of the EBM-NLP corpus, 17 efetch records: reviews, cohorts, surveys, case reports),
read from ``litwatch/fakes/recordings`` through the same parser a crawl uses.  The rules were
adjusted looking only at errors on the *dev* half (even lines); the *held-out* half (odd lines)
shows how far that tuning carried.  tests/test_keyfacts.py imports ``evaluate`` from here.

Scoring: a design flag is a yes/no per record; ``n`` and ``included_studies`` count as a
prediction when a number is given and as right when it equals the label; each registration id
is one prediction.  Precision = right / predicted, recall = right / labelled.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from litwatch.crawler.pubmed_parse import parse_pubmed
from litwatch.signals.keyfacts import DESIGNS, MIN_PRECISION, MIN_SUPPORT, SHOWN, KeyFacts, extract

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "keyfacts_labels.jsonl"
RECORDINGS = ROOT / "litwatch" / "fakes" / "recordings"
FACTS = DESIGNS + ("n", "included_studies", "registrations")


@dataclass
class Score:
    predicted: int = 0
    right: int = 0
    labelled: int = 0
    errors: list = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.right / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.right / self.labelled if self.labelled else None


def load_set(split: str = "all") -> list[tuple[dict, dict]]:
    """(label, record) pairs; record has title, abstract and publication_types."""
    rct = {}
    with open(RECORDINGS / "abstracts" / "rct_abstracts.jsonl", encoding="utf-8") as fh:
        for line in fh:
            item = json.loads(line)
            # The corpus gives "title. abstract" as one tokenised string.
            title, _, abstract = item["text"].partition(". ")
            rct[item["pmid"]] = {"title": title + ".", "abstract": abstract, "publication_types": []}
    pairs = []
    with open(LABELS, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if split == "dev" and i % 2 or split == "heldout" and not i % 2:
                continue
            label = json.loads(line)
            if label["source"].startswith("abstracts/"):
                record = rct[label["pmid"]]
            else:
                (pub,) = list(parse_pubmed(str(RECORDINGS / label["source"])))
                record = {"title": pub.title, "abstract": pub.abstract, "publication_types": pub.publication_types}
            pairs.append((label, record))
    return pairs


def evaluate(pairs) -> dict[str, Score]:
    scores = {f: Score() for f in FACTS}
    for label, record in pairs:
        facts: KeyFacts = extract(record["title"], record["abstract"], record.get("publication_types") or ())
        for d in DESIGNS:
            truth, guess = d in label["design"], facts.has(d)
            s = scores[d]
            s.labelled += truth
            s.predicted += guess
            s.right += truth and guess
            if truth != guess:
                ev = facts.designs[d].evidence.text if guess else ""
                s.errors.append((label["pmid"], "FP" if guess else "FN", ev, label.get("note", "")))
        for name in ("n", "included_studies"):
            truth, fact = label[name], getattr(facts, name)
            s = scores[name]
            s.labelled += truth is not None
            s.predicted += fact is not None
            s.right += fact is not None and fact.value == truth
            if (fact.value if fact else None) != truth:
                s.errors.append((label["pmid"], f"{fact.value if fact else None} vs {truth}",
                                 fact.evidence.text if fact else "", label.get("note", "")))
        s = scores["registrations"]
        truth = set(label["registrations"])
        guess = {str(r.value) for r in facts.registrations}
        s.labelled += len(truth)
        s.predicted += len(guess)
        s.right += len(truth & guess)
        if truth != guess:
            s.errors.append((label["pmid"], f"{sorted(guess)} vs {sorted(truth)}", "", label.get("note", "")))
    return scores


def passes(score: Score) -> bool:
    """The bar for a fact to be shown: precision >= 0.9 over enough predictions to mean it."""
    return score.predicted >= MIN_SUPPORT and (score.precision or 0) >= MIN_PRECISION


def _pct(x: float | None) -> str:
    return "  -  " if x is None else f"{x:.2f}"


def table(scores: dict[str, Score]) -> str:
    rows = ["| fact | labelled | predicted | right | precision | recall | shown |",
            "|---|---:|---:|---:|---:|---:|---|"]
    for f, s in scores.items():
        shown = "yes" if f in SHOWN else "no"
        rows.append(f"| {f} | {s.labelled} | {s.predicted} | {s.right} | {_pct(s.precision)} | {_pct(s.recall)} | {shown} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=["all", "dev", "heldout"], default="all")
    ap.add_argument("--errors", action="store_true", help="list every disagreement")
    args = ap.parse_args(argv)
    pairs = load_set(args.split)
    scores = evaluate(pairs)
    print(f"{len(pairs)} records ({args.split})\n")
    print(table(scores))
    bad = [f for f in SHOWN if not passes(scores[f])]
    unshown_ok = [f for f in FACTS if f not in SHOWN and passes(scores[f])]
    print(f"\nshown facts below the bar: {bad or 'none'}; unshown facts that pass it: {unshown_ok or 'none'}")
    if args.errors:
        for f, s in scores.items():
            for err in s.errors:
                print(f"{f:18} {err[0]:>9} {err[1]:>14} | {err[2][:90]} | {err[3][:80]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
