"""litwatch: a weekly watch over PubMed, ClinicalTrials.gov and feeds for a list of topics.

The top-level packages ``crawler`` (fetching), ``db`` (storage and queries) and ``digest``
(selection, rendering, delivery) do the work; this package holds what they share: the
watchlist and environment settings (``litwatch.config``), the error type that the CLI turns
into one line (``litwatch.vocab.errors``) and the command-line skin (``litwatch.cli``).
"""

__version__ = "0.1.0"
