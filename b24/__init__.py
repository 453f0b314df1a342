"""Bitrix24 REST client: typed errors, PHP query encoding, rate limit, transport."""

from __future__ import annotations

from b24.client import BATCH_LIMIT, BatchResult, RestClient, RestResult, TokenSource, chunked
from b24.encoding import http_build_query
from b24.ratelimit import PortalRateLimiter

__all__ = [
    "BATCH_LIMIT",
    "BatchResult",
    "PortalRateLimiter",
    "RestClient",
    "RestResult",
    "TokenSource",
    "chunked",
    "http_build_query",
]
