"""What a new form version does to data already received: the diff with submission counts.

:func:`version_diff` compares two versions of a form (:mod:`fieldapp.forms.diff`, pure) and
counts, in the submissions already received, the answers the change concerns: answers to a
removed question, to a question whose type changed or that moved, and each removed or
relabelled choice chosen. :func:`submission_counts` counts submissions per form version. A
submission counts under the form version of its *current* version (an edit made on a newer
version moves it); deleted submissions and test data (``sandbox``, left out of every ORM query
over submissions) never count.

Counts are over the whole programme, every region: they carry no personal data, and nothing
here returns an answer. They are computed in the database in one pass over the form's
submissions per batch of :data:`SUMS_PER_QUERY` questions and choices: a conditional sum per
count, over the JSON of each current version (SQLite's ``json_each``, PostgreSQL's
``jsonb_path_exists``), grouped by form version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, text
from sqlalchemy.sql.elements import ColumnElement, TextClause

from fieldapp.db import db
from fieldapp.errors import NotFound
from fieldapp.forms.diff import CountKey, FormDiff, diff_versions
from fieldapp.forms.models import Form, FormVersion
from fieldapp.forms.xform import fields_from_json
from fieldapp.submissions.models import Submission, SubmissionVersion

#: conditional sums per statement (each one pass over the form's submissions)
SUMS_PER_QUERY = 60
#: at most this many questions and choices are counted for one diff; beyond, ``null``
MAX_COUNTS = 600


def _version_of(form: Form, version: str) -> FormVersion:
    for candidate in form.versions:
        if candidate.version == version:
            return candidate
    raise NotFound(
        "Form '%(form)s' has no version '%(version)s'.",
        code="form.version_not_found",
        params={"form": form.form_id, "version": version},
    )


def default_pair(form: Form) -> tuple[FormVersion | None, FormVersion | None]:
    """What the diff compares when not told: the current published version with the draft;
    without a draft, the current version with the one published before it."""
    current = form.current_version
    if form.draft is not None:
        return current, form.draft
    if current is None:
        return None, None
    older = [v for v in form.published_versions if v.id < current.id]
    return (older[0] if older else None), current


def _segments(steps: Sequence[tuple[str, bool]]) -> list[list[str]]:
    """Keys split after each repeat: every segment but the last leads to a list of instances."""
    out: list[list[str]] = [[]]
    for name, repeat in steps:
        out[-1].append(name)
        if repeat:
            out.append([])
    return out


def _usable(steps: Sequence[tuple[str, bool]]) -> bool:
    return bool(steps) and all(name and not set(name) & {'"', "\\"} for name, _ in steps)


def _sqlite_condition(key: CountKey, n: int) -> TextClause:
    kind, steps, value = key
    segments = _segments(steps)
    params: dict[str, Any] = {}
    froms = []
    source = "submission_versions.data"
    for i, segment in enumerate(segments):
        name = f"dp{n}_{i}"
        params[name] = "$" + "".join(f'."{k}"' for k in segment)
        froms.append(f"json_each({source}, :{name}) AS dj{n}_{i}")
        source = f"dj{n}_{i}.value"
    leaf = f"dj{n}_{len(segments) - 1}"
    where = f"{leaf}.type != 'null'"
    if kind == "chose":
        params[f"dv{n}"] = value
        where += f" AND {leaf}.value = :dv{n}"
    # only generated aliases and parameter names are formatted in; every value is bound
    sql = f"EXISTS (SELECT 1 FROM {', '.join(froms)} WHERE {where})"  # noqa: S608
    return text(sql).bindparams(**params)


def _postgresql_condition(key: CountKey, n: int) -> TextClause:
    kind, steps, value = key
    path = "$" + "".join(f'."{name}"' + ("[*]" if repeat else "") for name, repeat in steps)
    # lax mode: [*] on a single answer is the answer itself, on a select_multiple its choices
    path += "[*]"
    path += " ? (@ == $v)" if kind == "chose" else ' ? (@.type() != "null")'
    return text(
        f"jsonb_path_exists(submission_versions.data, CAST(:dp{n} AS jsonpath), "
        f"CAST(:dv{n} AS jsonb))"
    ).bindparams(**{f"dp{n}": path, f"dv{n}": json.dumps({"v": value})})


def _base(form: Form, *columns: ColumnElement[Any]) -> Any:
    return (
        select(SubmissionVersion.form_version_id, func.count(), *columns)
        .select_from(Submission)
        .join(SubmissionVersion, SubmissionVersion.id == Submission.current_version_id)
        .where(Submission.form_pk == form.id, Submission.deleted_at.is_(None))
        .group_by(SubmissionVersion.form_version_id)
    )


def _version_names(form: Form) -> dict[int, str]:
    return {v.id: v.version for v in form.versions}


def submission_counts(form: Form) -> dict[str, int]:
    """Submissions (not deleted, not test data) per form version of their current version.

    :return: version string → count; versions without submissions are left out.
    """
    names = _version_names(form)
    return {
        names.get(version_id, str(version_id)): int(count)
        for version_id, count in db.session.execute(_base(form)).all()
    }


def count_answers(form: Form, keys: Iterable[CountKey]) -> dict[CountKey, dict[str, int]]:
    """For each count key, the submissions per form version that answered at its path (or
    chose its value there).

    :param keys: from :attr:`FormDiff.count_keys`; at most :data:`MAX_COUNTS` are counted.
    :return: key → version string → count (keys beyond the limit, or with unusable paths,
        are missing).
    """
    wanted = [k for k in keys if _usable(k[1])][:MAX_COUNTS]
    if not wanted:
        return {}
    condition = (
        _postgresql_condition
        if db.session.get_bind().dialect.name == "postgresql"
        else _sqlite_condition
    )
    names = _version_names(form)
    out: dict[CountKey, dict[str, int]] = {k: {} for k in wanted}
    for start in range(0, len(wanted), SUMS_PER_QUERY):
        batch = wanted[start : start + SUMS_PER_QUERY]
        sums = [func.sum(case((condition(k, start + i), 1), else_=0)) for i, k in enumerate(batch)]
        for row in db.session.execute(_base(form, *sums)).all():
            version = names.get(row[0], str(row[0]))
            for key, value in zip(batch, row[2:], strict=True):
                if value:
                    out[key][version] = int(value)
    return out


@dataclass(frozen=True, slots=True)
class VersionDiff:
    """Two versions of a form and what differs, with submission counts."""

    form: Form
    old: FormVersion | None
    new: FormVersion
    diff: FormDiff
    counts: dict[CountKey, dict[str, int]]
    submissions: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        """The API's ``FormDiff`` shape (see ``openapi.json``)."""

        def side(version: FormVersion | None) -> dict[str, Any] | None:
            if version is None:
                return None
            return {
                "version": version.version,
                "status": version.status,
                "current": version.id == self.form.current_version_id,
            }

        return {
            "form_id": self.form.form_id,
            "from": side(self.old),
            "to": side(self.new),
            **self.diff.to_json(self.counts),
            "submissions": {
                "total": sum(self.submissions.values()),
                "by_version": self.submissions,
            },
        }


def version_diff(
    form: Form, *, from_version: str | None = None, to_version: str | None = None
) -> VersionDiff:
    """Compare two versions of a form and count what the change touches in received data.

    :param from_version: the earlier version string; default: see :func:`default_pair`.
    :param to_version: the later version string; default: see :func:`default_pair`.
    :raises NotFound: no such version, or the form has nothing to compare
        (``form.version_not_found``).
    """
    default_old, default_new = default_pair(form)
    old = _version_of(form, from_version) if from_version else default_old
    new = _version_of(form, to_version) if to_version else default_new
    if new is None:
        raise NotFound(
            "Form '%(form)s' has no version to compare.",
            code="form.version_not_found",
            params={"form": form.form_id},
        )
    old_fields = old.fields if old is not None else None
    new_fields = new.fields
    result = diff_versions(
        fields_from_json(old_fields) if old_fields is not None else None,
        fields_from_json(new_fields),
        old_entities=old.entities if old is not None else (),
        new_entities=new.entities,
        old_languages=old.languages if old is not None else (),
        new_languages=new.languages,
        default_language=new.default_language,
        compare_constraints=_records_constraints(old_fields) and _records_constraints(new_fields),
    )
    return VersionDiff(
        form=form,
        old=old,
        new=new,
        diff=result,
        counts=count_answers(form, result.count_keys),
        submissions=submission_counts(form),
    )


def _records_constraints(fields: Sequence[Any] | None) -> bool:
    """Field trees stored before fieldapp kept constraints have no ``constraint`` key."""
    return not fields or "constraint" in fields[0]
