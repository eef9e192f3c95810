"""OpenRosa XML bodies: form list, manifest, OpenRosaResponse messages (ODK-INTEROP §1-2)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

XFORMS_LIST_NS = "http://openrosa.org/xforms/xformsList"
MANIFEST_NS = "http://openrosa.org/xforms/xformsManifest"
RESPONSE_NS = "http://openrosa.org/http/response"


@dataclass(frozen=True, slots=True)
class FormListEntry:
    form_id: str
    name: str
    version: str
    md5: str
    download_url: str
    manifest_url: str | None


@dataclass(frozen=True, slots=True)
class MediaEntry:
    filename: str
    hash: str  # "md5:..." (content MD5, or a change token for case lists)
    download_url: str
    type: str | None = None  # "entityList" / "approvalEntityList" for case lists
    integrity_url: str | None = None


def form_list_xml(entries: Iterable[FormListEntry]) -> str:
    """The ``<xforms>`` document of ``GET formList``."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n', f'<xforms xmlns="{XFORMS_LIST_NS}">\n']
    for e in entries:
        parts.append("  <xform>\n")
        parts.append(f"    <formID>{escape(e.form_id)}</formID>\n")
        parts.append(f"    <name>{escape(e.name)}</name>\n")
        parts.append(f"    <version>{escape(e.version)}</version>\n")
        parts.append(f"    <hash>md5:{e.md5}</hash>\n")
        parts.append(f"    <downloadUrl>{escape(e.download_url)}</downloadUrl>\n")
        if e.manifest_url:
            parts.append(f"    <manifestUrl>{escape(e.manifest_url)}</manifestUrl>\n")
        parts.append("  </xform>\n")
    parts.append("</xforms>\n")
    return "".join(parts)


def manifest_xml(entries: Iterable[MediaEntry]) -> str:
    """The ``<manifest>`` document of a form's manifest URL."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n', f'<manifest xmlns="{MANIFEST_NS}">\n']
    for e in entries:
        type_attr = f" type={quoteattr(e.type)}" if e.type else ""
        parts.append(f"  <mediaFile{type_attr}>\n")
        parts.append(f"    <filename>{escape(e.filename)}</filename>\n")
        parts.append(f"    <hash>{escape(e.hash)}</hash>\n")
        parts.append(f"    <downloadUrl>{escape(e.download_url)}</downloadUrl>\n")
        if e.integrity_url:
            parts.append(f"    <integrityUrl>{escape(e.integrity_url)}</integrityUrl>\n")
        parts.append("  </mediaFile>\n")
    parts.append("</manifest>\n")
    return "".join(parts)


def message_xml(text: str, *, nature: str = "", code: str | None = None) -> str:
    """An ``OpenRosaResponse`` carrying one message (``nature="error"`` for errors).

    ``code`` is the error's stable code (``submission.xml_invalid``), as an attribute of the
    message: Collect shows the message text and ignores attributes it does not know, while
    scripts and support staff can tell refusals apart without parsing the prose.
    """
    code_attr = f" code={quoteattr(code)}" if code else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<OpenRosaResponse xmlns="{RESPONSE_NS}" items="0">\n'
        f"  <message nature={quoteattr(nature)}{code_attr}>{escape(text)}</message>\n"
        "</OpenRosaResponse>\n"
    )


def integrity_xml(states: Iterable[tuple[str, bool]]) -> str:
    """The entity-list integrity answer: which of the phone's cases it must delete."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n', "<data>\n  <entities>\n"]
    for case_id, deleted in states:
        parts.append(f"    <entity id={quoteattr(case_id)}>\n")
        parts.append(f"      <deleted>{'true' if deleted else 'false'}</deleted>\n")
        parts.append("    </entity>\n")
    parts.append("  </entities>\n</data>\n")
    return "".join(parts)
