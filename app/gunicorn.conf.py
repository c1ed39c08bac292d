"""gunicorn settings of the web process (Procfile ``web``), all from the environment contract.

Read by the master before it forks, so a bad environment stops it with one line per problem
(exit status 78) instead of workers crash-looping. gunicorn's own signal handling is kept:
SIGTERM lets in-flight requests finish for up to ``graceful_timeout`` seconds.

The master imports the app once (``preload_app``) and forks workers from it: start-up pays for
one import instead of one per worker, and recycling a worker (``max_requests``) is a cheap fork
instead of a fresh import of Django and the app. What that asks of the app: nothing opens a
database connection, a socket or a thread while it is imported (Django opens none; the
readiness checks create their thread pool on the first probe, Redis and S3 clients on first use).
What it changes: SIGHUP restarts the workers with the new configuration but not new code, because
they fork from the master's already-imported app. That suits containers, where a deploy is a new
image and new tasks; to change code in place, restart the master (SIGTERM, or SIGUSR2 then TERM).
"""

import gc
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # app/: config.*

from config import contract  # noqa: E402
from config.env import load_or_exit  # noqa: E402
from config.logs import logging_config  # noqa: E402

ENV = load_or_exit()

wsgi_app = "config.wsgi:application"
bind = f"0.0.0.0:{ENV['PORT']}"
workers = ENV["WEB_CONCURRENCY"]
# Threads, because the sync worker ignores keepalive; each worker serves this many requests at once.
worker_class = "gthread"
threads = 4
# Above the load balancer's 60 s idle timeout, so the balancer always closes idle connections first.
keepalive = contract.WEB_KEEPALIVE
graceful_timeout = contract.WEB_GRACEFUL_TIMEOUT
timeout = 30  # a worker silent this long is restarted
# The heartbeat file lives in memory: the root filesystem is read-only and disk fchmod can stall.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
preload_app = True
# Recycling bounds the memory a slow leak could take; with preloading a new worker is a fork, so
# every few thousand requests costs little. The jitter keeps workers from recycling all at once.
max_requests = 5000
max_requests_jitter = 500
# A recycled worker's kept-alive connections reconnect while its replacement is still starting, so
# the surviving worker accepts all of them and, the load balancer's connections being long-lived,
# keeps them: one worker then serves everything while the new one idles. So no connection carries
# more than this many requests (nginx's keepalive_requests, same default): its last response says
# "Connection: close", the balancer reconnects, and an idle worker is the first to accept.
KEEPALIVE_REQUESTS = 1000
# No control socket: it would be created under $HOME, and the root filesystem is read-only.
control_socket_disable = True
forwarded_allow_ips = "*"  # trust X-Forwarded-*: only the load balancer can reach the task

accesslog = "-"
errorlog = "-"
loglevel = ENV["LOG_LEVEL"].lower()
logger_class = "config.gunicorn_logger.JsonAccessLogger"
logconfig_dict = logging_config(ENV["LOG_LEVEL"], ENV["LOG_FORMAT"])


def pre_request(worker, req) -> None:
    """The last request a connection may carry announces ``Connection: close`` (see
    KEEPALIVE_REQUESTS). Replaces gunicorn's default hook, which only logs at debug level."""
    if req.req_number >= KEEPALIVE_REQUESTS:
        req.must_close = True


def worker_exit(server, worker) -> None:
    """The probes counted since the last summary line (config.gunicorn_logger) are not lost."""
    probes = getattr(worker.log, "probes", None)
    if probes is not None:
        worker.log.probe_summary(probes.take())


def when_ready(server) -> None:
    """Before the first fork: move the preloaded app's objects out of the garbage collector's reach,
    so collections in a worker do not write to (and so copy) the memory it shares with the master."""
    gc.freeze()
