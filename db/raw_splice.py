"""A raw record without the text its row already holds, and the record rebuilt from the two.

A PubMed record's ``ArticleTitle``, ``AbstractText`` sections and first affiliations are
also stored, parsed, in its ``publications`` row (``title``, ``abstract``/``abstract_sections``,
``author_details``): ~1.3 KB of a 20 KB record and ~460 B of its 5 KB zstd frame.
``splice`` replaces each such text where it occurs in the raw bytes with a 3-byte marker
(NUL, which XML 1.0 forbids in a document, then which text, then which spelling of it) and
``unsplice`` puts the texts back.  Both take the same list of texts, which the caller
derives from the row (``db.publications.splice_texts``).

Byte for byte by construction: ``splice`` only cuts out bytes equal to a text it is given
(as the row holds it, or with every non-ASCII character as the ``&#x..;`` reference PubMed
writes), in order, each replaced by a marker that no byte of the record can be mistaken
for (``splice`` says why ``unsplice`` gives the record back); it returns None (store the
record whole) when it cuts nothing or the record holds a NUL.  The spliced bytes start
with the CRC-32 of the texts cut out, so a row whose title or abstract was edited
afterwards (by hand, in SQL) is a clear error on reading instead of a record silently
rebuilt with the edited text.
"""

from __future__ import annotations

import re
import zlib
from typing import Callable, Sequence

MARK = b"\0"
# Texts shorter than this stay in the record (a marker is 3 bytes).
MIN_CHARS = 8
MAX_TEXTS = 255
# Every text a row holds comes before this in the record (the ReferenceList, most of a
# record's bytes, comes after): a text not found is not searched for further.
_TEXTS_END = b"<PubmedData>"


class SpliceMismatch(ValueError):
    """The row's texts are not the ones cut out of the record (the row was edited)."""


_DECIMAL_REFERENCE = re.compile(rb"&#(\d+);")


def _hex_reference(m: re.Match) -> bytes:
    return b"&#x%x;" % int(m[1])


def _forms(text: str) -> tuple[bytes, ...]:
    """The spellings of ``text`` a record may hold: PubMed's own (non-ASCII characters as
    hexadecimal character references, ``&#x3b1;``) and UTF-8 as parsed."""
    if text.isascii():
        return (text.encode(),)
    # (xmlcharrefreplace writes decimal references, in C; PubMed writes hexadecimal ones.)
    # (surrogatepass: a lone surrogate, which no record holds, must not fail the store.)
    return (_DECIMAL_REFERENCE.sub(_hex_reference, text.encode("ascii", "xmlcharrefreplace")),
            text.encode("utf-8", "surrogatepass"))


def _find(raw: bytes, form: bytes, at: int, end: int) -> int:
    """``raw.find(form, at, end)``, faster for the usual case (``form`` starts soon after
    ``at``): a long needle's search costs ~1 us to set up, its first 16 bytes' very little."""
    head = form[:16]
    i = raw.find(head, at, end)
    while i >= 0 and not raw.startswith(form, i):
        i = raw.find(head, i + 1, end)
    return i if i >= 0 and i + len(form) <= end else -1


def splice(raw: bytes, texts: Sequence[str | None]) -> bytes | None:
    """``raw`` with the texts it holds cut out (in order, each at most once), or None when
    nothing was cut (or the record has a NUL byte, which no XML document has)."""
    if MARK in raw:
        return None
    end = raw.find(_TEXTS_END)
    end = len(raw) if end < 0 else end
    view = memoryview(raw)  # slices without copies: a record is ~20 KB
    pieces: list = [b""]
    cut: list[bytes] = []
    at = 0
    crc = 0
    for k, text in enumerate(texts[:MAX_TEXTS]):
        if not text or len(text) < MIN_CHARS:
            continue
        for f, form in enumerate(_forms(text)):
            if MARK in form:  # (a text edited by hand: never cut, its marker would be ambiguous)
                continue
            i = _find(raw, form, at, end)
            if i >= 0:
                pieces += (view[at:i], MARK + bytes((k + 1, f + 1)))
                cut.append(form)
                crc = zlib.crc32(form, crc)
                at = i + len(form)
                break
    if not cut:
        return None
    pieces[0] = crc.to_bytes(4, "little")
    pieces.append(view[at:])
    # No rebuild to check (it was ~20 of the ~40 us a record this took): ``unsplice`` gives
    # ``raw`` back by construction.  ``raw`` holds no MARK and no cut form holds one, so the
    # markers ``_pieces`` finds are exactly the ones written here, in order; each names the
    # text (k < MAX_TEXTS: one byte) and the spelling cut, which ``unsplice`` derives from
    # the same texts; the bytes between them are ``raw``'s own.  What reading cannot know
    # (a row edited since) the CRC of the cut texts catches.
    return b"".join(pieces)


def _pieces(data: bytes, forms_of: Callable[[int], tuple[bytes, ...]]) -> list:
    """The pieces of the record ``data`` was cut from, in order (``forms_of(k)``: the
    spellings of the k-th text), after checking the texts against the CRC of those cut."""
    view = memoryview(data)
    out: list = []
    cut: list[bytes] = []
    at = 4
    try:
        while (i := data.find(MARK, at)) >= 0:
            form = forms_of(data[i + 1] - 1)[data[i + 2] - 1]
            out += (view[at:i], form)
            cut.append(form)
            at = i + 3
    except (IndexError, TypeError, AttributeError):
        raise SpliceMismatch("the row holds fewer texts than were cut out of its raw record") from None
    if zlib.crc32(b"".join(cut)).to_bytes(4, "little") != data[:4]:
        raise SpliceMismatch("the row's title/abstract/affiliations differ from those cut out of its raw record")
    out.append(view[at:])
    return out


def unsplice(data: bytes, texts: Sequence[str | None]) -> bytes:
    """The record ``splice`` cut ``texts`` out of."""
    return b"".join(_pieces(data, lambda k: _forms(texts[k])))
