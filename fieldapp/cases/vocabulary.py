"""Words for case properties: the question and choice labels of the forms that fill them.

A case stores names (``housing_type: partly``); people should read the form's words ("Housing:
Partly adequate"), in their language. A property's words come from the question whose ``save_to``
names it, in the current published version of every form that declares the case list (the
registration first, then follow-ups in form order). A calculation that saves to a property has no
label: its name is shown with spaces (``household_id`` as "household"). A property no form fills at
all is a system field, which pages keep apart. A question whose choices come from a case list
(``select_one_from_file households.csv``) marks the property as a reference to that list, so pages
show the linked case by code and label.

The words depend only on the published versions, so they are kept per process keyed by the ids of
those versions: publishing a new version changes the key, whatever process serves the page.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import undefer

from fieldapp.db import db
from fieldapp.forms.models import Form, FormVersion
from fieldapp.forms.xform import Field, fields_from_json
from fieldapp.submissions.parsing import display_value, label_for

#: properties every case has that are not answers (shown as system fields)
_SYSTEM = frozenset({"label"})


@dataclass(frozen=True)
class Words:
    """How one property is shown."""

    #: the question (its labels per language, the field for values and choices)
    field: Field
    #: the form's default language
    default_language: str | None
    #: the case list a reference property points into (``households``), if any
    refers_to: str | None = None


@dataclass
class Vocabulary:
    """The words of one case list (or of one form version), by property name."""

    words: dict[str, Words] = field(default_factory=dict)

    def label(self, prop: str, language: str | None) -> str:
        """The question's label in ``language``, else the property name with spaces."""
        found = self.words.get(prop)
        if found is not None:
            text = label_for(found.field.labels, language, found.default_language)
            if text:
                return text
        return prop.removesuffix("_id").replace("_", " ")

    def value(self, prop: str, value: Any, language: str | None) -> str:
        """``value`` with choice labels, in ``language``."""
        found = self.words.get(prop)
        item = found.field if found is not None else None
        return display_value(value, item, language, found.default_language if found else None)

    def is_system(self, prop: str) -> bool:
        """Whether no question fills ``prop`` (or it is one of the built-in ones)."""
        return prop in _SYSTEM or prop not in self.words

    def refers_to(self, prop: str) -> str | None:
        found = self.words.get(prop)
        return found.refers_to if found is not None else None

    def languages(self) -> list[str]:
        """The languages the labels are in (``"Русский (ru)"``...), in first-seen order."""
        out: list[str] = []
        for words in self.words.values():
            for name in words.field.labels:
                if name and name not in out:
                    out.append(name)
        return out


def _walk(fields: Iterable[Field]) -> Iterable[Field]:
    for f in fields:
        yield f
        yield from _walk(f.children)


def _reference(item: Field, datasets: set[str]) -> str | None:
    source = (item.choices_from or "").removesuffix(".csv")
    return source if source in datasets else None


def from_fields(
    fields: Iterable[Field],
    *,
    default_language: str | None,
    datasets: set[str] | None = None,
    into: Vocabulary | None = None,
) -> Vocabulary:
    """The words of the questions that save to a property (``save_to``); earlier ones win."""
    vocabulary = into if into is not None else Vocabulary()
    for item in _walk(fields):
        if not item.save_to or item.save_to in vocabulary.words:
            continue
        vocabulary.words[item.save_to] = Words(
            field=item,
            default_language=default_language,
            refers_to=_reference(item, datasets or set()),
        )
    return vocabulary


_cache: dict[tuple[str, tuple[int, ...]], Vocabulary] = {}
_lock = threading.Lock()


def for_case_list(name: str) -> Vocabulary:
    """The words of case list ``name``, from the current published versions that declare it."""
    from fieldapp.cases.models import CaseList  # noqa: PLC0415 (cases.models imports forms)

    rows = db.session.execute(
        select(FormVersion.id, FormVersion.entities)
        .join(Form, Form.current_version_id == FormVersion.id)
        .order_by(Form.id)
    ).all()
    ids = tuple(
        version_id
        for version_id, entities in rows
        if any(isinstance(e, Mapping) and e.get("dataset") == name for e in entities or ())
    )
    key = (name, ids)
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    datasets = set(db.session.scalars(select(CaseList.name)))
    vocabulary = Vocabulary()
    if ids:
        versions = db.session.scalars(
            select(FormVersion).where(FormVersion.id.in_(ids)).options(undefer(FormVersion.fields))
        ).all()
        # the form that creates cases of the list first: its questions name the properties
        order = sorted(
            versions,
            key=lambda v: (
                not any(e.get("dataset") == name and e.get("create") for e in v.entities or ()),
                ids.index(v.id),
            ),
        )
        for version in order:
            from_fields(
                _own_fields(version, name),
                default_language=version.default_language,
                datasets=datasets,
                into=vocabulary,
            )
    with _lock:
        if len(_cache) > 256:
            _cache.clear()
        _cache[key] = vocabulary
    return vocabulary


def _own_fields(version: FormVersion, dataset: str) -> list[Field]:
    """The questions of ``version`` that save to ``dataset``'s entities (by container path)."""
    fields = fields_from_json(version.fields or [])
    containers = [
        str(e.get("container_path") or "")
        for e in version.entities or ()
        if e.get("dataset") == dataset
    ]
    others = [
        str(e.get("container_path") or "")
        for e in version.entities or ()
        if e.get("dataset") != dataset
    ]
    out = []
    for item in _walk(fields):
        if not item.save_to:
            continue
        owner = max(
            (c for c in [*containers, *others] if item.path.startswith(c.rstrip("/") + "/")),
            key=len,
            default=None,
        )
        if owner is not None and owner in containers:
            out.append(item)
    return out


def for_form_version(version: FormVersion) -> dict[str, Vocabulary]:
    """The words of each case list ``version`` saves to, by dataset, from its own questions."""
    from fieldapp.cases.models import CaseList  # noqa: PLC0415

    datasets = set(db.session.scalars(select(CaseList.name)))
    out: dict[str, Vocabulary] = {}
    for entity in version.entities or ():
        dataset = str(entity.get("dataset") or "")
        if dataset and dataset not in out:
            out[dataset] = from_fields(
                _own_fields(version, dataset),
                default_language=version.default_language,
                datasets=datasets,
            )
    return out
