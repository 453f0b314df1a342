"""gunicorn settings for the Procfile: ``gunicorn --config gunicorn.conf.py 'app:create_app()'``.

The app mostly waits on the portal (100-300 ms a REST call), so each worker runs
threads (``gthread``): a waiting request holds one thread, and idle keep-alive
browser connections wait in the worker's poller instead of holding a worker.
"""

import multiprocessing
import os
import sys

from core.logs import gunicorn_log_config

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", 0)) or multiprocessing.cpu_count() * 2
threads = int(os.environ.get("GUNICORN_THREADS", 16))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))  # Bitrix24 allows a REST call 60 s
graceful_timeout = 20
keepalive = 5
max_requests = 5000
max_requests_jitter = 500
accesslog = "-"
errorlog = "-"
# gunicorn's own lines in the app's shape (core/logs.py): one log format on stdout.
logconfig_dict = gunicorn_log_config(os.environ)
# The path without its query string: a query may carry an OAuth code or a token, and
# access logs are read by more people than the app's own logs.
# The request id goes in the line's [request id] slot (core/logs.py), like the app's own lines.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
# Forwarded headers are applied inside the app by ProxyFix (PROXY_COUNT), not here.
forwarded_allow_ips = "127.0.0.1"
# The control socket has one default path per user: two instances on a machine (app
# servers, tests, benchmarks) would fight over it, and nothing here uses it.
control_socket_disable = True


def on_starting(server):
    from core.config import ConfigError, load_config

    # Refuse bad settings here, once and readably, before any worker boots.
    try:
        load_config()
    except ConfigError as exc:
        sys.stderr.write(f"Flow Switch: {exc}\n")
        sys.exit(1)
    # Without REDIS_URL the master starts the embedded server before forking, so all
    # workers share it; it stops when the master exits (SIGTERM or SIGINT).
    if not os.environ.get("REDIS_URL"):
        from core.redis_client import start_embedded

        instance = os.environ.get("INSTANCE_DIR") or os.path.join(os.path.dirname(__file__), "instance")
        url = start_embedded(instance)
        server.log.info("Started the embedded Redis at %s (data in %s)", url, instance)
