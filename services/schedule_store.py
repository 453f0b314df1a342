"""Scheduled pauses and resumes in Redis: what is planned, and what happened to each edge.

A schedule is one JSON record under its portal's prefix (``fs:{M}:schedule:{id}``), listed in
the portal's index (``fs:{M}:schedules``); changes that must see the whole portal (the
per-user limit, overlaps) run in one optimistic transaction over the index and the portal's
revision, so two saves at once cannot both pass the checks. Each pending edge is also in one
app-wide sorted set (``fs:schedules:due``) by the time the worker's sweep should look at it:
that is how an edge whose job was lost (a worker killed mid-run, a jobs Redis restarted
without its data) is found again. Records hold ids, names and times, never tokens.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import redis

from core.keys import app_key, portal_key

PAUSE, RESUME = "pause", "resume"
EDGES = (PAUSE, RESUME)
#: the state each edge asks for: a pause turns the flow off, a resume on
DESIRED = {PAUSE: False, RESUME: True}

PENDING, DONE, SKIPPED, FAILED = "pending", "done", "skipped", "failed"
# What happened, for the page and the notice.
CHANGED = "changed"  # done: the flow was switched
UNCHANGED = "unchanged"  # done: it was already in that state (someone switched it by hand)
RESUME_PASSED = "resume_passed"  # skipped pause: its resume time had passed when it could run
PAUSE_FAILED = "pause_failed"  # skipped resume: the pause failed, so nothing else is tried
REFUSED = "refused"  # failed: Bitrix24 refused (rights, flow gone); ``reason`` is its own text
SIGNED_OUT = "signed_out"  # failed: Bitrix24 no longer accepts the user's sign-in
GAVE_UP = "gave_up"  # failed: Bitrix24 stayed busy or unreachable for SCHEDULE_RETRY_FOR

DUE_KEY = app_key("schedules", "due")


@dataclass(frozen=True)
class Edge:
    """One planned switch: when (UTC epoch seconds) and what became of it."""

    at: float
    state: str = PENDING
    outcome: str = ""
    reason: str = ""
    finished_at: float = 0.0
    attempts: int = 0
    #: when the first run started (``SCHEDULE_RETRY_FOR`` counts from here, not from ``at``:
    #: a worker that was down at the edge's time still catches up)
    first_try: float = 0.0

    def finish(self, state: str, outcome: str, at: float, reason: str = "") -> Edge:
        return replace(self, state=state, outcome=outcome, reason=reason, finished_at=at)


@dataclass(frozen=True)
class Schedule:
    """A user's plan for one flow: a pause, a resume, or both (``pause.at < resume.at``)."""

    id: str
    member_id: str
    user_id: int
    user_name: str
    flow_id: int
    flow_name: str
    #: the flow's administrator and creator when it was saved: they may see it too
    flow_owner_id: int
    flow_creator_id: int
    #: the user's language and time zone when they saved it (for their notices)
    lang: str
    time_zone: str
    created_at: float
    pause: Edge | None = None
    resume: Edge | None = None

    def edge(self, name: str) -> Edge | None:
        return self.pause if name == PAUSE else self.resume

    def with_edge(self, name: str, edge: Edge | None) -> Schedule:
        return replace(self, **{name: edge})

    def edges(self) -> list[tuple[str, Edge]]:
        return [(name, edge) for name in EDGES if (edge := self.edge(name)) is not None]

    @property
    def pending(self) -> bool:
        return any(edge.state == PENDING for _, edge in self.edges())

    @property
    def failed(self) -> bool:
        return any(edge.state == FAILED for _, edge in self.edges())

    @property
    def finished_at(self) -> float:
        return max((edge.finished_at for _, edge in self.edges()), default=0.0)

    def span(self) -> tuple[float, float]:
        """The time the flow is meant to be off: from the pause (or now) until the resume (or ever)."""
        start = self.pause.at if self.pause else float("-inf")
        end = self.resume.at if self.resume else float("inf")
        return start, end

    def overlaps(self, other: Schedule) -> bool:
        start, end = self.span()
        other_start, other_end = other.span()
        return start < other_end and other_start < end

    def next_at(self) -> float:
        """The time of the next pending edge (for sorting), else of the last one."""
        pending = [edge.at for _, edge in self.edges() if edge.state == PENDING]
        return min(pending) if pending else max(edge.at for _, edge in self.edges())


_ID = re.compile(r"[0-9a-f]{24}")


def new_id() -> str:
    """96 random bits: unique across portals, so job ids need no portal in them."""
    return secrets.token_hex(12)


def valid_id(schedule_id: str) -> bool:
    return bool(_ID.fullmatch(schedule_id))


def schedule_key(member_id: str, schedule_id: str) -> str:
    return portal_key(member_id, "schedule", schedule_id)


def index_key(member_id: str) -> str:
    return portal_key(member_id, "schedules")


def revision_key(member_id: str) -> str:
    """Bumped by every portal-wide change (a plan saved, saved again, cancelled): what ``transact`` watches."""
    return portal_key(member_id, "schedules", "rev")


def run_lock_key(member_id: str, schedule_id: str) -> str:
    """Held while one of the schedule's edges runs: its edges run one at a time, once."""
    return portal_key(member_id, "lock", "schedule", schedule_id)


def users_key(member_id: str) -> str:
    """Hash: ``kept:{U}`` when the worker last renewed U's tokens, ``dead:{U}`` the dead refresh token's fingerprint."""
    return portal_key(member_id, "schedules", "users")


def token_mark(refresh_token: str) -> str:
    """A dead refresh token's fingerprint: the mark holds until the user's stored pair is another."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()[:16]


def due_member(member_id: str, schedule_id: str, edge: str) -> str:
    return f"{member_id}|{schedule_id}|{edge}"


def parse_due_member(member: str) -> tuple[str, str, str]:
    member_id, schedule_id, edge = member.split("|")
    return member_id, schedule_id, edge


def job_id(schedule_id: str, edge: str) -> str:
    """The edge's RQ job: one id, so saving again replaces the job and cancelling deletes it."""
    return f"schedule-{schedule_id}-{edge}"


def encode(schedule: Schedule) -> str:
    return json.dumps(asdict(schedule), separators=(",", ":"), ensure_ascii=False)


def decode(raw: str | None) -> Schedule | None:
    if raw is None:
        return None
    data: dict[str, Any] = json.loads(raw)
    for name in EDGES:
        if data.get(name) is not None:
            data[name] = Edge(**data[name])
    return Schedule(**data)


def get(r: Any, member_id: str, schedule_id: str) -> Schedule | None:
    return decode(r.get(schedule_key(member_id, schedule_id)))


def portal_schedules(r: Any, member_id: str) -> list[Schedule]:
    """Every schedule of the portal (two round trips)."""
    ids = sorted(r.smembers(index_key(member_id)))
    raws = r.mget([schedule_key(member_id, schedule_id) for schedule_id in ids]) if ids else []
    return [schedule for schedule in map(decode, raws) if schedule is not None]


@dataclass
class Change:
    """What a portal-wide transaction writes: records to store (new or replaced) and ids to delete."""

    put: list[Schedule] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)


def transact(r: Any, member_id: str, decide: Callable[[list[Schedule]], Change]) -> Change:
    """Read every schedule of the portal, let ``decide`` check them and say what to write, and write
    it only if no other portal-wide change came in between (``WATCH`` on the index and the
    portal's revision, which every such change bumps; retried). Slot-safe on a Cluster.

    ``decide`` may raise to refuse; it may run more than once. The due set is updated after.
    An edge finishing meanwhile (``update``) does not bump the revision: it can only make a
    plan count as pending a moment longer, never let two overlapping plans in.
    """
    index, revision = index_key(member_id), revision_key(member_id)
    with r.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(index, revision)
                keys = [schedule_key(member_id, schedule_id) for schedule_id in sorted(pipe.smembers(index))]
                current = [s for s in map(decode, r.mget(keys) if keys else []) if s is not None]
                change = decide(current)
                pipe.multi()
                for schedule in change.put:
                    pipe.set(schedule_key(member_id, schedule.id), encode(schedule))
                    pipe.sadd(index, schedule.id)
                for schedule_id in change.delete:
                    pipe.delete(schedule_key(member_id, schedule_id))
                    pipe.srem(index, schedule_id)
                pipe.incr(revision)
                pipe.execute()
                break
            except redis.WatchError:
                continue
    old = {s.id: s for s in current}
    for schedule_id in change.delete:
        if schedule_id in old:
            forget_due(r, old[schedule_id])
    for schedule in change.put:
        track_due(r, schedule)
    return change


def update(r: Any, member_id: str, schedule_id: str, change: Callable[[Schedule], Schedule | None]) -> Schedule | None:
    """Change one record atomically (``WATCH`` on it alone); ``change`` returns ``None`` to leave it.

    Returns the record as it is now (``None`` if it no longer exists).
    """
    key = schedule_key(member_id, schedule_id)
    with r.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(key)
                current = decode(pipe.get(key))
                updated = change(current) if current is not None else None
                if updated is None:
                    pipe.unwatch()
                    return current
                pipe.multi()
                pipe.set(key, encode(updated))
                pipe.execute()
                return updated
            except redis.WatchError:
                continue


def track_due(r: Any, schedule: Schedule, retry_at: dict[str, float] | None = None) -> None:
    """Keep the due set in step with the record: each pending edge scored by its time (or by
    ``retry_at`` for one Bitrix24 could not take yet), finished edges out of it."""
    pending = {name for name, edge in schedule.edges() if edge.state == PENDING}
    pipe = r.pipeline(transaction=False)
    if pending:
        scores = {name: (retry_at or {}).get(name, schedule.edge(name).at) for name in pending}  # type: ignore[union-attr]
        pipe.zadd(DUE_KEY, {due_member(schedule.member_id, schedule.id, name): at for name, at in scores.items()})
    finished = [due_member(schedule.member_id, schedule.id, name) for name in EDGES if name not in pending]
    if finished:
        pipe.zrem(DUE_KEY, *finished)
    pipe.execute()


def forget_due(r: Any, schedule: Schedule) -> None:
    r.zrem(DUE_KEY, *(due_member(schedule.member_id, schedule.id, name) for name in EDGES))


def forget_members(r: Any, members: Iterable[str]) -> None:
    members = list(members)
    if members:
        r.zrem(DUE_KEY, *members)
