"""Exports for other tools: reference managers (RIS, BibTeX, CSL-JSON) and spreadsheets (CSV).

Every writer streams: it takes an iterator of records and writes each one as it comes, so
an export of the whole store runs in constant memory.  ``reference.to_reference`` turns a
stored publication into one neutral bibliographic record that the three reference-manager
writers map onto their own vocabularies, so a field is derived once for all of them.
"""

REFERENCE_FORMATS = ("ris", "bibtex", "csl-json")
