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
from config.gunicorn_balance import ConnectionBoard, balance  # noqa: E402
from config.gunicorn_worker import BufferingThreadWorker  # noqa: E402
from config.logs import logging_config  # noqa: E402
from config.memory import release_free_heap  # noqa: E402

ENV = load_or_exit()

wsgi_app = "config.wsgi:application"
bind = f"0.0.0.0:{ENV['PORT']}"
workers = ENV["WEB_CONCURRENCY"]
# Threads, because the sync worker ignores keepalive; each worker serves this many requests at once.
# gthread plus a buffering front (config/gunicorn_worker.py): a request reaches a thread only once
# its headers and body are all here, so slow senders cannot hold the threads.
worker_class = BufferingThreadWorker
BufferingThreadWorker.max_body = ENV["DOCUMENT_MAX_BYTES"] + contract.REQUEST_ENVELOPE_BYTES
threads = 4
# Above the load balancer's 60 s idle timeout, so the balancer always closes idle connections first.
keepalive = contract.WEB_KEEPALIVE
graceful_timeout = contract.WEB_GRACEFUL_TIMEOUT
timeout = 30  # a worker silent this long is restarted
# The heartbeat file lives in memory where the platform gives a writable /dev/shm (Docker's 64 MB
# tmpfs; Fargate documents no size setting for it), else in the writable /tmp task volume (None:
# tempfile's directory). Disk fchmod can stall; the root filesystem is read-only.
worker_tmp_dir = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
preload_app = True
# Recycling bounds the memory a slow leak could take (none was seen: a worker stays near 60 MiB RSS
# after 45,000 requests); with preloading a new worker is a fork. The jitter keeps workers from
# recycling at once. How the mechanism was chosen (issue 13; wrk with 16 kept-alive connections
# like a load balancer's, two workers, /healthz, CPU per request and each worker's share of the
# CPU and of the connections read from /proc):
# - gunicorn alone, max_requests 5000: after each recycle the replacement got no connections (all had
#   reconnected to the survivor): the busier worker did 81-99 % of the work, req/s halved. Even
#   without recycling the accept race left 12 of 16 connections on one worker.
# - A per-connection request quota alone (1000, 300, 100 requests): each reconnection re-draws the
#   same race, which the busier worker, already awake, mostly wins: 82-85 % (1000) to 55-57 % (100).
# - reuse_port (a listening socket per worker, connections spread by hash): 77-87 % with recycles,
#   and 438 failed requests: connections queued on a recycled worker's socket are reset.
# - Chosen: least-connections accepting, and a worker above its emptiest sibling sheds connections
#   (config/gunicorn_balance.py). Three full bench runs, /healthz with 4, 2 and 8 recycles in the
#   samples: CPU per request 1.01x, 1.08x and 1.01x of max_requests off (the committed
#   bench/RESULTS.md is the third), the busier worker 12 %, 18 % and 13 % above the other where
#   gunicorn's own accept gave 66 %, 49 % and 66 %; no failed request. The second ran at a load
#   average of 10-12 on 2 cores, where a few percent is noise.
# - 20000 rather than 5000: a quarter of the recycles for a leak bound still far below a task's
#   memory. Memory-based recycling was not needed: no leak was seen, and with the load shared a
#   recycle costs a fork and a few reconnections.
max_requests = 20000
max_requests_jitter = 2000
# No connection carries more than this many requests (nginx's keepalive_requests default): a backstop
# that re-draws even a connection the balancing never had a reason to close.
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
    """This response says ``Connection: close`` when the connection has carried its quota of
    requests or when this worker holds more connections than a sibling (config/gunicorn_balance.py).
    Replaces gunicorn's default hook, which only logs at debug level."""
    crowded = getattr(worker, "crowded", None)
    if req.req_number >= KEEPALIVE_REQUESTS or (crowded is not None and crowded()):
        req.must_close = True


# Created here, in the master, so that every worker it forks shares it (config/gunicorn_balance.py).
CONNECTION_BOARD = ConnectionBoard()


def post_worker_init(worker) -> None:
    """Each worker takes new connections only while no sibling holds fewer (least connections)."""
    balance(worker, CONNECTION_BOARD)


def worker_exit(server, worker) -> None:
    """The probes counted since the last summary line (config.gunicorn_logger) are not lost."""
    probes = getattr(worker.log, "probes", None)
    if probes is not None:
        worker.log.probe_summary(probes.take())


def when_ready(server) -> None:
    """Before the first fork: move the preloaded app's objects out of the garbage collector's reach,
    so collections in a worker do not write to (and so copy) the memory it shares with the master;
    and give the heap the imports freed back to the system rather than to every worker
    (config.memory: 131.8 -> 128.8 MiB total PSS for the master and two workers, measured warm)."""
    gc.freeze()
    release_free_heap()
