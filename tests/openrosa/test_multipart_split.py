"""fieldapp's own multipart splitter (``fieldapp.openrosa.multipart``) against werkzeug's parser.

Every well-formed body werkzeug reads must come out of ours as the same parts (names, file or
field, types, bytes); the bodies werkzeug silently reads as empty get a 400 with a code instead.
The route-level behaviour (201s, 4xx codes, nothing stored from a bad body) is fuzzed in
test_fuzz_submissions.py.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.formparser import parse_form_data
from werkzeug.test import EnvironBuilder

from fieldapp.errors import BadRequest, PayloadTooLarge
from fieldapp.openrosa import multipart

#: RFC 2046's bchars, without the space (which werkzeug's header reading strips)
BOUNDARY_CHARS = st.sampled_from(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_-./:=?"
)
NAMES = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\\r\n%'),
    min_size=1,
    max_size=20,
)
TYPES = st.sampled_from([None, "text/xml", "image/jpeg", "application/octet-stream"])


def _body(
    boundary: str, parts: list[tuple[str, str | None, str | None, bytes]], eol: bytes
) -> bytes:
    out = io.BytesIO()
    for name, filename, content_type, data in parts:
        out.write(b"--" + boundary.encode() + eol)
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out.write(f"Content-Disposition: {disposition}".encode() + eol)
        if content_type is not None:
            out.write(f"Content-Type: {content_type}".encode() + eol)
        out.write(eol + data + eol)
    out.write(b"--" + boundary.encode() + b"--" + eol)
    return out.getvalue()


def _werkzeug(body: bytes, boundary: str) -> list[tuple[str, str | None, str | None, bytes]]:
    environ = EnvironBuilder(
        method="POST", data=body, content_type=f'multipart/form-data; boundary="{boundary}"'
    ).get_environ()
    _stream, form, files = parse_form_data(environ, silent=False)
    found: list[tuple[str, str | None, str | None, bytes]] = [
        (k, None, None, v.encode()) for k, v in form.items(multi=True)
    ]
    for k, f in files.items(multi=True):
        found.append((k, f.filename, f.mimetype or None, f.read()))
        f.close()
    return sorted(found, key=repr)


def _ours(body: bytes, boundary: str) -> list[tuple[str, str | None, str | None, bytes]]:
    parts = multipart.parse(body, boundary.encode(), max_parts=1000, max_field_bytes=10**7)
    return sorted(
        [
            (p.name, p.filename, _mimetype(p) if p.filename is not None else None, p.data)
            for p in parts
        ],
        key=repr,
    )


def _mimetype(part: multipart.Part) -> str | None:
    return (part.content_type or "").partition(";")[0] or None


@settings(max_examples=300, deadline=None)
@given(
    boundary=st.text(BOUNDARY_CHARS, min_size=1, max_size=70),
    parts=st.lists(
        st.tuples(
            NAMES,
            st.none() | st.sampled_from(["a.jpg", "", "submission.xml", "ф.xml"]),
            TYPES,
            st.binary(max_size=300),
        ),
        max_size=5,
    ),
    eol=st.sampled_from([b"\r\n", b"\n"]),
)
def test_well_formed_bodies_split_as_werkzeug_reads_them(
    boundary: str, parts: list[tuple[str, str | None, str | None, bytes]], eol: bytes
) -> None:
    # a part's bytes may not hold the delimiter itself (no multipart body can carry that)
    parts = [
        p
        for p in parts
        if b"--" + boundary.encode() not in p[3] and (p[1] is not None or _utf8(p[3]))
    ]
    body = _body(boundary, parts, eol)
    assert _ours(body, boundary) == _werkzeug(body, boundary)


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\r" not in data.decode() and "\n" not in data.decode()


def test_a_preamble_and_an_epilogue_are_skipped() -> None:
    body = b"preamble\r\n" + _body("b", [("x", None, None, b"1")], b"\r\n") + b"epilogue"
    assert _ours(body, "b") == [("x", None, None, b"1")]


def test_part_bytes_keep_line_breaks_and_boundary_lookalikes() -> None:
    data = b"\r\n--bX\r\n-b\n--\r\n\r\n"
    body = _body("b", [("photo", "p.jpg", "image/jpeg", data)], b"\r\n")
    assert _ours(body, "b") == [("photo", "p.jpg", "image/jpeg", data)]


def test_content_type_parameters_are_kept_for_the_caller() -> None:
    body = _body("b", [("f", "a.xml", "text/xml; charset=utf-8", b"<a/>")], b"\r\n")
    (part,) = multipart.parse(body, b"b", max_parts=10, max_field_bytes=10)
    assert part.content_type == "text/xml; charset=utf-8"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "does not contain"),
        (b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n", "ends before"),
        (b"--bjunk\r\n", "does not contain"),
        (b"--b\r\n\r\n1\r\n--b--", "no Content-Disposition"),
        (b"--b\r\nContent-Type: text/plain\r\n\r\n1\r\n--b--", "form-data with a name"),
        (b"--b\r\nContent-Disposition: attachment; name=x\r\n\r\n1\r\n--b--", "form-data"),
        (b"--b\r\nContent-Disposition form-data\r\n\r\n1\r\n--b--", "without a colon"),
        (b"--b\r\nContent-Disposition: form-data; name=\xff\r\n\r\n1\r\n--b--", "UTF-8"),
        (b"--b\r\nX: " + b"y" * 9000 + b"\r\n\r\n1\r\n--b--", "8 KiB"),
    ],
)
def test_malformed_bodies_are_a_400_with_a_code(body: bytes, why: str) -> None:
    with pytest.raises(BadRequest) as caught:
        multipart.parse(body, b"b", max_parts=10, max_field_bytes=100)
    assert caught.value.code == "submission.multipart_malformed"
    assert why in str(caught.value)


def test_too_many_parts_and_a_large_field_are_a_413() -> None:
    body = _body("b", [("x", None, None, b"1")] * 3, b"\r\n")
    with pytest.raises(PayloadTooLarge) as caught:
        multipart.parse(body, b"b", max_parts=2, max_field_bytes=100)
    assert caught.value.code == "submission.multipart_too_large"
    body = _body("b", [("x", None, None, b"1" * 101), ("f", "f.bin", None, b"2" * 500)], b"\r\n")
    with pytest.raises(PayloadTooLarge):
        multipart.parse(body, b"b", max_parts=10, max_field_bytes=100)
    # a file part may be larger than a field: only the body's limit applies to it
    body = _body("b", [("f", "f.bin", None, b"2" * 500)], b"\r\n")
    assert len(multipart.parse(body, b"b", max_parts=10, max_field_bytes=100)[0].data) == 500


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ("multipart/form-data; boundary=abc", b"abc"),
        ('multipart/form-data; boundary="a b:c"', b"a b:c"),
        ("Multipart/Form-Data; charset=utf-8; boundary=x", b"x"),
        ("text/xml", None),
        ("multipart/mixed; boundary=x", None),
        ("", None),
    ],
)
def test_the_boundary_is_read_from_the_content_type(
    content_type: str, boundary: bytes | None
) -> None:
    assert multipart.boundary_of(content_type) == boundary


def test_a_boundary_longer_than_the_rfc_allows_is_taken_as_clients_send_it() -> None:
    # werkzeug's test client (and some HTTP libraries) write boundaries over 70 characters
    boundary = "---------------WerkzeugFormPart_1765098123.4567891" + "2" * 30
    assert multipart.boundary_of(f"multipart/form-data; boundary={boundary}") == boundary.encode()
    body = _body(boundary, [("x", None, None, b"1")], b"\r\n")
    assert _ours(body, boundary) == [("x", None, None, b"1")]


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=" + "x" * 201,
        "multipart/form-data; boundary=\u00e9",
    ],
)
def test_a_multipart_type_without_a_usable_boundary_is_a_400(content_type: str) -> None:
    with pytest.raises(BadRequest) as caught:
        multipart.boundary_of(content_type)
    assert caught.value.code == "submission.multipart_malformed"
