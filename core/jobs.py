"""Background jobs: one RQ queue, run by ``python worker.py`` (the Procfile's ``worker:``).

A job carries ids (portal, user, flow), never tokens: the worker builds the app and runs
the job inside its context, calling the same services a request would. RQ keeps several
keys per job and moves jobs between them with multi-key commands, which a Redis Cluster
refuses across slots; so on a Cluster ``JOBS_REDIS_URL`` names a plain or Sentinel Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from rq import Queue
from rq.job import Job

from core.redis_client import connect

QUEUE_NAME = "flow-switch"
EXTENSION = "flow_switch.jobs"


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
