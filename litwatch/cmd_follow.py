"""``litwatch follow ID`` / ``litwatch unfollow ID``: papers and trials the digest watches.

A paper is named by PMID or DOI (a DOI must be stored already: it is resolved to its
PMID, since PubMed's citation links are by PMID); a trial by NCT number.  A followed
paper not stored yet is queued, so the next crawl fetches it.  Each crawl then asks
PubMed which new papers cite the followed papers (elink "cited in") and which papers
report the followed trials (``NCT…[si]``); the digest lists them under "Citing papers
you follow".  With no ID, ``follow`` lists what is followed.
"""

from __future__ import annotations

import json

import click

from litwatch.cli_common import pass_ctx
from litwatch.vocab.errors import LitwatchError
from litwatch.vocab.ids import identify


def _resolve(ctx, ident: str) -> tuple[str, str]:
    """("paper", PMID) or ("trial", NCT) for what the user typed; LitwatchError otherwise."""
    found = identify(ident)
    if found is None:
        raise LitwatchError(f"{ident!r} is not a PMID, DOI or NCT number")
    kind, value = found
    if kind == "nct":
        return "trial", value
    if kind == "pmid":
        return "paper", value
    if kind in ("doi", "pmcid"):
        from litwatch.db.publications import get_publication

        rec = get_publication(ctx.db, value)
        if rec is None:
            raise LitwatchError(f"{ident}: not in the store, so its PMID is unknown; follow it by PMID, or crawl first")
        return "paper", rec["pmid"]
    raise LitwatchError(f"{ident}: a {kind.upper()} id cannot be followed (PubMed links papers by PMID)")


@click.command("follow")
@click.argument("ident", required=False, metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="With no ID: print the followed items as JSON.")
@pass_ctx
def follow(ctx, ident, as_json):
    """Follow a paper (PMID, DOI) or a trial (NCT): the digest reports new papers citing it.

    Without ID, list everything followed (the seed-cited papers and trials included).
    """
    from litwatch.db import follows

    if ident is None:
        items = follows.followed(ctx.db)
        if as_json:
            click.echo(json.dumps(items, indent=2))
            return
        for item in items:
            click.echo(f"{item['kind']:6} {item['id']:12} {item['reason'] or ''}")
        if not items:
            click.echo("nothing followed")
        return
    kind, value = _resolve(ctx, ident)
    if kind == "trial":
        from litwatch.db.trials import follow_trial

        new = follow_trial(ctx.db, value, "user")
    else:
        from litwatch.db.publications import enqueue, known_pmids

        new = follows.follow_paper(ctx.db, value, "user")
        if not known_pmids(ctx.db, [value]):
            enqueue(ctx.db, [value], "followed")
    click.echo(f"{'following' if new else 'already following'} {kind} {value}")


@click.command("unfollow")
@click.argument("ident", metavar="ID")
@pass_ctx
def unfollow(ctx, ident):
    """Stop following a paper (PMID, DOI) or a trial (NCT)."""
    from litwatch.db import follows

    kind, value = _resolve(ctx, ident)
    was = follows.unfollow_trial(ctx.db, value) if kind == "trial" else follows.unfollow_paper(ctx.db, value)
    in_watchlist = kind == "trial" and value in {n.upper() for n in ctx.watchlist.follow_trials}
    if in_watchlist:
        raise LitwatchError(f"{value} is followed by the watchlist's follow_trials; remove it there to stop following it")
    if not was:
        raise LitwatchError(f"{kind} {value} is not followed")
    click.echo(f"no longer following {kind} {value}")


COMMANDS = [follow, unfollow]
