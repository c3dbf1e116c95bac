"""litwatch: a weekly watch over PubMed, ClinicalTrials.gov and feeds for a list of topics.

Everything installs under this one name, on floors (README, "Layout"): ``litwatch.vocab``
(identifiers, records, time, markup, errors: imports nothing of litwatch);
``litwatch.config`` and ``litwatch.signals``; ``litwatch.db`` (the store, the only SQL);
``litwatch.crawler`` (fetch and parse) and ``litwatch.digest`` (select, render, deliver);
on top ``litwatch.scheduler`` and the command line (``litwatch.cli``).  This package
itself only holds the version.
"""

__version__ = "0.1.0"
