"""1. Switch latency: one switch through the app's API against the bare portal round trips it needs.

A switch that changes the state costs two portal round trips: ``tasks.flow.Flow.get``,
then one ``batch`` of ``activate`` and the re-read. Interleaved, one after another, this
process sends: a switch through the app; the same two requests straight to the portal
(the baseline); and a switch through two minimal Flask views under the same gunicorn
settings (``bench/minimal_app.py``): one that sends just those two requests, and one that
also makes the three Redis round trips issue 10 allows a switch. All go out with the app's
own HTTP client (``b24.http.Transport``), so the app's overhead (the difference of the
medians) counts what the app server and the app add, not a client's cost; the minimal
views show how much of it any app server pays here, and any app within that Redis budget.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

from b24.http import Transport
from bench.stack import Options, Stack, running_stack
from bench.stats import Figure, median, ms, p95
from core.gunicorn_server import start_gunicorn
from sandbox import data
from services.flows import ACTIVATE, GET

NAME = "switch"
TARGET_OVERHEAD = 0.003  # issue 10


def send(http: Transport, url: str, body: object, headers: Mapping[str, str]) -> tuple[int, dict]:
    """POST ``body`` as JSON; the status and the decoded answer."""
    answer = http.request(url, json.dumps(body).encode(), {"Content-Type": "application/json", **headers}, 30)
    return answer.status, json.loads(answer.data)


def bare_round_trips(stack: Stack, http: Transport, token: str, flow_id: int) -> float:
    """The two portal requests of a switch, sent directly; their wall time."""
    headers = {"Authorization": f"Bearer {token}"}
    endpoint = stack.sandbox.client_endpoint
    command = {"activate": f"{ACTIVATE}?flowId={flow_id}", "after": f"{GET}?flowId={flow_id}"}
    started = time.perf_counter()
    first, _ = send(http, f"{endpoint}{GET}", {"flowId": flow_id}, headers)
    second, _ = send(http, f"{endpoint}batch", {"halt": 1, "cmd": command}, headers)
    elapsed = time.perf_counter() - started
    if (first, second) != (200, 200):
        raise RuntimeError(f"bare round trips failed: {first}, {second}")
    return elapsed


def switch_through(http: Transport, url: str, headers: Mapping[str, str], desired: bool) -> float:
    """One switch to ``desired`` through the server at ``url``; its wall time."""
    started = time.perf_counter()
    status, body = send(http, url, {"active": desired}, headers)
    elapsed = time.perf_counter() - started
    if status != 200 or body.get("active") is not desired or not body.get("changed"):
        raise RuntimeError(f"switch failed: {status} {body}")
    return elapsed


def _measure(
    stack: Stack, minimal_url: str, frame_headers: Mapping[str, str], token: str, flow_id: int, rounds: int
) -> tuple[list[float], list[float], list[float], list[float]]:
    """``rounds`` switches through the app, bare round-trip pairs and switches through the two
    minimal views (without and with Redis), interleaved."""
    app_url = stack.api(f"/flows/{flow_id}")
    minimal = f"{minimal_url}/api/flows/{flow_id}"
    times: tuple[list[float], list[float], list[float], list[float]] = ([], [], [], [])
    http = Transport()

    def one_round(keep: bool) -> None:
        switched = switch_through(http, app_url, frame_headers, not stack.sandbox.flow(flow_id).active)
        bare = bare_round_trips(stack, http, token, flow_id)
        floor = switch_through(http, minimal, {}, not stack.sandbox.flow(flow_id).active)
        with_redis = switch_through(http, f"{minimal}/redis", {}, not stack.sandbox.flow(flow_id).active)
        if keep:
            for kept, elapsed in zip(times, (switched, bare, floor, with_redis), strict=True):
                kept.append(elapsed)

    one_round(keep=False)  # warm: connections, caches
    for _ in range(rounds):
        one_round(keep=True)
    return times


def _overhead(switches: list[float], baseline: list[float]) -> str:
    return f"median {ms(median(switches) - median(baseline))}, p95 {ms(p95(switches) - p95(baseline))}"


def run(options: Options) -> list[Figure]:
    rounds = 6 if options.quick else 60
    with running_stack(options, NAME) as stack:
        flow_id = stack.add_flows(1)[0]
        stack.know_flows([flow_id])
        frame = stack.open_page(data.ADMIN)
        token = stack.sandbox.issue_tokens(data.ADMIN)["access_token"]
        minimal = start_gunicorn(
            {"MINIMAL_PORTAL": stack.sandbox.client_endpoint, "MINIMAL_TOKEN": token},
            redis_url=stack.redis_url,
            log_path=options.workdir / NAME / "minimal.log",
            app="bench.minimal_app:create_app()",
        )
        try:
            # Without latency nothing sits idle between hops: the app's own work alone.
            hot, hot_bare, _, _ = _measure(stack, minimal.url, frame.headers, token, flow_id, rounds)
            stack.slow_down()
            switches, bare, floor, with_redis = _measure(stack, minimal.url, frame.headers, token, flow_id, rounds)
        finally:
            minimal.stop(graceful=False)
    overhead = median(switches) - median(bare)
    return [
        Figure(
            NAME,
            f"median {ms(median(switches))} = {median(switches) / median(bare):.3f} x bare 2 round trips "
            f"({ms(median(bare))}); p95 {ms(p95(switches))} = {p95(switches) / p95(bare):.3f} x",
        ),
        Figure(
            NAME,
            f"app overhead per switch: {_overhead(switches, bare)} (n={rounds}); "
            f"with 0 ms latency {ms(median(hot) - median(hot_bare))}",
            f"<= {ms(TARGET_OVERHEAD)}",
            overhead <= TARGET_OVERHEAD,
            overhead,
        ),
        Figure(
            NAME,
            f"of which a minimal Flask view sending the same two requests under the same gunicorn: "
            f"{_overhead(floor, bare)}; the app's own work: median {ms(median(switches) - median(floor))}",
            value=median(switches) - median(floor),
        ),
        Figure(
            NAME,
            f"the same minimal view with the 3 Redis round trips a switch may make: {_overhead(with_redis, bare)}; "
            f"the app's work beyond them: median {ms(median(switches) - median(with_redis))}",
            value=median(with_redis) - median(bare),
        ),
    ]
