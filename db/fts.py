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
# A query longer than this is not something a person typed or pasted as a search (a
# 12,000-word query took 10 s): refused with a one-line message instead.
MAX_QUERY_CHARS = 1000
MAX_QUERY_TERMS = 64


def to_fts_query(text: str) -> str:
    """``ketamine "borderline personality" -placebo`` -> an FTS5 MATCH expression.

    - words become quoted terms (hyphenated words become a phrase of their parts);
    - "quoted text" is a phrase;
    - OR / AND / NOT in capitals are operators; a leading ``-`` means NOT;
    - a trailing ``*`` keeps prefix search (``suicid*``).
    """
    if text is None or not text.strip():
        raise QueryError("empty search query: give one or more words, e.g. litwatch search ketamine")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"search query too long ({len(text)} characters; at most {MAX_QUERY_CHARS}): "
                         "search for a few words, a title or an identifier")
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
                raise QueryError(f"search query {text!r}: a leading - excludes a word from what the other words find; "
                                 f"add a word to search for, e.g. litwatch search depression -{word}")
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
    terms = sum(1 for p in parts if p not in OPERATORS)
    if terms > MAX_QUERY_TERMS:
        raise QueryError(f"search query has {terms} terms (at most {MAX_QUERY_TERMS}): search for fewer words")
    return " ".join(parts)


def title_phrase_query(text: str) -> str | None:
    """A pasted title as one FTS5 phrase on the title column, or None for a short query.

    Words only (punctuation and markup drop out the same way the index drops them), so
    ``Ketamine and the neurobiology of depression: Toward...`` finds the paper so titled.
    """
    if '"' in text or any(w in OPERATORS for w in text.split()):
        return None
    words = _WORD_RE.findall(text)
    if len(words) < 4:
        return None
    return 'title : "' + " ".join(words[:MAX_QUERY_TERMS]) + '"'

