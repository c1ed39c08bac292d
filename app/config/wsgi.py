"""WSGI entry point for gunicorn (Procfile ``web``): ``config.wsgi:application``.

The liveness probe is answered here, in front of Django's handler: the load balancer probes every
task every few seconds for as long as it runs, and the answer needs nothing Django does (no
middleware, no URL resolution, no backing service). Being in front of Django it also comes before
host validation and the HTTPS redirect, which a probe over plain HTTP to the task's IP would fail.
``config.middleware.HealthMiddleware`` still answers the same path with the same body for whatever
calls Django's handler directly (the test client, ``runserver``).
"""

import os
import uuid

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()

from config import contract  # noqa: E402 - after Django's setup, like the middleware it shares with
from config.middleware import REQUEST_ID_HEADER, valid_request_id  # noqa: E402

HEALTH_PATHS = frozenset({contract.HEALTH_PATH, contract.HEALTH_PATH + "/"})
HEALTH_BODY = b'{"status": "ok"}'
_HEALTH_HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(HEALTH_BODY))),
                   ("Cache-Control", "no-store")]
_REQUEST_ID_ENVIRON = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")


def is_health_probe(environ) -> bool:
    return environ.get("PATH_INFO") in HEALTH_PATHS and not environ.get("SCRIPT_NAME")


def application(environ, start_response):
    if not is_health_probe(environ):
        return django_application(environ, start_response)
    # The same answer and request-id echo as HealthMiddleware's, for any method, any Host.
    request_id = environ.get(_REQUEST_ID_ENVIRON, "")
    if not valid_request_id(request_id):
        request_id = uuid.uuid4().hex
    start_response("200 OK", [*_HEALTH_HEADERS, (REQUEST_ID_HEADER, request_id)])
    return [HEALTH_BODY]
