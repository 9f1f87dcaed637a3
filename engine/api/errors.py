"""The API's error codes and the one exception a console sees.

Every refusal the venue's HTTP API returns is JSON ``{code, message}`` with a status from
:data:`HTTP_STATUS`; the client turns each into a :class:`GatewayError` with the same code.
Pure data: no engine, no HTTP library.
"""

from __future__ import annotations

from enum import StrEnum

from engine.errors import PerpdeskError


class ErrorCode(StrEnum):
    """Codes of the API's own refusals (a refused command keeps the engine's or node's code)."""

    unauthenticated = "unauthenticated"  # no token, or a token no operator holds
    revoked = "revoked"  # the operator's token was revoked
    forbidden = "forbidden"  # the role does not allow it
    rate_limited = "rate_limited"  # too many failed logins from this source
    bad_input = "bad_input"  # a request the API cannot parse (pydantic's complaint as message)
    not_found = "not_found"  # no such route, snapshot, refund, session...
    not_ready = "not_ready"  # the venue is starting or stopping
    venue_unreachable = "venue_unreachable"  # client side: the transport failed (never a traceback)
    error = "error"  # anything else (a node bug): the message says what


#: HTTP status of each API refusal
HTTP_STATUS: dict[str, int] = {
    ErrorCode.unauthenticated.value: 401,
    ErrorCode.revoked.value: 401,
    ErrorCode.forbidden.value: 403,
    ErrorCode.rate_limited.value: 429,
    ErrorCode.bad_input.value: 422,
    ErrorCode.not_found.value: 404,
    ErrorCode.not_ready.value: 503,
    ErrorCode.venue_unreachable.value: 503,
    ErrorCode.error.value: 500,
}


def status_of(code: str) -> int:
    """The HTTP status of a read's refusal (a node's own codes, e.g. ``unknown_snapshot``, are 409)."""
    return HTTP_STATUS.get(code, 409)


class GatewayError(PerpdeskError):
    """A read (or the transport) failed: ``code`` (an :class:`ErrorCode` value or the node's own) and a
    message to show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


__all__ = ["ErrorCode", "GatewayError", "HTTP_STATUS", "status_of"]
