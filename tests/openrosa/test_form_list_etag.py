"""The form list is built from one query of plain columns, and its ETag from those rows and the
URL patterns: a phone that has the list gets a 304 without the list being built, and any change
a phone must see (a new version, a closed form, a new title, another way in) changes the ETag."""

from __future__ import annotations

from flask import url_for
from lxml import etree

from fieldapp.db import db
from fieldapp.forms import services as forms
from fieldapp.openrosa import views as openrosa_views
from tests.openrosa.helpers import PNG, SIMPLE, WITH_FILES, Collect, attach, device_for, publish_md

LIST_NS = "{http://openrosa.org/xforms/xformsList}"

UNUSUAL = SIMPLE.replace("| simple  |", "| форма.1-b_ü  |").replace("Simple form", "Ünusual")


def _entries(response) -> list[dict[str, str | None]]:
    root = etree.fromstring(response.data)
    return [
        {
            "formID": x.findtext(f"{LIST_NS}formID"),
            "name": x.findtext(f"{LIST_NS}name"),
            "version": x.findtext(f"{LIST_NS}version"),
            "downloadUrl": x.findtext(f"{LIST_NS}downloadUrl"),
            "manifestUrl": x.findtext(f"{LIST_NS}manifestUrl"),
        }
        for x in root.iter(f"{LIST_NS}xform")
    ]


def test_urls_are_what_url_for_writes_even_for_unusual_form_ids(app, make_user):
    worker = make_user("field_worker", regions=["north"])
    publish_md(UNUSUAL)
    publish_md(WITH_FILES)
    attach("withfiles", "logo.png", PNG)
    attach("withfiles", "villages.csv", b"name,label\na,A\n")
    token = device_for(worker)
    listed = _entries(Collect(app, f"/collect/key/{token}").get("/formList"))
    assert [e["formID"] for e in listed] == ["withfiles", "форма.1-b_ü"]  # by title
    with app.test_request_context(f"/collect/key/{token}/formList"):
        for entry in listed:
            form_id = entry["formID"]
            expected = url_for(
                "openrosa_key.form_download", token=token, form_id=form_id, _external=True
            )
            assert entry["downloadUrl"] == expected
        assert listed[1]["manifestUrl"] is None  # no files
        assert listed[0]["manifestUrl"] == url_for(
            "openrosa_key.manifest", token=token, form_id="withfiles", _external=True
        )
    # and the URL works: the phone downloads the unusual form through it
    phone = Collect(app, f"/collect/key/{token}")
    path = str(listed[1]["downloadUrl"]).split(f"/collect/key/{token}", 1)[1]
    assert phone.get(path, openrosa=False).status_code == 200


def test_the_etag_changes_with_what_a_phone_must_see(app, make_user):
    worker = make_user("field_worker", regions=["north"])
    publish_md(SIMPLE)
    token = device_for(worker)
    phone = Collect(app, f"/collect/key/{token}")
    tags = [phone.get("/formList").headers["ETag"]]

    def changed() -> str:
        reply = phone.get("/formList", headers={"If-None-Match": tags[-1]})
        assert reply.status_code == 200, "a change the phone must see was answered 304"
        assert reply.headers["ETag"] != tags[-1]
        tags.append(reply.headers["ETag"])
        return reply.headers["ETag"]

    unchanged = phone.get("/formList", headers={"If-None-Match": tags[-1]})
    assert unchanged.status_code == 304 and unchanged.data == b""
    assert unchanged.headers["ETag"] == tags[-1]

    publish_md(SIMPLE, version="2")  # a new version
    changed()
    assert _entries(phone.get("/formList"))[0]["version"] == "2"
    publish_md(WITH_FILES)  # a new form
    changed()
    form = forms.get_form("withfiles")
    forms.set_state(form, "closing", actor=None)  # closing: no longer offered
    db.session.commit()
    changed()
    assert [e["formID"] for e in _entries(phone.get("/formList"))] == ["simple"]
    # another way in (password, not token): other URLs, so another list
    password = Collect(app, "/collect", auth=(worker.username, "correct horse battery"))
    other = password.get("/formList", headers={"If-None-Match": tags[-1]})
    assert other.status_code == 200 and other.headers["ETag"] != tags[-1]
    # ?formID= narrows the list; the same list has the same tag, another list another
    one = phone.get("/formList?formID=simple", headers={"If-None-Match": tags[-1]})
    assert one.status_code == 304  # simple is all there is to list
    none = phone.get("/formList?formID=nosuch", headers={"If-None-Match": tags[-1]})
    assert none.status_code == 200 and _entries(none) == []


def test_an_unchanged_list_is_answered_without_building_it(app, make_user, monkeypatch):
    worker = make_user("field_worker", regions=["north"])
    publish_md(SIMPLE)
    phone = Collect(app, f"/collect/key/{device_for(worker)}")
    tag = phone.get("/formList").headers["ETag"]
    built: list[int] = []
    real = openrosa_views.form_list_xml

    def counting(entries):  # type: ignore[no-untyped-def]
        built.append(1)
        return real(entries)

    monkeypatch.setattr(openrosa_views, "form_list_xml", counting)
    assert phone.get("/formList", headers={"If-None-Match": tag}).status_code == 304
    assert built == []
    assert phone.get("/formList").status_code == 200
    assert built == [1]
