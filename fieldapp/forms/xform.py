"""Pure parsing of an XForm into what fieldapp needs to know about a form.

:func:`parse_xform` reads the XForm (through :func:`fieldapp.xmlsafe.parse_xml`) and returns an
:class:`XFormInfo`: identity (id, version, title), languages, the field tree, the files the form
needs from the server, the entity (case list) declarations and the encryption settings. It never
touches the database; the field tree is stored as JSON (:func:`field_tree_to_json`,
:func:`fields_from_json`).

The field tree follows the **primary instance**, which is the order of the data in every
submission. Each node takes its kind, labels and choices from the body control bound to it; nodes
without a body control are model-only (``calculate`` when bound to a calculation, ``hidden``
otherwise, ``group`` when they have children, such as ``meta``). For forms written by pyxform the
instance order is the body order. Repeats appear once (the ``jr:template`` copy and any default
copies collapse into one node). The ``meta/entity`` blocks are not fields: they are described by
:class:`EntityDecl`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from fieldapp.errors import BadRequest
from fieldapp.xmlsafe import parse_xml

__all__ = [
    "Choice",
    "EntityDecl",
    "Field",
    "MediaRef",
    "XFormInfo",
    "XFormInvalid",
    "field_tree_to_json",
    "fields_from_json",
    "iter_fields",
    "parse_xform",
]

XFORMS_NS = "http://www.w3.org/2002/xforms"
XHTML_NS = "http://www.w3.org/1999/xhtml"
JR_NS = "http://openrosa.org/javarosa"
ODK_NS = "http://www.opendatakit.org/xforms"
ENTITIES_NS = "http://www.opendatakit.org/xforms/entities"

_NS = {"x": XFORMS_NS, "h": XHTML_NS}
_ITEXT_REF = re.compile(r"""^\s*jr:itext\(\s*(?:'([^']*)'|"([^"]*)"|([^)\s]+))\s*\)\s*$""")
_INSTANCE_CALL = re.compile(r"""instance\(\s*['"]([^'"]+)['"]\s*\)""")
_MEDIA_URI = re.compile(r"^jr://(images|audio|video|file|file-csv)/(.+)$")
_CONTROL_KINDS = {
    "input": "input",
    "select1": "select_one",
    "select": "select_multiple",
    "upload": "upload",
    "trigger": "trigger",
    "range": "range",
    "rank": "rank",
    "textarea": "input",
    "secret": "input",
}
_MEDIA_FORMS = ("image", "big-image", "audio", "video")


class XFormInvalid(BadRequest):
    """The document is XML but not an XForm fieldapp can use (400)."""

    code = "xform.invalid"


@dataclass(frozen=True, slots=True)
class Choice:
    """One choice of a select.

    :param value: the value stored in submissions.
    :param labels: language to label; the key is ``""`` when the label is not translated.
    """

    value: str
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Field:
    """One node of the form's data: a question, a group, a repeat or a model-only value.

    :param name: the element name.
    :param path: the absolute path, such as ``/data/mother/full_name``.
    :param kind: ``group``, ``repeat``, ``input``, ``select_one``, ``select_multiple``,
        ``upload``, ``note``, ``calculate``, ``trigger``, ``range``, ``rank`` or ``hidden``
        (a model-only value without a calculation, such as ``instanceID``).
    :param data_type: the bind type (``string``, ``int``, ``date``, ``geopoint``, ``binary``...).
    :param labels: language to label text (``""`` key when not translated); ``${name}`` marks
        an ``<output>``.
    :param hints: language to hint text.
    :param required: the bind's ``required`` is set (to anything but ``false()``).
    :param relevant: the bind's relevance expression.
    :param calculate: the bind's calculation.
    :param constraint: the bind's constraint expression.
    :param appearance: the control's appearance.
    :param mediatype: an upload's media type, such as ``image/*``.
    :param save_to: the entity property this value is saved to (``entities:saveto``).
    :param choices: static choices of a select; ``None`` for lists from a file.
    :param choices_from: the instance id of an external list (``households``).
    :param children: the fields inside a group or repeat.
    """

    name: str
    path: str
    kind: str
    data_type: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    hints: Mapping[str, str] = field(default_factory=dict)
    required: bool = False
    relevant: str | None = None
    calculate: str | None = None
    constraint: str | None = None
    appearance: str | None = None
    mediatype: str | None = None
    save_to: str | None = None
    choices: tuple[Choice, ...] | None = None
    choices_from: str | None = None
    children: tuple[Field, ...] = ()


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A file the form needs from the server.

    :param name: the file name, such as ``logo.png`` or ``households.csv``.
    :param kind: ``image``, ``big-image``, ``audio``, ``video``, ``file`` (``jr://file/``) or
        ``file-csv`` (``jr://file-csv/``; a case list when a dataset has that name).
    """

    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class EntityDecl:
    """An entity (case list) declaration of the form.

    :param dataset: the entity list name.
    :param container_path: the path of the survey, group or repeat that holds ``meta/entity``.
    :param create: the form may create entities of this list.
    :param update: the form may update entities of this list.
    :param label_expr: the calculation of the entity label, if any.
    :param properties: ``(property, field path)`` pairs, from the ``entities:saveto`` binds whose
        nearest entity-holding container is this one.
    """

    dataset: str
    container_path: str
    create: bool
    update: bool
    label_expr: str | None
    properties: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class XFormInfo:
    """What fieldapp knows about a form from its XForm."""

    form_id: str
    version: str
    title: str
    root_name: str
    languages: tuple[str, ...]
    default_language: str | None
    fields: tuple[Field, ...]
    media: tuple[MediaRef, ...]
    entities: tuple[EntityDecl, ...]
    entities_version: str | None
    encrypted: bool
    public_key: str | None
    submission_url: str | None
    instance_name: str | None


# -- parsing ---------------------------------------------------------------------------------


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _children(element: etree._Element) -> Iterator[etree._Element]:
    for child in element:
        if isinstance(child.tag, str):
            yield child


def _path(value: str | None) -> str:
    return re.sub(r"\s+", "", value or "")


class _Itext:
    """``<itext>``: per language, per text id, per form (``None`` = the default form)."""

    def __init__(self, model: etree._Element) -> None:
        self.languages: list[str] = []
        self.default: str | None = None
        self.texts: dict[str, dict[str, dict[str | None, str]]] = {}
        for translation in model.iterfind("x:itext/x:translation", _NS):
            lang = translation.get("lang") or ""
            if lang not in self.texts:
                self.languages.append(lang)
                self.texts[lang] = {}
            if self.default is None and (translation.get("default") or "").strip():
                self.default = lang
            for text in translation.iterfind("x:text", _NS):
                forms = self.texts[lang].setdefault(text.get("id") or "", {})
                for value in text.iterfind("x:value", _NS):
                    forms.setdefault(value.get("form"), _text_of(value))

    def lookup(self, text_id: str) -> dict[str, str]:
        labels: dict[str, str] = {}
        for lang in self.languages:
            value = self.texts[lang].get(text_id, {}).get(None)
            if value is not None:
                labels[lang] = value
        return labels


def _text_of(element: etree._Element) -> str:
    """The text of a label/hint/value, with each ``<output value="/data/x"/>`` as ``${x}``."""
    parts = [element.text or ""]
    for child in element:
        if isinstance(child.tag, str) and _local(child) == "output":
            value = (child.get("value") or child.get("ref") or "").strip()
            name = value.rsplit("/", 1)[-1] if re.fullmatch(r"[\w./\-]+", value) else value
            parts.append("${" + name + "}")
        parts.append(child.tail or "")
    return "".join(parts).strip()


def _texts(element: etree._Element | None, itext: _Itext) -> dict[str, str]:
    if element is None:
        return {}
    ref = element.get("ref")
    if ref:
        found = _ITEXT_REF.match(ref)
        if found:
            return itext.lookup(next(g for g in found.groups() if g is not None))
    text = _text_of(element)
    return {"": text} if text else {}


def _find_body_controls(body: etree._Element | None) -> dict[str, list[etree._Element]]:
    """Body controls by absolute path; relative refs resolve against the enclosing group."""
    controls: dict[str, list[etree._Element]] = {}

    def walk(element: etree._Element, context: str) -> None:
        for child in _children(element):
            name = _local(child)
            ref = _path(child.get("ref") or child.get("nodeset"))
            if name in {"label", "hint", "item", "itemset", "setvalue", "output"}:
                continue
            path = ref if ref.startswith("/") or not ref else f"{context}/{ref}"
            if ref and (name in _CONTROL_KINDS or name in {"group", "repeat"}):
                controls.setdefault(path, []).append(child)
            if name in {"group", "repeat"}:
                walk(child, path or context)

    if body is not None:
        walk(body, "")
    return controls


def parse_xform(xml: str | bytes) -> XFormInfo:
    """Read an XForm.

    :param xml: the XForm document.
    :return: the form's identity, languages, field tree, media, entities and encryption.
    :raises XmlError: the document is not safe, well-formed XML (see :mod:`fieldapp.xmlsafe`).
    :raises XFormInvalid: the XML is not an XForm: no ``h:html``/``h:head``/``model``, no
        primary instance, or no ``id`` on the instance root.
    """
    root = parse_xml(xml)
    if root.tag != f"{{{XHTML_NS}}}html":
        raise XFormInvalid("This is not an XForm: the root element must be h:html.")
    model = root.find("h:head/x:model", _NS)
    if model is None:
        raise XFormInvalid("This is not an XForm: it has no h:head/model.")
    instances = model.findall("x:instance", _NS)
    data = next(_children(instances[0]), None) if instances else None
    if data is None:
        raise XFormInvalid("This is not an XForm: the model has no primary instance.")
    form_id = (data.get("id") or "").strip()
    if not form_id:
        raise XFormInvalid("The XForm has no id: the primary instance root needs an id.")

    itext = _Itext(model)
    binds: dict[str, etree._Element] = {}
    for bind in model.iterfind("x:bind", _NS):
        binds.setdefault(_path(bind.get("nodeset")), bind)
    secondary = {
        inst.get("id") or "": inst for inst in instances[1:] if (inst.get("id") or "").strip()
    }
    controls = _find_body_controls(root.find("h:body", _NS))
    builder = _FieldBuilder(binds, controls, itext, secondary)
    root_path = "/" + _local(data)
    fields = builder.children_of(data, root_path)

    submission = model.find("x:submission", _NS)
    public_key = submission.get("base64RsaPublicKey") if submission is not None else None
    instance_name = _attr(binds.get(f"{root_path}/meta/instanceName"), "calculate")
    return XFormInfo(
        form_id=form_id,
        version=(data.get("version") or "").strip(),
        title=(root.findtext("h:head/h:title", default="", namespaces=_NS) or "").strip(),
        root_name=_local(data),
        languages=tuple(itext.languages),
        default_language=itext.default,
        fields=fields,
        media=_media(model),
        entities=_entities(data, root_path, binds),
        entities_version=model.get(f"{{{ENTITIES_NS}}}entities-version"),
        encrypted=bool(public_key),
        public_key=public_key or None,
        submission_url=(submission.get("action") or None) if submission is not None else None,
        instance_name=instance_name,
    )


def _attr(element: etree._Element | None, name: str) -> str | None:
    if element is None:
        return None
    value = element.get(name)
    return value if value is not None and value.strip() else None


class _FieldBuilder:
    def __init__(
        self,
        binds: Mapping[str, etree._Element],
        controls: Mapping[str, list[etree._Element]],
        itext: _Itext,
        secondary: Mapping[str, etree._Element],
    ) -> None:
        self.binds = binds
        self.controls = controls
        self.itext = itext
        self.secondary = secondary

    def children_of(self, element: etree._Element, path: str) -> tuple[Field, ...]:
        fields: list[Field] = []
        seen: set[str] = set()
        for child in _children(element):
            name = _local(child)
            if name in seen:
                continue  # further copies of a repeat
            seen.add(name)
            if name == "entity" and _local(element) == "meta":
                continue  # described by EntityDecl
            built = self.build(child, f"{path}/{name}")
            if built is not None:
                fields.append(built)
        return tuple(fields)

    def build(self, element: etree._Element, path: str) -> Field | None:
        bind = self.binds.get(path)
        controls = self.controls.get(path, [])
        tags = [_local(c) for c in controls]
        has_children = next(_children(element), None) is not None
        control = next((c for c in controls if _local(c) not in {"group", "repeat"}), None)
        children: tuple[Field, ...] = ()
        if "repeat" in tags or "group" in tags or (has_children and control is None):
            kind = "repeat" if "repeat" in tags else "group"
            children = self.children_of(element, path)
            if not children and not controls:
                return None  # e.g. a meta holding only the entity block
        elif control is not None:
            kind = _CONTROL_KINDS[_local(control)]
            if kind == "input" and _is_note(bind):
                kind = "note"
        else:
            kind = "calculate" if _attr(bind, "calculate") else "hidden"

        labelled = [c for c in controls if c.find("x:label", _NS) is not None]
        label_el = labelled[0].find("x:label", _NS) if labelled else None
        hinted = [c for c in controls if c.find("x:hint", _NS) is not None]
        hint_el = hinted[0].find("x:hint", _NS) if hinted else None
        choices, choices_from = self.choices(control) if control is not None else (None, None)
        data_type = _attr(bind, "type")
        required = _attr(bind, "required")
        return Field(
            name=_local(element),
            path=path,
            kind=kind,
            data_type=data_type.removeprefix("xsd:") if data_type else None,
            labels=_texts(label_el, self.itext),
            hints=_texts(hint_el, self.itext),
            required=required is not None and required.replace(" ", "") != "false()",
            relevant=_attr(bind, "relevant"),
            calculate=_attr(bind, "calculate"),
            constraint=_attr(bind, "constraint"),
            appearance=_attr(control if control is not None else _first(controls), "appearance"),
            mediatype=_attr(control, "mediatype"),
            save_to=_attr(bind, f"{{{ENTITIES_NS}}}saveto"),
            choices=choices,
            choices_from=choices_from,
            children=children,
        )

    def choices(self, control: etree._Element) -> tuple[tuple[Choice, ...] | None, str | None]:
        items = control.findall("x:item", _NS)
        if items:
            return (
                tuple(
                    Choice(
                        value=(item.findtext("x:value", default="", namespaces=_NS) or "").strip(),
                        labels=_texts(item.find("x:label", _NS), self.itext),
                    )
                    for item in items
                ),
                None,
            )
        itemset = control.find("x:itemset", _NS)
        if itemset is None:
            return None, None
        found = _INSTANCE_CALL.search(itemset.get("nodeset") or "")
        if found is None:
            return None, None  # choices from the form's own data (a repeat)
        instance_id = found.group(1)
        instance = self.secondary.get(instance_id)
        if instance is None or instance.get("src"):
            return None, instance_id
        value_ref = _path(_attr(itemset.find("x:value", _NS), "ref") or "name")
        label_ref = (_attr(itemset.find("x:label", _NS), "ref") or "label").strip()
        itext_ref = re.fullmatch(r"jr:itext\(\s*([\w.\-]+)\s*\)", label_ref)
        out: list[Choice] = []
        for root in _children(instance):
            for item in _children(root):
                values = {_local(c): (c.text or "").strip() for c in _children(item)}
                if itext_ref:
                    labels = self.itext.lookup(values.get(itext_ref.group(1), ""))
                else:
                    text = values.get(label_ref, "")
                    labels = {"": text} if text else {}
                out.append(Choice(value=values.get(value_ref, ""), labels=labels))
            break  # one root element per instance
        return tuple(out), None


def _first(elements: list[etree._Element]) -> etree._Element | None:
    return elements[0] if elements else None


def _is_note(bind: etree._Element | None) -> bool:
    """pyxform's notes: an input bound read-only, without a calculation."""
    readonly = (_attr(bind, "readonly") or "").replace(" ", "")
    return readonly == "true()" and _attr(bind, "calculate") is None


def _media(model: etree._Element) -> tuple[MediaRef, ...]:
    refs: dict[str, MediaRef] = {}
    for element in model.iter():
        if not isinstance(element.tag, str):
            continue
        local = _local(element)
        if local == "value" and element.get("form") in _MEDIA_FORMS:
            found = _MEDIA_URI.match((element.text or "").strip())
            if found:
                kind = str(element.get("form"))
                refs.setdefault(found.group(2), MediaRef(found.group(2), kind))
        elif local == "instance" and element.get("src"):
            found = _MEDIA_URI.match(str(element.get("src")).strip())
            if found and found.group(1) in {"file", "file-csv"}:
                refs.setdefault(found.group(2), MediaRef(found.group(2), found.group(1)))
    return tuple(refs.values())


def _entities(
    data: etree._Element, root_path: str, binds: Mapping[str, etree._Element]
) -> tuple[EntityDecl, ...]:
    found: dict[str, tuple[str, etree._Element]] = {}  # container path -> (dataset, element)

    def walk(element: etree._Element, path: str) -> None:
        names: set[str] = set()
        for child in _children(element):
            name = _local(child)
            if name in names:
                continue
            names.add(name)
            child_path = f"{path}/{name}"
            if name == "entity" and _local(element) == "meta":
                container = path.rsplit("/", 1)[0]
                found.setdefault(container, (child.get("dataset") or "", child))
            else:
                walk(child, child_path)

    walk(data, root_path)
    containers = sorted(found, key=len, reverse=True)
    properties: dict[str, list[tuple[str, str]]] = {c: [] for c in found}
    for path, bind in binds.items():
        save_to = _attr(bind, f"{{{ENTITIES_NS}}}saveto")
        if save_to is None:
            continue
        owner = next((c for c in containers if path.startswith(c + "/")), None)
        if owner is not None:
            properties[owner].append((save_to.strip(), path))
    out = []
    for container, (dataset, element) in found.items():
        out.append(
            EntityDecl(
                dataset=dataset,
                container_path=container,
                create=element.get("create") is not None,
                update=element.get("update") is not None,
                label_expr=_attr(binds.get(f"{container}/meta/entity/label"), "calculate"),
                properties=tuple(properties[container]),
            )
        )
    return tuple(out)


# -- the tree as JSON ------------------------------------------------------------------------


def iter_fields(fields: Iterable[Field]) -> Iterator[Field]:
    """Every field of a tree, depth first, parents before their children.

    :param fields: the top-level fields.
    :return: an iterator over all fields.
    """
    for item in fields:
        yield item
        yield from iter_fields(item.children)


def field_tree_to_json(fields: Iterable[Field]) -> list[dict[str, Any]]:
    """The field tree as JSON-ready lists and dicts (see :func:`fields_from_json`).

    :param fields: the top-level fields.
    :return: one dict per field, children nested under ``children``.
    """
    return [
        {
            "name": f.name,
            "path": f.path,
            "kind": f.kind,
            "data_type": f.data_type,
            "labels": dict(f.labels),
            "hints": dict(f.hints),
            "required": f.required,
            "relevant": f.relevant,
            "calculate": f.calculate,
            "constraint": f.constraint,
            "appearance": f.appearance,
            "mediatype": f.mediatype,
            "save_to": f.save_to,
            "choices": (
                None
                if f.choices is None
                else [{"value": c.value, "labels": dict(c.labels)} for c in f.choices]
            ),
            "choices_from": f.choices_from,
            "children": field_tree_to_json(f.children),
        }
        for f in fields
    ]


def fields_from_json(data: Iterable[Mapping[str, Any]]) -> tuple[Field, ...]:
    """Rebuild a field tree from :func:`field_tree_to_json` output; missing keys take defaults.

    :param data: the stored JSON list.
    :return: the top-level fields.
    :raises KeyError: a field lacks ``name``, ``path`` or ``kind``.
    """
    out = []
    for item in data:
        raw_choices = item.get("choices")
        out.append(
            Field(
                name=str(item["name"]),
                path=str(item["path"]),
                kind=str(item["kind"]),
                data_type=item.get("data_type"),
                labels=dict(item.get("labels") or {}),
                hints=dict(item.get("hints") or {}),
                required=bool(item.get("required", False)),
                relevant=item.get("relevant"),
                calculate=item.get("calculate"),
                constraint=item.get("constraint"),
                appearance=item.get("appearance"),
                mediatype=item.get("mediatype"),
                save_to=item.get("save_to"),
                choices=(
                    None
                    if raw_choices is None
                    else tuple(
                        Choice(value=str(c["value"]), labels=dict(c.get("labels") or {}))
                        for c in raw_choices
                    )
                ),
                choices_from=item.get("choices_from"),
                children=fields_from_json(item.get("children") or ()),
            )
        )
    return tuple(out)
