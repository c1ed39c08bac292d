"""Test-only WSGI app: the real Django app plus a slow path, to observe graceful shutdown.

Never part of the product: tests start gunicorn with ``tests.app.slow_wsgi:application``
and the production gunicorn.conf.py.
"""

from __future__ import annotations

import time

from config.wsgi import application as django_application

SLOW_PATH = "/test-slow"
SLOW_SECONDS = 3.0


def application(environ, start_response):
    if environ.get("PATH_INFO") == SLOW_PATH:
        time.sleep(SLOW_SECONDS)
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Request-ID", "slow-request")])
        return [b"finished after SIGTERM"]
    return django_application(environ, start_response)
