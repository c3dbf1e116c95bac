"""Ad-hoc queries over the store: ``search``, ``show``, ``trials``, ``export``, ``citations``.

Each command is a thin skin: the work is done by ``db.search``, ``db.publications``,
``db.trials``, ``db.feeds`` and ``db.citations``; this module parses options and prints.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys

import click

from litwatch.cli_common import pass_ctx
from litwatch.vocab.errors import LitwatchError


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


@click.command("search")
@click.argument("query")
@click.option("--since", callback=_date, metavar="YYYY-MM-DD", help="Only records first seen (publications: entered PubMed) on or after this date.")
@click.option("--type", "kind", metavar="T", help="publication, trial, feed_item, or a PubMed publication type such as 'Randomized Controlled Trial'.")
@click.option("--topic", metavar="NAME", help="Only records found by this topic.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print CONTRACT's JSON shapes.")
@pass_ctx
def search(ctx, query, since, kind, topic, limit, as_json):
    """Full-text search over stored publications, trials and feed items, best match first.

    QUERY is plain words and "quoted phrases"; OR and NOT (in capitals), a leading - to
    exclude a word and a trailing * for a prefix also work.
    """
    from litwatch.db.search import search_all
    from litwatch.text import format_hit

    _check_topic(ctx, topic)
    hits = search_all(ctx.db, query, since=since, kind=kind, topic=topic, limit=limit)
    if as_json:
        _dump(hits)
        return
    if not hits:
        click.echo("no matches", err=True)
        return
    for hit in hits:
        click.echo(format_hit(hit))


def find_record(db, ident: str) -> dict | None:
    """A stored record by PMID, PMC id, DOI, NCT number or feed item id."""
    from litwatch.db import feeds, publications, trials

    ident = ident.strip()
    if ident.upper().startswith("NCT"):
        from litwatch.text_trials import trial_view

        trial = trials.get_trial(db, ident.upper())
        if trial is not None:
            return trial_view(trial, dt.datetime.now(dt.timezone.utc).date())
        return feeds.get_feed_item(db, ident.upper())
    return publications.get_publication(db, ident) or feeds.get_feed_item(db, ident)


@click.command("show")
@click.argument("ident", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print CONTRACT's JSON shape.")
@pass_ctx
def show(ctx, ident, as_json):
    """One record: a PMID, a PMC id (PMC...), a DOI or an NCT number."""
    from litwatch.text import format_record

    record = find_record(ctx.db, ident)
    if record is None:
        raise LitwatchError(f"{ident}: not in the store ({ctx.settings.db_path}); try litwatch search, or crawl first")
    if as_json:
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
    from litwatch.db.trials import iter_trials
    from litwatch.text_trials import format_trials_table, trial_view

    _check_topic(ctx, topic)
    day = dt.date.fromisoformat(today) if today else dt.datetime.now(dt.timezone.utc).date()
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
        what = " and ".join(w for w, on in (("overdue", overdue), ("unpublished", unpublished)) if on)
        click.echo(f"no {what} trials" if what else "no trials stored yet: run litwatch crawl", err=True)
    else:
        click.echo(format_trials_table(rows, signal="overdue" if overdue else "unpublished" if unpublished else None))


CSV_LIST_SEP = "; "
# CONTRACT.md's keys: the header of a CSV export with no rows (with rows, the records' own
# keys are the header, extras included), so a script reading the file always finds its columns.
CONTRACT_KEYS = {
    "publications": ["kind", "pmid", "title", "abstract", "journal", "pub_date", "entrez_date", "doi", "pmcid", "authors",
                     "publication_types", "mesh", "nct_ids", "topics", "retracted", "url"],
    "trials": ["kind", "nct_id", "title", "official_title", "status", "why_stopped", "phases", "study_type", "enrollment",
               "start_date", "primary_completion_date", "completion_date", "first_posted", "last_update_posted",
               "results_first_posted", "has_results", "sponsor", "conditions", "interventions", "pmids", "topics", "history", "url"],
    "feed_items": ["kind", "id", "feed_kind", "feed_url", "title", "link", "summary", "authors", "published", "doi", "pmid",
                   "nct_id", "published_as_pmid", "topics", "first_seen_at"],
}


def _csv_cell(value):
    """Lists of plain values join with "; "; objects (history entries, a linked trial) stay JSON."""
    if isinstance(value, list) and not any(isinstance(x, (dict, list)) for x in value):
        return CSV_LIST_SEP.join(str(x) for x in value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _csv_rows(records: list[dict]):
    for rec in records:
        yield {k: _csv_cell(v) for k, v in rec.items()}


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--kind", type=click.Choice(["publications", "trials", "feed_items"]), default=None, help="Default: publications and trials (json); publications (csv).")
@click.option("--since", callback=_date, metavar="YYYY-MM-DD", help="Only records first seen on or after this date.")
@pass_ctx
def export(ctx, fmt, kind, since):
    """Everything stored (or since a date) to stdout, as a JSON list or CSV."""
    from litwatch.db.feeds import iter_feed_items
    from litwatch.db.publications import iter_publications
    from litwatch.db.trials import iter_trials

    ctx.db  # open (or fail) before the first byte goes out: never a stray "[" before an error
    sources = {
        "publications": lambda: iter_publications(ctx.db, since=since),
        "trials": lambda: (t.to_dict() for t in iter_trials(ctx.db, since=since)),
        "feed_items": lambda: iter_feed_items(ctx.db, since=since),
    }
    if fmt == "csv":
        records = list(sources[kind or "publications"]())
        fields = list(records[0]) if records else CONTRACT_KEYS[kind or "publications"]
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(_csv_rows(records))
        return
    kinds = [kind] if kind else ["publications", "trials"]
    out = sys.stdout
    out.write("[")
    first = True
    for name in kinds:
        for record in sources[name]():
            out.write("\n  " if first else ",\n  ")
            out.write(json.dumps(record, ensure_ascii=False))
            first = False
    out.write("\n]\n" if not first else "]\n")


@click.command("citations")
@click.option("--status", type=click.Choice(["resolved", "unresolved", "pending"]), help="Only citations with this status.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def citations(ctx, status, as_json):
    """Identifiers cited by the seed documents, where each was found and what it resolved to."""
    from litwatch.db.citations import list_citations
    from litwatch.text import format_citations

    rows = list_citations(ctx.db, status=status)
    if as_json:
        _dump(rows)
    elif not rows:
        click.echo("no citations stored: run litwatch crawl --source seeds", err=True)
    else:
        click.echo(format_citations(rows))


COMMANDS = [search, show, trials, export, citations]
