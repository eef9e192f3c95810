"""A year of the programme, replayed through the real services.

:class:`Simulation` makes the regions and staff, then walks a calendar of acts in time order,
each at its own simulated moment (:func:`fieldapp.db.simulated_clock`): a worker registers a
family (``family_registration``), a coordinator approves it (the cases are created by the
approval, as in production), then home visits, school check-ins and wellbeing screenings follow
on their cadences, each one an OpenRosa submission built in the form's real shape and taken in
by :func:`fieldapp.submissions.services.receive_submission` — the function the OpenRosa route
calls — and reviewed by the region's coordinator through
:func:`fieldapp.review.services.review_submission`. Some are sent back and corrected (an edit
with ``deprecatedID``), a few rejected; recent ones, and a few urgent ones, wait in the queue;
a few phones deliver days late after a colleague's visit (an offline conflict); some families
move to another region (:func:`fieldapp.cases.care.transfer`) or leave the programme
(:func:`fieldapp.cases.care.close`); a few workers are on leave at the end, so their families
are overdue.

Nothing is written around the services. Deterministic: the same seed, scale and ``now`` give the
same people, answers, instanceIDs, case ids and case codes (the case service draws the codes
from the simulation's own seeded source, :func:`fieldapp.cases.services.seeded_case_codes`;
real cases get theirs from ``secrets``). The driver is an entry point: it commits every
``batch_size`` acts (one unit of work per batch, not per row).
"""

from __future__ import annotations

import hashlib
import heapq
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

from sqlalchemy import select

from fieldapp.auth import services as auth
from fieldapp.auth.models import Region, Role, User
from fieldapp.blobs import BlobStorage
from fieldapp.cases import care
from fieldapp.cases.models import Case
from fieldapp.cases.services import seeded_case_codes
from fieldapp.db import db, simulated_clock
from fieldapp.forms.models import Form, FormVersion
from fieldapp.review.services import review_submission
from fieldapp.simulation import answers as make
from fieldapp.simulation import people
from fieldapp.simulation.answers import Household, Person, new_uuid
from fieldapp.simulation.instance import FormShape
from fieldapp.submissions.models import Submission
from fieldapp.submissions.services import Upload, receive_submission

FORMS = ("family_registration", "home_visit", "school_checkin", "wellbeing_screening")
USER_AGENT = "org.odk.collect.android/v2025.2.3 (simulated) okhttp/4.12.0"
#: people per unit of scale: ~190 mothers, ~520 children, ~60 workers
MOTHERS, CHILDREN, WORKERS = 190, 520, 60
DAYS = 365


@dataclass(frozen=True, slots=True)
class Sizes:
    """How many of each, for a scale (1: one country's programme)."""

    households: int
    children: int
    workers: int
    coordinators_per_region: int

    @classmethod
    def of(cls, scale: float) -> Sizes:
        if not 0 < scale <= 100:
            raise ValueError("scale must be above 0 and at most 100")
        households = max(2, round(MOTHERS * scale))
        return cls(
            households=households,
            children=max(households, round(CHILDREN * scale)),
            workers=max(len(people.REGIONS), round(WORKERS * scale)),
            coordinators_per_region=max(1, round(scale)),
        )


@dataclass(slots=True)
class Result:
    """What the run did."""

    seconds: float = 0.0
    submissions: Counter[str] = field(default_factory=Counter)
    reviews: Counter[str] = field(default_factory=Counter)
    acts: Counter[str] = field(default_factory=Counter)

    @property
    def total_submissions(self) -> int:
        return sum(self.submissions.values())


@dataclass(slots=True)
class _Fate:
    """What the coordinator will decide about one submission, drawn when it arrives."""

    decision: str  # approved | has_issues | rejected | wait
    form_id: str
    answers: dict[str, Any] | None = None  # kept only for the ones to correct
    household: Household | None = None
    username: str = ""
    registration: bool = False


class Simulation:
    """One replay. ``run()`` once.

    :param seed: the random seed; everything follows from it.
    :param scale: 1 is one country's programme (~700 people, ~20,000 submissions a year).
    :param now: the end of the simulated year (the demo passes the real now); the year is the
        365 days before it.
    :param password: every created account's password (the demo password).
    :param store: the blob store (consent signatures).
    :param progress: called with a line now and then.
    :param overdue_days: the app's ``URGENT_OVERDUE_DAYS``.
    """

    def __init__(
        self,
        *,
        seed: int,
        scale: float,
        now: datetime,
        password: str,
        store: BlobStorage,
        progress: Callable[[str], None] | None = None,
        batch_size: int = 500,
        overdue_days: int = 14,
    ) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (a simulation, not a secret)
        #: the case codes' own source: the same codes for the same seed, whatever else draws
        self._codes = random.Random(f"{seed}-case-codes")  # noqa: S311
        self.sizes = Sizes.of(scale)
        self.end = now.astimezone(UTC)
        self.start = self.end - timedelta(days=DAYS)
        self.password = password
        self.store = store
        self.progress = progress or (lambda _line: None)
        self.batch_size = batch_size
        self.overdue_days = overdue_days
        self.result = Result()
        self._heap: list[tuple[datetime, int, str, tuple[Any, ...]]] = []
        self._seq = 0
        self._set_now: Callable[[datetime], None] = lambda _when: None
        self._shapes: dict[str, FormShape] = {}
        self._fates: dict[int, _Fate] = {}
        self._busy: dict[str, datetime] = {}
        self._users: dict[str, int] = {}
        self._devices: dict[str, str] = {}
        self._coordinators: dict[str, list[str]] = {}
        self._workers: dict[str, list[str]] = {}
        self._leave: dict[str, tuple[datetime, datetime]] = {}
        #: urgent submissions left for the coordinators (not reviewed by the end)
        self._urgent_waiting = 0
        self._region_ids: dict[str, int] = {}
        self._households: list[Household] = []
        self._current = self.start
        self._hash: str | None = None

    # -- the run -------------------------------------------------------------------------

    def run(self) -> Result:
        began = time.monotonic()
        with simulated_clock() as set_now, seeded_case_codes(self._codes):
            self._set_now = set_now
            set_now(self.start - timedelta(days=14))
            self._load_shapes()
            self._staff()
            db.session.commit()
            self._families()
            done = 0
            last_month = -1
            while self._heap and self._heap[0][0] <= self.end:
                when, _seq, kind, args = heapq.heappop(self._heap)
                set_now(when)
                self._current = when
                getattr(self, f"_act_{kind}")(*args)
                self.result.acts[kind] += 1
                done += 1
                if done % self.batch_size == 0:
                    db.session.commit()
                    self._forget()
                month = (when - self.start).days * 12 // DAYS
                if month != last_month and month > 0:
                    last_month = month
                    self._report(month, began)
            db.session.commit()
        self.result.seconds = time.monotonic() - began
        self._report(12, began)
        return self.result

    def _report(self, month: int, began: float) -> None:
        self.progress(
            f"sample data: month {month}/12, {self.result.total_submissions:,} submissions, "
            f"{sum(self.result.reviews.values()):,} reviews ({time.monotonic() - began:.0f} s)"
        )

    def _forget(self) -> None:
        """Drop loaded rows after a commit (memory stays flat over 200,000 submissions)."""
        db.session.expunge_all()

    def _schedule(self, when: datetime, kind: str, *args: Any) -> None:
        when = max(when, self._current)  # the clock never runs backwards
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, kind, args))

    def _moment(self, day: date, *, early: int = 4, late: int = 12) -> datetime:
        """A time in working hours (UTC+5) on ``day``."""
        minute = self.rng.randrange(early * 60, late * 60)
        return datetime.combine(day, clock_time(0), tzinfo=UTC) + timedelta(
            minutes=minute, seconds=self.rng.randrange(60), milliseconds=self.rng.randrange(1000)
        )

    # -- set-up --------------------------------------------------------------------------

    def _load_shapes(self) -> None:
        for form_id in FORMS:
            form = db.session.scalars(select(Form).where(Form.form_id == form_id)).one_or_none()
            if form is None or form.current_version_id is None:
                raise LookupError(f"publish the programme form {form_id} first")
            version = db.session.get_one(FormVersion, form.current_version_id)
            self._shapes[form_id] = FormShape(version.xform, version.fields)

    def _user(self, username: str) -> User:
        user_id = self._users.get(username)
        if user_id is not None:
            return db.session.get_one(User, user_id)
        user = auth.get_user_by_username(username)
        assert user is not None
        self._users[username] = user.id
        return user

    def _ensure_user(self, username: str, role: Role, region: str, display: str) -> None:
        if auth.get_user_by_username(username) is None:
            auth.create_user(
                username,
                role=role.value,
                password=self.password,
                actor=None,
                regions=auth.regions_by_codes([region]),
                display_name=display,
                password_hash=self._password_hash(),
            )
        self._devices[username] = "collect:" + hashlib.sha256(username.encode()).hexdigest()[:16]

    def _password_hash(self) -> str:
        if self._hash is None:
            self._hash = auth.hash_password(self.password)
        return self._hash

    def _staff(self) -> None:
        """Regions, their coordinators and field workers (the demo's own kept as they are)."""
        existing = {"almaty": ["worker1", "worker3"], "turkistan": ["worker2"]}
        coordinators = {"almaty": "coord1", "turkistan": "coord2"}
        weights = [w for _c, _n, w, _s in people.REGIONS]
        counts = [1] * len(people.REGIONS)
        for _ in range(self.sizes.workers - len(counts)):
            index = max(range(len(counts)), key=lambda i: weights[i] / counts[i])
            counts[index] += 1
        for (code, name, _weight, _places), count in zip(people.REGIONS, counts, strict=True):
            region = auth.get_region(code)
            if region is None:
                region = auth.create_region(code, name, actor=None)
            self._region_ids[code] = region.id
            staff = []
            for n in range(self.sizes.coordinators_per_region):
                username = (
                    coordinators.get(code, f"coord-{code}") if n == 0 else f"coord-{code}-{n + 1}"
                )
                self._ensure_user(username, Role.COORDINATOR, code, f"Coordinator, {name}")
                staff.append(username)
            self._coordinators[code] = staff
            workers = list(existing.get(code, []))[:count]
            for n in range(len(workers), count):
                workers.append(f"sw-{code}-{n + 1}")
            for n, username in enumerate(workers):
                self._ensure_user(
                    username, Role.FIELD_WORKER, code, f"Social worker {n + 1}, {name}"
                )
            self._workers[code] = workers

    # -- the families --------------------------------------------------------------------

    def _families(self) -> None:
        rng = self.rng
        weights = [w for _c, _n, w, _s in people.REGIONS]
        sizes = self._children_per_household()
        load: Counter[str] = Counter()
        for index in range(self.sizes.households):
            code, _name, _w, places = rng.choices(people.REGIONS, weights)[0]
            worker = min(self._workers[code], key=lambda u: (load[u], self._workers[code].index(u)))
            load[worker] += 1
            wave = rng.choices((0, 1, 2), (70, 20, 10))[0]
            first_day = (0, 140, 250)[wave]
            arrival = self.start.date() + timedelta(days=first_day + rng.randrange(0, 35))
            surname = rng.choice(people.SURNAMES)
            mother_phq = self._trajectory(10.5)
            mother = Person(
                uuid=new_uuid(rng),
                kind="adult",
                given=rng.choice(people.MOTHER_NAMES),
                surname=surname,
                birth=date(rng.randrange(1984, 2002), rng.randrange(1, 13), rng.randrange(1, 29)),
                sex="female",
                phq_base=mother_phq[0],
                phq_slope=mother_phq[1],
            )
            town, district = rng.choice(places)
            household = Household(
                uuid=new_uuid(rng),
                region=code,
                worker=worker,
                settlement=town,
                district=district,
                host_relation=rng.choices(
                    (
                        "mother_parents",
                        "husband_family",
                        "siblings",
                        "other_relatives",
                        "no_relatives",
                    ),
                    (45, 25, 15, 10, 5),
                )[0],
                hosts=rng.randrange(0, 5),
                arrival=arrival,
                lang=rng.choices(("ru", "kk"), (3, 2))[0],
                mother=mother,
                resilience=rng.random(),
                lateness=rng.choices((0, 1, 3, 6), (50, 30, 15, 5))[0],
            )
            for _ in range(sizes[index]):
                household.children.append(self._child(household))
            self._households.append(household)
            registered = arrival + timedelta(days=rng.randrange(1, 6))
            self._schedule(self._moment(registered), "register", household)

        # about one family in 25 moves to another region, one in 20 leaves the programme
        # (at least one of each)
        early = [h for h in self._households if h.arrival < self.start.date() + timedelta(days=60)]
        early = early or self._households
        count = len(self._households)
        moving = rng.sample(
            early, min(len(early), max(1, round(count / 25)) + max(1, round(count / 20)))
        )
        for index, household in enumerate(moving):
            if index < max(1, round(count / 25)):
                days = rng.randrange(60, 200)
                kind = "transfer"
            else:
                days = rng.randrange(90, 280)
                kind = "close"
            self._schedule(self._moment(household.arrival + timedelta(days=days)), kind, household)
        # a few workers (one in twelve, at least one) are on leave at the end of the year:
        # their families fall overdue
        busy = [u for u in sorted(load) if u.startswith("sw-")] or sorted(load)
        for username in rng.sample(busy, max(1, round(len(busy) / 12))):
            begin = self.end - timedelta(days=rng.randrange(18, 40))
            self._leave[username] = (begin, self.end + timedelta(days=30))

    def _children_per_household(self) -> list[int]:
        n, total = self.sizes.households, self.sizes.children
        sizes = [1] * n
        for _ in range(total - n):
            index = self.rng.randrange(n)
            if sizes[index] < 7:
                sizes[index] += 1
        return sizes

    def _trajectory(self, mean: float) -> tuple[float, float]:
        """A PHQ total at arrival and its change per month."""
        rng = self.rng
        shape = rng.choices(("improving", "stable", "worsening"), (58, 30, 12))[0]
        slope = {
            "improving": -rng.uniform(0.25, 0.7),
            "stable": rng.uniform(-0.1, 0.1),
            "worsening": rng.uniform(0.35, 0.8),
        }[shape]
        return max(2.0, min(22.0, rng.gauss(mean, 4.0))), slope

    def _child(self, household: Household) -> Person:
        rng = self.rng
        age_days = int(max(200, min(17.5 * 365, rng.gauss(8.5 * 365, 3.6 * 365))))
        birth = household.arrival - timedelta(days=age_days)
        age = age_days // 365
        child_phq = self._trajectory(7.5)
        sex = rng.choice(("female", "male"))
        given = rng.choice(people.GIRL_NAMES if sex == "female" else people.BOY_NAMES)
        surname = household.mother.surname
        if sex == "male" and surname.endswith("а"):  # noqa: RUF001 (Cyrillic a)
            surname = surname[:-1]
        if age < 3:
            status = "too_young"
        elif age < 7:
            status = rng.choices(("kindergarten", "not_enrolled"), (7, 3))[0]
        else:
            status = rng.choices(("school", "not_enrolled"), (85, 15))[0]
        return Person(
            uuid=new_uuid(rng),
            kind="child",
            given=given,
            surname=surname,
            birth=birth,
            sex=sex,
            relation=rng.choices(("own", "relative", "other"), (90, 8, 2))[0],
            school_status=status,
            not_enrolled_reason=rng.choice(("no_documents", "no_place", "language"))
            if status == "not_enrolled"
            else None,
            languages=rng.choices(
                ("arabic", "arabic russian", "arabic kazakh", "kazakh", "russian arabic english"),
                (40, 20, 20, 15, 5),
            )[0],
            learning_plan=rng.choices(("yes", "no", "assess"), (5, 2, 3))[0],
            phq_base=child_phq[0],
            phq_slope=child_phq[1],
        )

    # -- submitting and reviewing ----------------------------------------------------------

    def _worker_of(self, household: Household, when: datetime) -> str | None:
        """Who visits the family now (``None``: its worker is on leave)."""
        leave = self._leave.get(household.worker)
        if leave and leave[0] <= when < leave[1]:
            return None
        return household.worker

    def _case(self, case_uuid: str) -> Case | None:
        return db.session.scalars(select(Case).where(Case.uuid == case_uuid)).one_or_none()

    def _after_busy(self, when: datetime, *uuids: str) -> datetime:
        """Not before the case's last submission has been decided (so acts rarely clash)."""
        busy = max((self._busy.get(u, when) for u in uuids), default=when)
        return busy + timedelta(hours=2) if busy > when else when

    def _submit(
        self,
        form_id: str,
        answers: dict[str, Any],
        username: str,
        *,
        household: Household,
        cases: tuple[str, ...],
        uploads: tuple[Upload, ...] = (),
        registration: bool = False,
    ) -> Submission:
        xml = self._shapes[form_id].render(answers)
        result = receive_submission(
            xml=xml,
            uploads=uploads,
            actor=self._user(username),
            store=self.store,
            device_id=self._devices.get(username),
            user_agent=USER_AGENT,
            overdue_days=self.overdue_days,
        )
        submission = result.submission
        self.result.submissions[form_id if result.outcome == "created" else "edits"] += 1
        self._decide(
            submission,
            form_id=form_id,
            answers=answers,
            household=household,
            username=username,
            cases=cases,
            registration=registration,
        )
        return submission

    def _decide(
        self,
        submission: Submission,
        *,
        form_id: str,
        answers: dict[str, Any],
        household: Household,
        username: str,
        cases: tuple[str, ...],
        registration: bool,
    ) -> None:
        rng = self.rng
        now = self._current
        edited = submission.review_state == "edited"
        if submission.urgent:
            delay = timedelta(minutes=rng.randrange(40, 360))
            # in the last weeks most are not seen yet, and at any scale at least the first one
            late = self.end - now < timedelta(days=21 if not self._urgent_waiting else 10)
            if late and (not self._urgent_waiting or rng.random() < 0.7):
                delay = timedelta(days=30)
                self._urgent_waiting += 1
        else:
            delay = timedelta(minutes=rng.randrange(180, 3 * 24 * 60))
        roll = rng.random()
        decision = "approved"
        if not edited and roll < 0.04:
            decision = "has_issues"
        elif not edited and roll < 0.05:
            decision = "rejected"
        fate = _Fate(
            decision,
            form_id,
            answers if decision == "has_issues" else None,
            household,
            username,
            registration,
        )
        self._fates[submission.id] = fate
        when = now + delay
        for case_uuid in cases:
            self._busy[case_uuid] = max(self._busy.get(case_uuid, when), when)
        self._schedule(when, "review", submission.id)

    def _coordinator(self, region_id: int) -> User:
        code = next(c for c, i in self._region_ids.items() if i == region_id)
        return self._user(self.rng.choice(self._coordinators[code]))

    def _act_review(self, submission_id: int) -> None:
        fate = self._fates.pop(submission_id)
        submission = db.session.get_one(Submission, submission_id)
        coordinator = self._coordinator(submission.region_id)
        rng = self.rng
        if fate.decision == "has_issues":
            review_submission(
                submission,
                state="has_issues",
                actor=coordinator,
                note=rng.choice(people.SEND_BACK_NOTES),
            )
            assert fate.answers is not None and fate.household is not None
            self._schedule(
                submission.updated_at + timedelta(hours=rng.randrange(6, 72)),
                "correct",
                submission.id,
                fate,
            )
        elif fate.decision == "rejected":
            review_submission(
                submission,
                state="rejected",
                actor=coordinator,
                note=rng.choice(people.REJECT_NOTES),
            )
            if fate.registration and fate.household is not None:
                fate.household.open = False  # a registration entered twice: the other one stands
        else:
            review_submission(submission, state="approved", actor=coordinator)
            if fate.registration and fate.household is not None:
                self._registered(fate.household)
        self.result.reviews[fate.decision] += 1

    def _act_correct(self, submission_id: int, fate: _Fate) -> None:
        """The worker corrects a sent-back submission: an edit, replacing the current version."""
        submission = db.session.get_one(Submission, submission_id)
        assert fate.answers is not None and fate.household is not None
        answers = dict(fate.answers)
        meta = dict(answers["meta"])
        current = submission.current_version
        assert current is not None
        meta["deprecatedID"] = current.instance_id
        meta["instanceID"] = f"uuid:{new_uuid(self.rng)}"
        answers["meta"] = meta
        if fate.form_id == "family_registration":
            extra = fate.household.hosts
            answers["household"] = {
                **answers["household"],
                "household_size": str(1 + len(fate.household.children) + extra + 1),
            }
        note = people.CORRECTION_NOTES[fate.household.lang]
        for group, key in (("closing", "worker_notes"), ("closing", "teacher_notes")):
            if isinstance(answers.get(group), dict) and key in answers[group]:
                answers[group] = {**answers[group], key: answers[group][key] + note}
        cases = (*(m.uuid for m in fate.household.members()), fate.household.uuid)
        self._submit(
            fate.form_id,
            answers,
            fate.username,
            household=fate.household,
            cases=cases,
            registration=fate.registration,
        )

    # -- the acts ----------------------------------------------------------------------------

    def _act_register(self, household: Household) -> None:
        rng = self.rng
        moment = self._current
        millis = int(moment.timestamp() * 1000)
        signature_name = f"{millis}.png"
        signature = b"\x89PNG\r\n\x1a\n" + hashlib.sha256(household.uuid.encode()).digest() * 8
        answers = make.registration(
            rng,
            household,
            moment=moment,
            device=self._devices[household.worker],
            signature=signature_name,
            instance_id=f"uuid:{new_uuid(rng)}",
        )
        self._submit(
            "family_registration",
            answers,
            household.worker,
            household=household,
            cases=(household.uuid,),
            uploads=(Upload(signature_name, signature, "image/png"),),
            registration=True,
        )

    def _registered(self, household: Household) -> None:
        """The registration was approved: the cases exist, follow-up starts."""
        rng = self.rng
        household.registered = True
        day = self._current.date()
        self._schedule(self._moment(day + timedelta(days=rng.randrange(5, 9))), "visit", household)
        self._schedule(
            self._moment(day + timedelta(days=rng.randrange(12, 26))),
            "screen",
            household,
            household.mother,
        )
        for child in household.children:
            if child.school_status != "too_young" or child.age(day) >= 3:
                self._schedule(
                    self._term(day + timedelta(days=rng.randrange(8, 20))),
                    "school",
                    household,
                    child,
                )
            if child.age(day) >= 11:
                self._schedule(
                    self._moment(day + timedelta(days=rng.randrange(20, 40))),
                    "screen",
                    household,
                    child,
                )

    def _term(self, day: date) -> datetime:
        """School check-ins pause from June to August."""
        if day.month in (6, 7, 8):
            day = date(day.year, 9, 1) + timedelta(days=self.rng.randrange(0, 10))
        return self._moment(day)

    def _months(self, household: Household) -> float:
        return (self._current.date() - household.arrival).days / 30.4

    def _later(self, when: datetime, kind: str, *args: Any) -> None:
        if when <= self.end:
            self._schedule(when, kind, *args)

    def _act_visit(self, household: Household) -> None:
        if not household.open:
            return
        rng = self.rng
        now = self._current
        username = self._worker_of(household, now)
        cadence = 6 if self._months(household) < 4 else rng.randrange(7, 10)
        if username is None:  # on leave: nobody comes
            self._later(now + timedelta(days=cadence), "visit", household)
            return
        start = self._after_busy(now, household.uuid)
        if start > now:
            self._schedule(start, "visit", household)
            return
        case = self._case(household.uuid)
        if case is None or case.status != "open":
            return
        answers = make.home_visit(
            rng,
            household,
            moment=now,
            device=self._devices[username],
            username=username,
            case_label=case.label,
            case_properties=dict(case.properties),
            base_version=case.version,
            months=self._months(household),
            instance_id=f"uuid:{new_uuid(rng)}",
            cadence=cadence,
        )
        next_visit = date.fromisoformat(answers["closing"]["next_visit_date"])
        if rng.random() < 0.012:
            # the phone is offline for days; meanwhile the coordinator visits the family
            delivered = now + timedelta(days=rng.randrange(2, 5), hours=rng.randrange(0, 6))
            self._busy[household.uuid] = delivered + timedelta(days=3)
            self._schedule(now + timedelta(days=1), "cover", household)
            self._schedule(delivered, "deliver", household, username, answers)
        else:
            self._submit(
                "home_visit", answers, username, household=household, cases=(household.uuid,)
            )
        late = household.lateness + max(0, round(rng.gauss(0, 1.5)))
        self._later(self._moment(next_visit + timedelta(days=late)), "visit", household)

    def _act_cover(self, household: Household) -> None:
        """A coordinator's own visit to a family whose worker's phone is offline."""
        case = self._case(household.uuid)
        if case is None or case.status != "open" or not household.open:
            return
        username = self._coordinators[household.region][0]
        self._devices.setdefault(
            username, "collect:" + hashlib.sha256(username.encode()).hexdigest()[:16]
        )
        answers = make.home_visit(
            self.rng,
            household,
            moment=self._current,
            device=self._devices[username],
            username=username,
            case_label=case.label,
            case_properties=dict(case.properties),
            base_version=case.version,
            months=self._months(household),
            instance_id=f"uuid:{new_uuid(self.rng)}",
            cadence=10,
        )
        self._submit("home_visit", answers, username, household=household, cases=(household.uuid,))

    def _act_deliver(self, household: Household, username: str, answers: dict[str, Any]) -> None:
        """The offline phone is back: its visit, based on the version it had, arrives late."""
        case = self._case(household.uuid)
        if case is None or case.region_id != self._region_ids[household.region]:
            return
        self._submit("home_visit", answers, username, household=household, cases=(household.uuid,))

    def _act_school(self, household: Household, child: Person) -> None:
        if not household.open:
            return
        rng = self.rng
        now = self._current
        username = self._worker_of(household, now)
        if username is None:
            self._later(self._term(now.date() + timedelta(days=14)), "school", household, child)
            return
        start = self._after_busy(now, child.uuid)
        if start > now:
            self._schedule(start, "school", household, child)
            return
        case = self._case(child.uuid)
        if case is None or case.status != "open":
            return
        answers = make.school_checkin(
            rng,
            household,
            child,
            moment=now,
            device=self._devices[username],
            username=username,
            case_label=case.label,
            base_version=case.version,
            months=self._months(household),
            instance_id=f"uuid:{new_uuid(rng)}",
        )
        self._submit("school_checkin", answers, username, household=household, cases=(child.uuid,))
        next_day = date.fromisoformat(answers["closing"]["next_checkin_date"])
        if child.school_status == "not_enrolled":
            next_day += timedelta(days=21)
        self._later(
            self._term(next_day - timedelta(days=rng.randrange(0, 3))), "school", household, child
        )

    def _act_screen(self, household: Household, person: Person) -> None:
        if not household.open:
            return
        rng = self.rng
        now = self._current
        username = self._worker_of(household, now)
        if username is None:
            self._later(now + timedelta(days=30), "screen", household, person)
            return
        start = self._after_busy(now, person.uuid)
        if start > now:
            self._schedule(start, "screen", household, person)
            return
        case = self._case(person.uuid)
        if case is None or case.status != "open":
            return
        answers = make.screening(
            rng,
            household,
            person,
            moment=now,
            device=self._devices[username],
            username=username,
            case_label=case.label,
            base_version=case.version,
            months=self._months(household),
            instance_id=f"uuid:{new_uuid(rng)}",
        )
        self._submit(
            "wellbeing_screening", answers, username, household=household, cases=(person.uuid,)
        )
        next_day = date.fromisoformat(answers["referral_section"]["next_screening_date"])
        self._later(
            self._moment(next_day + timedelta(days=rng.randrange(0, 4))),
            "screen",
            household,
            person,
        )

    def _member_cases(self, household: Household) -> list[Case]:
        found = [self._case(u) for u in (household.uuid, *(m.uuid for m in household.members()))]
        return [c for c in found if c is not None]

    def _act_transfer(self, household: Household) -> None:
        """The family moves to relatives in another region; the old coordinator transfers it."""
        if not household.open or not household.registered:
            return
        uuids = (household.uuid, *(m.uuid for m in household.members()))
        start = self._after_busy(self._current, *uuids)
        if start > self._current:
            self._schedule(start, "transfer", household)
            return
        codes = [c for c, _n, _w, _s in people.REGIONS if c != household.region]
        target = self.rng.choice(codes)
        region = db.session.get_one(Region, self._region_ids[target])
        actor = self._user(self._coordinators[household.region][0])
        worker = self.rng.choice(self._workers[target])
        for case in self._member_cases(household):
            if case.status == "open":
                care.transfer(case, region, actor=actor, assign_to=self._user(worker))
        household.region = target
        household.worker = worker
        town, district = self.rng.choice(next(s for c, _n, _w, s in people.REGIONS if c == target))
        household.settlement, household.district = town, district

    def _act_close(self, household: Household) -> None:
        """The family leaves the programme; the coordinator closes its cases."""
        if not household.open or not household.registered:
            return
        uuids = (household.uuid, *(m.uuid for m in household.members()))
        start = self._after_busy(self._current, *uuids)
        if start > self._current:
            self._schedule(start, "close", household)
            return
        actor = self._user(self._coordinators[household.region][0])
        reason = self.rng.choice(people.CLOSE_REASONS)
        for case in self._member_cases(household):
            if case.status == "open":
                care.close(case, actor=actor, reason=reason)
        household.open = False


def has_submissions() -> bool:
    """Whether the database already holds any (real) submission: the demo's sample year is
    loaded only into a database without one, so later starts reuse it."""
    return db.session.scalars(select(Submission.id).limit(1)).first() is not None


def load_sample_data(
    *,
    seed: int,
    scale: float,
    password: str,
    store: BlobStorage,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    overdue_days: int = 14,
) -> Result:
    """Run a :class:`Simulation` ending ``now`` (default: the real now) and return its result.

    The programme forms must be published and the demo users made (``fieldapp demo`` and
    ``fieldapp simulate`` do both first).
    """
    return Simulation(
        seed=seed,
        scale=scale,
        now=now or datetime.now(UTC),
        password=password,
        store=store,
        progress=progress,
        overdue_days=overdue_days,
    ).run()
