"""``Content-Security-Policy`` for the app's pages: one builder for every page.

Pages inside the portal's iframe name the verified portal (and only it) in
``frame-ancestors``: ``X-Frame-Options`` cannot name a site. Every other page may not be
framed at all (``core/http_guard.py`` sets that default).
"""

from __future__ import annotations

from collections.abc import Iterable


def content_security_policy(
    *,
    frame_ancestors: str,
    scripts: Iterable[str] = (),
    nonce: str = "",
    forms: str = "'self'",
    connect: str = "'self'",
) -> str:
    """A policy that loads nothing but the app's own styles, images and ``scripts``."""
    script_src = ["'self'", *scripts, *([f"'nonce-{nonce}'"] if nonce else [])]
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {' '.join(dict.fromkeys(script_src))}",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect}",
            "base-uri 'none'",
            f"form-action {forms}",
            f"frame-ancestors {frame_ancestors}",
        )
    )
