"""The API's own description: ``GET /api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

_ERROR = {"$ref": "#/components/schemas/Error"}


def _transfer_op() -> dict[str, Any]:
    op = _op(
        '{"region", "assign_to", "note"}: into a region the caller also coordinates (or by an '
        "administrator) the case moves (200, the case); into another region a transfer request "
        "is made for its coordinator to accept or decline (202, the request)",
        roles="admin, coordinator",
    )
    op["responses"]["202"] = {"description": "Transfer requested; the case stays until accepted"}
    op["responses"]["409"] = {
        "description": "The case is not open, or a transfer is already waiting",
        "content": {"application/json": {"schema": _ERROR}},
    }
    return op


def _op(
    summary: str,
    *,
    ok: int = 200,
    body: str | None = None,
    roles: str = "",
    schema: str | None = None,
) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "Success"}
    if schema:
        success["content"] = {"application/json": {"schema": {"$ref": schema}}}
    op: dict[str, Any] = {
        "summary": summary,
        "description": f"Roles: {roles}." if roles else "",
        "responses": {
            str(ok): success,
            "401": {
                "description": "Not logged in",
                "content": {"application/json": {"schema": _ERROR}},
            },
            "404": {
                "description": "Not found, or not visible to the caller",
                "content": {"application/json": {"schema": _ERROR}},
            },
            "422": {
                "description": "Invalid input",
                "content": {"application/json": {"schema": _ERROR}},
            },
        },
    }
    if body == "multipart":
        op["requestBody"] = {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                }
            }
        }
    elif body:
        op["requestBody"] = {"content": {"application/json": {"schema": {"$ref": body}}}}
    return op


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "fieldapp API",
        "version": "1",
        "description": "Authenticate with the web session (unsafe methods then need the "
        "X-CSRF-Token header) or 'Authorization: Bearer <token>' from "
        '\'fieldapp users token\'. Errors are {"error": {"code", "message", '
        '"details"}}.',
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "details": {},
                        },
                    }
                },
            },
            "Publish": {
                "type": "object",
                "properties": {
                    "acknowledge_warnings": {"type": "boolean"},
                    # the test data of the draft's tries (default discard)
                    "test_data": {"enum": ["discard", "keep"]},
                    "note": {
                        "type": ["string", "null"],
                        "maxLength": 2000,
                        "description": "What the designer says about this version; kept on "
                        "it (publish_note) and in the audit log",
                    },
                },
            },
            "Counts": {
                "description": "Submissions (not deleted, no test data) per form version of "
                "their current version; null when not counted",
                "type": ["object", "null"],
                "properties": {
                    "total": {"type": "integer"},
                    "by_version": {
                        "type": "object",
                        "additionalProperties": {"type": "integer"},
                    },
                },
            },
            "FormDiff": {
                "type": "object",
                "description": "What differs between two versions of a form and what it does "
                "to case properties and to submissions already received (counts over every "
                "region; never an answer). Questions are matched by path, then by a name "
                "unique among the unmatched (moved to another group); a renamed question is "
                "removed and added.",
                "properties": {
                    "form_id": {"type": "string"},
                    "from": {
                        "type": ["object", "null"],
                        "description": "null: no earlier version, everything is added",
                        "properties": {
                            "version": {"type": "string"},
                            "status": {"enum": ["draft", "published"]},
                            "current": {"type": "boolean"},
                        },
                    },
                    "to": {
                        "type": "object",
                        "properties": {
                            "version": {"type": "string"},
                            "status": {"enum": ["draft", "published"]},
                            "current": {"type": "boolean"},
                        },
                    },
                    "summary": {
                        "type": "object",
                        "properties": {
                            k: {"type": "integer"} for k in ("added", "removed", "changed", "moved")
                        },
                    },
                    "languages": {
                        "type": "object",
                        "properties": {
                            "added": {"type": "array", "items": {"type": "string"}},
                            "removed": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                    "questions": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "change": {"enum": ["added", "removed", "changed", "moved"]},
                                "name": {"type": "string"},
                                "path": {"type": "string"},
                                "old_path": {"type": ["string", "null"]},
                                "type": {"type": "string", "description": "XLSForm type"},
                                "label": {"type": ["string", "null"]},
                                "moved": {"type": "boolean"},
                                "changes": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "attribute": {
                                                "enum": [
                                                    "type",
                                                    "label",
                                                    "hint",
                                                    "relevance",
                                                    "constraint",
                                                    "required",
                                                    "calculation",
                                                    "appearance",
                                                    "save_to",
                                                    "choices_from",
                                                ]
                                            },
                                            "language": {
                                                "type": "string",
                                                "description": "label and hint only",
                                            },
                                            "old": {},
                                            "new": {},
                                        },
                                    },
                                },
                                "choices": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "change": {"enum": ["added", "removed", "relabelled"]},
                                            "value": {"type": "string"},
                                            "labels": {"type": "object"},
                                            "language": {"type": "string"},
                                            "old": {"type": ["string", "null"]},
                                            "new": {"type": ["string", "null"]},
                                            "submissions": {"$ref": "#/components/schemas/Counts"},
                                        },
                                    },
                                },
                                "submissions": {
                                    "$ref": "#/components/schemas/Counts",
                                    "description": "answers at the old path (removed, moved or "
                                    "type changed questions)",
                                },
                            },
                        },
                    },
                    "entities": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "change": {"enum": ["added", "removed", "changed"]},
                                "dataset": {"type": "string"},
                                "changes": {"type": "array"},
                            },
                        },
                    },
                    "case_properties": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "change": {
                                    "enum": [
                                        "no_longer_saved",
                                        "newly_saved",
                                        "source_changed",
                                        "type_changed",
                                    ]
                                },
                                "dataset": {"type": "string"},
                                "property": {"type": "string"},
                                "old_question": {"type": ["string", "null"]},
                                "new_question": {"type": ["string", "null"]},
                                "old_type": {"type": ["string", "null"]},
                                "new_type": {"type": ["string", "null"]},
                            },
                        },
                    },
                    "effects": {
                        "type": "array",
                        "description": 'sentences for people, e.g. "Choice `partly` of '
                        '`condition` removed: 37 submissions used it."',
                        "items": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "path": {"type": ["string", "null"]},
                                "submissions": {"type": ["integer", "null"]},
                            },
                        },
                    },
                    "submissions": {"$ref": "#/components/schemas/Counts"},
                },
            },
            "State": {
                "type": "object",
                "properties": {"state": {"enum": ["open", "closing", "closed"]}},
            },
            "UserCreate": {
                "type": "object",
                "required": ["username", "role", "password"],
                "properties": {
                    "username": {"type": "string"},
                    "role": {"enum": ["admin", "designer", "coordinator", "field_worker"]},
                    "password": {"type": "string"},
                    "regions": {"type": "array", "items": {"type": "string"}},
                    "display_name": {"type": "string"},
                },
            },
            "ConsentChange": {
                "type": "object",
                "required": ["kind", "state", "reason"],
                "properties": {
                    "kind": {"enum": ["consent", "assent"]},
                    "state": {"enum": ["given", "refused", "withdrawn"]},
                    "reason": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 1000,
                        "description": "Kept in the case's consent history, never in the audit log",
                    },
                },
            },
            "ReferralCreate": {
                "type": "object",
                "required": ["service", "urgency"],
                "properties": {
                    "service": {
                        "enum": [
                            "psychologist",
                            "psychiatrist",
                            "doctor",
                            "social_services",
                            "school",
                            "legal",
                            "other",
                        ]
                    },
                    "urgency": {"enum": ["today", "week", "month"]},
                    "note": {"type": ["string", "null"], "maxLength": 1000},
                },
            },
            "ReferralMove": {
                "type": "object",
                "required": ["to"],
                "properties": {
                    "to": {"enum": ["accepted", "seen", "closed"]},
                    "note": {"type": ["string", "null"], "maxLength": 1000},
                },
            },
            "Region": {
                "type": "object",
                "required": ["code", "name"],
                "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
            },
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/forms": {
            "get": _op("Forms with their versions and state", roles="designer, admin, coordinator"),
            "post": _op(
                "Upload an XLSForm as a draft; 422 lists problems by sheet and row",
                ok=201,
                body="multipart",
                roles="designer, admin",
            ),
        },
        "/api/v1/forms/{form_id}": {"get": _op("One form with its versions")},
        "/api/v1/forms/{form_id}/publish": {
            "post": _op(
                "Publish the draft (ODK Validate runs first)",
                body="#/components/schemas/Publish",
                roles="designer, admin",
            )
        },
        "/api/v1/forms/{form_id}/diff": {
            "get": {
                **_op(
                    "What differs between two versions (?from=&to=; default: the current "
                    "version and the draft, or without a draft the current version and the one "
                    "before), with submission counts",
                    roles="designer, admin",
                    schema="#/components/schemas/FormDiff",
                ),
                "parameters": [
                    {"name": "from", "in": "query", "schema": {"type": "string"}},
                    {"name": "to", "in": "query", "schema": {"type": "string"}},
                ],
            }
        },
        "/api/v1/forms/{form_id}/versions": {
            "get": _op(
                "Each version (submissions, phones that have it, publish_note) and each phone "
                "or browser with the version it last downloaded: worker, channel (device, "
                "password, web), device label, user_agent, version, current, fetched_at; "
                "never a token",
                roles="designer, admin",
            )
        },
        "/api/v1/forms/{form_id}/state": {
            "post": _op(
                "Open, close or set closing",
                body="#/components/schemas/State",
                roles="designer, admin",
            )
        },
        "/api/v1/forms/{form_id}/draft": {"delete": _op("Discard the draft", ok=204)},
        "/api/v1/forms/{form_id}/attachments": {
            "post": _op("Attach a media or CSV file the form references", ok=201, body="multipart")
        },
        "/api/v1/forms/{form_id}/versions/{version}.xml": {"get": _op("The XForm of a version")},
        "/api/v1/users": {
            "get": _op("Every user", roles="admin"),
            "post": _op(
                "Create a user", ok=201, body="#/components/schemas/UserCreate", roles="admin"
            ),
        },
        "/api/v1/users/{username}": {
            "patch": _op("Change role, regions, name or active flag", roles="admin")
        },
        "/api/v1/regions": {
            "get": _op("Regions visible to the caller"),
            "post": _op(
                "Create a region", ok=201, body="#/components/schemas/Region", roles="admin"
            ),
        },
        "/api/v1/devices": {
            "get": _op("Phones the caller manages", roles="admin, coordinator"),
            "post": _op(
                'Set up a phone: {"user"} → {"token", "collect_url", "qr_url"}',
                ok=201,
                roles="admin, coordinator",
            ),
        },
        "/api/v1/devices/{id}": {"delete": _op("Revoke a phone", ok=204)},
        "/api/v1/webhooks": {
            "get": _op("Webhook endpoints (never their secrets)", roles="admin"),
            "post": _op(
                'Register an endpoint: {"url", "events", "description", "include_answers"} → '
                "the endpoint and its secret, shown once",
                ok=201,
                roles="admin",
            ),
        },
        "/api/v1/webhooks/{id}": {
            "get": _op("One endpoint with its recent deliveries and attempts", roles="admin"),
            "patch": _op(
                "Change url, events, description, include_answers or active", roles="admin"
            ),
            "delete": _op("Remove an endpoint and its deliveries", ok=204, roles="admin"),
        },
        "/api/v1/webhooks/{id}/rotate": {
            "post": _op("A new secret (shown once); the old one also signs for 24 h", roles="admin")
        },
        "/api/v1/webhooks/{id}/deliveries/{delivery_id}/resend": {
            "post": _op("Send a delivered or failed message again", roles="admin")
        },
        "/api/v1/tokens": {
            "get": _op(
                "API tokens: the caller's own; administrators everyone's (?user=). Each with "
                "prefix, label, created_at, expires_at, last_used_at, revoked_at, state",
                roles="everyone (own), admin (all)",
            )
        },
        "/api/v1/tokens/{id}": {
            "delete": _op("Revoke an API token", ok=204, roles="its owner, admin")
        },
        "/api/v1/submissions": {
            "get": _op(
                "Submissions the caller may see, newest first (?form_id=&review_state=&region="
                "&urgent=&cursor=)",
                roles="admin, coordinator (their regions), field worker (own)",
            )
        },
        "/api/v1/submissions/{instance_id}": {
            "get": _op(
                "One submission: data, invalid_answers (path, field, expected type: kept as "
                "sent, never copied to a case), attachments, case_changes, versions, reviews "
                "(audited)"
            ),
            "delete": _op(
                'Delete softly: {"reason"}; a phone resending it gets 409; restorable',
                roles="admin, coordinator",
            ),
        },
        "/api/v1/submissions/{instance_id}/restore": {
            "post": _op(
                "Restore a deleted submission in the review state it had",
                roles="admin, coordinator",
            )
        },
        "/api/v1/submissions/{instance_id}/attachments/{name}": {
            "get": _op("One attachment (audited)")
        },
        "/api/v1/submissions/{instance_id}/review": {
            "post": _op(
                'Decide: {"state": "approved"|"has_issues"|"rejected", "note", '
                '"take": {prop: bool}}',
                roles="admin, coordinator",
            )
        },
        "/api/v1/cases": {
            "get": _op(
                "Cases the caller may see (?dataset=&region=&overdue=&status=&cursor=; audited)"
            )
        },
        "/api/v1/cases/{id}": {"get": _op("One case with its versions (audited)")},
        "/api/v1/forms/{form_id}/submissions.csv.zip": {
            "get": _op(
                "Streaming export: the top-level CSV and one CSV per repeat (KEY/PARENT_KEY); "
                "?from=&to=&review_state=&region=&version=&urgent=&attachments=true (media/)"
                "&split_select_multiples=true&headers=labels&choices=labels&lang= (audited)",
                roles="admin, coordinator",
            )
        },
        "/api/v1/forms/{form_id}/submissions.xlsx": {
            "get": _op(
                "The same tables as sheets of one workbook, same options (audited)",
                roles="admin, coordinator",
            )
        },
        "/api/v1/forms/{form_id}/exports": {
            "post": _op(
                "Prepare an export in the background: ?format=csv.zip|xlsx and the export "
                "options above; 202 with the job (id, state, rows_done, rows_expected) and its "
                "Location; at most 3 waiting or running per person (409)",
                ok=202,
                roles="admin, coordinator",
            )
        },
        "/api/v1/exports/{job}": {
            "get": _op(
                "One of the caller's prepared exports: state, rows so far, the file's address "
                "when ready (only its asker sees it)",
                roles="admin, coordinator",
            ),
            "delete": _op(
                "Delete its file now (a running one stops)", ok=204, roles="admin, coordinator"
            ),
        },
        "/api/v1/exports/{job}/file": {
            "get": _op(
                "The prepared file, kept a day (409 until ready; audited)",
                roles="admin, coordinator",
            )
        },
        "/api/v1/cases.csv": {
            "get": _op(
                "The reader's cases of one case list (?dataset=&region=; audited)",
                roles="admin, coordinator",
            )
        },
        "/api/v1/cases.xlsx": {
            "get": _op("The same as a workbook (audited)", roles="admin, coordinator")
        },
        "/api/v1/cases/{id}/assign": {"post": _op('{"user"}', roles="admin, coordinator")},
        "/api/v1/cases/{id}/transfer": {
            "post": _transfer_op(),
        },
        "/api/v1/cases/{id}/close": {"post": _op('{"reason"}', roles="admin, coordinator")},
        "/api/v1/cases/{id}/resolve": {
            "post": _op('Clear a conflict: {"properties", "note"}', roles="admin, coordinator")
        },
        "/api/v1/cases/{id}/reopen": {"post": _op("Reopen", roles="admin, coordinator")},
        "/api/v1/cases/{id}/links": {
            "get": _op("Linked cases"),
            "post": _op('{"to", "relation"}', ok=201, roles="admin, coordinator"),
        },
        "/api/v1/cases/{id}/merge": {
            "post": _op('{"other", "choose": {prop: "keep"|"drop"}}', roles="admin, coordinator")
        },
        "/api/v1/cases/{id}/consent": {
            "get": _op(
                "The case's consent (for a child the guardian's) and assent, whether follow-ups "
                "are stopped, and its history: kind, old_state, new_state, source, submission, "
                "actor, reason, household_change, at (audited)",
                roles="admin, coordinator",
            ),
            "post": _op(
                'Record a change: {"kind": "consent"|"assent", "state": "given"|"refused"|'
                '"withdrawn", "reason"} (required; no confirmation step; 409 when unchanged or '
                "withdrawing what was not given). A household's consent withdrawn (or refused "
                "after it was given) withdraws its children's: members_withdrawn (ids the caller "
                "may see) and members_withdrawn_elsewhere (a count); given again it gives none",
                ok=201,
                body="#/components/schemas/ConsentChange",
                roles="admin, coordinator",
            ),
        },
        "/api/v1/cases/{id}/referrals": {
            "get": _op(
                "The case's referrals, newest first: service, urgency, due, late, status, next "
                "(the steps it may take), note, submission, who and when of each step (audited)",
                roles="admin, coordinator, field worker (own cases)",
            ),
            "post": _op(
                "Refer the case by hand",
                ok=201,
                body="#/components/schemas/ReferralCreate",
                roles="admin, coordinator",
            ),
        },
        "/api/v1/cases/{id}/referrals/{referral_id}": {
            "post": _op(
                "Move a referral on (made → accepted → seen → closed; closing before seen "
                "needs a note; 409 for a step its status does not allow, or a worker's case "
                "off their phone)",
                body="#/components/schemas/ReferralMove",
                roles="admin, coordinator, the field worker the case is assigned to",
            )
        },
        "/api/v1/case-lists": {"get": _op("Case lists and their follow-up settings")},
        "/api/v1/case-lists/{name}": {
            "patch": _op(
                '{"cadence_days", "approval_required", "next_visit_property", '
                '"closed_retention_days" (days; null keeps closed cases)}',
                roles="admin, designer",
            )
        },
        "/api/v1/case-lists/{name}/duplicates": {
            "get": _op(
                "Likely duplicates (?region=&keys=full_name,birth_year)", roles="admin, coordinator"
            )
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1"}},
            }
        },
    },
}


@bp.get("/openapi.json")
def openapi() -> Any:
    """The OpenAPI description of the whole API (public: it holds no data)."""
    return SPEC
