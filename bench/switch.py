"""1. Switch latency: one switch through the app's API against the bare portal round trips it needs.

A switch that changes the state costs two portal round trips: ``tasks.flow.Flow.get``,
then one ``batch`` of ``activate`` and the re-read. The baseline sends exactly those two
requests from this process with a token of the same user, interleaved with the switches,
so the app's overhead is the difference of the medians.
"""

from __future__ import annotations

import time

import requests

from bench.stack import Options, Stack, running_stack
from bench.stats import Figure, median, ms, p95
from sandbox import data
from services.flows import ACTIVATE, GET

NAME = "switch"
TARGET_OVERHEAD = 0.010


def bare_round_trips(stack: Stack, http: requests.Session, token: str, flow_id: int) -> float:
    """The two portal requests of a switch, sent directly; their wall time."""
    headers = {"Authorization": f"Bearer {token}"}
    endpoint = stack.sandbox.client_endpoint
    started = time.perf_counter()
    http.post(f"{endpoint}{GET}", json={"flowId": flow_id}, headers=headers, timeout=30).raise_for_status()
    command = {"activate": f"{ACTIVATE}?flowId={flow_id}", "after": f"{GET}?flowId={flow_id}"}
    answer = http.post(f"{endpoint}batch", json={"halt": 1, "cmd": command}, headers=headers, timeout=30)
    answer.raise_for_status()
    return time.perf_counter() - started


def app_switch(stack: Stack, http: requests.Session, headers: dict[str, str], flow_id: int) -> float:
    """One switch to the state opposite the current one; its wall time."""
    desired = not stack.sandbox.flow(flow_id).active
    started = time.perf_counter()
    answer = http.put(stack.api(f"/flows/{flow_id}"), json={"active": desired}, headers=headers, timeout=30)
    elapsed = time.perf_counter() - started
    body = answer.json()
    if answer.status_code != 200 or body.get("active") is not desired or not body.get("changed"):
        raise RuntimeError(f"switch failed: {answer.status_code} {body}")
    return elapsed


def _measure(
    stack: Stack, frame_headers: dict[str, str], token: str, flow_id: int, rounds: int
) -> tuple[list[float], list[float]]:
    """``rounds`` switches through the app and as many bare round-trip pairs, interleaved."""
    switches: list[float] = []
    bare: list[float] = []
    with requests.Session() as app_http, requests.Session() as portal_http:
        app_switch(stack, app_http, frame_headers, flow_id)  # warm: connections, caches
        bare_round_trips(stack, portal_http, token, flow_id)
        for _ in range(rounds):
            switches.append(app_switch(stack, app_http, frame_headers, flow_id))
            bare.append(bare_round_trips(stack, portal_http, token, flow_id))
    return switches, bare


def run(options: Options) -> list[Figure]:
    rounds = 6 if options.quick else 60
    with running_stack(options, NAME) as stack:
        flow_id = stack.add_flows(1)[0]
        stack.know_flows([flow_id])
        frame = stack.open_page(data.ADMIN)
        token = stack.sandbox.issue_tokens(data.ADMIN)["access_token"]
        # Without latency nothing sits idle between hops: the app's own work alone.
        hot_switches, hot_bare = _measure(stack, frame.headers, token, flow_id, rounds)
        stack.slow_down()
        switches, bare = _measure(stack, frame.headers, token, flow_id, rounds)
    overhead = median(switches) - median(bare)
    return [
        Figure(
            NAME,
            f"median {ms(median(switches))} = {median(switches) / median(bare):.3f} x bare 2 round trips "
            f"({ms(median(bare))}); p95 {ms(p95(switches))} = {p95(switches) / p95(bare):.3f} x",
        ),
        Figure(
            NAME,
            f"app overhead per switch: median {ms(overhead)}, p95 {ms(p95(switches) - p95(bare))} "
            f"(n={rounds}); with 0 ms latency {ms(median(hot_switches) - median(hot_bare))}",
            f"< {ms(TARGET_OVERHEAD)}",
            overhead < TARGET_OVERHEAD,
            overhead,
        ),
    ]
