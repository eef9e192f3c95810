"""The audit log names people and records (users by name, cases by code, forms by title,
submissions by form), keeps ids out of the text a person reads, and folds its filters."""

from __future__ import annotations

import re

from sqlalchemy import select

from fieldapp.auth import services as auth
from fieldapp.cases.models import Case
from fieldapp.db import db
from fieldapp.forms.models import Form
from tests.cases.support import registration

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def readable_text(html: str) -> str:
    """The text shown without opening a folded "Details": tags, attributes and those removed."""
    body = html.split("<main", 1)[1]
    body = re.sub(r"<details class=\"audit-details\">.*?</details>", "", body, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def test_the_audit_log_names_people_and_records(programme, desk):
    xml, files = registration("seed1")
    instance = programme["worker"].submit(xml, files)
    programme["coord"].api.review(instance, "approved")
    case = db.session.scalars(select(Case).order_by(Case.id.desc()).limit(1)).one()
    coord = desk("coord")
    assert coord.get(f"/cases/{case.uuid}").status_code == 200  # audited as case.viewed
    coordinator = auth.get_user_by_username("coord")
    assert coordinator is not None
    coordinator.display_name = "Aigerim Coordinator"
    db.session.commit()
    form = db.session.scalars(select(Form).where(Form.form_id == "family_registration")).one()

    html = desk("admin").get("/admin/audit").data.decode()
    text = readable_text(html)
    assert "case.viewed" in text
    assert case.code in text  # the case by its code...
    assert f'href="/cases/{case.code}"' in html  # ...linked by its code
    assert case.label not in text  # never by its label (it may hold a family's name)
    assert "Aigerim Coordinator (coord)" in text
    assert form.title in text  # a submission by its form
    assert not UUID.search(text), UUID.search(text)
    assert not re.search(r"\buser \d+\b", text)
    # filters are folded and say how many are in use
    assert (
        '<details class="filters' in html
        and '<details class="filters queue-filters panel" open' not in html
    )
    filtered = desk("admin").get(f"/admin/audit?action=case.&subject={case.code}").data.decode()
    assert "(2 in use: action, subject)" in filtered
    events = re.findall(r'<li class="audit-row"', filtered)
    assert events and "case.viewed" in filtered
    assert "auth.login" not in readable_text(filtered)


def test_a_record_that_is_gone_keeps_its_kind_and_a_short_id(programme, desk):
    from fieldapp.audit.services import record

    record(
        "case.erased",
        actor=None,
        subject_type="case",
        subject_id="89585e20-1111-4222-8333-444455556666",
    )
    db.session.commit()
    text = readable_text(desk("admin").get("/admin/audit?action=case.erased").data.decode())
    assert "case" in text and "89585e20…" in text
    assert not UUID.search(text)
