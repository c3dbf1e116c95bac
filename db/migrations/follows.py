"""Followed papers and the papers that cite what is followed ("Citing papers you follow")."""


def m001_follows(db):
    # Papers followed by `litwatch follow`.  A seed-cited paper is followed without a row
    # here (db.follows reads the resolved seed citations); ``removed_at`` records an
    # unfollow, so an unfollowed seed-cited paper stays unfollowed.
    db["followed_papers"].create(
        {"pmid": str, "reason": str, "added_at": str, "removed_at": str},
        pk="pmid",
        if_not_exists=True,
    )
    # A paper (citing_pmid) citing a followed paper (cited_id = PMID, PubMed's
    # pubmed_pubmed_citedin) or reporting a followed trial (cited_id = NCT, PubMed's [si]).
    # ``baseline`` = 1 for links found by the first check of a followed item: papers that
    # cited it before it was followed, not news.
    db["citing_links"].create(
        {"citing_pmid": str, "cited_id": str, "cited_kind": str, "first_seen_at": str, "baseline": int},
        pk=("citing_pmid", "cited_id"),
        if_not_exists=True,
    )
    db["citing_links"].create_index(["first_seen_at"], if_not_exists=True)
    db["citing_links"].create_index(["cited_id"], if_not_exists=True)
    # When each followed item (PMID or NCT) was first asked about.
    db["follow_checks"].create({"cited_id": str, "first_checked_at": str}, pk="cited_id", if_not_exists=True)


MIGRATIONS = [("001_follows", m001_follows)]
