"""The API's own description: ``GET /api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

_ERROR = {"$ref": "#/components/schemas/Error"}


def _op(summary: str, *, ok: int = 200, body: str | None = None, roles: str = "") -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "description": f"Roles: {roles}." if roles else "",
        "responses": {
            str(ok): {"description": "Success"},
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
                "properties": {"acknowledge_warnings": {"type": "boolean"}},
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
