"""The registry of Monday screens: one entry per question, in the order they are shown.

A screen is a name (its URL: ``/care/<name>``), a title, the question it answers, a count (for
the dashboard and the ``/care`` index), and a function building its page (the template's
context). Adding a screen is adding a :class:`Screen` to :data:`SCREENS` (or calling
:func:`register`) with its template under ``templates/care/``; the routes, the index, the
dashboard tiles and the top bar's entry pick it up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l

from fieldapp.care import queries
from fieldapp.care.queries import Scope
from fieldapp.cases import screens as case_screens
from fieldapp.errors import NotFound


@dataclass(frozen=True)
class Screen:
    #: the URL segment and key (``overdue``)
    name: str
    #: the title and the question are lazy strings, in the reader's language where shown
    #: (``str()`` them for plain text); nothing compares or hashes them: ``name`` is the key
    title: str
    #: the question, one line
    question: str
    #: the template under ``templates/``
    template: str
    #: how many rows the screen has for a scope at a moment
    count: Callable[[Scope, datetime], int]
    #: the page's context for a scope at a moment (what the template reads)
    build: Callable[[Scope, datetime], Mapping[str, Any]] = lambda scope, now: {}
    #: a screen served elsewhere (the case package's consent and referral screens): the
    #: endpoint ``/care/<name>`` sends the reader to, with the chosen region
    endpoint: str | None = None


SCREENS: dict[str, Screen] = {}


def register(screen: Screen) -> Screen:
    if screen.name in SCREENS:
        raise ValueError(f"screen {screen.name!r} is already registered")
    SCREENS[screen.name] = screen
    return screen


def get(name: str) -> Screen:
    """:raises NotFound: no such screen."""
    screen = SCREENS.get(name)
    if screen is None:
        raise NotFound("No such screen.", code="care.screen_not_found")
    return screen


def counts(scope: Scope, now: datetime) -> list[tuple[Screen, int]]:
    """Every screen with its count for ``scope``."""
    return [(screen, screen.count(scope, now)) for screen in SCREENS.values()]


register(
    Screen(
        name="overdue",
        title=_l("Overdue visits"),
        question=_l("Who is overdue for a visit, by how long, and which workers are overloaded?"),
        template="care/overdue.html",
        count=lambda scope, now: queries.overdue_count(scope, now.date()),
        build=lambda scope, now: {"result": queries.overdue(scope, now.date())},
    )
)
register(
    Screen(
        name="screenings",
        title=_l("Worsened screenings"),
        question=_l("Whose wellbeing screening is worse than the previous one?"),
        template="care/screenings.html",
        count=lambda scope, now: queries.worsened_screenings(scope).count,
        build=lambda scope, now: {"result": queries.worsened_screenings(scope)},
    )
)
register(
    Screen(
        name="school",
        title=_l("School"),
        question=_l("Which school-age children have no check-in this term, or are doing worse?"),
        template="care/school.html",
        count=lambda scope, now: queries.school(scope, now.date()).count,
        build=lambda scope, now: {"result": queries.school(scope, now.date())},
    )
)
register(
    Screen(
        name="urgent",
        title=_l("Urgent, not reviewed"),
        question=_l("Which urgent submissions are still waiting for a decision, and since when?"),
        template="care/urgent.html",
        count=lambda scope, now: queries.urgent_count(scope),
        build=lambda scope, now: {"result": queries.urgent_unreviewed(scope, now)},
    )
)
register(
    Screen(
        name="consent",
        title=_l("No consent on record or withdrawn"),
        question=_l("Which open cases have no consent on record, or refused or withdrew it?"),
        template="cases/consent_missing.html",
        count=lambda scope, now: case_screens.missing_consent(set(scope.region_ids)).total,
        endpoint="consent_pages.missing_consent",
    )
)
register(
    Screen(
        name="referrals",
        title=_l("Late referrals"),
        question=_l("Which referrals are past their due date and not yet seen or closed?"),
        template="cases/referrals_late.html",
        count=lambda scope, now: (
            case_screens.late_referrals(set(scope.region_ids), now.date()).total
        ),
        endpoint="consent_pages.late_referrals",
    )
)
