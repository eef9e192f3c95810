"""Use cases of the form catalogue: upload a draft, publish it, open and close forms, attach files.

A new upload of a known form id becomes that form's draft (replacing any earlier draft);
publishing makes the draft the current version. Published versions are never changed or deleted,
so phones that still hold one can keep sending it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from fieldapp import events
from fieldapp.audit.models import AuditEvent
from fieldapp.audit.services import record
from fieldapp.auth.models import User
from fieldapp.blobs import BlobStorage, store_blob
from fieldapp.db import db, utcnow
from fieldapp.errors import Conflict, DomainError, Invalid, NotFound, PayloadTooLarge
from fieldapp.forms.events import FormPublished
from fieldapp.forms.models import (
    Form,
    FormAttachment,
    FormState,
    FormVersion,
    VersionStatus,
    public_problems,
)
from fieldapp.forms.sandbox import CompileLimits, compile_in_child
from fieldapp.forms.xform import XFormInfo, field_tree_to_json, parse_xform
from fieldapp.forms.xlsform import (
    CompiledForm,
    FormProblem,
    _words,
    java_available,
    odk_validate,
    set_form_version,
)
from fieldapp.xmlsafe import XmlError, parse_xml


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """Whether and how ODK Validate runs at publish.

    :param mode: ``auto`` (when Java exists), ``always`` (refuse to publish without Java) or
        ``never``.
    :param timeout: seconds before the run is abandoned and publishing refused.
    """

    mode: str = "auto"
    timeout: float = 60.0


# -- reading ---------------------------------------------------------------------------------


def list_forms() -> Sequence[Form]:
    """Every form with its versions, by form id."""
    return db.session.scalars(
        select(Form)
        .options(selectinload(Form.versions).selectinload(FormVersion.attachments))
        .order_by(Form.form_id)
    ).all()


@dataclass(frozen=True, slots=True)
class ListedForm:
    """What a form list says of one open form: its current version's identity, no more."""

    form_id: str
    form_title: str
    title: str
    version: str
    xform_md5: str
    has_attachments: bool

    @property
    def fingerprint(self) -> str:
        """Everything the list says of the form, as one text (the list's ETag is made of it)."""
        return repr(
            (
                self.form_id,
                self.form_title,
                self.title,
                self.version,
                self.xform_md5,
                self.has_attachments,
            )
        )


#: the form list's one statement, by dialect (``INDEXED BY``: see :func:`open_forms`)
_OPEN_FORMS = {
    "sqlite": text(
        "SELECT f.form_id, f.title, v.title, v.version, v.xform_md5,"
        " EXISTS (SELECT 1 FROM form_attachments a WHERE a.form_version_id = v.id)"
        " FROM forms f JOIN form_versions v INDEXED BY ix_form_versions_listing"
        " ON v.id = f.current_version_id WHERE f.state = :open"
    ),
    "other": text(
        "SELECT f.form_id, f.title, v.title, v.version, v.xform_md5,"
        " EXISTS (SELECT 1 FROM form_attachments a WHERE a.form_version_id = v.id)"
        " FROM forms f JOIN form_versions v"
        " ON v.id = f.current_version_id WHERE f.state = :open"
    ),
}
#: the current versions' ids and XForm MD5s (what names the published XForms' texts)
_CURRENT_VERSIONS = {
    "sqlite": text(
        "SELECT v.id, v.xform_md5 FROM forms f"
        " JOIN form_versions v INDEXED BY ix_form_versions_listing"
        " ON v.id = f.current_version_id"
    ),
    "other": text(
        "SELECT v.id, v.xform_md5 FROM forms f JOIN form_versions v ON v.id = f.current_version_id"
    ),
}


def _dialect() -> str:
    return "sqlite" if db.session.get_bind().dialect.name == "sqlite" else "other"


def current_version_keys() -> tuple[tuple[int, str], ...]:
    """``(id, xform_md5)`` of every form's current version, in id order: a key that changes
    whenever any published XForm text does (read from the covering index, not the rows)."""
    rows = db.session.execute(_CURRENT_VERSIONS[_dialect()])
    return tuple(sorted((int(vid), str(md5)) for vid, md5 in rows))


def open_forms(form_id: str | None = None) -> list[ListedForm]:
    """The open forms with a published version (``form_id``: that one only), by title.

    One plain statement, no ORM entities: every phone's sync asks for it (a list of 100 forms
    was 28 ms of CPU when it loaded every version with its JSON and attachments). On SQLite it
    names the covering index: without statistics SQLite reads the version row by its id, and
    the row's short columns come after the XForm text, which it then walks page by page (2 ms
    for 100 forms, against 0.1 ms from the index).
    """
    rows = db.session.execute(_OPEN_FORMS[_dialect()], {"open": FormState.OPEN.value})
    listed = [
        ListedForm(xform_id, form_title, title, version, md5, bool(files))
        for xform_id, form_title, title, version, md5, files in rows
        if form_id is None or xform_id == form_id
    ]
    return sorted(listed, key=lambda f: ((f.form_title or f.form_id).lower(), f.form_id))


def find_form(form_id: str) -> Form | None:
    """The form with this XForm id, or ``None``."""
    return db.session.scalars(select(Form).where(Form.form_id == form_id)).one_or_none()


def get_form(form_id: str) -> Form:
    """:raises NotFound: no form has this id."""
    form = find_form(form_id)
    if form is None:
        raise NotFound(
            "There is no form '%(form)s'.", code="form.not_found", params={"form": form_id}
        )
    return form


def known_datasets() -> set[str]:
    """Names of every case list (entity list) some form version declares."""
    names: set[str] = set()
    for entities in db.session.scalars(select(FormVersion.entities)):
        for decl in entities or []:
            names.add(str(decl["dataset"]))
    return names


# -- uploading -------------------------------------------------------------------------------


def _suggest_next_version(version: str) -> str:
    if version.isdigit():
        return str(int(version) + 1)
    today = utcnow().strftime("%Y%m%d")
    return f"{today}01"


def _generated_version(form_id: str, form: Form | None) -> str:
    """A version for an upload that needs one: the upload time as ``YYYYMMDDHHMM``, or one more
    than the highest all-digit version this form id had, whichever is higher, so that it rises
    with every upload (two in one minute included) and sorts after the designer's own numbers.

    Discarded drafts are gone from the catalogue but not from the audit log, which is read too:
    a draft may have been tried on a phone, so its version is not given out again.
    """
    used: list[object] = [v.version for v in form.versions] if form is not None else []
    used.extend(
        details.get("version")
        for details in db.session.scalars(
            select(AuditEvent.details).where(
                AuditEvent.action == "form.draft_uploaded",
                AuditEvent.subject_type == "form",
                AuditEvent.subject_id == form_id[:128],
            )
        )
        if isinstance(details, dict)
    )
    candidate = int(utcnow().strftime("%Y%m%d%H%M"))
    numbers = [int(v) for v in used if isinstance(v, str) and v.isascii() and v.isdigit()]
    return str(max([candidate, *(n + 1 for n in numbers)]))


def _version_note(form: Form | None, written: str, generated: str) -> dict[str, Any]:
    """The note (no version written) or warning (a published one) saying why the upload got
    the generated version."""
    where: dict[str, Any] = {"sheet": "settings", "row": 2, "column": "version"}
    if not written:
        return FormProblem(
            _words(
                "The settings sheet has no version, so this upload is version %(version)s (the "
                "upload time); every later upload without a version gets a higher one. Phones "
                "tell versions apart by it. To choose versions yourself, add a 'version' column "
                "to the settings sheet.",
                version=generated,
            ),
            code="xlsform.version_generated",
            **where,
            note=True,
        ).stored()
    published = next(v for v in form.published_versions if v.version == written) if form else None
    params = {
        "written": repr(written),
        "version": generated,
        "next": _suggest_next_version(written),
    }
    if published is not None and published.published_at:
        message = _words(
            "Version %(written)s was already published on %(day)s, and phones may hold it, so "
            "this upload is version %(version)s instead. To choose the version yourself, raise "
            "'version' on the settings sheet (for example to %(next)s) and upload again.",
            day=published.published_at.date().isoformat(),
            **params,
        )
    else:
        message = _words(
            "Version %(written)s was already published, and phones may hold it, so this upload "
            "is version %(version)s instead. To choose the version yourself, raise 'version' on "
            "the settings sheet (for example to %(next)s) and upload again.",
            **params,
        )
    return FormProblem(message, code="form.version_exists", **where).stored()


def upload_draft(
    data: bytes,
    *,
    filename: str,
    actor: User | None,
    store: BlobStorage,
    max_bytes: int = 10 * 1024 * 1024,
    limits: CompileLimits | None = None,
) -> FormVersion:
    """Compile an XLSForm and keep it as the draft of its form.

    The compile runs in a child process within ``limits`` (time and memory), so no form can
    hold the request longer than the time limit.

    :param data: the uploaded file.
    :param filename: its name; the extension tells the format (.xlsx, .xls, .csv, .md).
    :param limits: time and memory for the compile; the defaults of :class:`CompileLimits`.
    :raises UnreadableFormFile: the file is not a readable workbook (400, 413 or 415).
    :raises FormCompileError: the XLSForm has errors (422, with sheet/row/column per problem),
        is over a content limit (413), or took too long or too much memory to convert (422).
    :raises CompilerUnavailable: no converter process could be started (503).
    :raises Conflict: ``form.upload_conflict`` (409) when, after several tries, other uploads
        of the same form kept taking the version this one was about to get.
    A form without a settings ``version``, or with one already published, gets a generated
    version (see :func:`_generated_version`) written into its XForm, and a note saying so.

    :return: the new draft version.
    """
    compiled = compile_in_child(
        data, filename=filename, max_bytes=max_bytes, limits=limits or CompileLimits()
    )
    info = parse_xform(compiled.xform)
    # Two uploads of one form at the same moment can pick the same generated version (or both
    # create the form): the database refuses the second, which then tries again, in a savepoint,
    # seeing what the first committed (the next version, the form it made).
    for attempt in range(1, _UPLOAD_ATTEMPTS + 1):
        try:
            with db.session.begin_nested():
                return _keep_draft(data, filename, compiled, info, actor=actor, store=store)
        except (IntegrityError, StaleDataError):  # (the other one removed the old draft first)
            db.session.expire_all()
            if attempt == _UPLOAD_ATTEMPTS:
                break
    raise Conflict(
        "Other uploads of form '%(form)s' were being saved at the same moment; "
        "this one was not kept. Upload it again.",
        code="form.upload_conflict",
        params={"form": info.form_id},
    )


#: how often an upload that lost a race with another upload of the same form is retried
_UPLOAD_ATTEMPTS = 5


def _keep_draft(
    data: bytes,
    filename: str,
    compiled: CompiledForm,
    info: XFormInfo,
    *,
    actor: User | None,
    store: BlobStorage,
) -> FormVersion:
    """The database part of :func:`upload_draft` (one attempt).

    A known form's row is locked first (PostgreSQL; SQLite has one writer at a time), so a
    second upload of it waits and then sees the first one's draft and version.
    """
    form = db.session.scalars(
        select(Form)
        .where(Form.form_id == info.form_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    xform = compiled.xform
    version_string = info.version
    notes: list[dict[str, Any]] = []
    reused = form is not None and any(v.version == info.version for v in form.published_versions)
    if not version_string or reused:
        # A published version never changes (phones hold it), and phones need a version to tell
        # uploads apart: fieldapp picks one rather than refusing the form.
        version_string = _generated_version(info.form_id, form)
        xform = set_form_version(xform, version_string)
        notes.append(_version_note(form, info.version, version_string))
    if form is None:
        form = Form(form_id=info.form_id, title=info.title, state=FormState.DRAFT.value)
        db.session.add(form)
        db.session.flush()
    else:
        old_draft = form.draft
        if old_draft is not None:
            _discard_test_data_of(old_draft)
            form.versions.remove(old_draft)
            db.session.flush()
    blob_sha = store_blob(store, data)
    version = FormVersion(
        form=form,
        version=version_string,
        status=VersionStatus.DRAFT.value,
        title=info.title,
        source_filename=PurePosixPath(filename.replace("\\", "/")).name[:255] or "form",
        source_type=compiled.file_type,
        source_sha256=blob_sha,
        xform=xform,
        xform_md5=hashlib.md5(xform.encode(), usedforsecurity=False).hexdigest(),
        languages=list(info.languages),
        default_language=info.default_language,
        fields=field_tree_to_json(info.fields),
        entities=[_entity_json(e) for e in info.entities],
        warnings=notes + [w.stored() for w in compiled.warnings],
        encrypted=info.encrypted,
        created_by_id=actor.id if actor else None,
    )
    db.session.add(version)
    db.session.flush()
    _expect_attachments(form, version, info)
    if compiled.itemsets is not None:
        _attach_itemsets(version, compiled.itemsets, actor=actor, store=store)
    if form.state == FormState.DRAFT:
        form.title = info.title
    db.session.flush()
    record(
        "form.draft_uploaded",
        actor=actor,
        subject_type="form",
        subject_id=form.form_id,
        version=version.version,
        warnings=len(version.warnings),
    )
    return version


def _attach_itemsets(
    version: FormVersion, itemsets: str, *, actor: User | None, store: BlobStorage
) -> None:
    """Serve the choices of ``select_one_external`` questions as ``itemsets.csv``.

    pyxform writes them from the ``external_choices`` sheet; ODK Collect reads them from a
    media file of that name (the XForm does not list it), so without it the question has no
    choices on the phone.
    """
    attachment = next((a for a in version.attachments if a.name == "itemsets.csv"), None)
    if attachment is None:
        attachment = FormAttachment(name="itemsets.csv", kind="file")
        version.attachments.append(attachment)
    attachment.blob_sha256 = store_blob(store, itemsets.encode("utf-8"))
    attachment.content_type = "text/csv"
    attachment.uploaded_at = utcnow()
    attachment.uploaded_by_id = actor.id if actor else None
    db.session.flush()


def _entity_json(decl: Any) -> dict[str, Any]:
    return {
        "dataset": decl.dataset,
        "container_path": decl.container_path,
        "create": decl.create,
        "update": decl.update,
        "label_expr": decl.label_expr,
        "properties": [list(p) for p in decl.properties],
    }


def _expect_attachments(form: Form, version: FormVersion, info: XFormInfo) -> None:
    """Record every file the form needs, carrying over uploads of the current version."""
    previous: dict[str, FormAttachment] = {}
    if form.current_version is not None:
        previous = {a.name: a for a in form.current_version.attachments}
    datasets = known_datasets()
    for media in info.media:
        attachment = FormAttachment(name=media.name, kind=media.kind)
        old = previous.get(media.name)
        if old is not None and old.kind == media.kind and old.blob_sha256 is not None:
            attachment.blob_sha256 = old.blob_sha256
            attachment.content_type = old.content_type
            attachment.uploaded_at = old.uploaded_at
            attachment.uploaded_by_id = old.uploaded_by_id
        version.attachments.append(attachment)
    db.session.flush()
    link_case_lists(datasets)


def link_case_lists(datasets: set[str] | None = None) -> None:
    """Mark missing ``X.csv`` files as served from case list ``X`` where such a list exists."""
    datasets = known_datasets() if datasets is None else datasets
    if not datasets:
        return
    pending = db.session.scalars(
        select(FormAttachment).where(
            FormAttachment.kind == "file-csv",
            FormAttachment.blob_sha256.is_(None),
            FormAttachment.dataset.is_(None),
        )
    )
    for attachment in pending:
        stem = attachment.name.removesuffix(".csv")
        if attachment.name.endswith(".csv") and stem in datasets:
            attachment.dataset = stem
    db.session.flush()


def _discard_test_data_of(draft: FormVersion) -> None:
    """Test submissions of a draft that goes away go with it (``fieldapp.sandbox``)."""
    from fieldapp.sandbox.services import discard_draft_test_data  # noqa: PLC0415

    discard_draft_test_data(draft)


def discard_draft(form: Form, *, actor: User) -> None:
    """Throw away the draft; a form never published disappears with it.

    :raises Conflict: there is no draft.
    """
    draft = form.draft
    if draft is None:
        raise Conflict("There is no draft to discard.", code="form.no_draft")
    version = draft.version
    _discard_test_data_of(draft)
    form.versions.remove(draft)
    db.session.flush()
    if not form.published_versions:
        db.session.delete(form)
        db.session.flush()
    record(
        "form.draft_discarded",
        actor=actor,
        subject_type="form",
        subject_id=form.form_id,
        version=version,
    )


# -- publishing ------------------------------------------------------------------------------

_validated: OrderedDict[str, tuple[FormProblem, ...]] = OrderedDict()
_validated_lock = threading.Lock()


def _validate(xform: str, policy: ValidationPolicy) -> str:
    """Run ODK Validate per the policy; return ``passed`` or ``skipped``.

    Results are remembered per XForm content, so republishing the same XForm is instant.

    :raises Invalid: the XForm fails validation (details list the problems).
    :raises DomainError: Java is required but missing.
    """
    if policy.mode == "never":
        return "skipped"
    if not java_available():
        if policy.mode == "always":
            raise DomainError(
                "ODK Validate must run before publishing, but Java is not installed on the "
                "server. Ask an administrator to install Java 17.",
                code="form.validate_unavailable",
                http_status=503,
            )
        return "skipped"
    key = hashlib.sha256(xform.encode()).hexdigest()
    with _validated_lock:
        cached = _validated.get(key)
    if cached is None:
        result = odk_validate(xform, timeout=policy.timeout)
        cached = result.problems
        with _validated_lock:
            _validated[key] = cached
            while len(_validated) > 256:
                _validated.popitem(last=False)
    if cached:
        raise Invalid(
            "ODK Validate (the form engine of ODK Collect) rejects this form, so phones could "
            "not open it: %(problems)s",
            params={"problems": "; ".join(p.message for p in cached)},
            code="form.validate_failed",
            details=[p.to_dict() for p in cached],
        )
    return "passed"


def acknowledge_warnings(version: FormVersion, *, actor: User | None) -> None:
    """Note that someone read the draft's warnings."""
    if version.blocking_warnings and version.warnings_acknowledged_at is None:
        version.warnings_acknowledged_at = utcnow()
        db.session.flush()
        record(
            "form.warnings_acknowledged",
            actor=actor,
            subject_type="form",
            subject_id=version.form.form_id,
            version=version.version,
        )


#: the longest publish note
PUBLISH_NOTE_MAX = 2000


def publish(
    form: Form,
    *,
    actor: User | None,
    acknowledge: bool = False,
    policy: ValidationPolicy | None = None,
    note: str | None = None,
) -> FormVersion:
    """Make the draft the current version; a form published for the first time opens.

    :param acknowledge: the caller confirms the warnings were read.
    :param note: what the designer says about this version (kept on it and in the audit log;
        at most :data:`PUBLISH_NOTE_MAX` characters).
    :raises Conflict: no draft, or warnings not yet acknowledged (details list them).
    :raises Invalid: ODK Validate rejects the form, or the note is too long.
    :return: the version now current.
    """
    note = (note or "").strip() or None
    if note is not None and len(note) > PUBLISH_NOTE_MAX:
        raise Invalid(
            "The note is longer than %(max)s characters.",
            code="form.publish_note_too_long",
            details={"note": [f"Longer than {PUBLISH_NOTE_MAX} characters."]},
            params={"max": PUBLISH_NOTE_MAX},
        )
    draft = form.draft
    if draft is None:
        raise Conflict(
            "Form '%(form)s' has no draft to publish. Upload a new version first.",
            code="form.no_draft",
            params={"form": form.form_id},
        )
    if acknowledge:
        acknowledge_warnings(draft, actor=actor)
    blocking = draft.blocking_warnings
    if blocking and draft.warnings_acknowledged_at is None:
        raise Conflict(
            "The draft has %(count)s warning(s). Read them and confirm before publishing.",
            code="form.warnings_unacknowledged",
            details=public_problems(blocking),
            params={"count": len(blocking)},
        )
    draft.validation = _validate(draft.xform, policy or ValidationPolicy())
    now = utcnow()
    draft.status = VersionStatus.PUBLISHED.value
    draft.published_at = now
    draft.published_by_id = actor.id if actor else None
    draft.publish_note = note
    form.current_version = draft
    form.title = draft.title
    if form.state == FormState.DRAFT:
        form.state = FormState.OPEN.value
    db.session.flush()
    events.publish(FormPublished(version=draft))  # case work creates the case lists it declares
    link_case_lists()
    record(
        "form.published",
        actor=actor,
        subject_type="form",
        subject_id=form.form_id,
        version=draft.version,
        validation=draft.validation,
        note=note,
    )
    return draft


_TRANSITIONS = {
    FormState.OPEN: {FormState.CLOSING, FormState.CLOSED},
    FormState.CLOSING: {FormState.OPEN, FormState.CLOSED},
    FormState.CLOSED: {FormState.OPEN, FormState.CLOSING},
}


def set_state(form: Form, state: str, *, actor: User | None) -> None:
    """Open, close or set a form closing.

    :raises Invalid: unknown state.
    :raises Conflict: the form was never published, or the move is not allowed.
    """
    try:
        target = FormState(state)
    except ValueError:
        raise Invalid(
            "Unknown state '%(state)s'; use open, closing or closed.",
            code="form.state_invalid",
            params={"state": state},
        ) from None
    current = FormState(form.state)
    if current == target:
        return
    if current == FormState.DRAFT:
        raise Conflict("Publish the form before opening or closing it.", code="form.not_published")
    if target not in _TRANSITIONS[current]:
        raise Conflict(
            "A form cannot go from %(current)s to %(target)s.",
            code="form.state_invalid",
            params={"current": current, "target": target},
        )
    form.state = target.value
    db.session.flush()
    record(
        "form.state_changed",
        actor=actor,
        subject_type="form",
        subject_id=form.form_id,
        old=current.value,
        new=target.value,
    )


# -- attachments -----------------------------------------------------------------------------

_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF")


def _check_attachment_content(attachment: FormAttachment, data: bytes) -> None:
    """Refuse files that phones could not use, with a message saying why."""
    name = attachment.name
    if not data:
        raise Invalid("%(name)s is empty.", code="form.attachment_empty", params={"name": name})
    if attachment.kind == "file-csv" or name.lower().endswith(".csv"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Invalid(
                "%(name)s is not UTF-8 text. In Excel, use 'Save as' → 'CSV UTF-8'.",
                code="form.attachment_not_utf8",
                params={"name": name},
            ) from None
        try:
            header = next(csv.reader(io.StringIO(text)), [])
        except csv.Error as exc:
            raise Invalid(
                "%(name)s is not a readable CSV file: %(exc)s.",
                code="form.attachment_bad_csv",
                params={"name": name, "exc": exc},
            ) from None
        columns = {h.strip() for h in header}
        needed = _csv_columns_needed(attachment, name)
        missing = sorted(
            c
            for c in needed
            if c not in columns
            and not (c == "label" and any(h.startswith("label::") for h in columns))
        )
        if missing:
            raise Invalid(
                "%(name)s needs a header row with the column(s) %(missing)s: the form "
                "takes its choices' values and labels from them, and ODK Collect would "
                "show empty choices (it has: %(columns)s).",
                code="form.attachment_bad_csv",
                params={
                    "name": name,
                    "missing": ", ".join(missing),
                    "columns": ", ".join(sorted(columns)) or "nothing",
                },
            )
    elif name.lower().endswith(".xml"):
        try:
            parse_xml(data)
        except XmlError as exc:
            raise Invalid(
                "%(name)s is not usable XML: %(message)s",
                code="form.attachment_bad_xml",
                params={"name": name, "message": exc.message},
            ) from None
    elif attachment.kind in ("image", "big-image"):
        head = data[:16]
        if not head.startswith(_IMAGE_MAGIC) and b"<svg" not in data[:1024]:
            raise Invalid(
                "%(name)s is not a PNG, JPEG, GIF, WebP or SVG image.",
                code="form.attachment_not_image",
                params={"name": name},
            )


_ITEMSET_INSTANCE = re.compile(r"^\s*instance\(\s*['\"]([^'\"]+)['\"]\s*\)")
_XF = "{http://www.w3.org/2002/xforms}"


def _csv_columns_needed(attachment: FormAttachment, name: str) -> set[str]:
    """The columns a CSV file must have: those the form's choice lists read from it.

    A CSV read only by ``pulldata()`` or an ``instance()`` expression needs no particular
    column (pulldata names its own); a ``select_one_from_file`` list needs its value and label
    columns (``name`` and ``label`` unless the ``value=``/``label=`` parameters say otherwise).
    """
    try:
        root = parse_xml(attachment.form_version.xform)
    except XmlError:  # pragma: no cover - a stored XForm always parses
        return set()
    instances = {
        str(inst.get("id"))
        for inst in root.iter(f"{_XF}instance")
        if inst.get("id") and str(inst.get("src") or "").rsplit("/", 1)[-1] == name
    }
    needed: set[str] = set()
    for itemset in root.iter(f"{_XF}itemset"):
        found = _ITEMSET_INSTANCE.match(str(itemset.get("nodeset") or ""))
        if found is None or found.group(1) not in instances:
            continue
        for part in ("value", "label"):
            ref = itemset.find(f"{_XF}{part}")
            column = str(ref.get("ref") or "") if ref is not None else ""
            if re.fullmatch(r"[\w.-]+", column):
                needed.add(column)
    return needed


def attach_file(
    form: Form,
    name: str,
    data: bytes,
    *,
    actor: User | None,
    store: BlobStorage,
    content_type: str | None = None,
    max_bytes: int = 50 * 1024 * 1024,
) -> FormAttachment:
    """Upload a media or CSV file the form references, to its draft (or else current version).

    :raises NotFound: the form has no version to attach to.
    :raises Invalid: the form does not reference such a file, or the content is unusable.
    :raises Conflict: the file is a case list the server builds itself.
    """
    target = form.draft or form.current_version
    if target is None:
        raise NotFound("The form has no version to attach files to.", code="form.no_version")
    name = PurePosixPath(name.replace("\\", "/")).name
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            "%(name)s is %(size)s MB; files up to %(limit)s MB are accepted.",
            code="form.attachment_too_large",
            params={
                "name": name,
                "size": len(data) // (1024 * 1024),
                "limit": max_bytes // (1024 * 1024),
            },
        )
    attachment = next((a for a in target.attachments if a.name == name), None)
    if attachment is None:
        expected = ", ".join(a.name for a in target.attachments) or "no files"
        raise Invalid(
            "Version %(version)s of %(form)s does not use a file named '%(name)s'; "
            "it uses: %(expected)s.",
            code="form.attachment_unexpected",
            params={
                "version": target.version,
                "form": form.form_id,
                "name": name,
                "expected": expected,
            },
        )
    if attachment.dataset is not None:
        raise Conflict(
            "%(name)s is the case list '%(dataset)s'; fieldapp builds it for each "
            "phone from the case records, so it cannot be uploaded.",
            code="form.attachment_is_case_list",
            params={"name": name, "dataset": attachment.dataset},
        )
    _check_attachment_content(attachment, data)
    blob_sha = store_blob(store, data)
    attachment.blob_sha256 = blob_sha
    attachment.content_type = content_type
    attachment.uploaded_at = utcnow()
    attachment.uploaded_by_id = actor.id if actor else None
    db.session.flush()
    record(
        "form.attachment_uploaded",
        actor=actor,
        subject_type="form",
        subject_id=form.form_id,
        version=target.version,
        name=name,
        sha256=blob_sha,
    )
    return attachment


# -- shapes for the API ----------------------------------------------------------------------


def version_summary(version: FormVersion) -> dict[str, Any]:
    """A version as the API shows it."""
    return {
        "version": version.version,
        "status": version.status,
        "title": version.title,
        "hash": f"md5:{version.xform_md5}",
        "languages": version.languages,
        "warnings": public_problems(version.warnings),
        "warnings_acknowledged": version.warnings_acknowledged_at is not None,
        "validation": version.validation,
        "created_at": version.created_at.isoformat(),
        "published_at": version.published_at.isoformat() if version.published_at else None,
        "publish_note": version.publish_note,
        "attachments": [
            {
                "name": a.name,
                "kind": a.kind,
                "case_list": a.dataset,
                "uploaded": a.blob_sha256 is not None,
                "missing": a.blob_sha256 is None and a.dataset is None,
            }
            for a in version.attachments
        ],
        "entities": version.entities,
    }


def form_summary(form: Form) -> dict[str, Any]:
    """A form with its versions, as the API shows it."""
    return {
        "form_id": form.form_id,
        "title": form.title,
        "state": form.state,
        "current_version": form.current_version.version if form.current_version else None,
        "draft_version": form.draft.version if form.draft else None,
        "versions": [version_summary(v) for v in form.versions],
    }


# -- whole files (CLI, demo) -----------------------------------------------------------------


def published_version_with_source(data: bytes) -> FormVersion | None:
    """A published version uploaded from exactly these bytes, if any."""
    sha = hashlib.sha256(data).hexdigest()
    return db.session.scalars(
        select(FormVersion).where(
            FormVersion.source_sha256 == sha, FormVersion.status == VersionStatus.PUBLISHED.value
        )
    ).first()


def publish_file(
    data: bytes,
    *,
    filename: str,
    actor: User | None,
    store: BlobStorage,
    policy: ValidationPolicy | None = None,
    max_bytes: int = 10 * 1024 * 1024,
    skip_unchanged: bool = False,
    limits: CompileLimits | None = None,
    note: str | None = None,
) -> tuple[FormVersion, bool]:
    """Upload and publish in one go, acknowledging warnings (the caller shows them).

    :param skip_unchanged: do nothing when these exact bytes are already published.
    :param note: the publish note (see :func:`publish`).
    :return: the published version, and whether anything changed.
    """
    if skip_unchanged:
        existing = published_version_with_source(data)
        if existing is not None:
            return existing, False
    version = upload_draft(
        data, filename=filename, actor=actor, store=store, max_bytes=max_bytes, limits=limits
    )
    publish(version.form, actor=actor, acknowledge=True, policy=policy, note=note)
    return version, True
