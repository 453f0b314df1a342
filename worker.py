"""The background worker (the Procfile's ``worker:`` line): ``python worker.py``.

It builds the same app as the web process and runs the queued and scheduled jobs
(``core/jobs.py``) inside its context. Several workers, on several machines, may run
at once: RQ hands each job to one of them, and its scheduler moves due jobs once.

Every ``JOBS_MAINTENANCE_SECONDS`` each worker does RQ's maintenance (cleaning its
registries, restarting its scheduler after a Redis outage, taking the scheduler over
from a worker that died) and the schedules' sweep (``services/schedule_upkeep.py``).
RQ's defaults (10 minutes, and a 405 s wait for jobs in between) would leave an edge
whose worker died waiting that long.
"""

from __future__ import annotations

import logging
import signal
import sys

from rq import Worker
from rq.exceptions import StopRequested

from app import create_app
from core.config import ConfigError
from core.jobs import get_queue
from services import schedule_upkeep

log = logging.getLogger(__name__)

#: RQ waits for a job this much less than its worker key lives (``Worker.dequeue_timeout``)
_RQ_TTL_MARGIN = 15
#: stop signals that came while the worker was starting, before RQ took over SIGINT and SIGTERM
_early_stops: list[int] = []


def _note_stop(signum: int, _frame: object) -> None:
    _early_stops.append(signum)


class FlowSwitchWorker(Worker):
    """RQ's worker, with the schedules' sweep in its maintenance round."""

    def _install_signal_handlers(self) -> None:
        super()._install_signal_handlers()
        if _early_stops:  # asked to stop while starting: stop now, through RQ's own shutdown
            self._stop_requested = True

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        try:
            schedule_upkeep.sweep()
        except StopRequested:
            raise  # RQ's shutdown, signalled while the sweep ran: not a failure of it
        except Exception:  # a failed round must not stop the worker; the next one tries again
            log.exception("The schedules' sweep failed")


def main() -> int:
    # Until RQ handles them (its worker loop), a stop signal is noted, not a traceback.
    signal.signal(signal.SIGINT, _note_stop)
    signal.signal(signal.SIGTERM, _note_stop)
    try:
        app = create_app()
    except ConfigError as exc:
        sys.stderr.write(f"Flow Switch worker: {exc}\n")
        return 1
    every = int(app.config["JOBS_MAINTENANCE_SECONDS"])
    with app.app_context():
        queue = get_queue()
        FlowSwitchWorker(
            [queue], connection=queue.connection, maintenance_interval=every, worker_ttl=every + _RQ_TTL_MARGIN
        ).work(with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
