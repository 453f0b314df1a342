"""The errors the sandbox answers with: documented codes, texts and statuses (fact sheet §5.3)."""

from __future__ import annotations

from typing import Any

# code -> (HTTP status, error_description), exactly as Bitrix24 words them.
CATALOGUE: dict[str, tuple[int, str]] = {
    "NO_AUTH_FOUND": (401, "Wrong authorization data"),
    "invalid_token": (401, "Unable to get application by token"),
    "expired_token": (401, "The access token provided has expired."),
    "insufficient_scope": (401, "The request requires higher privileges than provided by the access token"),
    "APPLICATION_NOT_FOUND": (401, "Application not found"),
    "ERROR_METHOD_NOT_FOUND": (404, "Method not found!"),
    "QUERY_LIMIT_EXCEEDED": (503, "Too many requests"),
    "OPERATION_TIME_LIMIT": (429, "Method is blocked due to operation time limit."),
    "OVERLOAD_LIMIT": (503, "REST API is blocked due to overload."),
    "INTERNAL_SERVER_ERROR": (500, "Internal server error"),
    "ERROR_UNEXPECTED_ANSWER": (500, "Server returned an unexpected response"),
    "PORTAL_DELETED": (403, "Portal was deleted"),
    "user_access_error": (401, "The user does not have access to the application."),
    "authorization_error": (401, "Unable to authorize user"),
    "ERROR_BATCH_LENGTH_EXCEEDED": (400, "Max batch length exceeded"),
    "ERROR_BATCH_METHOD_NOT_ALLOWED": (405, "Method is not allowed for batch usage"),
    "ACCESS_DENIED": (403, "Access denied!"),
}


class RestError(Exception):
    """An error answer: ``{"error": code, "error_description": text, **extra}`` with an HTTP status."""

    def __init__(self, code: str, description: str | None = None, status: int | None = None, **extra: Any):
        known_status, known_text = CATALOGUE.get(code, (400, ""))
        self.code = code
        self.description = known_text if description is None else description
        self.status = known_status if status is None else status
        self.extra = extra
        super().__init__(f"{self.code}: {self.description}")

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.description, **self.extra}


def argument_error(name: str) -> RestError:
    """``ArgumentNullException`` as the REST layer renders it."""
    return RestError("ERROR_ARGUMENT", f"Argument '{name}' is null or empty", argument=name)
