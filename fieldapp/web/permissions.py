"""Access rules for views: who must be logged in, and with which role."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app
from flask_login import current_user

from fieldapp.auth.models import Role, User
from fieldapp.errors import NotFound

F = TypeVar("F", bound=Callable[..., Any])


def current_actor() -> User:
    """The logged-in user (only call inside a view protected by :func:`require`)."""
    return cast(User, current_user._get_current_object())


def require(*roles: Role) -> Callable[[F], F]:
    """Let in only logged-in users with one of ``roles`` (any role when none are given).

    Others get 404 rather than 403, so that the existence of a page or record is not revealed
    to someone who may not use it.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            if roles and not current_actor().has_role(*roles):
                raise NotFound("Not found.", code="not_found")
            return view(*args, **kwargs)

        wrapped.required_roles = roles  # type: ignore[attr-defined]
        return cast(F, wrapped)

    return decorator
