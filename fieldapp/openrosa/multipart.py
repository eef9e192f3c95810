"""A submission POST's ``multipart/form-data`` body, split in one pass over the bytes.

Collect, Enketo and pyODK send a submission as a small multipart body: the XML part and the
attachments (ODK-INTEROP §2.2). Werkzeug's general parser compiles a regular expression for each
body's boundary, and every phone upload has a new boundary, so Python's regex cache never helps:
that compile was the largest single cost of reading a submission (bench/ingest/stages.py). This
parser reads the body (already capped at the route's limit), finds each delimiter with
``bytes.find`` and slices the parts out; it does nothing else.

RFC 7578 and RFC 2046, read as the clients write them: the delimiter is ``--boundary`` at the start
of the body or of a line; line breaks are CRLF, and a bare LF is taken too (as werkzeug does); a
part's headers end at the first empty line; its ``Content-Disposition`` must be ``form-data`` with
a ``name``; a part with a ``filename`` parameter (even an empty one) is a file, any other is a
field. Headers are UTF-8. Anything else (no boundary, no closing delimiter, a part without a
name, more than ``max_parts`` parts, a field over ``max_field_bytes``) is refused with its own
code, so the phone says what went wrong instead of "xml_submission_file missing".
"""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.http import parse_options_header

from fieldapp.errors import BadRequest, PayloadTooLarge

#: RFC 2046 allows 1 to 70 characters, but clients write longer ones (werkzeug's own test client
#: makes boundaries of up to about 75 from a timestamp and a random number) and werkzeug's parser
#: takes them, so only an absurd length is refused
_MAX_BOUNDARY = 200
#: the most header bytes one part may have (werkzeug allows 8 KiB as well)
_MAX_HEADER_BYTES = 8 * 1024


#: the code of a field part over its limit, or of too many parts (413)
TOO_LARGE = "submission.multipart_too_large"


@dataclass(frozen=True, slots=True)
class Part:
    """One part: its form ``name``, ``filename`` (``None`` for a field), type and bytes."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def _malformed(why: str, **params: object) -> BadRequest:
    return BadRequest(why, code="submission.multipart_malformed", params=params)


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type, or ``None`` for another type.

    :raises BadRequest: multipart/form-data without a usable boundary.
    """
    mimetype, options = parse_options_header(content_type)
    if mimetype.lower() != "multipart/form-data":
        return None
    boundary = options.get("boundary", "")
    if not boundary or len(boundary) > _MAX_BOUNDARY or not boundary.isascii():
        raise _malformed(
            "The POST is multipart/form-data without a valid boundary (1 to 200 ASCII characters)."
        )
    return boundary.encode("ascii")


def _line_end(body: bytes, at: int) -> int:
    """The index after the transport padding (spaces and tabs, RFC 2046) and the line break
    that start at ``at``, or -1 when no line break follows."""
    while at < len(body) and body[at] in b" \t":
        at += 1
    if body.startswith(b"\r\n", at):
        return at + 2
    if body.startswith(b"\n", at):
        return at + 1
    return -1


def _is_delimiter(body: bytes, at: int, dash: bytes) -> bool:
    """Whether ``--boundary`` at ``at`` is a delimiter: followed by ``--`` (the last one), or by
    optional padding and a line break. Anything else (``--boundaryX``) is data."""
    if not body.startswith(dash, at):
        return False
    after = at + len(dash)
    return body.startswith(b"--", after) or _line_end(body, after) >= 0


def _next_delimiter(body: bytes, dash: bytes, start: int) -> int:
    """The index just past the next delimiter at the start of a line from ``start``, or -1."""
    at = start
    while True:
        found = body.find(b"\n" + dash, at)
        if found < 0:
            return -1
        if _is_delimiter(body, found + 1, dash):
            return found + 1 + len(dash)
        at = found + 1


def _headers(raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("A part's headers are not UTF-8.") from None
    headers: dict[str, str] = {}
    name = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and name:  # an obsolete folded continuation
            headers[name] += " " + line.strip(" \t")
            continue
        key, colon, value = line.partition(":")
        if not colon:
            raise _malformed("A part has a header line without a colon.")
        name = key.strip(" \t").lower()
        headers[name] = value.strip(" \t")
    return headers


def parse(body: bytes, boundary: bytes, *, max_parts: int, max_field_bytes: int) -> list[Part]:
    """The parts of ``body``, in order.

    :raises BadRequest: a body that is not well-formed multipart.
    :raises PayloadTooLarge: more than ``max_parts`` parts, or a field over ``max_field_bytes``.
    """
    dash = b"--" + boundary
    # the first delimiter: at the very start, or after the preamble's last line break
    at = len(dash) if _is_delimiter(body, 0, dash) else _next_delimiter(body, dash, 0)
    if at < 0:
        raise _malformed("The POST's body does not contain its multipart boundary.")
    parts: list[Part] = []
    while True:
        if body.startswith(b"--", at):
            return parts  # the closing delimiter; what follows is the epilogue
        at = _line_end(body, at)  # there is one: that made it a delimiter
        if len(parts) == max_parts:
            raise PayloadTooLarge(
                "The POST has more than %(max)s parts.", code=TOO_LARGE, params={"max": max_parts}
            )
        # the part's headers end at the first empty line
        if body.startswith(b"\r\n", at) or body.startswith(b"\n", at):
            raise _malformed("A part has no Content-Disposition header.")
        crlf = body.find(b"\r\n\r\n", at, at + _MAX_HEADER_BYTES + 4)
        lf = body.find(b"\n\n", at, at + _MAX_HEADER_BYTES + 2)
        if crlf >= 0 and (lf < 0 or crlf < lf):
            raw_headers, data_at = body[at:crlf], crlf + 4
        elif lf >= 0:
            raw_headers, data_at = body[at:lf], lf + 2
        else:
            raise _malformed("A part's headers do not end, or are over 8 KiB.")
        headers = _headers(raw_headers)
        disposition, options = parse_options_header(headers.get("content-disposition", ""))
        if disposition.lower() != "form-data" or not options.get("name"):
            raise _malformed(
                'A part is not form-data with a name (Content-Disposition: form-data; name="...").'
            )
        # its data end at the next delimiter, which begins a line
        at = _next_delimiter(body, dash, data_at)
        if at < 0:
            raise _malformed("The POST's body ends before its closing multipart boundary.")
        end = at - len(dash) - 1
        if end > data_at and body[end - 1] == 0x0D:  # the CR of the delimiter's CRLF
            end -= 1
        filename = options.get("filename")
        if filename is None and end - data_at > max_field_bytes:
            raise PayloadTooLarge(
                "The field %(name)s is over %(max)s bytes; send it as a file part.",
                code=TOO_LARGE,
                params={"name": options["name"], "max": max_field_bytes},
            )
        parts.append(
            Part(
                name=options["name"],
                filename=filename,
                content_type=headers.get("content-type"),
                data=body[data_at:end],
            )
        )
