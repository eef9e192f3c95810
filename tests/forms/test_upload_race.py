"""Two uploads of the same form without a version at the same moment: both are kept as clean
results (each a draft in turn, with rising generated versions), never a database error.

Each upload runs in its own thread and database session; both compute their version before
either writes (a barrier in the version step), so on PostgreSQL they pick the same one and the
database refuses the second, which retries. On SQLite writers queue, and the barrier times out.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import delete, select

from fieldapp.audit.models import AuditEvent
from fieldapp.auth import services as auth
from fieldapp.auth.models import ApiToken, User
from fieldapp.db import db
from fieldapp.forms import services
from fieldapp.forms.models import Form
from tests.conftest import post_file

pytestmark = pytest.mark.committed

FORM = """
| survey   |         |        |        |
|          | type    | name   | label  |
|          | text    | family | Family |
| settings |         |        |        |
|          | form_id |        |        |
|          | {form_id} |      |        |
"""


@pytest.fixture
def designer_token(app):
    name = f"race{uuid.uuid4().hex[:8]}"
    user = auth.create_user(name, role="designer", password="x" * 16, actor=None, regions=[])
    token, _ = auth.issue_api_token(user, actor=None)
    db.session.commit()
    yield token
    db.session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
    db.session.execute(delete(AuditEvent).where(AuditEvent.actor_id == user.id))
    db.session.execute(delete(User).where(User.id == user.id))
    db.session.commit()
    db.session.remove()


@pytest.mark.parametrize("existing", [False, True], ids=["new form", "known form"])
def test_simultaneous_uploads_without_version_both_end_cleanly(
    app, designer_token, monkeypatch, existing
):
    form_id = f"race_{uuid.uuid4().hex[:8]}"
    data = FORM.replace("{form_id}", form_id).encode()
    headers = {"Authorization": f"Bearer {designer_token}"}
    if existing:
        first = post_file(app.test_client(), "/api/v1/forms", data, "race.md", headers=headers)
        assert first.status_code == 201, first.json

    barrier = threading.Barrier(2)
    picked: list[str] = []
    original = services._generated_version

    def in_step(form_id: str, form: Form | None) -> str:
        version = original(form_id, form)
        picked.append(version)
        try:
            barrier.wait(timeout=3)
        except threading.BrokenBarrierError:
            pass  # the other upload waits for the database (SQLite: one writer at a time)
        return version

    monkeypatch.setattr(services, "_generated_version", in_step)
    answers: list[tuple[int, dict]] = []

    def upload() -> None:
        try:
            response = post_file(
                app.test_client(), "/api/v1/forms", data, "race.md", headers=headers
            )
            answers.append((response.status_code, response.json))
        except Exception as error:  # the app under test re-raises what it does not handle
            answers.append((500, {"error": repr(error)}))
        finally:
            db.session.remove()

    threads = [threading.Thread(target=upload) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert [status for status, _ in answers] == [201, 201], answers
        versions = sorted(body["version"] for _, body in answers)
        assert versions[0] != versions[1]
        db.session.remove()
        form = db.session.scalars(select(Form).where(Form.form_id == form_id)).one()
        # the later upload replaced the earlier draft: one draft, the highest version
        assert form.draft is not None and form.draft.version == versions[1]
    finally:
        db.session.remove()
        form = db.session.scalars(select(Form).where(Form.form_id == form_id)).one_or_none()
        if form is not None:
            db.session.delete(form)
        db.session.execute(delete(AuditEvent).where(AuditEvent.subject_id == form_id))
        db.session.commit()
        db.session.remove()
