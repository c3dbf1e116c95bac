"""Markup: the one allow-list of inline tags and the one fragment-to-text function.

Titles and abstracts are stored as HTML fragments: text escaped (``5 &lt; 6``), with only
the inline tags below kept, bare (no attributes).  The parser writes them, the digest
re-emits them, exports and the terminal turn them back into text: all from this list.
"""

from __future__ import annotations

import html
import re

# Italics (species, gene names), bold, underline, sub/superscripts (chemistry, units).
INLINE_TAGS = ("i", "b", "u", "sub", "sup")
# Spellings other sources use for the same thing, mapped onto the list above.
INLINE_ALIASES = {"em": "i", "strong": "b"}

_ANY_TAG_RE = re.compile(r"<[^>]+>")
# Where block-level HTML (a feed's summary, say) ends a line: a space, not nothing.
_BREAK_RE = re.compile(r"<br\s*/?>|</p>|</li>|</div>", re.IGNORECASE)
_SUB_RE = re.compile(r"<sub>(.*?)</sub>", re.S)
_SUP_RE = re.compile(r"<sup>(.*?)</sup>", re.S)


# The printable ASCII characters (what ``str.isprintable`` allows below U+0080).
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def printable(text: str) -> bool:
    """``text.isprintable()``, ~3x faster on long ASCII text (an abstract: ~1 us instead of
    ~2.5; ``isprintable`` looks up every character's Unicode category)."""
    if len(text) > 64 and text.isascii():
        return not text.encode().translate(None, _PRINTABLE_ASCII)
    return text.isprintable()


def spaces_folded(text: str) -> bool:
    """For ``printable`` text: whether ``" ".join(text.split())`` would leave it as it is.
    Every character ``str.split`` breaks on but " " is unprintable, so three cheap scans
    tell, where the split and join allocate a string per word (most stored text is folded)."""
    return "  " not in text and text[:1] != " " and text[-1:] != " "


def _folded(text: str) -> str:
    """``" ".join(text.split())``, cheaper for what the parser stores (spaces folded already,
    sections joined by a blank line)."""
    flat = text.replace("\n\n", " ")
    if printable(flat) and spaces_folded(flat):
        return flat
    return " ".join(text.split())


def fragment_to_text(fragment: str | None, *, scripts: bool = False) -> str:
    """A stored fragment (or any HTML) as plain text: tags dropped, entities decoded, spaces
    folded; a line break or the end of a paragraph, list item or div becomes a space.

    With ``scripts``, sub/superscripts keep their meaning as ``CO_2`` / ``x^2`` (for the
    terminal, where there is no markup); otherwise their text is simply inlined.
    """
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:  # most titles: nothing to undo
        return _folded(fragment)
    text = fragment
    if scripts:
        text = _SUB_RE.sub(lambda m: "_" + m.group(1) if len(m.group(1)) == 1 else f"_({m.group(1)})", text)
        text = _SUP_RE.sub(lambda m: "^" + m.group(1) if len(m.group(1)) == 1 else f"^({m.group(1)})", text)
    text = _ANY_TAG_RE.sub("", _BREAK_RE.sub(" ", text))
    return " ".join(html.unescape(text).split())
