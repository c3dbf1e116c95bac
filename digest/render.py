"""Lay out a ``DigestContent`` as mail: subject, plain-text part and HTML part.

Both parts come from Jinja2 templates (``digest/templates``) fed the same ``DigestView``,
so they carry the same items in the same order.  The HTML environment autoescapes; record
text reaches it only through the ``inline`` filter (``digest.markup.safe_inline``), links
only through the URL builders of ``digest.markup``.  Long sections are cut at
``max_per_section`` items with an "and N more" line: every item is still stored and still
counted in the summary, and the line says how to list the rest.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Generic, TypeVar

import jinja2

from litwatch.digest import markup
from litwatch.digest.select import DigestContent, EvidenceGroup, TopicSection

T = TypeVar("T")

# Plain-text lines wrap here: under RFC 5322's recommended 78 characters per line.
TEXT_WIDTH = 76

# Badge colours (background) by what the type says about strength of evidence.
BADGE_COLOURS = {
    "Guideline": "#0f766e", "Systematic review": "#0f766e", "Meta-analysis": "#0f766e", "Network meta-analysis": "#0f766e",
    "RCT": "#1d4ed8", "Equivalence trial": "#1d4ed8",
    "Clinical trial": "#4f46e5", "Phase 1": "#4f46e5", "Phase 2": "#4f46e5", "Phase 3": "#4f46e5", "Phase 4": "#4f46e5",
    "Controlled trial": "#4f46e5", "Pragmatic trial": "#4f46e5", "Multicentre": "#6366f1",
    "Observational": "#7c3aed", "Comparative": "#7c3aed",
    "Review": "#475569", "Scoping review": "#475569",
    "Case report": "#a16207",
    "Retracted": "#b91c1c", "Retraction notice": "#b91c1c", "Expression of concern": "#c2410c", "Erratum": "#c2410c",
    "Preprint": "#9333ea",
}
DEFAULT_BADGE_COLOUR = "#6b7280"
CORRECTION_COLOURS = {"RetractionIn": "#b91c1c", "PartialRetractionIn": "#b91c1c", "ExpressionOfConcernIn": "#c2410c"}


@dataclass
class Capped(Generic[T]):
    """A section's items as shown, and how many were left out by the cap."""

    shown: list[T]
    more: int

    @classmethod
    def of(cls, items: list[T], cap: int) -> "Capped[T]":
        return cls(items[:cap], max(0, len(items) - cap))


@dataclass
class TopicView:
    section: TopicSection
    groups: list[EvidenceGroup]  # trimmed to the cap, in evidence order
    more: int
    total: int
    feed: Capped

    @property
    def anchor(self) -> str:
        return "topic-" + (self.section.name or "other")


@dataclass
class DigestView:
    content: DigestContent
    subject: str
    topics: list[TopicView]
    followed_changes: Capped
    other_changes: Capped
    new_trials: Capped
    corrections: Capped
    preprints: Capped
    warnings: Capped
    since_date: str | None
    cap: int


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def subject_for(content: DigestContent, prefix: str = "litwatch") -> str:
    """E.g. "litwatch 2026-W47: 12 papers, 3 trial changes, 1 retraction"."""
    c = content.counts
    parts = [
        plural(c["publications"], "paper") if c["publications"] else "",
        plural(c["trials"], "new trial") if c["trials"] else "",
        plural(c["trial_changes"], "trial change") if c["trial_changes"] else "",
        plural(c["retractions"], "retraction") if c["retractions"] else "",
        plural(c["corrections"], "correction") if c["corrections"] else "",
        plural(c["preprints"], "preprint") if c["preprints"] else "",
        plural(c["feed_items"], "feed item") if c["feed_items"] else "",
    ]
    text = ", ".join(p for p in parts if p) or "nothing new"
    if content.warnings_are_news:
        text += f" ({plural(len(content.warnings), 'crawl warning')})"
    return f"{prefix} {content.week}: {text}"


def _cap_groups(groups: list[EvidenceGroup], cap: int) -> tuple[list[EvidenceGroup], int]:
    shown: list[EvidenceGroup] = []
    room = cap
    total = sum(len(g.items) for g in groups)
    for g in groups:
        if room <= 0:
            break
        shown.append(EvidenceGroup(g.label, g.items[:room]))
        room -= len(shown[-1].items)
    return shown, total - (cap - room)


def build_view(content: DigestContent, *, cap: int, prefix: str = "litwatch") -> DigestView:
    topics = []
    for section in content.topics:
        groups, more = _cap_groups(section.groups, cap)
        topics.append(TopicView(section, groups, more, len(section.publications), Capped.of(section.feed_items, cap)))
    return DigestView(
        content=content,
        subject=subject_for(content, prefix),
        topics=topics,
        followed_changes=Capped.of(content.followed_changes, cap),
        other_changes=Capped.of(content.other_changes, cap),
        new_trials=Capped.of(content.new_trials, cap),
        corrections=Capped.of(content.corrections, cap),
        preprints=Capped.of(content.preprints, cap),
        warnings=Capped.of(content.warnings, cap),
        since_date=content.since[:10] if content.since else None,
        cap=cap,
    )


def _wrap(text: str, width: int = TEXT_WIDTH, indent: str = "", first: str | None = None) -> str:
    text = markup.collapse(text)
    return textwrap.fill(
        text, width=width, initial_indent=indent if first is None else first, subsequent_indent=indent,
        break_long_words=False, break_on_hyphens=False,
    ) if text else ""


def _badge_colour(label: str) -> str:
    return BADGE_COLOURS.get(label, DEFAULT_BADGE_COLOUR)


def _env(html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("litwatch.digest", "templates"),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        inline=markup.safe_inline if html else markup.plain_inline,
        plain=markup.plain_inline,
        wrap=_wrap,
        badge_colour=_badge_colour,
        lookup=lambda names, mapping: [mapping.get(n, n) for n in names],
    )
    env.globals.update(
        pubmed_url=markup.pubmed_url,
        trial_url=markup.trial_url,
        doi_url=markup.doi_url,
        safe_link=markup.safe_link,
        pubmed_search_url=markup.pubmed_search_url,
        ctgov_search_url=markup.ctgov_search_url,
        plural=plural,
        correction_colours=CORRECTION_COLOURS,
    )
    return env


_ENVS: dict[bool, jinja2.Environment] = {}


def _template(name: str, html: bool) -> jinja2.Template:
    if html not in _ENVS:
        _ENVS[html] = _env(html)
    return _ENVS[html].get_template(name)


def render_text(view: DigestView) -> str:
    return _template("digest.txt", html=False).render(v=view, c=view.content)


def render_html(view: DigestView) -> str:
    return _template("digest.html", html=True).render(v=view, c=view.content)
