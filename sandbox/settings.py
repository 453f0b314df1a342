"""Run-time knobs of the sandbox portal: read on every request, so tests may change them live."""

from __future__ import annotations

from dataclasses import dataclass

ENTERPRISE_RATE_LIMIT = (250, 5.0)


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
    # method -> number of upcoming calls answered 429 OPERATION_TIME_LIMIT (counts down).
    operation_time_limit: dict[str, int] | None = None
    latency: float = 0.0
    auth_latency: float = 0.0
    # Authorization server outage: None, "500" or "timeout" (sleeps auth_timeout_sleep, then 500).
    auth_fault: str | None = None
    auth_timeout_sleep: float = 5.0
    language: str = "en"
    invalid_client_status: int = 400
    # Seconds an event handler may take before the delivery is recorded as failed.
    event_timeout: float = 5.0
    # tasks.flow.Flow.list: on as on a current cloud portal; off answers ERROR_METHOD_NOT_FOUND (older portal).
    flow_list_method: bool = True
    # Its paging: "plain" (the core: a bare list, no next/total) or "counted" (next/total as for Page results).
    flow_list_paging: str = "plain"
    # profile's TIME_ZONE_OFFSET: present in one core copy, absent from the docs and the newest core.
    profile_time_zone_offset: bool = True
