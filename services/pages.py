"""The flows page: opening it for a verified user, and reloading its list.

Opening reads Bitrix24 with the user's own token (the page always starts fresh), issues
the page's frame session, lets an administrator take over dead portal-level tokens, and
starts a discovery run in the background when the last one is old. Reloads answer from
the short list cache when it holds the user's whole list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask import current_app

from b24.errors import B24Error
from core.keys import portal_key
from core.redis_client import get_redis
from core.throttle import FixedWindow
from oauth.tokens import rest_client_for
from services import discovery, event_bindings, flows, frame_session, portals, user_zones
from services.frame_session import FrameSession
from services.frames import FrameContext, accept_frame_post


@dataclass(frozen=True)
class OpenedPage:
    """What the page needs: the verified frame, its flows, its session, and why the read failed."""

    ctx: FrameContext
    page: flows.FlowPage
    session: str
    discovering: bool
    load_error: B24Error | None = None


def open_page(ctx: FrameContext, *, events_url: str = "") -> OpenedPage:
    """The page for a verified frame (or for a user who signed in outside the portal).

    A failed read is not an error of the page: it opens empty with the reason, and the
    page's script retries what can be retried. With ``events_url``, an administrator's open
    also mends the app's event handlers when they are due a check (``event_bindings``).
    """
    load_error = None
    r = get_redis()
    # A run that ends during the read added flows the read missed: the page must still reload.
    discovering = discovery.is_running(ctx.member_id)
    try:
        client = rest_client_for(ctx.member_id, ctx.user_id)
        checks = event_bindings.check_commands(r, ctx.member_id) if events_url else {}
        extra = {**checks, **user_zones.PROFILE_COMMAND}  # the user's time zone, for planned changes
        page = flows.load_page(client, r, ctx.member_id, ctx.user_id, ctx.portal_origin, extra=extra)
        user_zones.remember(r, ctx.member_id, ctx.user_id, page.extras.get(user_zones.PROFILE_KEY))
        if page.is_admin and checks:
            event_bindings.mend(client, r, ctx.member_id, page.extras.get(event_bindings.CHECK_KEY), events_url=events_url)
    except B24Error as error:
        page, load_error = flows.FlowPage(flows=[], is_admin=False), error
    session = frame_session.issue(
        FrameSession(
            member_id=ctx.member_id,
            user_id=ctx.user_id,
            app_sid=ctx.app_sid,
            domain=ctx.domain,
            portal_origin=ctx.portal_origin,
            lang=ctx.lang,
            is_admin=page.is_admin,
        )
    )
    if page.is_admin:
        portals.admin_opened(ctx)
    # Off the hot path: at most a Redis read here; the scan itself runs in a thread.
    discovery.refresh_if_stale(ctx.member_id, ctx.user_id if page.is_admin else None)
    return OpenedPage(ctx, page, session, discovering or discovery.is_running(ctx.member_id), load_error)


def reload(session: FrameSession, *, fresh: bool = False) -> tuple[flows.FlowPage, bool]:
    """The user's list, and whether discovery is running: from the cache unless it lacks part of
    the list or ``fresh`` asks for Bitrix24 (``FRESH_READS_PER_MINUTE`` times per user)."""
    r = get_redis()
    args = (r, session.member_id, session.user_id, session.portal_origin)
    if fresh:
        limit = current_app.config["FRESH_READS_PER_MINUTE"]
        window = FixedWindow(r, portal_key(session.member_id, "fresh"), limit=limit, window=60)
        fresh = window.count(str(session.user_id)) <= limit
    # The cache's script reads the list and the discovery lock at once: a run that ended before
    # it changed the known set's generation, so the cache misses and the list is read in full.
    cached = None if fresh else flows.cached_page(*args)
    if cached is not None:
        return cached
    # A run that ends during the read added flows the read missed: the page must still reload.
    discovering = discovery.is_running(session.member_id)
    page = flows.load_page(rest_client_for(session.member_id, session.user_id), *args)
    return page, discovering or discovery.is_running(session.member_id)


def rediscover(session: FrameSession) -> bool:
    """An administrator's "search again": Bitrix24 is asked with their own token whether they are one."""
    portals.check_admin(session.member_id, session.user_id)
    return discovery.start(session.member_id, session.user_id)


def open_frame(
    args: Mapping[str, str], form: Mapping[str, str], *, client_address: str = "", events_url: str = ""
) -> OpenedPage:
    """The portal's frame POST: verified (``accept_frame_post``), then the page opened for its user."""
    return open_page(accept_frame_post(args, form, client_address=client_address), events_url=events_url)
