"""Use cases for people: accounts, regions, passwords, logins, API tokens.

Every function takes the acting user explicitly and only flushes; the caller commits.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from fieldapp.audit.services import record
from fieldapp.auth import throttle
from fieldapp.auth.models import ROLE_VALUES, ApiToken, Region, Role, User, WebSession, user_regions
from fieldapp.auth.sessions import end_user_sessions
from fieldapp.auth.throttle import ThrottlePolicy
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
    """Failures from many addresses locked the account."""

    code = "auth.locked"
    http_status = 403
    #: minutes until the lock ends by itself (the login page words it in the reader's language)
    minutes: int = 0


class TokenRejected(DomainError):
    """An API token that does not (or no longer) work; the code says which case."""

    code = "auth.token_invalid"
    http_status = 401


#: the throttling and lockout rules (``fieldapp.auth.throttle``)
LoginPolicy = ThrottlePolicy


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
            "The password must have at least %(min)s characters.",
            code="user.password_too_short",
            params={"min": MIN_PASSWORD_LENGTH},
        )
    if username and password.lower() == username.lower():
        raise Invalid("The password must not be the username.", code="user.password_is_username")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- logins ---------------------------------------------------------------------------------


def authenticate(
    username: str,
    password: str,
    *,
    address: str | None = None,
    policy: ThrottlePolicy | None = None,
    record_login: bool = True,
    now: datetime | None = None,
) -> User:
    """Check a username and password, throttled by client address and by account.

    Failures are flushed to the session; the caller must commit them even though this raises.

    :param address: the client address (throttling counts per address and per account there).
    :param record_login: note the login (last login time, audit entry); Collect's Basic
        requests do not, as each sync makes many (they note the phone instead).
    :return: the user.
    :raises TooManyAttempts: a delay is in force for this address (or this account from it);
        the password was not checked.
    :raises AccountLocked: failures from many addresses locked the account.
    :raises LoginFailed: unknown user, wrong password or inactive account (one message for all).
    """
    policy = policy or ThrottlePolicy()
    now = now or utcnow()
    address = address or "unknown"
    name = username.strip().lower()
    state = throttle.load(name, address)
    throttle.raise_if_throttled(state, now=now)
    user = get_user_by_username(name)
    _raise_if_locked(state, user, now)
    if user is None or not _verify(user.password_hash, password) or not user.active:
        if user is None:
            _verify(_DUMMY_HASH, password)  # the same time as a known user
        _count_failure(name, user, address, policy, now)
        raise LoginFailed("Wrong username or password.")
    if state.failures("account_address"):
        throttle.clear_account_address(name, address)
    if user.failed_logins:
        user.failed_logins = 0
    if user.locked_until is not None:
        user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if record_login:
        note_login(user, now=now)
    return user


def note_login(user: User, *, now: datetime | None = None, factor: str | None = None) -> None:
    """Record a complete login: its time on the user, and ``auth.login`` in the audit log."""
    user.last_login_at = now or utcnow()
    if factor:
        record("auth.login", actor=user, subject_type="user", subject_id=user.id, factor=factor)
    else:
        record("auth.login", actor=user, subject_type="user", subject_id=user.id)


def second_factor(
    user_id: int,
    code: str,
    *,
    address: str | None = None,
    policy: ThrottlePolicy | None = None,
    now: datetime | None = None,
) -> User:
    """The second step of a login: the password was right, now the authenticator's code (or a
    recovery code). Throttled and counted like the password: a wrong code is a failed login.

    Failures are flushed to the session; the caller must commit them even though this raises.

    :raises TooManyAttempts: a delay is in force; the code was not checked.
    :raises AccountLocked: the account is locked.
    :raises LoginFailed: the account is gone or inactive.
    :raises twofactor.WrongCode: the code is wrong (counted).
    """
    from fieldapp.auth import twofactor  # noqa: PLC0415

    policy = policy or ThrottlePolicy()
    now = now or utcnow()
    address = address or "unknown"
    user = db.session.get(User, user_id)
    if user is None or not user.active or not twofactor.enabled(user):
        raise LoginFailed("Log in again.")
    state = throttle.load(user.username, address)
    throttle.raise_if_throttled(state, now=now)
    _raise_if_locked(state, user, now)
    try:
        factor = twofactor.check_code(user, code, now=now)
    except twofactor.WrongCode:
        _count_failure(user.username, user, address, policy, now, reason="bad_code")
        raise
    note_login(user, now=now, factor=factor)
    return user


def _raise_if_locked(state: throttle.State, user: User | None, now: datetime) -> None:
    """:raises AccountLocked: the account is locked (by the throttle or on the user row)."""
    locked_until = state.blocked("account", now)
    if user is not None and user.locked_until is not None and user.locked_until > now:
        locked_until = max(locked_until or now, user.locked_until)
    if locked_until is not None:
        minutes = max(1, int((locked_until - now).total_seconds() // 60) + 1)
        locked = AccountLocked(
            "This account is locked after failed logins from many places. An administrator "
            "can unlock it; otherwise try again in %(wait)s.",
            params={"wait": throttle.wait_minutes(minutes)},
        )
        locked.minutes = minutes
        raise locked


def _count_failure(
    name: str,
    user: User | None,
    address: str,
    policy: ThrottlePolicy,
    now: datetime,
    *,
    reason: str = "bad_password",
) -> None:
    if user is None:
        record("auth.login_failed", actor=None, reason="unknown_user")
    else:
        user.failed_logins += 1
        reason = "inactive" if not user.active else reason
        record(
            "auth.login_failed", actor=None, subject_type="user", subject_id=user.id, reason=reason
        )
    failure = throttle.record_failure(name, address, policy=policy, now=now)
    for scope, delay in failure.blocked.items():
        record(
            "auth.throttled",
            actor=None,
            subject_type="user" if user is not None and scope != "address" else None,
            subject_id=user.id if user is not None and scope != "address" else None,
            scope=scope,
            seconds=int(delay.total_seconds()),
        )
    if failure.lock:
        until = now + policy.lock_for
        throttle.lock_account(name, until=until)
        if user is not None:
            user.locked_until = until
            user.lock_notice_at = now
        record(
            "auth.locked",
            actor=None,
            subject_type="user" if user is not None else None,
            subject_id=user.id if user is not None else None,
            unknown_user=user is None,  # a name nobody has; the name itself is not recorded
            addresses=failure.addresses,
            failures=failure.account_failures,
            until=until.isoformat(),
        )
    db.session.flush()


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
            "Unknown role '%(role)s'; use one of: %(roles)s.",
            code="user.role_invalid",
            params={"role": role, "roles": ", ".join(ROLE_VALUES)},
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
    password_hash: str | None = None,
) -> User:
    """Make an account.

    :param actor: the administrator doing it, or ``None`` from the command line.
    :param password_hash: :func:`hash_password` of ``password`` made by the caller (the
        simulated programme's many demo accounts share one password, hashed once).
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
        raise Conflict(
            "The username '%(username)s' is taken.",
            code="user.exists",
            params={"username": username},
        )
    role = _role(role)
    region_list = list(regions) if role in (Role.COORDINATOR, Role.FIELD_WORKER) else []
    _check_regions_for_role(role, region_list)
    check_password_strength(password, username=username)
    user = User(
        username=username,
        display_name=display_name.strip() or username,
        role=role,
        password_hash=password_hash or hash_password(password),
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
            _end_sessions_and_tokens(user, actor=actor)
    db.session.flush()
    if changes:
        record(
            "user.updated", actor=actor, subject_type="user", subject_id=user.id, changes=changes
        )
    return user


def _end_sessions_and_tokens(user: User, *, actor: User) -> None:
    end_user_sessions(user, reason="deactivated", actor=actor)
    now = utcnow()
    for token in db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ):
        token.revoked_at = now


def set_password(
    user: User, password: str, *, actor: User | None, keep: WebSession | None = None
) -> None:
    """Set a new password; every session of the user ends (but ``keep``, the one changing it).

    :raises Invalid: the password is too weak.
    """
    check_password_strength(password, username=user.username)
    user.password_hash = hash_password(password)
    db.session.flush()
    record("user.password_set", actor=actor, subject_type="user", subject_id=user.id)
    end_user_sessions(user, reason="password", actor=actor, keep=keep)


def change_own_password(
    user: User,
    current: str,
    new: str,
    *,
    session: WebSession,
    address: str | None,
    policy: ThrottlePolicy | None = None,
) -> None:
    """A user changes their own password; their other sessions end, this one stays.

    The current password is checked and throttled like a login (a borrowed session must not
    become a way to guess it).

    :raises TooManyAttempts: too many wrong current passwords from this address.
    :raises Invalid: the current password is wrong, or the new one too weak.
    """
    policy = policy or ThrottlePolicy()
    now = utcnow()
    address = address or "unknown"
    throttle.raise_if_throttled(throttle.load(user.username, address), now=now)
    if not _verify(user.password_hash, current):
        _count_failure(user.username, user, address, policy, now)
        raise Invalid(
            "The current password is not right; the password was not changed.",
            code="user.password_wrong",
        )
    set_password(user, new, actor=user, keep=session)


#: the interface languages a person may choose (``None``: follow the browser)
INTERFACE_LANGUAGES = ("ru", "kk", "en")


def set_language(user: User, language: str | None) -> None:
    """A person chooses the language of their pages, or ``None`` to follow their browser.

    :raises Invalid: ``language`` is not one of :data:`INTERFACE_LANGUAGES`.
    """
    if language is not None and language not in INTERFACE_LANGUAGES:
        raise Invalid(
            "Choose Russian, Kazakh, English or the browser's language.",
            code="user.language_invalid",
        )
    user.language = language
    db.session.flush()


def unlock_user(user: User, *, actor: User) -> None:
    """Lift a lock and forget the failures counted on the account."""
    user.locked_until = None
    user.failed_logins = 0
    throttle.clear_account(user.username)
    db.session.flush()
    record("user.unlocked", actor=actor, subject_type="user", subject_id=user.id)


def end_sessions(user: User, *, actor: User, keep: WebSession | None = None) -> int:
    """Log ``user`` out everywhere (by themselves: ``keep`` their current session).

    :return: how many sessions ended.
    """
    return end_user_sessions(
        user, reason="everywhere" if actor.id == user.id else "admin", actor=actor, keep=keep
    )


def locked_users(*, now: datetime | None = None) -> Sequence[User]:
    """Accounts locked now (for the administrators' notice)."""
    now = now or utcnow()
    return db.session.scalars(
        select(User).where(User.locked_until > now).order_by(User.locked_until)
    ).all()


def take_lock_notice(user: User) -> datetime | None:
    """When the user's account was locked, if they have not been told; they now are."""
    when = user.lock_notice_at
    if when is not None:
        user.lock_notice_at = None
        db.session.flush()
    return when


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
            raise Invalid(
                "There is no region '%(code)s'.", code="region.not_found", params={"code": code}
            )
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
        raise Conflict("The region '%(code)s' exists.", code="region.exists", params={"code": code})
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


DEFAULT_TOKEN_LIFETIME = timedelta(days=90)
MAX_TOKEN_LIFETIME = timedelta(days=366)


def issue_api_token(
    user: User,
    *,
    actor: User | None,
    label: str = "",
    expires_in: timedelta | None = None,
    now: datetime | None = None,
) -> tuple[str, ApiToken]:
    """Make a new API token for ``user``, working for ``expires_in`` (default 90 days).

    :return: the token (shown once, never stored) and its row.
    :raises Invalid: the user is deactivated, or the lifetime is not 1 to 366 days.
    """
    if not user.active:
        raise Invalid("A deactivated user cannot get a token.", code="user.inactive")
    lifetime = DEFAULT_TOKEN_LIFETIME if expires_in is None else expires_in
    if not timedelta(days=1) <= lifetime <= MAX_TOKEN_LIFETIME:
        raise Invalid(
            "A token works for 1 to 366 days.",
            code="token.lifetime_invalid",
            details={"expires_in": ["Give a number of days from 1 to 366."]},
        )
    now = now or utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=_token_hash(token),
        prefix=token[:8],
        label=label.strip()[:200],
        created_at=now,
        expires_at=now + lifetime,
    )
    db.session.add(row)
    db.session.flush()
    record(
        "user.token_issued",
        actor=actor,
        subject_type="user",
        subject_id=user.id,
        token_id=row.id,
        days=lifetime.days,
    )
    return token, row


#: last-used times move at most this often (reads with a token rarely write)
TOKEN_TOUCH_EVERY = timedelta(minutes=5)


def api_token_user(token: str, *, now: datetime | None = None) -> User:
    """The user owning this live token. Notes the time of use (at most every 5 minutes).

    :raises TokenRejected: unknown (``auth.token_invalid``), expired (``auth.token_expired``),
        revoked (``auth.token_revoked``), or its user is deactivated (``auth.token_invalid``).
    """
    now = now or utcnow()
    row = db.session.scalars(
        select(ApiToken).where(ApiToken.token_hash == _token_hash(token))
    ).one_or_none()
    if row is None or not row.user.active:
        raise TokenRejected(
            "The API token is not valid (unknown, or its user is deactivated).",
            code="auth.token_invalid",
        )
    if row.revoked_at is not None:
        raise TokenRejected(
            "The API token %(prefix)s… was revoked. Ask for a new one.",
            code="auth.token_revoked",
            params={"prefix": row.prefix},
        )
    if row.expires_at <= now:
        raise TokenRejected(
            "The API token %(prefix)s… expired on %(expires_at)s. Ask for a new one.",
            code="auth.token_expired",
            params={"prefix": row.prefix, "expires_at": format(row.expires_at, "%Y-%m-%d")},
        )
    if row.last_used_at is None or now - row.last_used_at > TOKEN_TOUCH_EVERY:
        row.last_used_at = now
    return row.user


def list_api_tokens(actor: User, *, owner: User | None = None) -> Sequence[ApiToken]:
    """Tokens the actor may see: their own; administrators any user's (``owner``) or all."""
    query = select(ApiToken).order_by(ApiToken.id.desc())
    if not actor.has_role(Role.ADMIN):
        query = query.where(ApiToken.user_id == actor.id)
    elif owner is not None:
        query = query.where(ApiToken.user_id == owner.id)
    return db.session.scalars(query).all()


def get_api_token(token_id: int, *, actor: User) -> ApiToken:
    """:raises NotFound: no such token, or neither the actor's nor theirs to manage."""
    row = db.session.get(ApiToken, token_id)
    if row is None or (row.user_id != actor.id and not actor.has_role(Role.ADMIN)):
        raise NotFound("No such token.", code="token.not_found")
    return row


def revoke_api_token(token_row: ApiToken, *, actor: User) -> None:
    """Stop a token from working (again is harmless)."""
    if token_row.revoked_at is not None:
        return
    token_row.revoked_at = utcnow()
    db.session.flush()
    record(
        "user.token_revoked",
        actor=actor,
        subject_type="user",
        subject_id=token_row.user_id,
        token_id=token_row.id,
    )
