"""Session authorization: the portal's own pages call REST with the login cookie and ``sessid``, no token.

Some methods refuse it (``im.notify.*``: ``WRONG_AUTH_TYPE``), so the sandbox needs the auth type to
say so. The login is the portal page's user switcher cookie; ``sessid`` is the world's ``bitrix_sessid``.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Request

from sandbox.methods.registry import SESSION, Call
from sandbox.state import World

USER_COOKIE = "sandbox_user"


def session_call(state: World, req: Request, params: dict[str, Any]) -> Call | None:
    """A session-authorized call, or None when the request carries no valid session."""
    sessid = params.pop("sessid", None)
    login = req.cookies.get(USER_COOKIE, "")
    if not isinstance(sessid, str) or not login.isdigit() or not hmac.compare_digest(sessid, state.sessid):
        return None
    user_id = int(login)
    if user_id not in state.users:
        return None
    return Call(state, user_id, set(), params, auth_type=SESSION)
