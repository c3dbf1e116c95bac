"""Signals derived from stored records: key facts of a paper, overdue and unpublished trials.

Pure functions over the vocabulary's records (they import only ``litwatch.vocab``): the digest
and the CLI show them, and each says which words or fields it came from.
"""
