"""Run-time knobs of the sandbox portal: read on every request, so tests may change them live."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ENTERPRISE_RATE_LIMIT = (250, 5.0)
IMMEDIATE, QUEUE = "immediate", "queue"
FULL, CONFIRMED = "full", "confirmed"


@dataclass
class SandboxSettings:
    """Behaviour switches; where the Bitrix24 sources disagree, each variant is a value here."""

    access_ttl: int = 3600
    refresh_ttl: int = 180 * 86400
    code_ttl: int = 30
    # Strict: a used refresh token AND the access token issued with it stop working (old docs);
    # lenient keeps the old pair valid (current docs are silent).
    strict_rotation: bool = True
    # Flow-method refusals: 400 per the core (RestManager), 200 per the `pin` doc page.
    flow_error_status: int = 400
    # All-lowercase `tasks.flow.flow.*`: "404" (ERROR_METHOD_NOT_FOUND) or "resolve".
    lowercase_flow_methods: str = "404"
    # Leaky bucket (burst, drain per second) per portal over REST HTTP requests; None disables.
    rate_limit: tuple[int, float] | None = (50, 2.0)
    # limits.md: "each incoming request increases the counter", refused ones included.
    refused_requests_count: bool = True
    # OPERATION_TIME_LIMIT (LoadLimiter): execution seconds a method may accumulate per app in
    # 10 one-minute buckets before it is refused (480 is the docs' example; tests set it small).
    operating_limit: float = 480.0
    # method -> seconds of execution time each call is charged (default: the measured time,
    # which stays under the core's 0.1 s recording threshold, so nothing accumulates).
    operating_cost: dict[str, float] = field(default_factory=dict)
    latency: float = 0.0
    # method -> seconds the answer to a request that ran it (a batch: any of its calls) takes back
    # after it ran (the return leg of a round trip): a drill kills a client that has switched a
    # flow but not heard so yet.
    reply_latency: dict[str, float] = field(default_factory=dict)
    auth_latency: float = 0.0
    # Authorization server outage: None, "500" or "timeout" (sleeps auth_timeout_sleep, then 500).
    auth_fault: str | None = None
    auth_timeout_sleep: float = 5.0
    # The auth server's app.info: "full" (b24pysdk's type) or "confirmed" (only the fields
    # independent readers rely on, numbers as strings).
    app_info_shape: str = FULL
    language: str = "en"
    invalid_client_status: int = 400
    # Seconds an idle kept-alive connection stays open (read when a connection is accepted).
    keepalive_timeout: float = 60.0
    # Seconds an event handler may take before the delivery is recorded as failed (no retries).
    event_timeout: float = 5.0
    # "immediate": each event is POSTed before the portal action returns. "queue": events leave
    # from a background queue after event_delay (+ up to event_jitter, which reorders them).
    event_delivery: str = IMMEDIATE
    event_delay: float = 0.0
    event_jitter: float = 0.0
    # Probability that an event is lost (no retries); event_seed makes drops and jitter repeatable.
    event_drop_rate: float = 0.0
    event_seed: int | None = None
    # False: tokens are revoked before ONAPPUNINSTALL leaves (the core's order). True: the event
    # is delivered while the authorization server still confirms the app, and revoked after.
    uninstall_event_before_revocation: bool = False
    # An app update removes the app's event handlers and re-opens the installer (pending until
    # installFinish), as Bitrix24 does; False keeps handlers and the installed state.
    update_reinstalls: bool = True
    # tasks.flow.Flow.list: on as on a current cloud portal; off answers ERROR_METHOD_NOT_FOUND (older portal).
    flow_list_method: bool = True
    # Its paging: "plain" (the core: a bare list, no next/total) or "counted" (next/total as for Page results).
    flow_list_paging: str = "plain"
    # Tests: each page's rows pass through this before they are answered (odd shapes another core
    # might send: a row without an id, rows without a field, an object instead of a list).
    flow_list_rewrite: Callable[[list[dict[str, Any]]], Any] | None = None
    # profile's TIME_ZONE_OFFSET: present in one core copy, absent from the docs and the newest core.
    profile_time_zone_offset: bool = True
