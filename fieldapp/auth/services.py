"""Use cases for people: accounts, regions, passwords, logins, API tokens.

Every function takes the acting user explicitly and only flushes; the caller commits.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from fieldapp.audit.services import record
from fieldapp.auth.models import ROLE_VALUES, ApiToken, Region, Role, User, user_regions
from fieldapp.db import db, utcnow
from fieldapp.errors import Conflict, DomainError, Forbidden, Invalid, NotFound

_hasher = PasswordHasher()
#: verified against when the username is unknown, so that both paths take the same time
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
REGION_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MIN_PASSWORD_LENGTH = 8
TOKEN_PREFIX = "fa_"  # noqa: S105 (a prefix, not a secret)


class LoginFailed(DomainError):
    """Wrong username or password; deliberately says no more than that."""

    code = "auth.login_failed"
    http_status = 401


class AccountLocked(DomainError):
    """Too many failed logins in a row."""

    code = "auth.locked"
    http_status = 403


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How many failures lock an account, and for how long."""

    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LoginPolicy:
        """The policy of ``LOGIN_MAX_FAILURES`` and ``LOGIN_LOCKOUT_MINUTES``."""
        return cls(
            max_failures=int(config["LOGIN_MAX_FAILURES"]),
            lockout=timedelta(minutes=int(config["LOGIN_LOCKOUT_MINUTES"])),
        )


# -- passwords ------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """argon2id hash of ``password``."""
    return _hasher.hash(password)


def check_password_strength(password: str, *, username: str = "") -> None:
    """Refuse passwords that are too short or equal to the username.

    :raises Invalid: with a message saying what to change.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"The password must have at least {MIN_PASSWORD_LENGTH} characters.",
            code="user.password_too_short",
        )
    if username and password.lower() == username.lower():
        raise Invalid("The password must not be the username.", code="user.password_is_username")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- logins ---------------------------------------------------------------------------------


def authenticate(username: str, password: str, *, policy: LoginPolicy | None = None) -> User:
    """Check a username and password, counting failures and locking after too many.

    Failures are flushed to the session; the caller must commit them even though this raises.

    :return: the user, with the failure count reset.
    :raises LoginFailed: unknown user, wrong password or inactive account (one message for all).
    :raises AccountLocked: the account is locked; says until when.
    """
    policy = policy or LoginPolicy()
    user = get_user_by_username(username)
    if user is None:
        _verify(_DUMMY_HASH, password)
        record("auth.login_failed", actor=None, reason="unknown_user")
        raise LoginFailed("Wrong username or password.")
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        record("auth.login_blocked", actor=None, subject_type="user", subject_id=user.id)
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        raise AccountLocked(
            "This account is locked after too many failed logins. Try again in "
            f"{minutes} minute{'s' if minutes != 1 else ''}, or ask an administrator to unlock it."
        )
    if not _verify(user.password_hash, password) or not user.active:
        user.failed_logins += 1
        reason = "inactive" if user.active is False else "bad_password"
        record(
            "auth.login_failed", actor=None, subject_type="user", subject_id=user.id, reason=reason
        )
        if user.failed_logins >= policy.max_failures:
            user.locked_until = now + policy.lockout
            record(
                "auth.locked",
                actor=None,
                subject_type="user",
                subject_id=user.id,
                failures=user.failed_logins,
                until=user.locked_until.isoformat(),
            )
        db.session.flush()
        raise LoginFailed("Wrong username or password.")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    record("auth.login", actor=user, subject_type="user", subject_id=user.id)
    return user


def load_session_user(session_id: str) -> User | None:
    """The user behind a flask-login session id ``"<id>:<nonce>"``, if still valid."""
    user_id, _, nonce = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or not secrets.compare_digest(user.session_nonce, nonce):
        return None
    return user


# -- users ----------------------------------------------------------------------------------


def get_user_by_username(username: str) -> User | None:
    """The user with this login name (case-insensitive), or ``None``."""
    return db.session.scalars(
        select(User).where(User.username == username.strip().lower())
    ).one_or_none()


def get_user(user_id: int) -> User:
    """:raises NotFound: no such user."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.", code="user.not_found")
    return user


def username_of(user_id: int | None) -> str | None:
    """The login name of a user id (None for None or a deleted user)."""
    user = db.session.get(User, user_id) if user_id else None
    return user.username if user else None


def list_users() -> Sequence[User]:
    """Every user, by role then username."""
    return db.session.scalars(select(User).order_by(User.role, User.username)).all()


def _check_regions_for_role(role: str, regions: Sequence[Region]) -> None:
    if role == Role.FIELD_WORKER and len(regions) != 1:
        raise Invalid("A field worker works in exactly one region.", code="user.regions_invalid")
    if role == Role.COORDINATOR and not regions:
        raise Invalid("A coordinator needs at least one region.", code="user.regions_invalid")


def _role(role: str) -> str:
    if role not in ROLE_VALUES:
        raise Invalid(
            f"Unknown role {role!r}; use one of: {', '.join(ROLE_VALUES)}.",
            code="user.role_invalid",
        )
    return role


def create_user(
    username: str,
    *,
    role: str,
    password: str,
    actor: User | None,
    regions: Iterable[Region] = (),
    display_name: str = "",
) -> User:
    """Make an account.

    :param actor: the administrator doing it, or ``None`` from the command line.
    :raises Invalid: bad username, role, password or regions for the role.
    :raises Conflict: the username is taken.
    """
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise Invalid(
            "A username has 2-64 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit.",
            code="user.username_invalid",
        )
    if get_user_by_username(username) is not None:
        raise Conflict(f"The username {username!r} is taken.", code="user.exists")
    role = _role(role)
    region_list = list(regions) if role in (Role.COORDINATOR, Role.FIELD_WORKER) else []
    _check_regions_for_role(role, region_list)
    check_password_strength(password, username=username)
    user = User(
        username=username,
        display_name=display_name.strip() or username,
        role=role,
        password_hash=hash_password(password),
        session_nonce=secrets.token_hex(8),
        regions=region_list,
    )
    db.session.add(user)
    db.session.flush()
    record(
        "user.created",
        actor=actor,
        subject_type="user",
        subject_id=user.id,
        role=role,
        regions=[r.code for r in region_list],
    )
    return user


def update_user(
    user: User,
    *,
    actor: User,
    role: str | None = None,
    regions: Iterable[Region] | None = None,
    display_name: str | None = None,
    active: bool | None = None,
) -> User:
    """Change role, regions, name or active flag.

    :raises Invalid: regions do not fit the role.
    :raises Forbidden: an administrator may not demote or deactivate themselves.
    """
    changes: dict[str, object] = {}
    new_role = _role(role) if role is not None else user.role
    new_regions = list(regions) if regions is not None else list(user.regions)
    if new_role not in (Role.COORDINATOR, Role.FIELD_WORKER):
        new_regions = []
    if user.id == actor.id and (new_role != user.role or active is False):
        raise Forbidden(
            "You cannot change your own role or deactivate yourself.", code="user.self_change"
        )
    _check_regions_for_role(new_role, new_regions)
    if new_role != user.role:
        changes["role"] = [user.role, new_role]
        user.role = new_role
    if {r.id for r in new_regions} != user.region_ids:
        changes["regions"] = [[r.code for r in user.regions], [r.code for r in new_regions]]
        user.regions = new_regions
    if display_name is not None and display_name.strip() != user.display_name:
        changes["display_name"] = True  # the name itself is not logged
        user.display_name = display_name.strip() or user.username
    if active is not None and active != user.active:
        changes["active"] = [user.active, active]
        user.active = active
        if not active:
            _end_sessions_and_tokens(user)
    db.session.flush()
    if changes:
        record(
            "user.updated", actor=actor, subject_type="user", subject_id=user.id, changes=changes
        )
    return user


def _end_sessions_and_tokens(user: User) -> None:
    user.session_nonce = secrets.token_hex(8)
    now = utcnow()
    for token in db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ):
        token.revoked_at = now


def set_password(user: User, password: str, *, actor: User | None) -> None:
    """Set a new password; every session of the user ends.

    :raises Invalid: the password is too weak.
    """
    check_password_strength(password, username=user.username)
    user.password_hash = hash_password(password)
    user.session_nonce = secrets.token_hex(8)
    db.session.flush()
    record("user.password_set", actor=actor, subject_type="user", subject_id=user.id)


def unlock_user(user: User, *, actor: User) -> None:
    """Clear a lockout and the failure count."""
    user.locked_until = None
    user.failed_logins = 0
    db.session.flush()
    record("user.unlocked", actor=actor, subject_type="user", subject_id=user.id)


# -- regions --------------------------------------------------------------------------------


def list_regions() -> Sequence[Region]:
    """Every region, by code."""
    return db.session.scalars(select(Region).order_by(Region.code)).all()


def get_region(code: str) -> Region | None:
    """The region with this code, or ``None``."""
    return db.session.scalars(
        select(Region).where(Region.code == code.strip().lower())
    ).one_or_none()


def regions_by_codes(codes: Iterable[str]) -> list[Region]:
    """The regions with these codes.

    :raises Invalid: a code is unknown (the message lists them).
    """
    found: list[Region] = []
    for code in codes:
        region = get_region(code)
        if region is None:
            raise Invalid(f"There is no region {code!r}.", code="region.not_found")
        found.append(region)
    return found


def create_region(code: str, name: str, *, actor: User | None) -> Region:
    """Make a region.

    :raises Invalid: bad code or empty name.
    :raises Conflict: the code exists.
    """
    code = code.strip().lower()
    if not REGION_CODE_RE.match(code):
        raise Invalid(
            "A region code has 1-64 lower-case letters, digits, '_' or '-'.",
            code="region.code_invalid",
        )
    if not name.strip():
        raise Invalid("A region needs a name.", code="region.name_missing")
    if get_region(code) is not None:
        raise Conflict(f"The region {code!r} exists.", code="region.exists")
    region = Region(code=code, name=name.strip())
    db.session.add(region)
    db.session.flush()
    record(
        "region.created",
        actor=actor,
        subject_type="region",
        subject_id=region.id,
        region_id=region.id,
    )
    return region


def rename_region(region: Region, name: str, *, actor: User) -> None:
    """Change a region's human name."""
    if not name.strip():
        raise Invalid("A region needs a name.", code="region.name_missing")
    region.name = name.strip()
    db.session.flush()
    record(
        "region.renamed",
        actor=actor,
        subject_type="region",
        subject_id=region.id,
        region_id=region.id,
    )


def region_user_counts() -> dict[int, int]:
    """How many users each region has."""
    rows = db.session.execute(
        select(user_regions.c.region_id, func.count()).group_by(user_regions.c.region_id)
    ).all()
    return {int(region_id): int(count) for region_id, count in rows}


# -- API tokens -----------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(user: User, *, actor: User | None, label: str = "") -> tuple[str, ApiToken]:
    """Make a new API token for ``user``.

    :return: the token (shown once, never stored) and its row.
    """
    if not user.active:
        raise Invalid("A deactivated user cannot get a token.", code="user.inactive")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=_token_hash(token), prefix=token[:8], label=label)
    db.session.add(row)
    db.session.flush()
    record(
        "user.token_issued", actor=actor, subject_type="user", subject_id=user.id, token_id=row.id
    )
    return token, row


def user_for_api_token(token: str) -> User | None:
    """The active user owning this unrevoked token, or ``None``. Notes the time of use."""
    row = db.session.scalars(
        select(ApiToken).where(ApiToken.token_hash == _token_hash(token))
    ).one_or_none()
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):
        row.last_used_at = now
    return row.user


def revoke_api_token(token_row: ApiToken, *, actor: User) -> None:
    """Stop a token from working."""
    token_row.revoked_at = utcnow()
    db.session.flush()
    record(
        "user.token_revoked",
        actor=actor,
        subject_type="user",
        subject_id=token_row.user_id,
        token_id=token_row.id,
    )
