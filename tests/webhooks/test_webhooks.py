"""Webhooks against a real HTTP receiver on loopback: signatures checked with the standard
library, retries, order per subject, no loss when a sender dies, sandbox events, answers only
when chosen, rotation, the overdue tick, and admin-only access."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from fieldapp.cases import services as cases
from fieldapp.cases.models import Case, CaseList
from fieldapp.db import db
from fieldapp.errors import Invalid
from fieldapp.events import publish
from fieldapp.submissions.events import SubmissionReceived
from fieldapp.submissions.models import Submission
from fieldapp.webhooks import services
from fieldapp.webhooks.models import WebhookAttempt, WebhookDelivery
from tests.cases.support import registration

pytestmark = pytest.mark.filterwarnings("error")


def register(programme: Any, receiver: Any, events: list[str], **extra: Any) -> dict[str, Any]:
    response = programme["admin"].api.post(
        "/api/v1/webhooks", {"url": receiver.url(), "events": events, **extra}
    )
    assert response.status_code == 201, response.json
    assert response.json["secret"].startswith("whsec_")
    return dict(response.json)


def verify(received: Any, secret: str) -> bool:
    """Standard Webhooks verification, recomputed with hmac/hashlib/base64 only."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = (
        received.headers["webhook-id"].encode()
        + b"."
        + received.headers["webhook-timestamp"].encode()
        + b"."
        + received.body
    )
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for part in received.headers["webhook-signature"].split(" "):
        version, _, signature = part.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


def drain(worker: Any) -> int:
    """Run passes until one finds nothing due (a subject's next message waits for the pass
    after its predecessor's)."""
    total = 0
    while sent := worker.run_once():
        total += sent
    return total


def deliveries() -> list[WebhookDelivery]:
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_a_submission_is_delivered_signed_and_minimal(programme, receiver, make_worker):
    hook = register(programme, receiver, ["submission.received"])
    xml, files = registration("seed1", fresh=True)
    instance = programme["worker"].submit(xml, files)
    # ingest only wrote the outbox row: nothing was sent yet
    assert receiver.received == []
    assert [d.state for d in deliveries()] == ["pending"]

    assert make_worker().run_once() == 1
    [message] = receiver.received
    assert verify(message, hook["secret"])
    assert not verify(message, services.new_secret())
    assert message.headers["webhook-id"].startswith("msg_")
    body = message.json
    assert body["type"] == "submission.received"
    data = body["data"]
    assert data["instance_id"] == instance
    assert data["form_id"] == "family_registration"
    assert data["region"] == "north"
    assert data["review_state"] == "received"
    assert data["links"]["api"] == f"/api/v1/submissions/{instance}"
    assert "answers" not in data
    assert [d.state for d in deliveries()] == ["delivered"]


def test_answers_only_for_the_endpoint_that_opted_in(programme, receiver, make_worker):
    register(programme, receiver, ["submission.received"], include_answers=True)
    register(programme, receiver, ["submission.received"])
    xml, files = registration("seed1", fresh=True)
    programme["worker"].submit(xml, files)
    assert make_worker().run_once() == 2
    with_answers = [r.json["data"] for r in receiver.received if "answers" in r.json["data"]]
    assert len(with_answers) == 1
    assert isinstance(with_answers[0]["answers"], dict) and with_answers[0]["answers"]


def test_failures_are_retried_with_backoff_then_delivered(programme, receiver, make_worker, clock):
    hook = register(programme, receiver, ["submission.received"])
    receiver.script = [500, 500]
    programme["worker"].submit(*registration("seed1", fresh=True))
    worker = make_worker()
    assert worker.run_once() == 1  # 500
    assert worker.run_once() == 0  # not yet: the next attempt is 10 s later
    clock.advance(seconds=10)
    assert worker.run_once() == 1  # 500 again
    clock.advance(seconds=30)
    assert worker.run_once() == 0  # the second wait is a minute
    clock.advance(seconds=30)
    assert worker.run_once() == 1  # 200
    assert len(receiver.received) == 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # one message
    assert all(verify(r, hook["secret"]) for r in receiver.received)
    [delivery] = deliveries()
    assert delivery.state == "delivered"
    assert [a.status_code for a in delivery.attempt_log] == [500, 500, 200]
    assert delivery.attempt_log[0].response_excerpt == "answer 500"

    # every attempt is shown on the endpoint's page and in the API
    page = programme["admin"].api.get(f"/api/v1/webhooks/{hook['id']}")
    assert [a["status"] for a in page.json["deliveries"][0]["attempts"]] == [500, 500, 200]


def test_a_delivery_fails_after_the_last_backoff_and_can_be_sent_again(
    app, programme, receiver, make_worker, clock, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOKS_BACKOFF_SECONDS", [5])
    hook = register(programme, receiver, ["submission.received"])
    receiver.script = [503, 302]  # a redirect is an answer, never followed
    programme["worker"].submit(*registration("seed1", fresh=True))
    worker = make_worker()
    worker.run_once()
    clock.advance(seconds=5)
    worker.run_once()
    [delivery] = deliveries()
    assert delivery.state == "failed"
    assert [a.status_code for a in delivery.attempt_log] == [503, 302]
    assert all(r.path == "/hook" for r in receiver.received)

    resend = f"/api/v1/webhooks/{hook['id']}/deliveries/{delivery.id}/resend"
    response = programme["admin"].api.post(resend, {})
    assert response.status_code == 200, response.json
    assert worker.run_once() == 1
    assert [d.state for d in deliveries()] == ["delivered"]
    assert programme["admin"].api.post(resend, {}).status_code == 200
    assert programme["admin"].api.post(resend, {}).status_code == 409  # still pending


def test_deliveries_of_one_subject_go_in_order(programme, receiver, make_worker, clock):
    register(programme, receiver, ["submission.received", "submission.reviewed"])
    first = programme["worker"].submit(*registration("seed1", fresh=True))
    programme["coord"].api.review(first, "has_issues", note="check the date")
    second = programme["worker"].submit(*registration("seed1", fresh=True))
    receiver.script = [500]  # the first message of the first submission fails once
    worker = make_worker()
    worker.run_once()
    # the first submission's review waits behind its failed receipt; the other goes
    assert receiver.events() == [
        ("submission.received", first),
        ("submission.received", second),
    ]
    clock.advance(seconds=10)
    drain(worker)
    assert receiver.events()[2:] == [
        ("submission.received", first),
        ("submission.reviewed", first),
    ]
    reviewed = receiver.received[-1].json["data"]
    assert (reviewed["review_state"], reviewed["previous_review_state"]) == (
        "has_issues",
        "received",
    )


def test_nothing_is_lost_when_a_sender_dies_mid_send(programme, receiver, make_worker, clock):
    """The outbox row is committed with the event; a sender that claimed it and died (process
    killed, server restarted) loses its lease and its claim, and the next sender delivers."""
    register(programme, receiver, ["submission.received"])
    programme["worker"].submit(*registration("seed1", fresh=True))
    dead = make_worker("server-a")
    assert dead.acquire_lease()
    claimed = dead.claim(
        dead_settings := __import__(
            "fieldapp.webhooks.worker", fromlist=["Settings"]
        ).Settings.from_config(dead.app.config)
    )
    assert len(claimed) == 1 and dead_settings.timeout > 0
    # ... and the process is gone before it sent anything

    restarted = make_worker("server-b")
    assert restarted.run_once() == 0  # the dead one's lease has not expired yet
    assert receiver.received == []
    clock.advance(seconds=120)  # past the lease (60 s) and the claim (timeout x 3 + 30 s)
    assert restarted.run_once() == 1
    assert len(receiver.received) == 1
    assert [d.state for d in deliveries()] == ["delivered"]


def test_only_the_lease_holder_sends(programme, receiver, make_worker):
    register(programme, receiver, ["submission.received"])
    programme["worker"].submit(*registration("seed1", fresh=True))
    one, other = make_worker("one"), make_worker("other")
    assert one.acquire_lease()
    assert not other.acquire_lease()
    assert other.run_once() == 0
    assert one.run_once() == 1
    one.release_lease()
    assert other.acquire_lease()


def test_sandbox_events_produce_no_delivery(programme, receiver, make_worker):
    register(programme, receiver, ["submission.received"])
    instance = programme["worker"].submit(*registration("seed1", fresh=True))
    before = db.session.scalar(select(func.count()).select_from(WebhookDelivery))
    submission = db.session.scalars(
        select(Submission).where(Submission.instance_id == instance)
    ).one()
    publish(
        SubmissionReceived(submission=submission, version=submission.current_version, sandbox=True)
    )
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == before


def test_rotation_signs_with_both_secrets_during_the_grace_period(
    programme, receiver, make_worker, clock
):
    hook = register(programme, receiver, ["submission.received"])
    rotated = programme["admin"].api.post(f"/api/v1/webhooks/{hook['id']}/rotate", {})
    assert rotated.status_code == 200
    new = rotated.json["secret"]
    assert new != hook["secret"] and rotated.json["rotating_until"]
    programme["worker"].submit(*registration("seed1", fresh=True))
    make_worker().run_once()
    [message] = receiver.received
    assert len(message.headers["webhook-signature"].split(" ")) == 2
    assert verify(message, new) and verify(message, hook["secret"])

    clock.advance(hours=25)  # the grace period is over: only the new secret signs
    programme["worker"].submit(*registration("seed1", fresh=True))
    make_worker().run_once()
    last = receiver.received[-1]
    assert verify(last, new) and not verify(last, hook["secret"])


def test_case_events_and_the_overdue_tick(programme, receiver, make_worker, clock):
    register(
        programme,
        receiver,
        ["case.created", "case.closed", "case.transferred", "case.followup_overdue"],
    )
    case_list = db.session.scalars(select(CaseList).where(CaseList.name == "households")).one()
    from fieldapp.auth.services import get_region

    north = get_region("north")
    assert north is not None
    today = clock().date()
    case = cases.create_case(
        case_list,
        label="A family",
        properties={},
        region_id=north.id,
        assigned_to=None,
        actor=None,
        next_due=today - timedelta(days=1),
    )
    db.session.commit()
    worker = make_worker()
    drain(worker)
    assert receiver.events() == [("case.created", case.uuid), ("case.followup_overdue", case.uuid)]
    assert receiver.received[1].json["data"]["due"] == (today - timedelta(days=1)).isoformat()
    assert "label" not in receiver.received[0].json["data"]  # no names in payloads
    # once per case and due date, whatever the ticks
    clock.advance(days=1)
    worker.run_once()
    assert len(receiver.received) == 2

    closed = programme["coord"].api.post(f"/api/v1/cases/{case.uuid}/close", {"reason": "moved"})
    assert closed.status_code == 200, closed.json
    worker.run_once()
    assert receiver.events()[-1] == ("case.closed", case.uuid)
    assert db.session.get(Case, case.id) is not None


def test_urls_are_checked(app, programme, receiver):
    for bad in ("ftp://example.org/x", "javascript:alert(1)", "http://", "http://u:p@host/x"):
        with pytest.raises(Invalid) as info:
            services.check_url(bad, allow_private=True)
        assert info.value.code == "webhook.url_invalid"
    for private in (
        "http://127.0.0.1:7600/x",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://169.254.169.254/",
    ):
        with pytest.raises(Invalid) as info:
            services.check_url(private, allow_private=False)
        assert info.value.code == "webhook.url_private"
    response = programme["admin"].api.post(
        "/api/v1/webhooks", {"url": "ftp://example.org/", "events": ["case.created"]}
    )
    assert response.status_code == 422
    response = programme["admin"].api.post(
        "/api/v1/webhooks", {"url": receiver.url(), "events": ["no.such.event"]}
    )
    assert response.status_code == 422


def test_only_administrators_see_webhooks(programme, receiver, login_as):
    hook = register(programme, receiver, ["case.created"])
    for who in ("coord", "worker"):
        api = programme[who].api
        assert api.get("/api/v1/webhooks").status_code == 404
        assert api.get(f"/api/v1/webhooks/{hook['id']}").status_code == 404
        assert (
            api.post(
                "/api/v1/webhooks", {"url": receiver.url(), "events": ["case.created"]}
            ).status_code
            == 404
        )
    listing = programme["admin"].api.get("/api/v1/webhooks")
    assert [e["id"] for e in listing.json["items"]] == [hook["id"]]
    assert "secret" not in listing.json["items"][0]

    admin = login_as("admin")
    page = admin.get(f"/admin/webhooks/{hook['id']}")
    assert page.status_code == 200
    assert hook["secret"].encode() not in page.data  # shown once, never again
    assert login_as("coordinator").get("/admin/webhooks").status_code == 404


def test_the_admin_page_registers_an_endpoint_and_shows_its_secret_once(login_as, receiver):
    admin = login_as("admin")
    response = admin.post(
        "/admin/webhooks",
        {"url": receiver.url(), "events": ["case.created", "case.closed"], "description": "BI"},
    )
    assert response.status_code == 200
    assert b"whsec_" in response.data
    listing = admin.get("/admin/webhooks")
    assert b"whsec_" not in listing.data and receiver.url().encode() in listing.data
    attempts = db.session.scalar(select(func.count()).select_from(WebhookAttempt))
    assert attempts == 0
