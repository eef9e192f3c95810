"""Pure parsing of submission XML: identity, expected attachments, structured data, display.

Nothing here touches the database or Flask. Every document goes through
:func:`fieldapp.xmlsafe.parse_xml` first.

* :func:`parse_submission` reads what the server needs to route and store a submission, with the
  rules of ODK Central's ``Submission.fromXml``: form id and version from the root attributes,
  ``meta/instanceID`` (any namespace) or the root ``instanceID`` attribute, ``deprecatedID``,
  ``instanceName`` and the encrypted envelope. Unlike Central, a submission without an instance
  id is refused instead of given an invented one (an invented id turns every retry into a
  duplicate).
* :func:`expected_attachments` lists the file names the submission refers to, which are the only
  multipart parts worth keeping.
* :func:`submission_data` turns the instance into JSON-ready data shaped by the form's field tree.
* :func:`describe` turns that data into labelled items for people to read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from lxml import etree

from fieldapp.errors import BadRequest
from fieldapp.forms.xform import Choice, Field
from fieldapp.xmlsafe import DEFAULT_MAX_BYTES, XmlError, parse_xml

#: most elements in a submission unless the caller says otherwise (config
#: ``SUBMISSION_XML_MAX_ELEMENTS``); counted while parsing, so a bigger document costs little
DEFAULT_MAX_ELEMENTS = 50_000

__all__ = [
    "ENCRYPTED_NS",
    "EXPECTED_TEXT",
    "DisplayItem",
    "ParsedSubmission",
    "SubmissionInvalid",
    "SubmissionXmlInvalid",
    "describe",
    "expected_attachments",
    "invalid_answers",
    "parse_submission",
    "submission_data",
]

ENCRYPTED_NS = "http://www.opendatakit.org/xforms/encrypted"
_JR_TEMPLATE = "{http://openrosa.org/javarosa}template"
_ENTITY_ATTRIBUTES = (
    "dataset",
    "id",
    "create",
    "update",
    "baseVersion",
    "trunkVersion",
    "branchId",
)

# at most 19 digits: enough for any 64-bit integer, and Python refuses to convert strings of
# more than 4,300 digits (a ValueError that would become a 500)
_INT = re.compile(r"[+-]?[0-9]{1,19}", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_INT_TYPES = frozenset({"int", "integer", "long", "short"})
_DECIMAL_TYPES = frozenset({"decimal", "double", "float"})
#: the longest instanceID (and deprecatedID) accepted: the width of their columns
MAX_INSTANCE_ID_LENGTH = 255
_UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")
_MAX_NAME_LENGTH = 255


class SubmissionInvalid(BadRequest):
    """The submission cannot be accepted as it is (400).

    The code is ``submission.invalid`` unless a more specific one applies:
    ``submission.form_id_missing``, ``submission.instance_id_missing``,
    ``submission.instance_id_too_long`` or ``submission.xml_invalid``.
    """

    code = "submission.invalid"


class SubmissionXmlInvalid(SubmissionInvalid, XmlError):
    """The submission is not safe, well-formed XML (code ``submission.xml_invalid``).

    It is both a :class:`SubmissionInvalid` and an :class:`~fieldapp.xmlsafe.XmlError`; it keeps
    the status of the XML error (413 for a document that is too large) and its code in
    ``details["xml_code"]``.
    """

    code = "submission.xml_invalid"


@dataclass(frozen=True, slots=True)
class ParsedSubmission:
    """What the server reads out of a submission before it looks at the answers.

    :param form_id: the root element's ``id`` attribute.
    :param version: the root element's ``version`` attribute; ``""`` when it has none.
    :param instance_id: ``meta/instanceID`` (or the root ``instanceID`` attribute), such as
        ``uuid:6b1f3c2a-...``.
    :param deprecated_id: ``meta/deprecatedID``: the instance id this submission edits.
    :param instance_name: ``meta/instanceName``.
    :param encrypted: the document is an encrypted envelope; the answers are in
        :attr:`encrypted_xml_file`.
    :param encrypted_key: the envelope's ``base64EncryptedKey``.
    :param encrypted_signature: the envelope's ``base64EncryptedElementSignature``.
    :param encrypted_media: the envelope's ``<media><file>`` names, in order.
    :param encrypted_xml_file: the envelope's ``encryptedXmlFile`` (``submission.xml.enc``).
    """

    form_id: str
    version: str
    instance_id: str
    deprecated_id: str | None
    instance_name: str | None
    encrypted: bool
    encrypted_key: str | None
    encrypted_signature: str | None
    encrypted_media: tuple[str, ...]
    encrypted_xml_file: str | None


@dataclass(frozen=True, slots=True)
class DisplayItem:
    """One answer, group or repeat as a person reads it.

    :param path: the field's path in the form (``/data/children/child_name``), without
        repeat positions.
    :param name: the element name.
    :param label: the label in the chosen language (or a fallback, at worst the name).
    :param kind: the field's kind (``input``, ``select_one``, ``group``...); ``unknown`` for
        data the form does not describe.
    :param data_type: the field's bind type.
    :param value: the typed value from :func:`submission_data`.
    :param display: the value as text: choice labels for selects (joined with ``", "``),
        ``yes``/``no`` for booleans, ``lat, lon`` for points, ``""`` for no value.
    :param children: the items of a group.
    :param instances: the items of each instance of a repeat.
    :param invalid: the type the answer should have had (``date``, ``select_one``...) when it
        does not parse as it (see :func:`invalid_answers`); ``None`` for a valid answer.
    """

    path: str
    name: str
    label: str
    kind: str
    data_type: str | None
    value: Any
    display: str
    children: tuple[DisplayItem, ...] = ()
    instances: tuple[tuple[DisplayItem, ...], ...] = ()
    invalid: str | None = None


# -- identity --------------------------------------------------------------------------------


def _local(element: etree._Element) -> str:
    # the parser keeps elements only (no comments, PIs or entities), so the tag is a string
    return str(element.tag).rpartition("}")[2]


def _elements(element: etree._Element) -> Iterable[etree._Element]:
    return element.iterchildren(etree.Element)


def _child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None
    return next((c for c in _elements(element) if _local(c) == name), None)


def _text(element: etree._Element | None) -> str | None:
    """The stripped text of an element; ``None`` when absent or blank."""
    if element is None:
        return None
    text = (element.text or "").strip()
    return text or None


def _parse_root(
    xml: bytes, max_bytes: int = DEFAULT_MAX_BYTES, max_elements: int = DEFAULT_MAX_ELEMENTS
) -> etree._Element:
    try:
        return parse_xml(xml, max_bytes=max_bytes, max_elements=max_elements)
    except XmlError as err:
        raise SubmissionXmlInvalid(
            "The submission is not acceptable XML. %(problem)s",
            http_status=err.http_status,
            params={"problem": err.message},
            details={"xml_code": err.code},
        ) from err


def _is_envelope(root: etree._Element) -> bool:
    flag = (root.get("encrypted") or "").strip().lower()
    return etree.QName(root).namespace == ENCRYPTED_NS or flag in {"yes", "true"}


def _named(element: etree._Element, name: str) -> list[etree._Element]:
    """The child elements named ``name`` in any namespace (or none); lxml filters in C, so a
    document with many other children costs little here."""
    return list(element.iterchildren(f"{{*}}{name}"))


def _meta_value(metas: Sequence[etree._Element], name: str) -> str | None:
    """``meta/<name>`` in any namespace (``orx:meta`` or ``meta``): the first with a value."""
    for meta in metas:
        value = _text(_child(meta, name))
        if value is not None:
            return value
    return None


def parse_submission(
    xml: bytes,
    *,
    max_bytes: int = 10 * 1024 * 1024,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> ParsedSubmission:
    """Read a submission's identity, following ODK Central's ``Submission.fromXml``.

    :param xml: the ``xml_submission_file`` part.
    :param max_bytes: the largest document accepted.
    :param max_elements: the most elements accepted (more is a 413, found while parsing).
    :return: form id, version, instance ids, instance name and the encrypted envelope, if any.
    :raises SubmissionXmlInvalid: the body is empty, not well-formed, too large or with too
        many elements (413), too deep, or carries a DOCTYPE (code ``submission.xml_invalid``;
        also an ``XmlError``; the XML error's own code in ``details["xml_code"]``).
    :raises SubmissionInvalid: the root has no ``id`` attribute (``submission.form_id_missing``)
        or there is no ``meta/instanceID`` (``submission.instance_id_missing``), or it or
        ``meta/deprecatedID`` is longer than :data:`MAX_INSTANCE_ID_LENGTH`
        (``submission.instance_id_too_long``).
    """
    return read_identity(_parse_root(xml, max_bytes, max_elements))


def parse_tree(
    xml: bytes,
    *,
    max_bytes: int = 10 * 1024 * 1024,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> etree._Element:
    """The submission's document, parsed once with the hardened parser, for callers that need
    its identity, attachments and data (pass it on as ``root=``).

    :raises SubmissionXmlInvalid: see :func:`parse_submission`.
    """
    return _parse_root(xml, max_bytes, max_elements)


def read_identity(root: etree._Element) -> ParsedSubmission:
    """:func:`parse_submission` on an already parsed document."""
    form_id = (root.get("id") or "").strip()
    if not form_id:
        raise SubmissionInvalid(
            "Required parameter form ID xml attribute missing: the root element of the "
            "submission must carry the form's id, as in <data id='my_form'>.",
            code="submission.form_id_missing",
        )
    metas = _named(root, "meta")
    instance_id = _meta_value(metas, "instanceID") or (root.get("instanceID") or "").strip()
    if not instance_id:
        raise SubmissionInvalid(
            "The submission has no instance ID. fieldapp needs meta/instanceID to recognise a "
            "submission that is sent again: add the instanceID metadata field to the form's "
            "meta group (XLSForm and ODK Collect add it by default).",
            code="submission.instance_id_missing",
        )
    deprecated_id = _meta_value(metas, "deprecatedID")
    for what, value in (("instanceID", instance_id), ("deprecatedID", deprecated_id or "")):
        if len(value) > MAX_INSTANCE_ID_LENGTH:
            raise SubmissionInvalid(
                "The submission's %(what)s is %(length)s characters long; at "
                "most %(max)s are accepted (Collect's are 41, "
                "uuid:...).",
                code="submission.instance_id_too_long",
                params={
                    "what": what,
                    "length": format(len(value), ","),
                    "max": MAX_INSTANCE_ID_LENGTH,
                },
            )
    encrypted = _is_envelope(root)
    media: tuple[str, ...] = ()
    if encrypted:
        media = tuple(
            name
            for parent in _named(root, "media")
            for file in _elements(parent)
            if _local(file) == "file" and (name := _text(file)) is not None
        )

    def first(name: str) -> str | None:
        found = next(root.iterchildren(f"{{*}}{name}"), None) if encrypted else None
        return _text(found)

    return ParsedSubmission(
        form_id=form_id,
        version=(root.get("version") or "").strip(),
        instance_id=instance_id,
        deprecated_id=deprecated_id,
        instance_name=_meta_value(metas, "instanceName"),
        encrypted=encrypted,
        encrypted_key=first("base64EncryptedKey"),
        encrypted_signature=first("base64EncryptedElementSignature"),
        encrypted_media=media,
        encrypted_xml_file=first("encryptedXmlFile"),
    )


# -- attachments -----------------------------------------------------------------------------


def _plain_file_name(value: str | None) -> str | None:
    name = (value or "").strip()
    if not name or ".." in name or len(name) > _MAX_NAME_LENGTH or _UNSAFE_NAME.search(name):
        return None
    return name


def _is_binary(item: Field) -> bool:
    return item.data_type == "binary" or item.kind == "upload"


def _relative_paths(
    fields: Iterable[Field], predicate: Callable[[Field], bool]
) -> set[tuple[str, ...]]:
    """Paths below the root (``("consent", "signature")``) of the fields matching ``predicate``."""
    out: set[tuple[str, ...]] = set()
    stack = list(fields)
    while stack:
        item = stack.pop()
        if predicate(item):
            out.add(tuple(item.path.strip("/").split("/")[1:]))
        stack.extend(item.children)
    return out


def expected_attachments(
    xml: bytes,
    fields: Sequence[Field],
    *,
    parsed: ParsedSubmission | None = None,
    root: etree._Element | None = None,
) -> tuple[str, ...]:
    """The file names the submission refers to: the attachments the server should keep.

    For an ordinary submission these are the values of every binary field (bind type
    ``binary`` or an ``upload`` control) at any depth and in every repeat instance; for an
    encrypted envelope, its ``<media><file>`` names and then its ``encryptedXmlFile``. Names are
    deduplicated in document order; values that are not plain file names (with ``/``, ``\\``,
    ``..`` or control characters) are ignored.

    :param xml: the submission XML.
    :param fields: the field tree of the form version it belongs to.
    :param parsed: the result of :func:`parse_submission`, if already at hand.
    :param root: the document from :func:`parse_tree`, if already at hand.
    :return: the file names.
    :raises SubmissionInvalid: see :func:`parse_submission`.
    """
    if parsed is None:
        parsed = read_identity(root) if root is not None else parse_submission(xml)
    names: list[str | None]
    if parsed.encrypted:
        names = [*parsed.encrypted_media, parsed.encrypted_xml_file]
    else:
        binaries = _relative_paths(fields, _is_binary)
        # only groups and repeats on the way to a binary field are entered: the walk visits
        # the elements the form puts there, not the whole document
        prefixes = {path[:i] for path in binaries for i in range(1, len(path))}
        names = []
        if root is None:
            root = _parse_root(xml)

        def walk(element: etree._Element, path: tuple[str, ...]) -> None:
            for child in _elements(element):
                child_path = (*path, _local(child))
                if child_path in binaries:
                    if child.get(_JR_TEMPLATE) is None:
                        names.append(child.text)
                elif child_path in prefixes and child.get(_JR_TEMPLATE) is None:
                    walk(child, child_path)

        if binaries:
            walk(root, ())
    out: dict[str, None] = {}
    for value in names:
        name = _plain_file_name(value)
        if name is not None:
            out.setdefault(name)
    return tuple(out)


# -- data ------------------------------------------------------------------------------------


def _number(text: str, data_type: str) -> Any:
    value = text.strip()
    if data_type in _INT_TYPES:
        return int(value) if _INT.fullmatch(value) else text
    if _DECIMAL.fullmatch(value):
        number = float(value)
        if math.isfinite(number):
            return number
    return text


def _geopoint(text: str) -> Any:
    parts = text.split()
    if not 2 <= len(parts) <= 4 or not all(_DECIMAL.fullmatch(p) for p in parts):
        return text
    numbers = [float(p) for p in parts]
    if not all(math.isfinite(n) for n in numbers):
        return text
    if not (-90 <= numbers[0] <= 90 and -180 <= numbers[1] <= 180):
        return text
    numbers.extend([math.nan] * (4 - len(numbers)))
    latitude, longitude, altitude, accuracy = numbers
    return {
        "latitude": latitude,
        "longitude": longitude,
        "altitude": None if math.isnan(altitude) else altitude,
        "accuracy": None if math.isnan(accuracy) else accuracy,
    }


def _typed(text: str | None, item: Field) -> Any:
    """A leaf's value typed after its field; anything that does not parse stays a string."""
    if text is None or not text.strip():
        return None
    data_type = item.data_type or "string"
    if item.kind == "select_multiple" or data_type == "select":
        return text.split()
    if data_type in _INT_TYPES or data_type in _DECIMAL_TYPES:
        return _number(text, data_type)
    if data_type == "boolean":
        flag = text.strip().lower()
        if flag in {"true", "1"}:
            return True
        if flag in {"false", "0"}:
            return False
        return text
    if data_type == "geopoint":
        return _geopoint(text)
    return text


def _entity(element: etree._Element) -> dict[str, Any]:
    entity: dict[str, Any] = {}
    for name in _ENTITY_ATTRIBUTES:
        value = (element.get(name) or "").strip()
        entity[name] = value or None
    label = _child(element, "label")
    entity["label"] = (label.text or None) if label is not None else None
    return entity


def _unknown(element: etree._Element) -> Any:
    """Data the field tree does not describe: text as a string, nested elements as dicts."""
    if not len(element):
        return element.text or None
    return _container(element, ())


def _empty(item: Field) -> Any:
    if item.kind == "repeat":
        return []
    if item.kind == "group":
        return {child.name: _empty(child) for child in item.children}
    return None


def _container(element: etree._Element, fields: Sequence[Field]) -> dict[str, Any]:
    """The data of a group, a repeat instance or the root, keyed by element name."""
    by_name: dict[str, list[etree._Element]] = {}
    for child in _elements(element):
        if child.get(_JR_TEMPLATE) is None:
            by_name.setdefault(_local(child), []).append(child)
    in_meta = _local(element) == "meta"
    out: dict[str, Any] = {}
    for item in fields:
        found = by_name.pop(item.name, [])
        if item.kind == "repeat":
            out[item.name] = [_container(e, item.children) for e in found]
        elif not found:
            out[item.name] = _empty(item)
        elif item.kind == "group" or item.children:
            out[item.name] = _container(found[0], item.children)
        else:
            out[item.name] = _typed(found[0].text, item)
    for name, found in by_name.items():
        if in_meta and name == "entity":
            out[name] = _entity(found[0])
        else:
            values = [_unknown(e) for e in found]
            out[name] = values[0] if len(values) == 1 else values
    return out


def submission_data(
    xml: bytes, fields: Sequence[Field], *, root: etree._Element | None = None
) -> dict[str, Any]:
    """The submission's answers as JSON-ready data shaped by the form's field tree.

    Groups become dicts keyed by field name, repeats lists of dicts (one per instance, the
    ``jr:template`` copy left out). Leaves are typed from the bind type: ``int`` to int,
    ``decimal`` to float, ``boolean`` to bool, select multiple to a list of values, ``geopoint``
    to ``{"latitude", "longitude", "altitude", "accuracy"}``, everything else to the text.
    Empty elements, and fields the submission does not have (not relevant when it was filled),
    are ``None`` (``[]`` for a repeat). A value that does not parse as its type stays a string.
    Elements the field tree does not know (from another form version) are kept under their name,
    as strings (dicts when they have children, lists when repeated). ``meta`` holds
    ``instanceID``, ``instanceName``, ``deprecatedID``..., and each ``meta/entity`` block becomes
    ``{"dataset", "id", "create", "update", "baseVersion", "trunkVersion", "branchId", "label"}``
    under the ``meta`` of the group or repeat instance where it sits.

    :param xml: the submission XML.
    :param fields: the field tree of the form version it belongs to.
    :param root: the document from :func:`parse_tree`, if already at hand.
    :return: the data; ``{}`` for an encrypted envelope, which the server cannot read.
    :raises SubmissionXmlInvalid: the document is not safe, well-formed XML.
    """
    if root is None:
        root = _parse_root(xml)
    if _is_envelope(root):
        return {}
    return _container(root, fields)


# -- answer types ----------------------------------------------------------------------------

#: what each expected type means, for the people who read a flagged answer
EXPECTED_TEXT: dict[str, str] = {
    "int": "a whole number",
    "decimal": "a number",
    "boolean": "true or false",
    "date": "a date (YYYY-MM-DD)",
    "dateTime": "a date and time (YYYY-MM-DDThh:mm:ss with a time zone)",
    "time": "a time (hh:mm:ss)",
    "geopoint": "a location (latitude longitude [altitude accuracy])",
    "geotrace": "a line of locations separated by ;",
    "geoshape": "a shape of locations separated by ;",
    "select_one": "one of the question's choices",
    "select_multiple": "some of the question's choices",
    "rank": "the question's choices in order",
}

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)
_TIME = re.compile(
    r"([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,9})?)?(Z|[+-]([0-9]{2})(?::?([0-9]{2}))?)?",
    re.ASCII,
)
_INT32 = 2**31
_INT64 = 2**63


def _is_date(text: str) -> bool:
    found = _DATE.fullmatch(text)
    if found is None:
        return False
    try:
        date(*(int(g) for g in found.groups()))
    except ValueError:
        return False
    return True


def _is_time(text: str) -> bool:
    found = _TIME.fullmatch(text)
    if found is None:
        return False
    hour, minute, second, _zone, zone_hour, zone_minute = found.groups()
    return (
        int(hour) < 24
        and int(minute) < 60
        and int(second or 0) < 61  # a leap second
        and int(zone_hour or 0) <= 14
        and int(zone_minute or 0) < 60
    )


def _is_date_time(text: str) -> bool:
    day, sep, clock = text.partition("T")
    return bool(sep) and _is_date(day) and _is_time(clock)


def _is_points(text: str) -> bool:
    points = [p for p in text.split(";") if p.strip()]
    return bool(points) and all(isinstance(_geopoint(p), dict) for p in points)


def _static_choices(item: Field) -> frozenset[str] | None:
    """The values a select may take, when the form lists them itself.

    ``None`` when they come from elsewhere: a file (``select_one_from_file``, a case list), the
    form's own repeat, or a ``search()`` appearance (choices looked up in a CSV on the phone).
    """
    if item.choices is None or item.choices_from is not None or not item.choices:
        return None
    if "search(" in (item.appearance or ""):
        return None
    return frozenset(c.value for c in item.choices)


def _mismatch(value: Any, item: Field) -> str | None:
    """The type a leaf's typed value (from :func:`_typed`) should have had, or ``None`` when it
    has it (or there is nothing to check: no answer, text, files, barcodes...)."""
    if value is None:
        return None
    data_type = item.data_type or "string"
    if item.kind in {"select_one", "select_multiple", "rank"}:
        allowed = _static_choices(item)
        if allowed is None:
            return None
        values = value if isinstance(value, list) else str(value).split()
        if item.kind == "select_one" and len(values) != 1:
            return item.kind
        return None if all(str(v) in allowed for v in values) else item.kind
    if data_type in _INT_TYPES:
        bound = _INT64 if data_type == "long" else _INT32
        ok = isinstance(value, int) and not isinstance(value, bool) and -bound <= value < bound
        return None if ok else "int"
    if data_type in _DECIMAL_TYPES:
        return None if isinstance(value, float) else "decimal"
    if data_type == "boolean":
        return None if isinstance(value, bool) else "boolean"
    if data_type == "geopoint":
        return None if isinstance(value, dict) else "geopoint"
    if not isinstance(value, str):
        return None
    text = value.strip()
    checks: dict[str, Callable[[str], bool]] = {
        "date": _is_date,
        "dateTime": _is_date_time,
        "time": _is_time,
        "geotrace": _is_points,
        "geoshape": _is_points,
    }
    check = checks.get(data_type)
    return data_type if check is not None and not check(text) else None


def invalid_answers(data: Mapping[str, Any], fields: Sequence[Field]) -> list[dict[str, str]]:
    """The answers that do not parse as their field's type.

    Checked: whole numbers (``int``, within 32 bits; ``long`` within 64), decimals, booleans,
    dates, times, date-times, geopoints, geotraces and geoshapes, and selects and ranks against
    their choices when the form lists them itself (not ``select_one_from_file``, case lists or
    ``search()``). Text, barcodes, files and data the form does not describe are not checked.
    Such answers are kept as sent; the server flags them and never copies them to a case.

    :param data: the result of :func:`submission_data`.
    :param fields: the field tree of the form version.
    :return: ``{"path", "field", "expected"}`` per flagged answer, in the form's order:
        ``path`` with repeat positions (``/data/children[2]/dob``, counted from 1), ``field``
        the field's path (``/data/children/dob``), ``expected`` the type (a key of
        :data:`EXPECTED_TEXT`).
    """
    out: list[dict[str, str]] = []

    def walk(container: Mapping[str, Any], items: Sequence[Field], at: str) -> None:
        for item in items:
            value = container.get(item.name)
            if item.kind == "repeat":
                entries = value if isinstance(value, list) else []
                for position, entry in enumerate(entries, start=1):
                    if isinstance(entry, Mapping):
                        walk(entry, item.children, f"{at}/{item.name}[{position}]")
            elif item.kind == "group" or item.children:
                if isinstance(value, Mapping):
                    walk(value, item.children, f"{at}/{item.name}")
            else:
                expected = _mismatch(value, item)
                if expected is not None:
                    out.append(
                        {"path": f"{at}/{item.name}", "field": item.path, "expected": expected}
                    )

    root = fields[0].path.rsplit("/", 1)[0] if fields else ""
    walk(data, fields, root)
    return out


# -- display ---------------------------------------------------------------------------------


def _language_key(labels: Mapping[str, str], language: str | None) -> str | None:
    """The key of ``labels`` for ``language``: exact, or the code in ``"Русский (ru)"``."""
    if not language:
        return None
    if language in labels:
        return language
    wanted = language.strip().lower()
    for key in labels:
        lowered = key.strip().lower()
        if lowered == wanted or lowered.endswith(f"({wanted})"):
            return key
    return None


def _present(text: str | None) -> bool:
    """A label worth showing: not blank, and not pyxform's ``-`` for a missing translation."""
    return text is not None and text.strip() not in {"", "-"}


def _pick(
    labels: Mapping[str, str], language: str | None, default_language: str | None
) -> str | None:
    for choice in (language, default_language):
        key = _language_key(labels, choice)
        if key is not None and _present(labels[key]):
            return labels[key]
    if _present(labels.get("")):
        return labels[""]
    return next((text for text in labels.values() if _present(text)), None)


def _choice_label(
    choices: tuple[Choice, ...] | None,
    value: str,
    language: str | None,
    default_language: str | None,
) -> str:
    for choice in choices or ():
        if choice.value == value:
            return _pick(choice.labels, language, default_language) or value
    return value


def _display(
    value: Any, item: Field | None, language: str | None, default_language: str | None
) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict) and "latitude" in value and "longitude" in value:
        return f"{value['latitude']}, {value['longitude']}"
    if item is not None and item.kind in {"select_one", "select_multiple"}:
        values = value if isinstance(value, list) else [value]
        return ", ".join(
            _choice_label(item.choices, str(v), language, default_language) for v in values
        )
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _skip(item: Field, value: Any) -> bool:
    if item.kind == "note" or item.name in {"meta", "entity"}:
        return True
    return item.kind in {"calculate", "hidden"} and value in (None, "", [])


def _items(
    data: Mapping[str, Any],
    fields: Sequence[Field],
    parent: str,
    language: str | None,
    default_language: str | None,
    *,
    invalid: Mapping[str, str] | None = None,
    at: str | None = None,
) -> tuple[DisplayItem, ...]:
    """``at``: ``parent`` with repeat positions, as the paths of :func:`invalid_answers`."""
    out: list[DisplayItem] = []
    known = {item.name for item in fields}
    flags = invalid or {}
    at = parent if at is None else at
    for item in fields:
        value = data.get(item.name)
        if _skip(item, value):
            continue
        label = _pick(item.labels, language, default_language) or item.name
        if item.kind == "repeat":
            instances = tuple(
                _items(
                    entry,
                    item.children,
                    item.path,
                    language,
                    default_language,
                    invalid=flags,
                    at=f"{at}/{item.name}[{position}]",
                )
                for position, entry in enumerate(value if isinstance(value, list) else [], 1)
                if isinstance(entry, Mapping)
            )
            out.append(
                DisplayItem(
                    path=item.path,
                    name=item.name,
                    label=label,
                    kind=item.kind,
                    data_type=item.data_type,
                    value=value,
                    display="",
                    instances=instances,
                )
            )
        elif item.kind == "group" or item.children:
            children = _items(
                value if isinstance(value, Mapping) else {},
                item.children,
                item.path,
                language,
                default_language,
                invalid=flags,
                at=f"{at}/{item.name}",
            )
            if children:
                out.append(
                    DisplayItem(
                        path=item.path,
                        name=item.name,
                        label=label,
                        kind=item.kind,
                        data_type=item.data_type,
                        value=value,
                        display="",
                        children=children,
                    )
                )
        else:
            flagged = flags.get(f"{at}/{item.name}")
            out.append(
                DisplayItem(
                    path=item.path,
                    name=item.name,
                    label=label,
                    kind=item.kind,
                    data_type=item.data_type,
                    value=value,
                    # a flagged answer is shown exactly as sent, not through its choice labels
                    display=str(value)
                    if flagged and isinstance(value, str)
                    else _display(value, item, language, default_language),
                    invalid=flagged,
                )
            )
    for name, value in data.items():
        if name in known or name in {"meta", "entity"}:
            continue
        out.append(_unknown_item(f"{parent}/{name}", name, value))
    return tuple(out)


def _unknown_item(path: str, name: str, value: Any) -> DisplayItem:
    if isinstance(value, Mapping):
        children = tuple(
            _unknown_item(f"{path}/{key}", key, child)
            for key, child in value.items()
            if key not in {"meta", "entity"}
        )
        return DisplayItem(path, name, name, "unknown", None, value, "", children=children)
    return DisplayItem(path, name, name, "unknown", None, value, _display(value, None, None, None))


def describe(
    data: Mapping[str, Any],
    fields: Sequence[Field],
    language: str | None,
    *,
    default_language: str | None = None,
    invalid: Sequence[Mapping[str, str]] | None = None,
) -> tuple[DisplayItem, ...]:
    """Labelled items for people to read, in the form's order.

    Notes, ``meta`` groups and entity blocks are left out, and so are calculations and hidden
    values without a value; questions are kept even when empty; groups whose items are all left
    out are dropped. Elements the form does not describe come last in their group, kind
    ``unknown``, labelled with their name.

    :param data: the result of :func:`submission_data`.
    :param fields: the field tree of the form version.
    :param language: the language to show, either the form's language name
        (``"Русский (ru)"``) or its code (``"ru"``).
    :param default_language: the form's default language, used when a label is missing in
        ``language`` (blank, or pyxform's ``-`` placeholder); without it (or when that is
        missing too) the label in the form's first language is used, then the field name.
    :param invalid: the version's flagged answers (:func:`invalid_answers`); each flagged item
        carries its expected type in ``invalid``.
    :return: one item per top-level field shown.
    """
    parent = fields[0].path.rsplit("/", 1)[0] if fields else ""
    flags = {str(f.get("path")): str(f.get("expected")) for f in invalid or ()}
    return _items(data, fields, parent, language, default_language, invalid=flags)


def label_for(
    labels: Mapping[str, str], language: str | None, default_language: str | None
) -> str | None:
    """The text of ``labels`` in ``language`` (a language name or code), else the default, else
    any present one; ``None`` when there is none."""
    return _pick(labels, language, default_language)


def display_value(
    value: Any, item: Field | None, language: str | None, default_language: str | None
) -> str:
    """``value`` as a person reads it: choice labels for a select, ``yes``/``no``, whole numbers
    without ``.0``. A select-multiple value kept as text (``"a b"``) is split as the form does."""
    if item is not None and item.kind == "select_multiple" and isinstance(value, str):
        value = value.split()
    return _display(value, item, language, default_language)
