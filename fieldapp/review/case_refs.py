"""Answers that choose a case: shown by the case's code and label, not by its UUID.

Follow-up forms pick the family or child from a case-list CSV (``select_one_from_file
households.csv``); the answer is the case's UUID. On the submission page such an answer is shown
as the case's code and label with a link to its page, but only when the reader may see that case
(its region is theirs); otherwise the raw answer stays, so that nothing of another region's case
is revealed, not even whether it exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import select

from fieldapp.auth.models import User
from fieldapp.cases.models import Case, CaseList
from fieldapp.cases.services import may_see
from fieldapp.db import db
from fieldapp.forms.xform import Field
from fieldapp.submissions.parsing import DisplayItem

#: most cases one page looks up (a form chooses a handful; this bounds a hostile submission)
LIMIT = 500


@dataclass(frozen=True)
class CaseRef:
    uuid: str
    code: str
    label: str


@dataclass(frozen=True)
class CaseRefs:
    """Which answers choose a case (by field path), and the visible cases by UUID."""

    paths: frozenset[str] = frozenset()
    cases: dict[str, CaseRef] = field(default_factory=dict)

    def get(self, path: str, value: object) -> CaseRef | None:
        """The case an answer chose, if the answer chooses a case the reader may see."""
        if path not in self.paths or not isinstance(value, str):
            return None
        return self.cases.get(value.strip().lower())


def _walk(fields: Iterable[Field]) -> Iterator[Field]:
    for f in fields:
        yield f
        yield from _walk(f.children)


def _answers(items: Iterable[DisplayItem]) -> Iterator[DisplayItem]:
    for item in items:
        yield item
        yield from _answers(item.children)
        for entry in item.instances:
            yield from _answers(entry)


def case_select_paths(fields: Iterable[Field]) -> frozenset[str]:
    """Paths of the questions that choose from a case list's CSV."""
    lists = set(db.session.scalars(select(CaseList.name)))
    return frozenset(f.path for f in _walk(fields) if f.choices_from in lists)


def case_refs(fields: Iterable[Field], items: Iterable[DisplayItem], actor: User) -> CaseRefs:
    """The cases the answers ``items`` choose that ``actor`` may see.

    :param fields: the form version's field tree.
    :param items: the answers as :func:`fieldapp.submissions.parsing.describe` laid them out.
    """
    paths = case_select_paths(fields)
    if not paths:
        return CaseRefs()
    wanted = {
        item.value.strip().lower()
        for item in _answers(items)
        if item.path in paths and isinstance(item.value, str) and item.value.strip()
    }
    if not wanted:
        return CaseRefs(paths)
    found = db.session.scalars(select(Case).where(Case.uuid.in_(sorted(wanted)[:LIMIT]))).all()
    return CaseRefs(
        paths,
        {c.uuid: CaseRef(c.uuid, c.code, c.label) for c in found if may_see(actor, c)},
    )
