"""The per-portal leaky bucket against the test run's real Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from b24.errors import OperationTimeLimit, RateLimited
from b24.operating import MethodWindow
from b24.ratelimit import BACKGROUND_CEILING, USER_SHARE, PortalRateLimiter
from core.redis_client import connect
from core.redis_server import free_port

BURST, RATE = 5, 20.0  # a slot every 50 ms keeps the tests quick


def limiter(redis_db, member_id="m1", **kwargs) -> PortalRateLimiter:
    return PortalRateLimiter(redis_db, member_id, burst=BURST, rate=RATE, margin=0, **kwargs)


def take(bucket: PortalRateLimiter, count: int) -> list[float]:
    return [bucket.acquire(timeout=5) for _ in range(count)]


# Timing assertions are lower bounds measured from before the first request (the
# bucket drains from then on), so a slow, busy machine cannot make them fail.
EPSILON = 0.005


def test_burst_passes_then_callers_wait(redis_db):
    bucket = limiter(redis_db)
    started = time.monotonic()
    assert take(bucket, BURST) == [0.0] * BURST
    waited = bucket.acquire(timeout=1)
    assert time.monotonic() - started >= 1 / RATE - EPSILON
    assert waited <= 1 / RATE + EPSILON
    assert redis_db.exists("fs:{m1}:bucket")
    assert 0 < redis_db.pttl("fs:{m1}:bucket") <= 2000


def test_two_limiters_share_one_bucket(redis_db):
    # Two workers (or servers) of the same portal; another portal is unaffected.
    first, second, other = limiter(redis_db), limiter(redis_db), limiter(redis_db, "m2")
    started = time.monotonic()
    take(first, BURST)
    second.acquire(timeout=1)
    assert time.monotonic() - started >= 1 / RATE - EPSILON
    assert take(other, BURST) == [0.0] * BURST


def test_drain_rate_is_respected_across_threads(redis_db):
    instances = [limiter(redis_db) for _ in range(4)]
    extra = 12
    started = time.monotonic()
    take(instances[0], BURST)
    threads = [threading.Thread(target=take, args=(b, extra // 4)) for b in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 12 requests beyond the burst at 20/s take 0.6 s; never less.
    assert extra / RATE - EPSILON <= time.monotonic() - started < extra / RATE + 1.0


def test_refuses_at_once_when_the_wait_exceeds_the_timeout(redis_db):
    bucket = PortalRateLimiter(redis_db, "m5", burst=1, rate=4.0, margin=0)
    bucket.acquire(timeout=0)
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        bucket.acquire(timeout=0.1)
    assert time.monotonic() - started < 0.2  # did not sleep the 250 ms
    assert 0 < caught.value.retry_after <= 0.25
    # A refusal reserves nothing: the next slot is one interval away, not two.
    assert bucket.acquire(timeout=1) <= 0.25


def test_safety_margin_below_the_portal_limit(redis_db):
    bucket = PortalRateLimiter(redis_db, "m3", burst=50, rate=2.0)
    assert bucket.depth == 45
    for _ in range(45):
        assert bucket.acquire(timeout=0) == 0.0
    with pytest.raises(RateLimited):
        bucket.acquire(timeout=0)


def test_redis_down_lets_requests_through():
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    assert PortalRateLimiter(dead, "m4", burst=1, rate=1.0, margin=0).acquire(timeout=0) == 0.0


@pytest.fixture(scope="module")
def cluster(redis_cluster_url: str) -> Iterator[RedisCluster]:
    client = connect(redis_cluster_url)
    yield client
    client.close()


def test_works_on_redis_cluster(cluster):
    ids = ["portal-a", "portal-b", "portal-c", "portal-d"]
    slots = {cluster.keyslot(f"fs:{{{member_id}}}:bucket") // 5461 for member_id in ids}
    assert len(slots) > 1  # the buckets live on different masters
    for member_id in ids:
        first, second = (
            PortalRateLimiter(cluster, member_id, burst=2, rate=RATE, margin=0) for _ in range(2)
        )
        assert first.acquire(timeout=1) == second.acquire(timeout=1) == 0.0
        with pytest.raises(RateLimited):
            second.acquire(timeout=0)


def test_one_user_cannot_spend_the_whole_bucket(redis_db):
    # USER_SHARE of the depth per user: the rest of the portal keeps working.
    depth = 10
    alice, bob = (PortalRateLimiter(redis_db, "m6", burst=depth, rate=RATE, margin=0, who=w) for w in "ab")
    taken = 0
    with pytest.raises(RateLimited):
        for _ in range(depth):
            alice.acquire(timeout=0)
            taken += 1
    assert taken == int(depth * USER_SHARE)
    assert bob.acquire(timeout=0) == 0.0  # another user still has room at once


def test_background_work_yields_to_people(redis_db):
    depth = 10
    person = PortalRateLimiter(redis_db, "m7", burst=depth, rate=RATE, margin=0)
    background = PortalRateLimiter(redis_db, "m7", burst=depth, rate=RATE, margin=0, background=True)
    for _ in range(int(depth * BACKGROUND_CEILING)):
        person.acquire(timeout=0)
    with pytest.raises(RateLimited):  # the bucket is half full: background waits ...
        background.acquire(timeout=0)
    assert person.acquire(timeout=0) == 0.0  # ... while a person is still served at once


def test_several_slots_are_taken_at_once(redis_db):
    bucket = limiter(redis_db, "m8")
    assert bucket.acquire(timeout=0, slots=BURST - 1) == 0.0
    with pytest.raises(RateLimited):
        bucket.acquire(timeout=0, slots=2)  # nothing reserved by a refusal
    assert bucket.acquire(timeout=0) == 0.0


def test_acquire_free_takes_what_is_free_in_one_go_and_no_more(redis_db):
    slow = 2.0  # a slot drains in 0.5 s: nothing frees up between the steps on a busy machine
    bucket = PortalRateLimiter(redis_db, "m9", burst=BURST, rate=slow, margin=0)
    started = time.monotonic()
    assert bucket.acquire_free(3, timeout=0) == 3
    assert bucket.acquire_free(10, timeout=0) == BURST - 3  # the rest of the burst
    with pytest.raises(RateLimited):
        bucket.acquire(timeout=0)  # all of it was really taken
    assert bucket.acquire_free(10, timeout=1) == 1  # none free: one slot, waited for
    assert time.monotonic() - started >= 1 / slow - EPSILON


def test_acquire_free_keeps_to_a_users_share_and_to_the_background_ceiling(redis_db):
    depth = 10
    alice = PortalRateLimiter(redis_db, "m10", burst=depth, rate=RATE, margin=0, who="a")
    assert alice.acquire_free(depth, timeout=0) == int(depth * USER_SHARE)
    background = PortalRateLimiter(redis_db, "m11", burst=depth, rate=RATE, margin=0, background=True)
    assert background.acquire_free(depth, timeout=0) == int(depth * BACKGROUND_CEILING)


def test_acquire_free_takes_nothing_while_a_method_is_blocked(redis_db):
    window = MethodWindow(redis_db, "m12", default=60, longest=600)
    bucket = PortalRateLimiter(redis_db, "m12", burst=BURST, rate=RATE, margin=0, window=window)
    window.refused("tasks.flow.Flow.get")  # Bitrix24 answered OPERATION_TIME_LIMIT
    with pytest.raises(OperationTimeLimit):
        bucket.acquire_free(3, timeout=0, methods=["tasks.flow.Flow.get"])
    assert bucket.acquire_free(BURST, timeout=0, methods=["user.current"]) == BURST  # nothing was taken
