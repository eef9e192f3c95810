"""Two-factor sign-in: a TOTP authenticator app (RFC 6238, 30-second codes of 6 digits, as
Google Authenticator, FreeOTP, Aegis and 1Password make them) and one-time recovery codes.

- Setting it up: the account page makes a secret (kept in the browser's signed session until
  confirmed, never in the database before), shows it as a QR code and as text, and switches
  two-factor on only when a code from the app matches. Ten recovery codes are then shown once;
  only their SHA-256 is kept.
- Signing in: after the password, a person with two-factor on is asked for a code before any
  session begins. A code is accepted once (the step it belongs to is remembered), within one
  step either side for clocks that drift. A wrong code counts as a failed login, with the same
  per-address and per-account throttling and locking as a wrong password.
- Requiring it: an administrator's setting makes it required for administrators and
  coordinators, who then cannot use any page but setting it up until they have.
- Resetting it: an administrator can take a person's two-factor off (a lost phone); that is
  audited and ends the person's sessions.

Devices and API tokens are credentials of their own and are not asked for a code.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
from sqlalchemy import delete, func, select

from fieldapp.audit.services import record
from fieldapp.auth.models import RecoveryCode, Role, SiteSetting, User
from fieldapp.auth.sessions import end_user_sessions
from fieldapp.db import db, utcnow
from fieldapp.errors import Conflict, Invalid

__all__ = [
    "ISSUER",
    "WrongCode",
    "check_code",
    "disable",
    "enable",
    "enabled",
    "new_secret",
    "provisioning_uri",
    "regenerate_recovery_codes",
    "required",
    "required_setting",
    "reset",
    "set_required",
]

ISSUER = "fieldapp"
STEP_SECONDS = 30
#: steps either side of now a code may come from (clocks drift)
DRIFT_STEPS = 1
RECOVERY_CODES = 10
#: the roles the "required" setting applies to
REQUIRED_ROLES = (Role.ADMIN, Role.COORDINATOR)
SETTING_REQUIRED = "two_factor_required"
#: letters and digits that cannot be mistaken for one another when copied from paper
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


class WrongCode(Invalid):
    """The code is not the app's current one nor an unused recovery code."""

    code = "auth.code_wrong"


def enabled(user: User) -> bool:
    return user.totp_enabled_at is not None and bool(user.totp_secret)


def required_setting() -> bool:
    """Whether administrators and coordinators must use two-factor sign-in."""
    row = db.session.get(SiteSetting, SETTING_REQUIRED)
    return bool(row is not None and row.value is True)


def required(user: User) -> bool:
    """Whether ``user`` must use two-factor sign-in (the setting, for their role)."""
    return user.has_role(*REQUIRED_ROLES) and required_setting()


def set_required(value: bool, *, actor: User) -> None:
    """Turn the requirement on or off (audited). People it applies to who have not set up
    two-factor are sent to set it up at their next page."""
    row = db.session.get(SiteSetting, SETTING_REQUIRED)
    if row is None:
        row = SiteSetting(key=SETTING_REQUIRED, value=value)
        db.session.add(row)
    if row.value == value and row.updated_by_id is not None:
        return
    row.value = value
    row.updated_at = utcnow()
    row.updated_by_id = actor.id
    record("settings.changed", actor=actor, setting=SETTING_REQUIRED, value=value)


def new_secret() -> str:
    """A fresh base32 secret (160 bits, as RFC 4226 recommends)."""
    return pyotp.random_base32(32)


def provisioning_uri(user: User, secret: str) -> str:
    """The ``otpauth://`` address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def _step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def _matching_step(secret: str, code: str, now: datetime, after: int | None) -> int | None:
    """The step whose code ``code`` is, within the drift, later than ``after``; else None."""
    digits = "".join(code.split())
    if len(digits) != 6 or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = _step(now)
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if after is not None and step <= after:
            continue  # that code was used already (or an older one)
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), digits):
            return step
    return None


def _normal_recovery(code: str) -> str:
    return "".join(c for c in code.lower() if c.isalnum())


def _hash(code: str) -> str:
    return hashlib.sha256(_normal_recovery(code).encode()).hexdigest()


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        code = f"{raw[:5]}-{raw[5:]}"
        codes.append(code)
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash(code)))
    return codes


def enable(user: User, secret: str, code: str, *, now: datetime | None = None) -> list[str]:
    """Switch two-factor on with ``secret`` once ``code`` shows the app has it.

    :return: the new recovery codes, to show once.
    :raises WrongCode: the code does not match the secret.
    :raises Conflict: two-factor is already on.
    """
    if enabled(user):
        raise Conflict("Two-factor sign-in is already on.", code="auth.2fa_already_on")
    now = now or utcnow()
    step = _matching_step(secret, code, now, None)
    if step is None:
        raise WrongCode(
            "That code does not match. Check the phone's time is right and type the code the "
            "app shows now."
        )
    user.totp_secret = secret
    user.totp_enabled_at = now
    user.totp_last_step = step
    codes = _new_recovery_codes(user)
    record("auth.2fa_enabled", actor=user, subject_type="user", subject_id=user.id)
    return codes


def check_code(user: User, code: str, *, now: datetime | None = None) -> str:
    """Accept the app's current code or an unused recovery code (which is then used up).

    :return: ``"app"`` or ``"recovery"``.
    :raises WrongCode: neither.
    """
    now = now or utcnow()
    if not enabled(user):
        raise WrongCode("Two-factor sign-in is not on for this account.")
    assert user.totp_secret is not None
    step = _matching_step(user.totp_secret, code, now, user.totp_last_step)
    if step is not None:
        user.totp_last_step = step
        return "app"
    normal = _normal_recovery(code)
    if len(normal) == 10:
        row = db.session.scalars(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == _hash(normal),
                RecoveryCode.used_at.is_(None),
            )
        ).first()
        if row is not None:
            row.used_at = now
            db.session.flush()
            record(
                "auth.recovery_code_used",
                actor=user,
                subject_type="user",
                subject_id=user.id,
                left=remaining_recovery_codes(user),
            )
            return "recovery"
    raise WrongCode("That code is not right. Type the code the app shows now, or a recovery code.")


def remaining_recovery_codes(user: User) -> int:
    count = db.session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    return int(count or 0)


def regenerate_recovery_codes(user: User, code: str) -> list[str]:
    """New recovery codes (the old ones stop working), after a current code."""
    check_code(user, code)
    codes = _new_recovery_codes(user)
    record("auth.recovery_codes_renewed", actor=user, subject_type="user", subject_id=user.id)
    return codes


def _clear(user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def disable(user: User, code: str) -> None:
    """Switch one's own two-factor off, after a current code; not while it is required."""
    if required(user):
        raise Conflict(
            "Two-factor sign-in is required for your role; it cannot be switched off.",
            code="auth.2fa_required",
        )
    check_code(user, code)
    _clear(user)
    record("auth.2fa_disabled", actor=user, subject_type="user", subject_id=user.id)


def reset(target: User, *, actor: User) -> None:
    """An administrator takes ``target``'s two-factor off (a lost phone); their sessions end.

    If two-factor is required for them, they set it up again at their next login.
    """
    if not enabled(target):
        raise Conflict(
            "%(target)s has no two-factor sign-in to reset.",
            code="auth.2fa_off",
            params={"target": target.username},
        )
    _clear(target)
    end_user_sessions(target, reason="admin", actor=actor)
    record("auth.2fa_reset", actor=actor, subject_type="user", subject_id=target.id)
