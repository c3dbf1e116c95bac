"""Fetching: Scrapy spiders for PubMed (E-utilities), ClinicalTrials.gov v2, feeds and seeds.

Spiders only request and parse; item pipelines normalise, validate and store.  Each crawl
runs in its own process (``crawler.process``), started by ``crawler.run.run_crawl``, because
Twisted's reactor cannot be restarted inside one process.
"""
