"""Property-based fuzzing of the submission boundary: the XML part and the multipart body of
``POST /collect/.../submission`` (issue 10, "Done when": hypothesis at the XML and multipart
boundaries).

Every body is built around a real JavaRosa submission of the programme's registration form
(``tests/data/submissions/family_registration/seed1``), mutated, or replaced by random bytes,
re-encoded, nested deeply, given huge attributes or millions of elements; the multipart envelope
loses parts, renames them, doubles the XML part, gets odd content types and broken boundaries.

Whatever arrives, the server answers with an OpenRosa XML body and a status Collect understands:
201 (and then the submission really is stored, byte for byte) or a refusal in
:data:`REFUSALS` whose message carries the error's code — never a 5xx (the test app re-raises
unexpected exceptions, so a crash fails the test with its traceback) and never slowly.

Left out on purpose: chunked transfer encoding and slow clients (the WSGI server's business,
not the app's), and header fuzzing (User-Agent, ODK-Client: the boundary suite walks headers).
"""

from __future__ import annotations

import gc
import hashlib
import re
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import LargeBinary, select
from sqlalchemy.exc import DataError

from fieldapp.cases.models import CaseWork
from fieldapp.db import db
from fieldapp.forms import services as forms
from fieldapp.forms.models import Form
from fieldapp.submissions.models import SubmissionVersion
from fieldapp.submissions.parsing import parse_submission
from tests.openrosa.helpers import OPENROSA, _store, device_for

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests" / "data" / "submissions" / "family_registration" / "seed1"
BASE_XML = (SEED / "submission.xml").read_bytes()
PHOTO_NAME = "1795263429002.jpg"
PHOTO = (SEED / PHOTO_NAME).read_bytes()
BASE_INSTANCE = re.search(rb"<instanceID>([^<]+)</instanceID>", BASE_XML).group(1)  # type: ignore[union-attr]
LEAVES = sorted(set(re.findall(rb"<(\w+)>[^<]*</\1>", BASE_XML)) - {b"instanceID"})

RESPONSE_NS = "{http://openrosa.org/http/response}"
REFUSALS = {400, 401, 403, 404, 409, 413, 415, 422}
#: no single answer may cost more CPU (the hostile-input suite's bound: a quadratic parse shows
#: here whatever else the machine is doing) ...
SLOW = 2.0
#: ... nor wait longer on the clock (a hang: a lock, a read that never ends)
HANG = 10.0
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Phone:
    """A device-token phone that posts raw bodies and checks every answer."""

    def __init__(self, app: Any, token: str) -> None:
        self.client = app.test_client()
        self.url = f"/collect/key/{token}/submission?deviceID=collect:fuzz"

    def post(self, body: bytes, content_type: str | None) -> Any:
        headers = dict(OPENROSA)
        if content_type is not None:
            headers["Content-Type"] = content_type
        start, cpu = time.monotonic(), time.thread_time()
        response = self.client.post(self.url, data=body, headers=headers)
        elapsed, used = time.monotonic() - start, time.thread_time() - cpu
        assert used < SLOW, f"{used:.2f} s of CPU"
        assert elapsed < HANG, f"{elapsed:.2f} s"
        return response

    def send(self, parts: list[Part], *, boundary: str = "fuzzboundary") -> Any:
        return self.post(multipart(parts, boundary), f"multipart/form-data; boundary={boundary}")


Part = tuple[str, str | None, str | None, bytes]  # name, filename, content type, payload


def multipart(parts: list[Part], boundary: str) -> bytes:
    out = bytearray()
    for name, filename, content_type, payload in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if content_type is not None:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + payload + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def xml_part(xml: bytes, content_type: str | None = "text/xml") -> Part:
    return ("xml_submission_file", "submission.xml", content_type, xml)


def photo_part() -> Part:
    return (PHOTO_NAME, PHOTO_NAME, "image/jpeg", PHOTO)


def fresh(xml: bytes, instance: uuid.UUID) -> bytes:
    return xml.replace(BASE_INSTANCE, f"uuid:{instance}".encode())


def check(response: Any, sent_xml: bytes | None) -> int:
    """The answer is an OpenRosa body with an allowed status; a 201 stored ``sent_xml``."""
    status = int(response.status_code)
    assert status < 500, response.data[:500]
    assert status in REFUSALS | {201, 202}, (status, response.data[:500])
    assert response.mimetype == "text/xml"
    root = etree.fromstring(response.data)  # our own output: plain lxml is fine here
    assert root.tag == f"{RESPONSE_NS}OpenRosaResponse"
    message = root.find(f"{RESPONSE_NS}message")
    assert message is not None and (message.text or "").strip()
    if status in REFUSALS:
        assert message.get("nature") == "error"
        assert message.get("code"), response.data[:500]
    else:
        assert sent_xml is not None
        assert_stored(sent_xml)
    return status


def assert_stored(xml: bytes) -> None:
    parsed = parse_submission(xml)
    stored = db.session.scalars(
        select(SubmissionVersion)
        .join(Form, Form.id == SubmissionVersion.form_pk)
        .where(Form.form_id == parsed.form_id, SubmissionVersion.instance_id == parsed.instance_id)
    ).one()
    assert stored.xml_sha256 == hashlib.sha256(xml).hexdigest()


@pytest.fixture
def phone(app, make_user) -> Phone:
    for form_id in ("family_registration",):
        path = ROOT / "forms" / f"{form_id}.xlsx"
        forms.publish_file(
            path.read_bytes(),
            filename=path.name,
            actor=None,
            store=_store(),
            policy=forms.ValidationPolicy(mode="never"),
        )
    db.session.commit()
    worker = make_user("field_worker", regions=["north"])
    return Phone(app, device_for(worker))


def test_the_unmutated_seed_is_stored(phone: Phone) -> None:
    # the baseline every mutation starts from really is accepted
    xml = fresh(BASE_XML, uuid.uuid4())
    assert check(phone.send([xml_part(xml), photo_part()]), xml) == 201


# -- XML mutations ------------------------------------------------------------------------------


def _set(xml: bytes, leaf: bytes, text: bytes) -> bytes:
    pattern = re.compile(b"<" + leaf + b">[^<]*</" + leaf + b">")
    return pattern.sub(lambda _m: b"<" + leaf + b">" + text + b"</" + leaf + b">", xml, count=1)


def _escape(text: str) -> bytes:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode("utf-8")
    ).replace(b"\r", b"&#13;")


# XML 1.0 characters (no C0 controls but tab and newlines, no surrogates): answers as typed
XML_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), min_codepoint=0x20) | st.sampled_from("\t\n"),
    max_size=60,
)


@st.composite
def mutation(draw: st.DrawFn) -> Callable[[bytes], bytes]:
    kind = draw(
        st.sampled_from(
            [
                "answer",
                "raw_answer",
                "instance_id",
                "root_attribute",
                "flip",
                "delete",
                "insert",
                "truncate",
                "deep",
                "wide",
                "huge_attribute",
                "doctype",
                "entity",
            ]
        )
    )
    if kind == "answer":  # any text, escaped: well-formed, but perhaps not of the answer's type
        leaf, text = draw(st.sampled_from(LEAVES)), _escape(draw(XML_TEXT))
        return lambda x: _set(x, leaf, text)
    if kind == "raw_answer":  # not escaped: markup characters may break the document
        leaf, raw = draw(st.sampled_from(LEAVES)), draw(XML_TEXT).encode()
        return lambda x: x.replace(b"<%s>" % leaf, b"<%s>%s" % (leaf, raw), 1)
    if kind == "instance_id":
        new = _escape(draw(XML_TEXT | st.text("ab", min_size=250, max_size=300)))
        return lambda x: _set(x, b"instanceID", new)
    if kind == "root_attribute":
        attribute = draw(st.sampled_from([b"id", b"version"]))
        value = _escape(draw(XML_TEXT)).replace(b'"', b"&quot;")
        pattern = re.compile(rb"(<data [^>]*?\b" + attribute + rb'=")[^"]*"')
        return lambda x: pattern.sub(lambda m: m.group(1) + value + b'"', x, count=1)
    if kind == "flip":
        at, byte = draw(st.integers(0, len(BASE_XML) - 1)), draw(st.integers(0, 255))
        return lambda x: x[:at] + bytes([byte]) + x[at + 1 :]
    if kind == "delete":
        at, size = draw(st.integers(0, len(BASE_XML))), draw(st.integers(1, 200))
        return lambda x: x[:at] + x[at + size :]
    if kind == "insert":
        at, junk = draw(st.integers(0, len(BASE_XML))), draw(st.binary(min_size=1, max_size=40))
        return lambda x: x[:at] + junk + x[at:]
    if kind == "truncate":
        at = draw(st.integers(0, len(BASE_XML)))
        return lambda x: x[:at]
    if kind == "deep":
        depth = draw(st.sampled_from([10, 60, 70, 300, 5000, 200_000]))
        nest = b"<n>" * depth + b"</n>" * depth
        return lambda x: x.replace(b"<intro />", b"<intro>" + nest + b"</intro>", 1)
    if kind == "wide":
        count = draw(st.sampled_from([100, 10_000, 49_000, 60_000, 2_000_000]))
        return lambda x: x.replace(b"<intro />", b"<intro>" + b"<w/>" * count + b"</intro>", 1)
    if kind == "huge_attribute":
        size = draw(st.sampled_from([10, 100_000, 5_000_000, 11_000_000]))
        return lambda x: x.replace(b"<intro />", b'<intro a="' + b"x" * size + b'"/>', 1)
    if kind == "doctype":
        return lambda x: x.replace(b"?>", b'?><!DOCTYPE data [<!ENTITY e "boom">]>', 1)
    # entity: an undefined entity reference, or a character reference to a forbidden character
    ref = draw(st.sampled_from([b"&e;", b"&#0;", b"&#xD800;", b"&#x1F600;", b"&amp;", b"&#1;"]))
    return lambda x: x.replace(b"<settlement>", b"<settlement>" + ref, 1)


@FUZZ
@given(instance=st.uuids(), mutations=st.lists(mutation(), min_size=1, max_size=3))
def test_mutated_submission_xml(phone: Phone, instance: uuid.UUID, mutations: list[Any]) -> None:
    xml = fresh(BASE_XML, instance)
    for mutate in mutations:
        xml = mutate(xml)
    check(phone.send([xml_part(xml), photo_part()]), xml)


@FUZZ
@given(body=st.binary(max_size=3000))
def test_random_bytes_as_the_xml_part(phone: Phone, body: bytes) -> None:
    check(phone.send([xml_part(body)]), body)


ENCODINGS = [
    "utf-8",
    "utf-8-sig",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "latin-1",
    "cp1251",
    "koi8-r",
    "ascii",
]


@FUZZ
@given(
    instance=st.uuids(),
    settlement=XML_TEXT,
    encoding=st.sampled_from(ENCODINGS),
    declared=st.sampled_from(
        [None, "UTF-8", "UTF-16", "windows-1251", "ISO-8859-1", "KOI8-R", "bogus"]
    ),
)
def test_submissions_in_other_encodings(
    phone: Phone, instance: uuid.UUID, settlement: str, encoding: str, declared: str | None
) -> None:
    # UTF-16/32 on PostgreSQL: see test_a_utf16_submission_is_stored_as_sent
    assume(not (_wide_xml_fails() and encoding in WIDE_ENCODINGS))
    text = fresh(BASE_XML, instance).decode("utf-8")
    text = text.replace("hotel november", _escape(settlement).decode("utf-8"), 1)
    declaration = "" if declared is None else f"<?xml version='1.0' encoding='{declared}' ?>"
    text = re.sub(r"^<\?xml[^>]*\?>", declaration, text)
    try:
        xml = text.encode(encoding)
    except UnicodeEncodeError:
        xml = text.encode(encoding, errors="xmlcharrefreplace")
    check(phone.send([xml_part(xml), photo_part()]), xml)


WIDE_ENCODINGS = {"utf-16", "utf-16-le", "utf-16-be", "utf-32"}


def _wide_xml_fails() -> bool:
    """Whether UTF-16/32 XML cannot be stored yet: on PostgreSQL while the XML column is text
    (decoded as UTF-8, such bytes hold NUL characters, which PostgreSQL refuses). Storing the
    exact bytes received (issue 10 item 11, another branch: a binary column) ends it, and then
    these cases run in full without a change here."""
    assert db.engine is not None
    text_column = not isinstance(SubmissionVersion.__table__.c.xml.type, LargeBinary)
    return db.engine.dialect.name == "postgresql" and text_column


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_a_utf16_submission_is_stored_as_sent(
    request: pytest.FixtureRequest, phone: Phone, encoding: str
) -> None:
    if _wide_xml_fails():
        request.applymarker(
            pytest.mark.xfail(
                reason="UTF-16/32 XML is stored as text (issue 10 item 11)",
                raises=DataError,
                strict=True,
            )
        )
    xml = fresh(BASE_XML, uuid.uuid4()).decode().replace("UTF-8", encoding.upper()).encode(encoding)
    assert check(phone.send([xml_part(xml), photo_part()]), xml) == 201


# -- multipart envelopes ------------------------------------------------------------------------

PART_NAMES = st.sampled_from(
    [
        "xml_submission_file",
        "XML_SUBMISSION_FILE",
        "xml_submission_file ",
        "xml",
        "",
        PHOTO_NAME,
        "файл.jpg",
        'a"b',
        "*isIncomplete*",
    ]
)
CONTENT_TYPES = st.sampled_from(
    [
        None,
        "text/xml",
        "application/xml",
        "",
        "image/jpeg",
        "application/octet-stream",
        "text/xml; charset=koi8-r",
        "x" * 300,
        "a/b\x7f",
        'text/html; charset="',
        'image/jpeg; name="' + "y" * 200 + '"',
    ]
)


@st.composite
def part(draw: st.DrawFn, xml: bytes) -> Part:
    payload = draw(st.sampled_from([xml, PHOTO, b"", b"yes"]) | st.binary(max_size=200))
    filename = draw(
        st.sampled_from([None, "submission.xml", PHOTO_NAME, "", "../../etc/passwd", "ф.xml"])
    )
    return (draw(PART_NAMES), filename, draw(CONTENT_TYPES), payload)


@FUZZ
@given(instance=st.uuids(), data=st.data())
def test_multipart_parts(phone: Phone, instance: uuid.UUID, data: st.DataObject) -> None:
    xml = fresh(BASE_XML, instance)
    parts = data.draw(st.lists(part(xml), max_size=5))
    if data.draw(st.booleans()):  # often a proper XML part among them, sometimes twice
        copies = data.draw(st.integers(1, 2))
        parts = [xml_part(xml, data.draw(CONTENT_TYPES)) for _ in range(copies)] + parts
    response = phone.send(parts)
    xml_parts = [p for p in parts if p[0] == "xml_submission_file"]
    check(response, xml_parts[0][3] if len(xml_parts) == 1 else None)
    if len(xml_parts) > 1:
        assert response.status_code == 400


@FUZZ
@given(
    instance=st.uuids(),
    boundary=st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80
    ),
    header=st.sampled_from(
        ["same", "other", "missing", "quoted", "empty", "mixed", "urlencoded", "xml", "none"]
    ),
    framing=st.sampled_from(["ok", "no_end", "no_blank_line", "garbage_first", "lf_only", "cut"]),
    cut=st.integers(0, 4000),
)
def test_broken_boundaries_and_envelopes(
    phone: Phone,
    instance: uuid.UUID,
    boundary: str,
    header: str,
    framing: str,
    cut: int,
) -> None:
    xml = fresh(BASE_XML, instance)
    body = multipart([xml_part(xml), photo_part()], boundary)
    if framing == "no_end":
        body = body[: body.rindex(b"--" + boundary.encode() + b"--")]
    elif framing == "no_blank_line":
        body = body.replace(b"text/xml\r\n\r\n", b"text/xml\r\n", 1)
    elif framing == "garbage_first":
        body = b"\x00garbage\r\n" + body
    elif framing == "lf_only":
        body = body.replace(b"\r\n", b"\n")
    elif framing == "cut":
        body = body[:cut]
    content_type = {
        "same": f"multipart/form-data; boundary={boundary}",
        "other": "multipart/form-data; boundary=somethingelse",
        "missing": "multipart/form-data",
        "quoted": f'multipart/form-data; boundary="{boundary}"',
        "empty": "multipart/form-data; boundary=",
        "mixed": f"multipart/mixed; boundary={boundary}",
        "urlencoded": "application/x-www-form-urlencoded",
        "xml": "text/xml",
        "none": None,
    }[header]
    check(phone.post(body, content_type), xml)  # a 201 (a boundary still readable) stored it


def test_a_second_xml_part_is_refused(phone: Phone) -> None:
    first, second = fresh(BASE_XML, uuid.uuid4()), fresh(BASE_XML, uuid.uuid4())
    response = phone.send([xml_part(first), xml_part(second)])
    assert check(response, None) == 400
    assert b'code="submission.xml_part_duplicate"' in response.data


def test_an_overlong_content_type_is_stored_as_unknown(phone: Phone) -> None:
    xml = fresh(BASE_XML, uuid.uuid4())
    odd = (PHOTO_NAME, PHOTO_NAME, "image/" + "x" * 200, PHOTO)
    assert check(phone.send([xml_part(xml), odd]), xml) == 201
    version = db.session.scalars(
        select(SubmissionVersion).where(
            SubmissionVersion.xml_sha256 == hashlib.sha256(xml).hexdigest()
        )
    ).one()
    (attachment,) = version.attachments
    assert attachment.blob_sha256 is not None and attachment.content_type is None


def test_an_overlong_instance_id_is_a_400(phone: Phone) -> None:
    xml = BASE_XML.replace(BASE_INSTANCE, b"uuid:" + b"a" * 300)
    response = phone.send([xml_part(xml)])
    assert check(response, None) == 400
    assert b'code="submission.instance_id_too_long"' in response.data


def test_a_cut_off_multipart_body_leaves_no_open_temporary_file(phone: Phone) -> None:
    xml = fresh(BASE_XML, uuid.uuid4())
    body = multipart([xml_part(xml), photo_part()], "cut")
    response = phone.post(body[: len(body) // 2], "multipart/form-data; boundary=cut")
    assert check(response, None) == 400
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_an_overlong_entity_list_name_is_case_work_in_error_not_a_500(phone: Phone) -> None:
    xml = fresh(BASE_XML, uuid.uuid4()).replace(
        b'dataset="households"', b'dataset="' + b"h" * 300 + b'"', 1
    )
    assert check(phone.send([xml_part(xml), photo_part()]), xml) == 201
    errors = db.session.scalars(select(CaseWork).where(CaseWork.state == "error")).all()
    assert [len(w.dataset) for w in errors] == [255]
