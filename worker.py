"""The background worker (the Procfile's ``worker:`` line): ``python worker.py``.

It builds the same app as the web process and runs the queued and scheduled jobs
(``core/jobs.py``) inside its context. Several workers, on several machines, may run
at once: RQ hands each job to one of them, and its scheduler moves due jobs once.
"""

from __future__ import annotations

import sys

from rq import Worker

from app import create_app
from core.config import ConfigError
from core.jobs import get_queue


def main() -> int:
    try:
        app = create_app()
    except ConfigError as exc:
        sys.stderr.write(f"Flow Switch worker: {exc}\n")
        return 1
    with app.app_context():
        queue = get_queue()
        Worker([queue], connection=queue.connection).work(with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
