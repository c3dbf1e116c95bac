"""Citations found in the seed documents, and how each resolved."""


def m001_citations(db):
    db["citations"].create(
        {
            "document": str,  # file name inside the seeds folder
            "line": int,
            "kind": str,  # nct | pmid | pmcid | doi | pii | url
            "value": str,  # normalised identifier (PMC9156400, 10.1016/..., S0165032722008229)
            "raw": str,  # the text as it stood in the document
            "status": str,  # pending | resolved | unresolved
            "resolved_kind": str,  # publication | trial
            "resolved_id": str,  # PMID or NCT number
            "reason": str,  # why unresolved
            "first_seen_at": str,
            "updated_at": str,
        },
        pk=("document", "line", "kind", "value"),
        if_not_exists=True,
    )
    # PMIDs the PubMed crawl must fetch whatever the topics find (seed citations, trial
    # references, [si] search results).  fetched_at is set once the record is stored.
    db["pubmed_queue"].create(
        {"pmid": str, "reason": str, "added_at": str, "fetched_at": str, "attempts": int, "error": str},
        pk="pmid",
        if_not_exists=True,
    )


MIGRATIONS = [("001_citations", m001_citations)]
