"""The one error hierarchy of fieldapp.

Services raise :class:`DomainError` subclasses; they never raise werkzeug exceptions. Each error
carries a stable ``code`` (``"form.no_draft"``), an ``http_status`` and a message written
for the person who has to act on it. Each protocol renders them in exactly one place:
``fieldapp.web.errors`` as JSON or HTML, ``fieldapp.openrosa.errors`` as OpenRosa XML.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ErrorMessage(str):
    """A message built from a %-style ``template`` and its ``params``.

    It is the English text itself (JSON, logs and ``str(exc)`` see plain text); pages translate
    ``template`` and substitute ``params`` into the translation.
    """

    template: str
    params: Mapping[str, Any]

    def __new__(cls, template: str, params: Mapping[str, Any]) -> ErrorMessage:
        made = super().__new__(cls, template % dict(params))
        made.template = template
        made.params = dict(params)
        return made

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt from template and params (a form compile sends its errors from a child process)
        return (type(self), (self.template, self.params))


class DomainError(Exception):
    """Base of every error a service raises on purpose.

    :param message: what went wrong and what to do about it, for a person.
    :param code: overrides the class's stable code.
    :param details: structured details (for example a list of form problems).
    :param params: values for the named placeholders of ``message``, which is then a %-style
        template (``"There is no form %(form)s."``); pages translate the template and insert
        the values, the API says ``template % params``.
    """

    code: str = "error"
    http_status: int = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        http_status: int | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.template = message
        self.params: Mapping[str, Any] = dict(params) if params else {}
        self.message: str = ErrorMessage(message, self.params) if params else message
        super().__init__(self.message)
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body of the API contract."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class BadRequest(DomainError):
    """The input cannot be understood (400)."""

    code = "bad_request"
    http_status = 400


class Unauthorized(DomainError):
    """No valid credentials (401)."""

    code = "auth.required"
    http_status = 401


class Forbidden(DomainError):
    """Authenticated but not allowed (403)."""

    code = "auth.forbidden"
    http_status = 403


class NotFound(DomainError):
    """The thing does not exist, or the actor may not know it exists (404)."""

    code = "not_found"
    http_status = 404


class Conflict(DomainError):
    """The request clashes with the current state (409)."""

    code = "conflict"
    http_status = 409


class PayloadTooLarge(DomainError):
    """The body is larger than accepted (413)."""

    code = "too_large"
    http_status = 413


class UnsupportedMediaType(DomainError):
    """The file type is not one we take (415)."""

    code = "unsupported_type"
    http_status = 415


class Invalid(DomainError):
    """Understood, but not valid (422)."""

    code = "invalid"
    http_status = 422
