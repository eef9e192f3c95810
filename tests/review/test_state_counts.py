"""The kept counts of settled review states (``submission_state_counts``) equal the rows after
every kind of change: new, edited, decided (one by one and in bulk), deleted and restored
submissions, and changes made in plain SQL (the database keeps them, not the services)."""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import func, select, text

from fieldapp.auth.models import User
from fieldapp.db import db
from fieldapp.forms.models import Form
from fieldapp.submissions.models import COUNTED_STATES, Submission, SubmissionStateCount
from tests.cases.support import SEED1_HOUSEHOLD, home_visit, registration, set_element


def kept() -> Counter[tuple[int, int, str, bool]]:
    rows = db.session.execute(
        select(
            SubmissionStateCount.region_id,
            SubmissionStateCount.form_pk,
            SubmissionStateCount.review_state,
            SubmissionStateCount.urgent,
            SubmissionStateCount.n,
        )
    ).all()
    assert all(r.n >= 0 for r in rows), rows
    return Counter({(r.region_id, r.form_pk, r.review_state, r.urgent): r.n for r in rows if r.n})


def counted() -> Counter[tuple[int, int, str, bool]]:
    rows = db.session.execute(
        select(
            Submission.region_id,
            Submission.form_pk,
            Submission.review_state,
            Submission.urgent,
            func.count(),
        )
        .where(Submission.deleted_at.is_(None), Submission.review_state.in_(COUNTED_STATES))
        .group_by(
            Submission.region_id, Submission.form_pk, Submission.review_state, Submission.urgent
        )
    ).all()
    return Counter({(r[0], r[1], r[2], r[3]): r[4] for r in rows})


def shown(page) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-state="(\w+)">(\d+)<', page.data.decode())}


def check(browser, *urls: str) -> None:
    """The kept counts are the rows' counts, and the queue shows the rows' counts."""
    db.session.expire_all()
    assert kept() == counted()
    for url in urls or ("/review",):
        page = browser.get(url)
        assert page.status_code == 200
        query = select(Submission.review_state, func.count()).where(Submission.deleted_at.is_(None))
        if "urgent=1" in url:
            query = query.where(Submission.urgent.is_(True))
        if "form=home_visit" in url:
            query = query.where(
                Submission.form_pk.in_(select(Form.id).where(Form.form_id == "home_visit"))
            )
        if "worker=worker" in url:
            query = query.where(
                Submission.submitted_by_id.in_(select(User.id).where(User.username == "worker"))
            )
        rows = dict(db.session.execute(query.group_by(Submission.review_state)).all())
        numbers = shown(page)
        for state in ("received", "edited", "has_issues", "approved", "rejected"):
            assert numbers[state] == rows.get(state, 0), (url, state, numbers)


def visit(person, *, urgent: bool = False, base: int = 1) -> str:
    xml = set_element(home_visit(SEED1_HOUSEHOLD, base), "urgent", "yes" if urgent else "no")
    return person.submit(xml)


def test_kept_counts_follow_every_change(programme, desk):
    worker, coord = programme["worker"], programme["coord"]
    browser = desk("admin")
    urls = ("/review", "/review?urgent=1", "/review?form=home_visit", "/review?worker=worker")

    seed1 = worker.submit(*registration("seed1"))
    calm = [visit(worker) for _ in range(3)]
    urgent = [visit(worker, urgent=True) for _ in range(2)]
    south = visit(programme["worker_s"], urgent=True)
    check(browser, *urls)  # nothing settled yet: no kept counts

    coord.api.review(seed1)  # approved, one by one through the API
    coord.api.review(calm[0], "rejected", note="Wrong household.")
    coord.api.review(calm[1], "has_issues", note="Add the date.")
    programme["coord_s"].api.review(south, "rejected", note="Duplicate.")
    check(browser, *urls)

    # in the page: reject, and bulk approval of several at once
    coord_page = desk("coord")
    response = coord_page.post(
        f"/submissions/{calm[2]}/review", {"state": "rejected", "note": "Not this family."}
    )
    assert response.status_code == 302
    response = coord_page.post("/review/bulk-approve", {"instance_id": urgent})
    assert response.status_code == 200
    check(browser, *urls)

    # an edit of an approved registration: edited, no longer approved
    edit, edit_files = registration("edit_seed1")
    worker.submit(edit, edit_files)
    check(browser, *urls)

    # deleted (softly) and restored, through the API
    headers = coord.api.headers
    deleted = coord.api.client.delete(
        f"/api/v1/submissions/{urgent[0]}", json={"reason": "sent twice"}, headers=headers
    )
    assert deleted.status_code in (200, 204), deleted.data
    check(browser, *urls)
    restored = coord.api.client.post(
        f"/api/v1/submissions/{urgent[0]}/restore", json={}, headers=headers
    )
    assert restored.status_code in (200, 204), restored.data
    check(browser, *urls)

    # plain SQL: another urgency, another region, a settled state set directly, a row deleted
    row = db.session.scalars(select(Submission).where(Submission.instance_id == urgent[1])).one()
    north_region = row.region_id
    db.session.execute(
        text("UPDATE submissions SET urgent = :u WHERE id = :i"), {"u": False, "i": row.id}
    )
    south_region = db.session.scalar(
        select(Submission.region_id).where(Submission.instance_id == south)
    )
    db.session.execute(
        text("UPDATE submissions SET region_id = :r WHERE id = :i"),
        {"r": south_region, "i": row.id},
    )
    db.session.execute(
        text("UPDATE submissions SET review_state = 'approved' WHERE review_state = 'received'")
    )
    db.session.execute(
        text("UPDATE submissions SET region_id = :r WHERE id = :i"),
        {"r": north_region, "i": row.id},
    )
    db.session.commit()
    check(browser, *urls)
    db.session.execute(text("DELETE FROM case_work"))
    db.session.execute(text("DELETE FROM review_actions"))
    db.session.execute(text("DELETE FROM submissions WHERE instance_id = :i"), {"i": calm[0]})
    db.session.commit()
    check(browser, *urls)
    assert sum(kept().values()) > 0
