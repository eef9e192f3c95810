"""Plausible answers to the four programme forms (pure: no database).

Each function returns the nested answers :meth:`fieldapp.simulation.instance.FormShape.render`
fills the form's instance with. The forms' own calculations (totals, bands, ``urgent``, labels,
instance names) are computed here exactly as the XForms compute them, so the XML is what ODK
Collect would send after the same answers.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from fieldapp.simulation import people


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng`` (deterministic)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(slots=True)
class Person:
    """A returnee: a mother (``adult``) or a child, and their wellbeing trajectory."""

    uuid: str
    kind: str  # adult | child
    given: str
    surname: str
    birth: date
    sex: str
    #: PHQ total at arrival, and its change per month (negative: improving)
    phq_base: float
    phq_slope: float
    relation: str = "own"
    school_status: str = "too_young"
    not_enrolled_reason: str | None = None
    languages: str = "arabic"
    learning_plan: str = "assess"

    @property
    def full_name(self) -> str:
        return f"{self.given} {self.surname}"

    def age(self, on: date) -> int:
        years = on.year - self.birth.year
        return years - ((on.month, on.day) < (self.birth.month, self.birth.day))


@dataclass(slots=True)
class Household:
    """A family settled with relatives, and who follows it."""

    uuid: str
    region: str
    worker: str
    settlement: str
    district: str
    host_relation: str
    hosts: int
    arrival: date
    lang: str
    mother: Person
    children: list[Person] = field(default_factory=list)
    #: 0 (fragile) to 1 (resilient): how fast housing, income and ties improve
    resilience: float = 0.5
    #: extra days a worker is late to this family's visits
    lateness: int = 0
    #: unique deviceID of the worker's phone (changes with the worker)
    open: bool = True
    registered: bool = False

    @property
    def label(self) -> str:
        return f"{self.mother.surname} - {self.settlement}"

    def members(self) -> list[Person]:
        return [self.mother, *self.children]


def _clip(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def _spread(rng: random.Random, total: int, items: int, top: int) -> list[int]:
    """``items`` item scores of 0..``top`` that add up to ``total`` (clipped to what fits)."""
    total = max(0, min(total, items * top))
    scores = [0] * items
    for _ in range(total):
        index = rng.choice([i for i, s in enumerate(scores) if s < top])
        scores[index] += 1
    return scores


def stamp(moment: datetime) -> str:
    """A JavaRosa dateTime: milliseconds and ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _header(moment: datetime, minutes: int, device: str, username: str) -> dict[str, Any]:
    return {
        "start": stamp(moment - timedelta(minutes=minutes)),
        "end": stamp(moment),
        "deviceid": device,
        "username": username,
    }


def _pick_multi(rng: random.Random, options: Sequence[str], weights: Sequence[float]) -> str:
    chosen = [o for o, w in zip(options, weights, strict=True) if rng.random() < w]
    return " ".join(chosen) if chosen else "none"


# -- family_registration -------------------------------------------------------------------


def registration(
    rng: random.Random,
    household: Household,
    *,
    moment: datetime,
    device: str,
    signature: str,
    instance_id: str,
) -> dict[str, Any]:
    mother = household.mother
    settlement = household.settlement
    size = 1 + len(household.children) + household.hosts
    dob_known = rng.random() < 0.8
    patronymic = rng.choice(people.PATRONYMICS)
    full_name = " ".join(p for p in (mother.surname, mother.given, patronymic) if p)
    mother_answers: dict[str, Any] = {
        "mother_surname": mother.surname,
        "mother_given_name": mother.given,
        "mother_patronymic": patronymic,
        "mother_full_name": full_name,
        "mother_dob_known": "yes" if dob_known else "no",
    }
    if dob_known:
        mother_answers["mother_birth_date"] = mother.birth.isoformat()
    else:
        mother_answers["mother_birth_year_entered"] = str(mother.birth.year)
    mother_answers.update(
        {
            "mother_birth_year": str(mother.birth.year),
            "passport_status": rng.choices(
                ("valid", "in_process", "not_started", "lost"), (3, 5, 2, 1)
            )[0],
            "mother_phone": f"+770{rng.randrange(10_000_000, 99_999_999)}",
            "mother_household_id": household.uuid,
            "meta": {
                "entity": {
                    "@create": "1",
                    "@id": mother.uuid,
                    "label": f"{full_name} - {settlement}",
                }
            },
        }
    )
    children = []
    for child in household.children:
        entry: dict[str, Any] = {
            "child_name": child.full_name,
            "child_relation": child.relation,
            "child_sex": child.sex,
            "child_birth_date": child.birth.isoformat(),
            "birth_certificate_status": rng.choices(
                ("issued", "in_process", "dna_test", "not_started"),
                (2, 4, 1 if child.relation != "own" else 0, 2),
            )[0],
            "school_status": child.school_status,
        }
        if child.school_status == "not_enrolled":
            entry["not_enrolled_reason"] = child.not_enrolled_reason or "no_documents"
        entry["child_languages"] = child.languages
        if child.school_status != "too_young":
            entry["needs_learning_plan"] = child.learning_plan
        entry["child_household_id"] = household.uuid
        entry["child_mother_id"] = mother.uuid
        entry["meta"] = {
            "entity": {
                "@create": "1",
                "@id": child.uuid,
                "label": f"{child.full_name} ({child.birth.year})",
            }
        }
        children.append(entry)
    answers: dict[str, Any] = _header(moment, rng.randrange(25, 70), device, household.worker)
    answers.update(
        {
            "intro": "",
            "consent": {
                "consent_explained": "OK",
                "consent_given": "yes",
                "consent_signature": signature,
            },
            "household": {
                "settlement": settlement,
                "district": household.district,
                "address_notes": "",
                "host_relation": household.host_relation,
                **(
                    {"host_contact": f"+770{rng.randrange(10_000_000, 99_999_999)}"}
                    if household.host_relation != "no_relatives"
                    else {}
                ),
                "household_size": str(size),
                "arrival_date": household.arrival.isoformat(),
                "return_date": (
                    household.arrival - timedelta(days=rng.randrange(30, 62))
                ).isoformat(),
            },
            "mother": mother_answers,
            "documents": {
                "residence_registration": rng.choice(("done", "in_process", "not_started")),
                "medical_registration": rng.choice(("done", "in_process", "not_started")),
                "benefits_application": rng.choice(("done", "in_process", "not_started")),
                "documents_notes": "",
            },
            "children_intro": "",
            "children": children,
            "children_count": str(len(children)),
            "follow_up": {
                "next_visit_date": (moment.date() + timedelta(days=7)).isoformat(),
                "location": _geopoint(rng, household),
                "worker_notes": rng.choice(people.VISIT_NOTES[household.lang]),
            },
            "meta": {
                "entity": {"@create": "1", "@id": household.uuid, "label": household.label},
                "instanceID": instance_id,
                "instanceName": f"Registration: {household.label}",
            },
        }
    )
    return answers


def _geopoint(rng: random.Random, household: Household) -> str:
    # somewhere in Kazakhstan (a rough box), as Collect writes it: lat lon altitude accuracy
    lat = 41.0 + rng.random() * 12.0
    lon = 51.0 + rng.random() * 29.0
    return f"{lat:.6f} {lon:.6f} {rng.randrange(200, 900)}.0 {rng.randrange(3, 15)}.0"


# -- home_visit ------------------------------------------------------------------------------


def home_visit(
    rng: random.Random,
    household: Household,
    *,
    moment: datetime,
    device: str,
    username: str,
    case_label: str,
    case_properties: dict[str, Any],
    base_version: int,
    months: float,
    instance_id: str,
    cadence: int,
) -> dict[str, Any]:
    progress = min(1.0, months / 9.0) * (0.5 + household.resilience)
    outcome = rng.choices(("met", "not_home", "refused", "moved"), (88, 9, 1.5, 0.5))[0]
    answers: dict[str, Any] = _header(moment, rng.randrange(30, 90), device, username)
    answers["household"] = household.uuid
    answers["household_label"] = case_label
    answers["prev_last_visit"] = str(case_properties.get("last_visit") or "")
    answers["prev_next_visit"] = str(case_properties.get("next_visit") or "")
    if answers["prev_last_visit"]:
        answers["previous_visit"] = ""
    visit_date = moment.date()
    answers["visit_date"] = visit_date.isoformat()
    answers["visit_outcome"] = outcome
    urgent = False
    risk_level = "low"
    if outcome == "moved":
        answers["new_address"] = f"{household.settlement}, ул. Абая {rng.randrange(1, 200)}"
    if outcome == "met":
        answers["present"] = _pick_multi(
            rng, ("mother", "children", "relatives", "other"), (0.97, 0.85, 0.5, 0.05)
        ).replace("none", "mother")
        condition = rng.choices(
            ("good", "adequate", "poor", "unsafe"),
            (1 + 3 * progress, 3, max(0.3, 2 - 2 * progress), max(0.05, 0.3 - 0.3 * progress)),
        )[0]
        answers["housing"] = {
            "housing_type": "relatives_home"
            if household.host_relation != "no_relatives" and progress < 0.6
            else rng.choice(("relatives_home", "rented", "social", "own")),
            "housing_condition": condition,
            "secure_tenancy": rng.choices(("yes", "no", "dont_know"), (1 + progress * 4, 2, 1))[0],
        }
        mother_works = rng.random() < 0.15 + 0.45 * progress
        who_works = _pick_multi(
            rng,
            ("mother", "relatives", "older_children"),
            (1.0 if mother_works else 0.0, 0.6, 0.05),
        )
        income: dict[str, Any] = {"who_works": who_works}
        if not mother_works:
            income["mother_wants_work"] = rng.choices(("yes", "no"), (3, 1))[0]
        income["income_sources"] = _pick_multi(
            rng,
            ("wages", "self_employed", "child_benefit", "social_assistance", "relatives"),
            (0.6 if mother_works else 0.1, 0.1, 0.7, 0.6, 0.5),
        )
        income["income_sufficient"] = rng.choices(
            ("yes", "partly", "no"), (0.5 + 3 * progress, 3, max(0.3, 2.5 - 2.5 * progress))
        )[0]
        answers["income"] = income
        pending = _pick_multi(
            rng,
            ("passport", "birth_certificates", "residence", "guardianship", "benefits", "medical"),
            [max(0.02, 0.5 - 0.5 * progress)] * 6,
        )
        documents: dict[str, Any] = {"pending_documents": pending}
        if pending != "none":
            documents["document_problems"] = ""
        answers["documents"] = documents
        answers["family_ties"] = {
            "relatives_attitude": rng.choices(
                ("accepting", "mixed", "rejecting", "no_contact"),
                (1 + 3 * household.resilience, 2, max(0.2, 1 - household.resilience), 0.4),
            )[0],
            "relatives_contact": rng.choice(("weekly", "monthly", "rarely")),
            "family_notes": "",
        }
        answers["needs_section"] = {
            "needs": _pick_multi(
                rng,
                (
                    "food",
                    "clothing",
                    "medical",
                    "psychological",
                    "legal",
                    "documents",
                    "employment",
                ),
                [max(0.03, 0.35 - 0.3 * progress)] * 7,
            )
        }
        risks = _pick_multi(
            rng,
            ("stigma", "family_conflict", "eviction", "threats", "domestic_violence"),
            (0.25 - 0.15 * progress, 0.1, 0.04, 0.006, 0.004),
        )
        risk_level = rng.choices(
            ("low", "medium", "high"), (3 + 6 * progress, 2 - progress, 0.12 - 0.08 * progress)
        )[0]
        risks_section: dict[str, Any] = {"risks": risks, "risk_level": risk_level}
        if risk_level != "low" or risks != "none":
            risks_section["risk_details"] = rng.choice(people.VISIT_NOTES[household.lang])
        answers["risks_section"] = risks_section
        urgent = risk_level == "high" or any(
            r in risks.split()
            for r in ("threats", "domestic_violence", "child_unsafe", "health_crisis")
        )
    answers["urgent"] = "yes" if urgent else "no"
    if urgent:
        answers["urgent_note"] = ""
    days = 7 if urgent or risk_level == "high" else cadence
    next_visit = visit_date + timedelta(days=days + rng.randrange(-1, 3))
    closing: dict[str, Any] = {"worker_notes": rng.choice(people.VISIT_NOTES[household.lang])}
    if outcome == "met":
        closing["photo"] = ""
    closing["next_visit_date"] = next_visit.isoformat()
    answers["closing"] = closing
    answers["meta"] = {
        "entity": {
            "@update": "1",
            "@baseVersion": str(base_version),
            "@trunkVersion": "",
            "@branchId": "",
            "@id": household.uuid,
        },
        "instanceID": instance_id,
        "instanceName": f"Home visit {visit_date.isoformat()} - {case_label}",
    }
    return answers


# -- school_checkin -------------------------------------------------------------------------


def school_checkin(
    rng: random.Random,
    household: Household,
    child: Person,
    *,
    moment: datetime,
    device: str,
    username: str,
    case_label: str,
    base_version: int,
    months: float,
    instance_id: str,
) -> dict[str, Any]:
    today = moment.date()
    age = child.age(today)
    if child.school_status == "not_enrolled" and rng.random() < 0.3:
        child.school_status = "school" if age >= 7 else "kindergarten"
    progress = min(1.0, months / 9.0)
    answers: dict[str, Any] = _header(moment, rng.randrange(15, 40), device, username)
    answers["child"] = child.uuid
    answers["child_label"] = case_label
    answers["checkin_date"] = today.isoformat()
    answers["info_sources"] = rng.choice(
        ("teacher", "teacher mother", "teacher child", "school_staff")
    )
    status = child.school_status
    enrolment: dict[str, Any] = {"school_status": status}
    urgent = False
    if status == "not_enrolled":
        enrolment["not_enrolled_reason"] = child.not_enrolled_reason or "no_documents"
    answers["enrolment"] = enrolment
    if status in ("school", "kindergarten"):
        enrolment["school_name"] = (
            f"Школа №{rng.randrange(1, 60)}"
            if status == "school"
            else f"Детский сад №{rng.randrange(1, 90)}"
        )
        if status == "school":
            enrolment["grade"] = str(max(0, min(11, age - 6)))
        absent = max(0, min(23, round(rng.expovariate(1 / (4 - 2 * progress)))))
        attendance: dict[str, Any] = {"days_absent": str(absent)}
        if absent:
            attendance["absence_reasons"] = rng.choices(
                ("illness", "family", "transport", "avoids_school", "unknown"), (5, 2, 1, 1, 1)
            )[0]
        answers["attendance"] = attendance
        answers["language"] = {
            "instruction_language": rng.choices(("kazakh", "russian", "both"), (5, 3, 1))[0],
            "language_support": "yes" if progress < 0.7 else rng.choice(("yes", "no")),
            "language_comfort": rng.choices(
                ("well", "partly", "little"), (0.3 + 3 * progress, 2, max(0.2, 2 - 2 * progress))
            )[0],
        }
        plan = rng.choices(("yes", "in_preparation", "no"), (4, 1, 1))[0]
        learning: dict[str, Any] = {"has_learning_plan": plan}
        if plan == "yes":
            learning["learning_plan_progress"] = rng.choices(
                ("good", "some", "none", "behind"), (1 + 2 * progress, 3, 0.5, 1)
            )[0]
        learning["learning_gaps"] = _pick_multi(
            rng,
            ("reading", "writing", "maths", "language", "attention", "behaviour"),
            [max(0.05, 0.45 - 0.35 * progress)] * 4 + [0.1, 0.05],
        )
        answers["learning"] = learning
        bullying = _pick_multi(
            rng, ("verbal", "exclusion", "physical", "online"), (0.12, 0.1, 0.012, 0.02)
        )
        reported = bullying != "none"
        answers["bullying"] = {
            "bullying_types": bullying,
            "bullying_reported": "yes" if reported else "no",
        }
        if reported:
            answers["bullying"]["bullying_details"] = rng.choice(people.TEACHER_NOTES["ru"])
        assent = rng.choices(("yes", "no", "absent"), (8, 1, 1))[0]
        voice: dict[str, Any] = {"child_voice_intro": "", "child_assent": assent}
        feel_safe = "yes"
        if assent == "yes":
            feel_safe = rng.choices(("yes", "sometimes", "no", "no_answer"), (12, 3, 0.15, 1))[0]
            voice.update(
                {
                    "feel_safe": feel_safe,
                    "has_friends": rng.choices(
                        ("yes", "no", "no_answer"), (3 + 4 * progress, 1, 1)
                    )[0],
                    "likes_school": rng.choice(("yes", "sometimes", "no")),
                    "understands_teacher": rng.choices(
                        ("yes", "sometimes", "no"), (1 + 4 * progress, 2, 1)
                    )[0],
                    "hurt_by_others": rng.choices(("yes", "sometimes", "no"), (0.3, 1, 6))[0],
                    "child_wish": "",
                }
            )
        answers["child_voice"] = voice
        urgent = "physical" in bullying.split() or (assent == "yes" and feel_safe == "no")
    answers["urgent"] = "yes" if urgent else "no"
    if urgent:
        answers["urgent_note"] = ""
    answers["closing"] = {
        "teacher_notes": rng.choice(people.TEACHER_NOTES[household.lang]),
        "next_checkin_date": (today + timedelta(days=rng.randrange(13, 17))).isoformat(),
    }
    answers["meta"] = {
        "entity": {
            "@update": "1",
            "@baseVersion": str(base_version),
            "@trunkVersion": "",
            "@branchId": "",
            "@id": child.uuid,
        },
        "instanceID": instance_id,
        "instanceName": f"School check-in {today.isoformat()} - {case_label}",
    }
    return answers


# -- wellbeing_screening ---------------------------------------------------------------------


def phq_band(total: int) -> str:
    for limit, band in ((20, "severe"), (15, "mod_severe"), (10, "moderate"), (5, "mild")):
        if total >= limit:
            return band
    return "minimal"


def gad_band(total: int) -> str:
    for limit, band in ((15, "severe"), (10, "moderate"), (5, "mild")):
        if total >= limit:
            return band
    return "minimal"


def screening(
    rng: random.Random,
    household: Household,
    person: Person,
    *,
    moment: datetime,
    device: str,
    username: str,
    case_label: str,
    base_version: int,
    months: float,
    instance_id: str,
) -> dict[str, Any]:
    today = moment.date()
    severity = person.phq_base + person.phq_slope * months + rng.gauss(0, 1.6)
    phq_total = _clip(severity, 0, 27)
    items = _spread(rng, phq_total, 8, 3)
    # item 9 (thoughts of self-harm): rare, and mostly when the rest is severe
    item9 = 1 if (phq_total >= 17 and rng.random() < 0.3) or rng.random() < 0.004 else 0
    items.append(item9)
    phq_total = sum(items)
    answers: dict[str, Any] = _header(moment, rng.randrange(20, 45), device, username)
    answers["intro"] = ""
    answers["subject_type"] = person.kind
    answers["screening_date"] = today.isoformat()
    next_date = today + timedelta(
        days=rng.randrange(21, 28) if months < 6 else rng.randrange(35, 45)
    )
    urgent = False
    if person.kind == "adult":
        gad_total = _clip(phq_total * 0.7 + rng.gauss(0, 2), 0, 21)
        gad = _spread(rng, gad_total, 7, 3)
        who_raw = _clip(24 - phq_total * 0.8 + rng.gauss(0, 2.5), 0, 25)
        who = _spread(rng, who_raw, 5, 5)
        urgent = phq_total >= 20 or gad_total >= 15 or item9 > 0
        refer, urgency = _referral(rng, urgent, phq_total)
        block: dict[str, Any] = {
            "adult": person.uuid,
            "adult_label": case_label,
            "adult_intro": "",
            "phq9_items": {f"phq{i + 1}": str(v) for i, v in enumerate(items)},
        }
        if item9 > 0:
            block["adult_self_harm_note"] = ""
        block["adult_phq_total"] = str(phq_total)
        if phq_total > 0:
            block["phq_difficulty"] = rng.choices(
                ("not_difficult", "somewhat", "very", "extremely"),
                (3, 3, 1 + phq_total / 8, phq_total / 15),
            )[0]
        block["gad7_items"] = {f"gad{i + 1}": str(v) for i, v in enumerate(gad)}
        block["who5_items"] = {f"who{i + 1}": str(v) for i, v in enumerate(who)}
        block["adult_gad_total"] = str(gad_total)
        block["adult_who5_raw"] = str(who_raw)
        block["adult_who5_percent"] = str(who_raw * 4)
        block["adult_results"] = {
            "adult_scores": "",
            "adult_phq_band": phq_band(phq_total),
            "adult_gad_band": gad_band(gad_total),
            "adult_who5_band": "poor" if who_raw * 4 <= 50 else "adequate",
        }
        block["adult_last_screening"] = today.isoformat()
        block["adult_referral"] = urgency if refer == "yes" else "no"
        block["adult_next_visit"] = next_date.isoformat()
        block["meta"] = {"entity": _update_entity(person.uuid, base_version)}
        answers["adult_screening"] = block
    else:
        assent = "yes" if rng.random() < 0.92 else "no"
        block = {
            "child": person.uuid,
            "child_label": case_label,
            "child_intro": "",
            "child_assent": assent,
        }
        total = 0
        self_harm = False
        if assent == "no":
            block["child_no_assent_note"] = ""
        else:
            total = phq_total
            block["phqa_items"] = {f"phqa{i + 1}": str(v) for i, v in enumerate(items)}
            thoughts = (
                "yes"
                if item9 and rng.random() < 0.5
                else rng.choices(("no", "no_answer"), (20, 1))[0]
            )
            block["child_safety"] = {"child_serious_thoughts": thoughts, "child_attempt": "no"}
            self_harm = item9 > 0 or thoughts == "yes"
        block["child_self_harm"] = "yes" if self_harm else "no"
        if self_harm:
            block["child_self_harm_note"] = ""
        block["child_phq_total"] = str(total)
        if assent == "yes":
            block["child_results"] = {"child_scores": "", "child_phq_band": phq_band(total)}
        urgent = assent == "yes" and (total >= 20 or self_harm)
        refer, urgency = _referral(rng, urgent, total)
        block["child_last_screening"] = today.isoformat()
        block["child_referral"] = urgency if refer == "yes" else "no"
        block["child_next_visit"] = next_date.isoformat()
        block["meta"] = {"entity": _update_entity(person.uuid, base_version)}
        answers["child_screening"] = block
    answers["urgent"] = "yes" if urgent else "no"
    referral: dict[str, Any] = {}
    if urgent:
        referral["urgent_note"] = ""
    referral["refer"] = refer
    if refer == "yes":
        referral["referral_urgency"] = urgency
    referral["screener_notes"] = rng.choice(people.SCREENER_NOTES[household.lang])
    referral["next_screening_date"] = next_date.isoformat()
    answers["referral_section"] = referral
    answers["meta"] = {
        "instanceID": instance_id,
        "instanceName": f"Screening {today.isoformat()} - {case_label}",
    }
    return answers


def _referral(rng: random.Random, urgent: bool, total: int) -> tuple[str, str]:
    if urgent:
        return "yes", "today"
    if total >= 15 or (total >= 10 and rng.random() < 0.5):
        return "yes", rng.choice(("week", "month"))
    return "no", ""


def _update_entity(case_uuid: str, base_version: int) -> dict[str, str]:
    return {
        "@update": "1",
        "@baseVersion": str(base_version),
        "@trunkVersion": "",
        "@branchId": "",
        "@id": case_uuid,
    }
