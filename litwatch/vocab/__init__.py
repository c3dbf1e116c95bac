"""The ground floor: the vocabulary every layer shares (identifiers, records, time, markup, errors).

It imports nothing else of the project, and everything may import it.
"""
