"""Submission XML in a form's real shape: its primary instance template and its bind types.

:class:`FormShape` reads a published XForm once (our own compiled XForm, through the hardened
parser like everything else) and :meth:`FormShape.render` fills the instance template with the
answers given as nested dicts (groups), lists of dicts (repeats) and strings, the way JavaRosa
writes a filled form: elements in template order, non-relevant ones left out, entity blocks with
their template attributes. Every value is checked against its bind type and, for selects with
static choices, against the form's own choices, so a generator bug fails loudly instead of
storing answers a phone could never send.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from fieldapp.forms.xform import Field, fields_from_json
from fieldapp.xmlsafe import parse_xml

_XF = "{http://www.w3.org/2002/xforms}"
_JR_TEMPLATE = "{http://openrosa.org/javarosa}template"
#: JavaRosa's namespace declarations on a submission's root
_NAMESPACES = (
    ' xmlns:ev="http://www.w3.org/2001/xml-events" xmlns:orx="http://openrosa.org/xforms"'
    ' xmlns:entities="http://www.opendatakit.org/xforms/entities"'
    ' xmlns:odk="http://www.opendatakit.org/xforms" xmlns:h="http://www.w3.org/1999/xhtml"'
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:jr="http://openrosa.org/javarosa"'
)
_INT = re.compile(r"^-?\d+$")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


class ShapeError(ValueError):
    """An answer that does not fit the form (a bug of the generator, never of the data)."""


@dataclass(slots=True)
class Node:
    """One element of the instance template."""

    name: str
    path: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    repeat: bool = False


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _template(element: Any, path: str) -> Node:
    node = Node(
        _local(element.tag),
        path,
        {k: v for k, v in element.attrib.items() if not k.startswith("{")},
    )
    seen: dict[str, Node] = {}
    for child in element:
        name = _local(child.tag)
        if name in seen:  # a repeat's template and its first entry: one shape
            seen[name].repeat = True
            continue
        sub = _template(child, f"{path}/{name}")
        sub.repeat = _JR_TEMPLATE in child.attrib
        seen[name] = sub
        node.children.append(sub)
    return node


def _fields_by_path(fields: tuple[Field, ...]) -> dict[str, Field]:
    found: dict[str, Field] = {}
    stack = list(fields)
    while stack:
        f = stack.pop()
        found[f.path] = f
        stack.extend(f.children)
    return found


class FormShape:
    """A published form version's instance template, bind types and choices."""

    def __init__(self, xform: str | bytes, fields_json: list[Any]) -> None:
        root = parse_xml(xform)
        model = root.find(f".//{_XF}model")
        if model is None:
            raise ShapeError("the XForm has no model")
        instance = next((i for i in model.findall(f"{_XF}instance") if "id" not in i.attrib), None)
        if instance is None or len(instance) != 1:
            raise ShapeError("the XForm has no primary instance")
        data = instance[0]
        self.root = _template(data, f"/{_local(data.tag)}")
        self.form_id = data.attrib.get("id", "")
        self.version = data.attrib.get("version", "")
        self.types: dict[str, str] = {
            str(b.attrib["nodeset"]).strip(): str(b.attrib.get("type", "string"))
            for b in model.iter(f"{_XF}bind")
            if "nodeset" in b.attrib
        }
        self.fields = _fields_by_path(fields_from_json(fields_json))

    def choices(self, path: str) -> list[str]:
        """The values of a select's static choices (``/data/...`` path)."""
        found = self.fields.get(path)
        if found is None or not found.choices:
            raise ShapeError(f"{path} is not a select with choices")
        return [c.value for c in found.choices]

    def _check(self, path: str, value: str) -> None:
        kind = self.types.get(path, "string")
        ok = True
        if value == "":
            ok = True
        elif kind == "int":
            ok = bool(_INT.match(value))
        elif kind == "decimal":
            ok = bool(_DECIMAL.match(value))
        elif kind == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                ok = False
        elif kind == "geopoint":
            ok = 2 <= len(value.split()) <= 4
        if not ok:
            raise ShapeError(f"{path}: {value!r} is not a {kind}")
        found = self.fields.get(path)
        if value and found is not None and found.choices and found.kind.startswith("select"):
            allowed = {c.value for c in found.choices}
            given = value.split() if found.kind == "select_multiple" else [value]
            if not set(given) <= allowed:
                raise ShapeError(f"{path}: {value!r} is not among the form's choices")

    def render(self, answers: Mapping[str, Any]) -> bytes:
        """The submission XML for ``answers`` (keys are element names; ``@name`` keys set an
        attribute the template has). ``meta`` may hold a ``deprecatedID``, as ODK Collect adds
        to an edited submission."""
        out: list[str] = ["<?xml version='1.0' encoding='UTF-8' ?>"]
        attrs = "".join(f" {k}={quoteattr(v)}" for k, v in self.root.attrs.items())
        out.append(f"<{self.root.name}{attrs}{_NAMESPACES}>")
        self._children(self.root, answers, out)
        out.append(f"</{self.root.name}>")
        return "".join(out).encode()

    def _children(self, node: Node, value: Mapping[str, Any], out: list[str]) -> None:
        names = [k for k in value if not k.startswith("@")]
        meta = node.path == f"{self.root.path}/meta"
        unknown = sorted(
            set(names) - {c.name for c in node.children} - ({"deprecatedID"} if meta else set())
        )
        if unknown:
            raise ShapeError(f"{node.path} has no {unknown}")
        if meta and value.get("deprecatedID"):
            self._children_in_order(node, value, out)
            out.append(f"<deprecatedID>{escape(str(value['deprecatedID']))}</deprecatedID>")
            return
        self._children_in_order(node, value, out)

    def _children_in_order(self, node: Node, value: Mapping[str, Any], out: list[str]) -> None:
        for child in node.children:
            given = value.get(child.name)
            if given is None:
                continue  # not relevant: JavaRosa leaves it out
            if child.repeat:
                if not isinstance(given, list):
                    raise ShapeError(f"{child.path} is a repeat")
                for entry in given:
                    self._element(child, entry, out)
            else:
                self._element(child, given, out)

    def _element(self, node: Node, value: Any, out: list[str]) -> None:
        if isinstance(value, Mapping):
            attrs = dict(node.attrs)
            for key, given in value.items():
                if key.startswith("@"):
                    if key[1:] not in attrs:
                        raise ShapeError(f"{node.path} has no attribute {key[1:]}")
                    attrs[key[1:]] = str(given)
            text = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
            if not node.children:
                out.append(f"<{node.name}{text} />")
                return
            out.append(f"<{node.name}{text}>")
            self._children(node, value, out)
            out.append(f"</{node.name}>")
            return
        if node.children:
            raise ShapeError(f"{node.path} is a group")
        text = str(value)
        self._check(node.path, text)
        out.append(f"<{node.name}>{escape(text)}</{node.name}>" if text else f"<{node.name} />")
