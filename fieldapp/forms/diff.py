"""What a new version of a form changes: questions, choices, entities and case properties.

Pure: :func:`diff_versions` compares two field trees (:class:`~fieldapp.forms.xform.Field`, as
stored in ``FormVersion.fields``) and their entity declarations (``FormVersion.entities``) and
returns a :class:`FormDiff`. It never touches the database. What the change does to submissions
already received needs counts from the database: the diff names what to count
(:attr:`FormDiff.count_keys`, answers at a path of the *old* version, or a choice value chosen
there) and :meth:`FormDiff.to_json` takes the counts the caller found
(``fieldapp.submissions.impact``) and says, in sentences, what they mean.

Questions are matched by path; a question not found at its old path is matched by name
elsewhere when that name is unique among the unmatched ones on both sides (it moved to another
group, and its answers now sit at a new path); a renamed question is one removed and one added,
since its answers are stored under the new name. Within a group, questions whose order changed
are reported as moved (the longest common order stays put).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fieldapp.forms.xform import Field, iter_fields

__all__ = [
    "CountKey",
    "Counts",
    "EntityChange",
    "FormDiff",
    "PropertyChange",
    "QuestionChange",
    "diff_versions",
    "xlsform_type",
]

#: answers at a path (``kind`` "answered", ``value`` None) or a choice chosen there ("chose")
CountKey = tuple[str, tuple[tuple[str, bool], ...], str | None]

#: per count key: form version string → number of submissions
Counts = Mapping[CountKey, Mapping[str, int]]

_INPUT_TYPES = {
    "string": "text",
    "int": "integer",
    "integer": "integer",
    "decimal": "decimal",
    "date": "date",
    "time": "time",
    "dateTime": "dateTime",
    "geopoint": "geopoint",
    "geotrace": "geotrace",
    "geoshape": "geoshape",
    "barcode": "barcode",
}
_KIND_TYPES = {
    "group": "group",
    "repeat": "repeat",
    "note": "note",
    "calculate": "calculate",
    "hidden": "hidden",
    "trigger": "acknowledge",
    "range": "range",
    "rank": "rank",
    "select_one": "select_one",
    "select_multiple": "select_multiple",
}
#: kinds that hold no answer of their own
_NO_ANSWER = frozenset({"group", "repeat", "note"})


def xlsform_type(item: Field) -> str:
    """The XLSForm type a designer would write for a field (``integer``, ``select_one``...).

    :param item: the field.
    :return: the type name.
    """
    if item.kind == "upload":
        media = (item.mediatype or "").split("/", 1)[0]
        return media if media in {"image", "audio", "video"} else "file"
    if item.kind in _KIND_TYPES:
        return _KIND_TYPES[item.kind]
    data_type = item.data_type or "string"
    return _INPUT_TYPES.get(data_type, data_type)


def _label(labels: Mapping[str, str], language: str | None) -> str | None:
    if not labels:
        return None
    if language is not None and labels.get(language):
        return labels[language]
    if labels.get(""):
        return labels[""]
    return next((v for v in labels.values() if v), None)


@dataclass(frozen=True, slots=True)
class AttributeChange:
    """One attribute of a question that differs: ``type``, ``label``, ``hint``, ``relevance``,
    ``constraint``, ``required``, ``calculation``, ``appearance``, ``save_to``,
    ``choices_from`` (per language for ``label`` and ``hint``)."""

    attribute: str
    old: Any
    new: Any
    language: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"attribute": self.attribute, "old": self.old, "new": self.new}
        if self.language is not None:
            out["language"] = self.language
        return out


@dataclass(frozen=True, slots=True)
class ChoiceChange:
    """A choice ``added``, ``removed`` or ``relabelled`` (per language)."""

    change: str
    value: str
    labels: Mapping[str, str] = field(default_factory=dict)
    language: str | None = None
    old: str | None = None
    new: str | None = None
    count: CountKey | None = None


@dataclass(frozen=True, slots=True)
class QuestionChange:
    """A question (or group, repeat, calculation) ``added``, ``removed``, ``changed`` or
    ``moved`` (``moved`` when nothing but its place changed)."""

    change: str
    name: str
    path: str
    old_path: str | None
    type: str
    label: str | None
    attributes: tuple[AttributeChange, ...] = ()
    choices: tuple[ChoiceChange, ...] = ()
    moved: bool = False
    count: CountKey | None = None


@dataclass(frozen=True, slots=True)
class EntityChange:
    """An entity declaration (by case list) ``added``, ``removed`` or ``changed``."""

    change: str
    dataset: str
    attributes: tuple[AttributeChange, ...] = ()


@dataclass(frozen=True, slots=True)
class PropertyChange:
    """What happens to one case property the form saves.

    ``change``: ``no_longer_saved``, ``newly_saved``, ``source_changed`` (saved from another
    question) or ``type_changed`` (its question's type changed).
    """

    change: str
    dataset: str
    property: str
    old_question: str | None
    new_question: str | None
    old_type: str | None = None
    new_type: str | None = None


@dataclass(frozen=True, slots=True)
class FormDiff:
    """Everything that differs between two versions (see :func:`diff_versions`)."""

    languages_added: tuple[str, ...]
    languages_removed: tuple[str, ...]
    questions: tuple[QuestionChange, ...]
    entities: tuple[EntityChange, ...]
    properties: tuple[PropertyChange, ...]

    @property
    def count_keys(self) -> list[CountKey]:
        """What to count in submissions already received, each once, in diff order."""
        keys: list[CountKey] = []
        for question in self.questions:
            if question.count is not None:
                keys.append(question.count)
            keys.extend(c.count for c in question.choices if c.count is not None)
        return list(dict.fromkeys(keys))

    @property
    def empty(self) -> bool:
        """Nothing differs."""
        return not (
            self.languages_added
            or self.languages_removed
            or self.questions
            or self.entities
            or self.properties
        )

    def to_json(self, counts: Counts | None = None) -> dict[str, Any]:
        """The diff in the API's shape (documented in ``openapi.json``, schema ``FormDiff``).

        :param counts: submissions per count key and form version; ``None`` leaves every
            ``submissions`` out (``null``).
        :return: ``summary``, ``languages``, ``questions``, ``entities``, ``case_properties``
            and ``effects`` (sentences saying what the change does to received data).
        """

        def submissions(key: CountKey | None) -> dict[str, Any] | None:
            if key is None or counts is None:
                return None
            by_version = {v: n for v, n in (counts.get(key) or {}).items() if n}
            return {"total": sum(by_version.values()), "by_version": by_version}

        questions = []
        effects: list[dict[str, Any]] = []
        for q in self.questions:
            answered = submissions(q.count)
            choices = []
            for c in q.choices:
                used = submissions(c.count)
                item: dict[str, Any] = {"change": c.change, "value": c.value}
                if c.change == "relabelled":
                    item.update(language=c.language, old=c.old, new=c.new)
                else:
                    item["labels"] = dict(c.labels)
                item["submissions"] = used
                choices.append(item)
                if c.change == "removed" and used and used["total"]:
                    effects.append(
                        _effect(
                            "choice_removed",
                            f"Choice `{c.value}` of `{q.name}` removed: "
                            f"{_n(used['total'])} used it.",
                            q,
                            used,
                        )
                    )
            questions.append(
                {
                    "change": q.change,
                    "name": q.name,
                    "path": q.path,
                    "old_path": q.old_path,
                    "type": q.type,
                    "label": q.label,
                    "moved": q.moved,
                    "changes": [a.to_json() for a in q.attributes],
                    "choices": choices,
                    "submissions": answered,
                }
            )
            effects.extend(_question_effects(q, answered))
        effects.extend(_property_effect(p) for p in self.properties)
        effects.extend(_entity_effect(e) for e in self.entities if e.change != "changed")
        summary = dict.fromkeys(("added", "removed", "changed", "moved"), 0)
        for q in self.questions:
            summary[q.change] += 1
        return {
            "summary": summary,
            "languages": {
                "added": list(self.languages_added),
                "removed": list(self.languages_removed),
            },
            "questions": questions,
            "entities": [
                {
                    "change": e.change,
                    "dataset": e.dataset,
                    "changes": [a.to_json() for a in e.attributes],
                }
                for e in self.entities
            ],
            "case_properties": [
                {
                    "change": p.change,
                    "dataset": p.dataset,
                    "property": p.property,
                    "old_question": p.old_question,
                    "new_question": p.new_question,
                    "old_type": p.old_type,
                    "new_type": p.new_type,
                }
                for p in self.properties
            ],
            "effects": effects,
        }


def _n(count: int) -> str:
    return "1 submission" if count == 1 else f"{count} submissions"


def _effect(
    code: str, message: str, q: QuestionChange, used: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "path": q.old_path or q.path,
        "submissions": used["total"] if used else None,
    }


def _question_effects(q: QuestionChange, answered: dict[str, Any] | None) -> list[dict[str, Any]]:
    total = answered["total"] if answered else 0
    if not total:
        return []
    if q.change == "removed":
        return [
            _effect(
                "question_removed",
                f"Question `{q.name}` removed: {_n(total)} have an answer. They keep it; "
                "the new version no longer asks.",
                q,
                answered,
            )
        ]
    out = []
    type_change = next((a for a in q.attributes if a.attribute == "type"), None)
    if type_change is not None:
        out.append(
            _effect(
                "type_changed",
                f"Question `{q.name}` type changed from {type_change.old} to "
                f"{type_change.new}: {_n(total)} have an answer.",
                q,
                answered,
            )
        )
    if q.old_path is not None and q.old_path != q.path:
        out.append(
            _effect(
                "question_moved",
                f"Question `{q.name}` moved from {q.old_path} to {q.path}: {_n(total)} have "
                "their answer at the old place (exports show both columns).",
                q,
                answered,
            )
        )
    return out


def _entity_effect(e: EntityChange) -> dict[str, Any]:
    return {
        "code": f"entity_{e.change}",
        "message": (
            f"This form now creates or updates cases of `{e.dataset}`."
            if e.change == "added"
            else f"This form no longer creates or updates cases of `{e.dataset}`."
        ),
        "path": None,
        "submissions": None,
    }


def _property_effect(p: PropertyChange) -> dict[str, Any]:
    name = f"Property `{p.property}` of `{p.dataset}`"
    if p.change == "no_longer_saved":
        message = f"{name} is no longer updated by this form."
    elif p.change == "newly_saved":
        message = f"{name} is now saved by this form (from {p.new_question})."
    elif p.change == "source_changed":
        message = f"{name} is now saved from {p.new_question} instead of {p.old_question}."
    else:
        message = f"{name} now gets {p.new_type} answers instead of {p.old_type}."
    return {
        "code": f"property_{p.change}",
        "message": message,
        "path": p.new_question or p.old_question,
        "submissions": None,
    }


# -- comparing -------------------------------------------------------------------------------


def _flatten(fields: Iterable[Field]) -> dict[str, tuple[Field, str]]:
    """path → (field, parent path); the root's parent is ``""``."""
    out: dict[str, tuple[Field, str]] = {}

    def walk(items: Iterable[Field], parent: str) -> None:
        for item in items:
            out[item.path] = (item, parent)
            walk(item.children, item.path)

    walk(fields, "")
    return out


def _steps(path: str, tree: Mapping[str, tuple[Field, str]]) -> tuple[tuple[str, bool], ...]:
    """The keys of a field's answers in submission data (the root element dropped), each with
    whether it is a repeat (a list of instances)."""
    chain: list[Field] = []
    at: str = path
    while at in tree:
        item, parent = tree[at]
        chain.append(item)
        at = parent
    return tuple((f.name, f.kind == "repeat") for f in reversed(chain))


def _match(old: Sequence[Field], new: Sequence[Field]) -> dict[str, str]:
    """old path → new path for every field found in both versions."""
    pairs: dict[str, str] = {}
    taken: set[str] = set()

    def descend(old_children: Iterable[Field], new_children: Iterable[Field]) -> None:
        by_name = {c.name: c for c in new_children}
        for item in old_children:
            other = by_name.get(item.name)
            if other is not None and item.path not in pairs and other.path not in taken:
                pairs[item.path] = other.path
                taken.add(other.path)
                descend(item.children, other.children)

    descend(old, new)
    unmatched_old = [f for f in iter_fields(old) if f.path not in pairs]
    unmatched_new = [f for f in iter_fields(new) if f.path not in taken]
    old_names: dict[str, int] = {}
    for f in unmatched_old:
        old_names[f.name] = old_names.get(f.name, 0) + 1
    new_by_name: dict[str, list[Field]] = {}
    for f in unmatched_new:
        new_by_name.setdefault(f.name, []).append(f)
    for item in unmatched_old:
        candidates = new_by_name.get(item.name, [])
        if item.path in pairs or old_names[item.name] != 1 or len(candidates) != 1:
            continue
        other = candidates[0]
        if other.path in taken:
            continue
        pairs[item.path] = other.path
        taken.add(other.path)
        descend(item.children, other.children)
    return pairs


def _text_changes(
    attribute: str,
    old: Mapping[str, str],
    new: Mapping[str, str],
    languages: frozenset[str],
) -> list[AttributeChange]:
    """Per language; languages only one version has are reported once, for the whole form."""
    out = []
    for key in sorted(set(old) | set(new)):
        if key not in languages and not (key in old and key in new):
            continue
        before, after = old.get(key) or None, new.get(key) or None
        if before != after:
            out.append(AttributeChange(attribute, before, after, language=key))
    return out


_PLAIN_ATTRIBUTES = (
    ("relevance", "relevant"),
    ("constraint", "constraint"),
    ("required", "required"),
    ("calculation", "calculate"),
    ("appearance", "appearance"),
    ("save_to", "save_to"),
    ("choices_from", "choices_from"),
)


def _choice_changes(
    old: Field, new: Field, languages: frozenset[str], steps: tuple[tuple[str, bool], ...]
) -> list[ChoiceChange]:
    if old.choices is None or new.choices is None:
        return []
    before = {c.value: c for c in old.choices}
    after = {c.value: c for c in new.choices}
    counted = old.kind not in _NO_ANSWER
    out: list[ChoiceChange] = []
    for value, choice in before.items():
        key: CountKey | None = ("chose", steps, value) if counted else None
        if value not in after:
            out.append(ChoiceChange("removed", value, labels=choice.labels, count=key))
            continue
        out.extend(
            ChoiceChange("relabelled", value, language=c.language, old=c.old, new=c.new, count=key)
            for c in _text_changes("label", choice.labels, after[value].labels, languages)
        )
    out.extend(
        ChoiceChange("added", value, labels=choice.labels)
        for value, choice in after.items()
        if value not in before
    )
    return out


def _moved_in_place(
    old_children: Sequence[Field], new_children: Sequence[Field], pairs: Mapping[str, str]
) -> set[str]:
    """Old paths of children that stayed in their group but changed their order."""
    new_paths = {c.path for c in new_children}
    kept = [c.path for c in old_children if pairs.get(c.path) in new_paths]
    mapped = {pairs[p]: p for p in kept}
    new_order = [mapped[c.path] for c in new_children if c.path in mapped]
    matcher = difflib.SequenceMatcher(a=kept, b=new_order, autojunk=False)
    stayed: set[str] = set()
    for block in matcher.get_matching_blocks():
        stayed.update(kept[block.a : block.a + block.size])
    return set(kept) - stayed


def diff_versions(
    old_fields: Sequence[Field] | None,
    new_fields: Sequence[Field],
    *,
    old_entities: Sequence[Mapping[str, Any]] = (),
    new_entities: Sequence[Mapping[str, Any]] = (),
    old_languages: Sequence[str] = (),
    new_languages: Sequence[str] = (),
    default_language: str | None = None,
    compare_constraints: bool = True,
) -> FormDiff:
    """Compare two versions of a form.

    :param old_fields: the field tree of the earlier version; ``None`` when there is none
        (everything is added).
    :param new_fields: the field tree of the later version.
    :param old_entities: ``FormVersion.entities`` of the earlier version.
    :param new_entities: ``FormVersion.entities`` of the later version.
    :param old_languages: the earlier version's languages.
    :param new_languages: the later version's languages.
    :param default_language: the language labels are shown in.
    :param compare_constraints: whether both trees record constraints (versions stored before
        fieldapp kept them have none, which is not a change).
    :return: the differences, in the later version's order (removed questions last).
    """
    old_fields = old_fields or ()
    old_tree = _flatten(old_fields)
    new_tree = _flatten(new_fields)
    pairs = _match(old_fields, new_fields)
    back = {n: o for o, n in pairs.items()}
    common = frozenset(old_languages) & frozenset(new_languages)

    moved_in_place: set[str] = set()
    for parent_old, parent_new in [("", ""), *pairs.items()]:
        old_children = tuple(old_fields) if parent_old == "" else old_tree[parent_old][0].children
        new_children = tuple(new_fields) if parent_new == "" else new_tree[parent_new][0].children
        moved_in_place |= _moved_in_place(old_children, new_children, pairs)

    questions: list[QuestionChange] = []
    for path, (item, _parent) in new_tree.items():
        old_path = back.get(path)
        if old_path is None:
            questions.append(
                QuestionChange(
                    "added",
                    item.name,
                    path,
                    None,
                    xlsform_type(item),
                    _label(item.labels, default_language),
                )
            )
            continue
        before = old_tree[old_path][0]
        steps = _steps(old_path, old_tree)
        attributes: list[AttributeChange] = []
        if xlsform_type(before) != xlsform_type(item):
            attributes.append(AttributeChange("type", xlsform_type(before), xlsform_type(item)))
        attributes += _text_changes("label", before.labels, item.labels, common)
        attributes += _text_changes("hint", before.hints, item.hints, common)
        for name, attr in _PLAIN_ATTRIBUTES:
            if name == "constraint" and not compare_constraints:
                continue
            a, b = getattr(before, attr), getattr(item, attr)
            if a != b:
                attributes.append(AttributeChange(name, a, b))
        choices = _choice_changes(before, item, common, steps)
        relocated = old_path != path
        moved = relocated or old_path in moved_in_place
        if not (attributes or choices or moved):
            continue
        counted = before.kind not in _NO_ANSWER and (
            relocated or any(a.attribute == "type" for a in attributes)
        )
        questions.append(
            QuestionChange(
                "changed" if attributes or choices else "moved",
                item.name,
                path,
                old_path,
                xlsform_type(item),
                _label(item.labels, default_language),
                attributes=tuple(attributes),
                choices=tuple(choices),
                moved=moved,
                count=("answered", steps, None) if counted else None,
            )
        )
    for path, (item, _parent) in old_tree.items():
        if path in pairs:
            continue
        questions.append(
            QuestionChange(
                "removed",
                item.name,
                path,
                path,
                xlsform_type(item),
                _label(item.labels, default_language),
                count=(
                    ("answered", _steps(path, old_tree), None)
                    if item.kind not in _NO_ANSWER
                    else None
                ),
            )
        )

    entities, properties = _entity_changes(old_entities, new_entities, old_tree, new_tree, pairs)
    return FormDiff(
        languages_added=tuple(x for x in new_languages if x not in old_languages),
        languages_removed=tuple(x for x in old_languages if x not in new_languages),
        questions=tuple(questions),
        entities=tuple(entities),
        properties=tuple(properties),
    )


def _by_dataset(entities: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for decl in entities:
        out.setdefault(str(decl.get("dataset") or ""), decl)
    return out


def _properties(decl: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in decl.get("properties") or ():
        if isinstance(pair, list | tuple) and len(pair) == 2:
            out.setdefault(str(pair[0]), str(pair[1]))
    return out


def _entity_changes(
    old_entities: Sequence[Mapping[str, Any]],
    new_entities: Sequence[Mapping[str, Any]],
    old_tree: Mapping[str, tuple[Field, str]],
    new_tree: Mapping[str, tuple[Field, str]],
    pairs: Mapping[str, str],
) -> tuple[list[EntityChange], list[PropertyChange]]:
    before, after = _by_dataset(old_entities), _by_dataset(new_entities)
    entities: list[EntityChange] = []
    properties: list[PropertyChange] = []
    for dataset in [*after, *(d for d in before if d not in after)]:
        old, new = before.get(dataset), after.get(dataset)
        if old is None or new is None:
            entities.append(EntityChange("added" if old is None else "removed", dataset))
        else:
            changed = [
                AttributeChange(name, old.get(name), new.get(name))
                for name in ("create", "update", "label_expr", "container_path")
                if old.get(name) != new.get(name)
            ]
            if changed:
                entities.append(EntityChange("changed", dataset, tuple(changed)))
        old_props = _properties(old) if old is not None else {}
        new_props = _properties(new) if new is not None else {}
        for prop in [*new_props, *(p for p in old_props if p not in new_props)]:
            source, target = old_props.get(prop), new_props.get(prop)
            if target is None:
                properties.append(PropertyChange("no_longer_saved", dataset, prop, source, None))
            elif source is None:
                properties.append(PropertyChange("newly_saved", dataset, prop, None, target))
            elif pairs.get(source) != target:
                properties.append(PropertyChange("source_changed", dataset, prop, source, target))
            elif source in old_tree and target in new_tree:
                old_type = xlsform_type(old_tree[source][0])
                new_type = xlsform_type(new_tree[target][0])
                if old_type != new_type:
                    properties.append(
                        PropertyChange(
                            "type_changed", dataset, prop, source, target, old_type, new_type
                        )
                    )
    return entities, properties
