"""Our WSGI application plus one bench-only route, ``/bench/slow?seconds=N``.

The shutdown drill needs requests that are still running when SIGTERM arrives; the app has
no slow endpoint (nor should it), so this wrapper adds one in front of ``config.wsgi`` for
the bench's gunicorn only. Every other path goes to the app unchanged.
"""

import time
from urllib.parse import parse_qs

from config.wsgi import application as app_application

SLOW_PATH = "/bench/slow"


def application(environ, start_response):
    if environ.get("PATH_INFO") != SLOW_PATH:
        return app_application(environ, start_response)
    seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("seconds", ["3"])[0])
    time.sleep(min(seconds, 60.0))
    body = b'{"slept": %.1f}' % seconds
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
