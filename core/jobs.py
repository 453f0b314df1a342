"""Background jobs: one RQ queue, run by ``python worker.py`` (the Procfile's ``worker:``).

A job carries ids (portal, user, flow), never tokens: the worker builds the app and runs
the job inside its context, calling the same services a request would. RQ keeps several
keys per job and moves jobs between them with multi-key commands, which a Redis Cluster
refuses across slots; so on a Cluster ``JOBS_REDIS_URL`` names a plain or Sentinel Redis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry

from core.redis_client import connect

QUEUE_NAME = "flow-switch"
EXTENSION = "flow_switch.jobs"
#: a failed job's record is kept this long for inspection (RQ's default is a year)
FAILURE_TTL = 7 * 86400
#: states in which a job will still run without anyone's help
_WAITING = {JobStatus.QUEUED, JobStatus.DEFERRED}


def jobs_url(config: Mapping[str, Any]) -> str:
    """The Redis the jobs live on: ``JOBS_REDIS_URL``, else ``REDIS_URL`` (``validate`` refuses a Cluster)."""
    return config["JOBS_REDIS_URL"] or config["REDIS_URL"]


def init_app(app: Flask) -> None:
    # RQ stores pickled bytes: a client of its own, without decode_responses.
    connection = connect(jobs_url(app.config), decode_responses=False)
    app.extensions[EXTENSION] = Queue(QUEUE_NAME, connection=connection)


def get_queue() -> Queue:
    """The app's job queue (flaskr's ``get_db`` for jobs)."""
    return current_app.extensions[EXTENSION]


def run_later(seconds: float, func: Callable[..., Any], *args: Any, job_id: str | None = None) -> Job:
    """Run ``func(*args)`` in the worker in ``seconds``; a job with the same ``job_id`` is replaced."""
    return get_queue().enqueue_in(timedelta(seconds=seconds), func, *args, job_id=job_id)


def run_at(when: float, func: Callable[..., Any], *args: Any, job_id: str, timeout: float) -> Job:
    """Run ``func(*args)`` in a worker at ``when`` (epoch seconds; now if past), at most ``timeout``
    seconds long. A job with the same ``job_id`` is replaced; its result is not kept."""
    # RQ keeps scheduled times in whole seconds, cut down: round up, so a job never runs early.
    return get_queue().enqueue_at(
        datetime.fromtimestamp(math.ceil(when), UTC),
        func,
        *args,
        job_id=job_id,
        job_timeout=int(timeout),
        result_ttl=0,
        failure_ttl=FAILURE_TTL,
    )


def run_now(func: Callable[..., Any], *args: Any, job_id: str, timeout: float) -> Job:
    """Queue ``func(*args)`` for the next free worker (no scheduler needed), like ``run_at``; a job
    with the same id, scheduled or failed, is deleted first so it cannot run a second time."""
    cancel([job_id])
    return get_queue().enqueue(
        func, *args, job_id=job_id, job_timeout=int(timeout), result_ttl=0, failure_ttl=FAILURE_TTL
    )


def cancel(job_ids: Iterable[str]) -> None:
    """Delete the jobs (from the queue and every registry); unknown ids are fine."""
    connection = get_queue().connection
    for job_id in job_ids:
        try:
            Job.fetch(job_id, connection=connection).delete()
        except NoSuchJobError:
            continue


def waiting(job_id: str, *, overdue_before: float) -> bool:
    """Whether the job will run without anyone's help: queued, or scheduled for a time after
    ``overdue_before`` (epoch seconds; one scheduled before it is late: no scheduler moved it)."""
    queue = get_queue()
    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        return False
    status = job.get_status()
    if status == JobStatus.SCHEDULED:
        at = ScheduledJobRegistry(queue=queue).get_scheduled_time(job)
        return at.timestamp() >= overdue_before
    return status in _WAITING
