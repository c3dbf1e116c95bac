"""Ad-hoc queries over the store: ``search``, ``show``, ``trials``, ``export``, ``citations``.

Each command is a thin skin: the work is done by ``db.search``, ``db.publications``,
``db.trials``, ``db.feeds`` and ``db.citations``; this module parses options and prints.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sys
from collections import Counter

import click

from litwatch.cli_common import SuggestingChoice, check_choice, nothing_matches, one_line_ident, pass_ctx, suggestion
from litwatch.exports import REFERENCE_FORMATS
from litwatch.vocab.errors import LitwatchError
from litwatch.vocab.times import today_utc


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _dump(obj) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False))


def _check_topic(ctx, topic):
    if topic:
        ctx.watchlist.topic(topic)


SEARCH_CONTEXT = {"ignore_unknown_options": True}  # "-ketamine" is a word to exclude, not an option


@click.command("search", context_settings=SEARCH_CONTEXT)
@click.argument("query", nargs=-1, required=True)
@click.option("--since", callback=_date, metavar="YYYY-MM-DD", help="Only records first seen (publications: entered PubMed) on or after this date.")
@click.option("--type", "kind", metavar="T", help="publication, trial, feed_item, or a PubMed publication type such as 'Randomized Controlled Trial'.")
@click.option("--topic", metavar="NAME", help="Only records found by this topic.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print CONTRACT's JSON shapes.")
@pass_ctx
def search(ctx, query, since, kind, topic, limit, as_json):
    """Full-text search over stored publications, trials and feed items, newest first.

    QUERY is plain words and "quoted phrases"; OR and NOT (in capitals), a leading - to
    exclude a word (litwatch search depression -ketamine) and a trailing * for a prefix
    also work.  An identifier (PMID, PMC id, DOI, NCT number, NBK id) finds its record,
    and a pasted title its paper.

    Order: the record an identifier names first, then papers whose title is the query,
    then every match, newest first (most recently found by litwatch).
    """
    from litwatch.db.search import search_all
    from litwatch.text_hits import format_hit

    for word in query:
        if word.startswith("--"):
            raise click.UsageError(f"no such option: {word.split('=')[0]}")
    text = " ".join(query)
    _check_topic(ctx, topic)
    hits = search_all(ctx.db, text, since=since, kind=kind, topic=topic, limit=limit)
    if as_json:
        _dump(hits)
        return
    if not hits:
        filters = [f"{name} {value}" for name, value in (("--since", since), ("--type", kind), ("--topic", topic)) if value]
        click.echo(f"no matches for {text!r}" + (f" with {', '.join(filters)}" if filters else "") + _type_hint(ctx.db, kind), err=True)
        return
    for hit in hits:
        click.echo(format_hit(hit))


def _type_hint(db, kind: str | None) -> str:
    """When --type names a publication type no stored paper has: say so, and the nearest."""
    from litwatch.db.search import KINDS, publication_type_counts

    if not kind or kind.strip().lower().replace(" ", "_").rstrip("s") in KINDS:
        return ""
    counts = publication_type_counts(db)
    if any(t.lower() == kind.strip().lower() for t in counts):
        return ""
    return f"; no stored paper has publication type {kind!r}{suggestion(kind, [*KINDS, *counts])}"


def find_record(db, ident: str) -> dict | None:
    """A stored record by PMID, PMC id, DOI, NCT number, NBK id or feed item id."""
    from litwatch.db import feeds, publications, trials
    from litwatch.vocab.ids import identify

    ident = ident.strip()
    found = identify(ident)
    if found and found[0] == "nct":
        from litwatch.text_trials import trial_view

        trial = trials.get_trial(db, found[1])
        if trial is not None:
            return trial_view(trial, today_utc())
        return feeds.get_feed_item(db, found[1])
    return publications.get_publication(db, ident) or feeds.get_feed_item(db, ident)


@click.command("show")
@click.argument("ident", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print CONTRACT's JSON shape.")
@click.option("--format", "fmt", type=SuggestingChoice(["text", "json", *REFERENCE_FORMATS]), default=None,
              help="text (default), json, or a reference-manager format for a paper: ris, bibtex, csl-json.")
@pass_ctx
def show(ctx, ident, as_json, fmt):
    """One record: a PMID, a PMC id (PMC...), a DOI or an NCT number."""
    from litwatch.text import format_record

    ident = one_line_ident(ident)
    record = find_record(ctx.db, ident)
    if record is None:
        raise LitwatchError(f"{ident}: not in the store ({ctx.settings.db_path}); try litwatch search, or crawl first")
    fmt = "json" if as_json else (fmt or "text")
    if fmt in REFERENCE_FORMATS:
        if record.get("kind") in ("trial", "feed_item"):
            raise LitwatchError(f"{ident}: --format {fmt} is for papers and book chapters, and this is a {record['kind'].replace('_', ' ')}")
        _write_references(ctx.db, fmt, [record])
    elif fmt == "json":
        if record.get("kind") == "publication":  # beyond the contract: key facts with their evidence
            from litwatch.text_publications import key_facts

            record = {**record, "key_facts": key_facts(record)}
        _dump(record)
    else:
        click.echo(format_record(record))


@click.command("trials")
@click.option("--status", metavar="S", help="Overall status, e.g. RECRUITING, TERMINATED (case-insensitive).")
@click.option("--topic", metavar="NAME", help="Only trials found by this topic.")
@click.option("--followed", is_flag=True, help="Only followed trials (watchlist and seed citations).")
@click.option("--overdue", is_flag=True,
              help="Only trials whose results are overdue: 12 months after primary completion, for studies the US results rule covers (approximated).")
@click.option("--unpublished", is_flag=True, help="Only trials completed over 24 months ago with no linked publication.")
@click.option("--today", callback=_date, metavar="YYYY-MM-DD", hidden=True, help="Judge overdue and unpublished as of this date (tests).")
@click.option("--json", "as_json", is_flag=True, help="Print CONTRACT's JSON shapes.")
@pass_ctx
def trials(ctx, status, topic, followed, overdue, unpublished, today, as_json):
    """Tracked trials: followed ones first, then by last update.

    --overdue lists the most overdue first; each trial's JSON says why it is (or is not)
    flagged: results_overdue_months, unpublished, signals.
    """
    from litwatch.db.trials import iter_trials, status_counts
    from litwatch.text_trials import format_trials_table, trial_view
    from litwatch.vocab.records import OVERALL_STATUSES

    _check_topic(ctx, topic)
    status = check_choice(status, OVERALL_STATUSES, "trial status")
    day = dt.date.fromisoformat(today) if today else today_utc()
    found = iter_trials(ctx.db, status=status.upper() if status else None, topic=topic, followed_only=followed)
    rows = [trial_view(t, day) for t in found]
    if overdue:
        rows = [r for r in rows if r["results_overdue_months"] is not None]
        rows.sort(key=lambda r: -r["results_overdue_months"])
    if unpublished:
        rows = [r for r in rows if r["unpublished"]]
    if as_json:
        _dump(rows)
    elif not rows:
        stored = status_counts(ctx.db)
        if not stored:
            click.echo("no trials stored yet: run litwatch crawl", err=True)
        else:
            parts = [f"status {status}" if status else "", f"topic {topic}" if topic else "",
                     "followed" if followed else "", "overdue" if overdue else "", "unpublished" if unpublished else ""]
            parts = [p for p in parts if p]
            condition = f"has status {status}" if parts == [f"status {status}"] else "is " + ", ".join(parts)
            click.echo(nothing_matches("trial", condition, stored), err=True)
    else:
        click.echo(format_trials_table(rows, signal="overdue" if overdue else "unpublished" if unpublished else None))


def _write_references(db, fmt: str, publications) -> int:
    from litwatch.exports.bibtex import write_bibtex
    from litwatch.exports.csl_json import write_csl_json
    from litwatch.exports.reference import iter_references
    from litwatch.exports.ris import write_ris

    writer = {"ris": write_ris, "bibtex": write_bibtex, "csl-json": write_csl_json}[fmt]
    return writer(iter_references(db, publications), sys.stdout)


@click.command("export")
@click.option("--format", "fmt", type=SuggestingChoice(["json", "csv", *REFERENCE_FORMATS]), default="json", show_default=True,
              help="json, csv, or for reference managers ris, bibtex, csl-json (publications and book chapters).")
@click.option("--kind", type=SuggestingChoice(["publications", "trials", "feed_items"]), default=None,
              help="Default: publications and trials (json); publications (csv, ris, bibtex, csl-json).")
@click.option("--since", callback=_date, metavar="YYYY-MM-DD", help="Only records first seen on or after this date.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, metavar="N",
              help="Processes making a big CSV/JSON export of publications (default: one per core, up to 4).")
@pass_ctx
def export(ctx, fmt, kind, since, workers):
    """Everything stored (or since a date) to stdout, streamed.

    json: a list of CONTRACT's shapes (HTML title/abstract plus title_text/abstract_text);
    csv: plain text, formula-like cells neutralised with a leading '; ris, bibtex, csl-json:
    papers and book chapters for Zotero, EndNote, Mendeley, BibTeX/BibLaTeX and Pandoc.
    """
    from litwatch.db.feeds import iter_feed_items
    from litwatch.db.publications import iter_publications
    from litwatch.db.trials import iter_trials
    from litwatch.exports.tabular import (
        json_texts,
        publication_json_pieces,
        write_csv,
        write_json_pieces,
        write_publications_csv,
    )

    ctx.db  # open (or fail) before the first byte goes out: never a stray "[" before an error
    sources = {
        "publications": lambda: iter_publications(ctx.db, since=since),
        "trials": lambda: (t.to_dict() for t in iter_trials(ctx.db, since=since)),
        "feed_items": lambda: iter_feed_items(ctx.db, since=since),
    }
    if fmt in REFERENCE_FORMATS:
        if kind not in (None, "publications"):
            raise click.BadParameter(f"--format {fmt} exports publications (papers and book chapters), not {kind}",
                                     param_hint="--kind")
        _write_references(ctx.db, fmt, sources["publications"]())
        return
    if fmt == "csv" and kind in (None, "publications"):
        write_publications_csv(ctx.db, sys.stdout, since, workers=workers)
        return
    if fmt == "csv":
        write_csv(sources[kind](), sys.stdout, kind)
        return
    kinds = [kind] if kind else ["publications", "trials"]
    pieces = []
    if "publications" in kinds:  # the big one: made by worker processes when it is big
        pieces.append(publication_json_pieces(ctx.db, since, workers=workers))
    pieces += [((1, record) for record in json_texts(sources[name]())) for name in kinds if name != "publications"]
    write_json_pieces(itertools.chain.from_iterable(pieces), sys.stdout)


@click.command("citations")
@click.option("--status", type=SuggestingChoice(["resolved", "unresolved", "pending"]), help="Only citations with this status.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def citations(ctx, status, as_json):
    """Identifiers cited by the seed documents, where each was found and what it resolved to."""
    from litwatch.db.citations import list_citations
    from litwatch.text import format_citations

    rows = list_citations(ctx.db, status=status)
    if as_json:
        _dump(rows)
    elif not rows and status:
        stored = Counter(row.get("status") for row in list_citations(ctx.db))
        click.echo(nothing_matches("citation", f"has status {status}", dict(stored)), err=True)
    elif not rows:
        click.echo("no citations stored: run litwatch crawl --source seeds", err=True)
    else:
        click.echo(format_citations(rows))


COMMANDS = [search, show, trials, export, citations]
