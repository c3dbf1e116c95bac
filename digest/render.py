"""Lay out a ``DigestContent`` as mail: the view (caps, links, subject), then both parts.

Both parts come from Jinja2 templates (``digest/templates``) fed the same ``DigestView``,
so they carry the same items in the same order.  The HTML environment autoescapes; record
text reaches it only through the ``inline`` filter (``digest.markup.safe_inline``), links
only through the URL builders of ``digest.markup``.

**Caps.**  Each evidence section of a topic (and each trial, correction, feed and preprint
section) shows at most ``max_per_section`` items; the rest are counted in an "N more" line
that links to a PubMed search of the topic's query, limited to that evidence section's
publication types and to this digest's window of entry dates.  Every item is still stored,
counted in the summary and recorded as delivered.  Whatever arrives, the HTML part stays
under ``HTML_BUDGET`` bytes (below Gmail's ~102 KB clipping): when it would not, every
section is cut to the same smaller number of items until it fits.
"""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import jinja2

from litwatch.digest import evidence, markup
from litwatch.digest.model import DigestContent, PublicationItem, TopicSection

T = TypeVar("T")

# Plain-text lines wrap here: under RFC 5322's recommended 78 characters per line.
TEXT_WIDTH = 76
# The HTML part's ceiling in bytes: Gmail clips a message whose HTML exceeds about 102 KB.
HTML_BUDGET = 100_000
# A subject this long or shorter needs no folding (RFC 5322's recommended line length,
# less "Subject: ").
SUBJECT_TARGET = 78

# Badge colours (background) by what the type says about strength of evidence; all
# dark enough for white text, and mid-tones that survive a mail client's dark-mode inversion.
BADGE_COLOURS = {
    "Guideline": "#0f766e", "Systematic review": "#0f766e", "Meta-analysis": "#0f766e", "Network meta-analysis": "#0f766e",
    "RCT": "#1d4ed8", "Equivalence trial": "#1d4ed8",
    "Clinical trial": "#4f46e5", "Phase 1": "#4f46e5", "Phase 2": "#4f46e5", "Phase 3": "#4f46e5", "Phase 4": "#4f46e5",
    "Controlled trial": "#4f46e5", "Pragmatic trial": "#4f46e5", "Multicentre": "#6366f1",
    "Observational": "#7c3aed", "Comparative": "#7c3aed",
    "Review": "#475569", "Scoping review": "#475569",
    "Case report": "#a16207",
    "Retraction notice": "#b91c1c", "Expression of concern notice": "#c2410c", "Erratum notice": "#c2410c",
    "Preprint": "#9333ea",
}
DEFAULT_BADGE_COLOUR = "#6b7280"
SEVERITY_COLOURS = {"retraction": "#b91c1c", "concern": "#c2410c", "correction": "#b45309"}


@dataclass
class Capped(Generic[T]):
    """A section's items as shown, and how many were left out by the cap."""

    shown: list[T]
    more: int

    @classmethod
    def of(cls, items: list[T], cap: int) -> "Capped[T]":
        return cls(items[:cap], max(0, len(items) - cap))


@dataclass
class GroupView:
    label: str
    shown: list[PublicationItem]
    more: int
    more_url: str = ""  # a PubMed search showing the papers left out ("" for the "other" section)


@dataclass
class TopicView:
    section: TopicSection
    groups: list[GroupView]
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
    corrections: Capped  # corrections of papers not listed in this digest
    alerts: Capped  # retractions and expressions of concern: "Needs your attention"
    preprints: Capped
    citing: Capped
    warnings: Capped
    since_date: str | None
    cap: int
    unsubscribe: str = ""
    notes: list[str] = field(default_factory=list)


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def subject_for(content: DigestContent, prefix: str = "litwatch") -> str:
    """The most important news first, within 78 characters where possible.

    "litwatch 2026-W47: NCT03395314 terminated, results posted; 1 retraction; 12 papers":
    a followed trial's change leads (its two most important changes), then the counts,
    most important first, as many as fit; the body has them all.  ASCII separators: a
    subject longer than a line is then folded at spaces, which every reader unfolds exactly.
    """
    c = content.counts
    head = f"{prefix} {content.week}: "
    parts = [e.headline for e in content.followed_changes[:1]]
    parts += [p for p in (
        plural(c["retractions"], "retraction") if c["retractions"] else "",
        plural(c["publications"], "paper") if c["publications"] else "",
        plural(len(content.followed_changes) - 1, "more followed trial changed", "more followed trials changed")
        if len(content.followed_changes) > 1 else "",
        plural(c["trials"], "new trial") if c["trials"] else "",
        plural(len(content.other_changes), "trial changed", "trials changed") if content.other_changes else "",
        plural(c["corrections"], "correction") if c["corrections"] else "",
        plural(c["preprints"], "preprint") if c["preprints"] else "",
        plural(c["feed_items"], "feed item") if c["feed_items"] else "",
        plural(c["citing"], "paper citing what you follow", "papers citing what you follow") if c["citing"] else "",
    ) if p]
    tail = f" ({plural(len(content.warnings), 'crawl warning')})" if content.warnings_are_news else ""
    if not parts:
        return f"{head}nothing new{tail}"
    # The lead, retractions and the paper count always; the rest as room allows.
    essential = {parts[0]} | {p for p in parts if p.endswith(("retraction", "retractions", "paper", "papers"))}
    text = parts[0]
    for part in parts[1:]:
        if part not in essential and len(head + text + "; " + part + tail) > SUBJECT_TARGET:
            continue
        text += "; " + part
    return head + text + tail


def _window(content: DigestContent) -> str:
    """This digest's window as a PubMed entry-date range: [edat] of the last digest's day to today."""
    start = content.window_start.date() - dt.timedelta(days=1)  # a day's slack for time zones
    end = content.created_at.date()
    return f'("{start:%Y/%m/%d}"[edat] : "{end:%Y/%m/%d}"[edat])'


def more_url(content: DigestContent, query: str, group: str) -> str:
    """A PubMed search that shows a capped section's papers: the topic's query, the
    section's publication types, this digest's window."""
    if not query:
        return ""
    if group in evidence.GROUP_FILTERS:
        term = f"({query}) AND ({evidence.GROUP_FILTERS[group]}) AND {_window(content)}"
    else:  # "Other publications": none of the groups' types
        term = f"({query}) AND {_window(content)} NOT (" + " OR ".join(evidence.GROUP_FILTERS.values()) + ")"
    return markup.pubmed_search_url(term)


def build_view(content: DigestContent, *, cap: int, prefix: str = "litwatch", unsubscribe: str = "") -> DigestView:
    topics = []
    for section in content.topics:
        groups = [
            GroupView(g.label, g.items[:cap], g.total - len(g.items[:cap]),
                      more_url(content, section.query, g.label) if g.total > cap else "")
            for g in section.groups
        ]
        topics.append(TopicView(section, groups, section.total, Capped.of(section.feed_items, cap)))
    return DigestView(
        content=content,
        subject=subject_for(content, prefix),
        topics=topics,
        followed_changes=Capped.of(content.followed_changes, cap),
        other_changes=Capped.of(content.other_changes, cap),
        new_trials=Capped.of(content.new_trials, cap),
        corrections=Capped.of(content.section_corrections, cap),
        alerts=Capped.of(content.alerts, cap),
        preprints=Capped.of(content.preprints, cap),
        citing=Capped.of(content.citing, cap),
        warnings=Capped.of(content.warnings, cap),
        since_date=content.since[:10] if content.since else None,
        cap=cap,
        unsubscribe=unsubscribe,
    )


def fit(content: DigestContent, *, cap: int, prefix: str = "litwatch", unsubscribe: str = "",
        budget: int = HTML_BUDGET) -> tuple[DigestView, str, str]:
    """(view, text, html) with every section at most ``cap`` long and the HTML under ``budget`` bytes."""
    while True:
        view = build_view(content, cap=cap, prefix=prefix, unsubscribe=unsubscribe)
        html = render_html(view)
        size = len(html.encode("utf-8"))
        if size <= budget or cap <= 1:
            return view, render_text(view), html
        # Shrink in proportion, a little more than needed: two or three renders at most.
        cap = max(1, min(cap - 1, int(cap * budget / size * 0.9)))


def short_title(title: str) -> str:
    """A topic title up to its first comma or colon: "Also in" stays one short line."""
    return re.split(r"[,:;(]", title, maxsplit=1)[0].strip() or title


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
        severity_colour=lambda s: SEVERITY_COLOURS.get(s, "#b45309"),
        lookup=lambda names, mapping: [mapping.get(n, n) for n in names],
        short=short_title,
    )
    env.globals.update(
        pubmed_url=markup.pubmed_url,
        pmc_url=markup.pmc_url,
        trial_url=markup.trial_url,
        doi_url=markup.doi_url,
        safe_link=markup.safe_link,
        pubmed_search_url=markup.pubmed_search_url,
        ctgov_search_url=markup.ctgov_search_url,
        plural=plural,
        status_words=evidence.status_words,
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
