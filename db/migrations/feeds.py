"""RSS/Atom feeds: their HTTP validators and the items they carried (see docs/feeds.md)."""


def m001_feeds(db):
    db["feeds"].create(
        {
            "url": str,  # as written in the watchlist
            "title": str,
            "kind": str,  # preprint | journal | trial | pubmed (crawler.feed_parse.feed_kind)
            "etag": str,  # validators of the last good 200; never those of a malformed body
            "last_modified": str,
            "last_status": int,
            "last_checked_at": str,
            "last_ok_at": str,  # last 200 or 304
            "entry_count": int,  # items in the last good 200: "had N, now none" is a warning
            "topics_sig": str,  # topics (and keywords) reading it at the last fetch
            "gone": int,  # 404/410 seen: reported, not requested again for a while
            "gone_at": str,
            "error": str,  # last problem, one line; null when the last fetch was clean
        },
        pk="url",
        if_not_exists=True,
    )
    db["feed_items"].create(
        {
            "id": str,  # stable key: NCT number (trial), guid, else DOI, else link (crawler.feed_parse)
            "feed_url": str,  # the feed that first carried it
            "kind": str,  # preprint | journal | trial | pubmed
            "title": str,
            "link": str,
            "summary": str,  # plain text
            "authors": str,  # JSON
            "published": str,  # YYYY-MM-DD
            "doi": str,  # lower case
            "feed_pmid": str,  # the PMID the feed names (PubMed feeds); maybe not stored
            "pmid": str,  # set when the item is (or becomes) a stored PubMed record
            "nct_id": str,  # a ClinicalTrials.gov item's trial (stored or not)
            "published_as_pmid": str,  # a preprint later published as this PMID
            "first_seen_at": str,
            "updated_at": str,
        },
        pk="id",
        if_not_exists=True,
    )
    for columns in (["doi"], ["link"], ["nct_id"], ["pmid"], ["first_seen_at"]):
        db["feed_items"].create_index(columns, if_not_exists=True)
    db["feed_item_topics"].create(
        {"item_id": str, "topic": str, "first_seen_at": str},
        pk=("item_id", "topic"),
        if_not_exists=True,
    )
    db["feed_item_topics"].create_index(["topic"], if_not_exists=True)
    if "feed_items_fts" not in db.table_names():
        db["feed_items"].enable_fts(["title", "summary"], create_triggers=True, tokenize="porter")


MIGRATIONS = [("001_feeds", m001_feeds)]
