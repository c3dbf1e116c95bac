"""Turn what a user types into a safe FTS5 query.

Users type plain words and "quoted phrases" (and sometimes OR / NOT / a trailing * for a
prefix).  Passing that straight to FTS5 turns a stray quote or a hyphen ("treatment-resistant")
into a syntax error or a column filter, so the query is rebuilt from tokens here, and
anything that cannot be made sense of is a QueryError (one line at the CLI).
"""

from __future__ import annotations

import re

from litwatch.vocab.errors import QueryError

_TOKEN_RE = re.compile(r'"([^"]*)"|(\S+)')
_WORD_RE = re.compile(r"\w+", re.UNICODE)
OPERATORS = {"OR", "AND", "NOT"}


def to_fts_query(text: str) -> str:
    """``ketamine "borderline personality" -placebo`` -> an FTS5 MATCH expression.

    - words become quoted terms (hyphenated words become a phrase of their parts);
    - "quoted text" is a phrase;
    - OR / AND / NOT in capitals are operators; a leading ``-`` means NOT;
    - a trailing ``*`` keeps prefix search (``suicid*``).
    """
    if text is None or not text.strip():
        raise QueryError("empty search query: give one or more words, e.g. litwatch search ketamine")
    if text.count('"') % 2:
        raise QueryError(f"unbalanced quote in search query {text!r}: close the phrase with \"")
    parts: list[str] = []
    pending_op: str | None = None
    for match in _TOKEN_RE.finditer(text):
        phrase, word = match.groups()
        if word is not None and word in OPERATORS:
            if not parts or pending_op:
                raise QueryError(f"search query {text!r}: {word} needs a term on each side")
            pending_op = word
            continue
        negate = False
        prefix = False
        if phrase is not None:
            words = _WORD_RE.findall(phrase)
        else:
            if word.startswith("-") and len(word) > 1:
                negate, word = True, word[1:]
            if word.endswith("*"):
                prefix, word = True, word.rstrip("*")
            words = _WORD_RE.findall(word)
        if not words:
            continue
        term = '"' + " ".join(words) + '"' + ("*" if prefix else "")
        if negate:
            if not parts:
                raise QueryError(f"search query {text!r}: -{word} needs a positive term before it")
            parts.append("NOT " + term)
            pending_op = None
            continue
        if pending_op:
            parts.append(pending_op)
            pending_op = None
        parts.append(term)
    if pending_op:
        raise QueryError(f"search query {text!r}: {pending_op} needs a term on each side")
    if not parts:
        raise QueryError(f"search query {text!r} has no words to search for")
    return " ".join(parts)
