"""One signed HTTP POST to an endpoint (Standard Webhooks headers), with a timeout and no
redirects followed. Signing uses the ``standardwebhooks`` package; with a rotated secret in its
grace period the message carries both signatures, space-separated, as the spec allows."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

#: how much of an answer is kept in the attempt log
EXCERPT_CHARS = 300


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: an HTTP status (or ``None`` and an error class), how long."""

    status: int | None
    duration_ms: int
    error: str | None = None
    excerpt: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signature_header(msg_id: str, timestamp: datetime, body: str, secrets: list[str]) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` per secret, space-separated."""
    when = timestamp.astimezone(UTC)
    return " ".join(Webhook(s).sign(msg_id, when, body) for s in secrets)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is the answer, not a new request


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def send(
    url: str, *, msg_id: str, timestamp: datetime, body: str, secrets: list[str], timeout: float
) -> Outcome:
    """POST ``body`` (JSON) to ``url`` signed with ``secrets``; never raises for the network."""
    data = body.encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked (http/https only)
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "fieldapp-webhooks/1",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature_header(msg_id, timestamp, body, secrets),
        },
    )
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        with _opener.open(request, timeout=timeout) as response:
            excerpt = response.read(EXCERPT_CHARS).decode("utf-8", "replace")
            return Outcome(status=int(response.status), duration_ms=elapsed(), excerpt=excerpt)
    except urllib.error.HTTPError as exc:
        try:
            excerpt = exc.read(EXCERPT_CHARS).decode("utf-8", "replace")
        except Exception:
            excerpt = None
        return Outcome(status=int(exc.code), duration_ms=elapsed(), excerpt=excerpt)
    except TimeoutError:
        return Outcome(status=None, duration_ms=elapsed(), error="timeout")
    except urllib.error.URLError as exc:
        reason = exc.reason
        name = "timeout" if isinstance(reason, TimeoutError) else type(reason).__name__
        return Outcome(status=None, duration_ms=elapsed(), error=f"no connection ({name})")
    except (OSError, ValueError) as exc:
        return Outcome(status=None, duration_ms=elapsed(), error=type(exc).__name__)
