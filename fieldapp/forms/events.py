"""Events the forms package publishes (see :mod:`fieldapp.events`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from fieldapp.events import Event
from fieldapp.forms.models import FormVersion


@dataclass(frozen=True, kw_only=True)
class FormPublished(Event):
    """A form version became current (case work creates the case lists it declares)."""

    name: ClassVar[str] = "form.published"
    version: FormVersion
