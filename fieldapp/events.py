"""Domain events: how a lower package tells a higher one that something happened.

Packages depend one way (auth → forms → submissions → cases → review → webhooks; see
``docs/architecture.md``). When something in a lower package must cause work in a higher one
(a submission arrived, so case work is due; anything happened, so a webhook may be owed), the
lower package ``publish``-es an event, and the higher one has subscribed to it. Subscribers run
**synchronously, in the publisher's unit of work**: what they write is committed or rolled
back with the change that caused it, and an exception in a subscriber is the publisher's
exception.

Each package defines the events it publishes (``fieldapp/submissions/events.py``,
``fieldapp/cases/events.py`` ...) as frozen dataclasses derived from :class:`Event`.
Subscribers register with :func:`subscribe` when their module is imported; ``fieldapp.wiring``
imports every subscriber module, and the app factory imports it, so an app always has them all.
They run in ascending ``order`` (case work at 10 before the webhook outbox at 90), then in
registration order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from fieldapp.sandbox.mode import in_sandbox

E = TypeVar("E", bound="Event")


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened, told to whoever subscribed.

    ``name`` is the event's stable dotted name (webhook event types use it).
    ``sandbox`` marks test data made while trying a draft form: no subscriber that tells the
    outside world (webhooks) acts on it.
    """

    name: ClassVar[str] = "event"
    sandbox: bool = False


Handler = Callable[[Any], None]

_lock = threading.Lock()
_subscribers: list[tuple[int, int, type[Event], Handler]] = []


def subscribe(
    event_type: type[E], *, order: int
) -> Callable[[Callable[[E], None]], Callable[[E], None]]:
    """Register the decorated function for ``event_type`` (and its subclasses).

    :param order: lower runs first; see the module docstring for the orders in use.
    """

    def register(handler: Callable[[E], None]) -> Callable[[E], None]:
        with _lock:
            key = (handler.__module__, handler.__qualname__, event_type)
            if not any((h.__module__, h.__qualname__, t) == key for _o, _n, t, h in _subscribers):
                _subscribers.append((order, len(_subscribers), event_type, handler))
                _subscribers.sort(key=lambda s: (s[0], s[1]))
        return handler

    return register


def subscribers(event_type: type[Event]) -> list[Handler]:
    """The handlers that :func:`publish` would call for an event of ``event_type``, in order."""
    with _lock:
        return [h for _o, _n, t, h in _subscribers if issubclass(event_type, t)]


def publish(event: Event) -> None:
    """Call every subscriber of ``event``'s type now, in order, in the caller's transaction."""
    for handler in subscribers(type(event)):
        handler(event)


def is_sandbox(row: object) -> bool:
    """Whether a submission or case row is test (sandbox) data: marked so, or made while the
    context works on test data (a new row is marked only at its flush, which may come after
    its event)."""
    return bool(getattr(row, "sandbox", False)) or in_sandbox()
