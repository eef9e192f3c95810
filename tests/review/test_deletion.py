"""Deleting a submission and restoring it: out of every read path while deleted, only by the
region's coordinators, with a reason kept in the history, its waiting case work cancelled and
made again on restore."""

from __future__ import annotations

from sqlalchemy import select

from fieldapp.audit.models import AuditEvent
from fieldapp.cases.models import CaseWork, WorkState
from fieldapp.db import db
from fieldapp.review.deletion import DELETED_WORK
from fieldapp.submissions.models import Submission
from tests.cases.support import SEED1_HOUSEHOLD, registration


def _delete(person, instance_id: str, reason: str = "sent to the wrong form"):  # type: ignore[no-untyped-def]
    return person.api.client.delete(
        f"/api/v1/submissions/{instance_id}", json={"reason": reason}, headers=person.api.headers
    )


def _work_states(instance_id: str) -> list[str]:
    db.session.expire_all()
    submission = db.session.scalars(
        select(Submission).where(Submission.instance_id == instance_id)
    ).one()
    return [
        w.state
        for w in db.session.scalars(
            select(CaseWork).where(CaseWork.submission_id == submission.id).order_by(CaseWork.id)
        )
    ]


def test_a_deleted_submission_leaves_every_read_path_and_comes_back_on_restore(programme, desk):
    worker, coord = programme["worker"], programme["coord"]
    xml, files = registration("seed1")
    instance = worker.submit(xml, files)
    assert set(_work_states(instance)) == {WorkState.PENDING.value}

    response = _delete(coord, instance)
    assert response.status_code == 200, response.json
    assert response.json["deleted"] is True

    # API: gone for the coordinator and for the worker who sent it
    assert coord.api.get(f"/api/v1/submissions/{instance}").status_code == 404
    assert worker.api.get(f"/api/v1/submissions/{instance}").status_code == 404
    listed = coord.api.get("/api/v1/submissions").json["items"]
    assert instance not in [s["instance_id"] for s in listed]
    # its waiting case work will never apply
    db.session.expire_all()
    works = db.session.scalars(select(CaseWork)).all()
    assert {(w.state, w.error) for w in works} == {(WorkState.SUPERSEDED.value, DELETED_WORK)}
    coord.api.review(instance, status=404)
    assert coord.api.get(f"/api/v1/cases/{SEED1_HOUSEHOLD}").status_code == 404

    # pages: not in the queue, the submission page is 404, listed under deleted submissions
    browser = desk("coord")
    assert instance not in browser.get("/review?state=all").data.decode()
    assert browser.get(f"/submissions/{instance}").status_code == 404
    deleted_page = browser.get("/review/deleted").data.decode()
    assert f'data-instance="{instance}"' in deleted_page

    # the audit log has it, without the reason (which may name people)
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.subject_id == instance)
    ).all()
    assert "submission.deleted" in actions
    details = db.session.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "submission.deleted")
    ).one()
    assert "wrong form" not in str(details)

    # restored in the page: in the queue again, with new waiting work, and the history says so
    response = browser.post(f"/review/deleted/{instance}/restore")
    assert response.status_code == 302
    assert coord.api.submission(instance)["review_state"] == "received"
    assert _work_states(instance)[-1] == WorkState.PENDING.value
    page = browser.get(f"/submissions/{instance}").data.decode()
    assert "Deleted: sent to the wrong form" in page
    assert "Restored." in page
    coord.api.review(instance)  # and it can be approved: the household is made
    assert coord.api.case(SEED1_HOUSEHOLD)["version"] == 1


def test_only_the_regions_coordinators_delete_and_a_reason_is_needed(programme, desk):
    worker, coord, coord_s = programme["worker"], programme["coord"], programme["coord_s"]
    xml, files = registration("seed1")
    instance = worker.submit(xml, files)

    assert _delete(coord_s, instance).status_code == 404  # another region: not there at all
    assert _delete(worker, instance).status_code == 404  # workers may not (role gate)
    no_reason = _delete(coord, instance, reason="  ")
    assert no_reason.status_code == 422
    assert no_reason.json["error"]["code"] == "submission.delete_reason_missing"
    assert coord.api.submission(instance)["review_state"] == "received"

    # the south coordinator cannot list or restore it either
    assert _delete(coord, instance).status_code == 200
    assert instance not in desk("coord_s").get("/review/deleted").data.decode()
    restore = coord_s.api.post(f"/api/v1/submissions/{instance}/restore", {})
    assert restore.status_code == 404
    assert _delete(coord, instance).status_code == 404  # already deleted: not visible
    again = coord.api.post(f"/api/v1/submissions/{instance}/restore", {})
    assert again.status_code == 200
    assert again.json["instance_id"] == instance
    assert coord.api.post(f"/api/v1/submissions/{instance}/restore", {}).status_code == 404


def test_the_delete_form_on_the_submission_page(programme, desk):
    worker = programme["worker"]
    xml, files = registration("seed1")
    instance = worker.submit(xml, files)
    browser = desk("coord")
    page = browser.get(f"/submissions/{instance}").data.decode()
    assert f'action="/submissions/{instance}/delete"' in page

    refused = browser.post(f"/submissions/{instance}/delete", {"reason": ""})
    assert refused.status_code == 302
    assert browser.get(f"/submissions/{instance}").status_code == 200  # still there

    asked = browser.post(f"/submissions/{instance}/delete", {"reason": "a training test"})
    assert asked.status_code == 200  # the confirmation page: nothing deleted yet
    assert "It can be restored" in asked.data.decode()
    assert 'name="confirm" value="1"' in asked.data.decode()
    assert browser.get(f"/submissions/{instance}").status_code == 200

    done = browser.post(
        f"/submissions/{instance}/delete", {"reason": "a training test", "confirm": "1"}
    )
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/review")
    assert browser.get(f"/submissions/{instance}").status_code == 404


def test_the_case_timeline_keeps_a_deleted_submissions_version_without_a_dead_link(programme, desk):
    worker, coord = programme["worker"], programme["coord"]
    instance = worker.submit(*registration("seed1"))
    coord.api.review(instance)  # the household case gets its first version from it
    browser = desk("coord")
    page = browser.get(f"/cases/{SEED1_HOUSEHOLD}").data.decode()
    assert f'href="/submissions/{instance}"' in page

    assert _delete(coord, instance).status_code == 200
    page = browser.get(f"/cases/{SEED1_HOUSEHOLD}").data.decode()
    assert "Version 1" in page  # what the case became stays on its timeline
    assert f'href="/submissions/{instance}"' not in page  # the link would be a 404
    assert "from a submission that was deleted or that you may not open" in page
