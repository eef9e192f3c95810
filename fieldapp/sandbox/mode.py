"""Whether the current context works on test data (see ``fieldapp.sandbox.scope``).

Kept apart from ``scope`` (which imports the models) so that low-level modules such as the
audit log can ask without importing the models.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

_in_sandbox: ContextVar[bool] = ContextVar("fieldapp_sandbox", default=False)


def in_sandbox() -> bool:
    """Whether the current context works on test data."""
    return _in_sandbox.get()


@contextmanager
def sandbox_mode() -> Iterator[None]:
    """Run the block on test data only (reads see test rows, new rows are test rows)."""
    token = _in_sandbox.set(True)
    try:
        yield
    finally:
        _in_sandbox.reset(token)


def enter_sandbox() -> Token[bool]:
    """Like :func:`sandbox_mode`, for a request: returns what :func:`leave_sandbox` takes."""
    return _in_sandbox.set(True)


def leave_sandbox(token: Token[bool]) -> None:
    _in_sandbox.reset(token)
