"""Throttling failed credentials, shared by every app server through the database.

Three counters per failure, each a row of :class:`AuthThrottle` keyed by a hash:

* the client **address** (any username, known or not): growing delays after ``free`` failures;
* the **account at that address**: growing delays after a few failures, so someone guessing at
  one account is slowed down without keeping its owner out from anywhere else;
* the **account** everywhere: it is locked only when failures come from many addresses (then
  its owner and the administrators are told, and an administrator can unlock it).

API-token failures count per address in a row of their own (``token_address``), so a script with
an expired token does not block an office's logins. While a delay is in force the attempt is not
checked at all and the answer is 429 with ``Retry-After``; nothing sleeps in the worker.

flask-limiter would need Redis or memcached for several app servers and has no SQL storage; a
small table works on SQLite and PostgreSQL alike, in the request's own transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fieldapp.auth.models import AuthThrottle
from fieldapp.db import db, utcnow
from fieldapp.errors import DomainError, ErrorMessage


class TooManyAttempts(DomainError):
    """Too many failures recently: wait ``retry_after`` seconds."""

    code = "auth.throttled"
    http_status = 429

    def __init__(
        self, message: str, *, retry_after: int, params: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message, details={"retry_after": retry_after}, params=params)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Rule:
    """Delays of one counter: none for ``free`` failures, then ``base`` doubling up to ``cap``.

    The count starts again when the last failure is older than ``reset``.
    """

    free: int
    base: timedelta
    cap: timedelta
    reset: timedelta

    def delay(self, failures: int) -> timedelta | None:
        """The wait after the ``failures``-th failure, if any."""
        if failures < self.free:
            return None
        steps = min(failures - self.free, 20)
        wait: timedelta = min(self.base * (2**steps), self.cap)
        return wait


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """The rules, and when an account is locked."""

    address: Rule = field(
        default_factory=lambda: Rule(
            20, timedelta(seconds=30), timedelta(minutes=30), timedelta(hours=1)
        )
    )
    account_address: Rule = field(
        default_factory=lambda: Rule(
            5, timedelta(seconds=30), timedelta(minutes=15), timedelta(hours=1)
        )
    )
    token_address: Rule = field(
        default_factory=lambda: Rule(
            20, timedelta(seconds=30), timedelta(minutes=30), timedelta(hours=1)
        )
    )
    #: an account is locked when this many addresses failed on it within ``lock_window`` ...
    lock_addresses: int = 10
    #: ... with at least this many failures in all
    lock_failures: int = 50
    lock_window: timedelta = timedelta(hours=24)
    #: how long the lock lasts unless an administrator lifts it sooner
    lock_for: timedelta = timedelta(hours=1)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ThrottlePolicy:
        """``LOGIN_FREE_FAILURES`` (per account and address), ``LOGIN_ADDRESS_FREE_FAILURES``,
        ``LOGIN_LOCK_ADDRESSES``, ``LOGIN_LOCK_FAILURES``, ``LOGIN_LOCKOUT_MINUTES``."""
        default = cls()
        return cls(
            address=Rule(
                int(config["LOGIN_ADDRESS_FREE_FAILURES"]),
                default.address.base,
                default.address.cap,
                default.address.reset,
            ),
            account_address=Rule(
                int(config["LOGIN_FREE_FAILURES"]),
                default.account_address.base,
                default.account_address.cap,
                default.account_address.reset,
            ),
            token_address=Rule(
                int(config["LOGIN_ADDRESS_FREE_FAILURES"]),
                default.token_address.base,
                default.token_address.cap,
                default.token_address.reset,
            ),
            lock_addresses=int(config["LOGIN_LOCK_ADDRESSES"]),
            lock_failures=int(config["LOGIN_LOCK_FAILURES"]),
            lock_for=timedelta(minutes=int(config["LOGIN_LOCKOUT_MINUTES"])),
        )

    def rule(self, scope: str) -> Rule:
        """The rule of a scope with delays (not ``account``)."""
        rule: Rule = getattr(self, scope)
        return rule


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def account_hash(username: str) -> str:
    """The stored stand-in for a login name."""
    return _hash("account", username.strip().lower())


def _keys(username: str | None, address: str) -> dict[str, str]:
    keys = {"address": _hash("address", address)}
    if username is not None:
        name = username.strip().lower()
        keys["account_address"] = _hash("account_address", name, address)
        keys["account"] = _hash("account", name)
    return keys


@dataclass(frozen=True, slots=True)
class State:
    """The counters that concern one attempt, as read before it is checked."""

    #: scope → (failures, blocked_until)
    rows: dict[str, tuple[int, datetime | None]]

    def blocked(self, scope: str, now: datetime) -> datetime | None:
        """Until when ``scope`` is blocked, if it is now."""
        until = self.rows.get(scope, (0, None))[1]
        return until if until is not None and until > now else None

    def failures(self, scope: str) -> int:
        """Failures counted for ``scope``."""
        return self.rows.get(scope, (0, None))[0]


def load(username: str | None, address: str, *, token: bool = False) -> State:
    """Read the counters of an attempt (one query)."""
    keys = _keys(username, address)
    if token:
        keys = {"token_address": _hash("token_address", address)}
    by_hash = {h: scope for scope, h in keys.items()}
    rows = db.session.execute(
        select(AuthThrottle.key_hash, AuthThrottle.failures, AuthThrottle.blocked_until).where(
            AuthThrottle.key_hash.in_(list(by_hash))
        )
    ).all()
    return State({by_hash[k]: (int(f), until) for k, f, until in rows})


def N_(message: str) -> str:
    """Marks a message for the catalogue; pages translate it when shown."""
    return message


def _wait_text(seconds: int) -> ErrorMessage:
    if seconds < 90:
        if seconds == 1:
            return ErrorMessage(N_("%(seconds)s second"), {"seconds": seconds})
        return ErrorMessage(N_("%(seconds)s seconds"), {"seconds": seconds})
    return wait_minutes((seconds + 59) // 60)


def wait_minutes(minutes: int) -> ErrorMessage:
    """ "N minutes" for an error message, translated where the message is shown."""
    if minutes == 1:
        return ErrorMessage(N_("%(minutes)s minute"), {"minutes": minutes})
    return ErrorMessage(N_("%(minutes)s minutes"), {"minutes": minutes})


def raise_if_throttled(state: State, *, now: datetime, token: bool = False) -> None:
    """:raises TooManyAttempts: a delay is in force for the address or the account there."""
    scopes = ("token_address",) if token else ("address", "account_address")
    untils = [u for u in (state.blocked(s, now) for s in scopes) if u is not None]
    if not untils:
        return
    seconds = max(1, int((max(untils) - now).total_seconds() + 0.999))
    if token:
        raise TooManyAttempts(
            "Too many API requests with a wrong token from this address. Wait %(wait)s and "
            "try again; nothing is checked before then.",
            retry_after=seconds,
            params={"wait": _wait_text(seconds)},
        )
    raise TooManyAttempts(
        "Too many failed logins from this address. Wait %(wait)s and try again; nothing is "
        "checked before then.",
        retry_after=seconds,
        params={"wait": _wait_text(seconds)},
    )


def _upsert(scope: str, key: str, acct: str | None, reset: timedelta, now: datetime) -> int:
    """Count one failure on ``key`` in one statement; the new count."""
    table = cast(Table, AuthThrottle.__table__)
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stale = table.c.last_failure_at < now - reset
    statement = (
        insert(table)
        .values(
            key_hash=key,
            scope=scope,
            account_hash=acct,
            failures=1,
            first_failure_at=now,
            last_failure_at=now,
            blocked_until=None,
        )
        .on_conflict_do_update(
            index_elements=[table.c.key_hash],
            set_={
                "failures": case((stale, 1), else_=table.c.failures + 1),
                "first_failure_at": case((stale, now), else_=table.c.first_failure_at),
                "blocked_until": case((stale, None), else_=table.c.blocked_until),
                "last_failure_at": now,
            },
        )
        .returning(table.c.failures)
    )
    return int(db.session.execute(statement).scalar_one())


@dataclass(frozen=True, slots=True)
class Failure:
    """What one counted failure led to."""

    #: scopes that became blocked by it, with their delay
    blocked: dict[str, timedelta]
    #: the account should now be locked
    lock: bool
    #: addresses and failures counted on the account in the lock window
    addresses: int
    account_failures: int


def record_failure(
    username: str | None,
    address: str,
    *,
    policy: ThrottlePolicy,
    now: datetime | None = None,
    token: bool = False,
) -> Failure:
    """Count a failed attempt on every counter it concerns, and say what follows."""
    now = now or utcnow()
    _prune(policy, now)
    keys = {"token_address": _hash("token_address", address)} if token else _keys(username, address)
    acct = account_hash(username) if username is not None else None
    blocked: dict[str, timedelta] = {}
    account_failures = 0
    for scope, key in keys.items():
        if scope == "account":
            account_failures = _upsert(scope, key, acct, policy.lock_window, now)
            continue
        rule = policy.rule(scope)
        failures = _upsert(
            scope, key, acct if scope == "account_address" else None, rule.reset, now
        )
        delay = rule.delay(failures)
        if delay is not None:
            blocked[scope] = delay
            db.session.execute(
                update(AuthThrottle)
                .where(AuthThrottle.key_hash == key)
                .values(blocked_until=now + delay)
                .execution_options(synchronize_session=False)
            )
    addresses = 0
    if acct is not None:
        addresses = int(
            db.session.execute(
                select(func.count()).where(
                    AuthThrottle.account_hash == acct,
                    AuthThrottle.scope == "account_address",
                    AuthThrottle.last_failure_at >= now - policy.lock_window,
                )
            ).scalar_one()
        )
    lock = (
        acct is not None
        and addresses >= policy.lock_addresses
        and account_failures >= policy.lock_failures
    )
    return Failure(blocked, lock, addresses, account_failures)


def lock_account(username: str, *, until: datetime) -> None:
    """Refuse every login to this name until then (known or not, so that locks do not tell)."""
    db.session.execute(
        update(AuthThrottle)
        .where(AuthThrottle.key_hash == _hash("account", username.strip().lower()))
        .values(blocked_until=until)
        .execution_options(synchronize_session=False)
    )


def clear_account_address(username: str, address: str) -> None:
    """Forget the failures of this account at this address (after a success there)."""
    key = _keys(username, address)["account_address"]
    db.session.execute(
        delete(AuthThrottle)
        .where(AuthThrottle.key_hash == key)
        .execution_options(synchronize_session=False)
    )


def clear_account(username: str) -> None:
    """Forget every failure on this account (an administrator unlocked it)."""
    db.session.execute(
        delete(AuthThrottle)
        .where(AuthThrottle.account_hash == account_hash(username))
        .execution_options(synchronize_session=False)
    )


def _prune(policy: ThrottlePolicy, now: datetime) -> None:
    """Drop counters too old to matter (indexed by their last failure)."""
    longest = max(
        policy.lock_window,
        policy.address.reset + policy.address.cap,
        policy.account_address.reset + policy.account_address.cap,
        policy.token_address.reset + policy.token_address.cap,
        policy.lock_for,
    )
    db.session.execute(
        delete(AuthThrottle)
        .where(AuthThrottle.last_failure_at < now - longest)
        .execution_options(synchronize_session=False)
    )
