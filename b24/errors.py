"""Typed Bitrix24 errors: every documented REST and authorization-server error code.

Bitrix24 reports errors as ``{"error": CODE, "error_description": TEXT}``, sometimes
with HTTP 200 (``wrong_client``, some ``placement.bind`` errors, batch items), and
the same code with different statuses depending on the source (docs, core, SDKs).
So classification looks at the body first and uses the status only as a fallback:
any body with an ``error`` key is an error.
"""

from __future__ import annotations

from typing import Any


class B24Error(Exception):
    """An error answered by Bitrix24 (or the lack of an answer)."""

    #: whether a read may be retried after a pause (the request did not run)
    retryable = False

    def __init__(self, code: str, description: str = "", status: int = 0) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.status = status


# --- transport ----------------------------------------------------------------


class PortalUnreachable(B24Error):
    """No usable answer: connection refused, timeout, TLS failure, a body that is not JSON.

    ``request_sent`` is False only when the connection was never opened, so the method
    surely did not run; otherwise it may have run (a toggle must not be repeated).
    """

    def __init__(
        self, code: str, description: str = "", status: int = 0, *, request_sent: bool = True
    ) -> None:
        super().__init__(code, description, status)
        self.request_sent = request_sent


class PortalMoved(B24Error):
    """HTTP 301/302/307/308: the portal's address changed; ``new_location`` is where to go."""

    def __init__(self, new_location: str, status: int = 302) -> None:
        super().__init__("PORTAL_MOVED", f"the portal answers from {new_location}", status)
        self.new_location = new_location


class ServerError(B24Error):
    """``INTERNAL_SERVER_ERROR``, ``ERROR_UNEXPECTED_ANSWER``, ``ERROR_CORE`` or a bare 5xx."""


# --- tokens and access ----------------------------------------------------------


class AuthError(B24Error):
    """The token cannot be used; the request did not run."""


class ExpiredToken(AuthError):
    """``expired_token``: refresh, then repeat the call (it did not run)."""


class InvalidToken(AuthError):
    """``invalid_token``, ``NO_AUTH_FOUND``, ``authorization_error``: the token is dead."""


class InsufficientScope(AuthError):
    """``insufficient_scope``: the app card lacks a scope the method needs."""


class UserAccessError(AuthError):
    """``user_access_error``: this user may not use the app."""


class PaymentRequired(AuthError):
    """``PAYMENT_REQUIRED``: the app's paid or trial period is over."""


class NotInstalled(AuthError):
    """``NOT_INSTALLED``, ``APPLICATION_NOT_FOUND``, ``ERROR_OAUTH`` "Application not installed"."""


class PortalDeleted(AuthError):
    """``PORTAL_DELETED``: the portal no longer exists."""


class AccessDenied(B24Error):
    """``ACCESS_DENIED``, ``WRONG_AUTH_TYPE``, ``METHOD_CONFIRM_DENIED``, intranet-only methods."""


class MethodNotFound(B24Error):
    """``ERROR_METHOD_NOT_FOUND`` (HTTP 404)."""


class ArgumentError(B24Error):
    """``ERROR_ARGUMENT``, ``INVALID_ARG_VALUE``, ``INVALID_REQUEST`` and the like."""


# --- limits ---------------------------------------------------------------------


class RateLimited(B24Error):
    """``QUERY_LIMIT_EXCEEDED`` (503) or ``OVERLOAD_LIMIT``: rejected before it ran.

    Also raised by our own ``PortalRateLimiter`` (code ``LOCAL_QUERY_LIMIT``), with
    ``retry_after`` seconds until the portal's budget has room again.
    """

    retryable = True

    def __init__(
        self, code: str, description: str = "", status: int = 0, *, retry_after: float | None = None
    ) -> None:
        super().__init__(code, description, status)
        self.retry_after = retry_after


class OperationTimeLimit(B24Error):
    """``OPERATION_TIME_LIMIT`` (429): this method used up its execution time; it did not run.

    Not retried: the method stays blocked until its ten-minute window moves on
    (``b24/operating.py``). Also raised by the app itself (code ``LOCAL_OPERATION_LIMIT``)
    while it knows the method is blocked, with ``retry_after`` seconds.
    """

    def __init__(
        self, code: str, description: str = "", status: int = 0, *, retry_after: float | None = None
    ) -> None:
        super().__init__(code, description, status)
        self.retry_after = retry_after


# --- tasks.flow.Flow.* (D7 controller errors: ``"error": "0"`` and a localized text) ---


class FlowError(B24Error):
    """A ``tasks.flow.Flow.*`` refusal: ``"error": "0"`` and a text in the portal's language.

    The code is the same for every refusal ("Access denied or flow not found", "Flow not
    found", "Unknown error", a field message), and the text is translated into whatever
    language the portal speaks, so the text is Bitrix24's to show, never the app's to read.
    What a refusal means depends on the method refused (a read, a switch): the services
    that sent it decide (``services/flows.py``, ``services/switching.py``).
    """


# --- authorization server (/oauth/token/) ----------------------------------------


class OAuthError(B24Error):
    """An answer of the authorization server's token endpoint."""


class InvalidGrant(OAuthError):
    """``invalid_grant``: the refresh token (or code) is used, expired or unknown."""


class InvalidClient(OAuthError):
    """``invalid_client``: wrong ``client_secret`` or the app is not installed."""


class WrongClient(OAuthError):
    """``wrong_client`` (HTTP 200): unknown ``client_id``."""


class InvalidRequest(OAuthError):
    """``invalid_request`` / ``invalid_scope``: a malformed token request."""


class AuthServerUnavailable(OAuthError):
    """The authorization server is down, slow or answered garbage; nothing was changed."""


_BY_CODE: dict[str, type[B24Error]] = {
    "expired_token": ExpiredToken,
    "invalid_token": InvalidToken,
    "no_auth_found": InvalidToken,
    "authorization_error": InvalidToken,
    "invalid_credentials": InvalidToken,
    "insufficient_scope": InsufficientScope,
    "user_access_error": UserAccessError,
    "payment_required": PaymentRequired,
    "not_installed": NotInstalled,
    "application_not_found": NotInstalled,
    "portal_deleted": PortalDeleted,
    "access_denied": AccessDenied,
    "wrong_auth_type": AccessDenied,
    "method_confirm_denied": AccessDenied,
    "method_confirm_waiting": AccessDenied,
    "allowed_only_intranet_user": AccessDenied,
    "access_error": AccessDenied,
    "error_method_not_found": MethodNotFound,
    "error_argument": ArgumentError,
    "invalid_arg_value": ArgumentError,
    "invalid_request": InvalidRequest,
    "invalid_scope": InvalidRequest,
    "query_limit_exceeded": RateLimited,
    "overload_limit": RateLimited,
    "operation_time_limit": OperationTimeLimit,
    "internal_server_error": ServerError,
    "error_unexpected_answer": ServerError,
    "error_core": ServerError,
    "wrong_encoding": ArgumentError,
    "invalid_grant": InvalidGrant,
    "invalid_client": InvalidClient,
    "wrong_client": WrongClient,
}

_NOT_INSTALLED_TEXT = "application not installed"


def error_from_payload(payload: Any, status: int = 0) -> B24Error | None:
    """The typed error in a decoded body (or a batch's ``result_error`` item), if any."""
    if not isinstance(payload, dict) or "error" not in payload:
        return None
    code = str(payload.get("error"))
    description = str(payload.get("error_description") or "")
    if code.isdigit():
        # A D7 controller's refusal (a 4xx or, as some doc pages show, 200); a numeric code
        # with a 5xx is the server failing, not refusing.
        return ServerError(code, description, status) if status >= 500 else FlowError(code, description, status)
    if code.upper() == "ERROR_OAUTH" and description.lower().startswith(_NOT_INSTALLED_TEXT):
        return NotInstalled(code, description, status)
    cls = _BY_CODE.get(code.lower())
    if cls is not None:
        return cls(code, description, status)
    if status >= 500:
        return ServerError(code, description, status)
    if status == 401:
        return InvalidToken(code, description, status)
    return B24Error(code, description, status)


def error_from_response(status: int, payload: Any) -> B24Error | None:
    """The error a REST answer carries, judged by its body first and its status second.

    ``payload`` is the decoded JSON, or ``None`` when the body was not JSON.
    """
    found = error_from_payload(payload, status)
    if found is not None:
        return found
    if payload is None or status >= 400:
        if status == 503:
            return RateLimited("QUERY_LIMIT_EXCEEDED", "Too many requests", status)
        if status >= 500 or payload is None:
            return ServerError("ERROR_UNEXPECTED_ANSWER", f"HTTP {status} without a JSON error", status)
        return B24Error("HTTP_ERROR", f"HTTP {status}", status)
    return None
