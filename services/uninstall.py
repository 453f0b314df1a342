"""Uninstall, fail closed: the portal's data goes only when Bitrix24 says the app is gone.

``ONAPPUNINSTALL`` carries no token, only the ``application_token`` the install event
gave us, and every portal user sees that one in the frame POST: the event alone proves
nothing. The authorization server decides, asked with the portal's own stored tokens.
An uninstall it has not confirmed yet (it may come a moment before the revocation, or
during an outage) is kept pending and checked again by a background job.
"""

from __future__ import annotations

import hmac
import logging
import time

from flask import current_app

from b24.errors import B24Error, ExpiredToken, InvalidToken, NotInstalled, PortalDeleted
from core.jobs import run_later
from core.keys import BadMemberId, portal_key
from core.redis_client import get_redis
from oauth import store, verifier
from oauth.store import Portal
from oauth.tokens import user_tokens
from oauth.verify import TokenRefused, VerificationFailed
from services import schedules

log = logging.getLogger(__name__)

INSTALLED, REMOVED, UNKNOWN = "installed", "removed", "unknown"
#: stored tokens asked whether the app is still installed (each costs an app.info call)
MAX_HOLDERS = 5
#: the longest pause between two checks of a pending uninstall
MAX_RECHECK_DELAY = 3600.0


def same_secret(expected: str, given: str) -> bool:
    """Constant-time comparison (the time taken must not reveal how much matched)."""
    return hmac.compare_digest(expected.encode(), given.encode())


def uninstall(member_id: str, application_token: str) -> str:
    """``ONAPPUNINSTALL``: with the right ``application_token``, delete the portal once Bitrix24 confirms.

    Fail closed: every portal user sees ``APPLICATION_TOKEN``, so the event alone proves
    nothing. The portal's data goes only on a definite answer that the app is gone
    (``removed``); otherwise (still installed, an outage, no usable token) the uninstall
    is kept pending and checked again in the background (``recheck_uninstall``).
    Returns ``"uninstalled"`` or ``"pending"``; raises ``VerificationFailed`` (403).
    """
    try:
        portal = store().get_portal(member_id)
    except BadMemberId:
        raise VerificationFailed("malformed member_id") from None
    if (
        portal is None
        or not portal.application_token
        or not same_secret(portal.application_token, application_token)
    ):
        raise VerificationFailed("application_token does not match")
    if installation_state(portal) == REMOVED:
        _delete(member_id)
        return "uninstalled"
    pending = get_redis().hsetnx(uninstall_key(member_id), "since", f"{time.time():.3f}")
    if pending:  # one chain of re-checks per portal, however many events arrive
        _recheck_later(member_id, current_app.config["UNINSTALL_RECHECK_FIRST"])
    log.info("Portal %s: uninstall not confirmed by Bitrix24 yet; checking again later", member_id)
    return "pending"


def recheck_uninstall(member_id: str, delay: float = 0.0) -> str:
    """The background job: delete a pending uninstall's portal once Bitrix24 confirms it is gone.

    Checks again at doubling intervals; after ``UNINSTALL_RECHECK_FOR`` seconds without a
    definite answer the event counts as forged (or lost to an outage): the data stays.
    """
    r = get_redis()
    since = r.hget(uninstall_key(member_id), "since")
    portal = store().get_portal(member_id)
    if since is None or portal is None:
        return "not pending"
    if installation_state(portal) == REMOVED:
        _delete(member_id)
        return "uninstalled"
    config = current_app.config
    if time.time() - float(since) >= config["UNINSTALL_RECHECK_FOR"]:
        r.delete(uninstall_key(member_id))
        log.warning("Portal %s: an uninstall event was never confirmed by Bitrix24; data kept", member_id)
        return "kept"
    _recheck_later(member_id, min(max(2 * delay, config["UNINSTALL_RECHECK_FIRST"]), MAX_RECHECK_DELAY))
    return "pending"


def _recheck_later(member_id: str, delay: float) -> None:
    run_later(delay, recheck_uninstall, member_id, delay, job_id=f"uninstall-recheck-{member_id}")


def _delete(member_id: str) -> None:
    plans = schedules.forget_portal(member_id)  # their jobs; their keys go with the portal's
    deleted = store().delete_portal(member_id)
    # After the delete (which takes every key of the portal): events come through a queue,
    # and an install event that arrives late must not bring the portal back.
    lifetime = int(current_app.config["UNINSTALL_TOMBSTONE_SECONDS"])
    get_redis().set(tombstone_key(member_id), f"{time.time():.0f}", ex=max(1, lifetime))
    log.info("Portal %s uninstalled: %d keys deleted, %d planned changes cancelled", member_id, deleted, plans)


def tombstone_key(member_id: str) -> str:
    """When the app was uninstalled (epoch seconds), for ``UNINSTALL_TOMBSTONE_SECONDS``."""
    return portal_key(member_id, "uninstalled")


def uninstalled_lately(member_id: str) -> bool:
    """Whether the portal was uninstalled within ``UNINSTALL_TOMBSTONE_SECONDS`` (and not installed since)."""
    return bool(get_redis().exists(tombstone_key(member_id)))


def installed_again(member_id: str) -> None:
    """A verified installer ran: the app is on the portal again, whatever came before."""
    get_redis().delete(tombstone_key(member_id))


def uninstall_key(member_id: str) -> str:
    """A pending uninstall: ``since`` (epoch seconds). Under the portal's prefix: the delete takes it."""
    return portal_key(member_id, "uninstall")


def installation_state(portal: Portal) -> str:
    """What the authorization server says of the app on ``portal``, asked with the portal's own tokens.

    ``installed`` as soon as one token is confirmed; ``removed`` only on a definite answer
    (``app.info`` or the refresh grant says the app or the portal is gone, or
    ``installed: false``); ``unknown`` for outages, dead tokens (a spent refresh token is
    not proof) or no token at all.
    """
    removed = False
    for user_id in _token_holders(portal):
        tokens = user_tokens(portal.member_id, user_id)
        try:
            try:
                confirmed = verifier().app_info(portal.server, tokens.access_token()).installed
            except TokenRefused as refused:
                if not isinstance(refused.error, ExpiredToken | InvalidToken):
                    raise refused.error from None
                # A token the server no longer takes: its refresh grant says why.
                confirmed = verifier().app_info(portal.server, tokens.refresh(tokens.handed_out or "")).installed
        except (NotInstalled, PortalDeleted):
            removed = True
            continue
        except (B24Error, VerificationFailed) as exc:
            log.info("Portal %s: token of user %s cannot tell (%s)", portal.member_id, user_id, exc)
            continue
        if confirmed:
            return INSTALLED
        removed = True
    return REMOVED if removed else UNKNOWN


def _token_holders(portal: Portal) -> list[int]:
    """Users whose stored tokens can ask: the installer first, then others, at most ``MAX_HOLDERS``."""
    others = sorted(set(store().user_ids(portal.member_id)) - {portal.installer_user_id})
    holders = [portal.installer_user_id] if portal.installer_user_id else []
    return (holders + others)[:MAX_HOLDERS]
