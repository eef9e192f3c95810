"""Hardened XML parsing for every document that comes from outside (submissions, XForms).

One rule: no DTDs. A document type declaration is how the classic XML attacks get in (billion
laughs and other entity expansion, XXE through ``file://`` or ``http://`` entities, external DTD
fetches, parameter entities), and no OpenRosa document needs one. So :func:`parse_xml` refuses any
document that has a ``<!DOCTYPE``, and the parser underneath is configured to resolve no entities,
load no DTD and touch no network even if something slipped through.

Size, depth and the number of elements are bounded too: size before parsing, depth and element
count while parsing (the document is fed to the parser in chunks and refused as soon as a limit is
passed), so a hostile document costs at most one bounded parse, never a full walk of a huge tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import IO

from lxml import etree

from fieldapp.errors import BadRequest

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "XmlDoctypeForbidden",
    "XmlError",
    "XmlTooDeep",
    "XmlTooLarge",
    "XmlTooManyElements",
    "iterparse_xml",
    "parse_xml",
]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_DEPTH = 64
#: bytes fed to the parser at a time: the element count is checked after each chunk, so a
#: document over the limit is refused after at most one chunk more than the limit
_CHUNK = 64 * 1024

_UTF8_BOM = b"\xef\xbb\xbf"
# A DOCTYPE (or a stray ENTITY declaration) in any ASCII-compatible encoding. UTF-16/32 documents
# are caught after parsing through ``docinfo`` instead.
_DTD_MARKERS = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_LOCATION_SUFFIX = re.compile(r",\s*line \d+,\s*column \d+\s*$")
_XML_DECL_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?\sencoding\s*=\s*)(["'])[^"']*\2""")


class XmlError(BadRequest):
    """The XML document cannot be accepted (400)."""

    code = "xml.invalid"


class XmlTooLarge(XmlError):
    """The XML document is larger than allowed (413)."""

    code = "xml.too_large"
    http_status = 413


class XmlDoctypeForbidden(XmlError):
    """The XML document has a DOCTYPE; none is accepted (400)."""

    code = "xml.doctype_forbidden"


class XmlTooDeep(XmlError):
    """The XML document nests elements deeper than allowed (400)."""

    code = "xml.too_deep"


class XmlTooManyElements(XmlTooLarge):
    """The XML document has more elements than allowed (413)."""

    code = "xml.too_many_elements"


#: UTF-32 by its first four bytes (XML 1.0 appendix F): a byte order mark, or "<" so encoded.
#: libxml2 finds UTF-32 by itself only when given the whole document at once, not when fed it.
_UTF32_STARTS = {
    b"\x00\x00\xfe\xff": "UTF-32BE",
    b"\xff\xfe\x00\x00": "UTF-32LE",
    b"\x00\x00\x00<": "UTF-32BE",
    b"<\x00\x00\x00": "UTF-32LE",
}


def _parser(encoding: str | None = None) -> etree.XMLPullParser:
    # A new parser per call: lxml parsers keep an error log and are not thread safe. A pull
    # parser reports each element as it starts and ends, so depth and count are checked during
    # the parse instead of in a second walk over the tree.
    return etree.XMLPullParser(
        events=("start", "end"),
        encoding=encoding,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        strip_cdata=True,
        collect_ids=False,
        recover=False,
    )


def _to_bytes(data: bytes | str) -> bytes:
    if isinstance(data, bytes):
        return data
    # lxml refuses a str that carries an encoding declaration; we encode the text as UTF-8
    # ourselves, so the declaration must say so.
    text = data.removeprefix("\ufeff")
    text = _XML_DECL_ENCODING.sub(r"\1\2UTF-8\2", text, count=1)
    return text.encode("utf-8")


def _syntax_error(err: etree.XMLSyntaxError) -> XmlError:
    line, column = err.position
    detail = _LOCATION_SUFFIX.sub("", (err.msg or "").strip()) or "the document is not well-formed"
    return XmlError(
        "The XML is not well-formed: %(detail)s (line %(line)s, column %(column)s).",
        params={"detail": detail, "line": line, "column": column},
    )


def parse_xml(
    data: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_elements: int | None = None,
) -> etree._Element:
    """Parse an untrusted XML document safely.

    Comments and processing instructions are dropped, so iterating over an element yields
    elements only. A UTF-8 byte order mark is accepted.

    :param data: the document, as bytes (any declared encoding) or as text.
    :param max_bytes: the largest document accepted, in bytes (UTF-8 bytes for text).
    :param max_depth: the deepest element nesting accepted; the root element is depth 1.
    :param max_elements: the most elements accepted (``None``: no limit but size and depth).
    :return: the root element.
    :raises XmlTooLarge: the document is larger than ``max_bytes`` (checked before parsing).
    :raises XmlDoctypeForbidden: the document has a DOCTYPE or entity declaration.
    :raises XmlTooDeep: elements nest deeper than ``max_depth``.
    :raises XmlTooManyElements: there are more than ``max_elements`` elements (413).
    :raises XmlError: the document is empty or not well-formed; the message gives line and column.
    """
    raw = _to_bytes(data)
    if len(raw) > max_bytes:
        raise XmlTooLarge(
            "The XML document is %(size)s bytes; the limit is %(max)s bytes.",
            details={"size": len(raw), "max": max_bytes},
            params={"size": format(len(raw), ","), "max": format(max_bytes, ",")},
        )
    if not raw.removeprefix(_UTF8_BOM).strip():
        raise XmlError("The XML document is empty.")
    if _DTD_MARKERS.search(raw):
        raise XmlDoctypeForbidden(
            "The XML document contains a DOCTYPE or ENTITY declaration; "
            "these are not accepted. Remove the <!DOCTYPE ...> part and send it again."
        )
    try:
        root = _bounded_parse(raw, max_depth, max_elements)
    except etree.XMLSyntaxError as err:
        if "excessive depth" in (err.msg or "").lower():  # libxml2's own limit (256 levels)
            raise _too_deep(max_depth) from None
        raise _syntax_error(err) from None
    docinfo = root.getroottree().docinfo
    doctype = str(getattr(docinfo, "doctype", "") or "")
    if doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        # Only reachable for encodings the byte scan above cannot read (UTF-16, UTF-32).
        raise XmlDoctypeForbidden(
            "The XML document contains a DOCTYPE declaration; it is not accepted. "
            "Remove the <!DOCTYPE ...> part and send it again."
        )
    return root


def _bounded_parse(raw: bytes, max_depth: int, max_elements: int | None) -> etree._Element:
    """Parse ``raw`` in chunks, refusing it as soon as it nests too deep or has too many
    elements."""
    parser = _parser(_UTF32_STARTS.get(raw[:4]))
    depth = count = 0

    def check() -> None:
        nonlocal depth, count
        for event, _element in parser.read_events():
            if event == "start":
                depth += 1
                count += 1
                if depth > max_depth:
                    raise _too_deep(max_depth)
            else:
                depth -= 1
        if max_elements is not None and count > max_elements:
            raise _too_many(max_elements)

    view = memoryview(raw)
    for offset in range(0, len(raw), _CHUNK):
        parser.feed(bytes(view[offset : offset + _CHUNK]))
        check()
    root = parser.close()
    check()
    return root


def _too_many(max_elements: int) -> XmlTooManyElements:
    return XmlTooManyElements(
        "The XML document has more than %(max)s elements; the limit is %(max)s.",
        details={"max_elements": max_elements},
        params={"max": format(max_elements, ",")},
    )


def _too_deep(max_depth: int) -> XmlTooDeep:
    return XmlTooDeep(
        "The XML document nests elements more than %(max)s levels deep.",
        details={"max": max_depth},
        params={"max": max_depth},
    )


class _GuardedStream:
    """A binary stream that refuses DTD markers anywhere and more than ``max_bytes`` in all."""

    def __init__(self, source: IO[bytes], max_bytes: int) -> None:
        self._source = source
        self._max_bytes = max_bytes
        self._seen = 0
        self._tail = b""

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size if size and size > 0 else 64 * 1024)
        self._seen += len(chunk)
        if self._seen > self._max_bytes:
            raise XmlTooLarge(
                "The XML document is larger than the limit of %(max)s bytes.",
                details={"max": self._max_bytes},
                params={"max": format(self._max_bytes, ",")},
            )
        # A marker split across two reads is found in the previous read's tail plus this one.
        if _DTD_MARKERS.search(self._tail + chunk):
            raise XmlDoctypeForbidden(
                "The XML document contains a DOCTYPE or ENTITY declaration; these are not accepted."
            )
        self._tail = chunk[-64:]
        return chunk


def iterparse_xml(
    source: IO[bytes],
    *,
    tag: str | Sequence[str],
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[etree._Element]:
    """Stream an untrusted, possibly large XML document, one element at a time.

    For documents too large to hold as a tree (the sheets of a workbook). The parser settings are
    those of :func:`parse_xml`; a DOCTYPE or ENTITY declaration anywhere is refused. Each element
    named ``tag`` is yielded when it ends, with its children; once the caller asks for the next
    one it is cleared, with its earlier siblings, so memory stays flat.

    :param source: the document as a binary stream.
    :param tag: the element name(s) to yield, in Clark notation (``{namespace}row``).
    :param max_bytes: the most bytes read from ``source``.
    :raises XmlTooLarge: the stream is longer than ``max_bytes``.
    :raises XmlDoctypeForbidden: the document has a DOCTYPE or entity declaration.
    :raises XmlError: the document is not well-formed.
    """
    events = etree.iterparse(
        _GuardedStream(source, max_bytes),
        events=("end",),
        tag=tag,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
        recover=False,
    )
    checked = False
    try:
        for _event, element in events:
            if not checked:
                # UTF-16/32 documents hide their DOCTYPE from the byte scan; the parser saw it.
                docinfo = element.getroottree().docinfo
                if docinfo.doctype or docinfo.internalDTD is not None:
                    raise XmlDoctypeForbidden(
                        "The XML document contains a DOCTYPE declaration; it is not accepted."
                    )
                checked = True
            yield element
            element.clear(keep_tail=False)
            parent = element.getparent()
            if parent is not None:
                while element.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as err:
        raise _syntax_error(err) from None
